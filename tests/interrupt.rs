//! Killing `unseen train` with SIGKILL at an arbitrary moment leaves nothing a later run would
//! trust half-written, and `--resume` carries on from the last complete checkpoint.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use train_common::*;
use unseen::train::checkpoint::{latest_checkpoint, load_checkpoint};

fn train_command(data: &Path, run: &Path, config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unseen"));
    command
        .args(["train", "--device", "cpu", "--data"])
        .arg(data)
        .arg("--out")
        .arg(run)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn latest_step(run: &Path) -> u64 {
    let dir = latest_checkpoint(run).unwrap();
    load_checkpoint(&dir, None, &unseen::compute::SelectedDevice::flex().device)
        .unwrap()
        .meta
        .step
}

#[test]
fn sigkill_during_training_then_resume() {
    let data = tempfile::tempdir().unwrap();
    write_cap_dataset(data.path(), 32, 24, 8);
    let run = tempfile::tempdir().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    let config_path = config_dir.path().join("train.toml");
    let config = unseen::train::TrainConfig {
        steps: 100_000,
        checkpoint_every: 3,
        ..tiny_config()
    };
    std::fs::write(&config_path, config.to_toml()).unwrap();

    for round in 0..2 {
        let before = if round == 0 {
            0
        } else {
            latest_step(run.path())
        };
        let mut child = train_command(data.path(), run.path(), &config_path)
            .args(if round == 0 { vec![] } else { vec!["--resume"] })
            .spawn()
            .unwrap();
        // Kill it once it has written a checkpoint past where it started, at whatever point of
        // the next one it happens to be.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            assert!(Instant::now() < deadline, "no checkpoint in time");
            if run.path().join("latest.json").exists() && latest_step(run.path()) > before {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(37 * (round + 1)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Whatever was half-written, latest.json names a complete, verified checkpoint.
        let step = latest_step(run.path());
        assert!(step > before, "round {round}: step {step} after {before}");
    }

    // Resume to a fixed end: the step count continues from the checkpoint.
    let resumed_from = latest_step(run.path());
    let finish = unseen::train::TrainConfig {
        steps: resumed_from + 4,
        ..config
    };
    std::fs::write(&config_path, finish.to_toml()).unwrap();
    let status = train_command(data.path(), run.path(), &config_path)
        .arg("--resume")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(latest_step(run.path()), resumed_from + 4);
}
