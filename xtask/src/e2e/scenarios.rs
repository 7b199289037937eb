//! The end-to-end scenarios, grouped by name prefix (`get/`, `security/`,
//! `host/`, `upload/`, `methods/`, `protocol/`, `conn/`, `pool/`, `files/`,
//! `log/`, `cli/`), then those of `e2e/semantics.rs` and `e2e/redbot.rs`.
//!
//! Requests whose shape repeats are rows of a table ([`FILES`], [`STATUS`]);
//! each row becomes its own scenario. Every seed README example request (Run,
//! Security, API Reference, Testing and Load Testing sections) has a scenario;
//! their names end in `_seed` where the row is the seed's own example.
//! Scenarios assert on outcomes, never on elapsed time, and every wait is
//! bounded by a socket timeout or a counted loop.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::client::{self, Closed, Conn, Response};
use super::{Ctx, Kind, Server};

/// What a scenario returns: `Err` carries the reason shown after `FAIL name:`.
pub type Outcome = Result<(), String>;

/// One named check, run against the lazily started servers in [`Ctx`].
pub struct Scenario {
    /// Unique name; `cargo xtask e2e FILTER` keeps names containing FILTER.
    pub name: String,
    /// The check; `Err` carries the reason shown after `FAIL name:`.
    pub run: Box<dyn Fn(&Ctx) -> Outcome>,
}

/// The `Allow` value for every 405 and OPTIONS response.
pub(super) const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// The default per-connection request cap.
const DEFAULT_MAX_REQUESTS: usize = 100;

/// Returns every scenario in the order they run.
pub fn all() -> Vec<Scenario> {
    let files = FILES
        .iter()
        .map(|case| scenario(case.name, move |ctx| get_file(ctx, case)));
    let statuses = STATUS
        .iter()
        .map(|case| scenario(case.name, move |ctx| status_case(ctx, case)));
    let checks = CHECKS.iter().map(|&(name, run)| scenario(name, run));
    let usage_errors = CLI_ERRORS
        .iter()
        .map(|&(name, args)| scenario(name, move |ctx| cli_usage_error(ctx, args)));
    files
        .chain(statuses)
        .chain(checks)
        .chain(usage_errors)
        .chain(super::semantics::all())
        .chain(super::slow::all())
        .collect()
}

pub(super) fn scenario(name: &str, run: impl Fn(&Ctx) -> Outcome + 'static) -> Scenario {
    Scenario {
        name: name.to_string(),
        run: Box::new(run),
    }
}

/// A scenario written as one function.
pub(super) type Check = fn(&Ctx) -> Outcome;

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("upload/json_testing_seed", |ctx| {
        upload_ok(ctx, JSON, br#"{"name": "test", "value": 123}"#)
    }),
    ("upload/json_api_reference_seed", |ctx| {
        upload_ok(ctx, JSON, br#"{"key": "value", "data": "example"}"#)
    }),
    ("upload/json_security_seed", |ctx| {
        upload_ok(ctx, JSON, br#"{"data": "value"}"#)
    }),
    ("upload/json_with_charset", |ctx| {
        let body = "{\"greeting\": \"gr\u{fc}\u{df} dich\"}";
        upload_ok(ctx, "application/json; charset=utf-8", body.as_bytes())
    }),
    ("upload/invalid_json_400_no_file", upload_invalid_json),
    ("upload/large_100k_stored_whole", upload_large),
    ("upload/chunked_201", upload_chunked),
    ("upload/concurrent_20_unique_names", upload_concurrent),
    ("upload/expect_100_continue", upload_expect_continue),
    ("upload/exactly_max_body_201", upload_at_limit),
    (
        "upload/chunked_over_max_body_413",
        upload_chunked_over_limit,
    ),
    ("methods/head_then_get_same_connection", head_then_get),
    ("methods/head_photo_matches_get", head_photo),
    ("methods/head_error_has_no_body", head_error_no_body),
    ("protocol/head_over_8k_431", head_too_large),
    ("protocol/too_many_headers_431", too_many_headers),
    ("protocol/head_just_under_8k_200", head_just_under_limit),
    ("protocol/max_head_flag", max_head_flag),
    ("protocol/target_over_8k_414", target_too_long),
    ("conn/keep_alive_default", keep_alive_default),
    ("conn/connection_close", connection_close),
    (
        "conn/connection_token_not_substring",
        connection_not_substring,
    ),
    ("conn/http10_closes", http10_closes),
    ("conn/http10_keep_alive", http10_keep_alive),
    ("conn/pipelining_three_in_order", pipelining),
    ("conn/pipelining_50_in_order", pipelining_deep),
    ("conn/pipelined_post_then_get", pipelined_post_then_get),
    ("conn/max_requests_5", |ctx| {
        max_requests(ctx, Kind::Short, 5)
    }),
    ("conn/max_requests_default_100", |ctx| {
        max_requests(ctx, Kind::Main, DEFAULT_MAX_REQUESTS)
    }),
    ("conn/idle_timeout_closes", idle_timeout),
    ("conn/slow_drip_cut_off", slow_drip),
    ("pool/load_25_photo_downloads_seed", |ctx| {
        parallel_downloads(ctx, Kind::Main, 25)
    }),
    ("pool/more_clients_than_workers", |ctx| {
        parallel_downloads(ctx, Kind::TwoWorkers, 25)
    }),
    ("pool/queue_full_503", queue_full),
    ("pool/idle_connections_hold_no_worker", idle_hold_no_worker),
    ("files/big_20mib_exact", big_file),
    ("log/startup_lines_seed", startup_lines),
    ("log/access_line_on_stdout", access_stdout),
    ("log/access_log_file", access_file),
    ("log/sigterm_clean_exit", |ctx| stop_signal(ctx, "TERM")),
    ("log/sigint_ctrl_c_clean_exit_seed", |ctx| {
        stop_signal(ctx, "INT")
    }),
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
    ("promtool/check_metrics", super::promtool::check_metrics),
    ("browser/images_decode", super::browser::images_decode),
    ("balancer/nginx_failover", super::balancer::nginx_failover),
];

// ---------------------------------------------------------------------------
// Tables

/// A file from `resources/` fetched with GET.
struct FileCase {
    name: &'static str,
    target: &'static str,
    file: &'static str,
    content_type: &'static str,
    /// `Some` for downloads: the exact `Content-Disposition` value.
    disposition: Option<&'static str>,
}

pub(super) const HTML: &str = "text/html; charset=utf-8";
pub(super) const JSON: &str = "application/json";
pub(super) const OCTETS: &str = "application/octet-stream";

/// The seed's API Reference GET endpoints (also its Testing examples).
const FILES: &[FileCase] = &[
    FileCase {
        name: "get/root_seed",
        target: "/",
        file: "index.html",
        content_type: HTML,
        disposition: None,
    },
    FileCase {
        name: "get/index.html_seed",
        target: "/index.html",
        file: "index.html",
        content_type: HTML,
        disposition: None,
    },
    FileCase {
        name: "get/about.html_seed",
        target: "/about.html",
        file: "about.html",
        content_type: HTML,
        disposition: None,
    },
    FileCase {
        name: "get/contact.html_seed",
        target: "/contact.html",
        file: "contact.html",
        content_type: HTML,
        disposition: None,
    },
    FileCase {
        name: "get/logo.png_seed",
        target: "/logo.png",
        file: "logo.png",
        content_type: OCTETS,
        disposition: Some("attachment; filename=\"logo.png\""),
    },
    FileCase {
        name: "get/logo2.png_seed",
        target: "/logo2.png",
        file: "logo2.png",
        content_type: OCTETS,
        disposition: Some("attachment; filename=\"logo2.png\""),
    },
    FileCase {
        name: "get/photo.jpg_seed",
        target: "/photo.jpg",
        file: "photo.jpg",
        content_type: OCTETS,
        disposition: Some("attachment; filename=\"photo.jpg\""),
    },
    FileCase {
        name: "get/sample.txt_seed",
        target: "/sample.txt",
        file: "sample.txt",
        content_type: OCTETS,
        disposition: Some("attachment; filename=\"sample.txt\""),
    },
];

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

pub(super) const ALLOW_HEADER: &[(&str, &str)] = &[("Allow", ALLOW)];

const STATUS: &[StatusCase] = &[
    row(
        "get/missing_file_404",
        Kind::Main,
        "GET /nope.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        404,
    ),
    // File type whitelist (seed Security section 3).
    row(
        "types/php_415_seed",
        Kind::Main,
        "GET /script.php HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        415,
    ),
    row(
        "types/py_415_seed",
        Kind::Main,
        "GET /server.py HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        415,
    ),
    row(
        "types/dotenv_415_seed",
        Kind::Main,
        "GET /.env HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        415,
    ),
    row(
        "types/sh_415",
        Kind::Main,
        "GET /run.sh HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        415,
    ),
    row(
        "types/exe_415",
        Kind::Main,
        "GET /setup.exe HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        415,
    ),
    row(
        "types/js_415",
        Kind::Main,
        "GET /app.js HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        415,
    ),
    // Path traversal (seed Security section 1), sent exactly as written.
    row(
        "security/traversal_etc_passwd_seed",
        Kind::Main,
        "GET /../etc/passwd HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "security/traversal_twice_seed",
        Kind::Main,
        "GET /../../sensitive.txt HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "security/double_slash_seed",
        Kind::Main,
        "GET //etc/hosts HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "security/encoded_traversal_seed",
        Kind::Main,
        "GET /%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "security/four_dots_seed",
        Kind::Main,
        "GET /....//....//etc/passwd HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "security/dot_segments_seed",
        Kind::Main,
        "GET /./././../config HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    // Host validation (seed Security section 2).
    row(
        "host/localhost_port_seed",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        200,
    ),
    row(
        "host/loopback_port_seed",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nConnection: close\r\n\r\n",
        200,
    ),
    row(
        "host/localhost_bare",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        200,
    ),
    row(
        "host/loopback_bare",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        200,
    ),
    row(
        "host/malicious_403_seed",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: malicious.com\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "host/evil_with_port_403_seed",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: evil.com:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "host/empty_400_seed",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
        400,
    ),
    row(
        "host/missing_400",
        Kind::Main,
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        400,
    ),
    row(
        "host/duplicate_400",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        400,
    ),
    row(
        "host/http10_without_host_200",
        Kind::Main,
        "GET / HTTP/1.0\r\n\r\n",
        200,
    ),
    row(
        "host/allowed_host_flag_200",
        Kind::Short,
        "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n",
        200,
    ),
    row(
        "host/allowed_host_star_any_200",
        Kind::TwoWorkers,
        "GET / HTTP/1.1\r\nHost: malicious.com\r\nConnection: close\r\n\r\n",
        200,
    ),
    row(
        "host/not_allowed_without_flag_403",
        Kind::Main,
        "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n",
        403,
    ),
    // POST rejections (seed Security section 4).
    row(
        "upload/text_html_415_seed",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: text/html\r\n\
         Content-Length: {LEN}\r\nConnection: close\r\n\r\n<script>alert(\"xss\")</script>",
        415,
    ),
    row(
        "upload/multipart_415_seed",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\n\
         Content-Type: multipart/form-data; boundary=e2eBoundary\r\n\
         Content-Length: {LEN}\r\nConnection: close\r\n\r\n\
         --e2eBoundary\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"malicious.php\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n\
         <?php echo 'hi'; ?>\r\n\
         --e2eBoundary--\r\n",
        415,
    ),
    row(
        "upload/no_length_411",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Connection: close\r\n\r\n",
        411,
    ),
    row(
        "upload/over_max_body_413",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 10485761\r\n\r\n",
        413,
    ),
    row(
        "upload/over_max_body_flag_413",
        Kind::Short,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 4097\r\n\r\n",
        413,
    ),
    // Methods.
    row(
        "methods/put_405",
        Kind::Main,
        "PUT /index.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        405,
    )
    .with(ALLOW_HEADER),
    row(
        "methods/delete_405",
        Kind::Main,
        "DELETE /index.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        405,
    )
    .with(ALLOW_HEADER),
    row(
        "methods/patch_405",
        Kind::Main,
        "PATCH /index.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        405,
    )
    .with(ALLOW_HEADER),
    row(
        "methods/unknown_501",
        Kind::Main,
        "FOO / HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        501,
    ),
    row(
        "methods/options_204",
        Kind::Main,
        "OPTIONS / HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        204,
    )
    .with(ALLOW_HEADER),
    // Protocol errors.
    row(
        "protocol/http2_505",
        Kind::Main,
        "GET / HTTP/2.0\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        505,
    ),
    row(
        "protocol/bad_version_400",
        Kind::Main,
        "GET / HTTP/1.32\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        400,
    ),
    row(
        "protocol/garbage_400",
        Kind::Main,
        "this is not http at all\r\n\r\n",
        400,
    ),
    row(
        "protocol/bare_lf_400",
        Kind::Main,
        "GET / HTTP/1.1\nHost: localhost\n\n",
        400,
    ),
    row(
        "protocol/cl_and_te_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    row(
        "protocol/differing_content_lengths_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    ),
    row(
        "protocol/signed_content_length_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Content-Length: +2\r\n\r\n{}",
        400,
    ),
    row(
        "protocol/leading_empty_line_ignored",
        Kind::Main,
        "\r\nGET /sample.txt HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        200,
    ),
    // More traversal spellings.
    row(
        "security/encoded_slash_traversal_403",
        Kind::Main,
        "GET /..%2fetc%2fpasswd HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "security/uppercase_encoded_dots_403",
        Kind::Main,
        "GET /%2E%2E/etc/passwd HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "security/backslash_traversal_403",
        Kind::Main,
        "GET /..\\..\\etc\\passwd HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    // More uploads.
    row(
        "upload/bad_chunk_size_400",
        Kind::Main,
        "POST /upload HTTP/1.1\r\nHost: localhost:{PORT}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    row(
        "upload/http10_post_201",
        Kind::Main,
        "POST /upload HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {LEN}\r\n\r\n\
         {\"via\": \"HTTP/1.0\"}",
        201,
    ),
    // Connection is a comma list of case-insensitive tokens.
    row(
        "conn/connection_token_list_close",
        Kind::Main,
        "GET /sample.txt HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: Upgrade, CLOSE\r\n\r\n",
        200,
    ),
];

impl StatusCase {
    pub(super) const fn with(self, headers: &'static [(&'static str, &'static str)]) -> StatusCase {
        StatusCase { headers, ..self }
    }
}

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

// ---------------------------------------------------------------------------
// Shared checks

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

pub(super) fn expect_status(resp: &Response, status: u16) -> Outcome {
    ensure!(
        resp.status == status,
        "expected {status}, got {}",
        resp.summary()
    );
    common(resp, false)
}

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

pub(super) fn read_root_file(srv: &Server, name: &str) -> Result<Vec<u8>, String> {
    fs::read(srv.root.join(name)).map_err(|e| format!("read {name} from the docroot: {e}"))
}

/// Checks a GET (or HEAD, `to_head`) response for file `case.file`.
fn check_file_response(srv: &Server, case: &FileCase, resp: &Response, to_head: bool) -> Outcome {
    let expected = read_root_file(srv, case.file)?;
    ensure!(
        resp.status == 200,
        "{}: expected 200, got {}",
        case.target,
        resp.summary()
    );
    common(resp, to_head)?;
    expect_header(resp, "Content-Type", case.content_type)?;
    match case.disposition {
        Some(d) => expect_header(resp, "Content-Disposition", d)?,
        None => ensure!(
            resp.header("content-disposition").is_none(),
            "unexpected Content-Disposition: {}",
            resp.summary()
        ),
    }
    let cl = resp.header("content-length").unwrap_or_default();
    ensure!(
        cl == expected.len().to_string(),
        "{}: Content-Length {cl:?}, file has {} bytes",
        case.target,
        expected.len()
    );
    if to_head {
        ensure!(resp.body.is_empty(), "HEAD response with a body");
    } else {
        ensure!(
            resp.body == expected,
            "{}: body ({} bytes) differs from the file ({} bytes)",
            case.target,
            resp.body.len(),
            expected.len()
        );
    }
    Ok(())
}

fn file_case(target: &str) -> &'static FileCase {
    FILES
        .iter()
        .find(|c| c.target == target)
        .expect("target is in FILES")
}

// ---------------------------------------------------------------------------
// Table runners

fn get_file(ctx: &Ctx, case: &FileCase) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let (mut conn, resp) = client::exchange(
        srv.addr,
        &client::get(case.target, &localhost(srv), "Connection: close\r\n"),
    )?;
    check_file_response(srv, case, &resp, false)?;
    ensure!(
        resp.has_connection_token("close"),
        "asked to close, response lacks Connection: close: {}",
        resp.summary()
    );
    expect_closed(&mut conn, "after Connection: close")
}

pub(super) fn status_case(ctx: &Ctx, case: &StatusCase) -> Outcome {
    let srv = ctx.server(case.kind)?;
    let (mut conn, resp) = client::exchange(srv.addr, &fill(case.request, srv.port()))?;
    expect_status(&resp, case.status)?;
    for (name, value) in case.headers {
        expect_header(&resp, name, value)?;
    }
    expect_closed(&mut conn, "connection should end after this response")
}

// ---------------------------------------------------------------------------
// Uploads

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
fn is_upload_path(path: &str) -> bool {
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

fn upload_ok(ctx: &Ctx, content_type: &str, body: &[u8]) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = client::post("/upload", &localhost(srv), content_type, body, "");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    check_created(srv, &resp, body).map(|_| ())
}

fn upload_invalid_json(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let before = srv.uploads();
    let body = br#"{"name": "test", "value": }"#;
    let req = client::post("/upload", &localhost(srv), "application/json", body, "");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    expect_status(&resp, 400)?;
    let after = srv.uploads();
    ensure!(
        before == after,
        "invalid JSON left a file: before {before:?}, after {after:?}"
    );
    Ok(())
}

fn upload_large(ctx: &Ctx) -> Outcome {
    let body = format!("{{\"data\": \"{}\"}}", "x".repeat(100 * 1024)).into_bytes();
    upload_ok(ctx, "application/json", &body)
}

fn upload_chunked(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let parts: [&[u8]; 3] = [b"{\"chunked\": ", b"true, \"parts\": [1, 2, 3]", b"}"];
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        localhost(srv)
    )
    .into_bytes();
    for part in parts {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    check_created(srv, &resp, &parts.concat()).map(|_| ())
}

fn upload_concurrent(ctx: &Ctx) -> Outcome {
    const N: usize = 20;
    let srv = ctx.server(Kind::Main)?;
    let (addr, host) = (srv.addr, localhost(srv));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let host = host.clone();
            thread::spawn(move || -> Result<(Vec<u8>, Response), String> {
                let body = format!("{{\"client\": {i}, \"note\": \"concurrent upload\"}}");
                let req = client::post(
                    "/upload",
                    &host,
                    "application/json",
                    body.as_bytes(),
                    "Connection: close\r\n",
                );
                let (_conn, resp) = client::exchange(addr, &req)?;
                Ok((body.into_bytes(), resp))
            })
        })
        .collect();
    let mut paths = HashSet::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (body, resp) = h
            .join()
            .map_err(|_| format!("client {i} panicked"))?
            .map_err(|e| format!("client {i}: {e}"))?;
        let path = check_created(srv, &resp, &body).map_err(|e| format!("client {i}: {e}"))?;
        ensure!(paths.insert(path.clone()), "two uploads got {path}");
    }
    ensure!(
        paths.len() == N,
        "{} distinct files for {N} uploads",
        paths.len()
    );
    Ok(())
}

/// A JSON document of exactly `len` bytes.
fn json_of_len(len: usize) -> Vec<u8> {
    let frame = br#"{"pad": ""}"#.len();
    format!("{{\"pad\": \"{}\"}}", "p".repeat(len - frame)).into_bytes()
}

fn upload_at_limit(ctx: &Ctx) -> Outcome {
    // The Short server runs with --max-body 4096.
    let srv = ctx.server(Kind::Short)?;
    let body = json_of_len(4096);
    let req = client::post("/upload", &localhost(srv), "application/json", &body, "");
    let (_conn, resp) = client::exchange(srv.addr, &req)?;
    check_created(srv, &resp, &body).map(|_| ())
}

fn upload_chunked_over_limit(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Short)?;
    let body = json_of_len(5000);
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        localhost(srv)
    )
    .into_bytes();
    for part in body.chunks(1000) {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let before = srv.uploads();
    oversized(srv, &req, 413)?;
    let after = srv.uploads();
    ensure!(
        before == after,
        "refused upload left a file: before {before:?}, after {after:?}"
    );
    Ok(())
}

fn upload_expect_continue(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let body = br#"{"expect": "100-continue"}"#;
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(
        format!(
            "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            localhost(srv),
            body.len()
        )
        .as_bytes(),
    )?;
    let interim = conn.read_response(false)?;
    ensure!(
        interim.status == 100,
        "expected 100 Continue before the body, got {}",
        interim.summary()
    );
    conn.send_all(body)?;
    check_created(srv, &conn.read_response(false)?, body).map(|_| ())
}

// ---------------------------------------------------------------------------
// Methods

fn head_error_no_body(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(format!("HEAD /nope.html HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let head = conn.read_response(true)?;
    ensure!(head.status == 404, "expected 404, got {}", head.summary());
    common(&head, true)?;
    if head.has_connection_token("close") {
        return expect_closed(&mut conn, "after a closing HEAD 404");
    }
    // Body bytes wrongly sent after the HEAD response would break this parse.
    conn.send_all(&client::get("/sample.txt", &host, "Connection: close\r\n"))?;
    let get = conn
        .read_response(false)
        .map_err(|e| format!("GET after HEAD 404: {e}"))?;
    check_file_response(srv, file_case("/sample.txt"), &get, false)
}

fn head_then_get(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let case = file_case("/index.html");
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(format!("HEAD /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let head = conn.read_response(true)?;
    check_file_response(srv, case, &head, true)?;
    // A body wrongly sent after the HEAD response would be parsed as the
    // next status line here.
    conn.send_all(&client::get("/index.html", &host, ""))?;
    let get = conn
        .read_response(false)
        .map_err(|e| format!("GET after HEAD on one connection: {e}"))?;
    check_file_response(srv, case, &get, false)?;
    same_headers(&head, &get)
}

fn head_photo(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let case = file_case("/photo.jpg");
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(format!("HEAD /photo.jpg HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())?;
    let head = conn.read_response(true)?;
    check_file_response(srv, case, &head, true)?;
    conn.send_all(&client::get("/photo.jpg", &host, "Connection: close\r\n"))?;
    let get = conn.read_response(false)?;
    check_file_response(srv, case, &get, false)?;
    same_headers(&head, &get)
}

fn same_headers(head: &Response, get: &Response) -> Outcome {
    for name in ["content-type", "content-length", "content-disposition"] {
        ensure!(
            head.header(name) == get.header(name),
            "HEAD and GET differ in {name}: {:?} vs {:?}",
            head.header(name),
            get.header(name)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Protocol limits

/// Sends `req` (which may be cut short by the server) and expects `status`
/// followed by the end of the connection.
fn oversized(srv: &Server, req: &[u8], status: u16) -> Outcome {
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

/// Returns `count` header lines of `line_len` bytes each (CRLF included).
fn filler_headers(count: usize, line_len: usize) -> String {
    (0..count)
        .map(|i| format!("X-Filler-{i:04}: {}\r\n", "a".repeat(line_len - 17)))
        .collect()
}

fn head_too_large(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    // 60 fields (fewer than any sane field-count cap) of 200 bytes: 12 000 bytes.
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\n{}\r\n",
        localhost(srv),
        filler_headers(60, 200)
    );
    oversized(srv, req.as_bytes(), 431)
}

fn too_many_headers(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    // 200 short fields: a small head (4 KB) with too many fields.
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\n{}\r\n",
        localhost(srv),
        filler_headers(200, 20)
    );
    ensure!(req.len() < 8192, "test bug: head is {} bytes", req.len());
    oversized(srv, req.as_bytes(), 431)
}

fn head_just_under_limit(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}\r\n",
        localhost(srv),
        filler_headers(40, 190)
    );
    ensure!(
        (7000..8192).contains(&req.len()),
        "test bug: head is {} bytes",
        req.len()
    );
    let (mut conn, resp) = client::exchange(srv.addr, req.as_bytes())?;
    expect_status(&resp, 200)?;
    expect_closed(&mut conn, "after Connection: close")
}

fn max_head_flag(ctx: &Ctx) -> Outcome {
    // The Short server runs with --max-head 2048.
    let srv = ctx.server(Kind::Short)?;
    let head = |n_fields: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}\r\n",
            localhost(srv),
            filler_headers(n_fields, 100)
        )
    };
    let (small, large) = (head(15), head(25));
    ensure!(
        small.len() < 2048 && large.len() > 2048,
        "test bug: heads of {} and {} bytes",
        small.len(),
        large.len()
    );
    let (mut conn, resp) = client::exchange(srv.addr, small.as_bytes())?;
    expect_status(&resp, 200).map_err(|e| format!("{} byte head: {e}", small.len()))?;
    expect_closed(&mut conn, "after Connection: close")?;
    oversized(srv, large.as_bytes(), 431).map_err(|e| format!("{} byte head: {e}", large.len()))
}

fn target_too_long(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET /{}.html HTTP/1.1\r\nHost: {}\r\n\r\n",
        "a".repeat(9000),
        localhost(srv)
    );
    oversized(srv, req.as_bytes(), 414)
}

// ---------------------------------------------------------------------------
// Connections

/// Checks `Keep-Alive: timeout=SECS, max=N` with 1 <= N <= 100.
fn expect_keep_alive(resp: &Response, timeout_secs: u64) -> Outcome {
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

fn keep_alive_default(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let mut conn = Conn::connect(srv.addr)?;
    for target in ["/index.html", "/about.html", "/sample.txt"] {
        conn.send_all(&client::get(target, &host, ""))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("{target} on a kept-alive connection: {e}"))?;
        check_file_response(srv, file_case(target), &resp, false)?;
        ensure!(
            !resp.has_connection_token("close"),
            "HTTP/1.1 default should keep the connection: {}",
            resp.summary()
        );
        expect_keep_alive(&resp, 30)?;
    }
    Ok(())
}

fn connection_close(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let (mut conn, resp) = client::exchange(
        srv.addr,
        &client::get("/sample.txt", &localhost(srv), "Connection: close\r\n"),
    )?;
    check_file_response(srv, file_case("/sample.txt"), &resp, false)?;
    ensure!(
        resp.has_connection_token("close"),
        "no Connection: close: {}",
        resp.summary()
    );
    let closed = conn.expect_closed()?;
    ensure!(
        closed == Closed::Eof,
        "expected a clean close, got {closed:?}"
    );
    Ok(())
}

fn http10_closes(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET /about.html HTTP/1.0\r\nHost: {}\r\n\r\n",
        localhost(srv)
    );
    let (mut conn, resp) = client::exchange(srv.addr, req.as_bytes())?;
    check_file_response(srv, file_case("/about.html"), &resp, false)?;
    expect_closed(&mut conn, "HTTP/1.0 without keep-alive")
}

fn http10_keep_alive(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let req = format!(
        "GET /about.html HTTP/1.0\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
        localhost(srv)
    );
    let mut conn = Conn::connect(srv.addr)?;
    for round in 0..2 {
        conn.send_all(req.as_bytes())?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("HTTP/1.0 keep-alive request {round}: {e}"))?;
        check_file_response(srv, file_case("/about.html"), &resp, false)?;
        ensure!(
            resp.has_connection_token("keep-alive"),
            "HTTP/1.0 keep-alive response must say Connection: keep-alive: {}",
            resp.summary()
        );
    }
    Ok(())
}

fn pipelining(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let targets = ["/", "/about.html", "/sample.txt"];
    let mut burst = Vec::new();
    for target in targets {
        burst.extend_from_slice(&client::get(target, &host, ""));
    }
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&burst)?;
    for target in targets {
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("pipelined response for {target}: {e}"))?;
        check_file_response(srv, file_case(target), &resp, false)
            .map_err(|e| format!("pipelined responses out of order or wrong: {e}"))?;
    }
    Ok(())
}

fn pipelining_deep(ctx: &Ctx) -> Outcome {
    const N: usize = 50;
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let targets = [
        "/index.html",
        "/sample.txt",
        "/logo.png",
        "/about.html",
        "/logo2.png",
    ];
    let mut burst = Vec::new();
    for i in 0..N {
        burst.extend_from_slice(&client::get(targets[i % targets.len()], &host, ""));
    }
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&burst)?;
    for i in 0..N {
        let target = targets[i % targets.len()];
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("pipelined response {i} ({target}): {e}"))?;
        check_file_response(srv, file_case(target), &resp, false)
            .map_err(|e| format!("pipelined response {i}: {e}"))?;
    }
    Ok(())
}

fn pipelined_post_then_get(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let body = br#"{"pipelined": true}"#;
    let mut burst = client::post("/upload", &host, "application/json", body, "");
    burst.extend_from_slice(&client::get("/sample.txt", &host, "Connection: close\r\n"));
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&burst)?;
    check_created(srv, &conn.read_response(false)?, body)?;
    let resp = conn
        .read_response(false)
        .map_err(|e| format!("GET pipelined after a POST body: {e}"))?;
    check_file_response(srv, file_case("/sample.txt"), &resp, false)?;
    expect_closed(&mut conn, "after Connection: close")
}

fn connection_not_substring(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let mut conn = Conn::connect(srv.addr)?;
    // "x-close" contains "close" but is another token: stay open.
    conn.send_all(&client::get(
        "/sample.txt",
        &host,
        "Connection: x-close\r\n",
    ))?;
    let resp = conn.read_response(false)?;
    expect_status(&resp, 200)?;
    ensure!(
        !resp.has_connection_token("close"),
        "Connection: x-close was read as close: {}",
        resp.summary()
    );
    conn.send_all(&client::get("/sample.txt", &host, ""))?;
    let resp = conn
        .read_response(false)
        .map_err(|e| format!("second request after Connection: x-close: {e}"))?;
    expect_status(&resp, 200)
}

fn max_requests(ctx: &Ctx, kind: Kind, n: usize) -> Outcome {
    let srv = ctx.server(kind)?;
    let req = client::get("/sample.txt", &localhost(srv), "");
    let mut conn = Conn::connect(srv.addr)?;
    for i in 1..=n {
        conn.send_all(&req)
            .map_err(|e| format!("request {i} of {n}: {e}"))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("response {i} of {n}: {e}"))?;
        expect_status(&resp, 200)?;
        let closing = resp.has_connection_token("close");
        if i < n {
            ensure!(!closing, "response {i} of {n} already closes");
        } else {
            ensure!(
                closing,
                "response {n} should carry Connection: close: {}",
                resp.summary()
            );
        }
    }
    expect_closed(&mut conn, &format!("after request {n}"))
}

fn idle_timeout(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Short)?;
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&client::get("/sample.txt", &localhost(srv), ""))?;
    let resp = conn.read_response(false)?;
    expect_status(&resp, 200)?;
    ensure!(
        !resp.has_connection_token("close"),
        "server closed at once; cannot test idling"
    );
    expect_keep_alive(&resp, 1)?;
    // Send nothing: the server must end the idle connection within the 5 s
    // read timeout (its idle timeout is 1 s). A 408 before closing is fine.
    let (bytes, _) = conn.wait_closed()?;
    ensure!(
        bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 408"),
        "idle connection got unexpected bytes: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(())
}

fn slow_drip(ctx: &Ctx) -> Outcome {
    const MAX_BYTES: usize = 40;
    let srv = ctx.server(Kind::Short)?;
    let host = localhost(srv);
    let mut drip = Conn::connect(srv.addr)?;
    drip.send_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Drip: ").as_bytes())?;
    // The 200 ms read timeout paces the drip: one byte per failed read.
    drip.stream()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let mut other_served = false;
    let mut cut_off = None;
    let mut got = Vec::new();
    for i in 0..MAX_BYTES {
        if i == 2 {
            let (_c, resp) = client::exchange(
                srv.addr,
                &client::get("/about.html", &host, "Connection: close\r\n"),
            )
            .map_err(|e| format!("other client during the drip: {e}"))?;
            expect_status(&resp, 200).map_err(|e| format!("other client: {e}"))?;
            other_served = true;
        }
        if let Err(e) = drip.stream().write_all(b"a") {
            cut_off = Some(format!("write failed: {e}"));
            break;
        }
        let mut buf = [0u8; 1024];
        match drip.stream().read(&mut buf) {
            Ok(0) => {
                cut_off = Some("EOF".into());
                break;
            }
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                cut_off = Some("response".into());
                break;
            }
            Err(e) if client::is_timeout(&e) => {}
            Err(e) if client::is_reset(&e) => {
                cut_off = Some(format!("reset: {e}"));
                break;
            }
            Err(e) => return Err(format!("drip read: {e}")),
        }
    }
    ensure!(other_served, "other client was not tried");
    let how = cut_off.ok_or_else(|| {
        format!("server still reading a {MAX_BYTES}-byte drip (header timeout 1 s)")
    })?;
    if !got.is_empty() {
        drip.stream()
            .set_read_timeout(Some(client::IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let (rest, _) = drip
            .wait_closed()
            .map_err(|e| format!("after the drip response: {e}"))?;
        got.extend_from_slice(&rest);
        ensure!(
            got.starts_with(b"HTTP/1.1 408"),
            "drip cut off ({how}) with unexpected bytes: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Pool

fn download(addr: SocketAddr, host: &str, target: &str) -> Result<Response, String> {
    let (_conn, resp) =
        client::exchange(addr, &client::get(target, host, "Connection: close\r\n"))?;
    Ok(resp)
}

fn parallel_downloads(ctx: &Ctx, kind: Kind, n: usize) -> Outcome {
    let srv = ctx.server(kind)?;
    let (addr, host) = (srv.addr, localhost(srv));
    let expected = read_root_file(srv, "photo.jpg")?;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let host = host.clone();
            thread::spawn(move || download(addr, &host, "/photo.jpg"))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let resp = h
            .join()
            .map_err(|_| format!("client {i} panicked"))?
            .map_err(|e| format!("client {i}: {e}"))?;
        expect_status(&resp, 200).map_err(|e| format!("client {i}: {e}"))?;
        ensure!(
            resp.body == expected,
            "client {i}: photo.jpg body differs ({} of {} bytes)",
            resp.body.len(),
            expected.len()
        );
    }
    ensure!(
        srv.log_contains("Thread pool:", Duration::from_secs(2)),
        "no 'Thread pool:' status line in {}",
        srv.log_path.display()
    );
    Ok(())
}

fn idle_hold_no_worker(ctx: &Ctx) -> Outcome {
    const N_IDLE: usize = 30;
    // More idle keep-alive connections than the two workers: parked
    // connections must not hold workers, so a new client is still served.
    let srv = ctx.server(Kind::TwoWorkers)?;
    let host = localhost(srv);
    let mut idle = Vec::with_capacity(N_IDLE);
    for i in 0..N_IDLE {
        let mut conn = Conn::connect(srv.addr)?;
        conn.send_all(&client::get("/sample.txt", &host, ""))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("idle connection {i}: {e}"))?;
        expect_status(&resp, 200)?;
        idle.push(conn);
    }
    let resp = download(srv.addr, &host, "/index.html")
        .map_err(|e| format!("new client with {N_IDLE} idle connections open: {e}"))?;
    check_file_response(srv, file_case("/index.html"), &resp, false)?;
    // The idle connections still work.
    for (i, conn) in idle.iter_mut().enumerate().step_by(7) {
        conn.send_all(&client::get("/sample.txt", &host, ""))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("idle connection {i}, second request: {e}"))?;
        expect_status(&resp, 200)?;
    }
    Ok(())
}

fn queue_full(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::OneWorker)?;
    let host = localhost(srv);
    // H holds the only worker with the server's test hook (`--test-stall-path`): its
    // job runs until a release file appears. (No client can hold a worker otherwise:
    // the pollers do every read and write.)
    let release = srv.root.join(".stall-release");
    let _ = fs::remove_file(&release);
    let mut holder = Conn::connect(srv.addr)?;
    holder.send_all(&client::get("/queue-hold", &host, "Connection: close\r\n"))?;
    ensure!(
        srv.log_contains("test stall: holding this worker", Duration::from_secs(5)),
        "the stalled job never took the worker ({})",
        srv.log_path.display()
    );
    // Two more requests for files the cache does not hold (written just now, so a
    // worker must open them): one takes the single queue slot, the other must get 503
    // at once. Which is which depends on the poller's order.
    for name in ["queued-a.html", "queued-b.html"] {
        fs::write(srv.root.join(name), b"<p>queued</p>\n")
            .map_err(|e| format!("write {name}: {e}"))?;
    }
    let mut others = [Conn::connect(srv.addr)?, Conn::connect(srv.addr)?];
    for (conn, name) in others.iter_mut().zip(["queued-a.html", "queued-b.html"]) {
        conn.send_all(&client::get(
            &format!("/{name}"),
            &host,
            "Connection: close\r\n",
        ))?;
    }
    let mut rejected = None;
    'wait: for _ in 0..50 {
        for (i, conn) in others.iter_mut().enumerate() {
            if conn.has_data(Duration::from_millis(100))? {
                rejected = Some(i);
                break 'wait;
            }
        }
    }
    let rejected =
        rejected.ok_or("no 503 while the worker and the one queue slot were busy (waited 10 s)")?;
    let [first, second] = &mut others;
    let (refused, queued) = if rejected == 0 {
        (first, second)
    } else {
        (second, first)
    };
    let resp = refused.read_response(false)?;
    expect_status(&resp, 503)?;
    expect_header(&resp, "Retry-After", "5")?;
    expect_closed(refused, "after 503")?;
    ensure!(
        !queued.has_data(Duration::from_millis(100))?,
        "the queued connection was answered while the worker was still busy"
    );
    // Releasing the worker lets the queued request go next.
    fs::write(&release, b"").map_err(|e| format!("write {}: {e}", release.display()))?;
    let resp = holder.read_response(false)?;
    expect_status(&resp, 200)?;
    let resp = queued
        .read_response(false)
        .map_err(|e| format!("queued connection after the worker freed up: {e}"))?;
    expect_status(&resp, 200)?;
    let _ = fs::remove_file(&release);
    ensure!(
        srv.log_contains("Thread pool:", Duration::from_secs(2)),
        "no 'Thread pool:' status line in {}",
        srv.log_path.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Large files

/// FNV-1a, 64-bit: a checksum that needs no external tool.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn big_file(ctx: &Ctx) -> Outcome {
    const SIZE: usize = 20 * 1024 * 1024;
    let srv = ctx.server(Kind::Main)?;
    let mut content = Vec::with_capacity(SIZE + 64);
    let mut i = 0u64;
    while content.len() < SIZE {
        content.extend_from_slice(
            format!("line {i:08} of big.txt: {:016x}\n", fnv1a(&i.to_le_bytes())).as_bytes(),
        );
        i += 1;
    }
    content.truncate(SIZE);
    fs::write(srv.root.join("big.txt"), &content).map_err(|e| format!("write big.txt: {e}"))?;
    let resp = download(srv.addr, &localhost(srv), "/big.txt")?;
    expect_status(&resp, 200)?;
    expect_header(
        &resp,
        "Content-Disposition",
        "attachment; filename=\"big.txt\"",
    )?;
    ensure!(
        resp.body.len() == SIZE,
        "big.txt: got {} bytes, expected {SIZE}",
        resp.body.len()
    );
    let (want, got) = (fnv1a(&content), fnv1a(&resp.body));
    ensure!(
        want == got,
        "big.txt checksum {got:016x}, expected {want:016x}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Logs and lifecycle

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
            srv.log_contains(line, Duration::from_secs(2)),
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
        srv.access_contains(needle, Duration::from_secs(2)),
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
        super::file_contains(&log, needle, Duration::from_secs(2)),
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
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &srv.pid().to_string()])
        .status()
        .map_err(|e| format!("run kill: {e}"))?;
    ensure!(status.success(), "kill -{signal} failed: {status}");
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

// ---------------------------------------------------------------------------
// Command line

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

/// Durations accept plain seconds (`7`) and humantime (`2500ms`).
fn cli_durations(ctx: &Ctx) -> Outcome {
    let srv = ctx.start(
        "durations",
        &["--idle-timeout", "7", "--header-timeout", "2500ms"],
    )?;
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&client::get("/sample.txt", &localhost(&srv), ""))?;
    let resp = conn.read_response(false)?;
    expect_status(&resp, 200)?;
    expect_keep_alive(&resp, 7)
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
        srv.log_contains(&line, Duration::from_secs(2)),
        "{} lacks {line:?}; tail: {}",
        srv.log_path.display(),
        srv.log_tail()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_are_unique_and_grouped() {
        let names: Vec<String> = all().into_iter().map(|s| s.name).collect();
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "duplicate scenario names");
        for name in &names {
            let (group, rest) = name.split_once('/').expect("group/name");
            assert!(!group.is_empty() && !rest.is_empty(), "{name}");
        }
    }

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

    #[test]
    fn json_of_len_is_exact_and_valid() {
        for len in [11, 12, 4096] {
            let body = json_of_len(len);
            assert_eq!(body.len(), len);
            serde_json::from_slice::<Value>(&body).expect("valid JSON");
        }
    }

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
