//! End-to-end scenarios for full HTTP/1.1 file semantics, grouped by name
//! prefix: `head/` (HEAD mirrors GET), `range/` (byte ranges, multipart,
//! offsets above 4 GiB), `cond/` (validators and conditional requests),
//! `cache/` (Cache-Control), `gzip/` (content codings and sidecars),
//! `upload/` (Expect, chunked extensions and trailers), `target/` (request
//! target forms and decoding), `types/` (extra media types), `dir/`
//! (redirects, indexes, listings) and `redbot/` (the REDbot linter, in
//! `e2e/redbot.rs`).
//!
//! The servers of kinds [`Kind::Files`], [`Kind::Flags`] and
//! [`Kind::NoPrecompressed`] serve `resources/` plus the files
//! [`write_fixtures`] adds. Gzip bodies are checked without inflating them
//! (xtask depends on std and serde_json only): the magic bytes, and the
//! CRC-32 and length in the gzip trailer against the original file, which
//! only a correct compression of exactly those bytes carries.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::checks::{
    ALLOW, ALLOW_HEADER, HTML, JSON, OCTETS, StatusCase, check_created, expect_closed,
    expect_header, fill, localhost, read_root_file, row,
};
use super::client::{Conn, Response};
use super::scenarios::{Check, Outcome, Scenario, scenario, tables};
use super::{Ctx, Kind, Server, redbot};

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    let heads = HEAD_CASES
        .iter()
        .map(|case| scenario(case.name, move |ctx| head_case(ctx, case)));
    let ranges = RANGE_CASES
        .iter()
        .map(|case| scenario(case.name, move |ctx| range_case(ctx, case)));
    heads.chain(ranges).chain(tables(STATUS, CHECKS)).collect()
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("head/range_ignored_200", head_ignores_range),
    (
        "head/no_transfer_encoding_on_1xx_204_304",
        no_te_when_bodiless,
    ),
    ("range/multipart_txt_byte_for_byte", |ctx| {
        multipart(
            ctx,
            "/digits.txt",
            "bytes=8-,0-1,5-6",
            &[(0, 1), (5, 6), (8, 9)],
        )
    }),
    ("range/multipart_html_byte_for_byte", multipart_html),
    ("range/16_multipart_17_ignored_200", max_ranges_default),
    ("range/max_ranges_flag", max_ranges_flag),
    ("range/unsatisfiable_416", unsatisfiable),
    ("range/unparsable_ignored_200", unparsable),
    ("range/above_4gib_sparse_5gib_file", above_4gib),
    ("cond/validators_on_every_file", validators_everywhere),
    ("cond/if_none_match_304", if_none_match),
    ("cond/if_modified_since_304", if_modified_since),
    (
        "cond/if_match_and_if_unmodified_since_412",
        preconditions_412,
    ),
    ("cond/three_http_date_forms", date_forms),
    ("cond/if_range_strong_comparison", if_range),
    ("cache/defaults", cache_defaults),
    ("cache/cache_control_flag", cache_flag),
    ("gzip/on_the_fly_with_length", gzip_on_the_fly),
    ("gzip/accept_encoding_qvalues", gzip_qvalues),
    ("gzip/vary_on_every_negotiable_response", vary_everywhere),
    ("gzip/sidecar_fresh_served_byte_for_byte", sidecar_fresh),
    ("gzip/sidecar_stale_ignored", sidecar_stale),
    ("gzip/never_ranges_or_images", never_compressed),
    ("gzip/over_1mib_chunked", gzip_chunked),
    ("gzip/http10_never_chunked", gzip_http10),
    ("gzip/no_gzip_flag", no_gzip_flag),
    ("gzip/no_precompressed_flag", no_precompressed_flag),
    ("upload/expect_too_large_413_without_100", expect_too_large),
    (
        "upload/chunked_extensions_and_trailers_201",
        chunked_extensions_trailers,
    ),
    ("target/absolute_form_serves_file", absolute_form),
    ("target/query_string_ignored", query_ignored),
    ("target/percent_decoded_exactly_once", percent_decoded_once),
    ("types/serve_type_css_inline", serve_type_css),
    ("types/inline_images", inline_images),
    ("dir/redirect_301_keeps_query", dir_redirect),
    ("dir/double_slash_403_no_location", dir_double_slash),
    ("dir/index_served", dir_index),
    ("dir/listing_off_by_default_404", dir_listing_off),
    ("dir/listing_escapes_names_encodes_links", dir_listing),
    ("redbot/no_bad_notes", redbot::no_bad_notes),
];

// ---------------------------------------------------------------------------
// Fixtures

/// `digits.txt`: ten bytes whose values are their offsets, for range arithmetic.
const DIGITS: &[u8] = b"0123456789";

/// `alpha.txt`: 64 distinct bytes.
const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

/// Unix time of `dated.txt`'s mtime, 2021-03-04 05:06:07 UTC (a Thursday).
const DATED_SECS: u64 = 1_614_834_367;

/// That instant in the three HTTP-date forms (RFC 9110 section 5.6.7):
/// IMF-fixdate, obsolete RFC 850, and ANSI C asctime.
const DATED_FORMS: [&str; 3] = [
    "Thu, 04 Mar 2021 05:06:07 GMT",
    "Thursday, 04-Mar-21 05:06:07 GMT",
    "Thu Mar  4 05:06:07 2021",
];

/// One second before [`DATED_FORMS`], in the same three forms.
const EARLIER_FORMS: [&str; 3] = [
    "Thu, 04 Mar 2021 05:06:06 GMT",
    "Thursday, 04-Mar-21 05:06:06 GMT",
    "Thu Mar  4 05:06:06 2021",
];

/// One second after [`DATED_FORMS`], in the same three forms.
const LATER_FORMS: [&str; 3] = [
    "Thu, 04 Mar 2021 05:06:08 GMT",
    "Thursday, 04-Mar-21 05:06:08 GMT",
    "Thu Mar  4 05:06:08 2021",
];

/// The in-memory gzip limit of the server: larger files are gzipped chunked.
const GZIP_IN_MEMORY_MAX: usize = 1024 * 1024;

/// Writes the file-semantics fixtures into `root` (a fresh copy of
/// `resources/`), with explicit modification times where they matter.
pub fn write_fixtures(root: &Path) -> Result<(), String> {
    let put = |name: &str, bytes: &[u8]| -> Result<PathBuf, String> {
        let path = root.join(name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        fs::write(&path, bytes).map_err(|e| format!("write {name}: {e}"))?;
        Ok(path)
    };
    // An hour ago, in whole seconds, so the dates compare exactly.
    let base = UNIX_EPOCH
        + Duration::from_secs(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| format!("clock: {e}"))?
                .as_secs()
                - 3600,
        );
    let minute = Duration::from_secs(60);

    put("digits.txt", DIGITS)?;
    put("alpha.txt", ALPHA)?;
    put("page.html", &page_html("page"))?;
    let dated = put("dated.txt", b"a file last changed on 2021-03-04\n")?;
    set_mtime(&dated, UNIX_EPOCH + Duration::from_secs(DATED_SECS))?;

    // A sidecar newer than its page is served; an older one is stale.
    let fresh = page_html("fresh");
    set_mtime(&put("fresh.html", &fresh)?, base)?;
    set_mtime(&put("fresh.html.gz", &gzip_stored(&fresh))?, base + minute)?;
    let stale = page_html("stale");
    set_mtime(&put("stale.html", &stale)?, base)?;
    set_mtime(&put("stale.html.gz", &gzip_stored(&stale))?, base - minute)?;

    put("big.html", &big_html())?;
    put("one_mib.txt", &one_mib_txt())?;
    put("site.css", b"body { color: #222; background: #fafafa; }\n")?;
    put(
        "sub/index.html",
        b"<!DOCTYPE html>\n<title>sub</title><p>the sub index</p>\n",
    )?;
    put("files/<b>&\"x\".txt", b"odd name\n")?;
    put("files/a b.txt", b"spaced name\n")?;
    put("files/.secret.txt", b"hidden\n")?;
    put("%41.html", b"<p>the file named percent-41</p>\n")?;
    put("A.html", b"<p>the file named capital A</p>\n")?;
    Ok(())
}

fn set_mtime(path: &Path, when: SystemTime) -> Result<(), String> {
    File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .map_err(|e| format!("set mtime of {}: {e}", path.display()))
}

/// A compressible page of about 10 KB.
fn page_html(title: &str) -> Vec<u8> {
    let mut page = format!("<!DOCTYPE html>\n<title>{title}</title>\n");
    for i in 0..400 {
        page.push_str(&format!("<p>line {i} of the {title} page</p>\n"));
    }
    page.into_bytes()
}

/// A compressible page just over the in-memory gzip limit.
fn big_html() -> Vec<u8> {
    let mut page = String::with_capacity(GZIP_IN_MEMORY_MAX + 64 * 1024);
    let mut i = 0;
    while page.len() <= GZIP_IN_MEMORY_MAX + 32 * 1024 {
        page.push_str(&format!("<p>row {i} of the big page</p>\n"));
        i += 1;
    }
    page.into_bytes()
}

/// Exactly 1 MiB of text.
fn one_mib_txt() -> Vec<u8> {
    let mut text = Vec::with_capacity(GZIP_IN_MEMORY_MAX + 64);
    let mut i = 0;
    while text.len() < GZIP_IN_MEMORY_MAX {
        text.extend_from_slice(format!("line {i:08} of the one-mebibyte file\n").as_bytes());
        i += 1;
    }
    text.truncate(GZIP_IN_MEMORY_MAX);
    text
}

// ---------------------------------------------------------------------------
// gzip without a compressor

/// CRC-32 (IEEE 802.3, reflected), as in the gzip trailer.
fn crc32(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, slot) in (0u32..).zip(table.iter_mut()) {
        let mut c = n;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    let mut crc = !0u32;
    for &b in bytes {
        crc = table[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc
}

/// A valid gzip member (RFC 1952) holding `data` in stored (uncompressed)
/// deflate blocks: a sidecar this crate can write without a compressor.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut blocks = data.chunks(usize::from(u16::MAX)).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).expect("blocks are at most 65535 bytes");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Checks that `body` is a gzip member whose trailer matches `original`.
fn check_gzip_of(body: &[u8], original: &[u8], what: &str) -> Outcome {
    ensure!(
        body.len() >= 18 && body[..3] == [0x1f, 0x8b, 8],
        "{what}: not a gzip member (starts {:02x?}, {} bytes)",
        &body[..body.len().min(4)],
        body.len()
    );
    let n = body.len();
    let crc = u32::from_le_bytes(body[n - 8..n - 4].try_into().expect("4 bytes"));
    let isize = u32::from_le_bytes(body[n - 4..].try_into().expect("4 bytes"));
    ensure!(
        crc == crc32(original) && isize == original.len() as u32,
        "{what}: gzip trailer (crc {crc:08x}, size {isize}) does not match the file \
         (crc {:08x}, size {})",
        crc32(original),
        original.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Requests and common checks

/// Sends `METHOD target` with `Connection: close` and `extra` header lines on
/// a fresh connection; reads the response and checks nothing follows it.
fn fetch(srv: &Server, method: &str, target: &str, extra: &str) -> Result<Response, String> {
    let raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: httpd-e2e\r\n\
         Connection: close\r\n{extra}\r\n",
        localhost(srv)
    );
    fetch_raw(srv, raw.as_bytes(), method == "HEAD")
        .map_err(|e| format!("{method} {target} {extra:?}: {e}"))
}

fn get(srv: &Server, target: &str, extra: &str) -> Result<Response, String> {
    fetch(srv, "GET", target, extra)
}

/// Sends `raw` on a fresh connection and reads one response; the server must
/// close after it without further bytes (no stray body after HEAD or 304).
fn fetch_raw(srv: &Server, raw: &[u8], to_head: bool) -> Result<Response, String> {
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(raw)?;
    let resp = conn.read_response(to_head)?;
    expect_closed(&mut conn, "after a Connection: close response")?;
    sane(&resp, to_head)?;
    Ok(resp)
}

/// What every response here must have: an IMF-fixdate `Date`, `Server`, no
/// `Transfer-Encoding` when it has no body (HEAD, 1xx, 204, 304) and a
/// framing header when it has one.
fn sane(resp: &Response, to_head: bool) -> Outcome {
    let date = resp.header("date").unwrap_or_default();
    ensure!(
        date.len() == 29 && date.ends_with(" GMT") && date.as_bytes()[3] == b',',
        "missing or odd Date {date:?}: {}",
        resp.summary()
    );
    ensure!(
        resp.header("server").is_some_and(|s| !s.is_empty()),
        "no Server header: {}",
        resp.summary()
    );
    let bodiless = resp.status / 100 == 1 || resp.status == 204 || resp.status == 304;
    if to_head || bodiless {
        ensure!(
            resp.header("transfer-encoding").is_none(),
            "Transfer-Encoding on a response without a body: {}",
            resp.summary()
        );
    } else {
        ensure!(
            resp.chunked || resp.header("content-length").is_some(),
            "no Content-Length nor chunked framing: {}",
            resp.summary()
        );
    }
    Ok(())
}

fn expect(resp: &Response, status: u16, what: &str) -> Outcome {
    ensure!(
        resp.status == status,
        "{what}: expected {status}, got {}",
        resp.summary()
    );
    Ok(())
}

fn expect_absent(resp: &Response, name: &str, what: &str) -> Outcome {
    ensure!(
        resp.header(name).is_none(),
        "{what}: unexpected {name}: {}",
        resp.summary()
    );
    Ok(())
}

fn expect_body(resp: &Response, want: &[u8], what: &str) -> Outcome {
    ensure!(
        resp.body == want,
        "{what}: body ({} bytes) differs from the expected {} bytes: {}",
        resp.body.len(),
        want.len(),
        resp.summary()
    );
    Ok(())
}

fn header<'r>(resp: &'r Response, name: &str) -> Result<&'r str, String> {
    resp.header(name)
        .ok_or_else(|| format!("no {name}: {}", resp.summary()))
}

/// Removes a file when dropped, even when the scenario fails half way.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------
// HEAD

/// A GET that HEAD must mirror: same status and header fields (the
/// [`PER_RESPONSE`] ones aside; a chunked GET's `Transfer-Encoding` is not
/// repeated), no body.
struct HeadCase {
    name: &'static str,
    kind: Kind,
    /// `{PORT}` is the server's port.
    target: &'static str,
    extra: &'static str,
}

const fn head_row(name: &'static str, target: &'static str, extra: &'static str) -> HeadCase {
    HeadCase {
        name,
        kind: Kind::Files,
        target,
        extra,
    }
}

const HEAD_CASES: &[HeadCase] = &[
    head_row("head/root", "/", ""),
    head_row("head/about.html", "/about.html", ""),
    head_row("head/logo.png", "/logo.png", ""),
    head_row("head/photo.jpg", "/photo.jpg", ""),
    head_row("head/sample.txt", "/sample.txt", ""),
    head_row(
        "head/gzip_in_memory",
        "/page.html",
        "Accept-Encoding: gzip\r\n",
    ),
    head_row(
        "head/gzip_over_1mib",
        "/big.html",
        "Accept-Encoding: gzip\r\n",
    ),
    head_row(
        "head/gzip_sidecar",
        "/fresh.html",
        "Accept-Encoding: gzip\r\n",
    ),
    head_row(
        "head/not_modified_304",
        "/about.html",
        "If-None-Match: *\r\n",
    ),
    head_row(
        "head/precondition_failed_412",
        "/about.html",
        "If-Match: \"x\"\r\n",
    ),
    head_row("head/dir_redirect_301", "/sub?x=1", ""),
    head_row("head/dir_index", "/sub/", ""),
    head_row(
        "head/absolute_form",
        "http://localhost:{PORT}/about.html",
        "",
    ),
    head_row("head/not_found_404", "/nope.html", ""),
    head_row("head/unsupported_type_415", "/script.php", ""),
    head_row("head/traversal_403", "/..%2fetc%2fpasswd", ""),
    HeadCase {
        name: "head/dir_listing",
        kind: Kind::Flags,
        target: "/files/",
        extra: "",
    },
];

/// Header fields that differ between any two responses.
const PER_RESPONSE: &[&str] = &["date", "x-request-id"];

/// Header fields to compare between HEAD and GET, names lowercased.
fn comparable(resp: &Response) -> Vec<(String, String)> {
    resp.headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| {
            let framing = resp.chunked && n == "transfer-encoding";
            !framing && !PER_RESPONSE.contains(&n.as_str())
        })
        .collect()
}

fn head_case(ctx: &Ctx, case: &HeadCase) -> Outcome {
    let srv = ctx.server(case.kind)?;
    let target = case.target.replace("{PORT}", &srv.port().to_string());
    let got = get(srv, &target, case.extra)?;
    let head = fetch(srv, "HEAD", &target, case.extra)?;
    ensure!(
        head.status == got.status,
        "HEAD {target}: status {} but GET {}",
        head.status,
        got.status
    );
    let (h, g) = (comparable(&head), comparable(&got));
    ensure!(
        h == g,
        "HEAD {target} and GET differ in header fields:\n  HEAD {h:?}\n  GET  {g:?}"
    );
    if got.chunked {
        ensure!(
            head.header("content-length").is_none(),
            "HEAD {target}: Content-Length although GET is chunked"
        );
    }
    Ok(())
}

fn head_ignores_range(ctx: &Ctx) -> Outcome {
    // Range is defined for GET only (RFC 9110 section 14.2).
    let srv = ctx.server(Kind::Files)?;
    let head = fetch(srv, "HEAD", "/digits.txt", "Range: bytes=0-1\r\n")?;
    expect(&head, 200, "HEAD with Range")?;
    expect_header(&head, "Content-Length", "10")?;
    expect_absent(&head, "content-range", "HEAD with Range")
}

fn no_te_when_bodiless(ctx: &Ctx) -> Outcome {
    // 1xx: the interim response to Expect: 100-continue.
    let main = ctx.server(Kind::Main)?;
    let body = br#"{"interim": true}"#;
    let mut conn = Conn::connect(main.addr)?;
    conn.send_all(
        format!(
            "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: {JSON}\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            localhost(main),
            body.len()
        )
        .as_bytes(),
    )?;
    let interim = conn.read_response(false)?;
    expect(&interim, 100, "Expect: 100-continue")?;
    expect_absent(&interim, "transfer-encoding", "100 Continue")?;
    conn.send_all(body)?;
    let created = conn.read_response(false)?;
    sane(&created, false)?;
    check_created(main, &created, body)?;

    let srv = ctx.server(Kind::Files)?;
    // 204.
    let options = fetch(srv, "OPTIONS", "/about.html", "")?;
    expect(&options, 204, "OPTIONS")?;
    expect_header(&options, "Allow", ALLOW)?;
    // 304, for GET and HEAD, plain and negotiated.
    for method in ["GET", "HEAD"] {
        for extra in [
            "If-None-Match: *\r\n",
            "If-None-Match: *\r\nAccept-Encoding: gzip\r\n",
        ] {
            let resp = fetch(srv, method, "/big.html", extra)?;
            expect(&resp, 304, &format!("{method} {extra:?}"))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Ranges

/// One `Range` on `digits.txt` (sent with `Accept-Encoding: gzip`, which a
/// range must ignore) and the single part it must get.
struct RangeCase {
    name: &'static str,
    range: &'static str,
    body: &'static str,
    content_range: &'static str,
}

const fn range_row(
    name: &'static str,
    range: &'static str,
    body: &'static str,
    content_range: &'static str,
) -> RangeCase {
    RangeCase {
        name,
        range,
        body,
        content_range,
    }
}

const RANGE_CASES: &[RangeCase] = &[
    range_row("range/single_0_3", "bytes=0-3", "0123", "bytes 0-3/10"),
    range_row("range/single_last_byte", "bytes=9-9", "9", "bytes 9-9/10"),
    range_row("range/open_7_to_end", "bytes=7-", "789", "bytes 7-9/10"),
    range_row("range/suffix_last_2", "bytes=-2", "89", "bytes 8-9/10"),
    range_row(
        "range/clamped_past_end",
        "bytes=5-100",
        "56789",
        "bytes 5-9/10",
    ),
    range_row(
        "range/suffix_longer_than_file",
        "bytes=-100",
        "0123456789",
        "bytes 0-9/10",
    ),
    range_row(
        "range/overlapping_coalesced",
        "bytes=0-5,2-8,1-3",
        "012345678",
        "bytes 0-8/10",
    ),
    range_row(
        "range/adjacent_coalesced",
        "bytes=2-3,0-1",
        "0123",
        "bytes 0-3/10",
    ),
    range_row(
        "range/duplicates_not_amplified",
        "bytes=0-9,0-9,-10",
        "0123456789",
        "bytes 0-9/10",
    ),
    range_row(
        "range/unsatisfiable_part_dropped",
        "bytes=50-60,4-4",
        "4",
        "bytes 4-4/10",
    ),
];

fn range_case(ctx: &Ctx, case: &RangeCase) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let extra = format!("Range: {}\r\nAccept-Encoding: gzip\r\n", case.range);
    let resp = get(srv, "/digits.txt", &extra)?;
    expect(&resp, 206, case.range)?;
    expect_header(&resp, "Content-Range", case.content_range)?;
    expect_header(&resp, "Content-Length", &case.body.len().to_string())?;
    expect_header(&resp, "Content-Type", OCTETS)?;
    expect_header(&resp, "Accept-Ranges", "bytes")?;
    expect_absent(&resp, "content-encoding", "a range response")?;
    header(&resp, "etag")?;
    expect_body(&resp, case.body.as_bytes(), case.range)
}

/// Returns the `boundary` parameter of a `multipart/byteranges` type.
fn boundary_of(content_type: &str) -> Result<String, String> {
    let mut params = content_type.split(';');
    let media = params.next().unwrap_or_default().trim();
    ensure!(
        media.eq_ignore_ascii_case("multipart/byteranges"),
        "Content-Type {content_type:?} is not multipart/byteranges"
    );
    params
        .filter_map(|p| p.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| format!("no boundary in {content_type:?}"))
}

/// The exact `multipart/byteranges` body for `parts` of `file`.
fn multipart_body(
    boundary: &str,
    part_type: &str,
    file: &[u8],
    parts: &[(usize, usize)],
) -> Vec<u8> {
    let mut body = Vec::new();
    for &(start, end) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: bytes {start}-{end}/{}\r\n\r\n",
                file.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&file[start..=end]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// GETs `target` with `range` and checks the multipart body byte for byte.
fn multipart(ctx: &Ctx, target: &str, range: &str, parts: &[(usize, usize)]) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    multipart_on(srv, target, range, parts)
}

fn multipart_on(srv: &Server, target: &str, range: &str, parts: &[(usize, usize)]) -> Outcome {
    let file = read_root_file(srv, target.trim_start_matches('/'))?;
    let plain = get(srv, target, "")?;
    let part_type = header(&plain, "content-type")?.to_string();
    let resp = get(
        srv,
        target,
        &format!("Range: {range}\r\nAccept-Encoding: gzip\r\n"),
    )?;
    expect(&resp, 206, range)?;
    expect_absent(&resp, "content-range", "a multipart response")?;
    expect_absent(&resp, "content-encoding", "a multipart response")?;
    let boundary = boundary_of(header(&resp, "content-type")?)?;
    let want = multipart_body(&boundary, &part_type, &file, parts);
    expect_header(&resp, "Content-Length", &want.len().to_string())?;
    ensure!(
        resp.body == want,
        "{range}: multipart body differs:\n  got  {:?}\n  want {:?}",
        String::from_utf8_lossy(&resp.body),
        String::from_utf8_lossy(&want)
    );
    Ok(())
}

fn multipart_html(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let len = read_root_file(srv, "page.html")?.len();
    multipart_on(
        srv,
        "/page.html",
        "bytes=-10,100-109,0-9",
        &[(0, 9), (100, 109), (len - 10, len - 1)],
    )
}

/// `n` disjoint one-byte ranges: `0-0,2-2,4-4,...`.
fn disjoint_ranges(n: usize) -> (String, Vec<(usize, usize)>) {
    let parts: Vec<(usize, usize)> = (0..n).map(|i| (2 * i, 2 * i)).collect();
    let spec: Vec<String> = parts.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    (format!("bytes={}", spec.join(",")), parts)
}

fn max_ranges_default(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let (sixteen, parts) = disjoint_ranges(16);
    multipart_on(srv, "/alpha.txt", &sixteen, &parts)?;
    let (seventeen, _) = disjoint_ranges(17);
    let resp = get(srv, "/alpha.txt", &format!("Range: {seventeen}\r\n"))?;
    expect(&resp, 200, "17 ranges (more than --max-ranges 16)")?;
    expect_body(&resp, ALPHA, "17 ranges")
}

fn max_ranges_flag(ctx: &Ctx) -> Outcome {
    // The Flags server runs with --max-ranges 2.
    let srv = ctx.server(Kind::Flags)?;
    let (two, parts) = disjoint_ranges(2);
    multipart_on(srv, "/alpha.txt", &two, &parts)?;
    let (three, _) = disjoint_ranges(3);
    let resp = get(srv, "/alpha.txt", &format!("Range: {three}\r\n"))?;
    expect(&resp, 200, "3 ranges with --max-ranges 2")?;
    expect_body(&resp, ALPHA, "3 ranges with --max-ranges 2")
}

fn unsatisfiable(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    for range in ["bytes=10-20", "bytes=10-", "bytes=-0", "bytes=10-11,20-"] {
        let resp = get(srv, "/digits.txt", &format!("Range: {range}\r\n"))?;
        expect(&resp, 416, range)?;
        expect_header(&resp, "Content-Range", "bytes */10")?;
    }
    Ok(())
}

fn unparsable(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    for range in [
        "bytes=5-2",
        "items=0-1",
        "bytes=abc",
        "bytes=--1",
        "bytes=+1-2",
        "bytes=0-1,x",
        "bytes 0-1",
        "bytes=",
    ] {
        let resp = get(srv, "/digits.txt", &format!("Range: {range}\r\n"))?;
        expect(&resp, 200, range)?;
        expect_absent(&resp, "content-range", range)?;
        expect_body(&resp, DIGITS, range)?;
    }
    Ok(())
}

fn above_4gib(ctx: &Ctx) -> Outcome {
    const SIZE: u64 = 5 << 30;
    const MARKER: &[u8; 16] = b"<across-4-GiB!!>";
    const AT: u64 = (4 << 30) - 8;
    let srv = ctx.server(Kind::Files)?;
    let path = srv.root.join("huge.txt");
    let _remove = RemoveOnDrop(path.clone());
    // A sparse file: set_len allocates no blocks, only the marker's page.
    let mut file = File::create(&path).map_err(|e| format!("create huge.txt: {e}"))?;
    file.set_len(SIZE)
        .and_then(|()| file.seek(SeekFrom::Start(AT)))
        .and_then(|_| file.write_all(MARKER))
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("write the 5 GiB sparse huge.txt: {e}"))?;
    drop(file);

    let range = format!("bytes={AT}-{}", AT + 15);
    let resp = get(srv, "/huge.txt", &format!("Range: {range}\r\n"))?;
    expect(&resp, 206, &range)?;
    expect_header(
        &resp,
        "Content-Range",
        &format!("bytes {AT}-{}/{SIZE}", AT + 15),
    )?;
    expect_header(&resp, "Content-Length", "16")?;
    expect_body(&resp, MARKER, &range)?;

    let resp = get(srv, "/huge.txt", "Range: bytes=-4\r\n")?;
    expect(&resp, 206, "suffix of huge.txt")?;
    expect_header(
        &resp,
        "Content-Range",
        &format!("bytes {}-{}/{SIZE}", SIZE - 4, SIZE - 1),
    )?;
    expect_body(&resp, &[0; 4], "suffix of huge.txt")?;

    let resp = get(srv, "/huge.txt", &format!("Range: bytes={SIZE}-\r\n"))?;
    expect(&resp, 416, "range past the end of huge.txt")?;
    expect_header(&resp, "Content-Range", &format!("bytes */{SIZE}"))?;

    let head = fetch(srv, "HEAD", "/huge.txt", "")?;
    expect(&head, 200, "HEAD huge.txt")?;
    expect_header(&head, "Content-Length", &SIZE.to_string())?;
    // HEAD must not compress (or read) 5 GiB to announce a gzip response.
    let head = fetch(srv, "HEAD", "/huge.txt", "Accept-Encoding: gzip\r\n")?;
    expect(&head, 200, "HEAD huge.txt with gzip")?;
    expect_absent(&head, "transfer-encoding", "HEAD huge.txt with gzip")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Validators and conditional requests

/// Files of every served type, for checks that apply to all of them.
const EVERY_FILE: &[&str] = &[
    "/index.html",
    "/about.html",
    "/logo.png",
    "/logo2.png",
    "/photo.jpg",
    "/sample.txt",
    "/digits.txt",
    "/page.html",
    "/sub/",
];

fn is_strong_etag(etag: &str) -> bool {
    etag.len() >= 2
        && etag.starts_with('"')
        && etag.ends_with('"')
        && !etag[1..etag.len() - 1].contains('"')
}

fn validators_everywhere(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let mut etags = Vec::new();
    for target in EVERY_FILE {
        let resp = get(srv, target, "")?;
        expect(&resp, 200, target)?;
        let etag = header(&resp, "etag")?;
        ensure!(
            is_strong_etag(etag),
            "{target}: ETag {etag:?} is not a strong entity-tag"
        );
        let lm = header(&resp, "last-modified")?;
        ensure!(
            lm.len() == 29 && lm.ends_with(" GMT"),
            "{target}: Last-Modified {lm:?} is not an IMF-fixdate"
        );
        expect_header(&resp, "Accept-Ranges", "bytes")?;
        header(&resp, "cache-control")?;
        etags.push(etag.to_string());
    }
    let mut unique = etags.clone();
    unique.sort();
    unique.dedup();
    ensure!(
        unique.len() == etags.len(),
        "two files share an ETag: {etags:?}"
    );
    let dated = get(srv, "/dated.txt", "")?;
    expect_header(&dated, "Last-Modified", DATED_FORMS[0])
}

/// Checks a 304: validators, Cache-Control, no body (checked by
/// [`fetch_raw`]: nothing may follow it on the connection).
fn check_304(resp: &Response, etag: &str, what: &str) -> Outcome {
    expect(resp, 304, what)?;
    expect_header(resp, "ETag", etag)?;
    header(resp, "last-modified")?;
    header(resp, "cache-control")?;
    ensure!(resp.body.is_empty(), "{what}: 304 with a body");
    Ok(())
}

fn if_none_match(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    for target in ["/logo.png", "/about.html"] {
        let etag = header(&get(srv, target, "")?, "etag")?.to_string();
        for value in [
            etag.clone(),
            format!("\"other\", {etag}"),
            "*".to_string(),
            format!("W/{etag}"),
        ] {
            for method in ["GET", "HEAD"] {
                let what = format!("{method} {target} If-None-Match: {value}");
                let resp = fetch(srv, method, target, &format!("If-None-Match: {value}\r\n"))?;
                check_304(&resp, &etag, &what)?;
            }
        }
        let resp = get(srv, target, "If-None-Match: \"nope\"\r\n")?;
        expect(&resp, 200, "non-matching If-None-Match")?;
    }
    Ok(())
}

fn if_modified_since(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let first = get(srv, "/sample.txt", "")?;
    let (etag, last) = (header(&first, "etag")?, header(&first, "last-modified")?);
    for method in ["GET", "HEAD"] {
        let resp = fetch(
            srv,
            method,
            "/sample.txt",
            &format!("If-Modified-Since: {last}\r\n"),
        )?;
        check_304(&resp, etag, &format!("{method} If-Modified-Since: {last}"))?;
    }
    for (value, status) in [("Sun, 06 Nov 1994 08:49:37 GMT", 200), ("not a date", 200)] {
        let resp = get(
            srv,
            "/sample.txt",
            &format!("If-Modified-Since: {value}\r\n"),
        )?;
        expect(&resp, status, &format!("If-Modified-Since: {value}"))?;
    }
    // If-None-Match takes precedence over If-Modified-Since.
    let both = format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {last}\r\n");
    expect(&get(srv, "/sample.txt", &both)?, 200, "If-None-Match wins")
}

fn preconditions_412(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let etag = header(&get(srv, "/sample.txt", "")?, "etag")?.to_string();
    let cases = [
        ("If-Match: \"nope\"".to_string(), 412),
        (format!("If-Match: W/{etag}"), 412),
        (
            "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT".to_string(),
            412,
        ),
        (format!("If-Match: {etag}"), 200),
        (format!("If-Match: \"a\", {etag}"), 200),
        ("If-Match: *".to_string(), 200),
        (
            "If-Unmodified-Since: Fri, 31 Dec 9999 23:59:59 GMT".to_string(),
            200,
        ),
        // If-Match wins over If-Unmodified-Since.
        (
            format!("If-Match: {etag}\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT"),
            200,
        ),
    ];
    for method in ["GET", "HEAD"] {
        for (line, status) in &cases {
            let resp = fetch(srv, method, "/sample.txt", &format!("{line}\r\n"))?;
            expect(&resp, *status, &format!("{method} {line}"))?;
        }
    }
    Ok(())
}

fn date_forms(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let mut checks = Vec::new();
    for form in 0..3 {
        checks.extend([
            ("If-Modified-Since", DATED_FORMS[form], 304),
            ("If-Modified-Since", LATER_FORMS[form], 304),
            ("If-Modified-Since", EARLIER_FORMS[form], 200),
            ("If-Unmodified-Since", DATED_FORMS[form], 200),
            ("If-Unmodified-Since", LATER_FORMS[form], 200),
            ("If-Unmodified-Since", EARLIER_FORMS[form], 412),
        ]);
    }
    for (name, date, status) in checks {
        let resp = get(srv, "/dated.txt", &format!("{name}: {date}\r\n"))?;
        expect(&resp, status, &format!("{name}: {date}"))?;
    }
    Ok(())
}

fn if_range(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let etag = header(&get(srv, "/dated.txt", "")?, "etag")?.to_string();
    let full = read_root_file(srv, "dated.txt")?;
    let cases = [
        (etag.clone(), 206),
        (format!("W/{etag}"), 200),
        ("\"other\"".to_string(), 200),
        (DATED_FORMS[0].to_string(), 206),
        (EARLIER_FORMS[0].to_string(), 200),
        (LATER_FORMS[0].to_string(), 200),
        ("garbage".to_string(), 200),
    ];
    for (value, status) in cases {
        let what = format!("If-Range: {value}");
        let resp = get(
            srv,
            "/dated.txt",
            &format!("Range: bytes=0-1\r\nIf-Range: {value}\r\n"),
        )?;
        expect(&resp, status, &what)?;
        if status == 206 {
            expect_body(&resp, &full[..2], &what)?;
        } else {
            expect_body(&resp, &full, &what)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Cache-Control

fn expect_cache(srv: &Server, target: &str, value: &str) -> Outcome {
    let resp = get(srv, target, "")?;
    expect(&resp, 200, target)?;
    expect_header(&resp, "Cache-Control", value).map_err(|e| format!("{target}: {e}"))?;
    let not_modified = get(srv, target, "If-None-Match: *\r\n")?;
    expect(&not_modified, 304, target)?;
    expect_header(&not_modified, "Cache-Control", value).map_err(|e| format!("{target} 304: {e}"))
}

fn cache_defaults(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    for target in ["/", "/about.html", "/page.html"] {
        expect_cache(srv, target, "no-cache")?;
    }
    for target in ["/logo.png", "/photo.jpg", "/sample.txt"] {
        expect_cache(srv, target, "public, max-age=3600")?;
    }
    Ok(())
}

fn cache_flag(ctx: &Ctx) -> Outcome {
    // --cache-control png=no-store --cache-control *=max-age=60
    let srv = ctx.server(Kind::Flags)?;
    expect_cache(srv, "/logo.png", "no-store")?;
    expect_cache(srv, "/sample.txt", "max-age=60")?;
    expect_cache(srv, "/photo.jpg", "max-age=60")?;
    expect_cache(srv, "/site.css", "max-age=60")?;
    expect_cache(srv, "/about.html", "no-cache")
}

// ---------------------------------------------------------------------------
// Content codings

/// GETs `target` with `Accept-Encoding: gzip` and checks an on-the-fly gzip
/// body of the file; returns the response.
fn expect_gzip_of(srv: &Server, target: &str, extra: &str) -> Result<Response, String> {
    let file = read_root_file(srv, target.trim_start_matches('/'))?;
    let resp = get(srv, target, &format!("Accept-Encoding: gzip\r\n{extra}"))?;
    expect(&resp, 200, target)?;
    expect_header(&resp, "Content-Encoding", "gzip")?;
    expect_header(&resp, "Vary", "Accept-Encoding")?;
    check_gzip_of(&resp.body, &file, target)?;
    Ok(resp)
}

fn gzip_on_the_fly(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    for target in ["/page.html", "/about.html", "/sample.txt", "/one_mib.txt"] {
        let file = read_root_file(srv, target.trim_start_matches('/'))?;
        let plain = get(srv, target, "")?;
        expect_body(&plain, &file, target)?;
        let gz = expect_gzip_of(srv, target, "")?;
        ensure!(
            !gz.chunked,
            "{target}: a file of at most 1 MiB gzipped chunked"
        );
        expect_header(&gz, "Content-Length", &gz.body.len().to_string())?;
        ensure!(
            gz.body.len() < file.len(),
            "{target}: gzip ({} bytes) not smaller than the file ({} bytes)",
            gz.body.len(),
            file.len()
        );
        let (pe, ge) = (header(&plain, "etag")?, header(&gz, "etag")?);
        ensure!(
            is_strong_etag(ge) && pe != ge,
            "{target}: gzip ETag {ge:?} vs identity {pe:?}"
        );
        expect_header(&gz, "Content-Type", header(&plain, "content-type")?)?;
    }
    Ok(())
}

fn gzip_qvalues(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let page = read_root_file(srv, "page.html")?;
    let cases: &[(&str, bool)] = &[
        ("gzip", true),
        ("gzip, deflate, br", true),
        ("GZip", true),
        ("gzip;q=1.0", true),
        ("gzip;q=0", false),
        ("gzip; q=0.000", false),
        ("identity", false),
        ("br;q=1, gzip;q=0", false),
        ("x-unknown", false),
        ("*;q=0.5, identity;q=0", true),
        ("identity;q=0, gzip", true),
        ("gzip;q=0.2, identity;q=0.1", true),
        ("gzip;q=0.1, identity;q=0.5", false),
        ("*;q=0", false),
    ];
    for &(accept, gzipped) in cases {
        let what = format!("Accept-Encoding: {accept}");
        let resp = get(srv, "/page.html", &format!("{what}\r\n"))?;
        expect(&resp, 200, &what)?;
        expect_header(&resp, "Vary", "Accept-Encoding").map_err(|e| format!("{what}: {e}"))?;
        if gzipped {
            expect_header(&resp, "Content-Encoding", "gzip").map_err(|e| format!("{what}: {e}"))?;
            check_gzip_of(&resp.body, &page, &what)?;
        } else {
            expect_absent(&resp, "content-encoding", &what)?;
            expect_body(&resp, &page, &what)?;
        }
    }
    Ok(())
}

fn vary_everywhere(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let gz_etag = header(
        &get(srv, "/page.html", "Accept-Encoding: gzip\r\n")?,
        "etag",
    )?
    .to_string();
    let negotiable = [
        ("/page.html", String::new(), 200),
        ("/page.html", "Accept-Encoding: gzip\r\n".to_string(), 200),
        (
            "/page.html",
            "Accept-Encoding: identity\r\n".to_string(),
            200,
        ),
        ("/page.html", "If-None-Match: *\r\n".to_string(), 304),
        (
            "/page.html",
            format!("Accept-Encoding: gzip\r\nIf-None-Match: {gz_etag}\r\n"),
            304,
        ),
        ("/page.html", "Range: bytes=0-9\r\n".to_string(), 206),
        ("/sample.txt", String::new(), 200),
        ("/sample.txt", "Accept-Encoding: gzip\r\n".to_string(), 200),
        ("/big.html", "Accept-Encoding: gzip\r\n".to_string(), 200),
        ("/fresh.html", "Accept-Encoding: gzip\r\n".to_string(), 200),
    ];
    for (target, extra, status) in &negotiable {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} {target} {extra:?}");
            let resp = fetch(srv, method, target, extra)?;
            let want = if method == "HEAD" && *status == 206 {
                200
            } else {
                *status
            };
            expect(&resp, want, &what)?;
            expect_header(&resp, "Vary", "Accept-Encoding").map_err(|e| format!("{what}: {e}"))?;
        }
    }
    for target in ["/logo.png", "/photo.jpg"] {
        let resp = get(srv, target, "Accept-Encoding: gzip\r\n")?;
        expect_absent(&resp, "vary", &format!("{target}: not negotiable"))?;
    }
    Ok(())
}

fn sidecar_fresh(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let sidecar = read_root_file(srv, "fresh.html.gz")?;
    let page = read_root_file(srv, "fresh.html")?;
    check_gzip_of(&sidecar, &page, "test bug: fresh.html.gz")?;
    let resp = get(srv, "/fresh.html", "Accept-Encoding: gzip\r\n")?;
    expect(&resp, 200, "fresh sidecar")?;
    expect_header(&resp, "Content-Encoding", "gzip")?;
    expect_header(&resp, "Content-Type", HTML)?;
    expect_header(&resp, "Vary", "Accept-Encoding")?;
    expect_header(&resp, "Content-Length", &sidecar.len().to_string())?;
    expect_body(
        &resp,
        &sidecar,
        "fresh.html with gzip (the sidecar byte for byte)",
    )?;
    let plain = get(srv, "/fresh.html", "")?;
    expect_body(&plain, &page, "fresh.html without gzip")?;
    ensure!(
        plain.header("etag") != resp.header("etag"),
        "sidecar and identity share the ETag {:?}",
        plain.header("etag")
    );
    // The sidecar itself is no servable type.
    expect(&get(srv, "/fresh.html.gz", "")?, 415, "GET fresh.html.gz")
}

fn sidecar_stale(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let sidecar = read_root_file(srv, "stale.html.gz")?;
    let resp = expect_gzip_of(srv, "/stale.html", "")?;
    ensure!(
        resp.body != sidecar,
        "stale.html.gz, older than stale.html, was served"
    );
    Ok(())
}

fn never_compressed(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let page = read_root_file(srv, "page.html")?;
    let resp = get(
        srv,
        "/page.html",
        "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n",
    )?;
    expect(&resp, 206, "range with gzip")?;
    expect_absent(&resp, "content-encoding", "range with gzip")?;
    expect_body(&resp, &page[..10], "range with gzip")?;
    for target in ["/logo.png", "/logo2.png", "/photo.jpg"] {
        let file = read_root_file(srv, target.trim_start_matches('/'))?;
        let resp = get(srv, target, "Accept-Encoding: gzip, br, *\r\n")?;
        expect(&resp, 200, target)?;
        expect_absent(&resp, "content-encoding", target)?;
        expect_body(&resp, &file, target)?;
    }
    let flags = ctx.server(Kind::Flags)?;
    let resp = get(flags, "/logo.png", "Accept-Encoding: gzip\r\n")?;
    expect_header(&resp, "Content-Type", "image/png")?;
    expect_absent(&resp, "content-encoding", "inline png with gzip")
}

fn gzip_chunked(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let big = read_root_file(srv, "big.html")?;
    ensure!(
        big.len() > GZIP_IN_MEMORY_MAX,
        "test bug: big.html too small"
    );
    let resp = expect_gzip_of(srv, "/big.html", "")?;
    ensure!(
        resp.chunked,
        "over 1 MiB with gzip should be chunked: {}",
        resp.summary()
    );
    expect_absent(&resp, "content-length", "chunked gzip")?;
    ensure!(
        resp.body.len() < big.len() / 2,
        "gzip of big.html is {} bytes for {}",
        resp.body.len(),
        big.len()
    );
    // The same file on a keep-alive connection: the chunked framing ends
    // exactly, so a second request on it parses.
    let host = localhost(srv);
    let mut conn = Conn::connect(srv.addr)?;
    for round in 0..2 {
        conn.send_all(
            format!("GET /big.html HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n\r\n")
                .as_bytes(),
        )?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("chunked gzip {round} on one connection: {e}"))?;
        ensure!(resp.chunked, "round {round}: not chunked");
        check_gzip_of(&resp.body, &big, "big.html on a kept-alive connection")?;
    }
    Ok(())
}

fn gzip_http10(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let big = read_root_file(srv, "big.html")?;
    let page = read_root_file(srv, "page.html")?;
    let req = |target: &str| {
        format!(
            "GET {target} HTTP/1.0\r\nHost: {}\r\nAccept-Encoding: gzip\r\n\r\n",
            localhost(srv)
        )
    };
    let resp = fetch_raw(srv, req("/big.html").as_bytes(), false)?;
    expect(&resp, 200, "HTTP/1.0 big.html")?;
    expect_absent(&resp, "transfer-encoding", "HTTP/1.0 big.html")?;
    expect_absent(&resp, "content-encoding", "HTTP/1.0 big.html")?;
    expect_header(&resp, "Content-Length", &big.len().to_string())?;
    expect_body(&resp, &big, "HTTP/1.0 big.html")?;
    // Small files are gzipped in memory, with a length, for HTTP/1.0 too.
    let resp = fetch_raw(srv, req("/page.html").as_bytes(), false)?;
    expect_absent(&resp, "transfer-encoding", "HTTP/1.0 page.html")?;
    expect_header(&resp, "Content-Encoding", "gzip")?;
    expect_header(&resp, "Content-Length", &resp.body.len().to_string())?;
    check_gzip_of(&resp.body, &page, "HTTP/1.0 page.html")
}

fn no_gzip_flag(ctx: &Ctx) -> Outcome {
    // The Flags server runs with --no-gzip; sidecars still count.
    let srv = ctx.server(Kind::Flags)?;
    let page = read_root_file(srv, "page.html")?;
    let resp = get(srv, "/page.html", "Accept-Encoding: gzip\r\n")?;
    expect_absent(&resp, "content-encoding", "--no-gzip")?;
    expect_body(&resp, &page, "--no-gzip")?;
    let big = get(srv, "/big.html", "Accept-Encoding: gzip\r\n")?;
    ensure!(!big.chunked, "--no-gzip: big.html still chunked");
    expect_absent(&big, "content-encoding", "--no-gzip big.html")?;
    let sidecar = read_root_file(srv, "fresh.html.gz")?;
    let resp = get(srv, "/fresh.html", "Accept-Encoding: gzip\r\n")?;
    expect_header(&resp, "Content-Encoding", "gzip")?;
    expect_body(&resp, &sidecar, "--no-gzip with a fresh sidecar")
}

fn no_precompressed_flag(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::NoPrecompressed)?;
    let sidecar = read_root_file(srv, "fresh.html.gz")?;
    let resp = expect_gzip_of(srv, "/fresh.html", "")?;
    ensure!(
        resp.body != sidecar,
        "--no-precompressed: the sidecar was served"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Uploads

fn expect_too_large(ctx: &Ctx) -> Outcome {
    // The Short server runs with --max-body 4096.
    let srv = ctx.server(Kind::Short)?;
    let before = srv.uploads();
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(
        format!(
            "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Type: {JSON}\r\n\
             Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
            localhost(srv)
        )
        .as_bytes(),
    )?;
    // The body is never sent: the answer must come without it, and not be 100.
    let resp = conn.read_response(false)?;
    expect(&resp, 413, "declared too large with Expect: 100-continue")?;
    sane(&resp, false)?;
    expect_closed(&mut conn, "after a 413 whose body was never sent")?;
    ensure!(srv.uploads() == before, "a refused upload left a file");
    Ok(())
}

fn chunked_extensions_trailers(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Main)?;
    let host = localhost(srv);
    let parts: [&[u8]; 3] = [b"{\"with\": ", b"\"extensions and trailers\"", b"}"];
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: {JSON}\r\n\
         Transfer-Encoding: chunked\r\nTrailer: X-Checksum, X-Note\r\n\r\n"
    )
    .into_bytes();
    let extensions = [";name=value", ";quoted=\"a;b\" ; bare", ";x"];
    for (part, ext) in parts.iter().zip(extensions) {
        req.extend_from_slice(format!("{:X}{ext}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0;last=true\r\nX-Checksum: 1234\r\nX-Note: trailer\r\n\r\n");
    // A pipelined GET proves the trailer section was consumed exactly.
    req.extend_from_slice(
        format!("GET /sample.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut conn = Conn::connect(srv.addr)?;
    conn.send_all(&req)?;
    let created = conn.read_response(false)?;
    sane(&created, false)?;
    let path = check_created(srv, &created, &parts.concat())?;
    ensure!(
        created.header("location") == Some(path.as_str()),
        "Location {:?} is not the stored path {path}",
        created.header("location")
    );
    let after = conn
        .read_response(false)
        .map_err(|e| format!("GET pipelined after the trailers: {e}"))?;
    expect(&after, 200, "GET after a chunked upload with trailers")?;
    expect_body(&after, &read_root_file(srv, "sample.txt")?, "sample.txt")
}

// ---------------------------------------------------------------------------
// Request targets

const STATUS: &[StatusCase] = &[
    row(
        "target/absolute_form_evil_host_403",
        Kind::Files,
        "GET http://evil.com/about.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "target/absolute_form_evil_host_with_port_403",
        Kind::Files,
        "GET http://evil.com:{PORT}/ HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "target/absolute_form_uppercase_scheme_200",
        Kind::Files,
        "GET HTTP://localhost:{PORT}/about.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        200,
    ),
    row(
        "target/options_star_204",
        Kind::Files,
        "OPTIONS * HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        204,
    )
    .with(ALLOW_HEADER),
    row(
        "target/get_star_400",
        Kind::Files,
        "GET * HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        400,
    ),
    row(
        "target/unknown_method_on_file_501",
        Kind::Files,
        "BREW /about.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        501,
    ),
    row(
        "target/http3_505",
        Kind::Files,
        "GET / HTTP/3.0\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        505,
    ),
    row(
        "target/encoded_slash_in_segment_403",
        Kind::Files,
        "GET /sub%2Findex.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
    row(
        "target/encoded_slash_lowercase_403",
        Kind::Files,
        "GET /sub%2findex.html HTTP/1.1\r\nHost: localhost:{PORT}\r\nConnection: close\r\n\r\n",
        403,
    ),
];

fn absolute_form(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let about = read_root_file(srv, "about.html")?;
    for host_line in ["localhost:{PORT}", "127.0.0.1"] {
        let raw = fill(
            &format!(
                "GET http://localhost:{{PORT}}/about.html?q=1 HTTP/1.1\r\nHost: {host_line}\r\n\
                 Connection: close\r\n\r\n"
            ),
            srv.port(),
        );
        let resp = fetch_raw(srv, &raw, false)?;
        expect(&resp, 200, "absolute-form")?;
        expect_header(&resp, "Content-Type", HTML)?;
        expect_body(&resp, &about, "absolute-form /about.html")?;
    }
    // The authority replaces Host: a bad Host line does not matter then.
    let raw = fill(
        "GET http://127.0.0.1:{PORT}/about.html HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n",
        srv.port(),
    );
    expect(
        &fetch_raw(srv, &raw, false)?,
        200,
        "absolute-form with an odd Host",
    )
}

fn query_ignored(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let about = read_root_file(srv, "about.html")?;
    for target in [
        "/about.html?x=1",
        "/about.html?",
        "/about.html?a=1&b=/../../etc/passwd",
        "/about.html?%2e%2e%2f",
        "/about.html?file=x.php",
    ] {
        let resp = get(srv, target, "")?;
        expect(&resp, 200, target)?;
        expect_body(&resp, &about, target)?;
    }
    let sub = read_root_file(srv, "sub/index.html")?;
    let resp = get(srv, "/sub/?page=2", "")?;
    expect_body(&resp, &sub, "/sub/?page=2")
}

fn percent_decoded_once(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let percent = read_root_file(srv, "%41.html")?;
    let capital = read_root_file(srv, "A.html")?;
    for (target, want) in [
        ("/%2541.html", &percent),
        ("/%41.html", &capital),
        ("/A.html", &capital),
        ("/%61bout.html", &read_root_file(srv, "about.html")?),
    ] {
        let resp = get(srv, target, "")?;
        expect(&resp, 200, target)?;
        expect_body(&resp, want, target)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Media types

fn serve_type_css(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Flags)?;
    let css = read_root_file(srv, "site.css")?;
    let resp = get(srv, "/site.css", "")?;
    expect(&resp, 200, "--serve-type css")?;
    expect_header(&resp, "Content-Type", "text/css; charset=utf-8")?;
    expect_absent(&resp, "content-disposition", "--serve-type css")?;
    expect_body(&resp, &css, "site.css")?;
    let plain = ctx.server(Kind::Files)?;
    expect(
        &get(plain, "/site.css", "")?,
        415,
        "css without --serve-type",
    )
}

fn inline_images(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Flags)?;
    for (target, media) in [
        ("/logo.png", "image/png"),
        ("/logo2.png", "image/png"),
        ("/photo.jpg", "image/jpeg"),
    ] {
        let resp = get(srv, target, "")?;
        expect(&resp, 200, target)?;
        expect_header(&resp, "Content-Type", media)?;
        expect_absent(&resp, "content-disposition", target)?;
        expect_body(
            &resp,
            &read_root_file(srv, target.trim_start_matches('/'))?,
            target,
        )?;
    }
    // txt keeps the seed's download behaviour.
    let txt = get(srv, "/sample.txt", "")?;
    expect_header(&txt, "Content-Type", OCTETS)?;
    expect_header(
        &txt,
        "Content-Disposition",
        "attachment; filename=\"sample.txt\"",
    )?;
    // Without the flag images stay downloads.
    let plain = get(ctx.server(Kind::Files)?, "/logo.png", "")?;
    expect_header(&plain, "Content-Type", OCTETS)
}

// ---------------------------------------------------------------------------
// Directories

fn expect_location(resp: &Response, want: &str, what: &str) -> Outcome {
    expect(resp, 301, what)?;
    let location = header(resp, "location")?;
    ensure!(
        location == want,
        "{what}: Location {location:?}, expected {want:?}"
    );
    ensure!(
        location.starts_with('/') && !location.starts_with("//"),
        "{what}: Location {location:?} must start with exactly one slash"
    );
    Ok(())
}

fn dir_redirect(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    for (target, want) in [
        ("/sub", "/sub/"),
        ("/sub?x=1&y=2", "/sub/?x=1&y=2"),
        ("/sub?", "/sub/?"),
        ("/files", "/files/"),
        ("/%73ub", "/%73ub/"),
    ] {
        expect_location(&get(srv, target, "")?, want, target)?;
    }
    let absolute = format!("http://localhost:{}/sub?z=9", srv.port());
    expect_location(&get(srv, &absolute, "")?, "/sub/?z=9", &absolute)
}

fn dir_double_slash(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let absolute = format!("http://localhost:{}//sub", srv.port());
    for target in [
        "//sub",
        "///sub",
        "//sub?x=1",
        "/%2Fsub",
        "/sub//",
        absolute.as_str(),
    ] {
        let resp = get(srv, target, "")?;
        expect(&resp, 403, target)?;
        expect_absent(&resp, "location", target)?;
    }
    Ok(())
}

fn dir_index(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let index = read_root_file(srv, "sub/index.html")?;
    let resp = get(srv, "/sub/", "")?;
    expect(&resp, 200, "/sub/")?;
    expect_header(&resp, "Content-Type", HTML)?;
    expect_body(&resp, &index, "/sub/")?;
    header(&resp, "etag")?;
    Ok(())
}

fn dir_listing_off(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Files)?;
    let resp = get(srv, "/files/", "")?;
    expect(&resp, 404, "/files/ without --dir-listing")?;
    ensure!(
        !resp.body_text().contains("a b.txt") && !resp.body_text().contains("a%20b.txt"),
        "404 body lists the directory: {}",
        resp.body_text()
    );
    Ok(())
}

fn dir_listing(ctx: &Ctx) -> Outcome {
    let srv = ctx.server(Kind::Flags)?;
    let resp = get(srv, "/files/", "")?;
    expect(&resp, 200, "/files/ with --dir-listing")?;
    expect_header(&resp, "Content-Type", HTML)?;
    let page = resp.body_text();
    for needle in [
        "&lt;b&gt;&amp;&quot;x&quot;.txt",
        "href=\"./%3Cb%3E%26%22x%22.txt\"",
        "href=\"./a%20b.txt\"",
        ">a b.txt<",
    ] {
        ensure!(page.contains(needle), "listing lacks {needle:?}: {page}");
    }
    for never in ["secret", "<b>&", "\"x\".txt"] {
        ensure!(!page.contains(never), "listing contains {never:?}: {page}");
    }
    // The links work.
    let resp = get(srv, "/files/a%20b.txt", "")?;
    expect_body(&resp, b"spaced name\n", "/files/a%20b.txt")?;
    let resp = get(srv, "/files/%3Cb%3E%26%22x%22.txt", "")?;
    expect_body(&resp, b"odd name\n", "/files/%3Cb%3E%26%22x%22.txt")?;
    // A directory with an index still serves it.
    let index = read_root_file(srv, "sub/index.html")?;
    expect_body(&get(srv, "/sub/", "")?, &index, "/sub/ with --dir-listing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_reference_check_value() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn stored_gzip_has_header_blocks_and_trailer() {
        for len in [0usize, 1, 65_535, 65_536, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let gz = gzip_stored(&data);
            let n_blocks = len.div_ceil(65_535).max(1);
            assert_eq!(gz.len(), 10 + 5 * n_blocks + len + 8, "{len}");
            check_gzip_of(&gz, &data, "stored").unwrap();
            // The last block, and only it, has BFINAL set.
            assert_eq!(gz[10], u8::from(n_blocks == 1), "{len}");
        }
        assert!(check_gzip_of(&gzip_stored(b"abc"), b"abd", "x").is_err());
    }

    #[test]
    fn multipart_body_follows_rfc_9110_layout() {
        let body = multipart_body("B", "text/plain", b"0123456789", &[(0, 1), (8, 9)]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\r\n\
             --B\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89\r\n--B--\r\n"
        );
    }

    #[test]
    fn boundary_is_read_from_the_content_type() {
        let ok = [
            ("multipart/byteranges; boundary=abc", "abc"),
            ("multipart/byteranges;boundary=\"q d\"", "q d"),
            ("Multipart/ByteRanges; charset=x; Boundary=z9", "z9"),
        ];
        for (ct, want) in ok {
            assert_eq!(boundary_of(ct).unwrap(), want, "{ct}");
        }
        for bad in [
            "text/plain; boundary=a",
            "multipart/byteranges",
            "multipart/byteranges; boundary=",
        ] {
            assert!(boundary_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn disjoint_ranges_never_touch() {
        let (spec, parts) = disjoint_ranges(3);
        assert_eq!(spec, "bytes=0-0,2-2,4-4");
        assert_eq!(parts, [(0, 0), (2, 2), (4, 4)]);
    }

    #[test]
    fn date_forms_name_the_fixture_instant() {
        // 2021-03-04 is day 18690 of the Unix epoch.
        assert_eq!(DATED_SECS, 18_690 * 86_400 + 5 * 3600 + 6 * 60 + 7);
        assert!(is_strong_etag("\"a-b\""));
        assert!(!is_strong_etag("W/\"a\""));
        assert!(!is_strong_etag("\"a"));
    }
}
