//! Building the grid: the coarse level everywhere, the fine level near the surface, and the
//! full grid assembled from them (see the parent module's docs).

use glam::DVec3;

use super::{BAND_CELLS, COARSE, DistanceGrid, INSIDE_ON_FACE, MAX_GRID_SAMPLES, PAD};
use crate::product::bvh::{Bvh, PartFilter};
use crate::product::import::{ImportError, ImportedMesh};
use crate::product::winding::Winding;

/// What the build computes exactly: the coarse grid and the fine samples near the surface.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exact {
    pub origin: DVec3,
    pub cell: f64,
    pub fine_dims: [usize; 3],
    pub coarse_values: Vec<f32>,
    pub coarse_parts: Vec<u8>,
    pub band_index: Vec<u32>,
    pub band_values: Vec<f32>,
    pub band_parts: Vec<u8>,
}

impl Exact {
    pub fn coarse_dims(&self) -> [usize; 3] {
        self.fine_dims.map(|n| (n - 1) / COARSE + 1)
    }
}

/// The fine grid's layout around a placed mesh.
fn layout(
    bounds: (DVec3, DVec3),
    cell: f64,
    shown: &str,
) -> Result<(DVec3, [usize; 3]), ImportError> {
    let lo = bounds.0 - DVec3::splat(PAD);
    let extent = bounds.1 - bounds.0 + DVec3::splat(2.0 * PAD);
    let coarse = cell * COARSE as f64;
    let dims = extent
        .to_array()
        .map(|e| (e / coarse).ceil().max(1.0) as usize * COARSE + 1);
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

/// Computes the exact samples: the coarse grid everywhere, the fine grid near the surface.
pub(crate) fn build(mesh: &ImportedMesh, cell: f64, shown: &str) -> Result<Exact, ImportError> {
    let triangles: Vec<[DVec3; 3]> = mesh
        .triangles
        .iter()
        .map(|t| t.map(|v| mesh.positions[v as usize]))
        .collect();
    let bounds = crate::product::geometry::bounds_of(triangles.iter().flatten().copied());
    let (origin, fine_dims) = layout(bounds, cell, shown)?;
    let bvh = Bvh::new(triangles, mesh.triangle_parts.clone());
    let winding = Winding::new(&bvh);
    let exact_at = |points: &[DVec3]| -> Vec<(f32, u8)> {
        let mut hint: Option<DVec3> = None;
        points
            .iter()
            .map(|&p| {
                // The previous sample's nearest point bounds this one's distance.
                let bound = hint.map_or(f64::INFINITY, |q| {
                    (q - p).length_squared() * (1.0 + 1e-9) + 1e-18
                });
                let nearest = bvh
                    .nearest(p, bound, PartFilter::All)
                    .or_else(|| bvh.nearest(p, f64::INFINITY, PartFilter::All));
                let Some(nearest) = nearest else {
                    return (f32::MAX, 0);
                };
                hint = Some(nearest.point);
                let distance = nearest.distance_squared.sqrt();
                // On a face the winding number is ½ from that face alone: an outer face reads
                // ½, a face inside overlapping bodies 1 or more.
                let threshold = if distance < 1e-9 { 0.75 } else { 0.5 };
                let inside = winding.at(&bvh, p).abs() > threshold;
                let d = if inside {
                    -distance.max(INSIDE_ON_FACE)
                } else {
                    distance
                };
                (d as f32, bvh.parts[nearest.triangle as usize])
            })
            .collect()
    };

    let coarse_dims = fine_dims.map(|n| (n - 1) / COARSE + 1);
    let coarse_cell = cell * COARSE as f64;
    let coarse_points: Vec<DVec3> = grid_points(origin, coarse_cell, coarse_dims);
    let coarse = parallel_map(&coarse_points, &exact_at);
    let coarse_values: Vec<f32> = coarse.iter().map(|c| c.0).collect();
    let coarse_parts: Vec<u8> = coarse.iter().map(|c| c.1).collect();

    let mut exact = Exact {
        origin,
        cell,
        fine_dims,
        coarse_values,
        coarse_parts,
        band_index: Vec::new(),
        band_values: Vec::new(),
        band_parts: Vec::new(),
    };
    let band = band_samples(&exact);
    let band_points: Vec<DVec3> = band
        .iter()
        .map(|&i| fine_point(&exact, i as usize))
        .collect();
    let computed = parallel_map(&band_points, &exact_at);
    exact.band_values = computed.iter().map(|c| c.0).collect();
    exact.band_parts = computed.iter().map(|c| c.1).collect();
    exact.band_index = band;
    Ok(exact)
}

fn grid_points(origin: DVec3, cell: f64, dims: [usize; 3]) -> Vec<DVec3> {
    let mut points = Vec::with_capacity(dims[0] * dims[1] * dims[2]);
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                points.push(origin + DVec3::new(i as f64, j as f64, k as f64) * cell);
            }
        }
    }
    points
}

fn fine_point(exact: &Exact, index: usize) -> DVec3 {
    let [nx, ny, _] = exact.fine_dims;
    let (i, j, k) = (index % nx, (index / nx) % ny, index / (nx * ny));
    exact.origin + DVec3::new(i as f64, j as f64, k as f64) * exact.cell
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

/// For each of the `COARSE³` positions of a fine sample within a coarse cell, its distance to
/// the cell's eight corners.
fn corner_distances(cell: f64) -> Vec<[f64; 8]> {
    let mut table = Vec::with_capacity(COARSE * COARSE * COARSE);
    for c in 0..COARSE {
        for b in 0..COARSE {
            for a in 0..COARSE {
                let p = DVec3::new(a as f64, b as f64, c as f64) * cell;
                let mut d = [0.0; 8];
                for (n, slot) in d.iter_mut().enumerate() {
                    let corner =
                        DVec3::new((n & 1) as f64, ((n >> 1) & 1) as f64, ((n >> 2) & 1) as f64)
                            * (cell * COARSE as f64);
                    *slot = (corner - p).length();
                }
                table.push(d);
            }
        }
    }
    table
}

/// What the coarse grid says about a fine sample: (interpolated value, lower bound on the true
/// distance's magnitude, the sign a corner's empty ball proves, if one does).
fn coarse_estimate(
    exact: &Exact,
    table: &[[f64; 8]],
    i: usize,
    j: usize,
    k: usize,
) -> (f64, f64, Option<f64>) {
    let cd = exact.coarse_dims();
    let (ci, cj, ck) = (
        (i / COARSE).min(cd[0] - 2),
        (j / COARSE).min(cd[1] - 2),
        (k / COARSE).min(cd[2] - 2),
    );
    let (a, b, c) = (i - ci * COARSE, j - cj * COARSE, k - ck * COARSE);
    let corner = |n: usize| {
        let idx = ((ck + (n >> 2 & 1)) * cd[1] + cj + (n >> 1 & 1)) * cd[0] + ci + (n & 1);
        f64::from(exact.coarse_values[idx])
    };
    let v: [f64; 8] = std::array::from_fn(corner);
    let t = DVec3::new(a as f64, b as f64, c as f64) / COARSE as f64;
    let x00 = v[0] + (v[1] - v[0]) * t.x;
    let x10 = v[2] + (v[3] - v[2]) * t.x;
    let x01 = v[4] + (v[5] - v[4]) * t.x;
    let x11 = v[6] + (v[7] - v[6]) * t.x;
    let y0 = x00 + (x10 - x00) * t.y;
    let y1 = x01 + (x11 - x01) * t.y;
    let interpolated = y0 + (y1 - y0) * t.z;
    // At a = COARSE (the far face of the last cell) the table has no row: mirror into it.
    let row = if a < COARSE && b < COARSE && c < COARSE {
        table[(c * COARSE + b) * COARSE + a]
    } else {
        let p = DVec3::new(a as f64, b as f64, c as f64) * exact.cell;
        std::array::from_fn(|n| {
            let q = DVec3::new((n & 1) as f64, ((n >> 1) & 1) as f64, ((n >> 2) & 1) as f64)
                * (exact.cell * COARSE as f64);
            (q - p).length()
        })
    };
    let mut bound = 0.0f64;
    let mut sign = None;
    for n in 0..8 {
        let slack = v[n].abs() - row[n];
        if slack > bound {
            bound = slack;
            sign = Some(v[n].signum());
        }
    }
    (interpolated, bound, sign)
}

/// Fine samples that may lie within the band: those no corner proves to be farther.
fn band_samples(exact: &Exact) -> Vec<u32> {
    let table = corner_distances(exact.cell);
    let band = BAND_CELLS * exact.cell;
    let [nx, ny, nz] = exact.fine_dims;
    let mut out = Vec::new();
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if i % COARSE == 0 && j % COARSE == 0 && k % COARSE == 0 {
                    continue;
                }
                let (_, bound, _) = coarse_estimate(exact, &table, i, j, k);
                if bound <= band {
                    out.push(((k * ny + j) * nx + i) as u32);
                }
            }
        }
    }
    out
}

/// The full fine grid from the exact samples: coarse samples where they coincide, the band's
/// exact values, and elsewhere the coarse grid's estimate with its proven sign.
pub(crate) fn assemble(exact: &Exact) -> DistanceGrid {
    let table = corner_distances(exact.cell);
    let [nx, ny, nz] = exact.fine_dims;
    let cd = exact.coarse_dims();
    let mut values = vec![0f32; nx * ny * nz];
    let mut parts = vec![0u8; nx * ny * nz];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let idx = (k * ny + j) * nx + i;
                let (ci, cj, ck) = (
                    (i + COARSE / 2) / COARSE,
                    (j + COARSE / 2) / COARSE,
                    (k + COARSE / 2) / COARSE,
                );
                let nearest =
                    (ck.min(cd[2] - 1) * cd[1] + cj.min(cd[1] - 1)) * cd[0] + ci.min(cd[0] - 1);
                parts[idx] = exact.coarse_parts[nearest];
                if i % COARSE == 0 && j % COARSE == 0 && k % COARSE == 0 {
                    values[idx] = exact.coarse_values[nearest];
                    continue;
                }
                let (interpolated, bound, sign) = coarse_estimate(exact, &table, i, j, k);
                let sign = sign.unwrap_or(interpolated.signum());
                values[idx] = (sign * interpolated.abs().max(bound)) as f32;
            }
        }
    }
    for ((&i, &v), &p) in exact
        .band_index
        .iter()
        .zip(&exact.band_values)
        .zip(&exact.band_parts)
    {
        values[i as usize] = v;
        parts[i as usize] = p;
    }
    DistanceGrid {
        origin: exact.origin,
        cell: exact.cell,
        dims: exact.fine_dims,
        values,
        parts,
    }
}
