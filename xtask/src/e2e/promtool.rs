//! `promtool/check_metrics`: Prometheus' own linter, `promtool check metrics`,
//! reads the `/metrics` page of a server that has served a few requests (a
//! GET 200, a GET 404 and an upload) on its stdin; any output or a non-zero
//! exit fails the scenario (promtool prints one line per lint problem). The
//! page is kept in `target/e2e/promtool-metrics.txt`.
//!
//! promtool comes with Debian's `prometheus` package (`.ci/run` installs it).
//! This module also holds [`debian_tool`], which `browser.rs`, `balancer.rs`
//! and `slow.rs` use too: it finds a program, or installs its Debian package
//! when running as root, or says why the scenario must be skipped.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::checks::{JSON, check_created, expect_status, localhost};
use super::client::{self, Conn, Response};
use super::scenarios::Outcome;
use super::{Ctx, Server, skip};
use crate::common::{self, run_captured};

/// How long `promtool check metrics` may take.
const PROMTOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one `apt-get` command may take.
const APT_TIMEOUT: Duration = Duration::from_secs(600);

pub fn check_metrics(ctx: &Ctx) -> Outcome {
    let promtool = debian_tool(ctx, "promtool", "prometheus", &["--no-install-recommends"])
        .map_err(|why| skip(&format!("promtool missing: {why}")))?;
    let srv = ctx.start("promtool", &[])?;
    let host = localhost(&srv);

    // One keep-alive connection: httpd counts a response right after sending
    // it and before it reads the next request of the same connection, so
    // /metrics, asked last, counts the three requests before it.
    let mut conn = None;
    let resp = request(&srv, &mut conn, &client::get("/index.html", &host, ""))?;
    expect_status(&resp, 200)?;
    let resp = request(&srv, &mut conn, &client::get("/missing.html", &host, ""))?;
    expect_status(&resp, 404)?;
    let body = br#"{"metrics": "promtool"}"#;
    let resp = request(
        &srv,
        &mut conn,
        &client::post("/upload", &host, JSON, body, ""),
    )?;
    check_created(&srv, &resp, body)?;
    let resp = request(&srv, &mut conn, &client::get("/metrics", &host, ""))?;
    expect_status(&resp, 200)?;
    let content_type = resp.header("content-type").unwrap_or_default();
    ensure!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "/metrics Content-Type {content_type:?} is not the Prometheus text format"
    );
    let page = resp.body_text();
    let saved = ctx.paths.e2e_dir.join("promtool-metrics.txt");
    fs::write(&saved, &page).map_err(|e| format!("write {}: {e}", saved.display()))?;
    // The page counts what was just served: these are not lint rules, but a
    // page that lints clean and counts nothing would prove little.
    for series in [
        r#"httpd_requests_total{method="GET",status="2xx"}"#,
        r#"httpd_requests_total{method="GET",status="4xx"}"#,
        r#"httpd_requests_total{method="POST",status="2xx"}"#,
        "httpd_uploads_total",
    ] {
        let value = sample(&page, series)
            .ok_or_else(|| format!("no sample {series} in {}", saved.display()))?;
        ensure!(
            value.is_finite() && value >= 1.0,
            "{series} is {value}, expected at least 1 (page in {})",
            saved.display()
        );
    }

    let (code, output) = promtool_check(&promtool, page.as_bytes())?;
    ensure!(
        code == Some(0) && output.trim().is_empty(),
        "promtool check metrics exit {code:?} on {}: {}",
        saved.display(),
        output.trim()
    );
    Ok(())
}

/// Sends `raw` on `conn` (a new connection if there is none) and reads the
/// response; forgets the connection when the response closes it.
fn request(srv: &Server, conn: &mut Option<Conn>, raw: &[u8]) -> Result<Response, String> {
    let mut c = match conn.take() {
        Some(c) => c,
        None => Conn::connect(srv.addr)?,
    };
    c.send_all(raw)?;
    let resp = c.read_response(false)?;
    if !resp.has_connection_token("close") {
        *conn = Some(c);
    }
    Ok(resp)
}

/// Returns the value of the sample line `series VALUE` of a text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Runs `promtool check metrics` with `page` on stdin; returns its exit code
/// and everything it printed.
fn promtool_check(promtool: &Path, page: &[u8]) -> Result<(Option<i32>, String), String> {
    let mut command = Command::new(promtool);
    command.args(["check", "metrics"]);
    let out = run_captured(command, Some(page.to_vec()), PROMTOOL_TIMEOUT)?;
    let output = format!("{}{}", out.stdout, out.stderr);
    if let Some(e) = out.stdin_error {
        return Err(format!(
            "write the page to promtool: {e} ({})",
            output.trim()
        ));
    }
    Ok((out.status.code(), output))
}

/// Returns the path of `program`, installing Debian `package` (with
/// `apt_args`, e.g. `--no-install-recommends`) first when it is missing and
/// this process runs as root. `Err` says why the program cannot be had: the
/// caller turns it into a [`skip`]. apt-get's output goes to
/// `target/e2e/install-PACKAGE.log`.
pub(super) fn debian_tool(
    ctx: &Ctx,
    program: &str,
    package: &str,
    apt_args: &[&str],
) -> Result<PathBuf, String> {
    if let Some(path) = common::find_program(program) {
        return Ok(path);
    }
    if !common::is_root() {
        return Err(format!("not installed, and not root to apt-get {package}"));
    }
    if common::find_program("apt-get").is_none() {
        return Err(format!("not installed, and no apt-get for {package}"));
    }
    fs::create_dir_all(&ctx.paths.e2e_dir).map_err(|e| format!("create target/e2e: {e}"))?;
    let log_path = ctx.paths.e2e_dir.join(format!("install-{package}.log"));
    eprintln!(
        "e2e: installing Debian package {package} for {program} (log: {})",
        log_path.display()
    );
    let log = File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
    let mut install = vec!["install", "-y", "-q"];
    install.extend_from_slice(apt_args);
    install.push(package);
    // The package lists may be missing or stale on a fresh machine: update
    // once and retry when the first attempt fails.
    let apt = |args: &[&str]| common::apt_get(args, &log, APT_TIMEOUT);
    let installed = apt(&install).or_else(|_| apt(&["update", "-q"]).and_then(|()| apt(&install)));
    match (installed, common::find_program(program)) {
        (_, Some(path)) => Ok(path),
        (Err(e), None) => Err(format!("apt-get failed ({e}); see {}", log_path.display())),
        (Ok(()), None) => Err(format!("no {program} after installing {package}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_found_by_exact_series() {
        let page = "# HELP a_total A.\n# TYPE a_total counter\n\
                    a_total{k=\"v\"} 3\na_total_other 9\na_total 7\n";
        assert_eq!(sample(page, "a_total{k=\"v\"}"), Some(3.0));
        assert_eq!(sample(page, "a_total"), Some(7.0));
        assert_eq!(sample(page, "b_total"), None);
    }
}
