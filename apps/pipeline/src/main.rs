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

/// mimalloc keeps freed large buffers for reuse: glibc unmaps them, and a
/// training step's tens of megabytes of temporaries then page-fault and
/// are zeroed again at every step (measured in docs/results.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
