//! Which anomaly map separates good from defective images best? Scores one split of a dataset
//! with a trained run under several map variants and prints the image AUROC of each, per class,
//! and the pixel AUROC over all images of the split and the fraction of defective images whose
//! map peaks inside the defect's mask (where the dataset has masks).
//!
//! `cargo run --example score_study -- --model RUN_DIR --data DIR [--split validation]
//! [--train TRAIN_DIR] [--iterations 0] [--device cpu]`
//!
//! With `--train` (default: `--data`), the training renders there also give the
//! pose-normalised variants and those made against the renders (`-ref`).
//!
//! The map variants differ only in how the residual between image and reconstruction is formed,
//! so one descent per image serves them all.

#[path = "common/flags.rs"]
mod flags;

use std::collections::BTreeMap;
use std::path::PathBuf;

use unseen::compute::{ComputeDevice, select_device};
use unseen::dataset::{Manifest, Split};
use unseen::imaging::{read_image, read_mask};
use unseen::inspect::score::{ScoreKind, ScoreSettings, image_score};
use unseen::inspect::{DescentConfig, InspectModel, Inspector, InspectorSettings, PartAtlas};
use unseen::metrics::{auroc, pixel_auroc};

fn main() -> anyhow::Result<()> {
    let mut device = ComputeDevice::Cpu;
    let mut model_dir: Option<PathBuf> = None;
    let mut data_dir: Option<PathBuf> = None;
    let mut train_dir: Option<PathBuf> = None;
    let mut split = Split::Validation;
    let mut descent = DescentConfig {
        max_iterations: 0,
        ..DescentConfig::default()
    };
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--device" => device = value.parse()?,
            "--model" => model_dir = Some(value.into()),
            "--data" => data_dir = Some(value.into()),
            "--train" => train_dir = Some(value.into()),
            "--split" => split = value.parse()?,
            "--iterations" => descent.max_iterations = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let (Some(model_dir), Some(data_dir)) = (model_dir, data_dir) else {
        anyhow::bail!("give --model RUN_DIR and --data DIR");
    };
    let selected = select_device(device)?;
    let model = InspectModel::load(&model_dir, &selected.device)?;
    let size = model.image_size();
    let channels = model.channels();
    let manifest = Manifest::load_dir(&data_dir)?;
    let mut images = Vec::new();
    let mut classes = Vec::new();
    let mut labels: Vec<bool> = Vec::new();
    for sample in manifest.samples_of(split) {
        images.extend(read_image(&data_dir.join(&sample.image), size, channels)?);
        classes.push(sample.id.class.clone());
        match &sample.mask {
            Some(rel) => {
                labels.extend(read_mask(&data_dir.join(rel), size)?.iter().map(|&m| m > 0))
            }
            None => labels.extend(std::iter::repeat_n(false, size * size)),
        }
    }
    anyhow::ensure!(
        !classes.is_empty(),
        "no {split} images in {}",
        data_dir.display()
    );
    let mut inspector = Inspector::new(
        model,
        InspectorSettings {
            descent,
            ..InspectorSettings::default()
        },
    );
    let train_dir = train_dir.unwrap_or_else(|| data_dir.clone());
    match PartAtlas::load(&train_dir) {
        Ok(atlas) => {
            if let Err(e) = inspector.set_atlas(Some(atlas)) {
                eprintln!("no pose-normalised variants: {e}");
            }
        }
        Err(e) => eprintln!("no pose-normalised variants: {e}"),
    }
    let reports = inspector.inspect_images(&images, classes.len(), None);
    let reconstructions: Vec<&[f32]> = reports
        .iter()
        .map(|r| r.reconstruction.as_slice())
        .collect();

    // Calibration's candidates, and wider smoothing and shifts beside them.
    let base = ScoreSettings::default();
    let mut variants = base.candidates_with(inspector.atlas().is_some());
    variants.extend([
        ScoreSettings {
            smoothing_sigma: 2.0,
            ..base
        },
        ScoreSettings {
            shift_tolerance: 1,
            smoothing_sigma: 2.0,
            ..base
        },
        ScoreSettings {
            shift_tolerance: 2,
            ..base
        },
        ScoreSettings {
            smoothing_sigma: 2.0,
            pose_normalised: true,
            ..base
        },
        ScoreSettings {
            map: unseen::inspect::score::MapKind::Ssim,
            smoothing_sigma: 2.0,
            ..base
        },
        ScoreSettings {
            map: unseen::inspect::score::MapKind::Ssim,
            smoothing_sigma: 2.0,
            pose_normalised: true,
            ..base
        },
        ScoreSettings {
            smoothing_sigma: 3.0,
            ..base
        },
    ]);
    let kinds = [ScoreKind::MapMax, ScoreKind::TopKMean];

    let mut class_names: Vec<String> = classes.iter().filter(|c| *c != "good").cloned().collect();
    class_names.sort();
    class_names.dedup();
    print!("{:<14} {:<10}", "map", "score");
    for c in &class_names {
        print!(" {c:>12}");
    }
    println!(" {:>12} {:>12} {:>12}", "all", "pixel", "peak-in-mask");
    for settings in &variants {
        let name = settings.map_name();
        // Per class, each image's score of every kind.
        let mut by_class: BTreeMap<&str, Vec<[f32; 2]>> = BTreeMap::new();
        let maps = inspector.maps(&images, &reconstructions, settings);
        let pixels: Vec<f32> = maps.iter().flatten().copied().collect();
        let pixel = pixel_auroc(&pixels, &labels);
        // How often a defective image's map peaks inside its mask.
        let plane = size * size;
        let (mut hits, mut masked) = (0, 0);
        for (i, map) in maps.iter().enumerate() {
            let mask = &labels[i * plane..(i + 1) * plane];
            if mask.contains(&true) {
                masked += 1;
                let peak = (0..plane).max_by(|&a, &b| map[a].total_cmp(&map[b]));
                hits += usize::from(peak.is_some_and(|p| mask[p]));
            }
        }
        let peak_on_mask = hits as f64 / f64::from(masked.max(1));
        for ((report, class), map) in reports.iter().zip(&classes).zip(maps) {
            let scores = kinds.map(|kind| image_score(kind, report.loss, &map, settings));
            by_class.entry(class).or_default().push(scores);
        }
        for (s, kind) in kinds.iter().enumerate() {
            let good: Vec<f32> = by_class["good"].iter().map(|v| v[s]).collect();
            print!("{name:<14} {:<10}", kind.as_str());
            let mut all = Vec::new();
            for c in &class_names {
                let bad: Vec<f32> = by_class[c.as_str()].iter().map(|v| v[s]).collect();
                print!(" {:>12.3}", auroc(&good, &bad));
                all.extend(bad);
            }
            println!(
                " {:>12.3} {pixel:>12.3} {peak_on_mask:>12.3}",
                auroc(&good, &all)
            );
        }
    }
    Ok(())
}
