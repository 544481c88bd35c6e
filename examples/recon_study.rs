//! How well trained runs redraw the held-out good images: mean squared error per pixel over
//! the validation images, and over each part's pixels (from the part maps rendered with the
//! images), so that the notch's error can be read apart from the dome's and the wall's, which
//! cover far more pixels.
//!
//! `cargo run --example recon_study -- --data DIR --model RUN_DIR [--model RUN_DIR ...]`

#[path = "common/flags.rs"]
mod flags;

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::Device;
use unseen::dataset::Manifest;
use unseen::train::checkpoint::{latest_checkpoint, load_checkpoint};
use unseen::train::data::DatasetInfo;
use unseen::train::eval::reconstruct;

/// Images per forward pass.
const CHUNK: usize = 64;

fn main() -> anyhow::Result<()> {
    let mut data_dir: Option<PathBuf> = None;
    let mut runs: Vec<PathBuf> = Vec::new();
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--data" => data_dir = Some(value.into()),
            "--model" => runs.push(value.into()),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let Some(data_dir) = data_dir else {
        anyhow::bail!("give --data DIR and one --model RUN_DIR or more");
    };
    anyhow::ensure!(!runs.is_empty(), "give one --model RUN_DIR or more");
    let info = DatasetInfo::open(&data_dir)?;
    let manifest = Manifest::load_dir(&data_dir)?;
    let validation = info.load_validation()?;
    let (size, channels) = (validation.size, validation.channels);
    let pixels = size * size;

    let mut part_maps = Vec::with_capacity(validation.len() * pixels);
    for path in &validation.paths {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let part_path = data_dir
            .join("parts/validation/good")
            .join(format!("{stem}.png"));
        let map = unseen::imaging::decode_image(&part_path)?.to_luma8();
        anyhow::ensure!(
            map.width() as usize == size && map.height() as usize == size,
            "{}: part map is not {size}x{size}",
            part_path.display()
        );
        part_maps.extend_from_slice(map.as_raw());
    }

    let device = Device::flex();
    println!(
        "{} good validation images, {size}x{size}; MSE per pixel, grey levels in [0, 1]",
        validation.len()
    );
    for run in &runs {
        let dir = latest_checkpoint(run)?;
        let loaded = load_checkpoint(&dir, None, &device.clone().autodiff())?;
        // Squared error and pixel count per part id (0: background).
        let mut sums: BTreeMap<u8, (f64, usize)> = BTreeMap::new();
        let mut total = 0.0f64;
        let indices: Vec<usize> = (0..validation.len()).collect();
        for chunk in indices.chunks(CHUNK) {
            let images = validation.gather(chunk);
            let recon = reconstruct(
                &loaded.models.autoencoder,
                &images,
                chunk.len(),
                channels,
                size,
                &device,
            );
            anyhow::ensure!(recon.len() == images.len(), "reconstruction failed");
            for (i, &index) in chunk.iter().enumerate() {
                let parts = &part_maps[index * pixels..(index + 1) * pixels];
                for (p, &part) in parts.iter().enumerate() {
                    let mut err = 0.0f64;
                    for c in 0..channels {
                        let at = (i * channels + c) * pixels + p;
                        err += f64::from(recon[at] - images[at]).powi(2);
                    }
                    let err = err / channels as f64;
                    total += err;
                    let entry = sums.entry(part).or_default();
                    entry.0 += err;
                    entry.1 += 1;
                }
            }
        }
        let overall = total / (validation.len() * pixels) as f64;
        let by_part: Vec<String> = sums
            .iter()
            .map(|(id, (sum, count))| {
                let name = match (id, manifest.parts.get(id)) {
                    (_, Some(name)) => name.clone(),
                    (0, None) => "background".to_string(),
                    (_, None) => format!("part {id}"),
                };
                format!("{name} {:.5} ({count} px)", sum / *count as f64)
            })
            .collect();
        println!(
            "{} (step {}): all {overall:.5}; {}",
            run.display(),
            loaded.meta.step,
            by_part.join("; ")
        );
    }
    Ok(())
}
