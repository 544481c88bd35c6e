//! `unseen eval` on tiny trained models: the sweep, the per-class metrics, the report files,
//! the comparison of two models, and clear errors for unusable inputs.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::sync::atomic::AtomicBool;

use train_common::*;
use unseen::eval::{EvalOptions, EvalReport, evaluate};
use unseen::model::ModelKind;

#[test]
fn eval_sweeps_budgets_scores_classes_and_compares_two_models() {
    let data = tempfile::tempdir().unwrap();
    write_dataset_with_defects(
        data.path(),
        32,
        48,
        &[("good", 8), ("bulge", 4), ("short_notch", 4)],
        &[("good", 10), ("bulge", 6), ("short_notch", 6)],
        "[pose]\nmode = \"tilt\"\nyaw_deg = [0.0, 360.0]\ntilt_deg = 15.0\n",
        cap_with_obvious_defects(),
    );
    let gan = tempfile::tempdir().unwrap();
    let ae = tempfile::tempdir().unwrap();
    for (run, kind, steps) in [(&gan, ModelKind::Gan, 40), (&ae, ModelKind::AeSom, 60)] {
        let config = unseen::train::TrainConfig {
            model: kind,
            steps,
            ..tiny_config()
        };
        finished(&run_to_end(job(data.path(), run.path(), config, false)));
    }
    let out = tempfile::tempdir().unwrap();
    let options = EvalOptions {
        runs: vec![gan.path().to_path_buf(), ae.path().to_path_buf()],
        data: data.path().to_path_buf(),
        calibration_data: Some(data.path().to_path_buf()),
        iterations: vec![0, 3, 8],
        out: out.path().to_path_buf(),
        latency_samples: 2,
        gallery: 3,
        defect_rule: unseen::inspect::DefectRule::F1Max,
        map_input: unseen::imaging::MapInput::Fail,
        calibrate_good: None,
    };
    let mut seen_scoring = false;
    let (report, files) = evaluate(
        &options,
        &unseen::compute::SelectedDevice::flex().device,
        &mut |p| seen_scoring |= matches!(p, unseen::eval::EvalProgress::Scoring { .. }),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(seen_scoring);
    assert_eq!(report.models.len(), 2);
    for model in &report.models {
        // The calibrated budget (descent iterations chosen from 0 to 50 on validation, or the
        // pose refinement's rounds when the chosen detector renders the product) joins the
        // requested ones.
        let candidates = if model.budget == "refinement rounds" {
            let ceiling = unseen::refine::RefineSettings::default().max_rounds;
            unseen::inspect::refine_budget_candidates(ceiling)
        } else {
            unseen::inspect::budget_candidates(50)
        };
        assert!(
            candidates.contains(&model.main_iterations),
            "{} {}",
            model.budget,
            model.main_iterations
        );
        let budgets: Vec<usize> = model.sweep.iter().map(|p| p.iterations).collect();
        let mut expected = vec![0, 3, 8, model.main_iterations];
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(budgets, expected);
        assert_eq!(model.images.len(), 22);
        for point in &model.sweep {
            let names: Vec<&str> = point.classes.iter().map(|c| c.class.as_str()).collect();
            assert_eq!(names, vec!["all", "bulge", "short_notch"]);
            let all = &point.classes[0];
            assert_eq!((all.good, all.defective), (10, 12));
            let c = all.at_calibrated;
            assert_eq!(
                c.true_positive + c.false_negative + c.false_positive + c.true_negative,
                22
            );
            for class in &point.classes {
                assert!((0.0..=1.0).contains(&class.image_auroc), "{class:?}");
                let pixel = class.pixel_auroc.unwrap();
                assert!((0.0..=1.0).contains(&pixel));
                let aupro = class.aupro.unwrap();
                assert!((0.0..=1.0).contains(&aupro));
            }
            assert!(point.mean_ms_good > 0.0 && point.mean_ms_defective > 0.0);
            assert!(point.mean_iterations_good <= point.iterations as f64);
        }
        // The bulges of the obvious-defect cap are large: even a tiny model ranks them above
        // most good parts, in pixels too.
        let main = model.sweep.last().unwrap();
        assert!(
            main.classes[1].pixel_auroc.unwrap() > 0.7,
            "{}: {:?}",
            model.name,
            main.classes[1]
        );
        // Gallery: the worst cases got overlays on disk.
        let overlays: Vec<_> = model
            .images
            .iter()
            .filter_map(|i| i.overlay.clone())
            .collect();
        assert_eq!(overlays.len(), 6);
        assert!(overlays.iter().all(|p| out.path().join(p).exists()));
    }
    assert_ne!(report.models[0].model_kind, report.models[1].model_kind);

    for path in [&files.json, &files.markdown, &files.html] {
        assert!(path.exists(), "{}", path.display());
    }
    let reread: EvalReport = serde_json::from_slice(&std::fs::read(&files.json).unwrap()).unwrap();
    assert_eq!(reread.models.len(), 2);
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert!(html.matches("<svg").count() >= 4);
    assert!(html.contains("short_notch"));
}

#[test]
fn eval_refuses_a_test_split_without_defects() {
    let data = tempfile::tempdir().unwrap();
    write_cap_dataset(data.path(), 32, 16, 6);
    let run = tempfile::tempdir().unwrap();
    finished(&run_to_end(job(
        data.path(),
        run.path(),
        tiny_config(),
        false,
    )));
    let out = tempfile::tempdir().unwrap();
    let options = EvalOptions {
        runs: vec![run.path().to_path_buf()],
        data: data.path().to_path_buf(),
        calibration_data: Some(data.path().to_path_buf()),
        iterations: vec![0],
        out: out.path().to_path_buf(),
        latency_samples: 1,
        gallery: 1,
        defect_rule: unseen::inspect::DefectRule::F1Max,
        map_input: unseen::imaging::MapInput::Fail,
        calibrate_good: None,
    };
    let err = evaluate(
        &options,
        &unseen::compute::SelectedDevice::flex().device,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("manifest.json") && err.contains("good and defective"),
        "{err}"
    );
}

/// Copies the test split of the dataset in `data` into an MVTec AD folder at `dir`: one good
/// photo at 48×48, one defective one in colour at 40×40 (its mask scaled alike), the last
/// defective one without a mask, and the good validation images as `train/good`. Returns the
/// names of the odd-sized and the coloured photo.
fn write_photo_folder(data: &std::path::Path, dir: &std::path::Path, masks: bool) -> [String; 2] {
    use image::imageops::{FilterType, resize};
    use unseen::dataset::{Dataset, Split};
    let dataset = Dataset::open(data).unwrap();
    let mut odd = [String::new(), String::new()];
    let tests: Vec<_> = dataset.manifest.samples_of(Split::Test).collect();
    let last_defective = tests.iter().rposition(|s| s.id.class != "good").unwrap();
    for (i, sample) in tests.iter().enumerate() {
        let class = &sample.id.class;
        let (image, _) = dataset.image(sample).unwrap();
        let name = format!("{i:03}.png");
        let folder = dir.join("test").join(class);
        std::fs::create_dir_all(&folder).unwrap();
        let mut mask = dataset.mask(sample).unwrap().map(|(m, _)| m);
        let image = if class == "good" && odd[0].is_empty() {
            odd[0] = name.clone();
            image::DynamicImage::ImageLuma8(resize(&image.to_luma8(), 48, 48, FilterType::Triangle))
        } else if class != "good" && odd[1].is_empty() {
            odd[1] = name.clone();
            mask = mask.map(|m| {
                image::DynamicImage::ImageLuma8(resize(&m.to_luma8(), 40, 40, FilterType::Nearest))
            });
            // A warm tint: grey by luminance stays close to the render.
            let grey = resize(&image.to_luma8(), 40, 40, FilterType::Triangle);
            image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(40, 40, |x, y| {
                let v = f32::from(grey.get_pixel(x, y).0[0]);
                image::Rgb([(v * 1.1).min(255.0) as u8, v as u8, (v * 0.8) as u8])
            }))
        } else {
            image
        };
        image.save(folder.join(&name)).unwrap();
        if let Some(mask) = mask
            && masks
            && class != "good"
            && i != last_defective
        {
            let folder = dir.join("ground_truth").join(class);
            std::fs::create_dir_all(&folder).unwrap();
            mask.save(folder.join(format!("{i:03}_mask.png"))).unwrap();
        }
    }
    let good = dir.join("train").join("good");
    std::fs::create_dir_all(&good).unwrap();
    for (i, sample) in dataset
        .manifest
        .samples_of(Split::Validation)
        .filter(|s| s.id.class == "good")
        .enumerate()
    {
        let (image, _) = dataset.image(sample).unwrap();
        image.save(good.join(format!("{i:03}.png"))).unwrap();
    }
    odd
}

#[test]
fn a_folder_of_photos_without_a_manifest_is_evaluated_under_its_mapping_rule() {
    use unseen::imaging::MapInput;
    let data = tempfile::tempdir().unwrap();
    write_dataset_with_defects(
        data.path(),
        32,
        48,
        &[("good", 8), ("bulge", 4)],
        &[("good", 8), ("bulge", 5)],
        "[pose]\nmode = \"tilt\"\nyaw_deg = [0.0, 360.0]\ntilt_deg = 15.0\n",
        cap_with_obvious_defects(),
    );
    let run = tempfile::tempdir().unwrap();
    let config = unseen::train::TrainConfig {
        model: ModelKind::Gan,
        steps: 40,
        ..tiny_config()
    };
    finished(&run_to_end(job(data.path(), run.path(), config, false)));
    let photos = tempfile::tempdir().unwrap();
    let [odd, coloured] = write_photo_folder(data.path(), photos.path(), true);
    let out = tempfile::tempdir().unwrap();
    let device = unseen::compute::SelectedDevice::flex().device;
    let options = EvalOptions {
        runs: vec![run.path().to_path_buf()],
        data: photos.path().to_path_buf(),
        calibration_data: Some(data.path().to_path_buf()),
        iterations: vec![0, 2],
        out: out.path().to_path_buf(),
        latency_samples: 1,
        gallery: 1,
        defect_rule: unseen::inspect::DefectRule::F1Max,
        map_input: MapInput::Fail,
        calibrate_good: None,
    };
    let no = AtomicBool::new(false);
    // Without a rule the first photo of another size (classes in name order: the coloured
    // bulge) is refused, naming it and both sizes.
    let err = evaluate(&options, &device, &mut |_| {}, &no)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("bulge/{coloured}"))
            && err.contains("40x40")
            && err.contains("32x32"),
        "{err}"
    );

    let render_calibration = std::fs::read(run.path().join("calibration.json")).unwrap();
    let options = EvalOptions {
        map_input: MapInput::Resize,
        calibrate_good: Some(photos.path().to_path_buf()),
        ..options
    };
    let (report, files) = evaluate(&options, &device, &mut |_| {}, &no).unwrap();
    let model = &report.models[0];
    assert_eq!(model.images.len(), 13);
    assert!(
        model
            .images
            .iter()
            .any(|i| i.path == std::path::Path::new("test/good").join(&odd))
    );
    let main = model.sweep.last().unwrap();
    let classes: Vec<&str> = main.classes.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(classes, ["all", "bulge"]);
    assert_eq!((main.classes[1].good, main.classes[1].defective), (8, 5));
    assert!(main.classes[1].image_auroc.is_finite());
    // Four of the five bulges have masks: pixel metrics over those.
    assert!(main.classes[1].pixel_auroc.is_some());
    let notes = report.notes.join("\n");
    assert!(notes.contains("input mapping: resize"), "{notes}");
    assert!(notes.contains("1 of 5 defective"), "{notes}");
    // The thresholds come from the 8 good photos of train/good, stored apart; the render
    // calibration is untouched.
    assert!(notes.contains("refit on 8 good photos"), "{notes}");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.path().join("calibration-photos.json")).unwrap())
            .unwrap();
    assert_eq!(stored["photo_count"], 8);
    assert_eq!(stored["map_input"], "resize");
    // The renders' calibration measured the render comparison, so the photos fitted the
    // line's appearance, and every photo retries its turns and start poses.
    assert_eq!(stored["calibration"]["appearance"]["photos"], 8, "{stored}");
    assert_eq!(
        stored["calibration"]["refine"]["retry_above"], 0.0,
        "{stored}"
    );
    let threshold = stored["calibration"]["defect_threshold"].as_f64().unwrap();
    assert!((f64::from(model.defect_threshold) - threshold).abs() < 1e-6);
    assert_eq!(
        std::fs::read(run.path().join("calibration.json")).unwrap(),
        render_calibration
    );
    let markdown = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(markdown.contains("input mapping: resize"));
    // Given again, the photo calibration is loaded, not refit.
    let (again, _) = evaluate(&options, &device, &mut |_| {}, &no).unwrap();
    let notes = again.notes.join("\n");
    assert!(notes.contains("thresholds from"), "{notes}");
    assert!(
        notes.contains("the line's appearance fitted on 8 good photos"),
        "{notes}"
    );
    // The fused detector's two scores are put on one scale by the good photos, not by the
    // good validation renders.
    let rendered: serde_json::Value = serde_json::from_slice(&render_calibration).unwrap();
    let fused_scale = |c: &serde_json::Value| {
        c["detectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "fused")
            .map(|d| d["fusion"]["first_scale"].clone())
            .expect("the calibration measured a fused detector")
    };
    assert_ne!(fused_scale(&rendered), fused_scale(&stored["calibration"]));
    assert_eq!(again.models[0].defect_threshold, model.defect_threshold);

    // Without ground_truth: image metrics only.
    let bare = tempfile::tempdir().unwrap();
    write_photo_folder(data.path(), bare.path(), false);
    let options = EvalOptions {
        data: bare.path().to_path_buf(),
        calibrate_good: None,
        ..options
    };
    let (report, _) = evaluate(&options, &device, &mut |_| {}, &no).unwrap();
    let main = report.models[0].sweep.last().unwrap();
    assert!(
        main.classes
            .iter()
            .all(|c| c.pixel_auroc.is_none() && c.aupro.is_none())
    );
    assert!(main.classes.iter().all(|c| c.image_auroc.is_finite()));
    assert!(report.notes.join("\n").contains("5 of 5 defective"));
}
