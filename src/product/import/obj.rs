//! Wavefront OBJ, read with `tobj`. Parts are the `o`/`g` names (the default) or the `usemtl`
//! material names. Only the names of materials matter here, and the OBJ file itself says which
//! faces use which, so material libraries are not read: no other file is opened.

use std::io::{BufReader, Cursor, Read};
use std::path::Path;

use glam::DVec3;

use super::stl::file_stem;
use super::{ImportError, MAX_TRIANGLES, PartMesh, PartsFrom, RawMesh};

pub fn read(
    bytes: &[u8],
    path: &Path,
    parts_from: PartsFrom,
    _referenced: &mut Vec<(String, Vec<u8>)>,
) -> Result<RawMesh, ImportError> {
    let format_error = |message: String| ImportError::Format {
        path: path.display().to_string(),
        format: "OBJ",
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format_error(format!(
            "not UTF-8 text (byte {} is not valid)",
            e.valid_up_to()
        ))
    })?;
    // tobj resolves `usemtl` names only against loaded material libraries: hand it one that
    // holds every name the file uses, and announce it when the file names no library.
    let material_names = usemtl_names(text);
    let has_library = text.lines().any(|l| l.trim_start().starts_with("mtllib"));
    let prefix: &[u8] = if has_library || material_names.is_empty() {
        b""
    } else {
        b"mtllib unseen-materials.mtl\n"
    };
    let mut reader = BufReader::new(prefix.chain(Cursor::new(bytes)));
    let options = tobj::LoadOptions {
        triangulate: true,
        single_index: false,
        ignore_points: true,
        ignore_lines: true,
    };
    let (models, _) = tobj::load_obj_buf(&mut reader, &options, |_| {
        let materials: Vec<tobj::Material> = material_names
            .iter()
            .map(|name| tobj::Material {
                name: name.clone(),
                ..Default::default()
            })
            .collect();
        let index = material_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Ok((materials, index))
    })
    .map_err(|e| format_error(e.to_string()))?;

    let stem = file_stem(path);
    let mut mesh = RawMesh::default();
    for model in &models {
        let m = &model.mesh;
        if m.positions.len() % 3 != 0 || m.indices.len() % 3 != 0 {
            return Err(format_error(format!(
                "object {:?} did not triangulate",
                model.name
            )));
        }
        let name = match parts_from {
            PartsFrom::Single => stem.clone(),
            PartsFrom::Material => m
                .material_id
                .and_then(|i| material_names.get(i))
                .cloned()
                .unwrap_or_else(|| "no-material".into()),
            _ => model.name.clone(),
        };
        let part = mesh.part_index(&name);
        let first = mesh.positions.len();
        let count = m.positions.len() / 3;
        mesh.positions.extend(
            m.positions
                .chunks_exact(3)
                .map(|p| DVec3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2]))),
        );
        for t in m.indices.chunks_exact(3) {
            if t.iter().any(|&v| v as usize >= count) {
                return Err(format_error(format!(
                    "object {:?} refers to a vertex it does not have",
                    model.name
                )));
            }
            let t = [t[0], t[1], t[2]].map(|v| (first + v as usize) as u32);
            mesh.push_triangle(t, part)
                .map_err(|count| ImportError::TooManyTriangles {
                    path: path.display().to_string(),
                    count,
                    limit: MAX_TRIANGLES,
                })?;
        }
    }
    Ok(mesh)
}

/// Every `usemtl` name, in the order the file first uses them.
fn usemtl_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("usemtl") {
            let name = rest.trim();
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// Writes a mesh as OBJ, one `g` group per part (with a `usemtl` of the same name).
pub fn write(mesh: &PartMesh) -> String {
    use std::fmt::Write;
    let mut out = String::from("# written by unseen\n");
    for v in &mesh.positions {
        let _ = writeln!(out, "v {} {} {}", v.x as f32, v.y as f32, v.z as f32);
    }
    for (name, triangles) in &mesh.parts {
        let _ = writeln!(out, "g {name}\nusemtl {name}");
        for t in triangles {
            let _ = writeln!(out, "f {} {} {}", t[0] + 1, t[1] + 1, t[2] + 1);
        }
    }
    out
}
