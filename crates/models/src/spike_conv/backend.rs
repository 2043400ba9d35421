//! The event-driven convolution as a Burn backend extension: host kernels on
//! the CPU backends (flex, ndarray) and its own backward under autodiff.
#![allow(deprecated)] // NdArray: still a supported backend here

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, NdArray, TensorMetadata, backend_extension};
use burn::tensor::{DType, TensorData};

use privatesnn_neurons::cpu::{read, with_f32};

use super::host::{self, ConvShape};

/// Stride-1 convolution whose input is mostly zeros (spikes), computed from
/// the non-zero inputs where that is cheaper.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait SpikeConvBackend: Backend {
    /// `conv2d(x, weight)` with stride 1, zero padding `[ph, pw]`, no bias:
    /// event-driven where at most `max_density` of `x` is non-zero, the
    /// backend's dense convolution otherwise.
    fn spike_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        ph: usize,
        pw: usize,
        max_density: f32,
    ) -> FloatTensor<Self>;

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

fn host_forward<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    ph: usize,
    pw: usize,
    max_density: f32,
) -> FloatTensor<B> {
    let Some(s) = host_shape::<B>(&x, &w, [ph, pw]) else {
        return B::conv2d(x, w, None, options(ph, pw));
    };
    let device = x.device();
    let xd = read::<B>(x);
    let out = with_f32(&xd, |xv| {
        sparse_enough(xv, max_density)
            .then(|| with_f32(&read::<B>(w.clone()), |wv| host::conv_forward(xv, wv, s)))
    });
    match out {
        Some(out) => {
            B::float_from_data(TensorData::new(out, s.output().expect("checked")), &device)
        }
        None => B::conv2d(B::float_from_data(xd, &device), w, None, options(ph, pw)),
    }
}

fn host_weight_grad<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    grad: FloatTensor<B>,
    ph: usize,
    pw: usize,
    max_density: f32,
) -> FloatTensor<B> {
    let shape = host_shape::<B>(&x, &w, [ph, pw]).filter(|_| grad.dtype() == DType::F32);
    let Some(s) = shape else {
        return B::conv2d_weight_backward(x, w, grad, options(ph, pw));
    };
    let device = x.device();
    let xd = read::<B>(x);
    let out = with_f32(&xd, |xv| {
        sparse_enough(xv, max_density).then(|| {
            with_f32(&read::<B>(grad.clone()), |gv| {
                host::conv_weight_grad(xv, gv, s)
            })
        })
    });
    match out {
        Some(out) => B::float_from_data(TensorData::new(out, s.weight), &device),
        None => {
            let x = B::float_from_data(xd, &device);
            B::conv2d_weight_backward(x, w, grad, options(ph, pw))
        }
    }
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

/// The backward of [`SpikeConvBackend::spike_conv2d`]: the input gradient
/// is the dense transposed convolution (the output gradient is dense), the
/// weight gradient is event-driven like the forward.
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
            let gx = B::conv2d_x_backward(x.clone(), w.clone(), grad.clone(), options(ph, pw));
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
