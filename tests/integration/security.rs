//! The seed's security measures: traversal, Host validation, symlinks.

use crate::util::{Dir, TestServer};

#[test]
fn seed_traversal_examples_are_403() {
    let server = TestServer::start(&[]);
    for path in [
        "/../etc/passwd",
        "/../../sensitive.txt",
        "//etc/hosts",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/....//....//etc/passwd",
        "/./././../config",
        "/%2E%2E/etc/passwd.txt",
        "/..%5c..%5cwin.ini",
        "/a/%2e%2e/index.html",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 403, "{path}");
        assert!(!r.text().contains("passwd"), "error page reflects the path");
    }
    assert!(server.wait_for_log("Path traversal/forbidden"));
}

#[test]
fn host_header_is_validated() {
    let server = TestServer::start(&[]);
    let port = server.addr.port();
    let cases: Vec<(String, u16)> = vec![
        (format!("Host: localhost:{port}\r\n"), 200),
        (format!("Host: 127.0.0.1:{port}\r\n"), 200),
        ("Host: localhost\r\n".to_string(), 200),
        ("Host: LOCALHOST\r\n".to_string(), 200),
        ("Host: malicious.com\r\n".to_string(), 403),
        (format!("Host: evil.com:{port}\r\n"), 403),
        ("Host: localhost:1\r\n".to_string(), 403),
        ("Host:\r\n".to_string(), 400),
        (String::new(), 400),
        ("Host: localhost\r\nHost: localhost\r\n".to_string(), 400),
    ];
    for (host, status) in cases {
        let r = server.send(format!("GET / HTTP/1.1\r\n{host}\r\n").as_bytes());
        assert_eq!(r.status, status, "{host:?}");
    }
    assert!(server.wait_for_log("Host validation failed"));
}

#[test]
fn allowed_host_flag_adds_names() {
    let server = TestServer::start(&["--allowed-host", "example.org"]);
    let r = server.send(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
    assert_eq!(r.status, 200);
    let r = server.send(b"GET / HTTP/1.1\r\nHost: example.net\r\n\r\n");
    assert_eq!(r.status, 403);
}

#[test]
fn absolute_form_target_is_validated_by_its_authority() {
    let server = TestServer::start(&[]);
    let r = server.send(b"GET http://localhost/about.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 200);
    let r = server.send(b"GET http://evil.com/about.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 403);
}

#[test]
fn http10_without_host_is_served() {
    let server = TestServer::start(&[]);
    let r = server.send(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn symlink_leaving_the_root_is_refused() {
    let outside = Dir::new();
    outside.write("secret.txt", b"outside secret");
    let root = Dir::docroot();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        root.path().join("leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        root.path().join("sample.txt"),
        root.path().join("alias.txt"),
    )
    .unwrap();
    let server = TestServer::start_in(root, &[]);
    let r = server.get("/leak.txt");
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("outside secret"));
    assert_eq!(server.get("/alias.txt").body, b"plain text\n");
}

/// A docroot with a link to a directory outside it (`etclink`, like `ln -s /etc`), and
/// the outside directory with a configuration tree to hide.
fn root_with_a_link_out() -> (Dir, Dir) {
    let outside = Dir::new();
    outside.write("ssl/openssl.cnf", b"outside config");
    outside.write("ssl/certs/ca.pem", b"outside cert");
    std::fs::create_dir_all(outside.path().join("ssl/private")).unwrap();
    let root = Dir::docroot();
    std::os::unix::fs::symlink(outside.path(), root.path().join("etclink")).unwrap();
    root.write("files/a.txt", b"inside");
    std::os::unix::fs::symlink("a.txt", root.path().join("files/alias.txt")).unwrap();
    std::os::unix::fs::symlink("../sub", root.path().join("files/sublink")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("ssl"), root.path().join("files/ssl")).unwrap();
    (root, outside)
}

#[test]
fn listings_never_follow_links_out_of_the_root() {
    let (root, _outside) = root_with_a_link_out();
    let server = TestServer::start_in(root, &["--dir-listing"]);
    for path in [
        "/etclink/",
        "/etclink/ssl/",
        "/etclink/ssl/private/",
        "/etclink/no-such-dir/",
        "/files/ssl/",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 403, "{path}");
        let page = r.text();
        for hidden in ["openssl", "certs", "private"] {
            assert!(!page.contains(hidden), "{path} shows {hidden}: {page}");
        }
    }
    // Links inside the root are listed as what they lead to; the link out is left out.
    let page = server.get("/files/").text();
    assert!(page.contains("href=\"./a.txt\""), "{page}");
    assert!(page.contains("href=\"./alias.txt\""), "{page}");
    assert!(page.contains("href=\"./sublink/\""), "{page}");
    assert!(!page.contains("ssl"), "{page}");
    assert_eq!(server.get("/files/alias.txt").body, b"inside");
}

#[test]
fn links_out_of_the_root_answer_403_whatever_lies_behind_them() {
    let (root, _outside) = root_with_a_link_out();
    let server = TestServer::start_in(root, &[]);
    // Existing and missing outside paths get the same answer: no 301 reveals a
    // directory, no 404 a missing one.
    for path in [
        "/etclink",
        "/etclink/ssl",
        "/etclink/ssl/private",
        "/etclink/no-such-dir",
        "/etclink/ssl/openssl.cnf",
        "/etclink/ssl/missing.txt",
        "/etclink/",
        "/files/ssl",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 403, "{path}");
        assert!(r.header("location").is_none(), "{path}");
    }
    // Directories inside still redirect, also through a link inside the root.
    assert_eq!(server.get("/sub").status, 301);
    assert_eq!(server.get("/files/sublink").status, 301);
    assert_eq!(server.get("/files/sublink/").body, b"<p>sub index</p>");
}
