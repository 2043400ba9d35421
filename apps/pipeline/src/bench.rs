//! `pipeline bench`: throughput of the heavy paths, in images per second.

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use privatesnn_encryption::{encryption_loss, trainable};
use privatesnn_models::sgd::FusedSgd;
use privatesnn_models::{Snn, SnnConfig, VggConfig};
use privatesnn_neurons::PoissonEncoder;
use privatesnn_synthesis::{DirichletConfig, dirichlet_impressions};
use serde::Serialize;

use crate::cli::{BenchArgs, BenchPart};

/// One measured figure.
#[derive(Debug, Serialize)]
pub struct Measurement {
    /// What was measured.
    pub name: &'static str,
    /// Images per second (batch / mean seconds per step).
    pub images_per_s: f64,
    /// Mean seconds per step.
    pub seconds_per_step: f64,
}

fn time<F: FnMut() -> Result<()>>(iters: usize, mut step: F) -> Result<f64> {
    step().context("warm-up step")?; // warm-up: kernels compiled, buffers allocated
    let start = Instant::now();
    for _ in 0..iters {
        step()?;
    }
    Ok(start.elapsed().as_secs_f64() / iters as f64)
}

fn measure(name: &'static str, batch: usize, seconds: f64) -> Measurement {
    let m = Measurement {
        name,
        images_per_s: batch as f64 / seconds,
        seconds_per_step: seconds,
    };
    println!(
        "{:<28} {:>10.2} img/s   {:>9.4} s/step",
        m.name, m.images_per_s, m.seconds_per_step
    );
    m
}

fn finite(x: f32, what: &str) -> Result<()> {
    ensure!(x.is_finite(), "{what} is not finite ({x})");
    Ok(())
}

/// `snn` with thresholds from layer-wise max-activation normalisation of
/// its ANN on `x`: `θ_l = λ_l / λ_{l-1}`, `λ_l` the largest ReLU activation
/// of spiking layer `l` (`λ_{-1} = 1`), so that layer `l` spikes at rates
/// `a_l / λ_l` as a converted network does (`bench/torch_reference.py` does
/// the same). With thresholds 1.0 the random VGG16's deep layers never
/// spike and its STBP gradient is zero everywhere, which a sparse kernel
/// would skip: a benchmark of nothing.
fn max_norm(snn: Snn, x: &Tensor<4>) -> Snn {
    let ann = &snn.ann;
    let mut maxima = Vec::with_capacity(ann.convs.len() + 1);
    let mut a = x.clone();
    for (conv, &pool) in ann.convs.iter().zip(&ann.pool_after) {
        a = burn::tensor::activation::relu(conv.forward(a));
        maxima.push(a.clone().max().into_scalar::<f32>() as f64);
        if pool {
            a = ann.pool.forward(a);
        }
    }
    let fc = burn::tensor::activation::relu(ann.fc1.forward(a.flatten::<2>(1, 3)));
    maxima.push(fc.max().into_scalar::<f32>() as f64);
    let thresholds: Vec<f64> = maxima
        .iter()
        .zip(std::iter::once(&1.0).chain(&maxima))
        .map(|(m, prev)| (m / prev).max(f64::MIN_POSITIVE))
        .collect();
    snn.with_thresholds(&thresholds)
}

/// Runs the measurements on `device`.
pub fn bench(args: &BenchArgs, device: &Device) -> Result<Vec<Measurement>> {
    ensure!(
        args.batch > 0 && args.timesteps > 0 && args.iters > 0 && args.time_chunk > 0,
        "batch, timesteps, time-chunk and iters must be > 0"
    );
    let [conv_dropout, fc_dropout] = args.dropout[..] else {
        anyhow::bail!("--dropout takes two probabilities (conv, fc)");
    };
    let cfg = VggConfig::vgg16(args.channels, args.size, 10)
        .with_width(args.width)
        .with_conv_dropout(conv_dropout)
        .with_fc_dropout(fc_dropout);
    cfg.validate().context("bench model")?;
    let b = args.batch;
    let shape = [b, args.channels, args.size, args.size];
    let labels: Vec<i64> = (0..b as i64).map(|i| i % 10).collect();
    println!(
        "bench: VGG16 width {} input {}x{}x{} batch {b} T {} time chunk {} dropout {conv_dropout}/{fc_dropout} on {device:?}",
        args.width, args.channels, args.size, args.size, args.timesteps, args.time_chunk
    );
    let mut out = Vec::new();
    let wanted = |p: BenchPart| {
        (args.only.is_empty() && p != BenchPart::SpikeConv) || args.only.contains(&p)
    };
    let ad = crate::common::autodiff(device);
    // Counter-based input spikes: generated on the device on wgpu (no upload).
    let mut enc = PoissonEncoder::counter(0);
    let snn_cfg = SnnConfig::new()
        .with_timesteps(args.timesteps)
        .with_time_chunk(args.time_chunk);

    if wanted(BenchPart::Ann) {
        // ANN train step: forward, cross-entropy, backward, SGD (momentum 0.9, wd 5e-4).
        // In an Option so that the step takes the network by value (no
        // clone sharing its buffers: the fused SGD then updates them in place).
        let mut ann = Some(cfg.init(&ad));
        let mut sgd: ModuleOptimizer = FusedSgd::new(
            Some(MomentumConfig::new().with_momentum(0.9)),
            Some(WeightDecayConfig::new(5e-4)),
        )
        .into();
        let loss_fn = CrossEntropyLossConfig::new().init(&ad);
        let x = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), &ad);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [b]), &ad);
        let s = time(args.iters, || {
            let net = ann.take().context("network lost in a failed step")?;
            let loss = loss_fn.forward(net.forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            ann = Some(sgd.step(1e-3, net, grads));
            finite(loss.into_scalar::<f32>(), "ANN loss")
        })?;
        out.push(measure("ann_train_step", b, s));
    }

    if wanted(BenchPart::Snn) {
        // SNN inference over T (no autodiff).
        let xi = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), device);
        let snn = max_norm(Snn::from_ann(cfg.init(device), &snn_cfg), &xi).valid();
        let s = time(args.iters, || {
            let o = snn.forward(xi.clone(), &mut enc);
            finite(o.logits.sum().into_scalar::<f32>(), "SNN logits")
        })?;
        out.push(measure("snn_inference", b, s));
    }

    if wanted(BenchPart::Stbp) {
        // STBP step of encryption: SNN forward over T with autodiff, the Eq. 6
        // loss on u_T (m = 0.7, tau = 20, random teacher logits), backward, Adam;
        // with --memory-bound the chunk-by-chunk backward (same gradients).
        let x = Tensor::<4>::random(shape, Distribution::Uniform(-1.0, 1.0), device);
        let snn = max_norm(Snn::from_ann(cfg.init(device), &snn_cfg), &x);
        let (mut snn, sad) = trainable(snn, device);
        let xs = Tensor::<4>::from_data(x.into_data(), &sad);
        let soft = Tensor::<2>::random([b, 10], Distribution::Uniform(0.0, 1.0), &sad);
        let soft = soft.clone().div(soft.sum_dim(1));
        let teacher = Tensor::<2>::random([b, 10], Distribution::Normal(0.0, 3.0), &sad);
        let loss =
            |u: Tensor<2>| encryption_loss(u, soft.clone(), teacher.clone(), 0.7, 20.0).total;
        let mut adam = AdamConfig::new().with_epsilon(1e-8).init();
        let s = time(args.iters, || {
            let (value, grads) = if args.memory_bound {
                let r = snn.backward_chunked(xs.clone(), args.timesteps, &mut enc, &loss);
                (r.loss, r.grads)
            } else {
                let o = snn.forward(xs.clone(), &mut enc);
                let value = loss(o.membrane);
                let grads = GradientsParams::from_grads(value.backward(), &snn);
                (value, grads)
            };
            snn = adam.step(1e-4, snn.clone(), grads);
            finite(value.into_scalar::<f32>(), "STBP loss")
        })?;
        out.push(measure(
            if args.memory_bound {
                "stbp_train_step_memory_bound"
            } else {
                "stbp_train_step"
            },
            b,
            s,
        ));
        if let Some(usage) = device.memory_pool_usage() {
            println!(
                "device memory after the STBP steps: {:.1} MiB in use, {:.1} MiB reserved",
                usage.bytes_in_use as f64 / 1048576.0,
                usage.bytes_reserved as f64 / 1048576.0
            );
        }
    }

    if wanted(BenchPart::Synthesis) {
        // Data-free synthesis: Adam iterations on images against the frozen ANN,
        // one image at a time (the authors' code) versus `batch` at once.
        let frozen = cfg.init(device).valid().fork(&ad);
        let model = |x| frozen.forward(x);
        for (name, n) in [("synthesis_iter_batch1", 1), ("synthesis_iter_batched", b)] {
            let config = DirichletConfig::new()
                .with_per_class(n.div_ceil(10))
                .with_batch_size(n)
                .with_iterations(args.iters);
            let start = Instant::now();
            let set = dirichlet_impressions(
                &model,
                frozen.fc2.weight.val(),
                [args.channels, args.size, args.size],
                &config,
                &ad,
                |_, _| {},
            )?;
            let images = set.labels.len();
            // Seconds per iteration per batch of `n` (all images, all iterations).
            let per_batch_iter =
                start.elapsed().as_secs_f64() / (args.iters * images.div_ceil(n)) as f64;
            out.push(measure(name, n, per_batch_iter));
        }
    }
    Ok(out)
}

/// `pipeline bench`: measure, print, write `<out>/bench.json` (default `runs/bench`).
pub fn run(cli: &crate::cli::Cli, args: &BenchArgs) -> Result<()> {
    if let Some(config) = &cli.config {
        anyhow::bail!(
            "bench does not read a config ({} given): it measures VGG16 as set by its own \
             options (--width, --channels, --size, --batch, --timesteps); drop --config",
            config.display()
        );
    }
    let out = cli
        .out
        .clone()
        .unwrap_or_else(crate::artifacts::Artifacts::default_bench_out);
    let art = crate::artifacts::Artifacts::new(&out);
    let device = cli.device.device();
    let results = bench(args, &device).context("bench")?;
    let spike_conv = args.only.contains(&BenchPart::SpikeConv).then(|| {
        let n = args.batch * args.time_chunk.min(args.timesteps);
        crate::bench_conv::bench_spike_conv(args.width, args.size, n, args.iters, &device)
    });
    let peak = crate::common::peak_rss_mib();
    if let Some(mib) = peak {
        println!("peak resident memory of the process: {mib:.0} MiB");
    }
    crate::common::write_json(
        &art.bench(),
        &serde_json::json!({
            "measurements": results,
            "spike_conv": spike_conv,
            "peak_rss_mib": peak
        }),
    )?;
    println!("wrote {}", art.bench().display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first threshold is the first layer's largest ReLU activation, and
    /// with these thresholds every layer of a random VGG16 spikes by T = 100
    /// (the reason for them: with thresholds 1.0 the deep layers stay silent).
    #[test]
    fn max_norm_thresholds_make_every_layer_spike() {
        let device = Device::flex();
        device.seed(4);
        let cfg = VggConfig::vgg16(1, 32, 10).with_width(0.125);
        let x = Tensor::<4>::random([2, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
        let snn_cfg = SnnConfig::new().with_timesteps(100).with_time_chunk(25);
        let snn = max_norm(Snn::from_ann(cfg.init(&device), &snn_cfg), &x);
        let first = burn::tensor::activation::relu(snn.ann.convs[0].forward(x.clone()));
        let want = first.max().into_scalar::<f32>() as f64;
        assert!((snn.thresholds()[0] - want).abs() < 1e-6 * want, "θ_0");
        let totals = snn.forward(x, &mut PoissonEncoder::new(1)).spike_totals();
        for (l, t) in totals.iter().enumerate() {
            assert!(*t > 0.0, "layer {l} silent: {totals:?}");
        }
    }
}
