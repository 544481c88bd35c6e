//! The hostile-input corpus (`tests/hostile/`, one file per case) and the cases of issue 21's
//! table: every one gets a clear error naming the file (or a lock refusal naming the holder),
//! with no panic, no hang and nothing lost.
//!
//! Cases that once ran away (reading `/dev/zero`, allocating for an absurd latent size or
//! sheet) run the real binary as a child under a limit on its address space and a kill timer,
//! so a regression fails the test instead of taking the machine down. The timer is a guard
//! against hangs, not a measurement: nothing here depends on how fast anything runs.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod train_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use train_common::*;
use unseen::dataset::{Dataset, GenerateControl, GenerateOptions, Recipe};
use unseen::fsio::LOCK_FILE;
use unseen::inspect::Calibration;

/// The corpus folder.
fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(name)
}

/// Every corpus file whose name starts with `prefix`, sorted.
fn corpus_files(prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus file starts with {prefix}");
    files
}

/// Calls `refuse` on every corpus file named `prefix…` and checks that its error holds what
/// `expected` gives for that file (every such file must have an entry).
fn each_refused(prefix: &str, expected: &[(&str, &str)], refuse: impl Fn(&Path, &str) -> String) {
    let expected: BTreeMap<&str, &str> = expected.iter().copied().collect();
    for path in corpus_files(prefix) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let want = expected
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name}: no expectation"));
        let err = refuse(&path, &name);
        assert!(err.contains(want), "{name}: expected {want:?} in {err}");
    }
}

/// What a child run of `unseen` did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Address space for commands that fail before any GPU or model is set up.
const SMALL_MIB: u64 = 2048;
/// Address space for commands that load a model or start the renderer.
const LARGE_MIB: u64 = 8192;
/// The kill timer: far beyond what any of these commands needs; only a hang reaches it.
const KILL_AFTER: Duration = Duration::from_secs(300);

/// Starts `unseen ARGS` under a limit of `memory_mib` MiB of address space, its output going
/// to files in `logs`.
fn spawn_limited(args: &[&str], memory_mib: u64, logs: &Path) -> std::process::Child {
    let stdout = std::fs::File::create(logs.join("stdout")).unwrap();
    let stderr = std::fs::File::create(logs.join("stderr")).unwrap();
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg((memory_mib * 1024).to_string())
        .arg(env!("CARGO_BIN_EXE_unseen"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Runs `unseen ARGS` to the end under the memory limit and the kill timer.
fn unseen(args: &[&str], memory_mib: u64) -> Run {
    let logs = tempfile::tempdir().unwrap();
    let mut child = spawn_limited(args, memory_mib, logs.path());
    let deadline = Instant::now() + KILL_AFTER;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "`unseen {}` hung: killed after {KILL_AFTER:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |name| std::fs::read_to_string(logs.path().join(name)).unwrap();
    Run {
        status,
        stdout: read("stdout"),
        stderr: read("stderr"),
    }
}

/// The run failed cleanly with exit code `code`, and its stderr holds each of `expected`.
fn assert_refused(run: &Run, code: i32, expected: &[&str]) {
    assert!(!run.stderr.contains("panicked"), "panic: {}", run.stderr);
    assert_eq!(run.code(), Some(code), "{}", run.stderr);
    for e in expected {
        assert!(run.stderr.contains(e), "expected {e:?} in: {}", run.stderr);
    }
}

fn text(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Rows 1, 2, 7, 8, 16 and more: bad files and numbers, refused before anything runs away.

#[test]
fn devices_fifos_and_folders_are_refused_as_files_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let fifo = dir.path().join("recipe.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let linked = dir.path().join("linked.toml");
    std::os::unix::fs::symlink("/dev/zero", &linked).unwrap();
    // A sparse 2 GiB file: too large to be a recipe, refused without reading a byte.
    let sparse = dir.path().join("sparse.toml");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let fifo_product = dir.path().join("fifo-product.toml");
    std::fs::write(
        &fifo_product,
        format!(
            "version = 1\nname = \"cap\"\nseed = 1\nproduct = \"{}\"\n[image]\nsize = 32\n[counts.train]\ngood = 4\n",
            text(&fifo)
        ),
    )
    .unwrap();
    let render = |recipe: &Path| {
        unseen(
            &["render", "--recipe", text(recipe), "--out", text(&out)],
            SMALL_MIB,
        )
    };
    for (recipe, expected) in [
        (
            corpus("recipe-product-dev-zero.toml"),
            vec!["/dev/zero", "character device"],
        ),
        (
            corpus("recipe-product-dev-urandom.toml"),
            vec!["/dev/urandom", "character device"],
        ),
        (
            corpus("recipe-product-folder.toml"),
            vec!["a folder", "product file"],
        ),
        (
            PathBuf::from("/dev/zero"),
            vec!["/dev/zero", "character device", "recipe"],
        ),
        (
            PathBuf::from("/dev/urandom"),
            vec!["/dev/urandom", "recipe"],
        ),
        (linked.clone(), vec!["linked.toml", "character device"]),
        (fifo.clone(), vec!["recipe.fifo", "FIFO"]),
        (
            fifo_product.clone(),
            vec!["recipe.fifo", "FIFO", "product file"],
        ),
        (sparse.clone(), vec!["sparse.toml", "2 GiB", "1 MiB"]),
        (dir.path().to_path_buf(), vec!["a folder", "recipe"]),
    ] {
        assert_refused(&render(&recipe), 1, &expected);
        assert!(!out.join("manifest.json").exists());
    }
    let data = dir.path().join("data");
    for config in ["/dev/zero", "/dev/urandom", text(&fifo), text(&sparse)] {
        let run = unseen(
            &[
                "train",
                "--data",
                text(&data),
                "--out",
                text(&out),
                "--config",
                config,
            ],
            SMALL_MIB,
        );
        assert_refused(&run, 1, &[config, "training config"]);
    }
}

#[test]
fn every_recipe_product_and_training_config_of_the_corpus_is_refused_by_name() {
    let recipes = [
        ("recipe-camera-nan.toml", "camera.distance"),
        ("recipe-count-overflow.toml", "counts.test"),
        ("recipe-count-too-many.toml", "1000000"),
        ("recipe-intensity-inf.toml", "lighting"),
        ("recipe-mask-attempts.toml", "max_attempts"),
        ("recipe-noise-nan.toml", "noise_sigma"),
        ("recipe-pose-inf.toml", "angle_deg"),
        ("recipe-product-cell-100.toml", "mesh.cell"),
        ("recipe-product-dev-urandom.toml", "character device"),
        ("recipe-product-dev-zero.toml", "character device"),
        ("recipe-product-folder.toml", "a folder"),
        ("recipe-product-huge.toml", "too large to mesh"),
        ("recipe-size-65.toml", "image.size"),
    ];
    each_refused("recipe-", &recipes, |path, name| {
        let err = Recipe::load(path).expect_err(name).to_string();
        assert!(err.contains(name), "{err}");
        err
    });
    for (name, want) in [
        ("product-cell-100.toml", "mesh.cell"),
        ("product-cell-nan.toml", "mesh.cell"),
        ("product-huge.toml", "too large to mesh"),
    ] {
        let path = corpus(name);
        let err = unseen::product::ProductSpec::load(text(&path), None)
            .expect_err(name)
            .to_string();
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
    }
    for path in corpus_files("train-") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let field = name
            .trim_start_matches("train-")
            .split('-')
            .next()
            .unwrap()
            .replace("lr", "lr_autoencoder")
            .replace("latent", "latent_dim")
            .replace("batch", "batch_size");
        let err = unseen::train::TrainConfig::load_toml(&path)
            .expect_err(&name)
            .to_string();
        assert!(err.contains(&name) && err.contains(&field), "{name}: {err}");
    }
}

#[test]
fn overflowing_counts_and_absurd_numbers_on_the_command_line_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let recipe = corpus("recipe-size-65.toml");
    // Row 7: a count that overflows the sum (and a release build would wrap).
    let run = unseen(
        &[
            "render",
            "--recipe",
            "assets/datasets/cap-default.toml",
            "--out",
            text(&out),
            "--count-train",
            "18446744073709551615",
        ],
        SMALL_MIB,
    );
    assert_refused(&run, 1, &["counts.train.good", "cap-default.toml"]);
    // Row 16: a size training cannot use is refused at render time, not by `train` later.
    let run = unseen(
        &["render", "--recipe", text(&recipe), "--out", text(&out)],
        SMALL_MIB,
    );
    assert_refused(&run, 1, &["image.size", "65"]);
    let run = unseen(
        &[
            "render",
            "--recipe",
            "assets/datasets/cap-default.toml",
            "--out",
            text(&out),
            "--size",
            "65",
        ],
        SMALL_MIB,
    );
    assert_refused(&run, 1, &["image.size"]);
    assert!(!out.join("manifest.json").exists());
    // Row 16: `train --steps 0` would finish having trained nothing.
    let run = unseen(
        &[
            "train",
            "--data",
            text(&out),
            "--out",
            text(&out),
            "--steps",
            "0",
        ],
        SMALL_MIB,
    );
    assert_refused(&run, 1, &["steps must be 1"]);
    // Rows 5 and 10: flags refused before anything is loaded or allocated (usage errors).
    for (args, expected) in [
        (
            vec!["inspect", "--model", "x", "--lambda", "nan", "a.png"],
            "λ",
        ),
        (
            vec!["inspect", "--model", "x", "--lambda", "inf", "a.png"],
            "λ",
        ),
        (
            vec!["inspect", "--model", "x", "--batch", "0", "a.png"],
            "batch",
        ),
        (
            vec![
                "inspect",
                "--model",
                "x",
                "--iterations",
                "99999999",
                "a.png",
            ],
            "iterations",
        ),
        (
            vec!["inspect", "--model", "x", "--timeout-ms", "0", "a.png"],
            "timeout",
        ),
        (
            vec![
                "inspect",
                "--model",
                "x",
                "--refine-rounds",
                "5000",
                "a.png",
            ],
            "refine-rounds",
        ),
        (
            vec![
                "sheet",
                "--data",
                "x",
                "--out",
                "s.png",
                "--per-class",
                "100000",
                "--scale",
                "1000",
            ],
            "per-class",
        ),
        (
            vec![
                "eval",
                "--model",
                "x",
                "--data",
                "x",
                "--out",
                "r",
                "--iterations",
                "0,99999999",
            ],
            "iterations",
        ),
    ] {
        let run = unseen(&args, SMALL_MIB);
        assert_refused(&run, 2, &[expected]);
    }
}

// ---------------------------------------------------------------------------------------------
// Row 13 and more: calibrations that cannot be trusted are refused when loaded.

/// A valid calibration of made-up validation scores, as `calibration.json` in `dir`.
fn valid_calibration(dir: &Path) -> PathBuf {
    // The loss says nothing here and the map's maximum separates: calibration picks it.
    let scores = unseen::inspect::calibration::ValidationScores {
        good: (0..20).map(|i| [0.5, i as f32 * 0.01, 0.0]).collect(),
        defective: (0..5).map(|i| [0.5, 0.4 + i as f32 * 0.05, 0.0]).collect(),
        good_pixels: vec![0.1, 0.2, 0.3],
    };
    let calibration = Calibration::fit(
        &scores,
        unseen::inspect::ScoreKind::MapMax,
        1,
        unseen::inspect::DescentConfig::default(),
        unseen::inspect::ScoreSettings::default(),
    )
    .unwrap();
    assert_eq!(calibration.score_kind, unseen::inspect::ScoreKind::MapMax);
    let path = dir.join("calibration.json");
    calibration.save(&path).unwrap();
    Calibration::load(&path).unwrap();
    path
}

/// Applies a corpus patch (`{"/json/pointer": value}`; a `*` segment stands for every element,
/// the value `"<remove>"` removes the field) to the JSON file at `path`.
fn patch_json(path: &Path, patch: &Path) {
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let edits: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(patch).unwrap()).unwrap();
    for (pointer, value) in edits {
        let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        apply(&mut doc, &segments, &value);
    }
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

fn apply(doc: &mut serde_json::Value, segments: &[&str], value: &serde_json::Value) {
    let (first, rest) = segments.split_first().unwrap();
    if *first == "*" {
        for item in doc.as_array_mut().unwrap() {
            apply(item, rest, value);
        }
        return;
    }
    if rest.is_empty() {
        match doc {
            serde_json::Value::Array(items) => {
                items[first.parse::<usize>().unwrap()] = value.clone()
            }
            serde_json::Value::Object(map) if value == "<remove>" => {
                map.remove(*first);
            }
            serde_json::Value::Object(map) => {
                map.insert(first.to_string(), value.clone());
            }
            _ => panic!("cannot patch {first}"),
        }
        return;
    }
    let next = match doc {
        serde_json::Value::Array(items) => &mut items[first.parse::<usize>().unwrap()],
        serde_json::Value::Object(map) => map.get_mut(*first).unwrap(),
        _ => panic!("cannot descend into {first}"),
    };
    apply(next, rest, value);
}

#[test]
fn calibrations_with_values_that_cannot_be_trusted_are_refused() {
    let calibrations = [
        ("calibration-batch-zero.json", "descent.batch_size"),
        ("calibration-budget-huge.json", "max_iterations"),
        (
            "calibration-defect-1e30.json",
            "defect_threshold must be a score from 0 to 3",
        ),
        (
            "calibration-defect-edited.json",
            "not those its good validation scores give",
        ),
        ("calibration-lambda-huge.json", "descent.lambda"),
        ("calibration-lambda-null.json", "not a valid calibration"),
        (
            "calibration-old-1e30.json",
            "defect_threshold must be a score from 0 to 3",
        ),
        ("calibration-pixel-overflow.json", "pixel_threshold"),
        ("calibration-rate-out-of-range.json", "defect_rule"),
        (
            "calibration-review-above-defect.json",
            "is above defect_threshold",
        ),
        (
            "calibration-review-negative.json",
            "review_threshold must be a score",
        ),
        ("calibration-scores-unsorted.json", "good_scores"),
    ];
    each_refused("calibration-", &calibrations, |patch, name| {
        let dir = tempfile::tempdir().unwrap();
        let path = valid_calibration(dir.path());
        patch_json(&path, patch);
        let err = Calibration::load(&path).expect_err(name).to_string();
        assert!(err.contains("calibration.json"), "{err}");
        err
    });
}

// ---------------------------------------------------------------------------------------------
// Manifests that lie, and datasets that do not match their manifest (row 11).

#[test]
fn manifests_that_lie_about_their_dataset_are_refused() {
    let data = Fixture::caps(32, 4, 2);
    let original = std::fs::read(data.path().join("manifest.json")).unwrap();
    Dataset::open(&data.path()).unwrap();
    let manifests = [
        (
            "manifest-absolute-path.json",
            "not where the layout puts them",
        ),
        ("manifest-count-lie.json", "samples listed"),
        ("manifest-hash-bad.json", "no valid SHA-256"),
        ("manifest-hash-missing.json", "SHA-256 of a file is missing"),
        (
            "manifest-path-traversal.json",
            "not where the layout puts them",
        ),
        ("manifest-seed-lie.json", "not the sample the recipe makes"),
        ("manifest-size-huge.json", "image.size"),
        ("manifest-version-1.json", "manifest version 1"),
    ];
    each_refused("manifest-", &manifests, |patch, name| {
        let path = data.path().join("manifest.json");
        std::fs::write(&path, &original).unwrap();
        patch_json(&path, patch);
        let err = Dataset::open(&data.path()).expect_err(name).to_string();
        assert!(
            err.contains("manifest.json") || err.contains(text(&data.path())),
            "{err}"
        );
        err
    });
    std::fs::write(data.path().join("manifest.json"), &original).unwrap();
    Dataset::open(&data.path()).unwrap();
}

/// A small recipe of the built-in cap: `train` good images at 32 px, seed `seed`.
fn small_recipe(train: usize, seed: u64) -> Recipe {
    Recipe::from_toml_str(
        &format!(
            "version = 1\nname = \"cap\"\nseed = {seed}\n[image]\nsize = 32\n[counts.train]\ngood = {train}\n[counts.test]\ngood = 2\nbulge = 2\n"
        ),
        "small",
    )
    .unwrap()
}

fn render_with(
    recipe: Recipe,
    out: &Path,
    options: GenerateOptions,
    control: &GenerateControl,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<unseen::dataset::generate::Generated, unseen::dataset::DatasetError> {
    let mut renderer = unseen::render::Renderer::new(unseen::render::Gpu::headless().unwrap());
    unseen::dataset::generate_with(
        &mut renderer,
        recipe,
        unseen::product::ProductSpec::builtin_cap(),
        out,
        options,
        control,
        progress,
    )
}

/// Renders `recipe` into `out`, replacing what is there when `replace`.
fn render(
    recipe: Recipe,
    out: &Path,
    replace: bool,
) -> Result<unseen::dataset::generate::Generated, unseen::dataset::DatasetError> {
    let options = GenerateOptions { replace };
    render_with(
        recipe,
        out,
        options,
        &GenerateControl::default(),
        &mut |_, _| {},
    )
}

#[test]
fn a_folder_holding_another_dataset_is_refused_unless_it_is_replaced() {
    let out = tempfile::tempdir().unwrap();
    render(small_recipe(40, 1), out.path(), false).unwrap();
    // Row 11: a smaller render of another seed into the same folder.
    let err = render(small_recipe(10, 2), out.path(), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds another dataset") && err.contains("--replace"),
        "{err}"
    );
    // Nothing of the first dataset was touched.
    assert_eq!(Dataset::open(out.path()).unwrap().manifest.recipe.seed, 1);
    // The same recipe again is the same dataset: rendered over, byte for byte the same.
    let before = tree(out.path());
    render(small_recipe(40, 1), out.path(), false).unwrap();
    assert!(
        tree(out.path()) == before,
        "an identical render changed the folder"
    );
    // Asked to, the old dataset goes first: none of its 40 training images is left over.
    let replaced = render(small_recipe(10, 2), out.path(), true).unwrap();
    assert!(replaced.replaced >= 40 * 3, "{}", replaced.replaced);
    let dataset = Dataset::open(out.path()).unwrap();
    let train = std::fs::read_dir(out.path().join("cap/train/good"))
        .unwrap()
        .count();
    assert_eq!((dataset.manifest.recipe.seed, train), (2, 10));
    // Stray files in the dataset's folders, with no manifest at all: refused as well.
    let stray = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(stray.path().join("cap/train/good")).unwrap();
    std::fs::write(stray.path().join("cap/train/good/000599.png"), b"old").unwrap();
    let err = render(small_recipe(10, 2), stray.path(), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("000599.png"), "{err}");
}

#[test]
fn resume_renders_again_what_was_damaged_after_the_interruption() {
    // Row 12: an interrupted render (cancelled after its first batch), one of its finished
    // images damaged, then resumed: the damaged sample is rendered again, and the dataset is
    // byte-identical to one rendered in one go.
    let whole = tempfile::tempdir().unwrap();
    render(small_recipe(300, 5), whole.path(), false).unwrap();

    let resumed = tempfile::tempdir().unwrap();
    let control = GenerateControl::default();
    let cancel = control.cancel.clone();
    let err = render_with(
        small_recipe(300, 5),
        resumed.path(),
        GenerateOptions::default(),
        &control,
        &mut |_, _| cancel.store(true, std::sync::atomic::Ordering::Relaxed),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    let journal = resumed.path().join(unseen::dataset::generate::JOURNAL_FILE);
    let finished = std::fs::read_to_string(&journal).unwrap().lines().count() - 1;
    assert!(
        (1..304).contains(&finished),
        "{finished} samples journalled"
    );
    let damaged = resumed.path().join("cap/train/good/000000.png");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&damaged, &bytes).unwrap();
    let missing = resumed.path().join("parts/train/good/000001.png");
    std::fs::remove_file(&missing).unwrap();

    let generated = render(small_recipe(300, 5), resumed.path(), false).unwrap();
    assert_eq!(
        generated.damaged,
        vec!["cap/train/good/000000.png", "parts/train/good/000001.png"]
    );
    assert_eq!(generated.resumed, finished - 2);
    let (a, b) = (tree(whole.path()), tree(resumed.path()));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(
            bytes == &b[path],
            "{} differs after resuming",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rows 3 and 4: one writer per folder, and a killed writer's lock does not outlive it.

/// Waits until `dir`'s lock file names `pid`.
fn wait_for_lock(dir: &Path, pid: u32, child: &mut std::process::Child) {
    let deadline = Instant::now() + KILL_AFTER;
    loop {
        let holder = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap_or_default();
        if holder.starts_with(&format!("{pid} ")) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the first writer ended ({status}) before it was seen holding the lock");
        }
        assert!(Instant::now() < deadline, "no lock taken in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_render_into_the_same_folder_is_refused_and_a_killed_one_leaves_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let recipe = "assets/datasets/cap-default.toml";
    let args = |seed: &'static str, train: &'static str| {
        vec![
            "render",
            "--recipe",
            recipe,
            "--out",
            text(&out),
            "--size",
            "32",
            "--seed",
            seed,
            "--count-train",
            train,
            "--count-val-good",
            "0",
            "--count-val-defect",
            "0",
            "--count-test-good",
            "4",
            "--count-test-defect",
            "2",
        ]
    };
    let logs = tempfile::tempdir().unwrap();
    let mut first = spawn_limited(&args("1234", "20000"), LARGE_MIB, logs.path());
    wait_for_lock(&out, first.id(), &mut first);
    let second = unseen(&args("99", "40"), LARGE_MIB);
    assert_refused(
        &second,
        1,
        &[
            text(&out),
            &format!("process {}, unseen render", first.id()),
            "being written by another unseen process",
        ],
    );
    // The first is killed mid-render: its lock goes with it, and the folder can be taken
    // (here by another seed, replacing the unfinished render).
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        out.join(LOCK_FILE).exists(),
        "a killed process leaves its lock file"
    );
    let mut replace = args("99", "40");
    replace.push("--replace");
    let again = unseen(&replace, LARGE_MIB);
    assert_eq!(again.code(), Some(0), "{}", again.stderr);
    let dataset = Dataset::open(&out).unwrap();
    assert_eq!(dataset.manifest.recipe.seed, 99);
    assert!(
        !out.join(LOCK_FILE).exists(),
        "released, the lock file goes"
    );
}

/// A tiny trained run and its dataset, with a calibration fitted.
struct Trained {
    data: tempfile::TempDir,
    run: tempfile::TempDir,
}

fn trained(seed: u64) -> Trained {
    let data = tempfile::tempdir().unwrap();
    write_dataset_with_defects(
        data.path(),
        32,
        16,
        &[("good", 8), ("bulge", 4)],
        &[("good", 4), ("bulge", 4)],
        "",
        cap_with_obvious_defects(),
    );
    let run = tempfile::tempdir().unwrap();
    retrain(&data, run.path(), seed);
    Trained { data, run }
}

fn retrain(data: &tempfile::TempDir, run: &Path, seed: u64) {
    let config = unseen::train::TrainConfig {
        steps: 10,
        seed,
        ..tiny_config()
    };
    finished(&run_to_end(job(data.path(), run, config, false)));
}

/// `unseen inspect` of `inputs` with the model of `run` on the CPU, without a descent.
fn inspect_at_zero<'a>(run: &'a Path, inputs: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["inspect", "--device", "cpu", "--iterations", "0"];
    args.extend(["--model", text(run)]);
    args.extend(inputs);
    args
}

fn inspect_args(
    t: &Trained,
    data: bool,
    inputs: Vec<PathBuf>,
) -> unseen::cli::inspect::InspectArgs {
    unseen::cli::inspect::InspectArgs {
        model: t.run.path().to_path_buf(),
        data: data.then(|| t.data.path().to_path_buf()),
        iterations: unseen::cli::inspect::BudgetArg::Fixed(0),
        mode: unseen::cli::inspect::ModeArg::Encoder,
        seed: 0,
        lambda: 0.1,
        batch: 8,
        timeout_ms: None,
        refine_rounds: None,
        recalibrate: false,
        false_alarm_rate: None,
        out: None,
        format: unseen::cli::inspect::OutputFormat::Csv,
        fail_on_defect: false,
        map_input: unseen::imaging::MapInput::Fail,
        calibrate_good: None,
        device: unseen::compute::ComputeDevice::Cpu,
        inputs,
    }
}

#[test]
fn a_second_training_into_the_same_run_is_refused_and_a_killed_one_leaves_no_lock() {
    let data = tempfile::tempdir().unwrap();
    write_cap_dataset(data.path(), 32, 16, 4);
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = dir.path().join("tiny.toml");
    let tiny = unseen::train::TrainConfig {
        steps: 1_000_000,
        checkpoint_every: 1_000_000,
        ..tiny_config()
    };
    std::fs::write(&config, tiny.to_toml()).unwrap();
    let args = |seed: &'static str| {
        vec![
            "train",
            "--device",
            "cpu",
            "--data",
            text(data.path()),
            "--out",
            text(&run),
            "--config",
            text(&config),
            "--seed",
            seed,
        ]
    };
    let logs = tempfile::tempdir().unwrap();
    let mut first = spawn_limited(&args("1"), LARGE_MIB, logs.path());
    wait_for_lock(&run, first.id(), &mut first);
    let second = unseen(&args("2"), LARGE_MIB);
    assert_refused(
        &second,
        1,
        &[text(&run), &format!("process {}, unseen train", first.id())],
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // The killed run's lock is gone with it: a new run takes the folder and finishes.
    let mut done = args("2");
    done.extend(["--steps", "3"]);
    let again = unseen(&done, LARGE_MIB);
    assert_eq!(again.code(), Some(0), "{}", again.stderr);
    let losses = std::fs::read_to_string(run.join("losses.csv")).unwrap();
    let steps: Vec<&str> = losses
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["1", "2", "3"], "{losses}");
}

// ---------------------------------------------------------------------------------------------
// Rows 5, 6, 9, 14, 15: a trained model, its calibration, and what inspect does with them.

#[test]
fn a_calibration_judges_only_the_checkpoint_it_was_fitted_for() {
    let t = trained(1);
    let image = t.data.path().join("cap/test/good/000000.png");
    unseen::cli::inspect::run_inspect_cli(inspect_args(&t, true, vec![image.clone()])).unwrap();
    let path = Calibration::path(t.run.path());
    let first = Calibration::load(&path).unwrap();
    let bound = first.model.clone().unwrap();

    // Row 5: λ = NaN is refused before anything is refit or written.
    let before = std::fs::read(&path).unwrap();
    let run = unseen(
        &[
            "inspect",
            "--model",
            text(t.run.path()),
            "--lambda",
            "nan",
            text(&image),
        ],
        SMALL_MIB,
    );
    assert_refused(&run, 2, &["λ"]);
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // Row 6: another training to the same step: same step number, another checkpoint.
    retrain(&t.data, t.run.path(), 2);
    let run = unseen(&inspect_at_zero(t.run.path(), &[text(&image)]), LARGE_MIB);
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("fitted for another checkpoint") && run.stderr.contains("refitting"),
        "{}",
        run.stderr
    );
    let refit = Calibration::load(&path).unwrap();
    let rebound = refit.model.unwrap();
    assert_eq!(rebound.step, bound.step);
    assert_ne!(rebound.checkpoint_sha256, bound.checkpoint_sha256);

    // Without a dataset to refit on, a calibration of another checkpoint is refused.
    retrain(&t.data, t.run.path(), 3);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("data_dir");
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let run = unseen(&inspect_at_zero(t.run.path(), &[text(&image)]), LARGE_MIB);
    assert_refused(
        &run,
        1,
        &[
            "calibration.json",
            "fitted for another checkpoint",
            "--data",
        ],
    );
    assert!(
        run.stdout.lines().count() <= 1,
        "verdicts printed: {}",
        run.stdout
    );
}

#[test]
fn absurd_model_shapes_in_a_checkpoint_are_refused_before_allocating() {
    let t = trained(1);
    let checkpoint = unseen::train::checkpoint::latest_checkpoint(t.run.path()).unwrap();
    let image = t.data.path().join("cap/test/good/000000.png");
    for patch in corpus_files("checkpoint-") {
        let name = patch.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("step");
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(&checkpoint).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
        // Row 9: the config edited and its hash in meta.json updated to match.
        let config = copy.join("config.json");
        patch_json(&config, &patch);
        let meta = copy.join("meta.json");
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        json["files"]["config.json"] =
            unseen::fsio::sha256_hex(&std::fs::read(&config).unwrap()).into();
        std::fs::write(&meta, serde_json::to_vec(&json).unwrap()).unwrap();
        let run = unseen(
            &[
                "inspect",
                "--device",
                "cpu",
                "--model",
                text(&copy),
                "--data",
                text(t.data.path()),
                text(&image),
            ],
            LARGE_MIB,
        );
        let field = if name.contains("latent") {
            "latent_dim"
        } else {
            "width"
        };
        assert_refused(&run, 1, &["config.json", field, "at most"]);
    }
}

#[test]
fn a_gate_never_passes_on_nothing_and_transparent_images_are_errors() {
    let t = trained(1);
    let image = t.data.path().join("cap/test/good/000000.png");
    unseen::cli::inspect::run_inspect_cli(inspect_args(&t, true, vec![image])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let named_like_an_image = dir.path().join("x.png");
    std::fs::create_dir(&named_like_an_image).unwrap();
    let gate = |inputs: &[&Path]| {
        let mut args = vec!["--format", "csv", "--fail-on-defect"];
        args.extend(inputs.iter().map(|p| text(p)));
        unseen(&inspect_at_zero(t.run.path(), &args), LARGE_MIB)
    };
    // Row 14: an empty folder, a folder named x.png: nothing judged, the gate fails (4).
    for input in [&empty, &named_like_an_image] {
        let run = gate(&[input]);
        assert_refused(
            &run,
            4,
            &["no image was judged", "not inspected", text(input)],
        );
    }
    // A folder with an image and an entry that is not one: the entry is listed, the gate fails.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::copy(corpus("image-grey.png"), mixed.join("grey.png")).unwrap();
    std::fs::write(mixed.join("notes.txt"), "not an image").unwrap();
    let run = gate(&[&mixed]);
    assert!(
        run.code() == Some(4) || run.code() == Some(3),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("notes.txt") && run.stderr.contains("not inspected"),
        "{}",
        run.stderr
    );
    // Row 15: a fully transparent image is an error, never a pass.
    let run = gate(&[&corpus("image-transparent.png")]);
    assert_refused(&run, 4, &[]);
    assert!(
        run.stdout.contains("fully transparent") && run.stdout.contains(",error,"),
        "{}",
        run.stdout
    );
    // Every bad image of the corpus: an `error` line naming it, no panic.
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    for path in corpus_files("image-") {
        std::fs::copy(&path, images.join(path.file_name().unwrap())).unwrap();
    }
    let fifo = images.join("image-fifo.png");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let run = unseen(
        &inspect_at_zero(t.run.path(), &["--format", "csv", text(&images)]),
        LARGE_MIB,
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    let mut seen = 0;
    for row in reader.records() {
        let row = row.unwrap();
        let (path, verdict, error) = (&row[0], &row[1], &row[7]);
        let name = Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        seen += 1;
        if name == "image-grey.png" {
            assert_ne!(verdict, "error", "{error}");
        } else {
            assert_eq!(verdict, "error", "{name} was judged {verdict}");
            assert!(error.contains(&name), "{name}: {error}");
        }
    }
    assert_eq!(seen, corpus_files("image-").len() + 1);
}
