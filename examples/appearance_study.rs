//! What the line's good photos share that the renderer does not draw: the residual
//! photo − reference (the good product rendered at each photo's refined pose) per part and
//! per rendered grey level, and how image AUROC on the test photos moves when the absolute
//! difference map (smoothed, its maximum the score) is scaled by that residual's spread, for
//! a few caps on the spread.
//!
//! `cargo run --example appearance_study -- --model RUN_DIR --data DATASET --photos MVTEC_DIR
//! [--fit N]`
//!
//! The first `--fit` good photos of `train/good` fit the residual model; `test/` is scored.
//! A study: its figures go to `docs/results/`, never into tests.

#[path = "common/flags.rs"]
mod flags;

use std::path::PathBuf;

use unseen::compute::{ComputeDevice, select_device};
use unseen::dataset::photos::{good_photos, test_photos};
use unseen::imaging::{gaussian_blur, read_image};
use unseen::inspect::appearance::Appearance;
use unseen::inspect::{InspectorSettings, OpenOptions, open_inspector};
use unseen::metrics::auroc;

fn main() -> anyhow::Result<()> {
    let (mut run, mut data, mut photos) = (None, None, None);
    let mut fit = 150usize;
    let mut dump: Option<PathBuf> = None;
    let mut rounds_flag: Option<usize> = None;
    let mut retry_flag: Option<f32> = None;
    let mut turns: Option<usize> = None;
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--model" => run = Some(PathBuf::from(value)),
            "--data" => data = Some(PathBuf::from(value)),
            "--photos" => photos = Some(PathBuf::from(value)),
            "--fit" => fit = value.parse()?,
            "--dump" => dump = Some(PathBuf::from(value)),
            "--rounds" => rounds_flag = Some(value.parse()?),
            "--retry-above" => retry_flag = Some(value.parse()?),
            "--turns" => turns = Some(value.parse()?),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let (Some(run), Some(data), Some(photos)) = (run, data, photos) else {
        anyhow::bail!("give --model, --data and --photos");
    };
    let selected = select_device(ComputeDevice::Cpu)?;
    let opened = open_inspector(
        &OpenOptions {
            run_dir: run,
            data: Some(data),
            settings: InspectorSettings::default(),
            recalibrate: false,
            save_calibration: false,
        },
        &selected.device,
    )?;
    let mut inspector = opened.inspector;
    inspector.set_photo_input(true);
    let size = inspector.model.image_size();
    let rounds = rounds_flag.unwrap_or(inspector.refine_rounds());
    let retry = retry_flag.or(inspector
        .calibration
        .as_ref()
        .and_then(|c| c.refine.as_ref())
        .and_then(|r| r.retry_above));
    if let Some(t) = turns
        && let Some(s) = inspector.synthesizer_mut()
    {
        s.settings.symmetry_turns = t;
    }
    println!("rounds {rounds}, retry above {retry:?}");
    let synth = |paths: &[PathBuf]| -> anyhow::Result<(Vec<Vec<f32>>, Vec<_>)> {
        let mut images = Vec::new();
        let mut out = Vec::new();
        for chunk in paths.chunks(64) {
            let flat: Vec<f32> = chunk
                .iter()
                .map(|p| read_image(p, size, 1))
                .collect::<Result<Vec<_>, _>>()?
                .concat();
            let made = inspector
                .synthesize(&flat, chunk.len(), rounds, retry, None, 0.0)
                .map_err(anyhow::Error::msg)?;
            images.extend(flat.chunks(size * size).map(<[f32]>::to_vec));
            out.extend(made);
        }
        Ok((images, out))
    };
    let good = good_photos(&photos)?;
    let fit_paths: Vec<PathBuf> = good.into_iter().take(fit).collect();
    let (fit_images, fit_synth) = synth(&fit_paths)?;
    let pairs: Vec<(&[f32], &[f32], &[u8])> = fit_images
        .iter()
        .zip(&fit_synth)
        .map(|(i, s)| (i.as_slice(), s.reference.as_slice(), s.part.as_slice()))
        .collect();
    if let Some(dir) = &dump {
        std::fs::create_dir_all(dir)?;
        let rows: Vec<_> = pairs.iter().take(12).copied().collect();
        write_sheet(&dir.join("fit.png"), &rows, size)?;
    }
    let mut model = Appearance::fit(&pairs).map_err(anyhow::Error::msg)?;
    println!("{}", model.describe());

    let test = test_photos(&photos)?;
    let paths: Vec<PathBuf> = test.iter().map(|p| p.path.clone()).collect();
    let (images, synths) = synth(&paths)?;
    let variants: [(&str, bool); 2] = [("plain", false), ("scaled", true)];
    for (sigma, cap) in [
        (2.0f32, 1e6f32),
        (2.0, 2.0),
        (2.0, 4.0),
        (2.0, 8.0),
        (1.0, 4.0),
    ] {
        model.max_spread_ratio = cap;
        for (name, scaled) in variants {
            let scores: Vec<f32> = images
                .iter()
                .zip(&synths)
                .map(|(image, s)| {
                    let scale = if scaled {
                        model.scale(&s.reference, &s.part)
                    } else {
                        vec![1.0; image.len()]
                    };
                    let map: Vec<f32> = image
                        .iter()
                        .zip(&s.reference)
                        .zip(&scale)
                        .map(|((x, r), k)| (x - r).abs() * k)
                        .collect();
                    let map = gaussian_blur(&map, size, sigma);
                    map.iter().copied().fold(0.0f32, f32::max)
                })
                .collect();
            let of = |class: &str| -> Vec<f32> {
                test.iter()
                    .zip(&scores)
                    .filter(|(p, _)| p.class == class)
                    .map(|(_, s)| *s)
                    .collect()
            };
            let g = of("good");
            let mut line = format!("σ{sigma} cap {cap} {name:12}");
            let mut all = Vec::new();
            for class in ["bulge", "short_notch"] {
                let d = of(class);
                line += &format!(" {class} {:.3}", auroc(&g, &d));
                all.extend(d);
            }
            line += &format!(" all {:.3}", auroc(&g, &all));
            println!("{line}");
            // The good photos scored highest and the short notches lowest, as the pipeline
            // scores them (scaled, σ 2, cap 2).
            if let Some(dir) = &dump
                && scaled
                && sigma == 2.0
                && cap == 2.0
            {
                for (class, worst_first) in [("good", true), ("short_notch", false)] {
                    let mut order: Vec<usize> = (0..test.len())
                        .filter(|&i| test[i].class == class)
                        .collect();
                    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
                    if worst_first {
                        order.reverse();
                    }
                    let rows: Vec<(&[f32], &[f32], &[u8])> = order
                        .iter()
                        .take(8)
                        .map(|&i| {
                            println!("  {class} {} score {:.4}", test[i].relative, scores[i]);
                            (
                                images[i].as_slice(),
                                synths[i].reference.as_slice(),
                                synths[i].part.as_slice(),
                            )
                        })
                        .collect();
                    write_sheet(&dir.join(format!("{class}.png")), &rows, size)?;
                }
            }
        }
    }
    Ok(())
}

/// Rows of photo | reference | residual (mid-grey = 0, ±64 levels full scale) | part map,
/// 4× enlarged, one row per image.
fn write_sheet(
    path: &std::path::Path,
    rows: &[(&[f32], &[f32], &[u8])],
    size: usize,
) -> anyhow::Result<()> {
    let up = 4usize;
    let mut sheet = image::GrayImage::new((4 * size * up) as u32, (rows.len() * size * up) as u32);
    for (row, (image, reference, part)) in rows.iter().enumerate() {
        for p in 0..size * size {
            let values = [
                image[p],
                reference[p],
                0.5 + 2.0 * (image[p] - reference[p]),
                f32::from(part[p]) / 5.0,
            ];
            for (k, v) in values.iter().enumerate() {
                let g = (v.clamp(0.0, 1.0) * 255.0) as u8;
                for dy in 0..up {
                    for dx in 0..up {
                        let x = (k * size + p % size) * up + dx;
                        let y = (row * size + p / size) * up + dy;
                        sheet.put_pixel(x as u32, y as u32, image::Luma([g]));
                    }
                }
            }
        }
    }
    sheet.save(path)?;
    Ok(())
}
