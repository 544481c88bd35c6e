//! Inspection on a tiny model trained for a few dozen steps on tiny renders: the descent, the
//! maps, the verdicts and the part names behave as they must.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::path::PathBuf;
use std::sync::OnceLock;

use train_common::*;
use unseen::dataset::{Manifest, Split};
use unseen::inspect::{
    DescentConfig, InspectModel, Inspector, InspectorSettings, PartAtlas, Verdict,
    budget_candidates, descend, descend_budgets,
};
use unseen::model::ModelKind;

/// Image side of the fixture.
const SIZE: usize = 32;

/// Upright with a little tilt, as on a conveyor: a pose range a tiny model learns in seconds.
const POSE: &str = "[pose]\nmode = \"tilt\"\nyaw_deg = [0.0, 360.0]\ntilt_deg = 15.0\n";

/// One dataset and one trained run shared by every test of this binary.
struct Trained {
    data: tempfile::TempDir,
    run: tempfile::TempDir,
}

impl Trained {
    /// Renders 128 good training images of `product` in `pose` (validation: 32 good, 4 bulge,
    /// 4 short notch; `test` as given) and trains the GAN on them for `steps` steps.
    fn new(
        pose: &str,
        product: unseen::product::ProductSpec,
        test: &[(&str, usize)],
        steps: u64,
    ) -> Self {
        let data = tempfile::tempdir().unwrap();
        // 32 good validation images: with 12, the thresholds of a 400-step model swung with
        // sub-pixel changes to the renders (a meshing lattice moved by a fraction of a cell
        // flagged six of eight good test images at one shift and none at another).
        let validation = [("good", 32), ("bulge", 4), ("short_notch", 4)];
        write_dataset_with_defects(
            data.path(),
            SIZE as u32,
            128,
            &validation,
            test,
            pose,
            product,
        );
        let run = tempfile::tempdir().unwrap();
        let config = unseen::train::TrainConfig {
            model: ModelKind::Gan,
            steps,
            ..tiny_config()
        };
        finished(&run_to_end(job(data.path(), run.path(), config, false)));
        Trained { data, run }
    }
}

fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let test = [("good", 8), ("bulge", 8), ("short_notch", 8)];
        Trained::new(POSE, cap_with_obvious_defects(), &test, 400)
    })
}

/// Caps fed notch forward, as an orienting feeder puts them on a conveyor (yaw within ±20°),
/// with the built-in cap's short notch (cut to 0.30–0.40 of its 0.70): trained longer than
/// [`trained`], 1,500 steps.
///
/// The short-notch tests run here, not on [`trained`]: the cap is a body of revolution but for
/// its notch, so with the yaw free the notch is the only thing that shows the pose. A notch cut
/// to a stub then looks like a good cap turned with its notch away, and even a model that
/// draws the notch perfectly could not say where it should have been.
fn oriented() -> &'static Trained {
    static ORIENTED: OnceLock<Trained> = OnceLock::new();
    ORIENTED.get_or_init(|| {
        let mut product = cap_with_obvious_defects();
        for spec in product.defects.values_mut() {
            if let unseen::product::DefectSpec::ShortNotch { height } = spec {
                *height = [0.30, 0.40];
            }
        }
        let pose = "[pose]\nmode = \"tilt\"\nyaw_deg = [-20.0, 20.0]\ntilt_deg = 15.0\n";
        Trained::new(pose, product, &[("good", 8), ("short_notch", 8)], 1500)
    })
}

fn model() -> InspectModel {
    model_of(trained())
}

fn model_of(fixture: &Trained) -> InspectModel {
    InspectModel::load(fixture.run.path(), &burn::tensor::Device::flex()).unwrap()
}

/// Flat pixels and manifest records of the test images of `class`.
fn test_images(class: &str) -> (Vec<f32>, Vec<unseen::dataset::SampleRecord>, Vec<PathBuf>) {
    test_images_of(trained(), class)
}

fn test_images_of(
    fixture: &Trained,
    class: &str,
) -> (Vec<f32>, Vec<unseen::dataset::SampleRecord>, Vec<PathBuf>) {
    let dir = fixture.data.path();
    let manifest = Manifest::load(&dir.join("manifest.json")).unwrap();
    let mut pixels = Vec::new();
    let mut records = Vec::new();
    let mut paths = Vec::new();
    for s in manifest
        .samples_of(Split::Test)
        .filter(|s| s.id.class == class)
    {
        let path = dir.join(&s.image);
        pixels.extend(unseen::imaging::read_image(&path, SIZE, 1).unwrap());
        records.push(s.clone());
        paths.push(path);
    }
    (pixels, records, paths)
}

fn calibrated() -> Inspector {
    calibrated_on(trained())
}

fn calibrated_on(fixture: &Trained) -> Inspector {
    let mut inspector = Inspector::new(model_of(fixture), InspectorSettings::default());
    inspector
        .set_atlas(Some(PartAtlas::load(fixture.data.path()).unwrap()))
        .unwrap();
    inspector.calibrate(fixture.data.path()).unwrap();
    inspector
}

#[test]
fn descent_lowers_the_loss() {
    let model = model();
    let (pixels, records, _) = test_images("good");
    let config = DescentConfig {
        max_iterations: 30,
        tolerance: 0.0,
        ..DescentConfig::default()
    };
    let results = descend(&model, &pixels, records.len(), &config, None);
    for r in &results {
        assert!(r.loss <= r.initial_loss, "{} > {}", r.loss, r.initial_loss);
    }
    let initial: f32 = results.iter().map(|r| r.initial_loss).sum();
    let last: f32 = results.iter().map(|r| r.loss).sum();
    assert!(
        last < 0.97 * initial,
        "loss barely moved: {initial} → {last}"
    );
}

#[test]
fn seed_start_descends_too() {
    let model = model();
    let (pixels, records, _) = test_images("good");
    let config = DescentConfig {
        start: unseen::inspect::StartMode::Seed { seed: 5 },
        max_iterations: 20,
        ..DescentConfig::default()
    };
    let results = descend(&model, &pixels, records.len(), &config, None);
    for r in &results {
        assert!(r.loss < r.initial_loss, "{} !< {}", r.loss, r.initial_loss);
    }
}

#[test]
fn batched_and_one_by_one_agree() {
    let model = model();
    let (pixels, records, _) = test_images("bulge");
    let n = records.len();
    let config = DescentConfig::default();
    let batched = descend(&model, &pixels, n, &config, None);
    let len = pixels.len() / n;
    for (i, b) in batched.iter().enumerate() {
        let single = descend(&model, &pixels[i * len..(i + 1) * len], 1, &config, None);
        let s = &single[0];
        assert_eq!(s.iterations, b.iterations, "image {i}");
        assert!(
            (s.loss - b.loss).abs() <= 1e-4 * b.loss.abs().max(1e-3),
            "image {i}: {} vs {}",
            s.loss,
            b.loss
        );
    }
}

#[test]
fn a_zero_budget_without_a_loss_to_report_skips_only_the_loss() {
    let model = model();
    let (pixels, records, _) = test_images("bulge");
    let n = records.len();
    let with_loss = DescentConfig {
        max_iterations: 0,
        ..DescentConfig::default()
    };
    let without = DescentConfig {
        loss_without_steps: false,
        ..with_loss
    };
    let full = descend(&model, &pixels, n, &with_loss, None);
    let lean = descend(&model, &pixels, n, &without, None);
    for (i, (f, l)) in full.iter().zip(&lean).enumerate() {
        assert!(
            f.loss.is_finite() && f.initial_loss.is_finite(),
            "image {i}"
        );
        assert!(
            l.loss.is_nan() && l.initial_loss.is_nan(),
            "image {i}: {}",
            l.loss
        );
        assert_eq!((l.iterations, l.timed_out), (0, false));
        assert_eq!(l.z, f.z, "image {i}");
        assert_eq!(l.reconstruction, f.reconstruction, "image {i}");
    }
    // With a step to take, or a trace to feed, the loss is computed all the same.
    let stepping = descend(
        &model,
        &pixels,
        n,
        &DescentConfig {
            max_iterations: 2,
            ..without
        },
        None,
    );
    assert!(stepping.iter().all(|r| r.loss.is_finite()));
    let mut seen = Vec::new();
    let mut record = |f: &unseen::inspect::TraceFrame<'_>| seen.push(f.loss);
    let traced = descend(&model, &pixels, n, &without, Some(&mut record));
    assert!(traced.iter().all(|r| r.loss.is_finite()));
    assert_eq!(seen.len(), n);

    // Inspection at a budget of 0 with a map score skips it, and judges the same.
    let mut inspector = calibrated();
    inspector.settings.descent.max_iterations = 0;
    let calibration = inspector.calibration.clone().unwrap();
    let with_kind = |kind| unseen::inspect::Calibration {
        score_kind: kind,
        ..calibration.clone()
    };
    inspector.calibration = Some(with_kind(unseen::inspect::ScoreKind::MapMax));
    let lean = inspector.inspect_images(&pixels, n, None);
    inspector.calibration = Some(with_kind(unseen::inspect::ScoreKind::Loss));
    let full = inspector.inspect_images(&pixels, n, None);
    for (l, f) in lean.iter().zip(&full) {
        assert!(l.loss.is_nan() && f.loss.is_finite());
        assert_eq!(l.reconstruction, f.reconstruction);
        assert_eq!(l.map, f.map);
        assert_ne!(l.verdict, unseen::inspect::Verdict::Error, "{:?}", l.error);
    }
}

#[test]
fn trace_sees_every_iteration() {
    let model = model();
    let (pixels, _, _) = test_images("good");
    let len = pixels.len() / 8;
    let mut frames = Vec::new();
    let mut record =
        |f: &unseen::inspect::TraceFrame<'_>| frames.push((f.image, f.iteration, f.loss));
    let results = descend(
        &model,
        &pixels[..2 * len],
        2,
        &DescentConfig::default(),
        Some(&mut record),
    );
    for (i, r) in results.iter().enumerate() {
        let losses: Vec<f32> = frames.iter().filter(|f| f.0 == i).map(|f| f.2).collect();
        assert_eq!(losses, r.losses);
        assert_eq!(losses.len(), r.iterations + 1);
    }
}

#[test]
fn unreadable_files_get_error_never_pass() {
    let inspector = calibrated();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"not a png at all").unwrap();
    let missing = dir.path().join("missing.png");
    let wrong_size = dir.path().join("big.png");
    image::GrayImage::new(48, 48).save(&wrong_size).unwrap();
    let (_, _, good) = test_images("good");
    let reports = inspector.inspect_paths(&[garbage.clone(), good[0].clone(), missing, wrong_size]);
    assert_eq!(reports.len(), 4);
    assert_eq!(reports[0].verdict, Verdict::Error);
    assert!(reports[0].error.as_ref().unwrap().contains("garbage.png"));
    assert_ne!(reports[1].verdict, Verdict::Error);
    assert_eq!(reports[2].verdict, Verdict::Error);
    assert_eq!(reports[3].verdict, Verdict::Error);
    assert!(
        reports[3].error.as_ref().unwrap().contains("48x48"),
        "{:?}",
        reports[3].error
    );
}

#[test]
fn a_descent_cut_off_by_its_time_limit_is_an_error_never_a_pass() {
    let mut inspector = calibrated();
    let (images, records, _) = test_images("good");
    let n = records.len();
    // A budget of 50 with tolerance 0 and no target keeps every image descending; a zero
    // limit stops them after the first evaluation (the limit is not a scoring setting).
    inspector.settings.descent.max_iterations = 50;
    inspector.settings.descent.tolerance = 0.0;
    inspector.settings.descent.target_loss = None;
    inspector.settings.descent.time_limit_ms = Some(0);
    let reports = inspector.inspect_images(&images, n, None);
    for report in &reports {
        assert_eq!(report.verdict, Verdict::Error);
        let reason = report.error.as_ref().unwrap();
        assert!(reason.contains("timed out"), "{reason}");
    }
    // Without the limit the same images are judged.
    inspector.settings.descent.time_limit_ms = None;
    let reports = inspector.inspect_images(&images, n, None);
    assert!(reports.iter().all(|r| r.verdict != Verdict::Error));
}

/// Inside each defect's mask, the map of the defective image must exceed what the maps of
/// good images show at the same pixels (edges and rims that are always hard to reconstruct
/// would otherwise pass for a detection).
fn map_lights_up_inside_the_defect_mask(fixture: &Trained, classes: &[&str]) {
    let inspector = calibrated_on(fixture);
    let dir = fixture.data.path();
    let (good_pixels, good_records, _) = test_images_of(fixture, "good");
    let good_maps: Vec<Vec<f32>> = inspector
        .inspect_images(&good_pixels, good_records.len(), None)
        .into_iter()
        .map(|r| r.map)
        .collect();
    for class in classes {
        let (pixels, records, _) = test_images_of(fixture, class);
        let reports = inspector.inspect_images(&pixels, records.len(), None);
        let (mut ratio_sum, mut higher) = (0.0, 0);
        for (report, record) in reports.iter().zip(&records) {
            let mask = image::open(dir.join(record.mask.as_ref().unwrap()))
                .unwrap()
                .to_luma8();
            let inside: Vec<usize> = (0..mask.as_raw().len())
                .filter(|&p| mask.as_raw()[p] > 127)
                .collect();
            let mean_at =
                |map: &[f32]| inside.iter().map(|&p| map[p]).sum::<f32>() / inside.len() as f32;
            let defective = mean_at(&report.map);
            let good = good_maps.iter().map(|m| mean_at(m)).sum::<f32>() / good_maps.len() as f32;
            ratio_sum += defective / good;
            higher += usize::from(defective > good);
        }
        let mean_ratio = ratio_sum / records.len() as f32;
        eprintln!(
            "{class}: map in mask / good maps there = {mean_ratio:.2}, higher in {higher}/{}",
            records.len()
        );
        assert!(mean_ratio > 2.0, "{class}: ratio {mean_ratio}");
        assert!(
            higher * 4 >= records.len() * 3,
            "{class}: higher in {higher}"
        );
    }
}

#[test]
fn map_lights_up_inside_the_bulge_mask() {
    map_lights_up_inside_the_defect_mask(trained(), &["bulge"]);
}

#[test]
fn map_lights_up_inside_the_short_notch_mask() {
    map_lights_up_inside_the_defect_mask(oriented(), &["short_notch"]);
}

/// Regions above the calibrated pixel threshold, strongest first; the strongest region's part
/// for each image of `class`.
fn top_region_parts(inspector: &Inspector, fixture: &Trained, class: &str) -> Vec<String> {
    let (pixels, records, _) = test_images_of(fixture, class);
    inspector
        .inspect_images(&pixels, records.len(), None)
        .iter()
        .map(|r| {
            r.regions
                .first()
                .and_then(|g| g.part.clone())
                .unwrap_or_else(|| "(none)".into())
        })
        .collect()
}

#[test]
fn bulge_regions_lie_on_the_dome() {
    let named = top_region_parts(&calibrated(), trained(), "bulge");
    let right = named.iter().filter(|n| *n == "dome").count();
    assert!(right * 4 >= named.len() * 3, "top regions on {named:?}");
}

#[test]
fn short_notch_regions_lie_on_the_notch() {
    let named = top_region_parts(&calibrated_on(oriented()), oriented(), "short_notch");
    let right = named.iter().filter(|n| *n == "notch").count();
    assert!(right * 2 > named.len(), "top regions on {named:?}");
}

/// The part naming on its own, independent of the detection threshold: the strongest anomaly
/// of each image (its map above half the image's peak) must lie on the defective part.
fn strongest_anomaly_lies_on(fixture: &Trained, cases: &[(&str, &str)]) {
    let inspector = calibrated_on(fixture);
    let mut failures = Vec::new();
    for &(class, part) in cases {
        let (pixels, records, _) = test_images_of(fixture, class);
        let reports = inspector.inspect_images(&pixels, records.len(), None);
        let named: Vec<String> = reports
            .iter()
            .map(|r| {
                let peak = r.map.iter().copied().fold(0.0, f32::max);
                let (regions, _) =
                    inspector.localise(&r.image, &r.map, &r.reconstruction, 0.5 * peak);
                regions
                    .first()
                    .and_then(|g| g.part.clone())
                    .unwrap_or_default()
            })
            .collect();
        let right = named.iter().filter(|n| *n == part).count();
        eprintln!("{class}: strongest anomalies on {named:?}");
        if right * 2 <= named.len() {
            failures.push(format!("{class}: expected most on {part}, got {named:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn strongest_bulge_anomaly_lies_on_the_dome() {
    strongest_anomaly_lies_on(trained(), &[("bulge", "dome")]);
}

#[test]
fn strongest_short_notch_anomaly_lies_on_the_notch() {
    strongest_anomaly_lies_on(oriented(), &[("short_notch", "notch")]);
}

#[test]
fn good_images_stop_earlier_than_defective_ones() {
    // Inspection descends with the calibrated stopping level: an image that starts as close
    // to a good product as most good validation images do has nothing left to explain.
    let inspector = calibrated();
    let config = DescentConfig {
        max_iterations: 50,
        ..inspector.settings.descent
    };
    assert!(config.target_loss.is_some_and(f32::is_finite), "{config:?}");
    let mean_iterations = |class: &str| {
        let (pixels, records, _) = test_images(class);
        let results = descend(&inspector.model, &pixels, records.len(), &config, None);
        results.iter().map(|r| r.iterations as f32).sum::<f32>() / results.len() as f32
    };
    let good = mean_iterations("good");
    let bulge = mean_iterations("bulge");
    let notch = mean_iterations("short_notch");
    eprintln!("mean iterations: good {good}, bulge {bulge}, short_notch {notch}");
    assert!(
        good < (bulge + notch) / 2.0,
        "good {good}, bulge {bulge}, notch {notch}"
    );
}

#[test]
fn smaller_budgets_come_from_the_same_run() {
    let model = model();
    let (pixels, records, _) = test_images("bulge");
    let n = records.len();
    let config = DescentConfig {
        max_iterations: 12,
        tolerance: 0.005,
        ..DescentConfig::default()
    };
    let budgets = [0, 3, 12];
    let all = descend_budgets(&model, &pixels, n, &config, &budgets, None);
    assert_eq!(all.len(), budgets.len() + 1);
    for (j, &budget) in budgets.iter().enumerate() {
        let alone = descend(
            &model,
            &pixels,
            n,
            &DescentConfig {
                max_iterations: budget,
                ..config
            },
            None,
        );
        for (a, b) in all[j].iter().zip(&alone) {
            assert_eq!(a.iterations, b.iterations, "budget {budget}");
            assert!(a.iterations <= budget);
            assert!(
                (a.loss - b.loss).abs() <= 1e-4 * b.loss.abs(),
                "budget {budget}"
            );
            let worst = a
                .reconstruction
                .iter()
                .zip(&b.reconstruction)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-3,
                "budget {budget}: reconstructions differ by {worst}"
            );
        }
    }
    // The kept reconstruction is G of the kept code.
    for r in &all[1] {
        let regenerated = model.generate(&r.z, 1);
        let worst = r
            .reconstruction
            .iter()
            .zip(&regenerated)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-3,
            "G(z*) differs from the kept reconstruction by {worst}"
        );
    }
    // Some image descended past the smaller budget, so the cut mattered.
    assert!(all[2].iter().any(|r| r.iterations > 3));
}

#[test]
fn calibration_chooses_the_budget_it_measures_best() {
    let inspector = calibrated();
    let c = inspector.calibration.as_ref().unwrap();
    assert_eq!(c.budget_ceiling, Some(50));
    let budgets: Vec<usize> = c.budget_scores.iter().map(|(b, _)| *b).collect();
    assert_eq!(budgets, budget_candidates(50));
    let best = c
        .budget_scores
        .iter()
        .map(|(_, s)| *s)
        .fold(f32::NEG_INFINITY, f32::max);
    // The smallest budget whose criterion is within the margin of the best.
    let first_best = c
        .budget_scores
        .iter()
        .find(|(_, s)| *s >= best - unseen::inspect::BUDGET_MARGIN)
        .unwrap()
        .0;
    assert_eq!(c.descent.max_iterations, first_best);
    assert_eq!(inspector.settings.descent.max_iterations, first_best);
    // A calibration told to use one budget measures what the chooser measured for it.
    for budget in [first_best, 5] {
        let mut fixed = Inspector::new(
            model(),
            InspectorSettings {
                choose_budget: false,
                descent: DescentConfig {
                    max_iterations: budget,
                    ..DescentConfig::default()
                },
                ..InspectorSettings::default()
            },
        );
        // The same candidates as the sweep: those made with the training renders too.
        fixed
            .set_atlas(Some(PartAtlas::load(trained().data.path()).unwrap()))
            .unwrap();
        let f = fixed.calibrate(trained().data.path()).unwrap();
        assert_eq!(f.descent.max_iterations, budget);
        assert_eq!(f.descent.target_loss, c.descent.target_loss);
        let measured = c
            .budget_scores
            .iter()
            .find(|(b, _)| *b == budget)
            .unwrap()
            .1;
        let merit = f
            .auroc
            .iter()
            .filter(|(name, _)| name.ends_with(f.score_kind.as_str()) || name.ends_with("pixel"))
            .filter(|(name, _)| name.starts_with(&format!("{} ", f.score.map_name())))
            .map(|(_, a)| *a)
            .sum::<f32>();
        assert!(
            (merit - measured).abs() < 0.02,
            "budget {budget}: alone {merit}, in the sweep {measured}"
        );
    }
}

#[test]
fn maps_made_with_the_training_renders_need_them() {
    let inspector = calibrated();
    // With the training renders at hand, calibration measured the pose-normalised variants
    // and those against the renders.
    let c = inspector.calibration.clone().unwrap();
    for name in ["ssim-pose pixel", "ssim±1-ref pixel"] {
        assert!(
            c.auroc.iter().any(|(n, _)| n == name),
            "{name}: {:?}",
            c.auroc
        );
    }
    let (pixels, records, _) = test_images("bulge");
    let n = records.len();
    for (pose_normalised, reference) in [(true, false), (false, true)] {
        let mut inspector = calibrated();
        // No region map: the reports' maps are then the scoring map.
        let score = unseen::inspect::ScoreSettings {
            pose_normalised,
            reference,
            ..c.score
        };
        inspector.calibration = Some(unseen::inspect::Calibration {
            score,
            region_map: None,
            region_floor: None,
            ..c.clone()
        });
        let reports = inspector.inspect_images(&pixels, n, None);
        for r in &reports {
            assert_ne!(r.verdict, Verdict::Error, "{:?}", r.error);
            assert!(r.map.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
        let plain = inspector.maps(
            &pixels,
            &reports
                .iter()
                .map(|r| r.reconstruction.as_slice())
                .collect::<Vec<_>>(),
            &unseen::inspect::ScoreSettings {
                pose_normalised: false,
                reference: false,
                ..score
            },
        );
        let sum = |maps: Vec<&[f32]>| maps.iter().flat_map(|m| m.iter()).sum::<f32>();
        let made = sum(reports.iter().map(|r| r.map.as_slice()).collect());
        let plain = sum(plain.iter().map(Vec::as_slice).collect());
        if pose_normalised {
            // Subtracting what good renders of the same pose get leaves less of the map.
            assert!(made < plain, "{made} against {plain}");
        } else {
            // Another map than the plain one.
            assert!(
                (made - plain).abs() > 1e-3 * plain,
                "{made} against {plain}"
            );
        }
        // Without them the map cannot be made: never a pass, and the error says what to give.
        inspector.set_atlas(None).unwrap();
        for r in inspector.inspect_images(&pixels, n, None) {
            assert_eq!(r.verdict, Verdict::Error, "{}", score.map_name());
            assert!(
                r.error.as_ref().unwrap().contains("--data"),
                "{:?}",
                r.error
            );
        }
    }
}

#[test]
fn shortlisted_pose_lookup_finds_the_exact_neighbours_of_real_reconstructions() {
    let inspector = calibrated();
    let atlas = inspector.atlas().unwrap();
    let (mut hits, mut total) = (0, 0);
    for class in ["good", "bulge", "short_notch"] {
        let (pixels, records, _) = test_images(class);
        for r in inspector.inspect_images(&pixels, records.len(), None) {
            let exact = atlas.nearest_k(&r.reconstruction, 4);
            let fast = atlas.nearest_k_shortlisted(&r.reconstruction, 4);
            assert_eq!(fast.len(), 4);
            hits += fast.iter().filter(|i| exact.contains(i)).count();
            total += 4;
        }
    }
    eprintln!("shortlist kept {hits} of {total} exact neighbours");
    assert!(hits * 10 >= total * 9, "{hits} of {total}");
}

#[test]
fn a_flagged_image_shows_where() {
    let mut inspector = calibrated();
    let c = inspector.calibration.as_mut().unwrap();
    // Whatever score calibration chose (the loss lives on another scale than the map), a
    // flagged image's regions are where its map stands out, not the whole image.
    // On the demo's models the pixel threshold lies above the image thresholds; here it is
    // put above every map's peak, so only the image thresholds can cut regions.
    c.pixel_threshold = 10.0;
    let mut flagged = 0;
    for class in ["good", "bulge", "short_notch"] {
        let (pixels, records, _) = test_images(class);
        for r in inspector.inspect_images(&pixels, records.len(), None) {
            if matches!(r.verdict, Verdict::Review | Verdict::Defect) {
                flagged += 1;
                assert!(
                    !r.regions.is_empty(),
                    "{class}: {} with no region",
                    r.verdict
                );
                let marked = r.mask.iter().filter(|&&m| m == 1).count();
                assert!(marked > 0);
                assert!(
                    marked * 4 < r.mask.len(),
                    "{class}: {marked} of {} pixels marked",
                    r.mask.len()
                );
            }
        }
    }
    assert!(flagged > 0);
}

#[test]
fn a_region_map_localises_while_the_scoring_map_judges() {
    use unseen::inspect::{Calibration, ScoreSettings};
    let mut inspector = calibrated();
    let c = inspector.calibration.clone().unwrap();
    let pixel_auroc = |name: String| {
        c.auroc
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", c.auroc))
            .1
    };
    // Every plain variant's peak-on-mask rate is recorded, and calibration keeps a region map
    // only when it points at the defects measurably better (pixel AUROC + that rate).
    let name = c.score.map_name();
    let scoring =
        pixel_auroc(format!("{name} pixel")) + pixel_auroc(format!("{name} peak-on-mask"));
    if let Some(region) = c.region_map {
        let name = region.map_name();
        let chosen = pixel_auroc(format!("region {name} pixel"))
            + pixel_auroc(format!("{name} peak-on-mask"));
        assert!(chosen > scoring + unseen::inspect::REGION_MARGIN);
        assert!(c.region_floor.is_some_and(f32::is_finite));
    }

    // Another map for the regions: the verdicts and scores stay the scoring map's, the heatmap
    // and the regions come from the region map.
    let region = ScoreSettings {
        smoothing_sigma: 2.0 * c.score.smoothing_sigma,
        pose_normalised: false,
        ..c.score
    };
    let (pixels, records, _) = test_images("bulge");
    let n = records.len();
    inspector.calibration = Some(Calibration {
        region_map: None,
        region_floor: None,
        pixel_threshold: 10.0,
        ..c.clone()
    });
    let plain = inspector.inspect_images(&pixels, n, None);
    let reconstructions: Vec<&[f32]> = plain.iter().map(|r| r.reconstruction.as_slice()).collect();
    let expected = inspector.maps(&pixels, &reconstructions, &region);
    // A floor of 0 cuts a flagged image's region map everywhere; a passed one is cut at the
    // pixel threshold, above every map.
    inspector.calibration = Some(Calibration {
        region_map: Some(region),
        region_floor: Some(0.0),
        pixel_threshold: 10.0,
        ..c.clone()
    });
    let split = inspector.inspect_images(&pixels, n, None);
    let mut flagged = 0;
    for (i, (s, p)) in split.iter().zip(&plain).enumerate() {
        assert_eq!((s.verdict, s.score), (p.verdict, p.score), "image {i}");
        assert_eq!(s.map, expected[i], "image {i}");
        if matches!(s.verdict, Verdict::Review | Verdict::Defect) {
            flagged += 1;
            assert!(s.mask.iter().all(|&m| m == 1), "image {i}");
        } else {
            assert!(s.regions.is_empty(), "image {i}");
        }
    }
    assert!(flagged > 0);
    // A floor above every map: a flagged image falls back to the regions of the scoring map at
    // the review threshold, exactly what it showed without a region map.
    inspector.calibration = Some(Calibration {
        region_map: Some(region),
        region_floor: Some(100.0),
        pixel_threshold: 10.0,
        ..c.clone()
    });
    for (s, p) in inspector
        .inspect_images(&pixels, n, None)
        .iter()
        .zip(&plain)
    {
        assert_eq!(s.mask, p.mask);
        assert_eq!(s.regions.len(), p.regions.len());
    }
}

#[test]
fn verdicts_separate_good_from_defective() {
    let inspector = calibrated();
    let c = inspector.calibration.as_ref().unwrap();
    eprintln!("calibration: {c:?}");
    let verdicts = |class: &str| {
        let (pixels, records, _) = test_images(class);
        inspector
            .inspect_images(&pixels, records.len(), None)
            .iter()
            .map(|r| (r.verdict, r.score))
            .collect::<Vec<_>>()
    };
    let good = verdicts("good");
    let bulge = verdicts("bulge");
    eprintln!("good {good:?}\nbulge {bulge:?}");
    assert!(good.iter().all(|(v, _)| *v != Verdict::Error));
    let passed = good.iter().filter(|(v, _)| *v == Verdict::Pass).count();
    let flagged = bulge.iter().filter(|(v, _)| *v != Verdict::Pass).count();
    assert!(passed * 4 >= good.len() * 3, "good: {good:?}");
    assert!(flagged * 4 >= bulge.len() * 3, "bulge: {bulge:?}");
}

/// The calibrated inspector, made to compare each image with the product rendered at its
/// refined pose (the thresholds stay the model's: these tests look at maps, parts and errors).
fn rendered_on(fixture: &Trained) -> Inspector {
    let mut inspector = calibrated_on(fixture);
    let synthesizer = unseen::refine::Synthesizer::open(
        fixture.data.path(),
        unseen::render::Gpu::headless().unwrap(),
    )
    .unwrap();
    inspector.set_synthesizer(Some(synthesizer)).unwrap();
    let c = inspector.calibration.as_mut().unwrap();
    c.score.against = unseen::inspect::Against::Rendered;
    c.score_kind = unseen::inspect::ScoreKind::MapMax;
    c.region_map = None;
    c.fusion = None;
    inspector
}

#[test]
fn parts_are_named_from_the_rendered_part_map() {
    let inspector = rendered_on(trained());
    let (pixels, records, _) = test_images("bulge");
    let reports = inspector.inspect_images(&pixels, records.len(), None);
    let names = inspector.synthesizer().unwrap().part_names().clone();
    let mut named = Vec::new();
    for r in &reports {
        let synthesis = r.synthesis.as_ref().expect("no rendered reference");
        // The reference shown is the render the map was made against.
        assert_eq!(r.reference, synthesis.reference);
        let peak = r.map.iter().copied().fold(0.0, f32::max);
        let (regions, _) = inspector.localise_rendered(&r.image, &r.map, 0.5 * peak, synthesis);
        let top = regions.first().expect("no region at half the peak");
        named.push(top.part.clone().unwrap_or_default());
        // The names come from the part map rendered at the refined pose: drawn as one other
        // part everywhere, every region is named after it.
        let (&other, other_name) = names
            .iter()
            .find(|(_, n)| *n != "dome")
            .expect("the cap has more parts than its dome");
        let repainted = unseen::refine::Synthesis {
            part: vec![other; synthesis.part.len()],
            ..synthesis.clone()
        };
        let (regions, _) = inspector.localise_rendered(&r.image, &r.map, 0.5 * peak, &repainted);
        assert!(
            regions
                .iter()
                .all(|g| g.part.as_deref() == Some(other_name.as_str()))
        );
    }
    eprintln!("bulges named on {named:?}");
    let right = named.iter().filter(|n| *n == "dome").count();
    assert!(
        right * 4 >= named.len() * 3,
        "strongest regions on {named:?}"
    );
}

/// A reference drawn 0.3° off the image's pose leaves the rim and notch lit in the plain map;
/// the pose-tolerant map, which also compares with the product turned 0.3° either way about
/// each axis, forgives that turn but still sees a bulge. Without its turned renders it makes
/// no map at all (NaN, so the image can never pass).
#[test]
fn a_pose_tolerant_map_forgives_a_small_turn_but_not_a_bulge() {
    use unseen::inspect::{Against, ScoreSettings};
    use unseen::refine::ScenePose;
    let inspector = rendered_on(trained());
    let synthesizer = inspector.synthesizer().unwrap();
    let plain = ScoreSettings {
        against: Against::Rendered,
        ..ScoreSettings::default()
    };
    let tolerant = ScoreSettings {
        pose_tolerance_deg: 0.3,
        ..plain
    };
    let peak = |m: &[f32]| m.iter().copied().fold(0.0f32, f32::max);
    let mut peaks = Vec::new();
    for class in ["good", "bulge"] {
        let (pixels, records, _) = test_images(class);
        let image = &pixels[..SIZE * SIZE];
        let r = &records[0];
        let axis = glam::DVec3::from(r.view.axis).normalize_or(glam::DVec3::Y);
        let truth = ScenePose::from_rotation(glam::DQuat::from_axis_angle(
            axis,
            r.view.angle_deg.to_radians(),
        ));
        let step = 0.3f64.to_radians();
        let off = truth.moved(&[step, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let mut poses = vec![(off, 1.0, 0.0)];
        for k in 0..6 {
            let mut delta = [0.0; 6];
            delta[k / 2] = if k % 2 == 0 { step } else { -step };
            poses.push((off.moved(&delta), 1.0, 0.0));
        }
        let mut renders = synthesizer.render_at(&poses).unwrap().into_iter();
        let mut synthesis = inspector
            .synthesize(image, 1, 0, None, None, 0.0)
            .unwrap()
            .remove(0);
        synthesis.reference = renders.next().unwrap();
        synthesis.around = renders.collect();
        let references = [unseen::inspect::synthesis::References {
            reconstruction: None,
            synthesis: Some(&synthesis),
        }];
        let plain_map = inspector.maps_against(image, &references, &plain).remove(0);
        let tolerant_map = inspector
            .maps_against(image, &references, &tolerant)
            .remove(0);
        peaks.push((class, peak(&plain_map), peak(&tolerant_map)));
        synthesis.around.clear();
        let references = [unseen::inspect::synthesis::References {
            reconstruction: None,
            synthesis: Some(&synthesis),
        }];
        let missing = inspector
            .maps_against(image, &references, &tolerant)
            .remove(0);
        assert!(missing.iter().all(|v| v.is_nan()));
    }
    eprintln!("(class, plain peak, tolerant peak): {peaks:?}");
    let (good, bulge) = (peaks[0], peaks[1]);
    assert!(
        good.2 < 0.5 * good.1,
        "a good image 0.3° off: plain {}, tolerant {}",
        good.1,
        good.2
    );
    assert!(
        bulge.2 > 2.0 * good.2 && bulge.2 > 0.5 * bulge.1,
        "a bulge 0.3° off: plain {}, tolerant {} (good: {})",
        bulge.1,
        bulge.2,
        good.2
    );
}

/// The workbench's replay of a refinement plots one loss per accepted pose. They are measured
/// on one scale (the image against that pose's render at full sharpness), so the curve ends
/// lower than it starts; the refinement's own losses, blurred at first and sharp at the end,
/// made it rise.
#[test]
fn the_refinement_replay_ends_lower_than_it_starts() {
    let inspector = rendered_on(trained());
    let (pixels, records, _) = test_images("good");
    let reports = inspector.inspect_images(&pixels, records.len(), None);
    let shown = inspector.calibration.as_ref().unwrap().score;
    for (i, r) in reports.iter().enumerate() {
        let frames = unseen::worker::inspect::refinement_frames(&inspector, &r.image, r, &shown);
        let losses: Vec<f32> = frames.iter().map(|f| f.loss).collect();
        eprintln!("image {i}: replayed losses {losses:?}");
        assert!(frames.len() >= 2, "image {i}: {} frames", frames.len());
        assert!(
            losses.iter().all(|l| l.is_finite()),
            "image {i}: {losses:?}"
        );
        assert!(
            losses[losses.len() - 1] < losses[0],
            "image {i}: the replay ends above its start: {losses:?}"
        );
    }
}

#[test]
fn a_refinement_cut_off_by_its_time_limit_is_an_error_never_a_pass() {
    let mut inspector = rendered_on(trained());
    let (images, records, _) = test_images("good");
    let n = records.len();
    inspector.settings.descent.time_limit_ms = Some(0);
    let reports = inspector.inspect_images(&images, n, None);
    for report in &reports {
        assert_eq!(report.verdict, Verdict::Error, "{:?}", report.error);
        assert!(report.error.is_some());
    }
    inspector.settings.descent.time_limit_ms = None;
    let reports = inspector.inspect_images(&images, n, None);
    for report in &reports {
        assert_ne!(report.verdict, Verdict::Error, "{:?}", report.error);
    }
}

#[test]
fn the_lookup_shows_the_training_render_it_compares_with() {
    let mut inspector = calibrated();
    let c = inspector.calibration.as_mut().unwrap();
    c.score.against = unseen::inspect::Against::Lookup;
    c.score_kind = unseen::inspect::ScoreKind::MapMax;
    c.region_map = None;
    c.fusion = None;
    let (pixels, records, _) = test_images("bulge");
    let atlas = inspector.atlas().unwrap();
    for (i, r) in inspector
        .inspect_images(&pixels, records.len(), None)
        .iter()
        .enumerate()
    {
        // The middle panel's image is the training render nearest to the image, not the
        // model's reconstruction, which the lookup's map never saw.
        let image = &pixels[i * SIZE * SIZE..(i + 1) * SIZE * SIZE];
        let nearest = atlas.nearest_k_shortlisted(image, 1)[0];
        assert_eq!(r.reference, atlas.image(nearest), "image {i}");
        assert_ne!(r.reference, r.reconstruction);
    }
}
