//! One sample: the parameters drawn from its seed, the post-processing of its render, and the
//! defect mask that compares it with the good product at the same pose.

use glam::{DQuat, DVec3};
use serde::{Deserialize, Serialize};

use super::layout::{GOOD, Split};
use super::recipe::{PoseMode, Recipe};
use crate::imaging::gaussian_blur;
use crate::product::{Defect, Field, ProductSpec};
use crate::render::{Camera, Frame, Lighting, Sensor};
use crate::rng::{Rng, derive_seed};

/// Which sample this is; with the recipe, enough to regenerate it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SampleId {
    pub split: Split,
    pub class: String,
    pub index: usize,
    pub seed: u64,
}

impl SampleId {
    /// Sample `index` of `class` in `split`: its seed derives from the recipe's master seed.
    pub fn new(recipe: &Recipe, split: Split, class: &str, index: usize) -> Self {
        Self {
            split,
            class: class.to_string(),
            index,
            seed: sample_seed(recipe.seed, split.as_str(), class, index),
        }
    }

    /// Every sample of `recipe`, in generation order (split, then class by name, then index).
    pub fn plan(recipe: &Recipe) -> Vec<SampleId> {
        recipe
            .groups()
            .into_iter()
            .flat_map(|(split, class, n)| {
                (0..n)
                    .map(|i| SampleId::new(recipe, split, &class, i))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A sample drawn for a preview: parameters drawn as for any sample of `class`, from seeds
    /// of their own (no split's samples repeat in it). It is never written, so its split
    /// (`test`, which holds every class) only stands in.
    pub fn preview(recipe: &Recipe, class: &str, index: usize) -> Self {
        Self {
            split: Split::Test,
            class: class.to_string(),
            index,
            seed: sample_seed(recipe.seed, "preview", class, index),
        }
    }

    pub fn stem(&self) -> String {
        format!("{:06}", self.index)
    }

    pub fn is_good(&self) -> bool {
        self.class == GOOD
    }
}

/// The seed of sample `index` of `class` in the stream `stream` (a split's name).
fn sample_seed(master: u64, stream: &str, class: &str, index: usize) -> u64 {
    derive_seed(master, &format!("{stream}/{class}"), index as u64)
}

/// Everything about how one view was taken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViewParams {
    /// Rotation axis (unit) and angle of the product about its centre.
    pub axis: [f64; 3],
    pub angle_deg: f64,
    pub camera_distance: f64,
    pub lighting: Lighting,
    pub noise_sigma: f64,
    pub blur_sigma: f64,
    /// The camera's response for this view (the recipe's, with any drawn part).
    #[serde(default)]
    pub sensor: Sensor,
    /// Shift of the picture in pixels (x right, y down); zero unless the recipe draws one.
    #[serde(default)]
    pub offset_px: [f64; 2],
}

impl ViewParams {
    pub fn camera(&self, recipe: &Recipe, shape: &(impl Field + ?Sized)) -> Camera {
        let rotation = DQuat::from_axis_angle(DVec3::from(self.axis), self.angle_deg.to_radians());
        let mut camera = Camera::new(
            rotation.as_quat(),
            shape.centre().as_vec3(),
            self.camera_distance as f32,
            recipe.camera.fov_y_deg as f32,
        );
        // Pixels to normalised device coordinates (1.0 is half the image; y up).
        let half = f64::from(recipe.image.size.max(1)) / 2.0;
        camera.image_offset = glam::Vec2::new(
            (self.offset_px[0] / half) as f32,
            (-self.offset_px[1] / half) as f32,
        );
        camera
    }
}

/// Poses tried per defect placement before the defect itself is drawn anew (a defect on the
/// back of the product may be invisible from every pose a narrow pose range allows).
pub const POSES_PER_DEFECT: u32 = 8;

/// Draws the defect of a defective sample for a given attempt (None for good samples), on the
/// product's good geometry `shape`: the cap's analytic shape or an imported product's grid.
pub fn draw_defect_on(
    id: &SampleId,
    product: &ProductSpec,
    shape: &(impl Field + ?Sized),
    attempt: u32,
) -> Option<Defect> {
    let spec = product.defects.get(&id.class)?;
    let redraw = u64::from(attempt / POSES_PER_DEFECT);
    let mut rng = Rng::new(derive_seed(id.seed, "defect", redraw));
    Some(spec.sample(shape, &mut rng))
}

/// Draws the view for one attempt; a new attempt (after an invisible defect) draws anew.
pub fn draw_view(id: &SampleId, recipe: &Recipe, attempt: u32) -> ViewParams {
    let mut rng = Rng::new(derive_seed(id.seed, "view", u64::from(attempt)));
    let pose = &recipe.pose;
    let (axis, angle_deg) = match pose.mode {
        PoseMode::RandomAxis => (rng.unit_vector(), rng.uniform_range(pose.angle_deg)),
        PoseMode::Upright => ([0.0, 1.0, 0.0], rng.uniform_range(pose.yaw_deg)),
        PoseMode::Tilt => {
            let yaw = DQuat::from_rotation_y(rng.uniform_range(pose.yaw_deg).to_radians());
            let tilt_dir = rng.uniform(0.0, std::f64::consts::TAU);
            let tilt_axis = DVec3::new(tilt_dir.cos(), 0.0, tilt_dir.sin());
            let tilt =
                DQuat::from_axis_angle(tilt_axis, rng.uniform(0.0, pose.tilt_deg).to_radians());
            let (axis, angle) = (tilt * yaw).to_axis_angle();
            (axis.to_array(), angle.to_degrees())
        }
        PoseMode::Uniform => {
            // Shoemake's method: a uniformly distributed unit quaternion.
            let (u1, u2, u3) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
            let (a, b) = ((1.0 - u1).sqrt(), u1.sqrt());
            let (t2, t3) = (std::f64::consts::TAU * u2, std::f64::consts::TAU * u3);
            let q = DQuat::from_xyzw(a * t2.sin(), a * t2.cos(), b * t3.sin(), b * t3.cos());
            let (axis, angle) = q.normalize().to_axis_angle();
            (axis.to_array(), angle.to_degrees())
        }
    };
    let r = &recipe.randomize;
    let mut lighting = recipe.lighting;
    if r.light_jitter_deg > 0.0 {
        let dir = DVec3::from(lighting.direction.map(f64::from)).normalize_or(DVec3::Z);
        let jitter_axis = dir.any_orthonormal_vector();
        let spin = DQuat::from_axis_angle(dir, rng.uniform(0.0, std::f64::consts::TAU));
        let tip = DQuat::from_axis_angle(
            spin * jitter_axis,
            rng.uniform(0.0, r.light_jitter_deg).to_radians(),
        );
        lighting.direction = (tip * dir).as_vec3().to_array();
    }
    if let Some(range) = r.intensity {
        lighting.intensity = rng.uniform_range(range) as f32;
    }
    if let Some(range) = r.ambient {
        lighting.ambient = rng.uniform_range(range) as f32;
    }
    let camera_distance = r
        .camera_distance
        .map_or(recipe.camera.distance, |range| rng.uniform_range(range));
    let noise_sigma = r.noise_sigma.map_or(0.0, |range| rng.uniform_range(range));
    let blur_sigma = r.blur_sigma.map_or(0.0, |range| rng.uniform_range(range));
    // Drawn last, and only when asked for, so a recipe without them draws what it always drew.
    let mut sensor = recipe.sensor;
    if let Some(range) = r.gamma {
        sensor.gamma = rng.uniform_range(range) as f32;
    }
    if let Some(range) = r.black_level {
        sensor.black_level = rng.uniform_range(range) as f32;
    }
    let offset_px = r.offset_px.map_or([0.0, 0.0], |range| {
        [rng.uniform_range(range), rng.uniform_range(range)]
    });
    ViewParams {
        axis,
        angle_deg,
        camera_distance,
        lighting,
        noise_sigma,
        blur_sigma,
        sensor,
        offset_px,
    }
}

/// Blur, then sensor noise, then quantisation: the camera's part of the image. Deterministic
/// for a given seed.
pub fn finish_image(frame: &Frame, view: &ViewParams, seed: u64) -> Vec<u8> {
    let size = frame.size as usize;
    let mut img: Vec<f32> = frame.shade.iter().map(|&v| f32::from(v)).collect();
    // The optics' blur and the sample's drawn blur add as Gaussians do.
    let blur = view.blur_sigma.hypot(f64::from(view.sensor.blur_px));
    if blur > 0.0 {
        img = gaussian_blur(&img, size, blur as f32);
    }
    if view.noise_sigma > 0.0 {
        let mut rng = Rng::new(derive_seed(seed, "noise", 0));
        for v in &mut img {
            *v += (rng.normal() * view.noise_sigma) as f32;
        }
    }
    img.iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// The defect mask: pixels where the defective render's geometry differs from the good
/// render's at the same pose (silhouette or depth), 0 or 255.
pub fn defect_mask(good: &Frame, bad: &Frame, depth_tolerance: f64) -> Vec<u8> {
    (0..good.part.len())
        .map(|i| {
            let (g, b) = (good.part[i] != 0, bad.part[i] != 0);
            let changed = g != b
                || (g
                    && (f64::from(good.depth[i]) - f64::from(bad.depth[i])).abs()
                        > depth_tolerance);
            if changed { 255 } else { 0 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn angles(mode: &str, n: usize) -> Vec<f64> {
        let text = format!(
            "version = 1\nname = \"p\"\nseed = 1\n[counts.train]\ngood = 1\n[pose]\nmode = \"{mode}\"\n"
        );
        let recipe = Recipe::from_toml_str(&text, "p").expect("recipe");
        (0..n)
            .map(|i| {
                draw_view(&SampleId::new(&recipe, Split::Train, GOOD, i), &recipe, 0).angle_deg
            })
            .map(|a| a.rem_euclid(360.0))
            .map(|a| if a > 180.0 { 360.0 - a } else { a })
            .collect()
    }

    #[test]
    fn uniform_poses_do_not_crowd_the_upright_view() {
        // Haar measure: P(angle < 20°) = (θ − sin θ)/π ≈ 0.2 %; uniform angles give 11 %.
        let near = |v: &[f64]| v.iter().filter(|a| **a < 20.0).count() as f64 / v.len() as f64;
        assert!(near(&angles("uniform", 4000)) < 0.01);
        assert!(near(&angles("random_axis", 4000)) > 0.08);
    }

    #[test]
    fn mask_marks_silhouette_and_depth_changes_only() {
        let frame = |part: Vec<u8>, depth: Vec<f32>| Frame {
            size: 2,
            shade: vec![0; 4],
            part,
            depth,
        };
        let good = frame(vec![1, 1, 0, 2], vec![7.0, 7.0, 0.0, 6.5]);
        let bad = frame(vec![1, 1, 1, 2], vec![7.0, 6.9, 6.0, 6.505]);
        assert_eq!(defect_mask(&good, &bad, 0.01), vec![0, 255, 255, 0]);
    }
}
