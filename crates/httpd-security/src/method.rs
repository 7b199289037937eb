//! Which request methods the server implements.

use httpd_proto::Method;

use crate::PolicyError;

/// The value of the `Allow` header: the methods this server implements.
pub const ALLOW: &str = "GET, HEAD, POST, OPTIONS";

/// Checks a request method: GET, HEAD, POST and OPTIONS pass.
///
/// These are the methods listed in [`ALLOW`]. Whether a method suits a particular
/// resource (POST only to the upload path, say) is the router's business.
///
/// # Errors
///
/// `MethodNotAllowed` for other known methods (PUT, DELETE, PATCH, TRACE, CONNECT),
/// `UnknownMethod` for the rest.
///
/// # Examples
///
/// ```
/// use httpd_proto::Method;
/// use httpd_security::{PolicyError, check_method};
///
/// assert_eq!(check_method(Method::Get), Ok(()));
/// assert_eq!(check_method(Method::Delete), Err(PolicyError::MethodNotAllowed));
/// assert_eq!(check_method(Method::from_token("BREW")), Err(PolicyError::UnknownMethod));
/// ```
pub fn check_method(method: Method) -> Result<(), PolicyError> {
    match method {
        Method::Get | Method::Head | Method::Post | Method::Options => Ok(()),
        Method::Put | Method::Delete | Method::Patch | Method::Trace | Method::Connect => {
            Err(PolicyError::MethodNotAllowed)
        }
        // `Other`, and any method httpd-proto learns later: we implement none of them.
        _ => Err(PolicyError::UnknownMethod),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_method() {
        let cases = [
            ("GET", Ok(())),
            ("HEAD", Ok(())),
            ("POST", Ok(())),
            ("OPTIONS", Ok(())),
            ("PUT", Err(PolicyError::MethodNotAllowed)),
            ("DELETE", Err(PolicyError::MethodNotAllowed)),
            ("PATCH", Err(PolicyError::MethodNotAllowed)),
            ("TRACE", Err(PolicyError::MethodNotAllowed)),
            ("CONNECT", Err(PolicyError::MethodNotAllowed)),
            ("BREW", Err(PolicyError::UnknownMethod)),
            ("PROPFIND", Err(PolicyError::UnknownMethod)),
            // Methods are case-sensitive, so `get` is not GET.
            ("get", Err(PolicyError::UnknownMethod)),
        ];
        for (token, expected) in cases {
            assert_eq!(
                check_method(Method::from_token(token)),
                expected,
                "{token:?}"
            );
        }
    }

    #[test]
    fn allow_header_lists_exactly_the_passing_methods() {
        let listed: Vec<&str> = ALLOW.split(", ").collect();
        assert_eq!(listed, ["GET", "HEAD", "POST", "OPTIONS"]);
        for token in listed {
            assert_eq!(check_method(Method::from_token(token)), Ok(()), "{token:?}");
        }
    }
}
