//! From a distance field to a triangle mesh: sample the field on a regular grid, then extract
//! the zero surface with surface nets (one vertex per cell the surface crosses, one quad per grid
//! edge it crosses). Surface nets always give a closed surface when the object lies inside the
//! grid, which is what the watertightness test checks.

use glam::DVec3;

use super::geometry::Field;
use super::sdf::Solid;

/// An indexed triangle mesh, counter-clockwise seen from outside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    pub positions: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    /// Part id of each vertex (flat-shaded per triangle from its first vertex).
    pub parts: Vec<u8>,
    pub indices: Vec<u32>,
}

impl Mesh {
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    pub fn triangles(&self) -> impl Iterator<Item = [DVec3; 3]> + '_ {
        self.indices
            .chunks_exact(3)
            .map(|t| [0, 1, 2].map(|i| DVec3::from(self.positions[t[i] as usize].map(f64::from))))
    }

    /// Enclosed volume by the divergence theorem (positive for outward-facing triangles).
    pub fn volume(&self) -> f64 {
        self.triangles()
            .map(|[a, b, c]| a.dot(b.cross(c)) / 6.0)
            .sum()
    }

    pub fn bounds(&self) -> (DVec3, DVec3) {
        self.positions.iter().fold(
            (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
            |(lo, hi), p| {
                let p = DVec3::from(p.map(f64::from));
                (lo.min(p), hi.max(p))
            },
        )
    }

    /// True when every directed edge a→b is matched by exactly one b→a: the surface is closed
    /// and consistently oriented.
    pub fn is_closed(&self) -> bool {
        let mut edges: std::collections::HashMap<(u32, u32), i32> = Default::default();
        for t in self.indices.chunks_exact(3) {
            for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
                *edges.entry((a.min(b), a.max(b))).or_default() += if a < b { 1 } else { -1 };
            }
        }
        edges.values().all(|&balance| balance == 0)
    }
}

/// The distance field sampled at the corners of a regular grid.
#[derive(Debug, Clone)]
pub struct Grid {
    origin: DVec3,
    cell: f64,
    dims: [usize; 3],
    values: Vec<f32>,
}

/// Where the lattice sits, as a fraction of a cell below the mesh box's corner. Products are
/// drawn in round numbers (the cap's wall at radius 1, its base at height 0), and a sample
/// exactly on the surface has a sign that rounding decides: the built-in field and a mesh of
/// it would then mesh the same face differently. An irrational fraction keeps round
/// dimensions off the lattice.
pub const LATTICE_SHIFT: f64 = std::f64::consts::FRAC_1_PI;

/// The first lattice point of a grid over a box whose low corner is `lo`.
fn lattice_origin(lo: DVec3, cell: f64) -> DVec3 {
    lo - DVec3::splat(LATTICE_SHIFT * cell)
}

/// Most points a grid may have: each holds a 4-byte field value and a 4-byte vertex slot, and
/// each defect meshed at once holds a copy. The built-in cap at the finest automatic cell
/// (0.01) needs 12.2 million.
pub const MAX_GRID_POINTS: usize = 64 << 20;

impl Grid {
    /// How many points [`Grid::for_shape`] would sample, counted without overflow; `None`
    /// when the cell is not a positive finite size or the count does not fit a `usize`.
    pub fn points_for(shape: &(impl Field + ?Sized), cell: f64) -> Option<usize> {
        if !(cell.is_finite() && cell > 0.0) {
            return None;
        }
        let (lo, hi) = shape.mesh_box(cell);
        let n = ((hi - lattice_origin(lo, cell)) / cell).ceil();
        [n.x, n.y, n.z]
            .into_iter()
            .try_fold(1usize, |points, side| {
                if !(side.is_finite() && (0.0..1e15).contains(&side)) {
                    return None;
                }
                points.checked_mul(side as usize + 1)
            })
    }

    /// A grid covering the product's [`Field::mesh_box`] (the product, room for defects that
    /// add material, and a margin of two cells so the surface never touches the grid's
    /// border) at edge length `cell`; [`Grid::points_for`] must be at most
    /// [`MAX_GRID_POINTS`] (product validation and dataset set-up check it).
    pub fn for_shape(shape: &(impl Field + ?Sized), cell: f64) -> Self {
        let (lo, hi) = shape.mesh_box(cell);
        let origin = lattice_origin(lo, cell);
        let n = ((hi - origin) / cell).ceil();
        let dims = [n.x as usize + 1, n.y as usize + 1, n.z as usize + 1];
        Self {
            origin,
            cell,
            dims,
            values: vec![0.0; dims[0] * dims[1] * dims[2]],
        }
    }

    fn index(&self, i: usize, j: usize, k: usize) -> usize {
        (k * self.dims[1] + j) * self.dims[0] + i
    }

    fn point(&self, i: usize, j: usize, k: usize) -> DVec3 {
        self.origin + DVec3::new(i as f64, j as f64, k as f64) * self.cell
    }

    /// Samples `solid` at every grid point.
    pub fn sample(mut self, solid: &(impl Field + ?Sized)) -> Self {
        self.resample_box(
            solid,
            self.origin,
            self.point(self.dims[0], self.dims[1], self.dims[2]),
        );
        self
    }

    /// Re-samples only the grid points inside a box (plus one cell), e.g. a defect's region of
    /// influence on top of the good product's grid. Points outside keep their exact values, so
    /// the mesh there is identical to the good product's.
    pub fn resample_box(&mut self, solid: &(impl Field + ?Sized), lo: DVec3, hi: DVec3) {
        let to_index = |v: DVec3, round_up: bool| -> [usize; 3] {
            let g = (v - self.origin) / self.cell;
            let g = if round_up {
                g.ceil() + 1.0
            } else {
                g.floor() - 1.0
            };
            [0, 1, 2].map(|a| (g[a].max(0.0) as usize).min(self.dims[a] - 1))
        };
        let (a, b) = (to_index(lo, false), to_index(hi, true));
        for k in a[2]..=b[2] {
            for j in a[1]..=b[1] {
                for i in a[0]..=b[0] {
                    let idx = self.index(i, j, k);
                    self.values[idx] = solid.sdf(self.point(i, j, k)) as f32;
                }
            }
        }
    }

    /// Extracts the surface; normals and part ids come from `solid` itself, not the grid.
    pub fn surface_nets(&self, solid: &(impl Field + ?Sized)) -> Mesh {
        self.extract(solid, false)
    }

    /// As [`Grid::surface_nets`], but each vertex goes where the planes through its cell's
    /// crossings meet (dual contouring), so sharp edges and corners stay sharp instead of
    /// being bevelled by about a cell. For exporting a field as a mesh, where the mesh stands
    /// for the exact shape; a vertex whose planes do not meet inside its cell keeps the
    /// surface-nets place.
    pub fn dual_contouring(&self, solid: &(impl Field + ?Sized)) -> Mesh {
        self.extract(solid, true)
    }

    fn extract(&self, solid: &(impl Field + ?Sized), sharp: bool) -> Mesh {
        let [nx, ny, nz] = self.dims;
        let mut cell_vertex = vec![u32::MAX; nx * ny * nz];
        let mut mesh = Mesh::default();
        const CORNERS: [[usize; 3]; 8] = [
            [0, 0, 0],
            [1, 0, 0],
            [0, 1, 0],
            [1, 1, 0],
            [0, 0, 1],
            [1, 0, 1],
            [0, 1, 1],
            [1, 1, 1],
        ];
        const EDGES: [(usize, usize); 12] = [
            (0, 1),
            (2, 3),
            (4, 5),
            (6, 7),
            (0, 2),
            (1, 3),
            (4, 6),
            (5, 7),
            (0, 4),
            (1, 5),
            (2, 6),
            (3, 7),
        ];
        for k in 0..nz - 1 {
            for j in 0..ny - 1 {
                for i in 0..nx - 1 {
                    let v = CORNERS.map(|c| self.values[self.index(i + c[0], j + c[1], k + c[2])]);
                    let inside = v.iter().filter(|x| **x < 0.0).count();
                    if inside == 0 || inside == 8 {
                        continue;
                    }
                    let mut sum = DVec3::ZERO;
                    let mut count = 0.0;
                    let mut crossings = Vec::new();
                    for (a, b) in EDGES {
                        if (v[a] < 0.0) != (v[b] < 0.0) {
                            let t = f64::from(v[a] / (v[a] - v[b]));
                            let pa = DVec3::from(CORNERS[a].map(|c| c as f64));
                            let pb = DVec3::from(CORNERS[b].map(|c| c as f64));
                            sum += pa + (pb - pa) * t;
                            count += 1.0;
                            if sharp {
                                crossings.push((pa, pb, t));
                            }
                        }
                    }
                    let cell_lo = self.point(i, j, k);
                    let guess = cell_lo + sum / count * self.cell;
                    let mut p = project_to_surface(solid, guess, cell_lo, self.cell);
                    // The part where surface nets puts the vertex: a sharp vertex sits on the
                    // edge itself, often a border between parts, where either would answer.
                    let part = solid.part_at(p);
                    if sharp {
                        let at = |u: DVec3| cell_lo + u * self.cell;
                        let planes: Vec<(DVec3, DVec3)> = crossings
                            .iter()
                            .map(|&(pa, pb, t)| {
                                let x = edge_root(solid, at(pa), at(pb), t);
                                (x, solid.normal(x, self.cell * 0.01))
                            })
                            .collect();
                        // Kept only on the surface: planes from both sides of a wall thinner
                        // than the cell can meet inside the material.
                        if let Some(q) = meet_of_planes(&planes, p, cell_lo, self.cell)
                            && solid.sdf(q).abs() <= 0.1 * self.cell
                        {
                            p = q;
                        }
                    }
                    let n = solid.normal(p, self.cell * 0.25);
                    cell_vertex[self.index(i, j, k)] = mesh.positions.len() as u32;
                    mesh.positions.push(p.as_vec3().to_array());
                    mesh.normals.push(n.as_vec3().to_array());
                    mesh.parts.push(part);
                }
            }
        }
        // One quad per grid edge with a sign change, joining the four cells around that edge.
        let cell = |i: usize, j: usize, k: usize| cell_vertex[self.index(i, j, k)];
        let mut quad = |q: [u32; 4], outward_positive: bool| {
            let q = if outward_positive {
                q
            } else {
                [q[0], q[3], q[2], q[1]]
            };
            // Split along the shorter diagonal for better-shaped triangles.
            let p = q.map(|i| DVec3::from(mesh.positions[i as usize].map(f64::from)));
            if (p[0] - p[2]).length_squared() <= (p[1] - p[3]).length_squared() {
                mesh.indices
                    .extend_from_slice(&[q[0], q[1], q[2], q[0], q[2], q[3]]);
            } else {
                mesh.indices
                    .extend_from_slice(&[q[0], q[1], q[3], q[1], q[2], q[3]]);
            }
        };
        for k in 1..nz - 1 {
            for j in 1..ny - 1 {
                for i in 1..nx - 1 {
                    let here = self.values[self.index(i, j, k)] < 0.0;
                    // Edge along +x: cells around it in the (y, z) plane.
                    if i + 1 < nx && here != (self.values[self.index(i + 1, j, k)] < 0.0) {
                        quad(
                            [
                                cell(i, j - 1, k - 1),
                                cell(i, j, k - 1),
                                cell(i, j, k),
                                cell(i, j - 1, k),
                            ],
                            here,
                        );
                    }
                    // Along +y: cells in the (z, x) plane.
                    if j + 1 < ny && here != (self.values[self.index(i, j + 1, k)] < 0.0) {
                        quad(
                            [
                                cell(i - 1, j, k - 1),
                                cell(i - 1, j, k),
                                cell(i, j, k),
                                cell(i, j, k - 1),
                            ],
                            here,
                        );
                    }
                    // Along +z: cells in the (x, y) plane.
                    if k + 1 < nz && here != (self.values[self.index(i, j, k + 1)] < 0.0) {
                        quad(
                            [
                                cell(i - 1, j - 1, k),
                                cell(i, j - 1, k),
                                cell(i, j, k),
                                cell(i - 1, j, k),
                            ],
                            here,
                        );
                    }
                }
            }
        }
        mesh
    }
}

/// Moves a surface-nets vertex onto the true surface (Newton steps along the gradient), kept
/// within its cell so the mesh cannot fold over at sharp edges.
fn project_to_surface(
    solid: &(impl Field + ?Sized),
    mut p: DVec3,
    cell_lo: DVec3,
    cell: f64,
) -> DVec3 {
    let eps = cell * 0.1;
    for _ in 0..2 {
        let d = solid.sdf(p);
        let g = solid.normal(p, eps);
        p -= g * d;
        p = p.clamp(cell_lo, cell_lo + DVec3::splat(cell));
    }
    p
}

/// Where the field changes sign between `a` and `b`, refined from the linear estimate `t`
/// by regula falsi on the field itself.
fn edge_root(solid: &(impl Field + ?Sized), a: DVec3, b: DVec3, t: f64) -> DVec3 {
    let (mut lo, mut hi) = (0.0, 1.0);
    let (mut f_lo, mut f_hi) = (solid.sdf(a), solid.sdf(b));
    let mut t = t.clamp(0.0, 1.0);
    for _ in 0..12 {
        let f = solid.sdf(a.lerp(b, t));
        if f == 0.0 {
            break;
        }
        if (f < 0.0) == (f_lo < 0.0) {
            (lo, f_lo) = (t, f);
        } else {
            (hi, f_hi) = (t, f);
        }
        let next = lo + (hi - lo) * f_lo / (f_lo - f_hi);
        // Fall back to bisection when the secant stalls at one end.
        t = if next.is_finite() && next > lo && next < hi {
            next
        } else {
            (lo + hi) / 2.0
        };
    }
    a.lerp(b, t)
}

/// The point nearest `fallback` that lies on all of `planes` (point, normal) in the least
/// squares sense, pulled gently towards `fallback` where the planes leave a direction free
/// (a flat face, or an edge along its length). None when it falls outside the cell.
fn meet_of_planes(
    planes: &[(DVec3, DVec3)],
    fallback: DVec3,
    cell_lo: DVec3,
    cell: f64,
) -> Option<DVec3> {
    use glam::DMat3;
    // Solve for the offset from the fallback point, so the pull is towards it.
    let mut ata = DMat3::from_diagonal(DVec3::splat(1e-3));
    let mut atb = DVec3::ZERO;
    for &(x, n) in planes {
        if !n.is_finite() || n.length_squared() < 0.5 {
            continue;
        }
        ata += DMat3::from_cols(n * n.x, n * n.y, n * n.z);
        atb += n * n.dot(x - fallback);
    }
    let q = fallback + ata.inverse() * atb;
    let slack = cell * 1e-6;
    let inside =
        q.cmpge(cell_lo - slack).all() && q.cmple(cell_lo + DVec3::splat(cell + slack)).all();
    (q.is_finite() && inside).then_some(q)
}

/// Meshes a solid at the given cell size.
pub fn mesh_solid(solid: &Solid, cell: f64) -> Mesh {
    Grid::for_shape(&solid.shape, cell)
        .sample(solid)
        .surface_nets(solid)
}

/// Meshes a solid at the given cell size with sharp edges kept ([`Grid::dual_contouring`]).
pub fn mesh_solid_sharp(solid: &Solid, cell: f64) -> Mesh {
    Grid::for_shape(&solid.shape, cell)
        .sample(solid)
        .dual_contouring(solid)
}

/// Meshes a defective solid by re-sampling only the defect's region of the good product's grid.
pub fn mesh_defective(good_grid: &Grid, solid: &Solid) -> Mesh {
    let mut grid = good_grid.clone();
    if let Some(defect) = &solid.defect {
        let (lo, hi) = defect.influence_box(&solid.shape);
        grid.resample_box(solid, lo, hi);
    }
    grid.surface_nets(solid)
}

/// The finest cell [`auto_cell`] chooses.
pub const FINEST_AUTO_CELL: f64 = 0.01;

/// Cell size for a render: about one cell per output pixel, within sensible limits.
pub fn auto_cell(pixels_per_unit: f64) -> f64 {
    (1.0 / pixels_per_unit).clamp(FINEST_AUTO_CELL, 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::ProductSpec;
    use crate::rng::Rng;

    const CELL: f64 = 0.04;

    fn good() -> Solid {
        Solid::good(ProductSpec::builtin_cap().shape())
    }

    #[test]
    fn cap_mesh_is_closed_outward_and_the_right_size() {
        let solid = good();
        let mesh = mesh_solid(&solid, CELL);
        assert!(mesh.triangle_count() > 1000);
        assert!(mesh.is_closed(), "mesh has holes or flipped triangles");

        let (lo, hi) = mesh.bounds();
        let tol = CELL;
        assert!(
            (lo - DVec3::new(-1.0, 0.0, -1.0)).abs().max_element() < tol,
            "{lo}"
        );
        assert!(
            (hi - DVec3::new(1.0, 2.0, 1.0)).abs().max_element() < tol,
            "{hi}"
        );

        // Cylinder + hemisphere − the slot (0.7 × ∫ over |x|≤0.2 of √(1−x²) − 0.7).
        let slot = 0.7 * (0.2 * (1.0f64 - 0.04).sqrt() + 0.2f64.asin() - 0.28);
        let expected = std::f64::consts::PI * (1.0 + 2.0 / 3.0) - slot;
        let v = mesh.volume();
        assert!(
            (v - expected).abs() / expected < 0.01,
            "volume {v} vs {expected}"
        );

        // Every face points away from the solid, and every vertex normal agrees with its faces.
        let mut inward = 0;
        for [a, b, c] in mesh.triangles() {
            let n = (b - a).cross(c - a);
            if n.length() < 1e-12 {
                continue;
            }
            let centroid = (a + b + c) / 3.0;
            if n.normalize().dot(solid.normal(centroid, 1e-3)) <= 0.0 {
                inward += 1;
            }
        }
        assert!(
            inward * 1000 < mesh.triangle_count(),
            "{inward} inward faces"
        );
    }

    #[test]
    fn every_part_is_present_and_the_notch_is_where_it_should_be() {
        let solid = good();
        let mesh = mesh_solid(&solid, CELL);
        let parts = ProductSpec::builtin_cap().shape().parts;
        for (id, name) in parts.named() {
            assert!(mesh.parts.contains(&id), "no {name} vertices");
        }
        for (p, part) in mesh.positions.iter().zip(&mesh.parts) {
            if *part == parts.notch {
                assert!(
                    p[0].abs() < 0.2 + 0.05 && p[1] < 0.75 && p[2] > 0.65,
                    "{p:?}"
                );
            }
            if *part == parts.dome {
                assert!(p[1] > 0.95, "{p:?}");
            }
        }
    }

    #[test]
    fn defect_meshes_change_only_near_the_defect_and_stay_closed() {
        let product = ProductSpec::builtin_cap();
        let shape = product.shape();
        let good_solid = Solid::good(shape);
        let grid = Grid::for_shape(&shape, CELL).sample(&good_solid);
        let good_mesh = grid.surface_nets(&good_solid);
        let key = |p: &[f32; 3]| p.map(f32::to_bits);
        let good_set: std::collections::HashSet<_> = good_mesh.positions.iter().map(key).collect();
        let mut rng = Rng::new(11);
        for (class, spec) in &product.defects {
            let defect = spec.sample(&shape, &mut rng);
            let solid = Solid::with_defect(shape, defect.clone());
            let mesh = mesh_defective(&grid, &solid);
            assert!(mesh.is_closed(), "{class} mesh is not closed");
            // Re-sampling only the defect's box must give the mesh of the whole defective solid
            // (up to rounding: far from the surface the blended field differs in value, not sign).
            let full = mesh_solid(&solid, CELL);
            assert_eq!(mesh.indices, full.indices, "{class}: local re-mesh differs");
            for (a, b) in mesh.positions.iter().zip(&full.positions) {
                let d = (DVec3::from(a.map(f64::from)) - DVec3::from(b.map(f64::from))).length();
                assert!(d < 1e-3, "{class}: vertex off by {d}");
            }
            let (lo, hi) = defect.influence_box(&shape);
            let (lo, hi) = (lo - DVec3::splat(2.0 * CELL), hi + DVec3::splat(2.0 * CELL));
            let mut changed = 0;
            for p in &mesh.positions {
                let q = DVec3::from(p.map(f64::from));
                let near = q.cmpge(lo).all() && q.cmple(hi).all();
                if !good_set.contains(&key(p)) {
                    assert!(near, "{class}: vertex {q} moved far from the defect");
                    changed += 1;
                }
            }
            assert!(changed > 10, "{class}: only {changed} vertices changed");
            let dv = (mesh.volume() - good_mesh.volume()).abs();
            assert!(dv > 1e-3, "{class}: volume unchanged");
        }
    }

    #[test]
    fn grid_sizes_are_counted_before_anything_is_allocated() {
        let shape = ProductSpec::builtin_cap().shape();
        let points = Grid::points_for(&shape, 0.01).unwrap();
        assert!((12_000_000..13_000_000).contains(&points), "{points}");
        let grid = Grid::for_shape(&shape, CELL);
        assert_eq!(Grid::points_for(&shape, CELL), Some(grid.values.len()));
        assert!(Grid::points_for(&shape, 1e-9).is_none_or(|p| p > MAX_GRID_POINTS));
        assert_eq!(Grid::points_for(&shape, f64::NAN), None);
        assert_eq!(Grid::points_for(&shape, 0.0), None);
    }

    /// A cube on round coordinates, its faces on what an unshifted lattice would sample.
    struct Cube;

    impl Field for Cube {
        fn sdf(&self, p: DVec3) -> f64 {
            (p.abs() - DVec3::splat(0.5)).max_element()
        }
        fn part_at(&self, _: DVec3) -> u8 {
            1
        }
        fn centre(&self) -> DVec3 {
            DVec3::ZERO
        }
        fn mesh_box(&self, cell: f64) -> (DVec3, DVec3) {
            (
                DVec3::splat(-0.5 - 2.0 * cell),
                DVec3::splat(0.5 + 2.0 * cell),
            )
        }
        fn parts(&self) -> crate::product::PartTable {
            crate::product::PartTable::from_pairs([(1, "cube".to_string())])
        }
    }

    #[test]
    fn dual_contouring_keeps_corners_that_surface_nets_bevels() {
        let grid = Grid::for_shape(&Cube, 0.1).sample(&Cube);
        let corner_gap = |mesh: &Mesh| {
            let corners = (0..8).map(|c| {
                DVec3::new(
                    if c & 1 == 0 { -0.5 } else { 0.5 },
                    if c & 2 == 0 { -0.5 } else { 0.5 },
                    if c & 4 == 0 { -0.5 } else { 0.5 },
                )
            });
            corners
                .map(|corner| {
                    mesh.positions
                        .iter()
                        .map(|p| (DVec3::from(p.map(f64::from)) - corner).length())
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(0.0, f64::max)
        };
        let sharp = grid.dual_contouring(&Cube);
        let nets = grid.surface_nets(&Cube);
        assert!(sharp.is_closed());
        assert_eq!(sharp.triangle_count(), nets.triangle_count());
        assert!(corner_gap(&sharp) < 2e-4, "{}", corner_gap(&sharp));
        assert!(corner_gap(&nets) > 0.02, "{}", corner_gap(&nets));
        // Every vertex on the surface, and the volume that of the cube.
        for p in &sharp.positions {
            assert!(
                Cube.sdf(DVec3::from(p.map(f64::from))).abs() < 1e-5,
                "{p:?}"
            );
        }
        assert!((sharp.volume() - 1.0).abs() < 1e-4, "{}", sharp.volume());
    }

    #[test]
    fn no_lattice_point_falls_on_round_coordinates() {
        // The cap's wall at x = ±1 and its base at y = 0 are never sampled exactly, at any of
        // the cells a render picks.
        let shape = ProductSpec::builtin_cap().shape();
        for cell in [0.01, 0.02, 0.025, 0.05, 0.1] {
            let grid = Grid::for_shape(&shape, cell);
            for i in 0..grid.dims[0] {
                let p = grid.point(i, i.min(grid.dims[1] - 1), 0);
                for c in [p.x, p.y] {
                    let off = (c * 20.0 - (c * 20.0).round()).abs();
                    assert!(off > 1e-3, "cell {cell}: a sample at {c}");
                }
            }
        }
    }
}
