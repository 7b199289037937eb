//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` and `If-Range` (RFC 9110 section 13).
//!
//! [`evaluate`] applies the preconditions in the order of RFC 9110 section 13.2.2 and
//! tells the server to go on (and whether a `Range` may be honoured), to answer 304,
//! or to answer 412. Field values are client input: entity-tag lists and dates that
//! do not parse never cause a panic, and what they mean is spelled out on each
//! function.
//!
//! ```text
//! If-Match      = "*" / #entity-tag
//! If-None-Match = "*" / #entity-tag
//! If-Range      = entity-tag / HTTP-date
//! entity-tag    = [ weak ] opaque-tag
//! weak          = %s"W/"
//! opaque-tag    = DQUOTE *etagc DQUOTE
//! etagc         = %x21 / %x23-7E / obs-text
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use httpd_proto::{EntityTag, entity_tags, trim_ows};

/// The conditional header fields of a request, as raw values; `None` when absent.
///
/// When a field appears more than once, pass the values joined with `, ` for the
/// entity-tag lists; a date field repeated is not a valid date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// The `If-Match` value.
    pub if_match: Option<&'a [u8]>,
    /// The `If-None-Match` value.
    pub if_none_match: Option<&'a [u8]>,
    /// The `If-Modified-Since` value.
    pub if_modified_since: Option<&'a [u8]>,
    /// The `If-Unmodified-Since` value.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// The `If-Range` value.
    pub if_range: Option<&'a [u8]>,
}

/// What the preconditions of a request decide, from [`evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Perform the request. `use_range` is `false` when an `If-Range` is present and
    /// does not match, so any `Range` must be ignored and the whole representation
    /// sent (RFC 9110 section 13.1.5); it is `true` otherwise, even without `Range`.
    Proceed {
        /// Whether a `Range` field may be honoured.
        use_range: bool,
    },
    /// Answer 304 Not Modified (GET and HEAD only).
    NotModified,
    /// Answer 412 Precondition Failed.
    Failed,
}

/// Evaluates the preconditions `c` against the selected representation, whose
/// entity-tag is `etag` (quoted, as sent in `ETag`) and whose modification time is
/// `last_modified`, following RFC 9110 section 13.2.2:
///
/// 1. `If-Match`: `*` matches; otherwise a listed tag must match `etag` by the
///    *strong* comparison (weak tags never match). No match: `Failed`.
/// 2. Without `If-Match`, `If-Unmodified-Since`: `Failed` if the file changed after
///    that date. Ignored when the date is invalid or `last_modified` is unknown.
/// 3. `If-None-Match`: `*` matches; otherwise a listed tag must match by the *weak*
///    comparison. On a match: `NotModified` for GET and HEAD, `Failed` for others.
/// 4. Without `If-None-Match`, for GET and HEAD only, `If-Modified-Since`:
///    `NotModified` unless the file changed after that date. Ignored when the date is
///    invalid or `last_modified` is unknown.
/// 5. `If-Range`: an entity-tag must match `etag` by the strong comparison; a date
///    must equal `last_modified` to the second. Anything else (a weak tag, an invalid
///    value, an unknown `last_modified`) sets `use_range` to `false`.
///
/// Dates are read in all three forms of RFC 9110 section 5.6.7 (IMF-fixdate,
/// RFC 850, asctime) and compared at one-second resolution. An entity-tag list that
/// stops parsing part-way keeps the tags before the fault and matches nothing after
/// it, so a malformed `If-Match` tends towards 412 and a malformed `If-None-Match`
/// towards a full response: both the safe side.
///
/// The caller applies this only when the response without preconditions would be
/// 2xx (RFC 9110 section 13.2.1): a missing file is still 404.
///
/// # Examples
/// ```
/// use httpd_files::{Conditions, Precondition, evaluate};
///
/// let etag = r#""413-1-2a""#;
/// let c = Conditions { if_none_match: Some(br#"W/"413-1-2a""#), ..Conditions::default() };
/// assert_eq!(evaluate(true, &c, etag, None), Precondition::NotModified);
/// assert_eq!(evaluate(false, &c, etag, None), Precondition::Failed);
///
/// let c = Conditions { if_range: Some(br#""old""#), ..Conditions::default() };
/// assert_eq!(evaluate(true, &c, etag, None), Precondition::Proceed { use_range: false });
/// ```
pub fn evaluate(
    method_is_get_or_head: bool,
    c: &Conditions<'_>,
    etag: &str,
    last_modified: Option<SystemTime>,
) -> Precondition {
    let etag = etag.as_bytes();

    // Step 1 and 2.
    if let Some(list) = c.if_match {
        if !list_matches(list, etag, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let (Some(value), Some(modified)) = (c.if_unmodified_since, last_modified) {
        if let Some(date) = parse_date(value) {
            if unix_seconds(modified) > unix_seconds(date) {
                return Precondition::Failed;
            }
        }
    }

    // Step 3 and 4.
    if let Some(list) = c.if_none_match {
        if list_matches(list, etag, Comparison::Weak) {
            return if method_is_get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if let (true, Some(value), Some(modified)) =
        (method_is_get_or_head, c.if_modified_since, last_modified)
    {
        if let Some(date) = parse_date(value) {
            if unix_seconds(modified) <= unix_seconds(date) {
                return Precondition::NotModified;
            }
        }
    }

    // Step 5.
    let use_range = match c.if_range {
        None => true,
        Some(value) => if_range_matches(value, etag, last_modified),
    };
    Precondition::Proceed { use_range }
}

/// How two entity-tags are compared (RFC 9110 section 8.8.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and their opaque parts equal.
    Strong,
    /// Opaque parts equal, weakness ignored.
    Weak,
}

/// Tells whether the `If-Match` / `If-None-Match` value `list` matches `etag`.
fn list_matches(list: &[u8], etag: &[u8], comparison: Comparison) -> bool {
    let list = trim_ows(list);
    if list == b"*" {
        // The representation exists: the caller has the file open.
        return true;
    }
    let Some(current) = EntityTag::parse(etag) else {
        return false;
    };
    entity_tags(list).any(|tag| match comparison {
        Comparison::Strong => tag.matches_strongly(&current),
        Comparison::Weak => tag.matches_weakly(&current),
    })
}

/// Tells whether an `If-Range` value validates the representation.
fn if_range_matches(value: &[u8], etag: &[u8], last_modified: Option<SystemTime>) -> bool {
    let value = trim_ows(value);
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return match (EntityTag::parse(value), EntityTag::parse(etag)) {
            (Some(sent), Some(current)) => sent.matches_strongly(&current),
            _ => false,
        };
    }
    match (parse_date(value), last_modified) {
        // A date is a strong validator only when the file last changed at least a
        // second before now (RFC 9110 sections 8.8.2.2 and 13.1.5): a file changed
        // twice within one second would otherwise splice old and new bytes.
        (Some(date), Some(modified)) => {
            unix_seconds(date) == unix_seconds(modified)
                && unix_seconds(SystemTime::now()) > unix_seconds(modified)
        }
        _ => false,
    }
}

/// Parses an HTTP-date in any of its three forms; `None` if invalid.
fn parse_date(value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(trim_ows(value)).ok()?;
    httpdate::parse_http_date(text).ok()
}

/// Returns `t` as whole seconds since the Unix epoch, rounded towards the past.
fn unix_seconds(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let before = e.duration();
            -i128::from(before.as_secs()) - i128::from(before.subsec_nanos() > 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn if_range_date_of_a_file_changed_this_second_is_weak() {
        let now = SystemTime::now();
        let date = httpdate::fmt_http_date(now);
        let c = Conditions {
            if_range: Some(date.as_bytes()),
            ..Conditions::default()
        };
        // Modified "now": the date cannot tell two versions within this second apart.
        assert_eq!(
            evaluate(true, &c, "\"x\"", Some(now)),
            Precondition::Proceed { use_range: false }
        );
        let earlier = now - std::time::Duration::from_secs(5);
        let date = httpdate::fmt_http_date(earlier);
        let c = Conditions {
            if_range: Some(date.as_bytes()),
            ..Conditions::default()
        };
        assert_eq!(
            evaluate(true, &c, "\"x\"", Some(earlier)),
            Precondition::Proceed { use_range: true }
        );
    }

    const ETAG: &str = r#""413-1-2a""#;
    /// Sun, 06 Nov 1994 08:49:37 GMT.
    const T: u64 = 784_111_777;
    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &[u8] = b"Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &[u8] = b"Sun, 06 Nov 1994 08:49:38 GMT";

    fn at(secs: u64, nanos: u32) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::new(secs, nanos))
    }

    const GO: Precondition = Precondition::Proceed { use_range: true };
    const FULL: Precondition = Precondition::Proceed { use_range: false };
    const NOT_MODIFIED: Precondition = Precondition::NotModified;
    const FAILED: Precondition = Precondition::Failed;

    /// Field values in the order of [`Conditions`]: im, inm, ims, ius, if-range.
    type Fields = [Option<&'static [u8]>; 5];

    fn conditions(f: &Fields) -> Conditions<'static> {
        Conditions {
            if_match: f[0],
            if_none_match: f[1],
            if_modified_since: f[2],
            if_unmodified_since: f[3],
            if_range: f[4],
        }
    }

    fn check(cases: &[(&str, bool, Fields, Precondition)]) {
        for (why, get, fields, expected) in cases {
            let got = evaluate(*get, &conditions(fields), ETAG, at(T, 500));
            assert_eq!(got, *expected, "{why}");
        }
    }

    #[test]
    fn no_conditions_proceed_with_ranges() {
        check(&[("get", true, [None; 5], GO), ("post", false, [None; 5], GO)]);
    }

    #[test]
    fn if_match_uses_the_strong_comparison() {
        let m = |v: &'static [u8]| [Some(v), None, None, None, None];
        check(&[
            ("exact tag", true, m(br#""413-1-2a""#), GO),
            ("star", true, m(b"*"), GO),
            ("star with spaces", false, m(b" * "), GO),
            ("in a list", false, m(br#""a", "413-1-2a", "b""#), GO),
            ("other tag", true, m(br#""other""#), FAILED),
            (
                "weak tag never matches",
                true,
                m(br#"W/"413-1-2a""#),
                FAILED,
            ),
            ("unquoted", true, m(b"413-1-2a"), FAILED),
            ("empty", true, m(b""), FAILED),
            ("star in a list is not star", true, m(br#""x", *"#), FAILED),
            (
                "lowercase w is not weak",
                true,
                m(br#"w/"413-1-2a""#),
                FAILED,
            ),
            ("case matters", true, m(br#""413-1-2A""#), FAILED),
        ]);
    }

    #[test]
    fn if_unmodified_since_applies_only_without_if_match() {
        let u = |v: &'static [u8]| [None, None, None, Some(v), None];
        check(&[
            ("same second", false, u(DATE), GO),
            ("later date", false, u(AFTER), GO),
            ("modified since", false, u(BEFORE), FAILED),
            ("invalid date ignored", false, u(b"yesterday"), GO),
            (
                "rfc 850 form",
                false,
                u(b"Sunday, 06-Nov-94 08:49:36 GMT"),
                FAILED,
            ),
            (
                "asctime form",
                false,
                u(b"Sun Nov  6 08:49:36 1994"),
                FAILED,
            ),
            (
                "if-match present: date ignored",
                false,
                [Some(b"*"), None, None, Some(BEFORE), None],
                GO,
            ),
            (
                "if-match fails first",
                false,
                [Some(br#""x""#), None, None, Some(AFTER), None],
                FAILED,
            ),
        ]);
        // Without a modification time the field is ignored.
        let c = conditions(&u(BEFORE));
        assert_eq!(evaluate(true, &c, ETAG, None), GO);
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison() {
        let n = |v: &'static [u8]| [None, Some(v), None, None, None];
        check(&[
            ("exact tag on get", true, n(br#""413-1-2a""#), NOT_MODIFIED),
            ("weak tag on get", true, n(br#"W/"413-1-2a""#), NOT_MODIFIED),
            ("star on get", true, n(b"*"), NOT_MODIFIED),
            ("in a list", true, n(br#""x", W/"413-1-2a""#), NOT_MODIFIED),
            ("other tag", true, n(br#""x""#), GO),
            ("exact tag on post", false, n(br#""413-1-2a""#), FAILED),
            ("star on put", false, n(b"*"), FAILED),
            ("other tag on post", false, n(br#""x""#), GO),
            ("garbage", true, n(b"garbage"), GO),
        ]);
    }

    #[test]
    fn if_modified_since_applies_only_to_get_without_if_none_match() {
        let s = |v: &'static [u8]| [None, None, Some(v), None, None];
        check(&[
            ("same second", true, s(DATE), NOT_MODIFIED),
            ("later date", true, s(AFTER), NOT_MODIFIED),
            ("modified since", true, s(BEFORE), GO),
            ("invalid date ignored", true, s(b"Sun, 06 Nov 1994"), GO),
            (
                "rfc 850 form",
                true,
                s(b"Sunday, 06-Nov-94 08:49:37 GMT"),
                NOT_MODIFIED,
            ),
            (
                "asctime form",
                true,
                s(b"Sun Nov  6 08:49:37 1994"),
                NOT_MODIFIED,
            ),
            (
                "surrounding spaces",
                true,
                s(b"  Sun, 06 Nov 1994 08:49:37 GMT "),
                NOT_MODIFIED,
            ),
            ("not for post", false, s(DATE), GO),
            (
                "if-none-match present and not matching: date ignored",
                true,
                [None, Some(br#""x""#), Some(AFTER), None, None],
                GO,
            ),
            (
                "if-none-match matching wins",
                true,
                [None, Some(b"*"), Some(BEFORE), None, None],
                NOT_MODIFIED,
            ),
        ]);
        let c = conditions(&s(AFTER));
        assert_eq!(evaluate(true, &c, ETAG, None), GO);
    }

    #[test]
    fn failed_if_match_wins_over_everything_after_it() {
        check(&[
            (
                "if-none-match matching",
                true,
                [Some(br#""x""#), Some(b"*"), None, None, None],
                FAILED,
            ),
            (
                "if-modified-since not modified",
                true,
                [Some(br#""x""#), None, Some(AFTER), None, None],
                FAILED,
            ),
            (
                "if-unmodified-since failing after if-match passes",
                true,
                [
                    Some(b"*"),
                    Some(br#""x""#),
                    None,
                    Some(BEFORE),
                    Some(br#""x""#),
                ],
                FULL,
            ),
            (
                "if-unmodified-since beats if-none-match",
                true,
                [None, Some(b"*"), None, Some(BEFORE), None],
                FAILED,
            ),
        ]);
    }

    #[test]
    fn if_range_needs_a_strong_tag_or_the_exact_date() {
        let r = |v: &'static [u8]| [None, None, None, None, Some(v)];
        check(&[
            ("same strong tag", true, r(br#""413-1-2a""#), GO),
            ("other tag", true, r(br#""x""#), FULL),
            ("weak tag", true, r(br#"W/"413-1-2a""#), FULL),
            ("exact date", true, r(DATE), GO),
            (
                "rfc 850 date",
                true,
                r(b"Sunday, 06-Nov-94 08:49:37 GMT"),
                GO,
            ),
            ("older date", true, r(BEFORE), FULL),
            ("newer date", true, r(AFTER), FULL),
            ("garbage", true, r(b"garbage"), FULL),
            (
                "a list is not one tag",
                true,
                r(br#""413-1-2a", "x""#),
                FULL,
            ),
            ("empty", true, r(b""), FULL),
            (
                "evaluated after the other preconditions pass",
                true,
                [Some(b"*"), Some(br#""x""#), None, None, Some(br#""x""#)],
                FULL,
            ),
        ]);
        let c = conditions(&r(DATE));
        assert_eq!(evaluate(true, &c, ETAG, None), FULL);
    }

    #[test]
    fn a_weak_current_tag_never_matches_strongly() {
        let weak = r#"W/"413-1-2a""#;
        let cases: &[(Conditions<'static>, Precondition)] = &[
            (
                Conditions {
                    if_match: Some(br#"W/"413-1-2a""#),
                    ..Conditions::default()
                },
                FAILED,
            ),
            (
                Conditions {
                    if_none_match: Some(br#""413-1-2a""#),
                    ..Conditions::default()
                },
                NOT_MODIFIED,
            ),
            (
                Conditions {
                    if_range: Some(br#"W/"413-1-2a""#),
                    ..Conditions::default()
                },
                FULL,
            ),
        ];
        for (c, expected) in cases {
            assert_eq!(evaluate(true, c, weak, None), *expected, "{c:?}");
        }
    }

    #[test]
    fn entity_tag_lists_parse_robustly() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"", &[]),
            (b" , ,", &[]),
            (br#""a""#, &[br#""a""#]),
            (br#""""#, &[br#""""#]),
            (br#""a","b""#, &[br#""a""#, br#""b""#]),
            (br#" "a" ,	W/"b" , "#, &[br#""a""#, br#"W/"b""#]),
            (br#"W/"x,y", "z""#, &[br#"W/"x,y""#, br#""z""#]),
            (br#""a",,,"b""#, &[br#""a""#, br#""b""#]),
            // Faults end the list; well-formed tags before them count.
            (br#""a" "b""#, &[br#""a""#]),
            (br#""a", b, "c""#, &[br#""a""#]),
            (br#""unterminated"#, &[]),
            (br#"W/ "a""#, &[]),
            (br#"W/"#, &[]),
            (br#""a"x"#, &[br#""a""#]),
            (b"\"sp ace\"", &[]),
            (b"\"ctl\x01\"", &[]),
            (b"\"obs\xff\"", &[b"\"obs\xff\""]),
            (b"*", &[]),
        ];
        for &(list, expected) in cases {
            let got: Vec<Vec<u8>> = entity_tags(list)
                .map(|t| {
                    let mut v = if t.is_weak() {
                        b"W/".to_vec()
                    } else {
                        Vec::new()
                    };
                    v.extend_from_slice(t.opaque());
                    v
                })
                .collect();
            let expected: Vec<Vec<u8>> = expected.iter().map(|e| e.to_vec()).collect();
            assert_eq!(got, expected, "{:?}", list.escape_ascii().to_string());
        }
    }

    #[test]
    fn strong_and_weak_comparison_follow_the_rfc_table() {
        // RFC 9110 section 8.8.3.2.
        let cases: &[(&[u8], &[u8], bool, bool)] = &[
            (br#"W/"1""#, br#"W/"1""#, false, true),
            (br#"W/"1""#, br#"W/"2""#, false, false),
            (br#"W/"1""#, br#""1""#, false, true),
            (br#""1""#, br#""1""#, true, true),
        ];
        for &(a, b, strong, weak) in cases {
            let (a_tag, b_tag) = (EntityTag::parse(a).unwrap(), EntityTag::parse(b).unwrap());
            assert_eq!(a_tag.matches_strongly(&b_tag), strong, "{a:?} {b:?}");
            assert_eq!(a_tag.matches_weakly(&b_tag), weak, "{a:?} {b:?}");
        }
    }

    #[test]
    fn hostile_values_never_panic() {
        let values: &[&'static [u8]] = &[
            b"\"",
            b"W",
            b"W/",
            b"W/\"",
            b"\"\"\"",
            b",",
            b"\xff\xfe\"",
            b"\t",
            b"Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
            b"Thu, 01 Jan 10000 00:00:00 GMT",
            b"\"a\"\x00",
        ];
        // What each value must give alone in each field, in the order of `Fields`
        // (im, inm, ims, ius, if-range): none of them is a tag matching ETAG or a valid
        // date, so If-Match fails, If-Range falls back to the full body, and the others
        // are ignored.
        let alone = [FAILED, GO, GO, GO, FULL];
        for &v in values {
            let shown = v.escape_ascii().to_string();
            for (idx, expected) in alone.iter().enumerate() {
                let mut fields: Fields = [None; 5];
                fields[idx] = Some(v);
                let got = evaluate(true, &conditions(&fields), ETAG, at(T, 0));
                assert_eq!(got, *expected, "field {idx}: {shown}");
            }
            // All at once, and against a current tag that is garbage too: the failed
            // If-Match decides.
            let c = Conditions {
                if_match: Some(v),
                if_none_match: Some(v),
                if_modified_since: Some(v),
                if_unmodified_since: Some(v),
                if_range: Some(v),
            };
            assert_eq!(evaluate(true, &c, ETAG, at(T, 0)), FAILED, "all: {shown}");
            assert_eq!(evaluate(false, &c, "garbage", None), FAILED, "all: {shown}");
        }
    }

    #[test]
    fn unix_seconds_rounds_towards_the_past() {
        let cases: &[(SystemTime, i128)] = &[
            (UNIX_EPOCH, 0),
            (UNIX_EPOCH + Duration::new(5, 999_999_999), 5),
            (UNIX_EPOCH - Duration::from_millis(1), -1),
            (UNIX_EPOCH - Duration::from_secs(2), -2),
        ];
        for &(t, expected) in cases {
            assert_eq!(unix_seconds(t), expected, "{t:?}");
        }
    }
}
