//! Every option of a run, typed and validated: [`Options::apply`] is the one place where
//! a value for a [`Key`] is checked, whether it comes from a flag, a positional argument
//! or the configuration file, so all three accept exactly the same values and report
//! errors the same way (naming the flag or the key).

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use httpd_server::{
    AccessFormat, CachePolicy, Config, EtagMode, Limits, MediaTypes, TypePolicy, check_site_path,
};

/// Most worker threads.
const MAX_THREADS: usize = 4096;
/// Most ready connections waiting for a worker.
const MAX_QUEUE: usize = 1_000_000;
/// Most connections open at once.
const MAX_CONNECTIONS: usize = 16_777_216;
/// Most connections one client address may hold.
const MAX_CONNS_PER_IP: usize = 1_000_000;
/// Smallest and largest request head limit, in bytes.
const MIN_HEAD_BYTES: u64 = 256;
const MAX_HEAD_BYTES: u64 = 1024 * 1024;
/// Most ranges per request.
const MAX_RANGES: usize = 1000;
/// Largest per-client rate limit, in requests per second.
const MAX_RATE_LIMIT: usize = 1_000_000;

/// A command-line or configuration error: exit code 2.
///
/// Errors found in a configuration file carry its path (see [`UsageError::in_file`]) and
/// are shown without the usage text.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    message: String,
    file: Option<PathBuf>,
}

impl UsageError {
    /// Creates an error with `message`, which names the flag or key at fault.
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            file: None,
        }
    }

    /// Marks the error as found in the configuration file at `path`.
    pub fn in_file(mut self, path: &Path) -> UsageError {
        self.file = Some(path.to_path_buf());
        self
    }

    /// Returns the configuration file the error was found in, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(path) => write!(f, "{}: {}", path.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for UsageError {}

/// One option, named as its configuration-file key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// Addresses to listen on, the primary first (`--listen`, positional PORT/HOST).
    Listen,
    /// `SO_REUSEPORT` (`--reuse-port`).
    ReusePort,
    /// Document root (`--root`).
    Root,
    /// Worker threads (`--threads`, positional MAX_THREADS).
    Threads,
    /// Ready connections waiting for a worker (`--queue`).
    Queue,
    /// Connections open at once (`--max-connections`).
    MaxConnections,
    /// Keep-alive idle time (`--idle-timeout`).
    IdleTimeout,
    /// Time to send a whole head (`--header-timeout`).
    HeaderTimeout,
    /// Time one blocked write may take (`--write-timeout`).
    WriteTimeout,
    /// Wait for busy workers on shutdown (`--shutdown-timeout`).
    ShutdownTimeout,
    /// Requests per connection (`--max-requests`).
    MaxRequests,
    /// Connections one client address may hold (`--max-conns-per-ip`).
    MaxConnsPerIp,
    /// Slowest average upload rate, bytes per second (`--min-body-rate`).
    MinBodyRate,
    /// Largest upload (`--max-body`).
    MaxBody,
    /// Largest request head (`--max-head`).
    MaxHead,
    /// Memory for small unchanged files (`--file-cache`).
    FileCache,
    /// Poller threads (`--pollers`).
    Pollers,
    /// How long the kernel holds a new connection for its first bytes (`--defer-accept`).
    DeferAccept,
    /// Further accepted `Host` values (`--allowed-host`).
    AllowedHosts,
    /// Diagnostic log level (`--log-level`).
    LogLevel,
    /// Access log file (`--access-log`).
    AccessLog,
    /// Access line format (`--access-format`).
    AccessFormat,
    /// Further served extensions (`--serve-type`).
    ServeTypes,
    /// Images inline (`--inline-images`).
    InlineImages,
    /// `Cache-Control` per extension (`--cache-control`).
    CacheControl,
    /// Gzip on the fly (`--no-gzip`).
    Gzip,
    /// Precompressed sidecars (`--no-precompressed`).
    Precompressed,
    /// Ranges per request (`--max-ranges`).
    MaxRanges,
    /// Directory listings and folder downloads (`--dir-listing`).
    DirListing,
    /// The web preset (`--web`).
    Web,
    /// Media types per extension (`--type`).
    Types,
    /// The page of a single-page application (`--fallback`, `--no-fallback`).
    Fallback,
    /// Custom error pages per status (`--error-page`).
    ErrorPages,
    /// How entity-tags are made (`--etag`).
    Etag,
    /// Small requests answered by the poller itself (`--no-inline`).
    ServeInline,
    /// Headers added to every response (`--header`, `--no-security-headers`).
    SecurityHeaders,
    /// `Content-Security-Policy` of html responses (`--csp`, `--no-csp`).
    Csp,
    /// CORS origins (`--cors-origin`).
    CorsOrigins,
    /// Proxies whose forwarding headers are believed (`--trusted-proxy`).
    TrustedProxies,
    /// Requests per second per client (`--rate-limit`).
    RateLimit,
    /// Liveness endpoint (`--health-path`, `--no-health`).
    HealthPath,
    /// Prometheus endpoint (`--metrics-path`, `--no-metrics`).
    MetricsPath,
    /// Addresses to listen on for HTTPS (`--tls-listen`).
    TlsListen,
    /// Certificate chain files, paired in order with [`Key::TlsKeyFile`] (`--tls-cert`).
    TlsCertFile,
    /// Private key files, paired in order with [`Key::TlsCertFile`] (`--tls-key`).
    TlsKeyFile,
    /// Plain listeners redirect to https (`--redirect-https`).
    RedirectHttps,
    /// `Strict-Transport-Security` max-age on HTTPS responses (`--hsts`, `--no-hsts`).
    Hsts,
}

/// The JSON shape a [`Key`] takes in the configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A string or a number, given to the validator as text.
    Text,
    /// Like [`Kind::Text`], or `null` to turn the option off.
    Nullable,
    /// An array of strings.
    List,
    /// An object whose values are strings.
    Map,
}

impl Kind {
    /// Describes the accepted JSON values, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Bool => "true or false",
            Kind::Text => "a string or a number",
            Kind::Nullable => "a string, a number or null",
            Kind::List => "an array of strings",
            Kind::Map => "an object of strings",
        }
    }
}

impl Key {
    /// Every key, in the order of the configuration file.
    pub const ALL: [Key; 47] = [
        Key::Listen,
        Key::ReusePort,
        Key::Root,
        Key::Threads,
        Key::Queue,
        Key::MaxConnections,
        Key::IdleTimeout,
        Key::HeaderTimeout,
        Key::WriteTimeout,
        Key::ShutdownTimeout,
        Key::MaxRequests,
        Key::MaxConnsPerIp,
        Key::MinBodyRate,
        Key::MaxBody,
        Key::MaxHead,
        Key::FileCache,
        Key::Pollers,
        Key::DeferAccept,
        Key::AllowedHosts,
        Key::LogLevel,
        Key::AccessLog,
        Key::AccessFormat,
        Key::ServeTypes,
        Key::InlineImages,
        Key::CacheControl,
        Key::Gzip,
        Key::Precompressed,
        Key::MaxRanges,
        Key::DirListing,
        Key::Web,
        Key::Types,
        Key::Fallback,
        Key::ErrorPages,
        Key::Etag,
        Key::ServeInline,
        Key::SecurityHeaders,
        Key::Csp,
        Key::CorsOrigins,
        Key::TrustedProxies,
        Key::RateLimit,
        Key::HealthPath,
        Key::MetricsPath,
        Key::TlsListen,
        Key::TlsCertFile,
        Key::TlsKeyFile,
        Key::RedirectHttps,
        Key::Hsts,
    ];

    /// Returns the key's name in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Key::Listen => "listen",
            Key::ReusePort => "reuse_port",
            Key::Root => "root",
            Key::Threads => "threads",
            Key::Queue => "queue",
            Key::MaxConnections => "max_connections",
            Key::IdleTimeout => "idle_timeout",
            Key::HeaderTimeout => "header_timeout",
            Key::WriteTimeout => "write_timeout",
            Key::ShutdownTimeout => "shutdown_timeout",
            Key::MaxRequests => "max_requests",
            Key::MaxConnsPerIp => "max_conns_per_ip",
            Key::MinBodyRate => "min_body_rate",
            Key::MaxBody => "max_body",
            Key::MaxHead => "max_head",
            Key::FileCache => "file_cache",
            Key::Pollers => "pollers",
            Key::DeferAccept => "defer_accept",
            Key::AllowedHosts => "allowed_hosts",
            Key::LogLevel => "log_level",
            Key::AccessLog => "access_log",
            Key::AccessFormat => "access_format",
            Key::ServeTypes => "serve_types",
            Key::InlineImages => "inline_images",
            Key::CacheControl => "cache_control",
            Key::Gzip => "gzip",
            Key::Precompressed => "precompressed",
            Key::MaxRanges => "max_ranges",
            Key::DirListing => "dir_listing",
            Key::Web => "web",
            Key::Types => "types",
            Key::Fallback => "fallback",
            Key::ErrorPages => "error_pages",
            Key::Etag => "etag",
            Key::ServeInline => "serve_inline",
            Key::SecurityHeaders => "security_headers",
            Key::Csp => "csp",
            Key::CorsOrigins => "cors_origins",
            Key::TrustedProxies => "trusted_proxies",
            Key::RateLimit => "rate_limit",
            Key::HealthPath => "health_path",
            Key::MetricsPath => "metrics_path",
            Key::TlsListen => "tls_listen",
            Key::TlsCertFile => "tls_cert",
            Key::TlsKeyFile => "tls_key",
            Key::RedirectHttps => "redirect_https",
            Key::Hsts => "hsts",
        }
    }

    /// Returns the JSON shape the key takes in the configuration file.
    pub fn kind(self) -> Kind {
        match self {
            Key::ReusePort
            | Key::InlineImages
            | Key::Gzip
            | Key::Precompressed
            | Key::DirListing
            | Key::Web
            | Key::ServeInline
            | Key::RedirectHttps => Kind::Bool,
            Key::AccessLog
            | Key::Fallback
            | Key::Csp
            | Key::RateLimit
            | Key::HealthPath
            | Key::MetricsPath
            | Key::Hsts => Kind::Nullable,
            Key::Listen
            | Key::AllowedHosts
            | Key::ServeTypes
            | Key::CorsOrigins
            | Key::TrustedProxies
            | Key::TlsListen
            | Key::TlsCertFile
            | Key::TlsKeyFile => Kind::List,
            Key::CacheControl | Key::SecurityHeaders | Key::Types | Key::ErrorPages => Kind::Map,
            Key::Root
            | Key::Threads
            | Key::Queue
            | Key::MaxConnections
            | Key::IdleTimeout
            | Key::HeaderTimeout
            | Key::WriteTimeout
            | Key::ShutdownTimeout
            | Key::MaxRequests
            | Key::MaxConnsPerIp
            | Key::MinBodyRate
            | Key::MaxBody
            | Key::MaxHead
            | Key::FileCache
            | Key::Pollers
            | Key::DeferAccept
            | Key::LogLevel
            | Key::AccessFormat
            | Key::MaxRanges
            | Key::Etag => Kind::Text,
        }
    }
}

/// One value for a [`Key`], as a flag or the configuration file gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// A flag's value, or a JSON string or number as text; list keys take one item.
    Text(&'a str),
    /// One entry of a map key (`EXT`, `VALUE` or `NAME`, `VALUE`).
    Entry(&'a str, &'a str),
    /// A switch turned on (`--inline-images`, `true`).
    On,
    /// A switch turned off (`--no-gzip`, `false`), or an option disabled (`--no-csp`,
    /// `null`); empties the security headers.
    Off,
}

/// Most poller threads `--pollers` accepts.
pub const MAX_POLLERS: usize = 256;

/// The `--access-log` value that turns access lines off (`./off` names a file).
pub const ACCESS_LOG_OFF: &str = "off";

/// Validated settings for one run, as [`Options`] turns them into a server configuration.
#[derive(Debug)]
pub struct Settings {
    /// The server configuration.
    pub config: Config,
    /// The docroot as the operator wrote it, for the startup line.
    pub root_display: String,
    /// Log level for diagnostics.
    pub log_level: log::LevelFilter,
    /// Access log file; stdout when `None`.
    pub access_log: Option<PathBuf>,
}

/// Every option of a run, each already validated; [`Default`] holds the server's
/// defaults.
#[derive(Clone, Debug)]
pub struct Options {
    listen: Vec<Listen>,
    reuse_port: bool,
    root: String,
    threads: usize,
    queue: usize,
    max_connections: usize,
    idle_timeout: Duration,
    header_timeout: Duration,
    write_timeout: Duration,
    shutdown_timeout: Duration,
    max_requests: u32,
    max_conns_per_ip: usize,
    min_body_rate: u64,
    max_body: u64,
    max_head: usize,
    file_cache: u64,
    /// 0 for one per CPU.
    pollers: usize,
    /// Whole seconds; 0 for off.
    defer_accept: u32,
    allowed_hosts: Vec<String>,
    log_level: log::LevelFilter,
    access_log: Option<String>,
    /// The format's name, lowercased as given (so `clf` stays `clf`), and the format.
    access_format: (String, AccessFormat),
    /// Extensions served beside the seed's defaults.
    serve_types: Vec<String>,
    inline_images: bool,
    /// Lowercase extension (or `*` for the fallback) and value, each extension once.
    cache_control: Vec<(String, String)>,
    gzip: bool,
    precompressed: bool,
    max_ranges: usize,
    dir_listing: bool,
    web: bool,
    /// Lowercase extension and media type, each extension once, as set.
    types: Vec<(String, String)>,
    fallback: Option<String>,
    /// Status and URL path, each status once, as set.
    error_pages: Vec<(u16, String)>,
    etag: EtagMode,
    serve_inline: bool,
    security_headers: Vec<(String, String)>,
    csp: Option<String>,
    cors_origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    rate_limit: Option<u32>,
    health_path: Option<String>,
    metrics_path: Option<String>,
    tls_listen: Vec<Listen>,
    tls_cert: Vec<String>,
    tls_key: Vec<String>,
    redirect_https: bool,
    /// Seconds; `None` for no HSTS.
    hsts: Option<u64>,
    /// Fault injection for tests (`--test-panic-path`); not a configuration key.
    panic_path: Option<String>,
    /// Fault injection for tests (`--test-stall-path`); not a configuration key.
    stall_path: Option<String>,
}

/// One listen address: as written (for `--check-config`), resolved, and the host name
/// the operator used (accepted in `Host`).
#[derive(Clone, Debug)]
struct Listen {
    text: String,
    addr: SocketAddr,
    server_name: String,
}

impl Default for Options {
    fn default() -> Options {
        let config = Config::default();
        let Config {
            listen,
            reuse_port,
            server_name,
            root,
            n_workers,
            queue_capacity,
            max_connections,
            limits,
            allowed_hosts,
            files,
            web,
            access_format,
            serve_inline,
            file_cache_bytes,
            n_pollers,
            defer_accept_secs,
            shutdown_timeout,
            panic_path,
            stall_path,
            redirect_https,
            hsts_secs,
            ..
        } = config;
        let cache_control = ["html", "htm"]
            .into_iter()
            .map(|ext| (ext.to_string(), files.cache.for_extension(Some(ext))))
            .chain(std::iter::once((
                "*".to_string(),
                files.cache.for_extension(None),
            )))
            .map(|(ext, value)| (ext, value.to_string()))
            .collect();
        Options {
            listen: vec![Listen {
                text: listen.to_string(),
                addr: listen,
                server_name,
            }],
            reuse_port,
            root: root.display().to_string(),
            threads: n_workers,
            queue: queue_capacity,
            max_connections,
            idle_timeout: limits.idle_timeout,
            header_timeout: limits.header_timeout,
            write_timeout: limits.write_timeout,
            shutdown_timeout,
            max_requests: limits.max_requests,
            max_conns_per_ip: limits.max_conns_per_ip,
            min_body_rate: limits.min_body_rate,
            max_body: limits.max_body_bytes,
            max_head: limits.max_head_bytes,
            file_cache: file_cache_bytes,
            pollers: n_pollers,
            defer_accept: defer_accept_secs,
            allowed_hosts,
            log_level: log::LevelFilter::Info,
            access_log: None,
            access_format: (access_format_name(access_format).to_string(), access_format),
            serve_types: Vec::new(),
            inline_images: files.inline_images,
            cache_control,
            gzip: files.gzip,
            precompressed: files.precompressed,
            max_ranges: files.max_ranges,
            dir_listing: files.listing,
            web: files.web,
            types: files
                .media_types
                .overrides()
                .map(|(e, t)| (e.to_string(), t.to_string()))
                .collect(),
            fallback: files.fallback,
            error_pages: files.error_pages,
            etag: files.etag,
            serve_inline,
            security_headers: web.security_headers,
            csp: web.html_csp,
            cors_origins: web.cors_origins,
            trusted_proxies: web.trusted_proxies,
            rate_limit: web.rate_limit,
            health_path: web.health_path,
            metrics_path: web.metrics_path,
            tls_listen: Vec::new(),
            tls_cert: Vec::new(),
            tls_key: Vec::new(),
            redirect_https,
            hsts: hsts_secs,
            panic_path,
            stall_path,
        }
    }
}

impl Options {
    /// Validates `input` for `key` and stores it; `name` (a flag such as `--threads`, or
    /// a key such as `threads`) is what error messages call the option.
    ///
    /// List keys take one item per call, appended; map keys take one entry, replacing an
    /// earlier one with the same extension or (case-insensitive) header name.
    ///
    /// # Errors
    /// A [`UsageError`] naming `name` and the bad value.
    pub fn apply(&mut self, key: Key, name: &str, input: Input<'_>) -> Result<(), UsageError> {
        match (key, input) {
            (Key::Listen, Input::Text(v)) => {
                let (addr, server_name) = resolve_listen(name, v)?;
                self.listen.push(Listen {
                    text: v.to_string(),
                    addr,
                    server_name,
                });
            }
            (Key::ReusePort, Input::On | Input::Off) => self.reuse_port = input == Input::On,
            (Key::Root, Input::Text(v)) => {
                if v.is_empty() {
                    return Err(UsageError::new(format!("{name} needs a directory")));
                }
                self.root = v.to_string();
            }
            (Key::Threads, Input::Text(v)) => self.threads = parse_count(name, v, 1, MAX_THREADS)?,
            (Key::Queue, Input::Text(v)) => self.queue = parse_count(name, v, 0, MAX_QUEUE)?,
            (Key::MaxConnections, Input::Text(v)) => {
                self.max_connections = parse_count(name, v, 1, MAX_CONNECTIONS)?;
            }
            (Key::IdleTimeout, Input::Text(v)) => self.idle_timeout = parse_duration(name, v)?,
            (Key::HeaderTimeout, Input::Text(v)) => self.header_timeout = parse_duration(name, v)?,
            (Key::WriteTimeout, Input::Text(v)) => self.write_timeout = parse_duration(name, v)?,
            (Key::ShutdownTimeout, Input::Text(v)) => {
                self.shutdown_timeout = parse_duration(name, v)?;
            }
            (Key::MaxRequests, Input::Text(v)) => {
                let n = parse_count(name, v, 1, u32::MAX as usize)?;
                self.max_requests = u32::try_from(n).unwrap_or(u32::MAX);
            }
            (Key::MaxConnsPerIp, Input::Text(v)) => {
                self.max_conns_per_ip = parse_count(name, v, 1, MAX_CONNS_PER_IP)?;
            }
            (Key::MinBodyRate, Input::Text(v)) => self.min_body_rate = parse_bytes(name, v)?,
            (Key::MaxBody, Input::Text(v)) => self.max_body = parse_bytes(name, v)?,
            (Key::FileCache, Input::Text(v)) => self.file_cache = parse_bytes(name, v)?,
            (Key::Pollers, Input::Text(v)) => {
                self.pollers = match v {
                    "auto" => 0,
                    _ => match v.parse::<usize>() {
                        Ok(n) if (1..=MAX_POLLERS).contains(&n) => n,
                        _ => {
                            return Err(UsageError::new(format!(
                                "{name} takes auto or a number from 1 to {MAX_POLLERS}, not '{v}'"
                            )));
                        }
                    },
                }
            }
            (Key::DeferAccept, Input::Text(v)) => self.defer_accept = parse_defer(name, v)?,
            (Key::MaxHead, Input::Text(v)) => {
                let n = parse_bytes(name, v)?;
                if !(MIN_HEAD_BYTES..=MAX_HEAD_BYTES).contains(&n) {
                    return Err(UsageError::new(format!(
                        "{name} must be between {MIN_HEAD_BYTES} and {MAX_HEAD_BYTES} bytes"
                    )));
                }
                self.max_head = usize::try_from(n).unwrap_or(usize::MAX);
            }
            (Key::AllowedHosts, Input::Text(v)) => {
                if v.is_empty() || v.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err(UsageError::new(format!(
                        "{name} needs a host name, not '{v}'"
                    )));
                }
                self.allowed_hosts.push(v.to_string());
            }
            (Key::LogLevel, Input::Text(v)) => {
                self.log_level = v
                    .parse()
                    .map_err(|_| UsageError::new(format!("{name}: unknown level '{v}'")))?;
            }
            (Key::AccessLog, Input::Text(v)) => {
                if v.is_empty() {
                    return Err(UsageError::new(format!("{name} needs a file name")));
                }
                self.access_log = Some(v.to_string());
            }
            (Key::AccessLog, Input::Off) => self.access_log = None,
            (Key::AccessFormat, Input::Text(v)) => {
                let format = AccessFormat::from_name(v)
                    .ok_or_else(|| UsageError::new(format!("{name}: unknown format '{v}'")))?;
                self.access_format = (v.to_ascii_lowercase(), format);
            }
            (Key::ServeTypes, Input::Text(v)) => {
                let ext = extension(name, v)?;
                if !self.serve_types.contains(&ext) {
                    self.serve_types.push(ext);
                }
            }
            (Key::InlineImages, Input::On | Input::Off) => self.inline_images = input == Input::On,
            (Key::CacheControl, Input::Text(v)) => {
                let (ext, value) = v
                    .split_once('=')
                    .ok_or_else(|| UsageError::new(format!("{name} needs EXT=VALUE, not '{v}'")))?;
                self.set_cache_control(name, ext, value)?;
            }
            (Key::CacheControl, Input::Entry(ext, value)) => {
                self.set_cache_control(name, ext, value)?;
            }
            (Key::Gzip, Input::On | Input::Off) => self.gzip = input == Input::On,
            (Key::Precompressed, Input::On | Input::Off) => self.precompressed = input == Input::On,
            (Key::MaxRanges, Input::Text(v)) => {
                self.max_ranges = parse_count(name, v, 0, MAX_RANGES)?;
            }
            (Key::DirListing, Input::On | Input::Off) => self.dir_listing = input == Input::On,
            (Key::Web, Input::On | Input::Off) => self.web = input == Input::On,
            (Key::Types, Input::Text(v)) => {
                let (ext, media_type) = v.split_once('=').ok_or_else(|| {
                    UsageError::new(format!("{name} needs EXT=MEDIA-TYPE, not '{v}'"))
                })?;
                self.set_type(name, ext, media_type)?;
            }
            (Key::Types, Input::Entry(ext, media_type)) => self.set_type(name, ext, media_type)?,
            (Key::Fallback, Input::Text(v)) => self.fallback = Some(site_path(name, v)?),
            (Key::Fallback, Input::Off) => self.fallback = None,
            (Key::ErrorPages, Input::Text(v)) => {
                let (status, path) = v.split_once('=').ok_or_else(|| {
                    UsageError::new(format!("{name} needs STATUS=/PATH, not '{v}'"))
                })?;
                self.set_error_page(name, status, path)?;
            }
            (Key::ErrorPages, Input::Entry(status, path)) => {
                self.set_error_page(name, status, path)?;
            }
            (Key::Etag, Input::Text(v)) => {
                self.etag = EtagMode::from_name(v).ok_or_else(|| {
                    UsageError::new(format!("{name} takes content or default, not '{v}'"))
                })?;
            }
            (Key::ServeInline, Input::On | Input::Off) => self.serve_inline = input == Input::On,
            (Key::SecurityHeaders, Input::Text(v)) => {
                let (header, value) = v.split_once(':').ok_or_else(|| {
                    UsageError::new(format!("{name} needs 'Name: value', not '{v}'"))
                })?;
                self.set_header(name, header, value)?;
            }
            (Key::SecurityHeaders, Input::Entry(header, value)) => {
                self.set_header(name, header, value)?;
            }
            (Key::SecurityHeaders, Input::Off) => self.security_headers.clear(),
            (Key::Csp, Input::Text(v)) => {
                self.csp = Some(header_value(name, v)?.to_string());
            }
            (Key::Csp, Input::Off) => self.csp = None,
            (Key::CorsOrigins, Input::Text(v)) => {
                if v.is_empty() || v.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err(UsageError::new(format!(
                        "{name} needs an origin like https://app.example, not '{v}'"
                    )));
                }
                self.cors_origins.push(v.to_string());
            }
            (Key::TrustedProxies, Input::Text(v)) => {
                let ip = v.parse().map_err(|_| {
                    UsageError::new(format!("{name} needs an IP address, not '{v}'"))
                })?;
                self.trusted_proxies.push(ip);
            }
            (Key::RateLimit, Input::Text(v)) => {
                let n = parse_count(name, v, 1, MAX_RATE_LIMIT)?;
                self.rate_limit = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            (Key::RateLimit, Input::Off) => self.rate_limit = None,
            (Key::HealthPath, Input::Text(v)) => self.health_path = Some(endpoint_path(name, v)?),
            (Key::HealthPath, Input::Off) => self.health_path = None,
            (Key::MetricsPath, Input::Text(v)) => self.metrics_path = Some(endpoint_path(name, v)?),
            (Key::MetricsPath, Input::Off) => self.metrics_path = None,
            (Key::TlsListen, Input::Text(v)) => {
                let (addr, server_name) = resolve_listen(name, v)?;
                self.tls_listen.push(Listen {
                    text: v.to_string(),
                    addr,
                    server_name,
                });
            }
            (Key::TlsCertFile, Input::Text(v)) => self.tls_cert.push(file_path(name, v)?),
            (Key::TlsKeyFile, Input::Text(v)) => self.tls_key.push(file_path(name, v)?),
            (Key::RedirectHttps, Input::On | Input::Off) => {
                self.redirect_https = input == Input::On;
            }
            (Key::Hsts, Input::Text(v)) => self.hsts = Some(parse_duration(name, v)?.as_secs()),
            (Key::Hsts, Input::Off) => self.hsts = None,
            (key, _) => {
                return Err(UsageError::new(format!(
                    "{name} takes {}",
                    key.kind().expected()
                )));
            }
        }
        Ok(())
    }

    /// Empties a list or map key, so that the items applied next replace it; other keys
    /// are left alone.
    pub fn clear(&mut self, key: Key) {
        match key {
            Key::Listen => self.listen.clear(),
            Key::AllowedHosts => self.allowed_hosts.clear(),
            Key::ServeTypes => self.serve_types.clear(),
            Key::CacheControl => self.cache_control.clear(),
            Key::Types => self.types.clear(),
            Key::ErrorPages => self.error_pages.clear(),
            Key::SecurityHeaders => self.security_headers.clear(),
            Key::CorsOrigins => self.cors_origins.clear(),
            Key::TrustedProxies => self.trusted_proxies.clear(),
            Key::TlsListen => self.tls_listen.clear(),
            Key::TlsCertFile => self.tls_cert.clear(),
            Key::TlsKeyFile => self.tls_key.clear(),
            _ => {}
        }
    }

    /// Sets the test-only path whose requests panic in the handler.
    pub fn set_panic_path(&mut self, path: &str) {
        self.panic_path = Some(path.to_string());
    }

    /// Sets the test-only path whose requests hold a worker until released.
    pub fn set_stall_path(&mut self, path: &str) {
        self.stall_path = Some(path.to_string());
    }

    /// Returns the value of `key` as the configuration file writes it; feeding it back
    /// through [`Options::apply`] gives the same option.
    pub fn value(&self, key: Key) -> Value {
        fn texts<T: ToString>(items: &[T]) -> Value {
            Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
        }
        fn map(entries: &[(String, String)]) -> Value {
            let object: Map<String, Value> = entries
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            Value::Object(object)
        }
        fn duration(d: Duration) -> Value {
            Value::String(humantime::format_duration(d).to_string())
        }
        fn nullable(s: Option<&String>) -> Value {
            s.map_or(Value::Null, |s| Value::String(s.clone()))
        }
        match key {
            Key::Listen => Value::Array(
                self.listen
                    .iter()
                    .map(|l| Value::String(l.text.clone()))
                    .collect(),
            ),
            Key::ReusePort => Value::Bool(self.reuse_port),
            Key::Root => Value::String(self.root.clone()),
            Key::Threads => self.threads.into(),
            Key::Queue => self.queue.into(),
            Key::MaxConnections => self.max_connections.into(),
            Key::IdleTimeout => duration(self.idle_timeout),
            Key::HeaderTimeout => duration(self.header_timeout),
            Key::WriteTimeout => duration(self.write_timeout),
            Key::ShutdownTimeout => duration(self.shutdown_timeout),
            Key::MaxRequests => self.max_requests.into(),
            Key::MaxConnsPerIp => self.max_conns_per_ip.into(),
            Key::MinBodyRate => self.min_body_rate.into(),
            Key::MaxBody => self.max_body.into(),
            Key::MaxHead => self.max_head.into(),
            Key::FileCache => self.file_cache.into(),
            Key::Pollers => match self.pollers {
                0 => Value::String("auto".to_string()),
                n => n.into(),
            },
            Key::DeferAccept => match self.defer_accept {
                0 => Value::String("off".to_string()),
                secs => duration(Duration::from_secs(u64::from(secs))),
            },
            Key::AllowedHosts => texts(&self.allowed_hosts),
            Key::LogLevel => Value::String(self.log_level.as_str().to_ascii_lowercase()),
            Key::AccessLog => nullable(self.access_log.as_ref()),
            Key::AccessFormat => Value::String(self.access_format.0.clone()),
            Key::ServeTypes => texts(&self.serve_types),
            Key::InlineImages => Value::Bool(self.inline_images),
            Key::CacheControl => map(&self.cache_control),
            Key::Gzip => Value::Bool(self.gzip),
            Key::Precompressed => Value::Bool(self.precompressed),
            Key::MaxRanges => self.max_ranges.into(),
            Key::DirListing => Value::Bool(self.dir_listing),
            Key::Web => Value::Bool(self.web),
            Key::Types => map(&self.types),
            Key::Fallback => nullable(self.fallback.as_ref()),
            Key::ErrorPages => Value::Object(
                self.error_pages
                    .iter()
                    .map(|(status, path)| (status.to_string(), Value::String(path.clone())))
                    .collect(),
            ),
            Key::Etag => Value::String(self.etag.name().to_string()),
            Key::ServeInline => Value::Bool(self.serve_inline),
            Key::SecurityHeaders => map(&self.security_headers),
            Key::Csp => nullable(self.csp.as_ref()),
            Key::CorsOrigins => texts(&self.cors_origins),
            Key::TrustedProxies => texts(&self.trusted_proxies),
            Key::RateLimit => self.rate_limit.map_or(Value::Null, Value::from),
            Key::HealthPath => nullable(self.health_path.as_ref()),
            Key::MetricsPath => nullable(self.metrics_path.as_ref()),
            Key::TlsListen => Value::Array(
                self.tls_listen
                    .iter()
                    .map(|l| Value::String(l.text.clone()))
                    .collect(),
            ),
            Key::TlsCertFile => texts(&self.tls_cert),
            Key::TlsKeyFile => texts(&self.tls_key),
            Key::RedirectHttps => Value::Bool(self.redirect_https),
            Key::Hsts => self
                .hsts
                .map_or(Value::Null, |secs| duration(Duration::from_secs(secs))),
        }
    }

    /// Builds the server configuration and the logging settings.
    ///
    /// # Errors
    /// A [`UsageError`] when no listen address is left (`"listen": []`).
    pub fn into_settings(self) -> Result<Settings, UsageError> {
        let mut listen = self.listen.into_iter();
        let primary = listen.next().ok_or_else(|| {
            UsageError::new(format!("{} needs at least one address", Key::Listen.name()))
        })?;
        if self.tls_cert.len() != self.tls_key.len() {
            return Err(UsageError::new(format!(
                "{} and {} come in pairs: {} certificate(s), {} key(s)",
                Key::TlsCertFile.name(),
                Key::TlsKeyFile.name(),
                self.tls_cert.len(),
                self.tls_key.len()
            )));
        }
        if !self.tls_listen.is_empty() && self.tls_cert.is_empty() {
            return Err(UsageError::new(format!(
                "{} needs a certificate and key ({} and {})",
                Key::TlsListen.name(),
                Key::TlsCertFile.name(),
                Key::TlsKeyFile.name()
            )));
        }
        if self.tls_listen.is_empty() && !self.tls_cert.is_empty() {
            return Err(UsageError::new(format!(
                "{} is given but no {} address",
                Key::TlsCertFile.name(),
                Key::TlsListen.name()
            )));
        }
        if self.tls_listen.is_empty() && self.redirect_https {
            return Err(UsageError::new(format!(
                "{} needs a {} address to redirect to",
                Key::RedirectHttps.name(),
                Key::TlsListen.name()
            )));
        }
        let tls_certs = self
            .tls_cert
            .iter()
            .zip(&self.tls_key)
            .map(|(cert, key)| httpd_server::CertPair {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            })
            .collect();
        // `Config` and `Limits` are written out field by field, so a new server option does
        // not build until it has a key here.
        let Config {
            files: mut file_options,
            web: mut web_options,
            ..
        } = Config::default();
        let mut types = TypePolicy::default();
        for ext in &self.serve_types {
            types.allow_extension(ext);
        }
        let files = &mut file_options;
        let mut media_types = MediaTypes::default();
        for (ext, media_type) in &self.types {
            // Validated when applied; an operator's type also lets its extension be
            // served outside the web preset.
            media_types
                .set(ext, media_type)
                .map_err(|e| UsageError::new(format!("{}: {e}", Key::Types.name())))?;
            types.allow_extension(ext);
        }
        files.media_types = media_types;
        files.web = self.web;
        if self.web {
            files.cache = CachePolicy::web();
        }
        files.fallback = self.fallback;
        files.error_pages = self.error_pages;
        files.etag = self.etag;
        files.inline_images = self.inline_images;
        for (ext, value) in &self.cache_control {
            if ext == "*" {
                files.cache.set_fallback(value);
            } else {
                files.cache.set(ext, value);
            }
        }
        files.gzip = self.gzip;
        files.precompressed = self.precompressed;
        files.max_ranges = self.max_ranges;
        files.listing = self.dir_listing;
        let web = &mut web_options;
        web.security_headers = self.security_headers;
        web.html_csp = self.csp;
        web.cors_origins = self.cors_origins;
        web.trusted_proxies = self.trusted_proxies;
        web.rate_limit = self.rate_limit;
        web.health_path = self.health_path;
        web.metrics_path = self.metrics_path;
        let config = Config {
            listen: primary.addr,
            server_name: primary.server_name,
            also_listen: listen.map(|l| l.addr).collect(),
            reuse_port: self.reuse_port,
            root: PathBuf::from(&self.root),
            n_workers: self.threads,
            queue_capacity: self.queue,
            max_connections: self.max_connections,
            limits: Limits {
                max_head_bytes: self.max_head,
                max_body_bytes: self.max_body,
                idle_timeout: self.idle_timeout,
                header_timeout: self.header_timeout,
                write_timeout: self.write_timeout,
                max_requests: self.max_requests,
                max_conns_per_ip: self.max_conns_per_ip,
                min_body_rate: self.min_body_rate,
            },
            allowed_hosts: self.allowed_hosts,
            types,
            files: file_options,
            web: web_options,
            access_format: self.access_format.1,
            access_log: self.access_log.as_deref() != Some(ACCESS_LOG_OFF),
            serve_inline: self.serve_inline,
            file_cache_bytes: self.file_cache,
            n_pollers: self.pollers,
            defer_accept_secs: self.defer_accept,
            shutdown_timeout: self.shutdown_timeout,
            panic_path: self.panic_path,
            stall_path: self.stall_path,
            tls_listen: self.tls_listen.iter().map(|l| l.addr).collect(),
            tls_certs,
            hsts_secs: self.hsts,
            redirect_https: self.redirect_https,
        };
        Ok(Settings {
            config,
            root_display: self.root,
            log_level: self.log_level,
            access_log: self
                .access_log
                .filter(|v| v != ACCESS_LOG_OFF)
                .map(PathBuf::from),
        })
    }

    /// Validates and stores one `Cache-Control` entry; `*` is the fallback.
    fn set_cache_control(&mut self, name: &str, ext: &str, value: &str) -> Result<(), UsageError> {
        let ext = match ext.trim() {
            "*" => "*".to_string(),
            other => extension(name, other)?,
        };
        let value = header_value(name, value.trim())?;
        if value.is_empty() {
            return Err(UsageError::new(format!("{name}: empty value for '{ext}'")));
        }
        match self.cache_control.iter_mut().find(|(e, _)| *e == ext) {
            Some((_, old)) => *old = value.to_string(),
            None => self.cache_control.push((ext, value.to_string())),
        }
        Ok(())
    }

    /// Validates and stores one media type, replacing one for the same extension.
    fn set_type(&mut self, name: &str, ext: &str, media_type: &str) -> Result<(), UsageError> {
        // The one validation of the server's table, so both say the same.
        let mut check = MediaTypes::default();
        check
            .set(ext.trim(), media_type)
            .map_err(|e| UsageError::new(format!("{name}: {e} in '{ext}={media_type}'")))?;
        let (ext, media_type) = check
            .overrides()
            .next()
            .map(|(e, t)| (e.to_string(), t.to_string()))
            .expect("one override was just set");
        match self.types.iter_mut().find(|(e, _)| *e == ext) {
            Some((_, old)) => *old = media_type,
            None => self.types.push((ext, media_type)),
        }
        Ok(())
    }

    /// Validates and stores one custom error page, replacing one for the same status.
    fn set_error_page(&mut self, name: &str, status: &str, path: &str) -> Result<(), UsageError> {
        let status = status.trim();
        let code = status
            .parse::<u16>()
            .ok()
            .filter(|c| status.len() == 3 && (400..=599).contains(c))
            .ok_or_else(|| {
                UsageError::new(format!(
                    "{name} needs a status from 400 to 599, not '{status}'"
                ))
            })?;
        let path = site_path(name, path.trim())?;
        match self.error_pages.iter_mut().find(|(s, _)| *s == code) {
            Some((_, old)) => *old = path,
            None => self.error_pages.push((code, path)),
        }
        Ok(())
    }

    /// Validates and stores one response header, replacing one of the same name.
    fn set_header(&mut self, name: &str, header: &str, value: &str) -> Result<(), UsageError> {
        let header = header.trim();
        if header.is_empty()
            || !header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(UsageError::new(format!(
                "{name}: bad header name '{header}'"
            )));
        }
        let value = header_value(name, value.trim())?;
        self.security_headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(header));
        self.security_headers
            .push((header.to_string(), value.to_string()));
        Ok(())
    }
}

/// Returns the configuration-file name of an access format.
fn access_format_name(format: AccessFormat) -> &'static str {
    match format {
        AccessFormat::Common => "common",
        AccessFormat::Combined => "combined",
        AccessFormat::Json => "json",
        // `Default`, and any format added later, which `from_name` then must know.
        _ => "default",
    }
}

/// Checks a file extension (a leading dot allowed) and returns it lowercased.
fn extension(name: &str, value: &str) -> Result<String, UsageError> {
    let ext = value.trim().trim_start_matches('.').to_ascii_lowercase();
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(UsageError::new(format!(
            "{name} needs an extension like css, not '{value}'"
        )));
    }
    Ok(ext)
}

/// Refuses control characters in a value that becomes a response header.
fn header_value<'a>(name: &str, value: &'a str) -> Result<&'a str, UsageError> {
    if value.bytes().any(|b| b.is_ascii_control()) {
        return Err(UsageError::new(format!(
            "{name}: control characters in '{}'",
            value.escape_debug()
        )));
    }
    Ok(value)
}

/// Checks a URL path of a file of the root (`/index.html`), as a request for it would
/// be checked.
fn site_path(name: &str, value: &str) -> Result<String, UsageError> {
    check_site_path(value)
        .map(|()| value.to_string())
        .map_err(|e| UsageError::new(format!("{name}: '{value}': {e}")))
}

/// Resolves `host` (brackets allowed around IPv6) and `port` to the first address.
///
/// # Errors
/// When the name does not resolve.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, UsageError> {
    let bare = host.trim_matches(['[', ']']);
    (bare, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| UsageError::new(format!("cannot resolve host '{host}'")))
}

/// Resolves `HOST:PORT` or `[v6]:PORT`; returns the address and the host as written.
fn resolve_listen(name: &str, listen: &str) -> Result<(SocketAddr, String), UsageError> {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok((addr, addr.ip().to_string()));
    }
    let (host, port) = listen
        .rsplit_once(':')
        .ok_or_else(|| UsageError::new(format!("{name} needs HOST:PORT, not '{listen}'")))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| UsageError::new(format!("{name}: bad port in '{listen}'")))?;
    Ok((
        resolve(host, port)?,
        host.trim_matches(['[', ']']).to_string(),
    ))
}

fn endpoint_path(name: &str, value: &str) -> Result<String, UsageError> {
    let ok = value.starts_with('/')
        && value.len() > 1
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(UsageError::new(format!(
            "{name} needs a path like /healthz, not '{value}'"
        )))
    }
}

/// Parses a whole number in `min..=max`.
fn parse_count(name: &str, value: &str, min: usize, max: usize) -> Result<usize, UsageError> {
    let n = value
        .parse::<usize>()
        .map_err(|_| UsageError::new(format!("{name} needs a whole number, not '{value}'")))?;
    if n < min || n > max {
        return Err(UsageError::new(format!(
            "{name} must be between {min} and {max}"
        )));
    }
    Ok(n)
}

/// Parses `30`, `30s`, `500ms`, `2m` (plain numbers are seconds); zero is refused.
fn parse_duration(name: &str, value: &str) -> Result<Duration, UsageError> {
    let d = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(value).map_err(|_| {
            UsageError::new(format!("{name} needs a duration like 30s, not '{value}'"))
        })?,
    };
    if d.is_zero() {
        return Err(UsageError::new(format!("{name} must be more than zero")));
    }
    Ok(d)
}

/// Most seconds `--defer-accept` takes.
pub const MAX_DEFER_ACCEPT_SECS: u32 = 600;

/// Parses `off` or `0` (no deferral) or a duration, rounded up to whole seconds.
fn parse_defer(name: &str, value: &str) -> Result<u32, UsageError> {
    if value == "off" || value == "0" {
        return Ok(0);
    }
    let d = parse_duration(name, value)?;
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match u32::try_from(secs) {
        Ok(secs) if secs <= MAX_DEFER_ACCEPT_SECS => Ok(secs),
        _ => Err(UsageError::new(format!(
            "{name} takes off or a duration up to {MAX_DEFER_ACCEPT_SECS}s, not '{value}'"
        ))),
    }
}

/// Parses a byte count: digits with an optional `K`, `M` or `G` (binary multiples).
fn parse_bytes(name: &str, value: &str) -> Result<u64, UsageError> {
    let bad = || {
        UsageError::new(format!(
            "{name} needs a size like 8192 or 10M, not '{value}'"
        ))
    };
    let (digits, shift) = match value.as_bytes().last() {
        Some(b'k' | b'K') => (&value[..value.len() - 1], 10),
        Some(b'm' | b'M') => (&value[..value.len() - 1], 20),
        Some(b'g' | b'G') => (&value[..value.len() - 1], 30),
        _ => (value, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = digits.parse::<u64>().map_err(|_| bad())?;
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// Checks a file name given for `name` (a certificate or key): not empty, no NUL.
fn file_path(name: &str, v: &str) -> Result<String, UsageError> {
    if v.is_empty() || v.contains('\0') {
        return Err(UsageError::new(format!("{name} needs a file name")));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build_the_server_defaults() {
        let s = Options::default().into_settings().unwrap();
        let d = Config::default();
        assert_eq!(s.config.listen, d.listen);
        assert_eq!(s.config.server_name, d.server_name);
        assert_eq!(s.config.n_workers, d.n_workers);
        assert_eq!(s.config.queue_capacity, d.queue_capacity);
        assert_eq!(s.config.max_connections, d.max_connections);
        assert_eq!(s.config.limits, d.limits);
        assert_eq!(s.config.types, d.types);
        assert_eq!(s.config.files.cache, d.files.cache);
        assert_eq!(s.config.files.gzip, d.files.gzip);
        assert_eq!(s.config.files.max_ranges, d.files.max_ranges);
        assert_eq!(s.config.web.security_headers, d.web.security_headers);
        assert_eq!(s.config.web.html_csp, d.web.html_csp);
        assert_eq!(s.config.web.health_path, d.web.health_path);
        assert_eq!(s.config.access_format, d.access_format);
        assert_eq!(s.config.shutdown_timeout, d.shutdown_timeout);
        assert_eq!(s.log_level, log::LevelFilter::Info);
        assert_eq!(s.access_log, None);
    }

    #[test]
    fn every_value_reads_back_as_itself() {
        let mut o = Options::default();
        o.apply(Key::IdleTimeout, "t", Input::Text("90s")).unwrap();
        o.apply(Key::CacheControl, "t", Input::Entry(".PNG", "no-store"))
            .unwrap();
        o.apply(Key::SecurityHeaders, "t", Input::Text("X-A: 1"))
            .unwrap();
        o.apply(Key::RateLimit, "t", Input::Text("7")).unwrap();
        o.apply(Key::Csp, "t", Input::Off).unwrap();
        o.apply(Key::AccessFormat, "t", Input::Text("CLF")).unwrap();
        for key in Key::ALL {
            let mut again = Options::default();
            again.clear(key);
            match o.value(key) {
                Value::Array(items) => {
                    for item in items {
                        let text = item.as_str().unwrap();
                        again.apply(key, "t", Input::Text(text)).unwrap();
                    }
                }
                Value::Object(map) => {
                    for (k, v) in &map {
                        again
                            .apply(key, "t", Input::Entry(k, v.as_str().unwrap()))
                            .unwrap();
                    }
                }
                Value::Bool(true) => again.apply(key, "t", Input::On).unwrap(),
                Value::Bool(false) => again.apply(key, "t", Input::Off).unwrap(),
                Value::Null => again.apply(key, "t", Input::Off).unwrap(),
                Value::String(s) => again.apply(key, "t", Input::Text(&s)).unwrap(),
                Value::Number(n) => again.apply(key, "t", Input::Text(&n.to_string())).unwrap(),
            }
            let (a, b) = (o.value(key), again.value(key));
            assert_eq!(a, b, "{}", key.name());
        }
        assert_eq!(o.value(Key::IdleTimeout), Value::from("1m 30s"));
        assert_eq!(o.value(Key::AccessFormat), Value::from("clf"));
    }

    #[test]
    fn errors_name_the_option() {
        let cases: &[(Key, Input<'_>)] = &[
            (Key::Threads, Input::Text("0")),
            (Key::Threads, Input::Text("ten")),
            (Key::Threads, Input::On),
            (Key::IdleTimeout, Input::Text("0")),
            (Key::IdleTimeout, Input::Text("soon")),
            (Key::MaxBody, Input::Text("10X")),
            (Key::MaxHead, Input::Text("10")),
            (Key::DeferAccept, Input::Text("soon")),
            (Key::DeferAccept, Input::Text("1h")),
            (Key::LogLevel, Input::Text("loud")),
            (Key::Listen, Input::Text("nowhere")),
            (Key::AllowedHosts, Input::Text("")),
            (Key::AccessFormat, Input::Text("xml")),
            (Key::ServeTypes, Input::Text("../x")),
            (Key::CacheControl, Input::Text("png")),
            (Key::CacheControl, Input::Entry("", "x")),
            (Key::CacheControl, Input::Entry("a.b", "x")),
            (Key::CacheControl, Input::Entry("png", "a\nb")),
            (Key::SecurityHeaders, Input::Text("NoColon")),
            (Key::SecurityHeaders, Input::Entry("Bad_Name", "x")),
            (Key::Csp, Input::Text("a\rb")),
            (Key::CorsOrigins, Input::Text("a b")),
            (Key::TrustedProxies, Input::Text("example.com")),
            (Key::RateLimit, Input::Text("0")),
            (Key::HealthPath, Input::Text("healthz")),
            (Key::MetricsPath, Input::Text("/a?b")),
            (Key::Gzip, Input::Text("yes")),
            (Key::Web, Input::Text("yes")),
            (Key::Types, Input::Text("js")),
            (Key::Types, Input::Text("j s=text/plain")),
            (Key::Types, Input::Entry("js", "text/plain\r\nX: y")),
            (Key::Fallback, Input::Text("index.html")),
            (Key::Fallback, Input::Text("/../index.html")),
            (Key::Fallback, Input::Text("/app/")),
            (Key::ErrorPages, Input::Text("404")),
            (Key::ErrorPages, Input::Text("302=/x.html")),
            (Key::ErrorPages, Input::Text("4044=/x.html")),
            (Key::ErrorPages, Input::Entry("404", "/.hidden.html")),
            (Key::Etag, Input::Text("weak")),
        ];
        for &(key, input) in cases {
            let err = Options::default()
                .apply(key, "the-name", input)
                .unwrap_err();
            assert!(
                err.to_string().contains("the-name"),
                "{key:?} {input:?}: {err}"
            );
        }
    }

    #[test]
    fn map_entries_replace_earlier_ones() {
        let mut o = Options::default();
        o.apply(
            Key::SecurityHeaders,
            "t",
            Input::Entry("x-frame-options", "DENY"),
        )
        .unwrap();
        o.apply(Key::CacheControl, "t", Input::Text("*=max-age=60"))
            .unwrap();
        o.apply(Key::CacheControl, "t", Input::Text("HTML=no-store"))
            .unwrap();
        let s = o.into_settings().unwrap();
        let h = &s.config.web.security_headers;
        assert_eq!(h.len(), 3);
        assert!(h.contains(&("x-frame-options".to_string(), "DENY".to_string())));
        assert_eq!(s.config.files.cache.for_extension(None), "max-age=60");
        assert_eq!(s.config.files.cache.for_extension(Some("html")), "no-store");
        assert_eq!(s.config.files.cache.for_extension(Some("htm")), "no-cache");
    }

    #[test]
    fn site_options_build_the_file_options() {
        let mut o = Options::default();
        o.apply(Key::Web, "t", Input::On).unwrap();
        o.apply(Key::Types, "t", Input::Text(".GLB=model/gltf-binary"))
            .unwrap();
        o.apply(Key::Types, "t", Input::Entry("glb", "model/gltf+json"))
            .unwrap();
        o.apply(Key::Fallback, "t", Input::Text("/index.html"))
            .unwrap();
        o.apply(Key::ErrorPages, "t", Input::Text("404=/404.html"))
            .unwrap();
        o.apply(Key::ErrorPages, "t", Input::Entry("503", "/busy.html"))
            .unwrap();
        o.apply(Key::ErrorPages, "t", Input::Text("404=/errors/404.html"))
            .unwrap();
        o.apply(Key::Etag, "t", Input::Text("Content")).unwrap();
        assert_eq!(
            o.value(Key::Types),
            serde_json::json!({"glb": "model/gltf+json"})
        );
        assert_eq!(
            o.value(Key::ErrorPages),
            serde_json::json!({"404": "/errors/404.html", "503": "/busy.html"})
        );
        assert_eq!(o.value(Key::Etag), Value::from("content"));
        let s = o.into_settings().unwrap();
        let files = &s.config.files;
        assert!(files.web);
        assert_eq!(
            files.media_types.override_of("glb"),
            Some("model/gltf+json")
        );
        // An operator's type lets its extension be served outside the preset too.
        assert!(s.config.types.allows(Some("glb")));
        assert_eq!(files.fallback.as_deref(), Some("/index.html"));
        assert_eq!(files.error_pages.len(), 2);
        assert_eq!(files.etag, httpd_server::EtagMode::Content);
        // The preset's caching: immutable for hashed names, html revalidated.
        assert_eq!(
            files.cache.for_name("app.3f9a1c2b.js"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(files.cache.for_name("index.html"), "no-cache");
        let mut o = Options::default();
        o.apply(Key::Fallback, "t", Input::Text("/index.html"))
            .unwrap();
        o.apply(Key::Fallback, "t", Input::Off).unwrap();
        let s = o.into_settings().unwrap();
        assert!(s.config.files.fallback.is_none() && !s.config.files.web);
        assert_eq!(
            s.config.files.cache.for_name("app.3f9a1c2b.js"),
            "public, max-age=3600"
        );
    }

    #[test]
    fn an_empty_listen_list_is_refused() {
        let mut o = Options::default();
        o.clear(Key::Listen);
        let err = o.into_settings().unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
    }

    #[test]
    fn byte_sizes_take_binary_suffixes() {
        assert_eq!(parse_bytes("f", "10M").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_bytes("f", "2g").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("f", "8192").unwrap(), 8192);
        assert!(parse_bytes("f", "+5").is_err());
        assert!(parse_bytes("f", "99999999999999999999G").is_err());
    }

    #[test]
    fn file_errors_name_the_file() {
        let e = UsageError::new("threads must be between 1 and 4096").in_file(Path::new("a.json"));
        assert_eq!(e.to_string(), "a.json: threads must be between 1 and 4096");
        assert_eq!(e.file(), Some(Path::new("a.json")));
    }
}
