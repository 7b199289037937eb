//! Developer tasks for the httpd workspace, run as `cargo xtask TASK [ARGS]`.
//!
//! Tasks:
//!
//! - `e2e [FILTER]`: builds the release `httpd` binary, starts it on loopback
//!   (port 0) over a fresh copy of `resources/`, and drives end-to-end
//!   scenarios through raw sockets. Prints one line per scenario
//!   (`ok   NAME` or `FAIL NAME: reason`) and a closing `N passed, N failed`
//!   line; exits 1 when any scenario failed. `FILTER` keeps only the scenarios
//!   whose name contains it (`cargo xtask e2e upload/`). Server logs are kept
//!   in `target/e2e/NAME.log` (stderr) and `target/e2e/NAME.access.log`
//!   (stdout).
//!
//! - `bench [--quick]`: wrk load against httpd and nginx, pinned to separate CPUs;
//!   see the README's Performance section.
//! - `fuzz [SECONDS] [TARGET...]`: runs the cargo-fuzz targets in `fuzz/` for a
//!   bounded time each.
//!
//! The `cargo xtask` alias lives in `.cargo/config.toml`. This crate uses only
//! std and serde_json and does not link any workspace crate: it tests the
//! binary from the outside.

mod bench;
mod common;
mod crates;
mod e2e;
mod fuzz;
mod soak;

use std::env;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask TASK [ARGS]

tasks:
  e2e [FILTER]   build the release binary and run the end-to-end scenarios
                 (only those whose name contains FILTER, if given)
  bench [--quick]
                 load-test httpd against nginx with wrk and time the head
                 parser; writes target/bench/results.md (--quick: 3 s runs)
  fuzz [SECONDS] [TARGET...]
                 run the cargo-fuzz targets in fuzz/ (default 60 s each)
  soak [SECONDS] mixed, hostile and slow clients against the release binary (default 60 s)
  crates [NAME]  package each reusable crate, then test and document it unpacked";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("e2e") => match args.len() {
            1 => e2e::run(None),
            2 => e2e::run(Some(&args[1])),
            _ => usage_error(),
        },
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("crates") => crates::run(&args[1..]),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage_error(),
    }
}

fn usage_error() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
