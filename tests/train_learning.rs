//! Training on tiny data: losses move the right way, runs are deterministic, the data loader
//! rejects bad images by name.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use train_common::*;
use unseen::dataset::CheckError;
use unseen::model::ModelKind;
use unseen::train::TrainEvent;
use unseen::train::data::{DataError, DatasetInfo};

#[test]
fn autoencoder_reconstruction_loss_falls() {
    let data = Fixture::caps(32, 32, 8);
    let run = tempfile::tempdir().unwrap();
    let config = unseen::train::TrainConfig {
        model: ModelKind::AeSom,
        steps: 40,
        ..tiny_config()
    };
    let events = run_to_end(job(&data.path(), run.path(), config, false));
    let rec = loss_curve(&events, "reconstruction");
    assert_eq!(rec.len(), 40);
    let (first, last) = (mean(&rec[..5]), mean(&rec[35..]));
    assert!(
        last < 0.5 * first,
        "reconstruction loss should at least halve: first {first}, last {last}"
    );
    let report = finished(&events);
    assert!(!report.stopped);
    let mse = report.validation_mse.expect("validation images exist");
    assert!(
        mse < first,
        "validation MSE {mse} should beat the untrained loss {first}"
    );
    // The baseline's SOM is fitted at the end and saved with the final checkpoint.
    let dir = report.checkpoint.as_ref().expect("final checkpoint");
    assert!(dir.join("som.json").exists());
    assert!(run.path().join("losses.csv").exists());
    assert!(run.path().join("samples").join("step-000040.png").exists());
}

#[test]
fn gan_reconstruction_falls_and_discriminator_stays_sane() {
    let data = Fixture::caps(32, 32, 8);
    let run = tempfile::tempdir().unwrap();
    let config = unseen::train::TrainConfig {
        model: ModelKind::Gan,
        steps: 30,
        ..tiny_config()
    };
    let events = run_to_end(job(&data.path(), run.path(), config, false));
    let rec = loss_curve(&events, "reconstruction");
    let disc = loss_curve(&events, "discriminator");
    assert_eq!(rec.len(), 30);
    let (first, last) = (mean(&rec[..5]), mean(&rec[25..]));
    assert!(
        last < 0.6 * first,
        "GAN reconstruction loss should fall: first {first}, last {last}"
    );
    // D starts near 2·ln 2 (it cannot tell) and must neither collapse to 0 nor explode.
    assert!(
        (disc[0] - 2.0 * std::f32::consts::LN_2).abs() < 0.3,
        "{}",
        disc[0]
    );
    assert!(
        disc.iter().all(|d| d.is_finite() && *d > 0.01 && *d < 10.0),
        "{disc:?}"
    );
    assert!(events.iter().any(|e| matches!(e, TrainEvent::Samples(_))));
}

#[test]
fn same_seed_same_run_on_flex() {
    let data = Fixture::caps(32, 16, 4);
    let config = unseen::train::TrainConfig {
        steps: 6,
        ..tiny_config()
    };
    let curve = |seed| {
        let run = tempfile::tempdir().unwrap();
        let config = unseen::train::TrainConfig {
            seed,
            ..config.clone()
        };
        loss_curve(
            &run_to_end(job(&data.path(), run.path(), config, false)),
            "total",
        )
    };
    let a = curve(3);
    assert_eq!(a, curve(3), "same seed must give bit-identical losses");
    assert_ne!(a, curve(4), "a different seed must give a different run");
}

#[test]
fn a_dataset_that_differs_from_its_manifest_is_refused_with_the_file_named() {
    let data = Fixture::caps(32, 8, 2);
    let odd = data.path().join("cap/train/good/000003.png");
    let original = std::fs::read(&odd).unwrap();

    // Any change to a rendered file is refused when it is read: an image of another size, a
    // truncated PNG, an empty file, a text file named .png, a header claiming 100000×100000
    // pixels. Nothing is decoded from a file that is not the one rendered.
    let first = std::fs::read(data.path().join("cap/train/good/000001.png")).unwrap();
    let bomb = unseen::imaging::decode::with_png_size(&first, 100_000, 100_000);
    let mut small = Vec::new();
    image::GrayImage::new(16, 16)
        .write_to(
            &mut std::io::Cursor::new(&mut small),
            image::ImageFormat::Png,
        )
        .unwrap();
    for bytes in [
        small,
        first[..first.len() / 2].to_vec(),
        Vec::new(),
        b"not an image".to_vec(),
        bomb,
    ] {
        std::fs::write(&odd, &bytes).unwrap();
        let info = DatasetInfo::open(&data.path()).unwrap();
        let err = info.load_train().unwrap_err();
        assert!(
            matches!(err, DataError::Check(CheckError::Changed { .. })),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("000003.png") && message.contains("SHA-256"),
            "{message}"
        );
    }
    std::fs::write(&odd, &original).unwrap();
    assert_eq!(
        DatasetInfo::open(&data.path())
            .unwrap()
            .load_train()
            .unwrap()
            .len(),
        8
    );

    // A deleted training image: the dataset is refused before anything is read.
    std::fs::remove_file(&odd).unwrap();
    let message = DatasetInfo::open(&data.path()).unwrap_err().to_string();
    assert!(
        message.contains("1 file(s) missing") && message.contains("cap/train/good/000003.png"),
        "{message}"
    );
    std::fs::write(&odd, &original).unwrap();

    // An image the manifest does not list (an older render's leftover) is never trained on.
    let extra = data.path().join("cap/train/good/000450.png");
    std::fs::write(&extra, &original).unwrap();
    let message = DatasetInfo::open(&data.path()).unwrap_err().to_string();
    assert!(
        message.contains("does not list") && message.contains("000450.png"),
        "{message}"
    );
    std::fs::remove_file(&extra).unwrap();

    std::fs::write(data.path().join("manifest.json"), "{\"name\": 3}").unwrap();
    let message = DatasetInfo::open(&data.path()).unwrap_err().to_string();
    assert!(message.contains("manifest.json"), "{message}");
}

#[test]
fn a_gan_can_start_from_a_trained_autoencoder() {
    let data = Fixture::caps(32, 32, 8);
    let ae_run = tempfile::tempdir().unwrap();
    let ae = run_to_end(job(
        &data.path(),
        ae_run.path(),
        unseen::train::TrainConfig {
            model: ModelKind::AeSom,
            steps: 60,
            checkpoint_every: 30,
            ..tiny_config()
        },
        false,
    ));
    let ae_last = mean(&loss_curve(&ae, "reconstruction")[55..]);

    let gan = |init_from: Option<std::path::PathBuf>| {
        let run = tempfile::tempdir().unwrap();
        run_to_end(job(
            &data.path(),
            run.path(),
            unseen::train::TrainConfig {
                model: ModelKind::Gan,
                steps: 2,
                init_from,
                ..tiny_config()
            },
            false,
        ))
    };
    let fresh = loss_curve(&gan(None), "reconstruction")[0];
    let started = loss_curve(&gan(Some(ae_run.path().to_path_buf())), "reconstruction")[0];
    // The first GAN step reconstructs as well as the autoencoder ended, far better than
    // random weights.
    assert!(
        started < 2.0 * ae_last && started < 0.5 * fresh,
        "first reconstruction loss {started}: autoencoder ended at {ae_last}, a fresh GAN starts at {fresh}"
    );

    // A model of another shape is refused, naming the checkpoint's config.
    let run = tempfile::tempdir().unwrap();
    let events = run_to_end(job(
        &data.path(),
        run.path(),
        unseen::train::TrainConfig {
            model: ModelKind::Gan,
            steps: 2,
            width: 4,
            init_from: Some(ae_run.path().to_path_buf()),
            ..tiny_config()
        },
        false,
    ));
    match events.last() {
        Some(TrainEvent::Error(message)) => assert!(
            message.contains("config.json") && message.contains("width"),
            "{message}"
        ),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn cosine_schedule_and_edge_term_reach_the_training_steps() {
    let data = Fixture::caps(32, 16, 4);
    let base = unseen::train::TrainConfig {
        model: ModelKind::AeSom,
        steps: 6,
        ..tiny_config()
    };
    let curve = |config: unseen::train::TrainConfig| {
        let run = tempfile::tempdir().unwrap();
        let events = run_to_end(job(&data.path(), run.path(), config.clone(), false));
        let saved = std::fs::read_to_string(run.path().join("train_config.toml")).unwrap();
        assert_eq!(
            toml::from_str::<unseen::train::TrainConfig>(&saved).unwrap(),
            config
        );
        let csv = std::fs::read_to_string(run.path().join("losses.csv")).unwrap();
        (events, csv)
    };
    let (constant, constant_csv) = curve(base.clone());
    let (cosine, _) = curve(unseen::train::TrainConfig {
        lr_schedule: unseen::train::LrSchedule::Cosine,
        lr_final_fraction: 0.0,
        ..base.clone()
    });
    let constant = loss_curve(&constant, "total");
    let cosine = loss_curve(&cosine, "total");
    // Step 2's loss follows the first update, taken at the full rate by both; from step 3 on
    // the cosine run's updates are smaller.
    assert_eq!(constant[..2], cosine[..2]);
    assert!(
        constant[2..].iter().zip(&cosine[2..]).all(|(a, b)| a != b),
        "{constant:?} {cosine:?}"
    );
    assert!(!constant_csv.lines().next().unwrap().contains("edges"));

    let (edged, edged_csv) = curve(unseen::train::TrainConfig {
        edge_weight: 1.0,
        ..base
    });
    let edges = loss_curve(&edged, "edges");
    assert_eq!(edges.len(), 6);
    assert!(edges.iter().all(|e| e.is_finite() && *e > 0.0), "{edges:?}");
    let total = loss_curve(&edged, "total");
    let pixels = loss_curve(&edged, "reconstruction");
    assert!(
        total[0] > pixels[0] + edges[0] * 0.99,
        "{total:?} {pixels:?} {edges:?}"
    );
    assert!(edged_csv.lines().next().unwrap().ends_with(",edges"));
}
