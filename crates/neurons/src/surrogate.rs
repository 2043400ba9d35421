//! Surrogate gradients for the non-differentiable spike function.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The spike nonlinearity's surrogate gradient.
///
/// Every variant has the same forward pass, the exact Heaviside step
/// `H(x) = 1 if x > 0 else 0`, applied to the threshold-normalised membrane
/// `x = u / θ - 1`. They differ only in the derivative used by backpropagation:
///
/// | variant | `dH/dx` used in backward | source |
/// |---|---|---|
/// | [`Triangle`](Surrogate::Triangle) | `scale · max(0, 1 - |x|)` | PrivateSNN Eq. 9 (scale 1); authors' code uses 0.3 |
/// | [`Atan`](Surrogate::Atan) | `α/2 / (1 + (π/2 · α x)²)` | SpikingJelly `ATan` |
/// | [`FastSigmoid`](Surrogate::FastSigmoid) | `1 / (1 + k|x|)²` | snnTorch `fast_sigmoid`, SuperSpike |
///
/// The backward is realised without a custom autodiff op, with the
/// straight-through form `H(x).detach() + S(x) - S(x).detach()` where `S` is a
/// primitive of the surrogate derivative; its value is exactly `H(x)` and its
/// gradient exactly `S'(x)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Surrogate {
    /// Triangle (piecewise linear) surrogate of PrivateSNN Eq. 9.
    Triangle {
        /// Peak height of the derivative at `x = 0` (paper: 1.0; authors' code: 0.3).
        scale: f64,
    },
    /// Arctangent surrogate.
    Atan {
        /// Sharpness; the derivative peaks at `α / 2`.
        alpha: f64,
    },
    /// Fast-sigmoid surrogate.
    FastSigmoid {
        /// Slope `k`; larger is sharper. The derivative peaks at 1.
        slope: f64,
    },
}

impl Default for Surrogate {
    /// The paper's triangle with scale 1 (Eq. 9).
    fn default() -> Self {
        Surrogate::Triangle { scale: 1.0 }
    }
}

impl Surrogate {
    /// Analytic surrogate derivative `dH/dx` at `x` (the value backward uses).
    pub fn derivative(&self, x: f64) -> f64 {
        match *self {
            Surrogate::Triangle { scale } => scale * (1.0 - x.abs()).max(0.0),
            Surrogate::Atan { alpha } => {
                let z = std::f64::consts::FRAC_PI_2 * alpha * x;
                alpha / 2.0 / (1.0 + z * z)
            }
            Surrogate::FastSigmoid { slope } => 1.0 / (1.0 + slope * x.abs()).powi(2),
        }
    }

    /// Checks that the parameter is finite and positive.
    pub fn validate(&self) -> Result<(), String> {
        let (name, v) = match *self {
            Surrogate::Triangle { scale } => ("triangle scale", scale),
            Surrogate::Atan { alpha } => ("atan alpha", alpha),
            Surrogate::FastSigmoid { slope } => ("fast-sigmoid slope", slope),
        };
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("{name} must be finite and > 0, got {v}"))
        }
    }

    /// A primitive `S(x)` of the surrogate derivative, built from
    /// differentiable tensor ops, so that `dS/dx` equals [`derivative`](Self::derivative).
    fn primitive<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match *self {
            Surrogate::Triangle { scale } => {
                // S(x) = scale (c - c|c|/2), c = clamp(x, -1, 1): S' = scale (1 - |x|) on
                // [-1, 1], 0 outside (clamp passes no gradient there).
                let c = x.clamp(-1.0, 1.0);
                (c.clone() - c.clone().abs() * c / 2.0) * scale
            }
            Surrogate::Atan { alpha } => {
                // S(x) = atan(π/2 α x) / π
                (x * (std::f64::consts::FRAC_PI_2 * alpha))
                    .atan()
                    .div_scalar(std::f64::consts::PI)
            }
            Surrogate::FastSigmoid { slope } => {
                // S(x) = x / (1 + k|x|)
                let denom = x.clone().abs() * slope + 1.0;
                x / denom
            }
        }
    }

    /// The spike function: exact Heaviside forward, this surrogate backward.
    ///
    /// `x` is the threshold-normalised membrane `u / θ - 1`; a neuron spikes
    /// where `x > 0` (i.e. `u > θ`). When `x` is not tracked by autodiff, only
    /// the step is computed.
    ///
    /// # Shapes
    /// - x: any
    /// - output: same as `x`, values in {0, 1}
    pub fn spike<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let step = x.clone().greater_elem(0.0).float();
        if !x.is_tracked() {
            return step;
        }
        let s = self.primitive(x);
        // `s - s.detach()` is exactly 0 in value, so the spikes stay exactly
        // binary; `(step + s) - s` would not (float rounding).
        step.detach() + (s.clone() - s.detach())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    const ALL: [Surrogate; 5] = [
        Surrogate::Triangle { scale: 1.0 },
        Surrogate::Triangle { scale: 0.3 },
        Surrogate::Atan { alpha: 2.0 },
        Surrogate::FastSigmoid { slope: 25.0 },
        Surrogate::FastSigmoid { slope: 1.0 },
    ];

    /// Points in [-2, 2] that avoid the triangle's kinks at -1, 0, 1.
    fn points() -> Vec<f32> {
        (0..80).map(|i| -2.0 + 0.05 * i as f32 + 0.0123).collect()
    }

    #[test]
    fn forward_is_exact_heaviside_with_and_without_autodiff() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            for sg in ALL {
                let x = Tensor::<1>::from_floats(
                    [-1.0, -0.7, -1e-6, 0.0, 1e-6, 0.1, 0.3, 0.7, 0.9, 3.0],
                    &device,
                );
                let x = if device.is_autodiff() {
                    x.require_grad()
                } else {
                    x
                };
                let s = sg.spike(x).into_data().try_to_vec::<f32>().unwrap();
                assert_eq!(s, vec![0., 0., 0., 0., 1., 1., 1., 1., 1., 1.], "{sg:?}");
            }
        }
    }

    #[test]
    fn autodiff_gradient_equals_analytic_derivative() {
        let device = Device::flex().autodiff();
        let xs = points();
        for sg in ALL {
            let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device)
                .require_grad();
            let grads = sg.spike(x.clone()).sum().backward();
            let g = x
                .grad(&grads)
                .expect("gradient")
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for (xi, gi) in xs.iter().zip(g) {
                let want = sg.derivative(*xi as f64);
                assert!(
                    (gi as f64 - want).abs() < 1e-5,
                    "{sg:?} at {xi}: {gi} vs {want}"
                );
            }
        }
    }

    #[test]
    fn analytic_derivative_matches_finite_differences_of_primitive() {
        let device = Device::flex();
        let xs: Vec<f64> = points().into_iter().map(f64::from).collect();
        let h = 1e-3;
        for sg in ALL {
            let eval = |v: Vec<f64>| -> Vec<f64> {
                let t = Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
                sg.primitive(t).into_data().iter::<f64>().collect()
            };
            let plus = eval(xs.iter().map(|x| x + h).collect());
            let minus = eval(xs.iter().map(|x| x - h).collect());
            for (i, x) in xs.iter().enumerate() {
                let fd = (plus[i] - minus[i]) / (2.0 * h);
                let want = sg.derivative(*x);
                assert!(
                    (fd - want).abs() < 2e-3 * want.abs().max(1.0),
                    "{sg:?} at {x}: fd {fd} vs {want}"
                );
            }
        }
    }

    #[test]
    fn known_values() {
        let t = Surrogate::Triangle { scale: 0.3 };
        assert!((t.derivative(0.0) - 0.3).abs() < 1e-12);
        assert!((t.derivative(0.5) - 0.15).abs() < 1e-12);
        assert_eq!(t.derivative(1.5), 0.0);
        let a = Surrogate::Atan { alpha: 2.0 };
        assert!((a.derivative(0.0) - 1.0).abs() < 1e-12);
        let f = Surrogate::FastSigmoid { slope: 1.0 };
        assert!((f.derivative(1.0) - 0.25).abs() < 1e-12);
        assert!(Surrogate::Atan { alpha: -1.0 }.validate().is_err());
    }
}
