//! `multipart/byteranges` bodies for responses with several ranges (RFC 9110
//! section 14.6).
//!
//! The body is laid out so that its length is known before a byte is read, which
//! lets the server send `Content-Length` instead of chunking:
//!
//! ```text
//! --BOUNDARY CRLF
//! Content-Type: TYPE CRLF
//! Content-Range: bytes START-END/SIZE CRLF
//! CRLF
//! <bytes START..=END of the file> CRLF
//! ... one such part per range ...
//! --BOUNDARY-- CRLF
//! ```

use std::io::{self, Write};

use httpd_proto::ByteRange;

use crate::random::random_u64;
use crate::static_file::StaticFile;

/// One piece of a `multipart/byteranges` body, from [`Multipart::pieces`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Piece {
    /// Bytes to send as they are: a delimiter, a part head, a line break.
    Text(Vec<u8>),
    /// A range of the file.
    Range(ByteRange),
}

/// A `multipart/byteranges` body: its boundary, exact length and writer.
///
/// # Examples
/// ```
/// use httpd_files::Multipart;
/// use httpd_proto::ByteRange;
///
/// let ranges = [ByteRange { start: 0, end: 0 }, ByteRange { start: 9, end: 9 }];
/// let body = Multipart::with_boundary(&ranges, "text/plain", 10, "SEP");
/// assert_eq!(body.content_type_header(), "multipart/byteranges; boundary=SEP");
/// // Two parts of 1 byte, each with 2 header lines, and the closing delimiter.
/// let part = "--SEP\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-0/10\r\n\r\n".len();
/// assert_eq!(body.content_length(), 2 * (part as u64 + 1 + 2) + 9);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multipart {
    /// Delimits the parts; random, so it does not occur in the file's bytes.
    boundary: String,
    /// The `Content-Type` of every part: the file's own.
    content_type: String,
    /// The full length of the representation, for `Content-Range`.
    complete_len: u64,
    /// The parts, in the order they are sent.
    ranges: Vec<ByteRange>,
}

impl Multipart {
    /// Prepares the body of `ranges` of a file of `complete_len` bytes sent as
    /// `content_type`, with a fresh random boundary of 32 hex digits.
    ///
    /// The ranges are used as given; take them from
    /// [`parse_range`](httpd_proto::parse_range) called with the same length, so
    /// each lies inside the file.
    pub fn new(ranges: &[ByteRange], content_type: &str, complete_len: u64) -> Multipart {
        let boundary = format!("{:016x}{:016x}", random_u64(), random_u64());
        Multipart::with_boundary(ranges, content_type, complete_len, &boundary)
    }

    /// Prepares the body with a chosen `boundary`, for reproducible output.
    ///
    /// The boundary must not occur in the file's bytes and must be a valid
    /// `boundary` parameter (RFC 2046 section 5.1.1: 1 to 70 characters, no
    /// trailing space); [`new`](Self::new) picks a safe one.
    pub fn with_boundary(
        ranges: &[ByteRange],
        content_type: &str,
        complete_len: u64,
        boundary: &str,
    ) -> Multipart {
        Multipart {
            boundary: boundary.to_string(),
            content_type: content_type.to_string(),
            complete_len,
            ranges: ranges.to_vec(),
        }
    }

    /// Returns the boundary that separates the parts.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Returns the response's `Content-Type` value:
    /// `multipart/byteranges; boundary=BOUNDARY`.
    pub fn content_type_header(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    /// Returns the exact number of bytes [`write_to`](Self::write_to) writes, for
    /// `Content-Length`. Saturates at `u64::MAX`, which no real file reaches.
    pub fn content_length(&self) -> u64 {
        let closing = self.closing_delimiter().len() as u64;
        self.ranges.iter().fold(closing, |total, range| {
            total
                .saturating_add(self.part_head(range).len() as u64)
                .saturating_add(range.len())
                .saturating_add(2)
        })
    }

    /// Writes the whole body to `out`, reading each range from `file`, and returns
    /// the number of bytes written, equal to [`content_length`](Self::content_length).
    ///
    /// Memory use is constant: part heads are small and file bytes go through
    /// [`StaticFile::send_range_to`].
    ///
    /// # Errors
    /// The `io::Error` of a read or write; `InvalidInput` if a range does not lie
    /// inside the file; `UnexpectedEof` if the file shrank. Part of the body may be
    /// written already, so the caller must close the connection.
    pub fn write_to(&self, file: &mut StaticFile, out: &mut dyn Write) -> io::Result<u64> {
        let mut written = 0u64;
        for range in &self.ranges {
            let head = self.part_head(range);
            out.write_all(head.as_bytes())?;
            written += head.len() as u64;
            written += file.send_range_to(out, *range)?;
            out.write_all(b"\r\n")?;
            written += 2;
        }
        let closing = self.closing_delimiter();
        out.write_all(closing.as_bytes())?;
        written += closing.len() as u64;
        Ok(written)
    }

    /// Returns the body as a list of pieces, in order: the text between ranges
    /// (delimiters and part heads) and the ranges of the file, for a sender that
    /// streams them itself (without blocking) instead of calling
    /// [`write_to`](Self::write_to). The pieces add up to
    /// [`content_length`](Self::content_length) bytes.
    pub fn pieces(&self) -> Vec<Piece> {
        let mut pieces = Vec::with_capacity(self.ranges.len() * 2 + 1);
        let mut text = Vec::new();
        for range in &self.ranges {
            text.extend_from_slice(self.part_head(range).as_bytes());
            pieces.push(Piece::Text(std::mem::take(&mut text)));
            pieces.push(Piece::Range(*range));
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(self.closing_delimiter().as_bytes());
        pieces.push(Piece::Text(text));
        pieces
    }

    /// Returns the delimiter and header lines that open the part for `range`.
    fn part_head(&self, range: &ByteRange) -> String {
        format!(
            "--{}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n",
            self.boundary,
            self.content_type,
            range.content_range(self.complete_len)
        )
    }

    /// Returns the delimiter that ends the body.
    fn closing_delimiter(&self) -> String {
        format!("--{}--\r\n", self.boundary)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use httpd_security::resolve_path;

    use super::*;
    use crate::test_util::TempDir;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    fn open_digits(root: &TempDir) -> StaticFile {
        root.write("digits.txt", b"0123456789");
        StaticFile::open(&resolve_path(root.path(), "/digits.txt").unwrap()).unwrap()
    }

    #[test]
    fn body_matches_rfc_9110_layout_byte_for_byte() {
        let root = TempDir::new();
        let mut file = open_digits(&root);
        let body = Multipart::with_boundary(&[r(0, 1), r(5, 5), r(8, 9)], "text/plain", 10, "B");
        let expected: &[u8] = b"--B\r\n\
            Content-Type: text/plain\r\n\
            Content-Range: bytes 0-1/10\r\n\
            \r\n\
            01\r\n\
            --B\r\n\
            Content-Type: text/plain\r\n\
            Content-Range: bytes 5-5/10\r\n\
            \r\n\
            5\r\n\
            --B\r\n\
            Content-Type: text/plain\r\n\
            Content-Range: bytes 8-9/10\r\n\
            \r\n\
            89\r\n\
            --B--\r\n";
        let mut out = Vec::new();
        let n = body.write_to(&mut file, &mut out).unwrap();
        assert_eq!(
            out.escape_ascii().to_string(),
            expected.escape_ascii().to_string()
        );
        assert_eq!(n, expected.len() as u64);
        assert_eq!(body.content_length(), expected.len() as u64);
        assert_eq!(
            body.content_type_header(),
            "multipart/byteranges; boundary=B"
        );
    }

    #[test]
    fn precomputed_length_equals_written_length() {
        let root = TempDir::new();
        let mut file = open_digits(&root);
        let cases: &[&[ByteRange]] = &[
            &[],
            &[r(0, 9)],
            &[r(0, 0), r(9, 9)],
            &[r(0, 0), r(2, 2), r(4, 4), r(6, 6), r(8, 8)],
        ];
        for &ranges in cases {
            let body = Multipart::new(ranges, "application/octet-stream", 10);
            let mut out = Vec::new();
            let n = body.write_to(&mut file, &mut out).unwrap();
            assert_eq!(n, out.len() as u64, "{ranges:?}");
            assert_eq!(body.content_length(), n, "{ranges:?}");
        }
    }

    #[test]
    fn boundaries_are_random_hex() {
        const N: usize = 256;
        let boundaries: HashSet<String> = (0..N)
            .map(|_| Multipart::new(&[], "text/plain", 0).boundary().to_string())
            .collect();
        assert_eq!(boundaries.len(), N);
        for b in &boundaries {
            assert_eq!(b.len(), 32, "{b}");
            assert!(b.bytes().all(|c| c.is_ascii_hexdigit()), "{b}");
        }
        // Every position takes (nearly) every hex digit: a boundary built from a
        // counter or a clock keeps most of its digits fixed. The chance that 256
        // random digits miss five of the sixteen values is below 1e-40.
        for pos in 0..32 {
            let digits: HashSet<u8> = boundaries.iter().map(|b| b.as_bytes()[pos]).collect();
            assert!(digits.len() >= 12, "position {pos} took only {digits:?}");
        }
    }

    #[test]
    fn ranges_outside_the_file_fail_before_writing_their_bytes() {
        let root = TempDir::new();
        let mut file = open_digits(&root);
        let body = Multipart::with_boundary(&[r(0, 0), r(5, 10)], "text/plain", 10, "B");
        let mut out = Vec::new();
        let err = body
            .write_to(&mut file, &mut out)
            .expect_err("past the end");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(out.ends_with(b"Content-Range: bytes 5-10/10\r\n\r\n"));
    }
}
