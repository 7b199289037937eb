//! The httpd server: listeners, pollers, the connection state machine and routing,
//! composed from httpd-proto, httpd-security, httpd-files and httpd-pool.
//!
//! # Layers
//!
//! Transport → protocol → request handling:
//!
//! - the **transport** (`transport.rs`) is plain TCP or TLS (rustls), nonblocking;
//! - the **protocol** (`h1.rs`) is HTTP/1.1 (the slot beside it is where HTTP/2 goes);
//! - **request handling** decides once per request (`plan.rs`) whether to answer at
//!   once or to hand blocking work to a worker (`jobs.rs`), and writes the answer
//!   (`out.rs`, `response.rs`, `files.rs`).
//!
//! # Threads and ownership
//!
//! [`Server::run`] starts the pollers (threads named `httpd-poll-N`, one per CPU by
//! default, [`Config::n_pollers`]) and a fixed [`httpd_pool::ThreadPool`] of
//! `n_workers` threads (`httpd-worker-N`). A connection belongs to the poller that
//! accepted it from accept to close: the poller does every read and write on its
//! socket, heads, bodies and answers of every size, resuming a `sendfile` or a TLS
//! write when the socket would block. Workers only run jobs that block on the disk or
//! the CPU (uncached opens, listings, gzip, upload writes and commits); a job never
//! touches a socket, so no client, however slow, holds a worker. The pool's queue holds
//! at most `queue_capacity` jobs; a request whose job finds it full gets `503` with
//! `Retry-After: 5` if no byte of its answer was written yet, else its connection
//! closes. At most `max_connections` connections are open at once; beyond that a new
//! connection gets the same 503 and is closed.
//!
//! Time limits: an idle keep-alive connection closes after the idle timeout; a head
//! (and a TLS handshake) must be complete within the header timeout from its first
//! byte, else 408; a body must keep a minimum pace; a blocked write gives up after the
//! write timeout. Every read is bounded in size and time.
//!
//! This crate is the only one that opens sockets. It logs with the `log` macros: one line
//! per response on the `access` target, diagnostics on the others.
//!
//! # Example
//! ```no_run
//! use httpd_server::{Config, Server};
//!
//! let mut config = Config::default();
//! config.listen = "127.0.0.1:0".parse().expect("valid address");
//! let server = Server::bind(config)?;
//! println!("listening on http://{}", server.local_addr());
//! let stop = server.shutdown_handle();
//! std::thread::spawn(move || stop.shutdown());
//! server.run()?;
//! # Ok::<(), httpd_server::ServerError>(())
//! ```
#![deny(missing_docs)]

mod access;
mod conn;
mod error;
mod files;
mod h1;
mod jobs;
mod listener;
mod metrics;
mod monitor;
mod out;
mod plan;
mod poller;
mod response;
mod site;
mod sys;
#[cfg(test)]
mod testkit;
mod timer;
mod tls;
mod transport;
mod web;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use httpd_files::UploadStore;
use httpd_pool::ThreadPool;
use httpd_security::HostPolicy;
use mio::{Poll, Waker};

pub use crate::access::AccessFormat;
pub use crate::error::status_text;
pub use crate::files::FileOptions;
pub use crate::site::{
    ERROR_PAGE_CACHE_BYTES, ERROR_PAGE_MAX_BYTES, EtagMode, SitePathError, check_site_path,
};
pub use crate::tls::{CertPair, TlsError};
pub use crate::web::{GENERATED_CSP, WebOptions};
pub use httpd_files::{CachePolicy, MediaTypeError, MediaTypes};
pub use httpd_security::{Limits, TypePolicy};

/// The `Server` header value sent with every response.
pub const SERVER_NAME: &str = concat!("httpd/", env!("CARGO_PKG_VERSION"));

/// Default time [`Server::run`] waits for in-flight connections after a shutdown request.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`Config::defer_accept_secs`]: 1 s, nginx's value for `deferred` (the kernel
/// rounds it to its SYN-ACK retransmission schedule).
pub const DEFAULT_DEFER_ACCEPT_SECS: u32 = 1;

/// Default memory for small file contents ([`Config::file_cache_bytes`]).
pub const DEFAULT_FILE_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Largest file the file cache holds: as big as a response the poller answers itself.
pub const FILE_CACHE_MAX_FILE_BYTES: u64 = 64 * 1024;

/// Default cap on connections open at once ([`Config::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// File descriptors kept free beside the connections, on top of two per worker (the file
/// it serves and an upload's temporary file): the listener, the poll and its waker,
/// stdio, log files, and the odd directory read.
pub const FD_RESERVE: usize = 64;

/// Everything the server needs to run; each field documents its default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on; default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Further addresses to listen on (IPv4 or IPv6; `[::]` is dual-stack); default none.
    pub also_listen: Vec<SocketAddr>,
    /// Set `SO_REUSEPORT`, so several processes can share a port; default false.
    pub reuse_port: bool,
    /// The host name the operator gave (accepted in `Host` besides `localhost` and
    /// `127.0.0.1`); default `"127.0.0.1"`.
    pub server_name: String,
    /// Document root; default `./resources`.
    pub root: PathBuf,
    /// Number of worker threads, each serving one request at a time; default 10.
    pub n_workers: usize,
    /// Ready connections (a whole request head buffered) that may wait for a worker;
    /// when this many wait, a further ready one gets 503 with `Retry-After: 5` and is
    /// closed. Idle connections do not count. Default 50.
    pub queue_capacity: usize,
    /// Connections open at once, idle or busy; a connection beyond this gets 503 with
    /// `Retry-After: 5` and is closed. [`Server::bind`] raises the process's soft
    /// open-file limit to its hard limit and lowers this cap, if need be, to that limit
    /// minus [`FD_RESERVE`] and two per worker. Default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Size and time limits; default [`Limits::default`].
    pub limits: Limits,
    /// Further `Host` values to accept (`*` accepts any); default none.
    pub allowed_hosts: Vec<String>,
    /// File extensions that may be served; default the seed's html, txt, png, jpg, jpeg.
    pub types: TypePolicy,
    /// How files are served (caching, compression, ranges, media types, listings);
    /// default [`FileOptions::default`].
    pub files: FileOptions,
    /// Security headers, CORS, trusted proxies, rate limit, health and metrics paths;
    /// default [`WebOptions::default`].
    pub web: WebOptions,
    /// Format of access lines; default [`AccessFormat::Default`].
    pub access_format: AccessFormat,
    /// Build and log an access line (target `access`) per response; false skips them
    /// entirely, like nginx's `access_log off`; default true. Metrics still count
    /// every response.
    pub access_log: bool,
    /// Let the poller answer GET and HEAD of files the file cache holds itself;
    /// false hands every file request to a worker (as an uncached file is); default
    /// true.
    pub serve_inline: bool,
    /// Poller threads. Each accepts from the listening sockets, owns the connections it
    /// accepted and answers their small requests itself, so small-file throughput
    /// grows with cores; the caps (`max_connections`, per address) and the worker pool
    /// are shared. 0 means one per CPU this process may run on (its affinity mask);
    /// default 0.
    pub n_pollers: usize,
    /// Seconds a new connection may wait in the kernel for its first bytes before it is
    /// accepted (`TCP_DEFER_ACCEPT`, as nginx's `listen ... deferred` and Apache's
    /// default): the poller then sees a connection once, with its request already
    /// readable, instead of being woken for the handshake and again for the data, and a
    /// client that connects and sends nothing costs no descriptor for that long (it is
    /// accepted afterwards and the usual timeouts apply). 0 turns it off; default
    /// [`DEFAULT_DEFER_ACCEPT_SECS`].
    pub defer_accept_secs: u32,
    /// Memory for the contents of small files (up to [`FILE_CACHE_MAX_FILE_BYTES`]
    /// each) served again while unchanged: a hit costs one `statx` instead of open,
    /// stat, read and close (see [`httpd_files::FileCache`]); 0 turns it off; default
    /// [`DEFAULT_FILE_CACHE_BYTES`].
    pub file_cache_bytes: u64,
    /// How long [`Server::run`] waits for busy workers after shutdown; default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub shutdown_timeout: Duration,
    /// Fault injection for tests: a request for exactly this path panics inside the
    /// handler, so the panic path (500 and a surviving worker) can be exercised over the
    /// wire; default `None`.
    pub panic_path: Option<String>,
    /// Fault injection for tests: a request for exactly this path holds a worker until
    /// a file `.stall-release` appears in the root (at most a minute), so a test can
    /// fill the pool deterministically; default `None`.
    pub stall_path: Option<String>,
    /// Addresses to listen on for HTTPS; default none.
    pub tls_listen: Vec<SocketAddr>,
    /// Certificate and key pairs for HTTPS, picked by SNI (the first for an unknown
    /// name); required with `tls_listen`; default none.
    pub tls_certs: Vec<CertPair>,
    /// `Strict-Transport-Security: max-age=N` on every HTTPS response; default `None`.
    pub hsts_secs: Option<u64>,
    /// Plain listeners answer GET and HEAD with a 308 to the same URL over https (the
    /// first TLS listener's port) and anything else with 400; default false.
    pub redirect_https: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            also_listen: Vec::new(),
            reuse_port: false,
            server_name: "127.0.0.1".to_string(),
            root: PathBuf::from("resources"),
            n_workers: httpd_security::DEFAULT_WORKERS,
            queue_capacity: httpd_security::DEFAULT_QUEUE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            limits: Limits::default(),
            allowed_hosts: Vec::new(),
            types: TypePolicy::default(),
            files: FileOptions::default(),
            web: WebOptions::default(),
            access_format: AccessFormat::Default,
            access_log: true,
            serve_inline: true,
            file_cache_bytes: DEFAULT_FILE_CACHE_BYTES,
            n_pollers: 0,
            defer_accept_secs: DEFAULT_DEFER_ACCEPT_SECS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            panic_path: None,
            stall_path: None,
            tls_listen: Vec::new(),
            tls_certs: Vec::new(),
            hsts_secs: None,
            redirect_https: false,
        }
    }
}

/// Why the server could not start or stopped with a failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The document root does not exist or is not a directory.
    Root(PathBuf, io::Error),
    /// The listening socket could not be bound.
    Bind(SocketAddr, io::Error),
    /// A worker thread could not be started.
    Spawn(io::Error),
    /// Another I/O failure of the listener.
    Io(io::Error),
    /// The TLS certificates could not be loaded.
    Tls(TlsError),
    /// A file the site names (the fallback page, an error page) has an unusable path.
    SitePath(String, SitePathError),
    /// An inherited listening socket ([`Server::bind_inheriting`]) is bound to an
    /// address no listener of the configuration names.
    Inherited(SocketAddr),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Root(path, _) => {
                write!(f, "document root {} is not usable", path.display())
            }
            ServerError::Bind(addr, _) => write!(f, "cannot listen on {addr}"),
            ServerError::Spawn(_) => f.write_str("cannot start worker threads"),
            ServerError::Io(_) => f.write_str("listener failed"),
            ServerError::Tls(_) => f.write_str("cannot set up TLS"),
            ServerError::SitePath(path, _) => write!(f, "cannot serve {path:?}"),
            ServerError::Inherited(addr) => write!(
                f,
                "the inherited listening socket {addr} matches no --listen or --tls-listen address"
            ),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Root(_, e)
            | ServerError::Bind(_, e)
            | ServerError::Spawn(e)
            | ServerError::Io(e) => Some(e),
            ServerError::Tls(e) => Some(e),
            ServerError::SitePath(_, e) => Some(e),
            ServerError::Inherited(_) => None,
        }
    }
}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> ServerError {
        ServerError::Io(e)
    }
}

/// Counters shared by the pollers and the workers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Jobs refused because the pool's queue was full.
    pub(crate) n_rejected: AtomicU64,
    /// New connections refused beyond the connection cap.
    pub(crate) n_over_capacity: AtomicU64,
    pub(crate) n_handler_panics: AtomicU64,
}

/// State every poller and worker reads; built once by [`Server::bind`].
#[derive(Debug)]
pub(crate) struct Context {
    /// The canonical root at bind: what request paths are resolved against.
    pub(crate) root: PathBuf,
    /// The root as configured, re-opened when a deployment replaces it; every file
    /// operation goes through it (the error pages' too, which share it).
    pub(crate) doc_root: Arc<httpd_files::DocRoot>,
    pub(crate) limits: Limits,
    pub(crate) hosts: HostPolicy,
    pub(crate) types: TypePolicy,
    pub(crate) files: files::Files,
    pub(crate) file_cache: httpd_files::FileCache,
    /// Open connections under every poller, for the caps.
    pub(crate) admission: httpd_security::Admission,
    pub(crate) uploads: UploadStore,
    pub(crate) stop: AtomicBool,
    pub(crate) counters: Counters,
    pub(crate) panic_path: Option<String>,
    pub(crate) stall_path: Option<String>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) rate_limiter: Option<httpd_security::RateLimiter>,
    pub(crate) web: WebOptions,
    /// `web.security_headers` rendered as header lines once, for every reply.
    pub(crate) extra_lines: Arc<[u8]>,
    /// The same plus the operator's `Content-Security-Policy`, for html files.
    pub(crate) extra_html_lines: Arc<[u8]>,
    /// The same plus the strict policy of pages the server writes (errors, listings).
    pub(crate) extra_generated_lines: Arc<[u8]>,
    /// `Strict-Transport-Security`, rendered once (empty without HSTS).
    pub(crate) hsts_line: Arc<[u8]>,
    pub(crate) access_format: AccessFormat,
    pub(crate) access_log: bool,
    pub(crate) inline: bool,
    pub(crate) n_workers: usize,
    pub(crate) queue_capacity: usize,
    /// The pool status line, shared by every poller.
    pub(crate) pool_monitor: monitor::PoolMonitor,
    /// TLS configuration, when there are TLS listeners.
    pub(crate) tls: Option<tls::Tls>,
    pub(crate) redirect_https: bool,
    /// The port https URLs use (the first TLS listener's).
    pub(crate) https_port: u16,
    /// Pollers still holding their descriptors of the listening sockets; the one that
    /// closes the last logs the seed's `Shutting down server...` (the sockets are
    /// closed then: a new connection is refused).
    pub(crate) pollers_listening: AtomicUsize,
}

impl Context {
    /// Writes an error answer made before any request exists (a malformed or late
    /// head, a connection beyond the caps) into `buf`, as the last answer on its
    /// connection: with the operator's page for the status when the page cache holds
    /// it (one `statx`, no read: there is no job to read it from the disk), else the
    /// built-in one. Returns the buffer and the body's length.
    pub(crate) fn write_closing_error(
        &self,
        mut response: response::Response,
        head_only: bool,
        hsts: &[u8],
        buf: Vec<u8>,
    ) -> (Vec<u8>, u64) {
        let custom = self
            .files
            .answers
            .error_pages
            .fill_from_memory(&mut response)
            == site::PageLookup::Replaced;
        let finish = response::Finish {
            persistence: h1::Persistence::Close,
            head_only,
            request_id: None,
            extra: if custom {
                &self.extra_html_lines
            } else {
                &self.extra_generated_lines
            },
            cors: &[],
            vary_origin: false,
            hsts,
        };
        response.write(buf, &finish)
    }
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listeners: Vec<listener::Listener>,
    /// The bound plain addresses, the primary (`Config::listen`) first.
    local_addrs: Vec<SocketAddr>,
    /// The bound TLS addresses.
    tls_addrs: Vec<SocketAddr>,
    ctx: Arc<Context>,
    /// The poll of each poller, with the waker that wakes it (workers returning job
    /// results, and shutdown); created here so the wakers exist before `run`.
    polls: Vec<(Poll, Arc<Waker>)>,
    n_workers: usize,
    queue_capacity: usize,
    max_connections: usize,
    shutdown_timeout: Duration,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.local_addrs)
            .field("tls_addrs", &self.tls_addrs)
            .field("root", &self.ctx.root)
            .field("n_workers", &self.n_workers)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Server {
    /// Checks the document root, loads the TLS certificates, binds the listening
    /// sockets, and fits the connection cap to the open-file limit (raising the soft
    /// limit to the hard one first).
    ///
    /// # Errors
    /// [`ServerError::Root`] when the root is not a directory, [`ServerError::Tls`]
    /// when TLS listeners are asked for and the certificates cannot be loaded,
    /// [`ServerError::Bind`] when an address cannot be bound, [`ServerError::Io`] when
    /// the readiness poll cannot be created.
    ///
    /// # Panics
    /// If `config.n_workers` or `config.max_connections` is 0.
    pub fn bind(config: Config) -> Result<Server, ServerError> {
        Server::bind_inheriting(config, Vec::new())
    }

    /// As [`bind`](Server::bind), but takes over listening sockets that already exist
    /// (handed over by systemd socket activation, or by the instance this one replaces):
    /// an address of the configuration that one of `inherited` is bound to is served
    /// from that socket instead of a new one, so connections already waiting in its
    /// queue are accepted and none is refused while the server starts. The sockets keep
    /// the options their creator set; they are made nonblocking.
    ///
    /// # Errors
    /// As [`bind`](Server::bind), and [`ServerError::Inherited`] when a socket of
    /// `inherited` matches no address of the configuration (a port 0 matches nothing).
    ///
    /// # Panics
    /// As [`bind`](Server::bind).
    pub fn bind_inheriting(
        config: Config,
        inherited: Vec<std::net::TcpListener>,
    ) -> Result<Server, ServerError> {
        assert!(config.n_workers > 0, "a server needs at least one worker");
        assert!(
            config.max_connections > 0,
            "a server needs room for one connection"
        );
        let root = canonical_dir(&config.root)?;
        let tls = if config.tls_listen.is_empty() {
            None
        } else {
            Some(tls::Tls::new(&config.tls_certs).map_err(ServerError::Tls)?)
        };
        let mut listeners = Vec::with_capacity(1 + config.also_listen.len());
        let mut local_addrs = Vec::with_capacity(1 + config.also_listen.len());
        let mut tls_addrs = Vec::with_capacity(config.tls_listen.len());
        let plain = std::iter::once(config.listen)
            .chain(config.also_listen.iter().copied())
            .map(|a| (a, false));
        let secure = config.tls_listen.iter().map(|&a| (a, true));
        let mut inherited = listener::Inherited::new(inherited)?;
        for (addr, is_tls) in plain.chain(secure) {
            let socket = match inherited.take(addr)? {
                Some(socket) => socket,
                None => listener::bind(addr, config.reuse_port, config.defer_accept_secs)
                    .map_err(|e| ServerError::Bind(addr, e))?,
            };
            let bound = socket.local_addr()?;
            if is_tls {
                tls_addrs.push(bound);
            } else {
                local_addrs.push(bound);
            }
            listeners.push(listener::Listener {
                socket,
                tls: is_tls,
            });
        }
        if let Some(addr) = inherited.left_over() {
            return Err(ServerError::Inherited(addr));
        }
        let local_addr = local_addrs[0];
        let n_pollers = match config.n_pollers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let polls = (0..n_pollers)
            .map(|_| {
                let poll = Poll::new()?;
                let waker = Arc::new(Waker::new(poll.registry(), poller::WAKER)?);
                Ok((poll, waker))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let max_connections = fit_connections(config.max_connections, config.n_workers);

        let mut hosts = HostPolicy::new(&config.server_name, local_addr.port());
        for addr in local_addrs.iter().chain(&tls_addrs) {
            // Every bound address is a name clients may use, and every port is one
            // they may name beside the loopback names and the operator's host name.
            if !addr.ip().is_unspecified() {
                hosts.allow(&addr.ip().to_string());
                hosts.allow(&addr.to_string());
            }
            let port = addr.port();
            for name in [
                "localhost",
                "127.0.0.1",
                "[::1]",
                config.server_name.as_str(),
            ] {
                if name.contains(':') && !name.starts_with('[') {
                    hosts.allow(&format!("[{name}]:{port}"));
                } else {
                    hosts.allow(&format!("{name}:{port}"));
                }
            }
        }
        for addr in local_addrs.iter().chain(&tls_addrs) {
            hosts.add_port(addr.port());
        }
        for host in &config.allowed_hosts {
            hosts.allow(host);
        }
        // Configured, not canonical: with `--root current` (a link flipped at each
        // deployment) uploads follow the release served, as files do.
        let doc_root = Arc::new(
            httpd_files::DocRoot::open(&config.root)
                .map_err(|e| ServerError::Root(config.root.clone(), e))?,
        );
        let files = files::Files::new(config.files, &config.types, &root, Arc::clone(&doc_root))
            .map_err(|(path, e)| ServerError::SitePath(path, e))?;
        // Read once now, so the pollers can serve the pages the page cache keeps.
        files.answers.error_pages.preload();
        let uploads = UploadStore::new(&config.root.join("uploads"), "/uploads");
        if let Err(e) = std::fs::create_dir_all(uploads.dir()) {
            log::warn!("cannot create {}: {e}", uploads.dir().display());
        }
        match uploads.remove_stale_temps() {
            Ok(0) => {}
            Ok(n) => log::info!("removed {n} unfinished upload(s) left by an earlier run"),
            Err(e) => log::warn!("cannot clean the upload directory: {e}"),
        }
        let hsts_line: Arc<[u8]> = match config.hsts_secs {
            Some(secs) => format!("Strict-Transport-Security: max-age={secs}\r\n")
                .into_bytes()
                .into(),
            None => Arc::from(&b""[..]),
        };
        let ctx = Context {
            root,
            doc_root,
            limits: config.limits,
            hosts,
            types: config.types,
            files,
            file_cache: httpd_files::FileCache::new(
                config.file_cache_bytes,
                FILE_CACHE_MAX_FILE_BYTES.min(config.file_cache_bytes / 16),
            ),
            admission: httpd_security::Admission::default(),
            uploads,
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            panic_path: config.panic_path,
            stall_path: config.stall_path,
            metrics: metrics::Metrics::default(),
            rate_limiter: config.web.rate_limit.map(httpd_security::RateLimiter::new),
            extra_lines: web::extra_lines(&config.web, web::Csp::None),
            extra_html_lines: web::extra_lines(&config.web, web::Csp::Operator),
            extra_generated_lines: web::extra_lines(&config.web, web::Csp::Generated),
            hsts_line,
            web: config.web,
            access_format: config.access_format,
            access_log: config.access_log,
            inline: config.serve_inline,
            n_workers: config.n_workers,
            queue_capacity: config.queue_capacity,
            pool_monitor: monitor::PoolMonitor::default(),
            tls,
            redirect_https: config.redirect_https && !tls_addrs.is_empty(),
            https_port: tls_addrs.first().map_or(443, SocketAddr::port),
            pollers_listening: AtomicUsize::new(n_pollers),
        };
        Ok(Server {
            listeners,
            local_addrs,
            tls_addrs,
            ctx: Arc::new(ctx),
            polls,
            n_workers: config.n_workers,
            queue_capacity: config.queue_capacity,
            max_connections,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// Returns the address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// Returns every plain address the server listens on, the primary first.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Returns every address the server listens on for HTTPS.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls_addrs
    }

    /// Returns the canonical document root.
    pub fn root(&self) -> &Path {
        &self.ctx.root
    }

    /// Returns the connection cap in force: [`Config::max_connections`], lowered if the
    /// open-file limit is too small for it.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Returns a handle that stops [`run`](Server::run) from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            ctx: Arc::clone(&self.ctx),
            wakers: self.polls.iter().map(|(_, w)| Arc::clone(w)).collect(),
        }
    }

    /// Serves connections until shut down; then stops accepting, closes idle
    /// connections, answers every request already read (within the shutdown
    /// timeout), and joins the workers. The pollers run on threads of their own; the
    /// calling thread waits for them.
    ///
    /// # Errors
    /// [`ServerError::Spawn`] when the workers cannot be started, [`ServerError::Io`] when
    /// a readiness poll fails.
    pub fn run(self) -> Result<(), ServerError> {
        let Server {
            listeners,
            ctx,
            polls,
            n_workers,
            queue_capacity,
            max_connections,
            shutdown_timeout,
            ..
        } = self;
        let wakers: Vec<Arc<Waker>> = polls.iter().map(|(_, w)| Arc::clone(w)).collect();
        let mut returners = Vec::with_capacity(polls.len());
        let mut backs = Vec::with_capacity(polls.len());
        for (_, waker) in &polls {
            let (tx, rx) = crossbeam_channel::unbounded();
            returners.push(jobs::Returner::new(tx, Arc::clone(waker)));
            backs.push(rx);
        }
        let pool_ctx = Arc::clone(&ctx);
        let pool = httpd_pool::Builder::new()
            .workers(n_workers)
            .queue_capacity(queue_capacity)
            .name_prefix("httpd-worker")
            .build(move |job: jobs::Job| jobs::run(job, &pool_ctx, &returners))
            .map_err(ServerError::Spawn)?;
        // Every poller listens on its own descriptors of the same sockets.
        let mut pollers = Vec::with_capacity(polls.len());
        let built =
            polls
                .into_iter()
                .zip(backs)
                .enumerate()
                .try_for_each(|(home, ((poll, _), back))| {
                    let own = listeners
                        .iter()
                        .map(listener::Listener::try_clone)
                        .collect::<io::Result<Vec<_>>>()?;
                    pollers.push(poller::Poller::new(
                        home,
                        poll,
                        own,
                        Arc::clone(&ctx),
                        max_connections,
                        back,
                    )?);
                    Ok::<(), io::Error>(())
                });
        drop(listeners);
        if let Err(e) = built {
            ctx.stop.store(true, Ordering::Release);
            finish_pool(pool, shutdown_timeout);
            return Err(ServerError::Io(e));
        }
        let stop_all = |ctx: &Context| {
            // The others must stop too.
            ctx.stop.store(true, Ordering::Release);
            for waker in &wakers {
                let _ = waker.wake();
            }
        };
        let result = std::thread::scope(|scope| {
            let handles: Vec<_> = pollers
                .into_iter()
                .map(|mut poller| {
                    let (pool, ctx, stop_all) = (&pool, &ctx, &stop_all);
                    std::thread::Builder::new()
                        .name(poller.name().to_string())
                        .spawn_scoped(scope, move || {
                            let result = poller.run(pool, shutdown_timeout);
                            if let Err(e) = &result {
                                log::error!("readiness poll failed: {e}");
                            }
                            // One poller ending (shutdown or failure) ends them all.
                            stop_all(ctx);
                            (poller, result)
                        })
                })
                .collect();
            let mut finished = Vec::with_capacity(handles.len());
            let mut result = Ok(());
            for handle in handles {
                match handle {
                    Ok(handle) => match handle.join() {
                        Ok((poller, ended)) => {
                            finished.push(poller);
                            if result.is_ok() {
                                result = ended;
                            }
                        }
                        Err(_) => {
                            log::error!("a poller thread panicked");
                            stop_all(&ctx);
                        }
                    },
                    Err(e) => {
                        log::error!("cannot start a poller thread: {e}");
                        stop_all(&ctx);
                        if result.is_ok() {
                            result = Err(e);
                        }
                    }
                }
            }
            (finished, result)
        });
        let (finished, result) = result;
        finish_pool(pool, shutdown_timeout);
        drop(finished);
        result.map_err(ServerError::Io)
    }
}

/// Stops a running [`Server`] from another thread or a signal handler thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    ctx: Arc<Context>,
    wakers: Vec<Arc<Waker>>,
}

impl ShutdownHandle {
    /// Asks the server to stop accepting and finish; returns at once.
    pub fn shutdown(&self) {
        if self.ctx.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        // Each poller sees the flag as soon as its poll returns.
        for waker in &self.wakers {
            if let Err(e) = waker.wake() {
                log::error!("cannot wake a poller for shutdown: {e}");
            }
        }
    }

    /// Tells whether shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.ctx.stop.load(Ordering::Acquire)
    }

    /// Loads the TLS certificates and keys again from their files and uses them for
    /// new handshakes; connections are not dropped. Returns the number of pairs
    /// loaded, or `Ok(0)` when the server has no TLS listener.
    ///
    /// # Errors
    /// Why the new files were refused; the old certificates stay in use. Either way
    /// the outcome is logged and counted in `/metrics`.
    pub fn reload_tls(&self) -> Result<usize, TlsError> {
        let Some(tls) = &self.ctx.tls else {
            return Ok(0);
        };
        match tls.reload() {
            Ok(n) => {
                self.ctx.metrics.tls_reloaded(true);
                log::info!("reloaded {n} TLS certificate(s)");
                Ok(n)
            }
            Err(e) => {
                self.ctx.metrics.tls_reloaded(false);
                log::error!("TLS reload refused, keeping the old certificates: {e}");
                Err(e)
            }
        }
    }
}

fn canonical_dir(root: &Path) -> Result<PathBuf, ServerError> {
    let canonical = root
        .canonicalize()
        .map_err(|e| ServerError::Root(root.to_path_buf(), e))?;
    if !canonical.is_dir() {
        return Err(ServerError::Root(
            root.to_path_buf(),
            io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    Ok(canonical)
}

/// Raises the soft open-file limit to the hard one and returns `wanted`, lowered to what
/// that limit leaves after the reserve.
fn fit_connections(wanted: usize, n_workers: usize) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(e) => {
            log::warn!("cannot raise the open-file limit: {e}");
            match rlimit::Resource::NOFILE.get() {
                Ok((soft, _)) => soft,
                Err(_) => return wanted,
            }
        }
    };
    let reserve = FD_RESERVE.saturating_add(n_workers.saturating_mul(2));
    let fit = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserve)
        .max(1);
    if fit < wanted {
        log::warn!(
            "max connections lowered from {wanted} to {fit} to fit the open-file limit ({soft})"
        );
        fit
    } else {
        log::debug!("max connections {wanted} (open-file limit {soft})");
        wanted
    }
}

/// Joins the pool, giving up (and leaving the process to end the threads) after `timeout`.
fn finish_pool(pool: ThreadPool<jobs::Job>, timeout: Duration) {
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let joiner = std::thread::Builder::new()
        .name("httpd-drain".to_string())
        .spawn(move || {
            pool.shutdown();
            let _ = done_tx.send(());
        });
    match joiner {
        Ok(handle) => {
            if done_rx.recv_timeout(timeout).is_ok() {
                let _ = handle.join();
            } else {
                log::warn!(
                    "workers still busy after {}; exiting anyway",
                    humanize(timeout)
                );
            }
        }
        Err(e) => log::error!("cannot start the drain thread: {e}"),
    }
}

fn humanize(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
