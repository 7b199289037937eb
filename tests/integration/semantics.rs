//! Full HTTP/1.1 file semantics: validators, conditionals, caching, ranges, content
//! codings, directories and media types.

use std::io::Read;

use crate::util::{Dir, Response, TestServer};

fn get_with(server: &TestServer, path: &str, extra: &str) -> Response {
    server.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").as_bytes())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A docroot with a compressible page large enough to be worth compressing.
fn text_root() -> Dir {
    let root = Dir::docroot();
    let page: String = (0..400)
        .map(|i| format!("<p>line {i} of the page</p>\n"))
        .collect();
    root.write("page.html", page.as_bytes());
    root.write("digits.txt", b"0123456789");
    root
}

#[test]
fn files_carry_strong_etag_last_modified_and_cache_control() {
    let server = TestServer::start(&[]);
    let html = server.get("/about.html");
    let etag = html.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    assert!(html.header("last-modified").unwrap().ends_with(" GMT"));
    assert_eq!(html.header("cache-control"), Some("no-cache"));
    assert_eq!(html.header("accept-ranges"), Some("bytes"));
    let png = server.get("/logo.png");
    assert_eq!(png.header("cache-control"), Some("public, max-age=3600"));
    assert_ne!(png.header("etag"), html.header("etag"));
}

#[test]
fn if_none_match_gives_304_with_validators_and_no_body() {
    let server = TestServer::start(&[]);
    let first = server.get("/logo.png");
    let etag = first.header("etag").unwrap().to_string();
    for value in [
        etag.clone(),
        format!("\"other\", {etag}"),
        "*".to_string(),
        format!("W/{etag}"),
    ] {
        let mut c = server.connect();
        c.write(
            format!("GET /logo.png HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {value}\r\n\r\n")
                .as_bytes(),
        );
        let r = c.response();
        assert_eq!(r.status, 304, "{value}");
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.header("last-modified").is_some());
        assert!(r.header("cache-control").is_some());
        assert!(r.header("content-length").is_none());
        // The next response on the connection parses, so the 304 had no body.
        c.write(b"GET /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }
    assert_eq!(
        get_with(&server, "/logo.png", "If-None-Match: \"nope\"\r\n").status,
        200
    );
}

#[test]
fn if_modified_since_in_every_date_form() {
    let server = TestServer::start(&[]);
    let last = server
        .get("/sample.txt")
        .header("last-modified")
        .unwrap()
        .to_string();
    assert_eq!(
        get_with(
            &server,
            "/sample.txt",
            &format!("If-Modified-Since: {last}\r\n")
        )
        .status,
        304
    );
    // The same instant in asctime form: "Wed, 25 Nov 2026 14:22:21 GMT" -> "Wed Nov 25 14:22:21 2026".
    let parts: Vec<&str> = last.split(' ').collect();
    let asctime = format!(
        "{} {} {:>2} {} {}",
        &parts[0][..3],
        parts[2],
        parts[1].trim_start_matches('0'),
        parts[4],
        parts[3]
    );
    assert_eq!(
        get_with(
            &server,
            "/sample.txt",
            &format!("If-Modified-Since: {asctime}\r\n")
        )
        .status,
        304,
        "{asctime}"
    );
    let old = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
    assert_eq!(get_with(&server, "/sample.txt", old).status, 200);
    // RFC 850 form, proven parsed: an old If-Unmodified-Since fails the request.
    let rfc850 = "If-Unmodified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n";
    assert_eq!(get_with(&server, "/sample.txt", rfc850).status, 412);
    // If-None-Match wins over If-Modified-Since.
    let both = format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {last}\r\n");
    assert_eq!(get_with(&server, "/sample.txt", &both).status, 200);
}

#[test]
fn failed_preconditions_are_412() {
    let server = TestServer::start(&[]);
    assert_eq!(
        get_with(&server, "/sample.txt", "If-Match: \"nope\"\r\n").status,
        412
    );
    let old = "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
    assert_eq!(get_with(&server, "/sample.txt", old).status, 412);
    let etag = server
        .get("/sample.txt")
        .header("etag")
        .unwrap()
        .to_string();
    assert_eq!(
        get_with(&server, "/sample.txt", &format!("If-Match: {etag}\r\n")).status,
        200
    );
    assert_eq!(
        get_with(&server, "/sample.txt", "If-Match: *\r\n").status,
        200
    );
}

#[test]
fn single_ranges_give_206_with_content_range() {
    let server = TestServer::start_in(text_root(), &[]);
    let cases = [
        ("bytes=0-3", "0123", "bytes 0-3/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-2", "89", "bytes 8-9/10"),
        ("bytes=5-100", "56789", "bytes 5-9/10"),
        ("bytes=-100", "0123456789", "bytes 0-9/10"),
    ];
    for (range, body, content_range) in cases {
        let r = get_with(&server, "/digits.txt", &format!("Range: {range}\r\n"));
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.text(), body, "{range}");
        assert_eq!(r.header("content-range"), Some(content_range), "{range}");
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert!(r.header("content-encoding").is_none());
    }
}

#[test]
fn unsatisfiable_range_is_416_and_garbage_is_ignored() {
    let server = TestServer::start_in(text_root(), &[]);
    let r = get_with(&server, "/digits.txt", "Range: bytes=10-20\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    for garbage in [
        "bytes=5-2",
        "items=0-1",
        "bytes=abc",
        "bytes=--1",
        "bytes=+1-2",
    ] {
        let r = get_with(&server, "/digits.txt", &format!("Range: {garbage}\r\n"));
        assert_eq!(r.status, 200, "{garbage}");
        assert_eq!(r.text(), "0123456789");
    }
}

#[test]
fn several_ranges_are_multipart_byteranges() {
    let server = TestServer::start_in(text_root(), &[]);
    let r = get_with(&server, "/digits.txt", "Range: bytes=0-1,5-6\r\n");
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap();
    let boundary = ct.strip_prefix("multipart/byteranges; boundary=").unwrap();
    let text = r.text();
    assert!(text.contains(&format!("--{boundary}\r\n")));
    assert!(text.contains("Content-Range: bytes 0-1/10\r\n\r\n01\r\n"));
    assert!(text.contains("Content-Range: bytes 5-6/10\r\n\r\n56\r\n"));
    assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    // Overlapping ranges are coalesced, never amplified.
    let r = get_with(&server, "/digits.txt", "Range: bytes=0-5,2-8,1-3\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "012345678");
}

#[test]
fn if_range_with_a_stale_validator_sends_the_whole_file() {
    let server = TestServer::start_in(text_root(), &[]);
    let etag = server
        .get("/digits.txt")
        .header("etag")
        .unwrap()
        .to_string();
    let r = get_with(
        &server,
        "/digits.txt",
        &format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.status, 206);
    let r = get_with(
        &server,
        "/digits.txt",
        "Range: bytes=0-1\r\nIf-Range: \"old\"\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 10);
}

#[test]
fn gzip_is_negotiated_for_compressible_types() {
    let server = TestServer::start_in(text_root(), &[]);
    let plain = server.get("/page.html");
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert!(plain.header("content-encoding").is_none());
    let r = get_with(
        &server,
        "/page.html",
        "Accept-Encoding: gzip, deflate, br\r\n",
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.body.len() < plain.body.len());
    assert_eq!(gunzip(&r.body), plain.body);
    assert_ne!(r.header("etag"), plain.header("etag"));
    for refuse in ["gzip;q=0", "identity", "br;q=1, gzip;q=0", "x-unknown"] {
        let r = get_with(
            &server,
            "/page.html",
            &format!("Accept-Encoding: {refuse}\r\n"),
        );
        assert!(r.header("content-encoding").is_none(), "{refuse}");
    }
    let r = get_with(
        &server,
        "/page.html",
        "Accept-Encoding: *;q=0.5, identity;q=0\r\n",
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
}

#[test]
fn ranges_and_images_are_never_compressed() {
    let server = TestServer::start_in(text_root(), &[]);
    let r = get_with(
        &server,
        "/page.html",
        "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n",
    );
    assert_eq!(r.status, 206);
    assert!(r.header("content-encoding").is_none());
    assert_eq!(r.text(), "<p>line 0 ");
    let r = get_with(&server, "/logo.png", "Accept-Encoding: gzip\r\n");
    assert!(r.header("content-encoding").is_none());
    assert!(r.header("vary").is_none());
}

#[test]
fn precompressed_sidecar_replaces_the_file() {
    let root = text_root();
    let page = std::fs::read(root.path().join("page.html")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &page).unwrap();
    let sidecar = gz.finish().unwrap();
    root.write("page.html.gz", &sidecar);
    let server = TestServer::start_in(root, &[]);
    let r = get_with(&server, "/page.html", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, sidecar);
}

#[test]
fn large_gzip_streams_chunked_and_head_never_announces_a_coding_frame() {
    let root = text_root();
    let big: String = (0..120_000).map(|i| format!("row {i}\n")).collect();
    assert!(big.len() > 1024 * 1024);
    root.write("big.html", big.as_bytes());
    let server = TestServer::start_in(root, &[]);
    let r = get_with(&server, "/big.html", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.header("content-length").is_none());
    assert_eq!(gunzip(&r.body), big.as_bytes());
    let mut c = server.connect();
    c.write(b"HEAD /big.html HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n");
    let head = c.read_response(true);
    assert!(head.header("transfer-encoding").is_none());
    // HTTP/1.0 never gets chunked: the big file goes out as identity.
    let r = server.send(b"GET /big.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n");
    assert!(r.header("transfer-encoding").is_none());
    assert_eq!(r.body.len(), big.len());
}

#[test]
fn directory_without_slash_redirects_keeping_the_query() {
    let server = TestServer::start(&[]);
    let r = server.get("/sub?x=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/?x=1"));
    let r = server.get("/sub");
    assert_eq!(r.header("location"), Some("/sub/"));
}

#[test]
fn extra_types_are_served_inline_with_real_media_types() {
    let root = Dir::docroot();
    root.write("site.css", b"body { color: red }");
    let server = TestServer::start_in(root, &["--serve-type", "css", "--inline-images"]);
    let css = server.get("/site.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("content-disposition").is_none());
    let png = server.get("/logo.png");
    assert_eq!(png.header("content-type"), Some("image/png"));
    assert!(png.header("content-disposition").is_none());
    // txt keeps the seed's download behaviour.
    let txt = server.get("/sample.txt");
    assert_eq!(txt.header("content-type"), Some("application/octet-stream"));
    // Without the flag css stays refused.
    let plain = TestServer::start(&[]);
    assert_eq!(plain.get("/site.css").status, 415);
}

#[test]
fn cache_control_is_configurable_per_extension() {
    let server = TestServer::start(&[
        "--cache-control",
        "png=no-store",
        "--cache-control",
        "*=max-age=60",
    ]);
    assert_eq!(
        server.get("/logo.png").header("cache-control"),
        Some("no-store")
    );
    assert_eq!(
        server.get("/sample.txt").header("cache-control"),
        Some("max-age=60")
    );
    assert_eq!(
        server.get("/about.html").header("cache-control"),
        Some("no-cache")
    );
}

#[test]
fn directory_listing_is_off_by_default_and_escapes_names() {
    let root = Dir::docroot();
    root.write("files/<b>&\"x\".txt", b"odd");
    root.write("files/a b.txt", b"spaced");
    root.write("files/.secret.txt", b"hidden");
    let server = TestServer::start_in(root, &["--dir-listing"]);
    let r = server.get("/files/");
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("&lt;b&gt;&amp;&quot;x&quot;.txt"), "{page}");
    assert!(page.contains("href=\"./%3Cb%3E%26%22x%22.txt\""), "{page}");
    assert!(page.contains("href=\"./a%20b.txt\""), "{page}");
    assert!(!page.contains("secret"));
    assert!(!page.contains("<b>&"));
    // The root still serves its index.
    assert_eq!(server.get("/").status, 200);
    let root = Dir::docroot();
    root.write("files/a.txt", b"x");
    let off = TestServer::start_in(root, &[]);
    assert_eq!(off.get("/files/").status, 404);
}
