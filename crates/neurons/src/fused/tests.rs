//! The three operations of [`FusedLifBackend`] against hand-computed values,
//! on every backend (host loops, CubeCL kernels), with and without autodiff.

use burn::backend::Dispatch;
use burn::tensor::{Device, DeviceKind, Tensor, TensorData};

use super::FusedLifBackend;
use crate::Surrogate;

#[allow(deprecated)] // Device::ndarray
fn devices() -> Vec<Device> {
    let plain = [
        Device::flex(),
        Device::ndarray(),
        Device::wgpu(DeviceKind::DefaultDevice),
    ];
    plain
        .iter()
        .flat_map(|d| [d.clone(), d.clone().autodiff()])
        .collect()
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().expect("f32")
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{what}: {got:?} vs {want:?}");
    }
}

/// Two steps of two IF neurons (θ = 1, triangle scale 1), `[T, M]` inputs
/// `[[1.2, 0.3], [0.5, 0.9]]` from rest:
/// neuron 0: u = 1.2 (spike, z = 0.2, slope 0.8), residue 0.2, u = 0.7 (z = -0.3, slope 0.7);
/// neuron 1: u = 0.3 (z = -0.7, slope 0.3), u = 1.2 (spike, slope 0.8), residue 0.2.
/// The reverse scan with leak 0.5 and gradient rows `[1, 10], [2, 20], [3, 30]`:
/// neuron 0: a_1 = 3 + 2·0.7 = 4.4, a_0 = 0.5·4.4 + 1·0.8 = 3.0, ∂m_0 = 1.5;
/// neuron 1: a_1 = 30 + 20·0.8 = 46, a_0 = 23 + 10·0.3 = 26, ∂m_0 = 13.
#[test]
fn the_three_operations_give_hand_computed_values_on_every_backend() {
    let triangle = Surrogate::Triangle { scale: 1.0 };
    for device in devices() {
        let input = Tensor::<2>::from_floats([[1.2, 0.3], [0.5, 0.9]], &device);
        let rest = Tensor::<2>::zeros([1, 2], &device);
        let out = Tensor::<2>::from_dispatch(<Dispatch as FusedLifBackend>::lif_soft_reset_spikes(
            input.clone().into_dispatch(),
            rest.clone().into_dispatch(),
            1.0,
            1.0,
            triangle,
        ));
        let want_out = [1.0, 0.0, 0.0, 1.0, 0.7, 0.2];
        close(&values(out), &want_out, &format!("spikes {device:?}"));
        let (out, slopes) = <Dispatch as FusedLifBackend>::lif_soft_reset_train(
            input.into_dispatch(),
            rest.into_dispatch(),
            1.0,
            1.0,
            triangle,
        );
        close(
            &values(Tensor::from_dispatch(out)),
            &want_out,
            &format!("train spikes {device:?}"),
        );
        let slopes = Tensor::<2>::from_dispatch(slopes);
        close(
            &values(slopes.clone()),
            &[0.8, 0.3, 0.7, 0.8],
            &format!("slopes {device:?}"),
        );
        let grad = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0], [3, 2]),
            &device,
        );
        let back = <Dispatch as FusedLifBackend>::lif_soft_reset_backward(
            grad.into_dispatch(),
            slopes.into_dispatch(),
            0.5,
        );
        close(
            &values(Tensor::from_dispatch(back)),
            &[3.0, 26.0, 4.4, 46.0, 1.5, 13.0],
            &format!("reverse scan {device:?}"),
        );
    }
}
