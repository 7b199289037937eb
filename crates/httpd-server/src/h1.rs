//! HTTP/1.1 on top of httpd-proto, without I/O: finding and bounding request heads,
//! keeping a parsed head for later, request ids, and reading bodies in pieces.
//!
//! Nothing here sees a socket: the connection (`conn.rs`) feeds bytes in
//! and acts on what comes out, so every rule is testable with byte slices. The
//! protocol slot beside it is where HTTP/2 goes: the connection asks its protocol for
//! request heads and body bytes, and the rest (planning, jobs, output) does not care
//! which protocol produced them.

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use httpd_proto::{
    ChunkError, ChunkedDecoder, Framing, HeadScanner, Header, MAX_HEADERS, ParseError, Request,
    Status, Version, parse_request,
};

use crate::error::Failure;

/// What the start of a buffer holds, as far as the head is concerned.
#[derive(Debug)]
pub(crate) enum HeadScan {
    /// A head of this many bytes, within the size limit.
    Complete(usize),
    /// No complete head yet (possibly nothing at all).
    Partial,
    /// The head is unacceptable (too large, bare LF); answer and close.
    Fail(Failure),
}

/// Looks for a complete head at the start of `buf`; `scanner` must have seen only
/// prefixes of `buf` (a fresh one is always right).
pub(crate) fn scan_head(scanner: &mut HeadScanner, buf: &[u8], max_head_bytes: usize) -> HeadScan {
    if buf.is_empty() {
        return HeadScan::Partial;
    }
    match scanner.scan(buf) {
        Ok(Status::Complete(n)) if n <= max_head_bytes => HeadScan::Complete(n),
        Ok(Status::Complete(_)) => HeadScan::Fail(head_too_large(buf, max_head_bytes)),
        Ok(Status::Partial) if buf.len() > max_head_bytes => {
            HeadScan::Fail(head_too_large(buf, max_head_bytes))
        }
        Ok(Status::Partial) => HeadScan::Partial,
        Err(e) => HeadScan::Fail(Failure::Parse(e)),
    }
}

/// Tells 414 (the request line alone is too long) from 431 (the head is).
fn head_too_large(buf: &[u8], max_head_bytes: usize) -> Failure {
    let window = &buf[..buf.len().min(max_head_bytes)];
    if memchr::memchr(b'\n', window).is_none() {
        Failure::TargetTooLong
    } else {
        Failure::HeadTooLarge
    }
}

/// Parses a complete head (as found by [`scan_head`]).
///
/// # Errors
/// The parse error; a head the scanner found complete but the parser finds partial
/// is malformed.
pub(crate) fn parse<'h, 'b>(
    head: &'b [u8],
    slots: &'h mut [Header<'b>],
) -> Result<Request<'h, 'b>, Failure> {
    match parse_request(head, slots) {
        Ok(Status::Complete((request, _))) => Ok(request),
        Ok(Status::Partial) => Err(Failure::Parse(ParseError::BadRequestLine)),
        Err(e) => Err(Failure::Parse(e)),
    }
}

/// Tells whether a head that could not be parsed was a `HEAD` request, so that its
/// error answer carries no body (RFC 9110 section 9.3.2), whatever else is wrong with
/// it.
pub(crate) fn is_head_request(head: &[u8]) -> bool {
    let mut rest = head;
    // Leading empty lines are allowed before the request line (RFC 9112 section 2.2).
    while let Some(after) = rest.strip_prefix(b"\r\n") {
        rest = after;
    }
    rest.starts_with(b"HEAD ")
}

/// A byte span of an [`OwnedHead`]'s buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(whole: &[u8], part: &[u8]) -> Span {
        // Both come from the same parse, so `part` lies inside `whole`.
        let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(start + part.len()).unwrap_or(u32::MAX),
        }
    }

    fn get<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        bytes
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// A parsed request head kept past its first use: its bytes and where each part
/// lies, so a later stage (a job's result, an upload's answer, an access line) sees
/// the same request without parsing it again.
#[derive(Clone)]
pub(crate) struct OwnedHead {
    bytes: Box<[u8]>,
    method: Span,
    target: Span,
    version: Version,
    headers: Box<[(Span, Span)]>,
}

impl fmt::Debug for OwnedHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedHead")
            .field("bytes", &self.bytes.escape_ascii().to_string())
            .finish_non_exhaustive()
    }
}

impl OwnedHead {
    /// Keeps `request`, parsed from `head`.
    pub(crate) fn new(head: &[u8], request: &Request<'_, '_>) -> OwnedHead {
        OwnedHead {
            bytes: head.into(),
            method: Span::of(head, request.method.as_bytes()),
            target: Span::of(head, request.target.as_bytes()),
            version: request.version,
            headers: request
                .headers
                .iter()
                .map(|h| (Span::of(head, h.name.as_bytes()), Span::of(head, h.value)))
                .collect(),
        }
    }

    /// Gives the request back, with its headers written into `slots`.
    pub(crate) fn request<'h, 'b>(&'b self, slots: &'h mut [Header<'b>]) -> Request<'h, 'b> {
        let text = |span: Span| std::str::from_utf8(span.get(&self.bytes)).unwrap_or_default();
        let n = self.headers.len().min(slots.len());
        for (slot, &(name, value)) in slots.iter_mut().zip(self.headers.iter()) {
            *slot = Header {
                name: text(name),
                value: value.get(&self.bytes),
            };
        }
        Request {
            method: text(self.method),
            target: text(self.target),
            version: self.version,
            headers: &slots[..n],
        }
    }
}

/// Header slots for [`OwnedHead::request`].
pub(crate) fn slots() -> [Header<'static>; MAX_HEADERS] {
    [Header::EMPTY; MAX_HEADERS]
}

/// Longest `X-Request-Id` accepted from a client.
pub(crate) const MAX_REQUEST_ID_BYTES: usize = 64;

/// A request id, kept inline (no allocation): the client's well-formed
/// `X-Request-Id` (1 to 64 bytes of `A-Za-z0-9._-`), or a fresh random one of 32
/// lowercase hex digits.
#[derive(Clone, Copy)]
pub(crate) struct RequestId {
    len: u8,
    bytes: [u8; MAX_REQUEST_ID_BYTES],
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RequestId {
    /// Keeps the client's id when well formed, else makes a fresh one.
    pub(crate) fn from_request(given: Option<&[u8]>) -> RequestId {
        match given {
            Some(id)
                if !id.is_empty()
                    && id.len() <= MAX_REQUEST_ID_BYTES
                    && id
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
            {
                let mut bytes = [0u8; MAX_REQUEST_ID_BYTES];
                bytes[..id.len()].copy_from_slice(id);
                RequestId {
                    len: id.len() as u8,
                    bytes,
                }
            }
            _ => RequestId::fresh(),
        }
    }

    /// A fresh random id.
    pub(crate) fn fresh() -> RequestId {
        let (high, low) = crate::web::random_pair();
        let mut bytes = [0u8; MAX_REQUEST_ID_BYTES];
        for (i, word) in [high, low].into_iter().enumerate() {
            for shift in 0..16 {
                let nibble = (word >> ((15 - shift) * 4)) & 0xF;
                bytes[i * 16 + shift] = b"0123456789abcdef"[nibble as usize];
            }
        }
        RequestId { len: 32, bytes }
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII was ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// How the connection continues after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// Keep the connection open; `remaining` more requests are allowed on it.
    KeepAlive { timeout: Duration, remaining: u32 },
    /// Close after this response.
    Close,
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is longer than allowed.
    TooLarge,
    /// The chunked framing is malformed.
    Chunk(ChunkError),
    /// The client sent too slowly (read timeout or minimum rate).
    Timeout,
    /// The client closed or reset the connection before the body ended.
    Closed,
    /// The writer failed (disk full, for example).
    Sink(std::io::Error),
}

/// How slowly a body may arrive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    /// Longest wait for any bytes.
    pub(crate) read_timeout: Duration,
    /// Time before the average rate is enforced.
    pub(crate) grace: Duration,
    /// Slowest average rate after the grace period, in bytes per second (0: none).
    pub(crate) min_rate: u64,
}

/// The state of one body being read: framing, limits and pace. It is fed whatever
/// bytes arrive and never waits itself.
#[derive(Debug)]
pub(crate) struct BodyReader {
    framing: Progress,
    limit: u64,
    pace: Pace,
    /// When reading began; the average rate counts from here.
    started: Instant,
    /// When bytes last arrived; the read timeout counts from here.
    last_arrival: Instant,
    /// Bytes received for this body (framing included).
    received: u64,
    /// Payload bytes written to the sink.
    total: u64,
}

#[derive(Debug)]
enum Progress {
    /// `Content-Length`: payload bytes still to come.
    Sized(u64),
    Chunked(Box<ChunkedDecoder>, Vec<u8>),
}

impl BodyReader {
    /// Starts reading a body framed by `framing` (`Framing::None` is an empty body).
    ///
    /// # Errors
    /// [`BodyError::TooLarge`] when a declared length is over `limit`.
    pub(crate) fn new(
        framing: Framing,
        limit: u64,
        pace: Pace,
        now: Instant,
    ) -> Result<BodyReader, BodyError> {
        let framing = match framing {
            Framing::None => Progress::Sized(0),
            Framing::Length(n) if n > limit => return Err(BodyError::TooLarge),
            Framing::Length(n) => Progress::Sized(n),
            Framing::Chunked => Progress::Chunked(Box::default(), Vec::new()),
        };
        Ok(BodyReader {
            framing,
            limit,
            pace,
            started: now,
            last_arrival: now,
            received: 0,
            total: 0,
        })
    }

    /// Moves body bytes from the front of `buf` to `sink`; returns how many bytes of
    /// `buf` it used and whether the body is complete. Bytes after the body are left.
    ///
    /// # Errors
    /// A framing error, the limit, or the sink's error.
    pub(crate) fn feed(
        &mut self,
        buf: &[u8],
        sink: &mut dyn Write,
    ) -> Result<(usize, bool), BodyError> {
        match &mut self.framing {
            Progress::Sized(remaining) => {
                let take = buf
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                if take > 0 {
                    sink.write_all(&buf[..take]).map_err(BodyError::Sink)?;
                    *remaining -= take as u64;
                    self.total += take as u64;
                }
                Ok((take, *remaining == 0))
            }
            Progress::Chunked(decoder, payload) => {
                let mut used = 0;
                while used < buf.len() && !decoder.is_done() {
                    let n = decoder
                        .decode(&buf[used..], payload)
                        .map_err(BodyError::Chunk)?;
                    used += n;
                    self.total += payload.len() as u64;
                    if self.total > self.limit {
                        return Err(BodyError::TooLarge);
                    }
                    sink.write_all(payload).map_err(BodyError::Sink)?;
                    payload.clear();
                    if n == 0 {
                        // A partial chunk line: wait for more bytes.
                        break;
                    }
                }
                Ok((used, decoder.is_done()))
            }
        }
    }

    /// Tells whether the body is complete.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        match &self.framing {
            Progress::Sized(remaining) => *remaining == 0,
            Progress::Chunked(decoder, _) => decoder.is_done(),
        }
    }

    /// Counts `n` bytes just read; fails when the average rate since the grace period
    /// ended is below the minimum, so a trickle cannot go on for long.
    pub(crate) fn arrived(&mut self, n: usize, now: Instant) -> Result<(), BodyError> {
        self.received += n as u64;
        self.last_arrival = now;
        let Some(past_grace) = now
            .saturating_duration_since(self.started)
            .checked_sub(self.pace.grace)
        else {
            return Ok(());
        };
        let owed = past_grace.as_secs_f64() * self.pace.min_rate as f64;
        if (self.received as f64) < owed {
            return Err(BodyError::Timeout);
        }
        Ok(())
    }

    /// Reading paused from `paused` to `now` (the server waited for its disk): that
    /// time counts neither against the read timeout nor against the average rate.
    pub(crate) fn resumed(&mut self, paused: Instant, now: Instant) {
        let pause = now.saturating_duration_since(paused);
        self.started += pause;
        self.last_arrival = self.last_arrival.max(now);
    }

    /// The moment waiting any longer for bytes breaks a limit: the read timeout since
    /// the last arrival, or the moment the average rate falls below the minimum.
    pub(crate) fn deadline(&self) -> Instant {
        let idle = self.last_arrival + self.pace.read_timeout;
        if self.pace.min_rate == 0 {
            return idle;
        }
        let allowance = Duration::from_secs_f64(self.received as f64 / self.pace.min_rate as f64);
        idle.min(self.started + self.pace.grace + allowance)
    }

    /// Payload bytes written so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(min_rate: u64) -> Pace {
        Pace {
            read_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(10),
            min_rate,
        }
    }

    /// Feeds `wire` split at `split` and returns the payload and what is left over.
    fn feed_split(r: &mut BodyReader, wire: &[u8], split: usize) -> (bool, Vec<u8>, Vec<u8>) {
        let mut sink = Vec::new();
        let mut buf = wire[..split].to_vec();
        let (used, mut done) = r.feed(&buf, &mut sink).unwrap();
        buf.drain(..used);
        if !done {
            buf.extend_from_slice(&wire[split..]);
            let (used, d) = r.feed(&buf, &mut sink).unwrap();
            buf.drain(..used);
            done = d;
        } else {
            buf.extend_from_slice(&wire[split..]);
        }
        (done, sink, buf)
    }

    #[test]
    fn long_request_line_is_414_and_long_head_is_431() {
        let line = vec![b'a'; 100];
        assert!(matches!(head_too_large(&line, 50), Failure::TargetTooLong));
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend(vec![b'x'; 100]);
        assert!(matches!(head_too_large(&head, 50), Failure::HeadTooLarge));
    }

    #[test]
    fn scan_head_tells_complete_partial_and_refused() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 64, "partial"),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", 64, "partial"),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 64, "complete 27"),
            (
                b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n",
                64,
                "complete 18",
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 20, "431"),
            (b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 20, "414"),
            (b"GET / HTTP/1.1\r\nHost: aaaaaaaaaaaaaaa", 20, "431"),
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 64, "400"),
        ];
        for (buf, max, expected) in cases {
            let got = match scan_head(&mut HeadScanner::default(), buf, *max) {
                HeadScan::Complete(n) => format!("complete {n}"),
                HeadScan::Partial => "partial".to_string(),
                HeadScan::Fail(failure) => failure.status().to_string(),
            };
            assert_eq!(got, *expected, "{:?}", buf.escape_ascii().to_string());
        }
    }

    #[test]
    fn an_owned_head_gives_back_the_same_request() {
        let head = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: example\r\nRange: bytes=0-1\r\nX: \r\n\r\n";
        let mut slots = slots();
        let request = parse(head, &mut slots).unwrap();
        let owned = OwnedHead::new(head, &request);
        let mut again = super::slots();
        let kept = owned.request(&mut again);
        assert_eq!(kept, request);
        assert_eq!(kept.header("range"), Some(&b"bytes=0-1"[..]));
        assert_eq!(kept.header("x"), Some(&b""[..]));
    }

    #[test]
    fn a_failed_head_request_is_recognised() {
        assert!(is_head_request(
            b"HEAD / HTTP/1.1\r\nContent-Length : 2\r\n\r\n"
        ));
        assert!(is_head_request(b"\r\nHEAD / HTTP/1.1\r\n\r\n"));
        assert!(!is_head_request(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!is_head_request(b"HEADX / HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn request_ids_keep_well_formed_client_ids_and_replace_others() {
        assert_eq!(
            RequestId::from_request(Some(b"abc-123_x.y")).as_str(),
            "abc-123_x.y"
        );
        for bad in [&b""[..], b"a b", b"x\"y", &[b'a'; 65], "ü".as_bytes()] {
            let id = RequestId::from_request(Some(bad));
            assert_eq!(id.as_str().len(), 32, "{bad:?}");
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(RequestId::fresh().as_str(), RequestId::fresh().as_str());
    }

    #[test]
    fn a_sized_body_is_fed_in_pieces_and_leaves_what_follows() {
        let wire = b"0123456789GET / HTTP/1.1";
        for split in 0..wire.len() {
            let mut r = BodyReader::new(Framing::Length(10), 100, pace(0), Instant::now()).unwrap();
            let (done, payload, rest) = feed_split(&mut r, wire, split);
            assert!(done, "split {split}");
            assert_eq!(payload, b"0123456789");
            assert_eq!(rest, b"GET / HTTP/1.1");
            assert_eq!(r.total(), 10);
        }
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_at_once() {
        let err = BodyReader::new(Framing::Length(101), 100, pace(0), Instant::now());
        assert!(matches!(err, Err(BodyError::TooLarge)));
    }

    #[test]
    fn a_chunked_body_split_anywhere_decodes_the_same() {
        let wire = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
        for split in 0..wire.len() {
            let mut r = BodyReader::new(Framing::Chunked, 100, pace(0), Instant::now()).unwrap();
            let (done, payload, rest) = feed_split(&mut r, wire, split);
            assert!(done, "split at {split}");
            assert!(r.is_done());
            assert_eq!(payload, b"hello world", "split at {split}");
            assert_eq!(rest, b"NEXT", "split at {split}");
        }
    }

    #[test]
    fn a_chunked_body_over_the_limit_is_refused() {
        let mut r = BodyReader::new(Framing::Chunked, 4, pace(0), Instant::now()).unwrap();
        assert!(matches!(
            r.feed(b"5\r\nhello\r\n0\r\n\r\n", &mut Vec::new()),
            Err(BodyError::TooLarge)
        ));
    }

    #[test]
    fn the_rate_is_enforced_after_the_grace_and_sets_the_deadline() {
        let t0 = Instant::now();
        let mut r = BodyReader::new(Framing::Length(1 << 20), 1 << 20, pace(100), t0).unwrap();
        // Within the grace anything goes.
        r.arrived(1, t0 + Duration::from_secs(9)).unwrap();
        // 1 byte buys 10 ms past the grace.
        assert_eq!(r.deadline(), t0 + Duration::from_millis(10_010));
        // 20 s in, 10 s past the grace: 1,000 bytes are owed.
        assert!(r.arrived(998, t0 + Duration::from_secs(20)).is_err());
        let mut r = BodyReader::new(Framing::Length(1 << 20), 1 << 20, pace(100), t0).unwrap();
        r.arrived(1000, t0 + Duration::from_secs(20)).unwrap();
        assert_eq!(r.deadline(), t0 + Duration::from_secs(20));
        // Without a rate, only the read timeout since the last bytes counts.
        let mut r = BodyReader::new(Framing::Length(5), 5, pace(0), t0).unwrap();
        r.arrived(1, t0 + Duration::from_secs(100)).unwrap();
        assert_eq!(r.deadline(), t0 + Duration::from_secs(130));
    }
}
