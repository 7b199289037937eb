//! Field values that carry lists or numbers: `Connection`, `Content-Length`.
//!
//! Lists follow RFC 9110 section 5.6.1 (`#element`: comma-separated, optional
//! whitespace around each element). Numbers follow section 8.6: digits only.

use crate::request::ParseError;
use crate::table::trim_ows;

/// Tells whether the comma-separated header value `list` holds `token` (case-insensitive).
///
/// Each list element is trimmed of surrounding SP and HTAB and compared with
/// `token` as a whole, ignoring ASCII case; a substring never matches, and an empty
/// `token` matches nothing.
///
/// # Examples
///
/// ```
/// use httpd_proto::has_token;
///
/// assert!(has_token(b"keep-alive, Upgrade", "upgrade"));
/// assert!(!has_token(b"not-close", "close"));
/// ```
pub fn has_token(list: &[u8], token: &str) -> bool {
    !token.is_empty() && elements(list).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses a `Content-Length` value: ASCII digits only, no sign, no spaces, fits in `u64`.
///
/// Leading zeros are allowed (`007` is 7). A list such as `5, 5` is not a number;
/// [`Request::framing`](crate::Request::framing) handles lists.
///
/// # Errors
/// `BadContentLength` otherwise.
///
/// # Examples
///
/// ```
/// use httpd_proto::{parse_content_length, ParseError};
///
/// assert_eq!(parse_content_length(b"1043"), Ok(1043));
/// assert_eq!(parse_content_length(b"+5"), Err(ParseError::BadContentLength));
/// ```
pub fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    if value.is_empty() {
        return Err(ParseError::BadContentLength);
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(ParseError::BadContentLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::BadContentLength)?;
    }
    Ok(n)
}

/// Splits a field value on commas and trims each element; empty elements are kept.
pub(crate) fn elements(list: &[u8]) -> Elements<'_> {
    Elements { rest: Some(list) }
}

/// Iterator over the trimmed elements of a comma-separated list; see [`elements`].
pub(crate) struct Elements<'a> {
    /// The bytes not yet split; `None` once the last element was returned.
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match memchr::memchr(b',', rest) {
            Some(i) => {
                let (element, tail) = rest.split_at(i);
                self.rest = tail.get(1..);
                Some(trim_ows(element))
            }
            None => {
                self.rest = None;
                Some(trim_ows(rest))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_token_matches_whole_elements_only() {
        let cases: &[(&[u8], &str, bool)] = &[
            (b"close", "close", true),
            (b"Close", "close", true),
            (b"CLOSE", "close", true),
            (b"keep-alive", "keep-alive", true),
            (b"Keep-Alive", "keep-alive", true),
            (b"keep-alive, close", "close", true),
            (b"close,keep-alive", "keep-alive", true),
            (b" \tclose\t ", "close", true),
            (b"a ,  close  , b", "close", true),
            (b",,close,,", "close", true),
            (b"", "close", false),
            (b",", "close", false),
            (b"closed", "close", false),
            (b"not-close", "close", false),
            (b"close-ish, keep-alive", "close", false),
            (b"clo se", "close", false),
            (b"\"close\"", "close", false),
            (b"close;q=1", "close", false),
            (b"upgrade", "close", false),
            (b"keep-alive", "alive", false),
            (b"close", "", false),
            (b",,", "", false),
        ];
        for &(list, token, expected) in cases {
            assert_eq!(
                has_token(list, token),
                expected,
                "has_token({:?}, {token:?})",
                list.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn has_token_tolerates_non_ascii_bytes() {
        assert!(has_token(b"\xff\xfe, close", "close"));
        assert!(!has_token(b"\xff\xfe", "close"));
    }

    #[test]
    fn content_length_accepts_plain_decimal() {
        let cases: &[(&[u8], u64)] = &[
            (b"0", 0),
            (b"5", 5),
            (b"007", 7),
            (b"1043", 1043),
            (b"18446744073709551615", u64::MAX),
            (b"000000000000000000000000018446744073709551615", u64::MAX),
        ];
        for &(input, expected) in cases {
            assert_eq!(parse_content_length(input), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn content_length_rejects_anything_but_digits() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b"+5",
            b"-1",
            b"-0",
            b"0x10",
            b"1e3",
            b"5 ",
            b" 5",
            b"5 5",
            b"5,5",
            b"1_000",
            b"\xd9\xa5",
            b"18446744073709551616",
            b"99999999999999999999999",
        ];
        for &input in cases {
            assert_eq!(
                parse_content_length(input),
                Err(ParseError::BadContentLength),
                "{:?}",
                input.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn elements_keep_empty_entries() {
        let got: Vec<&[u8]> = elements(b" a,, b ,").collect();
        let expected: Vec<&[u8]> = vec![b"a", b"", b"b", b""];
        assert_eq!(got, expected);
        assert_eq!(elements(b"").collect::<Vec<_>>(), vec![b"" as &[u8]]);
    }
}
