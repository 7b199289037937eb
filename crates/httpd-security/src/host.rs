//! `Host` header validation: syntax (RFC 9110 section 7.2) and the allowlist.
//!
//! ```text
//! Host       = uri-host [ ":" port ]
//! uri-host   = IP-literal / IPv4address / reg-name
//! IP-literal = "[" IPv6address "]"
//! reg-name   = *( unreserved )            ; this crate's subset, see below
//! unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
//! port       = 1*5DIGIT                   ; at most 65535
//! ```
//!
//! RFC 3986 also allows sub-delimiters (`!$&'()*+,;=`) and percent-escapes in a
//! reg-name, and an empty port; no real host name uses them and they are the stuff
//! of header injection, so they are refused as [`PolicyError::BadHost`]. IPvFuture
//! literals and IPv6 zone identifiers are refused too.

use std::net::Ipv6Addr;

use httpd_proto::trim_ows;

use crate::PolicyError;

/// Which `Host` header values this server answers to.
///
/// Names compare case-insensitively and IPv6 literals by address, so `[::1]` and
/// `[0:0::1]` are the same host. A name allowed without a port matches a `Host` with
/// no port or with the server's own port; a name allowed with a port matches only a
/// `Host` that carries exactly that port.
///
/// # Examples
///
/// ```
/// use httpd_security::{HostPolicy, PolicyError};
///
/// let mut hosts = HostPolicy::new("127.0.0.1", 8080);
/// hosts.allow("example.com");
///
/// assert_eq!(hosts.check(&[b"localhost:8080"]), Ok(()));
/// assert_eq!(hosts.check(&[b"Example.COM"]), Ok(()));
/// assert_eq!(hosts.check(&[b"localhost:9090"]), Err(PolicyError::HostNotAllowed));
/// assert_eq!(hosts.check(&[b"evil.com:8080"]), Err(PolicyError::HostNotAllowed));
/// assert_eq!(hosts.check(&[]), Err(PolicyError::MissingHost));
/// assert_eq!(hosts.check(&[b"a@evil.com"]), Err(PolicyError::BadHost));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPolicy {
    /// The ports the server listens on; each matches entries allowed without a port.
    ports: Vec<u16>,
    /// The allowed hosts, without duplicates.
    names: Vec<Entry>,
    /// Set by `allow("*")`: every well-formed host passes.
    any: bool,
}

impl HostPolicy {
    /// Accepts `localhost`, `127.0.0.1` and `bound_host`, each with or without `:port`.
    ///
    /// `bound_host` may be a name, an IPv4 address, or an IPv6 address with or without
    /// brackets (`::1` or `[::1]`). If it carries a port of its own, it is accepted only
    /// with that port. A `bound_host` that is not a valid host (empty, `*`, `bad host`)
    /// adds nothing; an unspecified address such as `0.0.0.0` is added as is, like the
    /// seed does.
    pub fn new(bound_host: &str, port: u16) -> HostPolicy {
        let mut policy = HostPolicy {
            ports: vec![port],
            names: Vec::new(),
            any: false,
        };
        policy.push(Entry {
            host: Name::Text("localhost".to_string()),
            port: None,
        });
        policy.push(Entry {
            host: Name::Text("127.0.0.1".to_string()),
            port: None,
        });
        if let Ok(entry) = parse_config_host(bound_host) {
            policy.push(entry);
        }
        policy
    }

    /// Also listens on `port`: hosts allowed without a port are accepted with it too
    /// (a server with a plain and a TLS listener answers `example.com:8080` and
    /// `example.com:8443` alike).
    pub fn add_port(&mut self, port: u16) -> &mut HostPolicy {
        if !self.ports.contains(&port) {
            self.ports.push(port);
        }
        self
    }

    /// Also accepts `host` (with or without `:port`); `"*"` accepts every host.
    ///
    /// `host` follows the rules of [`HostPolicy::new`]'s `bound_host`. Even with `"*"`,
    /// [`check`](HostPolicy::check) still demands exactly one well-formed `Host`. A
    /// `host` that is not a valid host is ignored; use
    /// [`try_allow`](HostPolicy::try_allow) to be told.
    pub fn allow(&mut self, host: &str) -> &mut HostPolicy {
        let _ignored = self.try_allow(host);
        self
    }

    /// Also accepts `host` like [`allow`](HostPolicy::allow), reporting a bad `host`.
    ///
    /// # Errors
    ///
    /// [`PolicyError::BadHost`] when `host` is neither `"*"` nor a valid host with an
    /// optional port; the policy is then unchanged.
    pub fn try_allow(&mut self, host: &str) -> Result<&mut HostPolicy, PolicyError> {
        if host.trim() == "*" {
            self.any = true;
        } else {
            let entry = parse_config_host(host)?;
            self.push(entry);
        }
        Ok(self)
    }

    /// Tells whether every well-formed host is accepted (after `allow("*")`).
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Checks the values of every `Host` header of a request.
    ///
    /// Surrounding spaces and tabs are ignored. RFC 9112 section 3.2 requires exactly
    /// one `Host` header, so two are refused even when they agree.
    ///
    /// # Errors
    ///
    /// `MissingHost` for none or an empty one, `DuplicateHost` for several,
    /// `BadHost` for a value that is not `host[:port]` (userinfo, spaces, control or
    /// non-ASCII bytes, a port that is not 1 to 5 digits up to 65535), and
    /// `HostNotAllowed` for a host not accepted.
    pub fn check(&self, values: &[&[u8]]) -> Result<(), PolicyError> {
        let value = match values {
            [] => return Err(PolicyError::MissingHost),
            [value] => *value,
            _ => return Err(PolicyError::DuplicateHost),
        };
        let (host, port) = parse_host(trim_ows(value))?;
        if self.any
            || self
                .names
                .iter()
                .any(|entry| self.matches(entry, &host, port))
        {
            Ok(())
        } else {
            Err(PolicyError::HostNotAllowed)
        }
    }

    fn push(&mut self, entry: Entry) {
        if !self.names.contains(&entry) {
            self.names.push(entry);
        }
    }

    fn matches(&self, entry: &Entry, host: &HostRef<'_>, port: Option<u16>) -> bool {
        let same_host = match (&entry.host, host) {
            (Name::Text(allowed), HostRef::Text(name)) => allowed.eq_ignore_ascii_case(name),
            (Name::V6(allowed), HostRef::V6(addr)) => allowed == addr,
            _ => false,
        };
        let same_port = match (entry.port, port) {
            (Some(allowed), Some(port)) => allowed == port,
            (Some(_), None) => false,
            (None, None) => true,
            (None, Some(port)) => self.ports.contains(&port),
        };
        same_host && same_port
    }
}

/// One allowed host.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    host: Name,
    /// `None`: no port, or the server's port.
    port: Option<u16>,
}

/// An allowed host name, stored in a form that compares with [`HostRef`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Name {
    /// A reg-name or IPv4 address, lowercased.
    Text(String),
    /// An IPv6 literal, without its brackets.
    V6(Ipv6Addr),
}

/// A host borrowed from a `Host` header value.
#[derive(Debug, PartialEq, Eq)]
enum HostRef<'a> {
    Text(&'a str),
    V6(Ipv6Addr),
}

/// Parses a host from configuration: a `Host` value, or a bare IPv6 address.
fn parse_config_host(host: &str) -> Result<Entry, PolicyError> {
    let host = host.trim();
    // A bare IPv6 address has several colons; `name:port` has one.
    if host.bytes().filter(|&b| b == b':').count() > 1 && !host.starts_with('[') {
        let addr = host.parse::<Ipv6Addr>().map_err(|_| PolicyError::BadHost)?;
        return Ok(Entry {
            host: Name::V6(addr),
            port: None,
        });
    }
    let (host, port) = match parse_host(host.as_bytes()) {
        Ok(parsed) => parsed,
        // An empty host is a bad configuration value, not a missing header.
        Err(_) => return Err(PolicyError::BadHost),
    };
    let host = match host {
        HostRef::Text(name) => Name::Text(name.to_ascii_lowercase()),
        HostRef::V6(addr) => Name::V6(addr),
    };
    Ok(Entry { host, port })
}

/// Parses `uri-host [ ":" port ]` from a trimmed header value.
fn parse_host(value: &[u8]) -> Result<(HostRef<'_>, Option<u16>), PolicyError> {
    if value.is_empty() {
        return Err(PolicyError::MissingHost);
    }
    // Only visible ASCII may appear: no spaces inside, no controls, no UTF-8.
    if !value.iter().all(|b| b.is_ascii_graphic()) {
        return Err(PolicyError::BadHost);
    }
    let text = std::str::from_utf8(value).map_err(|_| PolicyError::BadHost)?;

    let (host, rest) = if let Some(literal) = text.strip_prefix('[') {
        let Some(end) = literal.find(']') else {
            return Err(PolicyError::BadHost);
        };
        let addr = literal[..end]
            .parse::<Ipv6Addr>()
            .map_err(|_| PolicyError::BadHost)?;
        (HostRef::V6(addr), &literal[end + 1..])
    } else {
        let end = text.find(':').unwrap_or(text.len());
        let name = &text[..end];
        if name.is_empty() || !name.bytes().all(is_reg_name_byte) {
            return Err(PolicyError::BadHost);
        }
        (HostRef::Text(name), &text[end..])
    };

    let port = if rest.is_empty() {
        None
    } else {
        let digits = rest.strip_prefix(':').ok_or(PolicyError::BadHost)?;
        Some(parse_port(digits)?)
    };
    Ok((host, port))
}

/// Parses 1 to 5 decimal digits with a value of at most 65535.
fn parse_port(digits: &str) -> Result<u16, PolicyError> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PolicyError::BadHost);
    }
    let mut value: u32 = 0;
    for b in digits.bytes() {
        value = value * 10 + u32::from(b - b'0');
    }
    u16::try_from(value).map_err(|_| PolicyError::BadHost)
}

/// Tells whether `b` may appear in a host name (RFC 3986 `unreserved`).
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &HostPolicy, value: &str) -> Result<(), PolicyError> {
        policy.check(&[value.as_bytes()])
    }

    #[test]
    fn accepts_the_seed_hosts_on_the_bound_port() {
        let policy = HostPolicy::new("localhost", 8080);
        let cases = [
            "localhost:8080",
            "127.0.0.1:8080",
            "localhost",
            "127.0.0.1",
            "LOCALHOST:8080",
            "LocalHost",
            " localhost:8080\t",
        ];
        for host in cases {
            assert_eq!(check(&policy, host), Ok(()), "{host:?}");
        }
    }

    #[test]
    fn refuses_the_seed_attack_hosts() {
        let policy = HostPolicy::new("localhost", 8080);
        let cases = [
            "malicious.com",
            "evil.com:8080",
            "localhost:9090",
            "127.0.0.1:80",
            "localhost.",
            "127.1",
            "localhost.evil.com",
            "[::1]:8080",
        ];
        for host in cases {
            assert_eq!(
                check(&policy, host),
                Err(PolicyError::HostNotAllowed),
                "{host:?}"
            );
        }
    }

    #[test]
    fn counts_host_headers_first() {
        let policy = HostPolicy::new("localhost", 8080);
        assert_eq!(policy.check(&[]), Err(PolicyError::MissingHost));
        let two: &[&[u8]] = &[b"localhost", b"localhost"];
        assert_eq!(policy.check(two), Err(PolicyError::DuplicateHost));
        let mixed: &[&[u8]] = &[b"localhost", b""];
        assert_eq!(policy.check(mixed), Err(PolicyError::DuplicateHost));
    }

    #[test]
    fn empty_or_blank_host_is_missing() {
        let policy = HostPolicy::new("localhost", 8080);
        for host in ["", " ", "\t", "  \t "] {
            assert_eq!(
                check(&policy, host),
                Err(PolicyError::MissingHost),
                "{host:?}"
            );
        }
    }

    #[test]
    fn malformed_hosts_are_bad_even_when_any_host_is_allowed() {
        let mut policy = HostPolicy::new("localhost", 8080);
        policy.allow("*");
        let cases: &[&[u8]] = &[
            b"user@localhost",
            b"a@b",
            b"local host",
            b"localhost\r\nX-Evil: 1",
            b"local\x00host",
            b"{localhost}",
            b"caf\xc3\xa9.com",
            b"localhost:",
            b"localhost:80a",
            b"localhost:+80",
            b"localhost:-1",
            b"localhost:65536",
            b"localhost:123456",
            b"localhost:8080:8080",
            b":8080",
            b"a,b",
            b"a;b",
            b"a%2eb",
            b"a/b",
            b"[::1",
            b"[::1]x",
            b"[::1]:",
            b"[not-ipv6]",
            b"[fe80::1%25eth0]",
            b"[v1.x]",
            b"::1",
            b"http://localhost",
        ];
        for host in cases {
            assert_eq!(
                policy.check(&[host]),
                Err(PolicyError::BadHost),
                "{:?}",
                host.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn any_host_accepts_well_formed_hosts() {
        let mut policy = HostPolicy::new("localhost", 8080);
        assert!(!policy.allows_any());
        policy.allow("*");
        assert!(policy.allows_any());
        for host in ["evil.com", "evil.com:1", "[2001:db8::1]:443", "10.0.0.1"] {
            assert_eq!(check(&policy, host), Ok(()), "{host:?}");
        }
    }

    #[test]
    fn accepts_ports_at_the_edges_of_the_range() {
        let mut policy = HostPolicy::new("localhost", 0);
        policy.allow("a:65535").allow("b:00080");
        let cases = [
            ("localhost:0", Ok(())),
            ("a:65535", Ok(())),
            ("b:80", Ok(())),
            ("b:080", Ok(())),
            ("a:65534", Err(PolicyError::HostNotAllowed)),
        ];
        for (host, expected) in cases {
            assert_eq!(check(&policy, host), expected, "{host:?}");
        }
    }

    #[test]
    fn ipv6_bound_host_with_or_without_brackets() {
        for bound in ["::1", "[::1]", "0:0:0:0:0:0:0:1"] {
            let policy = HostPolicy::new(bound, 8080);
            let cases = [
                ("[::1]", Ok(())),
                ("[::1]:8080", Ok(())),
                ("[0::1]:8080", Ok(())),
                ("[::1]:8081", Err(PolicyError::HostNotAllowed)),
                ("[::2]", Err(PolicyError::HostNotAllowed)),
                ("localhost:8080", Ok(())),
            ];
            for (host, expected) in cases {
                assert_eq!(check(&policy, host), expected, "{bound:?} {host:?}");
            }
        }
    }

    #[test]
    fn bound_host_is_accepted_with_or_without_the_port() {
        let policy = HostPolicy::new("My-Server.local", 8000);
        let cases = [
            ("my-server.local", Ok(())),
            ("MY-SERVER.LOCAL:8000", Ok(())),
            ("my-server.local:8080", Err(PolicyError::HostNotAllowed)),
        ];
        for (host, expected) in cases {
            assert_eq!(check(&policy, host), expected, "{host:?}");
        }
    }

    #[test]
    fn invalid_bound_host_adds_nothing() {
        for bound in ["", "bad host", "a@b", "*"] {
            let policy = HostPolicy::new(bound, 8080);
            assert_eq!(policy, HostPolicy::new("localhost", 8080), "{bound:?}");
            assert!(!policy.allows_any());
        }
    }

    #[test]
    fn allowed_host_with_a_port_matches_only_that_port() {
        let mut policy = HostPolicy::new("localhost", 8080);
        policy.allow("example.com:443").allow("plain.example");
        let cases = [
            ("example.com:443", Ok(())),
            ("EXAMPLE.com:443", Ok(())),
            ("example.com", Err(PolicyError::HostNotAllowed)),
            ("example.com:8080", Err(PolicyError::HostNotAllowed)),
            ("plain.example", Ok(())),
            ("plain.example:8080", Ok(())),
            ("plain.example:443", Err(PolicyError::HostNotAllowed)),
        ];
        for (host, expected) in cases {
            assert_eq!(check(&policy, host), expected, "{host:?}");
        }
    }

    #[test]
    fn allow_accepts_a_bare_ipv6_address() {
        let mut policy = HostPolicy::new("localhost", 8080);
        policy.allow("2001:db8::1");
        assert_eq!(check(&policy, "[2001:DB8::1]:8080"), Ok(()));
        assert_eq!(
            check(&policy, "[2001:db8::2]"),
            Err(PolicyError::HostNotAllowed)
        );
    }

    #[test]
    fn try_allow_reports_bad_hosts() {
        let mut policy = HostPolicy::new("localhost", 8080);
        let before = policy.clone();
        for host in ["", "a b", "a@b", "x:99999", "[::1", "*:8080", "::zz"] {
            assert_eq!(
                policy.try_allow(host).map(|_| ()),
                Err(PolicyError::BadHost),
                "{host:?}"
            );
        }
        assert_eq!(policy, before);
        assert!(policy.try_allow("ok.example").is_ok());
        assert_eq!(check(&policy, "ok.example"), Ok(()));
    }

    #[test]
    fn allowing_twice_keeps_one_entry() {
        let mut policy = HostPolicy::new("localhost", 8080);
        let before = policy.clone();
        policy.allow("LOCALHOST").allow("127.0.0.1");
        assert_eq!(policy, before);
    }
}
