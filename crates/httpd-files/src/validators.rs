//! Validators of a file: its strong `ETag` and its `Last-Modified` date
//! (RFC 9110 section 8.8).
//!
//! The entity-tag is built from what changes when the file's bytes change: size,
//! modification time to the nanosecond and inode number (a file replaced by rename
//! gets a new inode even when size and time match). It is a strong validator: two
//! files with equal tags are treated as byte-for-byte equal, which is what lets a
//! client resume a download with `If-Range`.

use std::fs::Metadata;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpd_proto::Coding;

use crate::tag::ContentTag;

/// The `ETag` and `Last-Modified` of one file.
///
/// Build it with [`Validators::new`] or [`Validators::from_metadata`]; a
/// [`StaticFile`](crate::StaticFile) has one ready
/// ([`validators`](crate::StaticFile::validators)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    /// The quoted strong entity-tag of the identity representation.
    etag: String,
    /// The modification time, truncated to whole seconds as HTTP dates are.
    last_modified: Option<SystemTime>,
    /// `last_modified` as an IMF-fixdate, formatted once when it is not in the future
    /// (a future time must be replaced by the time of each response).
    last_modified_text: Option<String>,
}

impl Validators {
    /// Computes the validators of a file of `len` bytes, modified at `modified`, with
    /// inode number `inode` (0 where there is none).
    ///
    /// The entity-tag is `"LEN-MTIME-INODE"`, each in lowercase hex, the time in
    /// nanoseconds since the Unix epoch (0 when unknown or before 1970).
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// use httpd_files::Validators;
    ///
    /// let modified = UNIX_EPOCH + Duration::new(1_700_000_000, 500);
    /// let validators = Validators::new(1043, Some(modified), 42);
    /// assert_eq!(validators.etag(), r#""413-17979cfe362a01f4-2a""#);
    /// assert_eq!(
    ///     validators.last_modified_http().as_deref(),
    ///     Some("Tue, 14 Nov 2023 22:13:20 GMT")
    /// );
    /// ```
    pub fn new(len: u64, modified: Option<SystemTime>, inode: u64) -> Validators {
        let nanos = modified
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let last_modified = modified.map(truncate_to_seconds);
        let last_modified_text = last_modified
            .filter(|t| t.duration_since(UNIX_EPOCH).is_ok() && *t <= SystemTime::now())
            .map(httpdate::fmt_http_date);
        Validators {
            etag: format!("\"{len:x}-{nanos:x}-{inode:x}\""),
            last_modified,
            last_modified_text,
        }
    }

    /// Computes the validators from a file's metadata, as [`new`](Self::new) does.
    pub fn from_metadata(meta: &Metadata) -> Validators {
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt;
            meta.ino()
        };
        #[cfg(not(unix))]
        let inode = 0;
        Validators::new(meta.len(), meta.modified().ok(), inode)
    }

    /// Returns these validators with `tag`, computed from the file's bytes, as the
    /// entity-tag (`--etag content`); `Last-Modified` is kept.
    ///
    /// Everything else works on it unchanged: [`etag_for`](Self::etag_for) adds the
    /// coding's suffix (`"c-…-gz"`), and [`evaluate`](crate::evaluate) compares it
    /// like any strong tag. For a precompressed sidecar, use the sidecar's own
    /// content tag, so that rebuilding the sidecar changes the tag.
    ///
    /// # Examples
    /// ```
    /// use httpd_files::{ContentTag, Validators};
    ///
    /// let tag = ContentTag::of_bytes(b"<h1>hi</h1>");
    /// let validators = Validators::new(11, None, 42).with_content_tag(&tag);
    /// assert_eq!(validators.etag(), tag.to_etag());
    /// ```
    pub fn with_content_tag(&self, tag: &ContentTag) -> Validators {
        Validators {
            etag: tag.to_etag(),
            ..self.clone()
        }
    }

    /// Returns the quoted strong entity-tag of the file as it is on disk, such as
    /// `"413-17979cfe362a01f4-2a"`.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Returns the entity-tag of the representation sent with `coding`.
    ///
    /// Each coding's bytes differ, so each gets its own strong tag: `-gz` or `-br` is
    /// added inside the quotes (`"413-17979cfe362a01f4-2a-gz"`); identity gets
    /// [`etag`](Self::etag) unchanged. For a precompressed sidecar, ask the sidecar's
    /// own validators, so that rebuilding the sidecar changes the tag.
    pub fn etag_for(&self, coding: Coding) -> String {
        let suffix = match coding {
            Coding::Gzip => "-gz",
            Coding::Brotli => "-br",
            _ => return self.etag.clone(),
        };
        let inner = self
            .etag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(&self.etag);
        format!("\"{inner}{suffix}\"")
    }

    /// Returns the modification time truncated to whole seconds, or `None` if the
    /// filesystem gave none.
    pub fn last_modified(&self) -> Option<SystemTime> {
        self.last_modified
    }

    /// Returns the `Last-Modified` value formatted once when the validators were
    /// computed, without allocating; `None` when there is none or when the time was in
    /// the future then (ask [`last_modified_http`](Self::last_modified_http), which
    /// substitutes the current time).
    pub fn last_modified_text(&self) -> Option<&str> {
        self.last_modified_text.as_deref()
    }

    /// Returns the `Last-Modified` value as an IMF-fixdate
    /// (`Sun, 06 Nov 1994 08:49:37 GMT`), or `None` without a modification time.
    ///
    /// A time in the future is replaced by the current time, as RFC 9110 section
    /// 8.8.2.1 requires; a time before 1970, which HTTP dates cannot express, gives
    /// `None`.
    pub fn last_modified_http(&self) -> Option<String> {
        if let Some(text) = &self.last_modified_text {
            return Some(text.clone());
        }
        let modified = self.last_modified?;
        modified.duration_since(UNIX_EPOCH).ok()?;
        let now = truncate_to_seconds(SystemTime::now());
        Some(httpdate::fmt_http_date(modified.min(now)))
    }
}

/// Drops the sub-second part of `t`, towards the past.
fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(err) => {
            let before = err.duration();
            let secs = before.as_secs() + u64::from(before.subsec_nanos() > 0);
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs))
                .unwrap_or(t)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::test_util::TempDir;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn etag_is_quoted_hex_of_size_time_and_inode() {
        let cases: &[(u64, Option<SystemTime>, u64, &str)] = &[
            (0, None, 0, r#""0-0-0""#),
            (1043, Some(at(0, 1)), 42, r#""413-1-2a""#),
            (5 << 30, Some(at(1, 0)), 7, r#""140000000-3b9aca00-7""#),
            (
                1,
                Some(UNIX_EPOCH - Duration::from_secs(5)),
                1,
                r#""1-0-1""#,
            ),
            (
                u64::MAX,
                Some(at(1_700_000_000, 999_999_999)),
                u64::MAX,
                r#""ffffffffffffffff-17979cfe71c4c9ff-ffffffffffffffff""#,
            ),
        ];
        for &(len, modified, inode, expected) in cases {
            let validators = Validators::new(len, modified, inode);
            assert_eq!(validators.etag(), expected, "{len} {modified:?} {inode}");
            assert!(!validators.etag().starts_with("W/"));
        }
    }

    #[test]
    fn etag_changes_with_any_input() {
        let base = Validators::new(10, Some(at(100, 5)), 3);
        for other in [
            Validators::new(11, Some(at(100, 5)), 3),
            Validators::new(10, Some(at(100, 6)), 3),
            Validators::new(10, Some(at(100, 5)), 4),
        ] {
            assert_ne!(base.etag(), other.etag());
        }
        assert_eq!(base, Validators::new(10, Some(at(100, 5)), 3));
    }

    #[test]
    fn each_coding_has_its_own_etag() {
        let validators = Validators::new(0x413, Some(at(0, 1)), 0x2a);
        let cases = [
            (Coding::Identity, r#""413-1-2a""#),
            (Coding::Gzip, r#""413-1-2a-gz""#),
            (Coding::Brotli, r#""413-1-2a-br""#),
        ];
        for (coding, expected) in cases {
            assert_eq!(validators.etag_for(coding), expected, "{coding:?}");
        }
    }

    #[test]
    fn last_modified_is_truncated_to_seconds() {
        let cases: &[(Option<SystemTime>, Option<SystemTime>, Option<&str>)] = &[
            (None, None, None),
            (
                Some(at(784_111_777, 999_999_999)),
                Some(at(784_111_777, 0)),
                Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            ),
            (
                Some(at(0, 0)),
                Some(at(0, 0)),
                Some("Thu, 01 Jan 1970 00:00:00 GMT"),
            ),
            (
                Some(UNIX_EPOCH - Duration::from_millis(1500)),
                Some(UNIX_EPOCH - Duration::from_secs(2)),
                None,
            ),
        ];
        for &(modified, truncated, http) in cases {
            let validators = Validators::new(1, modified, 1);
            assert_eq!(validators.last_modified(), truncated, "{modified:?}");
            assert_eq!(
                validators.last_modified_http().as_deref(),
                http,
                "{modified:?}"
            );
        }
    }

    #[test]
    fn a_future_last_modified_is_sent_as_now() {
        let future = SystemTime::now() + Duration::from_secs(10 * 365 * 24 * 3600);
        let validators = Validators::new(1, Some(future), 1);
        let before = truncate_to_seconds(SystemTime::now());
        let sent = validators.last_modified_http().expect("a date");
        let after = SystemTime::now();
        let sent = httpdate::parse_http_date(&sent).expect("valid date");
        // Now, to the second: neither the future time nor any earlier one (1970).
        assert!(
            before <= sent && sent <= after,
            "{sent:?} not in {before:?}..={after:?}"
        );
        // The time itself is kept, for comparisons.
        assert_eq!(
            validators.last_modified(),
            Some(truncate_to_seconds(future))
        );
    }

    #[test]
    fn from_metadata_matches_new() {
        use std::os::unix::fs::MetadataExt;

        let dir = TempDir::new();
        let path = dir.write("a.txt", b"hello");
        let meta = fs::metadata(path).unwrap();
        let expected = Validators::new(5, meta.modified().ok(), meta.ino());
        assert_eq!(Validators::from_metadata(&meta), expected);
    }

    #[test]
    fn validators_carry_the_content_tag_through_codings() {
        let tag = ContentTag::of_bytes(b"hello");
        let hex: String = tag.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(tag.to_etag(), format!("\"c-{hex}\""));
        let modified = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let validators = Validators::new(5, Some(modified), 9).with_content_tag(&tag);
        assert_eq!(validators.etag(), format!("\"c-{hex}\""));
        assert_eq!(
            validators.etag_for(httpd_proto::Coding::Gzip),
            format!("\"c-{hex}-gz\"")
        );
        assert_eq!(validators.last_modified(), Some(modified));
        // The conditional-request logic works with it unchanged.
        let conditions = crate::Conditions {
            if_none_match: Some(validators.etag().as_bytes()),
            ..Default::default()
        };
        assert_eq!(
            crate::evaluate(true, &conditions, validators.etag(), None),
            crate::Precondition::NotModified
        );
    }
}
