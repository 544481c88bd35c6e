//! The generalised winding number of a triangle soup (Jacobson et al. 2013): the solid angle
//! the triangles subtend at a point over 4π. It is 1 inside a closed, outward-facing surface
//! and 0 outside, and degrades gracefully where the surface is not closed: a small hole
//! changes it by about the hole's solid angle, a flipped or duplicated face by its own, so
//! thresholding it at ½ still tells inside from outside. A global flip (every face inward)
//! gives −1 inside; the magnitude is what is thresholded.
//!
//! Far from a node of the BVH its triangles act as one dipole, their area-weighted normals
//! summed at their area-weighted centre (the first-order "fast winding number" of Barill et
//! al. 2018; the second-order term, tried, made the sum on a sphere worse at their β = 2);
//! near it they are summed exactly (van Oosterom and Strackee's solid angle).

use std::f64::consts::PI;

use glam::DVec3;

use super::bvh::Bvh;

/// A node is approximated by its dipole when the query is more than `BETA` times its radius
/// from its centre (Barill et al. use 2).
const BETA: f64 = 2.0;

#[derive(Debug, Clone, Copy)]
struct Dipole {
    centre: DVec3,
    /// Sum over the node's triangles of area × unit normal.
    area_normal: DVec3,
    /// Sum of the triangles' areas (the weights of `centre`).
    area: f64,
    /// A bound on the distance from `centre` to the node's farthest vertex.
    radius: f64,
}

/// Dipoles for every node of a BVH.
#[derive(Debug, Clone)]
pub struct Winding {
    dipoles: Vec<Dipole>,
}

impl Winding {
    pub fn new(bvh: &Bvh) -> Self {
        let empty = Dipole {
            centre: DVec3::ZERO,
            area_normal: DVec3::ZERO,
            area: 0.0,
            radius: 0.0,
        };
        let mut dipoles = vec![empty; bvh.nodes.len()];
        // Children come after their parents, so a reverse sweep sees children first.
        for n in (0..bvh.nodes.len()).rev() {
            let node = &bvh.nodes[n];
            let box_centre = (node.lo + node.hi) / 2.0;
            let dipole = if node.is_leaf() {
                let triangles = &bvh.order[node.start as usize..(node.start + node.count) as usize];
                let (mut area_normal, mut weighted, mut area) = (DVec3::ZERO, DVec3::ZERO, 0.0);
                for &t in triangles {
                    let [a, b, c] = bvh.triangles[t as usize];
                    let an = 0.5 * (b - a).cross(c - a);
                    let ta = an.length();
                    area_normal += an;
                    weighted += (a + b + c) / 3.0 * ta;
                    area += ta;
                }
                let centre = if area > 0.0 {
                    weighted / area
                } else {
                    box_centre
                };
                let radius = triangles
                    .iter()
                    .flat_map(|&t| bvh.triangles[t as usize])
                    .map(|v| (v - centre).length())
                    .fold(0.0, f64::max);
                Dipole {
                    centre,
                    area_normal,
                    area,
                    radius,
                }
            } else {
                let (l, r) = (dipoles[n + 1], dipoles[node.start as usize]);
                let area = l.area + r.area;
                let centre = if area > 0.0 {
                    (l.centre * l.area + r.centre * r.area) / area
                } else {
                    box_centre
                };
                let through_children = ((l.centre - centre).length() + l.radius)
                    .max((r.centre - centre).length() + r.radius);
                let far_corner = DVec3::new(
                    (centre.x - node.lo.x).max(node.hi.x - centre.x),
                    (centre.y - node.lo.y).max(node.hi.y - centre.y),
                    (centre.z - node.lo.z).max(node.hi.z - centre.z),
                )
                .length();
                Dipole {
                    centre,
                    area_normal: l.area_normal + r.area_normal,
                    area,
                    radius: through_children.min(far_corner),
                }
            };
            dipoles[n] = dipole;
        }
        Self { dipoles }
    }

    /// The winding number at `p`.
    pub fn at(&self, bvh: &Bvh, p: DVec3) -> f64 {
        if bvh.nodes.is_empty() {
            return 0.0;
        }
        let mut sum = 0.0;
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        stack.push(0);
        while let Some(n) = stack.pop() {
            let dipole = &self.dipoles[n as usize];
            let d = dipole.centre - p;
            let dist = d.length();
            if dist > BETA * dipole.radius {
                sum += dipole.area_normal.dot(d) / (dist * dist * dist);
                continue;
            }
            let node = &bvh.nodes[n as usize];
            if node.is_leaf() {
                for &t in &bvh.order[node.start as usize..(node.start + node.count) as usize] {
                    sum += solid_angle(bvh.triangles[t as usize], p);
                }
            } else {
                stack.push(n + 1);
                stack.push(node.start);
            }
        }
        sum / (4.0 * PI)
    }
}

/// The signed solid angle triangle `t` subtends at `p`: positive when `p` sees its back
/// (the side its counter-clockwise normal points away from).
pub fn solid_angle(t: [DVec3; 3], p: DVec3) -> f64 {
    let (a, b, c) = (t[0] - p, t[1] - p, t[2] - p);
    let (la, lb, lc) = (a.length(), b.length(), c.length());
    let det = a.dot(b.cross(c));
    let den = la * lb * lc + a.dot(b) * lc + b.dot(c) * la + c.dot(a) * lb;
    2.0 * det.atan2(den)
}

/// Triangle meshes for the winding-number and grid tests.
#[cfg(test)]
pub mod test_meshes {
    use glam::DVec3;

    /// A UV sphere of `rings` × `segments` quads, every triangle facing out.
    pub fn sphere(centre: DVec3, radius: f64, rings: usize, segments: usize) -> Vec<[DVec3; 3]> {
        // The seam and the poles are computed once, so triangles meeting there share vertices
        // exactly.
        let point = |i: usize, j: usize| {
            if i == 0 || i == rings {
                return centre + DVec3::new(0.0, if i == 0 { radius } else { -radius }, 0.0);
            }
            let theta = std::f64::consts::PI * i as f64 / rings as f64;
            let phi = std::f64::consts::TAU * (j % segments) as f64 / segments as f64;
            centre
                + radius
                    * DVec3::new(
                        theta.sin() * phi.cos(),
                        theta.cos(),
                        theta.sin() * phi.sin(),
                    )
        };
        let mut out = Vec::new();
        for i in 0..rings {
            for j in 0..segments {
                let (a, b, c, d) = (
                    point(i, j),
                    point(i + 1, j),
                    point(i + 1, j + 1),
                    point(i, j + 1),
                );
                for t in [[a, b, c], [a, c, d]] {
                    let n = (t[1] - t[0]).cross(t[2] - t[0]);
                    if n.length_squared() < 1e-20 {
                        continue; // the poles' degenerate halves
                    }
                    let mid = (t[0] + t[1] + t[2]) / 3.0 - centre;
                    out.push(if n.dot(mid) > 0.0 {
                        t
                    } else {
                        [t[0], t[2], t[1]]
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_meshes::sphere;
    use super::*;
    use crate::rng::Rng;

    fn tree(triangles: &[[DVec3; 3]]) -> (Bvh, Winding) {
        let bvh = Bvh::new(triangles.to_vec(), vec![1; triangles.len()]);
        let winding = Winding::new(&bvh);
        (bvh, winding)
    }

    #[test]
    fn the_fast_sum_agrees_with_the_exact_one_inside_and_out() {
        let triangles = sphere(DVec3::ZERO, 1.0, 24, 48);
        let (bvh, winding) = tree(&triangles);
        let mut rng = Rng::new(9);
        for _ in 0..400 {
            let p = DVec3::new(
                rng.uniform(-2.0, 2.0),
                rng.uniform(-2.0, 2.0),
                rng.uniform(-2.0, 2.0),
            );
            let exact: f64 = triangles.iter().map(|t| solid_angle(*t, p)).sum::<f64>() / (4.0 * PI);
            let fast = winding.at(&bvh, p);
            assert!(
                (exact - fast).abs() < 0.05,
                "{p}: exact {exact}, fast {fast}"
            );
            let r = p.length();
            if (r - 1.0).abs() > 0.02 {
                let expected = if r < 1.0 { 1.0 } else { 0.0 };
                assert!((fast - expected).abs() < 0.05, "{p}: {fast}");
            }
        }
    }

    #[test]
    fn holes_flipped_and_doubled_faces_keep_the_inside_inside() {
        let mut triangles = sphere(DVec3::ZERO, 1.0, 24, 48);
        // A hole: a band of faces around the equator removed from one side (about 2 % of the
        // surface), one face flipped, a few faces doubled.
        let before = triangles.len();
        triangles.retain(|t| {
            let c = (t[0] + t[1] + t[2]) / 3.0;
            !(c.y.abs() < 0.1 && c.x > 0.9)
        });
        assert!(triangles.len() < before, "no hole was cut");
        triangles[10] = [triangles[10][0], triangles[10][2], triangles[10][1]];
        let doubled: Vec<_> = triangles[100..110].to_vec();
        triangles.extend(doubled);
        let (bvh, winding) = tree(&triangles);
        let mut rng = Rng::new(4);
        let mut checked = 0;
        for _ in 0..2000 {
            let p = DVec3::new(
                rng.uniform(-1.5, 1.5),
                rng.uniform(-1.5, 1.5),
                rng.uniform(-1.5, 1.5),
            );
            // Away from the hole and the surface, the sign must be right.
            let near_hole = (p - DVec3::X).length() < 0.4;
            if near_hole || (p.length() - 1.0).abs() < 0.05 {
                continue;
            }
            let inside = winding.at(&bvh, p).abs() > 0.5;
            assert_eq!(inside, p.length() < 1.0, "{p}");
            checked += 1;
        }
        assert!(checked > 1000);
        // Every face turned inward gives −1 inside, still read as inside.
        let flipped: Vec<_> = sphere(DVec3::ZERO, 1.0, 12, 24)
            .into_iter()
            .map(|t| [t[0], t[2], t[1]])
            .collect();
        let (bvh, winding) = tree(&flipped);
        assert!((winding.at(&bvh, DVec3::new(0.1, 0.2, 0.3)) + 1.0).abs() < 0.05);
    }
}
