//! What calibration produces: the thresholds fitted on the validation split (never on test),
//! stored beside the model as `RUN_DIR/calibration.json`, and the verdict they give. How they
//! are fitted, and how the map, score and descent budget are chosen, is
//! [`super::calibrate`]'s; [`Calibration::fit`] turns one set of validation scores into
//! thresholds.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::binding::ModelBinding;
use super::descent::{DescentConfig, MAX_ITERATIONS};
use super::model::InspectError;
use super::score::{ScoreKind, ScoreSettings};
use crate::fsio::{FileKind, read_bounded};
use crate::metrics::{self, f1_max, quantile};

pub const CALIBRATION_FILE: &str = "calibration.json";
/// Format 2 added pose-normalised maps and the descent's stopping level, format 3 a region map
/// apart from the scoring map (its pixel threshold belongs to that map), format 4 maps made
/// against the training renders, format 5 maps against the product rendered at each image's
/// refined pose, the lookup and fused scores; an older program would judge or localise with
/// such a file wrongly, so it must refuse it. Older files load. The binding to the exact
/// checkpoint ([`Calibration::model`]) is optional: a file without one is refit (or refused)
/// when opened.
pub const CALIBRATION_FORMAT: u32 = 5;

/// How the refinement of each image's pose was set for the rendered comparison (kept whichever
/// detector is chosen, so evaluation measures each detector as calibrated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefineChoice {
    /// Render rounds per image at most (the chosen budget).
    pub rounds: usize,
    /// The largest budget calibration could choose from.
    pub ceiling: usize,
    /// A try that ends above this loss, unless its small turns pin it, compares the product's
    /// turns about its axis (see [`crate::refine::RefineSettings::retry_above`]): a quantile
    /// of the good validation images' final loss.
    pub retry_above: Option<f32>,
    /// Each budget compared and its criterion (validation image AUROC + pixel AUROC).
    pub budget_scores: Vec<(usize, f32)>,
    /// The refinement's levels of detail the budget and the retry loss were measured with;
    /// None in files written before they were kept. Another refinement ends at other losses,
    /// so such a calibration is fitted anew where the scene is at hand.
    #[serde(default)]
    pub levels: Option<Vec<crate::refine::solve::Level>>,
}

/// A second score fused with the first: each is put on the scale of the good validation
/// images (their median to their 95th percentile is one unit) and the larger counts, so an
/// image is flagged when either detector sees something unusual.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    pub second: ScoreSettings,
    pub second_kind: ScoreKind,
    /// `[median, spread]` of the first and of the second score over the good validation
    /// images.
    pub first_scale: [f32; 2],
    pub second_scale: [f32; 2],
}

impl Fusion {
    /// The fused score of an image whose two scores are `first` and `second`; NaN when either
    /// is (nothing passes on half a judgement).
    pub fn fuse(&self, first: f32, second: f32) -> f32 {
        let unit = |v: f32, [median, spread]: [f32; 2]| (v - median) / spread.max(f32::EPSILON);
        if first.is_nan() || second.is_nan() {
            return f32::NAN;
        }
        unit(first, self.first_scale).max(unit(second, self.second_scale))
    }

    /// `[median, spread]` of good scores (the spread at least a millionth of the median, so
    /// a constant score cannot divide by zero).
    pub fn scale_of(good: &[f32]) -> [f32; 2] {
        let median = quantile(good, 0.5);
        let spread = (quantile(good, 0.95) - median).max(1e-6 * median.abs().max(1e-6));
        [median, spread]
    }
}

/// One detector calibration measured on the validation split, kept for the record and for
/// evaluation to report each on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorFit {
    /// `model`, `render`, `lookup` or `fused`.
    pub name: String,
    pub score: ScoreSettings,
    pub score_kind: ScoreKind,
    #[serde(default)]
    pub fusion: Option<Fusion>,
    /// Validation image AUROC + pixel AUROC of the detector's best variant; None where it
    /// was not measured (no defective validation images, or a map that is NaN throughout).
    /// Files from before it could be absent hold `null` there.
    pub criterion: Option<f32>,
    /// Its thresholds, fitted on its own validation scores.
    pub review_threshold: f32,
    pub defect_threshold: f32,
}

/// Largest magnitude a fused score or threshold may take (in spreads of the good validation
/// scores from their median).
pub const MAX_FUSED_SCORE: f32 = 1e6;

/// Largest value a map-based score or threshold can take: maps are differences of values in
/// [0, 1] (SSIM's is (1 − SSIM) / 2), scaled by the line's appearance by at most
/// [`super::appearance::MAX_SCALE`], and the defect threshold set without defective images
/// lies at most half the good scores' spread above the largest.
pub const MAX_MAP_SCORE: f32 = 1.5 * super::appearance::MAX_SCALE;
/// Largest descent loss a threshold may be set at.
pub const MAX_LOSS_SCORE: f32 = 1e9;
/// The fraction of its peak a flagged image's map is cut at when the image was flagged on a
/// score of another scale (the loss, a fused score).
pub const HALF_PEAK: f32 = 0.5;

/// What inspection says about one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Review,
    Defect,
    /// The image could not be read or scored. Never treated as a pass.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Review => "review",
            Self::Defect => "defect",
            Self::Error => "error",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the defect threshold is set from the validation scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "rule")]
pub enum DefectRule {
    /// The threshold of maximum F1 on the validation split (good against defective images).
    #[default]
    F1Max,
    /// The lowest threshold that at most this fraction of the good validation images reach:
    /// a bound on false alarms, whatever it costs in missed defects.
    FalseAlarmRate { rate: f32 },
}

impl DefectRule {
    /// A false-alarm rule for `rate`, which must lie in [0, 1).
    pub fn false_alarm_rate(rate: f32) -> Result<Self, String> {
        if (0.0..1.0).contains(&rate) {
            Ok(Self::FalseAlarmRate { rate })
        } else {
            Err(format!(
                "a false-alarm rate is a fraction of good parts in [0, 1), not {rate}"
            ))
        }
    }
}

impl std::fmt::Display for DefectRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::F1Max => f.write_str("best F1 on validation"),
            Self::FalseAlarmRate { rate } => write!(
                f,
                "at most {:.1} % of good validation images flagged",
                100.0 * rate
            ),
        }
    }
}

/// The scores of the validation images, by [`ScoreKind::ALL`] order.
#[derive(Debug, Clone, Default)]
pub struct ValidationScores {
    pub good: Vec<[f32; 3]>,
    pub defective: Vec<[f32; 3]>,
    /// Every pixel of every good validation map.
    pub good_pixels: Vec<f32>,
}

/// `calibration.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub format: u32,
    /// The checkpoint step the thresholds belong to.
    pub checkpoint_step: u64,
    /// The descent and map settings the scores were made with; a different setting needs a new
    /// calibration.
    pub descent: DescentConfig,
    pub score: ScoreSettings,
    pub score_kind: ScoreKind,
    pub review_threshold: f32,
    pub defect_threshold: f32,
    pub pixel_threshold: f32,
    pub validation_good: usize,
    pub validation_defective: usize,
    /// Validation AUROC of each map variant and score kind (`"ssim±1 map-max"`), and pixel
    /// AUROC per map variant (`"ssim pixel"`), when defective images were available.
    pub auroc: Vec<(String, f32)>,
    /// The dataset fitted on; later runs take their part maps from it when `--data` is absent.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The largest budget calibration could choose from, when it chose the budget
    /// (`descent.max_iterations` is its choice); `None` when the budget was given.
    #[serde(default)]
    pub budget_ceiling: Option<usize>,
    /// Each budget compared and its criterion (best image AUROC + pixel AUROC on validation,
    /// less `POSE_MARGIN` when its best map is made with the training renders).
    #[serde(default)]
    pub budget_scores: Vec<(usize, f32)>,
    /// The quantile of good validation L(z₀) that `descent.target_loss` was fitted as.
    #[serde(default)]
    pub good_stop_quantile: Option<f32>,
    /// How `defect_threshold` was set.
    #[serde(default)]
    pub defect_rule: DefectRule,
    /// The threshold of maximum F1 on validation (`None` without defective images).
    #[serde(default)]
    pub f1_threshold: Option<f32>,
    /// The chosen score of every good validation image, ascending: another [`DefectRule`] is
    /// applied from these without refitting. Empty in files written before they were kept.
    #[serde(default)]
    pub good_scores: Vec<f32>,
    /// The map regions are cut from and the heatmap shows, when one points at defects better
    /// than the scoring map (validation pixel AUROC plus the rate of defective images whose
    /// map peaks inside the mask); `None`: the scoring map itself.
    #[serde(default)]
    pub region_map: Option<ScoreSettings>,
    /// With `region_map`: the 95th percentile of the good validation images' region-map
    /// maxima, the level a flagged image's region map is always cut at or below (the review
    /// threshold plays this part for the scoring map).
    #[serde(default)]
    pub region_floor: Option<f32>,
    /// How each image's pose is refined for the maps made against the rendered product: the
    /// chosen detector's when it uses them, else the rendered comparison's as calibrated
    /// (for evaluating it on its own). `None` without a scene.
    #[serde(default)]
    pub refine: Option<RefineChoice>,
    /// A second score fused with the first.
    #[serde(default)]
    pub fusion: Option<Fusion>,
    /// Every detector calibration measured (model alone, render alone, the lookup, the
    /// fusion), the chosen one among them.
    #[serde(default)]
    pub detectors: Vec<DetectorFit>,
    /// What a camera's good photos share that the renderer does not draw, fitted on them by
    /// photo calibration: maps against the rendered product are scaled by it. `None` for
    /// renders.
    #[serde(default)]
    pub appearance: Option<super::appearance::Appearance>,
    /// The checkpoint (by hash) and the dataset the thresholds were fitted for; `None` in
    /// files written before it was kept, which are refit.
    #[serde(default)]
    pub model: Option<ModelBinding>,
}

impl Calibration {
    /// Fits the thresholds; `None` when there is no good validation score to fit on.
    pub fn fit(
        scores: &ValidationScores,
        default_kind: ScoreKind,
        checkpoint_step: u64,
        descent: DescentConfig,
        score: ScoreSettings,
    ) -> Option<Self> {
        let column = |rows: &[[f32; 3]], k: usize| -> Vec<f32> {
            rows.iter()
                .map(|r| r[k])
                .filter(|v| v.is_finite())
                .collect()
        };
        let mut auroc = Vec::new();
        let mut kind = default_kind;
        if !scores.defective.is_empty() {
            let mut best = f32::NEG_INFINITY;
            for (k, candidate) in ScoreKind::ALL.iter().enumerate() {
                let a =
                    metrics::auroc(&column(&scores.good, k), &column(&scores.defective, k)) as f32;
                auroc.push((candidate.as_str().to_string(), a));
                if a > best {
                    best = a;
                    kind = *candidate;
                }
            }
        }
        let k = ScoreKind::ALL.iter().position(|c| *c == kind).unwrap_or(2);
        let good = column(&scores.good, k);
        if good.is_empty() {
            return None;
        }
        let mut good = good;
        good.sort_unstable_by(f32::total_cmp);
        let f1_threshold =
            (!scores.defective.is_empty()).then(|| f1_max(&good, &column(&scores.defective, k)).1);
        let (review, defect) = thresholds(&good, f1_threshold, DefectRule::F1Max);
        let pixel = if scores.good_pixels.is_empty() {
            f32::INFINITY
        } else {
            quantile(&scores.good_pixels, 0.999)
        };
        Some(Self {
            format: CALIBRATION_FORMAT,
            checkpoint_step,
            descent,
            score,
            score_kind: kind,
            review_threshold: review,
            defect_threshold: defect,
            pixel_threshold: pixel,
            validation_good: scores.good.len(),
            validation_defective: scores.defective.len(),
            auroc,
            data_dir: None,
            budget_ceiling: None,
            budget_scores: Vec::new(),
            good_stop_quantile: None,
            defect_rule: DefectRule::F1Max,
            f1_threshold,
            good_scores: good,
            region_map: None,
            region_floor: None,
            refine: None,
            fusion: None,
            detectors: Vec::new(),
            appearance: None,
            model: None,
        })
    }

    /// Whether inspecting with this calibration renders the product at each image's pose.
    pub fn needs_synthesis(&self) -> bool {
        self.score.needs_synthesis()
            || self.region_map.is_some_and(|r| r.needs_synthesis())
            || self.fusion.is_some_and(|f| f.second.needs_synthesis())
    }

    /// The widest pose tolerance of the maps inspection makes with this calibration (its
    /// score, region and fusion maps), and with `detectors` of every detector it measured:
    /// how far the references are turned (see [`ScoreSettings::pose_tolerance_deg`]).
    pub fn pose_tolerance_deg(&self, detectors: bool) -> f32 {
        let mut maps: Vec<&ScoreSettings> = vec![&self.score];
        maps.extend(&self.region_map);
        maps.extend(self.fusion.iter().map(|f| &f.second));
        if detectors {
            for d in &self.detectors {
                maps.push(&d.score);
                maps.extend(d.fusion.iter().map(|f| &f.second));
            }
        }
        maps.into_iter()
            .filter(|m| m.needs_synthesis())
            .map(|m| m.pose_tolerance_deg)
            .fold(0.0, f32::max)
    }

    /// Whether any detector it measured needs what `f` asks for (the model, a render).
    pub fn detectors_need(&self, f: fn(&ScoreSettings) -> bool) -> bool {
        self.detectors
            .iter()
            .any(|d| f(&d.score) || d.fusion.is_some_and(|x| f(&x.second)))
    }

    /// Whether any detector it measured compares with the rendered product.
    pub fn detectors_need_synthesis(&self) -> bool {
        self.needs_synthesis() || self.detectors_need(ScoreSettings::needs_synthesis)
    }

    /// The refinement's rounds and retry threshold its detectors were measured with
    /// (`default_rounds` and no retries when it chose none).
    pub fn refine_for(&self, default_rounds: usize) -> (usize, Option<f32>) {
        self.refine
            .as_ref()
            .map_or((default_rounds, None), |r| (r.rounds, r.retry_above))
    }

    /// Whether inspecting with this calibration runs the model.
    pub fn needs_model(&self) -> bool {
        self.score.needs_model()
            || self.region_map.is_some_and(|r| r.needs_model())
            || self.fusion.is_some_and(|f| f.second.needs_model())
    }

    /// Whether any map of this calibration needs the training renders.
    pub fn needs_renders(&self) -> bool {
        self.score.needs_renders()
            || self.region_map.is_some_and(|r| r.needs_renders())
            || self.fusion.is_some_and(|f| f.second.needs_renders())
    }

    /// The detector's name: `model`, `render`, `lookup` or `fused`.
    pub fn detector(&self) -> &'static str {
        if self.fusion.is_some() {
            "fused"
        } else {
            self.score.against.as_str()
        }
    }

    /// How the map that regions are cut from is made.
    pub fn region_settings(&self) -> ScoreSettings {
        self.region_map.unwrap_or(self.score)
    }

    /// The same calibration with its review and defect thresholds set by `rule`, from the
    /// stored good validation scores; `None` when the file predates them (refit it).
    pub fn with_rule(&self, rule: DefectRule) -> Option<Self> {
        if self.good_scores.is_empty() {
            return None;
        }
        let (review, defect) = thresholds(&self.good_scores, self.f1_threshold, rule);
        Some(Self {
            review_threshold: review,
            defect_threshold: defect,
            defect_rule: rule,
            ..self.clone()
        })
    }

    /// The same detector, maps, descent and pixel threshold with the review and defect
    /// thresholds refit on good scores alone (photos of good products): review from their
    /// [`GOOD_REVIEW_QUANTILE`] quantile, defect by `rule` (under best F1, which needs defective
    /// images, from [`no_defect_threshold`]). `None` without a finite score.
    pub fn refit_on_good(&self, scores: &[f32], rule: DefectRule) -> Option<Self> {
        let mut good: Vec<f32> = scores.iter().copied().filter(|v| v.is_finite()).collect();
        if good.is_empty() {
            return None;
        }
        good.sort_unstable_by(f32::total_cmp);
        let (review, defect) = thresholds(&good, None, rule);
        Some(Self {
            review_threshold: review,
            defect_threshold: defect,
            defect_rule: rule,
            f1_threshold: None,
            validation_good: good.len(),
            validation_defective: 0,
            good_scores: good,
            ..self.clone()
        })
    }

    /// The map and score kind, e.g. `ssim±1 map-max` (with the fused second one after `+`).
    pub fn scoring_name(&self) -> String {
        let first = format!("{} {}", self.score.map_name(), self.score_kind.as_str());
        match &self.fusion {
            Some(f) => format!(
                "{first} + {} {}",
                f.second.map_name(),
                f.second_kind.as_str()
            ),
            None => first,
        }
    }

    /// `pass` below review, `review` up to defect, `defect` from there; `error` if not finite.
    pub fn verdict(&self, score: f32) -> Verdict {
        if !score.is_finite() {
            Verdict::Error
        } else if score >= self.defect_threshold {
            Verdict::Defect
        } else if score >= self.review_threshold {
            Verdict::Review
        } else {
            Verdict::Pass
        }
    }

    /// The level a map is cut at into regions: the pixel threshold, but for an image judged
    /// `review` or `defect` never above the level that flagged it. The pixel threshold (99.9 %
    /// of good pixels) is often above the image thresholds; an image flagged on its map's peak
    /// would then show no region, neither where the defect is nor which part it is on. `peak`
    /// is the largest value of the map being cut.
    pub fn region_threshold(&self, verdict: Verdict, peak: f32) -> f32 {
        let floor = match (self.region_map, self.region_floor) {
            (Some(_), Some(floor)) => floor,
            _ => self.flagged_floor(peak),
        };
        match verdict {
            Verdict::Review | Verdict::Defect => self.pixel_threshold.min(floor),
            Verdict::Pass | Verdict::Error => self.pixel_threshold,
        }
    }

    /// The level a flagged image's scoring map is cut at when its own threshold says nothing
    /// about the map: the review threshold when the image score is read off the map (its
    /// maximum or top-pixel mean), else half the map's peak. A loss or a fused score lives on
    /// another scale; cutting the map at it would mark the whole image or nothing.
    pub fn flagged_floor(&self, peak: f32) -> f32 {
        if self.fusion.is_none() && self.score_kind != ScoreKind::Loss {
            self.review_threshold
        } else {
            HALF_PEAK * peak
        }
    }

    pub fn path(run_dir: &Path) -> PathBuf {
        run_dir.join(CALIBRATION_FILE)
    }

    /// Reads `calibration.json` and checks every value in it ([`Calibration::validate`]).
    pub fn load(path: &Path) -> Result<Self, InspectError> {
        let bytes = read_bounded(path, FileKind::Calibration).map_err(|e| InspectError::Read {
            path: path.to_path_buf(),
            message: e.reason(),
        })?;
        let calibration: Self =
            serde_json::from_slice(&bytes).map_err(|e| InspectError::Invalid {
                path: path.to_path_buf(),
                message: format!("not a valid calibration: {e}"),
            })?;
        if !(1..=CALIBRATION_FORMAT).contains(&calibration.format) {
            return Err(InspectError::Invalid {
                path: path.to_path_buf(),
                message: format!("calibration format {} is not supported", calibration.format),
            });
        }
        calibration
            .validate()
            .map_err(|message| InspectError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "{message}; refit it (inspect --recalibrate with --data DIR) or remove it"
                ),
            })?;
        Ok(calibration)
    }

    /// Writes through a temporary file and a rename; a calibration with a value that is not
    /// finite or out of range is never written.
    pub fn save(&self, path: &Path) -> Result<(), InspectError> {
        self.validate().map_err(|message| InspectError::Write {
            path: path.to_path_buf(),
            message: format!("the calibration is not valid, so it is not written: {message}"),
        })?;
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| InspectError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        json.push(b'\n');
        crate::fsio::write_atomic(path, &json).map_err(|e| InspectError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks every value: settings finite and in range, thresholds finite, within what a
    /// score can be and ordered (review ≤ defect), the stored good scores ascending, and — as
    /// they are kept — the review and defect thresholds the ones those scores and the defect
    /// rule give, so a threshold edited by hand (or damaged) is refused.
    pub fn validate(&self) -> Result<(), String> {
        self.descent
            .validate()
            .map_err(|m| format!("descent.{m}"))?;
        self.score.validate().map_err(|m| format!("score.{m}"))?;
        if let Some(region) = &self.region_map {
            region.validate().map_err(|m| format!("region_map.{m}"))?;
        }
        // A fused score counts good-image spreads from the good median: it may be negative.
        let (least, most) = match (self.fusion, self.score_kind) {
            (Some(_), _) => (-MAX_FUSED_SCORE, MAX_FUSED_SCORE),
            (None, ScoreKind::Loss) => (0.0, MAX_LOSS_SCORE),
            (None, ScoreKind::MapMax | ScoreKind::TopKMean) => (0.0, MAX_MAP_SCORE),
        };
        let in_range = |name: &str, value: f32, least: f32, most: f32| {
            if value.is_finite() && (least..=most).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be a score from {least} to {most}, got {value}"
                ))
            }
        };
        let score = |name: &str, value: f32, most: f32| in_range(name, value, 0.0, most);
        in_range("review_threshold", self.review_threshold, least, most)?;
        in_range("defect_threshold", self.defect_threshold, least, most)?;
        score("pixel_threshold", self.pixel_threshold, MAX_MAP_SCORE)?;
        if let Some(f) = &self.fusion {
            f.second
                .validate()
                .map_err(|m| format!("fusion.second.{m}"))?;
            let scale_ok = |[median, spread]: [f32; 2]| {
                median.is_finite() && spread.is_finite() && spread > 0.0
            };
            if !scale_ok(f.first_scale) || !scale_ok(f.second_scale) {
                return Err("fusion scales must be finite with a positive spread".into());
            }
        }
        if let Some(a) = &self.appearance {
            a.validate().map_err(|m| format!("appearance: {m}"))?;
        }
        if let Some(r) = &self.refine
            && (r.rounds > r.ceiling
                || r.ceiling > crate::refine::RefineSettings::MAX_ROUNDS
                || r.retry_above.is_some_and(|t| !(t.is_finite() && t >= 0.0))
                || r.budget_scores.iter().any(|(_, c)| !c.is_finite()))
        {
            return Err(
                "refine: rounds above the ceiling, a ceiling out of range, or a loss or criterion that is not finite".into(),
            );
        }
        if self.review_threshold > self.defect_threshold {
            return Err(format!(
                "review_threshold {} is above defect_threshold {}",
                self.review_threshold, self.defect_threshold
            ));
        }
        if let Some(floor) = self.region_floor {
            score("region_floor", floor, MAX_MAP_SCORE)?;
        }
        if let Some(f1) = self.f1_threshold {
            in_range("f1_threshold", f1, least, most)?;
        }
        if let DefectRule::FalseAlarmRate { rate } = self.defect_rule {
            DefectRule::false_alarm_rate(rate).map_err(|m| format!("defect_rule: {m}"))?;
        }
        if let Some(q) = self.good_stop_quantile
            && !(q.is_finite() && q > 0.0 && q < 1.0)
        {
            return Err(format!("good_stop_quantile must be in (0, 1), got {q}"));
        }
        if self.budget_ceiling.is_some_and(|c| c > MAX_ITERATIONS)
            || self.budget_scores.iter().any(|(b, _)| *b > MAX_ITERATIONS)
        {
            return Err(format!("a descent budget is above {MAX_ITERATIONS}"));
        }
        for d in &self.detectors {
            if !(d.criterion.is_none_or(f32::is_finite)
                && d.review_threshold.is_finite()
                && d.defect_threshold.is_finite())
            {
                return Err(format!(
                    "detector {}: its criterion (when measured) and thresholds must be finite \
                     numbers",
                    d.name
                ));
            }
        }
        let finite_pairs = self.auroc.iter().all(|(_, a)| a.is_finite())
            && self.budget_scores.iter().all(|(_, s)| s.is_finite());
        if !finite_pairs {
            return Err("an AUROC or budget criterion is not a finite number".into());
        }
        if self.good_scores.iter().any(|g| !g.is_finite())
            || !self.good_scores.is_sorted_by(|a, b| a <= b)
        {
            return Err("good_scores must be finite and ascending".into());
        }
        if !self.good_scores.is_empty() {
            let (review, defect) =
                thresholds(&self.good_scores, self.f1_threshold, self.defect_rule);
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-6);
            if !close(review, self.review_threshold) || !close(defect, self.defect_threshold) {
                return Err(format!(
                    "the thresholds (review {}, defect {}) are not those its good validation \
                     scores give under its rule (review {review}, defect {defect})",
                    self.review_threshold, self.defect_threshold
                ));
            }
        }
        if let Some(binding) = &self.model {
            binding.validate()?;
        }
        Ok(())
    }
}

/// Review and defect thresholds from the good validation scores (`good`, ascending, not
/// empty), the F1-max threshold when there were defective images, and the rule.
fn thresholds(good: &[f32], f1_threshold: Option<f32>, rule: DefectRule) -> (f32, f32) {
    let review = quantile(good, GOOD_REVIEW_QUANTILE);
    let defect = match (rule, f1_threshold) {
        (DefectRule::FalseAlarmRate { rate }, _) => false_alarm_threshold(good, rate),
        (DefectRule::F1Max, Some(t)) => t,
        (DefectRule::F1Max, None) => no_defect_threshold(good),
    };
    let review = review.min(defect);
    (review, defect.max(review))
}

/// The quantile of the good scores the review threshold is set at.
pub const GOOD_REVIEW_QUANTILE: f32 = 0.95;

/// The defect threshold when no defective image was seen: the largest good score plus half the
/// spread between the good scores' 5th and 95th percentiles.
pub fn no_defect_threshold(good: &[f32]) -> f32 {
    let spread = quantile(good, 0.95) - quantile(good, 0.05);
    quantile(good, 1.0) + 0.5 * spread
}

/// The lowest threshold `t` (`score >= t` is flagged) that at most `rate` of the `good` scores
/// (ascending, not empty) reach.
pub fn false_alarm_threshold(good: &[f32], rate: f32) -> f32 {
    let n = good.len();
    // A relative tolerance far above f32's rounding keeps 0.29 of 100 at 29, not 28.
    let exact = f64::from(rate.clamp(0.0, 1.0)) * n as f64;
    let allowed = ((exact * (1.0 + 1e-6)).floor() as usize).min(n);
    if allowed == n {
        return good[0];
    }
    // Every score above good[n - allowed - 1] may be flagged, that one (and its equals) not.
    good[n - allowed - 1].next_up()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A calibration fitted on `scores` with the default settings (map maximum, step 3).
    fn fit_default(scores: &ValidationScores) -> Calibration {
        Calibration::fit(
            scores,
            ScoreKind::MapMax,
            3,
            DescentConfig::default(),
            ScoreSettings::default(),
        )
        .unwrap()
    }

    #[test]
    fn thresholds_refit_on_good_photos_keep_everything_else() {
        let scores = ValidationScores {
            good: (0..50).map(|i| [i as f32 / 100.0; 3]).collect(),
            defective: (0..10).map(|i| [0.3 + i as f32 / 20.0; 3]).collect(),
            good_pixels: vec![0.1],
        };
        let fitted = fit_default(&scores);
        // 101 photo scores from 1.00 to 2.00, in no order, and one NaN that is left out.
        let mut photos: Vec<f32> = (0..=100).rev().map(|i| 1.0 + i as f32 / 100.0).collect();
        photos.push(f32::NAN);
        let refit = fitted.refit_on_good(&photos, DefectRule::F1Max).unwrap();
        assert!((refit.review_threshold - 1.95).abs() < 1e-5, "{refit:?}");
        // No defective photo: the largest score plus half the 5th to 95th spread (0.9).
        assert!((refit.defect_threshold - 2.45).abs() < 1e-5, "{refit:?}");
        assert_eq!(
            (refit.validation_good, refit.validation_defective),
            (101, 0)
        );
        assert_eq!(refit.f1_threshold, None);
        assert_eq!(refit.good_scores.len(), 101);
        assert_eq!(
            (refit.score, refit.score_kind, refit.descent),
            (fitted.score, fitted.score_kind, fitted.descent)
        );
        assert_eq!(refit.pixel_threshold, fitted.pixel_threshold);
        let rule = DefectRule::false_alarm_rate(0.1).unwrap();
        let bounded = fitted.refit_on_good(&photos, rule).unwrap();
        let flagged = photos
            .iter()
            .filter(|&&s| bounded.verdict(s) == Verdict::Defect)
            .count();
        assert_eq!(flagged, 10);
        assert!(
            fitted
                .refit_on_good(&[f32::NAN], DefectRule::F1Max)
                .is_none()
        );
    }

    #[test]
    fn hand_worked_auroc_quantile_and_f1() {
        assert_eq!(metrics::auroc(&[0.1, 0.2], &[0.3, 0.15]), 0.75);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.95), 9.5);
        assert_eq!(f1_max(&[0.1, 0.2], &[0.3, 0.4]).1, 0.3);
    }

    #[test]
    fn a_false_alarm_rate_bounds_the_good_images_flagged() {
        // 100 good scores 0.00..0.99 with a run of ties at the top, 20 defective ones.
        let mut good: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        for g in &mut good[95..] {
            *g = 0.95;
        }
        let scores = ValidationScores {
            good: good.iter().map(|&g| [g; 3]).collect(),
            defective: (0..20).map(|i| [0.5 + i as f32 / 40.0; 3]).collect(),
            good_pixels: vec![0.1],
        };
        let fitted = fit_default(&scores);
        assert_eq!(fitted.defect_rule, DefectRule::F1Max);
        assert_eq!(fitted.f1_threshold, Some(fitted.defect_threshold));
        let flagged = |c: &Calibration| {
            good.iter()
                .filter(|&&g| c.verdict(g) == Verdict::Defect)
                .count()
        };
        for (rate, most) in [
            (0.0, 0),
            (0.02, 2),
            (0.05, 5),
            (0.10, 10),
            (0.29, 29),
            (0.5, 50),
        ] {
            let c = fitted
                .with_rule(DefectRule::false_alarm_rate(rate).unwrap())
                .unwrap();
            let n = flagged(&c);
            assert!(n <= most, "rate {rate}: {n} good images flagged");
            assert!(c.review_threshold <= c.defect_threshold);
            // The lowest such threshold: any lower score of the good ones would flag more.
            let lower = good.iter().rev().find(|&&g| g < c.defect_threshold);
            if let Some(&below) = lower {
                let c2 = Calibration {
                    defect_threshold: below,
                    ..c.clone()
                };
                assert!(flagged(&c2) > most, "rate {rate}: {below} would do");
            }
        }
        // Ties: the five equal top scores are all flagged or none; a 2 % budget flags none.
        let two = fitted
            .with_rule(DefectRule::false_alarm_rate(0.02).unwrap())
            .unwrap();
        assert_eq!(flagged(&two), 0);
        assert!(two.defect_threshold > 0.95);
        // And back: the F1 rule gives the fitted thresholds again.
        assert_eq!(two.with_rule(DefectRule::F1Max).unwrap(), fitted);
        assert!(DefectRule::false_alarm_rate(1.0).is_err());
        assert!(DefectRule::false_alarm_rate(-0.1).is_err());
        assert!(DefectRule::false_alarm_rate(f32::NAN).is_err());
    }

    #[test]
    fn a_region_map_has_its_own_floor() {
        let scores = ValidationScores {
            good: (0..10).map(|i| [i as f32 * 0.1; 3]).collect(),
            defective: (0..4).map(|i| [0.7 + i as f32 * 0.1; 3]).collect(),
            good_pixels: vec![0.1, 0.9],
        };
        let c = fit_default(&scores);
        assert_eq!(c.region_settings(), c.score);
        let cut = |c: &Calibration, v| c.region_threshold(v, 1.0);
        assert_eq!(cut(&c, Verdict::Pass), c.pixel_threshold);
        // A flagged image's map is cut at the review threshold when the score is read off the
        // map, at half its peak when the score is the loss.
        let on_map = Calibration {
            score_kind: ScoreKind::MapMax,
            ..c.clone()
        };
        assert_eq!(
            cut(&on_map, Verdict::Defect),
            c.pixel_threshold.min(c.review_threshold)
        );
        let on_loss = Calibration {
            score_kind: ScoreKind::Loss,
            ..c.clone()
        };
        assert_eq!(on_loss.region_threshold(Verdict::Review, 0.4), 0.2);
        let region = ScoreSettings {
            smoothing_sigma: 2.0,
            ..ScoreSettings::default()
        };
        let split = Calibration {
            region_map: Some(region),
            region_floor: Some(0.05),
            ..c.clone()
        };
        assert_eq!(split.region_settings(), region);
        assert_eq!(cut(&split, Verdict::Review), 0.05);
        assert_eq!(cut(&split, Verdict::Pass), c.pixel_threshold);
        assert_eq!(region.map_name(), "absolute σ2");
    }

    /// Ten good validation images, no defective one.
    fn good_only() -> ValidationScores {
        ValidationScores {
            good: (0..10).map(|i| [i as f32 * 0.1; 3]).collect(),
            defective: Vec::new(),
            good_pixels: vec![0.1],
        }
    }

    #[test]
    fn older_files_load_and_newer_ones_are_refused() {
        let c = fit_default(&good_only());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CALIBRATION_FILE);
        c.save(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), c);
        // A format-1 file has none of the later fields: they take their defaults.
        let mut old: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let o = old.as_object_mut().unwrap();
        o.insert("format".into(), 1.into());
        for field in [
            "budget_ceiling",
            "budget_scores",
            "good_stop_quantile",
            "defect_rule",
            "f1_threshold",
            "good_scores",
            "region_map",
            "region_floor",
        ] {
            o.remove(field);
        }
        o["score"]
            .as_object_mut()
            .unwrap()
            .remove("pose_normalised");
        o["descent"].as_object_mut().unwrap().remove("target_loss");
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        let loaded = Calibration::load(&path).unwrap();
        assert_eq!(loaded.budget_ceiling, None);
        assert!(!loaded.score.pose_normalised);
        assert_eq!(loaded.descent.target_loss, None);
        assert_eq!(loaded.defect_rule, DefectRule::F1Max);
        assert_eq!(loaded.region_map, None);
        // Without the good scores no other rule can be applied: the caller must refit.
        assert!(loaded.with_rule(DefectRule::F1Max).is_none());
        set_format(&path, CALIBRATION_FORMAT + 1);
        let err = Calibration::load(&path).unwrap_err().to_string();
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn a_detector_not_measured_is_written_and_read_back_and_a_nan_one_is_never_written() {
        // Good validation images only: no detector's criterion can be measured.
        let mut c = fit_default(&good_only());
        c.detectors = vec![DetectorFit {
            name: "model".into(),
            score: c.score,
            score_kind: c.score_kind,
            fusion: None,
            criterion: None,
            review_threshold: c.review_threshold,
            defect_threshold: c.defect_threshold,
        }];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CALIBRATION_FILE);
        c.save(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), c);
        c.detectors[0].criterion = Some(f32::NAN);
        let err = c.save(&path).unwrap_err().to_string();
        assert!(err.contains("detector model"), "{err}");
        // The file written before is untouched.
        assert_eq!(
            Calibration::load(&path).unwrap().detectors[0].criterion,
            None
        );
    }

    fn set_format(path: &Path, format: u32) {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["format"] = format.into();
        std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
    }

    #[test]
    fn verdict_bands_and_errors() {
        let scores = ValidationScores {
            good: (0..20).map(|i| [i as f32 * 0.01; 3]).collect(),
            defective: vec![[0.5; 3], [0.6; 3]],
            good_pixels: vec![0.1, 0.2],
        };
        let c = Calibration::fit(
            &scores,
            ScoreKind::TopKMean,
            7,
            DescentConfig::default(),
            ScoreSettings::default(),
        )
        .unwrap();
        assert_eq!(c.verdict(0.0), Verdict::Pass);
        assert_eq!(c.verdict(0.185), Verdict::Review);
        assert_eq!(c.verdict(0.55), Verdict::Defect);
        assert_eq!(c.verdict(f32::NAN), Verdict::Error);
        assert!(c.review_threshold <= c.defect_threshold);
    }
}
