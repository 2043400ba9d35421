//! `convert`: threshold balancing (Algorithm 1) of the ANN into an SNN, on
//! the synthetic images (data-free, PrivateSNN) and/or on real training
//! images (the Sengupta et al. baseline).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Tensor;
use privatesnn_conversion::{BalanceReport, balance_thresholds};
use privatesnn_data::{Split, read_png_folder};
use privatesnn_models::{Snn, io as model_io};
use serde::Serialize;

use crate::artifacts::{Artifact, SnnSource};
use crate::cli::Source;
use crate::common::{bar, write_json};
use crate::context::Ctx;
use crate::provenance;
use crate::{datasets, saved};

/// What `convert` writes to `<out>/convert-<source>.json`.
#[derive(Debug, Serialize)]
pub struct ConvertReport {
    /// `synthetic` or `real`.
    pub source: String,
    /// The balancing statistics and thresholds.
    pub balance: BalanceReport,
    /// Wall seconds.
    pub seconds: f64,
}

/// Convert on each source of `source` whose SNN is not up to date. A failed
/// conversion is an error (its old SNN is removed, never left behind): no
/// SNN drops out of a run with only a warning. Layers silent over the
/// configured window are balanced over a longer one (`max_extension`).
pub fn run(ctx: &Ctx, source: Source) -> Result<()> {
    let mut made = 0;
    for src in source.snns() {
        let a = Artifact::Snn(src);
        if ctx.up_to_date(a)? {
            made += 1;
            continue;
        }
        ctx.begin(a)?;
        match convert(ctx, src) {
            Ok(r) => {
                ctx.finish(a)?;
                println!(
                    "converted ({}): thresholds {:?}",
                    r.source, r.balance.thresholds
                );
                made += 1;
            }
            Err(e) => {
                provenance::remove(&ctx.art, a)?;
                return Err(e);
            }
        }
    }
    if made == 0 {
        bail!("no conversion succeeded");
    }
    Ok(())
}

/// Balance the thresholds on `src` images; save `snn-<src>.bpk` and its report.
fn convert(ctx: &Ctx, src: SnnSource) -> Result<ConvertReport> {
    let (exp, device, art) = (&ctx.exp, &ctx.device, &ctx.art);
    let (ann, cfg) = saved::load_ann(ctx)?;
    let ann = ann.valid();
    let set = match src {
        SnnSource::Synthetic => {
            let dir = art.synthetic_dir();
            read_png_folder(&dir, cfg.num_classes)
                .with_context(|| format!("reading {}", dir.display()))?
        }
        SnnSource::Real => datasets::load(exp, Split::Train)?.take(exp.evaluate.real_images),
        SnnSource::Encrypted => bail!("the encrypted SNN is made by `encrypt`, not `convert`"),
    };
    if (set.channels, set.height, set.width) != (cfg.in_channels, cfg.image_size, cfg.image_size) {
        bail!(
            "{src} images are {}x{}x{}, but the ANN takes {}x{}x{}",
            set.channels,
            set.height,
            set.width,
            cfg.in_channels,
            cfg.image_size,
            cfg.image_size
        );
    }
    let data: Vec<Tensor<4>> = set
        .batches(exp.evaluate.batch_size, device)
        .map(|b| b.images)
        .collect();
    let balance_config = match src {
        SnnSource::Real => &exp.baseline,
        SnnSource::Synthetic | SnnSource::Encrypted => &exp.conversion,
    };
    let snn = Snn::from_ann(ann, &exp.snn);
    let layers = snn.neurons.len();
    eprintln!(
        "convert ({src}): balancing {layers} layers on {} images, T = {}, scale {}, percentile {}",
        set.len(),
        balance_config.timesteps,
        balance_config.scale,
        balance_config.percentile
    );
    let progress = bar(layers, &format!("convert {src}"));
    let start = Instant::now();
    let result = balance_thresholds(snn, &data, balance_config, |l, _| {
        progress.set_position(l as u64)
    });
    progress.finish_and_clear();
    let (snn, balance) = result.with_context(|| format!("conversion on {src} data"))?;
    let seconds = start.elapsed().as_secs_f64();
    if balance.timesteps > balance_config.timesteps {
        eprintln!(
            "convert ({src}): layers silent over T = {} were balanced over longer windows: {:?}",
            balance_config.timesteps, balance.windows
        );
    }
    let path = art.snn(src);
    model_io::save_snn(&snn, &cfg, &exp.snn, &path)?;
    let report = ConvertReport {
        source: src.to_string(),
        balance,
        seconds,
    };
    write_json(&art.snn_report(src), &report)?;
    eprintln!("convert ({src}): {seconds:.1}s, saved {}", path.display());
    Ok(report)
}
