//! The product as a signed distance function (negative inside), and which part a surface point
//! belongs to. Everything geometric downstream (mesh, defects, part maps) derives from here.

use glam::{DVec2, DVec3};

use super::geometry::{Field, Geometry};
use super::{NotchSpec, PartTable, ProductSpec, ShapeSpec, defect::Defect};

/// Ids of the cap family's four parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartIds {
    pub dome: u8,
    pub wall: u8,
    pub notch: u8,
    pub base: u8,
}

impl PartIds {
    pub const NAMES: [&'static str; 4] = ["dome", "wall", "notch", "base"];

    /// The cap's ids from a product's part table (0 for a name the table lacks, which
    /// validation refuses for the cap family).
    pub fn from_table(table: &PartTable) -> Self {
        let id = |name| table.id_of(name).unwrap_or(0);
        Self {
            dome: id("dome"),
            wall: id("wall"),
            notch: id("notch"),
            base: id("base"),
        }
    }

    /// (id, name) of every part, in id order.
    pub fn named(&self) -> Vec<(u8, &'static str)> {
        let mut v = vec![
            (self.dome, "dome"),
            (self.wall, "wall"),
            (self.notch, "notch"),
            (self.base, "base"),
        ];
        v.sort_unstable();
        v
    }

    pub fn name_of(&self, id: u8) -> Option<&'static str> {
        self.named()
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n)
    }
}

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
    /// The cap family's shape; a product without `[shape]` and `[notch]` (an imported one)
    /// gets an empty shape, zero in every dimension, whose distance is nowhere negative.
    pub fn from_spec(spec: &ProductSpec) -> Self {
        let shape = spec.shape.as_deref().copied().unwrap_or(ShapeSpec {
            radius: 0.0,
            wall_height: 0.0,
        });
        let notch = spec.notch.as_deref().copied().unwrap_or(NotchSpec {
            width: 0.0,
            height: 0.0,
            depth: 0.0,
        });
        Self {
            radius: shape.radius,
            wall_height: shape.wall_height,
            notch_width: notch.width,
            notch_height: notch.height,
            notch_depth: notch.depth,
            parts: PartIds::from_table(&spec.parts),
        }
    }

    /// A cap of zero size: its distance is nowhere negative, so it meshes to nothing.
    pub fn empty() -> Self {
        Self {
            radius: 0.0,
            wall_height: 0.0,
            notch_width: 0.0,
            notch_height: 0.0,
            notch_depth: 0.0,
            parts: PartIds {
                dome: 0,
                wall: 0,
                notch: 0,
                base: 0,
            },
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

impl Field for Shape {
    fn sdf(&self, p: DVec3) -> f64 {
        Shape::sdf(self, p)
    }

    fn part_at(&self, p: DVec3) -> u8 {
        Shape::part_at(self, p)
    }

    fn centre(&self) -> DVec3 {
        Shape::centre(self)
    }

    fn mesh_box(&self, cell: f64) -> (DVec3, DVec3) {
        // Room above the dome for bulges, and a margin of two cells so the surface never
        // touches the grid's border.
        let margin = 2.0 * cell + 0.05;
        let r = self.radius;
        (
            DVec3::new(-r - margin, -margin, -r - margin),
            DVec3::new(r + margin, self.height() + 0.5 * r + margin, r + margin),
        )
    }

    fn parts(&self) -> PartTable {
        PartTable::from_pairs(
            self.parts
                .named()
                .into_iter()
                .map(|(id, n)| (id, n.to_string())),
        )
    }

    fn cap(&self) -> Option<&Shape> {
        Some(self)
    }
}

/// The product, possibly with one defect: what gets meshed and rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Solid {
    pub shape: Geometry,
    pub defect: Option<Defect>,
}

impl Solid {
    pub fn good(shape: impl Into<Geometry>) -> Self {
        Self {
            shape: shape.into(),
            defect: None,
        }
    }

    pub fn with_defect(shape: impl Into<Geometry>, defect: Defect) -> Self {
        Self {
            shape: shape.into(),
            defect: Some(defect),
        }
    }

    /// The cap after defects that change its parameters (e.g. a shortened notch).
    fn effective_cap(&self, shape: &Shape) -> Shape {
        match &self.defect {
            Some(d) => d.reshape(*shape),
            None => *shape,
        }
    }

    pub fn sdf(&self, p: DVec3) -> f64 {
        let base = match &self.shape {
            Geometry::Cap(shape) => self.effective_cap(shape).sdf(p),
            other => other.sdf(p),
        };
        match &self.defect {
            Some(d) => d.modify_on(&self.shape, base, p),
            None => base,
        }
    }

    /// Outward unit normal: the normalised gradient of the distance field. A sampled product's
    /// field is differenced over at least one grid cell, across which it is interpolated.
    pub fn normal(&self, p: DVec3, eps: f64) -> DVec3 {
        let eps = eps.max(self.shape.min_normal_step());
        gradient_normal(|q| self.sdf(q), p, eps)
    }

    pub fn part_at(&self, p: DVec3) -> u8 {
        match &self.shape {
            Geometry::Cap(shape) => self.effective_cap(shape).part_at(p),
            other => other.part_at(p),
        }
    }
}

impl Field for Solid {
    fn sdf(&self, p: DVec3) -> f64 {
        Solid::sdf(self, p)
    }

    fn part_at(&self, p: DVec3) -> u8 {
        Solid::part_at(self, p)
    }

    fn normal(&self, p: DVec3, eps: f64) -> DVec3 {
        Solid::normal(self, p, eps)
    }

    fn centre(&self) -> DVec3 {
        self.shape.centre()
    }

    fn mesh_box(&self, cell: f64) -> (DVec3, DVec3) {
        self.shape.mesh_box(cell)
    }

    fn parts(&self) -> PartTable {
        self.shape.parts()
    }
}

/// The normalised central-difference gradient of `f` at `p` (+y where it vanishes).
pub fn gradient_normal(f: impl Fn(DVec3) -> f64, p: DVec3, eps: f64) -> DVec3 {
    let dx = DVec3::new(eps, 0.0, 0.0);
    let dy = DVec3::new(0.0, eps, 0.0);
    let dz = DVec3::new(0.0, 0.0, eps);
    let g = DVec3::new(
        f(p + dx) - f(p - dx),
        f(p + dy) - f(p - dy),
        f(p + dz) - f(p - dz),
    );
    g.try_normalize().unwrap_or(DVec3::Y)
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
