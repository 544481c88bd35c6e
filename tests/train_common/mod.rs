//! Tiny fixture datasets in the layout `unseen render` writes, for the training tests.
//! Swap `write_disc_dataset` for real renders once the renderer lands.
#![allow(dead_code)] // Each test binary uses a different subset.
#![allow(clippy::unwrap_used)] // Fixture failures should fail the test loudly.

use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use unseen::compute::SelectedDevice;
use unseen::train::{TrainConfig, TrainEvent, TrainJob, spawn_training};

/// Grey level of the background and of the disc.
const BACKGROUND: f32 = 20.0;
const DISC: f32 = 220.0;

/// Writes `DIR/manifest.json`, `DIR/<name>/train/good/*.png` and `DIR/validation/good/*.png`:
/// bright discs with a rectangular notch on the rim at an angle that varies per image.
pub fn write_disc_dataset(dir: &Path, name: &str, size: u32, train: usize, validation: usize) {
    let train_dir = dir.join(name).join("train").join("good");
    let validation_dir = dir.join("validation").join("good");
    std::fs::create_dir_all(&train_dir).unwrap();
    std::fs::create_dir_all(&validation_dir).unwrap();
    let manifest = format!(
        r#"{{"name": "{name}", "image": {{"size": {size}, "channels": "grey"}}, "seed": 1}}"#
    );
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    for i in 0..train {
        let angle = i as f32 / train as f32 * std::f32::consts::TAU;
        disc_image(size, angle, i)
            .save(train_dir.join(format!("{i:04}.png")))
            .unwrap();
    }
    for i in 0..validation {
        // Between the training angles: held out, but from the same distribution.
        let angle = (i as f32 + 0.5) / validation as f32 * std::f32::consts::TAU;
        disc_image(size, angle, 1000 + i)
            .save(validation_dir.join(format!("{i:04}.png")))
            .unwrap();
    }
}

/// A disc of radius 0.35·size, centre jittered by up to a pixel, with a notch at `angle_rad`.
pub fn disc_image(size: u32, angle_rad: f32, index: usize) -> image::GrayImage {
    let s = size as f32;
    let jitter = ((index * 37) % 5) as f32 / 4.0 - 0.5;
    let (cx, cy) = (s / 2.0 + jitter, s / 2.0 - jitter);
    let radius = 0.35 * s;
    let (nx, ny) = (cx + radius * angle_rad.cos(), cy + radius * angle_rad.sin());
    let (half_w, half_h) = (0.09 * s, 0.06 * s);
    image::GrayImage::from_fn(size, size, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let inside = (px - cx).powi(2) + (py - cy).powi(2) <= radius * radius;
        // The notch is a rectangle aligned with the radius, centred on the rim.
        let (dx, dy) = (px - nx, py - ny);
        let along = dx * angle_rad.cos() + dy * angle_rad.sin();
        let across = -dx * angle_rad.sin() + dy * angle_rad.cos();
        let notched = along.abs() <= half_w && across.abs() <= half_h;
        let shade = 1.0 - 0.2 * (py / s);
        let v = if inside && !notched {
            DISC * shade
        } else {
            BACKGROUND
        };
        image::Luma([v.round() as u8])
    })
}

/// A dataset in a temporary directory.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn discs(size: u32, train: usize, validation: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_disc_dataset(dir.path(), "disc", size, train, validation);
        Self { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// Settings small enough for a few dozen steps in seconds on the CPU.
pub fn tiny_config() -> TrainConfig {
    TrainConfig {
        latent_dim: 16,
        width: 8,
        batch_size: 8,
        steps: 20,
        checkpoint_every: 1000,
        sample_every: 1000,
        sample_count: 4,
        lr_autoencoder: 2e-3,
        lr_discriminator: 1e-3,
        ..TrainConfig::default()
    }
}

pub fn job(data: &Path, run: &Path, config: TrainConfig, resume: bool) -> TrainJob {
    TrainJob {
        data_dir: data.to_path_buf(),
        run_dir: run.to_path_buf(),
        config,
        device: SelectedDevice::flex(),
        resume,
    }
}

/// Runs `job` to its last event (`Finished` or `Error`) and returns every event.
pub fn run_to_end(job: TrainJob) -> Vec<TrainEvent> {
    let handle = spawn_training(job).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut events = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match handle.events().recv_timeout(left) {
            Ok(event) => {
                let last = matches!(event, TrainEvent::Finished(_) | TrainEvent::Error(_));
                events.push(event);
                if last {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("training did not finish in time"),
            Err(RecvTimeoutError::Disconnected) => panic!("worker ended without a last event"),
        }
    }
    handle.join();
    events
}

/// The loss `name` of every step, in order.
pub fn loss_curve(events: &[TrainEvent], name: &str) -> Vec<f32> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step(report) => report
                .losses
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v),
            _ => None,
        })
        .collect()
}

pub fn finished(events: &[TrainEvent]) -> &unseen::train::FinishReport {
    match events.last() {
        Some(TrainEvent::Finished(report)) => report,
        other => panic!("expected Finished, got {other:?}"),
    }
}

pub fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len() as f32
}
