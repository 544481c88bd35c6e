//! The workbench driven through egui_kittest: the real app, on a real wgpu device (Mesa's
//! lavapipe here), with real renders, real training and real inspection, and the quick demo
//! started from the window.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::path::Path;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use train_common::*;
use unseen::compute::SelectedDevice;
use unseen::eval::demo::DemoPlan;
use unseen::gui::{GuiOptions, Workbench, Workspace};

fn harness<'a>() -> Harness<'a, Workbench> {
    Harness::builder()
        .with_size(egui::vec2(1500.0, 940.0))
        .wgpu()
        .build_eframe(|cc| Workbench::new(cc, GuiOptions::default(), None))
}

/// Steps the app (its workers run on their own threads) until `done` holds.
fn wait_until(
    harness: &mut Harness<'_, Workbench>,
    what: &str,
    secs: u64,
    done: impl Fn(&Workbench) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
}

fn mean(pixels: &[u8]) -> f64 {
    pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / pixels.len().max(1) as f64
}

#[test]
fn workspaces_switch_from_the_top_bar() {
    let mut h = harness();
    assert_eq!(h.state().workspace(), Workspace::Design);
    assert!(!h.state().adapter_text().is_empty());
    for (label, expected) in [
        ("Train", Workspace::Train),
        ("Inspect", Workspace::Inspect),
        ("Evaluate", Workspace::Evaluate),
        ("Design", Workspace::Design),
    ] {
        h.get_by_label(label).click();
        h.step();
        h.step();
        assert_eq!(h.state().workspace(), expected, "after clicking {label}");
    }
    // Each workspace shows its own controls.
    h.get_by_label("Train").click();
    h.step();
    h.step();
    assert!(h.query_by_label("Start").is_some());
}

#[test]
fn a_light_slider_changes_the_preview() {
    let mut h = harness();
    wait_until(&mut h, "the first orbit view", 120, |w| {
        w.design().views_received() > 0
    });
    let before = h.state().design().view_pixels().to_vec();
    let intensity = h.state().design().recipe().lighting.intensity;
    let received = h.state().design().views_received();
    h.get_by_role_and_label(egui::accesskit::Role::Slider, "Intensity")
        .set_value_accesskit(1.6);
    h.step();
    h.step();
    let after_intensity = h.state().design().recipe().lighting.intensity;
    assert!(
        (after_intensity - 1.6).abs() < 1e-3 && (after_intensity - intensity).abs() > 0.5,
        "the slider must move the light: {intensity} → {after_intensity}"
    );
    wait_until(&mut h, "the re-rendered view", 120, |w| {
        w.design().views_received() > received
            && (w.design().recipe().lighting.intensity - 1.6).abs() < 1e-3
    });
    let after = h.state().design().view_pixels();
    assert_eq!(after.len(), before.len());
    assert!(
        mean(after) > mean(&before) + 5.0,
        "a brighter light must brighten the view: {} → {}",
        mean(&before),
        mean(after)
    );
    // The sample grid is rendered through the dataset path too.
    wait_until(&mut h, "the sample grid", 120, |w| {
        w.design().sample_sets_received() > 0
    });
}

#[test]
fn training_starts_and_stops_from_the_train_workspace() {
    let data = tempfile::tempdir().unwrap();
    write_cap_dataset(data.path(), 32, 24, 8);
    let run = tempfile::tempdir().unwrap();
    let mut h = harness();
    {
        let app = h.state_mut();
        app.set_workspace(Workspace::Train);
        app.set_compute(SelectedDevice::flex());
        let train = app.train_mut();
        train.set_data_dir(&data.path().display().to_string());
        train.set_run_dir(&run.path().display().to_string());
        train.set_config(unseen::train::TrainConfig {
            steps: 100_000,
            sample_every: 1,
            ..tiny_config()
        });
    }
    h.step();
    h.get_by_label("Start").click();
    wait_until(&mut h, "training steps", 120, |w| w.train().step() >= 2);
    assert!(h.state().train().running());
    assert!(h.state().train().losses().values().all(|v| !v.is_empty()));
    h.get_by_label("Stop").click();
    wait_until(&mut h, "the stop", 120, |w| !w.train().running());
    let message = h.state().train().message().unwrap_or_default().to_string();
    assert!(message.contains("stopped"), "{message}");
    assert!(h.state().train().step() < 100_000);
    assert!(
        run.path().join("latest.json").exists(),
        "stop must leave a checkpoint"
    );

    // Opening the run later (in a fresh workbench, which shows nothing of it yet) shows what
    // the training left: every logged step's losses, the newest sample grid, the checkpoint
    // and the run's own settings.
    let (stopped_at, curves) = (h.state().train().step(), h.state().train().losses().clone());
    let mut h = harness();
    {
        let app = h.state_mut();
        app.set_workspace(Workspace::Train);
        app.train_mut()
            .set_run_dir(&run.path().display().to_string());
        let train = app.train();
        assert!(train.losses().is_empty() && train.checkpoints().is_empty());
        assert_eq!((train.step(), train.samples_step()), (0, 0));
        assert_ne!(train.config().steps, 100_000);
        assert!(!train.resume());
    }
    h.step();
    h.get_by_label("Open run").click();
    h.step();
    wait_until(&mut h, "the run's history", 60, |w| !w.train().opening());
    let train = h.state().train();
    assert_eq!(train.step(), stopped_at);
    assert_eq!(train.losses().len(), curves.len());
    for (name, points) in &curves {
        assert_eq!(train.losses()[name].len(), points.len(), "{name}");
        assert_eq!(train.losses()[name].last(), points.last(), "{name}");
    }
    assert_eq!(train.samples_step(), stopped_at);
    assert_eq!(train.checkpoints().last().map(|c| c.0), Some(stopped_at));
    assert_eq!(train.config().steps, 100_000);
    // Start would continue this run, not start over in its folder.
    assert!(train.resume());

    // A folder that holds no training says so.
    let empty = tempfile::tempdir().unwrap();
    h.state_mut()
        .train_mut()
        .set_run_dir(&empty.path().display().to_string());
    h.get_by_label("Open run").click();
    h.step();
    wait_until(&mut h, "the empty folder's answer", 60, |w| {
        !w.train().opening()
    });
    let message = h.state().train().message().unwrap_or_default().to_string();
    assert!(message.contains("losses.csv"), "{message}");
    assert_eq!(h.state().train().step(), stopped_at);
}

/// A tiny GAN run with calibration data, shared by the inspection test.
fn trained_run(data: &Path, run: &Path) {
    write_dataset_with_defects(
        data,
        32,
        48,
        &[("good", 8), ("bulge", 4)],
        &[("good", 2), ("bulge", 2)],
        "[pose]\nmode = \"tilt\"\nyaw_deg = [0.0, 360.0]\ntilt_deg = 15.0\n",
        cap_with_obvious_defects(),
    );
    let config = unseen::train::TrainConfig {
        steps: 40,
        ..tiny_config()
    };
    finished(&run_to_end(job(data, run, config, false)));
}

#[test]
fn inspecting_an_image_records_the_descent_and_steps_through_it() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    trained_run(data.path(), run.path());
    let image = data.path().join("cap/test/bulge/000000.png");
    assert!(image.exists());
    // The descent is what this test plays: the run gets the model's own calibration (fitted
    // without the training renders or the scene, so neither the lookup nor the rendered
    // product can be chosen), which the workbench loads as it is.
    {
        let model =
            unseen::inspect::InspectModel::load(run.path(), &burn::tensor::Device::flex()).unwrap();
        let mut inspector =
            unseen::inspect::Inspector::new(model, unseen::inspect::InspectorSettings::default());
        let mut fitted = inspector.calibrate(data.path()).unwrap().clone();
        assert_eq!(fitted.detector(), "model");
        // Forty training steps leave a model that may see this bulge at the good images' level
        // at once, and the calibrated stop would then end the descent before its first step;
        // this test plays the steps, so it stops only on its budget or when stalled.
        fitted.descent.target_loss = None;
        fitted
            .save(&unseen::inspect::Calibration::path(run.path()))
            .unwrap();
    }

    let mut h = harness();
    {
        let app = h.state_mut();
        app.set_workspace(Workspace::Inspect);
        app.set_compute(SelectedDevice::flex());
        let inspect = app.inspect_mut();
        inspect.set_run_dir(&run.path().display().to_string());
        inspect.set_data_dir(&data.path().display().to_string());
    }
    h.step();
    h.get_by_label("Load model").click();
    wait_until(&mut h, "the model", 300, |w| w.inspect().model().is_some());
    assert!(
        h.state().inspect().model().unwrap().calibration.is_some(),
        "loading with a dataset fits the thresholds"
    );
    {
        let inspect = h.state_mut().inspect_mut();
        inspect.set_iterations(12);
        inspect.set_image_path(&image.display().to_string());
    }
    h.step();
    h.get_by_label("Inspect image").click();
    wait_until(&mut h, "the inspection", 300, |w| {
        w.inspect().report().is_some()
    });
    let (frames, report_iterations, verdict) = {
        let i = h.state().inspect();
        let r = i.report().unwrap();
        (i.frames().len(), r.iterations, r.verdict)
    };
    assert_ne!(verdict, unseen::inspect::Verdict::Error);
    assert_eq!(
        frames,
        report_iterations + 1,
        "every iteration (0 = the encoder's guess) is recorded"
    );
    assert!(frames >= 2);
    assert_eq!(
        h.state().inspect().cursor(),
        frames - 1,
        "the live view follows the descent"
    );

    h.get_by_label("First").click();
    h.step();
    h.step();
    assert_eq!(h.state().inspect().cursor(), 0);
    h.get_by_label("Step forward").click();
    h.step();
    h.step();
    assert_eq!(h.state().inspect().cursor(), 1);
    // `--inspect-frame` shows a recorded frame the same way (past the last: the last).
    h.state_mut().inspect_mut().show_frame(frames + 5);
    assert_eq!(h.state().inspect().cursor(), frames - 1);
    h.state_mut().inspect_mut().show_frame(1);
    assert_eq!(h.state().inspect().cursor(), 1);
    let first = h.state().inspect().frames()[0].reference.clone();
    let second = &h.state().inspect().frames()[1].reference;
    assert_ne!(
        &first, second,
        "each recorded frame is its own reconstruction"
    );

    // An unreadable file is an error, never a pass.
    let garbage = run.path().join("garbage.png");
    std::fs::write(&garbage, b"not a png").unwrap();
    h.state_mut().inspect_mut().inspect_file(&garbage);
    wait_until(&mut h, "the unreadable file's report", 60, |w| {
        w.inspect().report().is_some()
    });
    let report = h.state().inspect().report().unwrap();
    assert_eq!(report.verdict, unseen::inspect::Verdict::Error);
}

/// A checkpoint listed in Train opens in Inspect, and a gallery image of a report in Evaluate
/// is inspected there: each through an action, never by one workspace writing into another.
#[test]
fn actions_open_a_checkpoint_and_a_gallery_image_in_inspect() {
    let data = tempfile::tempdir().unwrap();
    let run = tempfile::tempdir().unwrap();
    trained_run(data.path(), run.path());
    let mut h = harness();
    {
        let app = h.state_mut();
        app.set_workspace(Workspace::Train);
        app.set_compute(SelectedDevice::flex());
        let train = app.train_mut();
        train.set_run_dir(&run.path().display().to_string());
        train.set_data_dir(&data.path().display().to_string());
    }
    h.step();
    h.get_by_label("Open run").click();
    wait_until(&mut h, "the run's checkpoints", 60, |w| {
        !w.train().checkpoints().is_empty()
    });
    let checkpoint = h.state().train().checkpoints()[0].1.clone();
    assert!(h.state().inspect().model().is_none());

    h.get_by_label("Inspect with it").click();
    h.step();
    assert_eq!(h.state().workspace(), Workspace::Inspect);
    assert_eq!(
        h.state().inspect().run_dir(),
        checkpoint.display().to_string()
    );
    assert_eq!(
        h.state().inspect().data_dir(),
        data.path().display().to_string()
    );
    wait_until(&mut h, "the checkpoint's model", 300, |w| {
        w.inspect().model().is_some()
    });
    assert_eq!(h.state().inspect().model().unwrap().step, 40);

    // A report whose gallery holds one overlay, of a test image of the dataset.
    let report_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(report_dir.path().join("overlays")).unwrap();
    image::RgbImage::from_pixel(32, 32, image::Rgb([200, 40, 40]))
        .save(report_dir.path().join("overlays/bulge-0.png"))
        .unwrap();
    let mut report = synthetic_report();
    report.data_dir = data.path().to_path_buf();
    let bulge = &mut report.models[0].images[40];
    bulge.path = "cap/test/bulge/000000.png".into();
    bulge.overlay = Some("overlays/bulge-0.png".into());
    {
        let app = h.state_mut();
        app.set_workspace(Workspace::Evaluate);
        app.evaluate_mut()
            .set_report(report, report_dir.path().to_path_buf());
    }
    wait_until(&mut h, "the gallery", 60, |w| {
        w.evaluate().gallery_len() == 1
    });
    assert!(h.state().inspect().report().is_none());
    // Below the fold of the report's views: clicked the way a screen reader clicks.
    h.get_by_label("Open in Inspect").click_accesskit();
    h.step();
    assert_eq!(h.state().workspace(), Workspace::Inspect);
    wait_until(&mut h, "the gallery image's inspection", 300, |w| {
        w.inspect().report().is_some() && !w.inspect().running()
    });
    let inspected = h.state().inspect().report().unwrap();
    assert_eq!(
        inspected.path.as_deref(),
        Some(data.path().join("cap/test/bulge/000000.png").as_path())
    );
    assert_ne!(inspected.verdict, unseen::inspect::Verdict::Error);
}

fn synthetic_report() -> unseen::eval::EvalReport {
    use unseen::eval::{ClassMetrics, Confusion, EvalReport, ImageResult, ModelEval, SweepPoint};
    let mut images = Vec::new();
    for i in 0..40 {
        images.push(ImageResult {
            path: format!("cap/test/good/{i:06}.png").into(),
            class: "good".into(),
            score: 0.1 + 0.01 * i as f32,
            verdict: "pass".into(),
            iterations: 5,
            time_ms: 3.0,
            part: None,
            overlay: None,
        });
    }
    for i in 0..40 {
        images.push(ImageResult {
            path: format!("cap/test/bulge/{i:06}.png").into(),
            class: "bulge".into(),
            score: 0.3 + 0.01 * i as f32,
            verdict: "defect".into(),
            iterations: 9,
            time_ms: 4.0,
            part: Some("dome".into()),
            overlay: None,
        });
    }
    let class = |name: &str| ClassMetrics {
        class: name.into(),
        defective: 40,
        good: 40,
        image_auroc: 0.9,
        pixel_auroc: Some(0.95),
        aupro: Some(0.8),
        f1_max: 0.85,
        f1_max_threshold: 0.45,
        at_calibrated: Confusion::default(),
        part_named: None,
    };
    EvalReport {
        format: 1,
        data_dir: "/nowhere".into(),
        created_unix: 0,
        models: vec![ModelEval {
            name: "gan".into(),
            run_dir: "/nowhere/gan".into(),
            model_kind: "Gan".into(),
            checkpoint_step: 10,
            score_kind: "topk".into(),
            review_threshold: 0.4,
            defect_threshold: 0.45,
            defect_rule: "best F1 on validation".into(),
            main_iterations: 10,
            budget: "refinement rounds".into(),
            detectors: Vec::new(),
            sweep: [0, 5, 10]
                .into_iter()
                .map(|n| SweepPoint {
                    iterations: n,
                    classes: vec![class("all"), class("bulge")],
                    mean_ms_good: 1.0 + n as f64,
                    mean_ms_defective: 2.0 + n as f64,
                    mean_iterations_good: n as f64,
                    mean_iterations_defective: n as f64,
                })
                .collect(),
            images,
        }],
        notes: Vec::new(),
    }
}

#[test]
fn dragging_the_threshold_changes_the_confusion_matrix() {
    let mut h = harness();
    {
        let app = h.state_mut();
        app.set_workspace(Workspace::Evaluate);
        app.evaluate_mut()
            .set_report(synthetic_report(), "/nowhere".into());
    }
    h.step();
    h.step();
    let at_calibrated = h.state().evaluate().confusion();
    // Scores: good 0.10..0.49, bulge 0.30..0.69; at 0.45: 5 good flagged, 25 bulges caught.
    assert_eq!(at_calibrated.false_positive, 5);
    assert_eq!(at_calibrated.true_positive, 25);

    let rect = h
        .state()
        .evaluate()
        .histogram_rect()
        .expect("the histogram is shown");
    let from = egui::pos2(rect.left() + rect.width() * 0.6, rect.center().y);
    let to = egui::pos2(rect.left() + rect.width() * 0.25, rect.center().y);
    h.event(egui::Event::PointerMoved(from));
    h.event(egui::Event::PointerButton {
        pos: from,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    for k in 1..=8 {
        let t = k as f32 / 8.0;
        h.event(egui::Event::PointerMoved(from + (to - from) * t));
        h.step();
    }
    h.event(egui::Event::PointerButton {
        pos: to,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    h.step();
    let threshold = h.state().evaluate().threshold();
    assert!(
        threshold < 0.3,
        "dragging left lowers the threshold, got {threshold}"
    );
    let moved = h.state().evaluate().confusion();
    assert!(moved.false_positive > at_calibrated.false_positive);
    assert_eq!(moved.true_positive, 40, "every bulge scores above 0.3");
    assert_eq!(
        moved.true_positive + moved.false_negative + moved.false_positive + moved.true_negative,
        80
    );
}

#[test]
fn defect_ranges_are_edited_validated_and_saved_with_the_product() {
    let mut h = harness();
    h.state_mut()
        .design_mut()
        .set_defect(Some("short_notch".into()));
    h.step();
    h.step();
    let before = h.state().design().product().defects["short_notch"].clone();
    h.get_by_label("short_notch height to")
        .set_value_accesskit(0.5);
    h.step();
    h.step();
    let after = h.state().design().product().defects["short_notch"].clone();
    assert_ne!(before, after, "the range edit must reach the product");
    assert!(format!("{after:?}").contains("0.5"), "{after:?}");
    // A range the product refuses (taller than the notch itself) is reported, not applied.
    h.get_by_label("short_notch height to")
        .set_value_accesskit(5.0);
    h.step();
    h.step();
    assert_eq!(h.state().design().product().defects["short_notch"], after);
    let message = h.state().design().message().unwrap_or_default().to_string();
    assert!(message.contains("short_notch"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("my-cap.toml");
    h.state_mut().design_mut().save_product(&path);
    wait_until(&mut h, "the save", 60, |w| !w.design().files_busy());
    let saved = unseen::product::ProductSpec::load(path.to_str().unwrap(), None).unwrap();
    assert_eq!(saved.defects["short_notch"], after);
    assert_eq!(
        h.state().design().recipe().product,
        path.display().to_string()
    );

    // A fresh workbench opens the saved product; a file that is not a product is refused.
    let mut fresh = harness();
    fresh.state_mut().design_mut().open_product(&path);
    wait_until(&mut fresh, "the product", 60, |w| !w.design().files_busy());
    assert_eq!(
        fresh.state().design().product().defects["short_notch"],
        after
    );
    let junk = dir.path().join("junk.toml");
    std::fs::write(&junk, "this = [is not a product").unwrap();
    fresh.state_mut().design_mut().open_product(&junk);
    wait_until(&mut fresh, "the refusal", 60, |w| !w.design().files_busy());
    assert_eq!(
        fresh.state().design().product().defects["short_notch"],
        after
    );
    let message = fresh
        .state()
        .design()
        .message()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("junk.toml"), "{message}");
}

#[test]
fn an_imported_product_is_shown_with_its_parts_named_and_coloured() {
    let mut h = harness();
    // The bracket's recipe, with its product (the cap's recipe asks for the cap's classes).
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/datasets/bracket.toml");
    h.state_mut().design_mut().open_recipe(&recipe, false);
    // The cap's view may come first; the bracket's is the one with an upright.
    wait_until(&mut h, "the bracket's orbit view", 120, |w| {
        w.design()
            .view_parts()
            .iter()
            .any(|(_, name)| name == "upright")
    });
    let parts: Vec<(u8, String)> = h.state().design().view_parts().to_vec();
    let expected = [(1, "base"), (2, "upright"), (3, "rib"), (4, "holes")];
    assert_eq!(
        parts,
        expected.map(|(id, name)| (id, name.to_string())).to_vec()
    );
    for (id, name) in expected {
        h.get_by_label(&format!("{name} (id {id})"));
    }
    // The product is drawn (the imported geometry, not an empty analytic shape).
    let pixels = h.state().design().view_pixels();
    let lit = pixels.iter().filter(|&&v| v > 0).count();
    assert!(
        lit * 20 > pixels.len(),
        "only {lit} of {} pixels show the bracket",
        pixels.len()
    );
}

#[test]
fn a_click_on_the_orbit_view_places_the_defect_where_the_product_was_clicked() {
    use unseen::worker::preview::VIEW_SIZE;
    let mut h = harness();
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/datasets/bracket.toml");
    h.state_mut().design_mut().open_recipe(&recipe, false);
    wait_until(&mut h, "the bracket", 120, |w| {
        w.design()
            .view_parts()
            .iter()
            .any(|(_, name)| name == "upright")
    });
    h.state_mut().design_mut().set_defect(Some("bulge".into()));
    wait_until(&mut h, "the bracket's bulge", 120, |w| {
        w.design().view_part_map().1.is_some()
    });
    let size = VIEW_SIZE as usize;
    let (parts, mask) = h.state().design().view_part_map();
    let (parts, before) = (parts.to_vec(), mask.unwrap().to_vec());
    // A pixel of the upright (part 2) well inside it and away from where the bulge is now.
    let inside = |i: usize| {
        let (x, y) = (i % size, i / size);
        x > 4
            && y > 4
            && x + 4 < size
            && y + 4 < size
            && (0..9).all(|q| parts[(y + q / 3 * 2 - 2) * size + x + q % 3 * 2 - 2] == 2)
    };
    let far_from_mask = |i: usize| {
        let (x, y) = ((i % size) as i64, (i / size) as i64);
        before.iter().enumerate().all(|(j, m)| {
            let (u, v) = ((j % size) as i64, (j / size) as i64);
            *m == 0 || (u - x).pow(2) + (v - y).pow(2) > 40 * 40
        })
    };
    let target = (0..size * size)
        .find(|&i| inside(i) && far_from_mask(i))
        .expect("a pixel of the upright away from the bulge");
    let (x, y) = ((target % size) as f32 + 0.5, (target / size) as f32 + 0.5);
    h.state_mut().design_mut().click_view(x, y);
    wait_until(&mut h, "the placed bulge", 120, |w| {
        w.design().placed().is_some() && w.design().view_part_map().1.is_some()
    });
    let mask = h.state().design().view_part_map().1.unwrap().to_vec();
    let masked: Vec<usize> = (0..size * size).filter(|&i| mask[i] != 0).collect();
    assert!(!masked.is_empty(), "the placed bulge is not visible");
    // The mask now surrounds the clicked pixel.
    let (cx, cy) = (
        masked.iter().map(|i| (i % size) as f64).sum::<f64>() / masked.len() as f64,
        masked.iter().map(|i| (i / size) as f64).sum::<f64>() / masked.len() as f64,
    );
    let off = ((cx - f64::from(x)).powi(2) + (cy - f64::from(y)).powi(2)).sqrt();
    assert!(
        off < 15.0,
        "the bulge's mask is centred {off:.1} px from the click"
    );
}

/// Small enough for the whole demo (renders, two trainings, calibration, report) in a test.
fn tiny_demo_plan() -> DemoPlan {
    DemoPlan {
        train_good: 32,
        val_good: 8,
        val_defect: 2,
        test_good: 2,
        test_defect: 1,
        eval_good: 6,
        eval_defect: 3,
        width: 8,
        batch_size: 8,
        gan_steps: 2,
        ae_steps: 4,
        iterations: vec![0, 2],
        latency_samples: 1,
    }
}

/// A new user's first start: the banner offers the quick demo; once run from the window (here
/// first cancelled during its training, then run again, which goes on from what was done), Train,
/// Inspect and Evaluate all show what it made.
#[test]
fn the_quick_demo_from_the_window_fills_every_workspace() {
    let out = tempfile::tempdir().unwrap();
    let demo = out.path().join("quick-demo");
    let mut h = harness();
    {
        let app = h.state_mut();
        app.set_compute(SelectedDevice::flex());
        app.set_quick_demo(
            DemoPlan {
                ae_steps: 1_000_000,
                ..tiny_demo_plan()
            },
            demo.clone(),
        );
    }
    wait_until(&mut h, "the look for a trained run", 60, |w| {
        w.quick_demo().probed()
    });
    assert!(
        h.state().quick_demo().banner_shown(),
        "no trained run: the banner invites the demo"
    );
    assert!(h.state().inspect().model().is_none());
    assert!(h.state().evaluate().report().is_none());

    // Cancelled while it trains: it stops, keeping what it did.
    h.get_by_label("Run the quick demo").click();
    wait_until(&mut h, "the demo's first training step", 300, |w| {
        w.quick_demo().stage().is_some_and(|(n, _)| n == 3)
            && w.quick_demo().stage_detail().starts_with("step ")
    });
    assert!(h.state().quick_demo().running());
    h.get_by_label("Cancel").click();
    h.step();
    wait_until(&mut h, "the cancel", 120, |w| !w.quick_demo().running());
    let why = h
        .state()
        .quick_demo()
        .stopped()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("cancelled in stage 3"), "{why}");
    assert!(demo.join("data/manifest.json").is_file());
    assert!(demo.join("runs/ae-som/latest.json").is_file());
    assert!(!demo.join("report").exists());

    // Run again to the end.
    h.state_mut().set_quick_demo(tiny_demo_plan(), demo.clone());
    h.step();
    h.get_by_label("Run the quick demo").click();
    h.step();
    assert!(h.state().quick_demo().running());
    wait_until(&mut h, "the quick demo", 900, |w| !w.quick_demo().running());
    if let Some(why) = h.state().quick_demo().stopped() {
        panic!("the demo stopped: {why}");
    }
    let outcome = h.state().quick_demo().outcome().unwrap();
    assert_eq!(outcome.layout.out, demo);
    assert!(demo.join("report/report.html").is_file());
    wait_until(&mut h, "every workspace to show the demo", 600, |w| {
        !w.train().opening()
            && w.train().step() > 0
            && w.inspect().report().is_some()
            && !w.inspect().busy()
            && w.evaluate().report().is_some()
            && !w.evaluate().reading()
    });
    let app = h.state();
    // Train: the GAN's run, with its losses and checkpoint.
    assert_eq!(app.train().step(), 2);
    assert!(!app.train().losses().is_empty());
    assert_eq!(app.train().checkpoints().last().map(|c| c.0), Some(2));
    // Inspect: its model, calibrated, judging a held-out defective image.
    let model = app.inspect().model().unwrap();
    assert_eq!(model.step, 2);
    assert!(model.calibration.is_some());
    let inspected = app.inspect().report().unwrap();
    assert_ne!(inspected.verdict, unseen::inspect::Verdict::Error);
    let image = inspected.path.clone().unwrap();
    assert!(
        image.starts_with(demo.join("eval-data")),
        "{}",
        image.display()
    );
    assert!(
        !image.to_string_lossy().contains("/good/"),
        "{}",
        image.display()
    );
    // Evaluate: the report of both models.
    let report = app.evaluate().report().unwrap();
    let names: Vec<&str> = report.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["gan", "ae-som"]);
    assert!(app.evaluate().gallery_len() > 0);

    // The banner then takes the user to each.
    h.get_by_label("Show the report").click();
    h.step();
    assert_eq!(h.state().workspace(), Workspace::Evaluate);
}

#[test]
fn design_fits_the_scene_to_photos_shows_them_beside_their_renders_and_takes_the_fit() {
    use unseen::dataset::recipe::{CAP_DEFAULT_RECIPE, Recipe};
    use unseen::render::{Gpu, Lighting, Renderer, Sensor};
    let recipe = Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "cap").unwrap();
    let mut renderer = Renderer::new(Gpu::headless().unwrap());
    let line = (
        Lighting {
            direction: [0.3, 0.5, 0.8],
            intensity: 1.0,
            ambient: 0.2,
            ..Lighting::default()
        },
        Sensor {
            gamma: 1.5,
            ..Sensor::default()
        },
    );
    let photos = synthetic_photos(&mut renderer, &recipe, 5, line, 1.0);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("train").join("good");
    std::fs::create_dir_all(&good).unwrap();
    for (i, (_, p)) in photos.iter().enumerate() {
        write_grey_png(&good.join(format!("{i:03}.png")), p, 64);
    }

    let mut h = harness();
    let settings = unseen::refine::fit::FitSettings {
        alternations: 2,
        bank: 256,
        evaluations: 60,
        ..Default::default()
    };
    // The folder as the user types it, then the button.
    h.state_mut()
        .design_mut()
        .fit_photos(dir.path(), Some(settings));
    wait_until(&mut h, "the fit", 300, |w| {
        !w.design().photo_fit().running()
    });
    let design = h.state().design();
    assert!(
        design.photo_fit().message().is_none(),
        "{:?}",
        design.photo_fit().message()
    );
    let fitted = design.photo_fit().fitted().expect("a fitted scene");
    assert_eq!(fitted.photos.len(), 5);
    let (before, after) = fitted.outcome.product_abs();
    assert!(after < before * 0.6, "{before} → {after}");
    let gamma = fitted.outcome.fitted.sensor.gamma;
    // The strip of photo, render and difference, and the fitted values, are on screen.
    assert!(h.query_by_label("render at its fitted pose").is_some());
    assert!(h.query_by_label("gamma").is_some());
    assert_eq!(h.state().design().recipe().sensor.gamma, 1.0);
    // The section sits below the fold of the controls: clicked through accesskit.
    h.get_by_label("Use the fitted scene").click_accesskit();
    h.step();
    h.step();
    assert_eq!(h.state().design().recipe().sensor.gamma, gamma);
    assert_ne!(gamma, 1.0);

    // A folder without photos: the fit says so, naming the folder.
    let empty = tempfile::tempdir().unwrap();
    h.state_mut().design_mut().fit_photos(empty.path(), None);
    wait_until(&mut h, "the refusal", 60, |w| {
        !w.design().photo_fit().running()
    });
    let message = h
        .state()
        .design()
        .photo_fit()
        .message()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
}
