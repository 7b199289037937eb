//! POST /upload: JSON only, whole bodies, unique names, limits.

use crate::util::TestServer;

fn post(server: &TestServer, content_type: &str, body: &[u8]) -> crate::util::Response {
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    server.send(&raw)
}

fn is_upload_name(name: &str) -> bool {
    // upload_YYYYMMDD_HHMMSS_XXXX.json
    let b = name.as_bytes();
    name.len() == "upload_20240315_123456_a7b9.json".len()
        && name.starts_with("upload_")
        && name.ends_with(".json")
        && b[7..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'_'
        && b[16..22].iter().all(u8::is_ascii_digit)
        && b[22] == b'_'
        && b[23..27].iter().all(u8::is_ascii_hexdigit)
}

#[test]
fn json_upload_is_created_with_the_seed_body() {
    let server = TestServer::start(&[]);
    let body = br#"{"name": "test", "value": 123}"#;
    let r = post(&server, "application/json", body);
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.text().starts_with(r#"{"status":"success","message":"File created successfully","filepath":"/uploads/upload_"#),
        "seed field order: {}",
        r.text()
    );
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["status"], "success");
    assert_eq!(json["message"], "File created successfully");
    let filepath = json["filepath"].as_str().unwrap();
    assert_eq!(r.header("location"), Some(filepath));
    let name = filepath.strip_prefix("/uploads/").unwrap();
    assert!(is_upload_name(name), "{name}");
    assert_eq!(server.root.uploads(), vec![name.to_string()]);
    let stored = std::fs::read(server.root.path().join("uploads").join(name)).unwrap();
    assert_eq!(stored, body);
}

#[test]
fn charset_parameter_is_accepted() {
    let server = TestServer::start(&[]);
    let r = post(&server, "application/json; charset=utf-8", b"[1,2,3]");
    assert_eq!(r.status, 201);
}

#[test]
fn other_content_types_are_415() {
    let server = TestServer::start(&[]);
    for ct in [
        "text/html",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "text/plain",
    ] {
        let r = post(&server, ct, b"{}");
        assert_eq!(r.status, 415, "{ct}");
    }
    assert!(server.root.uploads().is_empty());
}

#[test]
fn invalid_json_is_400_and_leaves_no_file() {
    let server = TestServer::start(&[]);
    for body in [
        &b"{not json"[..],
        b"",
        b"{} {}",
        b"<script>alert(1)</script>",
    ] {
        let r = post(&server, "application/json", body);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
    }
    assert!(server.root.uploads().is_empty());
}

#[test]
fn bodies_larger_than_8k_are_stored_whole() {
    let server = TestServer::start(&[]);
    let items: Vec<String> = (0..20_000).map(|i| format!("\"item-{i}\"")).collect();
    let body = format!("[{}]", items.join(","));
    assert!(body.len() > 100 * 1024);
    let r = post(&server, "application/json", body.as_bytes());
    assert_eq!(r.status, 201);
    let names = server.root.uploads();
    let stored = std::fs::read(server.root.path().join("uploads").join(&names[0])).unwrap();
    assert_eq!(stored, body.as_bytes());
}

#[test]
fn declared_body_over_the_limit_is_413_before_it_is_sent() {
    let server = TestServer::start(&["--max-body", "1K"]);
    let mut c = server.connect();
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(server.root.uploads().is_empty());
}

#[test]
fn chunked_body_over_the_limit_is_413() {
    let server = TestServer::start(&["--max-body", "1K"]);
    let mut c = server.connect();
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("800\r\n[{}]\r\n", "1".repeat(0x800 - 2));
    c.write(chunk.as_bytes());
    let r = c.response();
    assert_eq!(r.status, 413);
    assert!(server.root.uploads().is_empty());
}

#[test]
fn chunked_upload_is_stored() {
    let server = TestServer::start(&[]);
    let r = server.send(
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\nTrailer: x\r\n\r\n",
    );
    assert_eq!(r.status, 201);
    let names = server.root.uploads();
    let stored = std::fs::read(server.root.path().join("uploads").join(&names[0])).unwrap();
    assert_eq!(stored, b"{\"a\": 1}");
}

#[test]
fn post_without_length_is_411() {
    let server = TestServer::start(&[]);
    let r = server.send(
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\r\n",
    );
    assert_eq!(r.status, 411);
}

#[test]
fn expect_continue_gets_an_interim_response() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.response();
    assert_eq!(interim.status, 100);
    c.write(b"{}");
    assert_eq!(c.response().status, 201);
}

#[test]
fn concurrent_uploads_get_distinct_complete_files() {
    let server = TestServer::start(&[]);
    let n = 40;
    let posted: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let server = &server;
                s.spawn(move || {
                    let body = format!("{{\"i\": {i}, \"pad\": \"{}\"}}", "x".repeat(i * 97));
                    let r = post(server, "application/json", body.as_bytes());
                    assert_eq!(r.status, 201, "{}", r.text());
                    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                    (json["filepath"].as_str().unwrap().to_string(), body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names = server.root.uploads();
    assert_eq!(names.len(), n, "{names:?}");
    // Each upload is stored whole, under the name its answer gave, and nowhere else.
    for (filepath, body) in &posted {
        let name = filepath.strip_prefix("/uploads/").unwrap();
        assert!(is_upload_name(name), "{name}");
        let stored =
            std::fs::read_to_string(server.root.path().join("uploads").join(name)).unwrap();
        assert_eq!(stored, *body, "{name}");
    }
    let mut answered: Vec<&str> = posted
        .iter()
        .map(|(p, _)| p.strip_prefix("/uploads/").unwrap())
        .collect();
    answered.sort_unstable();
    names.sort();
    assert_eq!(answered, names);
}

#[test]
fn post_elsewhere_is_405() {
    let server = TestServer::start(&[]);
    let r =
        server.send(b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
}
