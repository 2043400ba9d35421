//! Leaky integrate-and-fire neuron with explicit membrane state.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::Surrogate;
use crate::fused::FusedLifBackend;
use burn::backend::Dispatch;

/// What happens to the membrane after a spike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    /// Soft reset: subtract the threshold, `u ← u - θ·s` (keeps the residue;
    /// needed for rate-coded ANN-to-SNN conversion).
    #[default]
    Subtract,
    /// Hard reset: `u ← u·(1 - s)`.
    Zero,
}

/// Configuration of a [`Lif`] layer of neurons.
#[derive(Config, Debug)]
pub struct LifConfig {
    /// Leak factor λ of `u[t] = λ u[t-1] + I[t]` (1.0 = integrate-and-fire).
    #[config(default = 1.0)]
    pub leak: f64,
    /// Firing threshold θ (> 0); the neuron fires when `u > θ`.
    #[config(default = 1.0)]
    pub threshold: f64,
    /// Reset mode after a spike.
    #[config(default = "Reset::Subtract")]
    pub reset: Reset,
    /// Surrogate used for the spike's backward pass.
    #[config(default = "Surrogate::Triangle { scale: 1.0 }")]
    pub surrogate: Surrogate,
    /// Whether the threshold is a trainable parameter.
    #[config(default = false)]
    pub learn_threshold: bool,
    /// Detach the reset term from the autodiff graph. The PrivateSNN code
    /// detaches it (its reset is computed from `(mem / th - 1 > 0).float()`,
    /// which carries no gradient); the default here keeps it attached, the
    /// plain autodiff of the dynamics. `privatesnn_models::SnnConfig` defaults
    /// to the authors' choice.
    #[config(default = false)]
    pub detach_reset: bool,
}

/// A layer of leaky integrate-and-fire neurons sharing one threshold.
///
/// Dynamics per timestep (PrivateSNN Eq. 2, 3 and the authors' code):
///
/// ```text
/// u[t] = λ u[t-1] + I[t]
/// s[t] = H(u[t] / θ - 1)          (spike when u > θ)
/// u[t] ← u[t] - θ s[t]            (Reset::Subtract)   or   u[t] (1 - s[t])  (Reset::Zero)
/// ```
///
/// The threshold is stored as a one-element parameter so it is saved and
/// loaded with the model. The state is explicit ([`LifState`]).
#[derive(Module, Debug)]
pub struct Lif {
    /// Threshold θ, shape `[1]`.
    pub threshold: Param<Tensor<1>>,
    /// Leak factor λ.
    pub leak: f64,
    /// Reset mode.
    #[module(skip)]
    pub reset: Reset,
    /// Surrogate gradient.
    #[module(skip)]
    pub surrogate: Surrogate,
    /// Whether the reset term is detached from the graph.
    pub detach_reset: bool,
}

/// Membrane state of a [`Lif`] layer.
#[derive(Clone, Debug)]
pub struct LifState<const D: usize> {
    /// Membrane potential `u`, same shape as one timestep of input.
    pub membrane: Tensor<D>,
}

impl LifConfig {
    /// Checks every field; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.leak.is_finite() && self.leak > 0.0 && self.leak <= 1.0) {
            return Err(format!("LIF leak must be in (0, 1], got {}", self.leak));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!(
                "LIF threshold must be finite and > 0, got {}",
                self.threshold
            ));
        }
        self.surrogate.validate()
    }

    /// Initialise a [`Lif`] layer.
    ///
    /// # Panics
    /// If [`validate`](Self::validate) fails.
    pub fn init(&self, device: &Device) -> Lif {
        if let Err(e) = self.validate() {
            panic!("invalid LifConfig: {e}");
        }
        let threshold = Tensor::<1>::from_floats([self.threshold as f32], device);
        Lif {
            threshold: Param::from_tensor(threshold).set_require_grad(self.learn_threshold),
            leak: self.leak,
            reset: self.reset,
            surrogate: self.surrogate,
            detach_reset: self.detach_reset,
        }
    }
}

impl Lif {
    /// The threshold value, read back from the device.
    pub fn threshold_value(&self) -> f64 {
        let data = self.threshold.val().into_data();
        data.iter::<f64>().next().unwrap_or(f64::NAN)
    }

    /// A copy of this layer with threshold `value`.
    pub fn with_threshold(&self, value: f64) -> Self {
        let device = self.threshold.val().device();
        let require_grad = self.threshold.is_require_grad();
        let t = Tensor::<1>::from_floats([value as f32], &device);
        Self {
            threshold: Param::from_tensor(t).set_require_grad(require_grad),
            ..self.clone()
        }
    }

    /// The threshold broadcastable against a rank-`D` tensor.
    fn threshold_like<const D: usize>(&self) -> Tensor<D> {
        self.threshold.val().reshape([1; D])
    }

    /// One timestep.
    ///
    /// # Shapes
    /// - input: `[N, ...]` (any rank), the input current `I[t]`
    /// - state membrane: same as input; `None` starts from zero
    /// - output spikes: same as input, values in {0, 1}
    pub fn forward<const D: usize>(
        &self,
        input: Tensor<D>,
        state: Option<LifState<D>>,
    ) -> (Tensor<D>, LifState<D>) {
        let threshold = self.threshold_like::<D>();
        self.step(input, state.map(|s| s.membrane), &threshold)
    }

    fn step<const D: usize>(
        &self,
        input: Tensor<D>,
        membrane: Option<Tensor<D>>,
        threshold: &Tensor<D>,
    ) -> (Tensor<D>, LifState<D>) {
        let u = match membrane {
            Some(m) if self.leak == 1.0 => m + input,
            Some(m) => m * self.leak + input,
            None => input,
        };
        let spikes = self
            .surrogate
            .spike(u.clone().div(threshold.clone()).sub_scalar(1.0));
        let reset_spikes = if self.detach_reset {
            spikes.clone().detach()
        } else {
            spikes.clone()
        };
        let membrane = match self.reset {
            Reset::Subtract => u - reset_spikes * threshold.clone(),
            Reset::Zero => u.clone() - u * reset_spikes,
        };
        (spikes, LifState { membrane })
    }

    /// Many timesteps at once, time-major.
    ///
    /// Equivalent to calling [`forward`](Self::forward) on each `input[t]` in
    /// order. The returned state keeps a leading time axis of length 1
    /// (`[1, N, ...]`) so it can be passed to the next call for the
    /// following chunk of timesteps.
    ///
    /// # Shapes
    /// - input: `[T, N, ...]`
    /// - state membrane: `[1, N, ...]`; `None` starts from zero
    /// - output spikes: `[T, N, ...]`
    ///
    /// On a CPU device (flex, ndarray) the recurrence runs as one loop over
    /// the host values (one read and one write per chunk instead of six
    /// tensor operations per timestep): without autodiff always, and under
    /// autodiff (STBP) for a soft reset that is detached, with a fixed
    /// threshold, as one operation with its own backward (the surrogate
    /// gradient of the chunk in one reverse loop; see [`crate::fused`]).
    /// On a Cube device (wgpu, ...) a soft reset with a fixed threshold runs
    /// as one kernel per chunk, at inference and under autodiff with the
    /// reset detached, with one backward kernel per chunk.
    /// The spikes and the membrane are bit-identical to the tensor form
    /// (same f32 operations in the same order), the gradients equal it
    /// within float rounding (tested); every other case uses the tensor form.
    pub fn forward_seq<const D: usize>(
        &self,
        input: Tensor<D>,
        state: Option<LifState<D>>,
    ) -> (Tensor<D>, LifState<D>) {
        if host_scan(&input.device()) {
            return self.forward_seq_host(input, state);
        }
        if self.fused_applies(&input.device()) {
            return self.forward_seq_fused(input, state);
        }
        self.forward_seq_tensor(input, state)
    }

    /// Whether [`forward_seq`](Self::forward_seq) takes the fused form: a
    /// soft reset with a fixed threshold, under autodiff (STBP) on a CPU or
    /// Cube backend with the reset detached, and at inference on a Cube
    /// backend (the CPU backends have their host scan there).
    fn fused_applies(&self, device: &Device) -> bool {
        let kernel =
            crate::fused::is_cube(device) || (device.is_autodiff() && crate::cpu::is_host(device));
        kernel
            && self.reset == Reset::Subtract
            && (self.detach_reset || !device.is_autodiff())
            && !self.threshold.is_require_grad()
    }

    /// [`forward_seq`](Self::forward_seq) as one differentiable operation
    /// ([`FusedLifBackend`]) on the chunk flattened to `[T, M]`.
    fn forward_seq_fused<const D: usize>(
        &self,
        input: Tensor<D>,
        state: Option<LifState<D>>,
    ) -> (Tensor<D>, LifState<D>) {
        let dims = input.dims();
        let (steps, width) = (dims[0], dims[1..].iter().product::<usize>());
        assert!(steps > 0, "forward_seq needs at least one timestep");
        let device = input.device();
        let membrane = match state {
            Some(s) => s.membrane.reshape([1, width]),
            None => Tensor::<2>::zeros([1, width], &device),
        };
        let out = <Dispatch as FusedLifBackend>::lif_soft_reset_spikes(
            input.reshape([steps, width]).into_dispatch(),
            membrane.into_dispatch(),
            self.threshold_value() as f32,
            self.leak as f32,
            self.surrogate,
        );
        let out = Tensor::<2>::from_dispatch(out);
        let mut state_dims = dims;
        state_dims[0] = 1;
        let spikes = out.clone().narrow(0, 0, steps).reshape(dims);
        let membrane = out.narrow(0, steps, 1).reshape(state_dims);
        (spikes, LifState { membrane })
    }

    /// [`forward_seq`](Self::forward_seq) as tensor operations, one step at a time.
    fn forward_seq_tensor<const D: usize>(
        &self,
        input: Tensor<D>,
        state: Option<LifState<D>>,
    ) -> (Tensor<D>, LifState<D>) {
        let threshold = self.threshold_like::<D>();
        let mut membrane = state.map(|s| s.membrane);
        let steps = input.dims()[0];
        let mut out = Vec::with_capacity(steps);
        for current in input.split(1, 0) {
            let (s, st) = self.step(current, membrane, &threshold);
            out.push(s);
            membrane = Some(st.membrane);
        }
        let membrane = membrane.expect("forward_seq needs at least one timestep");
        (Tensor::cat(out, 0), LifState { membrane })
    }

    /// [`forward_seq`](Self::forward_seq) as one loop over host values: the
    /// same f32 operations as [`step`](Self::step), element by element.
    fn forward_seq_host<const D: usize>(
        &self,
        input: Tensor<D>,
        state: Option<LifState<D>>,
    ) -> (Tensor<D>, LifState<D>) {
        let device = input.device();
        let dims = input.dims();
        assert!(dims[0] > 0, "forward_seq needs at least one timestep");
        let per_step: usize = dims[1..].iter().product();
        let x = host_values(input);
        let mut u = state.map(|s| host_values(s.membrane));
        let (th, leak) = (self.threshold_value() as f32, self.leak as f32);
        let mut spikes = vec![0f32; x.len()];
        let width = per_step.max(1);
        for (xt, st) in x.chunks(width).zip(spikes.chunks_mut(width)) {
            let mem = match u.take() {
                // u = λ u + I (the tensor form adds without the product at λ = 1).
                Some(mut m) if leak == 1.0 => {
                    m.iter_mut().zip(xt).for_each(|(m, &i)| *m += i);
                    m
                }
                Some(mut m) => {
                    m.iter_mut().zip(xt).for_each(|(m, &i)| *m = *m * leak + i);
                    m
                }
                None => xt.to_vec(),
            };
            let mut mem = mem;
            for (m, s) in mem.iter_mut().zip(st.iter_mut()) {
                let v = *m;
                *s = if v / th - 1.0 > 0.0 { 1.0 } else { 0.0 };
                *m = match self.reset {
                    Reset::Subtract => v - *s * th,
                    Reset::Zero => v - v * *s,
                };
            }
            u = Some(mem);
        }
        let mut state_dims = dims;
        state_dims[0] = 1;
        let membrane = u.expect("at least one timestep");
        (
            Tensor::from_data(TensorData::new(spikes, dims), &device),
            LifState {
                membrane: Tensor::from_data(TensorData::new(membrane, state_dims), &device),
            },
        )
    }
}

/// Whether [`Lif::forward_seq`] scans on the host: no autodiff, CPU backend.
fn host_scan(device: &Device) -> bool {
    !device.is_autodiff() && crate::cpu::is_host(device)
}

/// A tensor's values as f32 on the host.
fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data after convert")
}

#[cfg(test)]
mod tests;
