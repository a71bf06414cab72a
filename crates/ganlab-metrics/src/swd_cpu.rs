//! The CPU kernels of the sliced Wasserstein distance on plain float32 slices: the Laplacian
//! pyramid of each image plane, the neighbourhood gather (straight into the panel layout that
//! the projection kernel of `host::project_panels` reads), the per-channel normalisation, the
//! projections (into reused buffers) and the radix-sorted comparison.
//! [`crate::swd`] holds the definitions, the tensor API and the libtorch path for other devices;
//! both paths are tested against each other there, and against numpy's translation of ProGAN's
//! code in `tests/tests/metrics_reference.rs`.
//!
//! Why hand-written kernels: on 2 cores a 64x64 SWD of 1024 images spent most of its time in
//! libtorch's elementwise passes, its advanced indexing, page faults of fresh 67 MB outputs and a
//! comparison sort; as slices on rayon's pool the same arithmetic runs in a fraction of that.

use crate::host;
use rayon::prelude::*;

/// Side of a neighbourhood (7, `swd::NHOOD_SIZE`).
const K: usize = 7;

/// The 1-D binomial taps [1, 4, 6, 4, 1]/16 (the 5x5 kernel is their outer product).
pub(crate) const BINOMIAL: [f64; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];

/// Side of each level: halved, rounding up (what the strided slices of `swd::pyr_down` give).
pub(crate) fn level_sides(h: usize, w: usize, levels: usize) -> Vec<(usize, usize)> {
    std::iter::successors(Some((h, w)), |&(h, w)| Some((h.div_ceil(2), w.div_ceil(2))))
        .take(levels)
        .collect()
}

/// The Laplacian pyramid of `planes` row-major h x w planes, one plane per task: one vector per
/// level, [planes, lh, lw].
pub(crate) fn pyramid(pixels: &[f32], h: usize, w: usize, levels: usize) -> Vec<Vec<f32>> {
    let sides = level_sides(h, w, levels);
    let planes = pixels.len().checked_div(h * w).unwrap_or(0);
    let mut outputs: Vec<Vec<f32>> = sides
        .iter()
        .map(|&(lh, lw)| vec![0.0; planes * lh * lw])
        .collect();
    let mut per_plane: Vec<Vec<&mut [f32]>> = (0..planes).map(|_| Vec::new()).collect();
    for (output, &(lh, lw)) in outputs.iter_mut().zip(&sides) {
        for (p, chunk) in output.chunks_mut(lh * lw).enumerate() {
            per_plane[p].push(chunk);
        }
    }
    per_plane
        .into_par_iter()
        .zip(pixels.par_chunks(h * w))
        .for_each(|(mut out, plane)| plane_pyramid(plane, h, w, &mut out));
    outputs
}

/// The Laplacian pyramid of one plane into `out` (one slice per level): `swd::pyr_down` and
/// `swd::pyr_up` with the same arithmetic in float32, skipping only what they compute to be
/// discarded or zero (blurred rows that the subsampling drops; rows of the zero-inserted image).
fn plane_pyramid(plane: &[f32], h: usize, w: usize, out: &mut [&mut [f32]]) {
    let taps: [f32; 5] = BINOMIAL.map(|t| t as f32);
    let taps_x4: [f32; 5] = BINOMIAL.map(|t| (t * 4.0) as f32);
    let mut current = plane.to_vec();
    let (mut ch, mut cw) = (h, w);
    let levels = out.len();
    for (level, dest) in out.iter_mut().enumerate() {
        if level + 1 == levels {
            dest.copy_from_slice(&current);
            break;
        }
        let (dh, dw) = (ch.div_ceil(2), cw.div_ceil(2));
        assert!(
            (2 * dh, 2 * dw) == (ch, cw),
            "Laplacian pyramid: a {ch}x{cw} level does not halve evenly"
        );
        // pyr_down: blur (rows, then columns), keeping every second row and column.
        let mut rows = vec![0f32; ch * cw];
        for (src, dst) in current.chunks_exact(cw).zip(rows.chunks_exact_mut(cw)) {
            blur_row(src, &taps, dst);
        }
        let mut column = vec![0f32; cw];
        let mut down = vec![0f32; dh * dw];
        for (y, row) in down.chunks_exact_mut(dw).enumerate() {
            blur_column(&rows, ch, cw, 2 * y, &taps, |_| true, &mut column);
            row.iter_mut()
                .zip(column.iter().step_by(2))
                .for_each(|(v, c)| *v = *c);
        }
        // pyr_up: the coarse values on even pixels of a zero image, blurred with 4x the kernel;
        // odd rows of the zero-inserted image stay zero through the row pass.
        let mut up_rows = vec![0f32; ch * cw];
        let mut zero_inserted = vec![0f32; cw];
        for (y, src) in down.chunks_exact(dw).enumerate() {
            zero_inserted
                .iter_mut()
                .step_by(2)
                .zip(src)
                .for_each(|(d, v)| *d = *v);
            blur_row(
                &zero_inserted,
                &taps_x4,
                &mut up_rows[2 * y * cw..(2 * y + 1) * cw],
            );
        }
        for (y, dst) in dest.chunks_exact_mut(cw).enumerate() {
            blur_column(&up_rows, ch, cw, y, &taps, |r| r % 2 == 0, &mut column);
            dst.iter_mut()
                .zip(&current[y * cw..(y + 1) * cw])
                .zip(&column)
                .for_each(|((d, c), u)| *d = c - u);
        }
        current = down;
        (ch, cw) = (dh, dw);
    }
}

/// Index `i` of a line of `n` values with mirror padding (scipy's 'mirror', torch's 'reflect':
/// −1 → 1, n → n − 2).
fn mirror(i: isize, n: usize) -> usize {
    let n = n as isize;
    let i = i.abs();
    (if i >= n { 2 * (n - 1) - i } else { i }) as usize
}

/// One row of `swd::blur`'s horizontal pass: dst[x] = Σₖ src[x + k − 2]·taps[k], k = 0…4 in
/// that order, mirror-padded at the ends (the interior as five vectorised passes).
fn blur_row(src: &[f32], taps: &[f32; 5], dst: &mut [f32]) {
    let w = src.len();
    let edge = |x: usize| {
        let mut acc = src[mirror(x as isize - 2, w)] * taps[0];
        for (k, tap) in taps.iter().enumerate().skip(1) {
            acc += src[mirror(x as isize + k as isize - 2, w)] * tap;
        }
        acc
    };
    if w < 5 {
        dst.iter_mut().enumerate().for_each(|(x, d)| *d = edge(x));
        return;
    }
    for x in [0, 1, w - 2, w - 1] {
        dst[x] = edge(x);
    }
    let inner = &mut dst[2..w - 2];
    inner
        .iter_mut()
        .zip(&src[..w - 4])
        .for_each(|(d, v)| *d = v * taps[0]);
    for (k, tap) in taps.iter().enumerate().skip(1) {
        inner
            .iter_mut()
            .zip(&src[k..k + w - 4])
            .for_each(|(d, v)| *d += v * tap);
    }
}

/// Row `y` of `swd::blur`'s vertical pass over `rows` ([h, w]): Σₖ rows[y + k − 2]·taps[k],
/// mirror-padded, over the source rows that `nonzero` admits (the others are known to be zero,
/// so their terms would add nothing).
fn blur_column(
    rows: &[f32],
    h: usize,
    w: usize,
    y: usize,
    taps: &[f32; 5],
    nonzero: impl Fn(usize) -> bool,
    dst: &mut [f32],
) {
    dst.fill(0.0);
    for (k, tap) in taps.iter().enumerate() {
        let r = mirror(y as isize + k as isize - 2, h);
        if nonzero(r) {
            dst.iter_mut()
                .zip(&rows[r * w..(r + 1) * w])
                .for_each(|(d, v)| *d += v * tap);
        }
    }
}

/// Copies the neighbourhoods of `source` into `out` ([n, c, 7, 7] row-major; neighbourhood i
/// from image i / (n / images), top-left corner (ys[i], xs[i])), stored transposed as the
/// official code does: element [i, ch, a, b] is pixel (y₀ + b, x₀ + a).
pub(crate) fn gather(source: &Neighbourhoods, out: &mut [f32]) {
    out.par_chunks_mut(source.c * K * K)
        .with_min_len(512)
        .enumerate()
        .for_each(|(i, desc)| source.copy(i, |t, v| desc[t] = v));
}

/// The 7x7 neighbourhoods of one level ([images, c, h, w] row-major) at corners (ys[i], xs[i]),
/// checked by the caller, i / (n / images) being neighbourhood i's image: what [`gather`] and
/// [`gather_panels`] copy.
#[derive(Debug)]
pub(crate) struct Neighbourhoods<'a> {
    pub level: &'a [f32],
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub ys: &'a [i64],
    pub xs: &'a [i64],
}

impl Neighbourhoods<'_> {
    /// Hands every value of neighbourhood i to `put(t, value)`, t = ch·49 + a·7 + b for pixel
    /// (y₀ + b, x₀ + a) of channel ch (the official code's transposed order).
    #[inline(always)]
    fn copy(&self, i: usize, mut put: impl FnMut(usize, f32)) {
        let (c, h, w) = (self.c, self.h, self.w);
        let images = (self.level.len() / (c * h * w).max(1)).max(1);
        let per_image = (self.ys.len() / images).max(1);
        let (y0, x0) = (self.ys[i] as usize, self.xs[i] as usize);
        let image = &self.level[(i / per_image) * c * h * w..];
        for ch in 0..c {
            let plane = &image[ch * h * w..(ch + 1) * h * w];
            for dy in 0..K {
                let row = &plane[(y0 + dy) * w + x0..][..K];
                for (dx, &v) in row.iter().enumerate() {
                    put(ch * K * K + dx * K + dy, v);
                }
            }
        }
    }
}

/// Which descriptor each panel slot of a set holds, the repeated draws folded into one slot.
///
/// ProGAN draws the 128 neighbourhood centres of an image with replacement, so at the 16x16
/// level (100 centres) about 43% of the draws repeat an earlier one of the same image, 9% at
/// 32x32 (676 centres): the same 147 values, whose projections need not be computed twice. Of
/// the first `compared` descriptors (in draw order) each repeat adds to its first draw's weight
/// and is listed in `copies`; the others keep a slot each. The set's compared projections are
/// then those of slots `0..unique` followed by those of the `copies` slots.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slots {
    /// How many descriptors each slot stands for.
    pub weights: Vec<u32>,
    /// The slots of the compared descriptors: `0..unique`.
    pub unique: usize,
    /// For each folded repeat, the slot of its first draw (below `unique`).
    pub copies: Vec<u32>,
    compared: usize,
    drawn: usize,
    /// Per corner of the level: (1 + the image of its last draw, that draw's slot), or empty
    /// where the level is not folded.
    seen: Vec<(u32, u32)>,
    /// Corners per row of the level.
    across: usize,
}

impl Slots {
    /// The slots of a level of `h` x `w` whose first `compared` descriptors are compared. Levels
    /// of more than 2^16 corners (where fewer than 0.1% of the draws repeat) are not folded.
    pub fn new(compared: usize, h: usize, w: usize) -> Slots {
        let (down, across) = ((h + 1).saturating_sub(K), (w + 1).saturating_sub(K));
        let fold = compared > 0 && down * across <= 1 << 16;
        Slots {
            compared,
            across,
            seen: if fold {
                vec![(0, 0); down * across]
            } else {
                Vec::new()
            },
            ..Slots::default()
        }
    }

    /// Registers the next draws (corners ys, xs of whole images, `per_image` each): returns the
    /// first new slot and, for each new slot, the index among these draws of the descriptor it
    /// holds.
    pub fn draw(&mut self, ys: &[i64], xs: &[i64], per_image: usize) -> (usize, Vec<u32>) {
        let first = self.weights.len();
        let mut picks = Vec::with_capacity(ys.len());
        for (i, (&y, &x)) in ys.iter().zip(xs).enumerate() {
            let drawn = self.drawn + i;
            let corner = y as usize * self.across + x as usize;
            if drawn < self.compared && !self.seen.is_empty() {
                let image = (drawn / per_image.max(1) + 1) as u32;
                let (last_image, slot) = self.seen[corner];
                if last_image == image {
                    self.weights[slot as usize] += 1;
                    self.copies.push(slot);
                    continue;
                }
                self.seen[corner] = (image, self.weights.len() as u32);
            }
            if drawn < self.compared {
                self.unique += 1;
            }
            picks.push(i as u32);
            self.weights.push(1);
        }
        self.drawn += ys.len();
        (first, picks)
    }
}

/// [`gather`] into the panel layout of [`host::PANEL`]: neighbourhood `picks[i]` of `source`
/// becomes descriptor (slot) `first + i` of `panels`. Batches that share a panel fill different
/// lanes of it.
pub(crate) fn gather_panels(
    source: &Neighbourhoods,
    panels: &mut [f32],
    first: usize,
    picks: &[u32],
) {
    const P: usize = host::PANEL;
    let d = source.c * K * K;
    let count = picks.len();
    if count == 0 || d == 0 {
        return;
    }
    let (first_panel, end_panel) = (first / P, (first + count).div_ceil(P));
    panels[first_panel * d * P..end_panel * d * P]
        .par_chunks_mut(d * P)
        .enumerate()
        .for_each(|(p, panel)| {
            let base = (first_panel + p) * P;
            for lane in base.max(first) - base..(base + P).min(first + count) - base {
                let pick = picks[base + lane - first] as usize;
                source.copy(pick, |t, v| panel[t * P + lane] = v);
            }
        });
}

/// [`normalize_per_channel`] on the descriptors of a panel layout, slot i standing for
/// `weights[i]` descriptors (see [`Slots`]; the same arithmetic: float32 sums per neighbourhood,
/// float64 across them, each times its weight, the result applied in float32; padding lanes
/// hold zeros, add nothing to the sums and are normalised along, never read).
pub(crate) fn normalize_panels(panels: &mut [f32], weights: &[u32], c: usize, per: usize) {
    const P: usize = host::PANEL;
    let (d, n) = (c * per, weights.len());
    if n == 0 || d == 0 {
        return;
    }
    let panels = &mut panels[..n.div_ceil(P) * d * P];
    let count = weights.iter().map(|&w| w as f64).sum::<f64>() * per as f64;
    let sums = panels
        .par_chunks(d * P)
        .zip(weights.par_chunks(P))
        .map(|(panel, weights)| {
            let mut sums = vec![(0f64, 0f64); c];
            for (ch, rows) in panel.chunks_exact(per * P).enumerate() {
                let (mut s, mut q) = ([0f32; P], [0f32; P]);
                for row in rows.chunks_exact(P) {
                    for lane in 0..P {
                        s[lane] += row[lane];
                        q[lane] += row[lane] * row[lane];
                    }
                }
                for (lane, &w) in weights.iter().enumerate() {
                    sums[ch].0 += s[lane] as f64 * w as f64;
                    sums[ch].1 += q[lane] as f64 * w as f64;
                }
            }
            sums
        })
        .reduce(|| vec![(0f64, 0f64); c], add_sums);
    let (mean, std) = moments(&sums, count);
    panels.par_chunks_mut(d * P).for_each(|panel| {
        for (ch, rows) in panel.chunks_exact_mut(per * P).enumerate() {
            rows.iter_mut().for_each(|v| *v = (*v - mean[ch]) / std[ch]);
        }
    });
}

/// Per-channel (Σx, Σx²) of two parts of a set, added.
fn add_sums(mut a: Vec<(f64, f64)>, b: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    a.iter_mut().zip(b).for_each(|(x, y)| {
        x.0 += y.0;
        x.1 += y.1
    });
    a
}

/// Per-channel float32 mean and population std from float64 sums of x and x² over `count` values.
fn moments(sums: &[(f64, f64)], count: f64) -> (Vec<f32>, Vec<f32>) {
    sums.iter()
        .map(|&(s, q)| {
            let mean = s / count;
            (
                mean as f32,
                (q / count - mean * mean).max(0.0).sqrt() as f32,
            )
        })
        .unzip()
}

/// Row-major [n, d] descriptors in the panel layout (zero padding lanes).
pub(crate) fn to_panels(rows: &[f32], n: usize, d: usize) -> Vec<f32> {
    const P: usize = host::PANEL;
    let mut panels = vec![0f32; n.div_ceil(P) * d * P];
    if d == 0 {
        return panels;
    }
    panels
        .par_chunks_mut(d * P)
        .zip(rows[..n * d].par_chunks(d * P))
        .for_each(|(panel, descs)| {
            for (lane, desc) in descs.chunks_exact(d).enumerate() {
                for (t, &v) in desc.iter().enumerate() {
                    panel[t * P + lane] = v;
                }
            }
        });
    panels
}

/// The first n descriptors of a panel layout as row-major [n, d].
pub(crate) fn from_panels(panels: &[f32], n: usize, d: usize) -> Vec<f32> {
    const P: usize = host::PANEL;
    let mut rows = vec![0f32; n * d];
    if d == 0 {
        return rows;
    }
    rows.par_chunks_mut(d * P)
        .zip(panels.par_chunks(d * P))
        .for_each(|(descs, panel)| {
            for (lane, desc) in descs.chunks_exact_mut(d).enumerate() {
                for (t, v) in desc.iter_mut().enumerate() {
                    *v = panel[t * P + lane];
                }
            }
        });
    rows
}

/// In place on [n, c, per] row-major values: x ← (x − mean_c) / std_c with the channel's mean
/// and population std over all n·per values (sums of x and x² accumulated in float64 in one
/// pass, the result applied in float32 as numpy's `desc -= mean; desc /= std` on float32 arrays).
pub(crate) fn normalize_per_channel(values: &mut [f32], c: usize, per: usize) {
    let row = c * per;
    if values.is_empty() || row == 0 {
        return;
    }
    let count = (values.len() / row * per) as f64;
    let block = row * 1024;
    let sums = values
        .par_chunks(block)
        .map(|chunk| {
            let mut sums = vec![(0f64, 0f64); c];
            for desc in chunk.chunks_exact(row) {
                for (ch, part) in desc.chunks_exact(per).enumerate() {
                    // Per-neighbourhood partial sums in float32 (49 values), then float64.
                    let (s, q) = part
                        .iter()
                        .fold((0f32, 0f32), |(s, q), &v| (s + v, q + v * v));
                    sums[ch].0 += s as f64;
                    sums[ch].1 += q as f64;
                }
            }
            sums
        })
        .reduce(|| vec![(0f64, 0f64); c], add_sums);
    let (mean, std) = moments(&sums, count);
    values.par_chunks_mut(block).for_each(|chunk| {
        for desc in chunk.chunks_exact_mut(row) {
            for (ch, part) in desc.chunks_exact_mut(per).enumerate() {
                part.iter_mut().for_each(|v| *v = (*v - mean[ch]) / std[ch]);
            }
        }
    });
}

/// One repeat's directions, transposed: [k, d] row-major.
#[derive(Debug, Clone)]
pub(crate) struct Directions {
    pub k: usize,
    pub values: Vec<f32>,
}

/// The two [k, n] projection buffers, reused across repeats and levels (fresh 67 MB outputs
/// cost about as much in page faults as the product itself).
#[derive(Debug, Default)]
pub(crate) struct Projections {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// A descriptor set as it is compared: descriptors in the panel layout of [`host::PANEL`], of
/// which slots `0..unique` are projected, and the slots whose projections are repeated after
/// theirs ([`Slots::copies`]): unique + copies.len() projections in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compared<'a> {
    pub panels: &'a [f32],
    pub unique: usize,
    pub copies: &'a [u32],
}

impl Compared<'_> {
    fn len(&self) -> usize {
        self.unique + self.copies.len()
    }
}

/// For descriptor sets A and B of d values (the same number of projections n from each, see
/// [`Compared`]) and each repeat's directions: mean over the directions of mean |sort(A·dⱼ) −
/// sort(B·dⱼ)|, averaged over the repeats. The projections are computed transposed ([k, n], one
/// contiguous row per direction, by [`host::project_panels`], for the unique slots only), and
/// each row's sort keys, with those of its repeats, radix-sorted and compared, one direction
/// per task on rayon's pool. Adds the seconds spent projecting and sorting (with the comparison) to `project_s` and
/// `sort_s`.
pub(crate) fn mean_abs_sorted_difference(
    a: Compared,
    b: Compared,
    d: usize,
    directions: &[Directions],
    buffers: &mut Projections,
    (project_s, sort_s): (&mut f64, &mut f64),
) -> f64 {
    let n = a.len();
    assert_eq!(
        n,
        b.len(),
        "mean_abs_sorted_difference: sets of different lengths"
    );
    if n == 0 || d == 0 || directions.is_empty() || directions.iter().any(|dirs| dirs.k == 0) {
        return f64::NAN;
    }
    let mut total = 0.0;
    for dirs in directions {
        let k = dirs.k;
        buffers.a.resize(k * n, 0.0);
        buffers.b.resize(k * n, 0.0);
        let fastest = host::Kernel::Fastest;
        let clock = std::time::Instant::now();
        let (shape_a, shape_b) = ((k, d, a.unique), (k, d, b.unique));
        host::project_panels(
            &mut buffers.a[..k * n],
            &dirs.values,
            a.panels,
            shape_a,
            fastest,
        );
        host::project_panels(
            &mut buffers.b[..k * n],
            &dirs.values,
            b.panels,
            shape_b,
            fastest,
        );
        let projected = std::time::Instant::now();
        *project_s += (projected - clock).as_secs_f64();
        let sum = buffers.a[..k * n]
            .par_chunks(n)
            .zip(buffers.b[..k * n].par_chunks(n))
            .map_init(
                || [(); 4].map(|_| vec![0u32; n]),
                |[keys_a, keys_b, sorted_a, sorted_b], (x, y)| {
                    radix_sort_keys(&x[..a.unique], a.copies, keys_a, sorted_a);
                    radix_sort_keys(&y[..b.unique], b.copies, keys_b, sorted_b);
                    sum_abs_key_difference(sorted_a, sorted_b)
                },
            )
            .sum::<f64>();
        *sort_s += projected.elapsed().as_secs_f64();
        total += sum / (n as f64 * k as f64);
    }
    total / directions.len() as f64
}

/// The u32 whose unsigned order is the float order (IEEE total order: −NaN < −∞ < … < −0 < +0 <
/// … < +∞ < NaN): negative values have every bit flipped, the others only the sign bit.
fn order_key(v: f32) -> u32 {
    let bits = v.to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

fn from_order_key(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 {
        key & 0x7fff_ffff
    } else {
        !key
    })
}

/// The [`order_key`]s of `values` followed by those of `values[copies[j]]` (a set's
/// projections and their repeats, see [`Compared`]), sorted, into `sorted`: a
/// least-significant-digit radix sort in three passes of 11 bits, after one pass that converts
/// the values to keys (into `keys`, scratch of the same length) and counts all three digits.
///
/// Written here rather than taken from a crate because it is the SWD's hot loop and was measured
/// faster than the crates on its data (131,072 normal float32 values per sort, one core, this
/// machine, key conversion included): 3.9 ns per value, against 5.2 for `radsort` (four 8-bit
/// passes) and 6.1 for `rdst`.
/// The top digit is counted in four interleaved tables (sorting time 639–692 against 696–715 ms
/// per 64x64 SWD call of 1,024 images, three pairs under an AVX2 cap, 2026-12-02).
fn radix_sort_keys(values: &[f32], copies: &[u32], keys: &mut [u32], sorted: &mut [u32]) {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    const MASK: u32 = (1 << BITS) - 1;
    let unique = values.len();
    assert!(
        unique + copies.len() == keys.len() && keys.len() == sorted.len(),
        "radix_sort_keys: buffers of different lengths"
    );
    let value = |i: usize| match i.checked_sub(unique) {
        None => values[i],
        Some(j) => values[copies[j] as usize],
    };
    if keys.len() > u32::MAX as usize {
        for (i, k) in sorted.iter_mut().enumerate() {
            *k = order_key(value(i));
        }
        sorted.sort_unstable();
        return;
    }
    let mut counts = [[0u32; BUCKETS]; 3];
    // The top digit (sign, exponent and a mantissa bit) takes few values, so consecutive keys
    // mostly share its bucket: four interleaved counts for it, so that the increments do not
    // wait on each other through memory, added up after.
    const TOP: usize = 1 << (32 - 2 * BITS);
    let mut top = [[0u32; TOP]; 4];
    let mut count = |lane: usize, key: &mut u32, v: f32| {
        let k = order_key(v);
        *key = k;
        counts[0][(k & MASK) as usize] += 1;
        counts[1][((k >> BITS) & MASK) as usize] += 1;
        top[lane][(k >> (2 * BITS)) as usize] += 1;
    };
    let (unique_keys, repeat_keys) = keys.split_at_mut(unique);
    let (key_chunks, value_chunks) = (unique_keys.chunks_exact_mut(4), values.chunks_exact(4));
    let (key_rest, value_rest) = (key_chunks.into_remainder(), value_chunks.remainder());
    for (key, &v) in key_rest.iter_mut().zip(value_rest) {
        count(0, key, v);
    }
    for (four_keys, four_values) in unique_keys.chunks_exact_mut(4).zip(values.chunks_exact(4)) {
        for (lane, (key, &v)) in four_keys.iter_mut().zip(four_values).enumerate() {
            count(lane, key, v);
        }
    }
    for (j, (key, &slot)) in repeat_keys.iter_mut().zip(copies).enumerate() {
        count(j % 4, key, values[slot as usize]);
    }
    for lane in &top {
        for (total, &c) in counts[2].iter_mut().zip(lane) {
            *total += c;
        }
    }
    // Passes 0 and 2 write to `sorted`, pass 1 back to `keys`.
    for (pass, count) in counts.iter_mut().enumerate() {
        let shift = pass as u32 * BITS;
        let mut offset = 0;
        for c in count.iter_mut() {
            let here = *c;
            *c = offset;
            offset += here;
        }
        let (src, dst): (&[u32], &mut [u32]) = if pass == 1 {
            (&*sorted, &mut *keys)
        } else {
            (&*keys, &mut *sorted)
        };
        for &k in src.iter() {
            let bucket = &mut count[((k >> shift) & MASK) as usize];
            dst[*bucket as usize] = k;
            *bucket += 1;
        }
    }
}

/// Σ |xᵢ − yᵢ| of the floats behind two key sequences, with eight float32 lanes per 1024-value
/// block (vectorised), blocks summed in float64.
fn sum_abs_key_difference(x: &[u32], y: &[u32]) -> f64 {
    x.chunks(1024)
        .zip(y.chunks(1024))
        .map(|(xb, yb)| {
            let mut lanes = [0f32; 8];
            let (xs, ys) = (xb.chunks_exact(8), yb.chunks_exact(8));
            let tail: f32 = xs
                .remainder()
                .iter()
                .zip(ys.remainder())
                .map(|(&p, &q)| (from_order_key(p) - from_order_key(q)).abs())
                .sum();
            for (p, q) in xs.zip(ys) {
                for i in 0..8 {
                    lanes[i] += (from_order_key(p[i]) - from_order_key(q[i])).abs();
                }
            }
            (lanes.iter().sum::<f32>() + tail) as f64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    use tch::{Kind, Tensor};

    /// Every kernel this CPU runs against libtorch's matmul, on sizes that are no multiple of
    /// the tiles (k of 8 and 4, n of the 48-descriptor panel, its 24-column half and a task's
    /// 768 columns) and a panel buffer holding more descriptors than are projected. A kernel
    /// the CPU cannot run is named as skipped. The two SIMD kernels sum in the same order, so
    /// where both run they agree bit for bit.
    #[test]
    fn panel_projections_equal_libtorch_matmul() {
        #[cfg(target_arch = "x86_64")]
        let (avx512, avx2) = (
            std::arch::is_x86_feature_detected!("avx512f"),
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"),
        );
        #[cfg(not(target_arch = "x86_64"))]
        let (avx512, avx2) = (false, false);
        if !avx512 {
            eprintln!("skipped: the AVX-512 projection kernel (this CPU lacks avx512f)");
        }
        if !avx2 {
            eprintln!("skipped: the AVX2 projection kernel (this CPU lacks avx2 or fma)");
        }
        let kernels = [
            (host::Kernel::Fastest, avx512),
            (host::Kernel::Avx2, avx2),
            (host::Kernel::Gemm, true),
        ];
        for (k, n) in [(13usize, 1001usize), (4, 1010), (9, 25)] {
            let (d, stored) = (147usize, n + 99);
            let lhs = Tensor::randn([k as i64, d as i64], (Kind::Float, tch::Device::Cpu));
            let rhs = Tensor::randn([stored as i64, d as i64], (Kind::Float, tch::Device::Cpu));
            let expected =
                host::to_vec_f32(&lhs.matmul(&rhs.narrow(0, 0, n as i64).transpose(0, 1)));
            let panels = to_panels(&host::to_vec_f32(&rhs), stored, d);
            let lhs = host::to_vec_f32(&lhs);
            let mut simd: Vec<Vec<f32>> = Vec::new();
            for (kernel, runs) in kernels {
                if !runs {
                    continue;
                }
                let mut out = vec![f32::NAN; k * n];
                host::project_panels(&mut out, &lhs, &panels, (k, d, n), kernel);
                let worst = out
                    .iter()
                    .zip(&expected)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-4,
                    "{kernel:?} k={k} n={n}: largest difference {worst}"
                );
                if kernel != host::Kernel::Gemm {
                    simd.push(out);
                }
            }
            if let [a, b] = simd.as_slice() {
                assert!(a == b, "AVX-512 and AVX2 differ for k={k} n={n}");
            }
        }
    }

    #[test]
    fn radix_sort_equals_the_total_order_sort() {
        // Ties, both zeros, infinities, tiny and huge values, and a length that is no multiple of
        // anything.
        let mut values: Vec<f32> = (0..10_007)
            .map(|i| ((i * 7919) % 1013) as f32 * 0.37 - 180.0)
            .collect();
        values.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-38,
            -1e38,
            3.5,
            3.5,
        ]);
        let mut keys = vec![0; values.len()];
        let mut sorted = vec![0; values.len()];
        radix_sort_keys(&values, &[], &mut keys, &mut sorted);
        let ours: Vec<u32> = sorted
            .iter()
            .map(|&k| from_order_key(k).to_bits())
            .collect();
        let mut expected = values.clone();
        expected.sort_unstable_by(f32::total_cmp);
        let expected: Vec<u32> = expected.iter().map(|v| v.to_bits()).collect();
        assert_eq!(ours, expected);
    }

    #[test]
    fn the_sum_of_differences_is_exact_on_small_integers() {
        let x: Vec<u32> = (0..2050).map(|i| order_key(i as f32)).collect();
        let y: Vec<u32> = (0..2050).map(|i| order_key(-(i as f32) / 2.0)).collect();
        let expected: f64 = (0..2050).map(|i| i as f64 * 1.5).sum();
        assert_eq!(sum_abs_key_difference(&x, &y), expected);
    }

    /// Two batches that share a panel (the second starts at descriptor 20 of 48) gathered into
    /// panels equal the row-major gather; normalised there they equal the row-major
    /// normalisation bit for bit; the layouts convert both ways.
    #[test]
    fn the_panel_layout_holds_the_row_major_descriptors() {
        let (c, h, w) = (3usize, 12usize, 12usize);
        let value = |i: usize| ((i * 7919) % 997) as f32 / 4.0;
        let batches: [(usize, usize); 2] = [(2, 0), (3, 20)]; // (images, first descriptor)
        let d = c * K * K;
        let total = 50;
        let mut rows = vec![0f32; total * d];
        let mut panels = vec![0f32; total.div_ceil(host::PANEL) * d * host::PANEL];
        for (b, &(images, first)) in batches.iter().enumerate() {
            let level: Vec<f32> = (0..images * c * h * w)
                .map(|i| value(i + 1000 * b))
                .collect();
            let count = images * 10;
            let ys: Vec<i64> = (0..count)
                .map(|i| ((i * 5 + b) % (h - K + 1)) as i64)
                .collect();
            let xs: Vec<i64> = (0..count)
                .map(|i| ((i * 3 + 2 * b) % (w - K + 1)) as i64)
                .collect();
            let (ys, xs) = (&ys[..], &xs[..]);
            let source = Neighbourhoods {
                level: &level,
                c,
                h,
                w,
                ys,
                xs,
            };
            gather(&source, &mut rows[first * d..(first + count) * d]);
            let picks: Vec<u32> = (0..count as u32).collect();
            gather_panels(&source, &mut panels, first, &picks);
        }
        assert_eq!(to_panels(&rows, total, d), panels);
        assert_eq!(from_panels(&panels, total, d), rows);
        normalize_per_channel(&mut rows, c, K * K);
        normalize_panels(&mut panels, &vec![1; total], c, K * K);
        assert_eq!(from_panels(&panels, total, d), rows);
    }

    /// Repeated corners of one image fold into the first draw's slot (its weight counted, its
    /// slot listed as a copy), the same corner in another image or past the compared
    /// descriptors does not; folded, the weighted normalisation and the completed projections
    /// equal those of every descriptor gathered.
    #[test]
    fn repeated_draws_fold_into_one_slot_with_the_same_projections() {
        let (c, h, w) = (3usize, 9usize, 9usize); // 3 x 3 corners
        let level: Vec<f32> = (0..2 * c * h * w)
            .map(|i| ((i * 7919) % 997) as f32 / 4.0)
            .collect();
        // Two images of 5 draws; compared: the first 8.
        let ys: Vec<i64> = vec![0, 1, 0, 0, 2, 0, 0, 1, 1, 0];
        let xs: Vec<i64> = vec![0, 1, 0, 0, 2, 0, 2, 1, 1, 0];
        let mut slots = Slots::new(8, h, w);
        let (first, picks) = slots.draw(&ys[..5], &xs[..5], 5);
        assert_eq!((first, picks.as_slice()), (0, &[0u32, 1, 4][..]));
        let (first, picks) = slots.draw(&ys[5..], &xs[5..], 5);
        // Image 2: (0, 0) new here; (0, 2) new; (1, 1) new; past the compared 8: own slots.
        assert_eq!((first, picks.as_slice()), (3, &[0u32, 1, 2, 3, 4][..]));
        assert_eq!(slots.weights, [3, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!((slots.unique, slots.copies.as_slice()), (6, &[0u32, 0][..]));
        assert_eq!(Slots::new(0, h, w).draw(&ys, &xs, 5).1.len(), 10);

        let d = c * K * K;
        let source = Neighbourhoods {
            level: &level,
            c,
            h,
            w,
            ys: &ys,
            xs: &xs,
        };
        let mut rows = vec![0f32; 10 * d];
        gather(&source, &mut rows);
        normalize_per_channel(&mut rows, c, K * K);
        let mut slots = Slots::new(8, h, w);
        let (_, picks) = slots.draw(&ys, &xs, 5);
        let mut panels = vec![0f32; host::PANEL * d];
        gather_panels(&source, &mut panels, 0, &picks);
        normalize_panels(&mut panels, &slots.weights, c, K * K);
        let folded = from_panels(&panels, slots.weights.len(), d);
        for (slot, &pick) in picks.iter().enumerate() {
            let (ours, all) = (&folded[slot * d..][..d], &rows[pick as usize * d..][..d]);
            let worst = ours
                .iter()
                .zip(all)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-6, "slot {slot}: differs by {worst}");
        }
        let lhs: Vec<f32> = (0..2 * d).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let (k, n) = (2usize, 8usize);
        let mut out = vec![0f32; k * n];
        host::project_panels(
            &mut out,
            &lhs,
            &panels,
            (k, d, slots.unique),
            host::Kernel::Gemm,
        );
        let row_major = to_panels(&rows, 10, d);
        let mut every = vec![0f32; k * 10];
        host::project_panels(&mut every, &lhs, &row_major, (k, d, 10), host::Kernel::Gemm);
        let compared = Compared {
            panels: &panels,
            unique: slots.unique,
            copies: &slots.copies,
        };
        for (row, all) in out.chunks_exact(n).zip(every.chunks_exact(10)) {
            let (mut keys, mut sorted) = (vec![0; n], vec![0; n]);
            radix_sort_keys(
                &row[..compared.unique],
                compared.copies,
                &mut keys,
                &mut sorted,
            );
            let mut expected = all[..n].to_vec();
            expected.sort_unstable_by(f32::total_cmp);
            for (&key, want) in sorted.iter().zip(&expected) {
                let got = from_order_key(key);
                assert!(
                    (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                    "{got} vs {want}"
                );
            }
        }
    }
}
