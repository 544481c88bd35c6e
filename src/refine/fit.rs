//! Fitting the renderer's scene to a line's good photos, by analysis by synthesis.
//!
//! Every photo shares the light, the material, the camera's response curve, black level,
//! blur and distance; each has its own pose. The fit alternates two steps:
//! 1. each photo's pose (rotation, offset, zoom, exposure) is refined under the current scene
//!    by [`super::solve::refine`], starting from a bank of renders drawn with that scene;
//! 2. the shared parameters are searched with the poses held, by Nelder–Mead over a bounded
//!    parametrisation, minimising the photos' robust residual against their renders with no
//!    per-photo exposure (so the shared light carries the level).
//!
//! In the last alternation, between the two, the field of view is searched: the perspective
//! the photos show (each photo's pose refined again through each lens tried), the camera
//! distance moving with it so the picture's scale at the product's centre stays.
//!
//! Then the camera distance takes the photos' mean zoom, the noise is measured on the
//! residual inside the product, and the spread of each photo's own values (zoom, exposure)
//! proposes the ranges the recipe randomises.

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::bank::PoseBank;
use super::compare::cauchy;
use super::pose::ScenePose;
use super::scene::Scene;
use super::solve::{RefineError, RefineInput, RefineSettings, refine};
use crate::dataset::layout::GOOD;
use crate::dataset::recipe::{CAMERA_DISTANCE, Recipe};
use crate::dataset::sample::{SampleId, draw_view};
use crate::render::{Frame, Lighting, PART_AMBIENT_IDS, RenderError, Renderer, Sensor};

/// How the fit searches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitSettings {
    /// Alternations of pose refinement and shared search.
    pub alternations: usize,
    /// Start poses rendered for the pose refinement (drawn as the recipe draws its poses).
    pub bank: usize,
    /// Evaluations of the shared loss per alternation (each renders every photo once).
    pub evaluations: usize,
    /// Render rounds each photo's pose refinement may take.
    pub refine_rounds: usize,
    /// Scale of the robust loss, in grey levels of [0, 1].
    pub robust_scale: f32,
    /// Search the field of view in the last alternation (the perspective the photos show, the
    /// picture's scale held by the camera distance); off keeps the recipe's.
    #[serde(default = "searched")]
    pub field_of_view: bool,
}

fn searched() -> bool {
    true
}

impl Default for FitSettings {
    fn default() -> Self {
        Self {
            alternations: 4,
            bank: 1024,
            evaluations: 400,
            refine_rounds: 60,
            robust_scale: 0.05,
            field_of_view: true,
        }
    }
}

impl FitSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=20).contains(&self.alternations) {
            return Err(format!(
                "alternations must be 1 to 20, got {}",
                self.alternations
            ));
        }
        if !(16..=100_000).contains(&self.bank) {
            return Err(format!("bank must be 16 to 100000, got {}", self.bank));
        }
        if !(10..=10_000).contains(&self.evaluations) {
            return Err(format!(
                "evaluations must be 10 to 10000, got {}",
                self.evaluations
            ));
        }
        if self.refine_rounds > RefineSettings::MAX_ROUNDS {
            return Err(format!(
                "refine_rounds must be at most {}, got {}",
                RefineSettings::MAX_ROUNDS,
                self.refine_rounds
            ));
        }
        if !(self.robust_scale.is_finite() && self.robust_scale > 0.0 && self.robust_scale <= 1.0) {
            return Err(format!(
                "robust_scale must be in (0, 1], got {}",
                self.robust_scale
            ));
        }
        Ok(())
    }
}

/// The parameters every photo shares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    pub lighting: Lighting,
    pub sensor: Sensor,
}

/// Shared parameters searched: [`HEAD`] for the scene and the camera, then one extra ambient
/// per part id ([`PART_AMBIENT_IDS`]; a part the photos never show keeps its start).
const DIMS: usize = HEAD + PART_AMBIENT_IDS;
/// The scene's and camera's own coordinates, ahead of the parts' ambient light.
const HEAD: usize = 10;

/// Initial simplex step per parametrised dimension (see [`Shared::to_vector`]).
const STEPS: [f64; DIMS] = [
    0.4, 0.4, 0.25, 0.4, 1.0, 0.5, 0.2, 0.01, 0.4, 0.3, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05,
    0.05,
];

/// Floor of the highlight strength in the log parametrisation: below it counts as none.
const SPECULAR_FLOOR: f64 = 1e-3;

impl Shared {
    /// The search's coordinates: light direction (x/z, y/z: the light stays in front of the
    /// product), ln intensity, ln ambient, ln highlight strength, ln shininess, ln gamma,
    /// black level, blur, shadow strength, then each part's extra ambient.
    fn to_vector(self) -> [f64; DIMS] {
        let d = self.lighting.direction_unit().as_dvec3();
        let z = d.z.max(0.05);
        let l = &self.lighting;
        let head = [
            d.x / z,
            d.y / z,
            f64::from(l.intensity.max(1e-3)).ln(),
            f64::from(l.ambient.max(1e-3)).ln(),
            (f64::from(l.specular) + SPECULAR_FLOOR).ln(),
            f64::from(l.shininess.max(1.0)).ln(),
            f64::from(self.sensor.gamma).ln(),
            f64::from(self.sensor.black_level),
            f64::from(self.sensor.blur_px),
            f64::from(l.shadow),
        ];
        std::array::from_fn(|i| match i {
            0..HEAD => head[i],
            _ => f64::from(l.part_ambient[i - HEAD]),
        })
    }

    /// The parameters at `x`, each held within its bounds; `albedo` is kept (the intensity
    /// and ambient absorb it).
    fn from_vector(x: &[f64; DIMS], albedo: f32) -> Self {
        let dir = DVec3::new(x[0].clamp(-6.0, 6.0), x[1].clamp(-6.0, 6.0), 1.0).normalize();
        let specular = (x[4].exp() - SPECULAR_FLOOR).clamp(0.0, 5.0);
        Self {
            lighting: Lighting {
                direction: dir.as_vec3().to_array(),
                intensity: x[2].exp().clamp(0.01, 10.0) as f32,
                ambient: x[3].exp().clamp(0.0, 1.0) as f32,
                albedo,
                specular: specular as f32,
                shininess: x[5].exp().clamp(1.0, 512.0) as f32,
                part_ambient: std::array::from_fn(|i| x[HEAD + i].clamp(-1.0, 1.0) as f32),
                shadow: x[9].clamp(0.0, 1.0) as f32,
            },
            sensor: Sensor {
                gamma: x[6].exp().clamp(0.25, 4.0) as f32,
                black_level: x[7].clamp(0.0, 0.5) as f32,
                blur_px: x[8].clamp(0.0, 3.0) as f32,
            },
        }
    }
}

/// One photo's part of the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoFit {
    pub name: String,
    pub pose: ScenePose,
    /// Exposure of the photo against the fitted render (1 and 0 for a line whose exposure
    /// never changes).
    pub gain: f32,
    pub bias: f32,
    /// Mean robust loss against the render at its pose, without its own exposure: under the
    /// starting recipe's scene and under the fitted one.
    pub loss_before: f32,
    pub loss_after: f32,
    /// Mean absolute difference in grey levels (0–255), before and after.
    pub mean_abs_before: f32,
    pub mean_abs_after: f32,
    /// The same over the pixels the product covers in the render.
    pub product_abs_before: f32,
    pub product_abs_after: f32,
}

/// A fitted value and how much the photos disagree on it (for values each photo has).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedValue {
    pub name: String,
    pub value: f64,
    /// Standard deviation over the photos, where each photo has its own value.
    pub spread: Option<f64>,
    pub unit: String,
}

/// What the fit found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitOutcome {
    pub settings: FitSettings,
    /// Scene parameters the fit started from and ended at.
    pub start: Shared,
    pub fitted: Shared,
    pub camera_distance_start: f64,
    pub camera_distance: f64,
    /// Noise σ measured inside the product, grey levels (0–255).
    pub noise_sigma: f64,
    pub values: Vec<FittedValue>,
    pub photos: Vec<PhotoFit>,
    /// Mean shared loss after each alternation's search.
    pub history: Vec<f32>,
    /// The recipe with the fitted scene and the proposed ranges.
    pub recipe: Recipe,
    /// Photo | render | difference rows before and after (grey, for the contact sheets).
    #[serde(skip)]
    pub renders_before: Vec<Vec<f32>>,
    #[serde(skip)]
    pub renders_after: Vec<Vec<f32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Refine(#[from] RefineError),
    #[error("{0}")]
    Invalid(String),
    #[error("the fit was cancelled")]
    Cancelled,
}

/// Photos by name, each grey in [0, 1] at the scene's size.
pub type Photos = Vec<(String, Vec<f32>)>;

/// Up to `count` good photos of `dir` (a folder of images, or an MVTec AD folder's
/// train/good), spread evenly through it, as grey values of `size`² brought there by `rule`;
/// with the number of good photos found. A photo that cannot be read is an error naming it.
pub fn load_photos(
    dir: &std::path::Path,
    size: usize,
    count: usize,
    rule: crate::imaging::MapInput,
) -> Result<(Photos, usize), FitError> {
    let all = crate::dataset::photos::good_photos(dir)
        .map_err(|e| FitError::Invalid(format!("{}: {}", e.path.display(), e.message)))?;
    let used = count.clamp(1, all.len());
    let mut photos = Vec::with_capacity(used);
    for i in 0..used {
        let path = &all[i * all.len() / used];
        let read = crate::imaging::decode_image(path)
            .and_then(|image| crate::imaging::map_image(&image, path, size, 1, rule));
        let (values, _) = read.map_err(|e| FitError::Invalid(e.to_string()))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        photos.push((name, values));
    }
    Ok((photos, all.len()))
}

/// Candidate start poses per photo from the bank.
const STARTS: usize = 4;
/// Bank renders compared at full size per photo.
const SHORTLIST: usize = 64;

/// Fits `scene` (made from `recipe`) to `photos` (grey, [0, 1], the scene's size), reporting
/// progress through `note` after each alternation; `note` returning false cancels the fit.
/// The scene ends with the fitted parameters.
pub fn fit_scene(
    scene: &mut Scene,
    renderer: &mut Renderer,
    recipe: &Recipe,
    photos: &[(String, Vec<f32>)],
    settings: &FitSettings,
    note: &mut dyn FnMut(String) -> bool,
) -> Result<FitOutcome, FitError> {
    settings.validate().map_err(FitError::Invalid)?;
    let pixels = (scene.size * scene.size) as usize;
    if photos.is_empty() {
        return Err(FitError::Invalid("no photos to fit".into()));
    }
    if let Some((name, p)) = photos.iter().find(|(_, p)| p.len() != pixels) {
        return Err(FitError::Invalid(format!(
            "{name} has {} pixels, the scene renders {pixels}",
            p.len()
        )));
    }
    let start = Shared {
        lighting: scene.lighting,
        sensor: scene.sensor,
    };
    let distance_start = f64::from(scene.base.distance);
    let images: Vec<&[f32]> = photos.iter().map(|(_, p)| p.as_slice()).collect();
    let mut current = start;
    let mut poses: Vec<ScenePose>;
    let mut free: Option<[bool; PART_AMBIENT_IDS]> = None;
    let mut history = Vec::new();
    let mut before: Option<Vec<Residual>> = None;
    let mut renders_before = Vec::new();
    for round in 0..settings.alternations {
        apply(scene, &current);
        let bank = render_bank(scene, renderer, recipe, settings.bank)?;
        let refined = refine_poses(scene, renderer, &bank, &images, settings)?;
        poses = refined.iter().map(|r| r.0).collect();
        if round == 0 {
            // The starting scene at the photos' poses: the "before" of the report.
            let renders = render_shades(scene, renderer, &poses)?;
            before = Some(residuals(&images, &renders, settings.robust_scale));
            renders_before = renders.into_iter().map(|r| r.0).collect();
        }
        if round + 1 == settings.alternations {
            // The mean zoom becomes the camera's distance before the last search; each pose
            // keeps only its own departure from it.
            let mean_log_scale =
                poses.iter().map(|p| p.log_scale).sum::<f64>() / poses.len() as f64;
            scene.base.distance = (f64::from(scene.base.distance) * (-mean_log_scale).exp())
                .clamp(CAMERA_DISTANCE[0], CAMERA_DISTANCE[1])
                as f32;
            for p in &mut poses {
                p.log_scale -= mean_log_scale;
            }
        }
        // The lens last, once the light and the response are near: through a mismatched light
        // the perspective is read wrong.
        if settings.field_of_view && round + 1 == settings.alternations {
            let fov =
                search_field_of_view(scene, renderer, &images, &poses, settings.robust_scale)?;
            hold_scale_at(&mut scene.base, fov);
        }
        // Chosen once: a part fixed in one alternation and free in the next would let the
        // parts' light drift against the scene's ambient.
        let free_parts = match free {
            Some(f) => f,
            None => *free.insert(free_parts(scene, renderer, &poses)?),
        };
        let (best, loss) = search_shared(
            scene,
            renderer,
            &images,
            &poses,
            current,
            &free_parts,
            settings,
        )?;
        current = best;
        history.push(loss);
        if !note(format!(
            "alternation {}/{}: mean robust loss {loss:.6} over {} photos (field of view \
             {:.1}°, camera distance {:.2})",
            round + 1,
            settings.alternations,
            photos.len(),
            scene.base.fov_y_deg,
            scene.base.distance
        )) {
            return Err(FitError::Cancelled);
        }
    }
    // The poses once more under the fitted scene: the "after" of the report, and the spread
    // the ranges are proposed from.
    apply(scene, &current);
    let bank = render_bank(scene, renderer, recipe, settings.bank)?;
    let refined = refine_poses(scene, renderer, &bank, &images, settings)?;
    poses = refined.iter().map(|r| r.0).collect();
    let exposures: Vec<(f32, f32)> = refined.iter().map(|r| (r.1, r.2)).collect();
    let renders = render_shades(scene, renderer, &poses)?;
    let after = residuals(&images, &renders, settings.robust_scale);
    let renders_after: Vec<Vec<f32>> = renders.into_iter().map(|r| r.0).collect();
    let before = before.unwrap_or_else(|| after.clone());
    let noise_sigma = noise_sigma(scene, renderer, &images, &poses)?;

    let photos_out: Vec<PhotoFit> = photos
        .iter()
        .enumerate()
        .map(|(i, (name, _))| PhotoFit {
            name: name.clone(),
            pose: poses[i],
            gain: exposures[i].0,
            bias: exposures[i].1,
            loss_before: before[i].loss,
            loss_after: after[i].loss,
            mean_abs_before: before[i].abs,
            mean_abs_after: after[i].abs,
            product_abs_before: before[i].abs_product,
            product_abs_after: after[i].abs_product,
        })
        .collect();
    let stats = |values: Vec<f64>| {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    };
    let (scale_mean, scale_spread) = stats(poses.iter().map(|p| p.log_scale).collect());
    let (offset_x, offset_x_spread) = stats(poses.iter().map(|p| p.offset_px.x).collect());
    let (offset_y, offset_y_spread) = stats(poses.iter().map(|p| p.offset_px.y).collect());
    let (gain, gain_spread) = stats(exposures.iter().map(|e| f64::from(e.0)).collect());
    let (bias, bias_spread) = stats(exposures.iter().map(|e| f64::from(e.1)).collect());
    // Clamped again in f64: the scene's f32 distance may round just below the nearest allowed.
    let camera_distance =
        f64::from(scene.base.distance).clamp(CAMERA_DISTANCE[0], CAMERA_DISTANCE[1]);
    let field_of_view = f64::from(scene.base.fov_y_deg);
    let l = current.lighting;
    let s = current.sensor;
    let dir = l.direction_unit();
    let value = |name: &str, value: f64, spread: Option<f64>, unit: &str| FittedValue {
        name: name.into(),
        value,
        spread,
        unit: unit.into(),
    };
    let mut values = vec![
        value(
            "light elevation from the view axis",
            f64::from(dir.z.clamp(-1.0, 1.0).acos().to_degrees()),
            None,
            "°",
        ),
        value(
            "light azimuth (0 = right, 90 = up)",
            f64::from(dir.y.atan2(dir.x).to_degrees()),
            None,
            "°",
        ),
        value("light intensity", f64::from(l.intensity), None, ""),
        value("ambient", f64::from(l.ambient), None, ""),
        value("albedo (kept)", f64::from(l.albedo), None, ""),
        value("highlight strength", f64::from(l.specular), None, ""),
        value("shininess", f64::from(l.shininess), None, ""),
        value("shadow strength", f64::from(l.shadow), None, ""),
        value("gamma", f64::from(s.gamma), None, ""),
        value(
            "black level",
            f64::from(s.black_level) * 255.0,
            None,
            "grey levels",
        ),
        value("blur σ", f64::from(s.blur_px), None, "px"),
        value("noise σ", noise_sigma, None, "grey levels"),
        value("camera distance", camera_distance, None, "units"),
        value("field of view (vertical)", field_of_view, None, "°"),
        value(
            "zoom against the camera distance (ln)",
            scale_mean,
            Some(scale_spread),
            "",
        ),
        value("picture offset x", offset_x, Some(offset_x_spread), "px"),
        value("picture offset y", offset_y, Some(offset_y_spread), "px"),
        value("exposure gain", gain, Some(gain_spread), ""),
        value(
            "exposure offset",
            bias * 255.0,
            Some(bias_spread * 255.0),
            "grey levels",
        ),
    ];
    for (i, extra) in l.part_ambient.iter().enumerate() {
        if extra.abs() > 1e-4 {
            values.push(value(
                &format!("extra ambient of part id {}", i + 1),
                f64::from(*extra),
                None,
                "",
            ));
        }
    }

    let mut fitted_recipe = recipe.clone();
    fitted_recipe.lighting = current.lighting;
    fitted_recipe.sensor = current.sensor;
    fitted_recipe.camera.distance = camera_distance;
    fitted_recipe.camera.fov_y_deg = field_of_view;
    // Ranges proposed from the photos' own spread (two standard deviations each way); a
    // spread too small to matter leaves the recipe's own.
    // Every range the fit measures is replaced, never kept from the starting recipe (a range
    // is drawn instead of the fixed value): the photos' own spread, two standard deviations
    // each way, where it is large enough to matter, else none.
    let r = &mut fitted_recipe.randomize;
    r.camera_distance = (scale_spread > 0.002).then(|| {
        let k = (2.0 * scale_spread).exp();
        [
            (camera_distance / k).max(CAMERA_DISTANCE[0]),
            (camera_distance * k).min(CAMERA_DISTANCE[1]),
        ]
    });
    r.intensity = (gain_spread > 0.01).then(|| {
        let i = f64::from(l.intensity);
        [
            (i * (1.0 - 2.0 * gain_spread)).max(0.0),
            (i * (1.0 + 2.0 * gain_spread)).min(10.0),
        ]
    });
    // A picture that sits off centre, or moves, gets the range its photos span (across and
    // down alike).
    let offset_lo = (offset_x - 2.0 * offset_x_spread).min(offset_y - 2.0 * offset_y_spread);
    let offset_hi = (offset_x + 2.0 * offset_x_spread).max(offset_y + 2.0 * offset_y_spread);
    r.offset_px = (offset_hi - offset_lo > 0.5 || offset_x.abs().max(offset_y.abs()) > 0.25)
        .then(|| [offset_lo.max(-16.0), offset_hi.min(16.0)]);
    r.noise_sigma =
        (noise_sigma > 0.05).then(|| [noise_sigma * 0.75, (noise_sigma * 1.25).min(128.0)]);
    // What the fit sets as one shared value: no range may draw over it.
    r.ambient = None;
    r.gamma = None;
    r.black_level = None;
    r.blur_sigma = None;
    fitted_recipe
        .validate()
        .map_err(|m| FitError::Invalid(format!("the fitted recipe does not validate: {m}")))?;

    Ok(FitOutcome {
        settings: settings.clone(),
        start,
        fitted: current,
        camera_distance_start: distance_start,
        camera_distance,
        noise_sigma,
        values,
        photos: photos_out,
        history,
        recipe: fitted_recipe,
        renders_before,
        renders_after,
    })
}

impl FitOutcome {
    /// Puts what the fit found into `recipe`: light, material, sensor, camera distance, field
    /// of view and
    /// the ranges of what it measured (the photos' spread, or none). Its product, sizes,
    /// counts, poses and light jitter stay.
    pub fn apply_to(&self, recipe: &mut Recipe) {
        let fitted = &self.recipe;
        recipe.lighting = fitted.lighting;
        recipe.sensor = fitted.sensor;
        recipe.camera.distance = fitted.camera.distance;
        recipe.camera.fov_y_deg = fitted.camera.fov_y_deg;
        let (to, from) = (&mut recipe.randomize, &fitted.randomize);
        to.intensity = from.intensity;
        to.ambient = from.ambient;
        to.camera_distance = from.camera_distance;
        to.noise_sigma = from.noise_sigma;
        to.blur_sigma = from.blur_sigma;
        to.gamma = from.gamma;
        to.black_level = from.black_level;
        to.offset_px = from.offset_px;
    }

    /// The mean over the photos of one of their figures.
    pub fn mean_over_photos(&self, figure: fn(&PhotoFit) -> f32) -> f32 {
        self.photos.iter().map(figure).sum::<f32>() / self.photos.len().max(1) as f32
    }

    /// Mean over the photos of the mean absolute difference on the product's pixels (grey
    /// levels), before and after the fit.
    pub fn product_abs(&self) -> (f32, f32) {
        (
            self.mean_over_photos(|p| p.product_abs_before),
            self.mean_over_photos(|p| p.product_abs_after),
        )
    }
}

fn apply(scene: &mut Scene, shared: &Shared) {
    scene.lighting = shared.lighting;
    scene.sensor = shared.sensor;
}

/// `count` poses drawn as the recipe draws its good samples' poses, rendered with the current
/// scene.
fn render_bank(
    scene: &Scene,
    renderer: &mut Renderer,
    recipe: &Recipe,
    count: usize,
) -> Result<PoseBank, FitError> {
    let poses: Vec<ScenePose> = (0..count)
        .map(|i| ScenePose::of_view(&draw_view(&SampleId::preview(recipe, GOOD, i), recipe, 0)))
        .collect();
    let images: Vec<Vec<f32>> = scene
        .render_candidates(renderer, &poses)?
        .iter()
        .map(|f| scene.shade(f))
        .collect();
    Ok(PoseBank::from_images(scene.size as usize, &images, poses))
}

/// Each photo's refined pose and exposure: (pose, gain, bias).
fn refine_poses(
    scene: &Scene,
    renderer: &mut Renderer,
    bank: &PoseBank,
    images: &[&[f32]],
    settings: &FitSettings,
) -> Result<Vec<(ScenePose, f32, f32)>, FitError> {
    let inputs: Vec<RefineInput<'_>> = images
        .iter()
        .map(|image| RefineInput {
            image,
            starts: bank
                .nearest(image, STARTS, SHORTLIST)
                .into_iter()
                .map(|i| bank.pose(i))
                .collect(),
        })
        .collect();
    let refine_settings = RefineSettings {
        max_rounds: settings.refine_rounds,
        // The scene does not match the photos yet: every start is tried, and the turns about
        // the symmetry axis, so a photo's pose is not decided by a mismatched light alone.
        retry_above: Some(0.0),
        max_tries: STARTS,
        axis_pinned_rise: None,
        search_offset_scale: true,
        fit_exposure: true,
        levels: RefineSettings::photo_levels(),
        ..RefineSettings::default()
    };
    Ok(refine(scene, renderer, &inputs, &refine_settings, None)?
        .into_iter()
        .map(|r| (r.pose, r.gain, r.bias))
        .collect())
}

/// A render as the camera delivers it, and the pixels the product covers.
type Rendered = (Vec<f32>, Vec<bool>);

/// Fields of view the perspective search spans, in degrees: from nearly orthographic to a
/// wide lens.
const FIELD_OF_VIEW: [f64; 2] = [4.0, 70.0];
/// Share of the mean loss a field of view must save against the current one to replace it:
/// photos whose perspective says little keep the recipe's.
const FIELD_OF_VIEW_GAIN: f64 = 0.01;

fn half_angle_tan(fov_deg: f64) -> f64 {
    (fov_deg.to_radians() / 2.0).tan()
}

/// Sets `camera`'s vertical field of view to `fov_deg` and moves it so the picture's scale at
/// the product's centre stays (pixels per unit ∝ 1 / (distance · tan(fov / 2))).
fn hold_scale_at(camera: &mut crate::render::Camera, fov_deg: f64) {
    let span = f64::from(camera.distance) * half_angle_tan(f64::from(camera.fov_y_deg));
    camera.distance =
        (span / half_angle_tan(fov_deg)).clamp(CAMERA_DISTANCE[0], CAMERA_DISTANCE[1]) as f32;
    camera.fov_y_deg = fov_deg as f32;
}

/// The field of view whose perspective fits the photos best at their poses, the picture's
/// scale held ([`hold_scale_at`]): a scan of 7 fields of view, even in ln tan(fov / 2) over
/// [`FIELD_OF_VIEW`] (narrowed so the distance stays within [`CAMERA_DISTANCE`]), then a golden-
/// section search of 8 more about the best. The current field of view is kept unless the
/// best saves [`FIELD_OF_VIEW_GAIN`] of its loss.
fn search_field_of_view(
    scene: &mut Scene,
    renderer: &mut Renderer,
    images: &[&[f32]],
    poses: &[ScenePose],
    robust_scale: f32,
) -> Result<f64, FitError> {
    let original = scene.base;
    let current = f64::from(original.fov_y_deg);
    let span = f64::from(original.distance) * half_angle_tan(current);
    // ln tan(fov / 2) of the ends, each end within the distances allowed.
    let lo = half_angle_tan(FIELD_OF_VIEW[0])
        .max(span / CAMERA_DISTANCE[1])
        .ln();
    let hi = half_angle_tan(FIELD_OF_VIEW[1])
        .min(span / CAMERA_DISTANCE[0])
        .ln();
    let fov_of = |t: f64| 2.0 * t.exp().atan().to_degrees();
    // A lens's loss: each photo's pose refined again through it (from its current pose, a
    // few rounds), then its residual. Poses refined through one lens carry its perspective in
    // their turn and zoom, which would otherwise favour that lens.
    let settings = RefineSettings {
        max_rounds: LENS_ROUNDS,
        search_offset_scale: true,
        fit_exposure: true,
        levels: RefineSettings::photo_levels(),
        ..RefineSettings::default()
    };
    let mut loss_at = |t: f64| -> Result<f64, FitError> {
        scene.base = original;
        hold_scale_at(&mut scene.base, fov_of(t));
        let inputs: Vec<RefineInput<'_>> = images
            .iter()
            .zip(poses)
            .map(|(image, pose)| RefineInput {
                image,
                starts: vec![*pose],
            })
            .collect();
        let refined: Vec<ScenePose> = refine(scene, renderer, &inputs, &settings, None)?
            .into_iter()
            .map(|r| r.pose)
            .collect();
        let renders = render_shades(scene, renderer, &refined)?;
        let residual = residuals(images, &renders, robust_scale);
        Ok(residual.iter().map(|r| f64::from(r.loss)).sum::<f64>() / residual.len().max(1) as f64)
    };
    let start_loss = loss_at(half_angle_tan(current).ln())?;
    if hi <= lo {
        scene.base = original;
        return Ok(current);
    }
    const SCAN: usize = 7;
    let grid: Vec<f64> = (0..SCAN)
        .map(|i| lo + (hi - lo) * i as f64 / (SCAN - 1) as f64)
        .collect();
    let mut best = (f64::INFINITY, lo);
    for &t in &grid {
        let loss = loss_at(t)?;
        if loss < best.0 {
            best = (loss, t);
        }
    }
    let step = (hi - lo) / (SCAN - 1) as f64;
    let refined = golden_section(
        &mut loss_at,
        (best.1 - step).max(lo),
        (best.1 + step).min(hi),
        6,
    )?;
    if refined.0 < best.0 {
        best = refined;
    }
    scene.base = original;
    Ok(if best.0 < start_loss * (1.0 - FIELD_OF_VIEW_GAIN) {
        fov_of(best.1)
    } else {
        current
    })
}

/// Render rounds of each photo's refinement through each lens the perspective search tries.
const LENS_ROUNDS: usize = 12;

/// The minimum of `f` on [`a`, `b`] by golden-section search, `rounds` evaluations after the
/// first two: (its value, where).
fn golden_section<E>(
    f: &mut impl FnMut(f64) -> Result<f64, E>,
    mut a: f64,
    mut b: f64,
    rounds: usize,
) -> Result<(f64, f64), E> {
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (f(c)?, f(d)?);
    for _ in 0..rounds {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - ratio * (b - a);
            fc = f(c)?;
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + ratio * (b - a);
            fd = f(d)?;
        }
    }
    Ok(if fc < fd { (fc, c) } else { (fd, d) })
}

/// The scene's renders at `poses`, as its camera delivers them (blur included), with the
/// pixels the product covers.
fn render_shades(
    scene: &Scene,
    renderer: &mut Renderer,
    poses: &[ScenePose],
) -> Result<Vec<Rendered>, FitError> {
    Ok(scene
        .render_references(renderer, poses)?
        .iter()
        .map(|f| (scene.shade(f), f.part.iter().map(|&p| p != 0).collect()))
        .collect())
}

/// One photo against its render, no exposure fitted.
#[derive(Debug, Clone, Copy)]
struct Residual {
    /// Mean robust loss over the image.
    loss: f32,
    /// Mean absolute difference in grey levels (0–255) over the image, and over the
    /// product's pixels alone.
    abs: f32,
    abs_product: f32,
}

fn residuals(images: &[&[f32]], renders: &[Rendered], c: f32) -> Vec<Residual> {
    images
        .iter()
        .zip(renders)
        .map(|(image, (render, product))| {
            let n = image.len().max(1) as f32;
            let (mut loss, mut abs, mut abs_product, mut covered) = (0.0, 0.0, 0.0, 0usize);
            for ((a, b), inside) in image.iter().zip(render).zip(product) {
                loss += cauchy(a - b, c);
                abs += (a - b).abs();
                if *inside {
                    abs_product += (a - b).abs();
                    covered += 1;
                }
            }
            Residual {
                loss: loss / n,
                abs: abs / n * 255.0,
                abs_product: abs_product / covered.max(1) as f32 * 255.0,
            }
        })
        .collect()
}

/// Which parts get an ambient light of their own in the search: those covering at least
/// [`MIN_PART_SHARE`] of the product's pixels at the photos' poses, except the one covering
/// most (the scene's ambient is its light; one more would only trade with it).
fn free_parts(
    scene: &Scene,
    renderer: &mut Renderer,
    poses: &[ScenePose],
) -> Result<[bool; PART_AMBIENT_IDS], FitError> {
    let mut counts = [0usize; PART_AMBIENT_IDS];
    for frame in scene.render_references(renderer, poses)? {
        for &p in &frame.part {
            if (1..=PART_AMBIENT_IDS).contains(&usize::from(p)) {
                counts[usize::from(p) - 1] += 1;
            }
        }
    }
    let total: usize = counts.iter().sum();
    let largest = (0..PART_AMBIENT_IDS).max_by_key(|&i| counts[i]);
    Ok(std::array::from_fn(|i| {
        Some(i) != largest && total > 0 && counts[i] as f64 >= MIN_PART_SHARE * total as f64
    }))
}

/// Smallest share of the product's pixels a part needs for an ambient light of its own.
const MIN_PART_SHARE: f64 = 0.01;

/// The shared parameters with the poses held: Nelder–Mead for half the budget (it moves far
/// and needs no derivatives: a highlight appears or goes, a bound is met), then
/// Levenberg–Marquardt on the robustly weighted residuals for the rest (the response curve
/// and the ambient trade off along a long, narrow valley that a simplex crawls down but a
/// Gauss–Newton step crosses). Returns the best parameters and their mean loss.
fn search_shared(
    scene: &mut Scene,
    renderer: &mut Renderer,
    images: &[&[f32]],
    poses: &[ScenePose],
    start: Shared,
    free_parts: &[bool; PART_AMBIENT_IDS],
    settings: &FitSettings,
) -> Result<(Shared, f32), FitError> {
    let c = settings.robust_scale;
    // Albedo is kept: intensity and ambient absorb it.
    let albedo = start.lighting.albedo;
    let mut residual = |x: &[f64; DIMS]| -> Result<Vec<f32>, FitError> {
        let shared = Shared::from_vector(x, albedo);
        apply(scene, &shared);
        // Candidates come from the decimated mesh: the light's search needs no finer.
        let frames = scene.render_candidates(renderer, poses)?;
        Ok(images
            .iter()
            .zip(&frames)
            .flat_map(|(image, f)| {
                let render = scene.shade(f);
                image
                    .iter()
                    .zip(render)
                    .map(|(a, b)| a - b)
                    .collect::<Vec<f32>>()
            })
            .collect())
    };
    let mut x0 = start.to_vector();
    // A start without a highlight could never find one (the search moves in its logarithm
    // from the floor): it starts from a moderate one instead, which the search may drop.
    if start.lighting.specular < 0.02 {
        x0[4] = 0.2f64.ln();
        x0[5] = 32f64.ln();
    }
    // The search moves the free coordinates only; the others keep their start.
    // Likewise shadows: from half strength, which the search may take to none.
    if start.lighting.shadow <= 0.0 {
        x0[9] = 0.5;
    }
    let free: Vec<usize> = (0..DIMS)
        .filter(|&i| i < HEAD || free_parts[i - HEAD])
        .collect();
    let full = |y: &[f64]| -> [f64; DIMS] {
        let mut x = x0;
        for (k, &i) in free.iter().enumerate() {
            x[i] = y[k];
        }
        x
    };
    let y0: Vec<f64> = free.iter().map(|&i| x0[i]).collect();
    let steps: Vec<f64> = free.iter().map(|&i| STEPS[i]).collect();
    let diff_steps: Vec<f64> = free.iter().map(|&i| DIFF_STEPS[i]).collect();
    let mut on_free = |y: &[f64]| residual(&full(y));
    let simplex_budget = settings.evaluations / 2;
    let (y1, _) = nelder_mead(
        &mut |y: &[f64]| on_free(y).map(|r| mean_cauchy(&r, c)),
        y0,
        &steps,
        simplex_budget,
    )?;
    let (best, loss) = levenberg_marquardt(
        &mut on_free,
        y1,
        &diff_steps,
        settings.evaluations - simplex_budget,
        c,
    )?;
    // Every image's loss is a mean over its pixels; the photos' mean is the mean over all.
    Ok((Shared::from_vector(&full(&best), albedo), loss as f32))
}

/// Steps of the finite differences per parametrised dimension: large enough that a render
/// in 8-bit grey levels moves by several levels, small against the parameters' spans.
const DIFF_STEPS: [f64; DIMS] = [
    0.02, 0.02, 0.02, 0.03, 0.1, 0.05, 0.02, 0.002, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02,
    0.02, 0.02,
];

fn mean_cauchy(r: &[f32], c: f32) -> f64 {
    r.iter().map(|&v| f64::from(cauchy(v, c))).sum::<f64>() / r.len().max(1) as f64
}

/// The residuals at a point of the search.
type ResidualFn<'a, E> = dyn FnMut(&[f64]) -> Result<Vec<f32>, E> + 'a;

/// Levenberg–Marquardt on the residuals `f(x)` under the Cauchy loss at scale `c`
/// (iteratively reweighted least squares), with a forward-difference Jacobian, for at most
/// `budget` evaluations of `f`. Returns the best point and its mean loss.
fn levenberg_marquardt<E>(
    f: &mut ResidualFn<'_, E>,
    x0: Vec<f64>,
    steps: &[f64],
    budget: usize,
    c: f32,
) -> Result<(Vec<f64>, f64), E> {
    let n = x0.len();
    let mut used = 1usize;
    let mut x = x0;
    let mut r = f(&x)?;
    let mut loss = mean_cauchy(&r, c);
    let mut lambda = 1e-3;
    while used + n < budget {
        // The Jacobian of the residuals, one column per parameter.
        let mut columns: Vec<Vec<f32>> = Vec::with_capacity(n);
        for (i, h) in steps.iter().enumerate() {
            let mut xi = x.clone();
            xi[i] += h;
            let ri = f(&xi)?;
            used += 1;
            columns.push(
                ri.iter()
                    .zip(&r)
                    .map(|(a, b)| (a - b) / *h as f32)
                    .collect(),
            );
        }
        let weights: Vec<f64> = r
            .iter()
            .map(|&v| f64::from(super::compare::cauchy_weight(v, c)))
            .collect();
        let mut a = vec![0.0f64; n * n];
        let mut g = vec![0.0f64; n];
        for i in 0..n {
            for (k, w) in weights.iter().enumerate() {
                g[i] += w * f64::from(columns[i][k]) * f64::from(r[k]);
            }
            for j in i..n {
                let mut sum = 0.0;
                for (k, w) in weights.iter().enumerate() {
                    sum += w * f64::from(columns[i][k]) * f64::from(columns[j][k]);
                }
                a[i * n + j] = sum;
                a[j * n + i] = sum;
            }
        }
        // Try damped steps until one lowers the loss or the damping gives up.
        let mut improved = false;
        while used < budget && lambda < 1e6 {
            let mut damped = a.clone();
            for i in 0..n {
                damped[i * n + i] += lambda * a[i * n + i].max(1e-12) + 1e-12;
            }
            let mut rhs: Vec<f64> = g.iter().map(|v| -v).collect();
            let Some(delta) = super::solve::solve_symmetric(&mut damped, &mut rhs, n) else {
                lambda *= 10.0;
                continue;
            };
            let candidate: Vec<f64> = x.iter().zip(&delta).map(|(a, d)| a + d).collect();
            let rc = f(&candidate)?;
            used += 1;
            let lc = mean_cauchy(&rc, c);
            if lc < loss {
                let gain = (loss - lc) / loss.max(1e-30);
                (x, r, loss) = (candidate, rc, lc);
                lambda = (lambda / 3.0).max(1e-7);
                improved = gain > 1e-4;
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            break;
        }
    }
    Ok((x, loss))
}

/// A plain Nelder–Mead simplex search (reflection 1, expansion 2, contraction ½, shrink ½)
/// for at most `budget` evaluations.
fn nelder_mead<E>(
    f: &mut dyn FnMut(&[f64]) -> Result<f64, E>,
    x0: Vec<f64>,
    steps: &[f64],
    budget: usize,
) -> Result<(Vec<f64>, f64), E> {
    let n = x0.len();
    let mut used = 0usize;
    let mut eval = |x: &[f64], used: &mut usize| -> Result<f64, E> {
        *used += 1;
        let v = f(x)?;
        Ok(if v.is_finite() { v } else { f64::INFINITY })
    };
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    let v0 = eval(&x0, &mut used)?;
    for i in 0..n {
        let mut x = x0.clone();
        x[i] += steps[i];
        let v = eval(&x, &mut used)?;
        simplex.push((x, v));
    }
    simplex.insert(0, (x0, v0));
    let point = |a: &[f64], b: &[f64], t: f64| -> Vec<f64> {
        a.iter().zip(b).map(|(a, b)| a + t * (b - a)).collect()
    };
    while used < budget && n > 0 {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let worst = simplex[n].clone();
        let centroid: Vec<f64> = (0..n)
            .map(|i| simplex[..n].iter().map(|p| p.0[i]).sum::<f64>() / n as f64)
            .collect();
        // Reflect the worst point through the centroid of the others.
        let reflected = point(&centroid, &worst.0, -1.0);
        let fr = eval(&reflected, &mut used)?;
        if fr < simplex[0].1 {
            let expanded = point(&centroid, &worst.0, -2.0);
            let fe = eval(&expanded, &mut used)?;
            simplex[n] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (reflected, fr);
        } else {
            let contracted = if fr < worst.1 {
                point(&centroid, &reflected, 0.5)
            } else {
                point(&centroid, &worst.0, 0.5)
            };
            let fc = eval(&contracted, &mut used)?;
            if fc < worst.1.min(fr) {
                simplex[n] = (contracted, fc);
            } else {
                // Shrink towards the best point.
                let best = simplex[0].0.clone();
                for p in simplex.iter_mut().skip(1) {
                    p.0 = point(&best, &p.0, 0.5);
                    p.1 = eval(&p.0, &mut used)?;
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(simplex.swap_remove(0))
}

/// Noise σ in grey levels (0–255): the robust spread of the residual inside the product, away
/// from edges and the silhouette, where the render is smooth and the residual is mostly the
/// camera's noise.
fn noise_sigma(
    scene: &Scene,
    renderer: &mut Renderer,
    images: &[&[f32]],
    poses: &[ScenePose],
) -> Result<f64, FitError> {
    let frames: Vec<Frame> = scene.render_references(renderer, poses)?;
    let size = scene.size as usize;
    let mut residuals = Vec::new();
    for (image, frame) in images.iter().zip(&frames) {
        let render = scene.shade(frame);
        for y in 2..size.saturating_sub(2) {
            for x in 2..size.saturating_sub(2) {
                let i = y * size + x;
                let inside = (-2i64..=2).all(|dy| {
                    (-2i64..=2).all(|dx| {
                        let j = (y as i64 + dy) as usize * size + (x as i64 + dx) as usize;
                        frame.part[j] != 0
                    })
                });
                let flat = (render[i] - render[i - 1]).abs() < 0.01
                    && (render[i] - render[i + 1]).abs() < 0.01
                    && (render[i] - render[i - size]).abs() < 0.01
                    && (render[i] - render[i + size]).abs() < 0.01;
                // Against the photo's own neighbours, so the render's small shading errors
                // cancel: the difference of two pixels has twice the noise's variance.
                if inside && flat && render[i] < 0.98 && image[i] < 0.98 {
                    let here = image[i] - render[i];
                    let right = image[i + 1] - render[i + 1];
                    residuals.push(f64::from(here - right) / std::f64::consts::SQRT_2);
                }
            }
        }
    }
    if residuals.len() < 64 {
        return Ok(0.0);
    }
    // The mean absolute deviation of a Gaussian is σ·√(2/π); it is taken within five robust
    // spreads of the median (the median absolute deviation alone moves in the steps of 8-bit
    // grey levels), so interreflections and highlights the render lacks do not count.
    residuals.sort_by(f64::total_cmp);
    let median = residuals[residuals.len() / 2];
    let mut dev: Vec<f64> = residuals.iter().map(|r| (r - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = dev[dev.len() / 2].max(0.5 / 255.0);
    let kept: Vec<f64> = dev
        .into_iter()
        .filter(|d| *d <= 5.0 * 1.4826 * mad)
        .collect();
    let mean_abs = kept.iter().sum::<f64>() / kept.len().max(1) as f64;
    Ok(mean_abs * (std::f64::consts::PI / 2.0).sqrt() * 255.0)
}

/// A grey contact sheet: one row per photo, photo | render | |difference| × 4, each scaled by
/// `scale`.
pub fn contact_sheet(
    size: usize,
    photos: &[&[f32]],
    renders: &[Vec<f32>],
    scale: u32,
) -> image::GrayImage {
    let rows = photos.len().min(renders.len()) as u32;
    let cell = size as u32 * scale;
    let gap = 2u32;
    let width = 3 * cell + 2 * gap;
    let height = rows * cell + rows.saturating_sub(1) * gap;
    let mut sheet = image::GrayImage::from_pixel(width.max(1), height.max(1), image::Luma([128]));
    for (r, (photo, render)) in photos.iter().zip(renders).enumerate() {
        let y0 = r as u32 * (cell + gap);
        for y in 0..cell {
            for x in 0..cell {
                let i = (y / scale) as usize * size + (x / scale) as usize;
                let (p, q) = (photo[i], render[i]);
                let grey = |v: f32| image::Luma([(v * 255.0).round().clamp(0.0, 255.0) as u8]);
                sheet.put_pixel(x, y0 + y, grey(p));
                sheet.put_pixel(cell + gap + x, y0 + y, grey(q));
                sheet.put_pixel(
                    2 * (cell + gap) + x,
                    y0 + y,
                    grey(((p - q).abs() * 4.0).min(1.0)),
                );
            }
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nelder_mead_finds_a_bowls_bottom() {
        let mut calls = 0;
        let mut f = |x: &[f64]| -> Result<f64, ()> {
            calls += 1;
            Ok((x[0] - 1.0).powi(2) + 4.0 * (x[1] + 2.0).powi(2) + (x[2] - 0.5).powi(2))
        };
        let (x, v) = nelder_mead(&mut f, vec![0.0; 3], &[0.5; 3], 400).unwrap();
        assert!(v < 1e-6, "{v}");
        assert!((x[0] - 1.0).abs() < 1e-3 && (x[1] + 2.0).abs() < 1e-3);
        // The budget bounds the evaluations (a shrink may finish its round).
        assert!(calls <= 400 + 3, "{calls}");
    }

    #[test]
    fn levenberg_marquardt_fits_a_curve_down_a_narrow_valley() {
        // y = a·(t + b)^(1/g) on t in [0, 1], from a start well off: a valley much like the
        // response curve's trade with the ambient.
        let truth = [0.9f64, 0.2, 1.6];
        let ts: Vec<f64> = (0..50).map(|i| f64::from(i) / 49.0).collect();
        let model = |x: &[f64], t: f64| x[0] * (t + x[1]).max(0.0).powf(1.0 / x[2]);
        let data: Vec<f64> = ts.iter().map(|&t| model(&truth, t)).collect();
        let mut f = |x: &[f64]| -> Result<Vec<f32>, ()> {
            Ok(ts
                .iter()
                .zip(&data)
                .map(|(&t, &y)| (y - model(x, t)) as f32)
                .collect())
        };
        let (x, loss) =
            levenberg_marquardt(&mut f, vec![0.7, 0.35, 1.1], &[1e-3; 3], 400, 0.05).unwrap();
        assert!(loss < 1e-9, "{loss}");
        assert!(
            (x[2] - 1.6).abs() < 0.01 && (x[1] - 0.2).abs() < 0.01,
            "{x:?}"
        );
    }

    #[test]
    fn the_parametrisation_round_trips_within_bounds() {
        let shared = Shared {
            lighting: Lighting {
                direction: [0.2, 0.5, 0.8],
                intensity: 1.3,
                ambient: 0.1,
                albedo: 0.8,
                specular: 0.4,
                shininess: 40.0,
                part_ambient: [0.0, 0.0, 0.12, -0.05, 0.0, 0.0, 0.0, 0.0],
                shadow: 0.6,
            },
            sensor: Sensor {
                gamma: 1.8,
                black_level: 0.01,
                blur_px: 0.6,
            },
        };
        let back = Shared::from_vector(&shared.to_vector(), 0.8);
        let d0 = shared.lighting.direction_unit();
        let d1 = back.lighting.direction_unit();
        assert!(d0.dot(d1) > 0.99999);
        assert!((back.lighting.intensity - 1.3).abs() < 1e-5);
        assert!((back.lighting.specular - 0.4).abs() < 1e-5);
        assert!((back.sensor.gamma - 1.8).abs() < 1e-5);
        assert!((back.sensor.blur_px - 0.6).abs() < 1e-6);
        assert_eq!(back.lighting.part_ambient, shared.lighting.part_ambient);
        assert!((back.lighting.shadow - 0.6).abs() < 1e-6);
        // Far outside, every value is held within what the renderer accepts.
        let wild = Shared::from_vector(&[50.0; DIMS], 0.8);
        assert!(wild.sensor.validate().is_ok());
        assert!(wild.lighting.intensity <= 10.0 && wild.lighting.ambient <= 1.0);
        assert!(wild.lighting.shadow <= 1.0);
    }
}
