//! Event-driven convolution kernels on host memory (stride 1, no dilation,
//! one group): the work is proportional to the number of non-zero inputs,
//! not to the size of the input.
//!
//! The input's non-zero values (spikes, pooled spikes, signed pixels) are
//! listed per position; each output row (one position, channels last) then
//! sums, 32 output channels at a time in registers, the weight rows
//! `v · W[:, c, ky, kx]` of the non-zero inputs in its receptive field, and
//! is transposed to `NCHW` at the end. The weight gradient sums, per weight
//! row, the output-gradient rows its non-zero inputs reach. Both are exact
//! convolutions; only the order of the
//! floating-point sums differs from a dense (im2col + GEMM) convolution.

use rayon::prelude::*;

/// Shapes of one convolution: input `[b, c, h, w]`, weight `[o, c, kh, kw]`,
/// zero padding `[ph, pw]`, stride 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input `[batch, channels, height, width]`.
    pub input: [usize; 4],
    /// Weight `[out channels, in channels, kernel h, kernel w]`.
    pub weight: [usize; 4],
    /// Zero padding `[h, w]`.
    pub padding: [usize; 2],
}

impl ConvShape {
    /// Output `[batch, out channels, out h, out w]`, or `None` where the
    /// kernel does not fit (padded input smaller than the kernel) or the
    /// channel counts differ.
    pub fn output(&self) -> Option<[usize; 4]> {
        let [b, c, h, w] = self.input;
        let [o, ci, kh, kw] = self.weight;
        let [ph, pw] = self.padding;
        if c != ci || kh == 0 || kw == 0 || h + 2 * ph < kh || w + 2 * pw < kw {
            return None;
        }
        Some([b, o, h + 2 * ph - kh + 1, w + 2 * pw - kw + 1])
    }

    fn out(&self) -> [usize; 4] {
        self.output().expect("conv shape checked by the caller")
    }
}

/// Output channels accumulated together in registers (4 AVX vectors).
const BLOCK: usize = 32;

/// The non-zero inputs of one sample, grouped by position: for position
/// `p = y * w + x`, `entries[start[p]..start[p + 1]]` are its `(channel, value)`.
struct ByPosition {
    start: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

impl ByPosition {
    /// From one sample's `[c, h * w]` input.
    fn new(x: &[f32], c: usize, positions: usize) -> Self {
        let mut start = vec![0usize; positions + 1];
        for plane in x.chunks_exact(positions).take(c) {
            for (p, &v) in plane.iter().enumerate() {
                start[p + 1] += usize::from(v != 0.0);
            }
        }
        for p in 0..positions {
            start[p + 1] += start[p];
        }
        let mut fill = start.clone();
        let mut entries = vec![(0u32, 0.0f32); start[positions]];
        for (ci, plane) in x.chunks_exact(positions).take(c).enumerate() {
            for (p, &v) in plane.iter().enumerate() {
                if v != 0.0 {
                    entries[fill[p]] = (ci as u32, v);
                    fill[p] += 1;
                }
            }
        }
        Self { start, entries }
    }

    fn at(&self, p: usize) -> &[(u32, f32)] {
        &self.entries[self.start[p]..self.start[p + 1]]
    }
}

/// `acc[k] += Σ v · row[k]` for `k < len ≤ BLOCK`, over the `(v, row)` of
/// `entries`: in four AVX registers with fused multiply-adds where the CPU
/// has AVX2 and FMA, as a plain loop elsewhere.
#[inline(always)]
fn accumulate<'a>(
    acc: &mut [f32; BLOCK],
    len: usize,
    entries: impl Iterator<Item = (f32, &'a [f32])>,
) {
    #[cfg(target_arch = "x86_64")]
    if len == BLOCK && avx::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { avx::block(acc, entries) };
        return;
    }
    for (v, row) in entries {
        for k in 0..len {
            acc[k] += v * row[k];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::{_mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_storeu_ps};

    use super::BLOCK;

    /// Whether the CPU has AVX2 and FMA (the answer is cached by std).
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// [`super::accumulate`] for a full block.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA ([`available`]).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block<'a>(
        acc: &mut [f32; BLOCK],
        entries: impl Iterator<Item = (f32, &'a [f32])>,
    ) {
        let p = acc.as_mut_ptr();
        // SAFETY: `acc` holds BLOCK = 32 floats: four unaligned 8-wide
        // loads and stores at offsets 0, 8, 16, 24 stay inside it.
        unsafe {
            let (mut a0, mut a1, mut a2, mut a3) = (
                _mm256_loadu_ps(p),
                _mm256_loadu_ps(p.add(8)),
                _mm256_loadu_ps(p.add(16)),
                _mm256_loadu_ps(p.add(24)),
            );
            for (v, row) in entries {
                let row: &[f32; BLOCK] = row[..BLOCK].try_into().expect("a full block");
                let (r, v) = (row.as_ptr(), _mm256_set1_ps(v));
                a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r), a0);
                a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r.add(8)), a1);
                a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r.add(16)), a2);
                a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(r.add(24)), a3);
            }
            _mm256_storeu_ps(p, a0);
            _mm256_storeu_ps(p.add(8), a1);
            _mm256_storeu_ps(p.add(16), a2);
            _mm256_storeu_ps(p.add(24), a3);
        }
    }
}

/// One sample's output, channels-last `[oh * ow, o]`, from its input
/// `[c, h, w]` and the channels-last weight `[c, kh * kw, o]`: each output
/// row sums, in registers, the weight rows of the non-zero inputs it sees.
fn gather_sample(out: &mut [f32], x: &[f32], wt: &[f32], s: ConvShape) {
    let [_, c, h, w] = s.input;
    let [o, _, kh, kw] = s.weight;
    let [_, _, oh, ow] = s.out();
    let [ph, pw] = s.padding;
    let taps = kh * kw;
    let by_pos = ByPosition::new(x, c, h * w);
    // Block of output channels outermost: its weight rows `[c, taps, BLOCK]`
    // stay in cache while every output position gathers from them.
    for b0 in (0..o).step_by(BLOCK) {
        let len = BLOCK.min(o - b0);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = [0.0f32; BLOCK];
                for ky in 0..kh {
                    let Some(y) = (oy + ky).checked_sub(ph).filter(|&y| y < h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        let Some(xx) = (ox + kx).checked_sub(pw).filter(|&xx| xx < w) else {
                            continue;
                        };
                        let tap = ky * kw + kx;
                        let entries = by_pos.at(y * w + xx).iter().map(|&(ci, v)| {
                            let at = (ci as usize * taps + tap) * o + b0;
                            (v, &wt[at..at + len])
                        });
                        accumulate(&mut acc, len, entries);
                    }
                }
                let at = (oy * ow + ox) * o + b0;
                out[at..at + len].copy_from_slice(&acc[..len]);
            }
        }
    }
}

/// One sample's weight-gradient contribution into the channels-last
/// accumulator `[c, kh * kw, o]`, from its input `[c, h, w]` and its output
/// gradient, channels-last `[oh * ow, o]`: each weight row sums, in
/// registers, the gradient rows its non-zero inputs reach.
fn gather_weight_grad(acc_all: &mut [f32], x: &[f32], g: &[f32], s: ConvShape) {
    let [_, c, h, w] = s.input;
    let [o, _, kh, kw] = s.weight;
    let [_, _, oh, ow] = s.out();
    let [ph, pw] = s.padding;
    let taps = kh * kw;
    let mut active: Vec<(usize, usize, f32)> = Vec::new();
    for ci in 0..c {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        active.clear();
        active.extend(
            plane
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(|(i, &v)| (i / w, i % w, v)),
        );
        if active.is_empty() {
            continue;
        }
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = ky * kw + kx;
                let dst = &mut acc_all[(ci * taps + tap) * o..(ci * taps + tap + 1) * o];
                for b0 in (0..o).step_by(BLOCK) {
                    let len = BLOCK.min(o - b0);
                    let mut acc = [0.0f32; BLOCK];
                    let entries = active.iter().filter_map(|&(y, xx, v)| {
                        let oy = (y + ph).checked_sub(ky).filter(|&oy| oy < oh)?;
                        let ox = (xx + pw).checked_sub(kx).filter(|&ox| ox < ow)?;
                        let at = (oy * ow + ox) * o + b0;
                        Some((v, &g[at..at + len]))
                    });
                    accumulate(&mut acc, len, entries);
                    for (d, a) in dst[b0..b0 + len].iter_mut().zip(&acc) {
                        *d += a;
                    }
                }
            }
        }
    }
}

/// `[rows, cols]` → `[cols, rows]` (row-major both).
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    transpose::transpose(src, dst, cols, rows);
}

/// The weight `[o, c, kh, kw]` channels-last: `[c, kh * kw, o]`.
fn weight_channels_last(weight: &[f32], s: ConvShape) -> Vec<f32> {
    let [o, c, kh, kw] = s.weight;
    let mut wt = vec![0.0; weight.len()];
    transpose(weight, o, c * kh * kw, &mut wt);
    wt
}

/// Number of non-zero values.
pub fn nonzeros(x: &[f32]) -> usize {
    x.iter().filter(|&&v| v != 0.0).count()
}

/// The convolution `y = W * x` (stride 1, zero padding), `NCHW` in and out,
/// computed from the non-zero inputs only.
///
/// # Panics
/// If the slices do not match `s` or the shape is not a valid convolution.
pub fn conv_forward(x: &[f32], weight: &[f32], s: ConvShape) -> Vec<f32> {
    let [b, o, oh, ow] = s.out();
    let [_, c, h, w] = s.input;
    assert_eq!(x.len(), b * c * h * w, "input length");
    assert_eq!(
        weight.len(),
        s.weight.iter().product::<usize>(),
        "weight length"
    );
    let wt = weight_channels_last(weight, s);
    let per_out = o * oh * ow;
    let mut out = vec![0.0f32; b * per_out];
    if per_out == 0 {
        return out;
    }
    out.par_chunks_mut(per_out)
        .zip(x.par_chunks(c * h * w))
        .for_each_init(
            || vec![0.0f32; per_out],
            |buf, (dst, xb)| {
                gather_sample(buf, xb, &wt, s);
                transpose(buf, oh * ow, o, dst);
            },
        );
    out
}

/// The weight gradient `dL/dW` (`[o, c, kh, kw]`) of [`conv_forward`] for the
/// output gradient `grad` (`NCHW`, the output's shape), from the non-zero
/// inputs only.
///
/// # Panics
/// If the slices do not match `s`.
pub fn conv_weight_grad(x: &[f32], grad: &[f32], s: ConvShape) -> Vec<f32> {
    let [b, o, oh, ow] = s.out();
    let [_, c, h, w] = s.input;
    let [_, _, kh, kw] = s.weight;
    assert_eq!(x.len(), b * c * h * w, "input length");
    assert_eq!(grad.len(), b * o * oh * ow, "output gradient length");
    let size = c * kh * kw * o;
    let per_in = c * h * w;
    let per_out = o * oh * ow;
    // One accumulator per worker, summed at the end.
    let workers = rayon::current_num_threads().max(1);
    let per_worker = b.div_ceil(workers).max(1);
    let acc = (0..b.div_ceil(per_worker))
        .into_par_iter()
        .map(|k| {
            let mut acc = vec![0.0f32; size];
            let mut g = vec![0.0f32; per_out];
            for bi in k * per_worker..((k + 1) * per_worker).min(b) {
                let xb = &x[bi * per_in..(bi + 1) * per_in];
                if xb.iter().all(|&v| v == 0.0) {
                    continue;
                }
                transpose(&grad[bi * per_out..(bi + 1) * per_out], o, oh * ow, &mut g);
                gather_weight_grad(&mut acc, xb, &g, s);
            }
            acc
        })
        .reduce(
            || vec![0.0f32; size],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        );
    let mut out = vec![0.0f32; size];
    transpose(&acc, c * kh * kw, o, &mut out);
    out
}

#[cfg(test)]
mod tests;
