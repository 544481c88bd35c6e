//! The ablation on a worker: for each variant of [`crate::eval::ablate`], render, train,
//! calibrate and evaluate on the photos, then write the table and the plot. A variant whose
//! dataset is already rendered from the same recipe is not rendered again, and a training
//! with a checkpoint resumes, so an interrupted ablation continues where it stopped.

use std::path::PathBuf;
use std::time::Instant;

use super::eval::evaluate_in;
use super::generate::{GenerateEvent, GenerateJob, render_stage};
use super::train::train_stage;
use super::{Context, Event, Waker, Worker, spawn};
use crate::compute::SelectedDevice;
use crate::eval::ablate::{AblationPlan, AblationReport, VariantResult, variant_dirs, variants};
use crate::eval::{EvalOptions, EvalProgress};
use crate::fsio::write_atomic;
use crate::imaging::MapInput;
use crate::inspect::DefectRule;
use crate::product::ProductSpec;
use crate::render::Gpu;
use crate::train::TrainEvent;

const EVENT_CAPACITY: usize = 64;

#[derive(Debug, Clone)]
pub struct AblationJob {
    pub recipe: crate::dataset::recipe::Recipe,
    pub recipe_path: PathBuf,
    pub product: ProductSpec,
    pub base: crate::dataset::recipe::Recipe,
    /// What the base is, for the report (`the built-in cap recipe`, a path).
    pub base_name: String,
    pub photos: PathBuf,
    pub out: PathBuf,
    pub plan: AblationPlan,
    pub device: SelectedDevice,
    pub map_input: MapInput,
}

#[derive(Debug, Clone)]
pub enum AblationEvent {
    /// Variant `number` (from 1) of `count` begins.
    Variant {
        number: usize,
        count: usize,
        name: String,
    },
    /// Its dataset is already there, from the same recipe.
    UpToDate(PathBuf),
    Render(GenerateEvent),
    Train(TrainEvent),
    Eval(EvalProgress),
    Done(Box<VariantResult>),
    Finished(Box<AblationReport>),
    Cancelled,
    Failed(String),
}

impl Event for AblationEvent {
    fn panicked(message: String) -> Self {
        Self::Failed(format!("the ablation panicked: {message}"))
    }
}

pub fn spawn_ablation(job: AblationJob, waker: Waker) -> std::io::Result<Worker<AblationEvent>> {
    spawn(
        "unseen-ablate",
        EVENT_CAPACITY,
        waker,
        move |ctx| match run(ctx, job) {
            Ok(report) => AblationEvent::Finished(Box::new(report)),
            Err(_) if ctx.is_cancelled() => AblationEvent::Cancelled,
            Err(message) => AblationEvent::Failed(message),
        },
    )
}

fn run(ctx: &mut Context<AblationEvent>, job: AblationJob) -> Result<AblationReport, String> {
    let all = variants(&job.recipe, &job.base, &job.plan);
    std::fs::create_dir_all(&job.out)
        .map_err(|e| format!("cannot create {}: {e}", job.out.display()))?;
    let gpu = Gpu::headless().map_err(|e| e.to_string())?;
    let mut report = AblationReport {
        recipe: job.recipe_path.clone(),
        base: job.base_name.clone(),
        photos: job.photos.clone(),
        plan: job.plan.clone(),
        results: Vec::new(),
    };
    for (i, variant) in all.iter().enumerate() {
        ctx.checkpoint().map_err(|e| e.to_string())?;
        ctx.emit(AblationEvent::Variant {
            number: i + 1,
            count: all.len(),
            name: variant.name.clone(),
        })
        .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let (data, run_dir, report_dir) = variant_dirs(&job.out, variant);
        variant
            .recipe
            .validate_against(&job.product)
            .map_err(|m| format!("variant {}: {m}", variant.name))?;
        let render = GenerateJob {
            gpu: Some(gpu.clone()),
            recipe: variant.recipe.clone(),
            product: job.product.clone(),
            out: data.clone(),
            replace: true,
        };
        render_stage(ctx, render, AblationEvent::Render, AblationEvent::UpToDate)?;
        train_stage(
            ctx,
            data.clone(),
            run_dir.clone(),
            job.plan.train_config(),
            &job.device,
            AblationEvent::Train,
        )
        .map_err(|e| format!("variant {}: {e}", variant.name))?;
        let options = EvalOptions {
            runs: vec![run_dir],
            data: job.photos.clone(),
            calibration_data: Some(data),
            iterations: vec![0],
            out: report_dir,
            latency_samples: 1,
            gallery: 0,
            defect_rule: DefectRule::F1Max,
            map_input: job.map_input,
            calibrate_good: Some(job.photos.clone()),
        };
        let (eval, _) = evaluate_in(ctx, &options, &job.device, AblationEvent::Eval)?;
        let result = VariantResult::from_report(variant, &eval, started.elapsed().as_secs_f64())
            .ok_or_else(|| format!("variant {}: the evaluation reported no model", variant.name))?;
        ctx.emit(AblationEvent::Done(Box::new(result.clone())))
            .map_err(|e| e.to_string())?;
        report.results.push(result);
        // Written after every variant, so an interrupted ablation still shows what it did.
        write_report(&job.out, &report)?;
    }
    Ok(report)
}

fn write_report(out: &std::path::Path, report: &AblationReport) -> Result<(), String> {
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    for (name, text) in [
        ("ablation.json", json),
        ("ablation.md", report.markdown()),
        ("ablation.svg", report.svg()),
    ] {
        let path = out.join(name);
        write_atomic(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
