//! From a reconstruction to a pixel anomaly map and an image score.

use serde::{Deserialize, Serialize};

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
}

impl ScoreSettings {
    /// The map variants calibration chooses among (by validation AUROC), the default first;
    /// the pose-normalised ones only `with_pose` (when training renders are at hand).
    pub fn candidates_with(&self, with_pose: bool) -> Vec<ScoreSettings> {
        let poses: &[bool] = if with_pose { &[false, true] } else { &[false] };
        let mut out = Vec::new();
        for &pose_normalised in poses {
            for (map, shift_tolerance) in [
                (MapKind::Absolute, 0),
                (MapKind::Absolute, 1),
                (MapKind::Ssim, 0),
                (MapKind::Ssim, 1),
            ] {
                out.push(ScoreSettings {
                    map,
                    shift_tolerance,
                    pose_normalised,
                    ..*self
                });
            }
        }
        out
    }

    /// The maps calibration may localise with when they point at defects better than the
    /// scoring map: the plain variants, smoothed as set and twice as wide.
    pub fn region_candidates(&self) -> Vec<ScoreSettings> {
        let mut out = self.candidates();
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

    /// A short name of the map: `absolute`, `ssim`, with `±N` for a shift tolerance and
    /// `-pose` when pose-normalised.
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
        if self.pose_normalised {
            name.push_str("-pose");
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
        }
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

/// The same blur the dataset's camera model uses.
pub use crate::dataset::sample::gaussian_blur;

/// min over shifts |d|∞ ≤ radius of |a(p) − b(p + d)| for one `size × size` channel (shifts
/// that leave the image are skipped).
fn tolerant_difference(a: &[f32], b: &[f32], size: usize, radius: usize) -> Vec<f32> {
    let r = radius as isize;
    let n = size as isize;
    let mut out = vec![f32::INFINITY; size * size];
    for dy in -r..=r {
        for dx in -r..=r {
            for y in 0..n {
                let yy = y + dy;
                if !(0..n).contains(&yy) {
                    continue;
                }
                for x in 0..n {
                    let xx = x + dx;
                    if !(0..n).contains(&xx) {
                        continue;
                    }
                    let p = (y * n + x) as usize;
                    let d = (a[p] - b[(yy * n + xx) as usize]).abs();
                    if d < out[p] {
                        out[p] = d;
                    }
                }
            }
        }
    }
    out
}

/// (1 − SSIM) / 2 per pixel of one channel, statistics over a Gaussian window of σ 1.5 px.
fn ssim_difference(a: &[f32], b: &[f32], size: usize) -> Vec<f32> {
    const SIGMA: f32 = 1.5;
    const C1: f32 = 0.01 * 0.01;
    const C2: f32 = 0.03 * 0.03;
    let product =
        |u: &[f32], v: &[f32]| -> Vec<f32> { u.iter().zip(v).map(|(p, q)| p * q).collect() };
    let mu_a = gaussian_blur(a, size, SIGMA);
    let mu_b = gaussian_blur(b, size, SIGMA);
    let aa = gaussian_blur(&product(a, a), size, SIGMA);
    let bb = gaussian_blur(&product(b, b), size, SIGMA);
    let ab = gaussian_blur(&product(a, b), size, SIGMA);
    (0..size * size)
        .map(|p| {
            let (ma, mb) = (mu_a[p], mu_b[p]);
            let var_a = (aa[p] - ma * ma).max(0.0);
            let var_b = (bb[p] - mb * mb).max(0.0);
            let cov = ab[p] - ma * mb;
            let ssim = ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                / ((ma * ma + mb * mb + C1) * (var_a + var_b + C2));
            ((1.0 - ssim) / 2.0).clamp(0.0, 1.0)
        })
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
    }
}
