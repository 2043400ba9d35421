//! `pipeline`: runs the PrivateSNN experiment, stage by stage or end to end.
//! See `pipeline --help` and the README.

mod bench;
mod cli;
mod config;
mod datasets;
mod device;
mod plot;
mod run;
mod stages;
mod train;

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
