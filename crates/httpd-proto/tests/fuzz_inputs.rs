//! Inputs for the fuzz targets in `fuzz/`, replayed with the targets' own checks on every
//! `cargo test`.
//!
//! The checks live in `tests/fuzz_inputs/checks.rs`, which each fuzz target includes, so
//! the two cannot drift apart. The inputs are, per target:
//!
//! - the seeds kept in this crate, `tests/fuzz_inputs/seeds/TARGET/` (one input a file,
//!   in the target's input format): boundary bytes (a final CR, `HTTP/1.3` before its
//!   next byte, leading empty lines), framing look-alikes, chunk extensions, ranges at
//!   the limits, and whatever a fuzzing run found worth keeping;
//! - in a workspace checkout, also the local cargo-fuzz corpus and crash artifacts,
//!   `fuzz/corpus/TARGET/` and `fuzz/artifacts/TARGET/`, when they exist (they are not
//!   committed; a packaged crate has neither).
//!
//! To keep a fuzz finding, copy the file into the seeds folder of its target.

#[path = "fuzz_inputs/checks.rs"]
mod checks;

use std::fs;
use std::path::{Path, PathBuf};

use checks::Cuts;

/// A fuzz target's check, run on one input.
type Check = fn(&[u8], Cuts);

/// The fuzz targets whose checks live in this crate, with each one's check.
const TARGETS: &[(&str, Check)] = &[
    ("head_parser", checks::head_parser),
    ("chunked_decoder", |data, _| checks::chunked_decoder(data)),
    ("range_parser", |data, _| checks::range_parser(data)),
];

/// Local inputs past this many per folder are skipped, so a long fuzzing run's corpus
/// cannot make `cargo test` slow.
const MAX_LOCAL_INPUTS: usize = 5_000;

#[test]
fn every_kept_seed_passes_its_target_checks() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for &(target, check) in TARGETS {
        let dir = manifest.join("tests/fuzz_inputs/seeds").join(target);
        let inputs = read_inputs(&dir, usize::MAX);
        assert!(
            inputs.len() >= 10,
            "{}: only {} seeds",
            dir.display(),
            inputs.len()
        );
        for (path, data) in inputs {
            run(check, Cuts::All, &path, &data);
        }
    }
}

#[test]
fn local_fuzz_corpus_and_artifacts_pass_their_target_checks() {
    // In the workspace, `fuzz/` sits two levels above this crate.
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for &(target, check) in TARGETS {
        for kind in ["corpus", "artifacts"] {
            let dir = fuzz.join(kind).join(target);
            let inputs = read_inputs(&dir, MAX_LOCAL_INPUTS);
            if !inputs.is_empty() {
                println!("{}: {} inputs", dir.display(), inputs.len());
            }
            for (path, data) in inputs {
                run(check, Cuts::Few, &path, &data);
            }
        }
    }
}

/// Runs `check` on one input, naming the file if it fails.
fn run(check: Check, cuts: Cuts, path: &Path, data: &[u8]) {
    let outcome = std::panic::catch_unwind(|| check(data, cuts));
    assert!(
        outcome.is_ok(),
        "{} ({:?}) fails its target's checks",
        path.display(),
        data.escape_ascii().to_string()
    );
}

/// Reads up to `max` files of `dir`, sorted by name; nothing if `dir` does not exist.
fn read_inputs(dir: &Path, max: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths.truncate(max);
    paths
        .into_iter()
        .map(|path| {
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, data)
        })
        .collect()
}
