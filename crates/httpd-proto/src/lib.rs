//! HTTP/1.1 message syntax without I/O: request heads, chunked bodies, response heads.
//!
//! This crate turns bytes into HTTP/1.1 structures and back, following RFC 9110 and
//! RFC 9112 strictly. It does no I/O, keeps no clock and logs nothing. Parsing does
//! not allocate: [`parse_request`] borrows from the input and writes headers into
//! caller-provided slots; only output (a response head, decoded payload) is allocated. Client bytes never cause a
//! panic; every failure is a return value ([`ParseError`], [`ChunkError`]), and input
//! that is merely incomplete is [`Status::Partial`], not an error.
//!
//! - [`HeadScanner`] finds the end of a head in a growing buffer, cheaply.
//! - [`parse_request`] parses the head; [`Request`] answers keep-alive, `Expect` and
//!   body framing ([`Request::framing`]) questions.
//! - [`ChunkedDecoder`] decodes a chunked body fed in arbitrary pieces;
//!   [`encode_chunk`] and [`LAST_CHUNK`] write one.
//! - [`ResponseHead`] writes a status line and header lines that cannot be split by
//!   injected line breaks.
//!
//! Parsing is fast without giving up any of these checks: bytes are classified by
//! 256-entry tables, and request targets and field values are scanned 32 bytes at a
//! time with AVX2 when the CPU has it (detected at run time), 16 with SSE2 on other
//! x86-64 CPUs, and byte by byte elsewhere; all three give the same answers. That
//! scanning is the crate's only `unsafe` code, in one module that says why.
//! `cargo bench -p httpd-proto` compares [`parse_request`] with httparse.
//!
//! Every limit is a named constant: [`MAX_HEADERS`], [`MAX_LEADING_EMPTY_LINES`],
//! [`MAX_CHUNK_SIZE_DIGITS`], [`MAX_CHUNK_LINE_BYTES`], [`MAX_TRAILER_BYTES`]. The
//! size of a head is the caller's to bound, with the length [`HeadScanner`] reports.
//!
//! # Example
//!
//! ```
//! use httpd_proto::{
//!     parse_request, ChunkedDecoder, Framing, HeadScanner, Header, ResponseHead, Status,
//!     MAX_HEADERS,
//! };
//!
//! let input: &[u8] = b"POST /upload HTTP/1.1\r\n\
//!     Host: example.com\r\n\
//!     Transfer-Encoding: chunked\r\n\
//!     \r\n\
//!     5\r\nhello\r\n0\r\n\r\n";
//!
//! // Wait for the whole head, then parse it.
//! let Ok(Status::Complete(head_len)) = HeadScanner::default().scan(input) else {
//!     panic!("head not complete");
//! };
//! let mut slots = [Header::EMPTY; MAX_HEADERS];
//! let Ok(Status::Complete((request, used))) = parse_request(&input[..head_len], &mut slots)
//! else {
//!     panic!("head not valid");
//! };
//! assert_eq!(used, head_len);
//! assert_eq!(request.path(), "/upload");
//! assert!(request.wants_keep_alive());
//! assert_eq!(request.framing(), Ok(Framing::Chunked));
//!
//! // Decode the body that follows the head.
//! let mut decoder = ChunkedDecoder::default();
//! let mut body = Vec::new();
//! decoder.decode(&input[head_len..], &mut body)?;
//! assert!(decoder.is_done());
//! assert_eq!(body, b"hello");
//!
//! // Answer.
//! let mut head = ResponseHead::new(201);
//! head.header("Content-Length", "0");
//! assert_eq!(head.finish(), b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The read loop
//!
//! A server reads into one buffer per connection and, for each request: scans for the
//! end of the head (bounding its size), parses it into header slots, answers, drains
//! the head from the buffer (a pipelined request may follow it) and resets the scanner.
//! See `examples/tiny_server.rs` for a whole server in under 100 lines.
//!
//! ```
//! use httpd_proto::{parse_request, HeadScanner, Header, Status, MAX_HEADERS};
//!
//! const MAX_HEAD_BYTES: usize = 8192;
//! // Two pipelined requests, arriving in reads of 7 bytes.
//! let wire = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
//! let mut reads = wire.chunks(7);
//! let (mut buf, mut scanner, mut paths) = (Vec::new(), HeadScanner::default(), Vec::new());
//! loop {
//!     let head_len = match scanner.scan(&buf)? {
//!         Status::Complete(n) if n <= MAX_HEAD_BYTES => n,
//!         Status::Partial if buf.len() <= MAX_HEAD_BYTES => match reads.next() {
//!             Some(bytes) => {
//!                 buf.extend_from_slice(bytes);
//!                 continue;
//!             }
//!             None => break, // The peer closed the connection.
//!         },
//!         _ => panic!("answer 431 and close"),
//!     };
//!     // The slots are declared inside the loop: they borrow this head only.
//!     let mut slots = [Header::EMPTY; MAX_HEADERS];
//!     let Status::Complete((request, _)) = parse_request(&buf[..head_len], &mut slots)? else {
//!         unreachable!("the scanner found the end of the head");
//!     };
//!     paths.push(request.path().to_string());
//!     buf.drain(..head_len);
//!     scanner.reset();
//! }
//! assert_eq!(paths, ["/a", "/b"]);
//! # Ok::<(), httpd_proto::ParseError>(())
//! ```
//!
//! The header slots must be declared inside the loop, as above. Declared once outside
//! it, they keep borrowing the buffer across iterations, and draining the buffer does
//! not compile (E0502, "cannot borrow `buf` as mutable because it is also borrowed as
//! immutable"):
//!
//! ```compile_fail,E0502
//! use httpd_proto::{parse_request, Header, Status, MAX_HEADERS};
//!
//! let mut buf = b"GET / HTTP/1.1\r\n\r\n".to_vec();
//! let mut slots = [Header::EMPTY; MAX_HEADERS]; // Wrong: outside the loop.
//! for _ in 0..2 {
//!     if let Ok(Status::Complete((_, used))) = parse_request(&buf, &mut slots) {
//!         buf.drain(..used);
//!     }
//!     buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
//! }
//! ```
#![deny(missing_docs)]

mod accept;
mod chunked;
mod error;
mod field;
mod range;
mod request;
mod response;
mod scan;
mod simd;
mod table;

pub use crate::accept::{AcceptEncoding, Coding, Q_MAX, parse_accept_encoding};
pub use crate::chunked::{
    ChunkError, ChunkedDecoder, LAST_CHUNK, MAX_CHUNK_LINE_BYTES, MAX_CHUNK_SIZE_DIGITS,
    MAX_TRAILER_BYTES, encode_chunk,
};
pub use crate::field::{
    EntityTag, EntityTags, entity_tags, has_token, is_tchar, parse_content_length, trim_ows,
};
pub use crate::range::{
    ByteRange, DEFAULT_MAX_RANGES, MAX_RANGE_ELEMENTS, RangeRequest, parse_range,
    unsatisfied_content_range,
};
pub use crate::request::{
    Framing, Header, MAX_HEADERS, MAX_LEADING_EMPTY_LINES, Method, ParseError, Request, Version,
    parse_request,
};
pub use crate::response::{ResponseHead, reason_phrase};
pub use crate::scan::HeadScanner;

// The README's examples run as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The result of parsing input that may not be complete yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The input held a complete item.
    Complete(T),
    /// More bytes are needed; nothing is wrong so far.
    Partial,
}
