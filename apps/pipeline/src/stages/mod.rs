//! The stages of the experiment, one module each. Every stage takes the run
//! context, skips an output that is up to date, checks that its inputs are,
//! and records what it made (see `provenance`).

pub mod attack;
pub mod convert;
pub mod encrypt;
pub mod energy;
pub mod evaluate;
pub mod export_nir;
pub mod import_ann;
pub mod synthesize;
pub mod train_ann;

use anyhow::Result;

use crate::cli::Source;
use crate::context::Ctx;

/// The whole pipeline in order; each stage reuses what is up to date, so a
/// killed run continues where it stopped.
pub fn run_all(ctx: &Ctx) -> Result<()> {
    train_ann::run(ctx)?;
    synthesize::run(ctx)?;
    convert::run(ctx, Source::Both)?;
    encrypt::run(ctx, false)?;
    encrypt::run(ctx, true)?;
    evaluate::run(ctx, true)?;
    attack::run(ctx)?;
    energy::run(ctx)?;
    crate::paper_report::write(ctx)
}
