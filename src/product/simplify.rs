//! Fewer triangles where the surface is flat: quadric error decimation (Garland and Heckbert)
//! by half-edge collapses. A vertex only ever moves onto one of its neighbours, so every
//! vertex that remains is one of the original mesh's, on the true surface with the field's
//! normal; sharp edges and rims survive because collapsing across them costs the most.
//!
//! Refinement renders the good product many times per image, where the number of triangles
//! is what a software rasteriser pays for; the references an image is finally compared with
//! are still drawn from the full mesh.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use glam::DVec3;

use super::mesh::Mesh;

/// A symmetric 4×4 quadric, upper triangle: the area-weighted sum of squared distances to a
/// set of planes, with the total weight so the error can be read as a mean squared distance.
#[derive(Debug, Clone, Copy, Default)]
struct Quadric([f64; 10], f64);

impl Quadric {
    fn of_plane(n: DVec3, d: f64, weight: f64) -> Self {
        let (a, b, c) = (n.x, n.y, n.z);
        Self(
            [
                a * a,
                a * b,
                a * c,
                a * d,
                b * b,
                b * c,
                b * d,
                c * c,
                c * d,
                d * d,
            ]
            .map(|v| v * weight),
            weight,
        )
    }

    fn add(&mut self, other: &Quadric) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
        self.1 += other.1;
    }

    /// Mean squared distance of `p` to the planes (weighted by area).
    fn mean_error(&self, p: DVec3) -> f64 {
        if self.1 > 0.0 {
            self.error(p) / self.1
        } else {
            0.0
        }
    }

    fn error(&self, p: DVec3) -> f64 {
        let q = &self.0;
        let (x, y, z) = (p.x, p.y, p.z);
        q[0] * x * x
            + 2.0 * q[1] * x * y
            + 2.0 * q[2] * x * z
            + 2.0 * q[3] * x
            + q[4] * y * y
            + 2.0 * q[5] * y * z
            + 2.0 * q[6] * y
            + q[7] * z * z
            + 2.0 * q[8] * z
            + q[9]
    }
}

/// Cosine of the widest angle allowed between the corner normals of a triangle a collapse
/// makes (20°), unless it replaces a triangle that was already wider and is no larger.
const NORMAL_CONE_COS: f64 = 0.94;

/// A candidate collapse of `from` onto `to`, queued by cost; stale once either end changed.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    cost: f64,
    from: u32,
    to: u32,
    stamps: (u32, u32),
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Cheapest first in a max-heap; ties broken by vertex ids so the result is deterministic.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .cost
            .total_cmp(&self.cost)
            .then(other.from.cmp(&self.from))
            .then(other.to.cmp(&self.to))
    }
}

struct Decimator<'a> {
    positions: Vec<DVec3>,
    triangles: Vec<[u32; 3]>,
    alive: Vec<bool>,
    /// Triangles around each vertex (alive or not; dead ones are skipped).
    around: Vec<Vec<u32>>,
    quadrics: Vec<Quadric>,
    stamps: Vec<u32>,
    removed: Vec<bool>,
    mesh: &'a Mesh,
}

/// Collapses edges of `mesh` (closed, consistently oriented) until at most `target` triangles
/// remain or the next collapse would move the surface by more than `max_error` (world units,
/// root of the quadric error). Part ids and normals travel with the surviving vertices.
pub fn simplify(mesh: &Mesh, target: usize, max_error: f64) -> Mesh {
    let positions: Vec<DVec3> = mesh
        .positions
        .iter()
        .map(|p| DVec3::from(p.map(f64::from)))
        .collect();
    let triangles: Vec<[u32; 3]> = mesh
        .indices
        .chunks_exact(3)
        .map(|t| [t[0], t[1], t[2]])
        .collect();
    let n = positions.len();
    let mut around = vec![Vec::new(); n];
    let mut quadrics = vec![Quadric::default(); n];
    for (f, t) in triangles.iter().enumerate() {
        let [a, b, c] = t.map(|i| positions[i as usize]);
        let cross = (b - a).cross(c - a);
        let area2 = cross.length();
        if area2 > 0.0 {
            let normal = cross / area2;
            let q = Quadric::of_plane(normal, -normal.dot(a), area2 / 2.0);
            for &v in t {
                quadrics[v as usize].add(&q);
            }
        }
        for &v in t {
            around[v as usize].push(f as u32);
        }
    }
    let mut d = Decimator {
        alive: vec![true; triangles.len()],
        positions,
        triangles,
        around,
        quadrics,
        stamps: vec![0; n],
        removed: vec![false; n],
        mesh,
    };
    let mut heap = BinaryHeap::new();
    for v in 0..n as u32 {
        for w in d.neighbours(v) {
            if let Some(c) = d.candidate(v, w) {
                heap.push(c);
            }
        }
    }
    let mut count = d.triangles.len();
    let max_cost = max_error * max_error;
    while count > target {
        let Some(c) = heap.pop() else { break };
        if d.removed[c.from as usize]
            || d.removed[c.to as usize]
            || (d.stamps[c.from as usize], d.stamps[c.to as usize]) != c.stamps
        {
            continue;
        }
        if c.cost > max_cost {
            break;
        }
        if !d.collapse_allowed(c.from, c.to) {
            continue;
        }
        count -= d.collapse(c.from, c.to);
        let to = c.to;
        for w in d.neighbours(to) {
            for (a, b) in [(to, w), (w, to)] {
                if let Some(c) = d.candidate(a, b) {
                    heap.push(c);
                }
            }
        }
    }
    d.into_mesh()
}

impl Decimator<'_> {
    fn live_triangles(&self, v: u32) -> impl Iterator<Item = u32> + '_ {
        self.around[v as usize]
            .iter()
            .copied()
            .filter(|&f| self.alive[f as usize])
    }

    fn neighbours(&self, v: u32) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .live_triangles(v)
            .flat_map(|f| self.triangles[f as usize])
            .filter(|&w| w != v)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn candidate(&self, from: u32, to: u32) -> Option<Candidate> {
        let mut q = self.quadrics[from as usize];
        q.add(&self.quadrics[to as usize]);
        let cost = q.mean_error(self.positions[to as usize]).max(0.0);
        cost.is_finite().then_some(Candidate {
            cost,
            from,
            to,
            stamps: (self.stamps[from as usize], self.stamps[to as usize]),
        })
    }

    /// A collapse keeps the surface a closed manifold (the edge's ends share exactly the two
    /// vertices opposite it) and flips no triangle that survives it.
    fn collapse_allowed(&self, from: u32, to: u32) -> bool {
        let a = self.neighbours(from);
        let b = self.neighbours(to);
        let shared = a.iter().filter(|v| b.binary_search(v).is_ok()).count();
        if shared != 2 || !a.contains(&to) {
            return false;
        }
        let moved = self.positions[to as usize];
        for f in self.live_triangles(from) {
            let t = self.triangles[f as usize];
            if t.contains(&to) {
                continue;
            }
            let p = t.map(|i| self.positions[i as usize]);
            let before = (p[1] - p[0]).cross(p[2] - p[0]);
            let q = t.map(|i| {
                if i == from {
                    moved
                } else {
                    self.positions[i as usize]
                }
            });
            let after = (q[1] - q[0]).cross(q[2] - q[0]);
            // No flip, and no sliver: the turned triangle keeps a fair share of its direction.
            if before.dot(after) <= 0.2 * before.length() * after.length() {
                return false;
            }
            // No triangle may stretch across a crease: its corners' normals must agree as
            // well as they did before or within NORMAL_CONE, or the shading inside it (the
            // normals are interpolated) would no longer be the surface's.
            // A triangle already across a crease may only shrink.
            let moved_t = t.map(|i| if i == from { to } else { i });
            let spread = self.normal_spread(moved_t);
            if spread < NORMAL_CONE_COS
                && (spread < self.normal_spread(t) || after.length() > before.length())
            {
                return false;
            }
        }
        true
    }

    /// The smallest cosine between two corner normals of triangle `t`.
    fn normal_spread(&self, t: [u32; 3]) -> f64 {
        let n = t.map(|i| DVec3::from(self.mesh.normals[i as usize].map(f64::from)));
        n[0].dot(n[1]).min(n[1].dot(n[2])).min(n[0].dot(n[2]))
    }

    /// Moves `from` onto `to`; returns how many triangles vanished.
    fn collapse(&mut self, from: u32, to: u32) -> usize {
        let mut gone = 0;
        let faces: Vec<u32> = self.live_triangles(from).collect();
        for f in faces {
            let t = &mut self.triangles[f as usize];
            if t.contains(&to) {
                self.alive[f as usize] = false;
                gone += 1;
            } else {
                for v in t.iter_mut() {
                    if *v == from {
                        *v = to;
                    }
                }
                self.around[to as usize].push(f);
            }
        }
        self.removed[from as usize] = true;
        let q = self.quadrics[from as usize];
        self.quadrics[to as usize].add(&q);
        self.stamps[to as usize] += 1;
        for w in self.neighbours(to) {
            self.stamps[w as usize] += 1;
        }
        gone
    }

    fn into_mesh(self) -> Mesh {
        let mut remap = vec![u32::MAX; self.positions.len()];
        let mut out = Mesh::default();
        for (f, t) in self.triangles.iter().enumerate() {
            if !self.alive[f] {
                continue;
            }
            for &v in t {
                let v = v as usize;
                if remap[v] == u32::MAX {
                    remap[v] = out.positions.len() as u32;
                    out.positions.push(self.mesh.positions[v]);
                    out.normals.push(self.mesh.normals[v]);
                    out.parts.push(self.mesh.parts[v]);
                }
                out.indices.push(remap[v]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::ProductSpec;
    use crate::product::mesh::mesh_solid;
    use crate::product::sdf::Solid;

    #[test]
    fn the_cap_keeps_its_shape_with_a_fifth_of_its_triangles() {
        let shape = ProductSpec::builtin_cap().shape();
        let mesh = mesh_solid(&Solid::good(shape), 0.05);
        let target = mesh.triangle_count() / 5;
        let simple = simplify(&mesh, target, 0.02);
        assert!(
            simple.triangle_count() <= target,
            "{}",
            simple.triangle_count()
        );
        assert!(simple.is_closed(), "the decimated cap must stay closed");
        let (v0, v1) = (mesh.volume(), simple.volume());
        assert!((v1 - v0).abs() / v0 < 0.01, "volume {v0} -> {v1}");
        let (lo0, hi0) = mesh.bounds();
        let (lo1, hi1) = simple.bounds();
        assert!((lo0 - lo1).abs().max_element() < 0.02 && (hi0 - hi1).abs().max_element() < 0.02);
        // Every vertex kept is one of the original ones, with its normal and part.
        for (p, n) in simple.positions.iter().zip(&simple.normals) {
            let i = mesh
                .positions
                .iter()
                .position(|q| q == p)
                .expect("an original vertex");
            assert_eq!(&mesh.normals[i], n);
        }
    }

    #[test]
    fn a_tight_error_bound_stops_early() {
        let shape = ProductSpec::builtin_cap().shape();
        let mesh = mesh_solid(&Solid::good(shape), 0.05);
        let loose = simplify(&mesh, 0, 0.02);
        let tight = simplify(&mesh, 0, 0.002);
        assert!(tight.triangle_count() > loose.triangle_count());
        assert!(tight.is_closed() && loose.is_closed());
    }
}
