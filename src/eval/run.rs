//! Running an evaluation: every test image of a dataset through one or more trained models,
//! at several descent-iteration budgets, into an [`EvalReport`].
//!
//! # How the sweep is measured
//! Scores for every budget come from one descent per image at the largest budget: the descent
//! keeps the best code found so far, so the result at budget `b` is the best of iterations
//! `0..=b`, which is exactly what a descent stopped at `b` returns. Early stopping still
//! applies (an image that stalls keeps its result for every larger budget), as on the line.
//! Latency cannot be read off a shared run, so it is measured separately per budget on a
//! subset of good and defective images, one image at a time (what one camera trigger costs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burn::tensor::Device;

use super::report::{ReportError, ReportFiles, write_report};
use super::types::{ClassMetrics, DetectorEval, EvalReport, ImageResult, ModelEval, SweepPoint};
use crate::dataset::layout::{self, GOOD, Split};
use crate::dataset::photos;
use crate::dataset::{CheckError, Dataset};
use crate::fsio::{FolderLock, LockError};
use crate::imaging::{ImageError, MapInput, decode_image, map_image, map_mask};
use crate::inspect::descent::descend_budgets;
use crate::inspect::photos::calibrate_on_photos;
use crate::inspect::report::write_images;
use crate::inspect::score::image_score;
use crate::inspect::{
    DefectRule, InspectError, InspectorSettings, OpenOptions, Verdict, open_inspector,
};
use crate::metrics::{aupro, auroc, confusion, f1_max, pixel_auroc};
use image::GenericImageView;

pub const REPORT_FORMAT: u32 = 1;
/// AUPRO integrates the overlap curve up to this false-positive rate.
pub const AUPRO_MAX_FPR: f64 = 0.3;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Training runs; the first is the main model, a second is compared with it.
    pub runs: Vec<PathBuf>,
    /// A dataset with a `test` split (the held-out evaluation recipe's output).
    pub data: PathBuf,
    /// Where thresholds are fitted when a run has no matching calibration (validation split).
    pub calibration_data: Option<PathBuf>,
    /// Descent budgets to sweep; the model's calibrated budget is always added.
    pub iterations: Vec<usize>,
    pub out: PathBuf,
    /// Good and defective images (each) timed per budget.
    pub latency_samples: usize,
    /// Worst false positives and false negatives kept per model.
    pub gallery: usize,
    /// How each model's defect threshold is set (the calibration's good validation scores are
    /// re-thresholded; nothing is refit for it unless the file predates them).
    pub defect_rule: DefectRule,
    /// How test images of another size or colour are brought to the model's input.
    pub map_input: MapInput,
    /// Good photos to refit each model's review and defect thresholds on (its detector and
    /// maps are kept), stored as `RUN_DIR/calibration-photos.json`.
    pub calibrate_good: Option<PathBuf>,
}

/// Progress, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalProgress {
    Opening {
        run: PathBuf,
    },
    Scoring {
        model: String,
        done: usize,
        total: usize,
    },
    Timing {
        model: String,
        iterations: usize,
    },
    Writing,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("evaluation was cancelled")]
    Cancelled,
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// How test images are read: the model's input and the rule that maps others to it.
struct Reading {
    size: usize,
    channels: usize,
    rule: MapInput,
}

impl Reading {
    /// An image's values and its mask (all zero without one), mapped alike.
    fn map(
        &self,
        image: &image::DynamicImage,
        path: &Path,
        mask: Option<(image::DynamicImage, PathBuf)>,
    ) -> Result<(Vec<f32>, Vec<u8>), EvalError> {
        let (values, crop) = map_image(image, path, self.size, self.channels, self.rule)?;
        let mask = match mask {
            Some((mask, mask_path)) => map_mask(
                &mask,
                &mask_path,
                self.size,
                crop.as_ref(),
                image.dimensions(),
            )?,
            None => vec![0; self.size * self.size],
        };
        Ok((values, mask))
    }
}

/// The test split in memory.
struct TestSet {
    paths: Vec<PathBuf>,
    classes: Vec<String>,
    /// Flat images, `image_len` values each.
    images: Vec<f32>,
    /// 0/1 per pixel; all zero for good images.
    masks: Vec<Vec<u8>>,
    /// Whether the image's mask is known (good images: all zero; a defective photo without a
    /// mask file: unknown, left out of the pixel metrics).
    has_mask: Vec<bool>,
    /// The parts each defect may be named after and be right, as the manifest records them
    /// (empty when unknown: good images, photos).
    defect_parts: Vec<Vec<String>>,
}

impl TestSet {
    /// The test split of a dataset, or of an MVTec AD folder of photos without a manifest,
    /// each image brought to the model's input by `rule`.
    fn load(dir: &Path, size: usize, channels: usize, rule: MapInput) -> Result<Self, EvalError> {
        let mut set = TestSet {
            paths: Vec::new(),
            classes: Vec::new(),
            images: Vec::new(),
            masks: Vec::new(),
            has_mask: Vec::new(),
            defect_parts: Vec::new(),
        };
        let reading = Reading {
            size,
            channels,
            rule,
        };
        let where_ = if photos::is_photo_folder(dir) {
            set.load_photos(dir, &reading)?;
            dir.join("test")
        } else {
            set.load_dataset(dir, &reading)?;
            layout::manifest_path(dir)
        };
        if !set.classes.iter().any(|c| c == GOOD) || set.classes.iter().all(|c| c == GOOD) {
            return Err(EvalError::Data {
                path: where_,
                message: "the test split needs both good and defective images".into(),
            });
        }
        Ok(set)
    }

    fn load_dataset(&mut self, dir: &Path, reading: &Reading) -> Result<(), EvalError> {
        let dataset = Dataset::open(dir).map_err(|e| EvalError::Data {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let checked = |e: CheckError| EvalError::Data {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        for sample in dataset.manifest.samples_of(Split::Test) {
            let (image, path) = dataset.image(sample).map_err(checked)?;
            let mask = dataset.mask(sample).map_err(checked)?;
            let (values, mask) = reading.map(&image, &path, mask)?;
            self.images.extend(values);
            self.paths.push(PathBuf::from(&sample.image));
            self.classes.push(sample.id.class.clone());
            self.masks.push(mask);
            self.has_mask.push(true);
            self.defect_parts.push(sample.parts_named_right());
        }
        Ok(())
    }

    fn load_photos(&mut self, dir: &Path, reading: &Reading) -> Result<(), EvalError> {
        let listed = photos::test_photos(dir).map_err(|e| EvalError::Data {
            path: e.path,
            message: e.message,
        })?;
        for photo in listed {
            let image = decode_image(&photo.path)?;
            let mask = match &photo.mask {
                Some(path) => Some((decode_image(path)?, path.clone())),
                None => None,
            };
            let (values, mask) = reading.map(&image, &photo.path, mask)?;
            self.images.extend(values);
            self.paths.push(PathBuf::from(&photo.relative));
            self.has_mask
                .push(photo.class == GOOD || photo.mask.is_some());
            self.classes.push(photo.class);
            self.masks.push(mask);
            self.defect_parts.push(Vec::new());
        }
        Ok(())
    }

    /// Defective images without a mask (left out of the pixel metrics).
    fn unmasked(&self) -> usize {
        (0..self.len())
            .filter(|&i| self.classes[i] != GOOD && !self.has_mask[i])
            .count()
    }

    fn len(&self) -> usize {
        self.classes.len()
    }

    fn defect_classes(&self) -> Vec<String> {
        let mut classes: Vec<String> = self
            .classes
            .iter()
            .filter(|c| *c != GOOD)
            .cloned()
            .collect();
        classes.sort();
        classes.dedup();
        classes
    }
}

/// Scores and maps of every test image at every budget of a sweep.
struct SweepScores {
    /// `[budget][image]`.
    scores: Vec<Vec<f32>>,
    maps: Vec<Vec<Vec<f32>>>,
    /// The part named for the strongest region, `[budget][image]`, when the sweep ran the
    /// whole inspection (empty otherwise).
    parts: Vec<Vec<Option<String>>>,
    /// Iterations each image used at the largest budget.
    iterations: Vec<usize>,
    /// Each image's share of its batch's wall time, in milliseconds.
    time_ms: Vec<f64>,
}

/// Evaluates every run of `options` and writes the report.
pub fn evaluate(
    options: &EvalOptions,
    device: &Device,
    progress: &mut dyn FnMut(EvalProgress),
    cancel: &AtomicBool,
) -> Result<(EvalReport, ReportFiles), EvalError> {
    std::fs::create_dir_all(&options.out).map_err(|e| EvalError::Data {
        path: options.out.clone(),
        message: format!("cannot create the report folder: {e}"),
    })?;
    // One evaluation writes a report folder at a time.
    let _lock = FolderLock::acquire(&options.out, "eval")?;
    let mut models = Vec::new();
    let mut notes = vec![format!("input mapping: {}", options.map_input.describe())];
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for run in &options.runs {
        progress(EvalProgress::Opening { run: run.clone() });
        let mut name = model_name(run);
        let n = names.entry(name.clone()).or_default();
        *n += 1;
        if *n > 1 {
            name = format!("{name}-{n}");
        }
        models.push(evaluate_run(
            options, run, &name, device, progress, cancel, &mut notes,
        )?);
    }
    progress(EvalProgress::Writing);
    let report = EvalReport {
        format: REPORT_FORMAT,
        data_dir: std::path::absolute(&options.data).unwrap_or_else(|_| options.data.clone()),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        models,
        notes,
    };
    let files = write_report(&report, &options.out)?;
    Ok((report, files))
}

fn model_name(run: &Path) -> String {
    run.file_name()
        .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned())
}

fn evaluate_run(
    options: &EvalOptions,
    run: &Path,
    name: &str,
    device: &Device,
    progress: &mut dyn FnMut(EvalProgress),
    cancel: &AtomicBool,
    notes: &mut Vec<String>,
) -> Result<ModelEval, EvalError> {
    let open = OpenOptions {
        run_dir: run.to_path_buf(),
        data: options.calibration_data.clone(),
        settings: InspectorSettings {
            defect_rule: options.defect_rule,
            map_input: options.map_input,
            ..InspectorSettings::default()
        },
        recalibrate: false,
        save_calibration: true,
    };
    let mut opened = open_inspector(&open, device)?;
    // Inspect with exactly the settings the thresholds were fitted with.
    let Some(calibration) = opened.inspector.calibration.clone() else {
        return Err(EvalError::Data {
            path: run.to_path_buf(),
            message: "the run has no calibration".into(),
        });
    };
    opened.inspector.settings.descent = calibration.descent;
    opened.inspector.settings.score = calibration.score;
    // A folder of photos (no manifest): each photo's refinement searches where its picture
    // sits, its zoom and its exposure, as a camera's pictures need.
    if photos::is_photo_folder(&options.data) {
        opened.inspector.set_photo_input(true);
    }
    // The good photos are scored with those same settings; they may choose another of the
    // measured detectors, whose own map and descent the evaluation then uses.
    let calibration = match &options.calibrate_good {
        Some(photos) => {
            let note = calibrate_on_photos(&mut opened.inspector, run, photos, true)?;
            notes.push(format!("{name}: {note}"));
            let adopted = opened.inspector.calibration.clone().unwrap_or(calibration);
            opened.inspector.settings.descent = adopted.descent;
            opened.inspector.settings.score = adopted.score;
            adopted
        }
        None => calibration,
    };
    let inspector = &opened.inspector;
    let model = &inspector.model;
    let (size, channels) = (model.image_size(), model.channels());
    let test = TestSet::load(&options.data, size, channels, options.map_input)?;
    let unmasked = test.unmasked();
    if unmasked > 0 && !notes.iter().any(|n| n.starts_with("masks:")) {
        let defective = test.classes.iter().filter(|c| *c != GOOD).count();
        notes.push(format!(
            "masks: {unmasked} of {defective} defective test images have no mask; pixel AUROC and \
             AUPRO use the good images and the {} masked ones only",
            defective - unmasked
        ));
    }

    // A detector that renders the product sweeps its pose refinement's budget, through the
    // whole inspection (parts named at every budget); one that only runs the model sweeps
    // the descent from one descent per image.
    let rendered = calibration.needs_synthesis();
    let main_budget = if rendered {
        inspector.refine_rounds()
    } else {
        calibration.descent.max_iterations
    };
    let mut budgets = options.iterations.clone();
    budgets.push(main_budget);
    budgets.sort_unstable();
    budgets.dedup();
    let sweep = if rendered {
        inspection_sweep(inspector, &test, &budgets, name, progress, cancel)?
    } else {
        score_sweep(inspector, &test, &budgets, name, progress, cancel)?
    };

    // Latency is timed in the line's steady state: every training render a pose-normalised
    // map may compare with is already reconstructed.
    inspector.warm_up();
    let classes = test.defect_classes();
    let mut points = Vec::new();
    for (b, &budget) in budgets.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(EvalError::Cancelled);
        }
        progress(EvalProgress::Timing {
            model: name.to_string(),
            iterations: budget,
        });
        let (ms_good, ms_defective, it_good, it_defective) =
            time_budget(inspector, &test, budget, options.latency_samples, rendered);
        let parts = sweep.parts.get(b).map(Vec::as_slice);
        let mut metrics = vec![class_metrics(
            "all",
            &test,
            &sweep.scores[b],
            &sweep.maps[b],
            parts,
            None,
            calibration.defect_threshold,
        )];
        for class in &classes {
            metrics.push(class_metrics(
                class,
                &test,
                &sweep.scores[b],
                &sweep.maps[b],
                parts,
                Some(class),
                calibration.defect_threshold,
            ));
        }
        points.push(SweepPoint {
            iterations: budget,
            classes: metrics,
            mean_ms_good: ms_good,
            mean_ms_defective: ms_defective,
            mean_iterations_good: it_good,
            mean_iterations_defective: it_defective,
        });
    }

    let main = budgets.iter().position(|&b| b == main_budget).unwrap_or(0);
    let mut images: Vec<ImageResult> = (0..test.len())
        .map(|i| ImageResult {
            path: test.paths[i].clone(),
            class: test.classes[i].clone(),
            score: sweep.scores[main][i],
            verdict: calibration.verdict(sweep.scores[main][i]).to_string(),
            iterations: sweep.iterations[i].min(main_budget),
            time_ms: sweep.time_ms[i],
            part: None,
            overlay: None,
        })
        .collect();
    write_gallery(inspector, &test, &mut images, options, name)?;
    let detectors = detector_evals(inspector, &test, &calibration, cancel)?;

    Ok(ModelEval {
        name: name.to_string(),
        run_dir: run.to_path_buf(),
        model_kind: format!("{:?}", model.kind),
        checkpoint_step: model.step,
        score_kind: calibration.scoring_name(),
        review_threshold: calibration.review_threshold,
        defect_threshold: calibration.defect_threshold,
        defect_rule: calibration.defect_rule.to_string(),
        main_iterations: main_budget,
        budget: if rendered {
            "refinement rounds"
        } else {
            "descent iterations"
        }
        .to_string(),
        sweep: points,
        images,
        detectors,
    })
}

/// The whole inspection of every test image at each refinement budget: scores, the maps
/// regions are cut from, and the part named for the strongest region.
fn inspection_sweep(
    inspector: &crate::inspect::Inspector,
    test: &TestSet,
    budgets: &[usize],
    name: &str,
    progress: &mut dyn FnMut(EvalProgress),
    cancel: &AtomicBool,
) -> Result<SweepScores, EvalError> {
    let image_len = inspector.model.config.image_len();
    let n = test.len();
    let mut out = SweepScores {
        scores: vec![vec![f32::NAN; n]; budgets.len()],
        maps: vec![vec![Vec::new(); n]; budgets.len()],
        parts: vec![vec![None; n]; budgets.len()],
        iterations: vec![0; n],
        time_ms: vec![0.0; n],
    };
    let batch = inspector.settings.descent.batch_size.max(1);
    let largest = budgets.iter().copied().max().unwrap_or(0);
    for (b, &budget) in budgets.iter().enumerate() {
        let mut at = inspector.clone();
        at.settings.refine_rounds = budget;
        at.settings.choose_budget = false;
        let mut first = 0;
        while first < n {
            if cancel.load(Ordering::Relaxed) {
                return Err(EvalError::Cancelled);
            }
            progress(EvalProgress::Scoring {
                model: format!("{name} at {budget} rounds"),
                done: first,
                total: n,
            });
            let count = batch.min(n - first);
            let images = &test.images[first * image_len..(first + count) * image_len];
            for (i, report) in at
                .inspect_images(images, count, None)
                .into_iter()
                .enumerate()
            {
                let k = first + i;
                out.scores[b][k] = report.score;
                out.parts[b][k] = report.regions.first().and_then(|r| r.part.clone());
                if budget == largest {
                    out.iterations[k] = report.refine_rounds.unwrap_or(report.iterations);
                    out.time_ms[k] = report.time_ms;
                }
                out.maps[b][k] = report.map;
            }
            first += count;
        }
    }
    progress(EvalProgress::Scoring {
        model: name.to_string(),
        done: n,
        total: n,
    });
    Ok(out)
}

/// Every detector calibration measured, each on its own at its calibrated budget, on the
/// same test images: image AUROC per class. One descent and one refinement per image serve
/// them all.
fn detector_evals(
    inspector: &crate::inspect::Inspector,
    test: &TestSet,
    calibration: &crate::inspect::Calibration,
    cancel: &AtomicBool,
) -> Result<Vec<DetectorEval>, EvalError> {
    if calibration.detectors.is_empty() {
        return Ok(Vec::new());
    }
    let image_len = inspector.model.config.image_len();
    let n = test.len();
    let batch = inspector.settings.descent.batch_size.max(1);
    let mut scores: Vec<Vec<f32>> = vec![Vec::with_capacity(n); calibration.detectors.len()];
    // Each detector's (first) map of every image, for its pixel AUROC.
    let mut detector_maps: Vec<Vec<Vec<f32>>> =
        vec![Vec::with_capacity(n); calibration.detectors.len()];
    let mut first = 0;
    while first < n {
        if cancel.load(Ordering::Relaxed) {
            return Err(EvalError::Cancelled);
        }
        let count = batch.min(n - first);
        let images = &test.images[first * image_len..(first + count) * image_len];
        let batch_scores = inspector.detector_scores(images, count, calibration, None);
        for (d, (s, m)) in batch_scores
            .scores
            .into_iter()
            .zip(batch_scores.maps)
            .enumerate()
        {
            scores[d].extend(s);
            detector_maps[d].extend(m);
        }
        first += count;
    }
    let mut classes = vec!["all".to_string()];
    classes.extend(test.defect_classes());
    Ok(calibration
        .detectors
        .iter()
        .zip(scores)
        .zip(detector_maps)
        .map(|((detector, scores), maps)| {
            let good: Vec<f32> = (0..n)
                .filter(|&i| test.classes[i] == GOOD)
                .map(|i| scores[i])
                .collect();
            let per_class = classes
                .iter()
                .map(|class| {
                    let bad: Vec<f32> = (0..n)
                        .filter(|&i| {
                            test.classes[i] != GOOD && (class == "all" || &test.classes[i] == class)
                        })
                        .map(|i| scores[i])
                        .collect();
                    (class.clone(), auroc(&good, &bad))
                })
                .collect();
            let pixel = classes
                .iter()
                .map(|class| (class.clone(), masked_pixel_auroc(test, &maps, class)))
                .collect();
            let scoring = match &detector.fusion {
                Some(f) => format!(
                    "{} {} + {} {}",
                    detector.score.map_name(),
                    detector.score_kind.as_str(),
                    f.second.map_name(),
                    f.second_kind.as_str()
                ),
                None => format!(
                    "{} {}",
                    detector.score.map_name(),
                    detector.score_kind.as_str()
                ),
            };
            DetectorEval {
                name: detector.name.clone(),
                scoring,
                criterion: detector.criterion,
                chosen: detector.score == calibration.score
                    && detector.score_kind == calibration.score_kind
                    && detector.fusion == calibration.fusion,
                classes: per_class,
                pixel,
            }
        })
        .collect())
}

/// Pixel AUROC of `maps` over the good images and the masked images of `class` (`all`: every
/// defect class); `None` when no pixel is marked defective.
fn masked_pixel_auroc(test: &TestSet, maps: &[Vec<f32>], class: &str) -> Option<f64> {
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    for (i, map) in maps.iter().enumerate() {
        let wanted = test.classes[i] == GOOD || class == "all" || test.classes[i] == class;
        if !wanted || !test.has_mask[i] || map.len() != test.masks[i].len() {
            continue;
        }
        scores.extend(
            map.iter()
                .map(|v| if v.is_finite() { *v } else { f32::INFINITY }),
        );
        labels.extend(test.masks[i].iter().map(|&m| m > 0));
    }
    labels
        .iter()
        .any(|&l| l)
        .then(|| pixel_auroc(&scores, &labels))
}

/// One descent per image at the largest budget, snapshotting the best result at each budget.
fn score_sweep(
    inspector: &crate::inspect::Inspector,
    test: &TestSet,
    budgets: &[usize],
    name: &str,
    progress: &mut dyn FnMut(EvalProgress),
    cancel: &AtomicBool,
) -> Result<SweepScores, EvalError> {
    let model = &inspector.model;
    let image_len = model.config.image_len();
    let settings = &inspector.settings;
    let kind = inspector
        .calibration
        .as_ref()
        .map_or(settings.default_score_kind, |c| c.score_kind);
    let region = inspector.calibration.as_ref().and_then(|c| c.region_map);
    let max_budget = budgets.iter().copied().max().unwrap_or(0);
    let mut config = settings.descent;
    config.max_iterations = max_budget;
    let n = test.len();
    let mut out = SweepScores {
        scores: vec![vec![f32::NAN; n]; budgets.len()],
        maps: vec![vec![Vec::new(); n]; budgets.len()],
        parts: Vec::new(),
        iterations: vec![0; n],
        time_ms: vec![0.0; n],
    };
    let batch = config.batch_size.max(1);
    let mut first = 0;
    while first < n {
        if cancel.load(Ordering::Relaxed) {
            return Err(EvalError::Cancelled);
        }
        progress(EvalProgress::Scoring {
            model: name.to_string(),
            done: first,
            total: n,
        });
        let count = batch.min(n - first);
        let images = &test.images[first * image_len..(first + count) * image_len];
        let started = Instant::now();
        let results = descend_budgets(model, images, count, &config, budgets, None);
        let share = started.elapsed().as_secs_f64() * 1000.0 / count as f64;
        for (b, at_budget) in results.iter().take(budgets.len()).enumerate() {
            let reconstructions: Vec<&[f32]> = at_budget
                .iter()
                .map(|r| r.reconstruction.as_slice())
                .collect();
            // Through the same maps inspection makes: a lookup map compares with the training
            // renders, not with the model's reconstruction.
            let references: Vec<crate::inspect::synthesis::References<'_>> = reconstructions
                .iter()
                .map(|r| crate::inspect::synthesis::References {
                    reconstruction: Some(r),
                    synthesis: None,
                })
                .collect();
            let maps = inspector.maps_against(images, &references, &settings.score);
            // Pixel metrics are of the map inspection localises with.
            let mut region_maps = region
                .map(|r| inspector.maps_against(images, &references, &r))
                .map(Vec::into_iter);
            for (i, (result, map)) in at_budget.iter().zip(maps).enumerate() {
                out.scores[b][first + i] = image_score(kind, result.loss, &map, &settings.score);
                out.maps[b][first + i] =
                    region_maps.as_mut().and_then(Iterator::next).unwrap_or(map);
            }
        }
        if let Some(full) = results.last() {
            for (i, result) in full.iter().enumerate() {
                out.iterations[first + i] = result.iterations;
                out.time_ms[first + i] = share;
            }
        }
        first += count;
    }
    progress(EvalProgress::Scoring {
        model: name.to_string(),
        done: n,
        total: n,
    });
    Ok(out)
}

/// Mean per-image latency (ms) and iterations used, good and defective, one image at a time.
fn time_budget(
    inspector: &crate::inspect::Inspector,
    test: &TestSet,
    budget: usize,
    samples: usize,
    rendered: bool,
) -> (f64, f64, f64, f64) {
    let image_len = inspector.model.config.image_len();
    let mut timed = inspector.clone();
    if rendered {
        timed.settings.refine_rounds = budget;
        timed.settings.choose_budget = false;
    } else {
        timed.settings.descent.max_iterations = budget;
    }
    timed.settings.descent.batch_size = 1;
    let measure = |good: bool| {
        let picks: Vec<usize> = (0..test.len())
            .filter(|&i| (test.classes[i] == GOOD) == good)
            .take(samples)
            .collect();
        if picks.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        let (mut ms, mut iterations) = (0.0, 0.0);
        for &i in &picks {
            let image = &test.images[i * image_len..(i + 1) * image_len];
            let started = Instant::now();
            let report = timed.inspect_images(image, 1, None);
            ms += started.elapsed().as_secs_f64() * 1000.0;
            iterations += report
                .first()
                .map_or(0.0, |r| r.refine_rounds.unwrap_or(r.iterations) as f64);
        }
        (ms / picks.len() as f64, iterations / picks.len() as f64)
    };
    let (ms_good, it_good) = measure(true);
    let (ms_defective, it_defective) = measure(false);
    (ms_good, ms_defective, it_good, it_defective)
}

fn class_metrics(
    label: &str,
    test: &TestSet,
    scores: &[f32],
    maps: &[Vec<f32>],
    parts: Option<&[Option<String>]>,
    class: Option<&String>,
    threshold: f32,
) -> ClassMetrics {
    let chosen = |i: usize| match class {
        Some(c) => test.classes[i] == GOOD || &test.classes[i] == c,
        None => true,
    };
    let (mut good, mut defective) = (Vec::new(), Vec::new());
    let (mut pixel_scores, mut pixel_labels) = (Vec::new(), Vec::new());
    let (mut region_maps, mut region_masks) = (Vec::new(), Vec::new());
    for i in (0..test.len()).filter(|&i| chosen(i)) {
        if test.classes[i] == GOOD {
            good.push(scores[i]);
        } else {
            defective.push(scores[i]);
        }
        if !test.has_mask[i] {
            continue;
        }
        pixel_scores.extend(
            maps[i]
                .iter()
                .map(|v| if v.is_finite() { *v } else { f32::INFINITY }),
        );
        pixel_labels.extend(test.masks[i].iter().map(|&m| m > 0));
        region_maps.push(maps[i].as_slice());
        region_masks.push(test.masks[i].as_slice());
    }
    let size = (test.masks.first().map_or(0, Vec::len) as f64).sqrt() as usize;
    let has_masks = pixel_labels.iter().any(|&l| l);
    let (f1, f1_threshold) = f1_max(&good, &defective);
    // Named right: the strongest region's part is one the defect changes (the part it was put
    // on, or the other side of the edge it sits on).
    let part_named = parts.and_then(|parts| {
        let judged: Vec<bool> = (0..test.len())
            .filter(|&i| chosen(i) && test.classes[i] != GOOD)
            .filter_map(|i| {
                let truth = &test.defect_parts[i];
                let named = parts.get(i).and_then(Option::as_ref);
                (!truth.is_empty()).then(|| named.is_some_and(|n| truth.contains(n)))
            })
            .collect();
        (!judged.is_empty())
            .then(|| judged.iter().filter(|&&b| b).count() as f64 / judged.len() as f64)
    });
    ClassMetrics {
        class: label.to_string(),
        defective: defective.len(),
        good: good.len(),
        image_auroc: auroc(&good, &defective),
        pixel_auroc: has_masks.then(|| pixel_auroc(&pixel_scores, &pixel_labels)),
        aupro: has_masks.then(|| aupro(&region_maps, &region_masks, size, AUPRO_MAX_FPR)),
        f1_max: f1,
        f1_max_threshold: f1_threshold,
        at_calibrated: confusion(&good, &defective, threshold),
        part_named,
    }
}

/// Overlays of the worst false positives (good, highest scores) and false negatives
/// (defective, lowest scores) at the main budget, under `OUT/gallery/<model>/`.
fn write_gallery(
    inspector: &crate::inspect::Inspector,
    test: &TestSet,
    images: &mut [ImageResult],
    options: &EvalOptions,
    name: &str,
) -> Result<(), EvalError> {
    let mut good: Vec<usize> = (0..images.len())
        .filter(|&i| images[i].class == GOOD)
        .collect();
    let mut bad: Vec<usize> = (0..images.len())
        .filter(|&i| images[i].class != GOOD)
        .collect();
    good.sort_by(|&a, &b| images[b].score.total_cmp(&images[a].score));
    bad.sort_by(|&a, &b| images[a].score.total_cmp(&images[b].score));
    let picks: Vec<usize> = good
        .into_iter()
        .take(options.gallery)
        .chain(bad.into_iter().take(options.gallery))
        .collect();
    if picks.is_empty() {
        return Ok(());
    }
    let model = &inspector.model;
    let (size, channels) = (model.image_size(), model.channels());
    let image_len = model.config.image_len();
    let pixels: Vec<f32> = picks
        .iter()
        .flat_map(|&i| {
            test.images[i * image_len..(i + 1) * image_len]
                .iter()
                .copied()
        })
        .collect();
    let reports = inspector.inspect_images(&pixels, picks.len(), None);
    let relative = PathBuf::from("gallery").join(name);
    let dir = options.out.join(&relative);
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::Data {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let threshold = inspector
        .calibration
        .as_ref()
        .map_or(f32::INFINITY, |c| c.pixel_threshold);
    for (&i, report) in picks.iter().zip(&reports) {
        let stem = format!("{:04}-{}", i, images[i].class);
        if report.verdict == Verdict::Error {
            continue;
        }
        let written = write_images(report, size, channels, threshold, &dir, &stem)?;
        images[i].part = report.regions.first().and_then(|r| r.part.clone());
        images[i].overlay = written.overlay.file_name().map(|f| relative.join(f));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_come_from_the_run_directory() {
        assert_eq!(model_name(Path::new("/runs/gan")), "gan");
        assert_eq!(model_name(Path::new("/")), "model");
    }

    #[test]
    fn a_region_is_named_right_on_either_side_of_the_edge_a_defect_sits_on() {
        // A good image, a chip on the rim (wall and base), a chip that named the dome, and a
        // dent on the dome from a manifest that records its part alone.
        let owned = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let test = TestSet {
            paths: vec![PathBuf::new(); 4],
            classes: owned(&[GOOD, "chip", "chip", "dent"]),
            images: vec![0.0; 4],
            masks: vec![vec![0]; 4],
            has_mask: vec![true; 4],
            defect_parts: vec![
                Vec::new(),
                owned(&["wall", "base"]),
                owned(&["wall", "base"]),
                owned(&["dome"]),
            ],
        };
        let named = [None, Some("base"), Some("dome"), Some("dome")].map(|p| p.map(String::from));
        let maps = vec![vec![0.0]; 4];
        let scores = [0.0, 1.0, 1.0, 1.0];
        let all = class_metrics("all", &test, &scores, &maps, Some(&named), None, 0.5);
        assert_eq!(all.part_named, Some(2.0 / 3.0));
        let chip = "chip".to_string();
        let chips = class_metrics(
            "chip",
            &test,
            &scores,
            &maps,
            Some(&named),
            Some(&chip),
            0.5,
        );
        assert_eq!(chips.part_named, Some(0.5));
    }
}
