//! Developer tasks for the httpd workspace, run as `cargo xtask TASK [ARGS]`.
//!
//! Tasks:
//!
//! - `e2e [--strict] [--list] [FILTER]`: builds the release `httpd` binary,
//!   starts it on loopback (port 0) over a fresh copy of `resources/`, and
//!   drives end-to-end scenarios through raw sockets. Prints one line per
//!   scenario (`ok   NAME`, `FAIL NAME: reason` or `SKIP: why (NAME)`), a
//!   closing `N passed, N failed` line and then the names of the failed
//!   scenarios; exits 1 when any scenario failed, or with `--strict` when any
//!   was skipped. `FILTER` keeps only the scenarios whose name contains it
//!   (`cargo xtask e2e upload/`); `--list` prints their names and runs none.
//!   Server logs are kept in `target/e2e/NAME.log` (stderr) and
//!   `target/e2e/NAME.access.log` (stdout).
//!
//! - `bench [--quick] [ROWS]`: wrk load against httpd and nginx, pinned to separate
//!   CPUs, over plain HTTP and TLS (ROWS, e.g. `fghij`, picks rows); see the
//!   README's Performance section.
//! - `fuzz [SECONDS] [TARGET...]`: runs the cargo-fuzz targets in `fuzz/` for a
//!   bounded time each.
//!
//! The `cargo xtask` alias lives in `.cargo/config.toml`. This crate links no
//! workspace crate: it tests the binary from the outside. Beyond std and
//! serde_json it uses rustls (the TLS client transport), rustls-pki-types and
//! rcgen (throwaway test certificates).

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
  e2e [--strict] [--list] [FILTER]
                 build the release binary and run the end-to-end scenarios
                 (only those whose name contains FILTER, if given); --strict:
                 a skipped scenario fails the run; --list: print the names only
  bench [--quick] [ROWS]
                 load-test httpd against nginx with wrk, over plain HTTP (rows
                 a-e) and TLS (f-j), and time the head parser; writes
                 target/bench/results.md (--quick: 3 s runs; ROWS, e.g. fghij:
                 only those rows, without the head parser)
  fuzz [SECONDS] [TARGET...]
                 run the cargo-fuzz targets in fuzz/ (default 60 s each)
  soak [SECONDS] mixed, hostile and slow clients against the release binary (default 60 s)
  crates [NAME]  package each reusable crate, then test and document it unpacked";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("e2e") => match e2e::Options::parse(&args[1..]) {
            Ok(opts) => e2e::run(&opts),
            Err(e) => {
                eprintln!("e2e: {e}");
                usage_error()
            }
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
