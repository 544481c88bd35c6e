//! Tiny datasets of real renders, and helpers shared by the training tests.
#![allow(dead_code)] // Each test binary uses a different subset.
#![allow(clippy::unwrap_used)] // Fixture failures should fail the test loudly.

use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use unseen::compute::SelectedDevice;
use unseen::train::{TrainConfig, TrainEvent, TrainJob};
use unseen::worker::Waker;
use unseen::worker::train::spawn_training;

/// Renders a tiny dataset of the built-in cap with the real renderer: `train` good training
/// images and `validation` good validation images of `size` pixels, random rotations.
pub fn write_cap_dataset(dir: &Path, size: u32, train: usize, validation: usize) {
    let text = format!(
        r#"
version = 1
name = "cap"
seed = 11
[image]
size = {size}
[counts.train]
good = {train}
[counts.validation]
good = {validation}
"#
    );
    let recipe = unseen::dataset::Recipe::from_toml_str(&text, "fixture").unwrap();
    let mut renderer = unseen::render::Renderer::new(unseen::render::Gpu::headless().unwrap());
    unseen::dataset::generate(
        &mut renderer,
        recipe,
        unseen::product::ProductSpec::builtin_cap(),
        dir,
        &Default::default(),
        &mut |_, _| {},
    )
    .unwrap();
}

/// A dataset in a temporary directory.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn caps(size: u32, train: usize, validation: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_cap_dataset(dir.path(), size, train, validation);
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
        // The tests were written against a constant rate; the schedule has tests of its own.
        lr_schedule: unseen::train::LrSchedule::Constant,
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
    let handle = spawn_training(job, Waker::none()).unwrap();
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

/// The built-in cap with its bulge and short notch made large enough for a tiny model trained
/// for seconds to see: a bulge almost as wide as the dome's crown, a notch cut to a stub.
pub fn cap_with_obvious_defects() -> unseen::product::ProductSpec {
    use unseen::product::DefectSpec;
    let mut product = unseen::product::ProductSpec::builtin_cap();
    for spec in product.defects.values_mut() {
        match spec {
            DefectSpec::Bulge {
                radius, protrusion, ..
            } => {
                *radius = [0.40, 0.45];
                *protrusion = [0.28, 0.32];
            }
            DefectSpec::ShortNotch { height } => *height = [0.05, 0.12],
            _ => {}
        }
    }
    product
}

/// Renders a tiny dataset of `product` with defective samples too: `train` good training
/// images, `validation` (class, count) and `test` (class, count) pairs, e.g. `("good", 8)`,
/// `("bulge", 4)`, and `recipe_extra` TOML appended to the recipe (e.g. a `[pose]` table).
/// Fixed seed, real renderer, like [`write_cap_dataset`].
pub fn write_dataset_with_defects(
    dir: &Path,
    size: u32,
    train: usize,
    validation: &[(&str, usize)],
    test: &[(&str, usize)],
    recipe_extra: &str,
    product: unseen::product::ProductSpec,
) {
    let counts = |pairs: &[(&str, usize)]| {
        pairs
            .iter()
            .map(|(class, n)| format!("{class} = {n}\n"))
            .collect::<String>()
    };
    let mut text = format!(
        "version = 1\nname = \"cap\"\nseed = 11\n[image]\nsize = {size}\n[counts.train]\ngood = {train}\n"
    );
    if !validation.is_empty() {
        text.push_str(&format!("[counts.validation]\n{}", counts(validation)));
    }
    if !test.is_empty() {
        text.push_str(&format!("[counts.test]\n{}", counts(test)));
    }
    text.push_str(recipe_extra);
    let recipe = unseen::dataset::Recipe::from_toml_str(&text, "fixture").unwrap();
    let mut renderer = unseen::render::Renderer::new(unseen::render::Gpu::headless().unwrap());
    unseen::dataset::generate(
        &mut renderer,
        recipe,
        product,
        dir,
        &Default::default(),
        &mut |_, _| {},
    )
    .unwrap();
}

/// Every file under `dir` by relative path, with its bytes; a folder's lock file (a process
/// id, not data) is left out.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .is_none_or(|n| n != unseen::fsio::LOCK_FILE)
            {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// `n` "photos" of the built-in cap under `scene` (light and sensor), grey [0, 1], turned at
/// random and shifted by up to 0.4 px, with Gaussian noise of `noise` grey levels.
pub fn synthetic_photos(
    renderer: &mut unseen::render::Renderer,
    recipe: &unseen::dataset::recipe::Recipe,
    n: usize,
    scene_of: (unseen::render::Lighting, unseen::render::Sensor),
    noise: f64,
) -> Vec<(String, Vec<f32>)> {
    use glam::{DQuat, DVec2, DVec3};
    use unseen::refine::{Scene, ScenePose};
    use unseen::rng::Rng;
    let mut scene = Scene::for_recipe(
        renderer,
        recipe,
        &unseen::product::ProductSpec::builtin_cap(),
    )
    .unwrap();
    (scene.lighting, scene.sensor) = scene_of;
    let mut rng = Rng::new(7);
    let poses: Vec<ScenePose> = (0..n)
        .map(|_| {
            let axis = DVec3::from(rng.unit_vector());
            let mut pose = ScenePose::from_rotation(DQuat::from_axis_angle(
                axis,
                rng.uniform(0.0, std::f64::consts::TAU),
            ));
            pose.offset_px = DVec2::new(rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4));
            pose
        })
        .collect();
    let frames = scene.render_references(renderer, &poses).unwrap();
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let clean = scene.shade(f);
            let noisy = clean
                .iter()
                .map(|v| {
                    let grey = f64::from(*v) * 255.0 + rng.normal() * noise;
                    (grey.round().clamp(0.0, 255.0) / 255.0) as f32
                })
                .collect();
            (format!("photo-{i}"), noisy)
        })
        .collect()
}

/// Writes grey values in [0, 1] as an 8-bit PNG of `size`².
pub fn write_grey_png(path: &Path, grey: &[f32], size: u32) {
    let bytes: Vec<u8> = grey.iter().map(|v| (v * 255.0).round() as u8).collect();
    image::GrayImage::from_raw(size, size, bytes)
        .unwrap()
        .save(path)
        .unwrap();
}
