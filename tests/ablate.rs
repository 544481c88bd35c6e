//! `unseen ablate` end to end on tiny data: "photos" rendered through a camera curve the
//! base recipe lacks, a recipe that has it, and the ablation's table, plot and records.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::process::Command;

use train_common::*;

const RECIPE: &str = "version = 1\nname = \"cap\"\nseed = 5\n[image]\nsize = 32\n\
    [counts.train]\ngood = 8\n[counts.validation]\ngood = 4\nbulge = 2\n\
    [sensor]\ngamma = 1.6\n";

#[test]
fn the_ablation_leaves_out_what_the_recipe_adds_and_reports_each_variant_on_the_photos() {
    let line = tempfile::tempdir().unwrap();
    write_dataset_with_defects(
        line.path(),
        32,
        12,
        &[],
        &[("good", 6), ("bulge", 4)],
        "[sensor]\ngamma = 1.6\n",
        cap_with_obvious_defects(),
    );
    // The MVTec AD folder of the rendered set, without its manifest, stands for the photos.
    let photos = line.path().join("cap");
    let work = tempfile::tempdir().unwrap();
    let recipe = work.path().join("fitted.toml");
    std::fs::write(&recipe, RECIPE).unwrap();
    let out = work.path().join("ablation");
    let run = |recipe: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_unseen"))
            .arg("ablate")
            .arg("--recipe")
            .arg(recipe)
            .arg("--photos")
            .arg(&photos)
            .arg("--out")
            .arg(&out)
            .args(["--train-good", "16", "--val-good", "4", "--val-defect", "2"])
            .args(["--steps", "2", "--width", "4", "--device", "cpu"])
            .output()
            .unwrap()
    };
    let done = run(&recipe);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let text = std::fs::read_to_string(out.join("ablation.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Only the camera curve differs from the built-in recipe: one variant leaves it out.
    assert_eq!(names, ["all", "without-response", "base"]);
    for r in report["results"].as_array().unwrap() {
        let all = r["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c[0] == "all")
            .unwrap();
        let auroc = all[1].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auroc), "{r}");
    }
    // Each variant trained on its own renders: the left-out curve is not in its dataset.
    let manifest =
        std::fs::read_to_string(out.join("variants/without-response/data/manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["recipe"]["sensor"]["gamma"], 1.0);
    let md = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    assert!(md.contains("| without-response | response |"), "{md}");
    let svg = std::fs::read_to_string(out.join("ablation.svg")).unwrap();
    assert_eq!(svg.matches("<rect").count(), 3);

    // A recipe that is not one: the error names the file.
    let broken = work.path().join("broken.toml");
    std::fs::write(&broken, "version = 1\nname = [\n").unwrap();
    let failed = run(&broken);
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("broken.toml"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
}
