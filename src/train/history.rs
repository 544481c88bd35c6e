//! What a run folder holds of a finished or stopped training, read back for review: the loss
//! log, the newest sample grid, the checkpoints and the settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::config::TrainConfig;
use super::loss_log::{HEADER_COLUMNS, LOSS_LOG};

/// Points per loss curve when a past run's log is shown.
const HISTORY_POINTS: usize = 2000;

/// What a run folder holds of a finished or stopped training.
#[derive(Debug)]
pub struct RunHistory {
    pub losses: BTreeMap<String, Vec<[f64; 2]>>,
    pub last_step: u64,
    /// The newest sample grid and its step.
    pub samples: Option<(u64, PathBuf)>,
    pub checkpoints: Vec<(u64, PathBuf)>,
    /// The run's settings, or why they cannot be read.
    pub config: Result<TrainConfig, String>,
}

/// The step in a `step-000123` or `step-000123.png` name.
fn step_of(name: &str) -> Option<u64> {
    name.strip_prefix("step-")?
        .trim_end_matches(".png")
        .parse()
        .ok()
}

/// Entries of `dir` named by step, sorted by step; none when `dir` does not exist.
fn stepped_entries(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((step_of(&e.file_name().to_string_lossy())?, e.path())))
        .collect();
    found.sort();
    found
}

/// Reads a run folder's loss log (thinned to about [`HISTORY_POINTS`] per curve), newest sample
/// grid, checkpoints and settings. The loss log must exist and parse; the rest may be missing.
pub fn load_history(run_dir: &Path) -> Result<RunHistory, String> {
    let log = run_dir.join(LOSS_LOG);
    let text = crate::fsio::read_text(&log, crate::fsio::FileKind::LossLog)
        .map_err(|e| format!("{e} (is this a training run?)"))?;
    let mut lines = text.lines().enumerate();
    let names: Vec<&str> = match lines.next() {
        Some((_, header)) if header.starts_with(HEADER_COLUMNS) => {
            header.split(',').skip(3).collect()
        }
        _ => return Err(format!("{} has no loss-log header", log.display())),
    };
    let rows: Vec<(usize, &str)> = lines.filter(|(_, l)| !l.trim().is_empty()).collect();
    let every = rows.len().div_ceil(HISTORY_POINTS).max(1);
    let mut history = RunHistory {
        losses: BTreeMap::new(),
        last_step: 0,
        samples: None,
        checkpoints: Vec::new(),
        config: Err(String::new()),
    };
    for (i, &(number, line)) in rows.iter().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let bad = || format!("{} line {}: not a loss record", log.display(), number + 1);
        if fields.len() != names.len() + 3 {
            return Err(bad());
        }
        let step: u64 = fields[0].parse().map_err(|_| bad())?;
        history.last_step = history.last_step.max(step);
        if i % every != 0 && i + 1 != rows.len() {
            continue;
        }
        for (name, value) in names.iter().zip(&fields[3..]) {
            // Logged as f32, the type the training computes in.
            let value: f32 = value.parse().map_err(|_| bad())?;
            history
                .losses
                .entry((*name).to_string())
                .or_default()
                .push([step as f64, f64::from(value)]);
        }
    }
    history.samples = stepped_entries(&run_dir.join("samples")).pop();
    history.checkpoints = stepped_entries(&run_dir.join("checkpoints"));
    history.config = TrainConfig::load_toml(&run_dir.join(super::checkpoint::TRAIN_CONFIG))
        .map_err(|e| e.to_string());
    Ok(history)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_long_loss_log_is_thinned_and_a_broken_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = String::from("step,epoch,images_per_sec,total,reconstruction\n");
        for step in 1..=5000u64 {
            log.push_str(&format!("{step},0,10.0,{},{}\n", 1.0f32 / step as f32, 0.5));
        }
        std::fs::write(dir.path().join("losses.csv"), &log).unwrap();
        std::fs::create_dir_all(dir.path().join("samples")).unwrap();
        for step in [100, 4900, 200] {
            std::fs::write(dir.path().join(format!("samples/step-{step:06}.png")), b"").unwrap();
        }
        let history = load_history(dir.path()).unwrap();
        assert_eq!(history.last_step, 5000);
        let total = &history.losses["total"];
        assert!(total.len() <= HISTORY_POINTS + 1, "{}", total.len());
        assert!(total.len() >= HISTORY_POINTS / 2, "{}", total.len());
        assert_eq!(total.first(), Some(&[1.0, 1.0]));
        assert_eq!(total.last(), Some(&[5000.0, f64::from(1.0f32 / 5000.0)]));
        assert_eq!(history.samples.map(|s| s.0), Some(4900));
        assert!(history.checkpoints.is_empty());
        assert!(history.config.unwrap_err().contains("train_config.toml"));

        log.push_str("5001,0,10.0,oops,0.5\n");
        std::fs::write(dir.path().join("losses.csv"), &log).unwrap();
        let err = load_history(dir.path()).unwrap_err();
        assert!(err.contains("losses.csv line 5002"), "{err}");
    }
}
