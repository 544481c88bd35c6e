//! `run_train_cli` end to end: argument parsing, the TOML settings file, and what a run leaves
//! in RUN_DIR.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use clap::Parser;
use train_common::Fixture;
use unseen::cli::train::{TrainArgs, run_train_cli};
use unseen::train::TrainConfig;
use unseen::train::checkpoint::{latest_checkpoint, read_meta};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    train: TrainArgs,
}

#[test]
fn cli_trains_and_fills_the_run_directory() {
    let data = Fixture::caps(32, 16, 4);
    let run = tempfile::tempdir().unwrap();
    let settings = run.path().join("settings.toml");
    std::fs::write(
        &settings,
        "width = 8\nlatent_dim = 16\nsample_every = 3\nsample_count = 4\n[som]\nrows = 3\ncols = 3\n",
    )
    .unwrap();
    let out = run.path().join("run");
    let cli = Cli::try_parse_from([
        "unseen",
        "--data",
        data.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        "ae-som",
        "--steps",
        "6",
        "--device",
        "cpu",
        "--config",
        settings.to_str().unwrap(),
        "--batch-size",
        "4",
        "--seed",
        "9",
    ])
    .unwrap();
    let config = cli.train.train_config().unwrap();
    assert_eq!((config.steps, config.batch_size, config.seed), (6, 4, 9));
    assert_eq!((config.width, config.som.rows), (8, 3));
    run_train_cli(cli.train).unwrap();

    let written: TrainConfig =
        toml::from_str(&std::fs::read_to_string(out.join("train_config.toml")).unwrap()).unwrap();
    assert_eq!(written, config);
    let csv = std::fs::read_to_string(out.join("losses.csv")).unwrap();
    assert!(
        csv.starts_with("step,epoch,images_per_sec,total,reconstruction"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 7);
    for step in ["step-000003.png", "step-000006.png"] {
        let grid = image::open(out.join("samples").join(step)).unwrap();
        // Two rows of 32 px plus a 2 px gap; four columns.
        assert_eq!((grid.width(), grid.height()), (4 * 32 + 3 * 2, 66));
    }
    let meta = read_meta(&latest_checkpoint(&out).unwrap()).unwrap();
    assert_eq!(meta.step, 6);
    assert_eq!(meta.seed, 9);

    // Bad arguments are refused before any work.
    assert!(
        Cli::try_parse_from(["unseen", "--data", "d", "--out", "o", "--device", "tpu"]).is_err()
    );
    assert!(
        Cli::try_parse_from([
            "unseen", "--data", "d", "--out", "o", "--steps", "1", "--epochs", "1"
        ])
        .is_err()
    );
}

#[test]
fn init_from_takes_the_source_runs_shape_unless_a_config_file_sets_it() {
    let data = Fixture::caps(32, 16, 4);
    let source = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        model: unseen::model::ModelKind::AeSom,
        steps: 2,
        ..train_common::tiny_config()
    };
    train_common::finished(&train_common::run_to_end(train_common::job(
        &data.path(),
        source.path(),
        config.clone(),
        false,
    )));
    let parse = |extra: &[&str]| {
        let mut args = vec![
            "unseen".to_string(),
            "--data".into(),
            data.path().display().to_string(),
            "--out".into(),
            "unused".into(),
            "--init-from".into(),
            source.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Cli::parse_from(args).train.train_config()
    };
    // No config file: the tiny source's latent size and width, not the defaults.
    let adopted = parse(&[]).unwrap();
    assert_eq!(
        (adopted.latent_dim, adopted.width, adopted.max_width_mult),
        (config.latent_dim, config.width, config.max_width_mult)
    );
    assert_eq!(adopted.init_from.as_deref(), Some(source.path()));
    // A config file's shape is kept (and the worker refuses it if it does not match).
    let file = source.path().join("other.toml");
    std::fs::write(&file, TrainConfig::default().to_toml()).unwrap();
    let kept = parse(&["--config", file.to_str().unwrap()]).unwrap();
    assert_eq!(kept.width, TrainConfig::default().width);
    // A source that is not a run names what is missing.
    let missing = source.path().join("nothing-here");
    let message = Cli::parse_from([
        "unseen",
        "--data",
        "d",
        "--out",
        "o",
        "--init-from",
        missing.to_str().unwrap(),
    ])
    .train
    .train_config()
    .unwrap_err()
    .to_string();
    assert!(message.contains("nothing-here"), "{message}");
}

#[test]
fn resume_without_a_config_file_keeps_the_runs_own_settings() {
    let run = tempfile::tempdir().unwrap();
    let own = TrainConfig {
        model: unseen::model::ModelKind::AeSom,
        width: 8,
        latent_dim: 16,
        ..TrainConfig::default()
    };
    std::fs::write(run.path().join("train_config.toml"), own.to_toml()).unwrap();
    let parse = |extra: &[&str]| {
        let mut args = vec![
            "unseen".to_string(),
            "--data".into(),
            "d".into(),
            "--out".into(),
            run.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Cli::parse_from(args).train.train_config().unwrap()
    };
    // Resuming an ae-som run does not silently switch to the default GAN and width.
    let resumed = parse(&["--resume", "--steps", "40"]);
    assert_eq!(resumed.model, unseen::model::ModelKind::AeSom);
    assert_eq!(
        (resumed.width, resumed.latent_dim, resumed.steps),
        (8, 16, 40)
    );
    // A fresh run in the same folder starts from the defaults, and flags still override.
    assert_eq!(parse(&[]).model, TrainConfig::default().model);
    assert_eq!(
        parse(&["--resume", "--model", "gan"]).model,
        unseen::model::ModelKind::Gan
    );
}
