//! The scene fit against photos whose scene is known: "photos" rendered by our own pipeline
//! under another light, material and camera response, with noise and small offsets. The fit
//! starts from the default recipe and must find its way to them.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::process::Command;

use glam::{DQuat, DVec2, DVec3};
use unseen::dataset::recipe::{CAP_DEFAULT_RECIPE, Recipe};
use unseen::product::ProductSpec;
use unseen::refine::fit::{FitSettings, fit_scene};
use unseen::refine::{Scene, ScenePose};
use unseen::render::{Gpu, Lighting, Renderer, Sensor};
use unseen::rng::Rng;

const TRUE_NOISE: f64 = 2.0;

fn truth() -> (Lighting, Sensor) {
    (
        Lighting {
            direction: [0.25, 0.55, 0.8],
            intensity: 0.95,
            ambient: 0.22,
            albedo: 0.8,
            specular: 0.3,
            shininess: 60.0,
        },
        Sensor {
            gamma: 1.6,
            black_level: 0.008,
            blur_px: 0.5,
        },
    )
}

/// `n` photos of the cap under [`truth`], grey [0, 1], with noise of [`TRUE_NOISE`] levels.
fn photos(renderer: &mut Renderer, recipe: &Recipe, n: usize) -> Vec<(String, Vec<f32>)> {
    let mut scene = Scene::for_recipe(renderer, recipe, &ProductSpec::builtin_cap()).unwrap();
    (scene.lighting, scene.sensor) = truth();
    let mut rng = Rng::new(7);
    let poses: Vec<ScenePose> = (0..n)
        .map(|_| {
            let axis = DVec3::from(rng.unit_vector());
            let mut pose = ScenePose::from_rotation(DQuat::from_axis_angle(
                axis,
                rng.uniform(0.0, std::f64::consts::TAU),
            ));
            pose.offset_px = DVec2::new(rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4));
            pose
        })
        .collect();
    let frames = scene.render_references(renderer, &poses).unwrap();
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let clean = scene.shade(f);
            let noisy = clean
                .iter()
                .map(|v| {
                    let grey = f64::from(*v) * 255.0 + rng.normal() * TRUE_NOISE;
                    (grey.round().clamp(0.0, 255.0) / 255.0) as f32
                })
                .collect();
            (format!("photo-{i}"), noisy)
        })
        .collect()
}

#[test]
fn the_fit_finds_the_light_and_the_camera_response_of_photos_it_did_not_make() {
    let recipe = Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "cap").unwrap();
    let mut renderer = Renderer::new(Gpu::headless().unwrap());
    let photos = photos(&mut renderer, &recipe, 10);
    let mut scene = Scene::for_recipe(&renderer, &recipe, &ProductSpec::builtin_cap()).unwrap();
    let settings = FitSettings {
        alternations: 3,
        bank: 512,
        evaluations: 150,
        ..FitSettings::default()
    };
    let mut notes = Vec::new();
    let outcome = fit_scene(
        &mut scene,
        &mut renderer,
        &recipe,
        &photos,
        &settings,
        &mut |line| notes.push(line),
    )
    .unwrap();
    assert_eq!(notes.len(), 3, "one note per alternation: {notes:?}");
    let mean = |f: fn(&unseen::refine::fit::PhotoFit) -> f32| {
        outcome.photos.iter().map(f).sum::<f32>() / outcome.photos.len() as f32
    };
    let (before, after) = (mean(|p| p.mean_abs_before), mean(|p| p.mean_abs_after));
    // Noise of 2 levels alone leaves a mean absolute difference of about 1.6.
    assert!(
        before > 6.0,
        "the default scene should be far off: {before}"
    );
    assert!(
        after < 2.6,
        "the fitted scene should leave little but noise: {after} (from {before})"
    );
    let (light, sensor) = truth();
    let found = outcome.fitted.lighting.direction_unit();
    let angle = found
        .dot(light.direction_unit())
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees();
    assert!(angle < 12.0, "light direction off by {angle:.1}°");
    let gamma = outcome.fitted.sensor.gamma;
    assert!(
        (gamma - sensor.gamma).abs() < 0.3,
        "gamma {gamma}, truth {}",
        sensor.gamma
    );
    assert!(
        outcome.fitted.lighting.specular > 0.05,
        "the photos' highlight must be found: {:?}",
        outcome.fitted.lighting
    );
    assert!(
        (outcome.noise_sigma - TRUE_NOISE).abs() < 0.8,
        "noise σ {} against {TRUE_NOISE}",
        outcome.noise_sigma
    );
    // The same distance: the photos were taken from the recipe's camera.
    assert!(
        (outcome.camera_distance - 7.0).abs() < 0.2,
        "{}",
        outcome.camera_distance
    );
    // The recipe it proposes carries the fit and reads back as it was written.
    let text = toml::to_string_pretty(&outcome.recipe).unwrap();
    let back = Recipe::from_toml_str(&text, "fitted").unwrap();
    assert_eq!(back, outcome.recipe);
    assert_eq!(back.sensor, outcome.fitted.sensor);
    let noise = back
        .randomize
        .noise_sigma
        .expect("a noise range from the measured noise");
    assert!(noise[0] < outcome.noise_sigma && outcome.noise_sigma < noise[1]);
}

fn write_png(path: &Path, grey: &[f32], size: u32) {
    let bytes: Vec<u8> = grey.iter().map(|v| (v * 255.0).round() as u8).collect();
    image::GrayImage::from_raw(size, size, bytes)
        .unwrap()
        .save(path)
        .unwrap();
}

#[test]
fn unseen_fit_writes_a_recipe_that_renders_and_names_a_broken_photo() {
    let recipe = Recipe::from_toml_str(CAP_DEFAULT_RECIPE, "cap").unwrap();
    let mut renderer = Renderer::new(Gpu::headless().unwrap());
    let photos = photos(&mut renderer, &recipe, 4);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("line").join("train").join("good");
    std::fs::create_dir_all(&good).unwrap();
    for (i, (_, p)) in photos.iter().enumerate() {
        write_png(&good.join(format!("{i:03}.png")), p, 64);
    }
    let out = dir.path().join("fit");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_unseen"))
            .args(["fit", "--photos"])
            .arg(dir.path().join("line"))
            .arg("--out")
            .arg(&out)
            .args(["--alternations", "1", "--evaluations", "30"])
            .args(extra)
            .output()
            .unwrap()
    };
    let done = run(&[]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    for name in [
        "recipe.toml",
        "fit.json",
        "report.md",
        "contact-before.png",
        "contact-after.png",
    ] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    // The fitted recipe is a recipe: it loads with its product, sensor included.
    let (fitted, _) = Recipe::load(&out.join("recipe.toml")).unwrap();
    assert_ne!(fitted.lighting, recipe.lighting, "the fit changed nothing");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| gamma |"), "{report}");

    // A photo that is not an image: the error names it, and nothing is reported as fitted.
    std::fs::write(good.join("004.png"), b"not a png at all").unwrap();
    let broken = run(&["--photos-used", "5"]);
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("004.png"), "{stderr}");
}
