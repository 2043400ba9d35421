//! The 2x2 stride-2 average pool as a Burn backend extension on the CPU
//! backends: one pass over the host values forward, one backward (each
//! input of a window gets a quarter of its output's gradient; a trailing
//! odd row or column none). Flex's pool and its backward are generic 3-D
//! loops with a division per element; STBP pools every chunk of spikes.
#![allow(deprecated)] // NdArray: still a supported backend here

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Flex, NdArray, TensorMetadata, backend_extension,
};
use privatesnn_neurons::cpu::HostView;
use rayon::prelude::*;

/// The 2x2 stride-2 average pool of `[N, C, H, W]` tensors, with its own
/// backward.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait HostPoolBackend: Backend {
    /// `[N, C, H/2, W/2]`: each output the mean of its 2x2 window, computed
    /// as flex's pool does (`(((0 + a) + b) + c) + d`, then `/ 4`).
    fn avg_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input gradient (`[N, C, height, width]`) of
    /// [`avg_pool_2x2`](Self::avg_pool_2x2) for the output gradient `grad`.
    fn avg_pool_2x2_backward(
        grad: FloatTensor<Self>,
        height: usize,
        width: usize,
    ) -> FloatTensor<Self>;
}

fn dims4(t: &impl TensorMetadata) -> [usize; 4] {
    t.shape().dims::<4>()
}

/// The host forward over one `[H, W]` plane per chunk of `x`.
fn pool_planes(x: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![0f32; n * c * oh * ow];
    if oh * ow == 0 {
        return out;
    }
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each(|(o, x)| {
            for y in 0..oh {
                let (r0, r1) = (&x[2 * y * w..], &x[(2 * y + 1) * w..]);
                for xx in 0..ow {
                    let sum = 0.0 + r0[2 * xx] + r0[2 * xx + 1] + r1[2 * xx] + r1[2 * xx + 1];
                    o[y * ow + xx] = sum / 4.0;
                }
            }
        });
    out
}

/// The host backward: `grad` `[N, C, H/2, W/2]` to `[N, C, H, W]`.
fn unpool_planes(g: &[f32], [n, c, oh, ow]: [usize; 4], h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * c * h * w];
    if oh * ow == 0 {
        return out;
    }
    out.par_chunks_mut(h * w)
        .zip(g.par_chunks(oh * ow))
        .for_each(|(o, g)| {
            for y in 0..oh {
                for xx in 0..ow {
                    let v = g[y * ow + xx] / 4.0;
                    for r in [2 * y * w, (2 * y + 1) * w] {
                        o[r + 2 * xx] = v;
                        o[r + 2 * xx + 1] = v;
                    }
                }
            }
        });
    out
}

/// The CPU backends run the host loops.
macro_rules! host_backend {
    ($($backend:ty),*) => {$(
        impl HostPoolBackend for $backend {
            fn avg_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
                let shape = dims4(&x);
                let [n, c, h, w] = shape;
                let out = <Self as HostView>::view_f32(&x, |v| pool_planes(v, shape));
                <Self as HostView>::from_f32(out, [n, c, h / 2, w / 2], &x.device())
            }

            fn avg_pool_2x2_backward(
                grad: FloatTensor<Self>,
                height: usize,
                width: usize,
            ) -> FloatTensor<Self> {
                let shape = dims4(&grad);
                let [n, c, _, _] = shape;
                let out =
                    <Self as HostView>::view_f32(&grad, |g| unpool_planes(g, shape, height, width));
                <Self as HostView>::from_f32(out, [n, c, height, width], &grad.device())
            }
        }
    )*};
}

host_backend!(Flex, NdArray);

/// The backward node: the input's `[H, W]`.
#[derive(Debug)]
struct PoolBackward;

impl<B: HostPoolBackend> Backward<B, 1> for PoolBackward {
    type State = [usize; 2];

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let [h, w] = ops.state;
        if let Some(node) = node {
            grads.register::<B>(node.id, B::avg_pool_2x2_backward(grad, h, w));
        }
    }
}

impl<B: HostPoolBackend, C: CheckpointStrategy> HostPoolBackend for Autodiff<B, C> {
    fn avg_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let [_, _, h, w] = dims4(&x);
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish([h, w], B::avg_pool_2x2(x.into_primitive())),
            OpsKind::UnTracked(prep) => prep.finish(B::avg_pool_2x2(x.into_primitive())),
        }
    }

    fn avg_pool_2x2_backward(
        grad: FloatTensor<Self>,
        height: usize,
        width: usize,
    ) -> FloatTensor<Self> {
        // Not differentiated again (no second-order STBP).
        Self::from_inner(B::avg_pool_2x2_backward(
            grad.into_primitive(),
            height,
            width,
        ))
    }
}
