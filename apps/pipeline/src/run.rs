//! Dispatch: one line per stage (as ripgrep's `main.rs` dispatches its modes).

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Ctx;
use crate::{bench, stages};

/// Entry point behind `main`.
pub fn run(cli: Cli) -> Result<()> {
    if let Some(Command::Bench(args)) = &cli.command {
        return bench::run(&cli, args);
    }
    let ctx = Ctx::from_cli(&cli)?;
    match cli.command {
        None | Some(Command::Run) => stages::run_all(&ctx),
        Some(Command::TrainAnn) => stages::train_ann::run(&ctx),
        Some(Command::Synthesize) => stages::synthesize::run(&ctx),
        Some(Command::Convert(args)) => stages::convert::run(&ctx, args.source),
        Some(Command::Evaluate(args)) => stages::evaluate::run(&ctx, args.snn),
        Some(Command::Encrypt(args)) => stages::encrypt::run(&ctx, args.sweep),
        Some(Command::Attack) => stages::attack::run(&ctx),
        Some(Command::Energy) => stages::energy::run(&ctx),
        Some(Command::ImportAnn(args)) => stages::import_ann::run(&ctx, &args),
        Some(Command::ExportNir(args)) => stages::export_nir::run(&ctx, &args),
        Some(Command::Bench(_)) => unreachable!("handled above"),
    }
}
