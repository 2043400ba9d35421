//! `synthesize`, `convert` and `evaluate --snn`: data-free conversion and the
//! SNN's accuracy against timesteps (paper section 3.1, Figure 4, Table 1).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use privatesnn_conversion::{
    AccuracyAtT, BalanceReport, accuracy_vs_timesteps, balance_thresholds,
};
use privatesnn_data::{ImageSet, Split, batch, read_png_folder};
use privatesnn_models::{Snn, io as model_io};
use privatesnn_synthesis::dirichlet_impressions;
use serde::{Deserialize, Serialize};

use crate::cli::Source;
use crate::config::ExperimentConfig;
use crate::{datasets, train};

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    model_io::atomic_write(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Normalised batches of `set` (no augmentation).
fn batches(
    set: &ImageSet,
    size: usize,
    device: &Device,
) -> impl Iterator<Item = (Tensor<4>, Tensor<1, Int>)> {
    let idx: Vec<usize> = (0..set.len()).collect();
    let chunks: Vec<Vec<usize>> = idx.chunks(size.max(1)).map(<[usize]>::to_vec).collect();
    chunks
        .into_iter()
        .map(move |c| batch(set, &c, None, device))
}

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

/// Make the synthetic set from `<out>/ann.bpk` into `<out>/synthetic/`.
pub fn synthesize(exp: &ExperimentConfig, device: &Device, out: &Path) -> Result<SynthesisReport> {
    let (ann, cfg) = train::load_saved_ann(exp, out, device)?;
    let ad = if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    };
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
    let dir = out.join("synthetic");
    // PNGs + labels, and a grid of up to 10 images per class, one row per class.
    set.save(
        &dir,
        Some(&out.join("synthetic-grid.png")),
        s.per_class.min(10),
    )?;
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
    let (agreement, _) = train::evaluate_ann(&plain, &dominant, 256, device);
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
    write_json(&out.join("synthesize.json"), &report)?;
    eprintln!(
        "synthesize: {total} images in {seconds:.1}s ({:.2} img/s); the ANN assigns {:.1}% to their soft label's dominant class; {}",
        report.images_per_s,
        report.ann_agreement,
        dir.display()
    );
    Ok(report)
}

/// What `convert` writes to `<out>/convert-<source>.json`.
#[derive(Debug, Serialize)]
pub struct ConvertReport {
    /// `synthetic` or `real`.
    pub source: String,
    /// The balancing statistics and thresholds.
    pub balance: BalanceReport,
    /// Wall seconds.
    pub seconds: f64,
    /// The saved SNN.
    pub snn: PathBuf,
}

fn sources(source: Source) -> Vec<&'static str> {
    match source {
        Source::Synthetic => vec!["synthetic"],
        Source::Real => vec!["real"],
        Source::Both => vec!["synthetic", "real"],
    }
}

/// Balance thresholds on synthetic and/or real images; save `<out>/snn-<source>.bpk`.
pub fn convert(
    exp: &ExperimentConfig,
    device: &Device,
    out: &Path,
    source: Source,
) -> Result<Vec<ConvertReport>> {
    let (ann, cfg) = train::load_saved_ann(exp, out, device)?;
    let ann = ann.valid();
    let mut reports = Vec::new();
    for src in sources(source) {
        let set = if src == "synthetic" {
            let dir = out.join("synthetic");
            read_png_folder(&dir, cfg.num_classes).with_context(|| {
                format!(
                    "reading {} (run `pipeline synthesize` first)",
                    dir.display()
                )
            })?
        } else {
            datasets::load(exp, Split::Train)?.take(exp.evaluate.real_images)
        };
        if (set.channels, set.height, set.width)
            != (cfg.in_channels, cfg.image_size, cfg.image_size)
        {
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
        let data: Vec<Tensor<4>> = batches(&set, exp.evaluate.batch_size, device)
            .map(|(x, _)| x)
            .collect();
        let balance_config = if src == "real" {
            &exp.baseline
        } else {
            &exp.conversion
        };
        let snn = Snn::from_ann(ann.clone(), &exp.snn);
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
        let path = out.join(format!("snn-{src}.bpk"));
        let (snn, balance) = match result {
            Ok(r) => r,
            Err(e) if source == Source::Both => {
                // Keep going with the other source; never leave a stale SNN behind.
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(model_io::meta_path(&path));
                eprintln!("warning: conversion on {src} data failed: {e}");
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("conversion on {src} data")),
        };
        let seconds = start.elapsed().as_secs_f64();
        model_io::save_snn(&snn, &cfg, &exp.snn, &path)?;
        let report = ConvertReport {
            source: src.into(),
            balance,
            seconds,
            snn: path.clone(),
        };
        write_json(&out.join(format!("convert-{src}.json")), &report)?;
        eprintln!("convert ({src}): {seconds:.1}s, saved {}", path.display());
        reports.push(report);
    }
    if reports.is_empty() {
        bail!("no conversion succeeded");
    }
    Ok(reports)
}

/// What `evaluate --snn` writes to `<out>/snn-accuracy.json`.
#[derive(Debug, Serialize)]
pub struct SnnAccuracyReport {
    /// Test images used.
    pub test_images: usize,
    /// ANN accuracy on the same images, percent.
    pub ann_accuracy: f64,
    /// Accuracy against timesteps of each converted SNN, by source.
    pub snn: Vec<(String, Vec<AccuracyAtT>)>,
}

/// Accuracy of every converted SNN at `[evaluate] timesteps`, with a plot.
pub fn evaluate_snn(
    exp: &ExperimentConfig,
    device: &Device,
    out: &Path,
) -> Result<SnnAccuracyReport> {
    let (ann, _) = train::load_saved_ann(exp, out, device)?;
    let mut test = datasets::load(exp, Split::Test)?;
    if exp.evaluate.test_images > 0 {
        test = test.take(exp.evaluate.test_images);
    }
    let (ann_accuracy, _) =
        train::evaluate_ann(&ann.valid(), &test, exp.evaluate.batch_size, device);
    eprintln!(
        "evaluate: ANN {ann_accuracy:.2}% on {} test images",
        test.len()
    );
    let ts = &exp.evaluate.timesteps;
    let mut curves = Vec::new();
    for src in ["synthetic", "real"] {
        let path = out.join(format!("snn-{src}.bpk"));
        if !path.exists() {
            continue;
        }
        let (snn, saved, _) = model_io::load_snn(&path, device)?;
        train::check_compatible(&saved, exp, &path)?;
        let snn = snn.valid();
        let n_batches = test.len().div_ceil(exp.evaluate.batch_size);
        let progress = bar(n_batches, &format!("SNN ({src}) T<={}", ts[ts.len() - 1]));
        let acc = accuracy_vs_timesteps(
            &snn,
            batches(&test, exp.evaluate.batch_size, device).inspect(|_| progress.inc(1)),
            ts,
            exp.evaluate.seed,
        );
        progress.finish_and_clear();
        for a in &acc {
            eprintln!(
                "evaluate: SNN ({src}) T = {:>4}: {:.2}%",
                a.timesteps, a.accuracy
            );
        }
        curves.push((src.to_string(), acc));
    }
    if curves.is_empty() {
        bail!(
            "no converted SNN in {} (run `pipeline convert` first)",
            out.display()
        );
    }
    let report = SnnAccuracyReport {
        test_images: test.len(),
        ann_accuracy,
        snn: curves,
    };
    write_json(&out.join("snn-accuracy.json"), &report)?;
    let series: Vec<crate::plot::Series> = report
        .snn
        .iter()
        .map(|(src, acc)| crate::plot::Series {
            name: format!("SNN, converted on {src} data"),
            points: acc
                .iter()
                .map(|a| (a.timesteps as f64, a.accuracy))
                .collect(),
        })
        .collect();
    crate::plot::line_plot(
        &out.join("snn-accuracy.png"),
        &format!("{}: SNN accuracy vs timesteps", exp.name),
        "timesteps T",
        "test accuracy (%)",
        &series,
        Some(("ANN", ann_accuracy)),
    )?;
    write_markdown(exp, out, &report)?;
    Ok(report)
}

fn write_markdown(exp: &ExperimentConfig, out: &Path, r: &SnnAccuracyReport) -> Result<()> {
    let mut md = format!(
        "# {}: data-free conversion\n\nANN test accuracy: **{:.2}%** on {} test images.\n\n",
        exp.name, r.ann_accuracy, r.test_images
    );
    if let Ok(text) = std::fs::read_to_string(out.join("train-ann.json"))
        && let Ok(t) = serde_json::from_str::<train::TrainReport>(&text)
        && let Some(acc) = t.final_test_acc
    {
        md += &format!(
            "On the whole test set ({} images) the ANN scores {acc:.2}% ({} epochs, `train-ann.json`).\n\n",
            t.test_images,
            t.epochs.len()
        );
    }
    if let Ok(text) = std::fs::read_to_string(out.join("synthesize.json"))
        && let Ok(s) = serde_json::from_str::<SynthesisReport>(&text)
    {
        md += &format!(
            "Synthetic set: {} images, {} Adam iterations, batch {}: {:.2} img/s; the ANN assigns {:.1}% \
             of them to the dominant class of their soft label. ![synthetic](synthetic-grid.png)\n\n",
            s.images, s.iterations, s.batch_size, s.images_per_s, s.ann_agreement
        );
    }
    md += "| T |";
    for (src, _) in &r.snn {
        md += &format!(" SNN ({src}) |");
    }
    md += "\n|---|";
    md += &"---|".repeat(r.snn.len());
    md += "\n";
    for (k, t) in exp.evaluate.timesteps.iter().enumerate() {
        md += &format!("| {t} |");
        for (_, acc) in &r.snn {
            md += &format!(" {:.2}% |", acc[k].accuracy);
        }
        md += "\n";
    }
    md += "\n![accuracy vs T](snn-accuracy.png)\n";
    model_io::atomic_write(&out.join("report.md"), md.as_bytes())?;
    Ok(())
}
