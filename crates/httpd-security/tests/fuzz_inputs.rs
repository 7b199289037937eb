//! Inputs for the `path_resolver` fuzz target in `fuzz/`, replayed with the target's own
//! checks on every `cargo test`.
//!
//! The checks live in `tests/fuzz_inputs/checks.rs`, which the fuzz target includes. The
//! inputs are the seeds kept in `tests/fuzz_inputs/seeds/path_resolver/` (one input a
//! file) and, in a workspace checkout, the local cargo-fuzz corpus and crash artifacts
//! (`fuzz/corpus/path_resolver/`, `fuzz/artifacts/path_resolver/`) when they exist.
//! To keep a fuzz finding, copy the file into the seeds folder.

#[path = "fuzz_inputs/checks.rs"]
mod checks;

use std::fs;
use std::path::{Path, PathBuf};

/// Local inputs past this many per folder are skipped, so a long fuzzing run's corpus
/// cannot make `cargo test` slow.
const MAX_LOCAL_INPUTS: usize = 5_000;

#[test]
fn every_kept_seed_stays_under_the_root() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_inputs/seeds/path_resolver");
    let inputs = read_inputs(&dir, usize::MAX);
    assert!(
        inputs.len() >= 10,
        "{}: only {} seeds",
        dir.display(),
        inputs.len()
    );
    for (path, data) in inputs {
        run(&path, &data);
    }
}

#[test]
fn local_fuzz_corpus_and_artifacts_stay_under_the_root() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for kind in ["corpus", "artifacts"] {
        let dir = fuzz.join(kind).join("path_resolver");
        let inputs = read_inputs(&dir, MAX_LOCAL_INPUTS);
        if !inputs.is_empty() {
            println!("{}: {} inputs", dir.display(), inputs.len());
        }
        for (path, data) in inputs {
            run(&path, &data);
        }
    }
}

/// Runs the check on one input, naming the file if it fails.
fn run(path: &Path, data: &[u8]) {
    let outcome = std::panic::catch_unwind(|| checks::path_resolver(data));
    assert!(
        outcome.is_ok(),
        "{} ({:?}) fails the path_resolver checks",
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
