//! Calibration: fitting an [`Inspector`]'s thresholds, map, score and descent budget on the
//! validation split of a dataset (never on test). The result is a [`Calibration`], stored
//! beside the model as `RUN_DIR/calibration.json`.
//!
//! # How the thresholds are fitted
//! - Map and score kind: when the validation split holds defective images, each map variant
//!   ([`ScoreSettings::candidates`]: absolute or SSIM difference, with or without a one-pixel
//!   shift tolerance) is scored, and the variant with the highest sum of its best image AUROC
//!   (good vs defective, over the [`ScoreKind`](super::ScoreKind)s) and its pixel AUROC on the
//!   defect masks wins, with that score kind; otherwise the configured defaults. With the
//!   training renders at hand the same variants are also scored pose-normalised (the map less
//!   the mean map of the four training renders nearest to the reconstruction) and against the
//!   renders (the image's smallest difference to any of those four renders, see
//!   [`ScoreSettings::reference`]); either must beat the plain ones by [`POSE_MARGIN`] (0.01)
//!   of the criterion to be chosen.
//! - Review threshold: the 95th percentile of the good validation scores, so about one good
//!   part in twenty goes to a person rather than passing silently near the edge.
//! - Defect threshold, by [`DefectRule`]: by default, with defective validation images, the
//!   threshold of maximum F1; without, the largest good score plus half the good scores' 5–95 %
//!   spread. With a target false-alarm rate r (`--false-alarm-rate`), the lowest threshold that
//!   at most r of the good validation images reach. Never below review. The good validation
//!   scores and the F1 threshold are stored, so another rule is applied without refitting.
//! - Region map (localisation): the scoring map is the one that ranks images best, which is not
//!   always the one that points at defects best (a pose-normalised map subtracts part of a
//!   defect that sits where the model is always wrong). With defect masks, the plain variants
//!   and those against the renders ([`ScoreSettings::region_candidates`]) are also measured at
//!   the chosen budget by validation pixel AUROC plus the fraction of defective images whose
//!   map peaks inside the mask (the strongest region is the defect); one that beats the scoring
//!   map by [`REGION_MARGIN`] (0.005) becomes the map regions are cut from and the heatmap
//!   shows. The image score is unchanged.
//! - Pixel threshold (localisation): the 99.9th percentile of every good validation pixel of
//!   the region map (the scoring map when there is none).
//! - Descent target loss: a quantile (default 0.9) of the good validation images' L(z₀); an
//!   image whose loss reaches it stops descending.
//! - Descent budget, when calibration may choose it: every candidate budget up to the
//!   configured one is scored from one descent, each with its best map and score by the
//!   criterion above, and the smallest budget within [`BUDGET_MARGIN`] (0.005) of the best
//!   criterion wins: more iterations must buy detection to be worth their time.

use std::path::{Path, PathBuf};

use super::binding::ModelBinding;
use super::calibration::{Calibration, DetectorFit, Fusion, RefineChoice, ValidationScores};
use super::descent::{DescentConfig, DescentResult, descend, descend_budgets};
use super::model::{InspectError, InspectModel};
use super::pipeline::Inspector;
use super::score::{
    Against, MapKind, POSE_TOLERANCE_DEG, ScoreKind, ScoreSettings, image_score, image_scores,
};
use super::synthesis::References;
use crate::dataset::Dataset;
use crate::dataset::layout::{self, Split};
use crate::imaging::{image_values, mask_values};
use crate::metrics::{pixel_auroc, quantile};
use crate::refine::Synthesis;
use crate::train::data::DataError;

/// How much more validation image + pixel AUROC a larger descent budget must give than the
/// smallest one within reach: calibration keeps the smallest budget within this of the best.
pub const BUDGET_MARGIN: f32 = 0.005;

/// How much more validation pixel AUROC plus peak-on-mask rate a region map must give than the
/// scoring map to be chosen (it costs a second map per image).
pub const REGION_MARGIN: f32 = 0.005;

/// How much more validation image + pixel AUROC a pose-normalised map must give than the best
/// plain one to be chosen (it costs a search through the training renders per image).
pub const POSE_MARGIN: f32 = 0.01;

/// The quantile of the good validation images' final refinement loss (one try each) above
/// which an image retries (its turns about the symmetry axis, then the next start pose). A good
/// image that settled with the cap's notch a few degrees off ends well above the median but
/// below the 90th percentile, so 0.9 let it through and its misplaced notch outscored most
/// defects. `examples/refine_bench.rs` on the demo's held-out good images (2026-12-07): the
/// rotation error's 95th percentile was 4.2° retrying above the 0.9 quantile and 1.3° above
/// the 0.7 quantile.
pub const RETRY_QUANTILE: f32 = 0.7;

/// The refinement budgets (render rounds) calibration compares, up to and including
/// `ceiling`.
pub fn refine_budget_candidates(ceiling: usize) -> Vec<usize> {
    let mut budgets: Vec<usize> = [0, 4, 8, 16, 24]
        .into_iter()
        .filter(|&b| b < ceiling)
        .collect();
    budgets.push(ceiling);
    budgets
}

/// Each image's reconstruction beside its rendered reference.
fn paired<'a>(results: &'a [DescentResult], made: &'a [Synthesis]) -> Vec<References<'a>> {
    results
        .iter()
        .zip(made)
        .map(|(r, s)| References {
            reconstruction: Some(r.reconstruction.as_slice()),
            synthesis: Some(s),
        })
        .collect()
}

/// The descent budgets calibration compares, up to and including `ceiling`.
pub fn budget_candidates(ceiling: usize) -> Vec<usize> {
    let mut budgets: Vec<usize> = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500]
        .into_iter()
        .filter(|&b| b < ceiling)
        .collect();
    budgets.push(ceiling);
    budgets
}

/// The validation split in memory.
struct ValidationSet {
    manifest_path: PathBuf,
    manifest_sha256: String,
    /// Flat good images, then flat defective images.
    good: Vec<f32>,
    defective: Vec<f32>,
    /// The mask of each defective image, when it has one.
    masks: Vec<Option<Vec<u8>>>,
    n_good: usize,
    n_defective: usize,
}

/// The defective validation images of the dataset in `dir` at the model's size (flat), and
/// how many there are.
pub(crate) fn validation_defective(
    dir: &Path,
    model: &InspectModel,
) -> Result<(Vec<f32>, usize), InspectError> {
    let set = ValidationSet::load(dir, model)?;
    Ok((set.defective, set.n_defective))
}

impl ValidationSet {
    /// Reads the validation images (and defect masks) of the dataset in `dir` at the model's
    /// size; an error when there is no good one to calibrate on.
    fn load(dir: &Path, model: &InspectModel) -> Result<Self, InspectError> {
        let manifest_path = layout::manifest_path(dir);
        let dataset = Dataset::open(dir).map_err(DataError::from)?;
        let (size, channels) = (model.image_size(), model.channels());
        let mut good = Vec::new();
        let mut defective = Vec::new();
        let mut masks = Vec::new();
        for sample in dataset.manifest.samples_of(Split::Validation) {
            let (image, path) = dataset.image(sample).map_err(DataError::from)?;
            let values = image_values(&image, &path, size, channels)?;
            if sample.id.is_good() {
                good.extend(values);
            } else {
                defective.extend(values);
                masks.push(match dataset.mask(sample).map_err(DataError::from)? {
                    Some((mask, path)) => Some(mask_values(&mask, &path, size)?),
                    None => None,
                });
            }
        }
        let image_len = model.config.image_len();
        let (n_good, n_defective) = (good.len() / image_len, defective.len() / image_len);
        if n_good == 0 {
            return Err(InspectError::Invalid {
                path: manifest_path,
                message: "the dataset has no good validation images to calibrate on".into(),
            });
        }
        Ok(Self {
            manifest_path,
            manifest_sha256: dataset.manifest_sha256,
            good,
            defective,
            masks,
            n_good,
            n_defective,
        })
    }
}

/// Validation images (flat), their descent results per budget, and whether they are good.
type Descended<'a> = (&'a Vec<f32>, Vec<Vec<DescentResult>>, bool);

/// The model's descents of the validation images at its chosen budget.
struct ModelDescents {
    good: Vec<DescentResult>,
    defective: Vec<DescentResult>,
}

/// A map variant measured for localisation on the validation split.
#[derive(Debug, Clone, Copy)]
struct PixelFit {
    /// Pixel AUROC over the good images and the masked defective ones.
    auroc: f32,
    /// The fraction of masked defective images whose map peaks inside the mask: how often the
    /// strongest region is the defect.
    peak_hits: f32,
    threshold: f32,
    floor: f32,
}

impl PixelFit {
    /// What a region map is chosen by: pointing at defect pixels overall (pixel AUROC) and
    /// at each image's defect first (peak on the mask).
    fn merit(&self) -> f32 {
        self.auroc + self.peak_hits
    }
}

/// The region map chosen for localisation: the peak-on-mask rate of every variant measured,
/// for the record, and the variant that beat the scoring map, if one did.
type RegionChoice = (Vec<(String, f32)>, Option<(ScoreSettings, PixelFit)>);

impl Inspector {
    /// Fits the thresholds on the validation split of the dataset in `dir` (good images, plus
    /// defective ones when present), keeps the calibration and returns it.
    ///
    /// Every detector at hand is fitted and measured by the same criterion (validation image
    /// AUROC + pixel AUROC): the model's maps, the product rendered at each image's refined
    /// pose (with a scene, [`Inspector::set_synthesizer`]), the lookup among the training
    /// renders (with the atlas), and the model's and the render's scores fused. The best wins
    /// and every one is kept in [`Calibration::detectors`] for the record.
    pub fn calibrate(&mut self, dir: &Path) -> Result<&Calibration, InspectError> {
        // The validation split is renders: a line's appearance, adopted from its photos, must
        // not scale their maps.
        if let Some(c) = &mut self.calibration {
            c.appearance = None;
        }
        let set = ValidationSet::load(dir, &self.model)?;
        let (model_criterion, calibration, descents) = self.calibrate_model(&set, dir)?;
        // Every detector judges this checkpoint's run on this dataset, whichever is chosen.
        let binding = calibration.model.clone();
        let mut fits: Vec<(f32, Calibration)> = vec![(model_criterion, calibration.clone())];
        if set.n_defective > 0 {
            if self.atlas().is_some()
                && let Some(fit) = self.calibrate_lookup(&set, &calibration)
            {
                fits.push(fit);
            }
            if self.synthesizer().is_some() {
                match self.calibrate_rendered(&set, &calibration) {
                    Ok(Some((fit, synthesized))) => {
                        if let Some(fused) = self.calibrate_fused(
                            &set,
                            &calibration,
                            &fit.1,
                            &descents,
                            &synthesized,
                        ) {
                            fits.push(fused);
                        }
                        fits.push(fit);
                    }
                    Ok(None) => {}
                    Err(message) => {
                        log::warn!("the rendered comparison could not be calibrated: {message}");
                    }
                }
            }
        }
        // A criterion that is not a finite number was not measured: no defective validation
        // images, or a map that is NaN throughout. It is kept as none, and it ranks below
        // every measured one (a NaN would otherwise win the comparison below, which it never
        // loses).
        for (criterion, _) in &mut fits {
            if !criterion.is_finite() {
                *criterion = f32::NEG_INFINITY;
            }
        }
        let detectors: Vec<DetectorFit> = fits
            .iter()
            .map(|(criterion, c)| DetectorFit {
                name: c.detector().to_string(),
                score: c.score,
                score_kind: c.score_kind,
                fusion: c.fusion,
                criterion: criterion.is_finite().then_some(*criterion),
                review_threshold: c.review_threshold,
                defect_threshold: c.defect_threshold,
            })
            .collect();
        // The rendered comparison's refinement, kept whichever detector wins: evaluation
        // measures every detector as it was calibrated, the render's retries included.
        let render_refine = fits.iter().find_map(|(_, c)| c.refine.clone());
        // The best criterion; on a tie the earlier (cheaper) detector.
        let best = fits
            .into_iter()
            .fold(None::<(f32, Calibration)>, |best, (c, fit)| match best {
                Some((b, _)) if b >= c => best,
                _ => Some((c, fit)),
            })
            .map(|(_, c)| c)
            .unwrap_or(calibration);
        let chosen = Calibration {
            detectors,
            model: binding,
            refine: best.refine.clone().or(render_refine),
            ..best
        };
        // Fitted with the F1 rule, which keeps what any other rule needs.
        let chosen = chosen
            .with_rule(self.settings.defect_rule)
            .unwrap_or(chosen);
        Ok(self.adopt(chosen))
    }

    /// The model's detector: its map, score, descent budget and region map, fitted as they
    /// always were; with its criterion, and the descents of the validation images at the
    /// chosen budget (the fused detector reuses them).
    fn calibrate_model(
        &self,
        set: &ValidationSet,
        dir: &Path,
    ) -> Result<(f32, Calibration, ModelDescents), InspectError> {
        let mut descent = self.calibration_descent(set);
        // The ceiling, not a budget an earlier calibration chose and `adopt` installed.
        let ceiling = self
            .calibration
            .as_ref()
            .and_then(|c| c.budget_ceiling)
            .filter(|_| self.settings.choose_budget)
            .unwrap_or(descent.max_iterations);
        descent.max_iterations = ceiling;
        let budgets = if self.settings.choose_budget && set.n_defective > 0 {
            budget_candidates(ceiling)
        } else {
            vec![ceiling]
        };
        let mut descended = Vec::new();
        for (images, count, is_good) in [
            (&set.good, set.n_good, true),
            (&set.defective, set.n_defective, false),
        ] {
            if count > 0 {
                let results = descend_budgets(&self.model, images, count, &descent, &budgets, None);
                descended.push((images, results, is_good));
            }
        }
        let per_budget = self.fit_each_budget(&descended, set, &descent, &budgets);
        let budget_scores: Vec<(usize, f32)> = per_budget
            .iter()
            .filter(|(c, _)| c.is_finite())
            .map(|(c, fitted)| (fitted.descent.max_iterations, *c))
            .collect();
        // More iterations cost time on every image: a larger budget must be worth it.
        let top = per_budget
            .iter()
            .map(|(c, _)| *c)
            .fold(f32::NEG_INFINITY, f32::max);
        let calibration = per_budget
            .into_iter()
            .find(|(c, _)| *c >= top - BUDGET_MARGIN)
            .map(|(_, c)| c)
            .ok_or_else(|| InspectError::Invalid {
                path: set.manifest_path.clone(),
                message: "no finite validation score to calibrate on".into(),
            })?;
        let calibration = self.with_region_map(calibration, &descended, &set.masks, &budgets);
        let criterion = budget_scores
            .iter()
            .find(|(b, _)| *b == calibration.descent.max_iterations)
            .map_or(f32::NEG_INFINITY, |(_, c)| *c);
        let calibration = Calibration {
            data_dir: Some(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())),
            budget_ceiling: self.settings.choose_budget.then_some(ceiling),
            budget_scores: if budgets.len() > 1 {
                budget_scores
            } else {
                Vec::new()
            },
            good_stop_quantile: self.settings.good_stop_quantile,
            model: Some(ModelBinding::of(&self.model, &set.manifest_sha256)),
            ..calibration
        };
        let at_budget = budgets
            .iter()
            .position(|&b| b == calibration.descent.max_iterations)
            .unwrap_or(budgets.len() - 1);
        let at = |good: bool| -> Vec<DescentResult> {
            descended
                .iter()
                .find(|d| d.2 == good)
                .and_then(|d| d.1.get(at_budget).cloned())
                .unwrap_or_default()
        };
        let descents = ModelDescents {
            good: at(true),
            defective: at(false),
        };
        Ok((criterion, calibration, descents))
    }

    /// The lookup that learns nothing: each validation image against the training renders
    /// nearest to it, the FIELD's definition (absolute difference with a one-pixel shift
    /// tolerance) and its SSIM twin.
    fn calibrate_lookup(
        &self,
        set: &ValidationSet,
        base: &Calibration,
    ) -> Option<(f32, Calibration)> {
        let none = References {
            reconstruction: None,
            synthesis: None,
        };
        let good = vec![none; set.n_good];
        let defective = vec![none; set.n_defective];
        let variants = [MapKind::Absolute, MapKind::Ssim].map(|map| ScoreSettings {
            map,
            shift_tolerance: 1,
            pose_normalised: false,
            reference: false,
            against: Against::Lookup,
            ..self.settings.score
        });
        variants
            .into_iter()
            .filter_map(|settings| {
                let rows = self.rows_against(set, &good, &defective, &settings);
                self.fit_rows(rows, settings, base)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// The product rendered at each validation image's refined pose: the retry loss from the
    /// good images refined at the ceiling, then every candidate budget with every map variant
    /// against the renders; the smallest budget within [`BUDGET_MARGIN`] of the best wins.
    /// Returns the fit and the references at the chosen budget (good, then defective).
    #[allow(clippy::type_complexity)]
    fn calibrate_rendered(
        &self,
        set: &ValidationSet,
        base: &Calibration,
    ) -> Result<Option<((f32, Calibration), (Vec<Synthesis>, Vec<Synthesis>))>, String> {
        let ceiling = self.settings.refine_rounds;
        let budgets = if self.settings.choose_budget {
            refine_budget_candidates(ceiling)
        } else {
            vec![ceiling]
        };
        // A good image that ends above most good images' loss has probably started in the
        // wrong basin: it retries (the symmetry turns, then the next start pose).
        let first = self.synthesize(&set.good, set.n_good, ceiling, None, None, 0.0)?;
        let losses: Vec<f32> = first
            .iter()
            .map(|s| s.refinement.loss)
            .filter(|l| l.is_finite())
            .collect();
        let retry_above = (!losses.is_empty()).then(|| quantile(&losses, RETRY_QUANTILE));
        let mut per_budget = Vec::new();
        for &budget in &budgets {
            // The references come with their turned renders: some candidate maps are
            // pose-tolerant.
            let tolerance = POSE_TOLERANCE_DEG;
            let good =
                self.synthesize(&set.good, set.n_good, budget, retry_above, None, tolerance)?;
            let defective = self.synthesize(
                &set.defective,
                set.n_defective,
                budget,
                retry_above,
                None,
                tolerance,
            )?;
            let (good_refs, defective_refs): (Vec<References<'_>>, Vec<References<'_>>) = (
                good.iter()
                    .map(|s| References {
                        reconstruction: None,
                        synthesis: Some(s),
                    })
                    .collect(),
                defective
                    .iter()
                    .map(|s| References {
                        reconstruction: None,
                        synthesis: Some(s),
                    })
                    .collect(),
            );
            let best = self
                .settings
                .score
                .candidates_against(Against::Rendered)
                .into_iter()
                .filter_map(|settings| {
                    let rows = self.rows_against(set, &good_refs, &defective_refs, &settings);
                    self.fit_rows(rows, settings, base)
                })
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some(fit) = best {
                per_budget.push((budget, fit, (good, defective)));
            }
        }
        let top = per_budget
            .iter()
            .map(|(_, (c, _), _)| *c)
            .fold(f32::NEG_INFINITY, f32::max);
        let budget_scores: Vec<(usize, f32)> =
            per_budget.iter().map(|(b, (c, _), _)| (*b, *c)).collect();
        let Some((rounds, (criterion, calibration), synthesized)) = per_budget
            .into_iter()
            .find(|(_, (c, _), _)| *c >= top - BUDGET_MARGIN)
        else {
            return Ok(None);
        };
        let calibration = Calibration {
            refine: Some(RefineChoice {
                rounds,
                ceiling,
                retry_above,
                budget_scores,
                levels: self.synthesizer().map(|s| s.settings.levels.clone()),
            }),
            ..calibration
        };
        Ok(Some(((criterion, calibration), synthesized)))
    }

    /// The render's score and the model's fused (the larger of the two on the good images'
    /// scale): flagged when either detector sees something unusual. Localises with the
    /// render's map.
    fn calibrate_fused(
        &self,
        set: &ValidationSet,
        model: &Calibration,
        render: &Calibration,
        descents: &ModelDescents,
        synthesized: &(Vec<Synthesis>, Vec<Synthesis>),
    ) -> Option<(f32, Calibration)> {
        if descents.good.len() != set.n_good || descents.defective.len() != set.n_defective {
            return None;
        }
        let good_refs = paired(&descents.good, &synthesized.0);
        let defective_refs = paired(&descents.defective, &synthesized.1);
        let scores_of = |settings: &ScoreSettings,
                         kind: ScoreKind,
                         images: &[f32],
                         refs: &[References<'_>],
                         results: &[DescentResult]|
         -> (Vec<f32>, Vec<Vec<f32>>) {
            let maps = self.maps_against(images, refs, settings);
            let scores = maps
                .iter()
                .zip(results)
                .map(|(m, r)| image_score(kind, r.loss, m, settings))
                .collect();
            (scores, maps)
        };
        let (first_good, render_maps_good) = scores_of(
            &render.score,
            render.score_kind,
            &set.good,
            &good_refs,
            &descents.good,
        );
        let (first_defective, render_maps_defective) = scores_of(
            &render.score,
            render.score_kind,
            &set.defective,
            &defective_refs,
            &descents.defective,
        );
        let (second_good, _) = scores_of(
            &model.score,
            model.score_kind,
            &set.good,
            &good_refs,
            &descents.good,
        );
        let (second_defective, _) = scores_of(
            &model.score,
            model.score_kind,
            &set.defective,
            &defective_refs,
            &descents.defective,
        );
        let finite =
            |v: &[f32]| -> Vec<f32> { v.iter().copied().filter(|x| x.is_finite()).collect() };
        let fusion = Fusion {
            second: model.score,
            second_kind: model.score_kind,
            first_scale: Fusion::scale_of(&finite(&first_good)),
            second_scale: Fusion::scale_of(&finite(&second_good)),
        };
        let fused = |a: &[f32], b: &[f32]| -> Vec<f32> {
            a.iter().zip(b).map(|(x, y)| fusion.fuse(*x, *y)).collect()
        };
        let (good, defective) = (
            fused(&first_good, &second_good),
            fused(&first_defective, &second_defective),
        );
        let mut rows = ValidationScores {
            good: good.iter().map(|&v| [v; 3]).collect(),
            defective: defective.iter().map(|&v| [v; 3]).collect(),
            ..ValidationScores::default()
        };
        let (mut pixel_scores, mut pixel_labels) = (Vec::new(), Vec::new());
        for map in &render_maps_good {
            rows.good_pixels.extend(map);
            pixel_scores.extend(map);
            pixel_labels.extend(std::iter::repeat_n(false, map.len()));
        }
        for (map, mask) in render_maps_defective.iter().zip(&set.masks) {
            if let Some(mask) = mask {
                pixel_scores.extend(map);
                pixel_labels.extend(mask.iter().map(|&m| m > 0));
            }
        }
        let (criterion, fitted) =
            self.fit_rows((rows, pixel_scores, pixel_labels), render.score, model)?;
        Some((
            criterion,
            Calibration {
                score_kind: render.score_kind,
                fusion: Some(fusion),
                refine: render.refine.clone(),
                ..fitted
            },
        ))
    }

    /// The validation score rows of maps made as `settings` say against `good` and
    /// `defective` references (no descent loss: those rows' loss column is NaN), with the
    /// pixel scores and labels for pixel AUROC.
    fn rows_against(
        &self,
        set: &ValidationSet,
        good: &[References<'_>],
        defective: &[References<'_>],
        settings: &ScoreSettings,
    ) -> (ValidationScores, Vec<f32>, Vec<bool>) {
        let mut rows = ValidationScores::default();
        let (mut pixel_scores, mut pixel_labels) = (Vec::new(), Vec::new());
        for map in self.maps_against(&set.good, good, settings) {
            rows.good.push(image_scores(f32::NAN, &map, settings));
            rows.good_pixels.extend(&map);
            pixel_scores.extend(&map);
            pixel_labels.extend(std::iter::repeat_n(false, map.len()));
        }
        for (i, map) in self
            .maps_against(&set.defective, defective, settings)
            .into_iter()
            .enumerate()
        {
            rows.defective.push(image_scores(f32::NAN, &map, settings));
            if let Some(mask) = &set.masks[i] {
                pixel_scores.extend(&map);
                pixel_labels.extend(mask.iter().map(|&m| m > 0));
            }
        }
        (rows, pixel_scores, pixel_labels)
    }

    /// Thresholds fitted on `rows`, with the criterion (best image AUROC + pixel AUROC); the
    /// descent, dataset and budget fields taken from the model's calibration `base`.
    fn fit_rows(
        &self,
        (rows, pixel_scores, pixel_labels): (ValidationScores, Vec<f32>, Vec<bool>),
        settings: ScoreSettings,
        base: &Calibration,
    ) -> Option<(f32, Calibration)> {
        let fitted = Calibration::fit(
            &rows,
            self.settings.default_score_kind,
            self.model.step,
            base.descent,
            settings,
        )?;
        let pixel = if pixel_labels.contains(&true) {
            pixel_auroc(&pixel_scores, &pixel_labels) as f32
        } else {
            0.0
        };
        let chosen = fitted
            .auroc
            .iter()
            .find(|(name, _)| name == fitted.score_kind.as_str())
            .map_or(f32::NEG_INFINITY, |(_, a)| *a);
        let criterion = chosen + pixel;
        let criterion = if criterion.is_finite() {
            criterion
        } else {
            f32::NEG_INFINITY
        };
        let mut auroc: Vec<(String, f32)> = fitted
            .auroc
            .iter()
            .filter(|(_, a)| a.is_finite())
            .map(|(name, a)| (format!("{} {name}", settings.map_name()), *a))
            .collect();
        if pixel.is_finite() {
            auroc.push((format!("{} pixel", settings.map_name()), pixel));
        }
        Some((
            criterion,
            Calibration {
                auroc,
                data_dir: base.data_dir.clone(),
                budget_ceiling: base.budget_ceiling,
                budget_scores: base.budget_scores.clone(),
                good_stop_quantile: base.good_stop_quantile,
                ..fitted
            },
        ))
    }

    /// Keeps `calibration` and inspects with what it fitted: its target loss, and its descent
    /// budget when the settings let calibration choose it.
    pub fn adopt(&mut self, calibration: Calibration) -> &Calibration {
        self.settings.descent.target_loss = calibration.descent.target_loss;
        if self.settings.choose_budget && calibration.budget_ceiling.is_some() {
            self.settings.descent.max_iterations = calibration.descent.max_iterations;
        }
        self.calibration.insert(calibration)
    }

    /// The descent calibration measures with: the settings' without a time limit (thresholds
    /// come from complete descents), with the target loss fitted as the configured quantile of
    /// the good validation images' L(z₀).
    fn calibration_descent(&self, set: &ValidationSet) -> DescentConfig {
        let mut descent = DescentConfig {
            time_limit_ms: None,
            target_loss: None,
            ..self.settings.descent
        };
        if let Some(q) = self.settings.good_stop_quantile {
            let start = DescentConfig {
                max_iterations: 0,
                ..descent
            };
            let initial: Vec<f32> = descend(&self.model, &set.good, set.n_good, &start, None)
                .iter()
                .map(|r| r.initial_loss)
                .filter(|l| l.is_finite())
                .collect();
            if !initial.is_empty() {
                descent.target_loss = Some(quantile(&initial, q));
            }
        }
        descent
    }

    /// The best calibration at each budget, with its criterion. Every map variant is scored
    /// from the same reconstructions, at every budget. With defective images the variant wins
    /// whose best image AUROC plus pixel AUROC (on the masks) is highest, so the map that ranks
    /// images well must also point at the defect (the default variant wins ties).
    fn fit_each_budget(
        &self,
        descended: &[Descended<'_>],
        set: &ValidationSet,
        descent: &DescentConfig,
        budgets: &[usize],
    ) -> Vec<(f32, Calibration)> {
        let candidates = if set.n_defective > 0 {
            self.settings.score.candidates_with(self.atlas().is_some())
        } else {
            vec![self.settings.score]
        };
        let mut per_budget = Vec::new();
        for (b, &budget) in budgets.iter().enumerate() {
            let at_budget = DescentConfig {
                max_iterations: budget,
                ..*descent
            };
            let mut auroc = Vec::new();
            let mut best_here: Option<(f32, Calibration)> = None;
            for &settings in &candidates {
                let Some((criterion, fitted)) =
                    self.fit_variant(descended, &set.masks, b, at_budget, settings, &mut auroc)
                else {
                    continue;
                };
                if best_here.as_ref().is_none_or(|(c, _)| criterion > *c) {
                    best_here = Some((criterion, fitted));
                }
            }
            let Some((criterion, fitted)) = best_here else {
                continue;
            };
            // The AUROC of every variant at this budget, for the record.
            per_budget.push((criterion, Calibration { auroc, ..fitted }));
        }
        per_budget
    }

    /// The calibration fitted with the map `settings` from the results at budget index `b`, and
    /// its criterion (best image AUROC + pixel AUROC, less [`POSE_MARGIN`] for a map made with
    /// the training renders; `-inf` when undefined); the variant's AUROCs are added to
    /// `auroc`. `None` when nothing could be fitted.
    fn fit_variant(
        &self,
        descended: &[Descended<'_>],
        masks: &[Option<Vec<u8>>],
        b: usize,
        at_budget: DescentConfig,
        settings: ScoreSettings,
        auroc: &mut Vec<(String, f32)>,
    ) -> Option<(f32, Calibration)> {
        let mut scores = ValidationScores::default();
        let (mut pixel_scores, mut pixel_labels) = (Vec::new(), Vec::new());
        for (images, results, is_good) in descended {
            let results = &results[b];
            let reconstructions: Vec<&[f32]> = results
                .iter()
                .map(|r| r.reconstruction.as_slice())
                .collect();
            let maps = self.maps(images, &reconstructions, &settings);
            for (i, (result, map)) in results.iter().zip(maps).enumerate() {
                let row = image_scores(result.loss, &map, &settings);
                if *is_good {
                    scores.good.push(row);
                    scores.good_pixels.extend(&map);
                    pixel_scores.extend(&map);
                    pixel_labels.extend(std::iter::repeat_n(false, map.len()));
                } else {
                    scores.defective.push(row);
                    if let Some(mask) = &masks[i] {
                        pixel_scores.extend(&map);
                        pixel_labels.extend(mask.iter().map(|&m| m > 0));
                    }
                }
            }
        }
        let pixel_auroc = if pixel_labels.contains(&true) {
            pixel_auroc(&pixel_scores, &pixel_labels) as f32
        } else {
            0.0
        };
        let fitted = Calibration::fit(
            &scores,
            self.settings.default_score_kind,
            self.model.step,
            at_budget,
            settings,
        )?;
        let chosen = fitted
            .auroc
            .iter()
            .find(|(name, _)| name == fitted.score_kind.as_str())
            .map_or(f32::NEG_INFINITY, |(_, a)| *a);
        // Only defined values are recorded: JSON has no NaN.
        for (name, a) in fitted.auroc.iter().filter(|(_, a)| a.is_finite()) {
            auroc.push((format!("{} {name}", settings.map_name()), *a));
        }
        if pixel_auroc.is_finite() {
            auroc.push((format!("{} pixel", settings.map_name()), pixel_auroc));
        }
        // A map made with the training renders costs a search through them per image: it
        // must be worth POSE_MARGIN more than a plain one.
        let chosen = chosen + pixel_auroc
            - if settings.needs_renders() {
                POSE_MARGIN
            } else {
                0.0
            };
        // An undefined AUROC never wins, and never blocks a later variant.
        let chosen = if chosen.is_finite() {
            chosen
        } else {
            f32::NEG_INFINITY
        };
        Some((chosen, fitted))
    }

    /// `calibration` with the region map localisation should use: the plain variant (or one
    /// against the renders) that points at the defects best, when it beats the scoring map by
    /// [`REGION_MARGIN`]; every variant's peak-on-mask rate is recorded either way.
    fn with_region_map(
        &self,
        calibration: Calibration,
        descended: &[Descended<'_>],
        masks: &[Option<Vec<u8>>],
        budgets: &[usize],
    ) -> Calibration {
        let region = budgets
            .iter()
            .position(|&b| b == calibration.descent.max_iterations)
            .and_then(|b| self.choose_region_map(&calibration, descended, masks, b));
        let (peak_hits, region) = region.unwrap_or_default();
        let calibration = Calibration {
            auroc: calibration.auroc.into_iter().chain(peak_hits).collect(),
            ..calibration
        };
        match region {
            Some((settings, fit)) => {
                let mut auroc = calibration.auroc;
                auroc.push((format!("region {} pixel", settings.map_name()), fit.auroc));
                Calibration {
                    region_map: Some(settings),
                    region_floor: Some(fit.floor),
                    pixel_threshold: fit.threshold,
                    auroc,
                    ..calibration
                }
            }
            None => calibration,
        }
    }

    /// Measures the scoring map and the region candidates at budget index `b`; `None` when
    /// the scoring map itself cannot be measured.
    fn choose_region_map(
        &self,
        calibration: &Calibration,
        descended: &[Descended<'_>],
        masks: &[Option<Vec<u8>>],
        b: usize,
    ) -> Option<RegionChoice> {
        let chosen = calibration.score;
        // The scoring map's own fit first; a candidate that cannot be fitted is left out, it
        // does not end the choice.
        let mut measured = vec![(chosen, self.pixel_fit(descended, masks, b, &chosen)?)];
        for settings in chosen.region_candidates(self.atlas().is_some()) {
            if measured.iter().all(|(s, _)| *s != settings)
                && let Some(fit) = self.pixel_fit(descended, masks, b, &settings)
            {
                measured.push((settings, fit));
            }
        }
        let scoring = measured.first()?.1.merit();
        let hits: Vec<(String, f32)> = measured
            .iter()
            .map(|(s, fit)| (format!("{} peak-on-mask", s.map_name()), fit.peak_hits))
            .collect();
        let best = measured
            .into_iter()
            .skip(1)
            .filter(|(_, fit)| fit.merit() > scoring + REGION_MARGIN)
            .max_by(|a, b| a.1.merit().total_cmp(&b.1.merit()));
        Some((hits, best))
    }

    /// The validation pixel AUROC of the map made by `settings` from the reconstructions at
    /// budget index `b` (good images count all their pixels as clean, defective ones the pixels
    /// of their masks), its pixel threshold and the 95th percentile of the good images' map
    /// maxima; `None` without masks or with a non-finite map.
    fn pixel_fit(
        &self,
        descended: &[Descended<'_>],
        masks: &[Option<Vec<u8>>],
        b: usize,
        settings: &ScoreSettings,
    ) -> Option<PixelFit> {
        let (mut scores, mut labels, mut good_pixels, mut peaks) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut hits, mut masked) = (0usize, 0usize);
        for (images, results, is_good) in descended {
            let reconstructions: Vec<&[f32]> = results
                .get(b)?
                .iter()
                .map(|r| r.reconstruction.as_slice())
                .collect();
            for (i, map) in self
                .maps(images, &reconstructions, settings)
                .into_iter()
                .enumerate()
            {
                if map.iter().any(|v| !v.is_finite()) {
                    return None;
                }
                if *is_good {
                    peaks.push(map.iter().copied().fold(f32::NEG_INFINITY, f32::max));
                    good_pixels.extend(&map);
                    labels.extend(std::iter::repeat_n(false, map.len()));
                    scores.extend(map);
                } else if let Some(mask) = masks.get(i).and_then(Option::as_ref) {
                    let peak = (0..map.len()).max_by(|&a, &b| map[a].total_cmp(&map[b]));
                    hits += usize::from(peak.is_some_and(|p| mask.get(p).is_some_and(|&m| m > 0)));
                    masked += 1;
                    labels.extend(mask.iter().map(|&m| m > 0));
                    scores.extend(map);
                }
            }
        }
        if !labels.contains(&true) || good_pixels.is_empty() {
            return None;
        }
        Some(PixelFit {
            auroc: pixel_auroc(&scores, &labels) as f32,
            peak_hits: hits as f32 / masked.max(1) as f32,
            threshold: quantile(&good_pixels, 0.999),
            floor: quantile(&peaks, 0.95),
        })
    }
}
