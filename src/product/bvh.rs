//! A bounding volume hierarchy over triangles: the nearest triangle to a point (unsigned
//! distance and its part), optionally among one part's triangles or all others. The winding
//! number ([`super::winding`]) reuses its tree.

use glam::DVec3;

/// Triangles per leaf.
const LEAF: usize = 4;

/// Which triangles a query considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFilter {
    All,
    Only(u8),
    Except(u8),
}

/// Which of the 256 part ids occur below a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PartMask([u64; 4]);

impl PartMask {
    fn with(mut self, part: u8) -> Self {
        self.0[usize::from(part / 64)] |= 1 << (part % 64);
        self
    }

    fn admits(&self, filter: PartFilter) -> bool {
        match filter {
            PartFilter::All => true,
            PartFilter::Only(p) => *self != Self::default() && self.with(p) == *self,
            PartFilter::Except(p) => *self != Self::default().with(p) && *self != Self::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub lo: DVec3,
    pub hi: DVec3,
    /// Leaf: its triangles are `order[start..start + count]`. Inner node (count 0): the left
    /// child is the next node, the right child is `start`.
    pub start: u32,
    pub count: u32,
    parts: PartMask,
}

impl Node {
    pub fn is_leaf(&self) -> bool {
        self.count > 0
    }

    fn distance_squared(&self, p: DVec3) -> f64 {
        let d = (self.lo - p).max(p - self.hi).max(DVec3::ZERO);
        d.length_squared()
    }
}

/// Triangles with their parts, and the tree over them.
#[derive(Debug, Clone)]
pub struct Bvh {
    pub triangles: Vec<[DVec3; 3]>,
    pub parts: Vec<u8>,
    pub nodes: Vec<Node>,
    /// Triangle indices in leaf order.
    pub order: Vec<u32>,
}

/// The nearest point found by a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    pub distance_squared: f64,
    pub triangle: u32,
    pub point: DVec3,
}

impl Bvh {
    pub fn new(triangles: Vec<[DVec3; 3]>, parts: Vec<u8>) -> Self {
        let mut order: Vec<u32> = (0..triangles.len() as u32).collect();
        let centroids: Vec<DVec3> = triangles
            .iter()
            .map(|t| (t[0] + t[1] + t[2]) / 3.0)
            .collect();
        let mut nodes = Vec::with_capacity(2 * triangles.len() / LEAF + 1);
        if !triangles.is_empty() {
            // (node index, range of `order`), built depth-first so a left child follows its
            // parent.
            let mut stack = vec![(0usize, 0usize, order.len(), None::<usize>)];
            while let Some((_, start, end, parent)) = stack.pop() {
                let index = nodes.len();
                if let Some(parent) = parent {
                    let parent: &mut Node = &mut nodes[parent];
                    parent.start = index as u32;
                }
                let (lo, hi) = order[start..end].iter().fold(
                    (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
                    |(lo, hi), &t| {
                        let [a, b, c] = triangles[t as usize];
                        (lo.min(a).min(b).min(c), hi.max(a).max(b).max(c))
                    },
                );
                let mask = order[start..end]
                    .iter()
                    .fold(PartMask::default(), |m, &t| m.with(parts[t as usize]));
                if end - start <= LEAF {
                    nodes.push(Node {
                        lo,
                        hi,
                        start: start as u32,
                        count: (end - start) as u32,
                        parts: mask,
                    });
                    continue;
                }
                let (clo, chi) = order[start..end].iter().fold(
                    (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
                    |(lo, hi), &t| (lo.min(centroids[t as usize]), hi.max(centroids[t as usize])),
                );
                let spread = chi - clo;
                let axis = if spread.x >= spread.y && spread.x >= spread.z {
                    0
                } else if spread.y >= spread.z {
                    1
                } else {
                    2
                };
                let mid = (start + end) / 2;
                order[start..end].select_nth_unstable_by(mid - start, |a, b| {
                    centroids[*a as usize][axis].total_cmp(&centroids[*b as usize][axis])
                });
                nodes.push(Node {
                    lo,
                    hi,
                    start: 0,
                    count: 0,
                    parts: mask,
                });
                // The right child is pushed first so the left is built next, right after its
                // parent; it records its own index in the parent when it is built.
                stack.push((0, mid, end, Some(index)));
                stack.push((0, start, mid, None));
            }
        }
        Self {
            triangles,
            parts,
            nodes,
            order,
        }
    }

    /// The nearest point of the triangles `filter` admits, if one is nearer than
    /// `sqrt(bound_squared)`.
    pub fn nearest(&self, p: DVec3, bound_squared: f64, filter: PartFilter) -> Option<Nearest> {
        let mut best: Option<Nearest> = None;
        let mut bound = bound_squared;
        if self.nodes.is_empty() {
            return None;
        }
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        stack.push(0);
        while let Some(n) = stack.pop() {
            let node = &self.nodes[n as usize];
            if node.distance_squared(p) >= bound || !node.parts.admits(filter) {
                continue;
            }
            if node.is_leaf() {
                for &t in &self.order[node.start as usize..(node.start + node.count) as usize] {
                    let part = self.parts[t as usize];
                    let wanted = match filter {
                        PartFilter::All => true,
                        PartFilter::Only(q) => part == q,
                        PartFilter::Except(q) => part != q,
                    };
                    if !wanted {
                        continue;
                    }
                    let q = closest_point_on_triangle(p, self.triangles[t as usize]);
                    let d2 = (q - p).length_squared();
                    if d2 < bound {
                        bound = d2;
                        best = Some(Nearest {
                            distance_squared: d2,
                            triangle: t,
                            point: q,
                        });
                    }
                }
            } else {
                let (left, right) = (n + 1, node.start);
                let dl = self.nodes[left as usize].distance_squared(p);
                let dr = self.nodes[right as usize].distance_squared(p);
                // Nearer child last, so it is visited first.
                if dl < dr {
                    stack.push(right);
                    stack.push(left);
                } else {
                    stack.push(left);
                    stack.push(right);
                }
            }
        }
        best
    }

    /// Unsigned distance to the nearest admitted triangle (infinite when there is none).
    pub fn distance(&self, p: DVec3, filter: PartFilter) -> f64 {
        self.nearest(p, f64::INFINITY, filter)
            .map_or(f64::INFINITY, |n| n.distance_squared.sqrt())
    }
}

/// The point of triangle `t` nearest to `p` (Ericson, Real-Time Collision Detection, 5.1.5).
pub fn closest_point_on_triangle(p: DVec3, t: [DVec3; 3]) -> DVec3 {
    let [a, b, c] = t;
    let ab = b - a;
    let ac = c - a;
    let ap = p - a;
    let d1 = ab.dot(ap);
    let d2 = ac.dot(ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return a;
    }
    let bp = p - b;
    let d3 = ab.dot(bp);
    let d4 = ac.dot(bp);
    if d3 >= 0.0 && d4 <= d3 {
        return b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        let v = d1 / (d1 - d3);
        return a + ab * v;
    }
    let cp = p - c;
    let d5 = ab.dot(cp);
    let d6 = ac.dot(cp);
    if d6 >= 0.0 && d5 <= d6 {
        return c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        let w = d2 / (d2 - d6);
        return a + ac * w;
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        let w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        return b + (c - b) * w;
    }
    let denom = 1.0 / (va + vb + vc);
    let v = vb * denom;
    let w = vc * denom;
    a + ab * v + ac * w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random_triangles(n: usize, rng: &mut Rng) -> Vec<[DVec3; 3]> {
        (0..n)
            .map(|_| {
                let c = DVec3::new(
                    rng.uniform(-1.0, 1.0),
                    rng.uniform(-1.0, 1.0),
                    rng.uniform(-1.0, 1.0),
                );
                [0, 1, 2].map(|_| {
                    c + DVec3::new(
                        rng.uniform(-0.1, 0.1),
                        rng.uniform(-0.1, 0.1),
                        rng.uniform(-0.1, 0.1),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn nearest_agrees_with_brute_force_for_every_filter() {
        let mut rng = Rng::new(5);
        let triangles = random_triangles(500, &mut rng);
        let parts: Vec<u8> = (0..500).map(|i| (i % 3 + 1) as u8).collect();
        let bvh = Bvh::new(triangles.clone(), parts.clone());
        for _ in 0..300 {
            let p = DVec3::new(
                rng.uniform(-1.5, 1.5),
                rng.uniform(-1.5, 1.5),
                rng.uniform(-1.5, 1.5),
            );
            for filter in [PartFilter::All, PartFilter::Only(2), PartFilter::Except(2)] {
                let brute = triangles
                    .iter()
                    .zip(&parts)
                    .filter(|(_, q)| match filter {
                        PartFilter::All => true,
                        PartFilter::Only(x) => **q == x,
                        PartFilter::Except(x) => **q != x,
                    })
                    .map(|(t, _)| (closest_point_on_triangle(p, *t) - p).length())
                    .fold(f64::INFINITY, f64::min);
                let fast = bvh.distance(p, filter);
                assert!(
                    (brute - fast).abs() < 1e-12,
                    "{filter:?}: {brute} vs {fast}"
                );
            }
        }
        assert_eq!(
            bvh.distance(DVec3::ZERO, PartFilter::Only(9)),
            f64::INFINITY
        );
    }

    #[test]
    fn closest_point_covers_every_region() {
        let t = [DVec3::ZERO, DVec3::X, DVec3::Y];
        let cases = [
            (DVec3::new(0.2, 0.2, 1.0), DVec3::new(0.2, 0.2, 0.0)),
            (DVec3::new(-1.0, -1.0, 0.0), DVec3::ZERO),
            (DVec3::new(2.0, -1.0, 0.0), DVec3::X),
            (DVec3::new(-1.0, 2.0, 0.0), DVec3::Y),
            (DVec3::new(0.5, -1.0, 0.0), DVec3::new(0.5, 0.0, 0.0)),
            (DVec3::new(-1.0, 0.5, 0.0), DVec3::new(0.0, 0.5, 0.0)),
            (DVec3::new(1.0, 1.0, 0.0), DVec3::new(0.5, 0.5, 0.0)),
        ];
        for (p, expected) in cases {
            assert!(
                (closest_point_on_triangle(p, t) - expected).length() < 1e-12,
                "{p}"
            );
        }
    }
}
