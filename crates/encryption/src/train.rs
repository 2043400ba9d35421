//! The STBP training loop of encryption (PrivateSNN Algorithm 3, step 2).

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use privatesnn_models::Snn;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoints;
use crate::{
    EncryptionConfig, EncryptionError, EncryptionSet, OutputScale, Targets, encryption_loss,
};

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean total loss over the epoch's batches (weighted by batch size).
    pub loss: f64,
    /// Mean cross-entropy term.
    pub cross_entropy: f64,
    /// Mean distillation term.
    pub distillation: f64,
    /// Percent of the epoch's samples whose SNN output's argmax is the
    /// dominant class of their target (the soft label's largest entry; the
    /// label itself for hard targets): a training-set figure.
    pub train_agreement: f64,
    /// Wall seconds.
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_s: f64,
}

/// What [`encrypt`] reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncryptionReport {
    /// Training samples used.
    pub samples: usize,
    /// Timesteps per forward pass.
    pub timesteps: usize,
    /// One entry per epoch (including the ones restored from a checkpoint).
    pub epochs: Vec<EpochReport>,
    /// The epoch the run resumed after (0 = from the start).
    pub resumed_after: usize,
}

/// Where [`encrypt`] is.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// 0-based epoch.
    pub epoch: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Loss of the last batch.
    pub loss: f64,
}

/// `snn` copied onto `device`'s autodiff device for STBP, in training mode,
/// and that device. Use [`Snn::backward_chunked`] on it for the memory-bounded
/// gradients.
pub fn trainable(snn: Snn, device: &Device) -> (Snn, Device) {
    let ad = device.clone().without_autodiff().autodiff();
    (snn.valid().fork(&ad).train(), ad)
}

/// A seed for (epoch, batch) from the run's seed (SplitMix64 finaliser).
fn stream(seed: u64, epoch: usize, batch: usize) -> u64 {
    let mut z = seed
        .wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(1 + epoch as u64))
        .wrapping_add((batch as u64) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Encryption training (PrivateSNN Sec. 3.2): STBP of `snn`'s weights on
/// `data` (synthetic images only) with Adam and the loss
/// `(1 - m) CE(u_T, y) + m KD(ANN(x), u_T)` ([`encryption_loss`]).
///
/// - The SNN is copied onto `device.autodiff()` and trained there; with
///   `config.memory_bound` the gradients are computed chunk by chunk
///   ([`Snn::backward_chunked`]). The trained SNN is returned on `device`,
///   in evaluation mode.
/// - Its thresholds are kept as converted (they are not parameters with
///   gradients); only the conv and FC weights change. Dropout follows the
///   model's settings (masks fixed over the timesteps of a forward pass).
/// - Every epoch visits the samples in a fresh order; the order, the Poisson
///   spikes and the dropout masks are drawn from `config.seed`, so a run is
///   reproducible, and it is the same whether or not it was interrupted.
/// - With `checkpoints`, the weights, Adam's state and the metrics are saved
///   there after every epoch, and a run with the same settings and data
///   resumes from the newest complete checkpoint.
///
/// `progress` is called after every batch.
pub fn encrypt(
    snn: Snn,
    data: &EncryptionSet,
    config: &EncryptionConfig,
    device: &Device,
    checkpoints: Option<&Path>,
    mut progress: impl FnMut(Progress),
) -> Result<(Snn, EncryptionReport), EncryptionError> {
    config.validate()?;
    data.validate()?;
    let data = data.clone().subset(config.samples);
    let n = data.len();
    let targets = match config.targets {
        Targets::Soft => data.targets.clone(),
        Targets::Hard => data.one_hot_targets(),
    };
    let k = data.num_classes;
    let dominant: Vec<usize> = targets
        .chunks(k)
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(c, _)| c)
        })
        .collect();
    let plain = device.clone().without_autodiff();
    let (mut model, ad) = trainable(snn, &plain);
    let mut optim = AdamConfig::new()
        .with_epsilon(config.adam_epsilon as f32)
        .init();
    let store = checkpoints.map(Checkpoints::new);
    let mut epochs = Vec::with_capacity(config.epochs);
    let mut resumed_after = 0;
    if let Some(store) = &store {
        let settings = serde_json::json!({
            "config": serde_json::to_value(config).expect("config serializes"),
            "data": data.fingerprint(),
        });
        store.claim(&settings)?;
        if let Some(r) = store.latest() {
            model = model
                .try_load_record(r.model)
                .map_err(|e| EncryptionError::Checkpoint {
                    path: checkpoints.expect("store").to_path_buf(),
                    reason: e.to_string(),
                })?;
            optim = optim.load_record(r.optim);
            resumed_after = r.epoch;
            epochs = r.epochs;
        }
    }
    let batches = n.div_ceil(config.batch_size);
    for epoch in resumed_after..config.epochs {
        let start = Instant::now();
        let lr = config.lr_at(epoch);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(stream(
            config.seed,
            epoch,
            usize::MAX,
        )));
        let (mut loss_sum, mut ce_sum, mut kd_sum, mut hits) = (0.0, 0.0, 0.0, 0usize);
        for (b, idx) in order.chunks(config.batch_size).enumerate() {
            let (x, y, t) = data.gather(idx, &targets, &ad);
            let mut encoder = model.encoder(stream(config.seed, epoch, b));
            let steps = config.timesteps as f64;
            let scale = |u: Tensor<2>| match config.output {
                OutputScale::Membrane => u,
                OutputScale::Mean => u.div_scalar(steps),
            };
            let (m, tau) = (config.distill_weight, config.temperature);
            // The output (detached, for the metrics) and the gradients: one
            // backward through the whole simulation, or chunk by chunk
            // (`memory_bound`, same gradients).
            let (output, grads) = if config.memory_bound {
                let (y2, t2) = (y.clone(), t.clone());
                let loss = move |u: Tensor<2>| {
                    encryption_loss(scale(u), y2.clone(), t2.clone(), m, tau).total
                };
                let r = model.backward_chunked(x, config.timesteps, &mut encoder, &loss);
                (scale(r.membrane), r.grads)
            } else {
                let out = model.forward_timesteps(x, config.timesteps, &mut encoder);
                let output = scale(out.membrane);
                let total = encryption_loss(output.clone(), y.clone(), t.clone(), m, tau).total;
                let grads = GradientsParams::from_grads(total.backward(), &model);
                (output.detach(), grads)
            };
            let pred: Vec<i64> = output.clone().argmax(1).into_data().iter::<i64>().collect();
            hits += pred
                .iter()
                .zip(idx)
                .filter(|(p, i)| **p as usize == dominant[**i])
                .count();
            // The loss parts, from the detached output (no second simulation).
            let parts = encryption_loss(output, y, t, m, tau);
            let values: Vec<f64> = Tensor::cat(
                vec![
                    parts.total.clone().detach(),
                    parts.cross_entropy,
                    parts.distillation,
                ],
                0,
            )
            .into_data()
            .iter::<f64>()
            .collect();
            if values.iter().any(|v| !v.is_finite()) {
                return Err(EncryptionError::NonFinite {
                    epoch: epoch + 1,
                    batch: b,
                    value: values[0],
                });
            }
            let weight = idx.len() as f64;
            loss_sum += values[0] * weight;
            ce_sum += values[1] * weight;
            kd_sum += values[2] * weight;
            model = optim.step(lr, model, grads);
            progress(Progress {
                epoch,
                batch: b + 1,
                batches,
                loss: values[0],
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        epochs.push(EpochReport {
            epoch: epoch + 1,
            lr,
            loss: loss_sum / n as f64,
            cross_entropy: ce_sum / n as f64,
            distillation: kd_sum / n as f64,
            train_agreement: 100.0 * hits as f64 / n as f64,
            seconds,
            samples_per_s: n as f64 / seconds.max(1e-9),
        });
        if let Some(store) = &store {
            store.save(
                epoch + 1,
                model.clone().into_record(),
                optim.to_record(),
                &epochs,
            )?;
        }
    }
    let trained = model.valid().fork(&plain);
    Ok((
        trained,
        EncryptionReport {
            samples: n,
            timesteps: config.timesteps,
            epochs,
            resumed_after,
        },
    ))
}
