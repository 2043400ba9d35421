//! The one inner loop of the event-driven kernels: `acc[k] += Σ_j v_j ·
//! base[offset_j + add + k]` — a sum of rows picked by offset, scaled —
//! in AVX registers with fused multiply-adds where the CPU has AVX2 and
//! FMA (runtime-detected), as a plain loop elsewhere.

/// Output channels handled together: 8 AVX vectors of 8.
pub(super) const BLOCK: usize = 64;

/// `acc[k] += Σ_j values[j] · base[offsets[j] + add + k]` for `k < acc.len()
/// ≤ BLOCK`.
///
/// # Panics
/// If a row `offsets[j] + add .. + acc.len()` is outside `base`.
#[inline]
pub(super) fn gather(acc: &mut [f32], base: &[f32], offsets: &[u32], values: &[f32], add: usize) {
    assert!(acc.len() <= BLOCK && offsets.len() == values.len());
    #[cfg(target_arch = "x86_64")]
    if avx::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { avx::gather(acc, base, offsets, values, add) };
        return;
    }
    gather_plain(acc, base, offsets, values, add);
}

/// `dst[d + k] += v · src[s + k]` for `k < len`, for every `(d, s, v)` of
/// `updates`, in order: the scatter form, for rows too short (few output
/// channels) for a per-row gather to pay.
///
/// # Panics
/// If a row is outside `dst` or `src`.
pub(super) fn axpy_rows(dst: &mut [f32], src: &[f32], len: usize, updates: &[(u32, u32, f32)]) {
    #[cfg(target_arch = "x86_64")]
    if avx::available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { avx::axpy_rows(dst, src, len, updates) };
        return;
    }
    for &(d, s, v) in updates {
        let (d, s) = (d as usize, s as usize);
        for (a, r) in dst[d..d + len].iter_mut().zip(&src[s..s + len]) {
            *a += v * r;
        }
    }
}

fn gather_plain(acc: &mut [f32], base: &[f32], offsets: &[u32], values: &[f32], add: usize) {
    let len = acc.len();
    for (&off, &v) in offsets.iter().zip(values) {
        let at = off as usize + add;
        for (a, r) in acc.iter_mut().zip(&base[at..at + len]) {
            *a += v * r;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::{
        __m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_storeu_ps,
    };

    /// Whether the CPU has AVX2 and FMA (the answer is cached by std).
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// [`super::gather`]: the whole vectors of `acc` in registers, the
    /// remaining `acc.len() % 8` lanes by the plain loop.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA ([`available`]).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gather(
        acc: &mut [f32],
        base: &[f32],
        offsets: &[u32],
        values: &[f32],
        add: usize,
    ) {
        let vectors = acc.len() / 8;
        let (head, tail) = acc.split_at_mut(vectors * 8);
        // SAFETY (all arms): AVX2 and FMA are available (the caller's contract).
        unsafe {
            match vectors {
                0 => {}
                1 => rows::<1>(head, base, offsets, values, add),
                2 => rows::<2>(head, base, offsets, values, add),
                3 => rows::<3>(head, base, offsets, values, add),
                4 => rows::<4>(head, base, offsets, values, add),
                5 => rows::<5>(head, base, offsets, values, add),
                6 => rows::<6>(head, base, offsets, values, add),
                7 => rows::<7>(head, base, offsets, values, add),
                _ => rows::<8>(head, base, offsets, values, add),
            }
        }
        if !tail.is_empty() {
            super::gather_plain(tail, base, offsets, values, add + vectors * 8);
        }
    }

    /// [`super::axpy_rows`]: whole vectors with fused multiply-adds, the
    /// `len % 8` remaining lanes by a plain loop.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA ([`available`]).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpy_rows(
        dst: &mut [f32],
        src: &[f32],
        len: usize,
        updates: &[(u32, u32, f32)],
    ) {
        let vectors = len / 8;
        for &(d, s, v) in updates {
            let (d, s) = (d as usize, s as usize);
            assert!(d + len <= dst.len() && s + len <= src.len(), "row outside");
            // SAFETY: both rows lie inside their slices (asserted).
            unsafe {
                let (p, r, vv) = (
                    dst.as_mut_ptr().add(d),
                    src.as_ptr().add(s),
                    _mm256_set1_ps(v),
                );
                for k in 0..vectors {
                    let a = _mm256_loadu_ps(p.add(8 * k));
                    _mm256_storeu_ps(
                        p.add(8 * k),
                        _mm256_fmadd_ps(vv, _mm256_loadu_ps(r.add(8 * k)), a),
                    );
                }
                for k in 8 * vectors..len {
                    *p.add(k) += v * *r.add(k);
                }
            }
        }
    }

    /// `V` vectors of 8 in registers.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and `acc.len() == 8 * V`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows<const V: usize>(
        acc: &mut [f32],
        base: &[f32],
        offsets: &[u32],
        values: &[f32],
        add: usize,
    ) {
        assert_eq!(acc.len(), 8 * V);
        let (p, n) = (acc.as_mut_ptr(), base.len());
        // SAFETY: `acc` holds 8·V floats (asserted); each row read is
        // checked to lie inside `base` before its loads.
        unsafe {
            let mut a: [__m256; V] = std::array::from_fn(|k| _mm256_loadu_ps(p.add(8 * k)));
            for (&off, &v) in offsets.iter().zip(values) {
                let at = off as usize + add;
                assert!(at + 8 * V <= n, "row outside the matrix");
                let (r, v) = (base.as_ptr().add(at), _mm256_set1_ps(v));
                for (k, a) in a.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(v, _mm256_loadu_ps(r.add(8 * k)), *a);
                }
            }
            for (k, a) in a.iter().enumerate() {
                _mm256_storeu_ps(p.add(8 * k), *a);
            }
        }
    }
}
