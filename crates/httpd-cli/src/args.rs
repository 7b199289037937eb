//! The command line: the seed's positional `[PORT] [HOST] [MAX_THREADS]` beside named
//! flags for every option and `--config FILE`, merged into [`Options`] (file first,
//! then positionals, then flags) and validated into [`Settings`].

use crate::config::{self, FileConfig};
use crate::options::{Input, Key, Kind, Options, Settings, UsageError, resolve};

/// The usage text printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: httpd [PORT] [HOST] [MAX_THREADS] [OPTIONS]

Serves the files of a directory over HTTP/1.1 (and HTTPS) and accepts JSON uploads at
POST /upload.

Positional (as the original server.py):
  PORT                     port to listen on [default: 8080]
  HOST                     address or name to listen on [default: 127.0.0.1]
  MAX_THREADS              worker threads [default: 10]

Options:
      --config FILE        read options from a JSON file; flags override it
      --check-config       validate the options, print them as a JSON configuration
                           file and exit (0 if valid, 2 if not) without serving
      --listen ADDR        address and port, e.g. 127.0.0.1:8080, [::1]:0 or [::]:8080
                           (dual-stack); repeatable; overrides PORT and HOST
      --reuse-port         set SO_REUSEPORT so several processes share a port
      --no-reuse-port      do not (overrides the configuration file)
      --root DIR           document root [default: ./resources]
      --threads N          worker threads, 1-4096 [default: 10]
      --queue N            jobs (uncached opens, gzip, uploads) waiting for a worker
                           before 503 [default: 50]
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
      --pollers N|auto     poller threads, each accepting and answering small
                           requests on its own connections [default: auto, one
                           per CPU the process may use]
      --defer-accept DUR|off  how long the kernel may hold a new connection until
                           its first bytes arrive before accepting it anyway
                           (TCP_DEFER_ACCEPT, whole seconds) [default: 1s]
      --file-cache BYTES   memory for small unchanged files (up to 64 KiB each,
                           revalidated by one statx per request); 0 turns it off
                           [default: 16M]
      --max-head BYTES     largest request head [default: 8192]
      --allowed-host HOST  also accept this Host (repeatable; * accepts any)
      --serve-type EXT     also serve files with this extension, inline with their
                           real media type (repeatable), e.g. css, js, svg, pdf
      --inline-images      serve png/jpg/jpeg inline with image/* types instead of
                           the seed's octet-stream downloads
      --no-inline-images   serve them as downloads (overrides the configuration file)
      --cache-control EXT=VALUE  Cache-Control for an extension (repeatable;
                           *=VALUE sets the fallback) [default: html=no-cache,
                           *=public, max-age=3600]
      --no-gzip            never compress on the fly
      --gzip               compress on the fly (overrides the configuration file)
      --no-precompressed   ignore name.gz / name.br sidecar files
      --precompressed      use them (overrides the configuration file)
      --max-ranges N       ranges per request before Range is ignored [default: 16]
      --dir-listing        list directories that have no index.html (HTML, or JSON
                           for ?format=json or Accept: application/json; sorted by
                           ?sort=name|size|mtime&order=asc|desc) and download a
                           directory as a tar archive with ?download=tar
      --no-dir-listing     do not (overrides the configuration file)
      --web                web preset: serve every extension of the built-in
                           media-type table inline with its real type (archives as
                           downloads), unknown ones as octet-stream downloads;
                           Cache-Control immutable for content-hashed names
                           (app.3f9a1c2b.js), no-cache for html; dot-files and
                           uploads/ keep the default rules
      --no-web             do not (overrides the configuration file)
      --type EXT=MEDIA     serve EXT with this media type, in either mode
                           (repeatable), e.g. glb=model/gltf-binary
      --fallback PATH      single-page application: a GET/HEAD of a missing path
                           without an extension, accepting text/html, gets this
                           file with 200, e.g. /index.html
      --no-fallback        no fallback page (overrides the configuration file)
      --error-page STATUS=PATH  send this file of the root, with STATUS, instead of
                           the built-in error page (repeatable; 400-599), e.g.
                           404=/404.html
      --etag MODE          entity-tags from size, date and inode (default) or from
                           the file's bytes (content) [default: default]
      --no-inline          hand every file request to a worker; by default the poller
                           answers files the file cache holds itself (--inline)
      --log-level LEVEL    off, error, warn, info, debug or trace [default: info]
      --access-log FILE    append access lines to FILE instead of stdout; SIGHUP
                           reopens it (for logrotate); `off` writes none
      --access-format FMT  default, common, combined or json [default: default]
      --header 'NAME: VALUE'  add or replace a response header on every response
                           (repeatable) [default: X-Content-Type-Options: nosniff,
                           X-Frame-Options: SAMEORIGIN, Referrer-Policy:
                           strict-origin-when-cross-origin]
      --no-security-headers  drop the default headers above
      --csp VALUE          Content-Security-Policy for the docroot's html files
                           [default: none; pages the server writes itself, errors
                           and listings, always get a strict one]
      --no-csp             send none on the docroot's html files
      --cors-origin ORIGIN allow this Origin (repeatable; * for any)
      --trusted-proxy IP   believe X-Forwarded-For / Forwarded from IP (repeatable)
      --rate-limit N       requests per second per client address (burst 2N); 429 beyond
      --no-rate-limit      no rate limit (overrides the configuration file)
      --health-path PATH   liveness endpoint [default: /healthz]
      --metrics-path PATH  Prometheus endpoint [default: /metrics]
      --no-health          disable the liveness endpoint
      --no-metrics         disable the metrics endpoint
      --tls-listen ADDR    also listen for HTTPS on ADDR (repeatable)
      --tls-cert FILE      PEM certificate chain; pairs in order with --tls-key
                           (repeatable: SNI picks, an unknown name gets the first)
      --tls-key FILE       PEM private key of the --tls-cert given at the same place
      --redirect-https     plain listeners answer GET/HEAD with 308 to https, the
                           rest with 400
      --no-redirect-https  do not (overrides the configuration file)
      --hsts DUR           Strict-Transport-Security max-age on HTTPS responses,
                           e.g. 1y or 31536000 [default: none]
      --no-hsts            send no Strict-Transport-Security
  -h, --help               print this help
  -V, --version            print the version

Flags override the configuration file whatever their order; a repeatable flag replaces
the file's list. SIGTERM or Ctrl+C stops gracefully (a second one at once); SIGHUP
reopens the access log and reloads the TLS certificates (the old ones stay if the new
files are bad). Listening sockets handed over by systemd socket activation
(LISTEN_PID, LISTEN_FDS) serve the --listen/--tls-listen addresses they are bound to.
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Serve with these settings.
    Serve(Box<Settings>),
    /// Print this effective configuration (JSON, the configuration file's schema).
    CheckConfig(String),
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
}

/// What one flag does.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// Applies the flag's value to the key.
    Set(Key),
    /// Applies [`Input::On`] to the key.
    On(Key),
    /// Applies [`Input::Off`] to the key.
    Off(Key),
    /// `--config FILE`.
    Config,
    /// `--check-config`.
    CheckConfig,
    /// `--test-panic-path PATH` (fault injection for tests; not in the usage text).
    PanicPath,
    /// `--test-stall-path PATH` (fault injection for tests; not in the usage text).
    StallPath,
}

impl Action {
    fn takes_value(self) -> bool {
        matches!(
            self,
            Action::Set(_) | Action::Config | Action::PanicPath | Action::StallPath
        )
    }
}

/// Looks up a flag (without any `=VALUE`).
fn action(flag: &str) -> Option<Action> {
    use Action::{CheckConfig, Config, Off, On, PanicPath, Set, StallPath};
    Some(match flag {
        "--config" => Config,
        "--check-config" => CheckConfig,
        "--listen" => Set(Key::Listen),
        "--reuse-port" => On(Key::ReusePort),
        "--no-reuse-port" => Off(Key::ReusePort),
        "--root" => Set(Key::Root),
        "--threads" => Set(Key::Threads),
        "--queue" => Set(Key::Queue),
        "--max-connections" => Set(Key::MaxConnections),
        "--idle-timeout" => Set(Key::IdleTimeout),
        "--header-timeout" => Set(Key::HeaderTimeout),
        "--write-timeout" => Set(Key::WriteTimeout),
        "--shutdown-timeout" => Set(Key::ShutdownTimeout),
        "--max-requests" => Set(Key::MaxRequests),
        "--max-conns-per-ip" => Set(Key::MaxConnsPerIp),
        "--min-body-rate" => Set(Key::MinBodyRate),
        "--max-body" => Set(Key::MaxBody),
        "--file-cache" => Set(Key::FileCache),
        "--pollers" => Set(Key::Pollers),
        "--defer-accept" => Set(Key::DeferAccept),
        "--max-head" => Set(Key::MaxHead),
        "--allowed-host" => Set(Key::AllowedHosts),
        "--log-level" => Set(Key::LogLevel),
        "--access-log" => Set(Key::AccessLog),
        "--access-format" => Set(Key::AccessFormat),
        "--serve-type" => Set(Key::ServeTypes),
        "--inline-images" => On(Key::InlineImages),
        "--no-inline-images" => Off(Key::InlineImages),
        "--cache-control" => Set(Key::CacheControl),
        "--gzip" => On(Key::Gzip),
        "--no-gzip" => Off(Key::Gzip),
        "--precompressed" => On(Key::Precompressed),
        "--no-precompressed" => Off(Key::Precompressed),
        "--max-ranges" => Set(Key::MaxRanges),
        "--dir-listing" => On(Key::DirListing),
        "--no-dir-listing" => Off(Key::DirListing),
        "--web" => On(Key::Web),
        "--no-web" => Off(Key::Web),
        "--type" => Set(Key::Types),
        "--fallback" => Set(Key::Fallback),
        "--no-fallback" => Off(Key::Fallback),
        "--error-page" => Set(Key::ErrorPages),
        "--etag" => Set(Key::Etag),
        "--inline" => On(Key::ServeInline),
        "--no-inline" => Off(Key::ServeInline),
        "--header" => Set(Key::SecurityHeaders),
        "--no-security-headers" => Off(Key::SecurityHeaders),
        "--csp" => Set(Key::Csp),
        "--no-csp" => Off(Key::Csp),
        "--cors-origin" => Set(Key::CorsOrigins),
        "--trusted-proxy" => Set(Key::TrustedProxies),
        "--rate-limit" => Set(Key::RateLimit),
        "--no-rate-limit" => Off(Key::RateLimit),
        "--health-path" => Set(Key::HealthPath),
        "--no-health" => Off(Key::HealthPath),
        "--metrics-path" => Set(Key::MetricsPath),
        "--no-metrics" => Off(Key::MetricsPath),
        "--tls-listen" => Set(Key::TlsListen),
        "--tls-cert" => Set(Key::TlsCertFile),
        "--tls-key" => Set(Key::TlsKeyFile),
        "--redirect-https" => On(Key::RedirectHttps),
        "--no-redirect-https" => Off(Key::RedirectHttps),
        "--hsts" => Set(Key::Hsts),
        "--no-hsts" => Off(Key::Hsts),
        "--test-panic-path" => PanicPath,
        "--test-stall-path" => StallPath,
        _ => return None,
    })
}

/// Parses `args` (without the program name): reads `--config` first wherever it
/// stands, then applies the positionals, then every other flag in order, each through
/// [`Options::apply`].
///
/// # Errors
/// A [`UsageError`] naming the bad flag, key or value (and the file, for the file's).
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut positional: Vec<&str> = Vec::new();
    let mut flags: Vec<(&str, Action, Option<&str>)> = Vec::new();
    let mut config_path: Option<&str> = None;
    let mut check = false;

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
            positional.extend(args[i..].iter().map(String::as_str));
            break;
        }
        if !arg.starts_with("--") || arg.len() == 2 {
            if arg.starts_with('-') && arg.len() > 1 && arg.parse::<i64>().is_err() {
                return Err(UsageError::new(format!("unknown option '{arg}'")));
            }
            positional.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (arg, None),
        };
        let action =
            action(flag).ok_or_else(|| UsageError::new(format!("unknown option '{flag}'")))?;
        let value = if !action.takes_value() {
            if inline.is_some() {
                return Err(UsageError::new(format!("{flag} takes no value")));
            }
            None
        } else if inline.is_some() {
            inline
        } else {
            let v = args
                .get(i)
                .ok_or_else(|| UsageError::new(format!("{flag} needs a value")))?;
            i += 1;
            Some(v.as_str())
        };
        match (action, value) {
            (Action::Config, Some(path)) => {
                if config_path.replace(path).is_some() {
                    return Err(UsageError::new("--config given twice"));
                }
            }
            (Action::CheckConfig, _) => check = true,
            _ => flags.push((flag, action, value)),
        }
    }

    let mut options = Options::default();
    if let Some(path) = config_path {
        config::load(path.as_ref(), &mut options)?;
    }
    apply_positionals(&mut options, &positional)?;
    // A repeatable flag replaces the list the file (or the positionals) gave.
    let mut replaced: Vec<Key> = Vec::new();
    for (flag, action, value) in flags {
        match (action, value) {
            (Action::Set(key), Some(v)) => {
                let is_list = key.kind() == Kind::List;
                if is_list && !replaced.contains(&key) {
                    options.clear(key);
                    replaced.push(key);
                }
                options.apply(key, flag, Input::Text(v))?;
            }
            (Action::On(key), _) => options.apply(key, flag, Input::On)?,
            (Action::Off(key), _) => options.apply(key, flag, Input::Off)?,
            (Action::PanicPath, Some(path)) => options.set_panic_path(path),
            (Action::StallPath, Some(path)) => options.set_stall_path(path),
            _ => return Err(UsageError::new(format!("{flag} needs a value"))),
        }
    }

    let rendered = check.then(|| FileConfig::from_options(&options).to_json());
    let settings = options.into_settings()?;
    Ok(match rendered {
        Some(json) => Command::CheckConfig(json),
        None => Command::Serve(Box::new(settings)),
    })
}

/// Applies the seed's `[PORT] [HOST] [MAX_THREADS]`: PORT or HOST replace the listen
/// addresses with `HOST:PORT` (defaults 127.0.0.1 and 8080).
fn apply_positionals(options: &mut Options, positional: &[&str]) -> Result<(), UsageError> {
    if let Some(extra) = positional.get(3) {
        return Err(UsageError::new(format!("unexpected argument '{extra}'")));
    }
    if let Some(&p) = positional.first() {
        let port = p.parse::<u16>().map_err(|_| {
            UsageError::new(format!("PORT must be a number from 0 to 65535, not '{p}'"))
        })?;
        let host = positional.get(1).copied().unwrap_or("127.0.0.1");
        // Validates the name with the seed's message before it becomes a listen address.
        resolve(host, port)?;
        let bare = host.trim_matches(['[', ']']);
        let listen = if bare.contains(':') {
            format!("[{bare}]:{port}")
        } else {
            format!("{bare}:{port}")
        };
        options.clear(Key::Listen);
        options.apply(Key::Listen, "HOST", Input::Text(&listen))?;
    }
    if let Some(&t) = positional.get(2) {
        options.apply(Key::Threads, "MAX_THREADS", Input::Text(t))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use httpd_server::Limits;

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
        let s = settings("8000 ::1");
        assert_eq!(s.config.listen, "[::1]:8000".parse().unwrap());
        assert_eq!(s.config.server_name, "::1");
        let s = settings("8000 localhost");
        assert_eq!(s.config.server_name, "localhost");
        let s = settings("--threads 3 8000 127.0.0.1 20");
        assert_eq!(s.config.n_workers, 3);
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
        assert_eq!(s.config.server_name, "127.0.0.1");
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
        let s = settings("--max-conns-per-ip 4 --min-body-rate 1K");
        assert_eq!(s.config.limits.max_conns_per_ip, 4);
        assert_eq!(s.config.limits.min_body_rate, 1024);
        let s = settings("--min-body-rate 0");
        assert_eq!(s.config.limits.min_body_rate, 0);
        assert!(parse(&args("--max-conns-per-ip 0")).is_err());
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
        let s = settings("--no-gzip --gzip --inline-images --no-inline-images");
        assert!(s.config.files.gzip && !s.config.files.inline_images);
        for bad in [
            "--serve-type ../x",
            "--cache-control png",
            "--cache-control =x",
            "--max-ranges x",
            "--no-gzip=1",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn site_flags_are_parsed() {
        let s = settings(
            "--web --type glb=model/gltf-binary --fallback /index.html \
             --error-page 404=/404.html --error-page 503=/busy.html --etag content",
        );
        let files = &s.config.files;
        assert!(files.web);
        assert_eq!(
            files.media_types.override_of("glb"),
            Some("model/gltf-binary")
        );
        assert_eq!(files.fallback.as_deref(), Some("/index.html"));
        assert_eq!(
            files.error_pages,
            vec![
                (404, "/404.html".to_string()),
                (503, "/busy.html".to_string())
            ]
        );
        assert_eq!(files.etag, httpd_server::EtagMode::Content);
        let s = settings("--web --no-web --fallback /a.html --no-fallback");
        assert!(!s.config.files.web && s.config.files.fallback.is_none());
        for bad in [
            "--type glb",
            "--fallback app",
            "--error-page 404",
            "--error-page 200=/x.html",
            "--etag weak",
            "--web=1",
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
            vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(s.config.web.rate_limit, Some(5));
        assert_eq!(s.config.web.health_path.as_deref(), Some("/up"));
        assert_eq!(s.config.web.metrics_path, None);
        let s =
            settings("--no-security-headers --no-csp --no-health --rate-limit 3 --no-rate-limit");
        assert!(s.config.web.security_headers.is_empty());
        assert!(s.config.web.html_csp.is_none() && s.config.web.health_path.is_none());
        assert!(s.config.web.rate_limit.is_none());
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
    fn check_config_prints_the_effective_configuration() {
        let Ok(Command::CheckConfig(json)) = parse(&args("--check-config 8000 --threads 3")) else {
            panic!("expected CheckConfig");
        };
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["listen"], serde_json::json!(["127.0.0.1:8000"]));
        assert_eq!(v["threads"], serde_json::json!(3));
        assert_eq!(v["idle_timeout"], serde_json::json!("30s"));
        assert!(parse(&args("--check-config --threads 0")).is_err());
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
            "--config",
            "--config a --config b",
        ] {
            let err = parse(&args(bad)).unwrap_err();
            assert!(err.file().is_none(), "{bad:?}: {err}");
        }
    }
}
