//! `run_train_cli` end to end: argument parsing, the TOML settings file, and what a run leaves
//! in RUN_DIR.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use clap::Parser;
use train_common::Fixture;
use unseen::train::TrainConfig;
use unseen::train::checkpoint::{latest_checkpoint, read_meta};
use unseen::train::cli::{TrainArgs, run_train_cli};

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
