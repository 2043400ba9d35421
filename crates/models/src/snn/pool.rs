//! The 2x2 average pool of spike trains on the CPU backends, as one pass
//! over the host values (`pool_backend.rs`), at inference and under
//! autodiff (STBP): flex's pool is a generic 3-D loop with a division per
//! element, about 10% of SNN inference on VGG16. The same f32 operations in
//! the same order as flex's (`(((0 + a) + b) + c) + d`, then `/ 4`), so the
//! values are bit-identical, and so are the gradients (tested).

use burn::backend::Dispatch;
use burn::nn::PaddingConfig2d;
use burn::tensor::Tensor;
use privatesnn_neurons::cpu::is_host;

use super::Snn;
use super::pool_backend::HostPoolBackend;

impl Snn {
    /// Whether [`pool_spikes`](Self::pool_spikes) pools on the host.
    fn host_pool_applies(&self, device: &burn::tensor::Device) -> bool {
        let pool = &self.ann.pool;
        is_host(device)
            && pool.kernel_size == [2, 2]
            && pool.stride == [2, 2]
            && matches!(pool.padding, PaddingConfig2d::Valid)
            && !pool.ceil_mode
    }

    /// `self.ann.pool.forward(s)`, on the host where that is the same
    /// computation (CPU backend, the VGG's 2x2 stride-2 pool).
    pub(crate) fn pool_spikes(&self, s: Tensor<4>) -> Tensor<4> {
        if !self.host_pool_applies(&s.device()) {
            return self.ann.pool.forward(s);
        }
        Tensor::from_dispatch(<Dispatch as HostPoolBackend>::avg_pool_2x2(
            s.into_dispatch(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use crate::{Snn, SnnConfig, VggConfig};

    /// Bit-identical to the VGG's `AvgPool2d` on spikes and on arbitrary
    /// values, even and odd sizes, flex and ndarray; autodiff takes the module.
    #[test]
    #[allow(deprecated)] // Device::ndarray
    fn host_pool_is_the_module_bit_for_bit() {
        for device in [Device::flex(), Device::ndarray()] {
            device.seed(2);
            let snn = Snn::from_ann(
                VggConfig::vgg16(1, 32, 10).with_width(0.125).init(&device),
                &SnnConfig::new(),
            );
            // The host path is the one under test (else this compares the module with itself).
            assert!(snn.host_pool_applies(&device));
            for shape in [[3, 4, 8, 8], [2, 3, 5, 7], [1, 2, 3, 3]] {
                for x in [
                    Tensor::<4>::random(shape, Distribution::Bernoulli(0.3), &device),
                    Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device),
                ] {
                    let got = snn.pool_spikes(x.clone()).into_data();
                    let want = snn.ann.pool.forward(x).into_data();
                    assert_eq!(got.shape(), want.shape());
                    let bits = |d: &burn::tensor::TensorData| -> Vec<u32> {
                        d.iter::<f32>().map(f32::to_bits).collect()
                    };
                    assert_eq!(bits(&got), bits(&want), "{shape:?}");
                }
            }
        }
    }

    /// Under autodiff the host pool's values and input gradients are the
    /// module's bit for bit (odd sizes: the dropped row and column get 0),
    /// flex and ndarray; a wgpu device keeps the module.
    #[test]
    #[allow(deprecated)] // Device::ndarray
    fn host_pool_gradients_are_the_module_bit_for_bit() {
        let bits = |d: burn::tensor::TensorData| -> Vec<u32> {
            d.iter::<f32>().map(f32::to_bits).collect()
        };
        for base in [Device::flex(), Device::ndarray()] {
            let device = base.autodiff();
            device.seed(3);
            let snn = Snn::from_ann(
                VggConfig::vgg16(1, 32, 10).with_width(0.125).init(&device),
                &SnnConfig::new(),
            );
            assert!(snn.host_pool_applies(&device));
            for shape in [[3, 4, 8, 8], [2, 3, 5, 7]] {
                let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device)
                    .require_grad();
                let [n, c, h, w] = shape;
                let probe = Tensor::<4>::random(
                    [n, c, h / 2, w / 2],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                );
                let run = |host: bool| {
                    let y = if host {
                        snn.pool_spikes(x.clone())
                    } else {
                        snn.ann.pool.forward(x.clone())
                    };
                    let g = x
                        .grad(&(y.clone() * probe.clone()).sum().backward())
                        .expect("grad");
                    (y.into_data(), g.into_data())
                };
                let ((y1, g1), (y2, g2)) = (run(true), run(false));
                assert_eq!(bits(y1), bits(y2), "values {shape:?}");
                assert_eq!(bits(g1), bits(g2), "gradients {shape:?}");
            }
        }
        let gpu = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
        let snn = Snn::from_ann(
            VggConfig::vgg16(1, 32, 10).with_width(0.125).init(&gpu),
            &SnnConfig::new(),
        );
        assert!(!snn.host_pool_applies(&gpu));
    }
}
