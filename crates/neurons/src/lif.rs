//! Leaky integrate-and-fire neuron with explicit membrane state.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::Surrogate;

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
    /// Without autodiff on a CPU device (flex, ndarray) the recurrence runs
    /// as one loop over the host values (one read and one write per chunk
    /// instead of six tensor operations per timestep); the spikes and the
    /// membrane are bit-identical to the tensor form (same f32 operations in
    /// the same order; tested), which every other case uses.
    pub fn forward_seq<const D: usize>(
        &self,
        input: Tensor<D>,
        state: Option<LifState<D>>,
    ) -> (Tensor<D>, LifState<D>) {
        if host_scan(&input.device()) {
            return self.forward_seq_host(input, state);
        }
        self.forward_seq_tensor(input, state)
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
#[allow(deprecated)] // Device::ndarray: still a supported backend here
fn host_scan(device: &Device) -> bool {
    !device.is_autodiff() && {
        let plain = device.clone().inner();
        plain == Device::flex() || plain == Device::ndarray()
    }
}

/// A tensor's values as f32 on the host.
fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data after convert")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn dev() -> Device {
        Device::flex()
    }

    fn run_seq(cfg: LifConfig, currents: &[f32]) -> Vec<f32> {
        let device = dev();
        let lif = cfg.init(&device);
        let input = Tensor::<2>::from_data(
            TensorData::new(currents.to_vec(), [currents.len(), 1]),
            &device,
        );
        let (s, _) = lif.forward_seq(input, None);
        s.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The host scan (flex/ndarray without autodiff) is bit-identical to the
    /// tensor form: spikes and membranes, across chunks, for IF and leaky
    /// neurons, both resets, currents near the threshold.
    #[test]
    #[allow(deprecated)] // Device::ndarray
    fn host_scan_equals_the_tensor_form_bit_for_bit() {
        use burn::tensor::Distribution;
        for device in [Device::flex(), Device::ndarray()] {
            assert!(host_scan(&device) && !host_scan(&device.clone().autodiff()));
            device.seed(8);
            for (leak, reset, th) in [
                (1.0, Reset::Subtract, 0.7),
                (0.9, Reset::Subtract, 0.33),
                (0.5, Reset::Zero, 1.0),
                (1.0, Reset::Zero, 0.1),
            ] {
                let lif = LifConfig::new()
                    .with_leak(leak)
                    .with_reset(reset)
                    .with_threshold(th)
                    .init(&device);
                let x =
                    Tensor::<4>::random([7, 3, 5, 4], Distribution::Uniform(-0.5, 1.2), &device);
                let (mut sh, mut st) = (None, None);
                let (mut spikes_h, mut spikes_t) = (Vec::new(), Vec::new());
                for chunk in [x.clone().narrow(0, 0, 3), x.clone().narrow(0, 3, 4)] {
                    let (a, s1) = lif.forward_seq_host(chunk.clone(), sh.take());
                    let (b, s2) = lif.forward_seq_tensor(chunk, st.take());
                    spikes_h.push(a);
                    spikes_t.push(b);
                    sh = Some(s1);
                    st = Some(s2);
                }
                let bits = |t: Tensor<4>| -> Vec<u32> {
                    t.into_data().iter::<f32>().map(f32::to_bits).collect()
                };
                let (h, t) = (Tensor::cat(spikes_h, 0), Tensor::cat(spikes_t, 0));
                assert!(h.clone().sum().into_scalar::<f32>() > 0.0, "some spikes");
                assert_eq!(bits(h), bits(t));
                let (mh, mt) = (sh.unwrap().membrane, st.unwrap().membrane);
                assert_eq!(mh.dims(), [1, 3, 5, 4]);
                assert_eq!(bits(mh), bits(mt));
            }
        }
    }

    #[test]
    fn integrate_and_fire_soft_reset_matches_hand_computation() {
        // θ = 1, λ = 1, I = 3/8 (exact in f32): u = .375 .75 1.125→spike→.125 .5 .875
        // 1.25→spike→.25 .625
        let s = run_seq(LifConfig::new(), &[0.375; 7]);
        assert_eq!(s, vec![0., 0., 1., 0., 0., 1., 0.]);
    }

    #[test]
    fn fires_only_strictly_above_threshold() {
        let s = run_seq(LifConfig::new(), &[1.0, 0.0, 0.5, 0.5, 0.01]);
        // u = 1.0 (no), 1.0 (no), 1.5 (spike, →0.5), 1.0 (no), 1.01 (spike)
        assert_eq!(s, vec![0., 0., 1., 0., 1.]);
    }

    #[test]
    fn leaky_hard_reset_matches_hand_computation() {
        // λ = 0.5, θ = 1, hard reset. u: 0.8, 0.4+0.8=1.2→s→0, 0.8, 1.2→s→0, 0.8
        let cfg = LifConfig::new().with_leak(0.5).with_reset(Reset::Zero);
        let s = run_seq(cfg, &[0.8; 5]);
        assert_eq!(s, vec![0., 1., 0., 1., 0.]);
    }

    #[test]
    fn leaky_soft_reset_keeps_residue() {
        // λ = 0.9, θ = 2: u1 = 2.5 → spike, residue 0.5; u2 = 0.45 + 2.5 = 2.95 → spike, 0.95;
        // u3 = 0.855 + 0 = 0.855 → no; u4 = 0.7695 + 1.5 = 2.2695 → spike.
        let cfg = LifConfig::new().with_leak(0.9).with_threshold(2.0);
        let device = dev();
        let lif = cfg.init(&device);
        let input = Tensor::<2>::from_floats([[2.5], [2.5], [0.0], [1.5]], &device);
        let (s, st) = lif.forward_seq(input, None);
        assert_eq!(
            s.into_data().try_to_vec::<f32>().unwrap(),
            vec![1., 1., 0., 1.]
        );
        let u = st.membrane.into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((u - 0.2695).abs() < 1e-5, "membrane {u}");
    }

    #[test]
    fn seq_equals_steps_and_state_carries_across_chunks() {
        let device = dev();
        let lif = LifConfig::new()
            .with_leak(0.95)
            .with_threshold(0.7)
            .init(&device);
        let data: Vec<f32> = (0..6 * 2 * 3)
            .map(|i| ((i * 37 % 11) as f32) / 10.0 - 0.2)
            .collect();
        let input = Tensor::<3>::from_data(TensorData::new(data, [6, 2, 3]), &device);
        let (all, _) = lif.forward_seq(input.clone(), None);
        // chunks of 4 + 2
        let (a, st) = lif.forward_seq(input.clone().narrow(0, 0, 4), None);
        let (b, _) = lif.forward_seq(input.clone().narrow(0, 4, 2), Some(st));
        let chunked = Tensor::cat(vec![a, b], 0);
        all.clone()
            .into_data()
            .assert_eq(&chunked.into_data(), true);
        // single steps
        let mut state: Option<LifState<2>> = None;
        let mut steps = Vec::new();
        for x in input.iter_dim(0) {
            let (s, st) = lif.forward(x.squeeze_dim::<2>(0), state);
            steps.push(s.unsqueeze_dim::<3>(0));
            state = Some(st);
        }
        all.into_data()
            .assert_eq(&Tensor::cat(steps, 0).into_data(), true);
    }

    #[test]
    #[should_panic = "LIF leak must be in (0, 1]"]
    fn rejects_bad_leak() {
        LifConfig::new().with_leak(1.5).init(&dev());
    }

    #[test]
    #[should_panic = "LIF threshold must be finite and > 0"]
    fn rejects_bad_threshold() {
        LifConfig::new().with_threshold(0.0).init(&dev());
    }

    #[test]
    fn reset_gradient_known_values_attached_and_detached() {
        // Two steps, θ = 1, triangle scale 1, I = [1.2, 0.5]:
        // u1 = 1.2 → s1 = 1 (surrogate g1 = 1 - 0.2 = 0.8), u1' = 0.2; u2 = 0.7 → s2 = 0 (g2 = 0.7).
        // ds2/dI1 = g2 · d(u1 - s1)/dI1 = 0.7 · (1 - 0.8) = 0.14 with the reset attached,
        // and 0.7 · 1 = 0.7 with it detached. Spikes are the same either way.
        let device = Device::flex().autodiff();
        for (detach, want) in [(false, 0.14f32), (true, 0.7)] {
            let lif = LifConfig::new().with_detach_reset(detach).init(&device);
            let x = Tensor::<2>::from_floats([[1.2], [0.5]], &device).require_grad();
            let (s, _) = lif.forward_seq(x.clone(), None);
            let spikes = s.clone().into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(spikes, vec![1.0, 0.0]);
            let grads = s.narrow(0, 1, 1).sum().backward();
            let g = x
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            assert!(
                (g[0] - want).abs() < 1e-5,
                "detach {detach}: dI1 {} vs {want}",
                g[0]
            );
            assert!((g[1] - 0.7).abs() < 1e-5, "dI2 {}", g[1]);
        }
    }

    #[test]
    fn with_threshold_replaces_value() {
        let lif = LifConfig::new().init(&dev()).with_threshold(0.25);
        assert!((lif.threshold_value() - 0.25).abs() < 1e-7);
    }
}
