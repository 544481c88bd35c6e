//! Which anomaly map separates good from defective images best? Scores one split of a dataset
//! with a trained run under several map variants and prints the image AUROC of each, per class.
//!
//! `cargo run --example score_study -- --model RUN_DIR --data DIR [--split validation]
//! [--iterations 0] [--device cpu]`
//!
//! The map variants differ only in how the residual between image and reconstruction is formed,
//! so one descent per image serves them all.

use std::collections::BTreeMap;
use std::path::PathBuf;

use unseen::compute::{ComputeDevice, select_device};
use unseen::dataset::Manifest;
use unseen::eval::metrics::auroc;
use unseen::inspect::image_io::read_image;
use unseen::inspect::score::{MapKind, ScoreSettings, anomaly_map};
use unseen::inspect::{DescentConfig, InspectModel, Inspector, InspectorSettings};

fn main() -> anyhow::Result<()> {
    let mut device = ComputeDevice::Cpu;
    let mut model_dir: Option<PathBuf> = None;
    let mut data_dir: Option<PathBuf> = None;
    let mut split = "validation".to_string();
    let mut descent = DescentConfig {
        max_iterations: 0,
        ..DescentConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--device" => device = value.parse()?,
            "--model" => model_dir = Some(value.into()),
            "--data" => data_dir = Some(value.into()),
            "--split" => split = value,
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
    let manifest = Manifest::load(&data_dir.join("manifest.json"))?;
    let mut images = Vec::new();
    let mut classes = Vec::new();
    for sample in manifest.samples_of(&split) {
        images.extend(read_image(&data_dir.join(&sample.image), size, channels)?);
        classes.push(sample.id.class.clone());
    }
    anyhow::ensure!(
        !classes.is_empty(),
        "no {split} images in {}",
        data_dir.display()
    );
    let inspector = Inspector::new(
        model,
        InspectorSettings {
            descent,
            ..InspectorSettings::default()
        },
    );
    let reports = inspector.inspect_images(&images, classes.len(), None);

    let variants: Vec<(String, ScoreSettings)> = [
        ("l1 σ1", MapKind::Absolute, 0, 1.0),
        ("l1 σ2", MapKind::Absolute, 0, 2.0),
        ("shift1 σ1", MapKind::Absolute, 1, 1.0),
        ("shift1 σ2", MapKind::Absolute, 1, 2.0),
        ("shift2 σ1", MapKind::Absolute, 2, 1.0),
        ("ssim σ1", MapKind::Ssim, 0, 1.0),
        ("ssim shift1", MapKind::Ssim, 1, 1.0),
    ]
    .into_iter()
    .map(|(name, map, shift, sigma)| {
        (
            name.to_string(),
            ScoreSettings {
                map,
                shift_tolerance: shift,
                smoothing_sigma: sigma,
                ..ScoreSettings::default()
            },
        )
    })
    .collect();

    let mut class_names: Vec<String> = classes.iter().filter(|c| *c != "good").cloned().collect();
    class_names.sort();
    class_names.dedup();
    print!("{:<14} {:<6}", "map", "score");
    for c in &class_names {
        print!(" {c:>12}");
    }
    println!(" {:>12}", "all");
    for (name, settings) in &variants {
        // per score kind: good scores and per-class defective scores
        let mut by_class: BTreeMap<&str, Vec<[f32; 2]>> = BTreeMap::new();
        for (report, class) in reports.iter().zip(&classes) {
            let map = anomaly_map(&report.image, &report.reconstruction, size, settings);
            let max = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sorted = map.clone();
            sorted.sort_unstable_by(|a, b| b.total_cmp(a));
            let k = (map.len() / 100).max(1);
            let top = sorted[..k].iter().sum::<f32>() / k as f32;
            by_class.entry(class).or_default().push([max, top]);
        }
        for (s, score) in ["max", "top1%"].iter().enumerate() {
            let good: Vec<f32> = by_class["good"].iter().map(|v| v[s]).collect();
            print!("{name:<14} {score:<6}");
            let mut all = Vec::new();
            for c in &class_names {
                let bad: Vec<f32> = by_class[c.as_str()].iter().map(|v| v[s]).collect();
                print!(" {:>12.3}", auroc(&good, &bad));
                all.extend(bad);
            }
            println!(" {:>12.3}", auroc(&good, &all));
        }
    }
    Ok(())
}
