//! The numbers an evaluation produces, as written to `report.json`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::metrics::Confusion;
use crate::metrics::nan_from_null;

/// Column names of a per-class metrics table, as every report and view shows them.
pub const CLASS_COLUMNS: [&str; 9] = [
    "class",
    "n",
    "image AUROC",
    "pixel AUROC",
    "AUPRO",
    "F1-max",
    "precision",
    "recall",
    "part named",
];

/// Image-level metrics of one defect class against the good test images (or of every defect
/// class together, `class = "all"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: String,
    /// Defective images of the class (good images are shared by every class).
    pub defective: usize,
    pub good: usize,
    #[serde(deserialize_with = "nan_from_null")]
    pub image_auroc: f64,
    /// Pixel AUROC over the good images and this class's images, when masks exist.
    pub pixel_auroc: Option<f64>,
    /// Area under the per-region-overlap curve up to a false-positive rate of 0.3, normalised
    /// to [0, 1].
    pub aupro: Option<f64>,
    #[serde(deserialize_with = "nan_from_null")]
    pub f1_max: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub f1_max_threshold: f32,
    /// At the model's calibrated defect threshold.
    pub at_calibrated: Confusion,
    /// The fraction of the class's defective images whose strongest region is named after the
    /// part the defect was put on (from the dataset's manifest), when inspection named parts.
    #[serde(default)]
    pub part_named: Option<f64>,
}

/// One detector on its own, at the calibrated budget: image AUROC per class (`all` first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorEval {
    /// `model`, `render`, `lookup` or `fused`.
    pub name: String,
    /// Its map and score, e.g. `absolute-render map-max`.
    pub scoring: String,
    /// Its validation criterion (image AUROC + pixel AUROC), which calibration chose by; None
    /// where it was not measured.
    pub criterion: Option<f32>,
    /// Whether calibration chose it.
    pub chosen: bool,
    pub classes: Vec<(String, f64)>,
    /// Pixel AUROC per class (`all` first) of the detector's map, where masks exist.
    #[serde(default)]
    pub pixel: Vec<(String, Option<f64>)>,
}

/// Every metric at one budget (descent iterations, or render rounds of the pose refinement when
/// the detector compares with the rendered product: [`ModelEval::budget`] says which).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub iterations: usize,
    /// `all` first, then each defect class.
    pub classes: Vec<ClassMetrics>,
    #[serde(deserialize_with = "nan_from_null")]
    pub mean_ms_good: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub mean_ms_defective: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub mean_iterations_good: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub mean_iterations_defective: f64,
}

/// One test image's result at the main budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    /// Relative to the dataset directory.
    pub path: PathBuf,
    /// `good` or the defect class.
    pub class: String,
    #[serde(deserialize_with = "nan_from_null")]
    pub score: f32,
    pub verdict: String,
    pub iterations: usize,
    #[serde(deserialize_with = "nan_from_null")]
    pub time_ms: f64,
    /// Part named for the strongest region, if any.
    pub part: Option<String>,
    /// Heatmap overlay written for the gallery, relative to the report directory.
    pub overlay: Option<PathBuf>,
}

impl ModelEval {
    /// What the sweep's budget counts, for labels (`descent iterations` for reports written
    /// before the pose refinement had a budget).
    pub fn budget_label(&self) -> &str {
        if self.budget.is_empty() {
            "descent iterations"
        } else {
            &self.budget
        }
    }
}

/// One model's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEval {
    /// A short label (`gan`, `ae-som`, or the run directory's name).
    pub name: String,
    pub run_dir: PathBuf,
    pub model_kind: String,
    pub checkpoint_step: u64,
    pub score_kind: String,
    #[serde(deserialize_with = "nan_from_null")]
    pub review_threshold: f32,
    #[serde(deserialize_with = "nan_from_null")]
    pub defect_threshold: f32,
    /// How the defect threshold was set (`best F1 on validation`, or a false-alarm bound).
    #[serde(default)]
    pub defect_rule: String,
    /// The budget the per-image results and the gallery are for (the largest swept).
    pub main_iterations: usize,
    /// What the sweep's budget counts: `descent iterations` or `refinement rounds`.
    #[serde(default)]
    pub budget: String,
    pub sweep: Vec<SweepPoint>,
    pub images: Vec<ImageResult>,
    /// Each detector calibration measured, on its own, on the same test images (the lookup
    /// that learns nothing among them).
    #[serde(default)]
    pub detectors: Vec<DetectorEval>,
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub format: u32,
    pub data_dir: PathBuf,
    pub created_unix: u64,
    pub models: Vec<ModelEval>,
    /// How the test images were read and the thresholds set, in words: the input mapping
    /// rule, defective images without a mask, a calibration on good photos.
    #[serde(default)]
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_numbers_survive_a_json_round_trip() {
        let image = ImageResult {
            path: "a.png".into(),
            class: "good".into(),
            score: f32::NAN,
            verdict: "error".into(),
            iterations: 0,
            time_ms: 1.5,
            part: None,
            overlay: None,
        };
        let text = serde_json::to_string(&image).unwrap();
        assert!(text.contains("\"score\":null"), "{text}");
        let back: ImageResult = serde_json::from_str(&text).unwrap();
        assert!(back.score.is_nan());
        assert_eq!(back.time_ms, 1.5);
    }
}
