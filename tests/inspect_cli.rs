//! `unseen inspect` end to end on a tiny trained model: calibration written beside the model,
//! overlays and masks written to --out, --fail-on-defect, clear errors.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::path::Path;

use train_common::*;
use unseen::cli::inspect::OutputFormat;
use unseen::cli::inspect::{
    BudgetArg, InspectArgs, ModeArg, parse_false_alarm_rate, run_inspect_cli,
};
use unseen::inspect::{Calibration, DefectRule};

fn args(run: &Path, data: Option<&Path>, inputs: Vec<std::path::PathBuf>) -> InspectArgs {
    InspectArgs {
        model: run.to_path_buf(),
        data: data.map(Path::to_path_buf),
        iterations: BudgetArg::Fixed(10),
        mode: ModeArg::Encoder,
        seed: 0,
        lambda: 0.1,
        batch: 8,
        timeout_ms: None,
        refine_rounds: None,
        recalibrate: false,
        false_alarm_rate: None,
        out: None,
        format: OutputFormat::Csv,
        fail_on_defect: false,
        map_input: unseen::imaging::MapInput::Fail,
        calibrate_good: None,
        device: unseen::compute::ComputeDevice::Cpu,
        inputs,
    }
}

#[test]
fn inspect_cli_calibrates_writes_outputs_and_fails_on_defects() {
    let data = tempfile::tempdir().unwrap();
    write_dataset_with_defects(
        data.path(),
        32,
        64,
        &[("good", 8), ("bulge", 4)],
        &[("good", 4), ("bulge", 4)],
        "[pose]\nmode = \"tilt\"\nyaw_deg = [0.0, 360.0]\ntilt_deg = 15.0\n",
        cap_with_obvious_defects(),
    );
    let run = tempfile::tempdir().unwrap();
    let config = unseen::train::TrainConfig {
        steps: 60,
        ..tiny_config()
    };
    finished(&run_to_end(job(data.path(), run.path(), config, false)));

    // Without a dataset there is nothing to calibrate on: a clear error, not a silent pass.
    let test_dir = data.path().join("cap").join("test");
    let err = run_inspect_cli(args(run.path(), None, vec![test_dir.join("good")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--data"), "{err}");

    let out = tempfile::tempdir().unwrap();
    let mut with_data = args(
        run.path(),
        Some(data.path()),
        vec![test_dir.join("good"), test_dir.join("bulge")],
    );
    with_data.out = Some(out.path().to_path_buf());
    run_inspect_cli(with_data.clone()).unwrap();
    let calibration = Calibration::load(&Calibration::path(run.path())).unwrap();
    assert_eq!(calibration.validation_good, 8);
    assert_eq!(calibration.validation_defective, 4);
    assert_eq!(calibration.descent.max_iterations, 10);
    assert!(calibration.review_threshold <= calibration.defect_threshold);
    // Every detector at hand was measured on the validation split (the model's maps, the
    // product rendered at each image's refined pose, the lookup among the training renders,
    // the model's and the render's scores fused), and the chosen one has the best criterion.
    let names: Vec<&str> = calibration
        .detectors
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    for expected in ["model", "render", "lookup", "fused"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let best = calibration
        .detectors
        .iter()
        .filter_map(|d| d.criterion)
        .fold(f32::NEG_INFINITY, f32::max);
    let chosen = calibration
        .detectors
        .iter()
        .find(|d| d.name == calibration.detector())
        .unwrap();
    assert!(
        chosen.criterion.is_some_and(|c| c >= best - 1e-6),
        "{names:?}"
    );
    // Within the chosen detector, every map variant and score was measured and the chosen
    // one has the best image AUROC + pixel AUROC of them.
    let measured = |name: String| {
        calibration
            .auroc
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    };
    let merit = |settings: &unseen::inspect::ScoreSettings, kind: &str| {
        Some(
            measured(format!("{} {kind}", settings.map_name()))?
                + measured(format!("{} pixel", settings.map_name()))?,
        )
    };
    if calibration.fusion.is_none() {
        let own = merit(&calibration.score, calibration.score_kind.as_str()).unwrap();
        for candidate in calibration.score.candidates() {
            for kind in unseen::inspect::ScoreKind::ALL {
                if let Some(m) = merit(&candidate, kind.as_str()) {
                    assert!(m <= own + 1e-6);
                }
            }
        }
    }
    // Good and bulge images share stems (000000.png …): outputs must not overwrite each other.
    let overlays = std::fs::read_dir(out.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("_overlay.png")
        })
        .count();
    assert_eq!(overlays, 8);
    let mask = image::open(out.path().join("000000_mask.png"))
        .unwrap()
        .to_luma8();
    assert_eq!(mask.dimensions(), (32, 32));
    assert!(mask.as_raw().iter().all(|&v| v == 0 || v == 255));

    // The calibration remembers its dataset, so --data may be left out now.
    let mut again = args(run.path(), None, vec![test_dir.join("bulge")]);
    again.fail_on_defect = true;
    let err = run_inspect_cli(again).unwrap_err().to_string();
    assert!(err.contains("defect or error"), "{err}");

    // `--iterations auto` refits: calibration measures every budget up to 50 and keeps the
    // best; inspection then runs at that budget.
    let mut auto = args(run.path(), None, vec![test_dir.join("good")]);
    auto.iterations = BudgetArg::Auto;
    run_inspect_cli(auto).unwrap();
    let chosen = Calibration::load(&Calibration::path(run.path())).unwrap();
    assert_eq!(chosen.budget_ceiling, Some(50));
    let budgets: Vec<usize> = chosen.budget_scores.iter().map(|(b, _)| *b).collect();
    assert_eq!(budgets, [0, 1, 2, 5, 10, 20, 50]);
    assert!(budgets.contains(&chosen.descent.max_iterations));
    assert!(chosen.descent.target_loss.is_some_and(f32::is_finite));
    assert_eq!(chosen.defect_rule, DefectRule::F1Max);
    assert_eq!(chosen.good_scores.len(), 8);

    // A false-alarm rate re-thresholds the stored calibration without refitting it: at 0 no
    // good validation image reaches the defect threshold.
    let mut strict = args(run.path(), None, vec![test_dir.join("good")]);
    strict.iterations = BudgetArg::Auto;
    strict.false_alarm_rate = Some(0.0);
    run_inspect_cli(strict.clone()).unwrap();
    let ruled = Calibration::load(&Calibration::path(run.path())).unwrap();
    assert_eq!(ruled.defect_rule, DefectRule::FalseAlarmRate { rate: 0.0 });
    assert_eq!(ruled.good_scores, chosen.good_scores);
    assert_eq!(ruled.budget_scores, chosen.budget_scores);
    assert!(
        ruled
            .good_scores
            .iter()
            .all(|&g| g < ruled.defect_threshold)
    );
    assert!(ruled.review_threshold <= ruled.defect_threshold);
    // The default rule again gives back exactly the fitted thresholds.
    strict.false_alarm_rate = None;
    run_inspect_cli(strict).unwrap();
    assert_eq!(
        Calibration::load(&Calibration::path(run.path())).unwrap(),
        chosen
    );

    // A calibration of the rendered comparison fitted with another refinement (here a file
    // from before the levels of detail were kept) is refit where the scene is at hand: its
    // retry loss and budget were measured on other poses.
    let mut older = chosen.clone();
    older.score.against = unseen::inspect::Against::Rendered;
    older.refine.as_mut().expect("no refinement choice").levels = None;
    older.save(&Calibration::path(run.path())).unwrap();
    let mut refit = args(run.path(), Some(data.path()), vec![test_dir.join("good")]);
    refit.iterations = BudgetArg::Auto;
    run_inspect_cli(refit).unwrap();
    let refit = Calibration::load(&Calibration::path(run.path())).unwrap();
    assert_eq!(
        refit.refine.and_then(|r| r.levels),
        Some(unseen::refine::RefineSettings::default().levels)
    );
    let err = parse_false_alarm_rate("1.5").unwrap_err();
    assert!(err.contains("[0, 1)"), "{err}");
    assert!(parse_false_alarm_rate("some").is_err());
    assert_eq!(parse_false_alarm_rate("0.01"), Ok(0.01));

    let garbage = out.path().join("garbage.png");
    std::fs::write(&garbage, b"nope").unwrap();
    let mut bad = args(run.path(), None, vec![garbage.clone()]);
    bad.fail_on_defect = true;
    assert!(
        run_inspect_cli(bad).is_err(),
        "an unreadable image must not pass"
    );

    // The exit codes a line sees, from the command itself.
    let unseen = |extra: &[&Path]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_unseen"));
        command.args(["inspect", "--device", "cpu", "--format", "csv"]);
        command.arg("--model").arg(run.path());
        command.args(extra);
        command.output().unwrap()
    };
    let code = |output: &std::process::Output| output.status.code();
    assert_eq!(code(&unseen(&[&test_dir.join("good")])), Some(0));
    let fail_on_defect = Path::new("--fail-on-defect");
    assert_eq!(code(&unseen(&[fail_on_defect, &garbage])), Some(4));
    let bulge = unseen(&[fail_on_defect, &test_dir.join("bulge")]);
    let lines = String::from_utf8(bulge.stdout.clone()).unwrap();
    let expected = if lines.contains(",defect,") { 3 } else { 4 };
    assert_eq!(code(&bulge), Some(expected), "{lines}");
    let missing = unseen(&[&out.path().join("missing.png")]);
    assert_eq!(
        code(&missing),
        Some(0),
        "a missing image is reported, not fatal"
    );
    let no_model = std::process::Command::new(env!("CARGO_BIN_EXE_unseen"))
        .args(["inspect", "--device", "cpu", "--model"])
        .arg(data.path().join("no-such-run"))
        .arg(&garbage)
        .output()
        .unwrap();
    assert_eq!(code(&no_model), Some(1));
    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_unseen"))
        .args(["inspect", "--device", "tpu", "x.png"])
        .output()
        .unwrap();
    assert_eq!(code(&usage), Some(2));

    // `--refine-rounds` replaces the calibrated refinement budget: no image refines longer
    // (where the chosen detector renders the product; the tiny model may choose another).
    let json = std::process::Command::new(env!("CARGO_BIN_EXE_unseen"))
        .args([
            "inspect",
            "--device",
            "cpu",
            "--format",
            "json",
            "--refine-rounds",
            "1",
        ])
        .arg("--model")
        .arg(run.path())
        .arg(test_dir.join("bulge"))
        .output()
        .unwrap();
    let lines = String::from_utf8(json.stdout).unwrap();
    let rounds: Vec<Option<u64>> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["refine_rounds"].as_u64())
        .collect();
    assert_eq!(rounds.len(), 4, "{lines}");
    let now = Calibration::load(&Calibration::path(run.path())).unwrap();
    if now.needs_synthesis() {
        assert!(
            rounds.iter().all(|r| r.is_some_and(|r| r <= 1)),
            "{rounds:?} {lines}"
        );
    }

    // A photo of another size: an error line naming both sizes without a rule; judged under
    // `--map-input resize`, and every CSV line records the rule.
    let good = unseen::imaging::images_in(&test_dir.join("good")).unwrap();
    let photo = out.path().join("photo-48.png");
    let grey = image::open(&good[0]).unwrap().to_luma8();
    image::imageops::resize(&grey, 48, 48, image::imageops::FilterType::Triangle)
        .save(&photo)
        .unwrap();
    let refused = String::from_utf8(unseen(&[&photo]).stdout).unwrap();
    let row = refused.lines().nth(1).unwrap();
    assert!(
        row.contains(",error,") && row.contains("48x48") && row.ends_with(",fail"),
        "{row}"
    );
    let mapped = unseen(&[Path::new("--map-input"), Path::new("resize"), &photo]);
    let mapped = String::from_utf8(mapped.stdout).unwrap();
    let row = mapped.lines().nth(1).unwrap();
    assert!(
        !row.contains(",error,") && row.ends_with(",resize"),
        "{row}"
    );

    // Thresholds refit on good photos are stored apart and loaded when given again.
    let render_calibration = std::fs::read(run.path().join("calibration.json")).unwrap();
    let good_photos = data.path().join("validation").join("good");
    let calibrate = [Path::new("--calibrate-good"), &good_photos, &photo];
    let first = unseen(&calibrate);
    let said = String::from_utf8(first.stderr).unwrap();
    assert!(said.contains("refit on 8 good photos"), "{said}");
    assert!(run.path().join("calibration-photos.json").is_file());
    assert_eq!(
        std::fs::read(run.path().join("calibration.json")).unwrap(),
        render_calibration
    );
    let said = String::from_utf8(unseen(&calibrate).stderr).unwrap();
    assert!(said.contains("thresholds from"), "{said}");
    let empty = out.path().join("no-photos");
    std::fs::create_dir_all(&empty).unwrap();
    let refused = unseen(&[Path::new("--calibrate-good"), &empty, &photo]);
    assert_eq!(code(&refused), Some(1));
    let said = String::from_utf8(refused.stderr).unwrap();
    assert!(
        said.contains("no-photos") && said.contains("no PNG"),
        "{said}"
    );

    // An MVTec AD folder without a manifest: its test photos of every class.
    let photos = out.path().join("photos");
    for class in ["good", "bulge"] {
        let folder = photos.join("test").join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for file in unseen::imaging::images_in(&test_dir.join(class)).unwrap() {
            std::fs::copy(&file, folder.join(file.file_name().unwrap())).unwrap();
        }
    }
    let listed = String::from_utf8(unseen(&[&photos]).stdout).unwrap();
    assert_eq!(listed.lines().count(), 1 + 8, "{listed}");
    assert!(listed.contains("test/bulge/") && listed.contains("test/good/"));
}
