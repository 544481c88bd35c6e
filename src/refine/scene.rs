//! The good product as the renderer draws it for one recipe: the mesh, the camera, the light
//! and the image size. Refinement renders candidate poses of it; the reference an image is
//! compared with is its render at the refined pose, drawn exactly as the dataset's images were.

use crate::dataset::DatasetContext;
use crate::dataset::recipe::Recipe;
use crate::product::ProductSpec;
use crate::product::mesh::Grid;
use crate::product::sdf::Solid;
use crate::product::simplify::simplify;
use crate::render::{
    Camera, Frame, GpuMesh, Lighting, Outputs, RenderError, Renderer, ViewRequest,
};

use super::pose::ScenePose;

/// The good product of one recipe, uploaded and ready to render at any pose.
pub struct Scene {
    /// The recipe's camera (its rotation is replaced by each pose's).
    pub base: Camera,
    pub lighting: Lighting,
    pub size: u32,
    /// Supersampling of the reference renders: the recipe's, so a good image at its true
    /// pose renders to the same bits.
    pub supersample: u32,
    /// The dataset's own mesh, for references.
    mesh: GpuMesh,
    /// A decimated copy for candidates (the same mesh when decimation is off).
    candidate_mesh: GpuMesh,
    /// Triangles of each mesh: (reference, candidates).
    pub triangles: (usize, usize),
}

/// Largest surface deviation the candidate mesh may have, in pixels at the recipe's camera:
/// well under the pose error refinement aims for.
const CANDIDATE_ERROR_PX: f64 = 0.08;

impl Scene {
    /// The scene of `recipe`'s images: its product meshed at the dataset's cell, its camera
    /// and its light (without per-sample jitter).
    pub fn for_recipe(renderer: &Renderer, recipe: &Recipe, product: &ProductSpec) -> Self {
        let context = DatasetContext::new(renderer, recipe.clone(), product.clone());
        let shape = product.shape();
        let base = Camera::new(
            glam::Quat::IDENTITY,
            shape.centre().as_vec3(),
            recipe.camera.distance as f32,
            recipe.camera.fov_y_deg as f32,
        );
        let good = Solid::good(shape);
        let full = Grid::for_shape(&shape, context.cell)
            .sample(&good)
            .surface_nets(&good);
        let tolerance = CANDIDATE_ERROR_PX / base.pixels_per_unit(recipe.image.size);
        let reduced = simplify(&full, 0, tolerance);
        Self {
            base,
            triangles: (full.triangle_count(), reduced.triangle_count()),
            candidate_mesh: renderer.upload(&reduced),
            lighting: recipe.lighting,
            size: recipe.image.size,
            supersample: recipe.image.supersample,
            mesh: context.good_mesh().clone(),
        }
    }

    /// Uses the dataset's full mesh for candidates too (for measuring what decimation costs).
    pub fn without_decimation(mut self) -> Self {
        self.candidate_mesh = self.mesh.clone();
        self.triangles.1 = self.triangles.0;
        self
    }

    /// Renders `poses` for refinement, in order, from the decimated mesh: the shade alone,
    /// supersampled as the dataset's images were (an aliased edge would pull the pose).
    pub fn render_candidates(
        &self,
        renderer: &mut Renderer,
        poses: &[ScenePose],
    ) -> Result<Vec<Frame>, RenderError> {
        self.render_at(renderer, &self.candidate_mesh, poses, self.supersample, Outputs::Shade)
    }

    /// Renders the references at `poses`: as the dataset's images were drawn.
    pub fn render_references(
        &self,
        renderer: &mut Renderer,
        poses: &[ScenePose],
    ) -> Result<Vec<Frame>, RenderError> {
        self.render_at(renderer, &self.mesh, poses, self.supersample, Outputs::All)
    }

    fn render_at(
        &self,
        renderer: &mut Renderer,
        mesh: &GpuMesh,
        poses: &[ScenePose],
        supersample: u32,
        outputs: Outputs,
    ) -> Result<Vec<Frame>, RenderError> {
        let views: Vec<ViewRequest<'_>> = poses
            .iter()
            .map(|pose| ViewRequest {
                mesh,
                camera: pose.camera(&self.base, self.size),
                lighting: self.lighting,
            })
            .collect();
        renderer.render_outputs(&views, self.size, supersample, outputs)
    }
}

/// A frame's shade as grey levels in [0, 1].
pub fn shade_of(frame: &Frame) -> Vec<f32> {
    frame.shade.iter().map(|&v| f32::from(v) / 255.0).collect()
}

