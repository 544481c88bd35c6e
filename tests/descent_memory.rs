//! Inspection runs in bounded memory: descending batch after batch must not keep anything per
//! image. (burn keeps an autodiff graph until `backward` consumes it; a descent that recorded
//! its last evaluation without stepping leaked about 0.4 MB per 64×64 image.) Its own test
//! binary, so no other test's allocations move the process's resident size.
#![allow(clippy::unwrap_used)]

mod train_common;

use train_common::*;
use unseen::inspect::{DescentConfig, InspectModel, descend};
use unseen::model::ModelKind;

/// Resident set size of this process, in bytes (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn repeated_descents_do_not_grow_memory() {
    let data = tempfile::tempdir().unwrap();
    write_cap_dataset(data.path(), 64, 16, 4);
    let run = tempfile::tempdir().unwrap();
    let config = unseen::train::TrainConfig {
        model: ModelKind::Gan,
        steps: 2,
        ..tiny_config()
    };
    finished(&run_to_end(job(data.path(), run.path(), config, false)));
    let model = InspectModel::load(run.path(), &burn::tensor::Device::flex()).unwrap();
    let image_len = model.config.image_len();
    let batch = 64;
    let images: Vec<f32> = (0..batch * image_len)
        .map(|i| (i % 97) as f32 / 97.0)
        .collect();
    // Both ways a descent ends: at the budget (0 iterations) and by early stopping.
    for config in [
        DescentConfig {
            max_iterations: 0,
            ..DescentConfig::default()
        },
        DescentConfig {
            max_iterations: 50,
            patience: 1,
            tolerance: 1.0,
            ..DescentConfig::default()
        },
    ] {
        for _ in 0..3 {
            descend(&model, &images, batch, &config, None);
        }
        let before = resident_bytes();
        for _ in 0..30 {
            descend(&model, &images, batch, &config, None);
        }
        let grown = resident_bytes().saturating_sub(before);
        // 1,920 images; the leak this guards against was over 700 MB here.
        assert!(
            grown < 64 << 20,
            "resident memory grew by {} MB over 1,920 images ({config:?})",
            grown >> 20
        );
    }
}
