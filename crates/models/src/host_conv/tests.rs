//! The host GEMM convolution against Burn's `conv2d` (values and both
//! gradients, flex and ndarray, one and several image groups) and against
//! finite differences.
#![allow(deprecated)] // Device::ndarray

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::HostConv;
use super::kernels::{self, Geometry};

fn close(got: TensorData, want: TensorData, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w): (Vec<f32>, Vec<f32>) = (got.to_vec().unwrap(), want.to_vec().unwrap());
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * scale,
            "{what}[{i}]: {a} vs {b} (scale {scale})"
        );
    }
}

fn conv(device: &Device, [c, o]: [usize; 2], k: usize, [ph, pw]: [usize; 2], bias: bool) -> Conv2d {
    let padding = if ph + pw == 0 {
        PaddingConfig2d::Valid
    } else {
        PaddingConfig2d::Explicit(ph, pw, ph, pw)
    };
    Conv2dConfig::new([c, o], [k, k])
        .with_padding(padding)
        .with_bias(bias)
        .init(device)
}

/// (input shape, output channels, kernel, padding, bias): the VGG's 3x3
/// pad-1 convs on even, odd and 1x1 maps, a full-map `F` layer (kernel =
/// side, no padding), a 1x1 kernel, padding 2, a kernel wider than the
/// padded input's part it sees, rows and columns padded differently.
/// Input shape, output channels, kernel side, padding `[rows, columns]`, bias.
type Case = ([usize; 4], usize, usize, [usize; 2], bool);

const CASES: [Case; 8] = [
    ([3, 4, 8, 8], 5, 3, [1, 1], false),
    ([2, 3, 5, 7], 6, 3, [1, 1], true),
    ([4, 8, 1, 1], 3, 3, [1, 1], false),
    ([2, 6, 4, 4], 7, 4, [0, 0], false),
    ([3, 5, 6, 6], 4, 1, [0, 0], true),
    ([2, 2, 5, 5], 3, 3, [2, 2], false),
    ([1, 3, 2, 3], 2, 5, [2, 2], false),
    ([2, 3, 6, 5], 4, 3, [2, 0], false),
];

/// Values and the input, weight and bias gradients of `forward_host`
/// equal those of Burn's `Conv2d::forward` on flex and ndarray.
#[test]
fn equals_burns_conv_values_and_gradients() {
    for base in [Device::flex(), Device::ndarray()] {
        let device = base.clone().autodiff();
        device.seed(7);
        for (shape, o, k, pad, bias) in CASES {
            let layer = conv(&device, [shape[1], o], k, pad, bias);
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            assert_eq!(
                layer.applies(&x),
                Some(pad),
                "{shape:?}: the host path is under test"
            );
            let run = |host: bool| {
                let x = x.clone().detach().require_grad();
                let layer = layer.clone();
                let y = if host {
                    layer.forward_host(x.clone())
                } else {
                    layer.forward(x.clone())
                };
                let probe = Tensor::<4>::from_data(
                    TensorData::new(
                        (0..y.shape().num_elements())
                            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0)
                            .collect(),
                        y.dims(),
                    ),
                    &device,
                );
                let grads = (y.clone() * probe).sum().backward();
                let gx = x.grad(&grads).expect("input grad").into_data();
                let gw = layer.weight.grad(&grads).expect("weight grad").into_data();
                let gb = layer
                    .bias
                    .as_ref()
                    .map(|b| b.grad(&grads).expect("bias grad").into_data());
                (y.into_data(), gx, gw, gb)
            };
            let (host, burn) = (run(true), run(false));
            let what = format!("{base:?} {shape:?} o {o} k {k} pad {pad:?}");
            close(host.0, burn.0, &format!("{what} values"));
            close(host.1, burn.1, &format!("{what} input grad"));
            close(host.2, burn.2, &format!("{what} weight grad"));
            match (host.3, burn.3) {
                (Some(a), Some(b)) => close(a, b, &format!("{what} bias grad")),
                (None, None) => {}
                _ => panic!("{what}: bias gradient on one side only"),
            }
        }
    }
}

/// A batch taken one image group at a time (a tiny column budget) gives
/// what one group gives.
#[test]
fn image_groups_equal_one_group() {
    let geo = Geometry {
        n: 5,
        c: 3,
        h: 6,
        w: 5,
        o: 4,
        kh: 3,
        kw: 3,
        ph: 1,
        pw: 1,
    };
    let wave = |len: usize, f: f32| (0..len).map(|i| (i as f32 * f).sin()).collect::<Vec<_>>();
    let x = wave(geo.n * geo.c * geo.h * geo.w, 0.37);
    let w = wave(geo.o * geo.c * 9, 0.91);
    let dy = wave(geo.n * geo.o * geo.oh() * geo.ow(), 0.53);
    let per_image = geo.c * 9 * geo.oh() * geo.ow();
    for budget in [per_image, 2 * per_image] {
        let pairs = [
            (
                kernels::forward(&x, &w, &geo, budget),
                kernels::forward(&x, &w, &geo, usize::MAX),
            ),
            (
                kernels::backward_input(&dy, &w, &geo, budget),
                kernels::backward_input(&dy, &w, &geo, usize::MAX),
            ),
            (
                kernels::backward_weight(&x, &dy, &geo, budget),
                kernels::backward_weight(&x, &dy, &geo, usize::MAX),
            ),
        ];
        for (i, (a, b)) in pairs.iter().enumerate() {
            assert_eq!(a.len(), b.len());
            for (p, q) in a.iter().zip(b) {
                assert!(
                    (p - q).abs() < 1e-5,
                    "kernel {i}, budget {budget}: {p} vs {q}"
                );
            }
        }
    }
}

/// Known values: a 1-channel 3x3 input, an all-ones 3x3 kernel, padding
/// 1: each output is the sum of its (clipped) neighbourhood.
#[test]
fn known_values_box_filter() {
    let geo = Geometry {
        n: 1,
        c: 1,
        h: 3,
        w: 3,
        o: 1,
        kh: 3,
        kw: 3,
        ph: 1,
        pw: 1,
    };
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let y = kernels::forward(&x, &[1.0; 9], &geo, usize::MAX);
    assert_eq!(
        y,
        vec![12.0, 21.0, 16.0, 27.0, 45.0, 33.0, 24.0, 39.0, 28.0]
    );
    // The input gradient of Σ y is how many windows cover each input.
    let dx = kernels::backward_input(&[1.0; 9], &[1.0; 9], &geo, usize::MAX);
    assert_eq!(dx, vec![4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
}

/// The gradients of `Σ probe · conv(x, w)` against central differences
/// (f64 sums of the f32 kernel, step 1e-2 on a smooth, bilinear loss).
#[test]
fn gradients_match_finite_differences() {
    let geo = Geometry {
        n: 2,
        c: 2,
        h: 4,
        w: 3,
        o: 3,
        kh: 3,
        kw: 3,
        ph: 1,
        pw: 1,
    };
    let wave = |len: usize, f: f32| (0..len).map(|i| (i as f32 * f).cos()).collect::<Vec<_>>();
    let x = wave(geo.n * geo.c * geo.h * geo.w, 0.7);
    let w = wave(geo.o * geo.c * 9, 1.3);
    let probe = wave(geo.n * geo.o * geo.oh() * geo.ow(), 0.29);
    let loss = |x: &[f32], w: &[f32]| -> f64 {
        let y = kernels::forward(x, w, &geo, usize::MAX);
        y.iter()
            .zip(&probe)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum()
    };
    let dx = kernels::backward_input(&probe, &w, &geo, usize::MAX);
    let dw = kernels::backward_weight(&x, &probe, &geo, usize::MAX);
    let eps = 1e-2f32;
    let fd = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| {
        let (mut up, mut down) = (v.to_vec(), v.to_vec());
        up[i] += eps;
        down[i] -= eps;
        (f(&up) - f(&down)) / (2.0 * eps as f64)
    };
    assert_eq!((dx.len(), dw.len()), (x.len(), w.len()));
    for (i, got) in dx.iter().enumerate() {
        let want = fd(&x, i, &|v| loss(v, &w));
        assert!(
            (*got as f64 - want).abs() < 1e-3,
            "dx[{i}]: {got} vs {want}"
        );
    }
    for (i, got) in dw.iter().enumerate() {
        let want = fd(&w, i, &|v| loss(&x, v));
        assert!(
            (*got as f64 - want).abs() < 1e-3,
            "dw[{i}]: {got} vs {want}"
        );
    }
}

/// Layers the host path does not cover take Burn's conv: stride 2,
/// dilation 2, groups, padding that differs above and below, or `Same`.
#[test]
fn only_the_covered_layers_route_to_the_host() {
    let device = Device::flex();
    let x = Tensor::<4>::zeros([1, 4, 6, 6], &device);
    let base =
        || Conv2dConfig::new([4, 4], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
    assert_eq!(base().init(&device).applies(&x), Some([1, 1]));
    let rows_only = base()
        .with_padding(PaddingConfig2d::Explicit(2, 0, 2, 0))
        .init(&device);
    assert_eq!(rows_only.applies(&x), Some([2, 0]));
    assert_eq!(base().with_stride([2, 2]).init(&device).applies(&x), None);
    assert_eq!(base().with_dilation([2, 2]).init(&device).applies(&x), None);
    assert_eq!(base().with_groups(2).init(&device).applies(&x), None);
    let asym = base()
        .with_padding(PaddingConfig2d::Explicit(1, 0, 0, 0))
        .init(&device);
    assert_eq!(asym.applies(&x), None);
    let mut same = base().init(&device);
    same.padding = PaddingConfig2d::Same;
    assert_eq!(same.applies(&x), None);
}
