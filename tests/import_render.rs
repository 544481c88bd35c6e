//! The cap exported from its own field (a surface-nets mesh) as STL, OBJ and glTF and
//! imported again renders like the built-in cap: real renders on the software GPU.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;

use glam::{DMat4, DQuat, DVec3};
use unseen::dataset::sample::defect_mask;
use unseen::product::import::PartMesh;
use unseen::product::mesh::{Grid, mesh_defective, mesh_solid_sharp};
use unseen::product::sdf::Solid;
use unseen::product::{Defect, Field, Geometry, ProductSpec};
use unseen::render::{Camera, Frame, Gpu, Lighting, Renderer, ViewRequest};
use unseen::rng::Rng;

/// The default dataset's view: 64 px, twice supersampled, meshed at its automatic cell.
const SIZE: u32 = 64;
const SUPERSAMPLE: u32 = 2;
const MESH_CELL: f64 = 0.05;
/// The exported mesh's cell: about 200,000 triangles, as in `import_bench`. Dual contouring
/// keeps the cap's sharp edges, as a CAD export has them.
const EXPORT_CELL: f64 = 0.0145;

/// Writes the cap's mesh in each format with a product file that keeps the file's placement
/// (the cap is already in the renderer's frame) and pins the cap's part ids.
fn export(dir: &Path) -> Vec<ProductSpec> {
    let cap = ProductSpec::builtin_cap().shape();
    let mesh = mesh_solid_sharp(&Solid::good(cap), EXPORT_CELL);
    let parts = PartMesh::from_mesh(&mesh, &Field::parts(&cap));
    let files: [(&str, Vec<u8>, &str); 3] = [
        (
            "cap.stl",
            unseen::product::import::stl::write_ascii(&parts).into_bytes(),
            "solid",
        ),
        (
            "cap.obj",
            unseen::product::import::obj::write(&parts).into_bytes(),
            "group",
        ),
        (
            "cap.glb",
            unseen::product::import::gltf::write_glb(&parts, "cap", DMat4::IDENTITY),
            "node",
        ),
    ];
    files
        .into_iter()
        .map(|(name, bytes, parts_from)| {
            std::fs::write(dir.join(name), bytes).unwrap();
            let toml = format!(
                "version = 2\nname = \"cap-{parts_from}\"\n[import]\nfile = \"{name}\"\n\
                 units = \"cm\"\nparts_from = \"{parts_from}\"\norigin = \"file\"\nscale = 1.0\n\
                 [parts]\ndome = 1\nwall = 2\nnotch = 3\nbase = 4\n"
            );
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(&path, toml).unwrap();
            ProductSpec::load(&path.display().to_string(), None).unwrap()
        })
        .collect()
}

fn poses() -> Vec<Camera> {
    let mut rng = Rng::new(31);
    (0..8)
        .map(|i| {
            let rotation = if i == 0 {
                DQuat::IDENTITY
            } else {
                DQuat::from_axis_angle(
                    DVec3::from(rng.unit_vector()),
                    rng.uniform(0.0, std::f64::consts::TAU),
                )
            };
            Camera::new(
                rotation.as_quat(),
                glam::Vec3::new(0.0, 1.0, 0.0),
                7.0,
                30.0,
            )
        })
        .collect()
}

/// Renders `geometry` good and with each defect, at every pose: frames[defect][pose], the
/// good product first. Meshed as a dataset meshes it: its own grid, defects re-sampled in
/// their boxes.
fn render(renderer: &mut Renderer, geometry: &Geometry, defects: &[Defect]) -> Vec<Vec<Frame>> {
    let good = Solid::good(geometry.clone());
    let grid = Grid::for_shape(geometry, MESH_CELL).sample(&good);
    let mut meshes = vec![renderer.upload(&grid.surface_nets(&good))];
    for d in defects {
        let solid = Solid::with_defect(geometry.clone(), d.clone());
        meshes.push(renderer.upload(&mesh_defective(&grid, &solid)));
    }
    let poses = poses();
    meshes
        .iter()
        .map(|mesh| {
            let views: Vec<ViewRequest> = poses
                .iter()
                .map(|&camera| ViewRequest {
                    mesh,
                    camera,
                    lighting: Lighting::default(),
                    sensor: Default::default(),
                })
                .collect();
            renderer.render(&views, SIZE, SUPERSAMPLE).unwrap()
        })
        .collect()
}

/// Pixels differing by more than one grey level, of all pixels.
fn shade_mismatch(a: &[Frame], b: &[Frame]) -> f64 {
    let (mut off, mut total) = (0usize, 0usize);
    for (a, b) in a.iter().zip(b) {
        for (x, y) in a.shade.iter().zip(&b.shade) {
            off += usize::from(x.abs_diff(*y) > 1);
            total += 1;
        }
    }
    off as f64 / total as f64
}

/// Pixels differing by more than one grey level on a silhouette or a part border (a pixel with
/// another part or the background among its 3×3 neighbours), those elsewhere, and how many
/// pixels lie elsewhere.
fn mismatch_by_place(a: &[Frame], b: &[Frame]) -> (usize, usize, usize) {
    let (mut edges, mut inner, mut inner_total) = (0, 0, 0);
    for (a, b) in a.iter().zip(b) {
        for i in 0..a.shade.len() {
            let away = away_from_borders(a, i);
            inner_total += usize::from(away);
            if a.shade[i].abs_diff(b.shade[i]) > 1 {
                if away {
                    inner += 1;
                } else {
                    edges += 1;
                }
            }
        }
    }
    (edges, inner, inner_total)
}

/// True where all of a pixel's 3×3 neighbours show the same part.
fn away_from_borders(frame: &Frame, i: usize) -> bool {
    let s = SIZE as isize;
    let (x, y) = ((i as isize) % s, (i as isize) / s);
    (-1..=1).all(|dy| {
        (-1..=1).all(|dx| {
            let (xx, yy) = ((x + dx).clamp(0, s - 1), (y + dy).clamp(0, s - 1));
            frame.part[(yy * s + xx) as usize] == frame.part[i]
        })
    })
}

/// Mask pixels of `a` with no mask pixel of `b` within one pixel.
fn farther_than_a_pixel(a: &[u8], b: &[u8]) -> usize {
    let s = SIZE as isize;
    (0..a.len())
        .filter(|&i| a[i] != 0)
        .filter(|&i| {
            let (x, y) = ((i as isize) % s, (i as isize) / s);
            !(-1..=1).any(|dy| {
                (-1..=1).any(|dx| {
                    let (xx, yy) = (x + dx, y + dy);
                    (0..s).contains(&xx) && (0..s).contains(&yy) && b[(yy * s + xx) as usize] != 0
                })
            })
        })
        .count()
}

#[test]
fn the_cap_exported_and_imported_again_renders_like_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let specs = export(dir.path());
    let builtin = Geometry::Cap(ProductSpec::builtin_cap().shape());
    // The cap's own defects, placed on the built-in cap and applied to both.
    let product = ProductSpec::builtin_cap();
    let mut rng = Rng::new(5);
    let defects: Vec<Defect> = ["bulge", "dent", "chip"]
        .iter()
        .flat_map(|class| {
            let spec = &product.defects[*class];
            (0..2)
                .map(|_| spec.sample(&builtin, &mut rng))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut renderer = Renderer::new(Gpu::headless().expect("a wgpu adapter"));
    let reference = render(&mut renderer, &builtin, &defects);
    for spec in &specs {
        let name = &spec.name;
        let imported = Geometry::open(spec).unwrap();
        assert_eq!(
            imported.parts().named(),
            Field::parts(&builtin).named(),
            "{name}: part names and ids"
        );
        let frames = render(&mut renderer, &imported, &defects);

        // Shading: within one grey level on at least 99 % of pixels (issue 20). What differs
        // lies on the silhouette and the sharp edges between parts, where a sub-pixel move of
        // the mesh changes a supersampled pixel by many levels. docs/own-product.md has the
        // figures.
        let share = shade_mismatch(&reference[0], &frames[0]);
        let (edges, inner, inner_total) = mismatch_by_place(&reference[0], &frames[0]);
        eprintln!(
            "{name}: {:.2} % of pixels differ by more than one grey level ({edges} on \
             silhouettes or part borders, {inner} of {inner_total} ({:.2} %) elsewhere)",
            100.0 * share,
            100.0 * inner as f64 / inner_total as f64
        );
        assert!(
            share <= 0.01,
            "{name}: {:.2} % of pixels differ by more than one grey level",
            100.0 * share
        );
        assert!(
            inner as f64 <= 0.001 * inner_total as f64,
            "{name}: {inner} of {inner_total} pixels away from edges differ by more than one \
             grey level"
        );

        // Parts: identical away from part borders.
        let mut mismatched = 0;
        for (a, b) in reference[0].iter().zip(&frames[0]) {
            for i in 0..a.part.len() {
                if away_from_borders(a, i) && a.part[i] != b.part[i] {
                    mismatched += 1;
                }
            }
        }
        let interior: usize = reference[0]
            .iter()
            .map(|a| {
                (0..a.part.len())
                    .filter(|&i| away_from_borders(a, i))
                    .count()
            })
            .sum();
        eprintln!(
            "{name}: part ids differ on {mismatched} of {interior} pixels away from part borders"
        );
        assert_eq!(
            mismatched, 0,
            "{name}: part ids differ away from part borders"
        );

        // Defect masks: every mask pixel within one pixel of the other's.
        let (mut all_mask_px, mut all_stray) = (0, 0);
        for (k, d) in defects.iter().enumerate() {
            let mut mask_px = 0;
            for pose in 0..reference[0].len() {
                let a = defect_mask(&reference[0][pose], &reference[k + 1][pose], 0.01);
                let b = defect_mask(&frames[0][pose], &frames[k + 1][pose], 0.01);
                mask_px += a.iter().filter(|m| **m != 0).count();
                let stray = farther_than_a_pixel(&a, &b) + farther_than_a_pixel(&b, &a);
                all_stray += stray;
                assert_eq!(
                    stray, 0,
                    "{name}: {d:?} at pose {pose}: masks differ by more than a pixel"
                );
            }
            assert!(
                mask_px > 10,
                "{name}: {d:?} is hardly visible ({mask_px} px)"
            );
            all_mask_px += mask_px;
        }
        eprintln!(
            "{name}: {} defects at {} poses, {all_mask_px} mask pixels, {all_stray} farther \
             than one pixel from the other mask",
            defects.len(),
            reference[0].len()
        );
    }
}

#[test]
fn a_misplaced_import_is_caught_by_the_same_comparison() {
    // The check above can fail: the same cap scaled by 2 % renders visibly differently.
    let dir = tempfile::tempdir().unwrap();
    let spec = export(dir.path()).remove(1);
    let mut import = spec.import.clone().unwrap();
    import.scale = Some(1.02);
    let scaled = ProductSpec {
        import: Some(import),
        ..spec
    };
    let builtin = Geometry::Cap(ProductSpec::builtin_cap().shape());
    let mut renderer = Renderer::new(Gpu::headless().expect("a wgpu adapter"));
    let reference = render(&mut renderer, &builtin, &[]);
    let frames = render(&mut renderer, &Geometry::open(&scaled).unwrap(), &[]);
    let share = shade_mismatch(&reference[0], &frames[0]);
    assert!(share > 0.03, "only {:.2} % differ", 100.0 * share);
}

#[test]
fn an_imported_products_analytic_shape_is_empty_and_renders_as_background() {
    // The workbench's orbit view still draws `ProductSpec::shape()`; for an imported product
    // that is empty, and must render (as nothing) rather than fail.
    let spec = ProductSpec::from_toml_str(
        "version = 2\nname = \"x\"\n[import]\nfile = \"x.stl\"\nunits = \"mm\"\n",
        "x.toml",
    )
    .unwrap();
    let shape = spec.shape();
    let good = Solid::good(shape);
    let mesh = Grid::for_shape(&shape, MESH_CELL)
        .sample(&good)
        .surface_nets(&good);
    assert_eq!(mesh.triangle_count(), 0);
    let mut renderer = Renderer::new(Gpu::headless().expect("a wgpu adapter"));
    let empty = renderer.upload(&mesh);
    let frames = renderer
        .render(
            &[ViewRequest {
                mesh: &empty,
                camera: poses()[0],
                lighting: Lighting::default(),
                sensor: Default::default(),
            }],
            SIZE,
            SUPERSAMPLE,
        )
        .unwrap();
    assert!(frames[0].part.iter().all(|p| *p == 0));
    assert!(frames[0].shade.iter().all(|v| *v == 0));
}

#[test]
fn a_bare_mesh_is_a_product_with_generic_defects_that_renders_masked_samples() {
    // The workbench's "Open product…" and a recipe's `product` take a mesh file itself.
    let dir = tempfile::tempdir().unwrap();
    let mesh = dir.path().join("bracket.obj");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/products/bracket.obj"),
        &mesh,
    )
    .unwrap();
    let spec = ProductSpec::load(&mesh.display().to_string(), None).unwrap();
    assert_eq!(spec.name, "bracket");
    assert!(spec.is_imported());
    let classes: Vec<&str> = spec.defects.keys().map(String::as_str).collect();
    assert_eq!(classes, ["bulge", "chip", "dent"]);

    let recipe = format!(
        "version = 1\nname = \"bare\"\nproduct = {:?}\nseed = 5\n[image]\nsize = 32\n\
         [counts.train]\ngood = 2\n[counts.test]\nbulge = 2\ndent = 2\nchip = 2\n",
        mesh.display().to_string()
    );
    let recipe = unseen::dataset::Recipe::from_toml_str(&recipe, "bare.toml").unwrap();
    let out = dir.path().join("data");
    let mut renderer = Renderer::new(Gpu::headless().expect("a wgpu adapter"));
    unseen::dataset::generate(
        &mut renderer,
        recipe,
        spec,
        &out,
        &Default::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let manifest = unseen::dataset::Manifest::load(&out.join("manifest.json")).unwrap();
    let defective: Vec<_> = manifest
        .samples_of(unseen::dataset::Split::Test)
        .filter(|r| !r.id.is_good())
        .collect();
    assert_eq!(defective.len(), 6);
    for r in defective {
        assert!(r.visible_defect_px > 0, "{} shows no defect", r.image);
        let mask = image::open(out.join(r.mask.as_ref().unwrap()))
            .unwrap()
            .to_luma8();
        assert!(
            mask.pixels().any(|p| p.0[0] > 0),
            "{} has an empty mask",
            r.image
        );
    }
    // Inspection reopens the scene from the manifest alone (the mesh from where the render
    // read it, not from the working folder) to render the product at each image's pose.
    let synthesizer = unseen::refine::Synthesizer::open(&out, Gpu::headless().unwrap()).unwrap();
    let names: Vec<&str> = synthesizer
        .part_names()
        .values()
        .map(String::as_str)
        .collect();
    assert!(names.contains(&"upright"), "{names:?}");
}
