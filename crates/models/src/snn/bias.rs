//! Bias currents of the SNN. A bias is an input current at every timestep,
//! **scaled to the spikes it is added to**: spiking layer `l` sees the rates
//! `r_{l-1} = a_{l-1} / Λ_{l-1}` of the ANN's activations, with
//! `Λ_{l-1} = θ_0 · θ_1 ⋯ θ_{l-1}` (the product of the thresholds before it;
//! `Λ = 1` for the first layer, whose input spikes are the image), so its
//! bias current is `b_l / Λ_{l-1}` and then `r_l = a_l / Λ_l` — the bias
//! analogue of rate-based conversion's layer-wise normalisation (Rueckauer
//! et al. 2017 scale each layer's bias by its normalisation factor). The
//! output layer adds `b / Λ_L` per step, so the logits are the ANN's over
//! `Λ_L`, as for a bias-free network. The ANN (`Snn::ann`, `Snn::to_ann`)
//! keeps the biases as trained. Bias-free networks skip all of this.

use burn::tensor::Tensor;

use super::Snn;

impl Snn {
    /// `Λ_{l-1}` for every spiking layer `l`, then `Λ_L` for the output
    /// layer: the scale of the spikes each layer receives (see the module docs).
    pub fn bias_scales(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.neurons.len() + 1);
        let mut scale = 1.0;
        for theta in self.thresholds() {
            out.push(scale);
            scale *= theta;
        }
        out.push(scale);
        out
    }

    /// `Λ_{l-1}` on the device (no host read in the simulation loop): the
    /// product of the thresholds before spiking layer `layer` (`layer` = the
    /// number of spiking layers: the output layer's `Λ_L`); `None` for the
    /// first layer (`Λ = 1`). It follows the threshold parameters, so a
    /// trained threshold gets the gradient through the bias scale too.
    fn bias_scale(&self, layer: usize) -> Option<Tensor<1>> {
        self.neurons[..layer]
            .iter()
            .map(|n| n.threshold.val())
            .reduce(|a, b| a * b)
    }

    /// The bias current `b / Λ` minus the `b` the module already added.
    fn bias_correction(bias: Tensor<1>, scale: Option<Tensor<1>>) -> Option<Tensor<1>> {
        scale.map(|s| bias.clone().div(s) - bias)
    }

    /// Spiking conv layer `i`'s input current for spikes `x` (`[B, C, H, W]`).
    pub(crate) fn conv_current(&self, i: usize, x: Tensor<4>) -> Tensor<4> {
        let conv = &self.ann.convs[i];
        let cur = crate::spike_conv::spike_conv2d(conv, x);
        let Some(bias) = &conv.bias else {
            return cur;
        };
        match Self::bias_correction(bias.val(), self.bias_scale(i)) {
            Some(c) => cur + c.reshape([1, -1, 1, 1]),
            None => cur,
        }
    }

    /// `fc1`'s input current for flattened spikes `x` (`[..., F]`).
    pub(crate) fn fc1_current<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let cur = self.ann.fc1.forward(x);
        let Some(bias) = &self.ann.fc1.bias else {
            return cur;
        };
        match Self::bias_correction(bias.val(), self.bias_scale(self.ann.convs.len())) {
            Some(c) => cur + c.unsqueeze::<D>(),
            None => cur,
        }
    }

    /// The accumulated output membrane `u_T` for `fc1` spikes summed over
    /// `steps` timesteps: `W Σ_t s_t + steps · b / Λ_L` (the output layer is
    /// linear, so it is applied once to the sum).
    pub fn output_membrane(&self, summed: Tensor<2>, steps: usize) -> Tensor<2> {
        let membrane = self.ann.fc2.forward(summed);
        let Some(bias) = &self.ann.fc2.bias else {
            return membrane;
        };
        // fc2 added `b` once; the membrane needs `steps · b / Λ_L`.
        let b = bias.val();
        let per_step = match self.bias_scale(self.neurons.len()) {
            Some(scale) => b.clone().div(scale),
            None => b.clone(),
        };
        let add = per_step.mul_scalar(steps as f64) - b;
        membrane + add.unsqueeze_dim(0)
    }
}
