//! The host loops of the GEMM convolution: im2col, col2im and the three
//! GEMMs (by the `gemm` crate), for `[N, C, H, W]` f32 values, stride 1,
//! dilation 1, one group, zero padding `ph` rows above and below and `pw`
//! columns left and right.
//!
//! Every GEMM spans the whole batch (columns `(n, y, x)` of all images side
//! by side), so the deep layers' 2x2 and 4x4 maps still give GEMMs of
//! useful width, and the weight gradient is one `[O, P] x [P, K]` product,
//! where the generic path runs one skinny GEMM per input channel. When the
//! column matrix would exceed [`COLS_BUDGET`] floats the batch is taken a
//! group of images at a time.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// The most floats a column matrix may hold (64 MiB of f32) before the
/// batch is split into groups of images.
pub const COLS_BUDGET: usize = 1 << 24;

/// The geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub o: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Zero rows above and below.
    pub ph: usize,
    /// Zero columns left and right.
    pub pw: usize,
}

impl Geometry {
    /// Output height.
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.ph + 1).saturating_sub(self.kh)
    }
    /// Output width.
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pw + 1).saturating_sub(self.kw)
    }
    /// Rows of the column matrix: `C * kh * kw`.
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Images per group so that a column matrix stays within `budget` floats.
    fn group(&self, budget: usize) -> usize {
        let per_image = (self.k() * self.oh() * self.ow()).max(1);
        (budget / per_image).clamp(1, self.n.max(1))
    }
}

fn par(work: usize) -> Parallelism {
    if work >= 1 << 18 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// `dst[m, n] (+)= lhs[m, k] * rhs[k, n]`, each operand given with its
/// `[row, column]` strides.
fn matmul(
    [m, n, k]: [usize; 3],
    dst: &mut [f32],
    accumulate: bool,
    (lhs, [lhs_rs, lhs_cs]): (&[f32], [usize; 2]),
    (rhs, [rhs_rs, rhs_cs]): (&[f32], [usize; 2]),
) {
    assert!(dst.len() >= m * n, "gemm destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k > 0 {
        let last =
            |rs: usize, cs: usize, rows: usize, cols: usize| (rows - 1) * rs + (cols - 1) * cs;
        assert!(lhs.len() > last(lhs_rs, lhs_cs, m, k), "gemm lhs too small");
        assert!(rhs.len() > last(rhs_rs, rhs_cs, k, n), "gemm rhs too small");
    }
    // SAFETY: the asserts above keep every index the GEMM reads or writes
    // inside the three slices; `dst` is exclusively borrowed.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par(m * n * k),
        );
    }
}

/// The column matrix `[C * kh * kw, g * oh * ow]` of images `n0..n0 + g`:
/// row `(c, ky, kx)`, column `(image, y, x)` holds
/// `x[image, c, y + ky - ph, x + kx - pw]` (0 outside).
fn im2col(x: &[f32], geo: &Geometry, n0: usize, g: usize, cols: &mut [f32]) {
    let (oh, ow) = (geo.oh(), geo.ow());
    let (py, p) = (geo.ph as isize, geo.pw as isize);
    let plane = geo.h * geo.w;
    let width = g * oh * ow;
    cols[..geo.k() * width]
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(row, out)| {
            let c = row / (geo.kh * geo.kw);
            let ky = (row / geo.kw) % geo.kh;
            let kx = row % geo.kw;
            for i in 0..g {
                let src = &x[((n0 + i) * geo.c + c) * plane..][..plane];
                for y in 0..oh {
                    let dst = &mut out[(i * oh + y) * ow..][..ow];
                    let iy = y as isize + ky as isize - py;
                    if iy < 0 || iy >= geo.h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let srow = &src[iy as usize * geo.w..][..geo.w];
                    // Output columns whose input column `x + kx - pad` is inside.
                    let lo = (p - kx as isize).clamp(0, ow as isize) as usize;
                    let hi =
                        (geo.w as isize + p - kx as isize).clamp(lo as isize, ow as isize) as usize;
                    dst[..lo].fill(0.0);
                    let s0 = (lo as isize + kx as isize - p) as usize;
                    dst[lo..hi].copy_from_slice(&srow[s0..s0 + (hi - lo)]);
                    dst[hi..].fill(0.0);
                }
            }
        });
}

/// Adds the column gradient `[C * kh * kw, g * oh * ow]` of images
/// `n0..n0 + g` into their input gradient planes (the transpose of
/// [`im2col`]).
fn col2im(dcols: &[f32], geo: &Geometry, n0: usize, g: usize, dx: &mut [f32]) {
    let (oh, ow) = (geo.oh(), geo.ow());
    let (py, p) = (geo.ph as isize, geo.pw as isize);
    let plane = geo.h * geo.w;
    let width = g * oh * ow;
    let taps = geo.kh * geo.kw;
    // One task per input channel: its planes (in every image) are written
    // by its own `kh * kw` rows only.
    let images = &mut dx[n0 * geo.c * plane..(n0 + g) * geo.c * plane];
    let mut per_channel: Vec<Vec<&mut [f32]>> = (0..geo.c).map(|_| Vec::with_capacity(g)).collect();
    for (j, chunk) in images.chunks_mut(plane).enumerate() {
        per_channel[j % geo.c].push(chunk);
    }
    per_channel
        .into_par_iter()
        .enumerate()
        .for_each(|(c, mut planes)| {
            for tap in 0..taps {
                let (ky, kx) = (tap / geo.kw, tap % geo.kw);
                let row = &dcols[(c * taps + tap) * width..][..width];
                for (i, dst) in planes.iter_mut().enumerate() {
                    for y in 0..oh {
                        let iy = y as isize + ky as isize - py;
                        if iy < 0 || iy >= geo.h as isize {
                            continue;
                        }
                        let lo = (p - kx as isize).clamp(0, ow as isize) as usize;
                        let hi = (geo.w as isize + p - kx as isize).clamp(lo as isize, ow as isize)
                            as usize;
                        let s0 = (lo as isize + kx as isize - p) as usize;
                        let src = &row[(i * oh + y) * ow..][lo..hi];
                        let drow = &mut dst[iy as usize * geo.w + s0..][..hi - lo];
                        for (d, s) in drow.iter_mut().zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        });
}

/// `[O, g * oh * ow]` (channel-major) to `[g, O, oh * ow]` (image-major),
/// into images `n0..n0 + g` of `y`.
fn scatter_images(src: &[f32], geo: &Geometry, n0: usize, g: usize, y: &mut [f32]) {
    let hw = geo.oh() * geo.ow();
    let out = &mut y[n0 * geo.o * hw..(n0 + g) * geo.o * hw];
    out.par_chunks_mut(hw).enumerate().for_each(|(j, dst)| {
        let (i, o) = (j / geo.o, j % geo.o);
        dst.copy_from_slice(&src[(o * g + i) * hw..][..hw]);
    });
}

/// The transpose of [`scatter_images`]: images `n0..n0 + g` of `dy`
/// `[N, O, oh * ow]` as `[O, g * oh * ow]`.
fn gather_images(dy: &[f32], geo: &Geometry, n0: usize, g: usize, dst: &mut [f32]) {
    let hw = geo.oh() * geo.ow();
    dst[..geo.o * g * hw]
        .par_chunks_mut(hw)
        .enumerate()
        .for_each(|(j, d)| {
            let (o, i) = (j / g, j % g);
            d.copy_from_slice(&dy[((n0 + i) * geo.o + o) * hw..][..hw]);
        });
}

/// Runs `step(n0, g, width, cols, block)` for each group of `g` images
/// starting at `n0` (`width = g · oh · ow` columns), with a column buffer
/// `[C · kh · kw, width]` and an output-side buffer `[O, width]` reused
/// across groups.
fn for_each_group(
    geo: &Geometry,
    budget: usize,
    mut step: impl FnMut(usize, usize, usize, &mut [f32], &mut [f32]),
) {
    let hw = geo.oh() * geo.ow();
    let group = geo.group(budget);
    let mut cols = vec![0f32; geo.k() * group * hw];
    let mut block = vec![0f32; geo.o * group * hw];
    for n0 in (0..geo.n).step_by(group) {
        let g = group.min(geo.n - n0);
        step(n0, g, g * hw, &mut cols, &mut block);
    }
}

/// The convolution `y[n, o] = Σ_c w[o, c] ⋆ x[n, c]`, `[N, O, oh, ow]`.
pub fn forward(x: &[f32], w: &[f32], geo: &Geometry, budget: usize) -> Vec<f32> {
    let k = geo.k();
    let mut y = vec![0f32; geo.n * geo.o * geo.oh() * geo.ow()];
    for_each_group(geo, budget, |n0, g, width, cols, block| {
        im2col(x, geo, n0, g, cols);
        // y [O, width] = w [O, K] · cols [K, width]
        let (lhs, rhs) = ((w, [k, 1]), (&*cols, [width, 1]));
        matmul([geo.o, width, k], block, false, lhs, rhs);
        scatter_images(block, geo, n0, g, &mut y);
    });
    y
}

/// The input gradient `[N, C, H, W]` for the output gradient `dy`.
pub fn backward_input(dy: &[f32], w: &[f32], geo: &Geometry, budget: usize) -> Vec<f32> {
    let k = geo.k();
    let mut dx = vec![0f32; geo.n * geo.c * geo.h * geo.w];
    for_each_group(geo, budget, |n0, g, width, dcols, block| {
        gather_images(dy, geo, n0, g, block);
        // dcols [K, width] = wᵀ [K, O] · dy [O, width]
        let (lhs, rhs) = ((w, [1, k]), (&*block, [width, 1]));
        matmul([k, width, geo.o], dcols, false, lhs, rhs);
        col2im(dcols, geo, n0, g, &mut dx);
    });
    dx
}

/// The weight gradient `[O, C, kh, kw]` for input `x` and output gradient `dy`.
pub fn backward_weight(x: &[f32], dy: &[f32], geo: &Geometry, budget: usize) -> Vec<f32> {
    let k = geo.k();
    let mut dw = vec![0f32; geo.o * k];
    for_each_group(geo, budget, |n0, g, width, cols, block| {
        im2col(x, geo, n0, g, cols);
        gather_images(dy, geo, n0, g, block);
        // dw [O, K] (+)= dy [O, width] · colsᵀ [width, K]
        let (lhs, rhs) = ((&*block, [width, 1]), (&*cols, [1, width]));
        matmul([geo.o, k, width], &mut dw, n0 > 0, lhs, rhs);
    });
    dw
}
