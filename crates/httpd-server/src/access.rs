//! Access lines: one per response, on the `access` log target, in the format the
//! operator chose. Every client-controlled value is escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// How access lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessFormat {
    /// `TIMESTAMP PEER "METHOD TARGET VERSION" STATUS BYTES 0.4ms WORKER id=REQUEST_ID`
    /// (default).
    #[default]
    Default,
    /// NCSA Common Log Format.
    Common,
    /// NCSA Combined Log Format (Common plus referer and user agent).
    Combined,
    /// One JSON object per line.
    Json,
}

impl AccessFormat {
    /// Parses `default`, `common`, `combined` or `json`.
    pub fn from_name(name: &str) -> Option<AccessFormat> {
        match name.to_ascii_lowercase().as_str() {
            "default" => Some(AccessFormat::Default),
            "common" | "clf" => Some(AccessFormat::Common),
            "combined" => Some(AccessFormat::Combined),
            "json" => Some(AccessFormat::Json),
            _ => None,
        }
    }
}

/// What one access line says.
#[derive(Debug)]
pub(crate) struct AccessRecord<'a> {
    pub(crate) client: String,
    pub(crate) method: Option<&'a str>,
    pub(crate) target: Option<&'a str>,
    pub(crate) version: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) n_bytes: u64,
    pub(crate) took: Duration,
    pub(crate) worker: &'a str,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) referer: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    /// `http` or `https`.
    pub(crate) scheme: &'a str,
    /// The TLS version (`TLSv1.3`), for https.
    pub(crate) tls: Option<&'a str>,
}

impl AccessRecord<'_> {
    fn request_line(&self) -> String {
        match (self.method, self.target, self.version) {
            (Some(m), Some(t), Some(v)) => format!("{} {} {v}", m.escape_debug(), t.escape_debug()),
            _ => "-".to_string(),
        }
    }

    /// Formats the line.
    pub(crate) fn format(&self, format: AccessFormat) -> String {
        let ms = self.took.as_secs_f64() * 1000.0;
        match format {
            AccessFormat::Json => {
                let value = serde_json::json!({
                    "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                    "client": self.client,
                    "method": self.method,
                    "target": self.target,
                    "version": self.version,
                    "status": self.status,
                    "bytes": self.n_bytes,
                    "duration_ms": (ms * 1000.0).round() / 1000.0,
                    "worker": self.worker,
                    "request_id": self.request_id,
                    "referer": self.referer,
                    "user_agent": self.user_agent,
                    "scheme": self.scheme,
                    "tls": self.tls,
                });
                value.to_string()
            }
            AccessFormat::Common | AccessFormat::Combined => {
                // NCSA names the host alone, without the client's port.
                let host = self
                    .client
                    .parse::<std::net::SocketAddr>()
                    .map_or_else(|_| self.client.clone(), |a| a.ip().to_string());
                let mut line = format!(
                    "{host} - - [{}] \"{}\" {} {}",
                    clf_date(SystemTime::now()),
                    self.request_line(),
                    self.status,
                    self.n_bytes
                );
                if format == AccessFormat::Combined {
                    let quoted = |v: Option<&str>| {
                        v.map_or("-".to_string(), |v| v.escape_debug().to_string())
                    };
                    let _ = write!(
                        line,
                        " \"{}\" \"{}\"",
                        quoted(self.referer),
                        quoted(self.user_agent)
                    );
                }
                line
            }
            _ => {
                let mut line = format!(
                    "{} {} \"{}\" {} {} {ms:.1}ms {}",
                    humantime::format_rfc3339_millis(SystemTime::now()),
                    self.client,
                    self.request_line(),
                    self.status,
                    self.n_bytes,
                    self.worker
                );
                if let Some(id) = self.request_id {
                    let _ = write!(line, " id={id}");
                }
                let _ = write!(line, " {}", self.scheme);
                if let Some(tls) = self.tls {
                    let _ = write!(line, " {tls}");
                }
                line
            }
        }
    }
}

/// Formats `10/Oct/2000:13:55:36 +0000` from the HTTP date `Tue, 10 Oct 2000 13:55:36 GMT`.
fn clf_date(now: SystemTime) -> String {
    let http = httpdate::fmt_http_date(now);
    let parts: Vec<&str> = http.split(' ').collect();
    match parts.as_slice() {
        [_, day, month, year, time, _] => format!("{day}/{month}/{year}:{time} +0000"),
        _ => http,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord<'static> {
        AccessRecord {
            client: "127.0.0.1:5000".to_string(),
            method: Some("GET"),
            target: Some("/a\"b"),
            version: Some("HTTP/1.1"),
            status: 200,
            n_bytes: 12,
            took: Duration::from_micros(400),
            worker: "httpd-worker-1",
            request_id: Some("abc"),
            referer: None,
            user_agent: Some("curl/8 \"x\""),
            scheme: "https",
            tls: Some("TLSv1.3"),
        }
    }

    #[test]
    fn default_line_escapes_the_target() {
        let line = record().format(AccessFormat::Default);
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{line}");
        assert_eq!(
            rest,
            "127.0.0.1:5000 \"GET /a\\\"b HTTP/1.1\" 200 12 0.4ms httpd-worker-1 id=abc https TLSv1.3"
        );
    }

    #[test]
    fn combined_line_has_quoted_referer_and_agent() {
        let line = record().format(AccessFormat::Combined);
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with("\"GET /a\\\"b HTTP/1.1\" 200 12 \"-\" \"curl/8 \\\"x\\\"\""),
            "{line}"
        );
        let common = record().format(AccessFormat::Common);
        assert!(common.ends_with("200 12"), "{common}");
    }

    #[test]
    fn json_line_is_one_valid_object() {
        let line = record().format(AccessFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["target"], "/a\"b");
        assert_eq!(v["status"], 200);
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["scheme"], "https");
        assert_eq!(v["tls"], "TLSv1.3");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn clf_dates_rearrange_the_http_date() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(971_186_136);
        assert_eq!(clf_date(t), "10/Oct/2000:13:55:36 +0000");
    }

    #[test]
    fn format_names_parse() {
        assert_eq!(AccessFormat::from_name("JSON"), Some(AccessFormat::Json));
        assert_eq!(AccessFormat::from_name("clf"), Some(AccessFormat::Common));
        assert_eq!(AccessFormat::from_name("xml"), None);
    }
}
