//! The mesh loaders survive a fixed run of mutated STL, OBJ and glTF files: no panic, and every
//! refusal names the file (`unseen::product::import::fuzz`). Longer runs:
//! `cargo run --example fuzz_meshes`.
#![allow(clippy::unwrap_used)]

use unseen::product::import::fuzz::{MeshTarget, fuzz_mesh};

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
