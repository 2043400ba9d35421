//! The multi-step LIF with soft reset as one operation with its own
//! backward: the forward runs the membrane recurrence over a whole time
//! chunk in one pass, the backward the surrogate gradient of the whole
//! chunk in one reverse pass. It replaces the six tensor operations and
//! eight autodiff nodes per timestep of the plain form for STBP with a
//! detached reset (the authors' choice) and a fixed threshold, and the
//! six kernel launches per timestep of inference on a GPU.
//!
//! - CPU backends (flex, ndarray): host loops, neurons in parallel blocks.
//! - Cube backends (wgpu, and CUDA/ROCm/CubeCL-CPU when Burn has them):
//!   CubeCL kernels, one thread per neuron, one launch per chunk forward
//!   and one backward; under Burn's fusion they are opaque operations of
//!   the fused stream.
//!
//! With the reset detached (`s_t` a constant to the gradient), `u_t = λ
//! m_{t-1} + I_t` and `m_t = u_t - θ s_t` give, backwards from the final
//! membrane's gradient `a = ∂L/∂m_{T-1}`:
//! `∂L/∂I_t = a_t = λ a_{t+1} + g_t σ'(u_t/θ - 1)/θ` and `∂L/∂m_0 = λ a_0`,
//! where `g_t = ∂L/∂s_t` — one reverse scan.
#![allow(deprecated)] // NdArray: still a supported backend here

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, TensorMetadata, backend_extension};
use burn::tensor::{Shape, Slice};

use crate::Surrogate;

mod cube;
mod host;
#[cfg(test)]
mod tests;

/// Whether `device` is a Cube backend's (wgpu, CUDA, ...; with or without
/// autodiff), where the fused LIF runs as CubeCL kernels.
pub fn is_cube(device: &burn::tensor::Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Cube(_)
    )
}

/// `[rows, M]` like `like` (`[T, M]`), for Fusion's output metadata.
fn spec_rows(like: &TensorSpec, extra: isize) -> TensorSpec {
    let d = &like.shape;
    TensorSpec::new(
        Shape::new([(d[0] as isize + extra) as usize, d[1]]),
        like.dtype,
    )
}

/// The spikes of a soft-reset LIF layer over a chunk, with its own backward.
#[backend_extension(Cube, Flex, NdArray, Fusion, Autodiff)]
pub trait FusedLifBackend: Backend {
    /// Spikes of `T` steps of `M` neurons driven by `input` (`[T, M]`) from
    /// the membrane `membrane` (`[1, M]`), then the final membrane: `[T + 1,
    /// M]`. Threshold `threshold`, leak `leak`, soft reset. Under autodiff
    /// the reset is detached from the gradient and `surrogate` (see
    /// [`lif_soft_reset_train`](Self::lif_soft_reset_train)) gives the
    /// backward.
    #[fusion(meta = |input, _membrane, _threshold, _leak, _surrogate| spec_rows(input, 1))]
    fn lif_soft_reset_spikes(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        surrogate: Surrogate,
    ) -> FloatTensor<Self>;

    /// [`lif_soft_reset_spikes`](Self::lif_soft_reset_spikes) and the
    /// surrogate slopes `σ'(u_t/θ - 1)/θ` (`[T, M]`) its backward needs.
    #[fusion(meta = |input, _membrane, _threshold, _leak, _surrogate| {
        (spec_rows(input, 1), spec_rows(input, 0))
    })]
    fn lif_soft_reset_train(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        surrogate: Surrogate,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// The reverse scan: `grad` (`[T + 1, M]`: the spikes' gradient, then
    /// the final membrane's) and `slopes` (`[T, M]`) to `∂L/∂input` (rows
    /// `0..T`) and `∂L/∂membrane` (row `T`).
    #[fusion(meta = |grad, _slopes, _leak| grad.clone())]
    fn lif_soft_reset_backward(
        grad: FloatTensor<Self>,
        slopes: FloatTensor<Self>,
        leak: f32,
    ) -> FloatTensor<Self>;
}

fn dims2(t: &impl TensorMetadata) -> [usize; 2] {
    let d = t.shape().dims::<2>();
    [d[0], d[1]]
}

/// Rows `start..end` of a `[R, M]` tensor.
fn rows<B: Backend>(t: FloatTensor<B>, start: usize, end: usize) -> FloatTensor<B> {
    B::float_slice(
        t,
        &[
            Slice::new(start as isize, Some(end as isize), 1),
            Slice::full(),
        ],
    )
}

/// The reverse scan of the module docs, on the backend's own kernel.
#[derive(Debug)]
struct LifBackward;

impl<B: FusedLifBackend> Backward<B, 2> for LifBackward {
    /// The surrogate slopes `[T, M]` and the leak.
    type State = (FloatTensor<B>, f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_input, node_membrane] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (slopes, leak) = ops.state;
        let [steps, _] = dims2(&slopes);
        let out = B::lif_soft_reset_backward(grad, slopes, leak);
        if let Some(node) = node_membrane {
            grads.register::<B>(node.id, rows::<B>(out.clone(), steps, steps + 1));
        }
        if let Some(node) = node_input {
            grads.register::<B>(node.id, rows::<B>(out, 0, steps));
        }
    }
}

/// The forward under autodiff, computed once: tracked, with the slopes
/// kept for the backward; the slopes are returned when `want_slopes` (or
/// when tracked, where they exist anyway).
#[allow(clippy::type_complexity)]
fn autodiff_forward<B: FusedLifBackend, C: CheckpointStrategy>(
    input: FloatTensor<Autodiff<B, C>>,
    membrane: FloatTensor<Autodiff<B, C>>,
    (threshold, leak, surrogate): (f32, f32, Surrogate),
    want_slopes: bool,
) -> (FloatTensor<Autodiff<B, C>>, Option<FloatTensor<B>>) {
    let prepared = LifBackward
        .prepare::<C>([input.node(), membrane.node()])
        .compute_bound()
        .stateful();
    let (x, m) = (input.into_primitive(), membrane.into_primitive());
    match prepared {
        OpsKind::Tracked(prep) => {
            let (spikes, slopes) = B::lif_soft_reset_train(x, m, threshold, leak, surrogate);
            (prep.finish((slopes.clone(), leak), spikes), Some(slopes))
        }
        OpsKind::UnTracked(prep) if want_slopes => {
            let (spikes, slopes) = B::lif_soft_reset_train(x, m, threshold, leak, surrogate);
            (prep.finish(spikes), Some(slopes))
        }
        OpsKind::UnTracked(prep) => (
            prep.finish(B::lif_soft_reset_spikes(x, m, threshold, leak, surrogate)),
            None,
        ),
    }
}

impl<B: FusedLifBackend, C: CheckpointStrategy> FusedLifBackend for Autodiff<B, C> {
    fn lif_soft_reset_spikes(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        surrogate: Surrogate,
    ) -> FloatTensor<Self> {
        autodiff_forward::<B, C>(input, membrane, (threshold, leak, surrogate), false).0
    }

    fn lif_soft_reset_train(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        surrogate: Surrogate,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // Differentiable through the spikes only: the slopes are constants.
        let (spikes, slopes) =
            autodiff_forward::<B, C>(input, membrane, (threshold, leak, surrogate), true);
        (spikes, Self::from_inner(slopes.expect("slopes asked for")))
    }

    fn lif_soft_reset_backward(
        grad: FloatTensor<Self>,
        slopes: FloatTensor<Self>,
        leak: f32,
    ) -> FloatTensor<Self> {
        // The backward of a backward is not needed (no second-order STBP).
        Self::from_inner(B::lif_soft_reset_backward(
            grad.into_primitive(),
            slopes.into_primitive(),
            leak,
        ))
    }
}
