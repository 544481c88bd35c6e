//! `unseen inspect`: the command-line shell over [`Inspector`](crate::inspect::Inspector):
//! one result line per image (a table row, a JSON object or a CSV record), overlays, maps and
//! masks on request, and an exit code a production line can act on.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{EXIT_DEFECT, EXIT_NOT_INSPECTED};
use crate::compute::{ComputeDevice, select_device};
use crate::imaging::{MapInput, list_images};
use crate::inspect::descent::{MAX_BATCH_SIZE, MAX_ITERATIONS};
use crate::inspect::photos::calibrate_on_photos;
use crate::inspect::report::write_images;
use crate::inspect::{
    DefectRule, DescentConfig, ImageReport, InspectorSettings, OpenOptions, StartMode, Verdict,
    open_inspector,
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
        match s.parse::<usize>() {
            Ok(n) if n <= MAX_ITERATIONS => Ok(Self::Fixed(n)),
            Ok(n) => Err(format!(
                "{n} iterations is more than the {MAX_ITERATIONS} a descent may take"
            )),
            Err(_) => Err(format!(
                "`{s}` is neither `auto` nor a number of iterations"
            )),
        }
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

/// How result lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON object per line (JSON Lines).
    Json,
    /// CSV with a header row, fields quoted where they need it.
    Csv,
}

/// What `--help` says after the options.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the images were inspected (with --fail-on-defect: each one passed or went to review)
  1  the tool failed: the model, the dataset or an output could not be used
  2  the command line is wrong
  3  with --fail-on-defect: an image was judged defect
  4  with --fail-on-defect: no image was judged defect, but one could not be inspected (error),
     an input was skipped (a folder with no images, an entry of a folder that is not an
     image), or no image was judged at all";

/// Inspect images with a trained model: latent descent, heatmaps, regions with part names and
/// a verdict (pass, review, defect, error) per image.
///
/// Images must have the model's size, unless `--map-input` names how others are mapped;
/// without it they are reported as `error` naming the file (never rescaled silently, which
/// would change how large a defect looks).
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct InspectArgs {
    /// The training run (or one checkpoint directory in it).
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// Dataset for calibration (its validation split), part names and the maps made with its
    /// training renders (a calibration that chose such a map gives `error` without them);
    /// default: the dataset recorded in RUN_DIR/calibration.json.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Most descent iterations per image: a number (0 = score E(x) in one pass), or `auto`:
    /// calibration compares 0, 1, 2, 5, 10, 20 and 50 on the validation split and keeps the
    /// smallest within 0.005 of the best (validation image + pixel AUROC).
    #[arg(long, default_value = "auto", value_name = "N|auto")]
    pub iterations: BudgetArg,
    /// Where the descent starts.
    #[arg(long, value_enum, default_value_t = ModeArg::Encoder)]
    pub mode: ModeArg,
    /// Seed of z₀ in `--mode seed`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Weight of the discriminator-feature term of the descent loss (0 to 10000).
    #[arg(long = "lambda", default_value_t = DescentConfig::default().lambda, value_parser = parse_lambda)]
    pub lambda: f32,
    /// Images per descent batch (1 to 4096).
    #[arg(long, default_value_t = DescentConfig::default().batch_size, value_parser = parse_batch)]
    pub batch: usize,
    /// Wall-clock limit of one descent batch in milliseconds (1 to 86400000); images still
    /// descending when it passes get `error` (never `pass`).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub timeout_ms: Option<u64>,
    /// Pose refinement rounds per image when the detector renders the product at the image's
    /// pose (0 to 1000): this budget instead of the one calibration chose. The report of
    /// `unseen eval` lists each budget's AUROC and latency.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=crate::refine::RefineSettings::MAX_ROUNDS as u64))]
    pub refine_rounds: Option<u64>,
    /// Refit the thresholds on the dataset's validation split even if a calibration exists.
    #[arg(long)]
    pub recalibrate: bool,
    /// Set the defect threshold so that at most this fraction of the good validation images
    /// reach it (e.g. 0.01 for one in a hundred), instead of the threshold of best F1. Applied
    /// from the calibration's stored scores, without refitting.
    #[arg(long, value_name = "RATE", value_parser = parse_false_alarm_rate)]
    pub false_alarm_rate: Option<f32>,
    /// How images of another size or colour are brought to the model's input: `fail`
    /// (report them as `error`, naming both sizes), `resize` (scale the whole image), `bbox`
    /// (crop the product's bounding box on the dark background, square with a margin, then
    /// scale) or `roi=X,Y,W,H` (crop this region, then scale). Recorded in every result line.
    #[arg(long, value_name = "RULE", default_value = "fail")]
    pub map_input: MapInput,
    /// Refit the review and defect thresholds on these good photos (a folder of images, or an
    /// MVTec AD folder's train/good), keeping the detector and maps the validation split
    /// chose; stored as RUN_DIR/calibration-photos.json and reused while the photos are the
    /// same.
    #[arg(long, value_name = "DIR")]
    pub calibrate_good: Option<PathBuf>,
    /// Folder for heatmap overlays, maps and masks (locked while they are written).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// How each image's result line is printed.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Exit with code 3 when any image is `defect`, else 4 when any is `error`, an input was
    /// skipped or none was judged (see below).
    #[arg(long)]
    pub fail_on_defect: bool,
    /// Where to compute.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ComputeDevice::Auto)]
    pub device: ComputeDevice,
    /// Image files, folders of images, or MVTec AD folders (their test/<class>/ photos).
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

/// Parses λ: a finite weight from 0 to 10000.
pub fn parse_lambda(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && (0.0..=1e4).contains(&v) => Ok(v),
        Ok(v) => Err(format!("λ must be a number from 0 to 10000, not {v}")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

/// Parses a descent batch size: 1 to [`MAX_BATCH_SIZE`] images.
pub fn parse_batch(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_BATCH_SIZE).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a batch size from 1 to {MAX_BATCH_SIZE} images"
        )),
    }
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
        map_input: args.map_input,
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
    let mut inspector = opened.inspector;
    if let Some(photos) = &args.calibrate_good {
        let note = calibrate_on_photos(&mut inspector, &args.model, photos, true)
            .map_err(|e| anyhow::anyhow!("cannot calibrate on the good photos: {e}"))?;
        eprintln!("{note}");
    }
    if let Some(rounds) = args.refine_rounds {
        inspector.set_refine_rounds(rounds as usize);
        eprintln!("pose refinement: at most {rounds} rounds per image (--refine-rounds)");
    }
    eprintln!("input mapping: {}", args.map_input.describe());

    let (paths, skipped) = expand_inputs(&args.inputs)?;
    for (path, why) in &skipped {
        eprintln!("not inspected: {} ({why})", path.display());
    }
    let _lock = match &args.out {
        Some(out) => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            Some(crate::fsio::FolderLock::acquire(out, "inspect")?)
        }
        None => None,
    };
    let (size, channels) = (inspector.model.image_size(), inspector.model.channels());
    let pixel_threshold = inspector
        .calibration
        .as_ref()
        .map_or(f32::INFINITY, |c| c.pixel_threshold);
    let mut lines = ResultLines::new(std::io::stdout().lock(), args.format, args.map_input)?;
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut stems: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_ms = 0.0;
    for chunk in paths.chunks(settings.descent.batch_size) {
        for report in inspector.inspect_paths(chunk) {
            lines.write(&report)?;
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
    lines.finish()?;
    eprintln!(
        "{} images: {} ({:.1} ms per image){}",
        paths.len(),
        counts
            .iter()
            .map(|(v, n)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        total_ms / paths.len().max(1) as f64,
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; {} input(s) not inspected", skipped.len())
        }
    );
    let count = |v: Verdict| counts.get(v.as_str()).copied().unwrap_or(0);
    let failed = FailedImages {
        defects: count(Verdict::Defect),
        errors: count(Verdict::Error),
        skipped: skipped.len(),
        judged: count(Verdict::Pass) + count(Verdict::Review) + count(Verdict::Defect),
    };
    if args.fail_on_defect && failed.fails() {
        return Err(failed.into());
    }
    Ok(())
}

/// Under `--fail-on-defect`, why the line's gate fails: an image judged `defect` or `error`,
/// an input that was skipped, or no image judged at all (a gate never passes on nothing). The
/// inspection itself worked, and the exit code says what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedImages {
    pub defects: usize,
    pub errors: usize,
    /// Inputs not inspected: folders without images, entries of folders that are not images.
    pub skipped: usize,
    /// Images judged `pass`, `review` or `defect`.
    pub judged: usize,
}

impl FailedImages {
    /// Whether the gate fails.
    pub fn fails(&self) -> bool {
        self.defects + self.errors + self.skipped > 0 || self.judged == 0
    }

    /// [`EXIT_DEFECT`] when a defect was found, else [`EXIT_NOT_INSPECTED`].
    pub fn exit_code(&self) -> u8 {
        if self.defects > 0 {
            EXIT_DEFECT
        } else {
            EXIT_NOT_INSPECTED
        }
    }
}

impl std::fmt::Display for FailedImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut why = Vec::new();
        if self.defects + self.errors > 0 {
            why.push(format!(
                "{} image(s) judged defect or error ({} defect, {} error)",
                self.defects + self.errors,
                self.defects,
                self.errors
            ));
        }
        if self.skipped > 0 {
            why.push(format!(
                "{} input(s) not inspected (listed above)",
                self.skipped
            ));
        }
        if self.judged == 0 {
            why.push("no image was judged".to_string());
        }
        write!(f, "the gate fails: {}", why.join("; "))
    }
}

impl std::error::Error for FailedImages {}

/// Result lines in one [`OutputFormat`], written as images are inspected; JSON and CSV lines
/// record the input mapping rule.
enum ResultLines<W: Write> {
    Table(W),
    Json(W, MapInput),
    Csv(Box<csv::Writer<W>>, MapInput),
}

impl<W: Write> ResultLines<W> {
    /// Starts the output, with its header line when the format has one.
    fn new(mut out: W, format: OutputFormat, map_input: MapInput) -> anyhow::Result<Self> {
        Ok(match format {
            OutputFormat::Table => {
                writeln!(
                    out,
                    "{:<7} {:>9} {:>6} {:>8}  {:<40} regions",
                    "verdict", "score", "steps", "ms", "image"
                )?;
                Self::Table(out)
            }
            OutputFormat::Json => Self::Json(out, map_input),
            OutputFormat::Csv => {
                let mut csv = Box::new(csv::Writer::from_writer(out));
                csv.write_record(CSV_HEADER)?;
                Self::Csv(csv, map_input)
            }
        })
    }

    fn write(&mut self, report: &ImageReport) -> anyhow::Result<()> {
        match self {
            Self::Table(out) => writeln!(out, "{}", table_line(report))?,
            Self::Json(out, map_input) => {
                let mut line = serde_json::to_value(report)?;
                if let Some(object) = line.as_object_mut() {
                    object.insert("input_map".into(), map_input.to_string().into());
                }
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            }
            Self::Csv(csv, map_input) => {
                csv.write_record(csv_record(report, *map_input))?;
                // Each line appears as soon as its image is inspected.
                csv.flush()?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Table(mut out) | Self::Json(mut out, _) => out.flush()?,
            Self::Csv(mut csv, _) => csv.flush()?,
        }
        Ok(())
    }
}

/// The columns of `--format csv`.
const CSV_HEADER: [&str; 9] = [
    "image",
    "verdict",
    "score",
    "score_kind",
    "iterations",
    "time_ms",
    "regions",
    "error",
    "input_map",
];

/// The regions of a report, e.g. `dome [10,4-18,9] 31px peak 0.420; notch [..]`.
fn regions_text(report: &ImageReport) -> String {
    report
        .regions
        .iter()
        .map(crate::inspect::Region::summary)
        .collect::<Vec<_>>()
        .join("; ")
}

fn path_text(report: &ImageReport) -> String {
    report
        .path
        .as_ref()
        .map_or_else(|| "-".to_string(), |p| p.display().to_string())
}

/// One row of the table: the error instead of the regions when the verdict is `error`.
fn table_line(report: &ImageReport) -> String {
    let detail = match &report.error {
        Some(e) if report.verdict == Verdict::Error => e.clone(),
        _ => regions_text(report),
    };
    format!(
        "{:<7} {:>9.5} {:>6} {:>8.1}  {:<40} {}",
        report.verdict.as_str(),
        report.score,
        steps_text(report),
        report.time_ms,
        path_text(report),
        detail
    )
}

/// The work the verdict took, for the table: pose refinement rounds (`24r`) when the
/// reference was rendered at the image's refined pose, else the model's descent iterations
/// (`8it`). A bare 0 read as if nothing had been done where the refinement had run.
fn steps_text(report: &ImageReport) -> String {
    match report.refine_rounds {
        Some(rounds) => format!("{rounds}r"),
        None => format!("{}it", report.iterations),
    }
}

/// One CSV record, in [`CSV_HEADER`]'s order.
fn csv_record(report: &ImageReport, map_input: MapInput) -> [String; 9] {
    [
        path_text(report),
        report.verdict.as_str().to_string(),
        report.score.to_string(),
        report.score_kind.as_str().to_string(),
        report.iterations.to_string(),
        format!("{:.3}", report.time_ms),
        regions_text(report),
        report.error.clone().unwrap_or_default(),
        map_input.to_string(),
    ]
}

/// An input left out, and why.
type Skipped = (PathBuf, &'static str);

/// Files as given, folders replaced by their images (an MVTec AD folder without a manifest by
/// its `test/<class>/` photos), and what was left out with why: a folder with no image, an entry of a folder that is not an image. A missing or unreadable
/// file given by name stays in the list so its line says `error`.
fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let mut paths = Vec::new();
    let mut skipped = Vec::new();
    for input in inputs {
        if crate::dataset::photos::is_photo_folder(input) {
            // An MVTec AD folder: its test photos, every class.
            let photos = crate::dataset::photos::test_photos(input)?;
            paths.extend(photos.into_iter().map(|p| p.path));
        } else if input.is_dir() {
            let listing = list_images(input)?;
            if listing.images.is_empty() {
                skipped.push((input.clone(), "a folder with no PNG or JPEG image"));
            }
            paths.extend(listing.images);
            skipped.extend(listing.skipped);
        } else {
            paths.push(input.clone());
        }
    }
    Ok((paths, skipped))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{Region, ScoreKind};

    fn report(path: &str, verdict: Verdict, error: Option<&str>) -> ImageReport {
        ImageReport {
            verdict,
            score: 0.25,
            score_kind: ScoreKind::MapMax,
            iterations: 3,
            time_ms: 1.5,
            regions: vec![Region {
                bbox: [1, 2, 3, 4],
                area: 5,
                peak: 0.5,
                part_id: Some(1),
                part: Some("dome".into()),
                change: None,
            }],
            error: error.map(String::from),
            ..ImageReport::error(Some(PathBuf::from(path)), ScoreKind::MapMax, String::new())
        }
    }

    #[test]
    fn csv_lines_read_back_field_for_field() {
        let reports = [
            report("a, \"b\".png", Verdict::Review, None),
            report(
                "c.png",
                Verdict::Error,
                Some("cannot read c.png: bad,\nbroken"),
            ),
        ];
        let mut out = Vec::new();
        let rule = MapInput::Bbox;
        let mut lines = ResultLines::new(&mut out, OutputFormat::Csv, rule).unwrap();
        for r in &reports {
            lines.write(r).unwrap();
        }
        lines.finish().unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap(), CSV_HEADER.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        for (row, r) in rows.iter().zip(&reports) {
            assert_eq!(row, csv_record(r, rule).as_slice());
            assert_eq!(&row[8], "bbox");
        }
        assert_eq!(&rows[0][0], "a, \"b\".png");
        assert_eq!(&rows[0][6], "dome [1,2-3,4] 5px peak 0.500");
        assert_eq!(&rows[1][7], "cannot read c.png: bad,\nbroken");
    }

    #[test]
    fn the_table_says_which_work_the_verdict_took() {
        let descent = report("a.png", Verdict::Pass, None);
        assert!(
            table_line(&descent).contains(" 3it "),
            "{}",
            table_line(&descent)
        );
        let refined = ImageReport {
            refine_rounds: Some(24),
            ..report("b.png", Verdict::Defect, None)
        };
        assert!(
            table_line(&refined).contains(" 24r "),
            "{}",
            table_line(&refined)
        );
    }

    #[test]
    fn a_defect_outranks_an_image_that_could_not_be_inspected() {
        let both = FailedImages {
            defects: 1,
            errors: 2,
            skipped: 0,
            judged: 5,
        };
        assert!(both.fails());
        assert_eq!(both.exit_code(), EXIT_DEFECT);
        assert!(
            both.to_string()
                .contains("3 image(s) judged defect or error")
        );
        let errors = FailedImages {
            defects: 0,
            errors: 1,
            skipped: 0,
            judged: 5,
        };
        assert_eq!(errors.exit_code(), EXIT_NOT_INSPECTED);
    }

    #[test]
    fn a_gate_fails_on_nothing_judged_and_on_skipped_inputs() {
        let nothing = FailedImages {
            defects: 0,
            errors: 0,
            skipped: 0,
            judged: 0,
        };
        assert!(nothing.fails());
        assert_eq!(nothing.exit_code(), EXIT_NOT_INSPECTED);
        assert!(nothing.to_string().contains("no image was judged"));
        let skipped = FailedImages {
            skipped: 2,
            judged: 3,
            ..nothing
        };
        assert!(skipped.fails());
        assert!(skipped.to_string().contains("2 input(s) not inspected"));
        let clean = FailedImages {
            judged: 3,
            ..nothing
        };
        assert!(!clean.fails());
    }

    #[test]
    fn numeric_flags_are_checked_before_use() {
        for bad in ["nan", "inf", "-1", "1e9", "x"] {
            assert!(parse_lambda(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_lambda("0.5"), Ok(0.5));
        for bad in ["0", "100000", "-3"] {
            assert!(parse_batch(bad).is_err(), "{bad}");
        }
        assert!("100000".parse::<BudgetArg>().is_err());
        assert_eq!("20".parse::<BudgetArg>(), Ok(BudgetArg::Fixed(20)));
    }
}
