//! `get/`, `types/`, `security/`, `host/` and `files/`: the seed README's API
//! Reference downloads ([`FILES`], one scenario per row), its Security examples
//! (file-type whitelist, path traversal, Host validation) and more spellings
//! of them, and a 20 MiB download checked byte for byte. Names ending in
//! `_seed` are the seed's own example requests.

use std::fs;

use super::checks::{
    HTML, OCTETS, StatusCase, common, download, expect_closed, expect_header, expect_status,
    localhost, read_root_file, row,
};
use super::client::{self, Response};
use super::scenarios::{Check, Outcome, Scenario, scenario, tables};
use super::{Ctx, Kind, Server};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    let files = FILES
        .iter()
        .map(|case| scenario(case.name, move |ctx| get_file(ctx, case)));
    files.chain(tables(STATUS, CHECKS)).collect()
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[("files/big_20mib_exact", big_file)];

/// A file from `resources/` fetched with GET.
pub(super) struct FileCase {
    name: &'static str,
    target: &'static str,
    file: &'static str,
    content_type: &'static str,
    /// `Some` for downloads: the exact `Content-Disposition` value.
    disposition: Option<&'static str>,
}

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
];

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

/// Checks a GET (or HEAD, `to_head`) response for file `case.file`.
pub(super) fn check_file_response(
    srv: &Server,
    case: &FileCase,
    resp: &Response,
    to_head: bool,
) -> Outcome {
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

pub(super) fn file_case(target: &str) -> &'static FileCase {
    FILES
        .iter()
        .find(|c| c.target == target)
        .expect("target is in FILES")
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
