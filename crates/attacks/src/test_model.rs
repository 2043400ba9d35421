//! Test helper: a tiny VGG trained for a few Adam steps on a toy task (class
//! `k` = a bright square in the `k`-th corner), wrapped as an SNN.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use privatesnn_models::{Snn, SnnConfig, VggConfig};

/// 3 classes of 1x8x8 images: a bright 3x3 square in corner `k` over noise.
fn toy_batch(n: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) * 0.4 - 1.0
    };
    let mut pixels = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % 3;
        let (r0, c0) = [(0, 0), (0, 5), (5, 0)][k];
        for r in 0..8 {
            for c in 0..8 {
                let inside = (r0..r0 + 3).contains(&r) && (c0..c0 + 3).contains(&c);
                pixels.push(if inside { 0.9 } else { noise() });
            }
        }
        labels.push(k as i64);
    }
    (pixels, labels)
}

/// The trained tiny network as an SNN on `device` (thresholds 0.5, T = 8).
pub(crate) fn trained_snn(device: &Device) -> Snn {
    let plain = Device::flex();
    plain.seed(11);
    let ad = plain.clone().autodiff();
    let mut ann = VggConfig::new()
        .with_in_channels(1)
        .with_image_size(8)
        .with_num_classes(3)
        .with_arch("4,A,8,A".into())
        .with_hidden(16)
        .init(&plain)
        .fork(&ad)
        .train();
    let mut optim = AdamConfig::new().init();
    let ce = CrossEntropyLossConfig::new().init(&ad);
    for step in 0..40 {
        let (x, y) = toy_batch(24, step);
        let x = Tensor::<4>::from_data(TensorData::new(x, [24, 1, 8, 8]), &ad);
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [24]), &ad);
        let loss = ce.forward(ann.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &ann);
        ann = optim.step(0.01, ann, grads);
    }
    let ann = ann.valid().fork(device);
    let snn = Snn::from_ann(ann, &SnnConfig::new().with_timesteps(8).with_time_chunk(4));
    let n = snn.neurons.len();
    snn.with_thresholds(&vec![0.5; n])
}
