//! STL, binary and ASCII, read with `stl_io`. STL has no part labels of its own; an ASCII file
//! may hold several `solid NAME … endsolid` blocks, which become parts (a common way CAD tools
//! export several bodies). A binary file is one part, named after the file.

use std::io::Cursor;
use std::path::Path;

use glam::DVec3;

use super::{ImportError, MAX_TRIANGLES, PartMesh, PartsFrom, RawMesh};

const HEADER: usize = 84;
const RECORD: usize = 50;

pub fn read(bytes: &[u8], path: &Path, parts_from: PartsFrom) -> Result<RawMesh, ImportError> {
    let stem = file_stem(path);
    let mut mesh = RawMesh::default();
    if is_binary(bytes) {
        let count = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as usize;
        if count > MAX_TRIANGLES {
            return Err(ImportError::TooManyTriangles {
                path: path.display().to_string(),
                count,
                limit: MAX_TRIANGLES,
            });
        }
        if bytes.len() < HEADER + RECORD * count {
            return Err(format_error(
                path,
                format!(
                    "the header promises {count} triangles ({} bytes) but the file has {} bytes",
                    HEADER + RECORD * count,
                    bytes.len()
                ),
            ));
        }
        // stl_io tells ASCII from binary by a leading "solid ", which some binary writers put
        // in their header; the header carries nothing else, so blank it.
        let mut owned;
        let data = if bytes.starts_with(b"solid") {
            owned = bytes[..HEADER + RECORD * count].to_vec();
            owned[..5].copy_from_slice(b"     ");
            &owned[..]
        } else {
            &bytes[..HEADER + RECORD * count]
        };
        let part = mesh.part_index(&stem);
        read_solid(&mut mesh, data, part, path)?;
        return Ok(mesh);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        format_error(
            path,
            "neither a binary STL (its size does not match the triangle count in its header) \
             nor ASCII text"
                .into(),
        )
    })?;
    let solids = split_solids(text).map_err(|m| format_error(path, m))?;
    if solids.is_empty() {
        return Err(format_error(path, "no `solid` block found".into()));
    }
    for (name, block) in solids {
        let name = match parts_from {
            PartsFrom::Single => stem.clone(),
            _ if name.is_empty() => stem.clone(),
            _ => name,
        };
        let part = mesh.part_index(&name);
        read_solid(&mut mesh, block.as_bytes(), part, path)?;
    }
    Ok(mesh)
}

/// Binary when the size matches the triangle count in the header exactly, or when the file
/// does not start like ASCII STL.
fn is_binary(bytes: &[u8]) -> bool {
    if bytes.len() < HEADER {
        return false;
    }
    let count = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as u64;
    let exact = HEADER as u64 + RECORD as u64 * count == bytes.len() as u64;
    let trimmed = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    exact || !bytes[trimmed..].starts_with(b"solid")
}

/// The `solid NAME … endsolid` blocks of an ASCII file, each rewritten to start with
/// `solid NAME` as `stl_io` expects.
fn split_solids(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut solids = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let word = trimmed.split_whitespace().next().unwrap_or("");
        match (&mut current, word) {
            (None, "solid") => {
                let name = trimmed["solid".len()..].trim().to_string();
                let header = format!("solid {}\n", if name.is_empty() { "part" } else { &name });
                current = Some((name, header));
            }
            (None, _) => {
                return Err(format!(
                    "line {}: expected `solid`, found {:?}",
                    n + 1,
                    shorten(trimmed)
                ));
            }
            (Some((_, block)), "endsolid") => {
                block.push_str("endsolid\n");
                solids.extend(current.take());
            }
            (Some(_), "solid") => {
                return Err(format!("line {}: `solid` inside another solid", n + 1));
            }
            (Some((_, block)), _) => {
                block.push_str(trimmed);
                block.push('\n');
            }
        }
    }
    if current.is_some() {
        return Err("the last solid has no `endsolid`".into());
    }
    Ok(solids)
}

fn read_solid(mesh: &mut RawMesh, data: &[u8], part: u32, path: &Path) -> Result<(), ImportError> {
    let mut cursor = Cursor::new(data);
    let reader =
        stl_io::create_stl_reader(&mut cursor).map_err(|e| format_error(path, e.to_string()))?;
    for triangle in reader {
        let triangle = triangle.map_err(|e| format_error(path, e.to_string()))?;
        let first = mesh.positions.len() as u32;
        for v in triangle.vertices {
            mesh.positions.push(DVec3::new(
                f64::from(v[0]),
                f64::from(v[1]),
                f64::from(v[2]),
            ));
        }
        mesh.push_triangle([first, first + 1, first + 2], part)
            .map_err(|count| ImportError::TooManyTriangles {
                path: path.display().to_string(),
                count,
                limit: MAX_TRIANGLES,
            })?;
    }
    Ok(())
}

fn format_error(path: &Path, message: String) -> ImportError {
    ImportError::Format {
        path: path.display().to_string(),
        format: "STL",
        message,
    }
}

pub fn file_stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("part")
        .to_string()
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Writes a mesh as ASCII STL, one `solid` block per part: how part names survive in STL.
pub fn write_ascii(mesh: &PartMesh) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (name, triangles) in &mesh.parts {
        let _ = writeln!(out, "solid {name}");
        for t in triangles {
            let [a, b, c] = t.map(|v| mesh.positions[v as usize]);
            let n = (b - a).cross(c - a).normalize_or_zero();
            let _ = writeln!(
                out,
                "  facet normal {} {} {}",
                n.x as f32, n.y as f32, n.z as f32
            );
            out.push_str("    outer loop\n");
            for v in [a, b, c] {
                let _ = writeln!(
                    out,
                    "      vertex {} {} {}",
                    v.x as f32, v.y as f32, v.z as f32
                );
            }
            out.push_str("    endloop\n  endfacet\n");
        }
        let _ = writeln!(out, "endsolid {name}");
    }
    out
}

/// Writes a mesh as binary STL (one part: binary STL has no names).
pub fn write_binary(mesh: &PartMesh) -> Vec<u8> {
    let count: usize = mesh.parts.iter().map(|(_, t)| t.len()).sum();
    let mut out = Vec::with_capacity(HEADER + RECORD * count);
    let mut header = [b' '; 80];
    header[..11].copy_from_slice(b"unseen mesh");
    out.extend_from_slice(&header);
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for t in mesh.parts.iter().flat_map(|(_, t)| t) {
        let [a, b, c] = t.map(|v| mesh.positions[v as usize]);
        let n = (b - a).cross(c - a).normalize_or_zero();
        for v in [n, a, b, c] {
            for x in v.to_array() {
                out.extend_from_slice(&(x as f32).to_le_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
    }
    out
}
