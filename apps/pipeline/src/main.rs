//! `pipeline`: runs the PrivateSNN experiment, stage by stage or end to end.
//! See `pipeline --help` and the README.

mod artifacts;
mod bench;
mod bench_conv;
mod cli;
mod common;
mod config;
mod context;
mod datasets;
mod device;
mod paper_report;
mod plot;
mod plot_bars;
mod provenance;
mod report;
mod run;
mod saved;
mod stages;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match run::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
