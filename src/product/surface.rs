//! Points spread over a product's surface, with the normal, the part and how sharply the
//! surface bends there: where generic defects are placed. Bumps and dents go where the surface
//! is smooth, chips and flash where it bends most (its edges).
//!
//! The points are the vertices of the product's own mesh at a coarse cell (surface nets puts
//! about one vertex per cell the surface crosses, so they are spread evenly by area). A
//! vertex's bend is how far the normals of its neighbours within two mesh edges turn from each
//! other; at an edge, the two most different of those normals are the faces' normals, whose
//! sum points out of the edge and whose cross product runs along it.

use glam::DVec3;

use super::geometry::Field;
use super::mesh::Grid;

/// A point on the surface.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfacePoint {
    pub position: DVec3,
    pub normal: DVec3,
    pub part: u8,
    /// 1 − the smallest dot product of two normals near the point: 0 on a flat face, 1 at a
    /// right-angled edge, up to 2.
    pub bend: f64,
    /// Out of the edge: the normalised sum of the two most different normals near the point.
    pub bisector: DVec3,
    /// Along the edge: their normalised cross product (zero where the surface is flat).
    pub tangent: DVec3,
    /// Whether every point within two mesh edges is on the same part (away from part borders).
    pub interior: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SurfaceSamples {
    pub points: Vec<SurfacePoint>,
    /// About the distance between neighbouring points.
    pub spacing: f64,
}

impl SurfaceSamples {
    pub fn of(field: &(impl Field + ?Sized), spacing: f64) -> Self {
        let mesh = Grid::for_shape(field, spacing)
            .sample(field)
            .surface_nets(field);
        let n = mesh.positions.len();
        let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); n];
        for t in mesh.indices.chunks_exact(3) {
            for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
                if !neighbours[a as usize].contains(&b) {
                    neighbours[a as usize].push(b);
                }
                if !neighbours[b as usize].contains(&a) {
                    neighbours[b as usize].push(a);
                }
            }
        }
        let normal = |i: usize| DVec3::from(mesh.normals[i].map(f64::from));
        let points = (0..n)
            .map(|i| {
                // The point itself, its neighbours and theirs.
                let mut ring: Vec<u32> = vec![i as u32];
                for &j in &neighbours[i] {
                    for &k in std::iter::once(&j).chain(&neighbours[j as usize]) {
                        if !ring.contains(&k) {
                            ring.push(k);
                        }
                    }
                }
                let (mut lowest, mut pair) = (1.0f64, (normal(i), normal(i)));
                for (x, &a) in ring.iter().enumerate() {
                    for &b in &ring[x + 1..] {
                        let (na, nb) = (normal(a as usize), normal(b as usize));
                        let dot = na.dot(nb);
                        if dot < lowest {
                            lowest = dot;
                            pair = (na, nb);
                        }
                    }
                }
                SurfacePoint {
                    position: DVec3::from(mesh.positions[i].map(f64::from)),
                    normal: normal(i),
                    part: mesh.parts[i],
                    interior: ring
                        .iter()
                        .all(|&k| mesh.parts[k as usize] == mesh.parts[i]),
                    bend: 1.0 - lowest,
                    bisector: (pair.0 + pair.1).normalize_or(normal(i)),
                    tangent: pair.0.cross(pair.1).normalize_or_zero(),
                }
            })
            .collect();
        Self { points, spacing }
    }

    /// Indices of the points on `part` (any part when `None`) whose bend lies in `bend`, only
    /// those away from part borders when `interior`.
    pub fn select(&self, part: Option<u8>, bend: [f64; 2], interior: bool) -> Vec<usize> {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                part.is_none_or(|q| p.part == q)
                    && p.bend >= bend[0]
                    && p.bend <= bend[1]
                    && (p.interior || !interior)
            })
            .map(|(i, _)| i)
            .collect()
    }
}
