//! Event-driven convolution kernels on host memory (stride 1, no dilation,
//! one group): the work is proportional to the number of non-zero inputs,
//! not to the size of the input.
//!
//! The input's non-zero values (spikes, pooled spikes, signed pixels) are
//! listed per position; each output row (one position, channels last) then
//! sums, 64 output channels at a time in registers, the weight rows
//! `v · W[:, c, ky, kx]` of the non-zero inputs in its receptive field, and
//! is transposed to `NCHW` at the end. Below 32 output channels, where a
//! row is one or two vectors and the per-row work is overhead, each
//! non-zero input instead scatters its weight rows into the output rows it
//! reaches. The weight gradient sums, per weight
//! row, the output-gradient rows its non-zero inputs reach. Both are exact
//! convolutions; only the order of the
//! floating-point sums differs from a dense (im2col + GEMM) convolution.

use rayon::prelude::*;

use super::gather::{BLOCK, axpy_rows, gather};

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
    /// kernel does not fit (padded input smaller than the kernel), the
    /// channel counts differ, or a weight or output sample has 2^32 values
    /// or more (the kernels index rows with u32).
    pub fn output(&self) -> Option<[usize; 4]> {
        let [b, c, h, w] = self.input;
        let [o, ci, kh, kw] = self.weight;
        let [ph, pw] = self.padding;
        if c != ci || kh == 0 || kw == 0 || h + 2 * ph < kh || w + 2 * pw < kw {
            return None;
        }
        let (oh, ow) = (h + 2 * ph - kh + 1, w + 2 * pw - kw + 1);
        // Row offsets into the weight and the output gradient are u32.
        let fits = |n: usize| u32::try_from(n).is_ok();
        (fits(c * kh * kw * o) && fits(oh * ow * o)).then_some([b, o, oh, ow])
    }

    fn out(&self) -> [usize; 4] {
        self.output().expect("conv shape checked by the caller")
    }
}

/// The non-zero inputs of one sample, grouped by position: for position
/// `p = y * w + x`, entries `start[p]..start[p + 1]` are its channels, as
/// offsets `c · taps · o` of their weight rows, and their values.
struct ByPosition {
    start: Vec<usize>,
    offsets: Vec<u32>,
    values: Vec<f32>,
}

impl ByPosition {
    /// From one sample's `[c, h * w]` input; `stride` = `taps · o`.
    fn new(x: &[f32], c: usize, positions: usize, stride: usize) -> Self {
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
        let mut offsets = vec![0u32; start[positions]];
        let mut values = vec![0f32; start[positions]];
        for (ci, plane) in x.chunks_exact(positions).take(c).enumerate() {
            for (p, &v) in plane.iter().enumerate() {
                if v != 0.0 {
                    offsets[fill[p]] = (ci * stride) as u32;
                    values[fill[p]] = v;
                    fill[p] += 1;
                }
            }
        }
        Self {
            start,
            offsets,
            values,
        }
    }

    fn at(&self, p: usize) -> (&[u32], &[f32]) {
        let r = self.start[p]..self.start[p + 1];
        (&self.offsets[r.clone()], &self.values[r])
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
    let by_pos = ByPosition::new(x, c, h * w, kh * kw * o);
    // The weight rows one output position sums (all taps, one list: one
    // vector loop per position and block, whatever the channel count).
    let (mut offsets, mut values) = (Vec::new(), Vec::new());
    for oy in 0..oh {
        for ox in 0..ow {
            offsets.clear();
            values.clear();
            for ky in 0..kh {
                let Some(y) = (oy + ky).checked_sub(ph).filter(|&y| y < h) else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(xx) = (ox + kx).checked_sub(pw).filter(|&xx| xx < w) else {
                        continue;
                    };
                    let (offs, vals) = by_pos.at(y * w + xx);
                    let tap = ((ky * kw + kx) * o) as u32;
                    offsets.extend(offs.iter().map(|&q| q + tap));
                    values.extend_from_slice(vals);
                }
            }
            let at = (oy * ow + ox) * o;
            for b0 in (0..o).step_by(BLOCK) {
                let acc = &mut out[at + b0..at + b0 + BLOCK.min(o - b0)];
                acc.fill(0.0);
                gather(acc, wt, &offsets, &values, b0);
            }
        }
    }
}

/// Below this many output channels the forward scatters (one short row
/// update per non-zero input and tap) instead of gathering per output row.
const SCATTER_BELOW: usize = 32;

/// [`gather_sample`] in the scatter form: each non-zero input adds its
/// weight rows to the output rows it reaches.
fn scatter_sample(
    out: &mut [f32],
    x: &[f32],
    wt: &[f32],
    s: ConvShape,
    updates: &mut Vec<(u32, u32, f32)>,
) {
    let [_, c, h, w] = s.input;
    let [o, _, kh, kw] = s.weight;
    let [_, _, oh, ow] = s.out();
    let [ph, pw] = s.padding;
    let taps = kh * kw;
    out.fill(0.0);
    updates.clear();
    for (ci, plane) in x.chunks_exact(h * w).take(c).enumerate() {
        for (i, &v) in plane.iter().enumerate() {
            if v == 0.0 {
                continue;
            }
            let (y, xx) = (i / w, i % w);
            for ky in 0..kh {
                let Some(oy) = (y + ph).checked_sub(ky).filter(|&oy| oy < oh) else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(ox) = (xx + pw).checked_sub(kx).filter(|&ox| ox < ow) else {
                        continue;
                    };
                    let row = ((ci * taps + ky * kw + kx) * o) as u32;
                    updates.push((((oy * ow + ox) * o) as u32, row, v));
                }
            }
        }
    }
    axpy_rows(out, wt, o, updates);
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
    let (mut offsets, mut values) = (Vec::new(), Vec::new());
    let mut active: Vec<(usize, usize, f32)> = Vec::new();
    for ci in 0..c {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        active.clear();
        for (y, row) in plane.chunks_exact(w).enumerate() {
            for (xx, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    active.push((y, xx, v));
                }
            }
        }
        if active.is_empty() {
            continue;
        }
        for ky in 0..kh {
            for kx in 0..kw {
                // The gradient rows this tap's non-zero inputs reach.
                offsets.clear();
                values.clear();
                for &(y, xx, v) in &active {
                    let oy = (y + ph).checked_sub(ky).filter(|&oy| oy < oh);
                    let ox = (xx + pw).checked_sub(kx).filter(|&ox| ox < ow);
                    if let (Some(oy), Some(ox)) = (oy, ox) {
                        offsets.push(((oy * ow + ox) * o) as u32);
                        values.push(v);
                    }
                }
                let row = (ci * taps + ky * kw + kx) * o;
                for b0 in (0..o).step_by(BLOCK) {
                    let len = BLOCK.min(o - b0);
                    gather(
                        &mut acc_all[row + b0..row + b0 + len],
                        g,
                        &offsets,
                        &values,
                        b0,
                    );
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
            || (vec![0.0f32; per_out], Vec::new()),
            |(buf, updates), (dst, xb)| {
                if o < SCATTER_BELOW {
                    scatter_sample(buf, xb, &wt, s, updates);
                } else {
                    gather_sample(buf, xb, &wt, s);
                }
                transpose(buf, oh * ow, o, dst);
            },
        );
    out
}

/// The input gradient `dL/dx` (`NCHW`, the input's shape) of
/// [`conv_forward`] for the output gradient `grad`, from its non-zero
/// values only: the convolution of `grad` with the weight transposed
/// (`o` ↔ `c`) and flipped, padded by `k - 1 - p`. `None` where the padding
/// exceeds `k - 1` (that transposed convolution would need a crop).
pub fn conv_input_grad(grad: &[f32], weight: &[f32], s: ConvShape) -> Option<Vec<f32>> {
    let [b, o, oh, ow] = s.out();
    let [_, c, kh, kw] = s.weight;
    let [ph, pw] = s.padding;
    let (qh, qw) = ((kh - 1).checked_sub(ph)?, (kw - 1).checked_sub(pw)?);
    let mut flipped = vec![0.0f32; weight.len()];
    for oc in 0..o {
        for ci in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    let from = ((oc * c + ci) * kh + ky) * kw + kx;
                    let to = ((ci * o + oc) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx);
                    flipped[to] = weight[from];
                }
            }
        }
    }
    let t = ConvShape {
        input: [b, o, oh, ow],
        weight: [c, o, kh, kw],
        padding: [qh, qw],
    };
    debug_assert_eq!(t.output(), Some(s.input));
    t.output().map(|_| conv_forward(grad, &flipped, t))
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
    // One accumulator per worker (at most 16, each the whole weight's size:
    // memory on many-core machines), summed at the end.
    let workers = rayon::current_num_threads().clamp(1, 16);
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
