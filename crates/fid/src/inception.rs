//! Inception-V3 as pytorch-fid uses it (Szegedy et al. 2016; the FID
//! variant of the 2015 TensorFlow graph): images resized to 299x299
//! (bilinear), scaled to `[-1, 1]`, and the 2,048-d average pool after
//! `Mixed_7c` ("pool3") as the feature. pytorch-fid's changes to
//! torchvision's network are kept: the average pools inside the A, C and
//! first E blocks do not count padding, and the last E block max-pools.
//!
//! The weights are not shipped (and cannot be downloaded here): convert
//! pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` to safetensors
//! (README, "FID with Inception-V3") and pass the file to
//! [`InceptionV3::load`]. Parameter names are pytorch-fid's
//! (`Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch1x1.bn.running_mean`, ...).

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use burn::tensor::activation::relu;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d, interpolate, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, InterpolateMode, InterpolateOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};

use crate::{FeatureExtractor, FidError};

/// Settings of [`InceptionV3`].
#[derive(Config, Debug, PartialEq)]
pub struct InceptionV3Config {
    /// Side of the resized input (299 as in pytorch-fid).
    #[config(default = 299)]
    pub resize: usize,
}

/// Conv (no bias) + batch norm (ε = 0.001) + ReLU.
#[derive(Module, Debug)]
pub struct BasicConv {
    conv: Conv2d,
    bn: BatchNorm,
}

fn basic(
    c_in: usize,
    c_out: usize,
    k: [usize; 2],
    s: usize,
    p: [usize; 2],
    d: &Device,
) -> BasicConv {
    BasicConv {
        conv: Conv2dConfig::new([c_in, c_out], k)
            .with_stride([s, s])
            .with_padding(PaddingConfig2d::Explicit(p[0], p[1], p[0], p[1]))
            .with_bias(false)
            .init(d),
        bn: BatchNormConfig::new(c_out).with_epsilon(1e-3).init(d),
    }
}

impl BasicConv {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.bn.forward(self.conv.forward(x)))
    }
}

fn avg3(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(
        x,
        AvgPoolOptions::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1])
            .with_count_include_pad(false),
    )
}

fn max3(x: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    max_pool2d(
        x,
        MaxPoolOptions::new([3, 3])
            .with_stride([stride, stride])
            .with_padding([pad, pad]),
    )
}

/// Inception block A (35x35).
#[derive(Module, Debug)]
pub struct BlockA {
    branch1x1: BasicConv,
    branch5x5_1: BasicConv,
    branch5x5_2: BasicConv,
    branch3x3dbl_1: BasicConv,
    branch3x3dbl_2: BasicConv,
    branch3x3dbl_3: BasicConv,
    branch_pool: BasicConv,
}

impl BlockA {
    fn new(c: usize, pool: usize, d: &Device) -> Self {
        Self {
            branch1x1: basic(c, 64, [1, 1], 1, [0, 0], d),
            branch5x5_1: basic(c, 48, [1, 1], 1, [0, 0], d),
            branch5x5_2: basic(48, 64, [5, 5], 1, [2, 2], d),
            branch3x3dbl_1: basic(c, 64, [1, 1], 1, [0, 0], d),
            branch3x3dbl_2: basic(64, 96, [3, 3], 1, [1, 1], d),
            branch3x3dbl_3: basic(96, 96, [3, 3], 1, [1, 1], d),
            branch_pool: basic(c, pool, [1, 1], 1, [0, 0], d),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b5 = self
            .branch5x5_2
            .forward(self.branch5x5_1.forward(x.clone()));
        let b3 = self.branch3x3dbl_3.forward(
            self.branch3x3dbl_2
                .forward(self.branch3x3dbl_1.forward(x.clone())),
        );
        let bp = self.branch_pool.forward(avg3(x));
        Tensor::cat(vec![b1, b5, b3, bp], 1)
    }
}

/// Inception block B (35 → 17).
#[derive(Module, Debug)]
pub struct BlockB {
    branch3x3: BasicConv,
    branch3x3dbl_1: BasicConv,
    branch3x3dbl_2: BasicConv,
    branch3x3dbl_3: BasicConv,
}

impl BlockB {
    fn new(c: usize, d: &Device) -> Self {
        Self {
            branch3x3: basic(c, 384, [3, 3], 2, [0, 0], d),
            branch3x3dbl_1: basic(c, 64, [1, 1], 1, [0, 0], d),
            branch3x3dbl_2: basic(64, 96, [3, 3], 1, [1, 1], d),
            branch3x3dbl_3: basic(96, 96, [3, 3], 2, [0, 0], d),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b3 = self.branch3x3.forward(x.clone());
        let bd = self.branch3x3dbl_3.forward(
            self.branch3x3dbl_2
                .forward(self.branch3x3dbl_1.forward(x.clone())),
        );
        Tensor::cat(vec![b3, bd, max3(x, 2, 0)], 1)
    }
}

/// Inception block C (17x17, factorised 7x7).
#[derive(Module, Debug)]
pub struct BlockC {
    branch1x1: BasicConv,
    branch7x7_1: BasicConv,
    branch7x7_2: BasicConv,
    branch7x7_3: BasicConv,
    branch7x7dbl_1: BasicConv,
    branch7x7dbl_2: BasicConv,
    branch7x7dbl_3: BasicConv,
    branch7x7dbl_4: BasicConv,
    branch7x7dbl_5: BasicConv,
    branch_pool: BasicConv,
}

impl BlockC {
    fn new(c: usize, c7: usize, d: &Device) -> Self {
        let (row, col) = (([1, 7], [0, 3]), ([7, 1], [3, 0]));
        Self {
            branch1x1: basic(c, 192, [1, 1], 1, [0, 0], d),
            branch7x7_1: basic(c, c7, [1, 1], 1, [0, 0], d),
            branch7x7_2: basic(c7, c7, row.0, 1, row.1, d),
            branch7x7_3: basic(c7, 192, col.0, 1, col.1, d),
            branch7x7dbl_1: basic(c, c7, [1, 1], 1, [0, 0], d),
            branch7x7dbl_2: basic(c7, c7, col.0, 1, col.1, d),
            branch7x7dbl_3: basic(c7, c7, row.0, 1, row.1, d),
            branch7x7dbl_4: basic(c7, c7, col.0, 1, col.1, d),
            branch7x7dbl_5: basic(c7, 192, row.0, 1, row.1, d),
            branch_pool: basic(c, 192, [1, 1], 1, [0, 0], d),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b7 = [&self.branch7x7_1, &self.branch7x7_2, &self.branch7x7_3]
            .iter()
            .fold(x.clone(), |y, l| l.forward(y));
        let bd = [
            &self.branch7x7dbl_1,
            &self.branch7x7dbl_2,
            &self.branch7x7dbl_3,
            &self.branch7x7dbl_4,
            &self.branch7x7dbl_5,
        ]
        .iter()
        .fold(x.clone(), |y, l| l.forward(y));
        let bp = self.branch_pool.forward(avg3(x));
        Tensor::cat(vec![b1, b7, bd, bp], 1)
    }
}

/// Inception block D (17 → 8).
#[derive(Module, Debug)]
pub struct BlockD {
    branch3x3_1: BasicConv,
    branch3x3_2: BasicConv,
    branch7x7x3_1: BasicConv,
    branch7x7x3_2: BasicConv,
    branch7x7x3_3: BasicConv,
    branch7x7x3_4: BasicConv,
}

impl BlockD {
    fn new(c: usize, d: &Device) -> Self {
        Self {
            branch3x3_1: basic(c, 192, [1, 1], 1, [0, 0], d),
            branch3x3_2: basic(192, 320, [3, 3], 2, [0, 0], d),
            branch7x7x3_1: basic(c, 192, [1, 1], 1, [0, 0], d),
            branch7x7x3_2: basic(192, 192, [1, 7], 1, [0, 3], d),
            branch7x7x3_3: basic(192, 192, [7, 1], 1, [3, 0], d),
            branch7x7x3_4: basic(192, 192, [3, 3], 2, [0, 0], d),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b3 = self
            .branch3x3_2
            .forward(self.branch3x3_1.forward(x.clone()));
        let b7 = [
            &self.branch7x7x3_1,
            &self.branch7x7x3_2,
            &self.branch7x7x3_3,
            &self.branch7x7x3_4,
        ]
        .iter()
        .fold(x.clone(), |y, l| l.forward(y));
        Tensor::cat(vec![b3, b7, max3(x, 2, 0)], 1)
    }
}

/// Inception block E (8x8, expanded filter banks); `max_pool` = pytorch-fid's `FIDInceptionE_2`.
#[derive(Module, Debug)]
pub struct BlockE {
    branch1x1: BasicConv,
    branch3x3_1: BasicConv,
    branch3x3_2a: BasicConv,
    branch3x3_2b: BasicConv,
    branch3x3dbl_1: BasicConv,
    branch3x3dbl_2: BasicConv,
    branch3x3dbl_3a: BasicConv,
    branch3x3dbl_3b: BasicConv,
    branch_pool: BasicConv,
    #[module(skip)]
    max_pool: bool,
}

impl BlockE {
    fn new(c: usize, max_pool: bool, d: &Device) -> Self {
        Self {
            branch1x1: basic(c, 320, [1, 1], 1, [0, 0], d),
            branch3x3_1: basic(c, 384, [1, 1], 1, [0, 0], d),
            branch3x3_2a: basic(384, 384, [1, 3], 1, [0, 1], d),
            branch3x3_2b: basic(384, 384, [3, 1], 1, [1, 0], d),
            branch3x3dbl_1: basic(c, 448, [1, 1], 1, [0, 0], d),
            branch3x3dbl_2: basic(448, 384, [3, 3], 1, [1, 1], d),
            branch3x3dbl_3a: basic(384, 384, [1, 3], 1, [0, 1], d),
            branch3x3dbl_3b: basic(384, 384, [3, 1], 1, [1, 0], d),
            branch_pool: basic(c, 192, [1, 1], 1, [0, 0], d),
            max_pool,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b3 = self.branch3x3_1.forward(x.clone());
        let b3 = Tensor::cat(
            vec![
                self.branch3x3_2a.forward(b3.clone()),
                self.branch3x3_2b.forward(b3),
            ],
            1,
        );
        let bd = self
            .branch3x3dbl_2
            .forward(self.branch3x3dbl_1.forward(x.clone()));
        let bd = Tensor::cat(
            vec![
                self.branch3x3dbl_3a.forward(bd.clone()),
                self.branch3x3dbl_3b.forward(bd),
            ],
            1,
        );
        let pooled = if self.max_pool {
            max3(x, 1, 1)
        } else {
            avg3(x)
        };
        Tensor::cat(vec![b1, b3, bd, self.branch_pool.forward(pooled)], 1)
    }
}

/// Inception-V3 up to pool3 (see the module docs). Field names are
/// pytorch-fid's, lower-cased (`Conv2d_1a_3x3` → `conv2d_1a_3x3`).
#[derive(Module, Debug)]
pub struct InceptionV3 {
    conv2d_1a_3x3: BasicConv,
    conv2d_2a_3x3: BasicConv,
    conv2d_2b_3x3: BasicConv,
    conv2d_3b_1x1: BasicConv,
    conv2d_4a_3x3: BasicConv,
    mixed_5b: BlockA,
    mixed_5c: BlockA,
    mixed_5d: BlockA,
    mixed_6a: BlockB,
    mixed_6b: BlockC,
    mixed_6c: BlockC,
    mixed_6d: BlockC,
    mixed_6e: BlockC,
    mixed_7a: BlockD,
    mixed_7b: BlockE,
    mixed_7c: BlockE,
    #[module(skip)]
    resize: usize,
}

impl InceptionV3Config {
    /// The network with Burn's default (random) initialisation; load real
    /// weights with [`InceptionV3::load`].
    pub fn init(&self, d: &Device) -> InceptionV3 {
        InceptionV3 {
            conv2d_1a_3x3: basic(3, 32, [3, 3], 2, [0, 0], d),
            conv2d_2a_3x3: basic(32, 32, [3, 3], 1, [0, 0], d),
            conv2d_2b_3x3: basic(32, 64, [3, 3], 1, [1, 1], d),
            conv2d_3b_1x1: basic(64, 80, [1, 1], 1, [0, 0], d),
            conv2d_4a_3x3: basic(80, 192, [3, 3], 1, [0, 0], d),
            mixed_5b: BlockA::new(192, 32, d),
            mixed_5c: BlockA::new(256, 64, d),
            mixed_5d: BlockA::new(288, 64, d),
            mixed_6a: BlockB::new(288, d),
            mixed_6b: BlockC::new(768, 128, d),
            mixed_6c: BlockC::new(768, 160, d),
            mixed_6d: BlockC::new(768, 160, d),
            mixed_6e: BlockC::new(768, 192, d),
            mixed_7a: BlockD::new(768, d),
            mixed_7b: BlockE::new(1280, false, d),
            mixed_7c: BlockE::new(2048, true, d),
            resize: self.resize,
        }
    }
}

impl InceptionV3 {
    /// The network with the weights of `path` (safetensors, pytorch-fid's
    /// names; `fc.*` is ignored). Every pool3 parameter must be present.
    pub fn load(
        path: &Path,
        config: &InceptionV3Config,
        device: &Device,
    ) -> Result<Self, FidError> {
        let err = |r: String| FidError::Weights {
            path: path.to_path_buf(),
            reason: r,
        };
        if !path.is_file() {
            return Err(err(
                "no such file (convert pytorch-fid's weights to safetensors: see the README)"
                    .into(),
            ));
        }
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .with_key_remapping(r"^Conv2d_", "conv2d_")
            .with_key_remapping(r"^Mixed_", "mixed_")
            .allow_partial(true);
        let mut net = config.init(device);
        let result = net.load_from(&mut store).map_err(|e| err(e.to_string()))?;
        if !result.missing.is_empty() || !result.errors.is_empty() {
            let missing: Vec<&str> = result
                .missing
                .iter()
                .map(|(p, _)| p.as_str())
                .take(5)
                .collect();
            return Err(err(format!(
                "{} parameters missing (e.g. {missing:?}), {} errors (e.g. {:?})",
                result.missing.len(),
                result.errors.len(),
                result.errors.first()
            )));
        }
        Ok(net.valid())
    }

    /// The 2,048-d pool3 features of normalised 299x299 RGB images `[N, 3, 299, 299]` in `[-1, 1]`.
    pub fn pool3(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.conv2d_1a_3x3.forward(x);
        let x = self.conv2d_2a_3x3.forward(x);
        let x = max3(self.conv2d_2b_3x3.forward(x), 2, 0);
        let x = self.conv2d_3b_1x1.forward(x);
        let x = max3(self.conv2d_4a_3x3.forward(x), 2, 0);
        let x = self.mixed_5b.forward(x);
        let x = self.mixed_5c.forward(x);
        let x = self.mixed_5d.forward(x);
        let x = self.mixed_6a.forward(x);
        let x = self.mixed_6b.forward(x);
        let x = self.mixed_6c.forward(x);
        let x = self.mixed_6d.forward(x);
        let x = self.mixed_6e.forward(x);
        let x = self.mixed_7a.forward(x);
        let x = self.mixed_7b.forward(x);
        let x = self.mixed_7c.forward(x);
        adaptive_avg_pool2d(x, [1, 1]).flatten(1, 3)
    }

    /// pytorch-fid's input handling for pixels in `[0, 1]`: grey images
    /// repeated to 3 channels, bilinear resize (no corner alignment) to
    /// `resize`, then `2x - 1`.
    pub fn preprocess(&self, pixels: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = pixels.dims();
        let x = if c == 1 {
            Tensor::cat(vec![pixels.clone(), pixels.clone(), pixels], 1)
        } else {
            pixels
        };
        let x = interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size([self.resize, self.resize]),
        );
        x.mul_scalar(2.0).sub_scalar(1.0)
    }
}

impl FeatureExtractor for InceptionV3 {
    fn name(&self) -> String {
        "Inception-V3 pool3 (pytorch-fid), 2048-d".into()
    }

    fn dim(&self) -> usize {
        2048
    }

    fn features(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.pool3(self.preprocess(pixels))
    }
}
