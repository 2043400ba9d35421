//! The fused LIF on the Cube backends (wgpu, CUDA, ... through CubeCL): one
//! kernel launch per chunk for the forward, one for the backward, a thread
//! per neuron running the recurrence over the chunk's timesteps in
//! registers. Same f32 operations, in the same order, as the host scan.

use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use cubecl::{CubeCount, CubeDim, calculate_cube_count_elemwise};

use super::FusedLifBackend;
use crate::Surrogate;

/// The surrogate as the kernels take it: a kind code and its parameter.
fn surrogate_code(surrogate: Surrogate) -> (u32, f32) {
    match surrogate {
        Surrogate::Triangle { scale } => (0, scale as f32),
        Surrogate::Atan { alpha } => (1, alpha as f32),
        Surrogate::FastSigmoid { slope } => (2, slope as f32),
    }
}

/// `σ'(z)` of [`Surrogate::derivative`] for the kind code of [`surrogate_code`].
#[cube]
fn surrogate_derivative(z: f32, kind: u32, p: f32) -> f32 {
    let w = 1.570_796_4f32 * p * z;
    let q = 1.0f32 + p * f32::abs(z);
    let triangle = p * f32::max(1.0f32 - f32::abs(z), 0.0f32);
    let atan = p / 2.0f32 / (1.0f32 + w * w);
    let fast_sigmoid = 1.0f32 / (q * q);
    select(
        kind == 0u32,
        triangle,
        select(kind == 1u32, atan, fast_sigmoid),
    )
}

/// Forward: `out` rows `0..T` get the spikes, row `T` the final membrane;
/// with `train`, `slopes` (`[T, M]`) gets `σ'(u_t/θ - 1)/θ`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn lif_forward_kernel(
    input: &Tensor<f32>,
    membrane: &Tensor<f32>,
    out: &mut Tensor<f32>,
    slopes: &mut Tensor<f32>,
    steps: u32,
    threshold: f32,
    leak: f32,
    kind: u32,
    param: f32,
    #[comptime] train: bool,
) {
    let i = ABSOLUTE_POS;
    if i >= membrane.shape(1) {
        terminate!();
    }
    let (in_row, in_col) = (input.stride(0), input.stride(1));
    let (out_row, out_col) = (out.stride(0), out.stride(1));
    let (sl_row, sl_col) = (slopes.stride(0), slopes.stride(1));
    let mut m = membrane[i * membrane.stride(1)];
    for t in 0..steps {
        let t = t as usize;
        let u = m * leak + input[t * in_row + i * in_col];
        let z = u / threshold - 1.0f32;
        let s = select(z > 0.0f32, 1.0f32, 0.0f32);
        out[t * out_row + i * out_col] = s;
        m = u - s * threshold;
        if train {
            slopes[t * sl_row + i * sl_col] = surrogate_derivative(z, kind, param) / threshold;
        }
    }
    out[(steps as usize) * out_row + i * out_col] = m;
}

/// Backward, the reverse scan of the module docs: `grad` is `[T + 1, M]`
/// (spike gradients, then the final membrane's); `out` gets `∂L/∂I` in
/// rows `0..T` and `∂L/∂m_0` in row `T`.
#[cube(launch)]
fn lif_backward_kernel(
    grad: &Tensor<f32>,
    slopes: &Tensor<f32>,
    out: &mut Tensor<f32>,
    steps: u32,
    leak: f32,
) {
    let i = ABSOLUTE_POS;
    if i >= slopes.shape(1) {
        terminate!();
    }
    let (g_row, g_col) = (grad.stride(0), grad.stride(1));
    let (sl_row, sl_col) = (slopes.stride(0), slopes.stride(1));
    let (out_row, out_col) = (out.stride(0), out.stride(1));
    let last = steps as usize;
    let mut acc = grad[last * g_row + i * g_col];
    for r in 0..steps {
        let t = (steps - 1 - r) as usize;
        let a = acc + grad[t * g_row + i * g_col] * slopes[t * sl_row + i * sl_col];
        out[t * out_row + i * out_col] = a;
        acc = a * leak;
    }
    out[last * out_row + i * out_col] = acc;
}

fn dims2(t: &CubeTensor) -> [usize; 2] {
    let d = t.meta.shape();
    assert_eq!(d.len(), 2, "fused LIF: expected a [T, M] tensor, got {d:?}");
    [d[0], d[1]]
}

fn f32_only(t: &CubeTensor) {
    assert_eq!(
        t.dtype,
        DType::F32,
        "fused LIF on a Cube backend: f32 tensors only"
    );
}

fn empty(like: &CubeTensor, rows: usize, width: usize) -> CubeTensor {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        Shape::new([rows, width]),
        DType::F32,
    )
}

/// A launch grid of one thread per neuron.
fn grid(t: &CubeTensor, width: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(&t.client, width);
    (calculate_cube_count_elemwise(&t.client, width, dim), dim)
}

fn forward(
    input: CubeTensor,
    membrane: CubeTensor,
    threshold: f32,
    leak: f32,
    surrogate: Option<Surrogate>,
) -> (CubeTensor, CubeTensor) {
    f32_only(&input);
    f32_only(&membrane);
    let (input, membrane) = (into_contiguous(input), into_contiguous(membrane));
    let [steps, width] = dims2(&input);
    let out = empty(&input, steps + 1, width);
    // Without slopes the kernel never writes them: a one-element stand-in.
    let slopes = match surrogate {
        Some(_) => empty(&input, steps, width),
        None => empty(&input, 1, 1),
    };
    let (kind, param) = surrogate.map(surrogate_code).unwrap_or((0, 0.0));
    if width > 0 {
        let (count, dim) = grid(&input, width);
        lif_forward_kernel::launch(
            &input.client.clone(),
            count,
            dim,
            input.into_tensor_arg(),
            membrane.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            slopes.clone().into_tensor_arg(),
            steps as u32,
            threshold,
            leak,
            kind,
            param,
            surrogate.is_some(),
        );
    }
    (out, slopes)
}

impl FusedLifBackend for CubeBackend {
    fn lif_soft_reset_spikes(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        _: Surrogate,
    ) -> FloatTensor<Self> {
        forward(input, membrane, threshold, leak, None).0
    }

    fn lif_soft_reset_train(
        input: FloatTensor<Self>,
        membrane: FloatTensor<Self>,
        threshold: f32,
        leak: f32,
        surrogate: Surrogate,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        forward(input, membrane, threshold, leak, Some(surrogate))
    }

    fn lif_soft_reset_backward(
        grad: FloatTensor<Self>,
        slopes: FloatTensor<Self>,
        leak: f32,
    ) -> FloatTensor<Self> {
        f32_only(&grad);
        let (grad, slopes) = (into_contiguous(grad), into_contiguous(slopes));
        let [steps, width] = dims2(&slopes);
        let out = empty(&slopes, steps + 1, width);
        if width > 0 {
            let (count, dim) = grid(&slopes, width);
            lif_backward_kernel::launch(
                &slopes.client.clone(),
                count,
                dim,
                grad.into_tensor_arg(),
                slopes.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                steps as u32,
                leak,
            );
        }
        out
    }
}
