//! Inspection latency per image (good and defective separately) and batched throughput.
//!
//! `cargo run --release --example inspect_bench -- [--model RUN_DIR --data DIR]
//! [--device cpu|gpu|auto] [--train-steps N] [--iterations N] [--batch B]`
//!
//! Without `--model`, renders a small 64×64 cap dataset into a temporary folder and trains the
//! default model (latent 128, width 32) on it for `--train-steps` steps first: latency depends on
//! the architecture and on how many descent iterations each image takes, and a briefly trained
//! model gives a first, honest figure for both. Timings live here, never in tests.

#[path = "common/flags.rs"]
mod flags;

use std::path::{Path, PathBuf};
use std::time::Instant;

use unseen::compute::{ComputeDevice, select_device};
use unseen::dataset::{Manifest, Split};
use unseen::imaging::read_image;
use unseen::inspect::{DescentConfig, InspectModel, Inspector, InspectorSettings};
use unseen::train::{TrainConfig, TrainEvent, TrainJob};
use unseen::worker::Waker;
use unseen::worker::train::spawn_training;

fn main() -> anyhow::Result<()> {
    let mut device = ComputeDevice::Cpu;
    let mut model_dir: Option<PathBuf> = None;
    let mut data_dir: Option<PathBuf> = None;
    let mut train_steps = 60u64;
    let mut descent = DescentConfig::default();
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--device" => device = value.parse()?,
            "--model" => model_dir = Some(value.into()),
            "--data" => data_dir = Some(value.into()),
            "--train-steps" => train_steps = value.parse()?,
            "--iterations" => descent.max_iterations = value.parse()?,
            "--batch" => descent.batch_size = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let selected = select_device(device)?;
    let scratch = tempfile::tempdir()?;
    let (model_dir, data_dir) = match (model_dir, data_dir) {
        (Some(m), Some(d)) => (m, d),
        (None, None) => prepare(scratch.path(), train_steps, &selected)?,
        _ => anyhow::bail!("give both --model and --data, or neither"),
    };

    let model = InspectModel::load(&model_dir, &selected.device)?;
    let size = model.image_size();
    let channels = model.channels();
    let mut inspector = Inspector::new(
        model,
        InspectorSettings {
            descent,
            choose_budget: false,
            ..InspectorSettings::default()
        },
    );
    inspector.calibrate(&data_dir)?;
    let manifest = Manifest::load_dir(&data_dir)?;
    let mut good = Vec::new();
    let mut defective = Vec::new();
    for s in manifest.samples_of(Split::Test) {
        let pixels = read_image(&data_dir.join(&s.image), size, channels)?;
        if s.id.is_good() {
            good.push(pixels);
        } else {
            defective.push(pixels);
        }
    }
    println!(
        "device {}, {size}x{size}, {} good and {} defective test images, up to {} iterations",
        selected.description,
        good.len(),
        defective.len(),
        descent.max_iterations
    );
    // Warm-up: the first pass allocates.
    if let Some(first) = good.first() {
        inspector.inspect_images(first, 1, None);
    }
    for (name, images) in [("good", &good), ("defective", &defective)] {
        if images.is_empty() {
            continue;
        }
        let mut times = Vec::new();
        let mut iterations = 0;
        for image in images {
            let started = Instant::now();
            let report = inspector.inspect_images(image, 1, None);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            iterations += report[0].iterations;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:>9}: one at a time {:.1} ms mean, {:.1} ms median, {:.1} mean iterations",
            times.iter().sum::<f64>() / times.len() as f64,
            times[times.len() / 2],
            iterations as f64 / images.len() as f64
        );
    }
    let all: Vec<f32> = good.iter().chain(&defective).flatten().copied().collect();
    let count = good.len() + defective.len();
    let batch = descent.batch_size.max(1);
    let repeated: Vec<f32> = all
        .iter()
        .copied()
        .cycle()
        .take(batch * size * size * channels)
        .collect();
    for (label, iterations) in [
        ("descent", descent.max_iterations),
        ("one pass (0 iterations)", 0),
    ] {
        inspector.settings.descent.max_iterations = iterations;
        let started = Instant::now();
        let reports = inspector.inspect_images(&repeated, batch, None);
        let secs = started.elapsed().as_secs_f64();
        let mean_iterations =
            reports.iter().map(|r| r.iterations).sum::<usize>() as f64 / batch as f64;
        println!(
            "batched {label}: {batch} images in {:.2} s = {:.1} images/s ({mean_iterations:.1} mean iterations; {count} distinct images)",
            secs,
            batch as f64 / secs
        );
    }
    Ok(())
}

/// Renders a 64×64 dataset and trains the default model on it; returns (run, data).
fn prepare(
    root: &Path,
    steps: u64,
    selected: &unseen::compute::SelectedDevice,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let data = root.join("data");
    let run = root.join("run");
    let recipe = unseen::dataset::Recipe::from_toml_str(
        r#"
version = 1
name = "cap"
seed = 3
[image]
size = 64
[counts.train]
good = 128
[counts.validation]
good = 16
bulge = 4
short_notch = 4
[counts.test]
good = 16
bulge = 8
short_notch = 8
[pose]
mode = "tilt"
yaw_deg = [0.0, 360.0]
tilt_deg = 15.0
"#,
        "inspect_bench",
    )?;
    eprintln!("rendering a 64x64 dataset into {}", data.display());
    let mut renderer = unseen::render::Renderer::new(unseen::render::Gpu::headless()?);
    unseen::dataset::generate(
        &mut renderer,
        recipe,
        unseen::product::ProductSpec::builtin_cap(),
        &data,
        &Default::default(),
        &mut |_, _| {},
    )?;
    eprintln!("training the default model for {steps} steps");
    let handle = spawn_training(
        TrainJob {
            data_dir: data.clone(),
            run_dir: run.clone(),
            config: TrainConfig {
                steps,
                checkpoint_every: steps.max(1),
                sample_every: steps.max(1),
                ..TrainConfig::default()
            },
            device: selected.clone(),
            resume: false,
        },
        Waker::none(),
    )?;
    loop {
        match handle.events().recv() {
            Ok(TrainEvent::Finished(_)) => break,
            Ok(TrainEvent::Error(e)) => anyhow::bail!("training failed: {e}"),
            Ok(_) => {}
            Err(_) => anyhow::bail!("training ended without a last event"),
        }
    }
    handle.join();
    Ok((run, data))
}
