//! Checkpoints: save → load gives identical outputs, resume continues exactly, and corrupt or
//! mismatched checkpoints are rejected with the file and the problem named.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use burn::tensor::{Device, Tensor, TensorData};
use train_common::*;
use unseen::model::ModelKind;
use unseen::train::checkpoint::{Expectation, latest_checkpoint, load_checkpoint, read_meta};
use unseen::train::data::DatasetInfo;
use unseen::train::eval::reconstruct;
use unseen::train::{LrSchedule, TrainConfig, TrainEvent};
use unseen::worker::train::spawn_training;
use unseen::worker::{Control, Waker};

fn probe_images() -> Vec<f32> {
    (0..2 * 32 * 32)
        .map(|i| ((i * 7) % 255) as f32 / 255.0)
        .collect()
}

fn gan_config(steps: u64) -> TrainConfig {
    TrainConfig {
        model: ModelKind::Gan,
        steps,
        checkpoint_every: 4,
        ..tiny_config()
    }
}

#[test]
fn saved_and_loaded_models_give_identical_outputs() {
    let data = Fixture::caps(32, 16, 4);
    let run = tempfile::tempdir().unwrap();
    let events = run_to_end(job(&data.path(), run.path(), gan_config(5), false));
    let report = finished(&events);
    let dir = report.checkpoint.clone().expect("final checkpoint");
    assert_eq!(dir, latest_checkpoint(run.path()).unwrap());
    let meta = read_meta(&dir).unwrap();
    assert_eq!(meta.step, 5);
    assert_eq!(meta.model_kind, ModelKind::Gan);
    let info = DatasetInfo::open(&data.path()).unwrap();
    assert_eq!(meta.dataset_manifest_sha256, info.manifest_sha256);

    let device = Device::flex();
    let a = load_checkpoint(&dir, None, &device.clone().autodiff()).unwrap();
    let b = load_checkpoint(&dir, None, &device.clone().autodiff()).unwrap();
    let x = probe_images();
    let out_a = reconstruct(&a.models.autoencoder, &x, 2, 1, 32, &device);
    let out_b = reconstruct(&b.models.autoencoder, &x, 2, 1, 32, &device);
    assert_eq!(out_a, out_b);
    // The loaded weights are the trained ones, not a fresh initialisation.
    let fresh = unseen::model::AutoEncoder::new(&a.model_config, 0, &device).unwrap();
    assert_ne!(out_a, reconstruct(&fresh, &x, 2, 1, 32, &device));
    // D (with its spectral-norm state) round-trips too.
    let d = |c: &unseen::train::LoadedCheckpoint| {
        let d = burn::module::Module::valid(c.models.discriminator.as_ref().unwrap());
        let x = Tensor::<4>::from_data(TensorData::new(x.clone(), [2, 1, 32, 32]), &device);
        d.forward(x).logit.into_data().try_to_vec::<f32>().unwrap()
    };
    assert_eq!(d(&a), d(&b));
}

#[test]
fn resume_continues_step_count_and_optimiser_state_exactly() {
    let data = Fixture::caps(32, 16, 4);
    // Reference: 8 steps in one go.
    let straight = tempfile::tempdir().unwrap();
    let events = run_to_end(job(&data.path(), straight.path(), gan_config(8), false));
    let reference = loss_curve(&events, "total");

    // Same run in two halves: stop at 4 (a checkpoint), resume to 8.
    let split = tempfile::tempdir().unwrap();
    let first = run_to_end(job(&data.path(), split.path(), gan_config(4), false));
    assert_eq!(finished(&first).step, 4);
    let second = run_to_end(job(&data.path(), split.path(), gan_config(8), true));
    match second.first() {
        Some(unseen::train::TrainEvent::Started { start_step, .. }) => assert_eq!(*start_step, 4),
        other => panic!("expected Started, got {other:?}"),
    }
    let steps: Vec<u64> = second
        .iter()
        .filter_map(|e| match e {
            unseen::train::TrainEvent::Step(r) => Some(r.step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, vec![5, 6, 7, 8]);
    let mut resumed = loss_curve(&first, "total");
    resumed.extend(loss_curve(&second, "total"));
    // Any lost optimiser moment, weight, running statistic or RNG position would change these.
    assert_eq!(resumed, reference);
    // The loss log holds each step once.
    let csv = std::fs::read_to_string(split.path().join("losses.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8, "{csv}");
}

/// Runs `job`, asking it to stop as soon as its first step is reported; every event.
fn run_stopped_after_first_step(job: unseen::train::TrainJob) -> Vec<TrainEvent> {
    let handle = spawn_training(job, Waker::none()).unwrap();
    let mut events = Vec::new();
    loop {
        let event = handle
            .events()
            .recv_timeout(std::time::Duration::from_secs(600))
            .unwrap();
        let last = matches!(event, TrainEvent::Finished(_) | TrainEvent::Error(_));
        if matches!(event, TrainEvent::Step(_)) && loss_curve(&events, "total").is_empty() {
            assert!(handle.send(Control::Cancel));
        }
        events.push(event);
        if last {
            break;
        }
    }
    handle.join();
    events
}

/// A cosine run stopped by the user as soon as the first step is reported, `between` done to
/// its run folder, then resumed: the rates of the remaining steps must follow the same cosine,
/// so the losses are those of the run straight through.
fn stop_and_resume_cosine_run(between: impl FnOnce(&std::path::Path)) {
    let data = Fixture::caps(32, 16, 4);
    let config = TrainConfig {
        lr_schedule: LrSchedule::Cosine,
        ..gan_config(40)
    };
    let straight = tempfile::tempdir().unwrap();
    let reference = loss_curve(
        &run_to_end(job(&data.path(), straight.path(), config.clone(), false)),
        "total",
    );

    let split = tempfile::tempdir().unwrap();
    let first =
        run_stopped_after_first_step(job(&data.path(), split.path(), config.clone(), false));
    let stopped = finished(&first);
    assert!(stopped.stopped && stopped.step < 40, "{stopped:?}");
    between(split.path());
    let second = run_to_end(job(&data.path(), split.path(), config, true));
    let mut resumed = loss_curve(&first, "total");
    resumed.extend(loss_curve(&second, "total"));
    assert_eq!(resumed, reference);
}

#[test]
fn a_stopped_cosine_run_resumes_on_its_schedule() {
    stop_and_resume_cosine_run(|_| {});
}

/// Rewrites a `train_config.toml` as version 2 wrote it by hand for a run on the cosine
/// schedule: `version = 2` and no `lr_schedule` (cosine was version 2's default).
fn as_version_2(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("lr_schedule = \"cosine\""), "{text}");
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("lr_schedule"))
        .map(|l| {
            if l.starts_with("version") {
                "version = 2\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(path, old).unwrap();
}

#[test]
fn a_run_saved_with_version_2_settings_loads_and_resumes_on_its_schedule() {
    stop_and_resume_cosine_run(|run| {
        // The run folder's settings and the checkpoint's as a version-2 program left them; the
        // checkpoint's file list records the rewritten file's hash, as that program's would.
        as_version_2(&run.join("train_config.toml"));
        let dir = latest_checkpoint(run).unwrap();
        let mut meta = read_meta(&dir).unwrap();
        let saved = dir.join("train_config.toml");
        as_version_2(&saved);
        let bytes = std::fs::read(&saved).unwrap();
        meta.files
            .insert("train_config.toml".into(), unseen::fsio::sha256_hex(&bytes));
        std::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();

        let loaded = load_checkpoint(&dir, None, &Device::flex().autodiff()).unwrap();
        assert_eq!(loaded.train_config.lr_schedule, LrSchedule::Cosine);
        let history = unseen::train::history::load_history(run).unwrap();
        assert_eq!(history.config.unwrap().lr_schedule, LrSchedule::Cosine);
    });
}

#[test]
fn corrupt_and_mismatched_checkpoints_are_rejected_clearly() {
    let data = Fixture::caps(32, 16, 4);
    let run = tempfile::tempdir().unwrap();
    let events = run_to_end(job(&data.path(), run.path(), gan_config(2), false));
    let dir = finished(&events).checkpoint.clone().unwrap();
    let device = Device::flex().autodiff();
    let info = DatasetInfo::open(&data.path()).unwrap();
    let expect = Expectation {
        dataset_manifest_sha256: info.manifest_sha256.clone(),
        image_size: 32,
        channels: 1,
        model_kind: ModelKind::Gan,
    };
    assert!(load_checkpoint(&dir, Some(&expect), &device).is_ok());

    // A different dataset.
    let other = Expectation {
        dataset_manifest_sha256: "0".repeat(64),
        ..expect.clone()
    };
    let message = load_checkpoint(&dir, Some(&other), &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("meta.json") && message.contains("different dataset"),
        "{message}"
    );
    // A different image size.
    let bigger = Expectation {
        image_size: 64,
        ..expect.clone()
    };
    let message = load_checkpoint(&dir, Some(&bigger), &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("32x32") && message.contains("64x64"),
        "{message}"
    );
    // A different model.
    let ae = Expectation {
        model_kind: ModelKind::AeSom,
        ..expect.clone()
    };
    let message = load_checkpoint(&dir, Some(&ae), &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("gan") && message.contains("ae-som"),
        "{message}"
    );

    // A truncated weights file.
    let weights = dir.join("autoencoder.bpk");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let message = load_checkpoint(&dir, Some(&expect), &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("autoencoder.bpk") && message.contains("truncated or corrupt"),
        "{message}"
    );
    // Resuming from it fails the same way, through the worker.
    let events = run_to_end(job(&data.path(), run.path(), gan_config(4), true));
    match events.last() {
        Some(unseen::train::TrainEvent::Error(message)) => {
            assert!(message.contains("autoencoder.bpk"), "{message}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // A garbled meta.json.
    std::fs::write(dir.join("meta.json"), "{\"step\": ").unwrap();
    let message = load_checkpoint(&dir, None, &device)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("meta.json") && message.contains("JSON"),
        "{message}"
    );
    // Resuming a run directory that has no checkpoint.
    let empty = tempfile::tempdir().unwrap();
    let events = run_to_end(job(&data.path(), empty.path(), gan_config(4), true));
    match events.last() {
        Some(unseen::train::TrainEvent::Error(message)) => {
            assert!(message.contains("latest.json"), "{message}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}
