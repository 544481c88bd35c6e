//! Opening a trained run for inspection: the model, its calibration (fitted when missing or
//! stale) and the part atlas. Shared by `unseen inspect`, `unseen eval` and the workbench.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use super::calibration::Calibration;
use super::descent::DescentConfig;
use super::localise::PartAtlas;
use super::model::{InspectError, InspectModel};
use super::pipeline::{Inspector, InspectorSettings};

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
/// not change them).
pub fn same_scoring(a: &DescentConfig, b: &DescentConfig) -> bool {
    let neutral = |c: &DescentConfig| DescentConfig {
        batch_size: 0,
        time_limit_ms: None,
        ..*c
    };
    neutral(a) == neutral(b)
}

/// Loads the model of `options.run_dir` on `device`, then its calibration: the stored one when
/// it matches the checkpoint and the descent settings, otherwise a new fit on the validation
/// split of the dataset. Without any calibration the run cannot judge images, which is an error.
pub fn open_inspector(options: &OpenOptions, device: &Device) -> Result<Opened, InspectError> {
    let model = InspectModel::load(&options.run_dir, device)?;
    let mut notes = vec![format!(
        "model {} (step {})",
        model.checkpoint.display(),
        model.step
    )];
    let mut inspector = Inspector::new(model, options.settings);
    let calibration_path = Calibration::path(&options.run_dir);
    let existing = if calibration_path.exists() {
        Some(Calibration::load(&calibration_path)?)
    } else {
        None
    };
    let data = options
        .data
        .clone()
        .or_else(|| existing.as_ref().and_then(|c| c.data_dir.clone()));
    let stale = existing.as_ref().is_some_and(|c| {
        c.checkpoint_step != inspector.model.step
            || !same_scoring(&c.descent, &options.settings.descent)
    });
    match (existing, &data) {
        (Some(c), _) if !options.recalibrate && !stale => inspector.calibration = Some(c),
        (_, Some(dir)) => {
            let c = inspector.calibrate(dir)?;
            notes.push(format!(
                "calibrated on the validation split of {}: score {}, review from {:.5}, defect from {:.5}, pixel threshold {:.4} ({} good, {} defective images)",
                dir.display(),
                c.scoring_name(),
                c.review_threshold,
                c.defect_threshold,
                c.pixel_threshold,
                c.validation_good,
                c.validation_defective
            ));
            if options.save_calibration {
                c.save(&calibration_path)?;
            }
        }
        (Some(c), None) => {
            notes.push(format!(
                "warning: {} was fitted with other settings or another checkpoint; give the dataset to refit it",
                calibration_path.display()
            ));
            inspector.calibration = Some(c);
        }
        (None, None) => {
            return Err(InspectError::Invalid {
                path: calibration_path,
                message: "no calibration: give the training dataset (--data DIR, or the workbench's Dataset field) to fit the thresholds on its validation split".into(),
            });
        }
    }
    if let Some(dir) = &data {
        match PartAtlas::load(dir) {
            Ok(atlas) => inspector.atlas = Some(atlas),
            Err(e) => notes.push(format!("warning: regions get no part names: {e}")),
        }
    }
    Ok(Opened {
        inspector,
        notes,
        data,
    })
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
