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
use super::types::{ClassMetrics, EvalReport, ImageResult, ModelEval, SweepPoint};
use crate::dataset::layout::{self, GOOD, Split};
use crate::dataset::{CheckError, Dataset};
use crate::fsio::{FolderLock, LockError};
use crate::imaging::{ImageError, image_values, mask_values};
use crate::inspect::descent::descend_budgets;
use crate::inspect::report::write_images;
use crate::inspect::score::image_score;
use crate::inspect::{
    DefectRule, InspectError, InspectorSettings, OpenOptions, Verdict, open_inspector,
};
use crate::metrics::{aupro, auroc, confusion, f1_max, pixel_auroc};

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

/// The test split in memory.
struct TestSet {
    paths: Vec<PathBuf>,
    classes: Vec<String>,
    /// Flat images, `image_len` values each.
    images: Vec<f32>,
    /// 0/1 per pixel; all zero for good images.
    masks: Vec<Vec<u8>>,
}

impl TestSet {
    fn load(dir: &Path, size: usize, channels: usize) -> Result<Self, EvalError> {
        let manifest_path = layout::manifest_path(dir);
        let dataset = Dataset::open(dir).map_err(|e| EvalError::Data {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let checked = |e: CheckError| EvalError::Data {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        let mut set = TestSet {
            paths: Vec::new(),
            classes: Vec::new(),
            images: Vec::new(),
            masks: Vec::new(),
        };
        for sample in dataset.manifest.samples_of(Split::Test) {
            let (image, path) = dataset.image(sample).map_err(checked)?;
            set.images
                .extend(image_values(&image, &path, size, channels)?);
            let mask = match dataset.mask(sample).map_err(checked)? {
                Some((mask, path)) => mask_values(&mask, &path, size)?,
                None => vec![0; size * size],
            };
            set.paths.push(PathBuf::from(&sample.image));
            set.classes.push(sample.id.class.clone());
            set.masks.push(mask);
        }
        if !set.classes.iter().any(|c| c == GOOD) || set.classes.iter().all(|c| c == GOOD) {
            return Err(EvalError::Data {
                path: manifest_path,
                message: "the test split needs both good and defective images".into(),
            });
        }
        Ok(set)
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
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for run in &options.runs {
        progress(EvalProgress::Opening { run: run.clone() });
        let mut name = model_name(run);
        let n = names.entry(name.clone()).or_default();
        *n += 1;
        if *n > 1 {
            name = format!("{name}-{n}");
        }
        models.push(evaluate_run(options, run, &name, device, progress, cancel)?);
    }
    progress(EvalProgress::Writing);
    let report = EvalReport {
        format: REPORT_FORMAT,
        data_dir: std::path::absolute(&options.data).unwrap_or_else(|_| options.data.clone()),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        models,
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
) -> Result<ModelEval, EvalError> {
    let open = OpenOptions {
        run_dir: run.to_path_buf(),
        data: options.calibration_data.clone(),
        settings: InspectorSettings {
            defect_rule: options.defect_rule,
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
    let inspector = &opened.inspector;
    let model = &inspector.model;
    let (size, channels) = (model.image_size(), model.channels());
    let test = TestSet::load(&options.data, size, channels)?;

    let main_budget = calibration.descent.max_iterations;
    let mut budgets = options.iterations.clone();
    budgets.push(main_budget);
    budgets.sort_unstable();
    budgets.dedup();
    let sweep = score_sweep(inspector, &test, &budgets, name, progress, cancel)?;

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
            time_budget(inspector, &test, budget, options.latency_samples);
        let mut metrics = vec![class_metrics(
            "all",
            &test,
            &sweep.scores[b],
            &sweep.maps[b],
            None,
            calibration.defect_threshold,
        )];
        for class in &classes {
            metrics.push(class_metrics(
                class,
                &test,
                &sweep.scores[b],
                &sweep.maps[b],
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
        sweep: points,
        images,
    })
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
            let maps = inspector.maps(images, &reconstructions, &settings.score);
            // Pixel metrics are of the map inspection localises with.
            let mut region_maps = region
                .map(|r| inspector.maps(images, &reconstructions, &r))
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
) -> (f64, f64, f64, f64) {
    let image_len = inspector.model.config.image_len();
    let mut timed = inspector.clone();
    timed.settings.descent.max_iterations = budget;
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
            iterations += report.first().map_or(0.0, |r| r.iterations as f64);
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
}
