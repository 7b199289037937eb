//! `log/`: the seed's startup lines, access lines on stdout or in a file, and
//! a clean exit on SIGTERM and SIGINT with an idle connection open.

use std::time::Duration;

use super::checks::{LOG_WAIT, download, expect_status, localhost};
use super::client::{self, Conn};
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::{Ctx, Kind, file_contains};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    tables(&[], CHECKS)
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("log/startup_lines_seed", startup_lines),
    ("log/access_line_on_stdout", access_stdout),
    ("log/access_log_file", access_file),
    ("log/sigterm_clean_exit", |ctx| stop_signal(ctx, "TERM")),
    ("log/sigint_ctrl_c_clean_exit_seed", |ctx| {
        stop_signal(ctx, "INT")
    }),
];

fn startup_lines(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let lines = [
        format!("HTTP Server started on http://127.0.0.1:{}", srv.port()),
        "Thread pool size: 10".to_string(),
        "Serving files from".to_string(),
        "Press Ctrl+C to stop the server".to_string(),
    ];
    for line in &lines {
        ensure!(
            srv.log_contains(line, LOG_WAIT),
            "{} lacks {line:?}; tail: {}",
            srv.log_path.display(),
            srv.log_tail()
        );
    }
    Ok(())
}

fn access_stdout(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let resp = download(srv.addr, &localhost(srv), "/contact.html")?;
    expect_status(&resp, 200)?;
    let needle = "\"GET /contact.html HTTP/1.1\" 200";
    ensure!(
        srv.access_contains(needle, LOG_WAIT),
        "{} lacks {needle:?}",
        srv.access_path.display()
    );
    Ok(())
}

fn access_file(ctx: &Ctx) -> Outcome {
    let log = ctx.run_dir.join("access-file.log");
    let log_arg = log.display().to_string();
    let srv = ctx.start("access-file", &["--access-log", &log_arg])?;
    let resp = download(srv.addr, &localhost(&srv), "/index.html")?;
    expect_status(&resp, 200)?;
    let needle = "\"GET /index.html HTTP/1.1\" 200";
    ensure!(
        file_contains(&log, needle, LOG_WAIT),
        "{} lacks {needle:?}",
        log.display()
    );
    Ok(())
}

/// Sends `SIG{signal}` (TERM, or INT as Ctrl+C does) and expects the seed's
/// shutdown line and exit status 0.
fn stop_signal(ctx: &Ctx, signal: &str) -> Outcome {
    let mut srv = ctx.start(&format!("sig{}", signal.to_ascii_lowercase()), &[])?;
    // An idle keep-alive connection must not keep the server from stopping.
    let mut idle = Conn::connect(srv.addr)?;
    idle.send_all(&client::get("/", &localhost(&srv), ""))?;
    let resp = idle.read_response(false)?;
    expect_status(&resp, 200)?;
    ensure!(
        !resp.has_connection_token("close"),
        "expected a kept-alive connection: {}",
        resp.summary()
    );
    srv.signal(signal)?;
    let exit = srv
        .wait_exit(Duration::from_secs(15))
        .ok_or_else(|| format!("server still running 15 s after SIG{signal}"))?;
    ensure!(exit.success(), "exit after SIG{signal}: {exit}");
    idle.wait_closed()
        .map_err(|e| format!("idle connection after shutdown: {e}"))?;
    ensure!(
        srv.log_contains("Shutting down server...", Duration::ZERO),
        "no 'Shutting down server...' in {}; tail: {}",
        srv.log_path.display(),
        srv.log_tail()
    );
    Ok(())
}
