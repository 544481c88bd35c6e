//! The inspection workers, over the [`Inspector`] of [`crate::inspect`]: opening a run (its
//! model, calibration and the dataset's test images), one image with its descent recorded
//! frame by frame, and every image of a folder. The opened inspector is shared by the tasks
//! that use it, one at a time; nothing here runs on the caller's thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Event, Waker, Worker, spawn};
use crate::compute::SelectedDevice;
use crate::dataset::{Manifest, Split};
use crate::imaging::{images_in, read_image};
use crate::inspect::descent::{DescentConfig, TraceFrame};
use crate::inspect::open::run_dir_of;
use crate::inspect::{Calibration, ImageReport, Inspector, OpenOptions, open_inspector};

/// Events buffered before an inspection waits for its reader.
const EVENT_CAPACITY: usize = 64;

/// An opened inspector, used by one task at a time.
pub type SharedInspector = Arc<Mutex<Inspector>>;

/// One recorded iteration: of the model's descent, or of the pose refinement (a round in
/// which a better pose was found).
#[derive(Debug, Clone)]
pub struct RecordedFrame {
    /// The descent iteration, or the refinement round.
    pub iteration: usize,
    pub loss: f32,
    /// What this iteration compares the image with: the model's reconstruction, or the good
    /// product rendered at this round's pose.
    pub reference: Vec<f32>,
    /// The map regions are cut from, against `reference`.
    pub map: Vec<f32>,
}

/// What the opened model is.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub size: usize,
    pub channels: usize,
    pub step: u64,
    pub kind: String,
    pub calibration: Option<Calibration>,
    /// The dataset used for calibration and part names.
    pub data: Option<PathBuf>,
    /// What happened on the way, for the user to read.
    pub notes: Vec<String>,
}

/// An opened run.
pub struct LoadedModel {
    pub info: ModelInfo,
    pub inspector: SharedInspector,
    /// `(label, path)` of the dataset's test images, for a picker.
    pub test_images: Vec<(String, PathBuf)>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("info", &self.info)
            .field("test_images", &self.test_images.len())
            .finish_non_exhaustive()
    }
}

/// What the inspection workers report.
#[derive(Debug)]
pub enum InspectEvent {
    /// The run is open (last event of [`spawn_open_model`]).
    Loaded(Box<LoadedModel>),
    /// The image being inspected, as read (channel-major values in `[0, 1]`).
    Input {
        path: PathBuf,
        image: Vec<f32>,
    },
    /// One iteration of the descent.
    Frame(RecordedFrame),
    /// The image's result (last event of [`spawn_inspect_image`]); an unreadable file gets
    /// an `error` report naming it.
    Report(Box<ImageReport>),
    /// One image of a folder.
    Row(Box<ImageReport>),
    /// The folder is done (last event of [`spawn_inspect_folder`]).
    FolderDone {
        images: usize,
        cancelled: bool,
    },
    Failed(String),
}

impl Event for InspectEvent {
    fn panicked(message: String) -> Self {
        Self::Failed(format!("the inspection panicked: {message}"))
    }
}

/// Takes the inspector; a task that panicked while holding it left it as it was.
fn lock(inspector: &SharedInspector) -> MutexGuard<'_, Inspector> {
    inspector
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens the run (or checkpoint folder) of `options` on `device`, fitting thresholds when
/// needed. The last event is `Loaded` or `Failed`.
pub fn spawn_open_model(
    mut options: OpenOptions,
    device: SelectedDevice,
    waker: Waker,
) -> std::io::Result<Worker<InspectEvent>> {
    spawn("unseen-inspect-open", EVENT_CAPACITY, waker, move |_| {
        options.run_dir = run_dir_of(&options.run_dir);
        let opened = match open_inspector(&options, &device.device) {
            Ok(opened) => opened,
            Err(e) => return InspectEvent::Failed(e.to_string()),
        };
        let i = &opened.inspector;
        let info = ModelInfo {
            size: i.model.image_size(),
            channels: i.model.channels(),
            step: i.model.step,
            kind: format!("{:?}", i.model.kind),
            calibration: i.calibration.clone(),
            data: opened.data.clone(),
            notes: opened.notes.clone(),
        };
        let test_images = opened.data.as_deref().map(test_images).unwrap_or_default();
        InspectEvent::Loaded(Box::new(LoadedModel {
            info,
            inspector: Arc::new(Mutex::new(opened.inspector)),
            test_images,
        }))
    })
}

/// Reads and inspects one image with `descent` (its batch size is 1) and, when the calibrated
/// detector renders the product, at most `refine_rounds` refinement rounds (the calibrated
/// budget when `None`). Every iteration is reported with what the image was compared with
/// and its map: the descent's reconstructions as they are made, or the refinement's poses,
/// each rendered, once it has finished. The last event is `Report`.
pub fn spawn_inspect_image(
    inspector: SharedInspector,
    path: PathBuf,
    descent: DescentConfig,
    refine_rounds: Option<usize>,
    waker: Waker,
) -> std::io::Result<Worker<InspectEvent>> {
    spawn("unseen-inspect", EVENT_CAPACITY, waker, move |ctx| {
        let mut inspector = lock(&inspector);
        let (size, channels) = (inspector.model.image_size(), inspector.model.channels());
        let image = match read_image(&path, size, channels) {
            Ok(image) => image,
            Err(e) => return InspectEvent::Report(Box::new(error_report(&path, &e.to_string()))),
        };
        if ctx
            .emit(InspectEvent::Input {
                path: path.clone(),
                image: image.clone(),
            })
            .is_err()
        {
            return InspectEvent::Failed("nobody is waiting for the inspection".into());
        }
        inspector.settings.descent = DescentConfig {
            batch_size: 1,
            ..descent
        };
        if let Some(rounds) = refine_rounds {
            inspector.settings.refine_rounds = rounds;
            inspector.settings.choose_budget = false;
        }
        let inspector: &Inspector = &inspector;
        // The heatmap of every frame is the map the regions are cut from.
        let shown = inspector.region_settings();
        let rendered = inspector
            .calibration
            .as_ref()
            .is_some_and(Calibration::needs_synthesis);
        if shown.against == crate::inspect::Against::Lookup && !rendered {
            // The lookup has no iterations: one frame, the nearest training render and the
            // map against the renders.
            let Some(mut report) = inspector.inspect_images(&image, 1, None).pop() else {
                return InspectEvent::Failed("the inspection returned nothing".into());
            };
            let _ = ctx.emit(InspectEvent::Frame(RecordedFrame {
                iteration: 0,
                loss: report.loss,
                reference: report.reference.clone(),
                map: report.map.clone(),
            }));
            report.path = Some(path);
            return InspectEvent::Report(Box::new(report));
        }
        if rendered {
            let Some(mut report) = inspector.inspect_images(&image, 1, None).pop() else {
                return InspectEvent::Failed("the inspection returned nothing".into());
            };
            for frame in refinement_frames(inspector, &image, &report, &shown) {
                if ctx.emit(InspectEvent::Frame(frame)).is_err() {
                    break;
                }
            }
            report.path = Some(path);
            return InspectEvent::Report(Box::new(report));
        }
        let mut trace = |frame: &TraceFrame<'_>| {
            let map = inspector
                .maps(&image, &[frame.reconstruction], &shown)
                .pop()
                .unwrap_or_default();
            // A reader that went away stops hearing the frames; the descent finishes anyway.
            let _ = ctx.emit(InspectEvent::Frame(RecordedFrame {
                iteration: frame.iteration,
                loss: frame.loss,
                reference: frame.reconstruction.to_vec(),
                map,
            }));
        };
        match inspector.inspect_images(&image, 1, Some(&mut trace)).pop() {
            Some(mut report) => {
                report.path = Some(path);
                InspectEvent::Report(Box::new(report))
            }
            None => InspectEvent::Failed("the inspection returned nothing".into()),
        }
    })
}

/// The refinement of `report` replayed: the good product rendered at each pose the
/// refinement accepted, through the final exposure, with the map against it. The last frame
/// is the report's own reference and map. Each frame's loss is measured anew on one scale,
/// the image against that frame's reference at full sharpness: the refinement's own losses
/// at its blurred and sharp levels are not comparable, and plotted together they rose where
/// the search moved from one level to the next.
pub fn refinement_frames(
    inspector: &Inspector,
    image: &[f32],
    report: &ImageReport,
    shown: &crate::inspect::ScoreSettings,
) -> Vec<RecordedFrame> {
    let (Some(synthesis), Some(synthesizer)) = (&report.synthesis, inspector.synthesizer()) else {
        return Vec::new();
    };
    let refinement = &synthesis.refinement;
    let steps = &refinement.steps;
    let poses: Vec<_> = steps
        .iter()
        .map(|s| (s.pose, refinement.gain, refinement.bias))
        .collect();
    let Ok(references) = synthesizer.render_at(&poses) else {
        return Vec::new();
    };
    let size = inspector.model.image_size();
    let image_len = inspector.model.config.image_len();
    let grey = inspector.grey(image);
    let sharp_loss = |reference: &[f32]| synthesizer.settings.finest_loss(&grey, reference, size);
    let mut frames: Vec<RecordedFrame> = steps
        .iter()
        .zip(references)
        .map(|(step, reference)| {
            let replicated: Vec<f32> = reference.iter().copied().cycle().take(image_len).collect();
            RecordedFrame {
                iteration: step.round,
                loss: sharp_loss(&reference),
                map: crate::inspect::score::anomaly_map(image, &replicated, size, shown),
                reference: replicated,
            }
        })
        .collect();
    if let Some(last) = frames.last_mut() {
        last.reference = report
            .reference
            .iter()
            .copied()
            .cycle()
            .take(image_len)
            .collect();
        last.map = report.map.clone();
        last.iteration = refinement.rounds;
        last.loss = sharp_loss(&synthesis.reference);
    }
    frames
}

/// Inspects every PNG and JPEG image of `folder`, `descent.batch_size` at a time, one `Row`
/// per image; pausing and cancelling take effect between batches. The last event is
/// `FolderDone` or `Failed`.
pub fn spawn_inspect_folder(
    inspector: SharedInspector,
    folder: PathBuf,
    descent: DescentConfig,
    refine_rounds: Option<usize>,
    waker: Waker,
) -> std::io::Result<Worker<InspectEvent>> {
    spawn("unseen-inspect-folder", EVENT_CAPACITY, waker, move |ctx| {
        let paths = match images_in(&folder) {
            Ok(paths) if paths.is_empty() => {
                return InspectEvent::Failed(format!(
                    "{} holds no PNG or JPEG images",
                    folder.display()
                ));
            }
            Ok(paths) => paths,
            Err(e) => return InspectEvent::Failed(e.to_string()),
        };
        let mut inspector = lock(&inspector);
        inspector.settings.descent = descent;
        if let Some(rounds) = refine_rounds {
            inspector.settings.refine_rounds = rounds;
            inspector.settings.choose_budget = false;
        }
        let mut images = 0;
        for chunk in paths.chunks(descent.batch_size.max(1)) {
            if ctx.checkpoint().is_err() {
                return InspectEvent::FolderDone {
                    images,
                    cancelled: true,
                };
            }
            for report in inspector.inspect_paths(chunk) {
                images += 1;
                if ctx.emit(InspectEvent::Row(Box::new(report))).is_err() {
                    return InspectEvent::FolderDone {
                        images,
                        cancelled: true,
                    };
                }
            }
        }
        InspectEvent::FolderDone {
            images,
            cancelled: false,
        }
    })
}

/// The report of an image that could not be read: an error, never a pass.
fn error_report(path: &Path, message: &str) -> ImageReport {
    ImageReport::error(
        Some(path.to_path_buf()),
        crate::inspect::ScoreKind::default(),
        message.to_string(),
    )
}

/// `(label, path)` of the test images of a dataset, for a picker (none when it has no
/// readable manifest).
pub fn test_images(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(manifest) = Manifest::load_dir(dir) else {
        return Vec::new();
    };
    manifest
        .samples_of(Split::Test)
        .map(|s| {
            (
                format!("{} {:04}", s.id.class, s.id.index),
                dir.join(&s.image),
            )
        })
        .collect()
}
