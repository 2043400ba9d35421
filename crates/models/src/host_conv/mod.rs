//! The VGG's convolutions on the CPU backends as whole-batch GEMMs, with
//! their own backward: a Burn backend extension (`HostConvBackend`) for
//! flex and ndarray and their autodiff.
//!
//! Flex computes a convolution's weight gradient as a convolution of the
//! input with the output gradient as kernel: one GEMM of width 9 per input
//! channel (512 of them in VGG16's deep layers), each re-reading the whole
//! output gradient; and its forward runs one GEMM per image, 4 columns wide
//! on a 2x2 map. Here the forward, the input gradient and the weight
//! gradient are each one GEMM over the whole batch (`kernels.rs`), which is
//! how PyTorch's CPU backend lays them out. Values equal flex's convolution
//! up to float rounding (the sums run in another order); tested against it
//! and against finite differences.
//!
//! Applies to stride 1, dilation 1, one group and zero padding symmetric
//! in each direction: the VGG's 3x3 convs and its full-map `F` layers
//! ([`HostConv::applies`]); anything else takes Burn's `conv2d`.
#![allow(deprecated)] // NdArray: still a supported backend here

pub mod kernels;
#[cfg(test)]
mod tests;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, Flex, NdArray, TensorMetadata, backend_extension,
};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Tensor};
use privatesnn_neurons::cpu::{HostView, is_host};

use kernels::{COLS_BUDGET, Geometry};

/// The GEMM convolution (stride 1, dilation 1, one group, zero padding
/// `pad = [rows, columns]` on both sides of each) and its two gradients,
/// on the host.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait HostConvBackend: Backend {
    /// `[N, O, H + 2 pad - kh + 1, W + 2 pad - kw + 1]` for input
    /// `[N, C, H, W]` and weight `[O, C, kh, kw]`, no bias.
    fn host_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: [usize; 2],
    ) -> FloatTensor<Self>;

    /// The input gradient of [`host_conv2d`](Self::host_conv2d) for the
    /// output gradient `grad`; `[h, w]` is the input's size.
    fn host_conv2d_input_grad(
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: [usize; 2],
        size: [usize; 2],
    ) -> FloatTensor<Self>;

    /// The weight gradient of [`host_conv2d`](Self::host_conv2d) for input
    /// `x` and output gradient `grad`; `[kh, kw]` is the kernel's size.
    fn host_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pad: [usize; 2],
        kernel: [usize; 2],
    ) -> FloatTensor<Self>;
}

fn dims4(t: &impl TensorMetadata) -> [usize; 4] {
    t.shape().dims::<4>()
}

/// The geometry of input `[n, c, h, w]`, output channels `o`, kernel
/// `[kh, kw]`, padding `[ph, pw]`.
fn geometry(
    [n, c, h, w]: [usize; 4],
    o: usize,
    [kh, kw]: [usize; 2],
    [ph, pw]: [usize; 2],
) -> Geometry {
    Geometry {
        n,
        c,
        h,
        w,
        o,
        kh,
        kw,
        ph,
        pw,
    }
}

/// The CPU backends run the host loops.
macro_rules! host_backend {
    ($($backend:ty),*) => {$(
        impl HostConvBackend for $backend {
            fn host_conv2d(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                pad: [usize; 2],
            ) -> FloatTensor<Self> {
                let [o, c, kh, kw] = dims4(&weight);
                let xs = dims4(&x);
                assert_eq!(xs[1], c, "host_conv2d: input has {} channels, the weight {c}", xs[1]);
                let geo = geometry(xs, o, [kh, kw], pad);
                let out = <Self as HostView>::view_f32(&x, |x| {
                    <Self as HostView>::view_f32(&weight, |w| kernels::forward(x, w, &geo, COLS_BUDGET))
                });
                <Self as HostView>::from_f32(out, [geo.n, o, geo.oh(), geo.ow()], &x.device())
            }

            fn host_conv2d_input_grad(
                grad: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                pad: [usize; 2],
                [h, w]: [usize; 2],
            ) -> FloatTensor<Self> {
                let [o, c, kh, kw] = dims4(&weight);
                let [n, ..] = dims4(&grad);
                let geo = geometry([n, c, h, w], o, [kh, kw], pad);
                let out = <Self as HostView>::view_f32(&grad, |g| {
                    <Self as HostView>::view_f32(&weight, |wt| {
                        kernels::backward_input(g, wt, &geo, COLS_BUDGET)
                    })
                });
                <Self as HostView>::from_f32(out, [n, c, h, w], &grad.device())
            }

            fn host_conv2d_weight_grad(
                x: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                pad: [usize; 2],
                [kh, kw]: [usize; 2],
            ) -> FloatTensor<Self> {
                let xs = dims4(&x);
                let [_, o, ..] = dims4(&grad);
                let geo = geometry(xs, o, [kh, kw], pad);
                let out = <Self as HostView>::view_f32(&x, |xv| {
                    <Self as HostView>::view_f32(&grad, |g| {
                        kernels::backward_weight(xv, g, &geo, COLS_BUDGET)
                    })
                });
                <Self as HostView>::from_f32(out, [o, geo.c, kh, kw], &x.device())
            }
        }
    )*};
}

host_backend!(Flex, NdArray);

/// The backward node: the checkpointed input and weight, the padding.
#[derive(Debug)]
struct ConvBackward;

impl<B: HostConvBackend> Backward<B, 2> for ConvBackward {
    type State = (NodeId, NodeId, [usize; 2]);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state, pad) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        if let Some(node) = node_x {
            let [_, _, h, w] = dims4(&x);
            let dx = B::host_conv2d_input_grad(grad.clone(), weight.clone(), pad, [h, w]);
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_w {
            let [_, _, kh, kw] = dims4(&weight);
            grads.register::<B>(node.id, B::host_conv2d_weight_grad(x, grad, pad, [kh, kw]));
        }
    }
}

impl<B: HostConvBackend, C: CheckpointStrategy> HostConvBackend for Autodiff<B, C> {
    fn host_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: [usize; 2],
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let out = B::host_conv2d(x.into_primitive(), weight.into_primitive(), pad);
                prep.finish((x_state, w_state, pad), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::host_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                pad,
            )),
        }
    }

    fn host_conv2d_input_grad(
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: [usize; 2],
        size: [usize; 2],
    ) -> FloatTensor<Self> {
        // Not differentiated again (no second-order training here).
        Self::from_inner(B::host_conv2d_input_grad(
            grad.into_primitive(),
            weight.into_primitive(),
            pad,
            size,
        ))
    }

    fn host_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pad: [usize; 2],
        kernel: [usize; 2],
    ) -> FloatTensor<Self> {
        Self::from_inner(B::host_conv2d_weight_grad(
            x.into_primitive(),
            grad.into_primitive(),
            pad,
            kernel,
        ))
    }
}

/// Routing of a [`Conv2d`] to the host GEMM convolution.
pub trait HostConv {
    /// The zero padding `[rows, columns]` when this layer can run as the
    /// host GEMM convolution on `x`: f32 on a CPU backend, stride 1,
    /// dilation 1, one group, explicit padding the same above as below and
    /// left as right (or none).
    fn applies(&self, x: &Tensor<4>) -> Option<[usize; 2]>;

    /// `self.forward(x)`, as the host GEMM convolution where
    /// [`applies`](Self::applies) (bias added after), else Burn's.
    fn forward_host(&self, x: Tensor<4>) -> Tensor<4>;
}

impl HostConv for Conv2d {
    fn applies(&self, x: &Tensor<4>) -> Option<[usize; 2]> {
        let pad = match self.padding {
            PaddingConfig2d::Valid => [0, 0],
            PaddingConfig2d::Explicit(t, l, b, r) if t == b && l == r => [t, l],
            _ => return None,
        };
        let plain = self.stride == [1, 1] && self.dilation == [1, 1] && self.groups == 1;
        let f32s = x.dtype() == DType::F32 && self.weight.val().dtype() == DType::F32;
        (plain && f32s && is_host(&x.device())).then_some(pad)
    }

    fn forward_host(&self, x: Tensor<4>) -> Tensor<4> {
        let Some(pad) = self.applies(&x) else {
            return self.forward(x);
        };
        let y = Tensor::<4>::from_dispatch(<Dispatch as HostConvBackend>::host_conv2d(
            x.into_dispatch(),
            self.weight.val().into_dispatch(),
            pad,
        ));
        match &self.bias {
            Some(bias) => {
                let o = bias.dims()[0];
                y + bias.val().reshape([1, o, 1, 1])
            }
            None => y,
        }
    }
}
