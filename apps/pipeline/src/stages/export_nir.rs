//! `export-nir`: an up-to-date SNN of the run as a NIR graph (HDF5), with
//! `privatesnn_nir`.

use anyhow::{Context, Result};
use privatesnn_nir::{export_graph, read, write};

use crate::artifacts::SnnSource;
use crate::cli::{ExportNirArgs, Which};
use crate::context::Ctx;
use crate::saved;

/// Export the chosen SNN; the file is read back and compared before the
/// command reports success.
pub fn run(ctx: &Ctx, args: &ExportNirArgs) -> Result<()> {
    let source = match args.snn {
        Which::Synthetic => SnnSource::Synthetic,
        Which::Real => SnnSource::Real,
        Which::Encrypted => SnnSource::Encrypted,
    };
    let (snn, vgg, _) = saved::load_snn(ctx, source)?;
    let path = args
        .to
        .clone()
        .unwrap_or_else(|| ctx.art.out().join(format!("snn-{}.nir", source.as_str())));
    let graph = export_graph(&snn, &vgg).context("export-nir")?;
    write(&graph, &path)?;
    let back = read(&path)?;
    anyhow::ensure!(
        back.nodes == graph.nodes && back.edges == graph.edges,
        "{} does not read back to the graph written",
        path.display()
    );
    println!(
        "exported {} ({} nodes, {} edges) to {}; it resets by subtraction: see the README \
         (\"Bring your own model\") for what a NIR consumer must set",
        ctx.art.snn(source).display(),
        graph.nodes.len(),
        graph.edges.len(),
        path.display()
    );
    Ok(())
}
