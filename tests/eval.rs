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
