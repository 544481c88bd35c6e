//! Real renders on whatever wgpu adapter the machine has (Mesa's lavapipe in CI).
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use glam::Quat;
use unseen::product::mesh::mesh_solid;
use unseen::product::sdf::Solid;
use unseen::product::{Defect, ProductSpec};
use unseen::render::readback::{PendingReadback, read_all};
use unseen::render::{Camera, Frame, Gpu, Lighting, Renderer, ViewRequest};

fn gpu() -> Gpu {
    Gpu::headless().expect("a wgpu adapter (install mesa-vulkan-drivers)")
}

#[test]
fn readback_strips_row_padding_at_odd_widths() {
    let gpu = gpu();
    for (width, format, bpp) in [
        (1u32, wgpu::TextureFormat::Rgba8Unorm, 4usize),
        (3, wgpu::TextureFormat::R8Uint, 1),
        (37, wgpu::TextureFormat::Rgba8Unorm, 4),
        (63, wgpu::TextureFormat::R32Float, 4),
        (65, wgpu::TextureFormat::R8Uint, 1),
        (257, wgpu::TextureFormat::Rgba8Unorm, 4),
    ] {
        let height = 5u32;
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::COPY_DST | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let bytes: Vec<u8> = (0..width as usize * height as usize * bpp)
            .map(|i| (i * 7 + i / 13) as u8 & 0x7f)
            .collect();
        gpu.queue.write_texture(
            texture.as_image_copy(),
            &bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(width * bpp as u32),
                rows_per_image: Some(height),
            },
            texture.size(),
        );
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        let pending = vec![PendingReadback::record(
            &gpu.device,
            &mut encoder,
            &texture,
            1,
        )];
        gpu.queue.submit([encoder.finish()]);
        let back = read_all(&gpu.device, pending).expect("readback");
        assert_eq!(back[0], bytes, "width {width} {format:?}");
    }
}

fn upright(rotation: Quat) -> Camera {
    Camera::new(rotation, glam::Vec3::new(0.0, 1.0, 0.0), 7.0, 30.0)
}

fn render(
    solids: &[Solid],
    camera: Camera,
    lighting: Lighting,
    size: u32,
    factor: u32,
) -> Vec<Frame> {
    let mut renderer = Renderer::new(gpu());
    let meshes: Vec<_> = solids
        .iter()
        .map(|s| renderer.upload(&mesh_solid(s, 0.03)))
        .collect();
    let views: Vec<_> = meshes
        .iter()
        .map(|mesh| ViewRequest {
            mesh,
            camera,
            lighting,
            sensor: Default::default(),
        })
        .collect();
    renderer.render(&views, size, factor).expect("render")
}

fn good() -> Solid {
    Solid::good(ProductSpec::builtin_cap().shape())
}

#[test]
fn the_cap_is_centred_sized_and_its_parts_are_where_they_belong() {
    let size = 64;
    let frame = &render(
        &[good()],
        upright(Quat::IDENTITY),
        Lighting::default(),
        size,
        2,
    )[0];
    let parts = ProductSpec::builtin_cap().shape().parts;
    let s = size as usize;
    let covered: Vec<(usize, usize)> = (0..s * s)
        .filter(|&i| frame.part[i] != 0)
        .map(|i| (i % s, i / s))
        .collect();
    let (x0, x1) = (
        covered.iter().map(|p| p.0).min().unwrap(),
        covered.iter().map(|p| p.0).max().unwrap(),
    );
    let (y0, y1) = (
        covered.iter().map(|p| p.1).min().unwrap(),
        covered.iter().map(|p| p.1).max().unwrap(),
    );
    // 64 px span 2·7·tan(15°) = 3.75 units: the cap is about 34 px tall and 34-37 px wide.
    let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
    assert!((32..=40).contains(&w), "width {w}");
    assert!((32..=38).contains(&h), "height {h}");
    assert!(
        ((x0 + x1) as f64 / 2.0 - 31.5).abs() < 1.5,
        "not centred: {x0}..{x1}"
    );
    // Seen from the front, the notch faces the camera at the bottom centre; the dome is on top.
    let at = |x: usize, y: usize| frame.part[y * s + x];
    assert_eq!(at(32, y0 + 3), parts.dome);
    assert_eq!(at(32, y1 - 3), parts.notch);
    assert_eq!(at(x0 + 4, y1 - 6), parts.wall);
    assert_eq!(frame.part[0], 0);
    // The lit side (light from the upper left) is brighter than the right side.
    let left = frame.shade[(y0 + 20) * s + x0 + 3];
    let right = frame.shade[(y0 + 20) * s + x1 - 3];
    assert!(left > right + 20, "left {left} right {right}");
    // Depth is about the camera distance minus the radius at the front.
    let d = frame.depth[(y0 + 20) * s + 32];
    assert!((d - 6.0).abs() < 0.1, "front depth {d}");
}

#[test]
fn seen_from_below_the_base_shows() {
    let below = Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2);
    let frame = &render(&[good()], upright(below), Lighting::default(), 48, 2)[0];
    let base = ProductSpec::builtin_cap().shape().parts.base;
    let n = frame.part.iter().filter(|p| **p == base).count();
    assert!(n > 300, "only {n} base pixels");
}

#[test]
fn supersampling_smooths_the_outline() {
    let grey_levels = |f: &Frame| {
        f.shade
            .iter()
            .zip(&f.part)
            .filter(|(v, p)| **p == 0 && **v > 0)
            .count()
    };
    let camera = upright(Quat::from_rotation_z(0.3));
    let aliased = &render(&[good()], camera, Lighting::default(), 64, 1)[0];
    let smooth = &render(&[good()], camera, Lighting::default(), 64, 3)[0];
    assert_eq!(
        grey_levels(aliased),
        0,
        "no partial pixels without supersampling"
    );
    assert!(
        grey_levels(smooth) > 30,
        "only {} blended edge pixels",
        grey_levels(smooth)
    );
}

#[test]
fn lighting_changes_shading_but_not_geometry() {
    let camera = upright(Quat::from_rotation_y(0.5));
    let a = &render(&[good()], camera, Lighting::default(), 64, 2)[0];
    let brighter = Lighting {
        intensity: 1.2,
        direction: [0.5, 0.5, 0.7],
        ..Default::default()
    };
    let b = &render(&[good()], camera, brighter, 64, 2)[0];
    assert_eq!(a.part, b.part);
    assert_eq!(a.depth, b.depth);
    let changed = a.shade.iter().zip(&b.shade).filter(|(x, y)| x != y).count();
    assert!(changed > 500, "{changed}");
}

/// How many pixels of `b` stand to the same pixel of `a` as `relation` says.
fn pixels_where(a: &Frame, b: &Frame, relation: impl Fn(u8, u8) -> bool) -> usize {
    a.shade
        .iter()
        .zip(&b.shade)
        .filter(|(x, y)| relation(**x, **y))
        .count()
}

#[test]
fn shadows_darken_what_the_product_hides_from_the_light_and_nothing_else() {
    let camera = upright(Quat::from_rotation_x(0.6) * Quat::from_rotation_y(0.4));
    let shadowed = |direction: [f32; 3], shadow: f32| Lighting {
        direction,
        intensity: 1.0,
        ambient: 0.1,
        shadow,
        ..Default::default()
    };
    // A light beside the camera: what the camera sees, the light sees, so full-strength
    // shadows leave the picture as it was (no surface shadows itself).
    let front = &render(&[good()], camera, shadowed([0.0, 0.0, 1.0], 0.0), 96, 2)[0];
    let front_shadowed = &render(&[good()], camera, shadowed([0.0, 0.0, 1.0], 1.0), 96, 2)[0];
    let moved = pixels_where(front, front_shadowed, |a, b| a.abs_diff(b) > 2);
    let covered = front.part.iter().filter(|p| **p != 0).count();
    assert!(covered > 2000, "{covered}");
    assert!(
        moved * 100 < covered,
        "a light at the camera must cast no visible shadow: {moved} of {covered} pixels moved"
    );
    // A grazing light: the rim and the notch's walls shadow the surface behind them. Shadows
    // only take light away, and leave parts and depth alone.
    let side = &render(&[good()], camera, shadowed([1.0, 0.3, 0.35], 0.0), 96, 2)[0];
    let side_shadowed = &render(&[good()], camera, shadowed([1.0, 0.3, 0.35], 1.0), 96, 2)[0];
    assert_eq!(side.part, side_shadowed.part);
    assert_eq!(side.depth, side_shadowed.depth);
    let brighter = pixels_where(side, side_shadowed, |a, b| b > a.saturating_add(1));
    let darker = pixels_where(side, side_shadowed, |a, b| a.saturating_sub(b) > 20);
    assert_eq!(brighter, 0, "shadows never add light");
    assert!(
        darker * 50 > covered,
        "a grazing light must leave shadows: {darker} of {covered} pixels darker by 20 levels"
    );
    // Half strength: a shadowed pixel keeps about half of what it lost at full strength.
    let half = &render(&[good()], camera, shadowed([1.0, 0.3, 0.35], 0.5), 96, 2)[0];
    for ((full, none), half) in side_shadowed.shade.iter().zip(&side.shade).zip(&half.shade) {
        if none.saturating_sub(*full) > 20 {
            let expected = (f32::from(*full) + f32::from(*none)) / 2.0;
            assert!(
                (f32::from(*half) - expected).abs() <= 2.0,
                "half strength: {half}, between {full} and {none}"
            );
        }
    }
}

#[test]
fn a_bulge_shows_up_on_top_of_the_dome_and_only_there() {
    let shape = ProductSpec::builtin_cap().shape();
    let bulge = Solid::with_defect(
        shape,
        Defect::Bulge {
            centre: [0.0, 1.85, 0.0],
            radius: 0.3,
            blend: 0.08,
            surface: None,
        },
    );
    let frames = render(
        &[good(), bulge],
        upright(Quat::IDENTITY),
        Lighting::default(),
        64,
        2,
    );
    let (g, b) = (&frames[0], &frames[1]);
    let mask = unseen::dataset::sample::defect_mask(g, b, 0.01);
    let s = 64;
    let rows: Vec<usize> = (0..s * s)
        .filter(|&i| mask[i] != 0)
        .map(|i| i / s)
        .collect();
    // Seen from the side the bump stands ~0.15 units (2-3 px) above a ~9 px wide stretch.
    assert!(rows.len() > 10, "mask has {} pixels", rows.len());
    // The dome's top is at y = 2, 1 unit above the centre: ~17 px above the middle row.
    let top_row = 32.0 - 17.0;
    for r in &rows {
        assert!(
            (*r as f64) < top_row + 8.0,
            "mask pixel at row {r}, far below the dome top"
        );
    }
    // Away from the mask (more than 2 px), the two images are identical: the defect changes
    // nothing else.
    let near_mask = |i: usize| {
        let (x, y) = ((i % s) as isize, (i / s) as isize);
        (-2..=2).any(|dy| {
            (-2..=2).any(|dx| {
                let (xx, yy) = (x + dx, y + dy);
                (0..s as isize).contains(&xx)
                    && (0..s as isize).contains(&yy)
                    && mask[yy as usize * s + xx as usize] != 0
            })
        })
    };
    for i in 0..s * s {
        if !near_mask(i) {
            assert_eq!(
                g.shade[i], b.shade[i],
                "pixel {i} changed away from the mask"
            );
        }
    }
}

#[test]
fn large_renders_work_at_512_pixels() {
    let frame = &render(
        &[good()],
        upright(Quat::IDENTITY),
        Lighting::default(),
        512,
        2,
    )[0];
    let covered = frame.part.iter().filter(|p| **p != 0).count();
    // The cap's silhouette (about 2 × 2 units, at 136.5 px per unit) covers roughly 65,000 px.
    assert!((55_000..80_000).contains(&covered), "{covered} px covered");
}

#[test]
fn the_sensor_curves_and_lifts_each_view_on_its_own() {
    use unseen::render::Sensor;
    let mut renderer = Renderer::new(gpu());
    let mesh = renderer.upload(&mesh_solid(&good(), 0.03));
    let camera = upright(Quat::from_rotation_x(0.4));
    let lighting = Lighting::default();
    let curved = Sensor {
        gamma: 2.0,
        black_level: 0.04,
        blur_px: 0.0,
    };
    // One pass: the plain view, the curved one and the plain one again, so each layer's
    // sensor is its own.
    let views: Vec<_> = [Sensor::default(), curved, Sensor::default()]
        .into_iter()
        .map(|sensor| ViewRequest {
            mesh: &mesh,
            camera,
            lighting,
            sensor,
        })
        .collect();
    let frames = renderer.render(&views, 64, 2).expect("render");
    assert_eq!(
        frames[0], frames[2],
        "the default sensor must not depend on its neighbours"
    );
    let (plain, bent) = (&frames[0], &frames[1]);
    assert_eq!(
        plain.part, bent.part,
        "the sensor changes grey levels, not geometry"
    );
    let mut lifted = 0;
    for (&p, &b) in plain.shade.iter().zip(&bent.shade) {
        let expected = 255.0 * ((f32::from(p) / 255.0).sqrt() + 0.04);
        // The plain view's grey level is the linear value rounded to 8 bits: half a level
        // there moves its square root most in the darks; one more for the curve's rounding.
        let lo = (f32::from(p) - 0.5).max(0.0) / 255.0;
        let slack = 1.0 + 255.0 * ((f32::from(p) / 255.0).sqrt() - lo.sqrt());
        assert!(
            (f32::from(b) - expected.min(255.0)).abs() <= slack,
            "linear {p} gave {b}, expected {expected:.1}"
        );
        if b > p + 10 {
            lifted += 1;
        }
    }
    assert!(
        lifted > 200,
        "gamma 2 must brighten the mid-greys visibly ({lifted} px)"
    );
    // The background carries the black level: 0.04 is 10 grey levels.
    assert_eq!(bent.shade[0], 10);
    assert_eq!(plain.shade[0], 0);
    assert!(
        Sensor {
            gamma: 9.0,
            ..Sensor::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        Sensor {
            blur_px: -1.0,
            ..Sensor::default()
        }
        .validate()
        .is_err()
    );
}
