//! `cli/`: the command line: help, version, usage errors (exit 2), a missing
//! root, duration syntax, and the seed's positional `[PORT] [HOST] [THREADS]`.

use std::time::{Duration, Instant};

use super::Ctx;
use super::checks::{LOG_WAIT, download, expect_keep_alive, expect_status, localhost};
use super::client::{self, Conn};
use super::scenarios::{Check, Outcome, Scenario, scenario, tables};
use super::seed::{check_file_response, file_case};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    let usage_errors = CLI_ERRORS
        .iter()
        .map(|&(name, args)| scenario(name, move |ctx| cli_usage_error(ctx, args)));
    tables(&[], CHECKS)
        .into_iter()
        .chain(usage_errors)
        .collect()
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("cli/help_exit_0", cli_help),
    ("cli/version_exit_0", cli_version),
    ("cli/missing_root_fails", cli_missing_root),
    ("cli/durations_plain_seconds_and_ms", cli_durations),
    ("cli/positional_port_seed", |ctx| {
        positional(ctx, "positional-1", &["0"], 10)
    }),
    ("cli/positional_port_host_seed", |ctx| {
        positional(ctx, "positional-2", &["0", "127.0.0.1"], 10)
    }),
    ("cli/positional_port_host_threads_seed", |ctx| {
        positional(ctx, "positional-3", &["0", "127.0.0.1", "20"], 20)
    }),
];

/// CLI invocations that must fail with a usage error (exit 2).
const CLI_ERRORS: &[(&str, &[&str])] = &[
    ("cli/unknown_flag_exit_2", &["--bogus"]),
    ("cli/bad_duration_exit_2", &["--idle-timeout", "soon"]),
    ("cli/bad_threads_exit_2", &["--threads", "many"]),
    ("cli/zero_threads_exit_2", &["--threads", "0"]),
    ("cli/bad_listen_exit_2", &["--listen", "not-an-address"]),
    ("cli/missing_flag_value_exit_2", &["--root"]),
    (
        "cli/too_many_positionals_exit_2",
        &["0", "127.0.0.1", "20", "extra"],
    ),
];

fn cli_help(ctx: &Ctx) -> Outcome {
    let out = ctx.run_cli(&["--help"])?;
    ensure!(
        out.code() == 0,
        "--help exit {}: {}",
        out.code(),
        out.stderr
    );
    let text = format!("{}{}", out.stdout, out.stderr).to_ascii_lowercase();
    ensure!(
        text.contains("usage") && text.contains("--listen") && text.contains("--root"),
        "--help output lacks usage/--listen/--root: {:?}",
        out.stdout
    );
    Ok(())
}

fn cli_version(ctx: &Ctx) -> Outcome {
    let out = ctx.run_cli(&["--version"])?;
    ensure!(
        out.code() == 0,
        "--version exit {}: {}",
        out.code(),
        out.stderr
    );
    ensure!(
        out.stdout.contains("httpd") && out.stdout.bytes().any(|b| b.is_ascii_digit()),
        "--version output: {:?}",
        out.stdout
    );
    Ok(())
}

fn cli_missing_root(ctx: &Ctx) -> Outcome {
    let missing = ctx.run_dir.join("no-such-root");
    let root = missing.display().to_string();
    let out = ctx.run_cli(&["--listen", "127.0.0.1:0", "--root", &root])?;
    ensure!(
        out.code() != 0,
        "serving a missing root should fail; exit {}",
        out.code()
    );
    ensure!(
        out.stderr.contains("httpd:"),
        "stderr should say what failed: {:?}",
        out.stderr
    );
    Ok(())
}

/// Durations accept plain seconds (`7`) and humantime (`2500ms`). The idle
/// timeout shows in `Keep-Alive: timeout=7`; the 2.5 s header timeout shows in
/// what it does: a request head that never ends is cut (a 408, then the close)
/// not before 2 s (so not read as 2500 s either: that would never cut within
/// the wait) and before the 7 s idle timeout could have done it.
fn cli_durations(ctx: &Ctx) -> Outcome {
    /// Least time the cut may take: the 2.5 s timeout, less scheduling slack.
    const NOT_BEFORE: Duration = Duration::from_secs(2);
    /// Longest wait for the cut: below the idle timeout of 7 s.
    const WITHIN: Duration = Duration::from_millis(6500);
    let srv = ctx.start(
        "durations",
        &["--idle-timeout", "7", "--header-timeout", "2500ms"],
    )?;
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&client::get("/sample.txt", &localhost(&srv), ""))?;
    let resp = conn.read_response(false)?;
    expect_status(&resp, 200)?;
    expect_keep_alive(&resp, 7)?;

    let mut unfinished = Conn::connect(srv.addr)?;
    let started = Instant::now();
    unfinished.send_all(format!("GET / HTTP/1.1\r\nHost: {}\r\n", localhost(&srv)).as_bytes())?;
    // The first sign of the cut (the 408's first byte, or the close) is timed.
    let cut = unfinished.has_data(WITHIN)?;
    let waited = started.elapsed();
    ensure!(
        cut,
        "an unfinished head was not cut within {WITHIN:?} (header timeout 2500ms)"
    );
    ensure!(
        waited >= NOT_BEFORE,
        "an unfinished head was cut after {waited:?}, before the 2500ms header timeout"
    );
    let (bytes, _) = unfinished
        .wait_closed()
        .map_err(|e| format!("after the header timeout: {e}"))?;
    ensure!(
        bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 408"),
        "an unfinished head got {:?}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(())
}

/// The seed's `server.py [PORT] [HOST] [MAX_THREADS]`, with port 0 instead
/// of 8000 and 127.0.0.1 instead of 0.0.0.0 (tests stay on loopback).
fn positional(ctx: &Ctx, name: &str, positional: &[&str], threads: usize) -> Outcome {
    let root = ctx.fresh_root(name)?;
    let mut args: Vec<String> = positional.iter().map(|s| s.to_string()).collect();
    args.extend(["--root".into(), root.display().to_string()]);
    let srv = ctx.spawn(name, &args, root)?;
    ensure!(
        srv.addr.ip().is_loopback(),
        "positional form should default to 127.0.0.1, listens on {}",
        srv.addr
    );
    let resp = download(srv.addr, &localhost(&srv), "/")?;
    check_file_response(&srv, file_case("/"), &resp, false)?;
    let line = format!("Thread pool size: {threads}");
    ensure!(
        srv.log_contains(&line, LOG_WAIT),
        "{} lacks {line:?}; tail: {}",
        srv.log_path.display(),
        srv.log_tail()
    );
    Ok(())
}

fn cli_usage_error(ctx: &Ctx, args: &[&str]) -> Outcome {
    let out = ctx.run_cli(args)?;
    ensure!(
        out.code() == 2,
        "httpd {args:?}: exit {}, expected 2; stderr {:?}",
        out.code(),
        out.stderr
    );
    ensure!(
        out.stderr.to_ascii_lowercase().contains("usage"),
        "httpd {args:?}: stderr lacks usage: {:?}",
        out.stderr
    );
    Ok(())
}
