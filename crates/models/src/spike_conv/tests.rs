//! The event-driven convolution through Burn: equal to `Conv2d::forward`
//! in value and in both gradients, on flex and ndarray, sparse and dense.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor};

use super::*;

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

fn conv(device: &Device, padding: PaddingConfig2d, kernel: usize, bias: bool) -> Conv2d {
    Conv2dConfig::new([3, 5], [kernel, kernel])
        .with_padding(padding)
        .with_bias(bias)
        .init(device)
}

/// Spikes, pooled spikes (quarter steps) and signed spikes at `density`.
fn spikes(device: &Device, shape: [usize; 4], density: f64) -> Tensor<4> {
    let on = Tensor::<4>::random(shape, Distribution::Bernoulli(density), device);
    let level = Tensor::<4>::random(shape, Distribution::Uniform(-4.0, 4.0), device)
        .floor()
        .div_scalar(4.0);
    on * level
}

#[test]
#[allow(deprecated)] // Device::ndarray
fn forward_and_gradients_equal_the_dense_convolution() {
    for base in [Device::flex(), Device::ndarray()] {
        let device = base.autodiff();
        device.seed(3);
        for (padding, kernel, bias) in [
            (PaddingConfig2d::Explicit(1, 1, 1, 1), 3, false),
            (PaddingConfig2d::Valid, 3, true),
            (PaddingConfig2d::Valid, 4, false),
        ] {
            let c = conv(&device, padding.clone(), kernel, bias);
            for density in [0.05, 0.3, 0.9] {
                let x = spikes(&device, [4, 3, 4, 4], density).require_grad();
                let probe = Tensor::<4>::random(
                    c.forward(x.clone()).dims(),
                    Distribution::Normal(0.0, 1.0),
                    &device,
                );
                let loss = |y: Tensor<4>| (y * probe.clone()).sum();
                // Forced sparse (1.0) and forced dense (0.0), against Conv2d.
                for limit in [1.0, 0.0] {
                    let y = spike_conv2d_with(&c, x.clone(), limit);
                    let want = c.forward(x.clone());
                    assert!(
                        max_diff(y.clone(), want.clone()) < 1e-5,
                        "{padding:?} {density}"
                    );
                    let g = loss(y).backward();
                    let gw = loss(want).backward();
                    let wx = |g| x.grad(g).expect("x grad");
                    let ww = |g| c.weight.grad(g).expect("weight grad");
                    assert!(max_diff(wx(&g), wx(&gw)) < 1e-4, "dx {padding:?} {density}");
                    assert!(max_diff(ww(&g), ww(&gw)) < 1e-4, "dW {padding:?} {density}");
                    if let Some(b) = &c.bias {
                        let d = max_diff(b.grad(&g).unwrap(), b.grad(&gw).unwrap());
                        assert!(d < 1e-4, "db {d}");
                    }
                }
            }
        }
    }
}

#[test]
fn inference_path_equals_the_dense_convolution() {
    let device = Device::flex();
    let c = conv(&device, PaddingConfig2d::Explicit(1, 1, 1, 1), 3, true);
    let x = spikes(&device, [6, 3, 8, 7], 0.1);
    let d = max_diff(spike_conv2d(&c, x.clone()), c.forward(x));
    assert!(d < 1e-5, "{d}");
}

#[test]
fn other_strides_fall_back_to_the_module() {
    let device = Device::flex();
    let c = Conv2dConfig::new([3, 5], [3, 3])
        .with_stride([2, 2])
        .init(&device);
    assert_eq!(event_padding(&c), None);
    let x = spikes(&device, [2, 3, 7, 7], 0.2);
    let d = max_diff(spike_conv2d(&c, x.clone()), c.forward(x));
    assert_eq!(d, 0.0);
    let asym = conv(&device, PaddingConfig2d::Explicit(1, 1, 0, 0), 3, false);
    assert_eq!(event_padding(&asym), None);
}

/// The values above would match whichever path ran; this pins the path.
/// Below the limit the forward, weight gradient and input gradient are
/// the host kernels' (three runs on this thread, results bit for bit),
/// above it the host GEMM convolution (no event-driven run; `forward_host`'s
/// values bit for bit, Burn's within float rounding).
#[test]
fn the_limit_picks_the_host_kernel_or_the_dense_convolution() {
    use super::host::{ConvShape, conv_forward, conv_input_grad, conv_weight_grad};
    let device = Device::flex().autodiff();
    device.seed(9);
    let c = Conv2dConfig::new([48, 40], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(&device);
    let x = spikes(&device, [3, 48, 7, 5], 0.3).require_grad();
    let probe = Tensor::<4>::random([3, 40, 7, 5], Distribution::Normal(0.0, 1.0), &device);
    let host = |t: &Tensor<4>| -> Vec<f32> { t.to_data().try_to_vec::<f32>().expect("f32") };
    let bits = |v: &[f32]| -> Vec<u32> { v.iter().map(|f| f.to_bits()).collect() };
    let s = ConvShape {
        input: [3, 48, 7, 5],
        weight: [40, 48, 3, 3],
        padding: [1, 1],
    };
    let w = c.weight.val();
    let runs = || super::backend::HOST_RUNS.with(|n| n.get());
    let before = runs();
    // Event-driven (limit 1): the host kernels, exactly.
    let y = spike_conv2d_with(&c, x.clone(), 1.0);
    let same = |a: &[f32], b: &[f32]| bits(a) == bits(b);
    assert!(
        same(&host(&y), &conv_forward(&host(&x), &host(&w), s)),
        "forward"
    );
    let g = (y * probe.clone()).sum().backward();
    let (gx, gw) = (x.grad(&g).expect("dx"), c.weight.grad(&g).expect("dW"));
    let want_gw = conv_weight_grad(&host(&x), &host(&probe), s);
    let want_gx = conv_input_grad(&host(&probe), &host(&w), s).expect("padding 1 < kernel 3");
    assert!(same(&host(&gw), &want_gw), "weight gradient");
    assert!(same(&host(&gx), &want_gx), "input gradient");
    assert_eq!(
        runs() - before,
        3,
        "forward, weight and input gradient on the host"
    );
    // Dense (limit 0): the host GEMM convolution (`host_conv`), no
    // event-driven run, and within float rounding of Burn's.
    let before = runs();
    let dense = spike_conv2d_with(&c, x.clone(), 0.0);
    let _ = (dense.clone() * probe).sum().backward();
    assert_eq!(runs(), before, "dense path");
    use crate::host_conv::HostConv;
    assert!(
        same(&host(&dense), &host(&c.forward_host(x.clone()))),
        "dense"
    );
    let burn = host(&c.forward(x));
    let err = host(&dense)
        .iter()
        .zip(&burn)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < 1e-4, "dense vs Burn's conv: {err}");
}
