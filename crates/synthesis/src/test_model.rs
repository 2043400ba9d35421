//! Test helpers: a small frozen VGG on an autodiff device.

use burn::module::Module;
use burn::tensor::Device;
use privatesnn_models::{Vgg, VggConfig};

/// A 1x8x8, 3-class VGG with seeded weights, frozen, on `device`.
pub(crate) fn model(device: &Device) -> Vgg {
    let plain = Device::flex();
    plain.seed(3);
    VggConfig::new()
        .with_in_channels(1)
        .with_image_size(8)
        .with_num_classes(3)
        .with_arch("4,A,8,A".into())
        .with_hidden(16)
        .init(&plain)
        .valid()
        .fork(device)
}
