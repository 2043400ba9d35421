//! Resolves the CLI into a run and dispatches to the stages.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cli::Source;
use crate::cli::{Cli, Command};
use crate::config::ExperimentConfig;
use crate::device::DeviceArg;
use crate::{bench, stages, train};

/// The validated configuration of one invocation.
#[derive(Debug, Serialize)]
pub struct RunConfig {
    /// The experiment.
    pub experiment: ExperimentConfig,
    /// Device choice.
    pub device: DeviceArg,
    /// Where outputs land.
    pub out: PathBuf,
}

fn resolve(cli: &Cli) -> Result<RunConfig> {
    let experiment = ExperimentConfig::load(&cli.config)?;
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&experiment.name));
    Ok(RunConfig {
        experiment,
        device: cli.device,
        out,
    })
}

fn write_json<T: Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    privatesnn_models::io::atomic_write(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn print_snn(r: &stages::SnnAccuracyReport) {
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

/// Entry point behind `main`.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(Command::Bench(args)) = &cli.command {
        let device = cli.device.device();
        let results = bench::bench(args, &device).context("bench")?;
        let out = cli
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs/bench"));
        write_json(&out.join("bench.json"), &results)?;
        println!("wrote {}", out.join("bench.json").display());
        return Ok(());
    }
    let run = resolve(&cli)?;
    write_json(&run.out.join("resolved-config.json"), &run)?;
    let device = run.device.device();
    let exp = &run.experiment;
    let stage = match &cli.command {
        None => {
            let acc = train::train_ann(exp, &device, &run.out)?;
            println!("ANN test accuracy: {acc:.2}%");
            stages::synthesize(exp, &device, &run.out)?;
            stages::convert(exp, &device, &run.out, Source::Both)?;
            print_snn(&stages::evaluate_snn(exp, &device, &run.out)?);
            eprintln!(
                "report: {}; later stages (encrypt, attack, energy) are not implemented yet",
                run.out.join("report.md").display()
            );
            return Ok(());
        }
        Some(Command::TrainAnn) => {
            let acc = train::train_ann(exp, &device, &run.out)?;
            println!("ANN test accuracy: {acc:.2}%");
            return Ok(());
        }
        Some(Command::Evaluate(args)) => {
            if args.snn {
                print_snn(&stages::evaluate_snn(exp, &device, &run.out)?);
            } else {
                let acc = train::evaluate_saved(exp, &device, &run.out)?;
                println!("ANN test accuracy: {acc:.2}%");
            }
            return Ok(());
        }
        Some(Command::Synthesize) => {
            let r = stages::synthesize(exp, &device, &run.out)?;
            println!(
                "synthesized {} images at {:.2} img/s",
                r.images, r.images_per_s
            );
            return Ok(());
        }
        Some(Command::Convert(args)) => {
            for r in stages::convert(exp, &device, &run.out, args.source)? {
                println!(
                    "converted ({}): thresholds {:?}",
                    r.source, r.balance.thresholds
                );
            }
            return Ok(());
        }
        Some(Command::Encrypt) => "encrypt",
        Some(Command::Attack) => "attack",
        Some(Command::Energy) => "energy",
        Some(Command::Bench(_)) => unreachable!("handled above"),
    };
    bail!(
        "stage `{stage}` is not implemented yet in this version (config {} validated, \
         output dir {}); see the README's status table",
        cli.config.display(),
        run.out.display()
    )
}
