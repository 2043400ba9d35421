//! Counter-based uniform numbers: a hash of (seed, draw, element index),
//! computed either on the host or on the device with integer tensor
//! operations, with the same numbers either way.
//!
//! The number for element `i` of draw `c` is
//! `h(h(i ^ a_c) ^ b_c) >> 8` scaled to `[0, 1)` (24 bits), where `h` is
//! Chris Wellons' `lowbias32` integer hash and `a_c`, `b_c` are 32-bit
//! keys derived on the host from the seed and the draw counter by
//! SplitMix64. On the device the 32-bit arithmetic runs on the backend's
//! integer type: `i32` (wgpu) wraps by itself; on `i64` (flex, ndarray)
//! every value is kept as the sign extension of its 32-bit pattern, a
//! product of two such values is exact in 64 bits, and a shift left then
//! right by 32 wraps it back — no operation overflows on any backend.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use rayon::prelude::*;

/// `lowbias32`'s multipliers, as the `i32` bit patterns the device uses.
const MUL_A: u32 = 0x7feb_352d;
const MUL_B: u32 = 0x846c_a68b;

/// `2^-24`: a 24-bit integer to `[0, 1)`, exactly in f32.
const SCALE: f32 = 1.0 / 16_777_216.0;

/// Chris Wellons' `lowbias32` integer hash (a bijection of `u32`).
pub(crate) fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(MUL_A);
    x ^= x >> 15;
    x = x.wrapping_mul(MUL_B);
    x ^ (x >> 16)
}

/// SplitMix64's output function.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The two keys of draw `draw` of stream `seed`.
pub(crate) fn keys(seed: u64, draw: u64) -> (u32, u32) {
    let k = splitmix64(seed ^ splitmix64(draw));
    (k as u32, (k >> 32) as u32)
}

/// The uniform number of element `i` under keys `(a, b)`.
pub(crate) fn uniform(i: u32, (a, b): (u32, u32)) -> f32 {
    (lowbias32(lowbias32(i ^ a) ^ b) >> 8) as f32 * SCALE
}

/// Draws `first..first + rows` of `n` numbers each, on the host: `[rows, n]`
/// row-major.
pub(crate) fn host_uniform(seed: u64, first: u64, rows: usize, n: usize) -> Vec<f32> {
    index_bound(n);
    let keys: Vec<(u32, u32)> = (0..rows as u64).map(|r| keys(seed, first + r)).collect();
    let mut out = vec![0f32; rows * n];
    // Blocks of elements in parallel; each number depends only on its index.
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, block)| {
            for (j, u) in block.iter_mut().enumerate() {
                let at = b * BLOCK + j;
                *u = uniform((at % n) as u32, keys[at / n]);
            }
        });
    out
}

/// `n` uniform numbers in `[0, 1)` (24 bits each), draw `draw` of stream
/// `seed`, made on the host in parallel: element `i` is the same number
/// [`PoissonEncoder::counter`](crate::PoissonEncoder::counter) gives it
/// on every backend. For masks and noise that must be cheap to make on a
/// CPU (dropout: Burn's host generator draws one ChaCha number at a time).
///
/// # Panics
/// If `n` does not fit in 31 bits.
pub fn counter_uniform(seed: u64, draw: u64, n: usize) -> Vec<f32> {
    host_uniform(seed, draw, 1, n)
}

/// Numbers per parallel block of [`host_uniform`].
const BLOCK: usize = 1 << 16;

/// `n` as the element-index bound; indices must fit in 31 bits (the
/// device's `arange` stays non-negative in `i32`).
fn index_bound(n: usize) -> u32 {
    assert!(
        n <= i32::MAX as usize,
        "counter-based generator: {n} elements per draw exceed 2^31 - 1"
    );
    n as u32
}

/// The device's integer arithmetic in 32-bit wrapping semantics.
#[derive(Clone, Copy)]
struct Arith {
    /// `i64` integers holding sign-extended 32-bit patterns.
    wide: bool,
}

impl Arith {
    fn of(dtype: DType) -> Self {
        match dtype {
            DType::I64 => Self { wide: true },
            DType::I32 => Self { wide: false },
            other => panic!(
                "counter-based generator: the device's integers are {other:?}; \
                 it needs i32 or i64"
            ),
        }
    }

    /// Back to the sign extension of the low 32 bits.
    fn wrap(self, x: Tensor<2, Int>) -> Tensor<2, Int> {
        if self.wide {
            x.bitwise_left_shift_scalar(32)
                .bitwise_right_shift_scalar(32)
        } else {
            x
        }
    }

    /// The logical right shift of the 32-bit pattern.
    fn shr(self, x: Tensor<2, Int>, s: u32) -> Tensor<2, Int> {
        x.bitwise_right_shift_scalar(s as i64)
            .bitwise_and_scalar((1i64 << (32 - s)) - 1)
    }

    fn mul(self, x: Tensor<2, Int>, k: u32) -> Tensor<2, Int> {
        self.wrap(x.mul_scalar(k as i32 as i64))
    }

    /// [`lowbias32`] on the device.
    fn lowbias32(self, x: Tensor<2, Int>) -> Tensor<2, Int> {
        let x = x.clone().bitwise_xor(self.shr(x, 16));
        let x = self.mul(x, MUL_A);
        let x = x.clone().bitwise_xor(self.shr(x, 15));
        let x = self.mul(x, MUL_B);
        x.clone().bitwise_xor(self.shr(x, 16))
    }
}

/// [`host_uniform`] computed on `device` with integer tensor operations:
/// the same `[rows, n]` numbers, bit for bit.
pub(crate) fn device_uniform(
    seed: u64,
    first: u64,
    rows: usize,
    n: usize,
    device: &Device,
) -> Tensor<2> {
    let n32 = index_bound(n);
    let key_column = |pick: fn((u32, u32)) -> u32| {
        let values: Vec<i64> = (0..rows as u64)
            .map(|r| pick(keys(seed, first + r)) as i32 as i64)
            .collect();
        Tensor::<2, Int>::from_data(TensorData::new(values, [rows, 1]), device).expand([rows, n])
    };
    let (a, b) = (key_column(|k| k.0), key_column(|k| k.1));
    let index = Tensor::<1, Int>::arange(0..n32 as i64, device)
        .reshape([1, n])
        .expand([rows, n]);
    let arith = Arith::of(index.dtype());
    let x = arith.lowbias32(index.bitwise_xor(a));
    let x = arith.lowbias32(x.bitwise_xor(b));
    arith.shr(x, 8).float().mul_scalar(SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lowbias32` against values from an independent (Python) evaluation.
    #[test]
    fn lowbias32_known_values() {
        for (x, want) in [
            (0u32, 0u32),
            (1, 0x6889_90c0),
            (2, 0xd113_2181),
            (0xdead_beef, 0xe628_c683),
            (0xffff_ffff, 0x6768_824a),
        ] {
            assert_eq!(lowbias32(x), want, "lowbias32({x:#x})");
        }
    }

    /// The device's integer form equals the host's bit for bit on every
    /// backend (i64 on flex and ndarray, i32 on wgpu), keys of both signs
    /// included, and its numbers are uniform on `[0, 1)`.
    #[test]
    #[allow(deprecated)] // Device::ndarray
    fn device_numbers_equal_the_host_numbers_on_every_backend() {
        // 5 draws of 30,001: several parallel blocks of the host form.
        let (rows, n) = (5, 30_001);
        let host = host_uniform(42, 17, rows, n);
        let signs: Vec<bool> = (17..17 + rows as u64)
            .map(|c| (keys(42, c).0 as i32) < 0)
            .collect();
        assert!(signs.contains(&true) && signs.contains(&false), "{signs:?}");
        let mean = host.iter().map(|&u| u as f64).sum::<f64>() / host.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert!(host.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mut dtypes = Vec::new();
        for device in [
            Device::flex(),
            Device::ndarray(),
            Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        ] {
            let got = device_uniform(42, 17, rows, n, &device)
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .expect("f32");
            let bits = |v: &[f32]| v.iter().map(|u| u.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&host), "{device:?}");
            dtypes.push(Tensor::<1, Int>::arange(0..1, &device).dtype());
        }
        // Both integer widths were exercised.
        assert!(
            dtypes.contains(&DType::I32) && dtypes.contains(&DType::I64),
            "{dtypes:?}"
        );
    }

    /// Draws and seeds give different streams; the same ones repeat.
    #[test]
    fn streams_differ_by_draw_and_seed() {
        let a = host_uniform(1, 0, 1, 64);
        assert_eq!(a, host_uniform(1, 0, 1, 64));
        assert_ne!(a, host_uniform(1, 1, 1, 64));
        assert_ne!(a, host_uniform(2, 0, 1, 64));
        // Row r of a multi-row draw is draw first + r.
        let two = host_uniform(1, 0, 2, 64);
        assert_eq!(&two[64..], &host_uniform(1, 1, 1, 64)[..]);
    }
}
