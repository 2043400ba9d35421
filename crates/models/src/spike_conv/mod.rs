//! Event-driven convolution of spike inputs.
//!
//! A spiking layer's input is mostly zeros: binary spikes (a few to a few
//! tens of percent non-zero), average-pooled spikes, or signed Poisson
//! pixels. A dense convolution (im2col + GEMM) costs the same whatever the
//! input; an event-driven one costs `nnz · K_h · K_w · C_out` multiply-adds,
//! one short vector update per spike and kernel tap — the computation a
//! neuromorphic chip does, and the reason an SNN can be cheap.
//!
//! [`spike_conv2d`] is a drop-in for `Conv2d::forward` on the SNN's layers:
//!
//! - On the CPU backends (flex, ndarray) with stride 1, no dilation, one
//!   group and symmetric zero padding, the convolution runs on the non-zero
//!   inputs when they are at most [`default_max_density`] of the input (a
//!   measured crossover), and as the host GEMM convolution
//!   ([`crate::host_conv`]) otherwise.
//! - Under autodiff it has its own backward: the weight gradient is
//!   event-driven as well (`Σ spike · output gradient`), and so is the
//!   input gradient where the output gradient is sparse enough (it is zero
//!   for neurons whose surrogate slope stayed zero: a convolution of the
//!   output gradient with the transposed, flipped weight); the dense
//!   transposed convolution otherwise.
//! - Everywhere else (wgpu, other strides) it is `Conv2d::forward`.
//!
//! The result is the same convolution; only the order of the floating-point
//! sums differs from the dense one (tested against it and against the
//! textbook convolution, values and gradients).
//!
//! ```
//! use burn::nn::conv::Conv2dConfig;
//! use burn::nn::PaddingConfig2d;
//! use burn::tensor::{Device, Distribution, Tensor};
//! use privatesnn_models::spike_conv::spike_conv2d;
//!
//! let device = Device::flex();
//! let conv = Conv2dConfig::new([4, 8], [3, 3])
//!     .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
//!     .init(&device);
//! // 10% spikes.
//! let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Bernoulli(0.1), &device);
//! let sparse = spike_conv2d(&conv, x.clone());
//! let dense = conv.forward(x);
//! let diff = (sparse - dense).abs().max().into_scalar::<f32>();
//! assert!(diff < 1e-5);
//! ```

mod backend;
mod gather;
pub mod host;

use burn::backend::Dispatch;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

pub use backend::SpikeConvBackend;

/// The largest fraction of non-zero inputs at which the event-driven path
/// is used for a weight of shape `[o, c, kh, kw]` (above it the dense
/// convolution is faster): 0.3 for fewer than 32 output channels (a
/// per-output-position overhead dominates), else by the weight's size: 0.6
/// while it fits in a core's L2 cache (256 KiB), 0.3 up to 4 MiB, 0.2
/// beyond. Measured with `pipeline bench --only spike-conv` on a 2-core AMD
/// EPYC: crossovers above 0.7, 0.35, 0.3, 0.25 and above 0.7 for VGG16's
/// 64² convs at 32x32, 128² at 16x16, 256² at 8x8, 512² at 4x4 and at 2x2;
/// 0.3, 0.35, above 0.5 and 0.5 for the 1/8-width VGG16's 8² at 32x32, 16²
/// at 16x16, 32² at 8x8 and 64² at 4x4 (docs/results.md, issue 13).
pub fn default_max_density(weight: [usize; 4]) -> f32 {
    if weight[0] < 32 {
        return 0.3;
    }
    match 4 * weight.iter().product::<usize>() {
        0..=262_144 => 0.6,
        262_145..=4_194_304 => 0.3,
        _ => 0.2,
    }
}

/// Whether `device` runs the event-driven kernels (flex or ndarray, with or
/// without autodiff).
pub fn event_driven(device: &Device) -> bool {
    privatesnn_neurons::cpu::is_host(device)
}

/// `[ph, pw]` when `conv` is stride 1, undilated, ungrouped, with symmetric
/// zero padding (the event-driven kernel's case).
fn event_padding(conv: &Conv2d) -> Option<[usize; 2]> {
    if conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return None;
    }
    match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(t, l, b, r) if t == b && l == r => Some([t, l]),
        _ => None,
    }
}

/// `conv.forward(x)` computed from the non-zero inputs where that pays (see
/// the module docs), up to [`default_max_density`].
///
/// # Shapes
/// - x: `[N, C_in, H, W]`
/// - output: `[N, C_out, H_out, W_out]`, as `conv.forward`
pub fn spike_conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    spike_conv2d_with(conv, x, default_max_density(conv.weight.dims()))
}

/// [`spike_conv2d`] with the density limit `max_density` (0 forces the
/// dense convolution, 1 the event-driven one on the CPU backends).
pub fn spike_conv2d_with(conv: &Conv2d, x: Tensor<4>, max_density: f32) -> Tensor<4> {
    let padding = event_padding(conv).filter(|_| event_driven(&x.device()));
    let Some([ph, pw]) = padding else {
        return conv.forward(x);
    };
    let out = <Dispatch as SpikeConvBackend>::spike_conv2d(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        ph,
        pw,
        max_density,
    );
    let out = Tensor::<4>::from_dispatch(out);
    match &conv.bias {
        Some(b) => out + b.val().reshape([1, -1, 1, 1]),
        None => out,
    }
}

#[cfg(test)]
mod tests;
