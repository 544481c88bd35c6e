//! `unseen inspect`: the command-line shell over [`Inspector`](crate::inspect::Inspector).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::compute::{ComputeDevice, select_device};
use crate::imaging::images_in;
use crate::inspect::report::{OutputFormat, header, line, write_images};
use crate::inspect::{
    DefectRule, DescentConfig, InspectorSettings, OpenOptions, StartMode, Verdict, open_inspector,
};

/// How z₀ is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ModeArg {
    /// z₀ = E(x).
    #[default]
    Encoder,
    /// z₀ drawn from `--seed`, as in AnoGAN.
    Seed,
}

/// The descent budget asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetArg {
    /// Calibration measures the budgets up to the default ceiling on the validation split and
    /// keeps the smallest within 0.005 of the best.
    Auto,
    /// Exactly this many iterations at most.
    Fixed(usize),
}

impl std::str::FromStr for BudgetArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        s.parse()
            .map(Self::Fixed)
            .map_err(|_| format!("`{s}` is neither `auto` nor a number of iterations"))
    }
}

impl std::fmt::Display for BudgetArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// Inspect images with a trained model: latent descent, heatmaps, regions with part names and
/// a verdict (pass, review, defect, error) per image.
///
/// Images must have the model's size; others are reported as `error` naming the file (no
/// rescaling, which would change how large a defect looks).
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// The training run (or one checkpoint directory in it).
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// Dataset for calibration (its validation split), part names and the maps made with its
    /// training renders (a calibration that chose such a map gives `error` without them);
    /// default: the dataset recorded in RUN_DIR/calibration.json.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Most descent iterations per image (0 = score E(x) in one pass), or `auto`: calibration
    /// compares 0, 1, 2, 5, 10, 20 and 50 on the validation split and keeps the smallest
    /// within 0.005 of the best (validation image + pixel AUROC).
    #[arg(long, default_value = "auto", value_name = "N|auto")]
    pub iterations: BudgetArg,
    #[arg(long, value_enum, default_value_t = ModeArg::Encoder)]
    pub mode: ModeArg,
    /// Seed of z₀ in `--mode seed`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Weight of the discriminator-feature term of the descent loss.
    #[arg(long = "lambda", default_value_t = DescentConfig::default().lambda)]
    pub lambda: f32,
    /// Images per descent batch.
    #[arg(long, default_value_t = DescentConfig::default().batch_size)]
    pub batch: usize,
    /// Wall-clock limit of one descent batch in milliseconds; images still descending when it
    /// passes get `error` (never `pass`).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Refit the thresholds on the dataset's validation split even if a calibration exists.
    #[arg(long)]
    pub recalibrate: bool,
    /// Set the defect threshold so that at most this fraction of the good validation images
    /// reach it (e.g. 0.01 for one in a hundred), instead of the threshold of best F1. Applied
    /// from the calibration's stored scores, without refitting.
    #[arg(long, value_name = "RATE", value_parser = parse_false_alarm_rate)]
    pub false_alarm_rate: Option<f32>,
    /// Folder for heatmap overlays, maps and masks.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Exit with an error when any image is `defect` or `error`.
    #[arg(long)]
    pub fail_on_defect: bool,
    #[arg(long, default_value = "auto")]
    pub device: ComputeDevice,
    /// Image files or folders of images.
    #[arg(required = true, value_name = "IMAGE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
}

/// Parses a false-alarm rate: a fraction in [0, 1).
pub fn parse_false_alarm_rate(s: &str) -> Result<f32, String> {
    let rate: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number (a fraction of good parts, e.g. 0.01)"))?;
    DefectRule::false_alarm_rate(rate).map(|_| rate)
}

impl InspectArgs {
    fn descent(&self) -> DescentConfig {
        DescentConfig {
            start: match self.mode {
                ModeArg::Encoder => StartMode::Encoder,
                ModeArg::Seed => StartMode::Seed { seed: self.seed },
            },
            lambda: self.lambda,
            max_iterations: match self.iterations {
                BudgetArg::Auto => DescentConfig::default().max_iterations,
                BudgetArg::Fixed(n) => n,
            },
            batch_size: self.batch.max(1),
            time_limit_ms: self.timeout_ms,
            ..DescentConfig::default()
        }
    }
}

pub fn run_inspect_cli(args: InspectArgs) -> anyhow::Result<()> {
    let device = select_device(args.device)?;
    let settings = InspectorSettings {
        descent: args.descent(),
        choose_budget: args.iterations == BudgetArg::Auto,
        defect_rule: args.false_alarm_rate.map_or(DefectRule::F1Max, |rate| {
            DefectRule::FalseAlarmRate { rate }
        }),
        ..InspectorSettings::default()
    };
    let options = OpenOptions {
        run_dir: args.model.clone(),
        data: args.data.clone(),
        settings,
        recalibrate: args.recalibrate,
        save_calibration: true,
    };
    let opened = open_inspector(&options, &device.device)
        .map_err(|e| anyhow::anyhow!("cannot open the model in {}: {e}", args.model.display()))?;
    eprintln!("inspecting on {}", device.description);
    for note in &opened.notes {
        eprintln!("{note}");
    }
    let inspector = opened.inspector;

    let paths = expand_inputs(&args.inputs)?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    let (size, channels) = (inspector.model.image_size(), inspector.model.channels());
    let pixel_threshold = inspector
        .calibration
        .as_ref()
        .map_or(f32::INFINITY, |c| c.pixel_threshold);
    let mut stdout = std::io::stdout().lock();
    if let Some(h) = header(args.format) {
        writeln!(stdout, "{h}")?;
    }
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut stems: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_ms = 0.0;
    for chunk in paths.chunks(settings.descent.batch_size) {
        for report in inspector.inspect_paths(chunk) {
            writeln!(stdout, "{}", line(&report, args.format))?;
            *counts.entry(report.verdict.as_str()).or_default() += 1;
            total_ms += report.time_ms;
            if let (Some(out), Some(path)) = (&args.out, &report.path)
                && report.verdict != Verdict::Error
            {
                let stem = unique_stem(path, &mut stems);
                write_images(&report, size, channels, pixel_threshold, out, &stem)?;
            }
        }
    }
    eprintln!(
        "{} images: {} ({:.1} ms per image)",
        paths.len(),
        counts
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        total_ms / paths.len().max(1) as f64
    );
    let failed =
        counts.get("defect").copied().unwrap_or(0) + counts.get("error").copied().unwrap_or(0);
    if args.fail_on_defect && failed > 0 {
        bail!("{failed} image(s) judged defect or error");
    }
    Ok(())
}

/// Files as given, folders replaced by their images. A missing path stays in the list so its
/// line says `error`.
fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for input in inputs {
        if input.is_dir() {
            paths.extend(images_in(input)?);
        } else {
            paths.push(input.clone());
        }
    }
    Ok(paths)
}

/// The file stem of `path`, with `-2`, `-3`, … for repeats, so outputs never overwrite.
fn unique_stem(path: &Path, seen: &mut BTreeMap<String, usize>) -> String {
    let stem = path
        .file_stem()
        .map_or_else(|| "image".to_string(), |s| s.to_string_lossy().into_owned());
    let n = seen.entry(stem.clone()).or_default();
    *n += 1;
    if *n == 1 { stem } else { format!("{stem}-{n}") }
}
