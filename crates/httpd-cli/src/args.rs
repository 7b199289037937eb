//! The command line: the seed's positional `[PORT] [HOST] [MAX_THREADS]` beside named
//! flags for every limit, validated into a [`Settings`].

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use httpd_security::Limits;
use httpd_server::Config;

/// The usage text printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: httpd [PORT] [HOST] [MAX_THREADS] [OPTIONS]

Serves the files of a directory over HTTP/1.1 and accepts JSON uploads at POST /upload.

Positional (as the original server.py):
  PORT                     port to listen on [default: 8080]
  HOST                     address or name to listen on [default: 127.0.0.1]
  MAX_THREADS              worker threads [default: 10]

Options:
      --listen ADDR        address and port, e.g. 127.0.0.1:8080, [::1]:0 or [::]:8080
                           (dual-stack); repeatable; overrides PORT and HOST
      --reuse-port         set SO_REUSEPORT so several processes share a port
                           (overrides PORT and HOST)
      --root DIR           document root [default: ./resources]
      --threads N          worker threads, 1-4096 [default: 10]
      --queue N            ready connections (request head received) waiting for a
                           worker before 503 [default: 50]
      --max-connections N  connections open at once before 503, lowered to fit the
                           open-file limit [default: 16384]
      --idle-timeout DUR   keep-alive idle time, e.g. 30s or 500ms [default: 30s]
      --header-timeout DUR time to send a whole request head [default: 10s]
      --write-timeout DUR  time one blocked write may take [default: 30s]
      --shutdown-timeout DUR  wait for busy workers on shutdown [default: 10s]
      --max-requests N     requests per connection [default: 100]
      --max-conns-per-ip N connections one client address may hold [default: 256]
      --min-body-rate BYTES  slowest average upload rate per second, enforced after
                           --header-timeout [default: 512; 0 disables]
      --max-body BYTES     largest upload, e.g. 10485760 or 10M [default: 10M]
      --max-head BYTES     largest request head [default: 8192]
      --allowed-host HOST  also accept this Host (repeatable; * accepts any)
      --serve-type EXT     also serve files with this extension, inline with their
                           real media type (repeatable), e.g. css, js, svg, pdf
      --inline-images      serve png/jpg/jpeg inline with image/* types instead of
                           the seed's octet-stream downloads
      --cache-control EXT=VALUE  Cache-Control for an extension (repeatable;
                           *=VALUE sets the fallback) [default: html=no-cache,
                           *=public, max-age=3600]
      --no-gzip            never compress on the fly
      --no-precompressed   ignore name.gz / name.br sidecar files
      --max-ranges N       ranges per request before Range is ignored [default: 16]
      --dir-listing        list directories that have no index.html
      --log-level LEVEL    off, error, warn, info, debug or trace [default: info]
      --access-log FILE    append access lines to FILE instead of stdout
      --access-format FMT  default, common, combined or json [default: default]
      --header 'NAME: VALUE'  add or replace a response header on every response
                           (repeatable) [default: X-Content-Type-Options: nosniff,
                           X-Frame-Options: SAMEORIGIN, Referrer-Policy:
                           strict-origin-when-cross-origin]
      --no-security-headers  drop the default headers above
      --csp VALUE          Content-Security-Policy for html [default: default-src 'self']
      --no-csp             send no Content-Security-Policy
      --cors-origin ORIGIN allow this Origin (repeatable; * for any)
      --trusted-proxy IP   believe X-Forwarded-For / Forwarded from IP (repeatable)
      --rate-limit N       requests per second per client address (burst 2N); 429 beyond
      --health-path PATH   liveness endpoint [default: /healthz]
      --metrics-path PATH  Prometheus endpoint [default: /metrics]
      --no-health          disable the liveness endpoint
      --no-metrics         disable the metrics endpoint
  -h, --help               print this help
  -V, --version            print the version
";

/// A command-line error: printed with the usage text, exit code 2.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Serve with these settings.
    Serve(Box<Settings>),
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
}

/// Validated settings for one run.
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

/// Parses `args` (without the program name).
///
/// # Errors
/// A [`UsageError`] naming the bad flag or value.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut config = Config::default();
    let mut limits = Limits::default();
    let mut positional: Vec<String> = Vec::new();
    let mut listen: Vec<String> = Vec::new();
    let mut root: Option<String> = None;
    let mut threads: Option<usize> = None;
    let mut log_level = log::LevelFilter::Info;
    let mut access_log = None;

    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        if arg == "-V" || arg == "--version" {
            return Ok(Command::Version);
        }
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if !arg.starts_with("--") || arg.len() == 2 {
            if arg.starts_with('-') && arg.len() > 1 && arg.parse::<i64>().is_err() {
                return Err(UsageError(format!("unknown option '{arg}'")));
            }
            positional.push(arg.to_string());
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg, None),
        };
        let mut value = || -> Result<String, UsageError> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args
                .get(i)
                .cloned()
                .ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
            i += 1;
            Ok(v)
        };
        match flag {
            "--listen" => listen.push(value()?),
            "--reuse-port" => config.reuse_port = true,
            "--root" => root = Some(value()?),
            "--threads" => threads = Some(parse_count(flag, &value()?, 1, 4096)?),
            "--queue" => config.queue_capacity = parse_count(flag, &value()?, 0, 1_000_000)?,
            "--max-connections" => {
                config.max_connections = parse_count(flag, &value()?, 1, 16_777_216)?;
            }
            "--idle-timeout" => limits.idle_timeout = parse_duration(flag, &value()?)?,
            "--header-timeout" => limits.header_timeout = parse_duration(flag, &value()?)?,
            "--write-timeout" => limits.write_timeout = parse_duration(flag, &value()?)?,
            "--shutdown-timeout" => config.shutdown_timeout = parse_duration(flag, &value()?)?,
            "--max-conns-per-ip" => {
                limits.max_conns_per_ip = parse_count(flag, &value()?, 1, 1_000_000)?;
            }
            "--min-body-rate" => limits.min_body_rate = parse_bytes(flag, &value()?)?,
            "--max-requests" => {
                let n = parse_count(flag, &value()?, 1, u32::MAX as usize)?;
                limits.max_requests = u32::try_from(n).unwrap_or(u32::MAX);
            }
            "--max-body" => limits.max_body_bytes = parse_bytes(flag, &value()?)?,
            "--max-head" => {
                let n = parse_bytes(flag, &value()?)?;
                if !(256..=1024 * 1024).contains(&n) {
                    return Err(UsageError(format!(
                        "{flag} must be between 256 and 1048576 bytes"
                    )));
                }
                limits.max_head_bytes = usize::try_from(n).unwrap_or(usize::MAX);
            }
            "--allowed-host" => {
                let host = value()?;
                if host.is_empty() {
                    return Err(UsageError(format!("{flag} needs a host name")));
                }
                config.allowed_hosts.push(host);
            }
            "--log-level" => {
                let v = value()?;
                log_level = v
                    .parse()
                    .map_err(|_| UsageError(format!("{flag}: unknown level '{v}'")))?;
            }
            "--access-log" => access_log = Some(PathBuf::from(value()?)),
            "--serve-type" => {
                let ext = value()?;
                let ext = ext.trim().trim_start_matches('.').to_ascii_lowercase();
                if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(UsageError(format!("{flag} needs an extension like css")));
                }
                config.types.allow_extension(&ext);
            }
            "--inline-images" => config.files.inline_images = true,
            "--dir-listing" => config.files.listing = true,
            "--no-gzip" => config.files.gzip = false,
            "--no-precompressed" => config.files.precompressed = false,
            "--max-ranges" => config.files.max_ranges = parse_count(flag, &value()?, 0, 1000)?,
            "--cache-control" => {
                let v = value()?;
                let (ext, cc) = v
                    .split_once('=')
                    .filter(|(e, c)| !e.is_empty() && !c.trim().is_empty())
                    .ok_or_else(|| UsageError(format!("{flag} needs EXT=VALUE, not '{v}'")))?;
                if cc.bytes().any(|b| b.is_ascii_control()) {
                    return Err(UsageError(format!("{flag}: control characters in '{v}'")));
                }
                if ext == "*" {
                    config.files.cache.set_fallback(cc.trim());
                } else {
                    config.files.cache.set(ext, cc.trim());
                }
            }
            "--access-format" => {
                let v = value()?;
                config.access_format = httpd_server::AccessFormat::from_name(&v)
                    .ok_or_else(|| UsageError(format!("{flag}: unknown format '{v}'")))?;
            }
            "--header" => {
                let v = value()?;
                let (name, val) = v
                    .split_once(':')
                    .map(|(n, v)| (n.trim(), v.trim()))
                    .filter(|(n, _)| {
                        !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
                    .ok_or_else(|| UsageError(format!("{flag} needs 'Name: value', not '{v}'")))?;
                if val.bytes().any(|b| b.is_ascii_control()) {
                    return Err(UsageError(format!("{flag}: control characters in '{v}'")));
                }
                let headers = &mut config.web.security_headers;
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                headers.push((name.to_string(), val.to_string()));
            }
            "--no-security-headers" => config.web.security_headers.clear(),
            "--csp" => {
                let v = value()?;
                if v.bytes().any(|b| b.is_ascii_control()) {
                    return Err(UsageError(format!("{flag}: control characters")));
                }
                config.web.html_csp = Some(v);
            }
            "--no-csp" => config.web.html_csp = None,
            "--cors-origin" => {
                let v = value()?;
                if v.is_empty() || v.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err(UsageError(format!(
                        "{flag} needs an origin like https://app.example"
                    )));
                }
                config.web.cors_origins.push(v);
            }
            "--trusted-proxy" => {
                let v = value()?;
                let ip = v
                    .parse()
                    .map_err(|_| UsageError(format!("{flag} needs an IP address, not '{v}'")))?;
                config.web.trusted_proxies.push(ip);
            }
            "--rate-limit" => {
                let n = parse_count(flag, &value()?, 1, 1_000_000)?;
                config.web.rate_limit = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "--health-path" => config.web.health_path = Some(endpoint_path(flag, &value()?)?),
            "--metrics-path" => config.web.metrics_path = Some(endpoint_path(flag, &value()?)?),
            "--no-health" => config.web.health_path = None,
            "--no-metrics" => config.web.metrics_path = None,
            "--test-panic-path" => config.panic_path = Some(value()?),
            _ => return Err(UsageError(format!("unknown option '{flag}'"))),
        }
    }

    if positional.len() > 3 {
        return Err(UsageError(format!(
            "unexpected argument '{}'",
            positional[3]
        )));
    }
    let port = match positional.first() {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| UsageError(format!("PORT must be a number from 0 to 65535, not '{p}'")))?,
        None => 8080,
    };
    let host = positional
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1".to_string());
    if let Some(t) = positional.get(2) {
        let n = parse_count("MAX_THREADS", t, 1, 4096)?;
        threads = threads.or(Some(n));
    }
    if let Some(n) = threads {
        config.n_workers = n;
    }
    let (addr, server_name) = match listen.first() {
        Some(l) => resolve_listen(l)?,
        None => (
            resolve(&host, port)?,
            host.trim_matches(['[', ']']).to_string(),
        ),
    };
    config.listen = addr;
    for extra in listen.iter().skip(1) {
        config.also_listen.push(resolve_listen(extra)?.0);
    }
    config.server_name = server_name;
    let root_display = root.unwrap_or_else(|| "resources".to_string());
    config.root = PathBuf::from(&root_display);
    config.limits = limits;
    Ok(Command::Serve(Box::new(Settings {
        config,
        root_display,
        log_level,
        access_log,
    })))
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, UsageError> {
    let bare = host.trim_matches(['[', ']']);
    (bare, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| UsageError(format!("cannot resolve host '{host}'")))
}

fn resolve_listen(listen: &str) -> Result<(SocketAddr, String), UsageError> {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok((addr, addr.ip().to_string()));
    }
    let (host, port) = listen
        .rsplit_once(':')
        .ok_or_else(|| UsageError(format!("--listen needs HOST:PORT, not '{listen}'")))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| UsageError(format!("--listen: bad port in '{listen}'")))?;
    Ok((
        resolve(host, port)?,
        host.trim_matches(['[', ']']).to_string(),
    ))
}

fn endpoint_path(flag: &str, value: &str) -> Result<String, UsageError> {
    let ok = value.starts_with('/')
        && value.len() > 1
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(UsageError(format!(
            "{flag} needs a path like /healthz, not '{value}'"
        )))
    }
}

fn parse_count(flag: &str, value: &str, min: usize, max: usize) -> Result<usize, UsageError> {
    let n = value
        .parse::<usize>()
        .map_err(|_| UsageError(format!("{flag} needs a whole number, not '{value}'")))?;
    if n < min || n > max {
        return Err(UsageError(format!(
            "{flag} must be between {min} and {max}"
        )));
    }
    Ok(n)
}

/// Parses `30`, `30s`, `500ms`, `2m` (plain numbers are seconds); zero is refused.
fn parse_duration(flag: &str, value: &str) -> Result<Duration, UsageError> {
    let d = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(value)
            .map_err(|_| UsageError(format!("{flag} needs a duration like 30s, not '{value}'")))?,
    };
    if d.is_zero() {
        return Err(UsageError(format!("{flag} must be more than zero")));
    }
    Ok(d)
}

/// Parses a byte count: digits with an optional `K`, `M` or `G` (binary multiples).
fn parse_bytes(flag: &str, value: &str) -> Result<u64, UsageError> {
    let bad = || {
        UsageError(format!(
            "{flag} needs a size like 8192 or 10M, not '{value}'"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn settings(s: &str) -> Settings {
        match parse(&args(s)).unwrap() {
            Command::Serve(settings) => *settings,
            other => panic!("expected settings, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_seed() {
        let s = settings("");
        assert_eq!(s.config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.config.n_workers, 10);
        assert_eq!(s.config.queue_capacity, 50);
        assert_eq!(s.config.max_connections, 16_384);
        assert_eq!(s.config.root, PathBuf::from("resources"));
        assert_eq!(s.config.limits, Limits::default());
        assert_eq!(s.log_level, log::LevelFilter::Info);
    }

    #[test]
    fn positional_port_host_and_threads() {
        let s = settings("8000 0.0.0.0 20");
        assert_eq!(s.config.listen, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(s.config.server_name, "0.0.0.0");
        assert_eq!(s.config.n_workers, 20);
    }

    #[test]
    fn listen_flag_overrides_positional() {
        let s = settings("8000 --listen 127.0.0.1:0");
        assert_eq!(s.config.listen, "127.0.0.1:0".parse().unwrap());
        let s = settings("--listen=[::1]:9000");
        assert_eq!(s.config.listen, "[::1]:9000".parse().unwrap());
        assert_eq!(s.config.server_name, "::1");
        let s = settings("--listen 127.0.0.1:0 --listen [::1]:0 --reuse-port");
        assert_eq!(s.config.also_listen, vec!["[::1]:0".parse().unwrap()]);
        assert!(s.config.reuse_port);
    }

    #[test]
    fn named_limits_are_parsed() {
        let s = settings(
            "--threads 3 --queue 7 --idle-timeout 500ms --header-timeout 2 --max-requests 5 \
             --max-body 1K --max-head 4096 --allowed-host example.com --log-level debug",
        );
        assert_eq!(s.config.n_workers, 3);
        assert_eq!(s.config.queue_capacity, 7);
        assert_eq!(s.config.limits.idle_timeout, Duration::from_millis(500));
        assert_eq!(s.config.limits.header_timeout, Duration::from_secs(2));
        assert_eq!(s.config.limits.max_requests, 5);
        assert_eq!(s.config.limits.max_body_bytes, 1024);
        assert_eq!(s.config.limits.max_head_bytes, 4096);
        assert_eq!(s.config.allowed_hosts, vec!["example.com".to_string()]);
        assert_eq!(s.log_level, log::LevelFilter::Debug);
    }

    #[test]
    fn max_connections_is_a_count_from_one() {
        let s = settings("--max-connections 300");
        assert_eq!(s.config.max_connections, 300);
        let s = settings("--max-connections=1");
        assert_eq!(s.config.max_connections, 1);
        for bad in [
            "--max-connections 0",
            "--max-connections -5",
            "--max-connections lots",
            "--max-connections 99999999999",
            "--max-connections",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn file_options_are_parsed() {
        let s = settings(
            "--serve-type css --serve-type .SVG --inline-images --dir-listing --no-gzip \
             --no-precompressed --max-ranges 2 --cache-control png=no-store \
             --cache-control *=max-age=60",
        );
        assert!(s.config.types.allows(Some("css")));
        assert!(s.config.types.allows(Some("svg")));
        assert!(s.config.files.inline_images && s.config.files.listing);
        assert!(!s.config.files.gzip && !s.config.files.precompressed);
        assert_eq!(s.config.files.max_ranges, 2);
        assert_eq!(s.config.files.cache.for_extension(Some("png")), "no-store");
        assert_eq!(
            s.config.files.cache.for_extension(Some("txt")),
            "max-age=60"
        );
        for bad in [
            "--serve-type ../x",
            "--cache-control png",
            "--cache-control =x",
            "--max-ranges x",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn web_options_are_parsed() {
        let s = settings(
            "--access-format json --header X-Frame-Options:DENY --header X-Extra:1 --csp none \
             --cors-origin https://a.example --trusted-proxy 10.0.0.1 --rate-limit 5 \
             --health-path /up --no-metrics",
        );
        assert_eq!(s.config.access_format, httpd_server::AccessFormat::Json);
        let h = &s.config.web.security_headers;
        assert!(h.contains(&("X-Frame-Options".to_string(), "DENY".to_string())));
        assert!(h.contains(&("X-Extra".to_string(), "1".to_string())));
        assert_eq!(h.iter().filter(|(n, _)| n == "X-Frame-Options").count(), 1);
        assert_eq!(s.config.web.html_csp.as_deref(), Some("none"));
        assert_eq!(
            s.config.web.cors_origins,
            vec!["https://a.example".to_string()]
        );
        assert_eq!(
            s.config.web.trusted_proxies,
            vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(s.config.web.rate_limit, Some(5));
        assert_eq!(s.config.web.health_path.as_deref(), Some("/up"));
        assert_eq!(s.config.web.metrics_path, None);
        let s = settings("--no-security-headers --no-csp --no-health");
        assert!(s.config.web.security_headers.is_empty());
        assert!(s.config.web.html_csp.is_none() && s.config.web.health_path.is_none());
        for bad in [
            "--access-format xml",
            "--header NoColon",
            "--header Bad_Name:x",
            "--trusted-proxy example.com",
            "--rate-limit 0",
            "--health-path healthz",
            "--metrics-path /a?b",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn help_and_version_win() {
        assert!(matches!(parse(&args("--help")), Ok(Command::Help)));
        assert!(matches!(parse(&args("8080 -V")), Ok(Command::Version)));
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for bad in [
            "99999",
            "abc",
            "8080 127.0.0.1 0",
            "8080 127.0.0.1 ten",
            "1 2 3 4",
            "--threads",
            "--threads 0",
            "--queue -1",
            "--idle-timeout 0",
            "--idle-timeout soon",
            "--max-body 10X",
            "--max-body ''",
            "--max-head 10",
            "--log-level loud",
            "--listen nowhere",
            "--bogus",
            "-x",
            "--allowed-host=",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn byte_sizes_take_binary_suffixes() {
        assert_eq!(parse_bytes("f", "10M").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_bytes("f", "2g").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("f", "8192").unwrap(), 8192);
        assert!(parse_bytes("f", "+5").is_err());
        assert!(parse_bytes("f", "99999999999999999999G").is_err());
    }
}
