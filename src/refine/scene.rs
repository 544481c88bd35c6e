//! The good product as the renderer draws it for one recipe: the mesh, the camera, the light
//! and the image size. Refinement renders candidate poses of it; the reference an image is
//! compared with is its render at the refined pose, drawn exactly as the dataset's images were.

use crate::dataset::recipe::Recipe;
use crate::dataset::{DatasetContext, DatasetError};
use crate::product::ProductSpec;
use crate::product::geometry::Field;
use crate::product::mesh::Grid;
use crate::product::sdf::Solid;
use crate::product::simplify::simplify;
use crate::render::{
    Camera, Frame, GpuMesh, Lighting, Outputs, RenderError, Renderer, Sensor, ViewRequest,
};

use super::pose::ScenePose;

/// The good product of one recipe, uploaded and ready to render at any pose.
pub struct Scene {
    /// The recipe's camera (its rotation is replaced by each pose's).
    pub base: Camera,
    pub lighting: Lighting,
    /// The camera's response, black level and blur: the recipe's.
    pub sensor: Sensor,
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
    /// The product's axis of near-symmetry (model frame), when it has one: the principal
    /// axis whose moment stands apart while the other two agree within
    /// [`SYMMETRY_TOLERANCE`].
    pub symmetry_axis: Option<glam::DVec3>,
}

/// How closely two principal moments of the surface must agree for the third axis to count
/// as an axis of (near) symmetry.
pub const SYMMETRY_TOLERANCE: f64 = 0.05;

/// Largest surface deviation the candidate mesh may have, in pixels at the recipe's camera:
/// well under the pose error refinement aims for.
const CANDIDATE_ERROR_PX: f64 = 0.08;

impl Scene {
    /// The scene of `recipe`'s images: its product meshed at the dataset's cell, its camera
    /// and its light (without per-sample jitter).
    pub fn for_recipe(
        renderer: &Renderer,
        recipe: &Recipe,
        product: &ProductSpec,
    ) -> Result<Self, DatasetError> {
        let context = DatasetContext::new(renderer, recipe.clone(), product.clone())?;
        // The product's own geometry: the cap's analytic shape, or an imported product's grid.
        let geometry = context.geometry.clone();
        let base = Camera::new(
            glam::Quat::IDENTITY,
            geometry.centre().as_vec3(),
            recipe.camera.distance as f32,
            recipe.camera.fov_y_deg as f32,
        );
        let good = Solid::good(geometry.clone());
        let full = Grid::for_shape(&geometry, context.cell)
            .sample(&good)
            .surface_nets(&good);
        let tolerance = CANDIDATE_ERROR_PX / base.pixels_per_unit(recipe.image.size);
        let reduced = simplify(&full, 0, tolerance);
        Ok(Self {
            base,
            triangles: (full.triangle_count(), reduced.triangle_count()),
            symmetry_axis: symmetry_axis(&full, geometry.centre()),
            candidate_mesh: renderer.upload(&reduced),
            lighting: recipe.lighting,
            sensor: recipe.sensor,
            size: recipe.image.size,
            supersample: recipe.image.supersample,
            mesh: context.good_mesh().clone(),
        })
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
        self.render_candidates_from(renderer, poses, false)
    }

    /// Renders `poses` for refinement, in order, from the dataset's own mesh (the one the
    /// references are drawn from) when `full`, else from the decimated one: the shade alone,
    /// supersampled as the dataset's images were.
    pub fn render_candidates_from(
        &self,
        renderer: &mut Renderer,
        poses: &[ScenePose],
        full: bool,
    ) -> Result<Vec<Frame>, RenderError> {
        let mesh = if full {
            &self.mesh
        } else {
            &self.candidate_mesh
        };
        self.render_at(renderer, mesh, poses, self.supersample, Outputs::Shade)
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
                sensor: self.sensor,
            })
            .collect();
        renderer.render_outputs(&views, self.size, supersample, outputs)
    }
}

/// A frame's shade as grey levels in [0, 1].
pub fn shade_of(frame: &Frame) -> Vec<f32> {
    frame.shade.iter().map(|&v| f32::from(v) / 255.0).collect()
}

impl Scene {
    /// A frame of this scene as its camera delivers it: grey levels in [0, 1], through the
    /// optics' blur when the sensor has one (as the dataset's images were).
    pub fn shade(&self, frame: &Frame) -> Vec<f32> {
        let shade = shade_of(frame);
        if self.sensor.blur_px > 0.0 {
            crate::imaging::gaussian_blur(&shade, frame.size as usize, self.sensor.blur_px)
        } else {
            shade
        }
    }
}

/// The axis of near-symmetry of a mesh's surface, through `centre` (the point the product
/// turns about): the principal axis (of the area-weighted second moments about the centroid)
/// whose moment differs from the other two, which agree within [`SYMMETRY_TOLERANCE`] of their
/// size. None for a product with no such axis, with three alike (a ball has no preferred
/// axis to turn about), or whose axis misses `centre`.
///
/// The small feature that breaks the symmetry (the cap's notch) also tilts the principal
/// axis a little (about 2° for the cap), and turning about a tilted axis wobbles the whole
/// product; an axis within [`SNAP_DEG`] of a model axis is taken to be that axis, as a
/// designed part's axis of revolution is.
pub fn symmetry_axis(mesh: &crate::product::Mesh, centre: glam::DVec3) -> Option<glam::DVec3> {
    use glam::{DMat3, DVec3};
    let mut area_sum = 0.0;
    let mut centroid = DVec3::ZERO;
    let triangles: Vec<(DVec3, f64)> = mesh
        .triangles()
        .map(|[a, b, c]| ((a + b + c) / 3.0, (b - a).cross(c - a).length() / 2.0))
        .collect();
    for (centre, area) in &triangles {
        area_sum += area;
        centroid += *centre * *area;
    }
    if area_sum <= 0.0 {
        return None;
    }
    centroid /= area_sum;
    let mut m = DMat3::ZERO;
    for (centre, area) in &triangles {
        let d = *centre - centroid;
        m += DMat3::from_cols(d * d.x, d * d.y, d * d.z) * *area;
    }
    let (values, vectors) = symmetric_eigen(m / area_sum);
    let close = |a: f64, b: f64| (a - b).abs() <= SYMMETRY_TOLERANCE * a.abs().max(b.abs());
    let pairs = [(0, 1, 2), (0, 2, 1), (1, 2, 0)];
    let matches: Vec<usize> = pairs
        .iter()
        .filter(|(i, j, _)| close(values[*i], values[*j]))
        .map(|(_, _, k)| *k)
        .collect();
    // Exactly one pair alike: the third axis stands apart.
    let [k] = matches.as_slice() else {
        return None;
    };
    let mut axis = vectors[*k].normalize();
    for unit in [DVec3::X, DVec3::Y, DVec3::Z] {
        if axis.dot(unit).abs() >= SNAP_DEG.to_radians().cos() {
            axis = unit;
        }
    }
    // The turn is about `centre`: the axis must pass through it (within a fiftieth of the
    // product's size), or turning would also move the product.
    let size = mesh.bounds().1 - mesh.bounds().0;
    let off = (centroid - centre) - axis * (centroid - centre).dot(axis);
    (off.length() <= 0.02 * size.max_element()).then_some(axis)
}

/// How far a principal axis may lie from a model axis and still be taken for it (degrees).
pub const SNAP_DEG: f64 = 5.0;

/// Eigenvalues and unit eigenvectors of a symmetric 3×3 matrix (cyclic Jacobi rotations).
fn symmetric_eigen(m: glam::DMat3) -> ([f64; 3], [glam::DVec3; 3]) {
    let mut a = m.to_cols_array_2d();
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..50 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        if off < 1e-15 {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-18 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for row in a.iter_mut() {
                let (akp, akq) = (row[p], row[q]);
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (rp, rq) = (a[p], a[q]);
            a[p] = std::array::from_fn(|k| c * rp[k] - s * rq[k]);
            a[q] = std::array::from_fn(|k| s * rp[k] + c * rq[k]);
            for row in &mut v {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let values = [a[0][0], a[1][1], a[2][2]];
    let vectors = [0, 1, 2].map(|k| glam::DVec3::new(v[0][k], v[1][k], v[2][k]));
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::mesh::mesh_solid;
    use crate::product::sdf::Solid;

    #[test]
    fn the_cap_turns_about_its_own_axis() {
        let shape = ProductSpec::builtin_cap().shape();
        let mesh = mesh_solid(&Solid::good(shape), 0.05);
        let axis = symmetry_axis(&mesh, shape.centre())
            .expect("the cap is a body of revolution but for its notch");
        assert_eq!(axis.abs(), glam::DVec3::Y, "{axis}");
        // An axis that misses the centre the product turns about is no use.
        assert!(symmetry_axis(&mesh, shape.centre() + glam::DVec3::X * 0.3).is_none());
    }

    #[test]
    fn eigen_vectors_diagonalise() {
        let m = glam::DMat3::from_cols_array(&[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 1.0]);
        let (values, vectors) = symmetric_eigen(m);
        for k in 0..3 {
            let mv = m * vectors[k];
            assert!((mv - vectors[k] * values[k]).length() < 1e-9);
        }
    }
}
