//! Forward passes on a given stimulus instead of the Poisson encoder's: a
//! spike train, or the first conv's output currents. Both keep the autodiff
//! graph to their input, so an attacker (or any analysis) gets the gradient
//! of the output with respect to the input spikes or to conv1's currents —
//! which the encoder's `sign()` and `[r <= |x|]` would otherwise cut.

use burn::tensor::Tensor;

use super::simulate::{Masks, States, Stimulus};
use super::{Snn, SnnOutput};

impl Snn {
    /// The SNN driven by the spike train `spikes` (`[T, N, C, H, W]`, any
    /// values: ±1/0 spikes as the encoder makes them, or a relaxation).
    ///
    /// Same result as [`forward_timesteps`](Self::forward_timesteps) when
    /// `spikes` are that call's encoder spikes (tested), except that no dropout
    /// is applied (inference). If `spikes` is tracked on an autodiff device,
    /// the output's gradient flows back to it.
    ///
    /// # Shapes
    /// - spikes: `[T, N, C, H, W]`
    /// - output logits / membrane: `[N, classes]`
    pub fn forward_spike_train(&self, spikes: Tensor<5>) -> SnnOutput {
        self.simulate_given(spikes.dims()[0], |start, len| {
            Stimulus::Spikes(spikes.clone().narrow(0, start, len))
        })
    }

    /// The SNN driven from its first spiking layer by `current`, the first
    /// conv's output for each timestep (`[T, N, C1, H, W]`: what
    /// `convs[0]` makes of the input spikes); conv1 itself is skipped.
    ///
    /// This is the hook of attack scenario 2 (PrivateSNN Algorithm 4): the
    /// gradient of the target output with respect to `current`, accumulated
    /// over `T`, is deconvolved with conv1's weights into image space.
    /// Entry 0 of the output's spike counts (the input spikes) is 0 here.
    ///
    /// # Shapes
    /// - current: `[T, N, C1, H, W]`
    /// - output logits / membrane: `[N, classes]`
    pub fn forward_conv1_current(&self, current: Tensor<5>) -> SnnOutput {
        self.simulate_given(current.dims()[0], |start, len| {
            Stimulus::Conv1Current(current.clone().narrow(0, start, len))
        })
    }

    /// The layer-major simulation over `timesteps` steps of a given
    /// stimulus, `time_chunk` steps at a time, without dropout.
    fn simulate_given(
        &self,
        timesteps: usize,
        stimulus: impl Fn(usize, usize) -> Stimulus,
    ) -> SnnOutput {
        assert!(timesteps > 0, "the stimulus has no timesteps");
        let convs = self.ann.convs.len();
        let masks = Masks {
            conv: vec![None; convs],
            fc: None,
        };
        let mut states = States::new(convs);
        let mut totals: Vec<Tensor<1>> = Vec::new();
        let mut acc: Option<Tensor<2>> = None;
        let mut start = 0;
        while start < timesteps {
            let len = self.time_chunk.min(timesteps - start);
            let (summed, counts) = self
                .chunk(stimulus(start, len), &mut states, &masks, &mut None)
                .expect("no probe");
            start += len;
            acc = Some(match acc {
                Some(a) => a + summed,
                None => summed,
            });
            totals = if totals.is_empty() {
                counts
            } else {
                totals.into_iter().zip(counts).map(|(a, b)| a + b).collect()
            };
        }
        let membrane = self.output_membrane(acc.expect("timesteps > 0"), timesteps);
        SnnOutput {
            logits: membrane.clone().div_scalar(timesteps as f64),
            membrane,
            spikes: totals,
            timesteps,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::module::conv_transpose2d;
    use burn::tensor::ops::ConvTransposeOptions;
    use burn::tensor::{Device, Tensor, Tolerance};
    use privatesnn_neurons::PoissonEncoder;

    use super::super::tests::{input, spiking, tiny};
    use crate::{Snn, SnnConfig};

    #[test]
    fn given_spikes_and_currents_equal_the_encoded_forward() {
        let device = Device::flex();
        let (ann, _) = tiny(&device);
        let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(3)));
        let x = input(&device);
        let t = 8;
        let reference = snn.forward_timesteps(x.clone(), t, &mut PoissonEncoder::new(4));
        let spikes: Tensor<5> = PoissonEncoder::new(4).encode(x, t);
        let given = snn.forward_spike_train(spikes.clone());
        assert_eq!(given.spike_totals(), reference.spike_totals());
        given.membrane.into_data().assert_approx_eq::<f32>(
            &reference.membrane.clone().into_data(),
            Tolerance::absolute(1e-5),
        );
        let [_, n, c, h, w] = spikes.dims();
        let cur = snn.ann.convs[0].forward(spikes.reshape([t * n, c, h, w]));
        let [_, c1, h1, w1] = cur.dims();
        let from_current = snn.forward_conv1_current(cur.reshape([t, n, c1, h1, w1]));
        from_current
            .membrane
            .clone()
            .into_data()
            .assert_approx_eq::<f32>(
                &reference.membrane.clone().into_data(),
                Tolerance::absolute(1e-5),
            );
        assert_eq!(from_current.spike_totals()[0], 0.0);
        assert_eq!(
            from_current.spike_totals()[1..],
            reference.spike_totals()[1..]
        );
    }

    /// The gradient with respect to the input spikes is the transposed conv1
    /// of the gradient with respect to conv1's currents (the chain rule
    /// attack 2 relies on), and it is non-zero: the graph reaches the input.
    #[test]
    fn gradients_reach_the_given_spikes() {
        let device = Device::flex().autodiff();
        let (ann, _) = tiny(&Device::flex());
        let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(2))).fork(&device);
        let t = 5;
        let x = input(&Device::flex());
        let spikes: Tensor<5> = PoissonEncoder::new(1).encode(x, t);
        let spikes = Tensor::<5>::from_data(spikes.into_data(), &device).require_grad();
        let out = snn.forward_spike_train(spikes.clone());
        let grads = out.membrane.narrow(1, 2, 1).sum().backward();
        let g_spikes = Tensor::<5>::from_inner(spikes.grad(&grads).expect("tracked"));
        assert!(g_spikes.clone().abs().sum().into_scalar::<f32>() > 0.0);

        let [_, n, c, h, w] = spikes.dims();
        let cur = snn.ann.convs[0]
            .forward(spikes.clone().detach().reshape([t * n, c, h, w]))
            .detach();
        let [_, c1, h1, w1] = cur.dims();
        let cur = cur.reshape([t, n, c1, h1, w1]).require_grad();
        let out = snn.forward_conv1_current(cur.clone());
        let grads = out.membrane.narrow(1, 2, 1).sum().backward();
        let g_cur = Tensor::<5>::from_inner(cur.grad(&grads).expect("tracked"));
        let back = conv_transpose2d(
            g_cur.reshape([t * n, c1, h1, w1]),
            snn.ann.convs[0].weight.val().inner(),
            None,
            ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1),
        );
        back.reshape([t, n, c, h, w])
            .into_data()
            .assert_approx_eq::<f32>(&g_spikes.into_data(), Tolerance::absolute(1e-5));
    }
}
