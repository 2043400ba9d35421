//! `synthesize`: class-similarity Dirichlet impressions from the trained
//! ANN (paper Sec. 3.1, Algorithm 3 step 1): the data-free training set.

use std::time::Instant;

use anyhow::Result;
use burn::module::Module;
use privatesnn_synthesis::dirichlet_impressions;
use serde::{Deserialize, Serialize};

use crate::artifacts::Artifact;
use crate::common::{autodiff, bar, write_json};
use crate::context::Ctx;
use crate::saved;

/// What `synthesize` writes to `<out>/synthesize.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SynthesisReport {
    /// Images made.
    pub images: usize,
    /// Images optimised at once.
    pub batch_size: usize,
    /// Adam iterations per image.
    pub iterations: usize,
    /// Wall seconds.
    pub seconds: f64,
    /// Images per second.
    pub images_per_s: f64,
    /// Mean final soft-label cross-entropy.
    pub mean_final_loss: f64,
    /// Percent of the saved (8-bit) images the ANN classifies as the dominant
    /// class of the soft label they were optimised to.
    pub ann_agreement: f64,
}

/// Make the synthetic set unless it is up to date.
pub fn run(ctx: &Ctx) -> Result<()> {
    if ctx.up_to_date(Artifact::Synthetic)? {
        return Ok(());
    }
    ctx.begin(Artifact::Synthetic)?;
    let r = synthesize(ctx)?;
    ctx.finish(Artifact::Synthetic)?;
    println!(
        "synthesized {} images at {:.2} img/s",
        r.images, r.images_per_s
    );
    Ok(())
}

/// Make the synthetic set from `ann.bpk` into `synthetic/` (written to a
/// temporary folder and renamed into place) with its grid and report.
fn synthesize(ctx: &Ctx) -> Result<SynthesisReport> {
    let (exp, device, art) = (&ctx.exp, &ctx.device, &ctx.art);
    let (ann, cfg) = saved::load_ann(ctx)?;
    let ad = autodiff(device);
    let frozen = ann.valid().fork(&ad);
    let model = |x| frozen.forward(x);
    let s = &exp.synthesis;
    let total = s.per_class * cfg.num_classes;
    eprintln!(
        "synthesize: {total} images ({} per class), batch {}, {} Adam iterations each",
        s.per_class, s.batch_size, s.iterations
    );
    let progress = bar(total, "synthesize");
    let start = Instant::now();
    let set = dirichlet_impressions(
        &model,
        frozen.fc2.weight.val(),
        [cfg.in_channels, cfg.image_size, cfg.image_size],
        s,
        &ad,
        |done, _| progress.set_position(done as u64),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let images = set.to_image_set();
    let dir = art.synthetic_dir();
    // PNGs + labels, and a grid of up to 10 images per class, one row per class.
    set.save(&dir, Some(&art.synthetic_grid()), s.per_class.min(10))?;
    // The soft labels, image by image (encryption trains on them).
    write_json(&art.soft_labels(), &set.soft_labels)?;
    let plain = ann.valid();
    let mut dominant = images.clone();
    dominant.labels = set
        .soft_labels
        .iter()
        .map(|y| {
            y.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect();
    let (agreement, _) = saved::ann_accuracy(&plain, &dominant, 256, device);
    let report = SynthesisReport {
        images: total,
        batch_size: s.batch_size,
        iterations: s.iterations,
        seconds,
        images_per_s: total as f64 / seconds,
        mean_final_loss: set.final_loss.iter().map(|&l| l as f64).sum::<f64>()
            / total.max(1) as f64,
        ann_agreement: agreement,
    };
    write_json(&art.synthesize_report(), &report)?;
    eprintln!(
        "synthesize: {total} images in {seconds:.1}s ({:.2} img/s); the ANN assigns {:.1}% to their soft label's dominant class; {}",
        report.images_per_s,
        report.ann_agreement,
        dir.display()
    );
    Ok(report)
}
