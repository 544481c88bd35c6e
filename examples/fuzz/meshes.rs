//! The mesh loaders under the mutation fuzzer (`fuzzer.rs` beside this file): each target
//! writes a mutated mesh file and reads it as a product's `[import]` would (loader, checks,
//! placement), and must neither panic nor refuse without naming the file.

use std::path::Path;

use glam::{DMat4, DVec3};
use unseen::product::PartTable;
use unseen::product::import::{self, ImportSpec, PartMesh, PartsFrom, Units, gltf, obj, stl};

use super::fuzzer::{FuzzStats, Loader, fuzz_loader};

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshTarget {
    StlBinary,
    StlAscii,
    Obj,
    Glb,
    Gltf,
}

impl MeshTarget {
    pub const ALL: [MeshTarget; 5] = [
        Self::StlBinary,
        Self::StlAscii,
        Self::Obj,
        Self::Glb,
        Self::Gltf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::StlBinary => "stl-binary",
            Self::StlAscii => "stl-ascii",
            Self::Obj => "obj",
            Self::Glb => "glb",
            Self::Gltf => "gltf",
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            Self::StlBinary | Self::StlAscii => "fuzz-mesh.stl",
            Self::Obj => "fuzz-mesh.obj",
            Self::Glb => "fuzz-mesh.glb",
            Self::Gltf => "fuzz-mesh.gltf",
        }
    }

    fn is_text(self) -> bool {
        !matches!(self, Self::StlBinary | Self::Glb)
    }

    /// Valid files of a small two-part product (a box with a box on top), in this format.
    pub fn builtin_seeds(self) -> Vec<Vec<u8>> {
        let mesh = two_boxes();
        match self {
            Self::StlBinary => vec![stl::write_binary(&mesh)],
            Self::StlAscii => vec![stl::write_ascii(&mesh).into_bytes()],
            Self::Obj => vec![obj::write(&mesh).into_bytes()],
            Self::Glb => vec![gltf::write_glb(&mesh, "fuzz", DMat4::IDENTITY)],
            Self::Gltf => vec![gltf_with_data_uri(&mesh)],
        }
    }

    /// Reads `path` as an imported product's mesh.
    fn load(self, path: &Path) -> Result<(), String> {
        let spec = ImportSpec {
            file: path.display().to_string(),
            units: Units::Mm,
            up: Default::default(),
            parts_from: PartsFrom::Auto,
            size: 2.0,
            scale: None,
            origin: Default::default(),
            resolution: 64,
            max_open_fraction: 0.5,
            source_dir: None,
        };
        let (raw, sources) = import::load(&spec, None).map_err(|e| e.to_string())?;
        import::prepare(raw, &spec, &PartTable::default(), &sources.path)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

impl std::str::FromStr for MeshTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown mesh fuzz target {s}"))
    }
}

/// Runs `iterations` executions of a mesh target in `scratch`.
pub fn fuzz_mesh(target: MeshTarget, iterations: u64, rng_seed: u64, scratch: &Path) -> FuzzStats {
    let dir = scratch.join(target.name());
    if std::fs::create_dir_all(&dir).is_err() {
        return FuzzStats::default();
    }
    let loader = Loader {
        path: &dir.join(target.file_name()),
        text: target.is_text(),
        image: false,
        load: &|path| target.load(path),
    };
    fuzz_loader(&loader, &target.builtin_seeds(), iterations, rng_seed)
}

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

/// The GLB's content as a `.gltf` whose buffer is a base64 `data:` URI.
fn gltf_with_data_uri(mesh: &PartMesh) -> Vec<u8> {
    use base64::Engine;
    let glb = gltf::write_glb(mesh, "fuzz", DMat4::IDENTITY);
    let json_len = u32::from_le_bytes([glb[12], glb[13], glb[14], glb[15]]) as usize;
    let json = &glb[20..20 + json_len];
    let bin = &glb[20 + json_len + 8..];
    let Ok(mut document) = serde_json::from_slice::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bin)
    );
    document["buffers"][0]["uri"] = serde_json::json!(uri);
    serde_json::to_vec_pretty(&document).unwrap_or_default()
}
