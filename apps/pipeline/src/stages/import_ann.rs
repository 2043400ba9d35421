//! `import-ann`: a VGG trained in PyTorch becomes the run's ANN
//! (`ann.bpk` + sidecar + `train-ann.json`), so every later stage runs on it
//! unchanged. The import itself is `privatesnn_models::import`.

use std::path::Path;

use anyhow::{Context, Result};
use privatesnn_data::Split;
use privatesnn_models::import::{ImportOptions, ImportSummary, import_pytorch};
use privatesnn_models::io::save_ann;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifacts::Artifact;
use crate::cli::ImportArgs;
use crate::common::{hash_file, hex, write_json};
use crate::context::Ctx;
use crate::provenance;
use crate::stages::train_ann::TrainReport;
use crate::{datasets, saved};

/// Where an imported ANN came from (in `train-ann.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Imported {
    /// The state dict, as given.
    pub from: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// The top-level key it was read from, if any.
    pub key: Option<String>,
    /// Batch-norm epsilon used for folding.
    pub bn_eps: f64,
    /// What was read and folded.
    pub summary: ImportSummary,
}

/// The config sections an imported ANN depends on: its architecture, and
/// the data its accuracy is measured on (not `[train]`: it was not trained here).
pub const IMPORT_KEYS: [&str; 2] = ["model", "data"];

fn sha256(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    hash_file(&mut hasher, path)?;
    Ok(hex(&hasher.finalize()))
}

/// Import `args.from` as the run's ANN (always: an import is an explicit
/// request, so it replaces whatever `ann.bpk` was there).
pub fn run(ctx: &Ctx, args: &ImportArgs) -> Result<()> {
    let art = &ctx.art;
    let options = ImportOptions {
        top_level_key: args.key.clone(),
        bn_eps: args.bn_eps,
    };
    let (vgg, summary) = import_pytorch(&args.from, &ctx.exp.model, &options, &ctx.device)
        .with_context(|| format!("importing {}", args.from.display()))?;
    eprintln!(
        "import-ann: {} tensors: {} convs ({} batch norms folded), {} linear layers{}",
        summary.tensors,
        summary.convs,
        summary.batch_norms_folded,
        summary.linears,
        match summary.adaptive_pool_bins {
            Some(b) => format!(", a {b}x{b} adaptive average pool folded into the first"),
            None => String::new(),
        }
    );
    let test = datasets::load(&ctx.exp, Split::Test)?;
    let (acc, _) = saved::ann_accuracy(&vgg, &test, ctx.exp.train.batch_size, &ctx.device);
    // Only now, with the import checked, does the old ANN go.
    ctx.begin(Artifact::Ann)?;
    provenance::remove(art, Artifact::Ann)?;
    save_ann(&vgg, &ctx.exp.model, &art.ann())
        .with_context(|| format!("saving {}", art.ann().display()))?;
    let report = TrainReport {
        device: format!("{:?}", ctx.device_arg),
        train_images: 0,
        test_images: test.len(),
        epochs: Vec::new(),
        final_test_acc: Some(acc),
        imported: Some(Imported {
            from: args.from.display().to_string(),
            sha256: sha256(&args.from)?,
            key: args.key.clone(),
            bn_eps: args.bn_eps,
            summary,
        }),
    };
    write_json(&art.train_report(), &report)?;
    provenance::record_as(
        art,
        &ctx.exp,
        Artifact::Ann,
        &format!("{:?}", ctx.device_arg),
        &format!("import-ann --from {}", args.from.display()),
        &IMPORT_KEYS,
    )?;
    println!(
        "imported {} as {} ({} test images); ANN test accuracy {acc:.2}%",
        args.from.display(),
        art.ann().display(),
        test.len()
    );
    Ok(())
}
