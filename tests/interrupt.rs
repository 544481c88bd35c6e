//! Killing `unseen train`, `unseen render` or `unseen eval` with SIGKILL at an arbitrary moment
//! leaves nothing a later run would trust half-written; training resumes from the last complete
//! checkpoint and rendering from the last finished sample.
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

fn render_command(recipe: &Path, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unseen"));
    command
        .arg("render")
        .arg("--recipe")
        .arg(recipe)
        .arg("--out")
        .arg(out)
        .args([
            "--size",
            "32",
            "--count-train",
            "1200",
            "--count-val-good",
            "0",
        ])
        .args(["--count-val-defect", "0", "--count-test-good", "10"])
        .args(["--count-test-defect", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[test]
fn sigkill_during_render_then_resume_gives_the_same_dataset() {
    let recipes = tempfile::tempdir().unwrap();
    let recipe = recipes.path().join("cap.toml");
    std::fs::write(&recipe, unseen::dataset::recipe::CAP_DEFAULT_RECIPE).unwrap();

    let whole = tempfile::tempdir().unwrap();
    assert!(
        render_command(&recipe, whole.path())
            .status()
            .unwrap()
            .success()
    );

    let resumed = tempfile::tempdir().unwrap();
    let journal = resumed.path().join(unseen::dataset::generate::JOURNAL_FILE);
    let mut child = render_command(&recipe, resumed.path()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "no samples journalled in time");
        let lines = std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count());
        if lines > 50 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Killed mid-way: no manifest, so nothing treats the folder as a dataset.
    assert!(!resumed.path().join("manifest.json").exists());
    let finished_before = std::fs::read_to_string(&journal).unwrap().lines().count() - 1;
    assert!(finished_before < 1220, "the render ended before the kill");
    // A sample finished before the kill is kept, not rendered again (its file is not replaced).
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&journal)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap(),
    )
    .unwrap();
    let first_image = format!(
        "cap/{}/{}/{:06}.png",
        first["id"]["split"].as_str().unwrap(),
        first["id"]["class"].as_str().unwrap(),
        first["id"]["index"].as_u64().unwrap()
    );
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let kept = resumed.path().join(&first_image);
    let kept_inode = inode(&kept);
    // A torn last line (as a kill during the append leaves) is ignored.
    let mut torn = std::fs::read(&journal).unwrap();
    torn.extend_from_slice(b"{\"id\":{\"split\":\"tr");
    std::fs::write(&journal, torn).unwrap();

    assert!(
        render_command(&recipe, resumed.path())
            .status()
            .unwrap()
            .success()
    );
    assert!(
        !journal.exists(),
        "the journal is removed once the manifest is written"
    );
    assert_eq!(inode(&kept), kept_inode, "{first_image} was rendered again");
    let (a, b) = (tree(whole.path()), tree(resumed.path()));
    let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "missing after resume: {only_a:?}; extra after resume: {only_b:?}"
    );
    for (path, bytes) in &a {
        assert!(
            bytes == &b[path],
            "{} differs after resuming",
            path.display()
        );
    }
}

/// Every file `unseen eval` leaves in `report` and beside the model is complete: the JSON
/// parses, the pages and plots end where they should, images decode.
fn assert_report_files_complete(report: &Path, run: &Path) {
    let calibration = unseen::inspect::Calibration::path(run);
    if calibration.exists() {
        unseen::inspect::Calibration::load(&calibration).unwrap();
    }
    if !report.exists() {
        return;
    }
    for (path, bytes) in tree(report) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            continue; // write_atomic's temporary, never read by anything
        }
        if name == unseen::fsio::LOCK_FILE {
            continue; // a killed process's lock file: its id, not a report file
        }
        let text = String::from_utf8_lossy(&bytes);
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                serde_json::from_slice::<unseen::eval::EvalReport>(&bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            Some("html") => assert!(text.trim_end().ends_with("</html>"), "{}", path.display()),
            Some("svg") => assert!(text.trim_end().ends_with("</svg>"), "{}", path.display()),
            Some("png") => {
                image::load_from_memory(&bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            _ => assert!(!bytes.is_empty(), "{} is empty", path.display()),
        }
    }
}

#[test]
fn sigkill_during_eval_leaves_only_complete_files() {
    let data = tempfile::tempdir().unwrap();
    write_dataset_with_defects(
        data.path(),
        32,
        24,
        &[("good", 6), ("bulge", 3)],
        &[("good", 8), ("bulge", 6)],
        "",
        cap_with_obvious_defects(),
    );
    let run = tempfile::tempdir().unwrap();
    let config = unseen::train::TrainConfig {
        steps: 10,
        ..tiny_config()
    };
    finished(&run_to_end(job(data.path(), run.path(), config, false)));
    let report = tempfile::tempdir().unwrap();
    let eval = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_unseen"));
        command
            .args(["eval", "--device", "cpu", "--iterations", "0,5,20"])
            .args(["--latency-samples", "2", "--gallery", "2", "--model"])
            .arg(run.path())
            .arg("--data")
            .arg(data.path())
            .arg("--calibrate-on")
            .arg(data.path())
            .arg("--out")
            .arg(report.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    // Kill it at several moments: while calibrating, scoring, and writing the report (the
    // last one after a complete run has left files to overwrite).
    for (round, delay_ms) in [150u64, 600, 1500, 4000].into_iter().enumerate() {
        if round == 3 {
            assert!(eval().status().unwrap().success());
        }
        let mut child = eval().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_report_files_complete(report.path(), run.path());
    }
    // A later run completes over whatever the killed ones left.
    assert!(eval().status().unwrap().success());
    assert_report_files_complete(report.path(), run.path());
    assert!(report.path().join("report.json").exists());
}
