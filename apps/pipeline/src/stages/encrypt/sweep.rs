//! `encrypt --sweep`: test accuracy of the encrypted SNN against the number
//! of synthetic training samples, with and without distillation (paper
//! Fig. 5), the data-free converted SNN as the baseline.
//!
//! A provenance-tracked artifact like every stage's output: skipped when up
//! to date, remade when its inputs or settings changed. The point with every
//! synthetic sample and the configured distillation is the run's encrypted
//! SNN (`snn-encrypted.bpk`), measured, not trained again.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Module;
use privatesnn_conversion::accuracy_vs_timesteps;
use privatesnn_data::{ImageSet, Split};
use privatesnn_encryption::encrypt;
use privatesnn_models::Snn;
use serde::{Deserialize, Serialize};

use super::training_set;
use crate::artifacts::{Artifact, SnnSource};
use crate::common::{bar, write_json};
use crate::context::Ctx;
use crate::plot::{Series, line_plot};
use crate::{datasets, saved};

/// One trained point of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Synthetic training samples.
    pub samples: usize,
    /// Distillation weight `m` used (0 = cross-entropy only).
    pub distill_weight: f64,
    /// Test accuracy at the encryption's T, percent.
    pub accuracy: f64,
    /// Training wall seconds (0 for the reused point).
    pub seconds: f64,
    /// The run's encrypted SNN, not trained again for the sweep.
    #[serde(default)]
    pub reused: bool,
}

/// What `encrypt --sweep` writes to `<out>/encrypt-sweep.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepReport {
    /// Timesteps of training and of the accuracy.
    pub timesteps: usize,
    /// Epochs per point.
    pub epochs: usize,
    /// Test images the accuracies are measured on.
    pub test_images: usize,
    /// The data-free converted SNN's accuracy at the same T (the baseline).
    pub converted_accuracy: f64,
    /// The points, by sample count, with and without distillation.
    pub points: Vec<SweepPoint>,
    /// Sample counts of `[encryption] sweep_samples` left out (larger than the synthetic set).
    pub skipped: Vec<usize>,
    /// The device.
    pub device: String,
}

fn accuracy(ctx: &Ctx, snn: &Snn, test: &ImageSet, t: usize) -> f64 {
    let batch = ctx.exp.evaluate.batch_size;
    let acc = accuracy_vs_timesteps(
        snn,
        test.batches(batch, &ctx.device)
            .map(|b| (b.images, b.targets)),
        &[t],
        ctx.exp.evaluate.seed,
    );
    acc[0].accuracy
}

/// The sweep unless it is up to date (then its summary is printed again).
pub fn run(ctx: &Ctx) -> Result<()> {
    if ctx.up_to_date(Artifact::EncryptSweep)? {
        let text = std::fs::read_to_string(ctx.art.encrypt_sweep())?;
        print(&serde_json::from_str(&text)?);
        return Ok(());
    }
    ctx.begin(Artifact::EncryptSweep)?;
    match sweep(ctx) {
        Ok(r) => {
            ctx.finish(Artifact::EncryptSweep)?;
            print(&r);
            eprintln!(
                "encrypt --sweep: {}",
                ctx.art.encrypt_sweep_plot().display()
            );
            Ok(())
        }
        Err(e) => {
            crate::provenance::remove(&ctx.art, Artifact::EncryptSweep)?;
            Err(e)
        }
    }
}

fn print(r: &SweepReport) {
    println!(
        "encrypt sweep: converted {:.2}%; {}",
        r.converted_accuracy,
        r.points
            .iter()
            .map(|p| format!("n={} m={}: {:.2}%", p.samples, p.distill_weight, p.accuracy))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Run the sweep and write its JSON and plot.
fn sweep(ctx: &Ctx) -> Result<SweepReport> {
    let (exp, device, art) = (&ctx.exp, &ctx.device, &ctx.art);
    let cfg = &exp.encryption.train;
    let (snn, _, data, _, _) = training_set(ctx)?;
    let mut test = datasets::load(exp, Split::Test)?;
    if exp.evaluate.test_images > 0 {
        test = test.take(exp.evaluate.test_images);
    }
    let t = cfg.timesteps;
    let (counts, skipped): (Vec<usize>, Vec<usize>) = exp
        .encryption
        .sweep_samples
        .iter()
        .partition(|&&n| n <= data.len());
    if !skipped.is_empty() {
        eprintln!(
            "encrypt --sweep: leaving out {skipped:?}: the synthetic set has {} images \
             (raise [synthesis] per_class to include them)",
            data.len()
        );
    }
    if counts.is_empty() {
        bail!(
            "no count of [encryption] sweep_samples ({:?}) fits the {} synthetic images",
            exp.encryption.sweep_samples,
            data.len()
        );
    }
    let converted_accuracy = accuracy(ctx, &snn.clone().valid(), &test, t);
    eprintln!(
        "encrypt --sweep: converted SNN {converted_accuracy:.2}% at T = {t} on {} test images",
        test.len()
    );
    let mut points = Vec::new();
    // The encrypted SNN of the run: every sample (`samples` 0 or the set's
    // size) with the configured distillation.
    let run_samples = if cfg.samples == 0 {
        data.len()
    } else {
        cfg.samples
    };
    for &n in &counts {
        for m in [cfg.distill_weight, 0.0] {
            if n == run_samples && n == data.len() && m == cfg.distill_weight {
                let (enc, _, _) = saved::load_snn(ctx, SnnSource::Encrypted)?;
                let acc = accuracy(ctx, &enc.valid(), &test, t);
                eprintln!(
                    "encrypt --sweep: {n} samples, m = {m}: {acc:.2}% (the run's encrypted SNN)"
                );
                points.push(SweepPoint {
                    samples: n,
                    distill_weight: m,
                    accuracy: acc,
                    seconds: 0.0,
                    reused: true,
                });
                continue;
            }
            let c = cfg.clone().with_samples(n).with_distill_weight(m);
            let batches = n.div_ceil(c.batch_size);
            let progress = bar(c.epochs * batches, &format!("encrypt n={n} m={m}"));
            let start = Instant::now();
            let (enc, _) = encrypt(snn.clone(), &data, &c, device, None, |p| {
                progress.set_position((p.epoch * p.batches + p.batch) as u64)
            })?;
            progress.finish_and_clear();
            let seconds = start.elapsed().as_secs_f64();
            let acc = accuracy(ctx, &enc, &test, t);
            eprintln!("encrypt --sweep: {n} samples, m = {m}: {acc:.2}% ({seconds:.1}s)");
            points.push(SweepPoint {
                samples: n,
                distill_weight: m,
                accuracy: acc,
                seconds,
                reused: false,
            });
        }
    }
    let report = SweepReport {
        timesteps: t,
        epochs: cfg.epochs,
        test_images: test.len(),
        converted_accuracy,
        points,
        skipped,
        device: format!("{device:?}"),
    };
    plot(ctx, &report)?;
    write_json(&art.encrypt_sweep(), &report)?;
    Ok(report)
}

fn plot(ctx: &Ctx, r: &SweepReport) -> Result<()> {
    let m = ctx.exp.encryption.train.distill_weight;
    let series_of = |weight: f64, name: String| Series {
        name,
        points: r
            .points
            .iter()
            .filter(|p| p.distill_weight == weight)
            .map(|p| (p.samples as f64, p.accuracy))
            .collect(),
    };
    let mut series = vec![series_of(
        m,
        format!("encrypted, with distillation (m = {m})"),
    )];
    if m != 0.0 {
        series.push(series_of(
            0.0,
            "encrypted, without distillation (m = 0)".into(),
        ));
    }
    line_plot(
        &ctx.art.encrypt_sweep_plot(),
        &format!(
            "{}: accuracy vs synthetic samples (T = {}, {} epochs, {} test images)",
            ctx.exp.name, r.timesteps, r.epochs, r.test_images
        ),
        "synthetic training samples",
        "test accuracy (%)",
        &series,
        Some(("converted SNN, no encryption", r.converted_accuracy)),
    )
}
