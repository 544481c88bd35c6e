//! A mutation fuzzer for everything unseen reads from disk: recipes, product files, training
//! configs, dataset manifests, calibrations, images, a checkpoint's model shape and its
//! `meta.json`, and a run's loss log. Every loader reads through `fsio::read_bounded`.
//!
//! Each target writes a mutated input to a file and calls the real loader on it, exactly as the
//! commands do. Two properties are checked on every execution:
//! - the loader returns (no panic, caught with `catch_unwind`);
//! - an error names the file it is about.
//!
//! Inputs start from seeds (valid files) and are mutated at the byte level (flips, inserts,
//! deletions, duplicated or truncated spans) and, for text, at the token level (numbers
//! replaced by boundary values such as `nan`, `-1`, `1e309` or `18446744073709551616`, lines
//! dropped or repeated); images are also re-headed with absurd dimensions. It is not
//! coverage-guided (cargo-fuzz needs a nightly, instrumented build of the whole stack), so it
//! leans on structure-aware mutations instead.
//!
//! It lives with the example rather than in the library: `cargo run --example fuzz` drives it
//! from the command line, and `tests/fuzz.rs` compiles it in to run every target for a fixed
//! number of executions.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use unseen::rng::Rng;

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Recipe,
    Product,
    TrainConfig,
    Manifest,
    Calibration,
    Image,
    /// A checkpoint's `config.json` (the model's shape: a runaway allocation when absurd).
    CheckpointConfig,
    /// A checkpoint's `meta.json` (which names the files to hash).
    CheckpointMeta,
    /// A run's `losses.csv`, as the workbench reads it back.
    LossLog,
}

impl Target {
    pub const ALL: [Target; 9] = [
        Self::Recipe,
        Self::Product,
        Self::TrainConfig,
        Self::Manifest,
        Self::Calibration,
        Self::Image,
        Self::CheckpointConfig,
        Self::CheckpointMeta,
        Self::LossLog,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Recipe => "recipe",
            Self::Product => "product",
            Self::TrainConfig => "train-config",
            Self::Manifest => "manifest",
            Self::Calibration => "calibration",
            Self::Image => "image",
            Self::CheckpointConfig => "ckpt-config",
            Self::CheckpointMeta => "ckpt-meta",
            Self::LossLog => "loss-log",
        }
    }

    /// The file name the input is written to.
    fn file_name(self) -> &'static str {
        match self {
            Self::Recipe => "fuzz-recipe.toml",
            Self::Product => "fuzz-product.toml",
            Self::TrainConfig => "fuzz-train.toml",
            Self::Manifest => "manifest.json",
            Self::Calibration => "calibration.json",
            Self::Image => "fuzz-image.png",
            Self::CheckpointConfig => "config.json",
            Self::CheckpointMeta => "meta.json",
            Self::LossLog => "losses.csv",
        }
    }

    fn is_text(self) -> bool {
        self != Self::Image
    }

    /// Built-in valid inputs; more come from [`seeds_from_dir`].
    pub fn builtin_seeds(self) -> Vec<Vec<u8>> {
        match self {
            Self::Recipe => vec![
                unseen::dataset::recipe::CAP_DEFAULT_RECIPE.into(),
                unseen::dataset::recipe::CAP_EVAL_RECIPE.into(),
            ],
            Self::Product => vec![unseen::product::BUILTIN_CAP_TOML.into()],
            Self::TrainConfig => vec![unseen::train::TrainConfig::default().to_toml().into_bytes()],
            Self::Manifest => Vec::new(),
            Self::CheckpointConfig => [(64, 1, 128, 32), (32, 3, 16, 8), (256, 1, 4096, 4)]
                .into_iter()
                .map(|(size, channels, latent, width)| {
                    format!(
                        "{{\n  \"image_size\": {size},\n  \"channels\": {channels},\n  \
                         \"latent_dim\": {latent},\n  \"width\": {width},\n  \
                         \"max_width_mult\": 4\n}}"
                    )
                    .into_bytes()
                })
                .collect(),
            Self::CheckpointMeta => vec![
                br#"{"format": 1, "step": 500, "dataset_manifest_sha256": "ab", "seed": 3, "model_kind": "gan", "image_size": 64, "channels": 1, "files": {}}"#.to_vec(),
            ],
            Self::LossLog => vec![
                b"step,epoch,images_per_sec,reconstruction,edge\n1,0,10.50,0.25,0.1\n2,0,11.00,0.2,0.09\n3,1,11.20,0.18,0.08\n".to_vec(),
            ],
            Self::Calibration => {
                let scores = unseen::inspect::calibration::ValidationScores {
                    good: (0..10).map(|i| [i as f32 * 0.01; 3]).collect(),
                    defective: vec![[0.5; 3]],
                    good_pixels: vec![0.1, 0.2],
                };
                unseen::inspect::Calibration::fit(
                    &scores,
                    unseen::inspect::ScoreKind::MapMax,
                    1,
                    unseen::inspect::DescentConfig::default(),
                    unseen::inspect::ScoreSettings::default(),
                )
                .and_then(|c| serde_json::to_vec_pretty(&c).ok())
                .into_iter()
                .collect()
            }
            Self::Image => {
                let mut seeds = Vec::new();
                for image in [
                    image::DynamicImage::new_luma8(32, 32),
                    image::DynamicImage::new_rgba16(17, 9),
                    image::DynamicImage::new_rgb8(8, 8),
                ] {
                    for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
                        let image = if format == image::ImageFormat::Jpeg {
                            image::DynamicImage::ImageRgb8(image.to_rgb8())
                        } else {
                            image.clone()
                        };
                        let mut bytes = Vec::new();
                        if image
                            .write_to(&mut std::io::Cursor::new(&mut bytes), format)
                            .is_ok()
                        {
                            seeds.push(bytes);
                        }
                    }
                }
                seeds
            }
        }
    }

    /// Loads `path` the way the commands do. `Err` is the loader's error message.
    fn load(self, path: &Path) -> Result<(), String> {
        match self {
            Self::Recipe => unseen::dataset::Recipe::load(path)
                .map(drop)
                .map_err(|e| e.to_string()),
            Self::Product => unseen::product::ProductSpec::load(&path.display().to_string(), None)
                .map(drop)
                .map_err(|e| e.to_string()),
            Self::TrainConfig => unseen::train::TrainConfig::load_toml(path)
                .map(drop)
                .map_err(|e| e.to_string()),
            // The manifest's own checks (recipe, plan, layout paths, hashes); whether a folder
            // holds its files is `dataset::check`'s, tested on real datasets.
            Self::Manifest => unseen::dataset::Manifest::load(path)
                .map(drop)
                .map_err(|e| e.to_string()),
            Self::CheckpointConfig => {
                let dir = path.parent().unwrap_or(Path::new("."));
                // A checkpoint folder is one with a meta.json.
                let meta = dir.join("meta.json");
                if !meta.exists() {
                    std::fs::write(&meta, "{}").map_err(|e| e.to_string())?;
                }
                unseen::train::checkpoint::model_config_of(dir)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Self::CheckpointMeta => {
                let dir = path.parent().unwrap_or(Path::new("."));
                unseen::train::checkpoint::read_meta(dir)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Self::LossLog => {
                let dir = path.parent().unwrap_or(Path::new("."));
                unseen::train::history::load_history(dir).map(drop)
            }
            Self::Calibration => unseen::inspect::Calibration::load(path)
                .map(drop)
                .map_err(|e| e.to_string()),
            Self::Image => {
                let image = unseen::imaging::decode_image(path).map_err(|e| e.to_string())?;
                let (w, h) = (image.width() as usize, image.height() as usize);
                if w == h {
                    unseen::imaging::read_image(path, w, 1).map_err(|e| e.to_string())?;
                    unseen::imaging::read_image(path, w, 3).map_err(|e| e.to_string())?;
                    unseen::imaging::read_mask(path, w).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
                format!("unknown fuzz target {s} (one of {})", names.join(", "))
            })
    }
}

/// Valid inputs for `target` found in `dir` (a dataset or run folder): manifests, calibrations,
/// `*.toml` and PNG images, at most `limit`.
pub fn seeds_from_dir(target: Target, dir: &Path, limit: usize) -> Vec<Vec<u8>> {
    let wanted = |p: &Path| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match target {
            Target::Manifest => name == "manifest.json",
            Target::Calibration => name == "calibration.json",
            Target::Recipe | Target::Product => name.ends_with(".toml"),
            Target::TrainConfig => name == "train_config.toml",
            Target::Image => name.ends_with(".png") || name.ends_with(".jpg"),
            Target::CheckpointConfig => name == "config.json",
            Target::CheckpointMeta => name == "meta.json",
            Target::LossLog => name == "losses.csv",
        }
    };
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if found.len() >= limit {
                return found;
            }
            if p.is_dir() {
                stack.push(p);
            } else if wanted(&p)
                && let Ok(bytes) = unseen::fsio::read_bounded(&p, unseen::fsio::FileKind::Manifest)
                && bytes.len() <= 8 << 20
            {
                found.push(bytes);
            }
        }
    }
    found
}

/// One input that broke a property.
#[derive(Debug, Clone)]
pub struct Finding {
    pub input: Vec<u8>,
    /// The panic message, or the error that did not name the file.
    pub message: String,
    pub panicked: bool,
}

/// What a fuzzing run did.
#[derive(Debug, Clone, Default)]
pub struct FuzzStats {
    pub executions: u64,
    /// Inputs the loader accepted.
    pub accepted: u64,
    /// Inputs the loader refused with an error naming the file.
    pub refused: u64,
    /// At most [`MAX_FINDINGS`] kept.
    pub findings: Vec<Finding>,
    pub findings_total: u64,
}

pub const MAX_FINDINGS: usize = 20;

/// Numbers and words that tend to break parsers and validators.
const BOUNDARY_TOKENS: [&str; 16] = [
    "0",
    "-1",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "18446744073709551616",
    "9223372036854775807",
    "4294967296",
    "65536",
    "0.0000001",
    "\"\"",
    "[]",
    "{}",
    "true",
];

fn mutate(rng: &mut Rng, seed: &[u8], text: bool, image: bool) -> Vec<u8> {
    let mut data = seed.to_vec();
    let rounds = 1 + (rng.next_u64() % 4) as usize;
    for _ in 0..rounds {
        let len = data.len();
        let pick = |rng: &mut Rng, n: usize| (rng.next_u64() % (n.max(1) as u64)) as usize;
        match rng.next_u64() % if text { 10 } else { 8 } {
            0 if len > 0 => {
                let i = pick(rng, len);
                data[i] ^= 1 << (rng.next_u64() % 8);
            }
            1 if len > 0 => {
                let i = pick(rng, len);
                data[i] = (rng.next_u64() & 0xff) as u8;
            }
            2 => {
                let i = pick(rng, len + 1);
                data.insert(i.min(len), (rng.next_u64() & 0xff) as u8);
            }
            3 if len > 1 => {
                let a = pick(rng, len);
                let b = (a + 1 + pick(rng, 64)).min(len);
                data.drain(a..b);
            }
            4 if len > 1 => {
                let a = pick(rng, len);
                let b = (a + 1 + pick(rng, 64)).min(len);
                let span = data[a..b].to_vec();
                let at = pick(rng, len);
                data.splice(at..at, span);
            }
            5 if len > 0 => data.truncate(pick(rng, len)),
            6 if image => {
                let sides = [0u32, 1, 2, 31, 32, 33, 64, 16_385, 100_000, u32::MAX];
                let w = sides[pick(rng, sides.len())];
                let h = sides[pick(rng, sides.len())];
                data = unseen::imaging::decode::with_png_size(&data, w, h);
            }
            7 if len > 0 => {
                // Overwrite a little-endian or big-endian 32-bit field with a boundary value.
                let i = pick(rng, len.saturating_sub(3).max(1));
                let v: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000][pick(rng, 5)];
                for (k, b) in v.to_be_bytes().iter().enumerate() {
                    if let Some(slot) = data.get_mut(i + k) {
                        *slot = *b;
                    }
                }
            }
            8 => {
                // Replace a number (or a word after '=') with a boundary token.
                let s = String::from_utf8_lossy(&data).into_owned();
                let starts: Vec<usize> = s
                    .char_indices()
                    .filter(|(i, c)| {
                        (c.is_ascii_digit() || *c == '-')
                            && !s[..*i].ends_with(|p: char| p.is_ascii_alphanumeric() || p == '.')
                    })
                    .map(|(i, _)| i)
                    .collect();
                if !starts.is_empty() {
                    let a = starts[pick(rng, starts.len())];
                    let b = s[a..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || "-+.".contains(c)))
                        .map_or(s.len(), |n| a + n);
                    let token = BOUNDARY_TOKENS[pick(rng, BOUNDARY_TOKENS.len())];
                    data = format!("{}{token}{}", &s[..a], &s[b..]).into_bytes();
                }
            }
            9 => {
                // Drop, repeat or swap whole lines.
                let s = String::from_utf8_lossy(&data).into_owned();
                let mut lines: Vec<&str> = s.lines().collect();
                if lines.len() > 1 {
                    let (a, b) = (pick(rng, lines.len()), pick(rng, lines.len()));
                    match rng.next_u64() % 3 {
                        0 => {
                            lines.remove(a);
                        }
                        1 => lines.insert(b, lines[a]),
                        _ => lines.swap(a, b),
                    }
                    data = lines.join("\n").into_bytes();
                }
            }
            _ => {}
        }
    }
    data
}

/// Runs `iterations` executions of `target` from `seeds` (the built-in ones when empty) in
/// `scratch`, deterministically for a given `rng_seed`.
pub fn fuzz(
    target: Target,
    seeds: &[Vec<u8>],
    iterations: u64,
    rng_seed: u64,
    scratch: &Path,
) -> FuzzStats {
    let builtin;
    let seeds = if seeds.is_empty() {
        builtin = target.builtin_seeds();
        &builtin
    } else {
        seeds
    };
    let dir = scratch.join(target.name());
    if std::fs::create_dir_all(&dir).is_err() {
        return FuzzStats::default();
    }
    let loader = Loader {
        path: &dir.join(target.file_name()),
        text: target.is_text(),
        image: target == Target::Image,
        load: &|path| target.load(path),
    };
    fuzz_loader(&loader, seeds, iterations, rng_seed)
}

/// A loader under fuzzing: it reads the input written to `path`; an error must name the file
/// (its folder or its name).
pub struct Loader<'a> {
    pub path: &'a Path,
    /// Text inputs also get token- and line-level mutations.
    pub text: bool,
    /// Image inputs also get re-headed with absurd sizes.
    pub image: bool,
    pub load: &'a dyn Fn(&Path) -> Result<(), String>,
}

/// The fuzzing loop for any loader (see the module docs for the properties checked).
pub fn fuzz_loader(
    loader: &Loader,
    seeds: &[Vec<u8>],
    iterations: u64,
    rng_seed: u64,
) -> FuzzStats {
    let mut stats = FuzzStats::default();
    if seeds.is_empty() {
        return stats;
    }
    let path = loader.path;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rng = Rng::new(rng_seed);
    // Panics are expected to be caught here; keep them off stderr while fuzzing.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for n in 0..iterations {
        let seed = &seeds[(rng.next_u64() % seeds.len() as u64) as usize];
        // Every 16th execution runs a seed unchanged: the loader must accept valid input.
        let input = if n % 16 == 0 {
            seed.clone()
        } else {
            mutate(&mut rng, seed, loader.text, loader.image)
        };
        if std::fs::write(path, &input).is_err() {
            continue;
        }
        stats.executions += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| (loader.load)(path)));
        let finding = match outcome {
            Ok(Ok(())) => {
                stats.accepted += 1;
                None
            }
            Ok(Err(message)) => {
                if message.contains(&*dir.to_string_lossy()) || message.contains(&file_name) {
                    stats.refused += 1;
                    None
                } else {
                    Some(Finding {
                        input,
                        message: format!("error does not name the file: {message}"),
                        panicked: false,
                    })
                }
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                Some(Finding {
                    input,
                    message: format!("panic: {message}"),
                    panicked: true,
                })
            }
        };
        if let Some(f) = finding {
            stats.findings_total += 1;
            if stats.findings.len() < MAX_FINDINGS {
                stats.findings.push(f);
            }
        }
    }
    std::panic::set_hook(hook);
    stats
}
