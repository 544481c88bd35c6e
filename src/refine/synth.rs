//! The good product rendered at each image's own pose: start poses from the training renders,
//! refinement, then the reference render with its part map and depth, drawn as the dataset
//! drew its images. What inspection compares an image with.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::bank::{BankError, PoseBank};
use super::pose::ScenePose;
use super::scene::Scene;
use super::solve::{RefineError, RefineInput, RefineSettings, Refinement, refine};
use crate::dataset::{Manifest, Recipe};
use crate::render::{Gpu, RenderError, Renderer};

/// Renders shortlisted by block means before the exact ranking of start poses.
const START_SHORTLIST: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("training dataset {path}: {message}")]
    Dataset { path: String, message: String },
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Refine(#[from] RefineError),
}

/// One image's refined pose and the good product rendered there.
#[derive(Debug, Clone)]
pub struct Synthesis {
    pub refinement: Refinement,
    /// The render at the refined pose through the fitted exposure: what the image should look
    /// like, grey levels in [0, 1].
    pub reference: Vec<f32>,
    /// Part id per pixel of the reference (0 = background).
    pub part: Vec<u8>,
    /// Depth per pixel of the reference (0 = background).
    pub depth: Vec<f32>,
    /// The product at the refined pose turned by the pose tolerance either way about the
    /// camera's x, y and z axes (in that order), through the same exposure; empty when no
    /// tolerance was asked for.
    pub around: Vec<Vec<f32>>,
}

/// Everything needed to render references for images of one training dataset. Cheap to
/// clone; renders are serialised through one renderer.
#[derive(Clone)]
pub struct Synthesizer {
    renderer: Arc<Mutex<Renderer>>,
    scene: Arc<Scene>,
    bank: Arc<PoseBank>,
    parts: Arc<std::collections::BTreeMap<u8, String>>,
    pub settings: RefineSettings,
    /// Whether the recipe varies the picture's size and its exposure: what the refinement
    /// searches for renders of it.
    varies: (bool, bool),
}

impl std::fmt::Debug for Synthesizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synthesizer")
            .field("renders", &self.bank.len())
            .field("size", &self.scene.size)
            .field("settings", &self.settings)
            .finish()
    }
}

impl Synthesizer {
    /// Opens the training dataset in `dir`: its recipe and product make the scene, its good
    /// training renders (with their poses) the start poses. Renders on `gpu`.
    pub fn open(dir: &Path, gpu: Gpu) -> Result<Self, SynthError> {
        let manifest_path = dir.join("manifest.json");
        let manifest = Manifest::load(&manifest_path).map_err(|e| SynthError::Dataset {
            path: manifest_path.display().to_string(),
            message: e.to_string(),
        })?;
        let renderer = Renderer::new(gpu);
        // An imported product's mesh is read from where the render found it; the dataset's
        // mesh hash then says whether it is still the same.
        let mut product = manifest.product.clone();
        if let (Some(import), Some(record)) = (&mut product.import, &manifest.import)
            && import.source_dir.is_none()
        {
            import.source_dir.clone_from(&record.source_dir);
        }
        let scene = Scene::for_recipe(&renderer, &manifest.recipe, &product).map_err(|e| {
            SynthError::Dataset {
                path: manifest_path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        let bank = PoseBank::load(dir)?;
        // Renders of one recipe are centred, of one size and one exposure, unless the recipe
        // varies them: then the refinement searches what it varies (a reference at the
        // recipe's distance cannot match a render drawn nearer).
        let settings = recipe_settings(&manifest.recipe);
        Ok(Self {
            varies: (settings.search_offset_scale, settings.fit_exposure),
            renderer: Arc::new(Mutex::new(renderer)),
            scene: Arc::new(scene),
            bank: Arc::new(bank),
            parts: Arc::new(manifest.parts),
            settings,
        })
    }

    /// Photos are not renders of the recipe: a line's camera never centres a part exactly,
    /// frames it at exactly the recipe's distance or exposes every photo alike. With `photos`
    /// the refinement searches the picture's offset, zoom and exposure as well; without, it
    /// searches what the recipe varies (see [`Self::open`]). Photos also keep every start
    /// pose's try and the sweep of turns even where a try is pinned, and one Jacobian turn at
    /// every level ([`RefineSettings::photo_levels`]): that is how the line's photos were
    /// measured, and a photo's residual is not a render's (see `docs/photos.md`).
    pub fn set_photos(&mut self, photos: bool) {
        let renders = RefineSettings::default();
        self.settings.search_offset_scale = photos || self.varies.0;
        self.settings.fit_exposure = photos || self.varies.1;
        (
            self.settings.max_tries,
            self.settings.axis_pinned_rise,
            self.settings.levels,
        ) = if photos {
            // Every start pose looked up may be tried.
            (
                self.settings.start_poses,
                None,
                RefineSettings::photo_levels(),
            )
        } else {
            (renders.max_tries, renders.axis_pinned_rise, renders.levels)
        };
    }

    pub fn image_size(&self) -> usize {
        self.scene.size as usize
    }

    pub fn bank(&self) -> &PoseBank {
        &self.bank
    }

    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// The product's part names by id.
    pub fn part_names(&self) -> &std::collections::BTreeMap<u8, String> {
        &self.parts
    }

    /// Renders the references at `poses` (as the dataset drew its images), each through its
    /// exposure `(gain, bias)`: for replaying a refinement step by step.
    pub fn render_at(&self, poses: &[(ScenePose, f32, f32)]) -> Result<Vec<Vec<f32>>, SynthError> {
        let mut renderer = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
        let plain: Vec<ScenePose> = poses.iter().map(|p| p.0).collect();
        let frames = self.scene.render_references(&mut renderer, &plain)?;
        Ok(frames
            .iter()
            .zip(poses)
            .map(|(f, (_, gain, bias))| {
                self.scene
                    .shade(f)
                    .into_iter()
                    .map(|v| (gain * v + bias).clamp(0.0, 1.0))
                    .collect()
            })
            .collect())
    }

    /// Refines each image's pose for at most `rounds` rounds and renders its reference.
    /// Images are grey, [0, 1], the scene's size.
    /// A try ending above `retry_above` retries (see [`RefineSettings::retry_above`]).
    pub fn synthesize(
        &self,
        images: &[&[f32]],
        rounds: usize,
        retry_above: Option<f32>,
        deadline: Option<Instant>,
        tolerance_deg: f32,
    ) -> Result<Vec<Synthesis>, SynthError> {
        let inputs: Vec<RefineInput<'_>> = images
            .iter()
            .map(|image| RefineInput {
                image,
                starts: self
                    .bank
                    .nearest(image, self.settings.start_poses.max(1), START_SHORTLIST)
                    .into_iter()
                    .map(|i| self.bank.pose(i))
                    .collect(),
            })
            .collect();
        let settings = RefineSettings {
            max_rounds: rounds,
            retry_above,
            ..self.settings.clone()
        };
        let mut renderer = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
        let refined = refine(&self.scene, &mut renderer, &inputs, &settings, deadline)?;
        let poses: Vec<_> = refined.iter().map(|r| r.pose).collect();
        let frames = self.scene.render_references(&mut renderer, &poses)?;
        let turns = turned_both_ways(&poses, tolerance_deg);
        let mut around = if turns.is_empty() {
            Vec::new()
        } else {
            self.scene
                .render_candidates_from(&mut renderer, &turns, true)?
        }
        .into_iter();
        Ok(refined
            .into_iter()
            .zip(frames)
            .map(|(refinement, frame)| {
                let (gain, bias) = (refinement.gain, refinement.bias);
                let exposed = |frame: &crate::render::Frame| -> Vec<f32> {
                    self.scene
                        .shade(frame)
                        .into_iter()
                        .map(|v| (gain * v + bias).clamp(0.0, 1.0))
                        .collect()
                };
                let reference = exposed(&frame);
                let around = around.by_ref().take(TURNS).map(|f| exposed(&f)).collect();
                Synthesis {
                    refinement,
                    reference,
                    part: frame.part,
                    depth: frame.depth,
                    around,
                }
            })
            .collect())
    }
}

/// Turns of each pose rendered for a pose-tolerant map: both ways about x, y and z.
const TURNS: usize = 6;

/// Each pose turned by `degrees` either way about the camera's x, y and z axes; none when
/// `degrees` is not positive.
fn turned_both_ways(poses: &[ScenePose], degrees: f32) -> Vec<ScenePose> {
    if degrees.is_nan() || degrees <= 0.0 {
        return Vec::new();
    }
    let angle = f64::from(degrees).to_radians();
    poses
        .iter()
        .flat_map(|pose| {
            (0..TURNS).map(move |k| {
                let mut delta = [0.0; super::pose::PARAMS];
                delta[k / 2] = if k % 2 == 0 { angle } else { -angle };
                pose.moved(&delta)
            })
        })
        .collect()
}

/// The refinement's settings for renders of `recipe`: the offset and zoom are searched only
/// where the recipe varies them, the exposure only where it varies the light or the camera's
/// response.
pub fn recipe_settings(recipe: &Recipe) -> RefineSettings {
    let r = &recipe.randomize;
    RefineSettings {
        search_offset_scale: r.camera_distance.is_some() || r.offset_px.is_some(),
        fit_exposure: r.intensity.is_some()
            || r.ambient.is_some()
            || r.gamma.is_some()
            || r.black_level.is_some(),
        ..RefineSettings::default()
    }
}
