//! Moving data between tensors and Rust slices for the CPU kernels of this crate, and the calls
//! that need `unsafe`: the `gemm` crate's matrix product into a Rust buffer, and the AVX-512
//! and AVX2 kernels of the SWD projections (vector loads and stores inside bounds-checked
//! slices).

use rayon::prelude::*;
use tch::{Kind, Tensor};

/// The elements of a tensor as a float32 vector in row-major order (any device, any kind).
pub(crate) fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    let t = t
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let len = t.numel();
    let mut out = vec![0f32; len];
    t.copy_data(&mut out, len);
    out
}

/// Descriptors per panel of the SWD's panel layout: descriptor i's value t is stored at
/// `(i / PANEL)·d·PANEL + t·PANEL + i % PANEL`, so that one panel is a [d, PANEL] row-major
/// matrix (three 16-float vectors per row) that the projection kernel reads without packing.
pub(crate) const PANEL: usize = 48;

/// Directions per register tile of the projection kernel (8 x 48 accumulators = 24 zmm).
const TILE_ROWS: usize = 8;

/// Columns per parallel task: 16 panels.
const TASK_COLUMNS: usize = 16 * PANEL;

/// Which kernel [`project_panels`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// The best the CPU has (detected at run time): AVX-512F, else AVX2 + FMA, else `gemm`;
    /// `GANLAB_CPU_CAPABILITY=avx2` or `=default` caps it (as PyTorch's `ATEN_CPU_CAPABILITY`),
    /// e.g. to measure the AVX2 path on an AVX-512 machine.
    Fastest,
    /// The AVX2 + FMA kernel (where the CPU has both; else `gemm`).
    #[cfg_attr(not(test), allow(dead_code))]
    Avx2,
    /// `gemm` on each panel (a [d, PANEL] matrix with row stride PANEL) into its columns (what
    /// CPUs without AVX2 run; the tests hold every kernel to libtorch).
    #[cfg_attr(not(test), allow(dead_code))]
    Gemm,
}

/// The SIMD level a kernel may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Capability {
    Default,
    Avx2,
    Avx512,
}

/// What this CPU supports, capped by `GANLAB_CPU_CAPABILITY` (`default`, `avx2`, `avx512`).
fn capability() -> Capability {
    #[cfg(target_arch = "x86_64")]
    let detected = if std::arch::is_x86_feature_detected!("avx512f") {
        Capability::Avx512
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        Capability::Avx2
    } else {
        Capability::Default
    };
    #[cfg(not(target_arch = "x86_64"))]
    let detected = Capability::Default;
    let cap = match std::env::var("GANLAB_CPU_CAPABILITY").as_deref() {
        Ok("default") => Capability::Default,
        Ok("avx2") => Capability::Avx2,
        _ => Capability::Avx512,
    };
    detected.min(cap)
}

/// The kernel `kernel` stands for on this CPU, and its name (`avx512`, `avx2` or `gemm`).
pub(crate) fn kernel_name(kernel: Kernel) -> &'static str {
    match (kernel, capability()) {
        (Kernel::Gemm, _) | (_, Capability::Default) => "gemm",
        (Kernel::Avx2, _) | (Kernel::Fastest, Capability::Avx2) => "avx2",
        (Kernel::Fastest, Capability::Avx512) => "avx512",
    }
}

/// out[k, n] = lhs[k, d] · descᵀ for n descriptors stored in panels (see [`PANEL`]; the panels
/// may hold more descriptors than n, and padding lanes, which are never read into `out`).
///
/// With AVX-512 a register-tiled kernel, 8 directions x 48 descriptors per tile, reads each
/// panel in place: on this machine 25–29 ms for [128, 147] x [147, 131072] against 31 ms for
/// `gemm` on row-major descriptors. With AVX2 + FMA a kernel of 2 directions x 48 descriptors
/// per pass (half the broadcasts per FMA of 4 x 24 passes, which took twice its time under an
/// AVX2 cap on this machine). Without either (or with [`Kernel::Gemm`]), `gemm` panel by panel.
///
/// `out` holds k rows of at least n values (its length over k); the first n of each are
/// written, so the projections of fewer descriptors than a row holds can be completed in place.
/// Panics unless `out` holds k rows of n or more values, `lhs` k·d and `panels` at least
/// ⌈n / PANEL⌉·d·PANEL.
#[allow(unsafe_code)]
pub(crate) fn project_panels(
    out: &mut [f32],
    lhs: &[f32],
    panels: &[f32],
    (k, d, n): (usize, usize, usize),
    kernel: Kernel,
) {
    let used = n.div_ceil(PANEL) * d * PANEL;
    let stride = out.len().checked_div(k).unwrap_or(n);
    assert!(
        out.len() == k * stride && stride >= n && lhs.len() == k * d && panels.len() >= used,
        "project_panels: {} / {} / {} values for k={k}, d={d}, n={n}",
        out.len(),
        lhs.len(),
        panels.len()
    );
    if k == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    match kernel_name(kernel) {
        "avx512" => {
            let tiles = lhs_tiles(lhs, k, d);
            for_each_task((out, stride), k, n, d, panels, |rows, task_panels| {
                // SAFETY: the CPU supports AVX-512F (`capability` detected it), the only
                // requirement of this safe function's target feature.
                unsafe { avx512::project(rows, &tiles, task_panels, k, d) }
            });
            return;
        }
        "avx2" => {
            let tiles = lhs_tiles(lhs, k, d);
            for_each_task((out, stride), k, n, d, panels, |rows, task_panels| {
                // SAFETY: the CPU supports AVX2 and FMA (`capability` detected both), the only
                // requirements of this safe function's target features.
                unsafe { avx2::project(rows, &tiles, task_panels, k, d) }
            });
            return;
        }
        _ => {}
    }
    for_each_task((out, stride), k, n, d, panels, |rows, task_panels| {
        let width = rows.first().map_or(0, |r| r.len());
        let mut block = vec![0f32; k * PANEL];
        for (p, panel) in task_panels.chunks_exact(d * PANEL).enumerate() {
            let cols = PANEL.min(width - p * PANEL);
            matmul_panel(&mut block, lhs, panel, k, d);
            for (row, values) in rows.iter_mut().zip(block.chunks_exact(PANEL)) {
                row[p * PANEL..p * PANEL + cols].copy_from_slice(&values[..cols]);
            }
        }
    });
}

/// Splits the first n columns of out [k, stride] into tasks of TASK_COLUMNS columns (k row
/// pieces each) and runs `task` on rayon's pool with each task's pieces and its panels.
fn for_each_task(
    (out, stride): (&mut [f32], usize),
    k: usize,
    n: usize,
    d: usize,
    panels: &[f32],
    task: impl Fn(&mut [&mut [f32]], &[f32]) + Sync,
) {
    let tasks = n.div_ceil(TASK_COLUMNS);
    let mut pieces: Vec<Vec<&mut [f32]>> = (0..tasks).map(|_| Vec::with_capacity(k)).collect();
    for row in out.chunks_exact_mut(stride) {
        for (t, piece) in row[..n].chunks_mut(TASK_COLUMNS).enumerate() {
            pieces[t].push(piece);
        }
    }
    let per_task = TASK_COLUMNS / PANEL * d * PANEL;
    pieces
        .into_par_iter()
        .enumerate()
        .for_each(|(t, mut rows)| {
            let width = rows.first().map_or(0, |r| r.len());
            let first = t * per_task;
            task(
                &mut rows,
                &panels[first..first + width.div_ceil(PANEL) * d * PANEL],
            );
        });
}

/// lhs [k, d] row-major regrouped for the kernel: TILE_ROWS directions at a time, [d, TILE_ROWS]
/// per group (zero rows past k).
fn lhs_tiles(lhs: &[f32], k: usize, d: usize) -> Vec<f32> {
    let groups = k.div_ceil(TILE_ROWS);
    let mut out = vec![0f32; groups * d * TILE_ROWS];
    for (i, row) in lhs.chunks_exact(d).enumerate() {
        let group = &mut out[(i / TILE_ROWS) * d * TILE_ROWS..][..d * TILE_ROWS];
        for (t, &v) in row.iter().enumerate() {
            group[t * TILE_ROWS + i % TILE_ROWS] = v;
        }
    }
    out
}

/// block[k, PANEL] = lhs[k, d] · panel[d, PANEL] (`gemm`).
#[allow(unsafe_code)]
fn matmul_panel(block: &mut [f32], lhs: &[f32], panel: &[f32], k: usize, d: usize) {
    assert!(block.len() == k * PANEL && lhs.len() == k * d && panel.len() == d * PANEL);
    // SAFETY: block(i, j) at block + i·PANEL + j (i < k, j < PANEL), lhs(i, t) at lhs + i·d + t,
    // panel(t, j) at panel + t·PANEL + j (t < d): the largest offsets k·PANEL − 1, k·d − 1 and
    // d·PANEL − 1 lie inside the three slices (checked above); `block` is borrowed mutably, so it
    // overlaps neither input. With read_dst = false the output is only written.
    unsafe {
        gemm::gemm(
            k,
            PANEL,
            d,
            block.as_mut_ptr(),
            1,
            PANEL as isize,
            false,
            lhs.as_ptr(),
            1,
            d as isize,
            panel.as_ptr(),
            1,
            PANEL as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The width of the `k` row pieces a SIMD kernel writes, after checking that they, the panels
/// and the direction tiles agree (the kernels' vector loads rely on it).
#[cfg(target_arch = "x86_64")]
fn checked_width(rows: &[&mut [f32]], tiles: &[f32], panels: &[f32], k: usize, d: usize) -> usize {
    let width = rows.first().map_or(0, |r| r.len());
    assert!(rows.len() == k && rows.iter().all(|r| r.len() == width));
    assert!(panels.len() == width.div_ceil(PANEL) * d * PANEL);
    assert!(tiles.len() == k.div_ceil(TILE_ROWS) * d * TILE_ROWS);
    width
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use super::{PANEL, TILE_ROWS};
    use std::arch::x86_64::*;

    /// Directions per pass: 2 x 48 accumulators (12 ymm) + 1 broadcast, the panel row's six
    /// vectors loaded as they are used.
    const ROWS: usize = 2;
    /// Vectors of 8 per panel row.
    const VECTORS: usize = PANEL / 8;

    /// The same product as the AVX-512 kernel (and, lane by lane, the same sums in the same
    /// order: one fused multiply-add per t), in passes of 2 directions x 48 descriptors: two
    /// broadcasts per panel row where 4 x 24 passes needed four per half row.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn project(
        rows: &mut [&mut [f32]],
        tiles: &[f32],
        panels: &[f32],
        k: usize,
        d: usize,
    ) {
        let width = super::checked_width(rows, tiles, panels, k, d);
        for (p, panel) in panels.chunks_exact(d * PANEL).enumerate() {
            let cols = PANEL.min(width - p * PANEL);
            for (g, tile) in tiles.chunks_exact(d * TILE_ROWS).enumerate() {
                for pair in 0..TILE_ROWS / ROWS {
                    let first_row = g * TILE_ROWS + pair * ROWS;
                    if first_row >= k {
                        break;
                    }
                    let mut acc = [[_mm256_setzero_ps(); VECTORS]; ROWS];
                    for (a, b) in tile.chunks_exact(TILE_ROWS).zip(panel.chunks_exact(PANEL)) {
                        let a = &a[pair * ROWS..pair * ROWS + ROWS];
                        let (a0, a1) = (_mm256_set1_ps(a[0]), _mm256_set1_ps(a[1]));
                        let [acc0, acc1] = &mut acc;
                        for (v, (c0, c1)) in acc0.iter_mut().zip(acc1.iter_mut()).enumerate() {
                            // SAFETY: `b` holds PANEL = 48 floats; v < 6 reads floats 8v..8v+8.
                            let b = unsafe { _mm256_loadu_ps(b.as_ptr().add(8 * v)) };
                            *c0 = _mm256_fmadd_ps(a0, b, *c0);
                            *c1 = _mm256_fmadd_ps(a1, b, *c1);
                        }
                    }
                    for (r, acc) in acc.iter().enumerate() {
                        let Some(row) = rows.get_mut(first_row + r) else {
                            break;
                        };
                        let dst = &mut row[p * PANEL..p * PANEL + cols];
                        if cols == PANEL {
                            // A whole panel: straight into the row (no copy through a buffer).
                            for (v, acc) in acc.iter().enumerate() {
                                // SAFETY: `dst` holds PANEL = 48 floats; v < 6 writes floats
                                // 8v..8v+8.
                                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(8 * v), *acc) };
                            }
                            continue;
                        }
                        let mut values = [0f32; PANEL];
                        for (v, acc) in acc.iter().enumerate() {
                            // SAFETY: `values` holds 48 floats; v < 6 writes floats 8v..8v+8.
                            unsafe { _mm256_storeu_ps(values.as_mut_ptr().add(8 * v), *acc) };
                        }
                        dst.copy_from_slice(&values[..cols]);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use super::{PANEL, TILE_ROWS};
    use std::arch::x86_64::*;

    /// rows[i][j] = Σₜ lhs(i, t) · panel(t, j) for the columns of `rows` (k pieces of the same
    /// width), `panels` their ⌈width / PANEL⌉ panels, `tiles` lhs from `lhs_tiles`.
    #[target_feature(enable = "avx512f")]
    pub(super) fn project(
        rows: &mut [&mut [f32]],
        tiles: &[f32],
        panels: &[f32],
        k: usize,
        d: usize,
    ) {
        let width = super::checked_width(rows, tiles, panels, k, d);
        for (p, panel) in panels.chunks_exact(d * PANEL).enumerate() {
            let cols = PANEL.min(width - p * PANEL);
            for (g, tile) in tiles.chunks_exact(d * TILE_ROWS).enumerate() {
                let mut acc = [[_mm512_setzero_ps(); 3]; TILE_ROWS];
                for (a, b) in tile.chunks_exact(TILE_ROWS).zip(panel.chunks_exact(PANEL)) {
                    // SAFETY: `b` holds PANEL = 48 floats, read as three vectors of 16.
                    let b = unsafe {
                        [
                            _mm512_loadu_ps(b.as_ptr()),
                            _mm512_loadu_ps(b.as_ptr().add(16)),
                            _mm512_loadu_ps(b.as_ptr().add(32)),
                        ]
                    };
                    for (acc, &a) in acc.iter_mut().zip(a) {
                        let a = _mm512_set1_ps(a);
                        acc[0] = _mm512_fmadd_ps(a, b[0], acc[0]);
                        acc[1] = _mm512_fmadd_ps(a, b[1], acc[1]);
                        acc[2] = _mm512_fmadd_ps(a, b[2], acc[2]);
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    let Some(row) = rows.get_mut(g * TILE_ROWS + r) else {
                        break;
                    };
                    let dst = &mut row[p * PANEL..p * PANEL + cols];
                    // A whole panel goes straight into the row, a partial one through `values`.
                    let mut values = [0f32; PANEL];
                    let out = if cols == PANEL {
                        dst.as_mut_ptr()
                    } else {
                        values.as_mut_ptr()
                    };
                    // SAFETY: `out` points to 48 writable floats (`dst` when it holds PANEL = 48,
                    // `values` otherwise), written as three vectors of 16.
                    unsafe {
                        _mm512_storeu_ps(out, acc[0]);
                        _mm512_storeu_ps(out.add(16), acc[1]);
                        _mm512_storeu_ps(out.add(32), acc[2]);
                    }
                    if cols < PANEL {
                        dst.copy_from_slice(&values[..cols]);
                    }
                }
            }
        }
    }
}
