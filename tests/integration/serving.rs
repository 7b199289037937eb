//! GET and HEAD of static files: types, downloads, indexes, streaming.

use crate::util::TestServer;

#[test]
fn root_serves_index_html() {
    let server = TestServer::start(&[]);
    let r = server.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, b"<!DOCTYPE html><title>home</title>\n");
    assert_eq!(r.header("content-length"), Some("35"));
    assert!(r.header("content-disposition").is_none());
}

#[test]
fn downloads_are_octet_stream_attachments() {
    let server = TestServer::start(&[]);
    for (path, name) in [
        ("/logo.png", "logo.png"),
        ("/photo.jpg", "photo.jpg"),
        ("/sample.txt", "sample.txt"),
        ("/photo2.JPEG", "photo2.JPEG"),
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert_eq!(
            r.header("content-disposition"),
            Some(format!("attachment; filename=\"{name}\"").as_str())
        );
        let on_disk = std::fs::read(server.root.path().join(&path[1..])).unwrap();
        assert_eq!(r.body, on_disk, "{path}");
    }
}

#[test]
fn missing_file_is_404() {
    let server = TestServer::start(&[]);
    assert_eq!(server.get("/nope.html").status, 404);
    assert_eq!(server.get("/dir/nope.txt").status, 404);
}

#[test]
fn unlisted_extension_is_415_even_when_missing() {
    let server = TestServer::start(&[]);
    for path in [
        "/script.php",
        "/server.py",
        "/.env",
        "/noextension",
        "/run.sh",
    ] {
        assert_eq!(server.get(path).status, 415, "{path}");
    }
}

#[test]
fn trailing_slash_serves_the_directory_index() {
    let server = TestServer::start(&[]);
    let r = server.get("/sub/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<p>sub index</p>");
    assert_eq!(server.get("/uploads/").status, 404);
}

#[test]
fn dot_files_are_never_served() {
    let server = TestServer::start(&[]);
    assert_eq!(server.get("/.hidden.html").status, 404);
}

#[test]
fn head_sends_get_headers_without_a_body() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(b"HEAD /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = c.read_response(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("36"));
    // If HEAD had sent a body, this GET's response would be misparsed.
    c.write(b"GET /about.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let get = c.response();
    assert_eq!(get.status, 200);
    assert_eq!(get.body.len(), 36);
    assert_eq!(get.header("content-type"), head.header("content-type"));
}

#[test]
fn large_file_arrives_whole_with_its_length() {
    let root = crate::util::Dir::docroot();
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    root.write("big.txt", &big);
    let server = TestServer::start_in(root, &[]);
    let r = server.get("/big.txt");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(big.len().to_string().as_str())
    );
    assert!(r.body == big, "body differs");
}

#[test]
fn every_response_has_date_server_and_length() {
    let server = TestServer::start(&[]);
    for path in ["/", "/nope.html", "/x.php", "/../x"] {
        let r = server.get(path);
        assert!(r.header("date").is_some(), "{path}");
        assert!(r.header("server").unwrap().starts_with("httpd/"), "{path}");
        let len: usize = r.header("content-length").unwrap().parse().unwrap();
        assert_eq!(len, r.body.len(), "{path}");
        assert!(!r.body.is_empty(), "{path}");
        let n_lengths = r
            .all
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"));
        assert_eq!(n_lengths.count(), 1, "{path}");
    }
}

#[test]
fn query_strings_are_ignored_for_files() {
    let server = TestServer::start(&[]);
    let r = server.get("/about.html?v=1&x=%2e%2e");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 36);
}

#[test]
fn percent_encoded_names_are_decoded_once() {
    let root = crate::util::Dir::docroot();
    root.write("a b.html", b"spaced");
    root.write("%41.html", b"literal percent");
    let server = TestServer::start_in(root, &[]);
    assert_eq!(server.get("/a%20b.html").body, b"spaced");
    assert_eq!(server.get("/%2541.html").body, b"literal percent");
}

/// Writes `body` to `name` under `root` with a modification time an hour ago, so the
/// file cache may keep it at once.
fn write_old(root: &std::path::Path, name: &str, body: &[u8]) {
    let path = root.join(name);
    std::fs::write(&path, body).unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
}

fn metric(server: &TestServer, name: &str) -> u64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn small_files_are_cached_yet_never_served_stale() {
    let server = TestServer::start(&[]);
    let root = server.root.path().to_path_buf();
    write_old(&root, "page.html", b"first version");
    for _ in 0..3 {
        assert_eq!(server.get("/page.html").body, b"first version");
    }
    assert!(metric(&server, "httpd_file_cache_hits_total") >= 2);
    assert!(metric(&server, "httpd_file_cache_entries") >= 1);
    let etag = server.get("/page.html").header("etag").unwrap().to_string();

    // Rewritten in place, same size and then another size: the next GET sees it.
    std::fs::write(root.join("page.html"), b"FIRST VERSION").unwrap();
    let r = server.get("/page.html");
    assert_eq!(r.body, b"FIRST VERSION");
    assert_ne!(r.header("etag").unwrap(), etag);
    write_old(&root, "page.html", b"second, longer version");
    assert_eq!(server.get("/page.html").body, b"second, longer version");
    assert_eq!(server.get("/page.html").body, b"second, longer version");

    // Replaced by rename (as deploy tools do), then removed.
    write_old(&root, "next.tmp", b"renamed into place");
    std::fs::rename(root.join("next.tmp"), root.join("page.html")).unwrap();
    assert_eq!(server.get("/page.html").body, b"renamed into place");
    std::fs::remove_file(root.join("page.html")).unwrap();
    assert_eq!(server.get("/page.html").status, 404);

    // A link swapped in for a cached file that leads out of the root is refused.
    write_old(&root, "swap.html", b"inside");
    assert_eq!(server.get("/swap.html").body, b"inside");
    assert_eq!(server.get("/swap.html").body, b"inside");
    let outside = crate::util::Dir::new();
    write_old(outside.path(), "secret.html", b"outside");
    std::fs::remove_file(root.join("swap.html")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.html"), root.join("swap.html")).unwrap();
    let r = server.get("/swap.html");
    assert_eq!(r.status, 403);
    assert!(!r.body.windows(7).any(|w| w == b"outside"));
}

#[test]
fn file_cache_zero_turns_it_off() {
    let server = TestServer::start(&["--file-cache", "0"]);
    write_old(server.root.path(), "page.html", b"uncached");
    for _ in 0..3 {
        assert_eq!(server.get("/page.html").body, b"uncached");
    }
    assert_eq!(metric(&server, "httpd_file_cache_hits_total"), 0);
    assert_eq!(metric(&server, "httpd_file_cache_entries"), 0);
}
