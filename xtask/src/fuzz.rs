//! `cargo xtask fuzz [SECONDS] [TARGET...]`: runs the cargo-fuzz targets in `fuzz/`,
//! each for a bounded time, and reports what they did.
//!
//! Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) when `cargo fuzz` is
//! missing, seeds empty corpora from `crates/httpd-proto/tests/fixtures/requests.json`, builds every target
//! once, then runs each for `SECONDS` (default [`DEFAULT_SECONDS`]) with libFuzzer's
//! `-max_total_time`. The targets need nightly compiler flags (sanitizers, coverage
//! instrumentation), so they are built with `RUSTC_BOOTSTRAP=1` on the stable toolchain.
//!
//! Prints one line per target with the executions, speed and coverage (`cov:`, `ft:`,
//! corpus size) parsed from libFuzzer's output, then `N passed, N failed`. A target that
//! crashes (a panic, a sanitizer report, a timeout or running out of memory) fails: its
//! line names the input libFuzzer saved under `fuzz/artifacts/TARGET/`. Full output is
//! kept in `target/fuzz/TARGET.log`. Exits 0 when no target crashed, 1 when one did or
//! the build failed, 2 for bad arguments.

use std::env;
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::common;
use serde_json::Value;

/// Fuzzing time per target when `SECONDS` is not given.
pub const DEFAULT_SECONDS: u64 = 60;

/// libFuzzer's limit for one input, in seconds; longer counts as a hang (a crash).
const INPUT_TIMEOUT_SECONDS: u64 = 30;

const USAGE: &str = "usage: cargo xtask fuzz [SECONDS] [TARGET...]";

/// Runs the fuzz targets; `args` are the arguments after `fuzz`.
///
/// `args` may start with the number of seconds per target; any further arguments name
/// the targets to run (all of them by default).
pub fn run(args: &[String]) -> ExitCode {
    let (seconds, wanted) = match parse_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("fuzz: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let paths = match Paths::discover() {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("fuzz: {e}");
            return ExitCode::FAILURE;
        }
    };
    match fuzz_all(&paths, seconds, &wanted) {
        Ok((n_passed, n_failed)) => {
            eprintln!("fuzz: finished in {:.0}s", started.elapsed().as_secs_f64());
            println!("{n_passed} passed, {n_failed} failed");
            if n_failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("fuzz: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where things are.
struct Paths {
    /// The workspace root.
    workspace: PathBuf,
    /// `fuzz/`, the cargo-fuzz project.
    fuzz: PathBuf,
    /// `target/fuzz/`, for the logs.
    logs: PathBuf,
    /// The cargo that runs this task.
    cargo: PathBuf,
}

impl Paths {
    /// Finds the workspace: the nearest ancestor of this crate that holds `fuzz/`.
    fn discover() -> Result<Paths, String> {
        let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let workspace = manifest_dir
            .ancestors()
            .find(|dir| dir.join("fuzz").join("Cargo.toml").is_file())
            .ok_or("no fuzz/Cargo.toml above xtask/")?
            .to_path_buf();
        let target = common::target_dir(&workspace);
        Ok(Paths {
            fuzz: workspace.join("fuzz"),
            logs: target.join("fuzz"),
            cargo: env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from),
            workspace,
        })
    }

    /// A `cargo` command in the workspace root, ready for the nightly-only fuzz flags.
    fn cargo(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command
            .current_dir(&self.workspace)
            .env("RUSTC_BOOTSTRAP", "1");
        command
    }
}

/// What libFuzzer said about one run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Stats {
    /// Inputs executed.
    execs: Option<u64>,
    /// Executions per second.
    execs_per_sec: Option<u64>,
    /// Coverage points (edges) reached, the `cov:` figure.
    cov: Option<u64>,
    /// Features reached, the `ft:` figure.
    features: Option<u64>,
    /// Inputs in the corpus at the end.
    corpus: Option<u64>,
    /// Where libFuzzer saved a crashing input, if it did.
    artifact: Option<String>,
}

/// Installs cargo-fuzz if needed, seeds, builds and runs the targets.
/// Returns how many targets passed and failed.
fn fuzz_all(paths: &Paths, seconds: u64, wanted: &[String]) -> Result<(usize, usize), String> {
    ensure_cargo_fuzz(paths)?;
    let all = list_targets(paths)?;
    let targets: Vec<String> = if wanted.is_empty() {
        all
    } else {
        if let Some(unknown) = wanted.iter().find(|w| !all.contains(w)) {
            return Err(format!("no target {unknown:?}; there are {all:?}"));
        }
        wanted.to_vec()
    };
    seed_corpora(paths, &targets)?;
    fs::create_dir_all(&paths.logs).map_err(|e| format!("create {}: {e}", paths.logs.display()))?;

    eprintln!("fuzz: building {} targets", targets.len());
    let built = paths
        .cargo()
        .args(["fuzz", "build"])
        .status()
        .map_err(|e| format!("run cargo fuzz build: {e}"))?;
    if !built.success() {
        return Err(format!("cargo fuzz build failed ({built})"));
    }

    let (mut n_passed, mut n_failed) = (0, 0);
    for target in &targets {
        eprintln!("fuzz: running {target} for {seconds}s");
        let log_path = paths.logs.join(format!("{target}.log"));
        let log =
            File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("open {}: {e}", log_path.display()))?;
        let started = Instant::now();
        let status = paths
            .cargo()
            .args(["fuzz", "run", target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
            .arg("-print_final_stats=1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .status()
            .map_err(|e| format!("run cargo fuzz run {target}: {e}"))?;
        let elapsed = started.elapsed().as_secs();
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        let stats = parse_stats(&text);
        let figures = format_stats(&stats);
        if status.success() {
            n_passed += 1;
            println!("ok   {target}: {figures} in {elapsed}s");
        } else {
            n_failed += 1;
            let input = stats.artifact.as_deref().unwrap_or("(none saved)");
            println!(
                "FAIL {target}: crashed ({status}) after {figures}; input {input}; log {}",
                log_path.display()
            );
        }
    }
    Ok((n_passed, n_failed))
}

/// Reads `[SECONDS] [TARGET...]`.
fn parse_args(args: &[String]) -> Result<(u64, Vec<String>), String> {
    let Some((first, rest)) = args.split_first() else {
        return Ok((DEFAULT_SECONDS, Vec::new()));
    };
    if !first.bytes().all(|b| b.is_ascii_digit()) {
        return Ok((DEFAULT_SECONDS, args.to_vec()));
    }
    match first.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok((seconds, rest.to_vec())),
        _ => Err(format!("SECONDS must be a positive number, not {first:?}")),
    }
}

/// Installs cargo-fuzz unless `cargo fuzz --version` already works.
fn ensure_cargo_fuzz(paths: &Paths) -> Result<(), String> {
    let present = |paths: &Paths| {
        paths
            .cargo()
            .args(["fuzz", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present(paths) {
        return Ok(());
    }
    eprintln!("fuzz: installing cargo-fuzz");
    let installed = Command::new(&paths.cargo)
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .map_err(|e| format!("run cargo install: {e}"))?;
    if installed.success() && present(paths) {
        Ok(())
    } else {
        Err("cannot install cargo-fuzz".to_string())
    }
}

/// Asks cargo-fuzz for the target names.
fn list_targets(paths: &Paths) -> Result<Vec<String>, String> {
    let output = paths
        .cargo()
        .args(["fuzz", "list"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("run cargo fuzz list: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo fuzz list failed ({})", output.status));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if targets.is_empty() {
        return Err("cargo fuzz list found no target".to_string());
    }
    Ok(targets)
}

/// Gives every target with an empty corpus a start: the request corpus's heads,
/// chunked bodies and paths, and a few `Range` values.
fn seed_corpora(paths: &Paths, targets: &[String]) -> Result<(), String> {
    let fixtures = paths
        .workspace
        .join("crates/httpd-proto/tests/fixtures/requests.json");
    let requests = match fs::read_to_string(&fixtures) {
        Ok(text) => corpus_requests(&text)?,
        Err(e) => {
            eprintln!("fuzz: no seeds from {}: {e}", fixtures.display());
            Vec::new()
        }
    };
    for target in targets {
        let dir = paths.fuzz.join("corpus").join(target);
        let is_empty = fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none());
        if !is_empty {
            continue;
        }
        let seeds = seeds_for(target, &requests);
        if seeds.is_empty() {
            continue;
        }
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        for (i, seed) in seeds.iter().enumerate() {
            let path = dir.join(format!("seed-{i:03}"));
            fs::write(&path, seed).map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        eprintln!("fuzz: seeded {target} with {} inputs", seeds.len());
    }
    Ok(())
}

/// Returns the raw bytes of every row of `requests.json`.
fn corpus_requests(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let rows: Vec<Value> = serde_json::from_str(text).map_err(|e| format!("requests.json: {e}"))?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            if let Some(raw) = row.get("raw").and_then(Value::as_str) {
                return Some(raw.as_bytes().to_vec());
            }
            decode_hex(row.get("raw_hex")?.as_str()?)
        })
        .collect())
}

/// The seed inputs for `target`, in the input format of its fuzz target.
fn seeds_for(target: &str, requests: &[Vec<u8>]) -> Vec<Vec<u8>> {
    match target {
        "head_parser" => requests.to_vec(),
        // One byte choosing the split pattern, then a chunked body.
        "chunked_decoder" => requests
            .iter()
            .filter(|raw| contains_ignore_case(raw, b"transfer-encoding"))
            .filter_map(|raw| find(raw, b"\r\n\r\n").map(|i| &raw[i + 4..]))
            .filter(|body| !body.is_empty())
            .map(|body| [&[0u8][..], body].concat())
            .collect(),
        // The path part of each target.
        "path_resolver" => requests
            .iter()
            .filter_map(|raw| {
                let line = &raw[..find(raw, b"\r\n").unwrap_or(raw.len())];
                let target = line.split(|&b| b == b' ').nth(1)?;
                let path = target.split(|&b| b == b'?').next()?;
                path.starts_with(b"/").then(|| path.to_vec())
            })
            .collect(),
        // Eight bytes of size (even: size = n / 2), one of max_ranges, then the value.
        "range_parser" => {
            let size = (10_000u64 << 1).to_le_bytes();
            [
                &b"bytes=0-499"[..],
                b"bytes=-500",
                b"bytes=9500-",
                b"bytes=500-600,601-999",
                b"bytes=0-0,-1",
                b"bytes=500-700, 601-999, ,0-10",
                b"BYTES = 1-2",
                b"lines=1-2",
            ]
            .iter()
            .map(|value| [&size[..], &[16u8][..], value].concat())
            .collect()
        }
        _ => Vec::new(),
    }
}

/// Reads the figures out of libFuzzer's output: the final stats when present, else the
/// last status line (`#N ... cov: C ft: F corp: K/...b ... exec/s: E`).
fn parse_stats(log: &str) -> Stats {
    let mut stats = Stats::default();
    for line in log.lines() {
        if line.starts_with('#') && line.contains(" cov: ") {
            stats.execs = line
                .get(1..)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok());
            stats.cov = number_after(line, "cov:");
            stats.features = number_after(line, "ft:");
            stats.corpus = number_after(line, "corp:");
            stats.execs_per_sec = number_after(line, "exec/s:");
        } else if let Some(n) = number_after(line, "stat::number_of_executed_units:") {
            stats.execs = Some(n);
        } else if let Some(n) = number_after(line, "stat::average_exec_per_sec:") {
            stats.execs_per_sec = Some(n);
        } else if let Some(rest) = line.split("Test unit written to ").nth(1) {
            stats.artifact = rest.split_whitespace().next().map(str::to_string);
        }
    }
    stats
}

/// Returns the number that follows `label` (and optional spaces) in `line`.
fn number_after(line: &str, label: &str) -> Option<u64> {
    let rest = line.split(label).nth(1)?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Formats the figures for the report line.
fn format_stats(stats: &Stats) -> String {
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_string(), |n| n.to_string());
    format!(
        "{} execs ({}/s), cov {}, ft {}, corpus {}",
        show(stats.execs),
        show(stats.execs_per_sec),
        show(stats.cov),
        show(stats.features),
        show(stats.corpus)
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Decodes lowercase or uppercase hex, two digits a byte.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match *pair {
            [hi, lo] => Some(digit(hi)? << 4 | digit(lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
INFO: Seed: 123
#2\tINITED cov: 38 ft: 39 corp: 1/1b exec/s: 0 rss: 30Mb
#4096\tpulse  cov: 150 ft: 400 corp: 80/2000b lim: 40 exec/s: 2048 rss: 40Mb
#424023\tDONE   cov: 190 ft: 680 corp: 134/5977b lim: 3568 exec/s: 38547 rss: 494Mb
Done 424023 runs in 11 second(s)
stat::number_of_executed_units: 424023
stat::average_exec_per_sec:     38547
";

    #[test]
    fn final_figures_come_from_the_last_status_line_and_the_stats() {
        let stats = parse_stats(LOG);
        assert_eq!(
            stats,
            Stats {
                execs: Some(424_023),
                execs_per_sec: Some(38_547),
                cov: Some(190),
                features: Some(680),
                corpus: Some(134),
                artifact: None,
            }
        );
    }

    #[test]
    fn a_crash_names_its_input() {
        let log = "#77\tNEW    cov: 12 ft: 13 corp: 3/9b lim: 4 exec/s: 0 rss: 30Mb\n\
                   ==1== ERROR: libFuzzer: deadly signal\n\
                   artifact_prefix='fuzz/artifacts/x/'; Test unit written to \
                   fuzz/artifacts/x/crash-da39a3ee\nBase64: AA==\n";
        let stats = parse_stats(log);
        assert_eq!(stats.execs, Some(77));
        assert_eq!(
            stats.artifact.as_deref(),
            Some("fuzz/artifacts/x/crash-da39a3ee")
        );
        assert!(format_stats(&stats).starts_with("77 execs (0/s), cov 12"));
    }

    #[test]
    fn arguments_are_seconds_then_targets() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_args(&[]), Ok((DEFAULT_SECONDS, vec![])));
        assert_eq!(parse_args(&args(&["180"])), Ok((180, vec![])));
        assert_eq!(
            parse_args(&args(&["5", "head_parser"])),
            Ok((5, args(&["head_parser"])))
        );
        assert_eq!(
            parse_args(&args(&["range_parser"])),
            Ok((DEFAULT_SECONDS, args(&["range_parser"])))
        );
        assert!(parse_args(&args(&["0"])).is_err());
        assert!(parse_args(&args(&["99999999999999999999999"])).is_err());
    }

    #[test]
    fn seeds_match_each_target_input_format() {
        let requests = vec![
            b"GET /a.html?x HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        ];
        assert_eq!(seeds_for("head_parser", &requests), requests);
        assert_eq!(
            seeds_for("chunked_decoder", &requests),
            vec![b"\x000\r\n\r\n".to_vec()]
        );
        assert_eq!(
            seeds_for("path_resolver", &requests),
            vec![b"/a.html".to_vec(), b"/upload".to_vec()]
        );
        assert!(
            seeds_for("range_parser", &requests)
                .iter()
                .all(|s| s.len() > 9)
        );
        assert!(seeds_for("other", &requests).is_empty());
    }
}
