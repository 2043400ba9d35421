//! The event-driven convolution as a Burn backend extension: host kernels on
//! the CPU backends (flex, ndarray) and its own backward under autodiff.
//! Where the input is too dense for it, the host GEMM convolution
//! ([`crate::host_conv`]) instead, forward and backward.
#![allow(deprecated)] // NdArray: still a supported backend here

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, NdArray, TensorMetadata, backend_extension};
use burn::tensor::{DType, TensorData};

use privatesnn_neurons::cpu::HostView;

use crate::host_conv::HostConvBackend;

use super::host::{self, ConvShape};

/// Stride-1 convolution whose input is mostly zeros (spikes), computed from
/// the non-zero inputs where that is cheaper.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait SpikeConvBackend: Backend {
    /// `conv2d(x, weight)` with stride 1, zero padding `[ph, pw]`, no bias:
    /// event-driven where at most `max_density` of `x` is non-zero, the
    /// host GEMM convolution ([`crate::host_conv`]) otherwise (f32; other
    /// dtypes: the backend's).
    fn spike_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        ph: usize,
        pw: usize,
        max_density: f32,
    ) -> FloatTensor<Self>;

    /// The input gradient of [`spike_conv2d`](Self::spike_conv2d) for the
    /// output gradient `grad` (the dense transposed convolution by default).
    fn spike_conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        ph: usize,
        pw: usize,
        max_density: f32,
    ) -> FloatTensor<Self> {
        let _ = max_density;
        Self::conv2d_x_backward(x, weight, grad, options(ph, pw))
    }

    /// The weight gradient of [`spike_conv2d`](Self::spike_conv2d) for the
    /// output gradient `grad` (the dense one by default).
    fn spike_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        ph: usize,
        pw: usize,
        max_density: f32,
    ) -> FloatTensor<Self> {
        let _ = max_density;
        Self::conv2d_weight_backward(x, weight, grad, options(ph, pw))
    }
}

/// Stride 1, padding `[ph, pw]`, no dilation, one group.
pub(crate) fn options(ph: usize, pw: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [ph, pw], [1, 1], 1)
}

/// Whether at most `max_density` of `values` are non-zero.
fn sparse_enough(values: &[f32], max_density: f32) -> bool {
    host::nonzeros(values) as f64 <= max_density as f64 * values.len() as f64
}

fn dims4(t: &impl TensorMetadata) -> [usize; 4] {
    let dims = t.shape().dims::<4>();
    [dims[0], dims[1], dims[2], dims[3]]
}

/// The shape, when the event-driven kernel applies: f32 and a valid conv.
fn host_shape<B: Backend>(
    x: &FloatTensor<B>,
    w: &FloatTensor<B>,
    padding: [usize; 2],
) -> Option<ConvShape> {
    let s = ConvShape {
        input: dims4(x),
        weight: dims4(w),
        padding,
    };
    (x.dtype() == DType::F32 && w.dtype() == DType::F32 && s.output().is_some()).then_some(s)
}

/// `kernel(sparse, other)` on the host, as a tensor of `dims`, when at most
/// `max_density` of `sparse` is non-zero and the kernel applies; `None`
/// (the caller's dense form) otherwise.
fn event_driven<B: HostView>(
    sparse: &FloatTensor<B>,
    other: &FloatTensor<B>,
    max_density: f32,
    dims: [usize; 4],
    kernel: impl FnOnce(&[f32], &[f32]) -> Option<Vec<f32>>,
) -> Option<FloatTensor<B>> {
    let out = B::view_f32(sparse, |sv| {
        if !sparse_enough(sv, max_density) {
            return None;
        }
        B::view_f32(other, |ov| kernel(sv, ov))
    })?;
    #[cfg(test)]
    HOST_RUNS.with(|n| n.set(n.get() + 1));
    Some(B::float_from_data(
        TensorData::new(out, dims),
        &sparse.device(),
    ))
}

/// Whether every tensor is f32 (the dense fallback is then the host GEMM
/// convolution of [`crate::host_conv`], else the backend's).
fn f32s<B: Backend>(tensors: &[&FloatTensor<B>]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

#[cfg(test)]
thread_local! {
    /// Host-kernel runs on this thread (tests check the routing with it).
    pub(super) static HOST_RUNS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn host_forward<B: HostView + HostConvBackend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    ph: usize,
    pw: usize,
    max_density: f32,
) -> FloatTensor<B> {
    host_shape::<B>(&x, &w, [ph, pw])
        .and_then(|s| {
            let dims = s.output().expect("checked");
            event_driven::<B>(&x, &w, max_density, dims, |xv, wv| {
                Some(host::conv_forward(xv, wv, s))
            })
        })
        .unwrap_or_else(|| match f32s::<B>(&[&x, &w]) {
            true => B::host_conv2d(x, w, [ph, pw]),
            false => B::conv2d(x, w, None, options(ph, pw)),
        })
}

/// The shape for a backward kernel: as the forward's, with an f32 gradient.
fn grad_shape<B: Backend>(
    x: &FloatTensor<B>,
    w: &FloatTensor<B>,
    grad: &FloatTensor<B>,
    padding: [usize; 2],
) -> Option<ConvShape> {
    host_shape::<B>(x, w, padding).filter(|_| grad.dtype() == DType::F32)
}

fn host_weight_grad<B: HostView + HostConvBackend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    grad: FloatTensor<B>,
    ph: usize,
    pw: usize,
    max_density: f32,
) -> FloatTensor<B> {
    grad_shape::<B>(&x, &w, &grad, [ph, pw])
        .and_then(|s| {
            event_driven::<B>(&x, &grad, max_density, s.weight, |xv, gv| {
                Some(host::conv_weight_grad(xv, gv, s))
            })
        })
        .unwrap_or_else(|| match f32s::<B>(&[&x, &w, &grad]) {
            true => {
                let [_, _, kh, kw] = w.shape().dims::<4>();
                B::host_conv2d_weight_grad(x, grad, [ph, pw], [kh, kw])
            }
            false => B::conv2d_weight_backward(x, w, grad, options(ph, pw)),
        })
}

fn host_x_grad<B: HostView + HostConvBackend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    grad: FloatTensor<B>,
    ph: usize,
    pw: usize,
    max_density: f32,
) -> FloatTensor<B> {
    grad_shape::<B>(&x, &w, &grad, [ph, pw])
        .and_then(|s| {
            event_driven::<B>(&grad, &w, max_density, s.input, |gv, wv| {
                host::conv_input_grad(gv, wv, s)
            })
        })
        .unwrap_or_else(|| match f32s::<B>(&[&x, &w, &grad]) {
            true => {
                let [_, _, h, wd] = x.shape().dims::<4>();
                B::host_conv2d_input_grad(grad, w, [ph, pw], [h, wd])
            }
            false => B::conv2d_x_backward(x, w, grad, options(ph, pw)),
        })
}

/// The CPU backends run the host kernels.
macro_rules! host_backend {
    ($($backend:ty),*) => {$(
        impl SpikeConvBackend for $backend {
            fn spike_conv2d(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                ph: usize,
                pw: usize,
                max_density: f32,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(x, weight, ph, pw, max_density)
            }

            fn spike_conv2d_x_grad(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                ph: usize,
                pw: usize,
                max_density: f32,
            ) -> FloatTensor<Self> {
                host_x_grad::<Self>(x, weight, grad, ph, pw, max_density)
            }

            fn spike_conv2d_weight_grad(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                ph: usize,
                pw: usize,
                max_density: f32,
            ) -> FloatTensor<Self> {
                host_weight_grad::<Self>(x, weight, grad, ph, pw, max_density)
            }
        }
    )*};
}

host_backend!(Flex, NdArray);

/// The backward of [`SpikeConvBackend::spike_conv2d`]: the weight gradient
/// is event-driven over the non-zero inputs like the forward; the input
/// gradient is event-driven over the non-zero output gradients (neurons
/// whose surrogate slope stayed zero pass none back), each with the same
/// density limit and the dense form above it.
#[derive(Debug)]
struct SpikeConvBackward;

impl<B: Backend + SpikeConvBackend> Backward<B, 2> for SpikeConvBackward {
    /// Input, weight, padding, density limit.
    type State = (FloatTensor<B>, FloatTensor<B>, [usize; 2], f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, [ph, pw], max_density) = ops.state;
        if let Some(node) = node_x {
            let gx =
                B::spike_conv2d_x_grad(x.clone(), w.clone(), grad.clone(), ph, pw, max_density);
            grads.register::<B>(node.id, gx);
        }
        if let Some(node) = node_w {
            let gw = B::spike_conv2d_weight_grad(x, w, grad, ph, pw, max_density);
            grads.register::<B>(node.id, gw);
        }
    }
}

impl<B: Backend + SpikeConvBackend, C: CheckpointStrategy> SpikeConvBackend for Autodiff<B, C> {
    fn spike_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        ph: usize,
        pw: usize,
        max_density: f32,
    ) -> FloatTensor<Self> {
        match SpikeConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, wp) = (x.primitive().clone(), weight.primitive().clone());
                let out = B::spike_conv2d(xp.clone(), wp.clone(), ph, pw, max_density);
                prep.finish((xp, wp, [ph, pw], max_density), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::spike_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                ph,
                pw,
                max_density,
            )),
        }
    }
}
