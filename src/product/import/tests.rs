//! The loaders on files written here, good and malformed.

use std::path::{Path, PathBuf};

use glam::{DMat4, DVec3};

use super::*;

/// Two closed boxes, 20 mm wide and 12 mm tall together, parts "base" and "top".
fn two_boxes() -> PartMesh {
    let mut mesh = PartMesh::default();
    mesh.add_box("base", DVec3::ZERO, DVec3::new(20.0, 5.0, 20.0));
    mesh.add_box(
        "top",
        DVec3::new(5.0, 5.0, 5.0),
        DVec3::new(15.0, 12.0, 15.0),
    );
    mesh
}

fn spec(file: &Path, parts_from: PartsFrom) -> ImportSpec {
    ImportSpec {
        file: file.display().to_string(),
        units: Units::Mm,
        up: UpAxis::PosY,
        parts_from,
        size: 2.0,
        scale: None,
        origin: Default::default(),
        resolution: 64,
        max_open_fraction: 0.02,
        source_dir: None,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn import(path: &Path, parts_from: PartsFrom) -> Result<ImportedMesh, ImportError> {
    let spec = spec(path, parts_from);
    let (raw, sources) = load(&spec, None)?;
    prepare(raw, &spec, &PartTable::default(), &sources.path)
}

fn part_names(mesh: &ImportedMesh) -> Vec<String> {
    mesh.parts
        .named()
        .iter()
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Triangles per part name.
fn counts(mesh: &ImportedMesh) -> Vec<(String, usize)> {
    mesh.parts
        .named()
        .iter()
        .map(|(id, n)| {
            (
                n.to_string(),
                mesh.triangle_parts.iter().filter(|p| *p == id).count(),
            )
        })
        .collect()
}

#[test]
fn every_format_keeps_the_part_names_and_places_the_product() {
    let dir = tempfile::tempdir().unwrap();
    let boxes = two_boxes();
    let expected = vec![("base".to_string(), 12), ("top".to_string(), 12)];
    let files = [
        (
            write(
                dir.path(),
                "a.stl",
                super::stl::write_ascii(&boxes).as_bytes(),
            ),
            PartsFrom::Auto,
        ),
        (
            write(dir.path(), "a.obj", super::obj::write(&boxes).as_bytes()),
            PartsFrom::Auto,
        ),
        (
            write(dir.path(), "m.obj", super::obj::write(&boxes).as_bytes()),
            PartsFrom::Material,
        ),
        (
            write(
                dir.path(),
                "a.glb",
                &super::gltf::write_glb(&boxes, "root", DMat4::IDENTITY),
            ),
            PartsFrom::Auto,
        ),
        (
            write(
                dir.path(),
                "m.glb",
                &super::gltf::write_glb(&boxes, "root", DMat4::IDENTITY),
            ),
            PartsFrom::Material,
        ),
        (
            write(
                dir.path(),
                "n.glb",
                &super::gltf::write_glb(&boxes, "root", DMat4::IDENTITY),
            ),
            PartsFrom::Mesh,
        ),
    ];
    for (path, from) in &files {
        let mesh = import(path, *from).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(counts(&mesh), expected, "{} ({from:?})", path.display());
        assert_eq!(mesh.report.boundary_edges, 0);
        // 20 mm wide, 12 tall: scaled to 2 units wide, standing on y = 0, centred on the axis.
        let (lo, hi) = bounds(&mesh);
        assert!((lo - DVec3::new(-1.0, 0.0, -1.0)).length() < 1e-6, "{lo}");
        assert!((hi - DVec3::new(1.0, 1.2, 1.0)).length() < 1e-6, "{hi}");
        assert!((mesh.placement.render_units_per_mm() - 0.1).abs() < 1e-9);
    }
    // Binary STL has no names: one part, named after the file.
    let binary = write(dir.path(), "plain.stl", &super::stl::write_binary(&boxes));
    let mesh = import(&binary, PartsFrom::Auto).unwrap();
    assert_eq!(counts(&mesh), vec![("plain".to_string(), 24)]);
    // glTF primitives are named by their mesh and index.
    let glb = &files[3].0;
    assert_eq!(
        part_names(&import(glb, PartsFrom::Primitive).unwrap()),
        ["base/0", "top/0"]
    );
    assert_eq!(part_names(&import(glb, PartsFrom::Single).unwrap()), ["a"]);
}

fn bounds(mesh: &ImportedMesh) -> (DVec3, DVec3) {
    crate::product::geometry::bounds_of(mesh.positions.iter().copied())
}

#[test]
fn a_binary_stl_whose_header_starts_with_solid_is_still_binary() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = super::stl::write_binary(&two_boxes());
    bytes[..12].copy_from_slice(b"solid export");
    let path = write(dir.path(), "solid.stl", &bytes);
    assert_eq!(import(&path, PartsFrom::Auto).unwrap().triangles.len(), 24);
}

#[test]
fn gltf_buffers_load_from_beside_the_file_and_node_transforms_apply() {
    let dir = tempfile::tempdir().unwrap();
    let boxes = two_boxes();
    // Turned a quarter about x and moved: the node transform must be applied before placing.
    let turn = DMat4::from_translation(DVec3::new(100.0, 0.0, 0.0))
        * DMat4::from_rotation_x(std::f64::consts::FRAC_PI_2);
    let glb = super::gltf::write_glb(&boxes, "root", turn);
    let json_len = u32::from_le_bytes([glb[12], glb[13], glb[14], glb[15]]) as usize;
    let mut document: serde_json::Value = serde_json::from_slice(&glb[20..20 + json_len]).unwrap();
    document["buffers"][0]["uri"] = serde_json::json!("part%20data.bin");
    write(dir.path(), "part data.bin", &glb[20 + json_len + 8..]);
    let path = write(dir.path(), "a.gltf", document.to_string().as_bytes());
    let mut s = spec(&path, PartsFrom::Node);
    s.up = UpAxis::NegZ;
    let (raw, sources) = load(&s, None).unwrap();
    assert_eq!(
        sources.referenced.len(),
        1,
        "the buffer is part of the cache key"
    );
    let mesh = prepare(raw, &s, &PartTable::default(), &path).unwrap();
    assert_eq!(part_names(&mesh), ["base", "top"]);
    // The rotation took the boxes' +y (their height) to +z... and -z up turns it to -y: the
    // 12 mm are now along y, the top box below the base.
    let (lo, hi) = bounds(&mesh);
    assert!((hi.y - lo.y - 1.2).abs() < 1e-6, "{lo} {hi}");
    let top = mesh.parts.id_of("top").unwrap();
    let top_y: f64 = mesh
        .triangles
        .iter()
        .zip(&mesh.triangle_parts)
        .filter(|(_, p)| **p == top)
        .map(|(t, _)| mesh.positions[t[0] as usize].y)
        .fold(f64::INFINITY, f64::min);
    assert!(
        top_y < 0.05,
        "the top box should now be at the bottom: {top_y}"
    );

    // Paths that leave the folder, and network URIs, are not followed.
    for uri in ["../secret.bin", "/etc/passwd", "http://example.com/a.bin"] {
        document["buffers"][0]["uri"] = serde_json::json!(uri);
        let path = write(dir.path(), "b.gltf", document.to_string().as_bytes());
        let err = import(&path, PartsFrom::Auto).unwrap_err().to_string();
        assert!(err.contains("b.gltf"), "{err}");
    }
}

#[test]
fn pinned_part_ids_are_kept_and_the_rest_numbered_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.obj",
        super::obj::write(&two_boxes()).as_bytes(),
    );
    let s = spec(&path, PartsFrom::Auto);
    let (raw, _) = load(&s, None).unwrap();
    let pinned = PartTable::from_pairs([(1, "top".to_string())]);
    let mesh = prepare(raw.clone(), &s, &pinned, &path).unwrap();
    assert_eq!(mesh.parts.named(), [(1, "top"), (2, "base")]);
    let wrong = PartTable::from_pairs([(7, "lid".to_string())]);
    let err = prepare(raw, &s, &wrong, &path).unwrap_err().to_string();
    assert!(
        err.contains("parts.lid") && err.contains("base, top"),
        "{err}"
    );
}

#[test]
fn bad_meshes_are_refused_with_the_file_and_the_problem_named() {
    let dir = tempfile::tempdir().unwrap();
    let boxes = two_boxes();
    let mut nan = super::stl::write_binary(&boxes);
    nan[84 + 12..84 + 16].copy_from_slice(&f32::NAN.to_le_bytes());
    let mut truncated = super::stl::write_binary(&boxes);
    truncated.truncate(300);
    let glb = super::gltf::write_glb(&boxes, "root", DMat4::IDENTITY);
    let mut huge_count = super::stl::write_binary(&boxes);
    huge_count[80..84].copy_from_slice(&u32::MAX.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.stl", Vec::new(), "no `solid` block"),
        (
            "empty-solid.stl",
            b"solid x\nendsolid x\n".to_vec(),
            "no triangles",
        ),
        ("nan.stl", nan, "NaN or infinite"),
        ("truncated.stl", truncated, "header promises"),
        ("huge.stl", huge_count, "more than the limit"),
        (
            "text.stl",
            b"hello world, no mesh here".to_vec(),
            "expected `solid`",
        ),
        (
            "image.obj",
            vec![0x89, b'P', b'N', b'G', 0xff, 0xfe],
            "not UTF-8",
        ),
        (
            "nothing.obj",
            b"# just a comment\n".to_vec(),
            "no triangles",
        ),
        (
            "bad-index.obj",
            b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n".to_vec(),
            "OBJ",
        ),
        (
            "inf.obj",
            b"v 0 0 0\nv 1 0 0\nv 0 inf 0\nf 1 2 3\n".to_vec(),
            "NaN or infinite",
        ),
        ("short.glb", glb[..40].to_vec(), "glTF"),
        ("text.glb", b"{\"asset\": 7}".to_vec(), "glTF"),
        ("mesh.ply", b"ply\n".to_vec(), "must end in"),
    ];
    for (name, bytes, expected) in cases {
        let path = write(dir.path(), name, &bytes);
        let err = import(&path, PartsFrom::Auto).expect_err(name).to_string();
        assert!(err.contains(name), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected {expected:?} in {err}"
        );
    }
    let missing = import(&dir.path().join("missing.stl"), PartsFrom::Auto).unwrap_err();
    assert!(missing.to_string().contains("missing.stl"), "{missing}");
}

#[test]
fn open_meshes_import_with_a_warning_up_to_the_limit_and_sizes_must_make_sense() {
    let dir = tempfile::tempdir().unwrap();
    let mut boxes = two_boxes();
    boxes.parts[1].1.truncate(10); // the top box loses a face: four open edges
    let path = write(dir.path(), "open.obj", super::obj::write(&boxes).as_bytes());
    let err = import(&path, PartsFrom::Auto).unwrap_err().to_string();
    assert!(err.contains("open.obj") && err.contains("holes"), "{err}");
    let mut s = spec(&path, PartsFrom::Auto);
    s.max_open_fraction = 0.2;
    let (raw, _) = load(&s, None).unwrap();
    let mesh = prepare(raw, &s, &PartTable::default(), &path).unwrap();
    assert_eq!(mesh.report.boundary_edges, 4);
    let warning = mesh.report.warnings().join("\n");
    assert!(
        warning.contains("4 of") && warning.contains("open"),
        "{warning}"
    );

    // 20 units stated as metres is 20 m: still a product (a big one). As kilometres it would
    // not be; in micrometres it is 20 µm across, too small to be one.
    for (units, ok) in [(Units::M, true), (Units::Um, false)] {
        let path = write(
            dir.path(),
            "sized.obj",
            super::obj::write(&two_boxes()).as_bytes(),
        );
        let mut s = spec(&path, PartsFrom::Auto);
        s.units = units;
        let (raw, _) = load(&s, None).unwrap();
        let result = prepare(raw, &s, &PartTable::default(), &path);
        assert_eq!(result.is_ok(), ok, "{units:?}");
        if let Err(e) = result {
            let e = e.to_string();
            assert!(e.contains("sized.obj") && e.contains("import.units"), "{e}");
        }
    }
}

#[test]
fn up_axes_are_proper_rotations_and_placement_inverts() {
    let p = DVec3::new(0.3, -1.7, 2.9);
    for up in [
        UpAxis::PosX,
        UpAxis::NegX,
        UpAxis::PosY,
        UpAxis::NegY,
        UpAxis::PosZ,
        UpAxis::NegZ,
    ] {
        assert!((up.from_y_up(up.to_y_up(p)) - p).length() < 1e-12, "{up:?}");
        let (x, y, z) = (
            up.to_y_up(DVec3::X),
            up.to_y_up(DVec3::Y),
            up.to_y_up(DVec3::Z),
        );
        assert!((x.cross(y) - z).length() < 1e-12, "{up:?} mirrors");
        let axis = match up {
            UpAxis::PosX => DVec3::X,
            UpAxis::NegX => -DVec3::X,
            UpAxis::PosY => DVec3::Y,
            UpAxis::NegY => -DVec3::Y,
            UpAxis::PosZ => DVec3::Z,
            UpAxis::NegZ => -DVec3::Z,
        };
        assert!((up.to_y_up(axis) - DVec3::Y).length() < 1e-12, "{up:?}");
    }
    let placement = Placement {
        units: Units::Mm,
        up: UpAxis::PosZ,
        scale: 0.05,
        offset: [1.0, 2.0, 3.0],
        extent: [1.0; 3],
    };
    assert!((placement.to_file(placement.to_render(p)) - p).length() < 1e-12);
}

#[test]
fn the_grid_cell_follows_the_placed_size_whether_fitted_or_scaled() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.obj",
        super::obj::write(&two_boxes()).as_bytes(),
    );
    let fitted = spec(&path, PartsFrom::Auto);
    // Scaled: 20 file units at 0.01 render units each make a product 0.2 across, a tenth of
    // the fitted one; its cells must shrink with it.
    let scaled = ImportSpec {
        scale: Some(0.01),
        ..fitted.clone()
    };
    for (spec, across) in [(fitted, 2.0), (scaled, 0.2)] {
        let (raw, sources) = load(&spec, None).unwrap();
        let mesh = prepare(raw, &spec, &PartTable::default(), &sources.path).unwrap();
        let (lo, hi) = bounds(&mesh);
        assert!(((hi - lo).max_element() - across).abs() < 1e-9, "{lo} {hi}");
        let cell = spec.grid_cell(&mesh);
        assert!(
            (cell - across / 64.0).abs() < 1e-12,
            "cell {cell} for {across} across"
        );
    }
}
