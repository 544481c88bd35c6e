//! Camera and lighting of one view. The camera stays on the +z axis looking at the product's
//! centre; the product turns about that centre. The light is fixed relative to the camera.
//! An image-plane offset and scale, applied after projection, stand for a product that sits
//! off-centre or a little nearer or farther on a real line: they move and zoom the picture
//! without changing the perspective.

use glam::{Mat4, Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Rotation of the product about `centre`.
    pub rotation: Quat,
    /// Point looked at and turned about.
    pub centre: Vec3,
    pub distance: f32,
    pub fov_y_deg: f32,
    /// Shift of the picture in normalised device coordinates (1.0 = half the image; x right,
    /// y up). Zero for every rendered dataset.
    pub image_offset: Vec2,
    /// Zoom of the picture about its centre (1.0 for every rendered dataset).
    pub image_scale: f32,
}

impl Camera {
    /// A camera `distance` from `centre` with the product turned by `rotation`, no image-plane
    /// offset and unit scale.
    pub fn new(rotation: Quat, centre: Vec3, distance: f32, fov_y_deg: f32) -> Self {
        Self {
            rotation,
            centre,
            distance,
            fov_y_deg,
            image_offset: Vec2::ZERO,
            image_scale: 1.0,
        }
    }

    pub fn eye(&self) -> Vec3 {
        self.centre + Vec3::new(0.0, 0.0, self.distance)
    }

    pub fn world_from_model(&self) -> Mat4 {
        Mat4::from_translation(self.centre)
            * Mat4::from_quat(self.rotation)
            * Mat4::from_translation(-self.centre)
    }

    pub fn clip_from_world(&self) -> Mat4 {
        // Near and far hug the product (which fits in a ball of radius ~2 about the centre) so
        // depth precision goes where the product is.
        let near = (self.distance - 2.5).max(0.05);
        let far = self.distance + 2.5;
        // wgpu's clip space is Direct3D's: z in [0, 1], y up.
        let projection = glam::camera::rh::proj::directx::perspective(
            self.fov_y_deg.to_radians(),
            1.0,
            near,
            far,
        );
        let view = glam::camera::rh::view::look_at_mat4(self.eye(), self.centre, Vec3::Y);
        if self.image_offset == Vec2::ZERO && self.image_scale == 1.0 {
            // The exact matrices every dataset was rendered with.
            return projection * view;
        }
        // x_ndc' = s·x_ndc + o: scale clip x and y, and add o·w so the shift survives the divide.
        let image = Mat4::from_cols(
            glam::Vec4::new(self.image_scale, 0.0, 0.0, 0.0),
            glam::Vec4::new(0.0, self.image_scale, 0.0, 0.0),
            glam::Vec4::Z,
            glam::Vec4::new(self.image_offset.x, self.image_offset.y, 0.0, 1.0),
        );
        image * projection * view
    }

    /// The ray through pixel (`x`, `y`) of a `size`-pixel view (0, 0 the top-left corner's
    /// top-left; pixel centres at +0.5) in the product's own frame: its origin (the eye) and
    /// unit direction.
    pub fn ray(&self, size: u32, x: f32, y: f32) -> (Vec3, Vec3) {
        let t = (self.fov_y_deg.to_radians() / 2.0).tan();
        let ndc_x = 2.0 * x / size as f32 - 1.0;
        let ndc_y = 1.0 - 2.0 * y / size as f32;
        let world_dir = Vec3::new(ndc_x * t, ndc_y * t, -1.0).normalize();
        let back = self.rotation.inverse();
        (
            self.centre + back * (self.eye() - self.centre),
            back * world_dir,
        )
    }

    /// Pixels per world unit at the centre's distance for an image `size` pixels high.
    pub fn pixels_per_unit(&self, size: u32) -> f64 {
        f64::from(size) * f64::from(self.image_scale)
            / (2.0
                * f64::from(self.distance)
                * (f64::from(self.fov_y_deg) / 2.0).to_radians().tan())
    }
}

/// Illumination and material of one view.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lighting {
    /// Direction towards the light, in camera-aligned world coordinates (need not be unit).
    pub direction: [f32; 3],
    pub intensity: f32,
    pub ambient: f32,
    /// Grey Lambertian albedo.
    pub albedo: f32,
    /// Blinn-Phong highlight strength (0 = none).
    #[serde(default)]
    pub specular: f32,
    #[serde(default = "default_shininess")]
    pub shininess: f32,
    /// Light each part receives on top of `ambient`, for part ids 1 to [`PART_AMBIENT_IDS`]
    /// (entry `id − 1`), in the same units: what a part's own surroundings add, such as light
    /// bouncing inside a cavity (a renderer without interreflections draws none). Zero by
    /// default.
    #[serde(default, skip_serializing_if = "all_zero")]
    pub part_ambient: [f32; PART_AMBIENT_IDS],
    /// How much of the direct light (diffuse and highlight) a point loses where the product
    /// itself stands between it and the light: 0 draws no shadows (the default, and every
    /// recipe written before shadows existed), 1 leaves a shadowed point only its ambient
    /// light. Between the two stands for a light larger than a point or light bounced into the
    /// shadow.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shadow: f32,
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

/// Part ids that can carry their own ambient light ([`Lighting::part_ambient`]).
pub const PART_AMBIENT_IDS: usize = 8;

fn all_zero(values: &[f32; PART_AMBIENT_IDS]) -> bool {
    values.iter().all(|v| *v == 0.0)
}

fn default_shininess() -> f32 {
    32.0
}

impl Default for Lighting {
    fn default() -> Self {
        Self {
            direction: [-0.4, 0.6, 0.7],
            intensity: 0.85,
            ambient: 0.15,
            albedo: 0.8,
            specular: 0.0,
            shininess: default_shininess(),
            part_ambient: [0.0; PART_AMBIENT_IDS],
            shadow: 0.0,
        }
    }
}

/// The camera's part of a grey level: its response curve and black level, applied to each
/// pixel's linear value after supersampling (before 8-bit quantisation), and the optics' blur,
/// applied to the image after readback. The default changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sensor {
    /// Output = linear^(1/gamma): above 1 lifts the darks, as most cameras' curves do.
    pub gamma: f32,
    /// Added to every pixel, background included (grey level in [0, 1]).
    pub black_level: f32,
    /// Gaussian blur of the optics, in pixels (0: none).
    pub blur_px: f32,
}

impl Default for Sensor {
    fn default() -> Self {
        Self {
            gamma: 1.0,
            black_level: 0.0,
            blur_px: 0.0,
        }
    }
}

impl Sensor {
    /// Largest blur accepted, in pixels.
    pub const MAX_BLUR_PX: f32 = 8.0;

    pub fn validate(&self) -> Result<(), String> {
        if !(self.gamma.is_finite() && (0.2..=5.0).contains(&self.gamma)) {
            return Err(format!(
                "gamma must be between 0.2 and 5, got {}",
                self.gamma
            ));
        }
        if !(self.black_level.is_finite() && (0.0..=0.5).contains(&self.black_level)) {
            return Err(format!(
                "black_level must be between 0 and 0.5, got {}",
                self.black_level
            ));
        }
        if !(self.blur_px.is_finite() && (0.0..=Self::MAX_BLUR_PX).contains(&self.blur_px)) {
            return Err(format!(
                "blur_px must be between 0 and {} pixels, got {}",
                Self::MAX_BLUR_PX,
                self.blur_px
            ));
        }
        Ok(())
    }

    /// What the downsampling pass reads per layer: 1/gamma and the black level.
    pub(crate) fn uniform(&self) -> [f32; 4] {
        [1.0 / self.gamma, self.black_level, 0.0, 0.0]
    }
}

impl Lighting {
    pub fn direction_unit(&self) -> Vec3 {
        Vec3::from(self.direction)
            .try_normalize()
            .unwrap_or(Vec3::Z)
    }
}
