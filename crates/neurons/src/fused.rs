//! The multi-step LIF with soft reset as one operation with its own
//! backward, on the CPU backends: the forward runs the membrane recurrence
//! over a whole time chunk in one host loop, the backward the surrogate
//! gradient of the whole chunk in one reverse loop. It replaces the six
//! tensor operations and eight autodiff nodes per timestep of the plain
//! form for STBP with a detached reset (the authors' choice) and a fixed
//! threshold.
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
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, NdArray, TensorMetadata, backend_extension};
use burn::tensor::TensorData;

use crate::Surrogate;
use crate::cpu::{read, with_f32};

/// The spikes of a soft-reset LIF layer over a chunk, with its own backward.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait FusedLifBackend: Backend {
    /// Spikes of `T` steps of `M` neurons driven by `input` (`[T, M]`) from
    /// the membrane `membrane` (`[1, M]`), then the final membrane: `[T + 1,
    /// M]`. Threshold `threshold`, leak `leak`, soft reset, the reset
    /// detached from the gradient, `surrogate` for the backward.
    fn lif_soft_reset_spikes(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        surrogate: Surrogate,
    ) -> FloatTensor<Self>;
}

/// The host recurrence: spikes then the final membrane (`[T + 1, M]`), and
/// with `surrogate` the slopes `σ'(u_t/θ - 1)/θ` (`[T, M]`). Same f32
/// operations, in the same order, as the tensor form of `Lif::step`.
fn scan(
    x: &[f32],
    m0: &[f32],
    th: f32,
    leak: f32,
    surrogate: Option<Surrogate>,
) -> (Vec<f32>, Vec<f32>) {
    let width = m0.len().max(1);
    let mut m = m0.to_vec();
    let mut spikes = vec![0f32; x.len() + width];
    let mut slopes = if surrogate.is_some() {
        vec![0f32; x.len()]
    } else {
        Vec::new()
    };
    for (t, (xt, st)) in x.chunks(width).zip(spikes.chunks_mut(width)).enumerate() {
        for (i, (m, s)) in m.iter_mut().zip(st.iter_mut()).enumerate() {
            let u = if leak == 1.0 {
                *m + xt[i]
            } else {
                *m * leak + xt[i]
            };
            let z = u / th - 1.0;
            *s = if z > 0.0 { 1.0 } else { 0.0 };
            *m = u - *s * th;
            if let Some(sg) = surrogate {
                slopes[t * width + i] = (sg.derivative(z as f64) / th as f64) as f32;
            }
        }
    }
    let steps = x.len() / width;
    spikes[steps * width..].copy_from_slice(&m);
    (spikes, slopes)
}

fn dims2(t: &impl TensorMetadata) -> [usize; 2] {
    let d = t.shape().dims::<2>();
    [d[0], d[1]]
}

/// Forward on a CPU backend: spikes, and the slopes when asked.
fn host_forward<B: Backend>(
    input: FloatTensor<B>,
    membrane: FloatTensor<B>,
    th: f32,
    leak: f32,
    surrogate: Option<Surrogate>,
) -> (FloatTensor<B>, Option<FloatTensor<B>>) {
    let device = input.device();
    let [steps, width] = dims2(&input);
    let (x, m0) = (read::<B>(input), read::<B>(membrane));
    let (out, slopes) = with_f32(&x, |x| with_f32(&m0, |m| scan(x, m, th, leak, surrogate)));
    let slopes = (surrogate.is_some())
        .then(|| B::float_from_data(TensorData::new(slopes, [steps, width]), &device));
    let out = B::float_from_data(TensorData::new(out, [steps + 1, width]), &device);
    (out, slopes)
}

/// The CPU backends run the host scan.
macro_rules! host_backend {
    ($($backend:ty),*) => {$(
        impl FusedLifBackend for $backend {
            fn lif_soft_reset_spikes(
                input: FloatTensor<Self>,
                membrane: FloatTensor<Self>,
                threshold: f32,
                leak: f32,
                _: Surrogate,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(input, membrane, threshold, leak, None).0
            }
        }
    )*};
}

host_backend!(Flex, NdArray);

/// The reverse scan of the module docs.
#[derive(Debug)]
struct LifBackward;

impl<B: Backend> Backward<B, 2> for LifBackward {
    /// The surrogate slopes `[T, M]` and the leak.
    type State = (FloatTensor<B>, f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_input, node_membrane] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (slopes, leak) = ops.state;
        let device = slopes.device();
        let [steps, width] = dims2(&slopes);
        let (g, d) = (read::<B>(grad), read::<B>(slopes));
        let mut gi = vec![0f32; steps * width];
        // a = ∂L/∂m_{T-1}: the gradient of the final-membrane row.
        let mut acc = with_f32(&g, |g| g[steps * width..].to_vec());
        with_f32(&g, |g| {
            with_f32(&d, |d| {
                for t in (0..steps).rev() {
                    let row = t * width..(t + 1) * width;
                    let (g, d, out) = (&g[row.clone()], &d[row.clone()], &mut gi[row]);
                    for i in 0..width {
                        let a = acc[i] + g[i] * d[i];
                        out[i] = a;
                        acc[i] = a * leak;
                    }
                }
            })
        });
        if let Some(node) = node_membrane {
            let gm = B::float_from_data(TensorData::new(acc, [1, width]), &device);
            grads.register::<B>(node.id, gm);
        }
        if let Some(node) = node_input {
            let gi = B::float_from_data(TensorData::new(gi, [steps, width]), &device);
            grads.register::<B>(node.id, gi);
        }
    }
}

impl<B: Backend + FusedLifBackend, C: CheckpointStrategy> FusedLifBackend for Autodiff<B, C> {
    fn lif_soft_reset_spikes(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        surrogate: Surrogate,
    ) -> FloatTensor<Self> {
        match LifBackward
            .prepare::<C>([input.node(), membrane.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (spikes, slopes) = host_forward::<B>(
                    input.into_primitive(),
                    membrane.into_primitive(),
                    threshold,
                    leak,
                    Some(surrogate),
                );
                prep.finish((slopes.expect("asked for slopes"), leak), spikes)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lif_soft_reset_spikes(
                input.into_primitive(),
                membrane.into_primitive(),
                threshold,
                leak,
                surrogate,
            )),
        }
    }
}
