//! Finding the end of a request head in a buffer that grows with each read.
//!
//! [`HeadScanner`] answers one cheap question per read (is the blank line here
//! yet?) so a server can bound the head's size before it parses anything. It
//! agrees with [`parse_request`](crate::parse_request) on where a valid head ends,
//! including the empty lines that may precede the request line.

use crate::Status;
use crate::request::{MAX_LEADING_EMPTY_LINES, ParseError};

/// Scans a growing buffer for the end of a request head, looking only at new bytes.
///
/// # Examples
///
/// ```
/// use httpd_proto::{HeadScanner, Status};
///
/// let mut scanner = HeadScanner::default();
/// let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
/// assert_eq!(scanner.scan(&buf), Ok(Status::Partial));
/// buf.extend_from_slice(b"\r\nbody");
/// assert_eq!(scanner.scan(&buf), Ok(Status::Complete(buf.len() - 4)));
/// ```
#[derive(Clone, Debug, Default)]
pub struct HeadScanner {
    /// How many bytes of the buffer earlier calls looked at.
    scanned: usize,
}

impl HeadScanner {
    /// Looks for the blank line ending the head in `buf`, which must extend the buffer of
    /// earlier calls. Returns the head's length including the final CRLF CRLF.
    ///
    /// Only the bytes added since the last call (and the three before them, which may
    /// start the CRLF CRLF) are searched. Up to [`MAX_LEADING_EMPTY_LINES`] empty lines
    /// before the request line are part of the head, as in
    /// [`parse_request`](crate::parse_request); if there are more, the head is reported
    /// to end after the first superfluous one, so that parsing it fails.
    ///
    /// # Errors
    /// `BadLineEnding` as soon as a bare LF (one not preceded by CR) is seen.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Status<usize>, ParseError> {
        // A shorter buffer breaks the contract; start over rather than misread it.
        let resume = if self.scanned > buf.len() {
            0
        } else {
            self.scanned.saturating_sub(3)
        };
        let leading = leading_empty_lines(buf);
        if leading > MAX_LEADING_EMPTY_LINES {
            let end = (MAX_LEADING_EMPTY_LINES + 1) * 2;
            self.scanned = end;
            return Ok(Status::Complete(end));
        }
        // The blank line must end a non-empty line, so it starts after the leading ones.
        let first_line = leading * 2;
        let rest = buf.get(resume..).unwrap_or_default();
        for lf in memchr::memchr_iter(b'\n', rest).map(|i| resume + i) {
            if lf == 0 || buf.get(lf - 1) != Some(&b'\r') {
                self.scanned = lf;
                return Err(ParseError::BadLineEnding);
            }
            if lf >= first_line + 3 && buf.get(lf - 3..=lf) == Some(b"\r\n\r\n") {
                self.scanned = lf + 1;
                return Ok(Status::Complete(lf + 1));
            }
        }
        self.scanned = buf.len();
        Ok(Status::Partial)
    }

    /// Forgets earlier input, for the next request on the connection.
    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

/// Counts the CRLFs at the start of `buf`, stopping once there are too many.
fn leading_empty_lines(buf: &[u8]) -> usize {
    buf.chunks(2)
        .take(MAX_LEADING_EMPTY_LINES + 1)
        .take_while(|pair| *pair == b"\r\n")
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a fresh scanner in pieces of `step` bytes; returns the first
    /// non-partial result.
    fn scan_in_steps(input: &[u8], step: usize) -> Result<Status<usize>, ParseError> {
        let mut scanner = HeadScanner::default();
        let mut end = 0;
        loop {
            end = (end + step).min(input.len());
            match scanner.scan(&input[..end])? {
                Status::Partial if end < input.len() => {}
                other => return Ok(other),
            }
        }
    }

    #[test]
    fn finds_the_blank_line_however_the_input_is_split() {
        let cases: &[(&[u8], Status<usize>)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", Status::Complete(18)),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest",
                Status::Complete(27),
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", Status::Partial),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", Status::Partial),
            (b"\r\nGET / HTTP/1.1\r\n\r\n", Status::Complete(20)),
            (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", Status::Complete(22)),
            (b"\r\n\r\n\r\n\r\n", Status::Partial),
            (b"\r\n\r\n\r\n\r\n\r\n", Status::Complete(10)),
            (b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n", Status::Complete(10)),
            (b"", Status::Partial),
            (b"\r", Status::Partial),
        ];
        for &(input, expected) in cases {
            for step in 1..=input.len().max(1) {
                assert_eq!(
                    scan_in_steps(input, step),
                    Ok(expected),
                    "{:?} in steps of {step}",
                    input.escape_ascii().to_string()
                );
            }
        }
    }

    #[test]
    fn rejects_a_bare_lf_however_the_input_is_split() {
        let cases: &[&[u8]] = &[
            b"\n",
            b"GET / HTTP/1.1\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\n\n",
            b"\r\n\nGET",
        ];
        for &input in cases {
            for step in 1..=input.len() {
                assert_eq!(
                    scan_in_steps(input, step),
                    Err(ParseError::BadLineEnding),
                    "{:?} in steps of {step}",
                    input.escape_ascii().to_string()
                );
            }
        }
    }

    #[test]
    fn scanner_agrees_with_the_parser_on_head_length() {
        let heads: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n\r\n",
            b"\r\n\r\nGET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST /u HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
        ];
        for &head in heads {
            let mut slots = [crate::Header::EMPTY; 8];
            let Ok(Status::Complete((_, parsed))) = crate::parse_request(head, &mut slots) else {
                panic!("{head:?} did not parse");
            };
            assert_eq!(
                HeadScanner::default().scan(head),
                Ok(Status::Complete(parsed))
            );
        }
    }

    #[test]
    fn scan_resumes_three_bytes_before_the_previous_end() {
        let mut scanner = HeadScanner::default();
        // A bare LF before the resume point is not seen again once it was accepted...
        assert_eq!(scanner.scan(b"GET / HTTP/1.1\r\n"), Ok(Status::Partial));
        assert_eq!(scanner.scanned, 16);
        // ...so bytes that changed behind the scanner's back go unnoticed, as documented.
        assert_eq!(
            scanner.scan(b"GET \n HTTP/1.1\r\n\r\n"),
            Ok(Status::Complete(18))
        );
    }

    #[test]
    fn terminator_split_across_calls_is_found() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in head.len() - 4..head.len() {
            let mut scanner = HeadScanner::default();
            assert_eq!(scanner.scan(&head[..cut]), Ok(Status::Partial), "cut {cut}");
            assert_eq!(
                scanner.scan(head),
                Ok(Status::Complete(head.len())),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut scanner = HeadScanner::default();
        assert_eq!(
            scanner.scan(b"GET / HTTP/1.1\r\n\r\n"),
            Ok(Status::Complete(18))
        );
        scanner.reset();
        assert_eq!(scanner.scan(b"GET /"), Ok(Status::Partial));
        assert_eq!(
            scanner.scan(b"GET / HTTP/1.1\r\n\r\n"),
            Ok(Status::Complete(18))
        );
    }

    #[test]
    fn shorter_buffer_than_before_is_rescanned_from_the_start() {
        let mut scanner = HeadScanner::default();
        assert_eq!(
            scanner.scan(b"GET / HTTP/1.1\r\nHost: aaaa"),
            Ok(Status::Partial)
        );
        assert_eq!(scanner.scan(b"GET /\n"), Err(ParseError::BadLineEnding));
    }
}
