//! From a reconstruction to a pixel anomaly map and an image score.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::imaging::gaussian_blur;

/// How one number per image is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreKind {
    /// The descent loss L(z*) (AnoGAN's score): whole-image, dominated by large areas.
    Loss,
    /// The map's maximum: sensitive to one small defect, and to one noisy pixel.
    MapMax,
    /// Mean of the map's top 1 % of pixels: small defects still count, single pixels do not.
    #[default]
    TopKMean,
}

impl ScoreKind {
    pub const ALL: [ScoreKind; 3] = [Self::Loss, Self::MapMax, Self::TopKMean];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loss => "loss",
            Self::MapMax => "map-max",
            Self::TopKMean => "top-k-mean",
        }
    }
}

/// How the image and its reconstruction are compared, pixel by pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MapKind {
    /// |x − r|, averaged over channels.
    #[default]
    Absolute,
    /// (1 − SSIM(x, r)) / 2 over a Gaussian window (σ 1.5 px): local structure, not level.
    Ssim,
}

/// What an image is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Against {
    /// The model's reconstruction G(z*) (pose-normalised, or swapped for the training renders
    /// nearest to it, as `pose_normalised` and `reference` say).
    #[default]
    Model,
    /// The good product rendered by our own renderer at the image's refined pose, through the
    /// fitted exposure (analysis by synthesis, [`crate::refine`]).
    Rendered,
    /// The training renders nearest to the image itself, each pixel's smallest difference to
    /// any of them: the lookup that learns nothing, kept as the floor to beat.
    Lookup,
}

impl Against {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Rendered => "render",
            Self::Lookup => "lookup",
        }
    }
}

/// How maps are made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreSettings {
    /// σ of the Gaussian that smooths the residual, in pixels (0 = none).
    pub smoothing_sigma: f32,
    /// Fraction of pixels averaged by [`ScoreKind::TopKMean`].
    pub top_fraction: f32,
    pub map: MapKind,
    /// Shift tolerance in pixels: each pixel is compared with the best-matching pixel of the
    /// other image within this Chebyshev radius, both ways, and the larger of the two
    /// differences is kept. An edge drawn one pixel off then costs little, while a blob wider
    /// than the radius (a bulge, a chip) still differs everywhere inside it.
    pub shift_tolerance: usize,
    /// Subtract the map that good training renders of the same pose get from the model (the
    /// mean over the renders nearest to the reconstruction), keeping only the excess: what the
    /// model always gets wrong at that pose (a notch it cannot draw sharply) stops counting.
    /// Needs the training dataset's renders (the part atlas).
    pub pose_normalised: bool,
    /// Compare the image with the good training renders nearest to its reconstruction in
    /// pose instead of with the reconstruction itself: each pixel keeps its smallest
    /// difference to any of those renders. The model then only finds the pose, and a defect
    /// the model reproduces (a notch it draws short because it never learnt it sharply) still
    /// differs from every good render. Needs the training renders; excludes `pose_normalised`.
    pub reference: bool,
    /// What the image is compared with; `pose_normalised` and `reference` only apply to the
    /// model.
    pub against: Against,
    /// Against the rendered product only: each pixel keeps its smallest difference to the
    /// reference and to the product rendered at the refined pose turned by this many degrees
    /// either way about each of the camera's axes (0: the reference alone). A pose a tenth of
    /// a degree off draws the rim and the notch a fraction of a pixel away, which a dent's
    /// faint shading change does not outweigh; a defect is not a small turn of the whole
    /// product, so it stays.
    pub pose_tolerance_deg: f32,
}

/// The pose tolerance (degrees) calibration compares with none for maps against the rendered
/// product: on the demo's held-out renders, 0.15° to 0.6° all raised dents' image AUROC by
/// 0.010 to 0.017 (`examples/refine_bench.rs`, docs/results/2026-12-07-full-mesh.md).
pub const POSE_TOLERANCE_DEG: f32 = 0.3;

/// The differences calibration compares: absolute and SSIM, each with and without a
/// one-pixel shift tolerance.
const MAP_VARIANTS: [(MapKind, usize); 4] = [
    (MapKind::Absolute, 0),
    (MapKind::Absolute, 1),
    (MapKind::Ssim, 0),
    (MapKind::Ssim, 1),
];

impl ScoreSettings {
    /// The map variants calibration chooses among (by validation AUROC), the default first;
    /// the pose-normalised ones only `with_pose` (when training renders are at hand).
    pub fn candidates_with(&self, with_pose: bool) -> Vec<ScoreSettings> {
        // (pose-normalised, against renders)
        let sources: &[(bool, bool)] = if with_pose {
            &[(false, false), (true, false), (false, true)]
        } else {
            &[(false, false)]
        };
        let mut out = Vec::new();
        for &(pose_normalised, reference) in sources {
            for (map, shift_tolerance) in MAP_VARIANTS {
                out.push(ScoreSettings {
                    map,
                    shift_tolerance,
                    pose_normalised,
                    reference,
                    ..*self
                });
            }
        }
        out
    }

    /// Whether making this map needs the training renders (the part atlas).
    pub fn needs_renders(&self) -> bool {
        match self.against {
            Against::Model => self.pose_normalised || self.reference,
            Against::Rendered => false,
            Against::Lookup => true,
        }
    }

    /// Whether this map needs the model's reconstruction.
    pub fn needs_model(&self) -> bool {
        self.against == Against::Model
    }

    /// Whether this map needs each image's pose refined and the product rendered there.
    pub fn needs_synthesis(&self) -> bool {
        self.against == Against::Rendered
    }

    /// The map variants against `against` (rendered or lookup) calibration chooses among: the
    /// absolute and SSIM differences, with and without a one-pixel shift tolerance, smoothed
    /// as set and twice as wide.
    /// Against the rendered product, the variants without a shift tolerance also come with
    /// the pose tolerance [`POSE_TOLERANCE_DEG`].
    pub fn candidates_against(&self, against: Against) -> Vec<ScoreSettings> {
        let mut out = Vec::new();
        for smoothing_sigma in [self.smoothing_sigma, 2.0 * self.smoothing_sigma.max(0.5)] {
            for (map, shift_tolerance) in MAP_VARIANTS {
                let variant = ScoreSettings {
                    map,
                    shift_tolerance,
                    smoothing_sigma,
                    pose_normalised: false,
                    reference: false,
                    against,
                    pose_tolerance_deg: 0.0,
                    ..*self
                };
                out.push(variant);
                if against == Against::Rendered && shift_tolerance == 0 {
                    out.push(ScoreSettings {
                        pose_tolerance_deg: POSE_TOLERANCE_DEG,
                        ..variant
                    });
                }
            }
        }
        out
    }

    /// The maps calibration may localise with when they point at defects better than the
    /// scoring map: the plain variants (and `with_renders`, those against the training
    /// renders), smoothed as set and twice as wide.
    pub fn region_candidates(&self, with_renders: bool) -> Vec<ScoreSettings> {
        let mut out: Vec<ScoreSettings> = self
            .candidates_with(with_renders)
            .into_iter()
            .filter(|s| !s.pose_normalised)
            .collect();
        let wider: Vec<ScoreSettings> = out
            .iter()
            .map(|s| ScoreSettings {
                smoothing_sigma: 2.0 * s.smoothing_sigma.max(0.5),
                ..*s
            })
            .collect();
        out.extend(wider);
        out
    }

    /// [`candidates_with`](Self::candidates_with) without the pose-normalised variants.
    pub fn candidates(&self) -> Vec<ScoreSettings> {
        self.candidates_with(false)
    }

    /// A short name of the map: `absolute`, `ssim`, with `±N` for a shift tolerance,
    /// `-pose` when pose-normalised and `-ref` when made against the training renders.
    pub fn map_name(&self) -> String {
        let kind = match self.map {
            MapKind::Absolute => "absolute",
            MapKind::Ssim => "ssim",
        };
        let mut name = if self.shift_tolerance == 0 {
            kind.to_string()
        } else {
            format!("{kind}±{}", self.shift_tolerance)
        };
        match self.against {
            Against::Model => {
                if self.pose_normalised {
                    name.push_str("-pose");
                }
                if self.reference {
                    name.push_str("-ref");
                }
            }
            Against::Rendered => {
                name.push_str("-render");
                if self.pose_tolerance_deg > 0.0 {
                    name.push_str(&format!("±{}°", self.pose_tolerance_deg));
                }
            }
            Against::Lookup => name.push_str("-lookup"),
        }
        if self.smoothing_sigma != ScoreSettings::default().smoothing_sigma {
            name.push_str(&format!(" σ{}", self.smoothing_sigma));
        }
        name
    }
}

/// `map` less `reference` where it exceeds it, zero elsewhere; NaN where either is NaN (so a
/// broken map can never look clean).
pub fn excess_over(map: &[f32], reference: &[f32]) -> Vec<f32> {
    map.iter()
        .zip(reference)
        .map(|(m, r)| {
            let d = m - r;
            if d.is_nan() { f32::NAN } else { d.max(0.0) }
        })
        .collect()
}

impl Default for ScoreSettings {
    fn default() -> Self {
        Self {
            smoothing_sigma: 1.0,
            top_fraction: 0.01,
            map: MapKind::Absolute,
            shift_tolerance: 0,
            pose_normalised: false,
            reference: false,
            against: Against::Model,
            pose_tolerance_deg: 0.0,
        }
    }
}

impl ScoreSettings {
    /// Checks every setting is finite and in range.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.smoothing_sigma.is_finite() && (0.0..=32.0).contains(&self.smoothing_sigma)) {
            return Err(format!(
                "smoothing_sigma must be 0 to 32 pixels, got {}",
                self.smoothing_sigma
            ));
        }
        if !(self.top_fraction.is_finite() && self.top_fraction > 0.0 && self.top_fraction <= 1.0) {
            return Err(format!(
                "top_fraction must be in (0, 1], got {}",
                self.top_fraction
            ));
        }
        if self.shift_tolerance > 16 {
            return Err(format!(
                "shift_tolerance must be at most 16 pixels, got {}",
                self.shift_tolerance
            ));
        }
        if self.pose_normalised && self.reference {
            return Err("pose_normalised and reference exclude each other".into());
        }
        if !(self.pose_tolerance_deg.is_finite() && (0.0..=5.0).contains(&self.pose_tolerance_deg))
        {
            return Err(format!(
                "pose_tolerance_deg must be 0 to 5 degrees, got {}",
                self.pose_tolerance_deg
            ));
        }
        Ok(())
    }
}

/// Channel-mean |x − r| of one image (`channels · pixels` values each), `pixels` values.
pub fn residual(image: &[f32], reconstruction: &[f32], pixels: usize) -> Vec<f32> {
    let channels = (image.len() / pixels.max(1)).max(1);
    let mut out = vec![0.0; pixels];
    for c in 0..channels {
        let (a, b) = (
            &image[c * pixels..(c + 1) * pixels],
            &reconstruction[c * pixels..(c + 1) * pixels],
        );
        for ((o, x), r) in out.iter_mut().zip(a).zip(b) {
            *o += (x - r).abs() / channels as f32;
        }
    }
    out
}

/// min over shifts |d|∞ ≤ radius of |a(p) − b(p + d)| for one `size × size` channel (shifts
/// that leave the image are skipped).
fn tolerant_difference(a: &[f32], b: &[f32], size: usize, radius: usize) -> Vec<f32> {
    let n = size;
    let mut out = vec![f32::INFINITY; n * n];
    for dy in -(radius as isize)..=radius as isize {
        for dx in -(radius as isize)..=radius as isize {
            // The pixels whose shifted partner lies inside: x in [x0, x1), y in [y0, y1).
            let x0 = (-dx).max(0) as usize;
            let x1 = (n as isize - dx.max(0)).max(0) as usize;
            let y0 = (-dy).max(0) as usize;
            let y1 = (n as isize - dy.max(0)).max(0) as usize;
            if x0 >= x1 {
                continue;
            }
            for y in y0..y1 {
                let sy = (y as isize + dy) as usize;
                let sx0 = (x0 as isize + dx) as usize;
                let row = &a[y * n + x0..y * n + x1];
                let shifted = &b[sy * n + sx0..sy * n + sx0 + (x1 - x0)];
                for ((o, p), q) in out[y * n + x0..y * n + x1].iter_mut().zip(row).zip(shifted) {
                    *o = o.min((p - q).abs());
                }
            }
        }
    }
    out
}

/// (1 − SSIM) / 2 of one pixel from its window statistics: the means of a and b, and the
/// means of a², b² and a·b.
#[inline(always)]
fn ssim_dissimilarity(ma: f32, mb: f32, sa: f32, sb: f32, sab: f32) -> f32 {
    const C1: f32 = 0.01 * 0.01;
    const C2: f32 = 0.03 * 0.03;
    let var_a = (sa - ma * ma).max(0.0);
    let var_b = (sb - mb * mb).max(0.0);
    let cov = sab - ma * mb;
    let ssim = ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
        / ((ma * ma + mb * mb + C1) * (var_a + var_b + C2));
    ((1.0 - ssim) * 0.5).clamp(0.0, 1.0)
}

/// (1 − SSIM) / 2 per pixel of one channel, statistics over a Gaussian window of σ 1.5 px.
fn ssim_difference(a: &[f32], b: &[f32], size: usize) -> Vec<f32> {
    const SIGMA: f32 = 1.5;
    let product =
        |u: &[f32], v: &[f32]| -> Vec<f32> { u.iter().zip(v).map(|(p, q)| p * q).collect() };
    let mu_a = gaussian_blur(a, size, SIGMA);
    let mu_b = gaussian_blur(b, size, SIGMA);
    let aa = gaussian_blur(&product(a, a), size, SIGMA);
    let bb = gaussian_blur(&product(b, b), size, SIGMA);
    let ab = gaussian_blur(&product(a, b), size, SIGMA);
    (0..size * size)
        .map(|p| ssim_dissimilarity(mu_a[p], mu_b[p], aa[p], bb[p], ab[p]))
        .collect()
}

/// The per-pixel difference of one image and its reconstruction (`size²` values), averaged
/// over channels, before smoothing.
pub fn difference_map(
    image: &[f32],
    reconstruction: &[f32],
    size: usize,
    settings: &ScoreSettings,
) -> Vec<f32> {
    let pixels = size * size;
    if settings.map == MapKind::Absolute && settings.shift_tolerance == 0 {
        return residual(image, reconstruction, pixels);
    }
    let channels = (image.len() / pixels.max(1)).max(1);
    let mut out = vec![0.0; pixels];
    for c in 0..channels {
        let a = &image[c * pixels..(c + 1) * pixels];
        let b = &reconstruction[c * pixels..(c + 1) * pixels];
        let map = match settings.map {
            MapKind::Absolute => {
                let forward = tolerant_difference(a, b, size, settings.shift_tolerance);
                let backward = tolerant_difference(b, a, size, settings.shift_tolerance);
                forward
                    .iter()
                    .zip(&backward)
                    .map(|(f, b)| f.max(*b))
                    .collect()
            }
            MapKind::Ssim if settings.shift_tolerance == 0 => ssim_difference(a, b, size),
            MapKind::Ssim => {
                // SSIM of the image against the reconstruction shifted by each offset; the
                // best-matching offset per pixel.
                let r = settings.shift_tolerance as isize;
                let n = size as isize;
                let mut best = vec![f32::INFINITY; pixels];
                for dy in -r..=r {
                    for dx in -r..=r {
                        let shifted: Vec<f32> = (0..pixels as isize)
                            .map(|p| {
                                let y = (p / n + dy).clamp(0, n - 1);
                                let x = (p % n + dx).clamp(0, n - 1);
                                b[(y * n + x) as usize]
                            })
                            .collect();
                        for (o, v) in best.iter_mut().zip(ssim_difference(a, &shifted, size)) {
                            *o = o.min(v);
                        }
                    }
                }
                best
            }
        };
        for (o, v) in out.iter_mut().zip(map) {
            *o += v / channels as f32;
        }
    }
    out
}

/// The smoothed difference map of one image, `size²` values.
pub fn anomaly_map(
    image: &[f32],
    reconstruction: &[f32],
    size: usize,
    settings: &ScoreSettings,
) -> Vec<f32> {
    gaussian_blur(
        &difference_map(image, reconstruction, size, settings),
        size,
        settings.smoothing_sigma,
    )
}

/// The map of `image` against good renders of its pose (`renders`, same layout as the
/// image): each pixel's smallest difference to any of them (and, with a shift tolerance, to
/// any of them shifted by up to that many pixels), then smoothed as `settings` say. All NaN
/// without a render, so the image cannot be judged clean.
///
/// The SSIM variant takes its statistics over a 7×7 window (as scikit-image does), not the
/// Gaussian window of the maps against the reconstruction: a box mean costs a few additions
/// per pixel whatever its size, and this map compares each image with many renders, each at
/// up to nine shifts.
pub fn reference_map(
    image: &[f32],
    renders: &[&[f32]],
    size: usize,
    settings: &ScoreSettings,
) -> Vec<f32> {
    let pixels = size * size;
    if renders.is_empty() || pixels == 0 {
        return vec![f32::NAN; pixels];
    }
    // The renders in groups, in parallel (one image on the line is then not one core's work);
    // per pixel the smallest difference of any group.
    let group_min = |group: &[&[f32]]| -> Vec<f32> {
        match settings.map {
            MapKind::Absolute => {
                let mut best = vec![f32::INFINITY; pixels];
                for render in group {
                    let d = difference_map(image, render, size, settings);
                    for (o, v) in best.iter_mut().zip(d) {
                        *o = o.min(v);
                    }
                }
                best
            }
            MapKind::Ssim => {
                let channels = (image.len() / pixels).max(1);
                let mut out = vec![0.0; pixels];
                for c in 0..channels {
                    let plane = c * pixels..(c + 1) * pixels;
                    let channel: Vec<&[f32]> = group.iter().map(|r| &r[plane.clone()]).collect();
                    let best =
                        box_ssim_min(&image[plane], &channel, size, settings.shift_tolerance);
                    for (o, v) in out.iter_mut().zip(best) {
                        *o += v / channels as f32;
                    }
                }
                out
            }
        }
    };
    let best = renders
        .par_chunks(8)
        .map(group_min)
        .reduce_with(|mut a, b| {
            for (o, v) in a.iter_mut().zip(b) {
                *o = o.min(v);
            }
            a
        })
        .unwrap_or_else(|| vec![f32::NAN; pixels]);
    gaussian_blur(&best, size, settings.smoothing_sigma)
}

/// Half-width of the SSIM window of [`reference_map`] (7×7).
const BOX_RADIUS: usize = 3;

/// Mean of `v` (`size × size`) over the (2·radius + 1)² window around each pixel, over the
/// window's pixels inside the image. Running sums: rows a whole row at a time, then along
/// each row.
fn box_mean(v: &[f32], size: usize, radius: usize) -> Vec<f32> {
    let n = size;
    let mut prefix = vec![0.0f32; (n + 1) * n];
    for y in 0..n {
        let (done, next) = prefix.split_at_mut((y + 1) * n);
        let above = &done[y * n..];
        for ((o, p), x) in next[..n].iter_mut().zip(above).zip(&v[y * n..(y + 1) * n]) {
            *o = p + x;
        }
    }
    let mut vertical = vec![0.0f32; n * n];
    for y in 0..n {
        let (lo, hi) = (y.saturating_sub(radius), (y + radius).min(n - 1));
        let scale = 1.0 / (hi + 1 - lo) as f32;
        let (top, bottom) = (
            &prefix[lo * n..lo * n + n],
            &prefix[(hi + 1) * n..(hi + 2) * n],
        );
        for ((o, t), b) in vertical[y * n..(y + 1) * n].iter_mut().zip(top).zip(bottom) {
            *o = (b - t) * scale;
        }
    }
    // Along each row: the window's sum tap by tap over whole spans of the row (the compiler
    // vectorises these), the few pixels near either end on their own.
    let mut out = vec![0.0f32; n * n];
    // The pixels whose whole window lies inside the row, when there are any.
    let (first, last) = if n > 2 * radius {
        (Some(radius), Some(n - 1 - radius))
    } else {
        (None, None)
    };
    let scale = 1.0 / (2 * radius + 1) as f32;
    for y in 0..n {
        let row = &vertical[y * n..(y + 1) * n];
        let dst = &mut out[y * n..(y + 1) * n];
        if let (Some(a), Some(b)) = (first, last) {
            let span = &mut dst[a..=b];
            span.copy_from_slice(&row[a - radius..=b - radius]);
            for k in 1..=2 * radius {
                for (o, v) in span.iter_mut().zip(&row[a - radius + k..=b - radius + k]) {
                    *o += v;
                }
            }
            for o in span.iter_mut() {
                *o *= scale;
            }
        }
        let edges = match (first, last) {
            (Some(a), Some(b)) => (0..a).chain(b + 1..n),
            _ => (0..n).chain(n..n),
        };
        for x in edges {
            let (lo, hi) = (x.saturating_sub(radius), (x + radius).min(n - 1));
            dst[x] = row[lo..=hi].iter().sum::<f32>() / (hi + 1 - lo) as f32;
        }
    }
    out
}

/// `v` (`size × size`) with `pad` zero pixels around it.
fn zero_padded(v: &[f32], size: usize, pad: usize) -> Vec<f32> {
    let w = size + 2 * pad;
    let mut out = vec![0.0f32; w * w];
    for y in 0..size {
        out[(y + pad) * w + pad..(y + pad) * w + pad + size]
            .copy_from_slice(&v[y * size..(y + 1) * size]);
    }
    out
}

/// Per pixel, min over `renders` and over shifts |d|∞ ≤ `shift` of (1 − SSIM(a, b shifted))
/// / 2, one channel, 7×7 box statistics. A render read past its edge is 0 (background), and a
/// shifted render's own statistics are its unshifted ones read at the shifted pixel (equal
/// to those of the shifted render except at the image's edge, where renders are background):
/// only the cross term is recomputed per shift. Within `BOX_RADIUS + shift` pixels of the
/// edge the window counts differ slightly; renders are background there.
fn box_ssim_min(a: &[f32], renders: &[&[f32]], size: usize, shift: usize) -> Vec<f32> {
    let n = size;
    let (pad, w) = (shift, size + 2 * shift);
    let square = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| x * x).collect() };
    let mu_a = box_mean(a, n, BOX_RADIUS);
    let aa = box_mean(&square(a), n, BOX_RADIUS);
    let mut best = vec![f32::INFINITY; n * n];
    let mut product = vec![0.0f32; n * n];
    for b in renders {
        let b_pad = zero_padded(b, n, pad);
        let mu_b = zero_padded(&box_mean(b, n, BOX_RADIUS), n, pad);
        let bb = zero_padded(&box_mean(&square(b), n, BOX_RADIUS), n, pad);
        for dy in 0..=2 * pad {
            for dx in 0..=2 * pad {
                // Row y of the render shifted by (dx − pad, dy − pad) starts here.
                let start = |y: usize| (y + dy) * w + dx;
                for y in 0..n {
                    let src = &b_pad[start(y)..start(y) + n];
                    let row = &a[y * n..(y + 1) * n];
                    for ((o, p), q) in product[y * n..(y + 1) * n].iter_mut().zip(row).zip(src) {
                        *o = p * q;
                    }
                }
                let ab = box_mean(&product, n, BOX_RADIUS);
                for y in 0..n {
                    let span = y * n..(y + 1) * n;
                    let (mb, vb) = (&mu_b[start(y)..start(y) + n], &bb[start(y)..start(y) + n]);
                    let rows = best[span.clone()]
                        .iter_mut()
                        .zip(&mu_a[span.clone()])
                        .zip(&aa[span.clone()])
                        .zip(&ab[span])
                        .zip(mb.iter().zip(vb));
                    for ((((out, &ma), &sa), &sab), (&mb, &sb)) in rows {
                        *out = out.min(ssim_dissimilarity(ma, mb, sa, sb, sab));
                    }
                }
            }
        }
    }
    best
}

/// Every score variant of one image, in [`ScoreKind::ALL`] order.
pub fn image_scores(loss: f32, map: &[f32], settings: &ScoreSettings) -> [f32; 3] {
    [
        image_score(ScoreKind::Loss, loss, map, settings),
        image_score(ScoreKind::MapMax, loss, map, settings),
        image_score(ScoreKind::TopKMean, loss, map, settings),
    ]
}

/// One score of one image; NaN when the map is empty or not finite, or (for
/// [`ScoreKind::Loss`]) when the loss is not finite. A map score does not look at the loss,
/// which is NaN when it was not computed (no descent step, see
/// [`DescentConfig::loss_without_steps`](super::DescentConfig::loss_without_steps)).
pub fn image_score(kind: ScoreKind, loss: f32, map: &[f32], settings: &ScoreSettings) -> f32 {
    if map.is_empty()
        || map.iter().any(|v| !v.is_finite())
        || (kind == ScoreKind::Loss && !loss.is_finite())
    {
        return f32::NAN;
    }
    match kind {
        ScoreKind::Loss => loss,
        ScoreKind::MapMax => map.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ScoreKind::TopKMean => {
            let k =
                ((map.len() as f32 * settings.top_fraction).ceil() as usize).clamp(1, map.len());
            let mut sorted = map.to_vec();
            sorted.sort_unstable_by(|a, b| b.total_cmp(a));
            sorted[..k].iter().sum::<f32>() / k as f32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 24×24 grey square of side 6 with its top-left corner at (`x`, `y`) on black.
    fn square_at(x: usize, y: usize) -> Vec<f32> {
        let mut image = vec![0.0; 24 * 24];
        for yy in y..y + 6 {
            for xx in x..x + 6 {
                image[yy * 24 + xx] = 0.6;
            }
        }
        image
    }

    #[test]
    fn tolerant_difference_matches_a_plain_scan() {
        let (n, r) = (9usize, 2isize);
        let a: Vec<f32> = (0..81).map(|i| ((i * 29) % 13) as f32).collect();
        let b: Vec<f32> = (0..81).map(|i| ((i * 17) % 7) as f32).collect();
        let out = tolerant_difference(&a, &b, n, r as usize);
        for y in 0..n as isize {
            for x in 0..n as isize {
                let mut best = f32::INFINITY;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (sx, sy) = (x + dx, y + dy);
                        if (0..n as isize).contains(&sx) && (0..n as isize).contains(&sy) {
                            let q = (sy * n as isize + sx) as usize;
                            best = best.min((a[(y * n as isize + x) as usize] - b[q]).abs());
                        }
                    }
                }
                assert_eq!(out[(y * n as isize + x) as usize], best, "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn box_mean_matches_a_plain_window_average() {
        let image: Vec<f32> = (0..49).map(|i| ((i * 37) % 11) as f32).collect();
        let out = box_mean(&image, 7, 2);
        for y in 0..7usize {
            for x in 0..7usize {
                let (mut sum, mut n) = (0.0, 0.0);
                for yy in y.saturating_sub(2)..=(y + 2).min(6) {
                    for xx in x.saturating_sub(2)..=(x + 2).min(6) {
                        sum += image[yy * 7 + xx];
                        n += 1.0;
                    }
                }
                assert!((out[y * 7 + x] - sum / n).abs() < 1e-4, "at ({x}, {y})");
            }
        }
    }

    #[test]
    fn a_map_against_the_renders_keeps_only_what_no_render_has() {
        let renders = [square_at(6, 6), square_at(12, 7), square_at(9, 12)];
        let refs: Vec<&[f32]> = renders.iter().map(Vec::as_slice).collect();
        for map in [MapKind::Absolute, MapKind::Ssim] {
            for shift_tolerance in [0, 1] {
                let settings = ScoreSettings {
                    map,
                    shift_tolerance,
                    smoothing_sigma: 0.0,
                    reference: true,
                    ..ScoreSettings::default()
                };
                let name = settings.map_name();
                // One of the renders itself: nothing differs.
                let same = reference_map(&renders[1], &refs, 24, &settings);
                assert!(same.iter().all(|v| v.abs() < 1e-4), "{name}: {same:?}");
                // A render with a bright spot none of them has: only around the spot differs
                // (SSIM's statistics spread it over their 7×7 window).
                let mut spotted = renders[0].clone();
                for p in [7 * 24 + 7, 7 * 24 + 8, 8 * 24 + 7, 8 * 24 + 8] {
                    spotted[p] = 1.0;
                }
                let out = reference_map(&spotted, &refs, 24, &settings);
                let peak = out.iter().copied().fold(0.0, f32::max);
                assert!(peak > 0.05, "{name}: peak {peak}");
                let at = out.iter().position(|&v| v == peak).unwrap();
                let (x, y) = (at % 24, at / 24);
                assert!(
                    x.abs_diff(7) <= 3 && y.abs_diff(7) <= 3,
                    "{name}: peak at ({x}, {y})"
                );
                assert!(
                    out[20 * 24 + 20] < 1e-4,
                    "{name}: far corner {}",
                    out[20 * 24 + 20]
                );
            }
        }
        // Without a render nothing can be judged: NaN, never a clean map.
        let settings = ScoreSettings {
            reference: true,
            ..ScoreSettings::default()
        };
        assert!(
            reference_map(&renders[0], &[], 24, &settings)
                .iter()
                .all(|v| v.is_nan())
        );
    }

    #[test]
    fn a_shift_tolerance_forgives_a_render_one_pixel_off() {
        let render = square_at(9, 9);
        for moved in [square_at(10, 9), square_at(8, 10)] {
            for map in [MapKind::Absolute, MapKind::Ssim] {
                let strict = ScoreSettings {
                    map,
                    smoothing_sigma: 0.0,
                    reference: true,
                    ..ScoreSettings::default()
                };
                let tolerant = ScoreSettings {
                    shift_tolerance: 1,
                    ..strict
                };
                let max = |s: &ScoreSettings| {
                    reference_map(&moved, &[&render], 24, s)
                        .into_iter()
                        .fold(0.0, f32::max)
                };
                assert!(max(&strict) > 0.1, "{}", strict.map_name());
                assert!(
                    max(&tolerant) < 1e-4,
                    "{}: {}",
                    tolerant.map_name(),
                    max(&tolerant)
                );
            }
        }
    }

    #[test]
    fn excess_keeps_what_exceeds_the_reference_and_never_hides_nan() {
        let out = excess_over(&[0.5, 0.1, f32::NAN, 0.3], &[0.2, 0.4, 0.0, f32::NAN]);
        assert_eq!(out[0], 0.3);
        assert_eq!(out[1], 0.0);
        assert!(out[2].is_nan() && out[3].is_nan());
    }

    #[test]
    fn blur_keeps_mass_and_spreads_a_spike() {
        let mut map = vec![0.0; 81];
        map[40] = 1.0;
        let out = gaussian_blur(&map, 9, 1.0);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(out[40] < 0.5 && out[41] > 0.0 && out[40] > out[41]);
    }

    #[test]
    fn scores_of_a_hand_made_map() {
        let settings = ScoreSettings {
            smoothing_sigma: 0.0,
            top_fraction: 0.25,
            ..ScoreSettings::default()
        };
        let map = [0.0, 1.0, 0.5, 0.25, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(image_score(ScoreKind::MapMax, 2.0, &map, &settings), 1.0);
        assert_eq!(image_score(ScoreKind::TopKMean, 2.0, &map, &settings), 0.75);
        assert_eq!(image_score(ScoreKind::Loss, 2.0, &map, &settings), 2.0);
        assert!(image_score(ScoreKind::Loss, f32::NAN, &map, &settings).is_nan());
        // A map score needs a finite map, not a loss.
        assert_eq!(
            image_score(ScoreKind::MapMax, f32::NAN, &map, &settings),
            1.0
        );
        let mut broken = map;
        broken[3] = f32::NAN;
        for kind in ScoreKind::ALL {
            assert!(
                image_score(kind, 2.0, &broken, &settings).is_nan(),
                "{kind:?}"
            );
        }
    }

    /// A bright square on black, its left edge at `left`, plus an optional blob.
    fn square(left: usize, blob: bool) -> Vec<f32> {
        let size = 16;
        let mut img = vec![0.0; size * size];
        for y in 4..12 {
            for x in left..12 {
                img[y * size + x] = 0.8;
            }
        }
        if blob {
            for y in 6..9 {
                for x in 12..15 {
                    img[y * size + x] = 0.8;
                }
            }
        }
        img
    }

    #[test]
    fn shift_tolerance_forgives_an_edge_one_pixel_off_but_not_a_blob() {
        let plain = ScoreSettings {
            smoothing_sigma: 0.0,
            ..ScoreSettings::default()
        };
        let tolerant = ScoreSettings {
            shift_tolerance: 1,
            ..plain
        };
        let max = |m: Vec<f32>| m.into_iter().fold(0.0f32, f32::max);
        let (reference, shifted, blob) = (square(4, false), square(5, false), square(4, true));
        assert!((max(difference_map(&shifted, &reference, 16, &plain)) - 0.8).abs() < 1e-6);
        assert_eq!(
            max(difference_map(&shifted, &reference, 16, &tolerant)),
            0.0
        );
        // The blob is three pixels wide: its centre is two pixels from anything the
        // reconstruction has, so it still differs fully.
        assert!((max(difference_map(&blob, &reference, 16, &tolerant)) - 0.8).abs() < 1e-6);
        assert!((max(difference_map(&reference, &blob, 16, &tolerant)) - 0.8).abs() < 1e-6);
    }

    #[test]
    fn ssim_map_is_zero_for_equal_images_and_lights_up_where_structure_differs() {
        let settings = ScoreSettings {
            map: MapKind::Ssim,
            smoothing_sigma: 0.0,
            ..ScoreSettings::default()
        };
        let (reference, blob) = (square(4, false), square(4, true));
        let same = difference_map(&reference, &reference, 16, &settings);
        assert!(same.iter().all(|v| v.abs() < 1e-4));
        let map = difference_map(&blob, &reference, 16, &settings);
        let peak = (0..256).max_by(|&a, &b| map[a].total_cmp(&map[b])).unwrap();
        let (y, x) = (peak / 16, peak % 16);
        assert!(
            (5..=9).contains(&y) && (11..=15).contains(&x),
            "peak at ({x}, {y})"
        );
        assert!(map[peak] > 0.2);
        // Far from the blob nothing differs.
        assert!(map[2 * 16 + 2].abs() < 1e-4);
    }

    #[test]
    fn candidates_start_with_the_default_and_have_distinct_names() {
        let candidates = ScoreSettings::default().candidates();
        assert_eq!(candidates[0], ScoreSettings::default());
        let mut names: Vec<String> = candidates.iter().map(ScoreSettings::map_name).collect();
        names.dedup();
        assert_eq!(names, ["absolute", "absolute±1", "ssim", "ssim±1"]);
        let with_renders: Vec<String> = ScoreSettings::default()
            .candidates_with(true)
            .iter()
            .map(ScoreSettings::map_name)
            .collect();
        assert_eq!(with_renders.len(), 12);
        assert!(with_renders.contains(&"ssim±1-pose".to_string()));
        assert!(with_renders.contains(&"absolute-ref".to_string()));
        // Localisation never uses a pose-normalised map; with renders it may use one against
        // them.
        let regions = ScoreSettings::default().region_candidates(true);
        assert!(regions.iter().all(|s| !s.pose_normalised));
        assert!(regions.iter().any(|s| s.reference));
        assert!(
            ScoreSettings::default()
                .region_candidates(false)
                .iter()
                .all(|s| !s.needs_renders())
        );
    }
}
