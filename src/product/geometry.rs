//! The good product as meshing, rendering and the defects see it: a signed distance field with
//! part labels. Two kinds exist: the built-in cap family, an analytic function
//! ([`Shape`]), and a product imported from a CAD mesh, a sampled grid
//! ([`SampledShape`]). [`Geometry`] holds either; [`Field`] is what every consumer asks of it,
//! so code written for one works on the other.

use std::sync::Arc;

use glam::DVec3;

use super::sampled::SampledShape;
use super::sdf::{Shape, gradient_normal};
use super::{ImportError, PartTable, ProductSpec};

/// A solid described by its signed distance (negative inside) and the part at each surface
/// point.
pub trait Field {
    fn sdf(&self, p: DVec3) -> f64;

    /// The part of the product nearest to `p`, a point on or near the surface.
    fn part_at(&self, p: DVec3) -> u8;

    /// Outward unit normal from the field's gradient (central differences `eps` apart).
    fn normal(&self, p: DVec3, eps: f64) -> DVec3 {
        gradient_normal(|q| self.sdf(q), p, eps)
    }

    /// The point the camera looks at and the product turns about.
    fn centre(&self) -> DVec3;

    /// The box a meshing grid with cells of `cell` covers: the product, room for defects that
    /// add material, and a margin so the surface never touches the border.
    fn mesh_box(&self, cell: f64) -> (DVec3, DVec3);

    /// The product's parts.
    fn parts(&self) -> PartTable;

    /// The cap family's dimensions, which the cap's own defect classes are placed by.
    fn cap(&self) -> Option<&Shape> {
        None
    }

    /// The imported product's grid and triangles, which defects acting on a part's faces use.
    fn sampled(&self) -> Option<&SampledShape> {
        None
    }
}

/// The good product: the analytic cap or an imported, sampled one.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    Cap(Shape),
    Sampled(Arc<SampledShape>),
}

impl From<Shape> for Geometry {
    fn from(shape: Shape) -> Self {
        Self::Cap(shape)
    }
}

impl From<Arc<SampledShape>> for Geometry {
    fn from(shape: Arc<SampledShape>) -> Self {
        Self::Sampled(shape)
    }
}

impl Geometry {
    /// The geometry a product file describes: the cap family at once; an imported mesh from
    /// its cached grid, or read, checked and turned into a grid (then cached).
    pub fn open(spec: &ProductSpec) -> Result<Self, ImportError> {
        match &spec.import {
            None => Ok(Self::Cap(spec.shape())),
            Some(import) => {
                let shape = SampledShape::open(spec, import)?;
                Ok(Self::Sampled(Arc::new(shape)))
            }
        }
    }

    /// The smallest step the normal's central differences may take: a sampled field is
    /// trilinear within each grid cell, so its gradient is only smooth across cells.
    pub fn min_normal_step(&self) -> f64 {
        match self {
            Self::Cap(_) => 0.0,
            Self::Sampled(s) => s.grid_cell(),
        }
    }
}

impl Field for Geometry {
    fn sdf(&self, p: DVec3) -> f64 {
        match self {
            Self::Cap(s) => s.sdf(p),
            Self::Sampled(s) => s.sdf(p),
        }
    }

    fn part_at(&self, p: DVec3) -> u8 {
        match self {
            Self::Cap(s) => s.part_at(p),
            Self::Sampled(s) => Field::part_at(s.as_ref(), p),
        }
    }

    fn centre(&self) -> DVec3 {
        match self {
            Self::Cap(s) => s.centre(),
            Self::Sampled(s) => Field::centre(s.as_ref()),
        }
    }

    fn mesh_box(&self, cell: f64) -> (DVec3, DVec3) {
        match self {
            Self::Cap(s) => Field::mesh_box(s, cell),
            Self::Sampled(s) => s.mesh_box(cell),
        }
    }

    fn parts(&self) -> PartTable {
        match self {
            Self::Cap(s) => Field::parts(s),
            Self::Sampled(s) => s.parts(),
        }
    }

    fn cap(&self) -> Option<&Shape> {
        match self {
            Self::Cap(s) => Some(s),
            Self::Sampled(_) => None,
        }
    }

    fn sampled(&self) -> Option<&SampledShape> {
        match self {
            Self::Cap(_) => None,
            Self::Sampled(s) => Some(s),
        }
    }
}

/// The axis-aligned bounding box of some points (inverted, +∞ to −∞, when there are none).
pub fn bounds_of(points: impl IntoIterator<Item = DVec3>) -> (DVec3, DVec3) {
    points.into_iter().fold(
        (DVec3::splat(f64::INFINITY), DVec3::splat(f64::NEG_INFINITY)),
        |(lo, hi), p| (lo.min(p), hi.max(p)),
    )
}

/// The first point where the ray from `origin` along the unit `dir` meets the surface of
/// `field`, within `max` of the origin (sphere tracing; the field is a distance bound).
pub fn first_hit(
    field: &(impl Field + ?Sized),
    origin: DVec3,
    dir: DVec3,
    max: f64,
) -> Option<DVec3> {
    let mut t = 0.0;
    for _ in 0..512 {
        let p = origin + dir * t;
        let d = field.sdf(p);
        if d.abs() < 1e-4 {
            return Some(p);
        }
        // A step never shorter than a little, so a grazing ray still gets somewhere.
        t += d.max(1e-4);
        if t > max || !t.is_finite() {
            return None;
        }
    }
    None
}
