//! Deployments under a running server: a document root replaced atomically (a link
//! flipped, a directory renamed over) is served without a restart, and two instances
//! sharing one docroot never remove each other's uploads in progress; listening
//! sockets handed over by systemd's socket activation protocol are served.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::thread;
use std::time::Instant;

use crate::util::{Client, Dir, IO_TIMEOUT, TestServer, wait_until};

/// Writes `body` to `rel` under `base` with an mtime an hour ago, so the file cache
/// keeps it at once.
fn write_old(base: &Path, rel: &str, body: &[u8]) {
    let path = base.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, body).unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
}

/// Lays out one release of the site under `base/dir`.
fn release(base: &Path, dir: &str, name: &str) {
    write_old(
        base,
        &format!("{dir}/index.html"),
        format!("<p>{name}</p>").as_bytes(),
    );
    write_old(base, &format!("{dir}/only-in-{name}.html"), name.as_bytes());
    fs::create_dir_all(base.join(format!("{dir}/section-{name}"))).unwrap();
    fs::create_dir_all(base.join(format!("{dir}/uploads"))).unwrap();
}

/// Asks for `path` until the body is `body` (bounded); tells whether it came.
fn serves(server: &TestServer, path: &str, body: &[u8]) -> bool {
    wait_until(|| {
        let r = server.get(path);
        r.status == 200 && r.body == body
    })
}

/// Checks that the second release is served, wholly and alone.
fn serves_only_the_new_release(server: &TestServer) {
    assert_eq!(server.get("/index.html").body, b"<p>new</p>");
    assert_eq!(server.get("/only-in-new.html").status, 200);
    assert_eq!(server.get("/only-in-old.html").status, 404);
    assert_eq!(server.get("/section-new").status, 301);
    assert_eq!(server.get("/section-old").status, 415);
}

#[test]
fn a_flipped_root_link_is_served_without_a_restart() {
    let base = Dir::new();
    release(base.path(), "releases/1", "old");
    release(base.path(), "releases/2", "new");
    symlink("releases/1", base.path().join("current")).unwrap();
    let current = base.path().join("current");
    let server = TestServer::start_in(base, &["--root", current.to_str().unwrap()]);
    for _ in 0..2 {
        // Twice: the second answer may come from the file cache.
        assert_eq!(server.get("/index.html").body, b"<p>old</p>");
    }
    assert_eq!(server.get("/section-old").status, 301);

    // `ln -sfn releases/2 current`, done atomically as deployment tools do.
    let base = server.root.path();
    symlink("releases/2", base.join("current.tmp")).unwrap();
    fs::rename(base.join("current.tmp"), base.join("current")).unwrap();
    assert!(
        serves(&server, "/index.html", b"<p>new</p>"),
        "still serving the old release"
    );
    serves_only_the_new_release(&server);

    // Uploads follow the release served.
    let body = br#"{"deployed": 2}"#;
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    assert_eq!(server.send(&raw).status, 201);
    let uploads = |release: &str| {
        fs::read_dir(base.join(release).join("uploads"))
            .unwrap()
            .count()
    };
    assert_eq!((uploads("releases/1"), uploads("releases/2")), (0, 1));

    // The old release removed, as the next deployment's cleanup does.
    fs::remove_dir_all(base.join("releases/1")).unwrap();
    serves_only_the_new_release(&server);
}

#[test]
fn a_root_renamed_over_is_served_without_a_restart() {
    let base = Dir::new();
    release(base.path(), "site", "old");
    release(base.path(), "site.new", "new");
    let site = base.path().join("site");
    let server = TestServer::start_in(base, &["--root", site.to_str().unwrap()]);
    for _ in 0..2 {
        assert_eq!(server.get("/index.html").body, b"<p>old</p>");
    }

    // `mv site site.old && mv site.new site`.
    let base = server.root.path();
    fs::rename(base.join("site"), base.join("site.old")).unwrap();
    fs::rename(base.join("site.new"), base.join("site")).unwrap();
    assert!(
        serves(&server, "/index.html", b"<p>new</p>"),
        "still serving the old tree"
    );
    serves_only_the_new_release(&server);
    fs::remove_dir_all(base.join("site.old")).unwrap();
    serves_only_the_new_release(&server);
}

/// The head of an upload of `len` bytes.
fn upload_head(len: usize) -> Vec<u8> {
    format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
    .into_bytes()
}

/// Returns the names of the upload temporary files under `root`.
fn temp_files(root: &Path) -> Vec<(String, u64)> {
    let mut temps: Vec<(String, u64)> = fs::read_dir(root.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.metadata().map_or(0, |m| m.len()))
        })
        .filter(|(name, _)| name.starts_with(".upload-") && name.ends_with(".tmp"))
        .collect();
    temps.sort();
    temps
}

#[test]
fn restarting_one_of_two_instances_keeps_the_others_upload_in_progress() {
    const LEN: usize = 2 * 1024 * 1024;
    let docroot = Dir::docroot();
    let shared = docroot.path().to_str().unwrap().to_string();
    let b = TestServer::start_in(docroot, &[]);
    let a = TestServer::start_in(Dir::new(), &["--root", &shared]);

    // B receives half of a large upload; it is written to a temporary file as it comes.
    let pad = "x".repeat(LEN - 16);
    let body = format!("{{\"pad\": \"{pad}\"}}").into_bytes();
    let mut client = b.connect();
    client.write(&upload_head(body.len()));
    client.write(&body[..LEN / 2]);
    let deadline = Instant::now() + IO_TIMEOUT;
    let temp = loop {
        let temps = temp_files(Path::new(&shared));
        if let Some((name, _)) = temps.iter().find(|(_, len)| *len >= (LEN / 4) as u64) {
            break name.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no temporary file filling up: {temps:?}"
        );
        thread::yield_now();
    };

    // A restarts: its successor cleans the shared upload directory before it listens.
    let (status, stderr) = a.terminate();
    assert!(status.success(), "{status:?}\n{stderr}");
    let a = TestServer::start_in(Dir::new(), &["--root", &shared]);
    assert_eq!(a.get("/index.html").status, 200);
    let temps = temp_files(Path::new(&shared));
    assert!(
        temps.iter().any(|(name, _)| *name == temp),
        "B's upload in progress was removed: {temps:?}"
    );

    // B's upload completes and is stored whole.
    client.write(&body[LEN / 2..]);
    let r = client.response();
    assert_eq!(r.status, 201, "{}", r.text());
    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let name = json["filepath"]
        .as_str()
        .unwrap()
        .strip_prefix("/uploads/")
        .unwrap();
    let stored = fs::read(Path::new(&shared).join("uploads").join(name)).unwrap();
    assert!(
        stored == body,
        "the stored upload differs from the one sent"
    );
    assert!(temp_files(Path::new(&shared)).is_empty());
}

/// A `sh -c` script that moves descriptor `fd` to 3, says so in `LISTEN_PID` and
/// `LISTEN_FDS` as systemd does, and runs the program and arguments after it.
fn activation_script(fd: i32) -> String {
    let dup = if fd == 3 {
        String::new()
    } else {
        format!("exec 3<&{fd} {fd}<&-; ")
    };
    format!(r#"{dup}export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@""#)
}

/// Makes `listener` inheritable by the next child (it is close-on-exec otherwise).
fn inheritable(listener: &std::net::TcpListener, yes: bool) {
    use rustix::io::{FdFlags, fcntl_setfd};
    let flags = if yes {
        FdFlags::empty()
    } else {
        FdFlags::CLOEXEC
    };
    fcntl_setfd(listener, flags).unwrap();
}

#[test]
fn a_socket_handed_over_by_socket_activation_is_served_with_what_waited_in_it() {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A client that connects and asks before any server process exists.
    let mut early = Client::connect(addr);
    early.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let script = activation_script(listener.as_raw_fd());
    inheritable(&listener, true);
    let listen = addr.to_string();
    let server = TestServer::start_with_prefix(
        &["sh", "-c", &script],
        Dir::docroot(),
        &["--listen", &listen],
    );
    inheritable(&listener, false);
    drop(listener);
    // The address was not bound again (that would fail: the socket holds it).
    assert_eq!(server.extra_addrs, vec![addr]);
    let r = early.response();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("ok"), "{}", r.text());
    let mut later = Client::connect(addr);
    later.write(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(later.response().status, 200);
    assert!(server.wait_for_log("Taking over 1 inherited listening socket"));
}

#[test]
fn a_handed_over_descriptor_that_is_unusable_or_unclaimed_stops_the_start() {
    use std::os::fd::AsRawFd;
    let root = Dir::docroot();
    let start = |script: &str, listen: &str| {
        std::process::Command::new("sh")
            .args(["-c", script, env!("CARGO_BIN_EXE_httpd")])
            .args(["--listen", listen, "--root"])
            .arg(root.path())
            .output()
            .unwrap()
    };
    // Not a socket.
    let out = start(
        r#"exec 3</dev/null; export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@""#,
        "127.0.0.1:0",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inherited descriptor 3 is not a socket"),
        "{err}"
    );
    // Fewer descriptors than LISTEN_FDS says.
    let out = start(
        r#"exec 3<&- 4<&-; export LISTEN_PID=$$ LISTEN_FDS=2; exec "$0" "$@""#,
        "127.0.0.1:0",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not open"), "{err}");
    // A listening socket no --listen names.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let script = activation_script(listener.as_raw_fd());
    inheritable(&listener, true);
    let out = start(&script, "127.0.0.1:0");
    inheritable(&listener, false);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("inherited listening socket {addr} matches no")),
        "{err}"
    );
    // Variables meant for another process are not this one's: it starts as usual.
    let server = TestServer::start_with_prefix(
        &[
            "sh",
            "-c",
            r#"exec 3</dev/null; export LISTEN_PID=1 LISTEN_FDS=1; exec "$0" "$@""#,
        ],
        root,
        &[],
    );
    assert_eq!(server.get("/healthz").status, 200);
}
