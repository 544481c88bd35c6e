//! `RUN_DIR/losses.csv`: the loss log of a run.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::run::TrainError;
use super::steps::Losses;

fn output_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// File name of the loss log in a run folder.
pub const LOSS_LOG: &str = "losses.csv";

/// The columns before the losses, which follow in the order the step reports them.
pub const HEADER_COLUMNS: &str = "step,epoch,images_per_sec";

/// `RUN_DIR/losses.csv`, one row per step.
pub struct LossLog {
    path: PathBuf,
    file: std::fs::File,
    header_written: bool,
}

impl LossLog {
    /// Opens the log, dropping rows after `start_step` (left by a run that stopped after its
    /// last checkpoint), so a resumed run's log has each step once.
    pub fn open(path: &Path, start_step: u64) -> Result<Self, TrainError> {
        let kept: Vec<String> = if start_step > 0 && path.exists() {
            let text = crate::fsio::read_text(path, crate::fsio::FileKind::LossLog)
                .map_err(|e| output_error(path, e.reason()))?;
            text.lines()
                .enumerate()
                .filter(|(i, line)| {
                    *i == 0
                        || line
                            .split(',')
                            .next()
                            .and_then(|s| s.parse::<u64>().ok())
                            .is_some_and(|s| s <= start_step)
                })
                .map(|(_, l)| l.to_string())
                .collect()
        } else {
            Vec::new()
        };
        let mut file = std::fs::File::create(path).map_err(|e| output_error(path, e))?;
        for line in &kept {
            writeln!(file, "{line}").map_err(|e| output_error(path, e))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            header_written: !kept.is_empty(),
        })
    }

    pub fn append(
        &mut self,
        step: u64,
        epoch: u64,
        images_per_sec: f32,
        losses: &Losses,
    ) -> Result<(), TrainError> {
        let path = self.path.clone();
        let err = |e| output_error(&path, e);
        if !self.header_written {
            let names: Vec<&str> = losses.iter().map(|(n, _)| *n).collect();
            writeln!(self.file, "{HEADER_COLUMNS},{}", names.join(",")).map_err(err)?;
            self.header_written = true;
        }
        let values: Vec<String> = losses.iter().map(|(_, v)| v.to_string()).collect();
        writeln!(
            self.file,
            "{step},{epoch},{images_per_sec:.2},{}",
            values.join(",")
        )
        .map_err(err)
    }
}
