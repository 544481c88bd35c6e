//! The distance grid against exact distances, on meshes with holes, and its cache.

use std::path::Path;

use glam::DVec3;

use super::*;
use crate::product::import::{PartMesh, Units, UpAxis};
use crate::product::winding::test_meshes::sphere;
use crate::rng::Rng;

/// A triangle soup as an imported mesh in render units (no placement).
fn imported(triangles: &[[DVec3; 3]]) -> ImportedMesh {
    ImportedMesh {
        positions: triangles.iter().flatten().copied().collect(),
        triangles: (0..triangles.len() as u32)
            .map(|t| [3 * t, 3 * t + 1, 3 * t + 2])
            .collect(),
        triangle_parts: vec![1; triangles.len()],
        parts: PartTable::from_pairs([(1, "ball".to_string())]),
        placement: Placement {
            units: Units::Cm,
            up: UpAxis::PosY,
            scale: 1.0,
            offset: [0.0; 3],
            extent: [2.0; 3],
        },
        report: MeshReport::default(),
    }
}

#[test]
fn the_grid_is_the_exact_distance_near_the_surface_and_signed_right_everywhere() {
    let centre = DVec3::new(0.0, 1.0, 0.0);
    let shape =
        SampledShape::from_mesh(imported(&sphere(centre, 1.0, 48, 96)), 0.04, "ball").unwrap();
    let mut rng = Rng::new(2);
    for _ in 0..3000 {
        let p = centre
            + DVec3::new(
                rng.uniform(-1.6, 1.6),
                rng.uniform(-1.6, 1.6),
                rng.uniform(-1.6, 1.6),
            );
        let truth = (p - centre).length() - 1.0;
        let d = shape.sdf(p);
        if truth.abs() > 0.01 {
            assert_eq!(d < 0.0, truth < 0.0, "{p}: {d} vs {truth}");
        }
        // Within the band the grid interpolates exact distances (to the faceted sphere, whose
        // chords sit up to 0.001 inside the true one).
        if truth.abs() < 0.08 {
            assert!((d - truth).abs() < 0.004, "{p}: {d} vs {truth}");
        }
    }
}

#[test]
fn a_mesh_with_a_hole_flipped_and_doubled_faces_still_has_its_inside() {
    let centre = DVec3::new(0.0, 1.0, 0.0);
    let mut triangles = sphere(centre, 1.0, 24, 48);
    triangles.retain(|t| {
        let c = (t[0] + t[1] + t[2]) / 3.0 - centre;
        !(c.y.abs() < 0.15 && c.z > 0.85)
    });
    triangles[40] = [triangles[40][0], triangles[40][2], triangles[40][1]];
    let doubled: Vec<_> = triangles[200..230].to_vec();
    triangles.extend(doubled);
    let shape = SampledShape::from_mesh(imported(&triangles), 0.04, "holed").unwrap();
    // A ray cast from inside through the hole meets no face: parity would call the inside
    // outside there. The winding number bridges the hole.
    for p in [
        centre,
        centre + DVec3::new(0.0, 0.0, 0.5),
        centre + DVec3::new(0.3, -0.4, -0.6),
    ] {
        assert!(shape.sdf(p) < -0.2, "{p}: {}", shape.sdf(p));
    }
    for p in [
        centre + DVec3::new(0.0, 0.0, 1.3),
        centre + DVec3::new(1.2, 0.5, 0.0),
    ] {
        assert!(shape.sdf(p) > 0.1, "{p}: {}", shape.sdf(p));
    }
    // Meshed, it is one closed surface, the hole bridged.
    let mesh = crate::product::mesh::mesh_solid(
        &crate::product::sdf::Solid::good(crate::product::Geometry::Sampled(Arc::new(shape))),
        0.05,
    );
    assert!(mesh.is_closed());
    let volume = mesh.volume();
    let expected = 4.0 / 3.0 * std::f64::consts::PI;
    assert!((volume - expected).abs() / expected < 0.03, "{volume}");
}

#[test]
fn a_sheet_encloses_nothing_and_a_huge_grid_is_refused() {
    let sheet = [
        [DVec3::ZERO, DVec3::X, DVec3::Z],
        [DVec3::X, DVec3::new(1.0, 0.0, 1.0), DVec3::Z],
    ];
    let err = SampledShape::from_mesh(imported(&sheet), 0.05, "sheet.stl").unwrap_err();
    assert!(
        err.to_string().contains("sheet.stl") && err.to_string().contains("no volume"),
        "{err}"
    );
    let ball = sphere(DVec3::ZERO, 1.0, 8, 16);
    let err = SampledShape::from_mesh(imported(&ball), 0.003, "big.stl").unwrap_err();
    assert!(
        err.to_string().contains("big.stl") && err.to_string().contains("resolution"),
        "{err}"
    );
}

fn product_folder(dir: &Path) -> ProductSpec {
    let triangles = sphere(DVec3::ZERO, 10.0, 16, 32);
    let mesh = PartMesh {
        positions: triangles.iter().flatten().copied().collect(),
        parts: vec![(
            "ball".to_string(),
            (0..triangles.len() as u32)
                .map(|t| [3 * t, 3 * t + 1, 3 * t + 2])
                .collect(),
        )],
    };
    std::fs::write(
        dir.join("ball.obj"),
        crate::product::import::obj::write(&mesh),
    )
    .unwrap();
    let toml = "version = 2\nname = \"ball\"\n[import]\nfile = \"ball.obj\"\nunits = \"mm\"\nresolution = 48\n";
    std::fs::write(dir.join("ball.toml"), toml).unwrap();
    ProductSpec::load(&dir.join("ball.toml").display().to_string(), None).unwrap()
}

#[test]
fn the_grid_is_cached_beside_the_product_and_a_damaged_cache_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let spec = product_folder(dir.path());
    let import = spec.import.clone().unwrap();
    let first = SampledShape::open(&spec, &import).unwrap();
    let CacheOutcome::Written(file) = first.cache().clone() else {
        panic!("not written: {:?}", first.cache());
    };
    assert!(file.starts_with(dir.path().join(CACHE_DIR)));
    let second = SampledShape::open(&spec, &import).unwrap();
    assert_eq!(second.cache(), &CacheOutcome::Hit(file.clone()));
    assert!(
        second == first,
        "the cached grid differs from the built one"
    );

    let good = std::fs::read(&file).unwrap();
    let damaged = [
        ("flipped byte: checksum", {
            let mut b = good.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0x10;
            b
        }),
        ("truncated: checksum", good[..good.len() / 3].to_vec()),
        ("empty: too short", Vec::new()),
        ("garbage: checksum", b"not a cache at all".repeat(20)),
        (
            "a brick index past the bricks, checksum made to match: brick index",
            {
                resealed(&good, |b| {
                    let coarse_dims = (0..3).map(|a| {
                        let at = 104 + 8 * a;
                        u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize
                    });
                    let brick_of = 136 + 5 * coarse_dims.product::<usize>();
                    b[brick_of..brick_of + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                })
            },
        ),
        (
            "a NaN value, checksum made to match: values out of range",
            {
                resealed(&good, |b| {
                    b[136..140].copy_from_slice(&f32::NAN.to_le_bytes())
                })
            },
        ),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&file, &bytes).unwrap();
        let reopened = SampledShape::open(&spec, &import).unwrap();
        assert!(
            // `what` ends in the reason the cache must be refused for.
            matches!(reopened.cache(), CacheOutcome::Rebuilt(f, why)
                if *f == file && why.contains(what.rsplit(": ").next().unwrap())),
            "{what}: {:?}",
            reopened.cache()
        );
        assert!(reopened == first, "{what}: rebuilt grid differs");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            good,
            "{what}: cache not rewritten"
        );
    }

    // Other settings are another grid, in another file.
    let mut finer = import.clone();
    finer.resolution = 64;
    let other = SampledShape::open(&spec, &finer).unwrap();
    assert!(matches!(other.cache(), CacheOutcome::Written(f) if *f != file));
}

/// A cache file changed by `edit` with its trailing SHA-256 recomputed, so only the checks
/// past the checksum can catch it.
fn resealed(file: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut body = file[..file.len() - 32].to_vec();
    edit(&mut body);
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);
    body
}
