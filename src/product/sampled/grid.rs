//! The distance grid as it is kept: a coarse grid everywhere, and fine bricks (one per coarse
//! cell the surface may come near) where meshing and defects need the detail.
//!
//! A coarse cell without a brick has no fine sample near the surface, so its eight corners
//! share one sign and trilinear interpolation between them keeps it.

use glam::DVec3;

use super::build::REFINE;

/// Fine samples per brick along each axis (both faces of its coarse cell included).
pub const BRICK: usize = REFINE + 1;

#[derive(Debug, Clone, PartialEq)]
pub struct DistanceGrid {
    pub(crate) origin: DVec3,
    /// The fine spacing.
    pub(crate) cell: f64,
    /// Fine samples per axis (as if the fine grid were dense).
    pub(crate) dims: [usize; 3],
    pub(crate) coarse_dims: [usize; 3],
    pub(crate) coarse: Vec<f32>,
    pub(crate) coarse_parts: Vec<u8>,
    /// Per coarse cell, 1 + the index of its brick (0: none).
    pub(crate) brick_of: Vec<u32>,
    /// `BRICK³` values and parts per brick, x fastest.
    pub(crate) bricks: Vec<f32>,
    pub(crate) brick_parts: Vec<u8>,
}

/// A cell to interpolate in: where its corner samples are, and the position within it.
struct Lookup {
    /// Index of the (0, 0, 0) corner and the steps to the +x, +y, +z neighbours.
    base: usize,
    step: [usize; 3],
    t: DVec3,
    fine: bool,
    outside: f64,
}

impl DistanceGrid {
    /// The fine spacing.
    pub fn cell(&self) -> f64 {
        self.cell
    }

    /// Fine samples per axis, as if the grid were dense.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Fine samples actually kept (in bricks).
    pub fn fine_samples(&self) -> usize {
        self.bricks.len()
    }

    pub fn coarse_cell(&self) -> f64 {
        self.cell * REFINE as f64
    }

    /// Whether any sample lies inside the solid.
    pub fn has_inside(&self) -> bool {
        self.coarse.iter().chain(&self.bricks).any(|v| *v < 0.0)
    }

    fn lookup(&self, p: DVec3) -> Lookup {
        let coarse = self.coarse_cell();
        let cd = self.coarse_dims;
        let g = (p - self.origin) / coarse;
        let max = DVec3::new((cd[0] - 1) as f64, (cd[1] - 1) as f64, (cd[2] - 1) as f64);
        let clamped = g.clamp(DVec3::ZERO, max);
        let outside = ((g - clamped) * coarse).length();
        let base = clamped.floor().min(max - DVec3::ONE).max(DVec3::ZERO);
        let [ci, cj, ck] = [base.x as usize, base.y as usize, base.z as usize];
        let t = clamped - base;
        let cell_index = (ck * (cd[1] - 1) + cj) * (cd[0] - 1) + ci;
        match self.brick_of[cell_index] {
            0 => Lookup {
                base: (ck * cd[1] + cj) * cd[0] + ci,
                step: [1, cd[0], cd[0] * cd[1]],
                t,
                fine: false,
                outside,
            },
            b => {
                let f = t * REFINE as f64;
                let top = (REFINE - 1) as f64;
                let fb = f.floor().min(DVec3::splat(top)).max(DVec3::ZERO);
                let [i, j, k] = [fb.x as usize, fb.y as usize, fb.z as usize];
                Lookup {
                    base: (b as usize - 1) * BRICK * BRICK * BRICK + (k * BRICK + j) * BRICK + i,
                    step: [1, BRICK, BRICK * BRICK],
                    t: f - fb,
                    fine: true,
                    outside,
                }
            }
        }
    }

    /// Trilinear distance; outside the grid, the border's value plus the distance to it.
    pub fn value(&self, p: DVec3) -> f64 {
        let l = self.lookup(p);
        let values = if l.fine { &self.bricks } else { &self.coarse };
        let v = |a: usize, b: usize, c: usize| {
            f64::from(values[l.base + a * l.step[0] + b * l.step[1] + c * l.step[2]])
        };
        let t = l.t;
        let x00 = v(0, 0, 0) + (v(1, 0, 0) - v(0, 0, 0)) * t.x;
        let x10 = v(0, 1, 0) + (v(1, 1, 0) - v(0, 1, 0)) * t.x;
        let x01 = v(0, 0, 1) + (v(1, 0, 1) - v(0, 0, 1)) * t.x;
        let x11 = v(0, 1, 1) + (v(1, 1, 1) - v(0, 1, 1)) * t.x;
        let y0 = x00 + (x10 - x00) * t.y;
        let y1 = x01 + (x11 - x01) * t.y;
        y0 + (y1 - y0) * t.z + l.outside
    }

    /// The part at the sample nearest to `p`, and whether all eight samples around `p` agree.
    pub fn part(&self, p: DVec3) -> (u8, bool) {
        let l = self.lookup(p);
        let parts = if l.fine {
            &self.brick_parts
        } else {
            &self.coarse_parts
        };
        let at = |a: usize, b: usize, c: usize| {
            parts[l.base + a * l.step[0] + b * l.step[1] + c * l.step[2]]
        };
        let near = at(
            usize::from(l.t.x >= 0.5),
            usize::from(l.t.y >= 0.5),
            usize::from(l.t.z >= 0.5),
        );
        let uniform = (0..8).all(|q| at(q & 1, (q >> 1) & 1, (q >> 2) & 1) == near);
        (near, uniform)
    }
}
