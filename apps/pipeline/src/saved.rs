//! Loading the run's saved models (up to date and checked against
//! `[model]`), and ANN accuracy.

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;
use privatesnn_data::ImageSet;
use privatesnn_models::{Snn, SnnConfig, Vgg, VggConfig, io as model_io};

use crate::artifacts::{Artifact, SnnSource};
use crate::config::ExperimentConfig;
use crate::context::Ctx;

/// Check that a saved network takes the inputs and classes of `[model]`
/// (the data are prepared for `[model]`; another input shape would not fit).
pub fn check_compatible(saved: &VggConfig, exp: &ExperimentConfig, path: &Path) -> Result<()> {
    let m = &exp.model;
    if (saved.in_channels, saved.image_size, saved.num_classes)
        != (m.in_channels, m.image_size, m.num_classes)
    {
        bail!(
            "{} takes {}x{}x{} images and {} classes, but [model] says {}x{}x{} and {}; \
             use the config it was made with, or another --out",
            path.display(),
            saved.in_channels,
            saved.image_size,
            saved.image_size,
            saved.num_classes,
            m.in_channels,
            m.image_size,
            m.image_size,
            m.num_classes
        );
    }
    Ok(())
}

/// The run's ANN (`ann.bpk`), which must be up to date.
pub fn load_ann(ctx: &Ctx) -> Result<(Vgg, VggConfig)> {
    ctx.require(Artifact::Ann)?;
    let path = ctx.art.ann();
    let (net, config) = model_io::load_ann(&path, &ctx.device)
        .with_context(|| format!("loading the ANN {}", path.display()))?;
    check_compatible(&config, &ctx.exp, &path)?;
    Ok((net, config))
}

/// The run's SNN converted on `source`, which must be up to date.
pub fn load_snn(ctx: &Ctx, source: SnnSource) -> Result<(Snn, VggConfig, SnnConfig)> {
    ctx.require(Artifact::Snn(source))?;
    let path = ctx.art.snn(source);
    let (snn, vgg, cfg) = model_io::load_snn(&path, &ctx.device)
        .with_context(|| format!("loading the SNN {}", path.display()))?;
    check_compatible(&vgg, &ctx.exp, &path)?;
    Ok((snn, vgg, cfg))
}

/// Test accuracy (%) and mean cross-entropy of `net` on `set`.
pub fn ann_accuracy(net: &Vgg, set: &ImageSet, batch_size: usize, device: &Device) -> (f64, f64) {
    let mut correct = 0usize;
    let mut loss_sum = 0.0f64;
    let ce = CrossEntropyLossConfig::new().init(device);
    for batch in set.batches(batch_size, device) {
        let n = batch.targets.dims()[0];
        let logits = net.forward(batch.images);
        let loss = ce
            .forward(logits.clone(), batch.targets.clone())
            .into_scalar::<f32>() as f64;
        loss_sum += loss * n as f64;
        let pred = logits.argmax(1).reshape([n]);
        correct += pred.equal(batch.targets).int().sum().into_scalar::<i64>() as usize;
    }
    let n = set.len().max(1) as f64;
    (100.0 * correct as f64 / n, loss_sum / n)
}
