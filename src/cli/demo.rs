//! `unseen demo`: the main job headless on the built-in cap, each stage resumable: render the
//! default dataset and a held-out evaluation set, train the baseline and the GAN, evaluate and
//! compare them. The stages are [`crate::eval::demo`]'s, run by the demo worker (the
//! workbench's quick demo runs the same); this shows their progress.

use std::path::PathBuf;

use super::eval::{EvalBar, print_summary};
use super::render::RenderBar;
use super::train::TrainProgress;
use crate::compute::{ComputeDevice, select_device};
use crate::dataset::layout;
use crate::eval::demo::DemoPlan;
use crate::worker::Waker;
use crate::worker::demo::{DemoEvent, DemoJob, spawn_demo};

/// Run the main job headless on the built-in cap: render the default dataset and a held-out
/// evaluation set, train the GAN and the autoencoder + SOM baseline, evaluate and compare them.
/// Every stage resumes: rerunning with the same `--out` skips what is done.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "unseen-demo", value_name = "DIR")]
    pub out: PathBuf,
    /// About two minutes instead of about thirty: small datasets, short training, a weak but
    /// real model and report.
    #[arg(long)]
    pub quick: bool,
    /// GAN steps after starting from the trained autoencoder (default 400; 100 with --quick).
    #[arg(long)]
    pub gan_steps: Option<u64>,
    /// Autoencoder training steps (default 6000; 300 with --quick).
    #[arg(long)]
    pub ae_steps: Option<u64>,
    /// Where to compute.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ComputeDevice::Auto)]
    pub device: ComputeDevice,
}

impl DemoArgs {
    /// The plan the options ask for.
    pub fn plan(&self) -> DemoPlan {
        let mut plan = if self.quick {
            DemoPlan::quick()
        } else {
            DemoPlan::full()
        };
        plan.gan_steps = self.gan_steps.unwrap_or(plan.gan_steps);
        plan.ae_steps = self.ae_steps.unwrap_or(plan.ae_steps);
        plan
    }
}

/// What the terminal shows of the stage under way.
enum StageProgress {
    None,
    Render(RenderBar),
    Train(TrainProgress),
    Eval(EvalBar),
}

pub fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let device = select_device(args.device)?;
    let job = DemoJob {
        plan: args.plan(),
        out: args.out.clone(),
        gpu: None,
        device,
    };
    let worker = spawn_demo(job, Waker::none())?;
    let mut progress = StageProgress::None;
    let mut outcome = Err(anyhow::anyhow!("the demo ended without a result"));
    for event in worker.events().iter() {
        match event {
            DemoEvent::Stage {
                number,
                count,
                title,
            } => {
                eprintln!("[{number}/{count}] {title}");
                progress = StageProgress::None;
            }
            DemoEvent::UpToDate(dir) => {
                eprintln!(
                    "      {} is up to date",
                    layout::manifest_path(&dir).display()
                );
            }
            DemoEvent::Render(event) => {
                if !matches!(progress, StageProgress::Render(_)) {
                    progress = StageProgress::Render(RenderBar::new());
                }
                if let StageProgress::Render(bar) = &progress
                    && let Some(Ok((samples, secs))) = bar.show(&event)
                {
                    eprintln!("      {samples} samples in {secs:.1} s");
                }
            }
            DemoEvent::Train(event) => {
                if !matches!(progress, StageProgress::Train(_)) {
                    progress = StageProgress::Train(TrainProgress::new()?);
                }
                if let StageProgress::Train(bar) = &mut progress {
                    // A failed training ends the demo with its error, below.
                    let _ = bar.show(event);
                }
            }
            DemoEvent::Eval(p) => {
                if !matches!(progress, StageProgress::Eval(_)) {
                    progress = StageProgress::Eval(EvalBar::new());
                }
                if let StageProgress::Eval(bar) = &progress {
                    bar.show(&p);
                }
            }
            DemoEvent::Finished(done) => {
                if let StageProgress::Eval(bar) = &progress {
                    bar.finish(&done.files);
                }
                print_summary(&done.report);
                eprintln!(
                    "demo finished in {:.1} min; open {}",
                    done.elapsed_secs / 60.0,
                    done.files.html.display()
                );
                outcome = Ok(());
            }
            DemoEvent::Cancelled { stage } => {
                outcome = Err(anyhow::anyhow!("the demo was cancelled in stage {stage}"));
            }
            DemoEvent::Failed(message) => outcome = Err(anyhow::anyhow!(message)),
        }
    }
    worker.join();
    outcome
}
