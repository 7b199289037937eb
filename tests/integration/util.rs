//! Test harness: a real `httpd` process on port 0 over a temporary docroot, and a raw
//! socket client that sends literal bytes and parses responses strictly.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Timeout for every client read and write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`TestServer::terminate`] waits for the process to exit after SIGTERM.
pub const TERMINATE_LIMIT: Duration = Duration::from_secs(20);

/// A unique temporary directory, removed on drop.
pub struct Dir {
    path: PathBuf,
}

impl Dir {
    /// Creates an empty unique directory.
    pub fn new() -> Dir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("httpd-it-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Dir { path }
    }

    /// Creates a docroot with small fixture files and an `uploads/` folder.
    pub fn docroot() -> Dir {
        let dir = Dir::new();
        dir.write("index.html", b"<!DOCTYPE html><title>home</title>\n");
        dir.write("about.html", b"<!DOCTYPE html><title>about</title>\n");
        dir.write("sample.txt", b"plain text\n");
        dir.write("logo.png", &png_bytes());
        dir.write("photo.jpg", &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9]);
        dir.write("photo2.JPEG", b"jpeg-ish");
        dir.write("script.php", b"<?php echo 1; ?>");
        dir.write(".hidden.html", b"secret");
        dir.write("sub/index.html", b"<p>sub index</p>");
        fs::create_dir_all(dir.path.join("uploads")).unwrap();
        dir
    }

    /// Returns the directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a file below the directory, creating parents.
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, bytes).unwrap();
    }

    /// Writes a file of `len` bytes in a pattern that does not compress; returns them.
    pub fn write_large(&self, rel: &str, len: usize) -> Vec<u8> {
        let mut state: u32 = 0x9E37_79B9;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                // xorshift32: cheap bytes with no structure for a compressor to find.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        self.write(rel, &bytes);
        bytes
    }

    /// Lists the regular files in `uploads/`.
    pub fn uploads(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path.join("uploads"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn png_bytes() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend((0..200u8).collect::<Vec<_>>());
    v
}

/// A running `httpd`, killed on drop.
pub struct TestServer {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Further addresses from extra `--listen` flags, in order.
    pub extra_addrs: Vec<SocketAddr>,
    /// Its docroot (kept alive as long as the server).
    pub root: Dir,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server over a fresh fixture docroot with extra flags.
    pub fn start(extra: &[&str]) -> TestServer {
        TestServer::start_in(Dir::docroot(), extra)
    }

    /// Starts a server over `root` with extra flags.
    pub fn start_in(root: Dir, extra: &[&str]) -> TestServer {
        TestServer::start_command(Command::new(env!("CARGO_BIN_EXE_httpd")), root, extra)
    }

    /// Starts a server over `root` through `prefix`: a program and its arguments that
    /// run the binary path and flags appended to them, e.g.
    /// `["bash", "-c", r#"ulimit -S -f 64; exec "$0" "$@""#]` to start it under a
    /// file-size limit.
    pub fn start_with_prefix(prefix: &[&str], root: Dir, extra: &[&str]) -> TestServer {
        let mut command = Command::new(prefix[0]);
        command.args(&prefix[1..]).arg(env!("CARGO_BIN_EXE_httpd"));
        TestServer::start_command(command, root, extra)
    }

    /// Returns the exit status if the process has exited, without waiting.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Kills the process with SIGKILL (it gets no chance to clean up), reaps it, and
    /// returns its docroot for another server.
    pub fn kill(mut self) -> Dir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        // An empty placeholder takes the docroot's place; it goes with `self`.
        std::mem::replace(&mut self.root, Dir::new())
    }

    /// Starts `command` (the binary, or a prefix that runs it) with the usual flags.
    fn start_command(mut command: Command, root: Dir, extra: &[&str]) -> TestServer {
        let mut child = command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--root")
            .arg(root.path())
            .args(["--log-level", "debug"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn httpd");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        let n_extra = extra.iter().filter(|a| **a == "--listen").count();
        let extra_addrs = (0..n_extra)
            .map(|_| {
                let mut line = String::new();
                lines.read_line(&mut line).unwrap();
                line.trim()
                    .strip_prefix("listening on http://")
                    .unwrap_or_else(|| panic!("unexpected line {line:?}"))
                    .parse()
                    .unwrap()
            })
            .collect();
        // Keep draining stdout (access lines) so the server never blocks on it.
        let stdout = Arc::new(Mutex::new(String::new()));
        let collected_out = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in lines.lines() {
                let Ok(line) = line else { break };
                let mut all = collected_out.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let collected = Arc::clone(&stderr);
        let pipe = child.stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut all = collected.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        TestServer {
            child,
            addr,
            extra_addrs,
            root,
            stderr,
            stdout,
            stderr_reader: Some(stderr_reader),
        }
    }

    /// Returns the server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns what the server wrote to stdout after its listening lines so far
    /// (access lines, unless they go to a file).
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Opens a client connection.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Sends one request on a new connection and reads one response.
    pub fn send(&self, raw: &[u8]) -> Response {
        let mut client = self.connect();
        client.write(raw);
        client.response()
    }

    /// A `GET` with the right Host.
    pub fn get(&self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
    }

    /// Returns the server's stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle` (bounded by the 5 s I/O timeout).
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            std::thread::yield_now();
        }
        false
    }

    /// Sends the signal `name` (`TERM`, `INT`, `HUP`, ...) with `kill`.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(&pid)
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid}: {status:?}");
    }

    /// Waits (at most `limit`) for the process to exit on its own; returns the exit
    /// status with the whole stderr.
    ///
    /// # Panics
    /// When the process is still running after `limit` (it is killed on drop).
    pub fn wait_exit(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running after {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::yield_now();
        };
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().unwrap();
        }
        (status, self.stderr())
    }

    /// Sends SIGTERM, waits (at most [`TERMINATE_LIMIT`]) for the exit status, and
    /// returns it with the whole stderr.
    ///
    /// # Panics
    /// When the process is still running after [`TERMINATE_LIMIT`]: it is then killed
    /// (on drop), so a server that hangs on shutdown fails the test instead of hanging
    /// the run.
    pub fn terminate(self) -> (std::process::ExitStatus, String) {
        self.signal("TERM");
        self.wait_exit(TERMINATE_LIMIT)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers by lowercase name (last one wins; `all` keeps every line).
    pub headers: HashMap<String, String>,
    /// Every header line as sent.
    pub all: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Returns a header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Returns the body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw client connection with its own read buffer.
pub struct Client<S: Read + Write = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
}

impl Client {
    /// Connects with 5 s timeouts.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client::over(stream)
    }
}

impl<S: Read + Write> Client<S> {
    /// A client over an open stream (a TLS stream, say); the caller sets its timeouts.
    pub fn over(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes.
    pub fn write(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
    }

    /// Reads one response to a request that is not HEAD.
    pub fn response(&mut self) -> Response {
        self.read_response(false)
    }

    /// Reads one response; `head` means no body follows whatever the headers say.
    pub fn read_response(&mut self, head: bool) -> Response {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill() > 0, "connection closed before a response head");
        };
        let head_text = String::from_utf8(self.buf[..end].to_vec()).expect("ascii head");
        self.buf.drain(..end);
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status: u16 = parts.next().unwrap().parse().unwrap();
        let mut headers = HashMap::new();
        let mut all = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').expect("header line");
            let value = value.trim().to_string();
            headers.insert(name.to_ascii_lowercase(), value.clone());
            all.push((name.to_string(), value));
        }
        let mut response = Response {
            status,
            headers,
            all,
            body: Vec::new(),
        };
        if head || status < 200 || status == 204 || status == 304 {
            return response;
        }
        if response.header("transfer-encoding").is_some() {
            response.body = self.read_chunked();
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                assert!(self.fill() > 0, "connection closed mid-body");
            }
            response.body = self.buf.drain(..len).collect();
        } else {
            while self.fill() > 0 {}
            response.body = std::mem::take(&mut self.buf);
        }
        response
    }

    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                assert!(self.fill() > 0, "closed in chunk size");
            };
            let size_text = String::from_utf8(self.buf[..line_end].to_vec()).unwrap();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap(), 16).unwrap();
            self.buf.drain(..line_end + 2);
            if size == 0 {
                while find(&self.buf, b"\r\n").is_none() {
                    assert!(self.fill() > 0);
                }
                let end = find(&self.buf, b"\r\n").unwrap();
                self.buf.drain(..end + 2);
                return body;
            }
            while self.buf.len() < size + 2 {
                assert!(self.fill() > 0, "closed in chunk data");
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16384];
        let n = read_retrying(&mut self.stream, &mut chunk).expect("read within the timeout");
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Tells whether the server closed the connection (EOF with nothing buffered);
    /// a reset counts as closed too.
    pub fn is_closed_by_server(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        match read_retrying(&mut self.stream, &mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
            Err(e) => panic!("expected the server to close, got {e}"),
        }
    }
}

impl Client {
    /// Sends `bytes` one at a time, waiting up to `pause` for an answer after each;
    /// stops at the first byte of an answer (kept for [`response`](Client::response)), or
    /// when the server no longer takes bytes. Returns how many bytes were sent.
    pub fn drip(&mut self, bytes: &[u8], pause: std::time::Duration) -> usize {
        self.stream.set_read_timeout(Some(pause)).unwrap();
        let mut n_sent = 0;
        let mut chunk = [0u8; 16384];
        for byte in bytes {
            if self.stream.write_all(std::slice::from_ref(byte)).is_err() {
                break;
            }
            n_sent += 1;
            match read_retrying(&mut self.stream, &mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    break;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        n_sent
    }

    /// Reads exactly `len` more bytes (a body after [`read_response`](Client::read_response)
    /// with `head` set).
    pub fn read_bytes(&mut self, len: usize) -> Vec<u8> {
        while self.buf.len() < len {
            assert!(self.fill() > 0, "connection closed mid-body");
        }
        self.buf.drain(..len).collect()
    }

    /// Reads until the server closes (EOF or reset); returns how many bytes came,
    /// counting those already buffered.
    pub fn read_until_closed(&mut self) -> usize {
        let mut total = std::mem::take(&mut self.buf).len();
        let mut chunk = [0u8; 65536];
        loop {
            match read_retrying(&mut self.stream, &mut chunk) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return total,
                Err(e) => panic!("expected the server to close, got {e}"),
            }
        }
    }

    /// Half-closes the client side.
    pub fn shutdown_write(&self) {
        self.stream.shutdown(Shutdown::Write).unwrap();
    }
}

/// Waits until `done` returns true, checking again and again for at most [`IO_TIMEOUT`];
/// returns whether it did.
pub fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::yield_now();
    }
    done()
}

/// Reads once, again when a signal interrupted the call (EINTR is not an answer).
fn read_retrying(stream: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
