//! The JSON configuration file (`--config FILE`) and the effective configuration that
//! `--check-config` prints, in one schema: [`FileConfig`] has a key for every
//! [`Key`], and each value goes through [`Options::apply`], as a flag's does.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::options::{Input, Key, Kind, Options, UsageError};

/// Largest configuration file read, in bytes: far more than every key needs.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One key's value in the file: absent, or any JSON value (`null` included, which turns
/// a nullable option off).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field {
    /// The key is not in the file: the option keeps its default (or the flag's value).
    #[default]
    Absent,
    /// The key's value, checked later by [`Options::apply`].
    Given(Value),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Field, D::Error> {
        Value::deserialize(deserializer).map(Field::Given)
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Absent => serializer.serialize_none(),
            Field::Given(value) => value.serialize(serializer),
        }
    }
}

/// The configuration file: one optional field per [`Key`], named as [`Key::name`];
/// any other key is refused.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// The value of [`Key::Listen`].
    pub listen: Field,
    /// The value of [`Key::ReusePort`].
    pub reuse_port: Field,
    /// The value of [`Key::Root`].
    pub root: Field,
    /// The value of [`Key::Threads`].
    pub threads: Field,
    /// The value of [`Key::Queue`].
    pub queue: Field,
    /// The value of [`Key::MaxConnections`].
    pub max_connections: Field,
    /// The value of [`Key::IdleTimeout`].
    pub idle_timeout: Field,
    /// The value of [`Key::HeaderTimeout`].
    pub header_timeout: Field,
    /// The value of [`Key::WriteTimeout`].
    pub write_timeout: Field,
    /// The value of [`Key::ShutdownTimeout`].
    pub shutdown_timeout: Field,
    /// The value of [`Key::MaxRequests`].
    pub max_requests: Field,
    /// The value of [`Key::MaxConnsPerIp`].
    pub max_conns_per_ip: Field,
    /// The value of [`Key::MinBodyRate`].
    pub min_body_rate: Field,
    /// The value of [`Key::MaxBody`].
    pub max_body: Field,
    /// The value of [`Key::MaxHead`].
    pub max_head: Field,
    /// The value of [`Key::FileCache`].
    pub file_cache: Field,
    /// The value of [`Key::Pollers`].
    pub pollers: Field,
    /// The value of [`Key::DeferAccept`].
    pub defer_accept: Field,
    /// The value of [`Key::AllowedHosts`].
    pub allowed_hosts: Field,
    /// The value of [`Key::LogLevel`].
    pub log_level: Field,
    /// The value of [`Key::AccessLog`].
    pub access_log: Field,
    /// The value of [`Key::AccessFormat`].
    pub access_format: Field,
    /// The value of [`Key::ServeTypes`].
    pub serve_types: Field,
    /// The value of [`Key::InlineImages`].
    pub inline_images: Field,
    /// The value of [`Key::CacheControl`].
    pub cache_control: Field,
    /// The value of [`Key::Gzip`].
    pub gzip: Field,
    /// The value of [`Key::Precompressed`].
    pub precompressed: Field,
    /// The value of [`Key::MaxRanges`].
    pub max_ranges: Field,
    /// The value of [`Key::DirListing`].
    pub dir_listing: Field,
    /// The value of [`Key::Web`].
    pub web: Field,
    /// The value of [`Key::Types`].
    pub types: Field,
    /// The value of [`Key::Fallback`].
    pub fallback: Field,
    /// The value of [`Key::ErrorPages`].
    pub error_pages: Field,
    /// The value of [`Key::Etag`].
    pub etag: Field,
    /// The value of [`Key::ServeInline`].
    pub serve_inline: Field,
    /// The value of [`Key::SecurityHeaders`].
    pub security_headers: Field,
    /// The value of [`Key::Csp`].
    pub csp: Field,
    /// The value of [`Key::CorsOrigins`].
    pub cors_origins: Field,
    /// The value of [`Key::TrustedProxies`].
    pub trusted_proxies: Field,
    /// The value of [`Key::RateLimit`].
    pub rate_limit: Field,
    /// The value of [`Key::HealthPath`].
    pub health_path: Field,
    /// The value of [`Key::MetricsPath`].
    pub metrics_path: Field,
    /// The value of [`Key::TlsListen`].
    pub tls_listen: Field,
    /// The value of [`Key::TlsCertFile`].
    pub tls_cert: Field,
    /// The value of [`Key::TlsKeyFile`].
    pub tls_key: Field,
    /// The value of [`Key::RedirectHttps`].
    pub redirect_https: Field,
    /// The value of [`Key::Hsts`].
    pub hsts: Field,
}

impl FileConfig {
    /// Returns the field that holds `key`.
    pub fn field_mut(&mut self, key: Key) -> &mut Field {
        match key {
            Key::Listen => &mut self.listen,
            Key::ReusePort => &mut self.reuse_port,
            Key::Root => &mut self.root,
            Key::Threads => &mut self.threads,
            Key::Queue => &mut self.queue,
            Key::MaxConnections => &mut self.max_connections,
            Key::IdleTimeout => &mut self.idle_timeout,
            Key::HeaderTimeout => &mut self.header_timeout,
            Key::WriteTimeout => &mut self.write_timeout,
            Key::ShutdownTimeout => &mut self.shutdown_timeout,
            Key::MaxRequests => &mut self.max_requests,
            Key::MaxConnsPerIp => &mut self.max_conns_per_ip,
            Key::MinBodyRate => &mut self.min_body_rate,
            Key::MaxBody => &mut self.max_body,
            Key::MaxHead => &mut self.max_head,
            Key::FileCache => &mut self.file_cache,
            Key::Pollers => &mut self.pollers,
            Key::DeferAccept => &mut self.defer_accept,
            Key::AllowedHosts => &mut self.allowed_hosts,
            Key::LogLevel => &mut self.log_level,
            Key::AccessLog => &mut self.access_log,
            Key::AccessFormat => &mut self.access_format,
            Key::ServeTypes => &mut self.serve_types,
            Key::InlineImages => &mut self.inline_images,
            Key::CacheControl => &mut self.cache_control,
            Key::Gzip => &mut self.gzip,
            Key::Precompressed => &mut self.precompressed,
            Key::MaxRanges => &mut self.max_ranges,
            Key::DirListing => &mut self.dir_listing,
            Key::Web => &mut self.web,
            Key::Types => &mut self.types,
            Key::Fallback => &mut self.fallback,
            Key::ErrorPages => &mut self.error_pages,
            Key::Etag => &mut self.etag,
            Key::ServeInline => &mut self.serve_inline,
            Key::SecurityHeaders => &mut self.security_headers,
            Key::Csp => &mut self.csp,
            Key::CorsOrigins => &mut self.cors_origins,
            Key::TrustedProxies => &mut self.trusted_proxies,
            Key::RateLimit => &mut self.rate_limit,
            Key::HealthPath => &mut self.health_path,
            Key::MetricsPath => &mut self.metrics_path,
            Key::TlsListen => &mut self.tls_listen,
            Key::TlsCertFile => &mut self.tls_cert,
            Key::TlsKeyFile => &mut self.tls_key,
            Key::RedirectHttps => &mut self.redirect_https,
            Key::Hsts => &mut self.hsts,
        }
    }

    /// Parses a configuration file's text; unknown and repeated keys are refused.
    ///
    /// # Errors
    /// A [`UsageError`] with serde's message (which names an unknown key, and gives the
    /// line and column of a syntax error).
    pub fn from_json(text: &str) -> Result<FileConfig, UsageError> {
        // serde would also fill a struct from an array, by position: refuse that shape.
        if !text.trim_start().starts_with('{') {
            return Err(UsageError::new("the configuration must be a JSON object"));
        }
        serde_json::from_str(text).map_err(|e| UsageError::new(e.to_string()))
    }

    /// Applies every key the file holds to `options`, in [`Key::ALL`] order.
    ///
    /// Lists and `security_headers` replace what `options` held; `cache_control` entries
    /// are set one by one over it, as `--cache-control` does.
    ///
    /// # Errors
    /// A [`UsageError`] naming the first key whose value is refused.
    pub fn apply_to(mut self, options: &mut Options) -> Result<(), UsageError> {
        for key in Key::ALL {
            if let Field::Given(value) = std::mem::take(self.field_mut(key)) {
                apply_value(options, key, &value)?;
            }
        }
        Ok(())
    }

    /// Returns the file that sets every key to its value in `options`.
    pub fn from_options(options: &Options) -> FileConfig {
        let mut file = FileConfig::default();
        for key in Key::ALL {
            *file.field_mut(key) = Field::Given(options.value(key));
        }
        file
    }

    /// Renders the file as pretty-printed JSON, keys in [`Key::ALL`] order.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a tree of JSON values always serializes")
    }
}

/// Reads the configuration file at `path` and applies it to `options`.
///
/// # Errors
/// A [`UsageError`] carrying the path when the file cannot be read, is not JSON, holds
/// an unknown key, or a value that the key's flag would refuse.
pub fn load(path: &Path, options: &mut Options) -> Result<(), UsageError> {
    let in_file = |e: UsageError| e.in_file(path);
    let text = read_bounded(path)
        .map_err(|e| UsageError::new(format!("cannot read the configuration file: {e}")))
        .map_err(in_file)?;
    FileConfig::from_json(&text)
        .and_then(|file| file.apply_to(options))
        .map_err(in_file)
}

/// Reads at most [`MAX_FILE_BYTES`] of UTF-8 text.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// Turns one JSON value into [`Input`]s for `key`, by the key's [`Kind`].
fn apply_value(options: &mut Options, key: Key, value: &Value) -> Result<(), UsageError> {
    let name = key.name();
    let wrong = |value: &Value| {
        UsageError::new(format!(
            "{name} must be {}, not {}",
            key.kind().expected(),
            shorten(value)
        ))
    };
    match (key.kind(), value) {
        (Kind::Bool, Value::Bool(on)) => {
            options.apply(key, name, if *on { Input::On } else { Input::Off })
        }
        (Kind::Text | Kind::Nullable, Value::String(s)) => options.apply(key, name, Input::Text(s)),
        (Kind::Text | Kind::Nullable, Value::Number(n)) => {
            options.apply(key, name, Input::Text(&n.to_string()))
        }
        (Kind::Nullable, Value::Null) => options.apply(key, name, Input::Off),
        (Kind::List, Value::Array(items)) => {
            if key == Key::Listen && items.is_empty() {
                return Err(UsageError::new(format!(
                    "{name} needs at least one address"
                )));
            }
            options.clear(key);
            for item in items {
                let text = item.as_str().ok_or_else(|| wrong(item))?;
                options.apply(key, name, Input::Text(text))?;
            }
            Ok(())
        }
        (Kind::Map, Value::Object(entries)) => {
            if key == Key::SecurityHeaders {
                options.clear(key);
            }
            for (entry, item) in entries {
                let text = item.as_str().ok_or_else(|| wrong(item))?;
                options.apply(key, name, Input::Entry(entry, text))?;
            }
            Ok(())
        }
        _ => Err(wrong(value)),
    }
}

/// Renders a JSON value for an error message, cut to a readable length.
fn shorten(value: &Value) -> String {
    const MAX_CHARS: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_CHARS).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Options, UsageError> {
        let mut options = Options::default();
        FileConfig::from_json(text)?.apply_to(&mut options)?;
        Ok(options)
    }

    fn rendered(options: &Options) -> String {
        FileConfig::from_options(options).to_json()
    }

    #[test]
    fn every_key_is_a_field_of_the_file() {
        let json: Value = serde_json::from_str(&rendered(&Options::default())).expect("valid JSON");
        let object = json.as_object().expect("an object");
        assert_eq!(object.len(), Key::ALL.len());
        for key in Key::ALL {
            assert!(object.contains_key(key.name()), "{}", key.name());
        }
    }

    #[test]
    fn the_rendered_file_loads_back_to_the_same_options() {
        let text = r#"{
            "listen": ["127.0.0.1:0", "[::1]:0"], "reuse_port": true, "root": "/srv/www",
            "threads": 4, "queue": "7", "max_connections": 300, "idle_timeout": "500ms",
            "header_timeout": 2, "write_timeout": "1m 5s", "shutdown_timeout": "3s",
            "max_requests": 5, "max_body": "1K", "max_head": 4096,
            "allowed_hosts": ["example.com"], "log_level": "DEBUG",
            "access_log": "/tmp/a.log", "access_format": "json",
            "serve_types": [".CSS", "svg"], "inline_images": true,
            "cache_control": {"png": "no-store", "*": "max-age=60"}, "gzip": false,
            "precompressed": false, "max_ranges": 2, "dir_listing": true,
            "security_headers": {"X-Frame-Options": "DENY"}, "csp": null,
            "cors_origins": ["https://a.example"], "trusted_proxies": ["10.0.0.1"],
            "rate_limit": 5, "health_path": "/up", "metrics_path": null,
            "web": true, "types": {"glb": "model/gltf-binary"}, "fallback": "/index.html",
            "error_pages": {"404": "/404.html"}, "etag": "content"
        }"#;
        let options = load_text(text).unwrap();
        let once = rendered(&options);
        let twice = rendered(&load_text(&once).unwrap());
        assert_eq!(once, twice);
        let s = options.into_settings().unwrap();
        assert_eq!(s.config.n_workers, 4);
        assert_eq!(s.config.queue_capacity, 7);
        assert_eq!(s.config.limits.max_body_bytes, 1024);
        assert_eq!(
            s.config.limits.write_timeout,
            std::time::Duration::from_secs(65)
        );
        assert_eq!(s.config.also_listen.len(), 1);
        assert_eq!(
            s.config.web.security_headers,
            vec![("X-Frame-Options".to_string(), "DENY".to_string())]
        );
        assert!(s.config.web.html_csp.is_none() && s.config.web.metrics_path.is_none());
        assert!(s.config.types.allows(Some("css")) && s.config.types.allows(Some("html")));
        assert_eq!(s.config.files.cache.for_extension(Some("html")), "no-cache");
        assert_eq!(s.config.files.cache.for_extension(Some("png")), "no-store");
        assert_eq!(s.log_level, log::LevelFilter::Debug);
        assert_eq!(s.access_log, Some("/tmp/a.log".into()));
        assert!(s.config.files.web);
        assert_eq!(s.config.files.fallback.as_deref(), Some("/index.html"));
        assert_eq!(
            s.config.files.error_pages,
            vec![(404, "/404.html".to_string())]
        );
    }

    #[test]
    fn an_empty_file_keeps_the_defaults() {
        assert_eq!(
            rendered(&load_text("{}").unwrap()),
            rendered(&Options::default())
        );
    }

    #[test]
    fn bad_files_are_refused_naming_the_key() {
        let cases = [
            (r#"{"bogus": 1}"#, "bogus"),
            (r#"{"threads": 0}"#, "threads"),
            (r#"{"threads": -1}"#, "threads"),
            (r#"{"threads": 1.5}"#, "threads"),
            (r#"{"threads": true}"#, "threads"),
            (r#"{"threads": null}"#, "threads"),
            (r#"{"threads": 1, "threads": 2}"#, "threads"),
            (r#"{"idle_timeout": "soon"}"#, "idle_timeout"),
            (r#"{"idle_timeout": 0}"#, "idle_timeout"),
            (r#"{"max_body": "10X"}"#, "max_body"),
            (r#"{"gzip": "yes"}"#, "gzip"),
            (r#"{"listen": "127.0.0.1:0"}"#, "listen"),
            (r#"{"listen": [8080]}"#, "listen"),
            (r#"{"listen": []}"#, "listen"),
            (r#"{"cache_control": {"png": 5}}"#, "cache_control"),
            (r#"{"cache_control": ["png=x"]}"#, "cache_control"),
            (
                r#"{"security_headers": {"Bad Name": "x"}}"#,
                "security_headers",
            ),
            (r#"{"trusted_proxies": ["example.com"]}"#, "trusted_proxies"),
            (r#"{"health_path": "up"}"#, "health_path"),
            (r#"{"log_level": "loud"}"#, "log_level"),
            (r#"{"web": "yes"}"#, "web"),
            (r#"{"types": ["js=text/plain"]}"#, "types"),
            (r#"{"fallback": "index.html"}"#, "fallback"),
            (r#"{"error_pages": {"404": 5}}"#, "error_pages"),
            (r#"{"error_pages": {"200": "/x.html"}}"#, "error_pages"),
            (r#"{"etag": "strong"}"#, "etag"),
        ];
        for (text, key) in cases {
            let err = load_text(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        assert!(load_text("[]").is_err());
        assert!(load_text(r#"["127.0.0.1:0"]"#).is_err());
        assert!(load_text("{").is_err());
    }

    #[test]
    fn null_turns_nullable_options_off() {
        let options = load_text(
            r#"{"csp": null, "health_path": null, "rate_limit": null, "access_log": null}"#,
        )
        .unwrap();
        let s = options.into_settings().unwrap();
        assert!(s.config.web.html_csp.is_none());
        assert!(s.config.web.health_path.is_none());
        assert!(s.access_log.is_none());
    }
}
