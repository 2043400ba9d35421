//! The 2x2 average pool of spike trains at inference on the CPU backends,
//! as one pass over the host values: flex's pool is a generic 3-D loop with
//! a division per element, about 10% of SNN inference on VGG16. The same
//! f32 operations in the same order as flex's (`(((0 + a) + b) + c) + d`,
//! then `/ 4`), so the values are bit-identical (tested).

use burn::nn::PaddingConfig2d;
use burn::tensor::{Tensor, TensorData};
use privatesnn_neurons::cpu::{is_host, with_f32};
use rayon::prelude::*;

use super::Snn;

impl Snn {
    /// Whether [`pool_spikes`](Self::pool_spikes) pools on the host.
    fn host_pool_applies(&self, device: &burn::tensor::Device) -> bool {
        let pool = &self.ann.pool;
        !device.is_autodiff()
            && is_host(device)
            && pool.kernel_size == [2, 2]
            && pool.stride == [2, 2]
            && matches!(pool.padding, PaddingConfig2d::Valid)
            && !pool.ceil_mode
    }

    /// `self.ann.pool.forward(s)`, on the host where that is the same
    /// computation (CPU backend, no autodiff, the VGG's 2x2 stride-2 pool).
    pub(crate) fn pool_spikes(&self, s: Tensor<4>) -> Tensor<4> {
        let device = s.device();
        if !self.host_pool_applies(&device) {
            return self.ann.pool.forward(s);
        }
        let [n, c, h, w] = s.dims();
        let (oh, ow) = (h / 2, w / 2);
        let data = s.into_data();
        let mut out = vec![0f32; n * c * oh * ow];
        if oh * ow > 0 {
            with_f32(&data, |x| {
                out.par_chunks_mut(oh * ow)
                    .zip(x.par_chunks(h * w))
                    .for_each(|(o, x)| {
                        for y in 0..oh {
                            let (r0, r1) = (&x[2 * y * w..], &x[(2 * y + 1) * w..]);
                            for xx in 0..ow {
                                let sum =
                                    0.0 + r0[2 * xx] + r0[2 * xx + 1] + r1[2 * xx] + r1[2 * xx + 1];
                                o[y * ow + xx] = sum / 4.0;
                            }
                        }
                    })
            });
        }
        Tensor::from_data(TensorData::new(out, [n, c, oh, ow]), &device)
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
            assert!(!snn.host_pool_applies(&device.clone().autodiff()));
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
}
