//! The `Range` request header: byte ranges of a representation (RFC 9110 section 14).
//!
//! This module owns the decision a server makes about a `Range` field before it reads
//! a byte: serve the ranges (206), refuse them (416) or ignore the field and send the
//! whole representation (200). The grammar (RFC 9110 sections 14.1.1 and 14.2) is:
//!
//! ```text
//! Range          = ranges-specifier
//! ranges-specifier = range-unit "=" range-set
//! range-unit     = token                      ; only "bytes" is understood
//! range-set      = 1#range-spec
//! range-spec     = int-range / suffix-range / other-range
//! int-range      = first-pos "-" [ last-pos ]
//! suffix-range   = "-" suffix-length
//! first-pos      = 1*DIGIT
//! last-pos       = 1*DIGIT
//! suffix-length  = 1*DIGIT
//! ```
//!
//! Parsing never allocates more than [`MAX_RANGE_ELEMENTS`] ranges, and the ranges it
//! returns never add up to more bytes than the representation holds, so a client
//! cannot make the server send a file many times over.

use std::cmp::Ordering;

use crate::field::elements;

/// The default for `max_ranges` in [`parse_range`]: more ranges than this, after
/// merging, and the `Range` field is ignored.
pub const DEFAULT_MAX_RANGES: usize = 16;

/// The most list elements (empty ones included) [`parse_range`] looks at; a `Range`
/// field with more is ignored without further work.
pub const MAX_RANGE_ELEMENTS: usize = 100;

/// An inclusive span of byte offsets, `start..=end`, as in `bytes=start-end`.
///
/// Ranges built by [`parse_range`] always satisfy `start <= end < size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// The offset of the first byte.
    pub start: u64,
    /// The offset of the last byte, included in the range.
    pub end: u64,
}

impl ByteRange {
    /// Returns how many bytes the range covers: `end - start + 1`.
    ///
    /// A range with `end < start` covers nothing and has length 0; the one range too
    /// long to count, `0..=u64::MAX`, reports `u64::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use httpd_proto::ByteRange;
    ///
    /// assert_eq!(ByteRange { start: 0, end: 499 }.len(), 500);
    /// ```
    pub fn len(&self) -> u64 {
        match self.end.checked_sub(self.start) {
            Some(span) => span.saturating_add(1),
            None => 0,
        }
    }

    /// Tells whether the range covers no byte at all (`end < start`).
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    /// Returns the `Content-Range` value for this range of a representation of
    /// `complete_len` bytes (RFC 9110 section 14.4): `bytes START-END/LEN`.
    ///
    /// # Examples
    ///
    /// ```
    /// use httpd_proto::ByteRange;
    ///
    /// let range = ByteRange { start: 500, end: 999 };
    /// assert_eq!(range.content_range(8000), "bytes 500-999/8000");
    /// ```
    pub fn content_range(&self, complete_len: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, complete_len)
    }
}

/// Returns the `Content-Range` value of a 416 response for a representation of
/// `complete_len` bytes (RFC 9110 section 14.4): `bytes */LEN`.
///
/// # Examples
///
/// ```
/// assert_eq!(httpd_proto::unsatisfied_content_range(8000), "bytes */8000");
/// ```
pub fn unsatisfied_content_range(complete_len: u64) -> String {
    format!("bytes */{complete_len}")
}

/// What a server should do with a `Range` field, as decided by [`parse_range`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Ignore the field and send the whole representation (200): the field is
    /// malformed, uses another unit, or asks for too many ranges.
    Ignore,
    /// No range overlaps the representation: answer 416 with
    /// `Content-Range: bytes */SIZE` ([`unsatisfied_content_range`]).
    Unsatisfiable,
    /// Send these ranges (206): sorted by offset, none overlapping or touching
    /// another, each inside the representation, at least one and at most
    /// `max_ranges` of them.
    Ranges(Vec<ByteRange>),
}

/// Decides what to send for the `Range` field `value` of a representation of `size`
/// bytes (RFC 9110 sections 14.1.1 to 14.1.3 and 14.2).
///
/// - The unit is `bytes`, in any case; any other unit means the field is ignored.
/// - The range set is a comma-separated list; whitespace around elements and empty
///   elements are tolerated, but at least one range is required.
/// - Numbers are ASCII digits only, with no sign or inner whitespace; one that
///   overflows `u64` makes the field invalid. So does `first-last` with
///   `last < first`. An invalid field is ignored as a whole.
/// - `last` past the end is clamped to `size - 1`; `first-` runs to the end; `-N`
///   names the last `N` bytes, the whole representation when `N >= size`.
/// - A range starting at or after `size`, and the suffix `-0`, are unsatisfiable and
///   dropped. With no satisfiable range left the answer is
///   [`Unsatisfiable`](RangeRequest::Unsatisfiable); an empty representation
///   (`size == 0`) satisfies no range at all, not even a suffix.
/// - The remaining ranges are sorted and overlapping or adjacent ones merged (RFC
///   9110 section 14.3 allows this). If more than `max_ranges` remain, or they would
///   send more bytes than `size`, the field is ignored: a client never gets more than
///   one copy of the representation. `max_ranges == 0` turns ranges off.
/// - A field with more than [`MAX_RANGE_ELEMENTS`] list elements is ignored without
///   parsing the rest.
///
/// Nothing here panics or allocates more than [`MAX_RANGE_ELEMENTS`] ranges.
///
/// # Examples
///
/// ```
/// use httpd_proto::{ByteRange, RangeRequest, DEFAULT_MAX_RANGES, parse_range};
///
/// assert_eq!(
///     parse_range(b"bytes=-500", 10_000, DEFAULT_MAX_RANGES),
///     RangeRequest::Ranges(vec![ByteRange { start: 9500, end: 9999 }]),
/// );
/// assert_eq!(parse_range(b"bytes=20000-", 10_000, 16), RangeRequest::Unsatisfiable);
/// assert_eq!(parse_range(b"bytes=5-1", 10_000, 16), RangeRequest::Ignore);
/// assert_eq!(parse_range(b"lines=1-2", 10_000, 16), RangeRequest::Ignore);
/// ```
pub fn parse_range(value: &[u8], size: u64, max_ranges: usize) -> RangeRequest {
    let Some(set) = strip_bytes_unit(value) else {
        return RangeRequest::Ignore;
    };

    // First pass: validate every element, count them, and refuse huge lists before
    // allocating anything.
    let mut n_elements = 0usize;
    let mut n_specs = 0usize;
    for element in elements(set) {
        n_elements += 1;
        if n_elements > MAX_RANGE_ELEMENTS {
            return RangeRequest::Ignore;
        }
        if element.is_empty() {
            continue;
        }
        if parse_spec(element).is_none() {
            return RangeRequest::Ignore;
        }
        n_specs += 1;
    }
    if n_specs == 0 {
        return RangeRequest::Ignore;
    }

    // Second pass: resolve each spec against the size, dropping unsatisfiable ones.
    let mut ranges = Vec::with_capacity(n_specs);
    for element in elements(set) {
        if element.is_empty() {
            continue;
        }
        let Some(spec) = parse_spec(element) else {
            return RangeRequest::Ignore;
        };
        if let Some(range) = spec.resolve(size) {
            ranges.push(range);
        }
    }
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }

    ranges.sort_unstable_by(|a, b| match a.start.cmp(&b.start) {
        Ordering::Equal => a.end.cmp(&b.end),
        other => other,
    });
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            // Overlapping or adjacent: `end + 1` cannot overflow since `end < size`.
            Some(last) if range.start <= last.end.saturating_add(1) => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }

    if merged.len() > max_ranges {
        return RangeRequest::Ignore;
    }
    // Merged ranges are disjoint and inside the representation, so this holds by
    // construction; it stays as the last line of defence against amplification.
    let total = merged
        .iter()
        .fold(0u64, |sum, range| sum.saturating_add(range.len()));
    if total > size {
        return RangeRequest::Ignore;
    }
    RangeRequest::Ranges(merged)
}

/// One `range-spec`, not yet resolved against a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-last` (`last >= first`) or `first-` (`last` is `None`).
    Int { first: u64, last: Option<u64> },
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

impl Spec {
    /// Returns the bytes this spec names in a representation of `size` bytes, or
    /// `None` if it is unsatisfiable.
    fn resolve(self, size: u64) -> Option<ByteRange> {
        let last_byte = size.checked_sub(1)?;
        match self {
            Spec::Int { first, last } => {
                if first >= size {
                    return None;
                }
                let end = last.map_or(last_byte, |last| last.min(last_byte));
                Some(ByteRange { start: first, end })
            }
            Spec::Suffix(0) => None,
            Spec::Suffix(n) => Some(ByteRange {
                start: size.saturating_sub(n),
                end: last_byte,
            }),
        }
    }
}

/// Returns the range set after a case-insensitive `bytes=`, or `None` for another
/// unit or no `=` at all.
fn strip_bytes_unit(value: &[u8]) -> Option<&[u8]> {
    let value = crate::field::trim_ows(value);
    let eq = memchr::memchr(b'=', value)?;
    let (unit, rest) = value.split_at(eq);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    rest.get(1..)
}

/// Parses one trimmed, non-empty `range-spec`; `None` if it is invalid.
fn parse_spec(spec: &[u8]) -> Option<Spec> {
    let dash = memchr::memchr(b'-', spec)?;
    let (first, rest) = spec.split_at(dash);
    let last = rest.get(1..)?;
    if first.is_empty() {
        return Some(Spec::Suffix(parse_digits(last)?));
    }
    let first = parse_digits(first)?;
    if last.is_empty() {
        return Some(Spec::Int { first, last: None });
    }
    let last = parse_digits(last)?;
    if last < first {
        return None;
    }
    Some(Spec::Int {
        first,
        last: Some(last),
    })
}

/// Parses `1*DIGIT` into a `u64`; `None` when empty, on any other byte, or on overflow.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn ranges(list: &[(u64, u64)]) -> RangeRequest {
        RangeRequest::Ranges(list.iter().map(|&(s, e)| r(s, e)).collect())
    }

    fn check(cases: &[(&str, u64, RangeRequest)]) {
        for (value, size, expected) in cases {
            assert_eq!(
                parse_range(value.as_bytes(), *size, DEFAULT_MAX_RANGES),
                *expected,
                "parse_range({value:?}, {size})"
            );
        }
    }

    #[test]
    fn rfc_9110_examples_resolve_as_written() {
        // RFC 9110 section 14.1.2, the representation being 10000 bytes long.
        check(&[
            // The first 500 bytes.
            ("bytes=0-499", 10_000, ranges(&[(0, 499)])),
            // The second 500 bytes.
            ("bytes=500-999", 10_000, ranges(&[(500, 999)])),
            // The final 500 bytes, two ways.
            ("bytes=-500", 10_000, ranges(&[(9500, 9999)])),
            ("bytes=9500-", 10_000, ranges(&[(9500, 9999)])),
            // The first and last bytes only.
            ("bytes=0-0,-1", 10_000, ranges(&[(0, 0), (9999, 9999)])),
            // The first, middle and last 1000 bytes.
            (
                "bytes= 0-999, 4500-5499, -1000",
                10_000,
                ranges(&[(0, 999), (4500, 5499), (9000, 9999)]),
            ),
            // Non-canonical forms of the second 500 bytes, merged.
            ("bytes=500-600,601-999", 10_000, ranges(&[(500, 999)])),
            ("bytes=500-700,601-999", 10_000, ranges(&[(500, 999)])),
        ]);
    }

    #[test]
    fn single_open_and_suffix_ranges_resolve() {
        check(&[
            ("bytes=0-0", 1, ranges(&[(0, 0)])),
            ("bytes=0-", 1, ranges(&[(0, 0)])),
            ("bytes=-1", 1, ranges(&[(0, 0)])),
            ("bytes=3-", 10, ranges(&[(3, 9)])),
            ("bytes=9-", 10, ranges(&[(9, 9)])),
            ("bytes=-3", 10, ranges(&[(7, 9)])),
            ("bytes=-10", 10, ranges(&[(0, 9)])),
            ("bytes=0-9", 10, ranges(&[(0, 9)])),
            ("bytes=007-008", 10, ranges(&[(7, 8)])),
        ]);
    }

    #[test]
    fn ranges_past_the_end_are_clamped() {
        check(&[
            ("bytes=0-99", 10, ranges(&[(0, 9)])),
            ("bytes=5-18446744073709551615", 10, ranges(&[(5, 9)])),
            ("bytes=-11", 10, ranges(&[(0, 9)])),
            ("bytes=-18446744073709551615", 10, ranges(&[(0, 9)])),
            ("bytes=0-0,5-100,200-300", 10, ranges(&[(0, 0), (5, 9)])),
        ]);
    }

    #[test]
    fn unit_is_case_insensitive_and_whitespace_around_elements_is_allowed() {
        check(&[
            ("Bytes=1-2", 10, ranges(&[(1, 2)])),
            ("BYTES=1-2", 10, ranges(&[(1, 2)])),
            ("bytes=1-2 ,\t4-5\t", 10, ranges(&[(1, 2), (4, 5)])),
            (" bytes=1-2 ", 10, ranges(&[(1, 2)])),
            ("bytes=,1-2,,", 10, ranges(&[(1, 2)])),
        ]);
    }

    #[test]
    fn unsatisfiable_ranges_are_dropped_and_none_left_is_416() {
        check(&[
            ("bytes=10-", 10, RangeRequest::Unsatisfiable),
            ("bytes=10-20", 10, RangeRequest::Unsatisfiable),
            ("bytes=-0", 10, RangeRequest::Unsatisfiable),
            ("bytes=-0,10-", 10, RangeRequest::Unsatisfiable),
            ("bytes=10-,2-3", 10, ranges(&[(2, 3)])),
            ("bytes=-0,-2", 10, ranges(&[(8, 9)])),
            (
                "bytes=18446744073709551615-",
                10,
                RangeRequest::Unsatisfiable,
            ),
        ]);
    }

    #[test]
    fn an_empty_representation_satisfies_no_range() {
        check(&[
            ("bytes=0-", 0, RangeRequest::Unsatisfiable),
            ("bytes=0-0", 0, RangeRequest::Unsatisfiable),
            ("bytes=-1", 0, RangeRequest::Unsatisfiable),
            ("bytes=-0", 0, RangeRequest::Unsatisfiable),
            // Invalid syntax is still ignored rather than refused.
            ("bytes=x", 0, RangeRequest::Ignore),
        ]);
    }

    #[test]
    fn overlapping_and_adjacent_ranges_are_merged_in_order() {
        check(&[
            ("bytes=5-9,0-4", 10, ranges(&[(0, 9)])),
            ("bytes=6-9,0-3", 10, ranges(&[(0, 3), (6, 9)])),
            ("bytes=0-5,2-3", 10, ranges(&[(0, 5)])),
            ("bytes=0-,0-,0-", 10, ranges(&[(0, 9)])),
            ("bytes=-5,0-", 10, ranges(&[(0, 9)])),
            ("bytes=8-8,1-1,4-4", 10, ranges(&[(1, 1), (4, 4), (8, 8)])),
            ("bytes=0-1,1-2,2-3,3-4", 10, ranges(&[(0, 4)])),
            ("bytes=3-3,3-3", 10, ranges(&[(3, 3)])),
        ]);
    }

    #[test]
    fn merged_ranges_never_exceed_the_representation() {
        // A classic amplification attempt: the same large range many times over.
        let value = format!("bytes={}", vec!["0-"; 50].join(","));
        assert_eq!(parse_range(value.as_bytes(), 1000, 16), ranges(&[(0, 999)]));
        let value = format!("bytes={}", vec!["0-999,-1000,1-"; 20].join(","));
        assert_eq!(parse_range(value.as_bytes(), 1000, 16), ranges(&[(0, 999)]));
    }

    #[test]
    fn more_ranges_than_allowed_are_ignored() {
        let seventeen: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        let value = format!("bytes={}", seventeen.join(","));
        assert_eq!(
            parse_range(value.as_bytes(), 100, DEFAULT_MAX_RANGES),
            RangeRequest::Ignore
        );
        // Sixteen are fine.
        let value = format!("bytes={}", seventeen[..16].join(","));
        match parse_range(value.as_bytes(), 100, DEFAULT_MAX_RANGES) {
            RangeRequest::Ranges(list) => assert_eq!(list.len(), 16),
            other => panic!("expected ranges, got {other:?}"),
        }
        // The limit counts ranges after merging.
        let value = format!("bytes={}", vec!["1-2"; 40].join(","));
        assert_eq!(parse_range(value.as_bytes(), 100, 1), ranges(&[(1, 2)]));
        // Zero turns ranges off.
        assert_eq!(parse_range(b"bytes=0-0", 100, 0), RangeRequest::Ignore);
        assert_eq!(parse_range(b"bytes=0-0,2-2", 100, 1), RangeRequest::Ignore);
    }

    #[test]
    fn huge_lists_are_ignored_before_parsing() {
        let value = format!("bytes={}", vec!["0-0"; MAX_RANGE_ELEMENTS + 1].join(","));
        assert_eq!(
            parse_range(value.as_bytes(), 10, DEFAULT_MAX_RANGES),
            RangeRequest::Ignore
        );
        let value = format!("bytes={}", ",".repeat(MAX_RANGE_ELEMENTS));
        assert_eq!(parse_range(value.as_bytes(), 10, 16), RangeRequest::Ignore);
        let value = format!("bytes={}", vec!["0-0"; MAX_RANGE_ELEMENTS].join(","));
        assert_eq!(parse_range(value.as_bytes(), 10, 16), ranges(&[(0, 0)]));
    }

    #[test]
    fn malformed_fields_are_ignored() {
        let cases: &[&[u8]] = &[
            b"",
            b"bytes",
            b"bytes=",
            b"bytes=,",
            b"bytes= , ,",
            b"bytes=-",
            b"bytes=--1",
            b"bytes=1",
            b"bytes=a-b",
            b"bytes=1-a",
            b"bytes=+1-2",
            b"bytes=1-+2",
            b"bytes=-+2",
            b"bytes=-1-2",
            b"bytes=1-2-3",
            b"bytes=1 -2",
            b"bytes=1- 2",
            b"bytes=1-2;q=1",
            b"bytes=0x1-2",
            b"bytes=5-1",
            b"bytes=0-1,5-1",
            b"bytes=0-1,garbage",
            b"bytes =0-1",
            b"bytes= =0-1",
            b"byte=0-1",
            b"bits=0-1",
            b"lines=0-1",
            b"=0-1",
            b"0-1",
            b"bytes=\xff-1",
            b"bytes=\xd9\xa1-2",
            b"bytes=1\x00-2",
        ];
        for &value in cases {
            assert_eq!(
                parse_range(value, 10_000, DEFAULT_MAX_RANGES),
                RangeRequest::Ignore,
                "{:?}",
                value.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn numbers_that_overflow_u64_make_the_field_invalid() {
        check(&[
            ("bytes=18446744073709551616-", 10, RangeRequest::Ignore),
            ("bytes=0-18446744073709551616", 10, RangeRequest::Ignore),
            ("bytes=-18446744073709551616", 10, RangeRequest::Ignore),
            ("bytes=99999999999999999999999-", 10, RangeRequest::Ignore),
            // Leading zeros do not count towards overflow.
            (
                "bytes=000000000000000000000000000001-2",
                10,
                ranges(&[(1, 2)]),
            ),
        ]);
    }

    #[test]
    fn offsets_above_four_gib_work() {
        let size = 5 * GIB;
        check(&[
            ("bytes=4294967296-", size, ranges(&[(4 * GIB, size - 1)])),
            (
                "bytes=4294967290-4294967301",
                size,
                ranges(&[(4 * GIB - 6, 4 * GIB + 5)]),
            ),
            ("bytes=-1073741824", size, ranges(&[(4 * GIB, size - 1)])),
            (
                "bytes=0-0,5368709119-",
                size,
                ranges(&[(0, 0), (size - 1, size - 1)]),
            ),
            ("bytes=5368709120-", size, RangeRequest::Unsatisfiable),
            ("bytes=0-99999999999", size, ranges(&[(0, size - 1)])),
        ]);
    }

    #[test]
    fn the_largest_representation_does_not_overflow() {
        check(&[
            ("bytes=0-", u64::MAX, ranges(&[(0, u64::MAX - 1)])),
            (
                "bytes=-1",
                u64::MAX,
                ranges(&[(u64::MAX - 1, u64::MAX - 1)]),
            ),
            ("bytes=0-5,6-", u64::MAX, ranges(&[(0, u64::MAX - 1)])),
        ]);
    }

    #[test]
    fn byte_range_lengths_and_content_range_values() {
        let cases: &[(ByteRange, u64, bool)] = &[
            (r(0, 0), 1, false),
            (r(0, 499), 500, false),
            (r(4 * GIB, 5 * GIB - 1), GIB, false),
            (r(5, 4), 0, true),
            (r(0, u64::MAX), u64::MAX, false),
        ];
        for (range, len, empty) in cases {
            assert_eq!(range.len(), *len, "{range:?}");
            assert_eq!(range.is_empty(), *empty, "{range:?}");
        }
        assert_eq!(r(0, 0).content_range(1), "bytes 0-0/1");
        assert_eq!(
            r(4 * GIB, 5 * GIB - 1).content_range(5 * GIB),
            "bytes 4294967296-5368709119/5368709120"
        );
        assert_eq!(unsatisfied_content_range(0), "bytes */0");
    }
}
