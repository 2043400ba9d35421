//! `pipeline bench --only spike-conv`: the event-driven convolution against
//! the dense one, per layer shape and input density (where the crossover
//! behind `spike_conv::default_max_density` lies).

use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Device, Distribution, Tensor};
use privatesnn_models::spike_conv::spike_conv2d_with;
use serde::Serialize;

/// One layer shape at one density.
#[derive(Debug, Serialize)]
pub struct ConvTiming {
    /// Input `[N, C, H, W]` (N = batch × time chunk).
    pub input: [usize; 4],
    /// Output channels.
    pub out_channels: usize,
    /// Fraction of non-zero (binary) inputs.
    pub density: f64,
    /// Median milliseconds of the dense convolution.
    pub dense_ms: f64,
    /// Median milliseconds of the event-driven one.
    pub event_ms: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The conv shapes of a VGG16 of `width` on `size`² inputs (one per block,
/// the block's square conv), at `n` images; `iters` alternating runs of each
/// path per shape and density, medians printed and returned.
pub fn bench_spike_conv(
    width: f64,
    size: usize,
    n: usize,
    iters: usize,
    device: &Device,
) -> Vec<ConvTiming> {
    let mut out = Vec::new();
    println!("spike conv: median ms of dense / event-driven over {iters} alternating runs");
    for (block, channels) in [64usize, 128, 256, 512, 512].into_iter().enumerate() {
        let side = size >> block;
        let c = ((channels as f64 * width).round() as usize).max(1);
        if side == 0 {
            break;
        }
        let conv = Conv2dConfig::new([c, c], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(device);
        for density in [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7] {
            let shape = [n, c, side, side];
            let x = Tensor::<4>::random(shape, Distribution::Bernoulli(density), device);
            let run = |limit: f32| {
                let start = Instant::now();
                let y = spike_conv2d_with(&conv, x.clone(), limit);
                let _ = y.sum().into_scalar::<f32>();
                start.elapsed().as_secs_f64() * 1e3
            };
            run(0.0);
            run(1.0);
            let (mut dense, mut event) = (Vec::new(), Vec::new());
            for _ in 0..iters.max(1) {
                dense.push(run(0.0));
                event.push(run(1.0));
            }
            let t = ConvTiming {
                input: shape,
                out_channels: c,
                density,
                dense_ms: median(dense),
                event_ms: median(event),
            };
            println!(
                "  {:>4}x{:<3} {side:>2}x{side:<2} density {density:<5} dense {:>8.2} ms  event {:>8.2} ms  ({:.2}x)",
                c,
                c,
                t.dense_ms,
                t.event_ms,
                t.dense_ms / t.event_ms
            );
            out.push(t);
        }
    }
    out
}
