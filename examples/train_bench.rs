//! Training throughput of the default model at 64×64 grey.
//!
//! `cargo run --release --example train_bench -- [--device cpu|gpu|auto] [--model gan|ae-som]
//! [--steps N] [--batch-size B] [--size S] [--width W]`
//!
//! Times `steps` optimisation steps on random images after two warm-up steps and prints
//! images per second. Timings live here, never in tests.

#[path = "common/flags.rs"]
mod flags;

use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use unseen::compute::{ComputeDevice, select_device};
use unseen::model::ModelKind;
use unseen::rng::Rng;
use unseen::train::TrainConfig;
use unseen::train::steps::Models;

fn main() -> anyhow::Result<()> {
    let mut device = ComputeDevice::Cpu;
    let mut model = ModelKind::Gan;
    let mut steps = 10u64;
    let mut size = 64usize;
    let mut config = TrainConfig::default();
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--device" => device = value.parse()?,
            "--model" => model = value.parse().map_err(anyhow::Error::msg)?,
            "--steps" => steps = value.parse()?,
            "--batch-size" => config.batch_size = value.parse()?,
            "--size" => size = value.parse()?,
            "--width" => config.width = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    config.model = model;
    let selected = select_device(device)?;
    let train_device = selected.device.clone().autodiff();
    let model_config = config.model_config(size, 1);
    let mut models = Models::new(model, &model_config, &config, &train_device)?;
    let batch = config.batch_size;
    let mut rng = Rng::new(1);
    let mut run_step = |models: &mut Models| -> anyhow::Result<()> {
        let images: Vec<f32> = (0..batch * size * size).map(|_| rng.next_f32()).collect();
        let z = rng.normals_f32(batch * model_config.latent_dim);
        let x = Tensor::<4>::from_data(
            TensorData::new(images, [batch, 1, size, size]),
            &train_device,
        );
        let z = Tensor::<2>::from_data(
            TensorData::new(z, [batch, model_config.latent_dim]),
            &train_device,
        );
        models.step(x, z, &config)?;
        Ok(())
    };
    for _ in 0..2 {
        run_step(&mut models)?;
    }
    let start = Instant::now();
    for _ in 0..steps {
        run_step(&mut models)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let images = (steps as usize * batch) as f64;
    println!(
        "{model} {size}x{size} width {} latent {} batch {batch} on {}: {:.1} images/s ({:.0} ms/step)",
        model_config.width,
        model_config.latent_dim,
        selected.description,
        images / secs,
        1000.0 * secs / steps as f64
    );
    Ok(())
}
