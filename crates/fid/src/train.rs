//! Training the [`Judge`] on a real training set (Adam, shuffled mini-batches).

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use privatesnn_data::{ImageBatcher, ImageItem, ImageSet};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use burn::data::dataloader::batcher::Batcher;

use crate::{FidError, Judge, JudgeConfig};

/// How the [`Judge`] is trained.
#[derive(Config, Debug, PartialEq)]
pub struct JudgeTrainConfig {
    /// Epochs over the training set.
    #[config(default = 2)]
    pub epochs: usize,
    /// Mini-batch size.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam learning rate (divided by 10 for the last epoch when there are 2 or more).
    #[config(default = 2e-3)]
    pub lr: f64,
    /// Seed of the initial weights and the shuffling.
    #[config(default = 0)]
    pub seed: u64,
}

impl JudgeTrainConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), FidError> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(FidError::Config(
                "judge training needs epochs > 0 and batch_size > 0".into(),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(FidError::Config(format!(
                "judge lr must be finite and > 0, got {}",
                self.lr
            )));
        }
        Ok(())
    }

    /// The learning rate of `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        if self.epochs >= 2 && epoch + 1 == self.epochs {
            self.lr / 10.0
        } else {
            self.lr
        }
    }
}

/// Mean training loss of each epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JudgeTrainReport {
    /// Mean cross-entropy per epoch.
    pub epoch_loss: Vec<f64>,
}

/// Train a judge of `model` shape on `set` (normalised on the fly), on
/// `device`'s autodiff counterpart; returns it on `device`, in evaluation
/// mode. `progress(epoch, batch, batches, loss)` is called after each step.
pub fn train_judge(
    set: &ImageSet,
    model: &JudgeConfig,
    config: &JudgeTrainConfig,
    device: &Device,
    mut progress: impl FnMut(usize, usize, usize, f64),
) -> Result<(Judge, JudgeTrainReport), FidError> {
    config.validate()?;
    model.validate()?;
    if set.is_empty() {
        return Err(FidError::Config("the judge's training set is empty".into()));
    }
    if set.channels != model.in_channels || set.num_classes != model.num_classes {
        return Err(FidError::Shape(format!(
            "a {}-channel {}-class judge on a {}-channel {}-class set",
            model.in_channels, model.num_classes, set.channels, set.num_classes
        )));
    }
    let plain = device.clone().without_autodiff();
    plain.seed(config.seed);
    let ad = plain.clone().autodiff();
    let mut net = model.init(&plain).fork(&ad).train();
    let mut optim = AdamConfig::new().init();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let batcher = ImageBatcher::for_set(set);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..set.len()).collect();
    let batches = set.len().div_ceil(config.batch_size);
    let mut report = JudgeTrainReport {
        epoch_loss: Vec::new(),
    };
    for epoch in 0..config.epochs {
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        for (b, idx) in order.chunks(config.batch_size).enumerate() {
            let items = idx
                .iter()
                .map(|&i| ImageItem {
                    pixels: set.image(i).to_vec(),
                    label: set.labels[i],
                })
                .collect();
            let batch = batcher.batch(items, &ad);
            let loss = ce.forward(net.forward(batch.images), batch.targets);
            let value = loss.clone().into_scalar::<f64>();
            if !value.is_finite() {
                return Err(FidError::NonFinite(format!(
                    "judge training loss {value} at epoch {epoch}, batch {b}"
                )));
            }
            sum += value;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(config.lr_at(epoch), net, grads);
            progress(epoch, b, batches, value);
        }
        report.epoch_loss.push(sum / batches as f64);
    }
    Ok((net.valid().fork(&plain), report))
}

/// Top-1 accuracy (%) of `judge` on `set`.
pub fn judge_accuracy(judge: &Judge, set: &ImageSet, batch_size: usize, device: &Device) -> f64 {
    let mut correct = 0usize;
    for batch in set.batches(batch_size, device) {
        let n = batch.targets.dims()[0];
        let pred = judge.forward(batch.images).argmax(1).reshape([n]);
        correct += pred.equal(batch.targets).int().sum().into_scalar::<i64>() as usize;
    }
    100.0 * correct as f64 / set.len().max(1) as f64
}
