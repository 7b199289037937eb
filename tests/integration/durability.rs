//! Durable uploads: a full disk (a file-size limit) answers 507 and leaves nothing, a
//! crash mid-upload publishes nothing and the next start removes its temporary file,
//! and many concurrent uploads each land whole under their own name.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::thread;
use std::time::Instant;

use crate::util::{Client, Dir, IO_TIMEOUT, TestServer};

/// Runs the binary under a soft `RLIMIT_FSIZE` of 64 KiB (`ulimit -f` counts KiB).
const FSIZE_64K: [&str; 3] = ["bash", "-c", r#"ulimit -S -f 64; exec "$0" "$@""#];

/// Returns the names in `uploads/` that are published uploads and temporary files.
fn upload_files(root: &Path) -> (Vec<String>, Vec<String>) {
    let (mut published, mut temps) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(root.join("uploads")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("upload_") && name.ends_with(".json") {
            published.push(name);
        } else if name.starts_with(".upload-") && name.ends_with(".tmp") {
            temps.push(name);
        }
    }
    published.sort();
    temps.sort();
    (published, temps)
}

/// A JSON document of about `len` bytes.
fn json_of_len(len: usize, tag: &str) -> Vec<u8> {
    let pad = "x".repeat(len.saturating_sub(tag.len() + 24));
    format!("{{\"tag\": \"{tag}\", \"pad\": \"{pad}\"}}").into_bytes()
}

fn upload_head(len: usize) -> Vec<u8> {
    format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn file_size_limit_gives_507_and_leaves_no_file() {
    let mut server = TestServer::start_with_prefix(&FSIZE_64K, Dir::docroot(), &[]);
    let body = json_of_len(100 * 1024, "over the file-size limit");
    let mut client = server.connect();
    let mut request = upload_head(body.len());
    request.extend_from_slice(&body);
    // The server may answer and close before it has read the whole body; the answer is
    // what matters, so a failed write is no failure yet.
    let _ = client.stream.write_all(&request);
    let mut first = [0u8; 1];
    let answered = matches!(client.stream.peek(&mut first), Ok(1));
    if !answered {
        // The connection ended without a byte: give a dying server (bounded) time to be
        // reaped, to tell a crash from a silent close.
        let deadline = Instant::now() + IO_TIMEOUT;
        while server.exit_status().is_none() && Instant::now() < deadline {
            thread::yield_now();
        }
    }
    if let Some(status) = server.exit_status() {
        panic!(
            "httpd died writing past RLIMIT_FSIZE ({status}): SIGXFSZ kills a process by \
             default, so the server must ignore it for write(2) to return EFBIG (507); \
             stderr:\n{}",
            server.stderr()
        );
    }
    assert!(answered, "no answer to the upload");
    let r = client.response();
    assert_eq!(r.status, 507, "{}", r.text());
    let (published, temps) = upload_files(server.root.path());
    assert!(published.is_empty(), "published: {published:?}");
    assert!(temps.is_empty(), "temporary files left: {temps:?}");

    // Still serving: a page, and an upload that fits under the limit.
    assert_eq!(server.get("/index.html").status, 200);
    let small = br#"{"small": true}"#;
    let mut raw = upload_head(small.len());
    raw.extend_from_slice(small);
    let r = server.send(&raw);
    assert_eq!(r.status, 201, "{}", r.text());
    let (published, temps) = upload_files(server.root.path());
    assert_eq!(
        (published.len(), temps.len()),
        (1, 0),
        "{published:?} {temps:?}"
    );
    assert_eq!(
        fs::read(server.root.path().join("uploads").join(&published[0])).unwrap(),
        small
    );
}

#[test]
fn kill_9_mid_upload_publishes_nothing_and_restart_removes_the_temp_file() {
    const LEN: usize = 5 * 1024 * 1024;
    let server = TestServer::start(&[]);
    let body = json_of_len(LEN, "killed mid-upload");
    let mut client = server.connect();
    client.write(&upload_head(body.len()));
    client.write(&body[..LEN / 2]);

    // Wait (bounded) until the server is writing the body to its temporary file.
    let uploads = server.root.path().join("uploads");
    let deadline = Instant::now() + IO_TIMEOUT;
    let temp = loop {
        let (_, temps) = upload_files(server.root.path());
        let written = temps
            .iter()
            .find(|t| fs::metadata(uploads.join(t)).is_ok_and(|m| m.len() >= (LEN / 4) as u64));
        if let Some(temp) = written {
            break temp.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no temporary file with a quarter of the body in {IO_TIMEOUT:?}: {temps:?}"
        );
        thread::yield_now();
    };

    let root = server.kill();
    drop(client);
    let (published, temps) = upload_files(root.path());
    assert!(
        published.is_empty(),
        "published after kill -9: {published:?}"
    );
    assert_eq!(temps, vec![temp], "SIGKILL leaves the temporary file");

    // A new server over the same docroot removes it before it listens.
    let server = TestServer::start_in(root, &[]);
    let (published, temps) = upload_files(server.root.path());
    assert!(published.is_empty(), "{published:?}");
    assert!(temps.is_empty(), "stale temporary files kept: {temps:?}");
    assert_eq!(server.get("/index.html").status, 200);
}

#[test]
fn two_hundred_concurrent_uploads_give_two_hundred_whole_files() {
    const N_THREADS: usize = 20;
    const PER_THREAD: usize = 10;
    let server = TestServer::start(&["--threads", "8", "--queue", "200"]);
    let addr = server.addr;
    let handles: Vec<_> = (0..N_THREADS)
        .map(|t| {
            thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        // Sizes from a few bytes to 64 KiB, so some bodies span many reads.
                        let len = 32 + (t * PER_THREAD + i) * 331 % (64 * 1024);
                        let body = json_of_len(len, &format!("upload {t}-{i}"));
                        let mut raw = upload_head(body.len());
                        raw.extend_from_slice(&body);
                        let mut client = Client::connect(addr);
                        client.write(&raw);
                        let r = client.response();
                        assert_eq!(r.status, 201, "upload {t}-{i}: {}", r.text());
                        let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                        let path = json["filepath"].as_str().unwrap().to_string();
                        (path, body)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let stored: Vec<(String, Vec<u8>)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(stored.len(), N_THREADS * PER_THREAD);

    let names: HashSet<&str> = stored.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names.len(), stored.len(), "two uploads share a name");
    for (path, body) in &stored {
        let name = path.strip_prefix("/uploads/").unwrap();
        let on_disk = fs::read(server.root.path().join("uploads").join(name)).unwrap();
        assert!(
            on_disk == *body,
            "{name}: stored bytes differ from the posted ones"
        );
        serde_json::from_slice::<serde_json::Value>(&on_disk).unwrap();
    }
    let (published, temps) = upload_files(server.root.path());
    assert_eq!(published.len(), stored.len());
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
}
