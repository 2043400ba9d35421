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

use rayon::prelude::*;

use crate::Surrogate;
use crate::cpu::HostView;

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
    let steps = x.len() / width;
    let (spike_rows, _) = spikes.split_at_mut(steps * width);
    let step = |m: &mut [f32], xt: &[f32], st: &mut [f32], mut dt: Option<&mut [f32]>| {
        for i in 0..m.len() {
            let u = if leak == 1.0 {
                m[i] + xt[i]
            } else {
                m[i] * leak + xt[i]
            };
            let z = u / th - 1.0;
            st[i] = if z > 0.0 { 1.0 } else { 0.0 };
            m[i] = u - st[i] * th;
            if let (Some(sg), Some(dt)) = (surrogate, dt.as_deref_mut()) {
                dt[i] = (sg.derivative(z as f64) / th as f64) as f32;
            }
        }
    };
    // One timestep at a time (the recurrence); with slopes (the costly
    // part), its neurons in parallel blocks (independent of each other).
    for (t, (xt, st)) in x
        .chunks(width)
        .zip(spike_rows.chunks_mut(width))
        .enumerate()
    {
        if slopes.is_empty() {
            step(&mut m, xt, st, None);
            continue;
        }
        let dt = &mut slopes[t * width..(t + 1) * width];
        m.par_chunks_mut(PAR_BLOCK)
            .zip(xt.par_chunks(PAR_BLOCK))
            .zip(
                st.par_chunks_mut(PAR_BLOCK)
                    .zip(dt.par_chunks_mut(PAR_BLOCK)),
            )
            .for_each(|((m, xt), (st, dt))| step(m, xt, st, Some(dt)));
    }
    spikes[steps * width..].copy_from_slice(&m);
    (spikes, slopes)
}

/// Neurons per parallel block of the scans.
const PAR_BLOCK: usize = 16_384;

fn dims2(t: &impl TensorMetadata) -> [usize; 2] {
    let d = t.shape().dims::<2>();
    [d[0], d[1]]
}

/// Forward on a CPU backend: spikes, and the slopes when asked.
fn host_forward<B: HostView>(
    input: FloatTensor<B>,
    membrane: FloatTensor<B>,
    th: f32,
    leak: f32,
    surrogate: Option<Surrogate>,
) -> (FloatTensor<B>, Option<FloatTensor<B>>) {
    let device = input.device();
    let [steps, width] = dims2(&input);
    let (out, slopes) = B::view_f32(&input, |x| {
        B::view_f32(&membrane, |m| scan(x, m, th, leak, surrogate))
    });
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

impl<B: HostView> Backward<B, 2> for LifBackward {
    /// The surrogate slopes `[T, M]` and the leak.
    type State = (FloatTensor<B>, f32);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_input, node_membrane] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (slopes, leak) = ops.state;
        let device = slopes.device();
        let [steps, width] = dims2(&slopes);
        let mut gi = vec![0f32; steps * width];
        // a = ∂L/∂m_{T-1}: the gradient of the final-membrane row.
        let mut acc = B::view_f32(&grad, |g| g[steps * width..].to_vec());
        B::view_f32(&grad, |g| {
            B::view_f32(&slopes, |d| {
                for t in (0..steps).rev() {
                    let row = t * width..(t + 1) * width;
                    let (g, d, out) = (&g[row.clone()], &d[row.clone()], &mut gi[row]);
                    acc.par_chunks_mut(PAR_BLOCK)
                        .zip(out.par_chunks_mut(PAR_BLOCK))
                        .zip(g.par_chunks(PAR_BLOCK).zip(d.par_chunks(PAR_BLOCK)))
                        .for_each(|((acc, out), (g, d))| {
                            for i in 0..acc.len() {
                                let a = acc[i] + g[i] * d[i];
                                out[i] = a;
                                acc[i] = a * leak;
                            }
                        });
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

impl<B: HostView + FusedLifBackend, C: CheckpointStrategy> FusedLifBackend for Autodiff<B, C> {
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
