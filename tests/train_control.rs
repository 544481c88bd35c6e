//! The worker obeys pause / resume / stop, and the divergence guard stops a poisoned run while
//! keeping the last good checkpoint.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::time::{Duration, Instant};

use burn::tensor::Device;
use train_common::*;
use unseen::model::ModelKind;
use unseen::train::checkpoint::{latest_checkpoint, load_checkpoint, read_meta};
use unseen::train::{TrainConfig, TrainEvent};
use unseen::worker::train::spawn_training;
use unseen::worker::{Control, Waker, Worker};

fn next_event(handle: &Worker<TrainEvent>) -> TrainEvent {
    handle
        .events()
        .recv_timeout(Duration::from_secs(120))
        .expect("worker went silent")
}

#[test]
fn stop_ends_promptly_with_a_checkpoint() {
    let data = Fixture::caps(32, 16, 4);
    let run = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        model: ModelKind::Gan,
        steps: 100_000,
        ..tiny_config()
    };
    let handle =
        spawn_training(job(&data.path(), run.path(), config, false), Waker::none()).unwrap();
    // Let it take a few steps, pausing on the way.
    let mut steps_seen = 0;
    while steps_seen < 3 {
        if let TrainEvent::Step(_) = next_event(&handle) {
            steps_seen += 1;
        }
    }
    assert!(handle.send(Control::Pause));
    let paused_at = loop {
        match next_event(&handle) {
            TrainEvent::Paused { step } => break step,
            TrainEvent::Step(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    // While paused, nothing happens.
    assert!(
        handle
            .events()
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "no events while paused"
    );
    assert!(handle.send(Control::Resume));
    assert!(matches!(next_event(&handle), TrainEvent::Resumed { step } if step == paused_at));
    assert!(matches!(next_event(&handle), TrainEvent::Step(r) if r.step == paused_at + 1));

    let asked = Instant::now();
    assert!(handle.send(Control::Cancel));
    let report = loop {
        match next_event(&handle) {
            TrainEvent::Finished(report) => break report,
            TrainEvent::Error(e) => panic!("{e}"),
            _ => {}
        }
    };
    let took = asked.elapsed();
    handle.join();
    assert!(report.stopped);
    assert!(took < Duration::from_secs(20), "stop took {took:?}");
    let dir = report.checkpoint.expect("a checkpoint on stop");
    assert_eq!(dir, latest_checkpoint(run.path()).unwrap());
    assert_eq!(read_meta(&dir).unwrap().step, report.step);
    assert!(report.step < 100_000);
}

#[test]
fn nan_triggers_the_divergence_guard_and_keeps_the_last_good_checkpoint() {
    let data = Fixture::caps(32, 16, 4);
    let run = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        model: ModelKind::Gan,
        steps: 20,
        checkpoint_every: 2,
        debug_nan_at_step: Some(5),
        ..tiny_config()
    };
    let events = run_to_end(job(&data.path(), run.path(), config, false));
    let message = match events.last() {
        Some(TrainEvent::Error(message)) => message.clone(),
        other => panic!("expected the guard to stop training, got {other:?}"),
    };
    assert!(message.contains("diverged at step 5"), "{message}");
    assert!(message.contains("NaN"), "{message}");
    assert!(message.contains("step-000004"), "{message}");
    // Steps 1–4 ran, step 5 did not count.
    assert_eq!(loss_curve(&events, "total").len(), 4);
    // The last good checkpoint is still the latest, intact and loadable.
    let dir = latest_checkpoint(run.path()).unwrap();
    assert!(dir.ends_with("step-000004"));
    let loaded = load_checkpoint(&dir, None, &Device::flex().autodiff()).unwrap();
    assert_eq!(loaded.meta.step, 4);
}
