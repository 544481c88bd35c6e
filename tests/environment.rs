//! A missing Vulkan driver, a missing display or a missing GPU gives a clear message, and the
//! headless commands fall back to the CPU where they can. Runs the real binary with the
//! environment taken away.
#![allow(clippy::unwrap_used)]

mod train_common;

use std::process::{Command, Output};

use train_common::write_cap_dataset;

fn unseen(args: &[&str], env: &[(&str, Option<&str>)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unseen"));
    command.args(args).env("RUST_BACKTRACE", "0");
    for (key, value) in env {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The Vulkan loader reads its drivers from this list; a missing file leaves it none.
const NO_VULKAN: (&str, Option<&str>) = ("VK_ICD_FILENAMES", Some("/nonexistent/icd.json"));

#[test]
fn rendering_without_a_vulkan_driver_says_what_to_install() {
    let out = tempfile::tempdir().unwrap();
    let recipe = out.path().join("cap.toml");
    std::fs::write(&recipe, unseen::dataset::recipe::CAP_DEFAULT_RECIPE).unwrap();
    let dataset = out.path().join("data");
    let output = unseen(
        &[
            "render",
            "--recipe",
            recipe.to_str().unwrap(),
            "--out",
            dataset.to_str().unwrap(),
            "--size",
            "32",
        ],
        &[NO_VULKAN],
    );
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(
        message.contains("no graphics adapter") && message.contains("mesa-vulkan-drivers"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    assert!(!dataset.join("manifest.json").exists());
}

#[test]
fn training_without_a_vulkan_driver_falls_back_to_the_cpu() {
    let data = tempfile::tempdir().unwrap();
    write_cap_dataset(data.path(), 32, 16, 4);
    let run = tempfile::tempdir().unwrap();
    let args = |device: &'static str| {
        vec![
            "train".to_string(),
            "--data".into(),
            data.path().display().to_string(),
            "--out".into(),
            run.path().display().to_string(),
            "--steps".into(),
            "1".into(),
            "--batch-size".into(),
            "8".into(),
            "--device".into(),
            device.into(),
        ]
    };
    let auto: Vec<String> = args("auto");
    let auto: Vec<&str> = auto.iter().map(String::as_str).collect();
    let output = unseen(&auto, &[NO_VULKAN]);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(message.contains("CPU"), "{message}");
    assert!(run.path().join("latest.json").exists());

    // Asking for the GPU when there is none is refused with what to do instead.
    let gpu: Vec<String> = args("gpu");
    let gpu: Vec<&str> = gpu.iter().map(String::as_str).collect();
    let output = unseen(&gpu, &[NO_VULKAN]);
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(message.contains("--device cpu"), "{message}");
}

#[test]
fn the_workbench_without_a_display_says_so_and_points_at_the_headless_commands() {
    let output = unseen(
        &["gui"],
        &[
            ("DISPLAY", None),
            ("WAYLAND_DISPLAY", None),
            ("WAYLAND_SOCKET", None),
        ],
    );
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(
        message.contains("DISPLAY") && message.contains("render, train, inspect"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}
