//! Configuration of the VGG family.

use burn::config::Config;

use crate::ModelError;

/// The VGG16 feature configuration of the PrivateSNN code: numbers are 3x3
/// conv widths, `A` a 2x2 average pool.
pub const VGG16_ARCH: &str = "64,64,A,128,128,A,256,256,256,A,512,512,512,A,512,512,512,A";
/// VGG11 feature configuration (a smaller variant for quick experiments).
pub const VGG11_ARCH: &str = "64,A,128,A,256,256,A,512,512,A,512,512,A";

/// Largest conv width, hidden width, class count, channel count and image
/// side a config may ask for (a guard against typos that would allocate
/// terabytes).
pub const MAX_WIDTH: usize = 1 << 16;

/// One entry of a VGG feature stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VggLayer {
    /// 3x3 convolution (padding 1) with this many output channels.
    Conv(usize),
    /// 2x2 average pool, stride 2.
    AvgPool,
    /// A hidden fully connected layer with this many units (`F4096` in
    /// `arch`), held as a convolution whose kernel covers the whole feature
    /// map (no padding), so its output is `[units, 1, 1]`. It is a spiking
    /// layer like the convs. This is how a classifier with more than one
    /// hidden layer (torchvision's VGG: three linear layers) is expressed:
    /// every `F` entry but the last hidden layer, which stays `fc1`.
    Full(usize),
}

/// Configuration of a [`Vgg`](crate::Vgg) classifier (and of the
/// [`Snn`](crate::Snn) built from it).
///
/// Defaults are the PrivateSNN VGG16 for CIFAR-10: no biases, average
/// pooling, dropout after every conv not followed by a pool, and a two-layer
/// classifier `Linear(flat, hidden) -> ReLU -> Dropout -> Linear(hidden, classes)`.
#[derive(Config, Debug, PartialEq)]
pub struct VggConfig {
    /// Input channels (1 for Fashion-MNIST, 3 for CIFAR / Tiny-ImageNet).
    #[config(default = 3)]
    pub in_channels: usize,
    /// Input height = width (32 for CIFAR and padded Fashion-MNIST, 64 for Tiny-ImageNet).
    #[config(default = 32)]
    pub image_size: usize,
    /// Number of classes.
    #[config(default = 10)]
    pub num_classes: usize,
    /// Feature stack, e.g. [`VGG16_ARCH`]: comma-separated conv widths, `A`
    /// (average pool) and `F<units>` (a hidden fully connected layer before
    /// `fc1`, see [`VggLayer::Full`]; not scaled by `width`).
    #[config(default = "VGG16_ARCH.to_string()")]
    pub arch: String,
    /// Multiplier applied to every conv width (1.0 = as written; 0.25 = a quarter as wide).
    #[config(default = 1.0)]
    pub width: f64,
    /// Width of the hidden fully connected layer.
    #[config(default = 4096)]
    pub hidden: usize,
    /// Dropout probability after convs not followed by a pool.
    #[config(default = 0.2)]
    pub conv_dropout: f64,
    /// Dropout probability after the hidden fully connected layer.
    #[config(default = 0.5)]
    pub fc_dropout: f64,
    /// Give every conv and linear layer a bias (PrivateSNN's VGG has none;
    /// imported networks such as torchvision's VGG, or any network whose
    /// batch norm was folded into its convs, do). In the SNN a bias is an
    /// input current added at every timestep.
    #[config(default = false)]
    pub bias: bool,
}

impl VggConfig {
    /// VGG16 (the paper's model) for the given input and class count.
    pub fn vgg16(in_channels: usize, image_size: usize, num_classes: usize) -> Self {
        Self::new()
            .with_in_channels(in_channels)
            .with_image_size(image_size)
            .with_num_classes(num_classes)
    }

    /// The feature stack with the width multiplier applied.
    pub fn layers(&self) -> Result<Vec<VggLayer>, ModelError> {
        let mut out = Vec::new();
        for item in self.arch.split(',').map(str::trim) {
            if item.eq_ignore_ascii_case("a") {
                out.push(VggLayer::AvgPool);
                continue;
            }
            if let Some(units) = item.strip_prefix(['F', 'f']) {
                let u: usize = units.parse().map_err(|_| {
                    ModelError::config(
                        "arch",
                        format!("`{item}`: `F` takes a unit count, e.g. F4096"),
                    )
                })?;
                if u == 0 || u > MAX_WIDTH {
                    return Err(ModelError::config(
                        "arch",
                        format!("`{item}`: units must be in 1..={MAX_WIDTH}"),
                    ));
                }
                out.push(VggLayer::Full(u));
                continue;
            }
            let c: usize = item.parse().map_err(|_| {
                ModelError::config("arch", format!("`{item}` is neither a conv width nor `A`"))
            })?;
            if c == 0 {
                return Err(ModelError::config("arch", "conv width 0"));
            }
            let scaled = (c as f64 * self.width).round();
            if scaled.is_nan() || scaled > MAX_WIDTH as f64 {
                return Err(ModelError::config(
                    "arch",
                    format!("conv width {c} x width {} exceeds {MAX_WIDTH}", self.width),
                ));
            }
            out.push(VggLayer::Conv((scaled as usize).max(1)));
        }
        if !matches!(out.first(), Some(VggLayer::Conv(_))) {
            return Err(ModelError::config("arch", "must start with a conv layer"));
        }
        if let Some(i) = out
            .windows(2)
            .position(|w| matches!(w[0], VggLayer::Full(_)) && !matches!(w[1], VggLayer::Full(_)))
        {
            return Err(ModelError::config(
                "arch",
                format!(
                    "entry {} follows the fully connected `F` entry {}: `F` entries must come last",
                    i + 2,
                    i + 1
                ),
            ));
        }
        // Each pool belongs to the conv before it (the SNN pools that conv's
        // spikes); two pools in a row would have no conv between them.
        if let Some(i) = out
            .windows(2)
            .position(|w| w[0] == VggLayer::AvgPool && w[1] == VggLayer::AvgPool)
        {
            return Err(ModelError::config(
                "arch",
                format!(
                    "entries {} and {} are both `A`: every average pool must follow a conv",
                    i + 1,
                    i + 2
                ),
            ));
        }
        Ok(out)
    }

    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), ModelError> {
        for (name, value) in [
            ("in_channels", self.in_channels),
            ("image_size", self.image_size),
            ("num_classes", self.num_classes),
            ("hidden", self.hidden),
        ] {
            if value > MAX_WIDTH {
                return Err(ModelError::config(
                    name,
                    format!("{value} exceeds the limit {MAX_WIDTH}"),
                ));
            }
        }
        if self.in_channels == 0 {
            return Err(ModelError::config("in_channels", "must be > 0"));
        }
        if self.image_size == 0 {
            return Err(ModelError::config("image_size", "must be > 0"));
        }
        if self.num_classes < 2 {
            return Err(ModelError::config("num_classes", "must be >= 2"));
        }
        if self.hidden == 0 {
            return Err(ModelError::config("hidden", "must be > 0"));
        }
        if !(self.width.is_finite() && self.width > 0.0) {
            return Err(ModelError::config(
                "width",
                format!("must be > 0, got {}", self.width),
            ));
        }
        for (name, p) in [
            ("conv_dropout", self.conv_dropout),
            ("fc_dropout", self.fc_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(ModelError::config(
                    name,
                    format!("must be in [0, 1), got {p}"),
                ));
            }
        }
        self.sides()?;
        Ok(())
    }

    /// The side of the feature map each layer of [`layers`](Self::layers)
    /// receives, and the side leaving the last one.
    fn sides(&self) -> Result<(Vec<usize>, usize), ModelError> {
        let layers = self.layers()?;
        let pools = layers.iter().filter(|l| **l == VggLayer::AvgPool).count();
        let mut size = self.image_size;
        let mut sides = Vec::with_capacity(layers.len());
        for layer in &layers {
            sides.push(size);
            match layer {
                VggLayer::Conv(_) => {}
                VggLayer::Full(_) => size = 1,
                VggLayer::AvgPool => {
                    if size < 2 || !size.is_multiple_of(2) {
                        return Err(ModelError::config(
                            "image_size",
                            format!(
                                "{} cannot be halved by {pools} average pools",
                                self.image_size
                            ),
                        ));
                    }
                    size /= 2;
                }
            }
        }
        Ok((sides, size))
    }

    /// The side of the feature map entering each layer of
    /// [`layers`](Self::layers) (an `F` layer's kernel covers it).
    pub fn input_sides(&self) -> Result<Vec<usize>, ModelError> {
        Ok(self.sides()?.0)
    }

    /// Flattened feature size entering the first fully connected layer.
    pub fn flat_features(&self) -> Result<usize, ModelError> {
        let layers = self.layers()?;
        let last = layers
            .iter()
            .rev()
            .find_map(|l| match l {
                VggLayer::Conv(c) | VggLayer::Full(c) => Some(*c),
                VggLayer::AvgPool => None,
            })
            .unwrap_or(self.in_channels);
        let side = self.sides()?.1;
        Ok(last * side * side)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vgg16_shapes() {
        let c = VggConfig::vgg16(3, 32, 10);
        c.validate().unwrap();
        assert_eq!(c.layers().unwrap().len(), 18);
        assert_eq!(c.flat_features().unwrap(), 512);
        assert_eq!(
            VggConfig::vgg16(3, 64, 200).flat_features().unwrap(),
            512 * 2 * 2
        );
        let narrow = VggConfig::vgg16(1, 32, 10).with_width(0.125);
        assert_eq!(narrow.layers().unwrap()[0], VggLayer::Conv(8));
        assert_eq!(narrow.flat_features().unwrap(), 64);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let e = VggConfig::new()
            .with_arch("64,x".into())
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("`arch`"), "{e}");
        let e = VggConfig::new().with_image_size(28).validate().unwrap_err();
        assert!(e.to_string().contains("`image_size`"), "{e}");
        let e = VggConfig::new()
            .with_fc_dropout(1.0)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("`fc_dropout`"), "{e}");
        let e = VggConfig::new()
            .with_arch("A,64".into())
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("start with a conv"), "{e}");
    }

    /// `F` entries: fully connected hidden layers over the whole map, last.
    #[test]
    fn full_entries_parse_and_come_last() {
        let c = VggConfig::vgg16(3, 32, 10)
            .with_arch("8,A,16,A,F64".into())
            .with_width(0.5);
        c.validate().unwrap();
        let layers = c.layers().unwrap();
        // `width` scales the convs, not the F units.
        assert_eq!(layers[4], VggLayer::Full(64));
        assert_eq!(layers[2], VggLayer::Conv(8));
        assert_eq!(c.input_sides().unwrap(), vec![32, 32, 16, 16, 8]);
        assert_eq!(c.flat_features().unwrap(), 64);
        for (arch, needle) in [
            ("8,F64,A", "must come last"),
            ("8,F64,16", "must come last"),
            ("8,Fx", "unit count"),
            ("F8,8", "start with a conv"),
        ] {
            let e = c.clone().with_arch(arch.into()).validate().unwrap_err();
            assert!(e.to_string().contains(needle), "{arch}: {e}");
        }
    }

    /// Issue 9: two pools in a row passed validation and panicked in the first forward.
    #[test]
    fn issue9_two_pools_in_a_row_are_refused() {
        let e = VggConfig::new()
            .with_arch("64,A,A,128,A,256,A".into())
            .validate()
            .unwrap_err();
        assert!(
            e.to_string().contains("entries 2 and 3 are both `A`"),
            "{e}"
        );
    }
}
