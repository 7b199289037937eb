//! The request target (RFC 9112 section 3.2): which forms this server takes, and the
//! `Host` rules that go with each.

use httpd_proto::{Method, Version};

use crate::{HostPolicy, PolicyError};

/// A request target this server may serve, split into its parts (still encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'t> {
    /// The authority of an absolute-form target (`http://host:port/...`), which
    /// replaces `Host`; `None` for origin form and `*`.
    pub authority: Option<&'t str>,
    /// The path: `/...`, or `*` for `OPTIONS *`.
    pub path: &'t str,
    /// The query, without its `?`.
    pub query: Option<&'t str>,
}

/// Splits and checks a request target.
///
/// Origin form (`/path?query`) is taken from every method; absolute form
/// (`http://authority/path?query`, and `https://` on a TLS connection) too, its
/// authority then replacing `Host`; asterisk form (`*`) from `OPTIONS` only.
/// `CONNECT` is refused whatever its target, since this server is no proxy.
///
/// # Errors
/// `MethodNotAllowed` for `CONNECT`, `BadTarget` for any other form.
///
/// # Examples
/// ```
/// use httpd_proto::Method;
/// use httpd_security::{PolicyError, Target, check_target};
///
/// let t = check_target("http://example.com/a?b=1", Method::Get, false)?;
/// assert_eq!(t, Target { authority: Some("example.com"), path: "/a", query: Some("b=1") });
/// assert_eq!(check_target("*", Method::Get, false), Err(PolicyError::BadTarget));
/// # Ok::<(), PolicyError>(())
/// ```
pub fn check_target(target: &str, method: Method, https: bool) -> Result<Target<'_>, PolicyError> {
    if method == Method::Connect {
        return Err(PolicyError::MethodNotAllowed);
    }
    if target == "*" {
        return if method == Method::Options {
            Ok(Target {
                authority: None,
                path: "*",
                query: None,
            })
        } else {
            Err(PolicyError::BadTarget)
        };
    }
    let (authority, path_and_query) = if target.starts_with('/') {
        (None, target)
    } else if let Some(rest) = strip_prefix_ignore_case(target, "http://").or_else(|| {
        https
            .then(|| strip_prefix_ignore_case(target, "https://"))
            .flatten()
    }) {
        match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (Some(&rest[..i]), &rest[i..]),
            Some(_) => return Err(PolicyError::BadTarget),
            None => (Some(rest), "/"),
        }
    } else {
        return Err(PolicyError::BadTarget);
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    Ok(Target {
        authority,
        path,
        query,
    })
}

impl HostPolicy {
    /// Checks the `Host` headers of a request (`hosts`, every value in order) against
    /// its target's `authority`, following RFC 9112 section 3.2: an absolute-form
    /// authority replaces `Host`, but HTTP/1.1 still needs exactly one `Host` line;
    /// HTTP/1.0 may send none.
    ///
    /// # Errors
    /// As [`HostPolicy::check`], for the value that counts.
    pub fn check_request<'a>(
        &self,
        hosts: impl Iterator<Item = &'a [u8]>,
        authority: Option<&str>,
        version: Version,
    ) -> Result<(), PolicyError> {
        let mut hosts = hosts;
        let first = hosts.next();
        let second = hosts.next();
        match (authority, first, second) {
            (Some(_), Some(_), Some(_)) => Err(PolicyError::DuplicateHost),
            (Some(_), None, _) if version == Version::Http11 => Err(PolicyError::MissingHost),
            (Some(authority), _, _) => self.check(&[authority.as_bytes()]),
            (None, None, _) if version == Version::Http10 => Ok(()),
            (None, None, _) => self.check(&[]),
            (None, Some(first), None) => self.check(&[first]),
            (None, Some(first), Some(second)) => self.check(&[first, second]),
        }
    }
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_by_form() {
        let t = |target, method| check_target(target, method, false);
        assert_eq!(
            t("/a%20b?x=1", Method::Get),
            Ok(Target {
                authority: None,
                path: "/a%20b",
                query: Some("x=1")
            })
        );
        assert_eq!(
            t("HTTP://h:1", Method::Head),
            Ok(Target {
                authority: Some("h:1"),
                path: "/",
                query: None
            })
        );
        assert_eq!(t("http://h?x", Method::Get), Err(PolicyError::BadTarget));
        assert_eq!(t("*", Method::Options).map(|t| t.path), Ok("*"));
        assert_eq!(t("*", Method::Get), Err(PolicyError::BadTarget));
        assert_eq!(t("a/b", Method::Get), Err(PolicyError::BadTarget));
        assert_eq!(
            t("h:443", Method::Connect),
            Err(PolicyError::MethodNotAllowed)
        );
        // https:// only over TLS.
        assert_eq!(t("https://h/x", Method::Get), Err(PolicyError::BadTarget));
        assert_eq!(
            check_target("https://h/x", Method::Get, true).map(|t| t.authority),
            Ok(Some("h"))
        );
    }

    #[test]
    fn host_lines_follow_the_target_and_the_version() {
        let policy = HostPolicy::new("127.0.0.1", 8080);
        let check = |hosts: &[&[u8]], authority, version| {
            policy.check_request(hosts.iter().copied(), authority, version)
        };
        let v11 = Version::Http11;
        assert_eq!(check(&[b"localhost:8080"], None, v11), Ok(()));
        assert_eq!(check(&[], None, v11), Err(PolicyError::MissingHost));
        assert_eq!(check(&[], None, Version::Http10), Ok(()));
        assert_eq!(
            check(&[b"localhost", b"localhost"], None, v11),
            Err(PolicyError::DuplicateHost)
        );
        assert_eq!(check(&[b"evil"], Some("localhost"), v11), Ok(()));
        assert_eq!(
            check(&[], Some("localhost"), v11),
            Err(PolicyError::MissingHost)
        );
        assert_eq!(
            check(&[b"a", b"b"], Some("localhost"), v11),
            Err(PolicyError::DuplicateHost)
        );
        assert_eq!(
            check(&[b"x"], Some("evil.com"), v11),
            Err(PolicyError::HostNotAllowed)
        );
    }
}
