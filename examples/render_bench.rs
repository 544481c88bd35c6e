//! Rendering throughput, stage by stage: meshing, GPU render + readback, the pose
//! refinement's candidate batches (decimated mesh, shade only), camera effects, PNG encoding,
//! and the whole generator writing to disk.
//!
//! cargo run --example render_bench [-- SIZE...]     (default sizes: 64 256)

use std::time::Instant;

use unseen::dataset::recipe::Recipe;
use unseen::dataset::sample::{SampleId, draw_view, finish_image};
use unseen::dataset::{DatasetContext, GOOD, GenerateControl, Split, generate};
use unseen::product::ProductSpec;
use unseen::product::mesh::{Grid, mesh_defective};
use unseen::product::sdf::Solid;
use unseen::render::{Gpu, Renderer, ViewRequest};

fn recipe(size: u32, good: usize, defects: usize) -> Recipe {
    let text = format!(
        r#"
version = 1
name = "bench"
seed = 1
[image]
size = {size}
[counts.train]
good = {good}
[counts.test]
bulge = {defects}
short_notch = {defects}
"#
    );
    Recipe::from_toml_str(&text, "bench").expect("valid")
}

fn main() -> anyhow::Result<()> {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![64, 256]
    } else {
        sizes
    };
    let gpu = Gpu::headless()?;
    println!("adapter: {}", gpu.describe());
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut renderer = Renderer::new(gpu);
    let mut product = ProductSpec::builtin_cap();
    if let Some(cell) = std::env::var("BENCH_CELL")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        product.mesh.cell = cell;
    }
    let factor: u32 = std::env::var("BENCH_SS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    for size in sizes {
        let n = if size <= 64 { 2048 } else { 256 };
        println!("\n== {size}×{size}, supersampling {factor} ==");
        let r = recipe(size, n, 0);
        let ctx = DatasetContext::new(&renderer, r.clone(), product.clone())?;
        println!("mesh cell {:.3}", ctx.cell);

        // Meshing one defective product (re-sampling the defect's region of the good grid).
        let shape = product.shape();
        let good = Solid::good(shape);
        let t = Instant::now();
        let grid = Grid::for_shape(&shape, ctx.cell).sample(&good);
        let good_mesh = grid.surface_nets(&good);
        println!(
            "good mesh: {} triangles in {:.1} ms",
            good_mesh.triangle_count(),
            t.elapsed().as_secs_f64() * 1e3
        );
        let defect = product.defects["bulge"].sample(&shape, &mut unseen::rng::Rng::new(3));
        let t = Instant::now();
        let reps = 20;
        for _ in 0..reps {
            std::hint::black_box(mesh_defective(
                &grid,
                &Solid::with_defect(shape, defect.clone()),
            ));
        }
        println!(
            "defect mesh: {:.1} ms each",
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );

        // GPU only: render + downsample + readback of good views.
        let mesh = renderer.upload(&good_mesh);
        let ids: Vec<SampleId> = (0..n)
            .map(|i| SampleId::new(&r, Split::Train, GOOD, i))
            .collect();
        let views: Vec<_> = ids.iter().map(|id| draw_view(id, &r, 0)).collect();
        let requests: Vec<ViewRequest> = views
            .iter()
            .map(|v| ViewRequest {
                mesh: &mesh,
                camera: v.camera(&r, &shape),
                lighting: v.lighting,
                sensor: v.sensor,
            })
            .collect();
        renderer.render(&requests[..16.min(n)], size, factor)?; // warm-up
        let t = Instant::now();
        let frames = renderer.render(&requests, size, factor)?;
        let gpu_s = t.elapsed().as_secs_f64();
        println!(
            "render + readback: {:.0} views/s ({:.3} ms each, batches of {})",
            n as f64 / gpu_s,
            gpu_s * 1e3 / n as f64,
            Renderer::views_per_pass(size, factor)
        );

        // The refinement's batches: candidate poses of many images in one submission, from the
        // decimated mesh, the shade alone read back.
        let scene = unseen::refine::Scene::for_recipe(&renderer, &r, &product)?;
        let poses: Vec<unseen::refine::ScenePose> = views
            .iter()
            .map(|v| {
                let axis = glam::DVec3::from(v.axis).normalize_or(glam::DVec3::Y);
                unseen::refine::ScenePose::from_rotation(glam::DQuat::from_axis_angle(
                    axis,
                    v.angle_deg.to_radians(),
                ))
            })
            .collect();
        scene.render_candidates(&mut renderer, &poses[..16.min(n)])?; // warm-up
        let t = Instant::now();
        std::hint::black_box(scene.render_candidates(&mut renderer, &poses)?);
        let s = t.elapsed().as_secs_f64();
        println!(
            "refinement candidates (shade only, decimated mesh): {:.0} views/s ({:.3} ms each)",
            n as f64 / s,
            s * 1e3 / n as f64
        );

        // CPU: camera effects and PNG encoding.
        let t = Instant::now();
        let images: Vec<Vec<u8>> = frames
            .iter()
            .zip(&views)
            .zip(&ids)
            .map(|((f, v), id)| finish_image(f, v, id.seed))
            .collect();
        println!(
            "finish (noise/blur/quantise): {:.3} ms each",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );
        let t = Instant::now();
        for img in &images {
            let mut out = Vec::new();
            use image::ImageEncoder;
            image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            )
            .write_image(img, size, size, image::ExtendedColorType::L8)?;
            std::hint::black_box(out);
        }
        println!(
            "PNG encode (image only, one thread): {:.3} ms each",
            t.elapsed().as_secs_f64() * 1e3 / n as f64
        );

        // Everything: the generator, writing image, part map, depth map (and masks) to disk.
        for (label, good, defects) in [("good only", n, 0), ("defective only", 0, n / 8)] {
            let dir = tempfile::tempdir()?;
            let r = recipe(size, good, defects);
            let total = good + 2 * defects;
            let t = Instant::now();
            generate(
                &mut renderer,
                r,
                product.clone(),
                dir.path(),
                &GenerateControl::default(),
                &mut |_, _| {},
            )?;
            let s = t.elapsed().as_secs_f64();
            println!(
                "generate, {label}: {total} samples in {s:.2} s = {:.0} samples/s",
                total as f64 / s
            );
        }
    }
    Ok(())
}
