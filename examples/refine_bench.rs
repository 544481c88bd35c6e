//! Pose refinement against the true poses of a rendered dataset: how close the refined pose
//! comes, two ways, and how fast.
//!
//! `cargo run --example refine_bench -- --train TRAIN_DATA --eval EVAL_DATA [--count N]
//! [--rounds N] [--starts K] [--batch B] [--perturb-deg D] [--fixed-frame true|false]
//! [--refine-ss S] [--polishes N] [--polish-deg A,B,…] [--turns N] [--tries N]
//! [--pinned-rise R] [--settings FILE.toml]`
//!
//! The offset, zoom and exposure are searched where the training recipe varies them, as
//! inspection does (`--fixed-frame` overrides the first two).
//!
//! Starts come from the `K` training renders nearest to each image (their manifest poses), or
//! with `--perturb-deg` from the true pose turned `D` degrees about a random axis. Prints, per
//! class and overall: the rotation error (degrees) for images whose true render shows at
//! least 20 notch pixels (the cap is a body of revolution but for its notch, so without it the
//! turn about its axis cannot be told), and for every image the mean absolute grey-level
//! difference between the good renders at the true and at the refined pose; then renders per
//! image and images per second.

#[path = "common/flags.rs"]
mod flags;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use glam::{DQuat, DVec3};
use unseen::dataset::Manifest;
use unseen::imaging::read_image;
use unseen::refine::{PoseBank, RefineInput, RefineSettings, Scene, ScenePose, refine};
use unseen::render::{Gpu, Renderer};
use unseen::rng::Rng;

/// Notch pixels a true render must show for its rotation error to count.
const MIN_NOTCH_PX: usize = 20;

struct Outcome {
    class: String,
    angle_deg: Option<f64>,
    grey_levels: f64,
    renders: usize,
    rounds: usize,
    loss: f64,
}

fn main() -> anyhow::Result<()> {
    let mut train: Option<PathBuf> = None;
    let mut eval: Option<PathBuf> = None;
    let mut count = 50usize;
    let mut starts = 3usize;
    let mut axis_starts = 1usize;
    let mut retry_above: Option<f32> = None;
    // Searched where the training recipe varies them, as inspection does, unless set.
    let mut fixed_frame: Option<bool> = None;
    let mut batch = 32usize;
    let mut perturb: Option<f64> = None;
    let mut settings = RefineSettings::default();
    let mut full_mesh = false;
    let mut refine_ss: Option<u32> = None;
    for (flag, value) in flags::flag_pairs()? {
        match flag.as_str() {
            "--train" => train = Some(value.into()),
            "--eval" => eval = Some(value.into()),
            "--count" => count = value.parse()?,
            "--rounds" => settings.max_rounds = value.parse()?,
            "--starts" => starts = value.parse()?,
            "--retry-above" => retry_above = Some(value.parse()?),
            "--axis-starts" => axis_starts = value.parse()?,
            "--batch" => batch = value.parse()?,
            "--perturb-deg" => perturb = Some(value.parse()?),
            "--refine-ss" => refine_ss = Some(value.parse()?),
            "--turns" => settings.symmetry_turns = value.parse()?,
            "--tries" => settings.max_tries = value.parse()?,
            "--pinned-rise" => settings.axis_pinned_rise = Some(value.parse()?),
            "--polishes" => settings.axis_polishes = value.parse()?,
            "--polish-deg" => {
                settings.axis_polish_deg =
                    value.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            "--fixed-frame" => fixed_frame = Some(value.parse::<bool>()?),
            "--full-mesh" => full_mesh = value.parse()?,
            "--settings" => {
                let keep = settings.max_rounds;
                settings = toml::from_str(&std::fs::read_to_string(&value)?)?;
                settings.max_rounds = keep;
            }
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    if retry_above.is_some() {
        settings.retry_above = retry_above;
    }
    let train = train.ok_or_else(|| anyhow::anyhow!("--train TRAIN_DATA is required"))?;
    let eval = eval.ok_or_else(|| anyhow::anyhow!("--eval EVAL_DATA is required"))?;
    let gpu = Gpu::headless()?;
    println!("adapter: {}", gpu.describe());
    let mut renderer = Renderer::new(gpu);
    let train_manifest = Manifest::load(&train.join("manifest.json"))?;
    let mut scene = Scene::for_recipe(&renderer, &train_manifest.recipe, &train_manifest.product)?;
    let inspected = unseen::refine::synth::recipe_settings(&train_manifest.recipe);
    settings.search_offset_scale = fixed_frame.map_or(inspected.search_offset_scale, |f| !f);
    settings.fit_exposure = inspected.fit_exposure;
    println!(
        "searching offset and zoom: {}; fitting exposure: {}",
        settings.search_offset_scale, settings.fit_exposure
    );
    if full_mesh {
        scene = scene.without_decimation();
    }
    if let Some(ss) = refine_ss {
        scene.supersample = ss;
    }
    println!(
        "triangles: {} (references), {} (candidates); symmetry axis {:?}",
        scene.triangles.0, scene.triangles.1, scene.symmetry_axis
    );
    let t = Instant::now();
    let bank = PoseBank::load(&train)?;
    println!(
        "pose bank: {} renders in {:.1} s",
        bank.len(),
        t.elapsed().as_secs_f64()
    );

    let manifest = Manifest::load(&eval.join("manifest.json"))?;
    let size = manifest.image.size as usize;
    let mut per_class: BTreeMap<String, usize> = BTreeMap::new();
    let mut samples = Vec::new();
    let only = std::env::var("REFINE_CLASS").ok();
    for record in manifest.samples_of(unseen::dataset::Split::Test) {
        if only.as_ref().is_some_and(|c| *c != record.id.class) {
            continue;
        }
        let n = per_class.entry(record.id.class.clone()).or_default();
        if *n < count {
            *n += 1;
            samples.push(record);
        }
    }
    // REFINE_ONLY=i,j,…: only these of the samples chosen above (for tracing one image).
    if let Ok(only) = std::env::var("REFINE_ONLY") {
        let keep: Vec<usize> = only.split(',').filter_map(|v| v.parse().ok()).collect();
        samples = keep
            .iter()
            .filter_map(|&i| samples.get(i).cloned())
            .collect();
    }
    let images: Vec<Vec<f32>> = samples
        .iter()
        .map(|r| read_image(&eval.join(&r.image), size, 1))
        .collect::<Result<_, _>>()?;
    let truths: Vec<ScenePose> = samples
        .iter()
        .map(|r| {
            let axis = DVec3::from(r.view.axis).normalize_or(DVec3::Y);
            ScenePose::from_rotation(DQuat::from_axis_angle(axis, r.view.angle_deg.to_radians()))
        })
        .collect();
    let mut rng = Rng::new(17);
    let start_poses: Vec<Vec<ScenePose>> = images
        .iter()
        .zip(&truths)
        .map(|(image, truth)| match perturb {
            Some(deg) => {
                let axis = DVec3::from(rng.unit_vector());
                let turn = DQuat::from_axis_angle(axis, deg.to_radians());
                vec![ScenePose::from_rotation(turn * truth.rotation)]
            }
            None => bank
                .nearest(image, starts, 64)
                .into_iter()
                .flat_map(|i| {
                    let pose = bank.pose(i);
                    (0..axis_starts).map(move |j| {
                        let turn = DQuat::from_rotation_y(
                            std::f64::consts::TAU * j as f64 / axis_starts as f64,
                        );
                        ScenePose::from_rotation(pose.rotation * turn)
                    })
                })
                .collect(),
        })
        .collect();
    let lookup_s = t.elapsed().as_secs_f64();
    {
        let mut errors: Vec<f64> = start_poses
            .iter()
            .zip(&truths)
            .map(|(s, t)| s[0].angle_to_deg(t))
            .collect();
        let mut best: Vec<f64> = start_poses
            .iter()
            .zip(&truths)
            .map(|(s, t)| {
                s.iter()
                    .map(|p| p.angle_to_deg(t))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        println!(
            "first start's error: p50 {:.2}° p90 {:.2}° p95 {:.2}°; best start's p50 {:.2}° p90 {:.2}° p95 {:.2}°",
            quantile(&mut errors, 0.5),
            quantile(&mut errors, 0.9),
            quantile(&mut errors, 0.95),
            quantile(&mut best, 0.5),
            quantile(&mut best, 0.9),
            quantile(&mut best, 0.95)
        );
    }

    let started = Instant::now();
    let mut refined = Vec::with_capacity(images.len());
    for chunk in (0..images.len()).collect::<Vec<_>>().chunks(batch.max(1)) {
        let separate = std::env::var_os("REFINE_SEPARATE").is_some();
        let inputs: Vec<RefineInput<'_>> = chunk
            .iter()
            .flat_map(|&i| {
                if separate {
                    start_poses[i]
                        .iter()
                        .map(|p| RefineInput {
                            image: &images[i],
                            starts: vec![*p],
                        })
                        .collect::<Vec<_>>()
                } else {
                    vec![RefineInput {
                        image: &images[i],
                        starts: start_poses[i].clone(),
                    }]
                }
            })
            .collect();
        let out = refine(&scene, &mut renderer, &inputs, &settings, None)?;
        if separate {
            // Each start refined on its own; the lowest final loss wins.
            let mut out = out.into_iter();
            for &i in chunk {
                let mut tries: Vec<_> = out.by_ref().take(start_poses[i].len()).collect();
                let renders: usize = tries.iter().map(|t| t.renders).sum();
                tries.sort_by(|a, b| a.loss.total_cmp(&b.loss));
                let mut best = tries.swap_remove(0);
                best.renders = renders;
                refined.push(best);
            }
        } else {
            refined.extend(out);
        }
    }
    let refine_s = started.elapsed().as_secs_f64();
    if let Some(n) = std::env::var("REFINE_SCAN")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // The loss along the straight path from the start to the true pose.
        for i in 0..n.min(images.len()) {
            let from = start_poses[i][0].rotation;
            let path: Vec<ScenePose> = (0..=10)
                .map(|k| ScenePose::from_rotation(from.slerp(truths[i].rotation, k as f64 / 10.0)))
                .collect();
            let frames = scene.render_candidates(&mut renderer, &path)?;
            let mut line = format!("scan {i} ({}):", samples[i].id.class);
            for level in &settings.levels {
                let sigma = level.blur_px;
                let im = unseen::imaging::gaussian_blur(&images[i], size, sigma);
                line.push_str(&format!("\n  blur {sigma}:"));
                for f in &frames {
                    let r: Vec<f32> = f.shade.iter().map(|&v| f32::from(v) / 255.0).collect();
                    let r = unseen::imaging::gaussian_blur(&r, size, sigma);
                    let fit = unseen::refine::compare::robust_fit(
                        &im,
                        &r,
                        level.robust_scale,
                        Some((1.0, 0.0)),
                    );
                    line.push_str(&format!(" {:.2e}", fit.loss));
                }
            }
            println!("{line}");
        }
    }
    if let Some(n) = std::env::var("REFINE_TRACE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        for (i, r) in refined.iter().enumerate().take(n) {
            println!(
                "image {i} ({}): start {} rounds {}",
                samples[i].id.class, r.start, r.rounds
            );
            for s in &r.steps {
                println!(
                    "   round {:>2} level {} loss {:.3e} error {:.3}° offset {:?} log-scale {:.4}",
                    s.round,
                    s.level,
                    s.loss,
                    s.pose.angle_to_deg(&truths[i]),
                    s.pose.offset_px,
                    s.pose.log_scale
                );
            }
        }
    }

    // Judge against renders of the good product at the true and the refined pose.
    let true_frames = scene.render_references(&mut renderer, &truths)?;
    let poses: Vec<ScenePose> = refined.iter().map(|r| r.pose).collect();
    let refined_frames = scene.render_references(&mut renderer, &poses)?;
    let notch_id = train_manifest
        .parts
        .iter()
        .find(|(_, name)| name.as_str() == "notch")
        .map_or(u8::MAX, |(&id, _)| id);
    let outcomes: Vec<Outcome> = (0..samples.len())
        .map(|i| {
            let notch_px = true_frames[i]
                .part
                .iter()
                .filter(|&&p| p == notch_id)
                .count();
            let grey = true_frames[i]
                .shade
                .iter()
                .zip(&refined_frames[i].shade)
                .map(|(&a, &b)| f64::from(a.abs_diff(b)))
                .sum::<f64>()
                / (size * size) as f64;
            Outcome {
                class: samples[i].id.class.clone(),
                angle_deg: (notch_px >= MIN_NOTCH_PX).then(|| poses[i].angle_to_deg(&truths[i])),
                grey_levels: grey,
                renders: refined[i].renders,
                rounds: refined[i].rounds,
                loss: f64::from(refined[i].loss),
            }
        })
        .collect();
    // REFINE_DUMP=FILE: one line per image (index, class, rotation error, loss, renders).
    if let Ok(path) = std::env::var("REFINE_DUMP") {
        let lines: String = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| {
                format!(
                    "{i} {} {:.3} {:.4e} {}\n",
                    o.class,
                    poses[i].angle_to_deg(&truths[i]),
                    o.loss,
                    o.renders
                )
            })
            .collect();
        std::fs::write(path, lines)?;
    }
    if std::env::var_os("REFINE_AUROC").is_some() {
        // How well the render at the refined pose separates good from defective images.
        use unseen::inspect::score::{MapKind, ScoreSettings, anomaly_map, reference_map};
        let refs: Vec<Vec<f32>> = refined_frames
            .iter()
            .zip(&refined)
            .map(|(f, r)| {
                f.shade
                    .iter()
                    .map(|&v| (r.gain * f32::from(v) / 255.0 + r.bias).clamp(0.0, 1.0))
                    .collect()
            })
            .collect();
        let masks: Vec<Vec<u8>> = samples
            .iter()
            .map(|r| match &r.mask {
                Some(m) => unseen::imaging::read_mask(&eval.join(m), size).expect("mask"),
                None => vec![0; size * size],
            })
            .collect();
        for (label, settings) in map_variants() {
            let maps: Vec<Vec<f32>> = (0..images.len())
                .map(|i| anomaly_map(&images[i], &refs[i], size, &settings))
                .collect();
            report_auroc(&format!("render {label}"), &maps, &outcomes, &masks);
            if label == "abs σ1" {
                let peak = |m: &Vec<f32>| m.iter().copied().fold(0.0f32, f32::max);
                // REFINE_PEAKS=FILE: each image's class, rotation error, notch pixels of the
                // true and the refined render, loss, the map's peak and renders.
                if let Ok(path) = std::env::var("REFINE_PEAKS") {
                    let notch = |f: &unseen::render::Frame| {
                        f.part.iter().filter(|&&p| p == notch_id).count()
                    };
                    let lines: String = (0..images.len())
                        .map(|i| {
                            format!(
                                "{i} {} {:.3} {} {} {:.4e} {:.4} {}\n",
                                outcomes[i].class,
                                poses[i].angle_to_deg(&truths[i]),
                                notch(&true_frames[i]),
                                notch(&refined_frames[i]),
                                refined[i].loss,
                                peak(&maps[i]),
                                refined[i].renders
                            )
                        })
                        .collect();
                    std::fs::write(path, lines)?;
                }
                let mut good: Vec<usize> = (0..images.len())
                    .filter(|&i| outcomes[i].class == "good")
                    .collect();
                good.sort_by(|&a, &b| peak(&maps[b]).total_cmp(&peak(&maps[a])));
                let mut sheet = image::GrayImage::new(64 * 3, 64 * 10);
                for (row, &i) in good.iter().take(10).enumerate() {
                    println!(
                        "high good {i}: peak {:.3} angle {:?} grey {:.2} loss {:.2e} tries start {}",
                        peak(&maps[i]),
                        outcomes[i].angle_deg,
                        outcomes[i].grey_levels,
                        refined[i].loss,
                        refined[i].start
                    );
                    for (k, v) in images[i].iter().enumerate() {
                        sheet.put_pixel(
                            (k % 64) as u32,
                            (row * 64 + k / 64) as u32,
                            image::Luma([(v * 255.0) as u8]),
                        );
                        sheet.put_pixel(
                            (64 + k % 64) as u32,
                            (row * 64 + k / 64) as u32,
                            image::Luma([(refs[i][k] * 255.0) as u8]),
                        );
                        sheet.put_pixel(
                            (128 + k % 64) as u32,
                            (row * 64 + k / 64) as u32,
                            image::Luma([(maps[i][k] * 1000.0).min(255.0) as u8]),
                        );
                    }
                }
                sheet.save("/tmp/high_good.png")?;
            }
        }
        // Pose-tolerant: the per-pixel minimum over renders at the refined pose turned ±δ.
        let deltas: Vec<f64> = std::env::var("REFINE_TOLERANCE")
            .ok()
            .map(|v| v.split(',').filter_map(|d| d.parse().ok()).collect())
            .unwrap_or_else(|| vec![0.3, 0.6]);
        for delta_deg in deltas {
            let mut around = Vec::new();
            for p in &poses {
                for axis in 0..3 {
                    for sign in [-1.0, 1.0] {
                        let mut d = [0.0; 6];
                        d[axis] = sign * delta_deg.to_radians();
                        around.push(p.moved(&d));
                    }
                }
            }
            let frames = scene.render_references(&mut renderer, &around)?;
            for (label, map) in [("abs", MapKind::Absolute), ("ssim", MapKind::Ssim)] {
                let settings = ScoreSettings {
                    map,
                    shift_tolerance: 0,
                    ..Default::default()
                };
                // Each pixel's smallest difference to any of the seven renders, as the
                // comparison with one render makes it, then smoothed.
                let maps: Vec<Vec<f32>> = (0..images.len())
                    .map(|i| {
                        let mut renders: Vec<Vec<f32>> = vec![refs[i].clone()];
                        renders.extend(
                            frames[i * 6..(i + 1) * 6]
                                .iter()
                                .map(|f| f.shade.iter().map(|&v| f32::from(v) / 255.0).collect()),
                        );
                        let mut best = vec![f32::INFINITY; size * size];
                        for r in &renders {
                            let d = unseen::inspect::score::difference_map(
                                &images[i], r, size, &settings,
                            );
                            for (o, v) in best.iter_mut().zip(d) {
                                *o = o.min(v);
                            }
                        }
                        unseen::imaging::gaussian_blur(&best, size, settings.smoothing_sigma)
                    })
                    .collect();
                report_auroc(
                    &format!("render±{delta_deg}° {label} σ1"),
                    &maps,
                    &outcomes,
                    &masks,
                );
            }
        }
        // The lookup that learns nothing: the 16 nearest training renders, ±1 px, blur 1.
        let lookup = ScoreSettings {
            map: MapKind::Absolute,
            shift_tolerance: 1,
            ..Default::default()
        };
        let maps: Vec<Vec<f32>> = images
            .iter()
            .map(|im| {
                let near: Vec<Vec<f32>> = bank
                    .nearest(im, 16, 64)
                    .into_iter()
                    .map(|j| bank.image(j))
                    .collect();
                let refs: Vec<&[f32]> = near.iter().map(|v| v.as_slice()).collect();
                reference_map(im, &refs, size, &lookup)
            })
            .collect();
        report_auroc("lookup abs±1 σ1", &maps, &outcomes, &masks);
        let lookup_maps = maps.clone();
        for (label, settings) in map_variants().into_iter().take(2) {
            let maps: Vec<Vec<f32>> = (0..images.len())
                .map(|i| {
                    let r = anomaly_map(&images[i], &refs[i], size, &settings);
                    r.iter()
                        .zip(&lookup_maps[i])
                        .map(|(a, b)| a.min(*b))
                        .collect()
                })
                .collect();
            report_auroc(
                &format!("min(render {label}, lookup)"),
                &maps,
                &outcomes,
                &masks,
            );
        }
        let losses: Vec<Vec<f32>> = refined.iter().map(|r| vec![r.loss; size * size]).collect();
        report_auroc("refined loss", &losses, &outcomes, &masks);
    }
    if std::env::var_os("REFINE_WORST").is_some() {
        // The worst by rotation error: is the refined pose's loss above the true pose's (the
        // search stopped short) or below it (the loss cannot tell them apart)?
        let last = *settings.levels.last().expect("levels");
        let truth_frames = scene.render_candidates(&mut renderer, &truths)?;
        let refined_frames = scene.render_candidates(&mut renderer, &poses)?;
        let loss = |image: &[f32], frame: &unseen::render::Frame| {
            let r: Vec<f32> = frame.shade.iter().map(|&v| f32::from(v) / 255.0).collect();
            let r = unseen::imaging::gaussian_blur(&r, size, last.blur_px);
            let im = unseen::imaging::gaussian_blur(image, size, last.blur_px);
            unseen::refine::compare::robust_fit(&im, &r, last.robust_scale, Some((1.0, 0.0))).loss
        };
        let mut order: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].angle_deg.is_some())
            .collect();
        order.sort_by(|&a, &b| {
            outcomes[b]
                .angle_deg
                .unwrap_or(0.0)
                .total_cmp(&outcomes[a].angle_deg.unwrap_or(0.0))
        });
        let mut sheet = image::GrayImage::new(64 * 4, 64 * 8);
        for (row, &i) in order.iter().take(8).enumerate() {
            let start =
                scene.render_candidates(&mut renderer, &[start_poses[i][refined[i].start]])?;
            let tiles: [Vec<u8>; 4] = [
                images[i]
                    .iter()
                    .map(|v| (v * 255.0).round() as u8)
                    .collect(),
                truth_frames[i].shade.clone(),
                start[0].shade.clone(),
                refined_frames[i].shade.clone(),
            ];
            for (col, tile) in tiles.iter().enumerate() {
                for (k, v) in tile.iter().enumerate() {
                    sheet.put_pixel(
                        (col * 64 + k % 64) as u32,
                        (row * 64 + k / 64) as u32,
                        image::Luma([*v]),
                    );
                }
            }
        }
        sheet.save("/tmp/worst.png")?;
        for &i in order.iter().take(12) {
            println!(
                "worst: image {i} {} error {:.2}° start {} rounds {} loss refined {:.3e} true {:.3e}",
                outcomes[i].class,
                outcomes[i].angle_deg.unwrap_or(f64::NAN),
                refined[i].start,
                refined[i].rounds,
                loss(&images[i], &refined_frames[i]),
                loss(&images[i], &truth_frames[i])
            );
        }
    }
    println!(
        "{} images, starts: {}, rounds at most {}",
        samples.len(),
        perturb.map_or(format!("{starts} nearest renders"), |d| format!(
            "true pose turned {d}°"
        )),
        settings.max_rounds
    );
    println!(
        "{:<12} {:>6} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8} {:>7} {:>9} {:>9}",
        "class",
        "images",
        "notch ≥20",
        "angle p50",
        "angle p95",
        "grey p50",
        "grey p95",
        "renders",
        "rounds",
        "loss p50",
        "loss p95"
    );
    let mut classes: Vec<String> = per_class.keys().cloned().collect();
    classes.push("all".into());
    for class in classes {
        let rows: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| class == "all" || o.class == class)
            .collect();
        let mut angles: Vec<f64> = rows.iter().filter_map(|o| o.angle_deg).collect();
        let mut greys: Vec<f64> = rows.iter().map(|o| o.grey_levels).collect();
        let renders =
            rows.iter().map(|o| o.renders).sum::<usize>() as f64 / rows.len().max(1) as f64;
        let rounds = rows.iter().map(|o| o.rounds).sum::<usize>() as f64 / rows.len().max(1) as f64;
        let mut losses: Vec<f64> = rows.iter().map(|o| o.loss).collect();
        println!(
            "{:<12} {:>6} {:>9} {:>9.3} {:>9.3} {:>10.3} {:>10.3} {:>8.1} {:>7.1} {:>9.2e} {:>9.2e}",
            class,
            rows.len(),
            angles.len(),
            quantile(&mut angles, 0.5),
            quantile(&mut angles, 0.95),
            quantile(&mut greys, 0.5),
            quantile(&mut greys, 0.95),
            renders,
            rounds,
            quantile(&mut losses, 0.5),
            quantile(&mut losses, 0.95)
        );
        if class == "good" {
            let at: Vec<String> = [0.5, 0.6, 0.7, 0.8, 0.9]
                .iter()
                .map(|&q| format!("p{:.0} {:.2e}", q * 100.0, quantile(&mut losses, q)))
                .collect();
            println!("             good losses: {}", at.join(", "));
        }
    }
    println!(
        "start lookup {lookup_s:.2} s; refinement {refine_s:.2} s: {:.1} images/s, {:.0} views/s",
        samples.len() as f64 / refine_s,
        refined.iter().map(|r| r.renders).sum::<usize>() as f64 / refine_s
    );
    Ok(())
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let at = ((values.len() - 1) as f64 * q).round() as usize;
    values[at]
}

fn report_auroc(label: &str, maps: &[Vec<f32>], outcomes: &[Outcome], masks: &[Vec<u8>]) {
    let score = |m: &Vec<f32>| m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let good: Vec<f32> = maps
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| o.class == "good")
        .map(|(m, _)| score(m))
        .collect();
    let mut classes: Vec<&str> = outcomes
        .iter()
        .map(|o| o.class.as_str())
        .filter(|c| *c != "good")
        .collect();
    classes.sort_unstable();
    classes.dedup();
    let mut line = format!("{label:<18}");
    for class in &classes {
        let bad: Vec<f32> = maps
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| o.class == *class)
            .map(|(m, _)| score(m))
            .collect();
        line.push_str(&format!(
            " {class} {:.3}",
            unseen::metrics::auroc(&good, &bad)
        ));
    }
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    for (m, mask) in maps.iter().zip(masks) {
        scores.extend(m.iter().copied());
        labels.extend(mask.iter().map(|&v| v > 0));
    }
    let refs: Vec<&[f32]> = maps.iter().map(|m| m.as_slice()).collect();
    let mrefs: Vec<&[u8]> = masks.iter().map(|m| m.as_slice()).collect();
    line.push_str(&format!(
        " | pixel {:.3} aupro {:.3}",
        unseen::metrics::pixel_auroc(&scores, &labels),
        unseen::metrics::aupro(&refs, &mrefs, 64, 0.3)
    ));
    println!("{line}");
}

/// The map variants compared, absolute ones first.
fn map_variants() -> Vec<(&'static str, unseen::inspect::score::ScoreSettings)> {
    use unseen::inspect::score::{MapKind, ScoreSettings};
    let variant = |map, shift_tolerance| ScoreSettings {
        map,
        shift_tolerance,
        ..Default::default()
    };
    vec![
        ("abs σ1", variant(MapKind::Absolute, 0)),
        ("abs±1 σ1", variant(MapKind::Absolute, 1)),
        ("ssim σ1", variant(MapKind::Ssim, 0)),
        ("ssim±1 σ1", variant(MapKind::Ssim, 1)),
        (
            "abs±1 σ2",
            ScoreSettings {
                smoothing_sigma: 2.0,
                ..variant(MapKind::Absolute, 1)
            },
        ),
    ]
}
