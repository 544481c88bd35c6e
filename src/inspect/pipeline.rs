//! The whole inspection of a set of images: descent, maps, scores, verdicts, regions. How an
//! [`Inspector`] is calibrated is [`super::calibrate`]'s.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::calibration::{Calibration, DefectRule, Verdict};
use super::descent::{DescentConfig, DescentResult, TraceFn, descend};
use super::localise::{PartAtlas, Region, naming_window, regions};
use super::model::InspectModel;
use super::score::{Against, ScoreKind, ScoreSettings, anomaly_map, image_score};
use super::synthesis::References;
use crate::refine::{Synthesis, Synthesizer};

/// Settings of an [`Inspector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InspectorSettings {
    pub descent: DescentConfig,
    pub score: ScoreSettings,
    /// Score used when the calibration cannot choose one by measurement.
    pub default_score_kind: ScoreKind,
    /// Smallest region kept, in pixels; `None` = `size² / 1024`, at least 2.
    pub min_region_area: Option<usize>,
    /// Let calibration choose the descent budget: every budget of
    /// [`budget_candidates`](super::calibrate::budget_candidates) up to
    /// `descent.max_iterations` is measured on the validation split and the smallest within
    /// [`BUDGET_MARGIN`](super::calibrate::BUDGET_MARGIN) of the best is kept (without defective validation images there is
    /// nothing to compare, and the ceiling is used); otherwise `descent.max_iterations` is
    /// used as is.
    pub choose_budget: bool,
    /// Fit the descent's `target_loss` as this quantile of the good validation images' L(z₀):
    /// an image that starts (or gets) as close to a good product as most good images do stops
    /// there. `None` leaves the target unset.
    pub good_stop_quantile: Option<f32>,
    /// How the defect threshold is set from the validation scores.
    pub defect_rule: DefectRule,
    /// Render rounds each image's pose refinement may take (analysis by synthesis): the
    /// ceiling calibration chooses a budget under, or, when it may not choose, the budget.
    pub refine_rounds: usize,
    /// How an image of another size or colour is brought to the model's input.
    pub map_input: crate::imaging::MapInput,
}

impl Default for InspectorSettings {
    fn default() -> Self {
        Self {
            descent: DescentConfig::default(),
            score: ScoreSettings::default(),
            default_score_kind: ScoreKind::default(),
            min_region_area: None,
            choose_budget: true,
            good_stop_quantile: Some(0.9),
            defect_rule: DefectRule::F1Max,
            refine_rounds: crate::refine::RefineSettings::default().max_rounds,
            map_input: crate::imaging::MapInput::Fail,
        }
    }
}

/// The result for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    pub path: Option<PathBuf>,
    pub verdict: Verdict,
    /// The calibrated score (NaN when it could not be computed).
    pub score: f32,
    pub score_kind: ScoreKind,
    /// The descent loss L(z*); NaN (JSON `null`) when no step was taken and the score does not
    /// use it, so it was not computed.
    pub loss: f32,
    /// L(z₀), NaN under the same condition.
    pub initial_loss: f32,
    /// Descent iterations the model took (0 when the model was not needed).
    pub iterations: usize,
    /// With analysis by synthesis: render rounds the image's pose refinement took, and the
    /// pose it found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refine_rounds: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pose: Option<crate::refine::ScenePose>,
    /// Wall time of this image's share of its batch, in milliseconds.
    pub time_ms: f64,
    pub regions: Vec<Region>,
    /// Why the verdict is `error`.
    pub error: Option<String>,
    #[serde(skip)]
    pub image: Vec<f32>,
    /// G(z*) when the model ran, else empty.
    #[serde(skip)]
    pub reconstruction: Vec<f32>,
    /// What the heatmap was computed against: the product rendered at the refined pose, or
    /// the model's reconstruction; empty for the lookup.
    #[serde(skip)]
    pub reference: Vec<f32>,
    /// The synthesis behind `reference`, when the product was rendered (its refinement steps
    /// replay in the workbench).
    #[serde(skip)]
    pub synthesis: Option<crate::refine::Synthesis>,
    /// Smoothed anomaly map, `size²` values: the map regions are cut from (the calibration's
    /// region map when it has one, otherwise the scoring map).
    #[serde(skip)]
    pub map: Vec<f32>,
    /// 0/1 per pixel: inside a kept region.
    #[serde(skip)]
    pub mask: Vec<u8>,
}

impl ImageReport {
    /// The report of an image that could not be inspected: `error`, with why.
    pub fn error(path: Option<PathBuf>, kind: ScoreKind, message: String) -> Self {
        Self {
            path,
            verdict: Verdict::Error,
            score: f32::NAN,
            score_kind: kind,
            loss: f32::NAN,
            initial_loss: f32::NAN,
            iterations: 0,
            refine_rounds: None,
            pose: None,
            time_ms: 0.0,
            regions: Vec::new(),
            error: Some(message),
            image: Vec::new(),
            reconstruction: Vec::new(),
            reference: Vec::new(),
            synthesis: None,
            map: Vec::new(),
            mask: Vec::new(),
        }
    }
}

/// How many training renders nearest to a reconstruction stand for its pose in a
/// pose-normalised map (four measured best of 1, 4 and 16 on the held-out set).
pub const POSE_NEIGHBOURS: usize = 4;
/// Training renders nearest in pose that a map against the renders compares each image with
/// ([`ScoreSettings::reference`]). Measured on the demo's held-out set (GAN, 0 iterations,
/// SSIM ±1 px against the renders, `examples/score_study.rs`): image AUROC 0.750 with 4,
/// 0.810 with 16, 0.819 with 32 (with a Gaussian window: 0.834 with 64, 0.836 with 128); the
/// map's cost grows in proportion, and 16 keeps the line near 200 images/s on two cores.
pub const REFERENCE_RENDERS: usize = 16;
/// Renders nearest in pose among which part naming picks the [`POSE_NEIGHBOURS`] that match
/// the image best around a region.
pub const NAMING_CANDIDATES: usize = REFERENCE_RENDERS;

/// What is known about training renders, by atlas index, filled as poses are first needed:
/// G(E(t)), and the anomaly map of t under `settings` (the last map settings asked for).
#[derive(Debug, Default)]
struct PoseState {
    reconstructions: HashMap<usize, Arc<Vec<f32>>>,
    settings: Option<ScoreSettings>,
    maps: HashMap<usize, Arc<Vec<f32>>>,
}

type PoseCache = Arc<Mutex<PoseState>>;

/// A loaded model with its calibration and (optionally) the part atlas.
#[derive(Debug, Clone)]
pub struct Inspector {
    pub model: InspectModel,
    pub settings: InspectorSettings,
    pub calibration: Option<Calibration>,
    atlas: Option<PartAtlas>,
    poses: PoseCache,
    pub(crate) synthesizer: Option<Synthesizer>,
}

impl Inspector {
    pub fn new(model: InspectModel, settings: InspectorSettings) -> Self {
        Self {
            model,
            settings,
            calibration: None,
            atlas: None,
            poses: PoseCache::default(),
            synthesizer: None,
        }
    }

    /// The training renders and part maps: regions get part names, and pose-normalised maps
    /// become possible. Renders of another size or channel count than the model's are refused
    /// (the atlas is left as it was), saying both shapes.
    pub fn set_atlas(&mut self, atlas: Option<PartAtlas>) -> Result<(), String> {
        let (size, channels) = (self.model.image_size(), self.model.channels());
        if let Some(a) = &atlas
            && (a.size != size || a.channels != channels)
        {
            return Err(format!(
                "the training renders are {}×{} with {} channel(s), the model's images {size}×{size} with {channels}",
                a.size, a.size, a.channels
            ));
        }
        self.atlas = atlas;
        self.poses = PoseCache::default();
        Ok(())
    }

    pub fn atlas(&self) -> Option<&PartAtlas> {
        self.atlas.as_ref()
    }

    /// Makes G(E(t)) of the training renders `indices` that are not known yet.
    fn reconstruct_renders(&self, atlas: &PartAtlas, indices: &BTreeSet<usize>) {
        let missing: Vec<usize> = {
            let state = self.poses.lock().unwrap_or_else(|e| e.into_inner());
            indices
                .iter()
                .copied()
                .filter(|i| !state.reconstructions.contains_key(i))
                .collect()
        };
        let image_len = self.model.config.image_len();
        for chunk in missing.chunks(self.settings.descent.batch_size.max(1)) {
            let images: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| atlas.image(i).iter().copied())
                .collect();
            let z = self.model.encode(&images, chunk.len());
            let made = self.model.generate(&z, chunk.len());
            let mut state = self.poses.lock().unwrap_or_else(|e| e.into_inner());
            for (k, &i) in chunk.iter().enumerate() {
                let r = made[k * image_len..(k + 1) * image_len].to_vec();
                state.reconstructions.insert(i, Arc::new(r));
            }
        }
    }

    /// Reconstructs every training render and makes its map under the calibrated settings,
    /// so pose-normalised inspection runs at its steady-state speed from the first image
    /// (otherwise the first images pay for the renders they need). A no-op without an atlas.
    pub fn warm_up(&self) {
        let Some(atlas) = &self.atlas else {
            return;
        };
        if !self.score_settings().pose_normalised {
            return;
        }
        let all: BTreeSet<usize> = (0..atlas.len()).collect();
        self.reconstruct_renders(atlas, &all);
        let all: Vec<usize> = all.into_iter().collect();
        self.render_maps(atlas, &all, &self.score_settings());
    }

    /// The maps of training renders `indices` under `settings`, made once per settings.
    fn render_maps(
        &self,
        atlas: &PartAtlas,
        indices: &[usize],
        settings: &ScoreSettings,
    ) -> HashMap<usize, Arc<Vec<f32>>> {
        let size = self.model.image_size();
        let missing: Vec<(usize, Arc<Vec<f32>>)> = {
            let mut state = self.poses.lock().unwrap_or_else(|e| e.into_inner());
            if state.settings != Some(*settings) {
                state.settings = Some(*settings);
                state.maps.clear();
            }
            indices
                .iter()
                .filter(|i| !state.maps.contains_key(i))
                .filter_map(|&i| Some((i, state.reconstructions.get(&i)?.clone())))
                .collect()
        };
        let made: Vec<(usize, Arc<Vec<f32>>)> = missing
            .par_iter()
            .map(|(i, r)| {
                (
                    *i,
                    Arc::new(anomaly_map(atlas.image(*i), r, size, settings)),
                )
            })
            .collect();
        let mut state = self.poses.lock().unwrap_or_else(|e| e.into_inner());
        // Another caller may have switched the settings meanwhile: file maps only under theirs.
        if state.settings == Some(*settings) {
            state.maps.extend(made.iter().cloned());
        }
        let made: HashMap<usize, Arc<Vec<f32>>> = made.into_iter().collect();
        indices
            .iter()
            .filter_map(|&i| Some((i, made.get(&i).or_else(|| state.maps.get(&i))?.clone())))
            .collect()
    }

    /// The anomaly maps of `images` (flat, `image_len` each) against their reconstructions,
    /// made as `settings` say. A pose-normalised map without training renders to compare
    /// with is all NaN, so its score is not finite and the verdict is `error`.
    pub fn maps(
        &self,
        images: &[f32],
        reconstructions: &[&[f32]],
        settings: &ScoreSettings,
    ) -> Vec<Vec<f32>> {
        self.maps_and_poses(images, reconstructions, settings).0
    }

    /// [`maps`](Self::maps), and for a pose-normalised map the training renders that stood for
    /// each image's pose (part naming needs the same ones: looked up once).
    fn maps_and_poses(
        &self,
        images: &[f32],
        reconstructions: &[&[f32]],
        settings: &ScoreSettings,
    ) -> (Vec<Vec<f32>>, Option<Vec<Vec<usize>>>) {
        self.maps_and_poses_known(images, reconstructions, settings, None)
    }

    /// [`maps_and_poses`](Self::maps_and_poses), reusing each image's renders nearest in pose
    /// when a map made with the renders has already looked them up (`known`, nearest first).
    fn maps_and_poses_known(
        &self,
        images: &[f32],
        reconstructions: &[&[f32]],
        settings: &ScoreSettings,
        known: Option<&[Vec<usize>]>,
    ) -> (Vec<Vec<f32>>, Option<Vec<Vec<usize>>>) {
        let size = self.model.image_size();
        let image_len = self.model.config.image_len();
        if settings.reference {
            let Some(atlas) = &self.atlas else {
                return (
                    vec![vec![f32::NAN; size * size]; reconstructions.len()],
                    None,
                );
            };
            let known = known.filter(|k| k.len() == reconstructions.len());
            let (maps, poses): (Vec<Vec<f32>>, Vec<Vec<usize>>) = reconstructions
                .par_iter()
                .enumerate()
                .map(|(i, r)| {
                    // Nearest first: the same renders serve part naming.
                    let near = match known {
                        Some(k) => k[i][..REFERENCE_RENDERS.min(k[i].len())].to_vec(),
                        None => atlas.nearest_k_shortlisted(r, REFERENCE_RENDERS),
                    };
                    let image = &images[i * image_len..(i + 1) * image_len];
                    let renders: Vec<&[f32]> = near.iter().map(|&j| atlas.image(j)).collect();
                    let map = super::score::reference_map(image, &renders, size, settings);
                    (map, near)
                })
                .unzip();
            return (maps, Some(poses));
        }
        let raw: Vec<Vec<f32>> = reconstructions
            .par_iter()
            .enumerate()
            .map(|(i, r)| {
                anomaly_map(
                    &images[i * image_len..(i + 1) * image_len],
                    r,
                    size,
                    settings,
                )
            })
            .collect();
        if !settings.pose_normalised {
            return (raw, None);
        }
        let Some(atlas) = &self.atlas else {
            return (vec![vec![f32::NAN; size * size]; raw.len()], None);
        };
        // One lookup per image serves the maps of either kind and part naming: the nearest
        // NAMING_CANDIDATES, of which the nearest POSE_NEIGHBOURS normalise the map.
        let neighbours: Vec<Vec<usize>> = match known {
            Some(k) if k.len() == reconstructions.len() => k.to_vec(),
            _ => reconstructions
                .par_iter()
                .map(|r| atlas.nearest_k_shortlisted(r, NAMING_CANDIDATES))
                .collect(),
        };
        let nearest = |near: &[usize]| near[..POSE_NEIGHBOURS.min(near.len())].to_vec();
        let wanted: BTreeSet<usize> = neighbours.iter().flat_map(|n| nearest(n)).collect();
        self.reconstruct_renders(atlas, &wanted);
        let wanted: Vec<usize> = wanted.into_iter().collect();
        let normal = self.render_maps(atlas, &wanted, settings);
        let maps = raw
            .into_par_iter()
            .zip(&neighbours)
            .map(|(map, near)| {
                let used: Vec<&Arc<Vec<f32>>> =
                    nearest(near).iter().filter_map(|j| normal.get(j)).collect();
                if used.is_empty() {
                    return vec![f32::NAN; size * size];
                }
                let mut reference = vec![0.0f32; size * size];
                for m in &used {
                    for (acc, v) in reference.iter_mut().zip(m.iter()) {
                        *acc += v / used.len() as f32;
                    }
                }
                super::score::excess_over(&map, &reference)
            })
            .collect();
        (maps, Some(neighbours))
    }

    /// How maps are made: the calibration's choice, or the settings' before calibration.
    pub fn score_settings(&self) -> ScoreSettings {
        self.calibration
            .as_ref()
            .map_or(self.settings.score, |c| c.score)
    }

    /// How the map that regions are cut from (and a heatmap should show) is made: the
    /// calibration's region map, else its scoring map, else the settings' before calibration.
    pub fn region_settings(&self) -> ScoreSettings {
        self.calibration
            .as_ref()
            .map_or(self.settings.score, Calibration::region_settings)
    }

    fn score_kind(&self) -> ScoreKind {
        self.calibration
            .as_ref()
            .map_or(self.settings.default_score_kind, |c| c.score_kind)
    }

    pub(crate) fn min_area(&self) -> usize {
        let size = self.model.image_size();
        self.settings
            .min_region_area
            .unwrap_or((size * size / 1024).max(2))
    }

    /// Inspects `count` flat images: the model's descent and the product rendered at each
    /// image's refined pose, as far as the calibrated maps need them, then maps, scores,
    /// verdicts and regions. Without a calibration every verdict is `error` (nothing passes
    /// unjudged); images are still scored.
    pub fn inspect_images(
        &self,
        images: &[f32],
        count: usize,
        trace: Option<&mut TraceFn<'_>>,
    ) -> Vec<ImageReport> {
        let started = Instant::now();
        let size = self.model.image_size();
        let image_len = self.model.config.image_len();
        let kind = self.score_kind();
        let score_settings = self.score_settings();
        let calibration = self.calibration.as_ref();
        let region_settings = calibration.and_then(|c| c.region_map);
        let fusion = calibration.and_then(|c| c.fusion);
        let all: Vec<ScoreSettings> = [
            Some(score_settings),
            region_settings,
            fusion.map(|f| f.second),
        ]
        .into_iter()
        .flatten()
        .collect();
        // The model runs only when a map needs its reconstruction (or the descent is to be
        // watched); a map-based score at a budget of 0 never looks at the descent loss, so
        // the discriminator's passes are skipped (the report's loss is then NaN).
        let run_model = all.iter().any(ScoreSettings::needs_model) || trace.is_some();
        let results: Vec<Option<DescentResult>> = if run_model {
            let descent = DescentConfig {
                loss_without_steps: kind == ScoreKind::Loss
                    || fusion.is_some_and(|f| f.second_kind == ScoreKind::Loss),
                ..self.settings.descent
            };
            descend(&self.model, images, count, &descent, trace)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; count]
        };
        let synthesized: Option<Result<Vec<Synthesis>, String>> =
            all.iter().any(ScoreSettings::needs_synthesis).then(|| {
                let limit = self.settings.descent.time_limit_ms.map(|ms| {
                    std::time::Duration::from_millis(ms).saturating_sub(started.elapsed())
                });
                let retry = self
                    .calibration
                    .as_ref()
                    .and_then(|c| c.refine.as_ref())
                    .and_then(|r| r.retry_above);
                let tolerance = all
                    .iter()
                    .filter(|m| m.needs_synthesis())
                    .map(|m| m.pose_tolerance_deg)
                    .fold(0.0, f32::max);
                self.synthesize(images, count, self.refine_rounds(), retry, limit, tolerance)
            });
        let (synthesis, synthesis_error): (Vec<Option<Synthesis>>, Option<String>) =
            match synthesized {
                Some(Ok(made)) => (made.into_iter().map(Some).collect(), None),
                Some(Err(e)) => (vec![None; count], Some(e)),
                None => (vec![None; count], None),
            };
        let references: Vec<References<'_>> = (0..count)
            .map(|i| References {
                reconstruction: results[i].as_ref().map(|r| r.reconstruction.as_slice()),
                synthesis: synthesis[i].as_ref(),
            })
            .collect();
        let (maps, poses) = self.maps_and_poses_for(images, &references, &score_settings, None);
        // The map regions are cut from, when calibration chose another one for localisation
        // (with the same renders when both maps need them).
        let (region_maps, poses): (Vec<Option<Vec<f32>>>, _) = match region_settings {
            Some(settings) => {
                let (made, found) =
                    self.maps_and_poses_for(images, &references, &settings, poses.as_deref());
                (made.into_iter().map(Some).collect(), poses.or(found))
            }
            None => (vec![None; count], poses),
        };
        let second_maps: Vec<Option<Vec<f32>>> = match fusion {
            Some(f) => self
                .maps_against(images, &references, &f.second)
                .into_iter()
                .map(Some)
                .collect(),
            None => vec![None; count],
        };
        // The descent, the refinement and the maps (a lookup's work is all in its map).
        let per_image_ms = started.elapsed().as_secs_f64() * 1000.0 / count.max(1) as f64;
        let mut poses = poses.map(Vec::into_iter);
        let poses: Vec<Option<Vec<usize>>> = (0..count)
            .map(|_| poses.as_mut().and_then(Iterator::next))
            .collect();
        // Scores and regions are independent per image: they run on all cores while the
        // descent (above) has its own parallelism inside burn.
        results
            .into_par_iter()
            .zip(synthesis)
            .zip(maps)
            .zip(region_maps)
            .zip(second_maps)
            .zip(poses)
            .enumerate()
            .map(|(i, (((((result, synthesis), map), region_map), second_map), poses))| {
                let image = images[i * image_len..(i + 1) * image_len].to_vec();
                let loss = result.as_ref().map_or(f32::NAN, |r| r.loss);
                let first = image_score(kind, loss, &map, &score_settings);
                let score = match (fusion, &second_map) {
                    (Some(f), Some(second)) => {
                        f.fuse(first, image_score(f.second_kind, loss, second, &f.second))
                    }
                    _ => first,
                };
                let timed_out = result.as_ref().is_some_and(|r| r.timed_out);
                let (verdict, error) = match &self.calibration {
                    // An incomplete descent is not a judgement: never a pass.
                    _ if timed_out => (
                        Verdict::Error,
                        Some(format!(
                            "descent timed out after {} of {} iterations (limit {} ms)",
                            result.as_ref().map_or(0, |r| r.iterations),
                            self.settings.descent.max_iterations,
                            self.settings.descent.time_limit_ms.unwrap_or(0)
                        )),
                    ),
                    _ if synthesis_error.is_some() => (Verdict::Error, synthesis_error.clone()),
                    Some(c) => (
                        c.verdict(score),
                        (!score.is_finite()).then(|| {
                            if c.needs_renders() && self.atlas.is_none() {
                                "the calibrated map is made with the training renders: give the training dataset (--data)".to_string()
                            } else {
                                "score is not finite".to_string()
                            }
                        }),
                    ),
                    None => (Verdict::Error, Some("no calibration".to_string())),
                };
                // Regions, and the heatmap shown: of the region map when there is one.
                let flagged = matches!(verdict, Verdict::Review | Verdict::Defect);
                let reconstruction = result.as_ref().map(|r| r.reconstruction.as_slice());
                let (found, mask, shown) = match &self.calibration {
                    Some(c) => {
                        let poses = poses.as_deref();
                        let cut = |m: &[f32], t: f32| match (&synthesis, reconstruction) {
                            (Some(s), _) => self.localise_rendered(&image, m, t, s),
                            (None, Some(recon)) => self.localise_with(&image, m, recon, t, poses),
                            // No reconstruction (the lookup's detector): the training renders
                            // nearest to the image itself name the parts.
                            (None, None) => self.localise_with(&image, m, &image, t, poses),
                        };
                        match region_map {
                            Some(r) => {
                                let (found, mask) = cut(&r, c.region_threshold(verdict, peak(&r)));
                                if flagged && found.is_empty() {
                                    // Flagged, yet the region map stays below its floor: the
                                    // map that flagged the image, its regions and its
                                    // heatmap, so it still shows where.
                                    let (found, mask) = cut(&map, c.flagged_floor(peak(&map)));
                                    (found, mask, map)
                                } else {
                                    (found, mask, r)
                                }
                            }
                            None => {
                                let (found, mask) =
                                    cut(&map, c.region_threshold(verdict, peak(&map)));
                                (found, mask, map)
                            }
                        }
                    }
                    None => (Vec::new(), vec![0u8; size * size], region_map.unwrap_or(map)),
                };
                let shown_against = region_settings.unwrap_or(score_settings).against;
                let reference = match (shown_against, &synthesis, reconstruction) {
                    (Against::Rendered, Some(s), _) => s.reference.clone(),
                    (Against::Model, _, Some(r)) => r.to_vec(),
                    // The lookup's map is the difference to its nearest training renders: the
                    // nearest of them is shown.
                    (Against::Lookup, _, _) => self.atlas.as_ref().map_or_else(Vec::new, |atlas| {
                        atlas
                            .nearest_k_shortlisted(&image, 1)
                            .first()
                            .map_or_else(Vec::new, |&i| atlas.image(i).to_vec())
                    }),
                    _ => Vec::new(),
                };
                ImageReport {
                    path: None,
                    verdict,
                    score,
                    score_kind: kind,
                    loss,
                    initial_loss: result.as_ref().map_or(f32::NAN, |r| r.initial_loss),
                    iterations: result.as_ref().map_or(0, |r| r.iterations),
                    refine_rounds: synthesis.as_ref().map(|s| s.refinement.rounds),
                    pose: synthesis.as_ref().map(|s| s.refinement.pose),
                    time_ms: per_image_ms,
                    regions: found,
                    error,
                    image,
                    reconstruction: result.map(|r| r.reconstruction).unwrap_or_default(),
                    reference,
                    synthesis,
                    map: shown,
                    mask,
                }
            })
            .collect()
    }

    /// Inspects with `rounds` of pose refinement per image from now on, instead of the
    /// budget calibration chose; its retry threshold still applies. In memory only: the
    /// calibration on disk is left as it is.
    pub fn set_refine_rounds(&mut self, rounds: usize) {
        self.settings.refine_rounds = rounds;
        if let Some(choice) = self.calibration.as_mut().and_then(|c| c.refine.as_mut()) {
            choice.rounds = rounds;
            choice.ceiling = rounds;
        }
    }

    /// The refinement budget to inspect with: the calibration's choice when it made one and
    /// the settings let it, else the settings'.
    pub fn refine_rounds(&self) -> usize {
        match self.calibration.as_ref().and_then(|c| c.refine.as_ref()) {
            Some(r) if self.settings.choose_budget && r.ceiling == self.settings.refine_rounds => {
                r.rounds
            }
            _ => self.settings.refine_rounds,
        }
    }

    /// Maps of any kind, with (for the model's maps made with the training renders) the renders
    /// that stood for each image's pose.
    fn maps_and_poses_for(
        &self,
        images: &[f32],
        references: &[References<'_>],
        settings: &ScoreSettings,
        known: Option<&[Vec<usize>]>,
    ) -> (Vec<Vec<f32>>, Option<Vec<Vec<usize>>>) {
        if settings.against != Against::Model {
            return (self.maps_against(images, references, settings), None);
        }
        let Some(recons) = references
            .iter()
            .map(|r| r.reconstruction)
            .collect::<Option<Vec<&[f32]>>>()
        else {
            let size = self.model.image_size();
            return (vec![vec![f32::NAN; size * size]; references.len()], None);
        };
        self.maps_and_poses_known(images, &recons, settings, known)
    }

    /// Regions of `map` at or above `threshold` (at least the minimum area), each named after
    /// the part under it when a part atlas is loaded, plus the 0/1 mask of the kept regions.
    ///
    /// A region is named from the training renders nearest to `reconstruction` in pose that
    /// look most like `image` around the region (the region itself left out: it is what
    /// differs), so a thin part the pose lookup places a few pixels off (the cap's notch, whose
    /// position only the notch itself shows) is found where the image has it. An empty
    /// `reconstruction` (a detector that runs no model) looks up the renders nearest to the
    /// image.
    pub fn localise(
        &self,
        image: &[f32],
        map: &[f32],
        reconstruction: &[f32],
        threshold: f32,
    ) -> (Vec<Region>, Vec<u8>) {
        let query = if reconstruction.is_empty() {
            image
        } else {
            reconstruction
        };
        self.localise_with(image, map, query, threshold, None)
    }

    /// [`localise`](Self::localise) with the renders nearest to `reconstruction` in pose,
    /// nearest first, when they are already known (from a map made with the renders); looked
    /// up otherwise.
    fn localise_with(
        &self,
        image: &[f32],
        map: &[f32],
        reconstruction: &[f32],
        threshold: f32,
        known_poses: Option<&[usize]>,
    ) -> (Vec<Region>, Vec<u8>) {
        let size = self.model.image_size();
        let (mut found, pixels, mask) = regions(map, size, threshold, self.min_area());
        if let Some(atlas) = &self.atlas
            && !found.is_empty()
        {
            let poses = match known_poses {
                Some(p) if p.len() >= NAMING_CANDIDATES => p[..NAMING_CANDIDATES].to_vec(),
                _ => atlas.nearest_k_shortlisted(reconstruction, NAMING_CANDIDATES),
            };
            for (region, pixels) in found.iter_mut().zip(&pixels) {
                let window = naming_window(region.bbox, size);
                if !poses.is_empty() {
                    let local =
                        atlas.best_local_matches(&poses, image, pixels, window, POSE_NEIGHBOURS);
                    let (id, name) = atlas.name_part(&local, pixels, map, window);
                    region.part_id = Some(id);
                    region.part = Some(name);
                }
            }
        }
        (found, mask)
    }

    /// Reads and inspects files; an unreadable or wrongly sized file gets an `error` report
    /// naming it, and the others are inspected as usual.
    pub fn inspect_paths(&self, paths: &[PathBuf]) -> Vec<ImageReport> {
        let (size, channels) = (self.model.image_size(), self.model.channels());
        let mut reports: Vec<Option<ImageReport>> = vec![None; paths.len()];
        let mut readable = Vec::new();
        let mut pixels = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let mapped = crate::imaging::decode_image(path).and_then(|image| {
                crate::imaging::map_image(&image, path, size, channels, self.settings.map_input)
            });
            match mapped.map(|(values, _)| values) {
                Ok(values) => {
                    readable.push(i);
                    pixels.extend(values);
                }
                Err(e) => {
                    reports[i] = Some(ImageReport::error(
                        Some(path.clone()),
                        self.score_kind(),
                        e.to_string(),
                    ));
                }
            }
        }
        let inspected = self.inspect_images(&pixels, readable.len(), None);
        for (i, mut report) in readable.into_iter().zip(inspected) {
            report.path = Some(paths[i].clone());
            reports[i] = Some(report);
        }
        reports.into_iter().flatten().collect()
    }
}

/// The largest finite value of a map (0 for an empty or non-finite one).
fn peak(map: &[f32]) -> f32 {
    map.iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f32::max)
}
