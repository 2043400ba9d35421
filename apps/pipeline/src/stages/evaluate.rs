//! `evaluate`: the test accuracy of the ANN, or (`--snn`) of every converted
//! SNN against timesteps (paper Figure 4, Table 1), with a plot and
//! `snn-accuracy.md`.

use anyhow::{Result, bail};
use burn::module::Module;
use privatesnn_conversion::{AccuracyAtT, accuracy_vs_timesteps};
use privatesnn_data::Split;
use serde::{Deserialize, Serialize};

use crate::artifacts::{Artifact, SnnSource};
use crate::common::{bar, write_json};
use crate::context::Ctx;
use crate::{datasets, report, saved};

/// What `evaluate --snn` writes to `<out>/snn-accuracy.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnnAccuracyReport {
    /// Test images used.
    pub test_images: usize,
    /// ANN accuracy on the same images, percent.
    pub ann_accuracy: f64,
    /// Accuracy against timesteps of each converted SNN, by source.
    pub snn: Vec<(String, Vec<AccuracyAtT>)>,
}

/// `evaluate` (the ANN) or `evaluate --snn`.
pub fn run(ctx: &Ctx, snn: bool) -> Result<()> {
    if snn { run_snn(ctx) } else { run_ann(ctx) }
}

/// The test accuracy of the run's (up-to-date) ANN.
fn run_ann(ctx: &Ctx) -> Result<()> {
    let (net, _) = saved::load_ann(ctx)?;
    let test = datasets::load(&ctx.exp, Split::Test)?;
    let (acc, loss) = saved::ann_accuracy(&net, &test, ctx.exp.train.batch_size, &ctx.device);
    eprintln!(
        "ANN test accuracy {acc:.2}% (loss {loss:.4}) on {} images",
        test.len()
    );
    println!("ANN test accuracy: {acc:.2}%");
    Ok(())
}

fn print(r: &SnnAccuracyReport) {
    println!(
        "ANN accuracy on the {} test images the SNNs are evaluated on: {:.2}%",
        r.test_images, r.ann_accuracy
    );
    for (src, acc) in &r.snn {
        for a in acc {
            println!("SNN ({src}) T = {}: {:.2}%", a.timesteps, a.accuracy);
        }
    }
}

/// Accuracy of every converted SNN at `[evaluate] timesteps`, unless the
/// report is up to date (then it is printed again).
fn run_snn(ctx: &Ctx) -> Result<()> {
    let art = &ctx.art;
    if ctx.up_to_date(Artifact::SnnAccuracy)? {
        let text = std::fs::read_to_string(art.snn_accuracy())?;
        print(&serde_json::from_str(&text)?);
        return Ok(());
    }
    let sources: Vec<SnnSource> = art
        .inputs(Artifact::SnnAccuracy)
        .into_iter()
        .filter_map(|a| match a {
            Artifact::Snn(s) => Some(s),
            _ => None,
        })
        .collect();
    if sources.is_empty() {
        bail!(
            "no converted SNN in {} (run `pipeline convert` first)",
            art.out().display()
        );
    }
    ctx.begin(Artifact::SnnAccuracy)?;
    let report = evaluate_snns(ctx, &sources)?;
    report::write(ctx, &report)?;
    ctx.finish(Artifact::SnnAccuracy)?;
    print(&report);
    eprintln!("report: {}", art.snn_accuracy_report().display());
    Ok(())
}

fn evaluate_snns(ctx: &Ctx, sources: &[SnnSource]) -> Result<SnnAccuracyReport> {
    let (exp, device) = (&ctx.exp, &ctx.device);
    let (ann, _) = saved::load_ann(ctx)?;
    let mut test = datasets::load(exp, Split::Test)?;
    if exp.evaluate.test_images > 0 {
        test = test.take(exp.evaluate.test_images);
    }
    let batch = exp.evaluate.batch_size;
    let (ann_accuracy, _) = saved::ann_accuracy(&ann.valid(), &test, batch, device);
    eprintln!(
        "evaluate: ANN {ann_accuracy:.2}% on {} test images",
        test.len()
    );
    let ts = &exp.evaluate.timesteps;
    let mut curves = Vec::new();
    for &src in sources {
        let (snn, _, _) = saved::load_snn(ctx, src)?;
        let snn = snn.valid();
        let progress = bar(
            test.len().div_ceil(batch),
            &format!("SNN ({src}) T<={}", ts[ts.len() - 1]),
        );
        let acc = accuracy_vs_timesteps(
            &snn,
            test.batches(batch, device)
                .map(|b| (b.images, b.targets))
                .inspect(|_| progress.inc(1)),
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
    let report = SnnAccuracyReport {
        test_images: test.len(),
        ann_accuracy,
        snn: curves,
    };
    write_json(&ctx.art.snn_accuracy(), &report)?;
    Ok(report)
}
