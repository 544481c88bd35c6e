//! glTF 2.0, as `.gltf` (JSON) or `.glb` (binary), read with the `gltf` crate. Parts are node
//! names (the default), mesh names, mesh primitives or material names. Node transforms are
//! applied. Buffers come from the GLB's binary chunk, from `data:` URIs or from files beside
//! the mesh (never outside its folder, never from the network); every accessor is read with
//! its bounds checked here rather than trusted.

use std::path::Path;

use base64::Engine;
use glam::{DMat4, DVec3};
use gltf::accessor::{DataType, Dimensions};
use gltf::mesh::Mode;

use super::stl::file_stem;
use super::{
    ImportError, MAX_FILE_BYTES, MAX_TRIANGLES, PartMesh, PartsFrom, RawMesh, read_bounded,
    referenced_file,
};

/// Nodes visited at most (a node listed as the child of several parents is visited once per
/// path to it).
const MAX_NODE_VISITS: usize = 100_000;
const MAX_DEPTH: usize = 64;

pub fn read(
    bytes: &[u8],
    path: &Path,
    parts_from: PartsFrom,
    referenced: &mut Vec<(String, Vec<u8>)>,
) -> Result<RawMesh, ImportError> {
    let format_error = |message: String| ImportError::Format {
        path: path.display().to_string(),
        format: "glTF",
        message,
    };
    // The GLB container is split here: the gltf crate's own splitter underflows on a header
    // that claims less than its own length.
    let (json, blob) = if bytes.starts_with(b"glTF") {
        let (json, bin) = split_glb(bytes).map_err(&format_error)?;
        (json, bin.map(<[u8]>::to_vec))
    } else {
        (bytes, None)
    };
    let gltf::Gltf { document, .. } =
        gltf::Gltf::from_slice_without_validation(json).map_err(|e| format_error(e.to_string()))?;
    // gltf-json's validator looks up each POSITION accessor before checking that it exists
    // (an index out of range panics there), so that one check comes first.
    let root = document.into_json();
    let accessors = root.accessors.len();
    for (m, mesh) in root.meshes.iter().enumerate() {
        for primitive in &mesh.primitives {
            if let Some(bad) = primitive
                .attributes
                .values()
                .find(|a| a.value() >= accessors)
            {
                return Err(format_error(format!(
                    "mesh {m} refers to accessor {} of {accessors}",
                    bad.value()
                )));
            }
        }
    }
    let document = gltf::Document::from_json(root).map_err(|e| format_error(e.to_string()))?;
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    let mut total = 0u64;
    for buffer in document.buffers() {
        let data = match buffer.source() {
            gltf::buffer::Source::Bin => blob
                .clone()
                .ok_or_else(|| format_error("a buffer refers to a missing binary chunk".into()))?,
            gltf::buffer::Source::Uri(uri) => {
                let data = buffer_from_uri(uri, path).map_err(&format_error)?;
                if !uri.starts_with("data:") {
                    referenced.push((uri.to_string(), data.clone()));
                }
                data
            }
        };
        if data.len() < buffer.length() {
            return Err(format_error(format!(
                "buffer {} is {} bytes, shorter than the {} it declares",
                buffer.index(),
                data.len(),
                buffer.length()
            )));
        }
        total += data.len() as u64;
        if total > MAX_FILE_BYTES {
            return Err(format_error(format!(
                "its buffers hold more than {MAX_FILE_BYTES} bytes"
            )));
        }
        buffers.push(data);
    }

    let stem = file_stem(path);
    let mut mesh = RawMesh::default();
    // (node, world-from-node) pairs to visit.
    let mut stack: Vec<(gltf::Node, DMat4, usize)> = match document
        .default_scene()
        .or_else(|| document.scenes().next())
    {
        Some(scene) => scene.nodes().map(|n| (n, DMat4::IDENTITY, 0)).collect(),
        None => Vec::new(),
    };
    stack.reverse();
    let mut visits = 0;
    while let Some((node, parent, depth)) = stack.pop() {
        visits += 1;
        if visits > MAX_NODE_VISITS || depth > MAX_DEPTH {
            return Err(format_error(format!(
                "the node hierarchy is deeper than {MAX_DEPTH} or has more than \
                 {MAX_NODE_VISITS} node visits (a cycle?)"
            )));
        }
        let local = DMat4::from_cols_array_2d(&node.transform().matrix().map(|c| c.map(f64::from)));
        let world = parent * local;
        if !world.is_finite() {
            return Err(ImportError::NonFinite {
                path: path.display().to_string(),
                what: format!("the transform of node {}", node.index()),
            });
        }
        if let Some(m) = node.mesh() {
            let node_name = node
                .name()
                .map_or_else(|| format!("node{}", node.index()), str::to_string);
            let mesh_name = m
                .name()
                .map_or_else(|| format!("mesh{}", m.index()), str::to_string);
            for primitive in m.primitives() {
                let name = match parts_from {
                    PartsFrom::Single => stem.clone(),
                    PartsFrom::Mesh => mesh_name.clone(),
                    PartsFrom::Primitive => format!("{mesh_name}/{}", primitive.index()),
                    PartsFrom::Material => {
                        let material = primitive.material();
                        match (material.name(), material.index()) {
                            (Some(n), _) => n.to_string(),
                            (None, Some(i)) => format!("material{i}"),
                            (None, None) => "default-material".into(),
                        }
                    }
                    _ => node_name.clone(),
                };
                let part = mesh.part_index(&name);
                read_primitive(&primitive, &buffers, world, part, &mut mesh).map_err(
                    |e| match e {
                        PrimitiveError::Format(m) => format_error(format!(
                            "mesh {mesh_name:?}, primitive {}: {m}",
                            primitive.index()
                        )),
                        PrimitiveError::TooMany(count) => ImportError::TooManyTriangles {
                            path: path.display().to_string(),
                            count,
                            limit: MAX_TRIANGLES,
                        },
                    },
                )?;
            }
        }
        let children: Vec<_> = node.children().collect();
        for child in children.into_iter().rev() {
            stack.push((child, world, depth + 1));
        }
    }
    Ok(mesh)
}

/// The JSON and (optional) binary chunks of a GLB file, every length checked.
fn split_glb(bytes: &[u8]) -> Result<(&[u8], Option<&[u8]>), String> {
    let u32_at = |at: usize| -> Result<usize, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| "the GLB file is truncated".to_string())
    };
    let version = u32_at(4)?;
    if version != 2 {
        return Err(format!("GLB version {version} (only 2 is read)"));
    }
    let length = u32_at(8)?;
    if length < 12 || length > bytes.len() {
        return Err(format!(
            "the GLB header says {length} bytes, the file has {}",
            bytes.len()
        ));
    }
    let mut at = 12;
    let mut chunks = Vec::new();
    while at < length {
        let size = u32_at(at)?;
        let kind = u32_at(at + 4)?;
        let start = at + 8;
        let end = start
            .checked_add(size)
            .filter(|e| *e <= length)
            .ok_or_else(|| "a GLB chunk runs past the end of the file".to_string())?;
        chunks.push((kind, &bytes[start..end]));
        at = end;
    }
    const JSON: usize = 0x4E4F_534A;
    const BIN: usize = 0x004E_4942;
    match chunks.as_slice() {
        [(JSON, json)] => Ok((json, None)),
        [(JSON, json), (BIN, bin), ..] => Ok((json, Some(bin))),
        _ => Err("a GLB file must start with a JSON chunk".into()),
    }
}

enum PrimitiveError {
    Format(String),
    TooMany(usize),
}

fn read_primitive(
    primitive: &gltf::Primitive,
    buffers: &[Vec<u8>],
    world: DMat4,
    part: u32,
    mesh: &mut RawMesh,
) -> Result<(), PrimitiveError> {
    let mode = primitive.mode();
    if !matches!(
        mode,
        Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
    ) {
        // Points and lines carry no surface.
        return Ok(());
    }
    let positions = primitive
        .get(&gltf::Semantic::Positions)
        .ok_or_else(|| PrimitiveError::Format("no POSITION attribute".into()))?;
    if positions.data_type() != DataType::F32 || positions.dimensions() != Dimensions::Vec3 {
        return Err(PrimitiveError::Format(
            "POSITION must be three 32-bit floats".into(),
        ));
    }
    let raw = accessor_bytes(&positions, buffers, 12).map_err(PrimitiveError::Format)?;
    let first = mesh.positions.len();
    let count = positions.count();
    for element in raw {
        let f = |k: usize| {
            f64::from(f32::from_le_bytes([
                element[4 * k],
                element[4 * k + 1],
                element[4 * k + 2],
                element[4 * k + 3],
            ]))
        };
        mesh.positions
            .push(world.transform_point3(DVec3::new(f(0), f(1), f(2))));
    }
    let indices: Vec<u32> = match primitive.indices() {
        None => (0..count as u32).collect(),
        Some(accessor) => {
            let size = match accessor.data_type() {
                DataType::U8 => 1,
                DataType::U16 => 2,
                DataType::U32 => 4,
                _ => {
                    return Err(PrimitiveError::Format(
                        "indices must be unsigned integers".into(),
                    ));
                }
            };
            if accessor.dimensions() != Dimensions::Scalar {
                return Err(PrimitiveError::Format("indices must be scalars".into()));
            }
            accessor_bytes(&accessor, buffers, size)
                .map_err(PrimitiveError::Format)?
                .map(|b| match size {
                    1 => u32::from(b[0]),
                    2 => u32::from(u16::from_le_bytes([b[0], b[1]])),
                    _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                })
                .collect()
        }
    };
    if let Some(bad) = indices.iter().find(|&&i| i as usize >= count) {
        return Err(PrimitiveError::Format(format!(
            "index {bad} is past the {count} vertices"
        )));
    }
    // A mirroring transform turns the faces inside out; glTF says to flip them back.
    let flip = world.determinant() < 0.0;
    let mut push = |t: [u32; 3]| {
        let t = t.map(|i| (first + i as usize) as u32);
        let t = if flip { [t[0], t[2], t[1]] } else { t };
        mesh.push_triangle(t, part).map_err(PrimitiveError::TooMany)
    };
    match mode {
        Mode::Triangles => {
            for t in indices.chunks_exact(3) {
                push([t[0], t[1], t[2]])?;
            }
        }
        Mode::TriangleStrip => {
            for k in 2..indices.len() {
                let (a, b, c) = (indices[k - 2], indices[k - 1], indices[k]);
                push(if k % 2 == 0 { [a, b, c] } else { [b, a, c] })?;
            }
        }
        _ => {
            for k in 2..indices.len() {
                push([indices[0], indices[k - 1], indices[k]])?;
            }
        }
    }
    Ok(())
}

/// The `count` elements of `size` bytes an accessor covers, each bounds-checked against its
/// buffer view and buffer.
fn accessor_bytes<'b>(
    accessor: &gltf::Accessor,
    buffers: &'b [Vec<u8>],
    size: usize,
) -> Result<impl Iterator<Item = &'b [u8]> + 'b, String> {
    if accessor.sparse().is_some() {
        return Err("sparse accessors are not supported".into());
    }
    let view = accessor
        .view()
        .ok_or_else(|| "an accessor without a buffer view".to_string())?;
    let buffer = buffers
        .get(view.buffer().index())
        .ok_or_else(|| "a buffer view refers to a missing buffer".to_string())?;
    let stride = view.stride().unwrap_or(size);
    let count = accessor.count();
    if stride < size {
        return Err(format!(
            "stride {stride} is shorter than an element ({size})"
        ));
    }
    let view_end = view
        .offset()
        .checked_add(view.length())
        .filter(|end| *end <= buffer.len())
        .ok_or_else(|| "a buffer view runs past its buffer".to_string())?;
    let start = view
        .offset()
        .checked_add(accessor.offset())
        .ok_or_else(|| "accessor offset overflows".to_string())?;
    let end = match count {
        0 => start,
        n => (n - 1)
            .checked_mul(stride)
            .and_then(|x| x.checked_add(size))
            .and_then(|x| x.checked_add(start))
            .ok_or_else(|| "accessor size overflows".to_string())?,
    };
    if end > view_end {
        return Err(format!(
            "an accessor of {count} elements runs past its buffer view"
        ));
    }
    let data = &buffer[start..end];
    Ok((0..count).map(move |i| &data[i * stride..i * stride + size]))
}

/// A buffer's bytes from a `data:` URI or a file beside the mesh.
fn buffer_from_uri(uri: &str, mesh: &Path) -> Result<Vec<u8>, String> {
    if let Some(rest) = uri.strip_prefix("data:") {
        let (_, payload) = rest
            .split_once(";base64,")
            .ok_or_else(|| "a data URI that is not base64".to_string())?;
        if payload.len() as u64 > MAX_FILE_BYTES * 4 / 3 {
            return Err("a data URI larger than the buffer limit".into());
        }
        return base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| format!("a data URI is not valid base64: {e}"));
    }
    if uri.contains("://") {
        return Err(format!("buffer {uri:?} is not fetched (no network access)"));
    }
    let name = percent_decode(uri);
    let file = referenced_file(mesh, &name)
        .ok_or_else(|| format!("buffer {uri:?} is not a file beside the mesh"))?;
    read_bounded(&file).map_err(|e| e.to_string())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes a mesh as GLB: one node per part (named after it, with a material of the same name)
/// under a root node carrying `root_from_mesh`, all sharing one position accessor.
pub fn write_glb(mesh: &PartMesh, root_name: &str, root_from_mesh: DMat4) -> Vec<u8> {
    let mut bin: Vec<u8> = Vec::new();
    for p in &mesh.positions {
        for x in p.to_array() {
            bin.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    let (lo, hi) = crate::product::geometry::bounds_of(mesh.positions.iter().copied());
    let positions_len = bin.len();
    let mut views = vec![serde_json::json!({
        "buffer": 0, "byteOffset": 0, "byteLength": positions_len, "target": 34962
    })];
    let mut accessors = vec![serde_json::json!({
        "bufferView": 0, "componentType": 5126, "count": mesh.positions.len(), "type": "VEC3",
        "min": (lo.as_vec3()).to_array(), "max": (hi.as_vec3()).to_array()
    })];
    let mut meshes = Vec::new();
    let mut nodes = vec![serde_json::json!({
        "name": root_name,
        "matrix": root_from_mesh.to_cols_array().map(|x| x as f32),
        "children": (1..=mesh.parts.len()).collect::<Vec<_>>()
    })];
    let mut materials = Vec::new();
    for (k, (name, triangles)) in mesh.parts.iter().enumerate() {
        let offset = bin.len();
        for t in triangles {
            for v in t {
                bin.extend_from_slice(&v.to_le_bytes());
            }
        }
        views.push(serde_json::json!({
            "buffer": 0, "byteOffset": offset, "byteLength": bin.len() - offset, "target": 34963
        }));
        accessors.push(serde_json::json!({
            "bufferView": k + 1, "componentType": 5125, "count": triangles.len() * 3,
            "type": "SCALAR"
        }));
        materials.push(serde_json::json!({ "name": name }));
        meshes.push(serde_json::json!({
            "name": name,
            "primitives": [{ "attributes": { "POSITION": 0 }, "indices": k + 1, "material": k }]
        }));
        nodes.push(serde_json::json!({ "name": name, "mesh": k }));
    }
    let document = serde_json::json!({
        "asset": { "version": "2.0", "generator": "unseen" },
        "scene": 0,
        "scenes": [{ "nodes": [0] }],
        "nodes": nodes,
        "meshes": meshes,
        "materials": materials,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{ "byteLength": bin.len() }]
    });
    let mut json = document.to_string().into_bytes();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}
