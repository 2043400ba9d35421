//! The judge: a small ResNet (He et al. 2016, the CIFAR variant) trained on
//! the real training data, whose pooled features the offline FID uses, and
//! whose predictions say whether an attack image shows its class. Its
//! architecture (residual blocks, batch norm, max-free global pooling)
//! differs from the attacked VGG on purpose: a judge that shared the
//! victim's weights or architecture would favour images made against it.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::FeatureExtractor;

/// Settings of the [`Judge`].
#[derive(Config, Debug, PartialEq)]
pub struct JudgeConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Classes.
    pub num_classes: usize,
    /// Channels of the first stage (the next two double it).
    #[config(default = 16)]
    pub width: usize,
    /// Residual blocks per stage (3 stages; 1 = ResNet-8, 3 = ResNet-20).
    #[config(default = 1)]
    pub blocks: usize,
}

impl JudgeConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), crate::FidError> {
        let bad = |f: &str| crate::FidError::Config(format!("judge `{f}` must be > 0"));
        for (name, v) in [
            ("in_channels", self.in_channels),
            ("width", self.width),
            ("blocks", self.blocks),
        ] {
            if v == 0 {
                return Err(bad(name));
            }
        }
        if self.num_classes < 2 {
            return Err(crate::FidError::Config(
                "judge `num_classes` must be >= 2".into(),
            ));
        }
        Ok(())
    }

    /// Initialise the judge.
    ///
    /// # Panics
    /// If [`validate`](Self::validate) fails.
    pub fn init(&self, device: &Device) -> Judge {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let w = self.width;
        let mut blocks = Vec::new();
        let mut c_in = w;
        for (stage, c) in [w, 2 * w, 4 * w].into_iter().enumerate() {
            for b in 0..self.blocks {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BlockConfig { c_in, c, stride }.init(device));
                c_in = c;
            }
        }
        Judge {
            stem: conv3(self.in_channels, w, 1, device),
            stem_bn: BatchNormConfig::new(w).init(device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(4 * w, self.num_classes).init(device),
        }
    }
}

fn conv3(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

struct BlockConfig {
    c_in: usize,
    c: usize,
    stride: usize,
}

impl BlockConfig {
    fn init(&self, device: &Device) -> Block {
        let shortcut = (self.stride != 1 || self.c_in != self.c).then(|| {
            (
                Conv2dConfig::new([self.c_in, self.c], [1, 1])
                    .with_stride([self.stride, self.stride])
                    .with_bias(false)
                    .init(device),
                BatchNormConfig::new(self.c).init(device),
            )
        });
        let (shortcut, shortcut_bn) = match shortcut {
            Some((c, b)) => (Some(c), Some(b)),
            None => (None, None),
        };
        Block {
            conv1: conv3(self.c_in, self.c, self.stride, device),
            bn1: BatchNormConfig::new(self.c).init(device),
            conv2: conv3(self.c, self.c, 1, device),
            bn2: BatchNormConfig::new(self.c).init(device),
            shortcut,
            shortcut_bn,
        }
    }
}

/// A basic residual block: two 3x3 conv + batch norm, identity or 1x1 shortcut.
#[derive(Module, Debug)]
pub struct Block {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    shortcut: Option<Conv2d>,
    shortcut_bn: Option<BatchNorm>,
}

impl Block {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(self.bn1.forward(self.conv1.forward(x.clone())));
        let y = self.bn2.forward(self.conv2.forward(y));
        let skip = match (&self.shortcut, &self.shortcut_bn) {
            (Some(c), Some(b)) => b.forward(c.forward(x)),
            _ => x,
        };
        relu(y + skip)
    }
}

/// The judge network; see the module docs.
#[derive(Module, Debug)]
pub struct Judge {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<Block>,
    pool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl Judge {
    /// Pooled features `[N, 4 width]` of normalised images (`[-1, 1]`).
    pub fn embed(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(self.stem_bn.forward(self.stem.forward(x)));
        for b in &self.blocks {
            x = b.forward(x);
        }
        self.pool.forward(x).flatten(1, 3)
    }

    /// Logits `[N, classes]` of normalised images (`[-1, 1]`).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.embed(x))
    }

    /// The class of each image given as pixels in `[0, 1]`.
    pub fn predict(&self, pixels: Tensor<4>) -> Vec<usize> {
        let n = pixels.dims()[0];
        self.forward(pixels.mul_scalar(2.0).sub_scalar(1.0))
            .argmax(1)
            .reshape([n])
            .into_data()
            .iter::<i64>()
            .map(|v| v as usize)
            .collect()
    }

    /// Feature length.
    pub fn feature_dim(&self) -> usize {
        self.fc.weight.dims()[0]
    }
}

impl FeatureExtractor for Judge {
    fn name(&self) -> String {
        let blocks = self.blocks.len() / 3;
        format!(
            "judge ResNet-{} (width {}), {}-d pooled features",
            6 * blocks + 2,
            self.feature_dim() / 4,
            self.feature_dim()
        )
    }

    fn dim(&self) -> usize {
        self.feature_dim()
    }

    fn features(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.embed(pixels.mul_scalar(2.0).sub_scalar(1.0))
    }
}
