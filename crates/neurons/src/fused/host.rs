//! The fused LIF on the CPU backends (flex, ndarray): the recurrence as
//! host loops over the tensors' values, neurons in parallel blocks.
#![allow(deprecated)] // NdArray: still a supported backend here

use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, NdArray, TensorMetadata};

use rayon::prelude::*;

use super::FusedLifBackend;
use crate::Surrogate;
use crate::cpu::HostView;

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
pub(super) fn host_forward<B: HostView>(
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
    let slopes = (surrogate.is_some()).then(|| B::from_f32(slopes, [steps, width], &device));
    let out = B::from_f32(out, [steps + 1, width], &device);
    (out, slopes)
}

/// The reverse scan of the module docs over host values: `grad` `[T + 1,
/// M]`, `slopes` `[T, M]`; `∂L/∂I` then `∂L/∂m_0`, `[T + 1, M]`.
fn reverse_scan(grad: &[f32], slopes: &[f32], [steps, width]: [usize; 2], leak: f32) -> Vec<f32> {
    let mut out = vec![0f32; grad.len()];
    let (gi, last) = out.split_at_mut(steps * width);
    // a = ∂L/∂m_{T-1}: the gradient of the final-membrane row.
    last.copy_from_slice(&grad[steps * width..]);
    let acc = last;
    for t in (0..steps).rev() {
        let row = t * width..(t + 1) * width;
        let (g, d, out) = (&grad[row.clone()], &slopes[row.clone()], &mut gi[row]);
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
    out
}

/// The CPU backends run the host scans.
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

            fn lif_soft_reset_train(
                input: FloatTensor<Self>,
                membrane: FloatTensor<Self>,
                threshold: f32,
                leak: f32,
                surrogate: Surrogate,
            ) -> (FloatTensor<Self>, FloatTensor<Self>) {
                let (out, slopes) =
                    host_forward::<Self>(input, membrane, threshold, leak, Some(surrogate));
                (out, slopes.expect("asked for slopes"))
            }

            fn lif_soft_reset_backward(
                grad: FloatTensor<Self>,
                slopes: FloatTensor<Self>,
                leak: f32,
            ) -> FloatTensor<Self> {
                let device = grad.device();
                let [steps, width] = dims2(&slopes);
                let out = <Self as HostView>::view_f32(&grad, |g| {
                    <Self as HostView>::view_f32(&slopes, |d| reverse_scan(g, d, [steps, width], leak))
                });
                <Self as HostView>::from_f32(out, [steps + 1, width], &device)
            }
        }
    )*};
}

host_backend!(Flex, NdArray);
