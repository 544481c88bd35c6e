//! Opening a trained run for inspection: the model, its calibration (fitted when missing or
//! stale) and the part atlas. Shared by `unseen inspect`, `unseen eval` and the workbench.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::calibrate::BUDGET_MARGIN;
use super::calibration::{CALIBRATION_FORMAT, Calibration};
use super::descent::DescentConfig;
use super::localise::PartAtlas;
use super::model::{InspectError, InspectModel};
use super::pipeline::{Inspector, InspectorSettings};
use crate::fsio::{FileKind, read_bounded, sha256_hex};
use crate::refine::Synthesizer;

/// What to open.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub run_dir: PathBuf,
    /// The training dataset: its validation split calibrates, its part maps name parts. When
    /// absent, the one the stored calibration names is used.
    pub data: Option<PathBuf>,
    pub settings: InspectorSettings,
    /// Refit the thresholds even when a matching calibration exists.
    pub recalibrate: bool,
    /// Write a newly fitted calibration to `RUN_DIR/calibration.json`.
    pub save_calibration: bool,
}

/// An opened run, and what happened on the way (for the user to read).
#[derive(Debug)]
pub struct Opened {
    pub inspector: Inspector,
    pub notes: Vec<String>,
    /// The dataset used for calibration and part names.
    pub data: Option<PathBuf>,
}

/// Whether two descent settings give the same scores (the batch size and the time limit do
/// not change them; the target loss is fitted by calibration, not set).
pub fn same_scoring(a: &DescentConfig, b: &DescentConfig) -> bool {
    let neutral = |c: &DescentConfig| DescentConfig {
        batch_size: 0,
        time_limit_ms: None,
        target_loss: None,
        ..*c
    };
    neutral(a) == neutral(b)
}

/// Whether `calibration` was fitted for `settings`: the same descent (with the budget chosen
/// from the same ceiling, when calibration chooses it) and the same target quantile.
pub fn fitted_for(calibration: &Calibration, settings: &InspectorSettings) -> bool {
    let descent = if settings.choose_budget {
        if calibration.budget_ceiling != Some(settings.descent.max_iterations) {
            return false;
        }
        DescentConfig {
            max_iterations: calibration.descent.max_iterations,
            ..settings.descent
        }
    } else {
        settings.descent
    };
    same_scoring(&calibration.descent, &descent)
        && calibration.good_stop_quantile == settings.good_stop_quantile
}

/// Loads the model of `options.run_dir` on `device`, then its calibration: the stored one when
/// it matches the checkpoint and the descent settings, otherwise a new fit on the validation
/// split of the dataset. Without any calibration the run cannot judge images, which is an error.
pub fn open_inspector(options: &OpenOptions, device: &Device) -> Result<Opened, InspectError> {
    let refuse = |message: String| InspectError::Invalid {
        path: options.run_dir.clone(),
        message,
    };
    options
        .settings
        .descent
        .validate()
        .map_err(|m| refuse(format!("descent settings: {m}")))?;
    options
        .settings
        .score
        .validate()
        .map_err(|m| refuse(format!("map settings: {m}")))?;
    if let Some(q) = options.settings.good_stop_quantile
        && !(q.is_finite() && q > 0.0 && q < 1.0)
    {
        return Err(refuse(format!(
            "the stopping quantile must be in (0, 1), got {q}"
        )));
    }
    let model = InspectModel::load(&options.run_dir, device)?;
    let mut notes = vec![format!(
        "model {} (step {})",
        model.checkpoint.display(),
        model.step
    )];
    let mut inspector = Inspector::new(model, options.settings);
    let calibration_path = Calibration::path(&options.run_dir);
    let existing = if calibration_path.exists() {
        match Calibration::load(&calibration_path) {
            Ok(c) => Some(c),
            // A damaged or hand-edited file is refit when the dataset is given.
            Err(e) if options.data.is_some() => {
                notes.push(format!("{e}: fitting a new calibration"));
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let data = options
        .data
        .clone()
        .or_else(|| existing.as_ref().and_then(|c| c.data_dir.clone()));
    // The training renders name parts and make pose-normalised maps and maps against the
    // renders, so calibration may choose those: loaded first.
    if let Some(dir) = &data {
        match PartAtlas::load(dir) {
            Ok(atlas) => {
                if let Err(e) = inspector.set_atlas(Some(atlas)) {
                    notes.push(format!(
                        "warning: {e} ({}): regions get no part names, and no map can use the training renders",
                        dir.display()
                    ));
                }
            }
            Err(e) => notes.push(format!(
                "warning: regions get no part names, and no map can use the training renders: {e}"
            )),
        }
    }
    // The good product of that dataset, to render at each image's pose: maps against it
    // become possible (and part names from the part map rendered with it).
    if let Some(dir) = &data {
        match crate::render::Gpu::headless()
            .map_err(|e| e.to_string())
            .and_then(|gpu| Synthesizer::open(dir, gpu).map_err(|e| e.to_string()))
        {
            Ok(synthesizer) => {
                if let Err(e) = inspector.set_synthesizer(Some(synthesizer)) {
                    notes.push(format!(
                        "warning: {e} ({}): images cannot be compared with the rendered product",
                        dir.display()
                    ));
                }
            }
            Err(e) => notes.push(format!(
                "warning: images cannot be compared with the rendered product: {e}"
            )),
        }
    }
    // A calibration whose maps use its own dataset's renders (pose-normalised, against the
    // renders, the lookup or the rendered product): with another dataset its thresholds no
    // longer apply.
    let other_renders = |c: &Calibration| {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        (c.needs_renders() || c.needs_synthesis())
            && match (&data, &c.data_dir) {
                (Some(now), Some(then)) => absolute(now) != absolute(then),
                _ => false,
            }
    };
    let rule = options.settings.defect_rule;
    // The stored calibration under the asked rule: as it is when it already follows it,
    // re-thresholded from its good validation scores otherwise (`None` when it keeps none).
    let under_rule = |c: &Calibration| {
        if c.defect_rule == rule {
            Some(c.clone())
        } else {
            c.with_rule(rule)
        }
    };
    let synthesis_at_hand = inspector.synthesizer().is_some();
    let dataset_sha256 = data.as_deref().and_then(manifest_sha256);
    // Why the stored calibration cannot judge this model with these settings, in words.
    let mismatches = |c: &Calibration| {
        let mut why = match &c.model {
            Some(binding) => binding.mismatches(&inspector.model, dataset_sha256.as_deref()),
            None => {
                vec!["it records no checkpoint hash to tie it to this model (an older file)".into()]
            }
        };
        if !fitted_for(c, &options.settings) {
            why.push("it was fitted with other descent or map settings".into());
        }
        if other_renders(c) {
            why.push("its maps use another dataset's training renders".into());
        }
        // Written before the rendered comparison could be measured, or measured under
        // another refinement ceiling: with the scene at hand it is fitted anew.
        if synthesis_at_hand && c.format < CALIBRATION_FORMAT {
            why.push("it predates the comparison with the rendered product".into());
        }
        // Fitted with another refinement (before an upgrade changed its levels of detail):
        // the retry loss and the budget were measured on other poses.
        let levels = inspector.synthesizer().map(|s| &s.settings.levels);
        if c.needs_synthesis()
            && let (Some(now), Some(then)) = (levels, &c.refine)
            && then.levels.as_ref() != Some(now)
        {
            why.push("it was fitted with another refinement (its levels of detail differ)".into());
        }
        if options.settings.choose_budget
            && c.refine
                .as_ref()
                .is_some_and(|r| r.ceiling != options.settings.refine_rounds)
        {
            why.push("its refinement budget was chosen under another ceiling".into());
        }
        // Another defect rule is applied from the stored good validation scores; a file
        // written before they were kept must be refit.
        if under_rule(c).is_none() {
            why.push(format!(
                "it keeps no good validation scores, so its defect threshold cannot be set by \
                 another rule ({rule})"
            ));
        }
        why
    };
    let why = existing.as_ref().map(&mismatches).unwrap_or_default();
    match (existing, &data) {
        (Some(c), _) if !options.recalibrate && why.is_empty() => match under_rule(&c) {
            Some(ruled) if ruled.defect_rule != c.defect_rule => {
                notes.push(format!(
                    "defect threshold re-set from the stored good validation scores (it was {:.5}, {})",
                    c.defect_threshold, c.defect_rule
                ));
                if options.save_calibration {
                    ruled.save(&calibration_path)?;
                }
                inspector.adopt(ruled);
            }
            _ => {
                inspector.adopt(c);
            }
        },
        (_, Some(dir)) => {
            if !why.is_empty() {
                notes.push(format!(
                    "{} does not fit: {}; refitting it",
                    calibration_path.display(),
                    why.join("; ")
                ));
            }
            let c = inspector.calibrate(dir)?;
            notes.push(format!(
                "calibrated on the validation split of {} ({} good, {} defective images)",
                dir.display(),
                c.validation_good,
                c.validation_defective
            ));
            if options.save_calibration {
                c.save(&calibration_path)?;
            }
        }
        (Some(_), None) => {
            // Thresholds fitted for another model or other settings would judge silently by
            // the wrong standard: refuse, and say why.
            let message = if why.is_empty() {
                "refitting the calibration needs the training dataset (--data DIR)".to_string()
            } else {
                format!(
                    "this calibration cannot judge this model: {}; give the training dataset \
                     (--data DIR, or the workbench's Dataset field) to refit it",
                    why.join("; ")
                )
            };
            return Err(InspectError::Invalid {
                path: calibration_path,
                message,
            });
        }
        (None, None) => {
            return Err(InspectError::Invalid {
                path: calibration_path,
                message: "no calibration: give the training dataset (--data DIR, or the workbench's Dataset field) to fit the thresholds on its validation split".into(),
            });
        }
    }
    if let Some(c) = &inspector.calibration {
        notes.push(detector_note(c));
        notes.push(thresholds_note(c));
        if c.needs_model() {
            notes.push(descent_note(c));
        }
        if let Some(note) = refine_note(c) {
            notes.push(note);
        }
    }
    Ok(Opened {
        inspector,
        notes,
        data,
    })
}

/// What the calibration judges and localises with, for the user to read on every run.
pub fn thresholds_note(c: &Calibration) -> String {
    let regions = match c.region_map {
        Some(r) => format!("regions from the {} map", r.map_name()),
        None => "regions from the same map".to_string(),
    };
    format!(
        "score {}: review from {:.5}, defect from {:.5} ({}); {regions} at {:.4}",
        c.scoring_name(),
        c.review_threshold,
        c.defect_threshold,
        c.defect_rule,
        c.pixel_threshold
    )
}

/// Which detector judges, and how every detector measured on validation, for the user to read.
pub fn detector_note(c: &Calibration) -> String {
    let measured: Vec<String> = c
        .detectors
        .iter()
        .map(|d| match d.criterion {
            Some(c) => format!("{} {c:.3}", d.name),
            None => format!("{} not measured", d.name),
        })
        .collect();
    if measured.is_empty() {
        format!("detector: {}", c.detector())
    } else {
        format!(
            "detector: {} (validation image + pixel AUROC: {})",
            c.detector(),
            measured.join(", ")
        )
    }
}

/// How each image's pose is refined, and why, when the detector renders the product.
pub fn refine_note(c: &Calibration) -> Option<String> {
    let r = c.refine.as_ref()?;
    if !c.needs_synthesis() {
        return None;
    }
    let compared: Vec<String> = r
        .budget_scores
        .iter()
        .map(|(b, s)| format!("{b}: {s:.3}"))
        .collect();
    let retry = r
        .retry_above
        .map(|t| format!("; an image whose loss stays above {t:.2e} compares turns about the product's axis unless its small turns pin it"))
        .unwrap_or_default();
    Some(format!(
        "pose refinement: at most {} render rounds per image, the smallest budget within {BUDGET_MARGIN} of the best on validation, of those up to {} (image + pixel AUROC per budget: {}){retry}",
        r.rounds,
        r.ceiling,
        compared.join(", ")
    ))
}

/// How the calibration's descent runs, and why, for the user to read.
pub fn descent_note(c: &Calibration) -> String {
    let budget = c.descent.max_iterations;
    let mut note = match c.budget_ceiling {
        Some(ceiling) if !c.budget_scores.is_empty() => {
            let compared: Vec<String> = c
                .budget_scores
                .iter()
                .map(|(b, s)| format!("{b}: {s:.3}"))
                .collect();
            format!(
                "descent: {budget} iterations, the smallest budget within {BUDGET_MARGIN} of the best on validation, of those up to {ceiling} (image + pixel AUROC per budget: {})",
                compared.join(", ")
            )
        }
        _ => format!("descent: {budget} iterations"),
    };
    if let (Some(target), Some(q)) = (c.descent.target_loss, c.good_stop_quantile) {
        note.push_str(&format!(
            "; an image stops once its loss reaches {target:.5} (the {:.0}th percentile of good validation images' starting loss)",
            q * 100.0
        ));
    }
    note
}

/// The SHA-256 of the manifest of the dataset in `dir`, when it can be read.
fn manifest_sha256(dir: &Path) -> Option<String> {
    read_bounded(
        &crate::dataset::layout::manifest_path(dir),
        FileKind::Manifest,
    )
    .ok()
    .map(|bytes| sha256_hex(&bytes))
}

/// The run directory a checkpoint directory belongs to (`RUN/checkpoints/step-N` → `RUN`).
pub fn run_dir_of(path: &Path) -> PathBuf {
    if path.join(crate::train::checkpoint::META).exists()
        && let Some(run) = path.parent().and_then(Path::parent)
    {
        return run.to_path_buf();
    }
    path.to_path_buf()
}
