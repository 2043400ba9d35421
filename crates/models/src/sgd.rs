//! SGD with momentum and weight decay as one pass over each parameter on
//! the CPU backends: Burn's [`Sgd`](burn::optim::Sgd) to the bit.
//!
//! Burn's SGD runs each of its steps (`p·wd + g`, the momentum's two
//! scalings and sum, `v·lr`, `p − Δ`) as a separate tensor operation, a
//! pass over the parameter each: about 17% of a VGG16 training step at
//! batch 8 on two CPU cores (15 M parameters). [`FusedSgd`] performs the
//! same f32 operations in the same order for each element in one pass,
//! so parameters and velocities equal Burn's bit for bit (tested), and it
//! records its state under Burn's names (`momentum.velocity`), so either
//! optimizer resumes the other's checkpoint. Nesterov momentum and
//! non-host devices take the tensor form (the same operations as Burn's).
//!
//! ```
//! use burn::optim::{GradientsParams, ModuleOptimizer, momentum::MomentumConfig};
//! use burn::optim::decay::WeightDecayConfig;
//! use burn::tensor::{Device, Distribution};
//! use privatesnn_models::{VggConfig, sgd::FusedSgd};
//!
//! let device = Device::flex().autodiff();
//! let mut net = VggConfig::vgg16(1, 32, 10).with_width(0.0625).with_hidden(8).init(&device);
//! let mut optim: ModuleOptimizer = FusedSgd::new(
//!     Some(MomentumConfig::new().with_momentum(0.9)),
//!     Some(WeightDecayConfig::new(5e-4)),
//! )
//! .into();
//! let x = burn::tensor::Tensor::<4>::random([2, 1, 32, 32], Distribution::Default, &device);
//! let grads = GradientsParams::from_grads(net.forward(x).sum().backward(), &net);
//! net = optim.step(0.1, net, grads);
//! ```

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::tensor::{DType, Device, Tensor, TensorData};
use privatesnn_neurons::cpu::is_host;
use rayon::prelude::*;

/// SGD with optional momentum (with dampening, as Burn's) and weight
/// decay; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct FusedSgd {
    momentum: Option<(f32, f64, bool)>,
    weight_decay: Option<f32>,
}

/// The velocity of one parameter (none before the first step or without
/// momentum), recorded as Burn's `SgdState` records it.
#[derive(Clone, Debug)]
pub struct FusedSgdState<const D: usize> {
    /// The momentum buffer.
    pub velocity: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for FusedSgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(
                &join_path(prefix, "momentum"),
                "velocity",
                v.clone().into_data(),
            );
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let velocity = src
            .take_tensor(&join_path(prefix, "momentum"), "velocity")
            .map(|data| Tensor::from_data(data, device));
        Some(Self { velocity })
    }
}

impl FusedSgd {
    /// The optimizer of `SgdConfig::new().with_momentum(momentum).with_weight_decay(weight_decay)`.
    pub fn new(momentum: Option<MomentumConfig>, weight_decay: Option<WeightDecayConfig>) -> Self {
        Self {
            momentum: momentum.map(|m| (m.momentum as f32, m.dampening, m.nesterov)),
            weight_decay: weight_decay.map(|w| w.penalty),
        }
    }

    /// Burn's tensor form: weight decay, momentum, `p − lr·v`.
    fn step_tensors<const D: usize>(
        &self,
        lr: LearningRate,
        p: Tensor<D>,
        mut g: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<Tensor<D>>) {
        if let Some(wd) = self.weight_decay {
            g = p.clone().mul_scalar(wd).add(g);
        }
        let mut new_velocity = None;
        if let Some((mu, dampening, nesterov)) = self.momentum {
            let v = match velocity {
                Some(v) => g.clone().mul_scalar(1.0 - dampening).add(v.mul_scalar(mu)),
                None => g.clone(),
            };
            g = if nesterov {
                v.clone().mul_scalar(mu).add(g)
            } else {
                v.clone()
            };
            new_velocity = Some(v);
        }
        (p - g.mul_scalar(lr), new_velocity)
    }
}

/// `p`'s values as an owned f32 vector (a copy only where the backend shares the buffer).
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("an f32 tensor")
}

/// The fused host pass, element by element the f32 operations of
/// [`FusedSgd::step_tensors`] without Nesterov: `g' = p·wd + g`, then with
/// momentum `v' = g'` on the first step (`first`), else
/// `v' = g'·(1 − d) + v·μ`, and `p' = p − v'·lr` (`p − g'·lr` without).
#[cfg(test)]
/// Fused passes run (tests check that the host path is the one taken).
static FUSED_PASSES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn fused_pass(
    p: &mut [f32],
    g: &[f32],
    velocity: Option<(&mut [f32], bool, f32, f32)>,
    wd: Option<f32>,
    lr: f32,
) {
    #[cfg(test)]
    FUSED_PASSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    const CHUNK: usize = 1 << 14;
    let decay = |p: f32, g: f32| match wd {
        Some(wd) => p * wd + g,
        None => g,
    };
    match velocity {
        Some((v, first, mu, keep)) => p
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|((p, g), v)| {
                for ((p, g), v) in p.iter_mut().zip(g).zip(v) {
                    let d = decay(*p, *g);
                    let nv = if first { d } else { d * keep + *v * mu };
                    *v = nv;
                    *p -= nv * lr;
                }
            }),
        None => p
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .for_each(|(p, g)| {
                for (p, g) in p.iter_mut().zip(g) {
                    *p -= decay(*p, *g) * lr;
                }
            }),
    }
}

impl Optimizer for FusedSgd {
    type State<const D: usize> = FusedSgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        let device = tensor.device();
        let nesterov = matches!(self.momentum, Some((_, _, true)));
        let f32s = tensor.dtype() == DType::F32 && grad.dtype() == DType::F32;
        if nesterov || !f32s || !is_host(&device) {
            let (p, velocity) = self.step_tensors(lr, tensor, grad, velocity);
            return (p, Some(FusedSgdState { velocity }));
        }
        let shape = tensor.shape();
        let mut p = values(tensor);
        let g = values(grad);
        let mut v = self.momentum.map(|_| match velocity {
            Some(v) => (values(v), false),
            None => (vec![0f32; p.len()], true),
        });
        let pass_velocity = match (&mut v, self.momentum) {
            (Some((v, first)), Some((mu, dampening, _))) => {
                Some((v.as_mut_slice(), *first, mu, (1.0 - dampening) as f32))
            }
            _ => None,
        };
        fused_pass(&mut p, &g, pass_velocity, self.weight_decay, lr as f32);
        let make = |values: Vec<f32>| {
            Tensor::<D>::from_data(TensorData::new(values, shape.clone()), &device)
        };
        let velocity = v.map(|(v, _)| make(v));
        (make(p), Some(FusedSgdState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        FusedSgdState {
            velocity: state.velocity.map(|v| v.to_device(device)),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::momentum::{MomentumConfig, MomentumState};
    use burn::optim::{
        GradientsParams, ModuleOptimizer, RecordState, SgdConfig, SgdState, StateSink, StateSource,
    };
    use burn::tensor::{Device, Distribution, Tensor, TensorData};

    use super::{FusedSgd, FusedSgdState};
    use crate::{Vgg, VggConfig};

    fn weights(net: &Vgg) -> Vec<u32> {
        let mut out = Vec::new();
        let mut push = |t: Tensor<2>| out.extend(t.into_data().iter::<f32>().map(f32::to_bits));
        for c in &net.convs {
            push(c.weight.val().flatten(0, 3));
        }
        push(net.fc1.weight.val());
        push(net.fc2.weight.val());
        out
    }

    /// Three steps of [`FusedSgd`] and of Burn's `Sgd` from the same
    /// network: every weight equal bit for bit, for momentum with and
    /// without dampening, weight decay, both, neither, and Nesterov (the
    /// tensor form), on flex and ndarray.
    #[test]
    #[allow(deprecated)] // Device::ndarray
    fn equals_burns_sgd_bit_for_bit() {
        let momentum = |d: f64, nesterov: bool| {
            Some(
                MomentumConfig::new()
                    .with_momentum(0.9)
                    .with_dampening(d)
                    .with_nesterov(nesterov),
            )
        };
        let decay = Some(burn::optim::decay::WeightDecayConfig::new(5e-3));
        let cases = [
            (momentum(0.1, false), decay.clone()),
            (momentum(0.0, false), None),
            (None, decay.clone()),
            (None, None),
            (momentum(0.0, true), decay.clone()),
        ];
        let passes = || super::FUSED_PASSES.load(std::sync::atomic::Ordering::Relaxed);
        for base in [Device::flex(), Device::ndarray()] {
            let device = base.clone().autodiff();
            device.seed(11);
            let cfg = VggConfig::vgg16(1, 32, 10)
                .with_width(0.0625)
                .with_hidden(16)
                .with_conv_dropout(0.0)
                .with_fc_dropout(0.0);
            let start = cfg.init(&device);
            let x = Tensor::<4>::random([3, 1, 32, 32], Distribution::Normal(0.0, 1.0), &device);
            for (m, wd) in cases.clone() {
                let nesterov = m.as_ref().is_some_and(|m| m.nesterov);
                let before = passes();
                let mut ours: ModuleOptimizer = FusedSgd::new(m.clone(), wd.clone()).into();
                let mut burn = SgdConfig::new()
                    .with_momentum(m.clone())
                    .with_weight_decay(wd.clone())
                    .init();
                let (mut a, mut b) = (start.clone(), start.clone());
                for step in 0..3 {
                    let ga = GradientsParams::from_grads(
                        a.forward(x.clone()).powi_scalar(2).sum().backward(),
                        &a,
                    );
                    let gb = GradientsParams::from_grads(
                        b.forward(x.clone()).powi_scalar(2).sum().backward(),
                        &b,
                    );
                    a = ours.step(0.01, a, ga);
                    b = burn.step(0.01, b, gb);
                    let (wa, wb) = (weights(&a), weights(&b));
                    assert_eq!(wa, wb, "{base:?} momentum {m:?} decay {wd:?} step {step}");
                    assert_ne!(wa, weights(&start), "the step moved the weights");
                }
                // The host pass ran (one per parameter and step), except
                // for Nesterov, which takes the tensor form.
                assert_eq!(passes() > before, !nesterov, "{base:?} {m:?} {wd:?}");
            }
        }
    }

    /// Known values of one element: `g' = 1·0.1 + 0.5 = 0.6`,
    /// `v' = 0.6·0.9 + 2·0.9 = 2.34`, `p' = 1 − 2.34·0.1 = 0.766`; on the
    /// first step `v' = g'`; without momentum `p' = 1 − 0.6·0.1`.
    #[test]
    fn fused_pass_known_values() {
        // (velocity before, first step) -> (velocity after, parameter after)
        for (v0, first, want_v, want_p) in
            [(2.0f32, false, 2.34f32, 0.766f32), (0.0, true, 0.6, 0.94)]
        {
            let (mut p, mut v) = ([1.0f32], [v0]);
            super::fused_pass(
                &mut p,
                &[0.5],
                Some((&mut v, first, 0.9, 0.9)),
                Some(0.1),
                0.1,
            );
            let close = (v[0] - want_v).abs() < 1e-6 && (p[0] - want_p).abs() < 1e-6;
            assert!(close, "first {first}: {p:?} {v:?}");
        }
        let mut p = [1.0f32];
        super::fused_pass(&mut p, &[0.5], None, Some(0.1), 0.1);
        assert!((p[0] - 0.94).abs() < 1e-6, "{p:?}");
    }

    /// The state is recorded under Burn's names: Burn's `SgdState`
    /// flattened rebuilds as a [`FusedSgdState`] and back, velocity intact.
    #[test]
    fn state_records_under_burns_names() {
        let device = Device::flex();
        let v = Tensor::<2>::from_data(TensorData::new(vec![1.5f32, -2.0, 0.25], [1, 3]), &device);
        let mut sink = StateSink::default();
        SgdState::new(Some(MomentumState::new(v.clone()))).state_flatten("p7", &mut sink);
        let names: Vec<_> = sink.tensors.iter().map(|(n, _)| n.clone()).collect();
        let mut src = StateSource::default();
        for (name, data) in sink.tensors {
            src.insert_tensor(name, data);
        }
        let ours = FusedSgdState::<2>::state_unflatten("p7", &mut src, &device).expect("rebuilt");
        let velocity = ours.velocity.clone().expect("velocity");
        assert_eq!(velocity.into_data(), v.clone().into_data());

        let mut sink = StateSink::default();
        ours.state_flatten("p7", &mut sink);
        let ours_names: Vec<_> = sink.tensors.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(ours_names, names);
        let mut src = StateSource::default();
        for (name, data) in sink.tensors {
            src.insert_tensor(name, data);
        }
        let back = SgdState::<2>::state_unflatten("p7", &mut src, &device).expect("Burn reads it");
        assert!(back.momentum.is_some(), "Burn finds the velocity");
        // Without momentum nothing is recorded, and nothing is rebuilt.
        let mut sink = StateSink::default();
        FusedSgdState::<2> { velocity: None }.state_flatten("p7", &mut sink);
        assert!(sink.tensors.is_empty());
    }
}
