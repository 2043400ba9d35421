//! `encrypt`: STBP training of the data-free SNN on the synthetic images with
//! cross-entropy + distillation (paper Sec. 3.2, Algorithm 3 step 2), and
//! `encrypt --sweep`, test accuracy against the number of synthetic training
//! samples with and without distillation (paper Fig. 5).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use privatesnn_data::{normalize, read_png_folder};
use privatesnn_encryption::{EncryptionReport, EncryptionSet, encrypt, teacher_logits};
use privatesnn_models::{Snn, SnnConfig, Vgg, VggConfig, io as model_io};
use serde::{Deserialize, Serialize};

use crate::artifacts::{Artifact, SnnSource};
use crate::common::{bar, peak_rss_mib, write_json};
use crate::context::Ctx;
use crate::provenance;
use crate::saved;

mod sweep;

const ENCRYPTED: Artifact = Artifact::Snn(SnnSource::Encrypted);

/// What `encrypt` writes to `<out>/encrypt.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EncryptReport {
    /// The training run (per-epoch loss, agreement, speed).
    pub training: EncryptionReport,
    /// `‖W_enc − W_ann‖ / ‖W_ann‖` per weight layer (convs, fc1, fc2).
    pub weight_change: Vec<(String, f64)>,
    /// The thresholds (kept from the conversion).
    pub thresholds: Vec<f64>,
    /// Wall seconds of this invocation.
    pub seconds: f64,
    /// Peak resident memory of the process, MiB (where reported).
    pub peak_rss_mib: Option<f64>,
    /// The device.
    pub device: String,
}

/// `encrypt` or `encrypt --sweep`.
pub fn run(ctx: &Ctx, sweep: bool) -> Result<()> {
    if sweep {
        return sweep::run(ctx);
    }
    if ctx.up_to_date(ENCRYPTED)? {
        return Ok(());
    }
    ctx.begin(ENCRYPTED)?;
    match encrypt_snn(ctx) {
        Ok(r) => {
            ctx.finish(ENCRYPTED)?;
            let last = r.training.epochs.last();
            println!(
                "encrypted: {} epochs on {} synthetic samples, final loss {:.4}, relative weight change {}",
                r.training.epochs.len(),
                r.training.samples,
                last.map_or(f64::NAN, |e| e.loss),
                r.weight_change
                    .iter()
                    .map(|(_, c)| format!("{c:.3}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            Ok(())
        }
        Err(e) => {
            provenance::remove(&ctx.art, ENCRYPTED)?;
            Err(e)
        }
    }
}

/// The data-free SNN, the ANN (teacher) and the training set built from the
/// synthetic images, their soft labels and the ANN's logits on them.
pub(crate) fn training_set(ctx: &Ctx) -> Result<(Snn, Vgg, EncryptionSet, VggConfig, SnnConfig)> {
    let (exp, device, art) = (&ctx.exp, &ctx.device, &ctx.art);
    let (ann, cfg) = saved::load_ann(ctx)?;
    let ann = ann.valid();
    let (snn, vgg_cfg, snn_cfg) = saved::load_snn(ctx, SnnSource::Synthetic)?;
    ctx.require(Artifact::Synthetic)?;
    let dir = art.synthetic_dir();
    let set = read_png_folder(&dir, cfg.num_classes)
        .with_context(|| format!("reading {}", dir.display()))?;
    let path = art.soft_labels();
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read the soft labels {} (remake the synthetic set: `pipeline synthesize --force`)",
            path.display()
        )
    })?;
    let soft: Vec<Vec<f32>> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a list of soft labels", path.display()))?;
    if soft.len() != set.len() || soft.iter().any(|y| y.len() != cfg.num_classes) {
        bail!(
            "{} holds {} soft labels, but {} has {} images of {} classes: remake them with \
             `pipeline synthesize --force`",
            path.display(),
            soft.len(),
            dir.display(),
            set.len(),
            cfg.num_classes
        );
    }
    let shape = [set.channels, set.height, set.width];
    let images: Vec<f32> = set.pixels.iter().map(|&p| normalize(p)).collect();
    let teacher = teacher_logits(
        &|x| ann.forward(x),
        &images,
        shape,
        exp.evaluate.batch_size,
        device,
    );
    let data = EncryptionSet {
        images,
        shape,
        targets: soft.into_iter().flatten().collect(),
        teacher,
        labels: set.labels,
        num_classes: cfg.num_classes,
    };
    Ok((snn, ann, data, vgg_cfg, snn_cfg))
}

/// `‖W_a − W_b‖ / ‖W_b‖` per weight layer of two VGGs of one shape.
pub fn weight_change(a: &Vgg, b: &Vgg) -> Vec<(String, f64)> {
    let pairs = a
        .convs
        .iter()
        .zip(&b.convs)
        .enumerate()
        .map(|(i, (x, y))| {
            (
                format!("conv{}", i + 1),
                x.weight.val().flatten::<1>(0, 3),
                y.weight.val().flatten::<1>(0, 3),
            )
        })
        .chain([
            (
                "fc1".to_string(),
                a.fc1.weight.val().flatten::<1>(0, 1),
                b.fc1.weight.val().flatten::<1>(0, 1),
            ),
            (
                "fc2".to_string(),
                a.fc2.weight.val().flatten::<1>(0, 1),
                b.fc2.weight.val().flatten::<1>(0, 1),
            ),
        ]);
    pairs
        .map(|(name, x, y)| {
            let diff: f64 = (x - y.clone()).square().sum().into_scalar::<f64>();
            let base: f64 = y.square().sum().into_scalar::<f64>();
            (name, (diff / base.max(f64::MIN_POSITIVE)).sqrt())
        })
        .collect()
}

fn encrypt_snn(ctx: &Ctx) -> Result<EncryptReport> {
    let (exp, device, art) = (&ctx.exp, &ctx.device, &ctx.art);
    let cfg = &exp.encryption.train;
    let (snn, ann, data, vgg_cfg, snn_cfg) = training_set(ctx)?;
    let checkpoints = art.encrypt_dir().join("checkpoint");
    if ctx.force {
        match std::fs::remove_dir_all(art.encrypt_dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", art.encrypt_dir().display()));
            }
            _ => {}
        }
    }
    let samples = if cfg.samples == 0 {
        data.len()
    } else {
        cfg.samples.min(data.len())
    };
    let batches = samples.div_ceil(cfg.batch_size);
    eprintln!(
        "encrypt: {samples} synthetic samples, {} epochs of {batches} batches of {}, T = {}, \
         lr {}, m = {}, tau = {}, output {:?}, targets {:?}{}",
        cfg.epochs,
        cfg.batch_size,
        cfg.timesteps,
        cfg.lr,
        cfg.distill_weight,
        cfg.temperature,
        cfg.output,
        cfg.targets,
        if cfg.memory_bound {
            ", gradient checkpointing"
        } else {
            ""
        }
    );
    let progress = bar(cfg.epochs * batches, "encrypt");
    let start = Instant::now();
    let result = encrypt(snn, &data, cfg, device, Some(&checkpoints), |p| {
        progress.set_position((p.epoch * p.batches + p.batch) as u64);
        progress.set_message(format!("epoch {} loss {:.4}", p.epoch + 1, p.loss));
    });
    progress.finish_and_clear();
    let (encrypted, training) = result.context("encryption training")?;
    let seconds = start.elapsed().as_secs_f64();
    if training.resumed_after > 0 {
        eprintln!("encrypt: resumed after epoch {}", training.resumed_after);
    }
    for e in &training.epochs {
        eprintln!(
            "encrypt: epoch {:>3} lr {:.1e} loss {:.4} (CE {:.4}, KD {:.4}) agreement {:.1}% {:.2} samples/s",
            e.epoch,
            e.lr,
            e.loss,
            e.cross_entropy,
            e.distillation,
            e.train_agreement,
            e.samples_per_s
        );
    }
    let report = EncryptReport {
        weight_change: weight_change(&encrypted.ann, &ann),
        thresholds: encrypted.thresholds(),
        training,
        seconds,
        peak_rss_mib: peak_rss_mib(),
        device: format!("{device:?}"),
    };
    let path = art.snn(SnnSource::Encrypted);
    model_io::save_snn(&encrypted, &vgg_cfg, &snn_cfg, &path)?;
    write_json(&art.snn_report(SnnSource::Encrypted), &report)?;
    // Finished: the checkpoints served their purpose (an interrupted run
    // keeps them, and resumes from them with the same settings).
    if let Err(e) = std::fs::remove_dir_all(art.encrypt_dir())
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!(
            "encrypt: could not remove {}: {e}",
            art.encrypt_dir().display()
        );
    }
    eprintln!("encrypt: {seconds:.1}s, saved {}", path.display());
    Ok(report)
}
