//! Dataset generation end to end on tiny recipes: layout, determinism, manifest, regeneration.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::path::Path;

use unseen::dataset::{DatasetContext, GenerateControl, Manifest, Recipe, generate};
use unseen::product::ProductSpec;
use unseen::render::{Gpu, Renderer};

fn tiny_recipe(seed: u64) -> Recipe {
    let text = format!(
        r#"
version = 1
name = "tiny"
seed = {seed}
[image]
size = 32
channels = "grey"
supersample = 2
[counts.train]
good = 6
[counts.validation]
good = 2
bulge = 1
[counts.test]
good = 2
bulge = 2
short_notch = 2
dent = 2
chip = 2
[randomize]
noise_sigma = [1.0, 3.0]
blur_sigma = [0.0, 0.6]
light_jitter_deg = 10.0
"#
    );
    Recipe::from_toml_str(&text, "tiny.toml").expect("valid recipe")
}

fn render_into(recipe: Recipe, out: &Path) -> Manifest {
    let mut renderer = Renderer::new(Gpu::headless().expect("wgpu adapter"));
    generate(
        &mut renderer,
        recipe,
        ProductSpec::builtin_cap(),
        out,
        &GenerateControl::default(),
        &mut |_, _| {},
    )
    .expect("generation")
}

fn all_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("inside")
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn same_recipe_same_bytes_and_other_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    render_into(tiny_recipe(5), a.path());
    render_into(tiny_recipe(5), b.path());
    render_into(tiny_recipe(6), c.path());
    let (fa, fb, fc) = (
        all_files(a.path()),
        all_files(b.path()),
        all_files(c.path()),
    );
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "{name} differs between two runs of the same recipe"
        );
    }
    let image = "tiny/train/good/000000.png";
    assert_ne!(fa[image], fc[image], "another seed gave the same image");
    assert!(
        !fa.keys().any(|k| k.ends_with(".tmp")),
        "temporary files left behind"
    );
}

#[test]
fn layout_is_mvtec_ad_and_masks_match_images() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = render_into(tiny_recipe(9), dir.path());
    let files = all_files(dir.path());
    // The MVTec category folder holds exactly train/good, test/<class>, ground_truth/<defect>.
    for name in files.keys().filter(|k| k.starts_with("tiny/")) {
        let parts: Vec<&str> = name.split('/').collect();
        assert_eq!(parts.len(), 4, "{name}");
        assert!(
            ["train", "test", "ground_truth"].contains(&parts[1]),
            "{name}"
        );
        assert!(name.ends_with(".png"));
        if parts[1] == "train" {
            assert_eq!(parts[2], "good");
        }
        if parts[1] == "ground_truth" {
            let stem = parts[3].strip_suffix("_mask.png").expect("mask name");
            let image = format!("tiny/test/{}/{stem}.png", parts[2]);
            assert!(
                files.contains_key(&image),
                "mask {name} has no image {image}"
            );
        }
    }
    assert_eq!(
        files
            .keys()
            .filter(|k| k.starts_with("tiny/train/good/"))
            .count(),
        6
    );
    assert_eq!(
        files
            .keys()
            .filter(|k| k.starts_with("tiny/ground_truth/"))
            .count(),
        8
    );
    assert!(files.contains_key("validation/good/000001.png"));
    assert!(files.contains_key("validation/ground_truth/bulge/000000_mask.png"));

    let defect_parts = BTreeMap::from([
        ("bulge", vec!["dome"]),
        ("short_notch", vec!["notch"]),
        ("dent", vec!["dome", "wall"]),
        ("chip", vec!["wall", "base"]),
    ]);
    for s in &manifest.samples {
        let img = image::load_from_memory(&files[&s.image]).expect("png");
        assert_eq!((img.width(), img.height()), (32, 32));
        assert_eq!(img.color(), image::ColorType::L8);
        let parts = image::load_from_memory(&files[&s.part_map])
            .unwrap()
            .to_luma8();
        assert!(parts.pixels().all(|p| p.0[0] <= 4));
        assert!(
            parts.pixels().filter(|p| p.0[0] != 0).count() > 50,
            "{}",
            s.part_map
        );
        let depth = image::load_from_memory(&files[&s.depth])
            .unwrap()
            .to_luma16();
        let front = depth
            .pixels()
            .map(|p| p.0[0])
            .filter(|d| *d > 0)
            .min()
            .unwrap();
        assert!((5000..7500).contains(&front), "nearest depth {front} mm");
        match &s.mask {
            None => assert!(s.id.class == "good" && s.defect.is_none()),
            Some(path) => {
                let mask = image::load_from_memory(&files[path]).unwrap().to_luma8();
                assert!(mask.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
                let on = mask.pixels().filter(|p| p.0[0] == 255).count();
                assert_eq!(on, s.visible_defect_px);
                assert!(on >= 1, "{path}: invisible defect kept");
                let part = s.defect_part.as_deref().expect("defect part");
                assert!(
                    defect_parts[s.id.class.as_str()].contains(&part),
                    "{} on {part}",
                    s.id.class
                );
                // The parts it touches start with that part; a chip, centred on the rim,
                // touches both the wall and the base.
                assert_eq!(s.defect_parts.first().map(String::as_str), Some(part));
                for touched in &s.defect_parts {
                    assert!(defect_parts[s.id.class.as_str()].contains(&touched.as_str()));
                }
                if s.id.class == "chip" {
                    assert_eq!(s.defect_parts.len(), 2, "{:?}", s.defect_parts);
                }
            }
        }
    }
}

#[test]
fn manifest_round_trips_and_regenerates_a_sample_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let written = render_into(tiny_recipe(21), dir.path());
    let loaded = Manifest::load(&dir.path().join("manifest.json")).expect("manifest loads");
    // Recipe, product and every sample's identity and files survive exactly; sampled floats to
    // the last bit or one (JSON parsing of 17-digit numbers may round differently).
    assert_eq!(loaded.recipe, written.recipe);
    assert_eq!(loaded.product, written.product);
    assert_eq!(loaded.samples.len(), written.samples.len());
    for (a, b) in loaded.samples.iter().zip(&written.samples) {
        assert_eq!(
            (&a.id, &a.image, &a.mask, a.visible_defect_px),
            (&b.id, &b.image, &b.mask, b.visible_defect_px)
        );
        assert!((a.view.angle_deg - b.view.angle_deg).abs() < 1e-12);
        assert_eq!(a.defect.is_some(), b.defect.is_some());
    }

    let mut renderer = Renderer::new(Gpu::headless().unwrap());
    let ctx =
        DatasetContext::new(&renderer, loaded.recipe.clone(), loaded.product.clone()).unwrap();
    for record in loaded.samples.iter().filter(|s| s.id.index == 1) {
        let again = ctx
            .render_batch(&mut renderer, std::slice::from_ref(&record.id))
            .expect("render");
        let original = written.samples.iter().find(|s| s.id == record.id).unwrap();
        // A render is hashed once written; the record it comes back with has no hashes yet.
        assert_eq!(
            again[0].record,
            unseen::dataset::SampleRecord {
                sha256: None,
                ..original.clone()
            }
        );
        let recorded = original
            .files_with_hashes()
            .expect("version 2 records hashes");
        for (rel, bytes) in again[0].encode().expect("encode") {
            let on_disk = std::fs::read(dir.path().join(&rel)).unwrap();
            assert!(bytes == on_disk, "{rel} regenerated differently");
            let hash = recorded.iter().find(|(f, _)| *f == rel).unwrap().1;
            assert_eq!(unseen::fsio::sha256_hex(&bytes), hash, "{rel}");
        }
    }
}

#[test]
fn bad_recipes_are_rejected_with_the_file_and_the_reason() {
    let good = std::fs::read_to_string("assets/datasets/cap-default.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (good.replace("size = 64", "size = 4"), "image.size"),
        (
            good.replace("bulge = 200", "scratch = 200"),
            "no defect class \"scratch\"",
        ),
        (
            good.replace("[counts.train]\ngood = 16000", "[counts.train]\nbulge = 3"),
            "good samples only",
        ),
        (good.replace("version = 1", "version = 7"), "version 7"),
        (
            good.replace("seed = 20261129", "seed = \"x\""),
            "not valid TOML",
        ),
        (
            good.replace("product = \"cap\"", "product = \"missing.toml\""),
            "missing.toml",
        ),
        ("\u{0}\u{1}garbage".to_string(), "not valid TOML"),
        (
            good.replace("distance = 7.0", "distance = 2.5"),
            "camera.distance must be 2.6",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = Recipe::load(&path)
            .expect_err("must be rejected")
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    let missing = Recipe::load(&dir.path().join("nope.toml")).expect_err("missing file");
    assert!(missing.to_string().contains("nope.toml"));
    let (recipe, _) =
        Recipe::load(Path::new("assets/datasets/cap-default.toml")).expect("default recipe");
    assert_eq!(recipe.image.size, 64);
    // The nearest distance allowed is allowed: the scene fit may place the camera there.
    let near = dir.path().join("near.toml");
    std::fs::write(&near, good.replace("distance = 7.0", "distance = 2.6")).unwrap();
    assert_eq!(
        Recipe::load(&near)
            .expect("2.6 is allowed")
            .0
            .camera
            .distance,
        2.6
    );
}

#[test]
fn every_shipped_recipe_loads_with_its_product() {
    let mut loaded = Vec::new();
    for entry in std::fs::read_dir("assets/datasets").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (recipe, product) =
                Recipe::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(recipe.image.size >= 16, "{}", path.display());
            loaded.push((
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                product,
            ));
        }
    }
    loaded.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "cap-128",
        "cap-default",
        "cap-eval",
        "cap-eval-128",
        "bracket",
        "gear",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn defects_hidden_from_a_narrow_pose_range_are_placed_anew() {
    // Seen only from the front, a dent or chip drawn on the back can never show: the generator
    // must move the defect rather than give up or keep an invisible one.
    let text = r#"
version = 1
name = "front"
seed = 3
[image]
size = 32
[counts.test]
dent = 6
chip = 6
[pose]
mode = "upright"
yaw_deg = [-20.0, 20.0]
"#;
    let recipe = Recipe::from_toml_str(text, "front.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = render_into(recipe, dir.path());
    assert_eq!(manifest.samples.len(), 12);
    assert!(manifest.samples.iter().all(|s| s.visible_defect_px > 0));
    assert!(
        manifest.samples.iter().any(|s| s.attempts > 8),
        "no sample needed a new placement; the test does not exercise it"
    );
}

#[test]
fn rgb_datasets_write_three_channel_images_with_grey_masks() {
    let text = r#"
version = 1
name = "colour"
seed = 4
[image]
size = 32
channels = "rgb"
[counts.test]
good = 1
bulge = 1
"#;
    let recipe = Recipe::from_toml_str(text, "colour.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = render_into(recipe, dir.path());
    for s in &manifest.samples {
        let img = image::open(dir.path().join(&s.image)).unwrap();
        assert_eq!(img.color(), image::ColorType::Rgb8, "{}", s.image);
        assert_eq!((img.width(), img.height()), (32, 32));
        if let Some(mask) = &s.mask {
            let m = image::open(dir.path().join(mask)).unwrap();
            assert_eq!(m.color(), image::ColorType::L8);
        }
    }
}

#[test]
fn a_recipe_that_shifts_the_picture_moves_image_part_map_and_mask_together() {
    let plain = tiny_recipe(3);
    let mut shifted = plain.clone();
    shifted.randomize.noise_sigma = None;
    shifted.randomize.blur_sigma = None;
    let mut still = shifted.clone();
    // A range of one value: every sample 4 px right and 4 px down.
    shifted.randomize.offset_px = Some([4.0, 4.0]);
    still.randomize.offset_px = None;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let still_manifest = render_into(still, a.path());
    let shifted_manifest = render_into(shifted, b.path());
    let first = |m: &Manifest| {
        m.samples
            .iter()
            .find(|s| s.id.class == "bulge")
            .unwrap()
            .clone()
    };
    let (s0, s1) = (first(&still_manifest), first(&shifted_manifest));
    assert_eq!(
        s1.view.offset_px,
        [4.0, 4.0],
        "the manifest records the shift"
    );
    assert_eq!(s0.view.offset_px, [0.0, 0.0]);
    // The shift is drawn after everything else: the same pose and light.
    assert_eq!(
        (s0.view.axis, s0.view.angle_deg),
        (s1.view.axis, s1.view.angle_deg)
    );
    let centroid = |dir: &Path, rel: &str| {
        let img = image::open(dir.join(rel)).unwrap().to_luma8();
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for (x, y, p) in img.enumerate_pixels() {
            if p.0[0] > 0 {
                sx += f64::from(x);
                sy += f64::from(y);
                n += 1.0;
            }
        }
        (sx / n, sy / n)
    };
    for (rel0, rel1) in [(&s0.image, &s1.image), (&s0.part_map, &s1.part_map)] {
        let (c0, c1) = (centroid(a.path(), rel0), centroid(b.path(), rel1));
        assert!(
            (c1.0 - c0.0 - 4.0).abs() < 0.5 && (c1.1 - c0.1 - 4.0).abs() < 0.5,
            "{rel1}: centroid {c0:?} → {c1:?}"
        );
    }
    let (m0, m1) = (s0.mask.as_ref().unwrap(), s1.mask.as_ref().unwrap());
    let (c0, c1) = (centroid(a.path(), m0), centroid(b.path(), m1));
    assert!((c1.0 - c0.0 - 4.0).abs() < 0.5 && (c1.1 - c0.1 - 4.0).abs() < 0.5);
    // Out of range, refused with the field named.
    let mut wild = plain;
    wild.randomize.offset_px = Some([0.0, 40.0]);
    assert!(wild.validate().unwrap_err().contains("offset_px"));
}
