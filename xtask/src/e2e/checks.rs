//! What the scenario modules share: the table row of a literal request and its
//! status ([`StatusCase`]), the checks every response must pass, uploads' 201
//! checks, and small request helpers.

use std::fs;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::client::{self, Conn, Response};
use super::scenarios::Outcome;
use super::{Ctx, Kind, Server};

/// Longest wait for a line the server (or a tool) writes to a log after an
/// event a scenario caused. The wait ends as soon as the line is there; the
/// bound is generous because it is about speed, not correctness: on a loaded
/// machine the writer may be descheduled for a while.
pub(super) const LOG_WAIT: Duration = Duration::from_secs(10);

/// The `Allow` value for every 405 and OPTIONS response.
pub(super) const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// The default per-connection request cap.
pub(super) const DEFAULT_MAX_REQUESTS: usize = 100;

/// The media type of HTML pages.
pub(super) const HTML: &str = "text/html; charset=utf-8";

/// The media type uploads are sent with.
pub(super) const JSON: &str = "application/json";

/// The media type of downloads (images, text files).
pub(super) const OCTETS: &str = "application/octet-stream";

/// A literal request and the status it must get. In `request`, `{PORT}` is
/// the server's port and `{LEN}` the length of the bytes after the first
/// blank line. Every row's connection must end after the response (rows ask
/// for `Connection: close` or are errors that leave framing unknown).
pub(super) struct StatusCase {
    pub(super) name: &'static str,
    kind: Kind,
    request: &'static str,
    status: u16,
    /// Header values the response must carry exactly.
    headers: &'static [(&'static str, &'static str)],
}

/// Makes a row of a [`StatusCase`] table without header checks.
pub(super) const fn row(
    name: &'static str,
    kind: Kind,
    request: &'static str,
    status: u16,
) -> StatusCase {
    StatusCase {
        name,
        kind,
        request,
        status,
        headers: &[],
    }
}

/// The header check of a 405 or OPTIONS row.
pub(super) const ALLOW_HEADER: &[(&str, &str)] = &[("Allow", ALLOW)];

impl StatusCase {
    /// Adds header values the response must carry exactly.
    pub(super) const fn with(self, headers: &'static [(&'static str, &'static str)]) -> StatusCase {
        StatusCase { headers, ..self }
    }
}

/// Checks what every response must have: `Date`, `Server`, a framing header
/// (unless it has no body by definition) and, for errors, a short body.
pub(super) fn common(resp: &Response, to_head: bool) -> Outcome {
    let date = resp.header("date").unwrap_or_default();
    ensure!(
        date.ends_with(" GMT"),
        "missing or odd Date header {date:?}: {}",
        resp.summary()
    );
    ensure!(
        resp.header("server").is_some_and(|s| !s.is_empty()),
        "missing Server header: {}",
        resp.summary()
    );
    let bodiless = resp.status / 100 == 1 || resp.status == 204 || resp.status == 304;
    if !bodiless {
        ensure!(
            resp.chunked || resp.header("content-length").is_some(),
            "no Content-Length: {}",
            resp.summary()
        );
    }
    if resp.status >= 400 && !to_head {
        ensure!(
            !resp.body.is_empty(),
            "error response without a body: {}",
            resp.summary()
        );
    }
    Ok(())
}

/// Expects `status` and what every response must have ([`common`]).
pub(super) fn expect_status(resp: &Response, status: u16) -> Outcome {
    ensure!(
        resp.status == status,
        "expected {status}, got {}",
        resp.summary()
    );
    common(resp, false)
}

/// Expects header `name` to be exactly `value`.
pub(super) fn expect_header(resp: &Response, name: &str, value: &str) -> Outcome {
    let got = resp.header(name);
    ensure!(
        got == Some(value),
        "expected {name}: {value:?}, got {got:?}: {}",
        resp.summary()
    );
    Ok(())
}

/// Expects the server to have closed the connection after the response.
pub(super) fn expect_closed(conn: &mut Conn, what: &str) -> Outcome {
    conn.expect_closed()
        .map(|_| ())
        .map_err(|e| format!("{what}: {e}"))
}

/// Returns `localhost:PORT`, the Host of most requests.
pub(super) fn localhost(srv: &Server) -> String {
    format!("localhost:{}", srv.port())
}

/// Expands `{PORT}` and `{LEN}` in a table request.
pub(super) fn fill(template: &str, port: u16) -> Vec<u8> {
    let text = template.replace("{PORT}", &port.to_string());
    match text.find("\r\n\r\n") {
        Some(i) if text.contains("{LEN}") => {
            let body_len = text.len() - (i + 4);
            text.replace("{LEN}", &body_len.to_string()).into_bytes()
        }
        _ => text.into_bytes(),
    }
}

/// Reads a file of the server's docroot.
pub(super) fn read_root_file(srv: &Server, name: &str) -> Result<Vec<u8>, String> {
    fs::read(srv.root.join(name)).map_err(|e| format!("read {name} from the docroot: {e}"))
}

/// Runs a [`StatusCase`] row: its request on a fresh connection, its status and
/// headers, then the end of the connection.
pub(super) fn status_case(ctx: &Ctx, case: &StatusCase) -> Outcome {
    let srv = ctx.server(case.kind)?;
    let (mut conn, resp) = client::exchange(srv.addr, &fill(case.request, srv.port()))?;
    expect_status(&resp, case.status)?;
    for (name, value) in case.headers {
        expect_header(&resp, name, value)?;
    }
    expect_closed(&mut conn, "connection should end after this response")
}

/// Checks a 201 upload response and the stored file; returns the filepath.
pub(super) fn check_created(
    srv: &Server,
    resp: &Response,
    posted: &[u8],
) -> Result<String, String> {
    expect_status(resp, 201)?;
    let json: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| format!("201 body is not JSON ({e}): {}", resp.summary()))?;
    ensure!(
        json["status"] == "success",
        "status field: {}",
        resp.body_text()
    );
    ensure!(
        json["message"] == "File created successfully",
        "message field: {}",
        resp.body_text()
    );
    let path = json["filepath"]
        .as_str()
        .ok_or_else(|| format!("no filepath string: {}", resp.body_text()))?
        .to_string();
    ensure!(
        is_upload_path(&path),
        "filepath {path:?} is not /uploads/upload_YYYYMMDD_HHMMSS_XXXX.json"
    );
    expect_header(resp, "Location", &path)?;
    let stored = fs::read(srv.root.join(path.trim_start_matches('/')))
        .map_err(|e| format!("stored file {path}: {e}"))?;
    ensure!(
        stored == posted,
        "stored file {path} ({} bytes) differs from the posted body ({} bytes)",
        stored.len(),
        posted.len()
    );
    Ok(path)
}

/// Tells whether `path` is `/uploads/upload_YYYYMMDD_HHMMSS_XXXX.json`.
pub(super) fn is_upload_path(path: &str) -> bool {
    let Some(rest) = path
        .strip_prefix("/uploads/upload_")
        .and_then(|r| r.strip_suffix(".json"))
    else {
        return false;
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    parts.len() == 3
        && digits(parts[0], 8)
        && digits(parts[1], 6)
        && parts[2].len() == 4
        && parts[2].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Sends `req` (which may be cut short by the server) and expects `status`
/// followed by the end of the connection.
pub(super) fn oversized(srv: &Server, req: &[u8], status: u16) -> Outcome {
    let mut conn = Conn::connect(srv.addr)?;
    // The server may answer and close before reading everything; a failed
    // write is fine as long as the response arrives.
    let write_err = conn.send(req).err();
    let resp = conn
        .read_response(false)
        .map_err(|e| format!("{e} (write error: {write_err:?})"))?;
    expect_status(&resp, status)?;
    expect_closed(
        &mut conn,
        "connection should end after an oversized request",
    )
}

/// Checks `Keep-Alive: timeout=SECS, max=N` with 1 <= N <= 100.
pub(super) fn expect_keep_alive(resp: &Response, timeout_secs: u64) -> Outcome {
    let value = resp
        .header("keep-alive")
        .ok_or_else(|| format!("no Keep-Alive header: {}", resp.summary()))?;
    let mut timeout = None;
    let mut max = None;
    for param in value.split(',') {
        match param.trim().split_once('=') {
            Some(("timeout", v)) => timeout = v.parse::<u64>().ok(),
            Some(("max", v)) => max = v.parse::<usize>().ok(),
            _ => {}
        }
    }
    ensure!(
        timeout == Some(timeout_secs),
        "Keep-Alive {value:?}: expected timeout={timeout_secs}"
    );
    ensure!(
        max.is_some_and(|m| (1..=DEFAULT_MAX_REQUESTS).contains(&m)),
        "Keep-Alive {value:?}: expected max=N"
    );
    Ok(())
}

/// GETs `target` on its own connection with `Connection: close`.
pub(super) fn download(addr: SocketAddr, host: &str, target: &str) -> Result<Response, String> {
    let (_conn, resp) =
        client::exchange(addr, &client::get(target, host, "Connection: close\r\n"))?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_follow_the_seed_pattern() {
        let cases = [
            ("/uploads/upload_20240315_123456_a7b9.json", true),
            ("/uploads/upload_20240315_123456_A7B9.json", true),
            ("/uploads/upload_2024031_123456_a7b9.json", false),
            ("/uploads/upload_20240315_123456_a7b.json", false),
            ("/uploads/upload_20240315_123456_a7bz.json", false),
            ("/uploads/upload_20240315_123456_a7b9.txt", false),
            ("/upload_20240315_123456_a7b9.json", false),
            ("/uploads/upload_20240315_123456_a7b9_x.json", false),
        ];
        for (path, ok) in cases {
            assert_eq!(is_upload_path(path), ok, "{path}");
        }
    }

    #[test]
    fn fill_expands_port_and_body_length() {
        let raw = fill(
            "POST / HTTP/1.1\r\nHost: h:{PORT}\r\nContent-Length: {LEN}\r\n\r\nabc",
            8,
        );
        assert_eq!(
            raw,
            b"POST / HTTP/1.1\r\nHost: h:8\r\nContent-Length: 3\r\n\r\nabc".to_vec()
        );
        assert_eq!(
            fill("GET / HTTP/1.1\r\n\r\n", 1),
            b"GET / HTTP/1.1\r\n\r\n".to_vec()
        );
    }
}
