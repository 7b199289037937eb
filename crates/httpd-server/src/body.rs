//! Request bodies: read by `Content-Length` or chunked framing, bounded in size and time,
//! into any writer (an upload's temporary file, or a sink when discarding).
//!
//! [`BodyReader`] keeps the state of one body between arrivals, so it can be fed by
//! whoever holds the connection: a worker reading in blocking mode ([`read_body`]), or
//! the poller reading whatever a slow client has sent so far, with no thread waiting
//! for the rest (a suspended upload, see `route::upload`).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use httpd_proto::{ChunkError, ChunkedDecoder, Framing};

use crate::conn::{Conn, is_timeout};

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is longer than allowed.
    TooLarge,
    /// The chunked framing is malformed.
    Chunk(ChunkError),
    /// The client stopped sending for longer than the read timeout.
    Timeout,
    /// The client closed or reset the connection before the body ended.
    Closed,
    /// The writer failed (disk full, for example).
    Sink(io::Error),
}

/// Reads the body described by `framing` from `conn` into `sink`, at most `limit` bytes,
/// blocking. Bytes after the body (a pipelined request) stay in `conn.buf`.
pub(crate) fn read_body(
    conn: &mut Conn,
    framing: Framing,
    limit: u64,
    pace: Pace,
    sink: &mut dyn Write,
) -> Result<u64, BodyError> {
    let mut reader = BodyReader::new(framing, limit, pace, Instant::now())?;
    finish_blocking(conn, &mut reader, sink)
}

/// Reads the rest of `reader`'s body from `conn` into `sink`, blocking; returns the
/// payload length.
pub(crate) fn finish_blocking(
    conn: &mut Conn,
    reader: &mut BodyReader,
    sink: &mut dyn Write,
) -> Result<u64, BodyError> {
    conn.stream
        .set_read_timeout(Some(reader.pace.read_timeout))
        .map_err(|_| BodyError::Closed)?;
    while !reader.feed(&mut conn.buf, sink)? {
        loop {
            match conn.fill() {
                Ok(0) => return Err(BodyError::Closed),
                Ok(n) => {
                    reader.arrived(n, Instant::now())?;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) => return Err(BodyError::Timeout),
                Err(_) => return Err(BodyError::Closed),
            }
        }
    }
    Ok(reader.total)
}

/// How slowly a body may arrive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    /// Longest wait for any one read.
    pub(crate) read_timeout: Duration,
    /// Time before the average rate is enforced.
    pub(crate) grace: Duration,
    /// Slowest average rate after the grace period, in bytes per second (0: none).
    pub(crate) min_rate: u64,
}

/// The state of one body being read: framing, limits and pace.
#[derive(Debug)]
pub(crate) struct BodyReader {
    framing: Progress,
    limit: u64,
    pace: Pace,
    /// When reading began; the average rate counts from here.
    started: Instant,
    /// When bytes last arrived; the read timeout counts from here.
    last_arrival: Instant,
    /// Bytes received from the socket for this body (framing included).
    received: u64,
    /// Payload bytes written to the sink.
    total: u64,
}

#[derive(Debug)]
enum Progress {
    /// `Content-Length`: payload bytes still to come.
    Sized(u64),
    Chunked(ChunkedDecoder, Vec<u8>),
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
            Framing::Chunked => Progress::Chunked(ChunkedDecoder::default(), Vec::new()),
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

    /// Moves body bytes from the front of `buf` to `sink`; returns true once the body is
    /// complete. Bytes after the body stay in `buf`.
    pub(crate) fn feed(
        &mut self,
        buf: &mut Vec<u8>,
        sink: &mut dyn Write,
    ) -> Result<bool, BodyError> {
        match &mut self.framing {
            Progress::Sized(remaining) => {
                let take = buf
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                if take > 0 {
                    sink.write_all(&buf[..take]).map_err(BodyError::Sink)?;
                    buf.drain(..take);
                    *remaining -= take as u64;
                    self.total += take as u64;
                }
                Ok(*remaining == 0)
            }
            Progress::Chunked(decoder, payload) => {
                while !buf.is_empty() && !decoder.is_done() {
                    let used = decoder.decode(buf, payload).map_err(BodyError::Chunk)?;
                    buf.drain(..used);
                    self.total += payload.len() as u64;
                    if self.total > self.limit {
                        return Err(BodyError::TooLarge);
                    }
                    sink.write_all(payload).map_err(BodyError::Sink)?;
                    payload.clear();
                    if used == 0 {
                        // A partial chunk line: wait for more bytes.
                        break;
                    }
                }
                Ok(decoder.is_done())
            }
        }
    }

    /// Counts `n` bytes just read from the socket; fails when the average rate since
    /// the grace period ended is below the minimum, so a trickle cannot go on for long.
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

    #[test]
    fn a_sized_body_is_fed_in_pieces_and_leaves_what_follows() {
        let t0 = Instant::now();
        let mut r = BodyReader::new(Framing::Length(10), 100, pace(0), t0).unwrap();
        let mut sink = Vec::new();
        let mut buf = b"0123".to_vec();
        assert!(!r.feed(&mut buf, &mut sink).unwrap());
        assert!(buf.is_empty());
        buf.extend_from_slice(b"456789GET / HTTP/1.1");
        assert!(r.feed(&mut buf, &mut sink).unwrap());
        assert_eq!(sink, b"0123456789");
        assert_eq!(buf, b"GET / HTTP/1.1");
        assert_eq!(r.total(), 10);
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
            let mut sink = Vec::new();
            let mut buf = wire[..split].to_vec();
            let done = r.feed(&mut buf, &mut sink).unwrap();
            buf.extend_from_slice(&wire[split..]);
            let done = done || r.feed(&mut buf, &mut sink).unwrap();
            assert!(done, "split at {split}");
            assert_eq!(sink, b"hello world", "split at {split}");
            assert_eq!(buf, b"NEXT", "split at {split}");
        }
    }

    #[test]
    fn a_chunked_body_over_the_limit_is_refused() {
        let mut r = BodyReader::new(Framing::Chunked, 4, pace(0), Instant::now()).unwrap();
        let mut buf = b"5\r\nhello\r\n0\r\n\r\n".to_vec();
        assert!(matches!(
            r.feed(&mut buf, &mut Vec::new()),
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
