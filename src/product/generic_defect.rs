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

/// A surface point on `part` within `bend` (away from the part's borders unless at an edge),
/// or failing that any on `part`, or any at all.
fn pick_point(
    surface: &SurfaceSamples,
    part: Option<u8>,
    bend: [f64; 2],
    sharpest: bool,
    rng: &mut Rng,
) -> Option<super::surface::SurfacePoint> {
    // A bump or dent placed by a point beside a part border may end up on the other part;
    // an edge, though, is often itself the border.
    let mut candidates = surface.select(part, bend, !sharpest);
    if candidates.is_empty() {
        candidates = surface.select(part, bend, false);
    }
    if candidates.is_empty() && sharpest {
        // No edge as sharp as asked: take the sharpest twentieth of the part.
        let mut on_part = surface.select(part, [0.0, f64::INFINITY], false);
        on_part.sort_by(|a, b| surface.points[*b].bend.total_cmp(&surface.points[*a].bend));
        on_part.truncate(on_part.len().div_ceil(20));
        candidates = on_part;
    }
    if candidates.is_empty() {
        candidates = surface.select(part, [0.0, f64::INFINITY], false);
    }
    if candidates.is_empty() {
        candidates = surface.select(None, [0.0, f64::INFINITY], false);
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
        interior: true,
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
                surface: Some(s.to_array()),
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
                surface: Some(s.to_array()),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::product::Geometry;
    use crate::product::mesh::{Grid, mesh_defective};
    use crate::product::sdf::Solid;

    const CELL: f64 = 0.05;

    /// A shipped product, opened from a copy (its grid cache goes beside the copy).
    fn shipped(name: &str, dir: &Path) -> (ProductSpec, Geometry) {
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/products");
        let spec = ProductSpec::load(
            &assets.join(format!("{name}.toml")).display().to_string(),
            None,
        )
        .unwrap();
        let mesh = spec.import.as_ref().unwrap().file.clone();
        std::fs::copy(assets.join(&mesh), dir.join(&mesh)).unwrap();
        std::fs::copy(
            assets.join(format!("{name}.toml")),
            dir.join(format!("{name}.toml")),
        )
        .unwrap();
        let spec = ProductSpec::load(
            &dir.join(format!("{name}.toml")).display().to_string(),
            None,
        )
        .unwrap();
        let geometry = Geometry::open(&spec).unwrap();
        (spec, geometry)
    }

    #[test]
    fn generic_defects_change_the_mesh_only_inside_their_box_and_on_their_part() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["bracket", "gear"] {
            let (spec, geometry) = shipped(name, dir.path());
            let good = Solid::good(geometry.clone());
            let grid = Grid::for_shape(&geometry, CELL).sample(&good);
            let good_mesh = grid.surface_nets(&good);
            assert!(good_mesh.is_closed(), "{name}: good mesh not closed");
            let key = |p: &[f32; 3]| p.map(f32::to_bits);
            let good_set: std::collections::HashSet<_> =
                good_mesh.positions.iter().map(key).collect();
            let mut rng = Rng::new(17);
            for (class, defect_spec) in &spec.defects {
                for _ in 0..3 {
                    let defect = defect_spec.sample(&geometry, &mut rng);
                    if let Some(part) = part_name(defect_spec) {
                        let expected = geometry.parts().id_of(part).unwrap();
                        assert_eq!(
                            defect.part(&geometry),
                            expected,
                            "{name} {class}: {defect:?}"
                        );
                    }
                    let solid = Solid::with_defect(geometry.clone(), defect.clone());
                    let mesh = mesh_defective(&grid, &solid);
                    assert!(mesh.is_closed(), "{name} {class}: not closed");
                    let (lo, hi) = defect.influence_box(&geometry);
                    let (lo, hi) = (lo - DVec3::splat(2.0 * CELL), hi + DVec3::splat(2.0 * CELL));
                    let mut changed = 0;
                    for p in &mesh.positions {
                        if !good_set.contains(&key(p)) {
                            let q = DVec3::from(p.map(f64::from));
                            assert!(
                                q.cmpge(lo).all() && q.cmple(hi).all(),
                                "{name} {class}: vertex {q} moved outside the box of {defect:?}"
                            );
                            changed += 1;
                        }
                    }
                    assert!(
                        changed > 3,
                        "{name} {class}: only {changed} vertices changed"
                    );
                    let dv = (mesh.volume() - good_mesh.volume()).abs();
                    assert!(dv > 1e-4, "{name} {class}: volume unchanged");
                }
            }
        }
    }

    #[test]
    fn edge_classes_sit_on_sharp_edges_and_face_classes_on_smooth_faces() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, geometry) = shipped("bracket", dir.path());
        let surface = geometry.sampled().unwrap().surface();
        let bend_at = |p: DVec3| {
            surface
                .points
                .iter()
                .min_by(|a, b| {
                    (a.position - p)
                        .length()
                        .total_cmp(&(b.position - p).length())
                })
                .map_or(0.0, |s| s.bend)
        };
        let mut rng = Rng::new(3);
        for _ in 0..10 {
            let chip = spec.defects["chip"].sample(&geometry, &mut rng);
            assert!(bend_at(chip.anchor(&geometry)) >= SHARP[0], "{chip:?}");
            let flash = spec.defects["flash"].sample(&geometry, &mut rng);
            assert!(bend_at(flash.anchor(&geometry)) >= SHARP[0], "{flash:?}");
            let sink = spec.defects["sink_mark"].sample(&geometry, &mut rng);
            assert!(bend_at(sink.anchor(&geometry)) <= SMOOTH[1], "{sink:?}");
        }
        // The same seed draws the same defect: datasets regenerate from their manifests.
        let a = spec.defects["flash"].sample(&geometry, &mut Rng::new(9));
        let b = spec.defects["flash"].sample(&geometry, &mut Rng::new(9));
        assert_eq!(a, b);
    }

    #[test]
    fn generic_classes_work_on_the_cap_too() {
        let mut product = ProductSpec::builtin_cap();
        product.defects.insert(
            "bump".into(),
            DefectSpec::SurfaceBulge {
                part: Some("wall".into()),
                radius: [0.2, 0.25],
                protrusion: [0.08, 0.1],
                blend: 0.05,
            },
        );
        product.validate().unwrap();
        let shape = product.shape();
        let defect = product.defects["bump"].sample(&shape, &mut Rng::new(1));
        assert_eq!(defect.part(&shape), shape.parts.wall);
        product.defects.insert(
            "gone".into(),
            DefectSpec::MissingFeature {
                part: "notch".into(),
                radius: [0.1, 0.2],
                depth: [0.05, 0.1],
                mode: FeatureLoss::Fill,
            },
        );
        assert!(product.validate().unwrap_err().contains("defects.gone"));
    }
}
