//! Host access to the CPU backends' tensors, for the kernels that run as
//! plain loops there (the LIF scan, the event-driven convolution).
#![allow(deprecated)] // NdArray: still a supported backend here

use std::future::Future;
use std::task::{Context, Poll, Waker};

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, NdArray};
use burn::tensor::{Device, TensorData};

/// Whether `device` is a CPU backend whose tensors live in host memory
/// (flex or ndarray, with or without autodiff).
#[allow(deprecated)] // Device::ndarray: still a supported backend here
pub fn is_host(device: &Device) -> bool {
    let plain = device.clone().inner();
    plain == Device::flex() || plain == Device::ndarray()
}

/// A CPU backend's future, which is ready when first polled.
fn ready<T>(fut: impl Future<Output = T>) -> T {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// A CPU backend's tensor as host data (no copy where the backend owns the
/// buffer alone).
///
/// # Panics
/// If the backend fails to read (a CPU backend does not).
pub fn read<B: Backend>(t: FloatTensor<B>) -> TensorData {
    ready(B::float_into_data(t)).expect("reading a CPU tensor")
}

/// `f` on the f32 values of `data` (borrowed where the bytes are f32 and
/// aligned, converted otherwise).
pub fn with_f32<R>(data: &TensorData, f: impl FnOnce(&[f32]) -> R) -> R {
    match data.as_slice::<f32>() {
        Ok(values) => f(values),
        Err(_) => f(&data
            .clone()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 data after convert")),
    }
}

/// A CPU backend whose float tensors can be viewed as host f32 values.
pub trait HostView: Backend {
    /// `f` on the f32 values of `t` (row-major): borrowed where the backend
    /// allows it, else a copy.
    fn view_f32<R>(t: &FloatTensor<Self>, f: impl FnOnce(&[f32]) -> R) -> R {
        with_f32(&read::<Self>(t.clone()), f)
    }

    /// Host values (row-major) as a tensor of `shape` on `device`.
    fn from_f32<const D: usize>(
        values: Vec<f32>,
        shape: [usize; D],
        device: &<Self as burn::backend::BackendTypes>::Device,
    ) -> FloatTensor<Self> {
        Self::float_from_data(TensorData::new(values, shape), device)
    }
}

impl HostView for Flex {
    /// Borrowed without a copy when `t` is contiguous f32 (the usual case).
    fn view_f32<R>(t: &FloatTensor<Self>, f: impl FnOnce(&[f32]) -> R) -> R {
        match t.as_slice::<f32>() {
            Some(values) => f(values),
            None => with_f32(&read::<Self>(t.clone()), f),
        }
    }
}

impl HostView for NdArray {}
