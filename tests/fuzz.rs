//! Every loader survives a fixed run of mutated inputs: no panic, and every refusal names the
//! file (the fuzzer of `examples/fuzz/`). Longer runs: `cargo run --example fuzz`.
#![allow(clippy::unwrap_used)]

// The example's fuzzer, compiled into this test too; the test leaves some of it unused.
#[allow(dead_code)]
#[path = "../examples/fuzz/fuzzer.rs"]
mod fuzzer;
mod train_common;

use fuzzer::{Target, fuzz, seeds_from_dir};
use train_common::Fixture;

#[test]
fn loaders_never_panic_and_always_name_the_file() {
    // A real dataset gives the manifest its seed (and the image target real renders).
    let data = Fixture::caps(32, 4, 2);
    let scratch = tempfile::tempdir().unwrap();
    for target in Target::ALL {
        let mut seeds = target.builtin_seeds();
        seeds.extend(seeds_from_dir(target, &data.path(), 8));
        assert!(!seeds.is_empty(), "{} has no seed", target.name());
        let stats = fuzz(target, &seeds, 1500, 7, scratch.path());
        let shown: Vec<String> = stats
            .findings
            .iter()
            .map(|f| format!("{} ({} bytes)", f.message, f.input.len()))
            .collect();
        assert_eq!(stats.findings_total, 0, "{}: {shown:#?}", target.name());
        assert_eq!(stats.executions, 1500);
        // Both paths ran: unchanged seeds load, mutated ones are mostly refused.
        assert!(stats.accepted > 0, "{}: nothing accepted", target.name());
        assert!(stats.refused > 500, "{}: {stats:?}", target.name());
    }
}
