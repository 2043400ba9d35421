//! The VGG ANN (ReLU) classifier.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::dropout::dropout;
use crate::host_conv::HostConv;
use crate::{VggConfig, VggLayer};

/// Kaiming-normal with gain √2 (He et al.): keeps activations at scale through
/// 13 bias-free, batch-norm-free conv layers. Burn's default initializer
/// shrinks them to ~1e-11 input gradients at this depth.
fn kaiming() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

/// A VGG classifier: 3x3 convs with ReLU, 2x2 average pools, dropout, and
/// a two-layer classifier, bias-free unless [`VggConfig::bias`] (optional
/// `F` layers, [`VggLayer::Full`], sit in `convs` before `fc1`). The ANN of PrivateSNN, and
/// the weights every [`Snn`](crate::Snn) shares.
#[derive(Module, Debug)]
pub struct Vgg {
    /// The conv layers, in order.
    pub convs: Vec<Conv2d>,
    /// Hidden fully connected layer (`flat -> hidden`).
    pub fc1: Linear,
    /// Output layer (`hidden -> classes`).
    pub fc2: Linear,
    /// Dropout after convs not followed by a pool.
    pub conv_dropout: Dropout,
    /// Dropout after `fc1`.
    pub fc_dropout: Dropout,
    /// The 2x2 average pool.
    pub pool: AvgPool2d,
    /// `pool_after[i]`: an average pool follows conv `i`.
    #[module(skip)]
    pub pool_after: Vec<bool>,
}

impl VggConfig {
    /// Initialise a [`Vgg`] with Kaiming-normal weights.
    ///
    /// # Panics
    /// If [`validate`](Self::validate) fails; validate user-supplied configs first.
    pub fn init(&self, device: &Device) -> Vgg {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let layers = self.layers().expect("validated");
        let sides = self.input_sides().expect("validated");
        let mut convs = Vec::new();
        let mut pool_after = Vec::new();
        let mut channels = self.in_channels;
        for (layer, side) in layers.iter().zip(sides) {
            let (c, kernel, padding) = match *layer {
                VggLayer::Conv(c) => (c, 3, PaddingConfig2d::Explicit(1, 1, 1, 1)),
                VggLayer::Full(c) => (c, side, PaddingConfig2d::Valid),
                VggLayer::AvgPool => {
                    if let Some(last) = pool_after.last_mut() {
                        *last = true;
                    }
                    continue;
                }
            };
            convs.push(
                Conv2dConfig::new([channels, c], [kernel, kernel])
                    .with_padding(padding)
                    .with_bias(self.bias)
                    .with_initializer(kaiming())
                    .init(device),
            );
            pool_after.push(false);
            channels = c;
        }
        let flat = self.flat_features().expect("validated");
        Vgg {
            convs,
            fc1: LinearConfig::new(flat, self.hidden)
                .with_bias(self.bias)
                .with_initializer(kaiming())
                .init(device),
            fc2: LinearConfig::new(self.hidden, self.num_classes)
                .with_bias(self.bias)
                .with_initializer(kaiming())
                .init(device),
            conv_dropout: DropoutConfig::new(self.conv_dropout).init(),
            fc_dropout: DropoutConfig::new(self.fc_dropout).init(),
            pool: AvgPool2dConfig::new([2, 2]).init(),
            pool_after,
        }
    }
}

impl Vgg {
    /// Logits of the classifier.
    ///
    /// Dropout is active only when the model is in training mode on an
    /// autodiff device (Burn's rule). On the CPU backends the convolutions
    /// run as whole-batch GEMMs ([`crate::host_conv`]), equal to Burn's
    /// `conv2d` up to float rounding, and dropout masks come from the
    /// counter-based generator ([`crate::dropout`]).
    ///
    /// # Shapes
    /// - input: `[N, C, H, W]`, normalised (mean 0.5, std 0.5 → `[-1, 1]`)
    /// - output: `[N, classes]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = input;
        for (conv, &pool) in self.convs.iter().zip(&self.pool_after) {
            x = relu(conv.forward_host(x));
            x = if pool {
                self.pool.forward(x)
            } else {
                dropout(&self.conv_dropout, x)
            };
        }
        let x = x.flatten::<2>(1, 3);
        let x = dropout(&self.fc_dropout, relu(self.fc1.forward(x)));
        self.fc2.forward(x)
    }

    /// Number of spiking layers the SNN of this network has (every conv and `fc1`).
    pub fn num_spiking_layers(&self) -> usize {
        self.convs.len() + 1
    }

    /// The `[H, W]` leaving each entry of `convs` (after its pool, if one
    /// follows), for inputs of `[H, W]`: what the next layer receives.
    pub fn conv_output_sizes(&self, input: [usize; 2]) -> Vec<[usize; 2]> {
        let [mut h, mut w] = input;
        let mut out = Vec::with_capacity(self.convs.len());
        for (conv, &pool) in self.convs.iter().zip(&self.pool_after) {
            let [kh, kw] = conv.kernel_size;
            // Stride 1: `Same` keeps the size.
            let pad = match conv.padding {
                PaddingConfig2d::Explicit(t, l, b, r) => Some((t + b, l + r)),
                PaddingConfig2d::Valid => Some((0, 0)),
                PaddingConfig2d::Same => None,
            };
            if let Some((ph, pw)) = pad {
                h = (h + ph + 1).saturating_sub(kh);
                w = (w + pw + 1).saturating_sub(kw);
            }
            if pool {
                h /= 2;
                w /= 2;
            }
            out.push([h, w]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn forward_shape_and_signal_survives_depth() {
        let device = Device::flex();
        device.seed(0);
        let model = VggConfig::vgg16(3, 32, 10)
            .with_width(0.125)
            .with_hidden(32)
            .init(&device);
        assert_eq!(model.convs.len(), 13);
        assert_eq!(model.pool_after.iter().filter(|p| **p).count(), 5);
        let x = Tensor::<4>::random([4, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
        let y = model.forward(x);
        assert_eq!(y.dims(), [4, 10]);
        // Kaiming-normal (gain √2) keeps the logits within a few orders of 1
        // through 15 layers and 5 average pools; Burn's default initializer
        // (std 1/√(3·fan_in), √6 smaller per layer) would give ~1e-6 here.
        let scale = y.abs().mean().into_scalar::<f32>();
        assert!(scale > 1e-3 && scale < 1e3, "logit scale {scale}");
    }
}
