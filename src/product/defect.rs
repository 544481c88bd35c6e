//! Geometric defects: how each class is parameterised (ranges in the product file), how one
//! instance is sampled, and how it changes the distance field. The cap's own classes are placed
//! by its dimensions; the generic ones, for any product, by its surface
//! ([`super::generic_defect`]).

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::ProductSpec;
use super::generic_defect::{self, FeatureLoss};
use super::geometry::{Field, Geometry};
use super::sdf::{Shape, smooth_max, smooth_min};
use crate::rng::Rng;

/// A defect class as described in the product file: ranges to sample from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DefectSpec {
    /// A smooth bump blended onto the dome.
    Bulge {
        radius: [f64; 2],
        protrusion: [f64; 2],
        polar_deg: [f64; 2],
        azimuth_deg: [f64; 2],
        blend: f64,
    },
    /// The notch is not cut as high as it should be.
    ShortNotch { height: [f64; 2] },
    /// A smooth inward depression on the dome or the wall.
    Dent {
        radius: [f64; 2],
        depth: [f64; 2],
        polar_deg: [f64; 2],
        wall_y: [f64; 2],
        azimuth_deg: [f64; 2],
        blend: f64,
    },
    /// A piece missing from the bottom rim.
    Chip {
        radius: [f64; 2],
        azimuth_deg: [f64; 2],
    },
    /// Any product: a smooth bump at a point of a part's smooth faces.
    SurfaceBulge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<String>,
        radius: [f64; 2],
        protrusion: [f64; 2],
        blend: f64,
    },
    /// Any product: a smooth depression at a point of a part's smooth faces.
    SurfaceDent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<String>,
        radius: [f64; 2],
        depth: [f64; 2],
        blend: f64,
    },
    /// Any product: a wide, shallow depression on a part's flattest faces (a sink mark over a
    /// thick section of a moulding).
    SinkMark {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<String>,
        radius: [f64; 2],
        depth: [f64; 2],
        blend: f64,
    },
    /// Any product: a spherical bite out of a part's sharpest edges.
    EdgeChip {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<String>,
        radius: [f64; 2],
    },
    /// Any product: a thin fin standing out of a sharp edge (flash at a parting line).
    Flash {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        part: Option<String>,
        length: [f64; 2],
        height: [f64; 2],
        thickness: [f64; 2],
    },
    /// An imported product: a part not fully formed within a ball around a point of it, its
    /// cavity partly filled or its faces receded by `depth`.
    MissingFeature {
        part: String,
        radius: [f64; 2],
        depth: [f64; 2],
        mode: FeatureLoss,
    },
}

/// One sampled defect, with everything needed to rebuild its geometry exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Defect {
    Bulge {
        centre: [f64; 3],
        radius: f64,
        blend: f64,
        /// The surface point a generic class placed it at (the cap's classes need none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        surface: Option<[f64; 3]>,
    },
    ShortNotch {
        height: f64,
    },
    Dent {
        centre: [f64; 3],
        radius: f64,
        blend: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        surface: Option<[f64; 3]>,
    },
    Chip {
        centre: [f64; 3],
        radius: f64,
    },
    /// A box unioned on: `axes` are its unit axes (along the edge, out of it, across it),
    /// `half` its half extents; `root` is the edge point it grows from.
    Flash {
        root: [f64; 3],
        centre: [f64; 3],
        axes: [[f64; 3]; 3],
        half: [f64; 3],
    },
    /// Part `part`'s faces offset by `depth` within the ball: into the cavity in front of them
    /// (`fill`) or into the material behind them.
    MissingFeature {
        part: u8,
        centre: [f64; 3],
        radius: f64,
        depth: f64,
        fill: bool,
    },
}

fn check_range(r: [f64; 2], what: &str, lo: f64, hi: f64) -> Result<(), String> {
    if !(r[0].is_finite() && r[1].is_finite()) || r[0] > r[1] || r[0] < lo || r[1] > hi {
        return Err(format!(
            "{what} must be an ordered range [min, max] within [{lo}, {hi}], got {r:?}"
        ));
    }
    Ok(())
}

/// The point on the dome at a polar angle from the top and an azimuth from +z towards +x, and
/// the outward direction there.
fn dome_point(shape: &Shape, polar_deg: f64, azimuth_deg: f64) -> (DVec3, DVec3) {
    let (t, a) = (polar_deg.to_radians(), azimuth_deg.to_radians());
    let dir = DVec3::new(t.sin() * a.sin(), t.cos(), t.sin() * a.cos());
    (
        DVec3::new(0.0, shape.wall_height, 0.0) + dir * shape.radius,
        dir,
    )
}

fn wall_point(shape: &Shape, y: f64, azimuth_deg: f64) -> (DVec3, DVec3) {
    let a = azimuth_deg.to_radians();
    let dir = DVec3::new(a.sin(), 0.0, a.cos());
    (dir * shape.radius + DVec3::new(0.0, y, 0.0), dir)
}

impl DefectSpec {
    /// True for the classes placed by the cap's own dimensions.
    pub fn is_cap_class(&self) -> bool {
        matches!(
            self,
            DefectSpec::Bulge { .. }
                | DefectSpec::ShortNotch { .. }
                | DefectSpec::Dent { .. }
                | DefectSpec::Chip { .. }
        )
    }

    pub fn validate(&self, product: &ProductSpec) -> Result<(), String> {
        if !self.is_cap_class() {
            return generic_defect::validate(self, product);
        }
        let (Some(shape), Some(notch)) = (product.shape.as_deref(), product.notch.as_deref())
        else {
            return Err(
                "this kind is one of the cap's own classes; a product of your own uses \
                 surface_bulge, surface_dent, sink_mark, edge_chip, flash or missing_feature"
                    .into(),
            );
        };
        let r = shape.radius;
        match self {
            DefectSpec::Bulge {
                radius,
                protrusion,
                polar_deg,
                azimuth_deg,
                blend,
            } => {
                check_range(*radius, "radius", 1e-3, r)?;
                check_range(*protrusion, "protrusion", 1e-3, r)?;
                check_range(*polar_deg, "polar_deg", 0.0, 90.0)?;
                check_range(*azimuth_deg, "azimuth_deg", -360.0, 720.0)?;
                if protrusion[1] > radius[0] * 2.0 {
                    return Err("protrusion must stay below the bulge's diameter".into());
                }
                check_range([*blend, *blend], "blend", 0.0, r)
            }
            DefectSpec::ShortNotch { height } => {
                check_range(*height, "height", 1e-3, notch.height)?;
                if height[1] >= notch.height {
                    return Err(format!(
                        "height must be below the nominal notch height {}",
                        notch.height
                    ));
                }
                Ok(())
            }
            DefectSpec::Dent {
                radius,
                depth,
                polar_deg,
                wall_y,
                azimuth_deg,
                blend,
            } => {
                check_range(*radius, "radius", 1e-3, r)?;
                check_range(*depth, "depth", 1e-3, r / 2.0)?;
                if depth[1] >= radius[0] {
                    return Err("depth must stay below the pressing sphere's radius".into());
                }
                check_range(*polar_deg, "polar_deg", 0.0, 90.0)?;
                check_range(*wall_y, "wall_y", 0.0, shape.wall_height)?;
                check_range(*azimuth_deg, "azimuth_deg", -360.0, 720.0)?;
                check_range([*blend, *blend], "blend", 0.0, r)
            }
            DefectSpec::Chip {
                radius,
                azimuth_deg,
            } => {
                check_range(*radius, "radius", 1e-3, r / 2.0)?;
                check_range(*azimuth_deg, "azimuth_deg", -360.0, 720.0)
            }
            _ => Ok(()),
        }
    }

    /// Draws one instance of this defect class on the good product `shape`.
    pub fn sample(&self, shape: &(impl Field + ?Sized), rng: &mut Rng) -> Defect {
        if !self.is_cap_class() {
            return generic_defect::sample(self, shape, rng);
        }
        // Validation keeps the cap's classes to the cap family; anything else gets an empty
        // cap, on which they change nothing.
        let cap = shape.cap().copied().unwrap_or_else(Shape::empty);
        let shape = &cap;
        match self {
            DefectSpec::Bulge {
                radius,
                protrusion,
                polar_deg,
                azimuth_deg,
                blend,
            } => {
                let radius = rng.uniform_range(*radius);
                let protrusion = rng.uniform_range(*protrusion);
                let (surface, dir) = dome_point(
                    shape,
                    rng.uniform_range(*polar_deg),
                    rng.uniform_range(*azimuth_deg),
                );
                let centre = surface + dir * (protrusion - radius);
                Defect::Bulge {
                    centre: centre.to_array(),
                    radius,
                    blend: *blend,
                    surface: None,
                }
            }
            DefectSpec::ShortNotch { height } => Defect::ShortNotch {
                height: rng.uniform_range(*height),
            },
            DefectSpec::Dent {
                radius,
                depth,
                polar_deg,
                wall_y,
                azimuth_deg,
                blend,
            } => {
                let radius = rng.uniform_range(*radius);
                let depth = rng.uniform_range(*depth);
                let on_dome = rng.next_f64() < 0.5;
                let azimuth = rng.uniform_range(*azimuth_deg);
                let (surface, dir) = if on_dome {
                    dome_point(shape, rng.uniform_range(*polar_deg), azimuth)
                } else {
                    wall_point(shape, rng.uniform_range(*wall_y), azimuth)
                };
                let centre = surface + dir * (radius - depth);
                Defect::Dent {
                    centre: centre.to_array(),
                    radius,
                    blend: *blend,
                    surface: None,
                }
            }
            DefectSpec::Chip {
                radius,
                azimuth_deg,
            } => {
                let radius = rng.uniform_range(*radius);
                let (rim, _) = wall_point(shape, 0.0, rng.uniform_range(*azimuth_deg));
                Defect::Chip {
                    centre: rim.to_array(),
                    radius,
                }
            }
            _ => generic_defect::sample(self, shape, rng),
        }
    }
}

impl Defect {
    /// Defects that change the product's dimensions rather than adding or removing material.
    pub fn reshape(&self, shape: Shape) -> Shape {
        match self {
            Defect::ShortNotch { height } => Shape {
                notch_height: *height,
                ..shape
            },
            _ => shape,
        }
    }

    /// Applies the defect to the distance `d` of the (reshaped) product at `p`.
    pub fn modify(&self, d: f64, p: DVec3) -> f64 {
        match self {
            Defect::Bulge {
                centre,
                radius,
                blend,
                ..
            } => smooth_min(d, (p - DVec3::from(*centre)).length() - radius, *blend),
            Defect::Dent {
                centre,
                radius,
                blend,
                ..
            } => smooth_max(d, radius - (p - DVec3::from(*centre)).length(), *blend),
            Defect::Chip { centre, radius } => d.max(radius - (p - DVec3::from(*centre)).length()),
            Defect::Flash {
                centre, axes, half, ..
            } => d.min(generic_defect::oriented_box_sdf(
                p,
                DVec3::from(*centre),
                axes,
                *half,
            )),
            Defect::ShortNotch { .. } | Defect::MissingFeature { .. } => d,
        }
    }

    /// [`Self::modify`] for defects that also need the good product (a missing feature asks
    /// for the distances to one part's faces).
    pub fn modify_on(&self, shape: &Geometry, d: f64, p: DVec3) -> f64 {
        match self {
            Defect::MissingFeature {
                part,
                centre,
                radius,
                depth,
                fill,
            } => generic_defect::missing_feature(
                shape,
                d,
                p,
                generic_defect::FeatureOffset {
                    part: *part,
                    centre: DVec3::from(*centre),
                    radius: *radius,
                    depth: *depth,
                    fill: *fill,
                },
            ),
            _ => self.modify(d, p),
        }
    }

    /// The same defect placed at the surface point `p` instead (a click in the workbench):
    /// bumps and dents keep their offset along the surface normal, chips and missing features
    /// centre on `p` (a missing feature then acts on the part at `p`), a fin moves with its
    /// root. A short notch has no place and stays as it is.
    pub fn moved_to(&self, shape: &(impl Field + ?Sized), p: DVec3) -> Defect {
        let at = p.to_array();
        let mut moved = self.clone();
        match &mut moved {
            Defect::Bulge {
                centre, surface, ..
            }
            | Defect::Dent {
                centre, surface, ..
            } => {
                let anchor = self.anchor(shape);
                let along = (DVec3::from(*centre) - anchor).dot(shape.normal(anchor, 1e-3));
                *centre = (p + shape.normal(p, 1e-3) * along).to_array();
                if surface.is_some() {
                    *surface = Some(at);
                }
            }
            Defect::Chip { centre, .. } => *centre = at,
            Defect::MissingFeature { centre, part, .. } => {
                *centre = at;
                *part = shape.part_at(p);
            }
            Defect::Flash { root, centre, .. } => {
                let delta = p - DVec3::from(*root);
                *root = at;
                *centre = (DVec3::from(*centre) + delta).to_array();
            }
            Defect::ShortNotch { .. } => {}
        }
        moved
    }

    /// A point on the good product's surface where the defect sits; its part is the part the
    /// defect affects.
    pub fn anchor(&self, shape: &(impl Field + ?Sized)) -> DVec3 {
        let project = |c: &[f64; 3]| {
            // The surface point nearest the defect's centre, found along the field's gradient.
            let mut p = DVec3::from(*c);
            for _ in 0..8 {
                p -= shape.normal(p, 1e-4) * shape.sdf(p);
            }
            p
        };
        match self {
            Defect::Bulge {
                surface: Some(s), ..
            }
            | Defect::Dent {
                surface: Some(s), ..
            } => DVec3::from(*s),
            Defect::Bulge { centre, .. } | Defect::Dent { centre, .. } => project(centre),
            Defect::Chip { centre, .. } | Defect::MissingFeature { centre, .. } => {
                DVec3::from(*centre)
            }
            Defect::Flash { root, .. } => DVec3::from(*root),
            Defect::ShortNotch { height } => {
                let shape = shape.cap().copied().unwrap_or_else(Shape::empty);
                DVec3::new(
                    0.0,
                    (height + shape.notch_height) / 2.0,
                    shape.radius - shape.notch_depth,
                )
            }
        }
    }

    /// The part of the good product this defect affects.
    pub fn part(&self, shape: &(impl Field + ?Sized)) -> u8 {
        match self {
            Defect::MissingFeature { part, .. } => *part,
            _ => shape.part_at(self.anchor(shape)),
        }
    }

    /// Every part of the good product whose surface this defect changes by a fair share (at
    /// least [`TOUCHED_SHARE`] of the changed surface), [`Self::part`] first and the rest by
    /// share. A defect placed on an edge changes two parts about equally: a chip centred on the
    /// cap's rim takes as much of the base as of the wall, and which of the two its centre
    /// counts as is a matter of rounding.
    ///
    /// The changed surface is sampled on a grid over the defect's influence box (24 cells along
    /// its longest side): the grid points within one cell of the good surface whose distance
    /// the defect moves by more than half a cell, each counted for the good part under it.
    pub fn parts_touched(&self, shape: &Geometry) -> Vec<u8> {
        const CELLS: f64 = 24.0;
        let primary = self.part(shape);
        let (lo, hi) = self.influence_box(shape);
        let cell = (hi - lo).max_element() / CELLS;
        if !(cell.is_finite() && cell > 0.0) {
            return vec![primary];
        }
        let (lo, hi) = (lo - DVec3::splat(cell), hi + DVec3::splat(cell));
        let steps = ((hi - lo) / cell).ceil().as_uvec3();
        let solid = super::sdf::Solid::with_defect(shape.clone(), self.clone());
        let mut counts = std::collections::BTreeMap::<u8, usize>::new();
        for k in 0..=steps.z {
            for j in 0..=steps.y {
                for i in 0..=steps.x {
                    let p = lo + DVec3::new(i as f64, j as f64, k as f64) * cell;
                    let good = shape.sdf(p);
                    if good.abs() <= cell && (solid.sdf(p) - good).abs() > cell / 2.0 {
                        *counts.entry(shape.part_at(p)).or_default() += 1;
                    }
                }
            }
        }
        let changed: usize = counts.values().sum();
        let mut others: Vec<(usize, u8)> = counts
            .into_iter()
            .filter(|&(part, n)| part != primary && n as f64 >= TOUCHED_SHARE * changed as f64)
            .map(|(part, n)| (n, part))
            .collect();
        others.sort_by(|a, b| b.cmp(a));
        std::iter::once(primary)
            .chain(others.into_iter().map(|(_, part)| part))
            .collect()
    }

    /// An axis-aligned box outside which the defect provably leaves the surface unchanged.
    pub fn influence_box(&self, shape: &(impl Field + ?Sized)) -> (DVec3, DVec3) {
        let ball = |c: &[f64; 3], r: f64| {
            let c = DVec3::from(*c);
            (c - DVec3::splat(r), c + DVec3::splat(r))
        };
        match self {
            Defect::Bulge {
                centre,
                radius,
                blend,
                ..
            }
            | Defect::Dent {
                centre,
                radius,
                blend,
                ..
                // The polynomial blend can add material up to 1.25·blend beyond the sphere.
            } => ball(centre, radius + 1.5 * blend),
            Defect::Chip { centre, radius } => ball(centre, *radius),
            Defect::MissingFeature { centre, radius, .. } => ball(centre, *radius),
            Defect::Flash {
                centre, axes, half, ..
            } => generic_defect::oriented_box_bounds(DVec3::from(*centre), axes, *half),
            Defect::ShortNotch { height } => {
                let shape = shape.cap().copied().unwrap_or_else(Shape::empty);
                (
                    DVec3::new(
                        -shape.notch_width / 2.0,
                        *height,
                        shape.radius - shape.notch_depth,
                    ),
                    DVec3::new(shape.notch_width / 2.0, shape.notch_height, shape.radius),
                )
            }
        }
    }
}

/// The share of a defect's changed surface a part must hold to count as touched
/// ([`Defect::parts_touched`]).
pub const TOUCHED_SHARE: f64 = 0.25;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::sdf::Solid;

    /// The issue's default bulge, on top of the dome: polar 0, radius 0.30, protrusion 0.15.
    fn bulge_on_top(shape: &Shape) -> Defect {
        let spec = DefectSpec::Bulge {
            radius: [0.3, 0.3],
            protrusion: [0.15, 0.15],
            polar_deg: [0.0, 0.0],
            azimuth_deg: [0.0, 0.0],
            blend: 0.08,
        };
        spec.sample(shape, &mut Rng::new(1))
    }

    #[test]
    fn the_default_bulge_sits_where_the_issue_says() {
        // Centre (0, 1.85, 0).
        let shape = ProductSpec::builtin_cap().shape();
        let d = bulge_on_top(&shape);
        let Defect::Bulge { centre, .. } = d else {
            panic!("not a bulge")
        };
        assert!((DVec3::from(centre) - DVec3::new(0.0, 1.85, 0.0)).length() < 1e-12);
        let solid = Solid::with_defect(shape, d);
        // The top now stands 0.15 higher.
        assert!(solid.sdf(DVec3::new(0.0, 2.15, 0.0)).abs() < 1e-9);
    }

    #[test]
    fn a_chip_on_the_rim_touches_wall_and_base_and_a_bulge_on_top_only_the_dome() {
        let shape = ProductSpec::builtin_cap().shape();
        let parts = shape.parts;
        let geometry = Geometry::from(shape);
        // The chip's centre lies on the rim itself; its part alone is a tie between the wall
        // and the base that rounding settles.
        let chip = Defect::Chip {
            centre: [shape.radius, 0.0, 0.0],
            radius: 0.15,
        };
        let touched = chip.parts_touched(&geometry);
        assert_eq!(touched[0], chip.part(&geometry));
        let mut sorted = touched.clone();
        sorted.sort();
        let mut expected = vec![parts.wall, parts.base];
        expected.sort();
        assert_eq!(sorted, expected, "{touched:?}");
        assert_eq!(
            bulge_on_top(&shape).parts_touched(&geometry),
            vec![parts.dome]
        );
        let short = Defect::ShortNotch {
            height: shape.notch_height / 2.0,
        };
        assert_eq!(short.parts_touched(&geometry), vec![parts.notch]);
    }

    #[test]
    fn every_defect_changes_the_field_inside_its_box_and_nowhere_else() {
        let product = ProductSpec::builtin_cap();
        let shape = product.shape();
        let good = Solid::good(shape);
        let mut rng = Rng::new(3);
        for (class, spec) in &product.defects {
            for _ in 0..5 {
                let defect = spec.sample(&shape, &mut rng);
                let (lo, hi) = defect.influence_box(&shape);
                let bad = Solid::with_defect(shape, defect.clone());
                let mut changed_inside = 0;
                for _ in 0..20_000 {
                    let p = DVec3::new(
                        rng.uniform(-1.3, 1.3),
                        rng.uniform(-0.3, 2.4),
                        rng.uniform(-1.3, 1.3),
                    );
                    let (a, b) = (good.sdf(p), bad.sdf(p));
                    let inside = p.cmpge(lo).all() && p.cmple(hi).all();
                    // Only the surface matters: a sign change (material added or removed).
                    if (a < 0.0) != (b < 0.0) {
                        assert!(inside, "{class}: {defect:?} changed {p} outside its box");
                        changed_inside += 1;
                    }
                }
                assert!(changed_inside > 0, "{class}: {defect:?} changed nothing");
            }
        }
    }
}
