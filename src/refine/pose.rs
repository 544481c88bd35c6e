//! What the refinement varies per image: how the product is turned, where its picture sits in
//! the frame and how large it is. Six numbers, updated by small steps in the camera's frame.

use glam::{DQuat, DVec2, DVec3, Vec2};
use serde::{Deserialize, Serialize};

use crate::render::Camera;

/// The number of geometric parameters: rotation (3), image-plane offset (2), log scale (1).
pub const PARAMS: usize = 6;

/// One image's scene pose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScenePose {
    /// Rotation of the product about its centre (camera-aligned world frame).
    pub rotation: DQuat,
    /// Shift of the picture in pixels (x right, y down).
    pub offset_px: DVec2,
    /// Natural logarithm of the picture's zoom about the image centre.
    pub log_scale: f64,
}

impl ScenePose {
    pub fn from_rotation(rotation: DQuat) -> Self {
        Self {
            rotation: rotation.normalize(),
            offset_px: DVec2::ZERO,
            log_scale: 0.0,
        }
    }

    /// The pose moved by `delta`: a rotation vector (radians, applied in the camera's frame
    /// before the current rotation), then pixels, then log scale.
    pub fn moved(&self, delta: &[f64; PARAMS]) -> Self {
        let omega = DVec3::new(delta[0], delta[1], delta[2]);
        let turn = if omega.length_squared() > 0.0 {
            DQuat::from_scaled_axis(omega)
        } else {
            DQuat::IDENTITY
        };
        Self {
            rotation: (turn * self.rotation).normalize(),
            offset_px: self.offset_px + DVec2::new(delta[3], delta[4]),
            log_scale: self.log_scale + delta[5],
        }
    }

    /// The camera that renders this pose, from the recipe's camera `base` and image `size`.
    pub fn camera(&self, base: &Camera, size: u32) -> Camera {
        let half = f64::from(size) / 2.0;
        Camera {
            rotation: self.rotation.as_quat(),
            image_offset: Vec2::new(
                (self.offset_px.x / half) as f32,
                (-self.offset_px.y / half) as f32,
            ),
            image_scale: self.log_scale.exp() as f32,
            ..*base
        }
    }

    /// The pose a dataset sample was drawn at: its rotation, and the shift its recipe drew.
    pub fn of_view(view: &crate::dataset::sample::ViewParams) -> Self {
        let axis = DVec3::from(view.axis).normalize_or(DVec3::Y);
        Self {
            offset_px: DVec2::from(view.offset_px),
            ..Self::from_rotation(DQuat::from_axis_angle(axis, view.angle_deg.to_radians()))
        }
    }

    /// The angle between this pose's rotation and `other`'s, in degrees.
    pub fn angle_to_deg(&self, other: &ScenePose) -> f64 {
        rotation_angle_deg(self.rotation, other.rotation)
    }
}

/// The angle of the rotation that takes `a` to `b`, in degrees (0 to 180).
pub fn rotation_angle_deg(a: DQuat, b: DQuat) -> f64 {
    let dot = a.normalize().dot(b.normalize()).abs().min(1.0);
    (2.0 * dot.acos()).to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_turns_in_the_camera_frame_and_shifts_in_pixels() {
        let start = ScenePose::from_rotation(DQuat::from_rotation_y(0.3));
        let moved = start.moved(&[0.0, 0.0, 0.1, 2.0, -1.0, 0.05]);
        assert!((moved.angle_to_deg(&start) - 0.1f64.to_degrees()).abs() < 1e-9);
        // A turn about the view axis, applied first in the camera frame.
        let expected = DQuat::from_rotation_z(0.1) * DQuat::from_rotation_y(0.3);
        assert!(rotation_angle_deg(moved.rotation, expected) < 1e-6);
        assert_eq!(moved.offset_px, DVec2::new(2.0, -1.0));
        assert!((moved.log_scale - 0.05).abs() < 1e-12);
    }

    #[test]
    fn the_camera_carries_offset_and_scale_in_device_coordinates() {
        let base = Camera::new(glam::Quat::IDENTITY, glam::Vec3::Y, 7.0, 30.0);
        let pose = ScenePose {
            rotation: DQuat::IDENTITY,
            offset_px: DVec2::new(8.0, 4.0),
            log_scale: 2f64.ln(),
        };
        let camera = pose.camera(&base, 64);
        // 8 px right of 32 is a quarter of the half-width; 4 px down is y = -0.125.
        assert_eq!(camera.image_offset, Vec2::new(0.25, -0.125));
        assert!((camera.image_scale - 2.0).abs() < 1e-6);
        // The product's centre lands where the offset says.
        let clip = camera.clip_from_world() * glam::Vec4::new(0.0, 1.0, 0.0, 1.0);
        assert!((clip.x / clip.w - 0.25).abs() < 1e-5);
        assert!((clip.y / clip.w + 0.125).abs() < 1e-5);
        // And a point one unit right of it lands twice as far out as without the zoom.
        let plain = base.clip_from_world() * glam::Vec4::new(1.0, 1.0, 0.0, 1.0);
        let zoomed = camera.clip_from_world() * glam::Vec4::new(1.0, 1.0, 0.0, 1.0);
        let plain_x = plain.x / plain.w;
        assert!((zoomed.x / zoomed.w - 0.25 - 2.0 * plain_x).abs() < 1e-5);
    }
}
