//! Test harness for the connection engine's unit tests: a real server context over a
//! temporary docroot, a worker pool, and connections over loopback sockets that a test
//! drives turn by turn, as a poller would, without a poller thread; plus an allocation
//! counter, to check that the hot path allocates nothing.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use httpd_pool::ThreadPool;
use httpd_security::SafePath;
use mio::{Poll, Waker};

use crate::conn::{Conn, Drive, Env};
use crate::jobs::{Done, Job, Returner};
use crate::monitor::Overload;
use crate::plan::Peer;
use crate::transport::{READ_CHUNK, Transport};
use crate::{Config, Context, Server};

/// Counts the allocations of the threads that asked for it.
pub(crate) struct CountingAlloc;

thread_local! {
    /// Allocations made by this thread while counting; `None` when not counting.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: every call is passed unchanged to the system allocator, which upholds the
// `GlobalAlloc` contract; the only addition is bumping a thread-local counter, which
// neither allocates nor touches the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as for `dealloc`; `new_size` is the caller's, checked by it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn bump() {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = COUNT.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Runs `f` and returns how many allocations this thread made meanwhile.
pub(crate) fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.take()).unwrap_or(0)
}

/// A unique temporary directory, removed on drop.
pub(crate) struct TempRoot {
    pub(crate) path: PathBuf,
}

impl TempRoot {
    pub(crate) fn new() -> TempRoot {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "httpd-server-kit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("uploads")).unwrap();
        TempRoot { path }
    }

    /// Writes a file, its mtime an hour back so the file cache may hold it.
    pub(crate) fn write_old(&self, rel: &str, bytes: &[u8]) {
        let path = self.path.join(rel);
        std::fs::write(&path, bytes).unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(old).unwrap();
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A server context with its pool, for driving connections by hand.
pub(crate) struct Kit {
    pub(crate) ctx: Arc<Context>,
    pub(crate) pool: ThreadPool<Job>,
    pub(crate) back: Receiver<Done>,
    _poll: Poll,
    overload: Overload,
    scratch: Vec<u8>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    next_serial: u64,
    path_buf: SafePath,
    listener: TcpListener,
    next_token: usize,
    by: Arc<str>,
    pub(crate) root: TempRoot,
}

impl Kit {
    /// A context over `root`, with the defaults but for what `tweak` changes.
    pub(crate) fn new(root: TempRoot, tweak: impl FnOnce(&mut Config)) -> Kit {
        let mut config = Config {
            root: root.path.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            n_pollers: 1,
            access_log: false,
            ..Config::default()
        };
        tweak(&mut config);
        let n_workers = config.n_workers;
        let queue = config.queue_capacity;
        let server = Server::bind(config).unwrap();
        let ctx = Arc::clone(&server.ctx);
        drop(server);
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (tx, back) = crossbeam_channel::unbounded();
        let returners = vec![Returner::new(tx, waker)];
        let pool_ctx = Arc::clone(&ctx);
        let pool = httpd_pool::Builder::new()
            .workers(n_workers)
            .queue_capacity(queue)
            .name_prefix("kit-worker")
            .build(move |job: Job| crate::jobs::run(job, &pool_ctx, &returners))
            .unwrap();
        let path_buf = SafePath::empty(&ctx.root);
        Kit {
            overload: Overload::new(Arc::clone(&ctx)),
            ctx,
            pool,
            back,
            _poll: poll,
            scratch: vec![0; READ_CHUNK],
            rbuf: Vec::with_capacity(READ_CHUNK),
            wbuf: Vec::with_capacity(READ_CHUNK),
            next_serial: 0,
            path_buf,
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            next_token: 0,
            by: Arc::from("kit-poll"),
            root,
        }
    }

    /// A new plain connection: the server side as a [`Conn`], and the client.
    pub(crate) fn connect(&mut self) -> (Conn, Client) {
        let client = TcpStream::connect(self.listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (server, peer) = self.listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        server.set_nodelay(true).unwrap();
        self.next_token += 1;
        let peer = Peer {
            addr: peer,
            https: false,
        };
        let conn = Conn::new(
            self.next_token,
            peer,
            Transport::Plain(server),
            Instant::now(),
        );
        (
            conn,
            Client {
                stream: client,
                buf: Vec::new(),
            },
        )
    }

    /// Runs `f` on `conn` with an environment like a poller's.
    pub(crate) fn with_env(
        &mut self,
        conn: &mut Conn,
        f: impl FnOnce(&mut Conn, &mut Env<'_>) -> Drive,
    ) -> Drive {
        let mut env = Env {
            ctx: &self.ctx,
            pool: &self.pool,
            home: 0,
            by: &self.by,
            now: Instant::now(),
            scratch: &mut self.scratch,
            rbuf: &mut self.rbuf,
            wbuf: &mut self.wbuf,
            next_serial: &mut self.next_serial,
            wants_retry: false,
            overload: &mut self.overload,
            path_buf: &mut self.path_buf,
        };
        f(conn, &mut env)
    }

    /// Drives `conn` after a readiness event, as a poller would.
    pub(crate) fn drive(&mut self, conn: &mut Conn) -> Drive {
        conn.ready(true, true);
        self.with_env(conn, |conn, env| conn.drive(env))
    }

    /// Waits for the next job result and hands it to `conn`.
    pub(crate) fn finish_job(&mut self, conn: &mut Conn) -> Drive {
        let done = self
            .back
            .recv_timeout(Duration::from_secs(5))
            .expect("a job result within 5 s");
        self.with_env(conn, |conn, env| conn.job_done(done, env))
    }
}

/// The client side of a test connection, reading responses one at a time.
pub(crate) struct Client {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Writes all of `bytes`.
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one response with a `Content-Length` body; returns its head and body.
    pub(crate) fn response(&mut self) -> (String, Vec<u8>) {
        let mut chunk = [0u8; 16384];
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "closed before a response");
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        while self.buf.len() < head_end + len {
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "closed mid-body");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        (head, body)
    }

    /// Tells whether nothing is waiting to be read (without blocking).
    pub(crate) fn nothing_to_read(&mut self) -> bool {
        self.stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let empty = matches!(self.stream.read(&mut byte), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock);
        self.stream.set_nonblocking(false).unwrap();
        empty && self.buf.is_empty()
    }

    /// Tells whether the server closed the connection.
    pub(crate) fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}
