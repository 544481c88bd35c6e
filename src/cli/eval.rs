//! `unseen eval`: trained models measured on a test split, with a progress bar and a summary
//! of the report it writes.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::inspect::parse_false_alarm_rate;
use crate::compute::{ComputeDevice, SelectedDevice, select_device};
use crate::eval::report::ReportFiles;
use crate::eval::types::CLASS_COLUMNS;
use crate::eval::{EvalOptions, EvalProgress, EvalReport};
use crate::inspect::DefectRule;
use crate::inspect::descent::MAX_ITERATIONS;
use crate::worker::Waker;
use crate::worker::eval::{EvalEvent, spawn_evaluation};

/// Evaluate trained models on a test split: image and pixel AUROC, AUPRO, F1-max, the
/// confusion matrix at the calibrated threshold, per defect class, for each descent budget;
/// writes report.json, report.md and report.html.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The training run to evaluate.
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// A second run to compare with (e.g. the AE + SOM baseline).
    #[arg(long, value_name = "RUN_DIR2")]
    pub compare: Option<PathBuf>,
    /// Dataset whose `test` split is evaluated (e.g. rendered from assets/datasets/cap-eval.toml).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Dataset whose validation split fits thresholds for a run without a matching calibration.
    #[arg(long, value_name = "DIR")]
    pub calibrate_on: Option<PathBuf>,
    /// Descent budgets to sweep, each 0 to 10000 (the model's calibrated budget is always
    /// included).
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,5,10,20,50,100", value_parser = parse_budget)]
    pub iterations: Vec<usize>,
    #[arg(long, value_name = "REPORT_DIR")]
    pub out: PathBuf,
    /// Good and defective images (each) timed one by one per budget (1 to 10000).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub latency_samples: u64,
    /// Worst false positives and false negatives shown per model (0 to 1000).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub gallery: u64,
    /// Set each model's defect threshold so that at most this fraction of the good validation
    /// images reach it (e.g. 0.01), instead of the threshold of best F1.
    #[arg(long, value_name = "RATE", value_parser = parse_false_alarm_rate)]
    pub false_alarm_rate: Option<f32>,
    /// Where to compute.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ComputeDevice::Auto)]
    pub device: ComputeDevice,
}

/// Parses one descent budget of `--iterations`: 0 to [`MAX_ITERATIONS`].
pub fn parse_budget(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n <= MAX_ITERATIONS => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of iterations from 0 to {MAX_ITERATIONS}"
        )),
    }
}

pub fn run_eval_cli(args: EvalArgs) -> anyhow::Result<()> {
    let device = select_device(args.device)?;
    eprintln!("evaluating on {}", device.description);
    let mut runs = vec![args.model.clone()];
    runs.extend(args.compare.clone());
    let options = EvalOptions {
        runs,
        data: args.data.clone(),
        calibration_data: args.calibrate_on.clone(),
        iterations: args.iterations.clone(),
        out: args.out.clone(),
        latency_samples: args.latency_samples as usize,
        gallery: args.gallery as usize,
        defect_rule: args.false_alarm_rate.map_or(DefectRule::F1Max, |rate| {
            DefectRule::FalseAlarmRate { rate }
        }),
    };
    let report = run_with_progress(&options, &device)?;
    print_summary(&report);
    Ok(())
}

/// Evaluates on the evaluation worker, showing its progress.
pub(super) fn run_with_progress(
    options: &EvalOptions,
    device: &SelectedDevice,
) -> anyhow::Result<EvalReport> {
    let worker = spawn_evaluation(options.clone(), device.clone(), Waker::none())?;
    let progress = EvalBar::new();
    let mut outcome = Err(anyhow::anyhow!("the evaluation ended without a result"));
    for event in worker.events().iter() {
        match event {
            EvalEvent::Progress(p) => progress.show(&p),
            EvalEvent::Finished(report, files) => {
                progress.finish(&files);
                outcome = Ok(*report);
            }
            EvalEvent::Failed(message) => {
                progress.bar.abandon();
                outcome = Err(anyhow::anyhow!(message));
            }
        }
    }
    worker.join();
    outcome
}

/// An evaluation's progress on the terminal.
pub(super) struct EvalBar {
    bar: ProgressBar,
}

impl EvalBar {
    pub(super) fn new() -> Self {
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar }
    }

    pub(super) fn show(&self, progress: &EvalProgress) {
        let bar = &self.bar;
        match progress {
            EvalProgress::Opening { run } => {
                bar.println(format!("opening {}", run.display()));
            }
            EvalProgress::Scoring { model, done, total } => {
                bar.set_length(*total as u64);
                bar.set_position(*done as u64);
                bar.set_message(format!("{model}: scoring test images"));
            }
            EvalProgress::Timing { model, iterations } => {
                bar.set_message(format!("{model}: timing {iterations} iterations"));
            }
            EvalProgress::Writing => bar.set_message("writing the report"),
        }
    }

    /// Clears the bar and names the report's files.
    pub(super) fn finish(&self, files: &ReportFiles) {
        self.bar.finish_and_clear();
        eprintln!("report: {}", files.html.display());
        eprintln!("        {}", files.markdown.display());
        eprintln!("        {}", files.json.display());
    }
}

/// The main numbers of each model at its calibrated budget, one line per class.
pub(super) fn print_summary(report: &EvalReport) {
    for model in &report.models {
        let Some(point) = model
            .sweep
            .iter()
            .find(|p| p.iterations == model.main_iterations)
        else {
            continue;
        };
        println!(
            "{} ({}, step {}, {} iterations, score {}):",
            model.name,
            model.model_kind,
            model.checkpoint_step,
            model.main_iterations,
            model.score_kind
        );
        let [class, n, image, pixel, aupro, f1, precision, recall] = CLASS_COLUMNS;
        println!(
            "  {class:<12} {n:>5} {image:>11} {pixel:>11} {aupro:>7} {f1:>7} {precision:>9} {recall:>7}"
        );
        for c in &point.classes {
            let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
            println!(
                "  {:<12} {:>5} {:>11.4} {:>11} {:>7} {:>7.4} {:>9.4} {:>7.4}",
                c.class,
                c.defective,
                c.image_auroc,
                opt(c.pixel_auroc),
                opt(c.aupro),
                c.f1_max,
                c.at_calibrated.precision(),
                c.at_calibrated.recall()
            );
        }
        println!(
            "  latency {:.1} ms good, {:.1} ms defective (one image at a time)",
            point.mean_ms_good, point.mean_ms_defective
        );
    }
}
