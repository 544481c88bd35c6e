//! The product as a signed distance function (negative inside), and which part a surface point
//! belongs to. Everything geometric downstream (mesh, defects, part maps) derives from here.

use glam::{DVec2, DVec3};

use super::{PartIds, ProductSpec, defect::Defect};

/// The resolved dimensions of the cap family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub radius: f64,
    pub wall_height: f64,
    pub notch_width: f64,
    pub notch_height: f64,
    pub notch_depth: f64,
    pub parts: PartIds,
}

impl Shape {
    pub fn from_spec(spec: &ProductSpec) -> Self {
        Self {
            radius: spec.shape.radius,
            wall_height: spec.shape.wall_height,
            notch_width: spec.notch.width,
            notch_height: spec.notch.height,
            notch_depth: spec.notch.depth,
            parts: spec.parts,
        }
    }

    /// Height of the whole product (bottom rim to the top of the dome).
    pub fn height(&self) -> f64 {
        self.wall_height + self.radius
    }

    /// The point the camera looks at and the object rotates about.
    pub fn centre(&self) -> DVec3 {
        DVec3::new(0.0, self.height() / 2.0, 0.0)
    }

    fn dome_centre(&self) -> DVec3 {
        DVec3::new(0.0, self.wall_height, 0.0)
    }

    /// Signed distance to the good product.
    pub fn sdf(&self, p: DVec3) -> f64 {
        let cylinder = sd_capped_cylinder(p, self.radius, self.wall_height);
        let dome = (p - self.dome_centre()).length() - self.radius;
        let body = cylinder.min(dome);
        body.max(-self.notch_box_sdf(p))
    }

    /// Signed distance to the slot that forms the notch (extends below and outside the product so
    /// it cuts cleanly through the rim and the outer surface).
    fn notch_box_sdf(&self, p: DVec3) -> f64 {
        let below = 1.0;
        let outside = 1.0;
        let y0 = -below;
        let y1 = self.notch_height;
        let z0 = self.radius - self.notch_depth;
        let z1 = self.radius + outside;
        let centre = DVec3::new(0.0, (y0 + y1) / 2.0, (z0 + z1) / 2.0);
        let half = DVec3::new(self.notch_width / 2.0, (y1 - y0) / 2.0, (z1 - z0) / 2.0);
        sd_box(p - centre, half)
    }

    /// The part of the product nearest to `p` (a point on or near the surface).
    pub fn part_at(&self, p: DVec3) -> u8 {
        let r = DVec2::new(p.x, p.z).length();
        let (big_r, h) = (self.radius, self.wall_height);
        let rim_top = ((r - big_r).powi(2) + (p.y - h).powi(2)).sqrt();
        let rim_bottom = ((r - big_r).powi(2) + p.y.powi(2)).sqrt();
        let d_dome = if p.y >= h {
            ((p - self.dome_centre()).length() - big_r).abs()
        } else {
            rim_top
        };
        let d_wall = if p.y < 0.0 {
            rim_bottom
        } else if p.y > h {
            rim_top
        } else {
            (r - big_r).abs()
        };
        let d_base = if r <= big_r { p.y.abs() } else { rim_bottom };
        // Only the slot's own faces count as the notch: the point must lie within the slot's
        // footprint, so the outer wall next to the slot stays `wall`.
        let in_slot_footprint = p.x.abs() <= self.notch_width / 2.0 + 1e-9
            && p.y <= self.notch_height + 1e-9
            && p.z >= self.radius - self.notch_depth - 1e-9;
        let d_notch = if in_slot_footprint || self.notch_box_sdf(p) > 0.0 {
            self.notch_box_sdf(p).abs()
        } else {
            f64::INFINITY
        };
        let candidates = [
            (d_wall, self.parts.wall),
            (d_notch, self.parts.notch),
            (d_base, self.parts.base),
            (d_dome, self.parts.dome),
        ];
        candidates
            .iter()
            .fold((f64::INFINITY, self.parts.wall), |best, &(d, id)| {
                if d < best.0 { (d, id) } else { best }
            })
            .1
    }
}

/// The product, possibly with one defect: what gets meshed and rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Solid {
    pub shape: Shape,
    pub defect: Option<Defect>,
}

impl Solid {
    pub fn good(shape: Shape) -> Self {
        Self {
            shape,
            defect: None,
        }
    }

    pub fn with_defect(shape: Shape, defect: Defect) -> Self {
        Self {
            shape,
            defect: Some(defect),
        }
    }

    /// The shape after defects that change its parameters (e.g. a shortened notch).
    pub fn effective_shape(&self) -> Shape {
        match &self.defect {
            Some(d) => d.reshape(self.shape),
            None => self.shape,
        }
    }

    pub fn sdf(&self, p: DVec3) -> f64 {
        let shape = self.effective_shape();
        let base = shape.sdf(p);
        match &self.defect {
            Some(d) => d.modify(base, p),
            None => base,
        }
    }

    /// Outward unit normal: the normalised gradient of the distance field.
    pub fn normal(&self, p: DVec3, eps: f64) -> DVec3 {
        let dx = DVec3::new(eps, 0.0, 0.0);
        let dy = DVec3::new(0.0, eps, 0.0);
        let dz = DVec3::new(0.0, 0.0, eps);
        let g = DVec3::new(
            self.sdf(p + dx) - self.sdf(p - dx),
            self.sdf(p + dy) - self.sdf(p - dy),
            self.sdf(p + dz) - self.sdf(p - dz),
        );
        g.try_normalize().unwrap_or(DVec3::Y)
    }

    pub fn part_at(&self, p: DVec3) -> u8 {
        self.effective_shape().part_at(p)
    }
}

pub fn sd_box(p: DVec3, half: DVec3) -> f64 {
    let q = p.abs() - half;
    q.max(DVec3::ZERO).length() + q.max_element().min(0.0)
}

/// A cylinder about the y axis from y = 0 to y = height.
pub fn sd_capped_cylinder(p: DVec3, radius: f64, height: f64) -> f64 {
    let q = DVec2::new(
        DVec2::new(p.x, p.z).length() - radius,
        (p.y - height / 2.0).abs() - height / 2.0,
    );
    q.x.max(q.y).min(0.0) + q.max(DVec2::ZERO).length()
}

/// Polynomial smooth minimum: equals `min(a, b)` wherever |a − b| ≥ k, so a blend never
/// reaches further than `k` from where the two surfaces meet.
pub fn smooth_min(a: f64, b: f64, k: f64) -> f64 {
    if k <= 0.0 {
        return a.min(b);
    }
    let h = (k - (a - b).abs()).max(0.0) / k;
    a.min(b) - h * h * k * 0.25
}

pub fn smooth_max(a: f64, b: f64, k: f64) -> f64 {
    -smooth_min(-a, -b, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap() -> Shape {
        ProductSpec::builtin_cap().shape()
    }

    #[test]
    fn distances_at_known_points() {
        let s = cap();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(s.sdf(DVec3::new(0.0, 2.0, 0.0)), 0.0), "top of dome");
        assert!(near(s.sdf(DVec3::new(0.0, 2.5, 0.0)), 0.5));
        assert!(near(s.sdf(DVec3::new(-1.0, 0.5, 0.0)), 0.0), "side wall");
        assert!(near(s.sdf(DVec3::new(0.0, 0.0, -0.5)), 0.0), "base");
        assert!(s.sdf(DVec3::new(0.0, 1.0, 0.0)) < -0.5, "inside");
        // Inside the notch: air. Above the notch at the same spot: solid.
        assert!(s.sdf(DVec3::new(0.0, 0.3, 0.9)) > 0.0);
        assert!(s.sdf(DVec3::new(0.0, 0.8, 0.9)) < 0.0);
        // The slot's back face is 0.30 inside the surface; its side faces at x = ±0.20.
        assert!(near(s.sdf(DVec3::new(0.0, 0.3, 0.7)), 0.0));
        assert!(near(s.sdf(DVec3::new(0.2, 0.3, 0.85)), 0.0));
    }

    #[test]
    fn parts_are_named_where_they_are() {
        let s = cap();
        let p = s.parts;
        assert_eq!(s.part_at(DVec3::new(0.0, 2.0, 0.0)), p.dome);
        assert_eq!(s.part_at(DVec3::new(0.0, 0.5, -1.0)), p.wall);
        assert_eq!(s.part_at(DVec3::new(0.3, 0.0, 0.0)), p.base);
        assert_eq!(s.part_at(DVec3::new(0.0, 0.3, 0.7)), p.notch);
        assert_eq!(s.part_at(DVec3::new(0.2, 0.3, 0.85)), p.notch);
        assert_eq!(s.part_at(DVec3::new(0.0, 0.7, 0.85)), p.notch, "slot roof");
        assert_eq!(
            s.part_at(DVec3::new(0.3, 0.3, 0.954)),
            p.wall,
            "wall beside the slot"
        );
    }

    #[test]
    fn smooth_min_is_exact_outside_the_blend() {
        assert_eq!(smooth_min(1.0, 3.0, 0.5), 1.0);
        assert!(smooth_min(1.0, 1.1, 0.5) < 1.0);
        assert_eq!(smooth_max(1.0, 3.0, 0.5), 3.0);
    }
}
