//! Building the grid as a pyramid of levels, each [`REFINE`] times finer than the last (see
//! the parent module's docs): the coarsest level exactly everywhere, each finer one exactly
//! where it may lie near the surface and estimated elsewhere from the level above: [`pyramid`]
//! walks down the levels and asks a callback for each level's exact samples, which [`build`]
//! computes.

use glam::DVec3;

use super::grid::{BRICK, DistanceGrid};
use super::{BAND_CELLS, INSIDE_ON_FACE, MAX_GRID_SAMPLES, PAD};
use crate::product::bvh::{Bvh, PartFilter};
use crate::product::import::{ImportError, ImportedMesh};
use crate::product::winding::Winding;

/// Each level has this many times the samples of the level above along each axis.
pub const REFINE: usize = 4;

/// How many levels sit above the finest: enough that the coarsest samples lie about a tenth
/// of the product's size apart.
pub(crate) fn coarse_levels(cell: f64) -> u32 {
    let mut levels = 1;
    while levels < 3 && cell * (REFINE.pow(levels) as f64) < 0.1 {
        levels += 1;
    }
    levels
}

/// The fine grid's layout around a placed mesh: its origin and samples per axis (one more
/// than a multiple of the coarsest level's step, so every level lines up).
pub(crate) fn layout(
    bounds: (DVec3, DVec3),
    cell: f64,
    shown: &str,
) -> Result<(DVec3, [usize; 3]), ImportError> {
    let lo = bounds.0 - DVec3::splat(PAD);
    let extent = bounds.1 - bounds.0 + DVec3::splat(2.0 * PAD);
    let step = REFINE.pow(coarse_levels(cell));
    let coarse = cell * step as f64;
    let dims = extent
        .to_array()
        .map(|e| (e / coarse).ceil().max(1.0) as usize * step + 1);
    let total = dims.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d));
    match total {
        Some(n) if n <= MAX_GRID_SAMPLES => Ok((lo, dims)),
        _ => Err(ImportError::Grid {
            path: shown.to_string(),
            message: format!(
                "a distance grid of {} × {} × {} samples is more than the {} allowed; lower \
                 import.resolution",
                dims[0], dims[1], dims[2], MAX_GRID_SAMPLES
            ),
        }),
    }
}

/// Computes the grid of a placed mesh.
pub(crate) fn build(
    mesh: &ImportedMesh,
    cell: f64,
    shown: &str,
) -> Result<DistanceGrid, ImportError> {
    let triangles: Vec<[DVec3; 3]> = mesh
        .triangles
        .iter()
        .map(|t| t.map(|v| mesh.positions[v as usize]))
        .collect();
    let bounds = crate::product::geometry::bounds_of(triangles.iter().flatten().copied());
    let (origin, fine_dims) = layout(bounds, cell, shown)?;
    let bvh = Bvh::new(triangles, mesh.triangle_parts.clone());
    let winding = Winding::new(&bvh);
    // Signs carry between neighbouring samples through balls free of triangles; across a hole
    // the winding number changes with no triangle there, so an open mesh asks it every time.
    let closed = mesh.report.boundary_edges == 0;
    pyramid(origin, cell, fine_dims, &mut |_, _, points| {
        Ok(parallel_map(points, &|chunk| {
            exact_samples(&bvh, &winding, chunk, closed)
        }))
    })
    .map_err(|message| ImportError::Grid {
        path: shown.to_string(),
        message,
    })
}

/// Exact signed distance and nearest part at each point, in order. Consecutive points are
/// usually neighbours: the previous nearest point bounds the search, and the previous sign
/// carries over when either point's empty ball holds the other.
fn exact_samples(bvh: &Bvh, winding: &Winding, points: &[DVec3], inherit: bool) -> Vec<(f32, u8)> {
    let mut last: Option<(DVec3, DVec3, f64)> = None; // point, its nearest point, signed distance
    points
        .iter()
        .map(|&p| {
            let bound = last.map_or(f64::INFINITY, |(_, q, _)| {
                (q - p).length_squared() * (1.0 + 1e-9) + 1e-18
            });
            let Some(nearest) = bvh
                .nearest(p, bound, PartFilter::All)
                .or_else(|| bvh.nearest(p, f64::INFINITY, PartFilter::All))
            else {
                return (f32::MAX, 0);
            };
            let distance = nearest.distance_squared.sqrt();
            let inherited = last.filter(|_| inherit).and_then(|(prev, _, d)| {
                let gap = (p - prev).length();
                (gap < d.abs().max(distance)).then_some(d < 0.0)
            });
            let inside = inherited.unwrap_or_else(|| {
                // On a face the winding number is ½ from that face alone: an outer face reads
                // ½, a face inside overlapping bodies 1 or more.
                let threshold = if distance < 1e-9 { 0.75 } else { 0.5 };
                winding.at(bvh, p).abs() > threshold
            });
            let d = if inside {
                -distance.max(INSIDE_ON_FACE)
            } else {
                distance
            };
            last = Some((p, nearest.point, d));
            (d as f32, bvh.parts[nearest.triangle as usize])
        })
        .collect()
}

/// One level of the pyramid while it is walked: estimate, a lower bound on the true
/// distance's magnitude, and the part, per sample.
struct Level {
    dims: [usize; 3],
    estimate: Vec<f32>,
    bound: Vec<f32>,
    parts: Vec<u8>,
}

type ExactFn<'a> = dyn FnMut(usize, &[u32], &[DVec3]) -> Result<Vec<(f32, u8)>, String> + 'a;

/// Walks the pyramid from the coarsest level down, asking `exact(level, indices, points)` for
/// the samples that must be exact; the finest level is kept only in bricks near the surface.
pub(crate) fn pyramid(
    origin: DVec3,
    cell: f64,
    fine_dims: [usize; 3],
    exact: &mut ExactFn,
) -> Result<DistanceGrid, String> {
    let levels = coarse_levels(cell) as usize;
    let step = REFINE.pow(levels as u32);
    if fine_dims
        .iter()
        .any(|n| *n < 2 * step || (n - 1) % step != 0)
    {
        return Err("the grid's size does not fit its levels".into());
    }
    let dims_at = |l: usize| fine_dims.map(|n| (n - 1) / REFINE.pow(l as u32) + 1);
    let spacing_at = |l: usize| cell * REFINE.pow(l as u32) as f64;
    let point = |dims: [usize; 3], spacing: f64, index: usize| {
        let (i, j, k) = (
            index % dims[0],
            (index / dims[0]) % dims[1],
            index / (dims[0] * dims[1]),
        );
        origin + DVec3::new(i as f64, j as f64, k as f64) * spacing
    };
    // The coarsest level: every sample exact.
    let dims = dims_at(levels);
    let count = dims.iter().product::<usize>();
    let index: Vec<u32> = (0..count as u32).collect();
    let points: Vec<DVec3> = (0..count)
        .map(|i| point(dims, spacing_at(levels), i))
        .collect();
    let samples = exact(levels, &index, &points)?;
    if samples.len() != count {
        return Err(format!(
            "level {levels}: {} samples for {count} asked",
            samples.len()
        ));
    }
    let mut above = Level {
        dims,
        estimate: samples.iter().map(|s| s.0).collect(),
        bound: samples.iter().map(|s| s.0.abs()).collect(),
        parts: samples.iter().map(|s| s.1).collect(),
    };
    // The band each level computes exactly grows by a cell diagonal of the level above, so
    // the samples near the band below are estimated from exact ones.
    let mut bands = vec![BAND_CELLS * cell];
    for l in 1..levels {
        bands.push(bands[l - 1] + 3f64.sqrt() * spacing_at(l));
    }
    for l in (1..levels).rev() {
        let dims = dims_at(l);
        let spacing = spacing_at(l);
        let table = corner_table(spacing);
        let slabs = parallel_map(&(0..dims[2]).collect::<Vec<_>>(), &|ks: &[usize]| {
            let mut out = Vec::with_capacity(ks.len() * dims[0] * dims[1]);
            for &k in ks {
                for j in 0..dims[1] {
                    for i in 0..dims[0] {
                        out.push(estimate(&above, &table, [i, j, k]));
                    }
                }
            }
            out
        });
        let marked: Vec<u32> = slabs
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.coincident && e.lower <= bands[l])
            .map(|(i, _)| i as u32)
            .collect();
        let mut level = Level {
            dims,
            estimate: slabs.iter().map(|e| e.value).collect(),
            bound: slabs.iter().map(|e| e.lower as f32).collect(),
            parts: slabs.iter().map(|e| e.part).collect(),
        };
        let points: Vec<DVec3> = marked
            .iter()
            .map(|&i| point(dims, spacing, i as usize))
            .collect();
        let samples = exact(l, &marked, &points)?;
        if samples.len() != marked.len() {
            return Err(format!(
                "level {l}: {} samples for {} asked",
                samples.len(),
                marked.len()
            ));
        }
        for (&i, (value, part)) in marked.iter().zip(samples) {
            level.estimate[i as usize] = value;
            level.bound[i as usize] = value.abs();
            level.parts[i as usize] = part;
        }
        above = level;
    }
    let marked = mark_finest(&above, cell, fine_dims, bands[0]);
    finest(&above, origin, cell, fine_dims, marked, exact, &|i| {
        point(fine_dims, cell, i)
    })
}

/// A sample of a level estimated from the level above.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Sign proven, magnitude interpolated and never below `lower`.
    value: f32,
    /// A lower bound on the true distance's magnitude.
    lower: f64,
    part: u8,
    /// The same point as a sample of the level above (copied from it).
    coincident: bool,
}

/// Distances from each position within a cell of the level above (0..=REFINE per axis, x
/// fastest) to the cell's eight corners, for samples `spacing` apart.
fn corner_table(spacing: f64) -> Vec<[f64; 8]> {
    let n = REFINE + 1;
    (0..n * n * n)
        .map(|t| {
            let p =
                DVec3::new((t % n) as f64, ((t / n) % n) as f64, (t / (n * n)) as f64) * spacing;
            std::array::from_fn(|c| {
                let corner =
                    DVec3::new((c & 1) as f64, ((c >> 1) & 1) as f64, ((c >> 2) & 1) as f64)
                        * (spacing * REFINE as f64);
                (corner - p).length()
            })
        })
        .collect()
}

/// Estimates sample `[i, j, k]` of the level below `above` from the corners of its cell.
fn estimate(above: &Level, table: &[[f64; 8]], [i, j, k]: [usize; 3]) -> Estimate {
    let ad = above.dims;
    let (ci, cj, ck) = (
        (i / REFINE).min(ad[0] - 2),
        (j / REFINE).min(ad[1] - 2),
        (k / REFINE).min(ad[2] - 2),
    );
    let (a, b, c) = (i - ci * REFINE, j - cj * REFINE, k - ck * REFINE);
    let corner =
        |q: usize| ((ck + (q >> 2 & 1)) * ad[1] + cj + (q >> 1 & 1)) * ad[0] + ci + (q & 1);
    let nearest = corner(
        usize::from(a * 2 >= REFINE)
            | (usize::from(b * 2 >= REFINE) << 1)
            | (usize::from(c * 2 >= REFINE) << 2),
    );
    let part = above.parts[nearest];
    if a % REFINE == 0 && b % REFINE == 0 && c % REFINE == 0 {
        return Estimate {
            value: above.estimate[nearest],
            lower: f64::from(above.bound[nearest]),
            part,
            coincident: true,
        };
    }
    let v: [f64; 8] = std::array::from_fn(|q| f64::from(above.estimate[corner(q)]));
    let t = DVec3::new(a as f64, b as f64, c as f64) / REFINE as f64;
    let x00 = v[0] + (v[1] - v[0]) * t.x;
    let x10 = v[2] + (v[3] - v[2]) * t.x;
    let x01 = v[4] + (v[5] - v[4]) * t.x;
    let x11 = v[6] + (v[7] - v[6]) * t.x;
    let y0 = x00 + (x10 - x00) * t.y;
    let y1 = x01 + (x11 - x01) * t.y;
    let interpolated = y0 + (y1 - y0) * t.z;
    let n = REFINE + 1;
    let row = &table[(c * n + b) * n + a];
    let (mut lower, mut sign) = (0.0f64, interpolated.signum());
    for q in 0..8 {
        // |d(p)| ≥ |d(corner)| − |p − corner|, and where that is positive p lies in the
        // corner's ball free of triangles, on its side of the surface.
        let slack = f64::from(above.bound[corner(q)]) - row[q];
        if slack > lower {
            lower = slack;
            sign = v[q].signum();
        }
    }
    Estimate {
        value: (sign * interpolated.abs().max(lower)) as f32,
        lower,
        part,
        coincident: false,
    }
}

/// The fine samples of a cell of the level above, both faces included.
fn cell_samples(cells: [usize; 3], c: usize) -> impl Iterator<Item = [usize; 3]> {
    let (ci, cj, ck) = (
        c % cells[0],
        (c / cells[0]) % cells[1],
        c / (cells[0] * cells[1]),
    );
    (0..BRICK * BRICK * BRICK).map(move |s| {
        [
            ci * REFINE + s % BRICK,
            cj * REFINE + (s / BRICK) % BRICK,
            ck * REFINE + s / (BRICK * BRICK),
        ]
    })
}

/// The finest level's samples that may lie within `band` (in index order).
fn mark_finest(above: &Level, cell: f64, fine_dims: [usize; 3], band: f64) -> Vec<u32> {
    let cd = above.dims;
    let cells = [cd[0] - 1, cd[1] - 1, cd[2] - 1];
    let table = corner_table(cell);
    let diagonal = 3f64.sqrt() * REFINE as f64 * cell;
    let [nx, ny, _] = fine_dims;
    // Cells some corner proves to lie wholly beyond the band need no look inside.
    let candidates: Vec<usize> = (0..cells.iter().product())
        .filter(|&c| {
            let (ci, cj, ck) = (
                c % cells[0],
                (c / cells[0]) % cells[1],
                c / (cells[0] * cells[1]),
            );
            let best = (0..8)
                .map(|q| {
                    above.bound
                        [((ck + (q >> 2 & 1)) * cd[1] + cj + (q >> 1 & 1)) * cd[0] + ci + (q & 1)]
                })
                .fold(0.0f32, f32::max);
            f64::from(best) - diagonal <= band
        })
        .collect();
    let mut marked: Vec<u32> = parallel_map(&candidates, &|cs: &[usize]| {
        let mut out = Vec::new();
        for &c in cs {
            for [i, j, k] in cell_samples(cells, c) {
                let e = estimate(above, &table, [i, j, k]);
                if !e.coincident && e.lower <= band {
                    out.push(((k * ny + j) * nx + i) as u32);
                }
            }
        }
        out
    });
    marked.sort_unstable();
    marked.dedup();
    marked
}

/// The finest level, in bricks: one per cell of `above` holding a `marked` sample, every such
/// sample exact, the brick's others estimated.
fn finest(
    above: &Level,
    origin: DVec3,
    cell: f64,
    fine_dims: [usize; 3],
    marked: Vec<u32>,
    exact: &mut ExactFn,
    point: &dyn Fn(usize) -> DVec3,
) -> Result<DistanceGrid, String> {
    let cd = above.dims;
    let cells = [cd[0] - 1, cd[1] - 1, cd[2] - 1];
    let table = corner_table(cell);
    let [nx, ny, _] = fine_dims;
    let points: Vec<DVec3> = marked.iter().map(|&i| point(i as usize)).collect();
    let samples = exact(0, &marked, &points)?;
    if samples.len() != marked.len() {
        return Err(format!(
            "level 0: {} samples for {} asked",
            samples.len(),
            marked.len()
        ));
    }
    // Every cell a marked sample lies in or on is a brick, so neighbouring cells agree on it.
    let containing = |index: u32| {
        let index = index as usize;
        let (i, j, k) = (index % nx, (index / nx) % ny, index / (nx * ny));
        let span = |x: usize, n: usize| {
            let lo = if x.is_multiple_of(REFINE) && x > 0 {
                x / REFINE - 1
            } else {
                x / REFINE
            };
            lo..=(x / REFINE).min(n - 1)
        };
        let (si, sj, sk) = (span(i, cells[0]), span(j, cells[1]), span(k, cells[2]));
        sk.flat_map(move |ck| {
            let (si, sj) = (si.clone(), sj.clone());
            sj.flat_map(move |cj| {
                si.clone()
                    .map(move |ci| (ck * cells[1] + cj) * cells[0] + ci)
            })
        })
    };
    let mut brick_of = vec![0u32; cells.iter().product()];
    let mut bricks_in_order = Vec::new();
    for &m in &marked {
        for c in containing(m) {
            if brick_of[c] == 0 {
                bricks_in_order.push(c);
                brick_of[c] = 1;
            }
        }
    }
    bricks_in_order.sort_unstable();
    for (b, &c) in bricks_in_order.iter().enumerate() {
        brick_of[c] = b as u32 + 1;
    }
    let per_brick = BRICK * BRICK * BRICK;
    let filled = parallel_map(&bricks_in_order, &|cs: &[usize]| {
        cs.iter()
            .flat_map(|&c| cell_samples(cells, c).map(|s| estimate(above, &table, s)))
            .map(|e| (e.value, e.part))
            .collect()
    });
    let mut bricks: Vec<f32> = filled.iter().map(|f| f.0).collect();
    let mut brick_parts: Vec<u8> = filled.iter().map(|f| f.1).collect();
    for (&m, (value, part)) in marked.iter().zip(samples) {
        let index = m as usize;
        let (i, j, k) = (index % nx, (index / nx) % ny, index / (nx * ny));
        for c in containing(m) {
            let (ci, cj, ck) = (
                c % cells[0],
                (c / cells[0]) % cells[1],
                c / (cells[0] * cells[1]),
            );
            let local = ((k - ck * REFINE) * BRICK + (j - cj * REFINE)) * BRICK + (i - ci * REFINE);
            let slot = (brick_of[c] as usize - 1) * per_brick + local;
            bricks[slot] = value;
            brick_parts[slot] = part;
        }
    }
    Ok(DistanceGrid {
        origin,
        cell,
        dims: fine_dims,
        coarse_dims: cd,
        coarse: above.estimate.clone(),
        coarse_parts: above.parts.clone(),
        brick_of,
        bricks,
        brick_parts,
    })
}

/// Maps `f` over `items` in contiguous chunks on all cores, keeping the order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: &(impl Fn(&[T]) -> Vec<R> + Sync)) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Many more chunks than threads, taken in turn, so threads finish together.
    let chunk = items.len().div_ceil(threads * 16).max(1);
    let chunks: Vec<&[T]> = items.chunks(chunk).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Vec<R>>> = (0..chunks.len())
        .map(|_| std::sync::Mutex::new(Vec::new()))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(chunk) = chunks.get(c) else { break };
                    let out = f(chunk);
                    if let Ok(mut slot) = results[c].lock() {
                        *slot = out;
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .flat_map(|m| m.into_inner().unwrap_or_default())
        .collect()
}
