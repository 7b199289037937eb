//! Field values that carry lists, numbers or validators: `Connection`,
//! `Content-Length`, `If-Match`, `If-None-Match`, `If-Range`.
//!
//! Lists follow RFC 9110 section 5.6.1 (`#element`: comma-separated, optional
//! whitespace around each element). Numbers follow section 8.6: digits only.
//! Entity-tags follow section 8.8.3:
//!
//! ```text
//! entity-tag = [ weak ] opaque-tag
//! weak       = %s"W/"
//! opaque-tag = DQUOTE *etagc DQUOTE
//! etagc      = %x21 / %x23-7E / obs-text
//! ```

use crate::error::ParseError;

/// Removes leading and trailing optional whitespace (`OWS = *( SP / HTAB )`) from
/// `bytes`; other bytes, controls included, are kept.
///
/// # Examples
///
/// ```
/// use httpd_proto::trim_ows;
///
/// assert_eq!(trim_ows(b" \t gzip \t"), b"gzip");
/// assert_eq!(trim_ows(b"a b"), b"a b");
/// assert_eq!(trim_ows(b"   "), b"");
/// ```
pub fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Tells whether `b` is optional whitespace: SP or HTAB.
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// An entity-tag (RFC 9110 section 8.8.3), borrowed from a field value: `"abc"` or
/// `W/"abc"`.
///
/// # Examples
///
/// ```
/// use httpd_proto::EntityTag;
///
/// let sent = EntityTag::parse(b"W/\"413-1\"").expect("a weak tag");
/// let ours = EntityTag::parse(b"\"413-1\"").expect("a strong tag");
/// assert!(sent.is_weak());
/// assert_eq!(sent.opaque(), b"\"413-1\"");
/// assert!(sent.matches_weakly(&ours));
/// assert!(!sent.matches_strongly(&ours));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// Whether the tag had the `W/` prefix.
    weak: bool,
    /// The `opaque-tag`, quotes included.
    opaque: &'a [u8],
}

impl<'a> EntityTag<'a> {
    /// Parses a whole value that is exactly one entity-tag, with optional whitespace
    /// around it; `None` for anything else (a list, `*`, a date, a malformed tag).
    pub fn parse(value: &'a [u8]) -> Option<EntityTag<'a>> {
        match split_entity_tag(trim_ows(value)) {
            Some((tag, [])) => Some(tag),
            _ => None,
        }
    }

    /// Tells whether the tag is weak (`W/"..."`).
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// Returns the `opaque-tag`, quotes included, without the `W/`.
    pub fn opaque(&self) -> &'a [u8] {
        self.opaque
    }

    /// Tells whether both tags are strong and their opaque tags equal: the strong
    /// comparison of RFC 9110 section 8.8.3.2, for `If-Match` and `If-Range`.
    pub fn matches_strongly(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Tells whether the opaque tags are equal, weak or not: the weak comparison of RFC
    /// 9110 section 8.8.3.2, for `If-None-Match`.
    pub fn matches_weakly(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
}

/// Iterates over the entity-tags of an `If-Match` or `If-None-Match` list
/// (`#entity-tag`, RFC 9110 section 13.1.1).
///
/// Empty elements and whitespace around elements are skipped (section 5.6.1). Iteration
/// ends at the first element that is not an entity-tag, so a list that is `*` yields
/// nothing: test for `*` first (`trim_ows(value) == b"*"`). A comma inside the quotes
/// belongs to the tag.
///
/// # Examples
///
/// ```
/// use httpd_proto::{EntityTag, entity_tags};
///
/// let current = EntityTag::parse(b"\"v2\"").expect("valid");
/// let list = b" \"v1\", W/\"v2\" ,,\"a,b\"";
/// let tags: Vec<&[u8]> = entity_tags(list).map(|tag| tag.opaque()).collect();
/// assert_eq!(tags, [&b"\"v1\""[..], b"\"v2\"", b"\"a,b\""]);
/// assert!(entity_tags(list).any(|tag| tag.matches_weakly(&current)));
/// assert!(!entity_tags(list).any(|tag| tag.matches_strongly(&current)));
/// ```
pub fn entity_tags(list: &[u8]) -> EntityTags<'_> {
    EntityTags { rest: list }
}

/// Iterator over the entity-tags of a list; see [`entity_tags`].
#[derive(Clone, Debug)]
pub struct EntityTags<'a> {
    /// The part of the list not yet parsed; empty once done or after a fault.
    rest: &'a [u8],
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = EntityTag<'a>;

    fn next(&mut self) -> Option<EntityTag<'a>> {
        let start = self
            .rest
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))?;
        let Some((tag, after)) = split_entity_tag(self.rest.get(start..).unwrap_or_default())
        else {
            self.rest = &[];
            return None;
        };
        let after = trim_ows(after);
        // Another element must follow a comma; anything else is a fault, but the tag
        // itself was well formed and counts.
        self.rest = match after.first() {
            None | Some(b',') => after,
            Some(_) => &[],
        };
        Some(tag)
    }
}

/// Splits the entity-tag at the start of `bytes` from what follows it.
fn split_entity_tag(bytes: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, quoted) = match bytes.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let inner = quoted.strip_prefix(b"\"")?;
    // `etagc` excludes DQUOTE, so the next quote closes the tag.
    let close = memchr::memchr(b'"', inner)?;
    if !inner.get(..close)?.iter().all(|&b| is_etagc(b)) {
        return None;
    }
    let opaque = quoted.get(..close + 2)?;
    let after = quoted.get(close + 2..)?;
    Some((EntityTag { weak, opaque }, after))
}

/// Tells whether `b` is an `etagc`: `%x21 / %x23-7E / obs-text`.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80
}

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

/// Tells whether `b` is a `tchar`, a byte of a token (RFC 9110 section 5.6.2): an ASCII
/// letter or digit, or one of ``!#$%&'*+-.^_`|~``.
///
/// # Examples
///
/// ```
/// use httpd_proto::is_tchar;
///
/// assert!(b"gzip".iter().all(|&b| is_tchar(b)));
/// assert!(!is_tchar(b'/') && !is_tchar(b' ') && !is_tchar(0x80));
/// ```
pub fn is_tchar(b: u8) -> bool {
    crate::table::is_tchar(b)
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
    fn trim_ows_removes_only_spaces_and_tabs() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"   ", b""),
            (b"\t a \t", b"a"),
            (b"a b", b"a b"),
            (b" \x0ba\x0b ", b"\x0ba\x0b"),
            (b"\r\na\r\n", b"\r\na\r\n"),
        ];
        for &(input, expected) in cases {
            assert_eq!(trim_ows(input), expected, "{}", input.escape_ascii());
        }
    }

    #[test]
    fn entity_tags_parse_strong_and_weak_forms() {
        /// Whether the tag is weak, and its opaque part.
        type Parsed = Option<(bool, &'static [u8])>;
        let cases: &[(&[u8], Parsed)] = &[
            (b"\"abc\"", Some((false, b"\"abc\""))),
            (b"W/\"abc\"", Some((true, b"\"abc\""))),
            (b" \t\"abc\" ", Some((false, b"\"abc\""))),
            (b"\"\"", Some((false, b"\"\""))),
            (b"\"a,b\"", Some((false, b"\"a,b\""))),
            (b"\"\x80\xff!\"", Some((false, b"\"\x80\xff!\""))),
            (b"W/\"\"", Some((true, b"\"\""))),
            // Not one entity-tag.
            (b"", None),
            (b"*", None),
            (b"abc", None),
            (b"\"abc", None),
            (b"w/\"abc\"", None),
            (b"W/ \"abc\"", None),
            (b"\"a b\"", None),
            (b"\"a\x7fb\"", None),
            (b"\"a\x00b\"", None),
            (b"\"a\"b", None),
            (b"\"a\", \"b\"", None),
            (b"Tue, 02 Jan 2026 03:04:05 GMT", None),
        ];
        for &(input, expected) in cases {
            let got = EntityTag::parse(input).map(|tag| (tag.is_weak(), tag.opaque()));
            assert_eq!(got, expected, "{}", input.escape_ascii());
        }
    }

    #[test]
    fn entity_tag_comparisons_follow_rfc_9110() {
        // RFC 9110 section 8.8.3.2, the table of examples.
        let cases: &[(&[u8], &[u8], bool, bool)] = &[
            (b"W/\"1\"", b"W/\"1\"", false, true),
            (b"W/\"1\"", b"W/\"2\"", false, false),
            (b"W/\"1\"", b"\"1\"", false, true),
            (b"\"1\"", b"\"1\"", true, true),
        ];
        for &(a, b, strong, weak) in cases {
            let (a, b) = (EntityTag::parse(a).unwrap(), EntityTag::parse(b).unwrap());
            assert_eq!(a.matches_strongly(&b), strong, "{a:?} {b:?}");
            assert_eq!(b.matches_strongly(&a), strong, "{a:?} {b:?}");
            assert_eq!(a.matches_weakly(&b), weak, "{a:?} {b:?}");
            assert_eq!(b.matches_weakly(&a), weak, "{a:?} {b:?}");
        }
    }

    #[test]
    fn entity_tag_lists_stop_at_the_first_fault() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"", &[]),
            (b"*", &[]),
            (b"\"a\"", &[b"\"a\""]),
            (b"\"a\", \"b\"", &[b"\"a\"", b"\"b\""]),
            (b" , \"a\" ,, W/\"b\" , ", &[b"\"a\"", b"\"b\""]),
            (b"\"a,b\",\"c\"", &[b"\"a,b\"", b"\"c\""]),
            (b"\"a\", bogus, \"c\"", &[b"\"a\""]),
            (b"\"a\" \"b\"", &[b"\"a\""]),
            (b"\"a\"x, \"b\"", &[b"\"a\""]),
            (b"\"unclosed,\"b\"", &[b"\"unclosed,\""]),
            (b"\"no spaces\", \"b\"", &[]),
            (b"\"a", &[]),
        ];
        for &(list, expected) in cases {
            let got: Vec<&[u8]> = entity_tags(list).map(|tag| tag.opaque()).collect();
            assert_eq!(got, expected, "{}", list.escape_ascii());
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
