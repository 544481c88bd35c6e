//! Defect classes for any product, placed by the surface rather than by the cap's own
//! coordinates: a bump or a dent on a part's smooth faces, a sink mark on its flattest ones, a
//! chip or a fin of flash at its sharpest edges, and a feature not fully formed (a part's
//! cavity partly filled, or the part shrunk). Each is sampled from ranges in the product file
//! on the named part (any part when none is named), from [`SurfaceSamples`].
//!
//! Bumps, dents, sink marks and chips reuse the cap's sphere operators ([`Defect::Bulge`],
//! [`Defect::Dent`], [`Defect::Chip`]); flash is an oriented box unioned on, and a missing
//! feature offsets one part's faces within a ball, using the distances to that part's
//! triangles and to all others so that it stops where another part's faces are nearer.

use std::sync::Arc;

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::defect::{Defect, DefectSpec};
use super::geometry::Field;
use super::sampled::surface_spacing;
use super::surface::SurfaceSamples;
use super::{PartTable, ProductSpec};
use crate::rng::Rng;

/// How a feature is not fully formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureLoss {
    /// The cavity in front of the part's faces is partly filled (a hole or notch not cut
    /// through, a short shot into a recess).
    Fill,
    /// The part's faces recede (a boss, rib or tooth that came out short).
    Shrink,
}

/// Bend ranges (see [`super::surface::SurfacePoint::bend`]) each kind is placed in.
const SMOOTH: [f64; 2] = [0.0, 0.15];
const FLAT: [f64; 2] = [0.0, 0.02];
const SHARP: [f64; 2] = [0.5, 2.0];

/// The part a generic spec names, if any.
pub fn part_name(spec: &DefectSpec) -> Option<&str> {
    match spec {
        DefectSpec::SurfaceBulge { part, .. }
        | DefectSpec::SurfaceDent { part, .. }
        | DefectSpec::SinkMark { part, .. }
        | DefectSpec::EdgeChip { part, .. }
        | DefectSpec::Flash { part, .. } => part.as_deref(),
        DefectSpec::MissingFeature { part, .. } => Some(part),
        _ => None,
    }
}

fn range(r: [f64; 2], what: &str, lo: f64, hi: f64) -> Result<(), String> {
    if !(r[0].is_finite() && r[1].is_finite()) || r[0] > r[1] || r[0] < lo || r[1] > hi {
        return Err(format!(
            "{what} must be an ordered range [min, max] within [{lo}, {hi}], got {r:?}"
        ));
    }
    Ok(())
}

/// Checks a generic spec's ranges (in render units: the product's largest extent is about 2).
pub fn validate(spec: &DefectSpec, product: &ProductSpec) -> Result<(), String> {
    let blend_ok = |b: f64| range([b, b], "blend", 0.0, 0.5);
    match spec {
        DefectSpec::SurfaceBulge {
            radius,
            protrusion,
            blend,
            ..
        } => {
            range(*radius, "radius", 0.01, 1.0)?;
            range(*protrusion, "protrusion", 0.005, 1.0)?;
            if protrusion[1] > radius[0] * 2.0 {
                return Err("protrusion must stay below the bulge's diameter".into());
            }
            blend_ok(*blend)
        }
        DefectSpec::SurfaceDent {
            radius,
            depth,
            blend,
            ..
        }
        | DefectSpec::SinkMark {
            radius,
            depth,
            blend,
            ..
        } => {
            range(*radius, "radius", 0.01, 1.0)?;
            range(*depth, "depth", 0.002, 0.5)?;
            if depth[1] >= radius[0] {
                return Err("depth must stay below the pressing sphere's radius".into());
            }
            blend_ok(*blend)
        }
        DefectSpec::EdgeChip { radius, .. } => range(*radius, "radius", 0.01, 0.5),
        DefectSpec::Flash {
            length,
            height,
            thickness,
            ..
        } => {
            range(*length, "length", 0.02, 2.0)?;
            range(*height, "height", 0.01, 0.5)?;
            range(*thickness, "thickness", 0.01, 0.3)
        }
        DefectSpec::MissingFeature { radius, depth, .. } => {
            if !product.is_imported() {
                return Err(
                    "missing_feature acts on an imported product's part faces; the cap family \
                     has short_notch"
                        .into(),
                );
            }
            range(*radius, "radius", 0.02, 2.0)?;
            range(*depth, "depth", 0.005, 1.0)
        }
        _ => Ok(()),
    }
}

/// Checks that the part a spec names exists.
pub fn check_part(spec: &DefectSpec, parts: &PartTable) -> Result<(), String> {
    match part_name(spec) {
        Some(name) if parts.id_of(name).is_none() => {
            let names: Vec<&str> = parts.named().into_iter().map(|(_, n)| n).collect();
            Err(format!(
                "part {name:?} is not a part of the product (its parts: {})",
                names.join(", ")
            ))
        }
        _ => Ok(()),
    }
}

/// The product's surface points: kept by an imported product, computed for the cap.
fn surface_of(shape: &(impl Field + ?Sized)) -> Arc<SurfaceSamples> {
    match shape.sampled() {
        Some(s) => s.surface(),
        None => Arc::new(SurfaceSamples::of(shape, surface_spacing(shape))),
    }
}

/// A surface point on `part` within `bend`, or failing that any on `part`, or any at all.
fn pick_point(
    surface: &SurfaceSamples,
    part: Option<u8>,
    bend: [f64; 2],
    sharpest: bool,
    rng: &mut Rng,
) -> Option<super::surface::SurfacePoint> {
    let mut candidates = surface.select(part, bend);
    if candidates.is_empty() && sharpest {
        // No edge as sharp as asked: take the sharpest twentieth of the part.
        let mut on_part = surface.select(part, [0.0, f64::INFINITY]);
        on_part.sort_by(|a, b| surface.points[*b].bend.total_cmp(&surface.points[*a].bend));
        on_part.truncate(on_part.len().div_ceil(20));
        candidates = on_part;
    }
    if candidates.is_empty() {
        candidates = surface.select(part, [0.0, f64::INFINITY]);
    }
    if candidates.is_empty() {
        candidates = surface.select(None, [0.0, f64::INFINITY]);
    }
    if candidates.is_empty() {
        return None;
    }
    let i = candidates[(rng.next_u64() % candidates.len() as u64) as usize];
    Some(surface.points[i])
}

/// Draws one instance of a generic class.
pub fn sample(spec: &DefectSpec, shape: &(impl Field + ?Sized), rng: &mut Rng) -> Defect {
    let part = part_name(spec).and_then(|n| shape.parts().id_of(n));
    let surface = surface_of(shape);
    let (bend, sharpest) = match spec {
        DefectSpec::SinkMark { .. } => (FLAT, false),
        DefectSpec::EdgeChip { .. } | DefectSpec::Flash { .. } => (SHARP, true),
        _ => (SMOOTH, false),
    };
    let fallback = super::surface::SurfacePoint {
        position: shape.centre(),
        normal: DVec3::Y,
        part: part.unwrap_or(0),
        bend: 0.0,
        bisector: DVec3::Y,
        tangent: DVec3::X,
    };
    let at = pick_point(&surface, part, bend, sharpest, rng).unwrap_or(fallback);
    let (s, n) = (at.position, at.normal);
    match spec {
        DefectSpec::SurfaceBulge {
            radius,
            protrusion,
            blend,
            ..
        } => {
            let radius = rng.uniform_range(*radius);
            let protrusion = rng.uniform_range(*protrusion);
            Defect::Bulge {
                centre: (s + n * (protrusion - radius)).to_array(),
                radius,
                blend: *blend,
            }
        }
        DefectSpec::SurfaceDent {
            radius,
            depth,
            blend,
            ..
        }
        | DefectSpec::SinkMark {
            radius,
            depth,
            blend,
            ..
        } => {
            let radius = rng.uniform_range(*radius);
            let depth = rng.uniform_range(*depth);
            Defect::Dent {
                centre: (s + n * (radius - depth)).to_array(),
                radius,
                blend: *blend,
            }
        }
        DefectSpec::EdgeChip { radius, .. } => Defect::Chip {
            centre: s.to_array(),
            radius: rng.uniform_range(*radius),
        },
        DefectSpec::Flash {
            length,
            height,
            thickness,
            ..
        } => {
            let (length, height, thickness) = (
                rng.uniform_range(*length),
                rng.uniform_range(*height),
                rng.uniform_range(*thickness),
            );
            let out = at.bisector;
            let along = if at.tangent.length_squared() > 0.5 {
                at.tangent
            } else {
                out.any_orthonormal_vector()
            };
            let side = along.cross(out).normalize_or_zero();
            // The fin reaches `height` out of the edge and as far into the material as it is
            // thick, so it grows out of the part rather than floating beside it.
            let inset = thickness;
            Defect::Flash {
                root: s.to_array(),
                centre: (s + out * ((height - inset) / 2.0)).to_array(),
                axes: [along.to_array(), out.to_array(), side.to_array()],
                half: [length / 2.0, (height + inset) / 2.0, thickness / 2.0],
            }
        }
        DefectSpec::MissingFeature {
            radius,
            depth,
            mode,
            ..
        } => Defect::MissingFeature {
            part: part.unwrap_or(at.part),
            centre: s.to_array(),
            radius: rng.uniform_range(*radius),
            depth: rng.uniform_range(*depth),
            fill: *mode == FeatureLoss::Fill,
        },
        // The cap's own classes are sampled in `defect.rs`.
        _ => Defect::Chip {
            centre: s.to_array(),
            radius: 0.0,
        },
    }
}

/// Signed distance to a box with the given centre, unit axes and half extents.
pub fn oriented_box_sdf(p: DVec3, centre: DVec3, axes: &[[f64; 3]; 3], half: [f64; 3]) -> f64 {
    let d = p - centre;
    let local = DVec3::new(
        d.dot(DVec3::from(axes[0])),
        d.dot(DVec3::from(axes[1])),
        d.dot(DVec3::from(axes[2])),
    );
    super::sdf::sd_box(local, DVec3::from(half))
}

/// The axis-aligned box around an oriented box.
pub fn oriented_box_bounds(centre: DVec3, axes: &[[f64; 3]; 3], half: [f64; 3]) -> (DVec3, DVec3) {
    let reach = (0..3).fold(DVec3::ZERO, |acc, i| {
        acc + DVec3::from(axes[i]).abs() * half[i]
    });
    (centre - reach, centre + reach)
}

/// One part's faces offset within a ball: a missing feature's geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureOffset {
    pub part: u8,
    pub centre: DVec3,
    pub radius: f64,
    pub depth: f64,
    pub fill: bool,
}

/// The missing feature's change to distance `d` at `p`: the part's faces offset by `depth`
/// within the ball, only where that part's faces are nearer than any other's.
pub fn missing_feature(shape: &(impl Field + ?Sized), d: f64, p: DVec3, f: FeatureOffset) -> f64 {
    let ball = (p - f.centre).length() - f.radius;
    let Some(sampled) = shape.sampled() else {
        return d;
    };
    if ball > 0.0 {
        return d;
    }
    let (to_part, to_others) = sampled.part_distances(p, f.part);
    // Negative where the part's faces are the nearer ones: half the difference is a distance
    // to the surface midway between them.
    let in_front = 0.5 * (to_part - to_others);
    let region = (to_part - f.depth).max(in_front).max(ball);
    if f.fill {
        d.min(region)
    } else {
        d.max(-region)
    }
}
