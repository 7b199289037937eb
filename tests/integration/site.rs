//! Hosting a website (issue 14): the web preset's media types and caching, `--type`,
//! the single-page-application fallback, custom error pages, sorted HTML and JSON
//! listings, folder downloads as tar, and content ETags.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::util::{Client, Dir, Response, TestServer, wait_until};

/// Sends `GET path` with extra header lines (each ending in `\r\n`).
fn get_with(server: &TestServer, path: &str, extra: &str) -> Response {
    server.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").as_bytes())
}

/// Sends `HEAD path` and reads the head only; returns it and whether the server then
/// sent nothing more before the next response (no body bytes).
fn head(server: &TestServer, path: &str) -> (Response, bool) {
    let mut c = server.connect();
    c.write(format!("HEAD {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
    let r = c.read_response(true);
    // A second request on the same connection: its answer must come right after the
    // first head, so no body was sent in between.
    c.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let next = c.response();
    (r, next.status == 200 && next.text().contains("ok"))
}

/// Sets a file's modification time to `secs` after the epoch.
fn set_mtime(path: &Path, secs: u64) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// A docroot with a small website: pages, hashed and unhashed assets, every kind of
/// file the preset knows, and an upload.
fn site_root() -> Dir {
    let root = Dir::docroot();
    root.write("app.3f9a1c2b.js", b"document.title = 'hashed';\n");
    root.write("app.js", b"document.title = 'plain';\n");
    root.write("style.css", b"body { color: #333; }\n");
    root.write("data.json", b"{\"a\": 1}\n");
    root.write("icon.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
    root.write("font.woff2", b"wOF2 not really");
    root.write("mod.wasm", b"\0asm\x01\0\0\0");
    root.write("notes.txt", b"plain notes\n");
    root.write("bundle.zip", b"PK\x05\x06");
    root.write("model.glb", b"glTF");
    root.write("thing.xyz", b"unknown bytes");
    root.write("LICENSE", b"MIT\n");
    root.write("uploads/upload_1.json", b"{\"up\": true}");
    root.write("uploads/notes.txt", b"uploaded");
    root.write("docs/readme.html", b"<p>docs</p>");
    root
}

#[test]
fn the_web_preset_serves_the_table_inline_with_real_types() {
    let server = TestServer::start_in(site_root(), &["--web"]);
    let inline = [
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json"),
        ("/icon.svg", "image/svg+xml"),
        ("/logo.png", "image/png"),
        ("/photo.jpg", "image/jpeg"),
        ("/font.woff2", "font/woff2"),
        ("/mod.wasm", "application/wasm"),
        ("/notes.txt", "text/plain; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
    ];
    for (path, media_type) in inline {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(media_type), "{path}");
        assert_eq!(r.header("content-disposition"), None, "{path}");
    }
    // Archives are downloads with their real type; unknown extensions (and names
    // without one) are octet-stream downloads, never sniffed.
    let downloads = [
        ("/bundle.zip", "application/zip", "bundle.zip"),
        ("/thing.xyz", "application/octet-stream", "thing.xyz"),
        ("/LICENSE", "application/octet-stream", "LICENSE"),
        ("/script.php", "application/octet-stream", "script.php"),
    ];
    for (path, media_type, name) in downloads {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(media_type), "{path}");
        let disposition = format!("attachment; filename=\"{name}\"");
        assert_eq!(
            r.header("content-disposition"),
            Some(disposition.as_str()),
            "{path}"
        );
    }
    // Dot-files and uploads keep the seed's rules.
    assert_eq!(server.get("/.hidden.html").status, 404);
    assert_eq!(server.get("/uploads/upload_1.json").status, 415);
    let r = server.get("/uploads/notes.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.header("content-disposition").is_some());

    // Without the preset, the seed's contract stands.
    let plain = TestServer::start_in(site_root(), &[]);
    assert_eq!(plain.get("/style.css").status, 415);
    assert_eq!(plain.get("/LICENSE").status, 415);
    let r = plain.get("/logo.png");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.header("content-disposition").is_some());
    let r = plain.get("/notes.txt");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
}

#[test]
fn the_web_preset_caches_hashed_names_for_a_year_and_revalidates_html() {
    let server = TestServer::start_in(site_root(), &["--web"]);
    let cases = [
        ("/app.3f9a1c2b.js", "public, max-age=31536000, immutable"),
        ("/app.js", "public, max-age=3600"),
        ("/style.css", "public, max-age=3600"),
        ("/index.html", "no-cache"),
        ("/", "no-cache"),
    ];
    for (path, value) in cases {
        assert_eq!(
            server.get(path).header("cache-control"),
            Some(value),
            "{path}"
        );
    }
    // An explicit entry wins, even over the hashed-name rule.
    let server = TestServer::start_in(
        site_root(),
        &[
            "--web",
            "--cache-control",
            "js=no-store",
            "--cache-control",
            "*=max-age=60",
        ],
    );
    let cases = [
        ("/app.3f9a1c2b.js", "no-store"),
        ("/app.js", "no-store"),
        ("/style.css", "max-age=60"),
        ("/index.html", "no-cache"),
    ];
    for (path, value) in cases {
        assert_eq!(
            server.get(path).header("cache-control"),
            Some(value),
            "{path}"
        );
    }
    // Without the preset a hashed name is like any other.
    let plain = TestServer::start_in(site_root(), &["--serve-type", "js"]);
    assert_eq!(
        plain.get("/app.3f9a1c2b.js").header("cache-control"),
        Some("public, max-age=3600")
    );
}

#[test]
fn the_type_flag_extends_or_overrides_the_table_in_either_mode() {
    let server = TestServer::start_in(
        site_root(),
        &[
            "--web",
            "--type",
            "glb=model/gltf-binary",
            "--type",
            "js=application/javascript",
            "--type",
            "xyz=application/x-xyz",
        ],
    );
    let r = server.get("/model.glb");
    assert_eq!(r.header("content-type"), Some("model/gltf-binary"));
    assert_eq!(
        server.get("/app.js").header("content-type"),
        Some("application/javascript")
    );
    // A type a browser does not show stays a download.
    let r = server.get("/thing.xyz");
    assert_eq!(r.header("content-type"), Some("application/x-xyz"));
    assert!(r.header("content-disposition").is_some());
    // Outside the preset, `--type` lets the extension be served, with that type,
    // even over the seed's download of txt.
    let plain = TestServer::start_in(
        site_root(),
        &[
            "--type",
            "css=text/css",
            "--type",
            "txt=text/plain; charset=utf-8",
        ],
    );
    let r = plain.get("/style.css");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/css"));
    let r = plain.get("/notes.txt");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-disposition"), None);
    assert_eq!(plain.get("/app.js").status, 415);
    // A bad type is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(["--check-config", "--type", "js=text/plain\r\nX: y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn spa_deep_links_get_the_fallback_page_and_missing_assets_stay_404() {
    let root = site_root();
    let (_outside, link) = link_out_of(&root);
    let server = TestServer::start_in(root, &["--web", "--fallback", "/index.html"]);
    let index = fs::read(server.root.path().join("index.html")).unwrap();
    for (path, accept) in [
        (
            "/app/settings",
            "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n",
        ),
        ("/app/settings", ""),
        ("/app/users/42", "Accept: */*\r\n"),
        ("/app/", "Accept: text/html\r\n"),
        ("/login", "Accept: text/html\r\n"),
    ] {
        let r = get_with(&server, path, accept);
        assert_eq!(r.status, 200, "{path} {accept:?}");
        assert_eq!(r.body, index, "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert!(
            r.header("vary").is_some_and(|v| v.contains("Accept")),
            "{path}"
        );
    }
    let (r, no_body) = head(&server, "/app/settings");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(index.len().to_string().as_str())
    );
    assert!(no_body);
    // A missing asset is a 404, whatever the client accepts.
    for path in [
        "/app.missing.js",
        "/app/chunk.123abc.css",
        "/img/missing.png",
    ] {
        assert_eq!(
            get_with(&server, path, "Accept: */*\r\n").status,
            404,
            "{path}"
        );
    }
    // A client that does not take html gets the 404, which says it depends on Accept.
    let r = get_with(&server, "/app/settings", "Accept: application/json\r\n");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("vary"), Some("Accept"));
    // POST to a deep link is still 405.
    let r =
        server.send(b"POST /app/settings HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    // The path policy comes first: traversal 403, dot-files 404, links out 403,
    // uploads keep their rules, an existing folder without index stays 404.
    assert_eq!(server.get("/%2e%2e/etc/passwd").status, 403);
    assert_eq!(server.get("/../etc").status, 403);
    assert_eq!(server.get("/.git/config").status, 404);
    assert_eq!(server.get("/.env").status, 404);
    assert_eq!(server.get(&format!("/{link}/anything")).status, 403);
    assert_eq!(server.get("/uploads/nothing").status, 415);
    assert_eq!(server.get("/docs/").status, 404);
    // Existing files are served as themselves.
    assert_eq!(server.get("/docs/readme.html").body, b"<p>docs</p>");
    assert_eq!(server.get("/sub").status, 301);

    // The fallback works outside the preset too; there `.js` stays 415.
    let plain = TestServer::start_in(site_root(), &["--fallback", "/index.html"]);
    assert_eq!(plain.get("/app/settings").status, 200);
    assert_eq!(plain.get("/app.missing.js").status, 415);
    assert_eq!(plain.get("/missing.html").status, 404);
}

#[test]
fn a_missing_fallback_page_is_a_404_with_one_warning() {
    let server = TestServer::start_in(site_root(), &["--web", "--fallback", "/app.html"]);
    for _ in 0..3 {
        assert_eq!(server.get("/app/settings").status, 404);
    }
    let needle = "the fallback page cannot be served";
    assert!(server.wait_for_log(needle));
    assert_eq!(server.stderr().matches(needle).count(), 1);
    // Once it is there, deep links get it.
    server.root.write("app.html", b"<p>app</p>");
    assert_eq!(server.get("/app/settings").body, b"<p>app</p>");
}

/// Links `escape` in `root` to a fresh directory outside it; returns that directory
/// and the link's name.
fn link_out_of(root: &Dir) -> (Dir, &'static str) {
    let outside = Dir::new();
    outside.write("secret.txt", b"outside");
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    (outside, "escape")
}

#[test]
fn a_custom_404_page_keeps_its_status_and_head_gets_no_body() {
    let root = site_root();
    let page = b"<!DOCTYPE html><title>Lost</title><p>Nothing here.</p>\n";
    root.write("errors/404.html", page);
    root.write("errors/405.html", b"<p>Not allowed.</p>");
    let server = TestServer::start_in(
        root,
        &[
            "--error-page",
            "404=/errors/404.html",
            "--error-page",
            "405=/errors/405.html",
        ],
    );
    // From the poller (a dot-file), from a worker (an uncached file that is missing),
    // and a second time (the page may come from memory now).
    for path in [
        "/.hidden.html",
        "/missing.html",
        "/missing.html",
        "/a/b/c.html",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, page, "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        // The operator's page, not the server's own: no strict policy.
        assert_eq!(r.header("content-security-policy"), None, "{path}");
    }
    let (r, no_body) = head(&server, "/missing.html");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("content-length"),
        Some(page.len().to_string().as_str())
    );
    assert!(no_body);
    // A page replaces only the body: the answer's own headers stay.
    let r =
        server.send(b"POST /about.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(r.body, b"<p>Not allowed.</p>");
    // Other statuses keep the built-in page.
    let r = server.get("/script.php");
    assert_eq!(r.status, 415);
    assert!(
        r.text().contains("415 Unsupported Media Type"),
        "{}",
        r.text()
    );
    assert!(r.header("content-security-policy").is_some());
}

#[test]
fn a_cached_custom_503_page_is_sent_when_the_queue_is_full() {
    let root = site_root();
    let page = b"<!DOCTYPE html><title>Busy</title><p>Back soon.</p>\n";
    root.write("busy.html", page);
    // Old enough for the page cache, so the poller can send it with no worker free.
    set_mtime(&root.path().join("busy.html"), 1_000_000_000);
    let server = TestServer::start_in(
        root,
        &[
            "--threads",
            "1",
            "--queue",
            "0",
            "--test-stall-path",
            "/stall",
            "--error-page",
            "503=/busy.html",
        ],
    );
    let mut held = server.connect();
    held.write(b"GET /stall HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(server.wait_for_log("test stall: holding this worker"));
    let r = server.get("/about.html");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.body, page);
    // HEAD: the same head, no body, then the close a 503 always brings.
    let mut c = server.connect();
    c.write(b"HEAD /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.read_response(true);
    assert_eq!(r.status, 503);
    assert_eq!(
        r.header("content-length"),
        Some(page.len().to_string().as_str())
    );
    assert!(c.is_closed_by_server());
    server.root.write(".stall-release", b"");
    assert_eq!(held.response().status, 200);
}

#[test]
fn custom_pages_also_answer_errors_found_before_a_request_exists() {
    let root = site_root();
    let bad = b"<!DOCTYPE html><title>Bad</title><p>That was not HTTP.</p>\n";
    let busy = b"<!DOCTYPE html><title>Full</title><p>Too many visitors.</p>\n";
    root.write("bad.html", bad);
    root.write("full.html", busy);
    // Old enough for the page cache: these answers are written by the poller alone.
    set_mtime(&root.path().join("bad.html"), 1_000_000_000);
    set_mtime(&root.path().join("full.html"), 1_000_000_000);
    let server = TestServer::start_in(
        root,
        &[
            "--max-connections",
            "1",
            "--pollers",
            "1",
            "--error-page",
            "400=/bad.html",
            "--error-page",
            "503=/full.html",
        ],
    );
    // A malformed head: no request, so no job could read the page; the cache has it.
    let mut c = server.connect();
    c.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 400);
    assert_eq!(r.body, bad);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // The operator's page gets the docroot's headers, not the strict policy of the
    // server's own pages.
    assert!(
        r.header("content-security-policy").is_none(),
        "{:?}",
        r.header("content-security-policy")
    );
    assert!(c.is_closed_by_server());
    // A connection over the cap.
    let mut held = server.connect();
    held.write(b"GET /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(held.response().status, 200);
    let mut refused = server.connect();
    let r = refused.response();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.body, busy);
    assert!(refused.is_closed_by_server());
}

#[test]
fn a_missing_error_page_falls_back_to_the_built_in_one_with_one_warning() {
    let server = TestServer::start_in(site_root(), &["--error-page", "404=/nope.html"]);
    for _ in 0..3 {
        let r = server.get("/missing.html");
        assert_eq!(r.status, 404);
        assert!(r.text().contains("404 Not Found"), "{}", r.text());
    }
    let needle = "error page /nope.html for 404 cannot be served";
    assert!(server.wait_for_log(needle));
    assert_eq!(
        server.stderr().matches(needle).count(),
        1,
        "{}",
        server.stderr()
    );
    // A page that leaves the root is refused at start.
    let out = Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(["--check-config", "--error-page", "404=/../x.html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(["--check-config", "--error-page", "302=/x.html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A docroot with `files/`: two files, a folder, a dot-file and a hostile name.
fn listing_root() -> Dir {
    let root = Dir::docroot();
    root.write("files/b-big.bin", &[7u8; 2048]);
    root.write("files/a-small.txt", b"abc");
    root.write("files/zdir/inner.txt", b"inner");
    root.write("files/.secret", b"hidden");
    root.write("files/<img src=x onerror=alert(1)>.png", b"not an image");
    set_mtime(&root.path().join("files/b-big.bin"), 1_000_000_000);
    set_mtime(&root.path().join("files/a-small.txt"), 1_700_000_000);
    root
}

/// The `name` fields of a JSON listing, checking each entry's schema.
fn json_names(r: &Response) -> Vec<String> {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let entries: Value = serde_json::from_slice(&r.body).unwrap();
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let object = e.as_object().unwrap();
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["mtime", "name", "size", "type"], "{e}");
            assert!(matches!(e["type"].as_str(), Some("file" | "dir")), "{e}");
            assert!(e["size"].is_u64(), "{e}");
            assert!(e["mtime"].is_string() || e["mtime"].is_null(), "{e}");
            e["name"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn json_listings_have_the_schema_and_sort_as_asked() {
    let server = TestServer::start_in(listing_root(), &["--dir-listing"]);
    let hostile = "<img src=x onerror=alert(1)>.png";
    let r = server.get("/files/?format=json");
    assert_eq!(
        json_names(&r),
        [
            "zdir",
            "<img src=x onerror=alert(1)>.png",
            "a-small.txt",
            "b-big.bin"
        ]
    );
    let entries: Value = serde_json::from_slice(&r.body).unwrap();
    let big = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "b-big.bin")
        .unwrap();
    assert_eq!(big["size"], 2048);
    assert_eq!(big["type"], "file");
    assert_eq!(big["mtime"], "2001-09-09T01:46:40Z");
    assert_eq!(
        json_names(&server.get("/files/?format=json&sort=size&order=desc")),
        ["zdir", "b-big.bin", hostile, "a-small.txt"]
    );
    assert_eq!(
        json_names(&server.get("/files/?format=json&sort=mtime")),
        ["zdir", "b-big.bin", "a-small.txt", hostile]
    );
    // `Accept: application/json` asks for it too; a browser's Accept gets HTML.
    let r = get_with(&server, "/files/", "Accept: application/json\r\n");
    assert_eq!(json_names(&r).len(), 4);
    assert!(r.header("vary").is_some_and(|v| v.contains("Accept")));
    let r = get_with(
        &server,
        "/files/",
        "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n",
    );
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // An explicit format wins over Accept.
    let r = get_with(
        &server,
        "/files/?format=html",
        "Accept: application/json\r\n",
    );
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
}

#[test]
fn html_listings_sort_show_sizes_and_dates_and_escape_names() {
    let server = TestServer::start_in(listing_root(), &["--dir-listing"]);
    let page = server.get("/files/?sort=size&order=desc").text();
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;.png"),
        "{page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(!page.contains("secret"), "{page}");
    assert!(page.contains("2.0 KiB"), "{page}");
    assert!(page.contains("2001-09-09 01:46"), "{page}");
    let at = |name: &str| page.find(name).unwrap_or_else(|| panic!("{name}: {page}"));
    assert!(at("zdir/") < at("b-big.bin") && at("b-big.bin") < at("a-small.txt"));
    let page = server.get("/files/?sort=name").text();
    let at = |name: &str| page.find(name).unwrap_or_else(|| panic!("{name}: {page}"));
    assert!(at("a-small.txt") < at("b-big.bin"));
}

/// Writes `body` into a fresh directory as `NAME.tar`, extracts it there with `tar -x`,
/// and returns the directory (kept alive by the caller).
fn extract(body: &[u8]) -> Dir {
    let dir = Dir::new();
    let tar = dir.path().join("download.tar");
    fs::write(&tar, body).unwrap();
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// Every regular file below `dir`, relative, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in fs::read_dir(&at).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                assert!(kind.is_file(), "{:?} is not a regular file", entry.path());
                found.push(entry.path().strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_folder_downloads_as_a_tar_that_extracts_byte_for_byte() {
    let root = Dir::docroot();
    root.write("pkg/readme.txt", b"read me\n");
    root.write("pkg/src/main.rs", b"fn main() {}\n");
    root.write(
        "pkg/src/deep/er/data.bin",
        &(0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
    );
    root.write("pkg/empty.txt", b"");
    root.write("pkg/.git/config", b"hidden");
    let (_outside, _) = link_out_of(&root);
    std::os::unix::fs::symlink(root.path().join("escape"), root.path().join("pkg/escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.path().join("pkg/passwd")).unwrap();
    std::os::unix::fs::symlink("readme.txt", root.path().join("pkg/alias.txt")).unwrap();
    let server = TestServer::start_in(root, &["--dir-listing"]);

    let r = server.get("/pkg/?download=tar");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-tar"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"pkg.tar\"")
    );
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let extracted = extract(&r.body);
    let top = extracted.path().join("out/pkg");
    let expected = [
        "empty.txt",
        "readme.txt",
        "src/deep/er/data.bin",
        "src/main.rs",
    ];
    let found = files_below(&top);
    assert_eq!(
        found,
        expected.iter().map(PathBuf::from).collect::<Vec<_>>(),
        "links, link targets out of the root and dot-files are left out"
    );
    for rel in expected {
        let served = fs::read(top.join(rel)).unwrap();
        let original = fs::read(server.root.path().join("pkg").join(rel)).unwrap();
        assert!(served == original, "{rel} differs");
    }
    // HEAD: the head alone.
    let (r, no_body) = head(&server, "/pkg/?download=tar");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-tar"));
    assert!(no_body);
    // HTTP/1.0: no chunks; the body ends with the connection.
    let mut c = server.connect();
    c.write(b"GET /pkg/?download=tar HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("connection"), Some("close"));
    let again = extract(&r.body);
    assert_eq!(files_below(&again.path().join("out/pkg")), found);
    // Not the uploads, not a missing folder, not a link out.
    assert_eq!(server.get("/uploads/?download=tar").status, 403);
    assert_eq!(server.get("/nothing/?download=tar").status, 404);
    assert_eq!(server.get("/escape/?download=tar").status, 403);
    // Without --dir-listing the query changes nothing.
    let plain = TestServer::start(&[]);
    let r = plain.get("/sub/?download=tar");
    assert_eq!(r.body, b"<p>sub index</p>");
}

/// A docroot with `big/`: `n_files` sparse files of `file_bytes` each (holes: fast
/// to make, no disk used).
fn sparse_tree(n_files: u64, file_bytes: u64) -> Dir {
    let root = Dir::docroot();
    for i in 0..n_files {
        let path = root.path().join(format!("big/d{}/f{i}.bin", i % 16));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        File::create(&path).unwrap().set_len(file_bytes).unwrap();
    }
    root
}

/// Reads a chunked body from `reader` and drops it; returns its length, and stops
/// early (returning what came) once `limit` bytes have come.
fn drain_chunked(reader: &mut impl BufRead, limit: u64) -> u64 {
    let mut n = 0u64;
    let mut line = String::new();
    let mut sink = vec![0u8; 64 * 1024];
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let size = u64::from_str_radix(line.trim_end().split(';').next().unwrap(), 16).unwrap();
        if size == 0 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            return n;
        }
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left.min(sink.len() as u64)).unwrap();
            reader.read_exact(&mut sink[..want]).unwrap();
            left -= want as u64;
        }
        reader.read_exact(&mut sink[..2]).unwrap();
        n += size;
        if n >= limit {
            return n;
        }
    }
}

/// Opens a tar download of `/big/` and reads its head; returns the reader.
fn start_download(server: &TestServer) -> BufReader<std::net::TcpStream> {
    let c = Client::connect(server.addr);
    let mut stream = c.stream;
    std::io::Write::write_all(
        &mut stream,
        b"GET /big/?download=tar HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            return reader;
        }
    }
}

/// A field of `/proc/PID/status` or `/proc/PID/io`, in its own unit.
fn proc_field(pid: u32, file: &str, name: &str) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/{file}"))
}

#[test]
fn a_one_gib_tar_download_stays_in_bounded_memory() {
    const GIB: u64 = 1 << 30;
    let server = TestServer::start_in(sparse_tree(256, GIB / 256), &["--dir-listing"]);
    let mut reader = start_download(&server);
    let n = drain_chunked(&mut reader, u64::MAX);
    // The archive: every file, each with one 512-byte header, plus the folders'
    // headers and the end blocks.
    assert_eq!(n, GIB + (256 + 16 + 1) * 512 + 2 * 512, "{n} bytes");
    let peak_kib = proc_field(server.pid(), "status", "VmHWM:");
    assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");
    eprintln!("a 1 GiB tar download: peak RSS {peak_kib} KiB");
}

#[test]
fn a_client_that_goes_away_stops_the_tar_download() {
    const GIB: u64 = 1 << 30;
    let server = TestServer::start_in(sparse_tree(64, GIB / 64), &["--dir-listing"]);
    let before = proc_field(server.pid(), "io", "rchar:");
    let mut reader = start_download(&server);
    let n = drain_chunked(&mut reader, 4 << 20);
    assert!(n >= 4 << 20);
    drop(reader);
    // The server stops reading soon after (its reads stay the same for a quarter of a
    // second): it never reads the whole gibibyte.
    let mut last = proc_field(server.pid(), "io", "rchar:");
    let mut changed_at = std::time::Instant::now();
    let settled = wait_until(|| {
        let now = proc_field(server.pid(), "io", "rchar:");
        if now != last {
            last = now;
            changed_at = std::time::Instant::now();
        }
        changed_at.elapsed() >= Duration::from_millis(250)
    });
    assert!(settled, "the server is still reading");
    let read = last - before;
    assert!(
        read < GIB / 4,
        "the server read {read} bytes after the client left"
    );
    // And it serves on.
    assert_eq!(server.get("/about.html").status, 200);
}

#[test]
fn content_etags_follow_the_bytes_not_the_dates() {
    let root = Dir::docroot();
    root.write("one.txt", b"same size A");
    root.write("two.txt", b"same size B");
    root.write("copy.txt", b"same size A");
    for name in ["one.txt", "two.txt", "copy.txt"] {
        set_mtime(&root.path().join(name), 1);
    }
    let server = TestServer::start_in(root, &["--etag", "content"]);
    let tag = |path: &str| {
        let r = server.get(path);
        assert_eq!(r.status, 200);
        r.header("etag").unwrap().to_string()
    };
    let (one, two, copy) = (tag("/one.txt"), tag("/two.txt"), tag("/copy.txt"));
    assert!(one.starts_with("\"c-") && one.ends_with('"'), "{one}");
    assert_ne!(one, two);
    assert_eq!(one, copy, "the same bytes give the same tag");
    assert_eq!(tag("/one.txt"), one, "a tag is stable");
    let r = get_with(&server, "/one.txt", &format!("If-None-Match: {one}\r\n"));
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(one.as_str()));
    // gzip gets a tag of its own, from the same bytes.
    let r = get_with(&server, "/index.html", "Accept-Encoding: gzip\r\n");
    let gz = r.header("etag").unwrap();
    assert!(gz.starts_with("\"c-") && gz.ends_with("-gz\""), "{gz}");
    // one.txt is in the file cache now (its mtime is old), but its tag is not kept
    // (its status changed just now): the poller does not hash, a worker does.
    assert!(wait_until(|| server
        .stdout()
        .matches("\"GET /one.txt ")
        .count()
        == 3));
    for line in server
        .stdout()
        .lines()
        .filter(|l| l.contains("\"GET /one.txt "))
    {
        assert!(line.contains(" httpd-worker-"), "{line}");
    }
    // The default stays as it was, and the poller answers a cached file itself.
    let root = Dir::docroot();
    set_mtime(&root.path().join("sample.txt"), 1);
    let plain = TestServer::start_in(root, &["--etag", "default"]);
    let etag = plain.get("/sample.txt").header("etag").unwrap().to_string();
    assert!(!etag.starts_with("\"c-"), "{etag}");
    assert_eq!(plain.get("/sample.txt").header("etag"), Some(etag.as_str()));
    assert!(wait_until(|| plain
        .stdout()
        .matches("\"GET /sample.txt ")
        .count()
        == 2));
    let last = plain
        .stdout()
        .lines()
        .rfind(|l| l.contains("\"GET /sample.txt "))
        .unwrap()
        .to_string();
    assert!(last.contains(" httpd-poll-"), "{last}");
}

#[test]
fn a_settled_file_whose_content_tag_is_kept_is_answered_by_the_poller() {
    use std::os::unix::fs::MetadataExt;
    let root = Dir::docroot();
    let path = root.path().join("settled.txt");
    root.write("settled.txt", b"settled bytes A");
    set_mtime(&path, 1);
    // A tag is kept only once the file's status (its ctime, set just now) is two
    // seconds old: wait for that, as the clock says, before the server sees the file.
    let meta = fs::metadata(&path).unwrap();
    let changed = SystemTime::UNIX_EPOCH
        + Duration::new(
            u64::try_from(meta.ctime()).unwrap(),
            u32::try_from(meta.ctime_nsec()).unwrap(),
        );
    while SystemTime::now()
        .duration_since(changed)
        .unwrap_or_default()
        < Duration::from_millis(2100)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let server = TestServer::start_in(root, &["--etag", "content"]);
    let tags: Vec<String> = (0..3)
        .map(|_| {
            let r = server.get("/settled.txt");
            assert_eq!(r.status, 200);
            assert_eq!(r.body, b"settled bytes A");
            r.header("etag").unwrap().to_string()
        })
        .collect();
    assert!(tags[0].starts_with("\"c-"), "{}", tags[0]);
    assert!(tags.iter().all(|t| *t == tags[0]), "{tags:?}");
    assert!(wait_until(|| server
        .stdout()
        .matches("\"GET /settled.txt ")
        .count()
        == 3));
    let lines: Vec<String> = server
        .stdout()
        .lines()
        .filter(|l| l.contains("\"GET /settled.txt "))
        .map(str::to_string)
        .collect();
    // The first answer hashed the file on a worker; the tag was kept with the file's
    // identity, so the poller answers the next ones itself, tag included.
    assert!(lines[0].contains(" httpd-worker-"), "{}", lines[0]);
    assert!(lines[2].contains(" httpd-poll-"), "{}", lines[2]);
    let r = get_with(
        &server,
        "/settled.txt",
        &format!("If-None-Match: {}\r\n", tags[0]),
    );
    assert_eq!(r.status, 304);

    // Other bytes of the same size under the same mtime: a new identity (ctime), so a
    // new tag, never the kept one.
    fs::write(&path, b"settled bytes B").unwrap();
    set_mtime(&path, 1);
    let r = server.get("/settled.txt");
    assert_eq!(r.body, b"settled bytes B");
    let tag = r.header("etag").unwrap();
    assert!(tag.starts_with("\"c-") && tag != tags[0], "{tag}");
}
