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

/// How maps are made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreSettings {
    /// σ of the Gaussian that smooths the residual, in pixels (0 = none).
    pub smoothing_sigma: f32,
    /// Fraction of pixels averaged by [`ScoreKind::TopKMean`].
    pub top_fraction: f32,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        Self {
            smoothing_sigma: 1.0,
            top_fraction: 0.01,
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

/// The smoothed residual map of one image, `size²` values.
pub fn anomaly_map(
    image: &[f32],
    reconstruction: &[f32],
    size: usize,
    settings: &ScoreSettings,
) -> Vec<f32> {
    gaussian_blur(
        &residual(image, reconstruction, size * size),
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

/// One score of one image; NaN when the inputs are not finite.
pub fn image_score(kind: ScoreKind, loss: f32, map: &[f32], settings: &ScoreSettings) -> f32 {
    if map.is_empty() || map.iter().any(|v| !v.is_finite()) || !loss.is_finite() {
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
        };
        let map = [0.0, 1.0, 0.5, 0.25, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(image_score(ScoreKind::MapMax, 2.0, &map, &settings), 1.0);
        assert_eq!(image_score(ScoreKind::TopKMean, 2.0, &map, &settings), 0.75);
        assert_eq!(image_score(ScoreKind::Loss, 2.0, &map, &settings), 2.0);
        assert!(image_score(ScoreKind::Loss, f32::NAN, &map, &settings).is_nan());
    }
}
