//! The mesh loaders survive a fixed run of mutated STL, OBJ and glTF files: no panic, and every
//! refusal names the file (the mesh targets of `examples/fuzz/`). Longer runs:
//! `cargo run --example fuzz -- --target obj` (or `stl-binary`, `stl-ascii`, `glb`, `gltf`).
#![allow(clippy::unwrap_used)]

// The example's fuzzer and mesh targets, compiled into this test too; the test leaves some of
// them unused.
#[allow(dead_code)]
#[path = "../examples/fuzz/fuzzer.rs"]
mod fuzzer;
#[allow(dead_code)]
#[path = "../examples/fuzz/meshes.rs"]
mod meshes;

use meshes::{MeshTarget, fuzz_mesh};

#[test]
fn mesh_loaders_never_panic_and_always_name_the_file() {
    let scratch = tempfile::tempdir().unwrap();
    for target in MeshTarget::ALL {
        let stats = fuzz_mesh(target, 1500, 11, scratch.path());
        let shown: Vec<String> = stats
            .findings
            .iter()
            .map(|f| format!("{} ({} bytes)", f.message, f.input.len()))
            .collect();
        assert_eq!(stats.findings_total, 0, "{}: {shown:#?}", target.name());
        assert_eq!(stats.executions, 1500);
        // Both paths ran: unchanged seeds load, mutated ones are often refused.
        assert!(stats.accepted > 0, "{}: nothing accepted", target.name());
        assert!(stats.refused > 100, "{}: {stats:?}", target.name());
    }
}
