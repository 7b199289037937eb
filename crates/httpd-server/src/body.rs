//! Request bodies: read by `Content-Length` or chunked framing, bounded in size and time,
//! into any writer (an upload's temporary file, or a sink when discarding).

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

/// Reads the body described by `framing` from `conn` into `sink`, at most `limit` bytes.
/// Bytes after the body (a pipelined request) stay in `conn.buf`.
pub(crate) fn read_body(
    conn: &mut Conn,
    framing: Framing,
    limit: u64,
    pace: Pace,
    sink: &mut dyn Write,
) -> Result<u64, BodyError> {
    conn.stream
        .set_read_timeout(Some(pace.read_timeout))
        .map_err(|_| BodyError::Closed)?;
    let mut pace = Progress {
        pace,
        started: Instant::now(),
        received: 0,
    };
    match framing {
        Framing::None => Ok(0),
        Framing::Length(n) => read_sized(conn, n, limit, &mut pace, sink),
        Framing::Chunked => read_chunked(conn, limit, &mut pace, sink),
    }
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

struct Progress {
    pace: Pace,
    started: Instant,
    received: u64,
}

impl Progress {
    /// Counts `n` bytes; fails when the average rate since the grace period ended is
    /// below the minimum, so a trickle cannot hold a worker for long.
    fn advance(&mut self, n: usize) -> Result<(), BodyError> {
        self.received += n as u64;
        let elapsed = self.started.elapsed();
        let Some(past_grace) = elapsed.checked_sub(self.pace.grace) else {
            return Ok(());
        };
        let owed = past_grace.as_secs_f64() * self.pace.min_rate as f64;
        if (self.received as f64) < owed {
            return Err(BodyError::Timeout);
        }
        Ok(())
    }
}

fn read_sized(
    conn: &mut Conn,
    len: u64,
    limit: u64,
    pace: &mut Progress,
    sink: &mut dyn Write,
) -> Result<u64, BodyError> {
    if len > limit {
        return Err(BodyError::TooLarge);
    }
    let mut remaining = len;
    while remaining > 0 {
        if conn.buf.is_empty() {
            fill(conn, pace)?;
        }
        let take = conn
            .buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        sink.write_all(&conn.buf[..take]).map_err(BodyError::Sink)?;
        conn.buf.drain(..take);
        remaining -= take as u64;
    }
    Ok(len)
}

fn read_chunked(
    conn: &mut Conn,
    limit: u64,
    pace: &mut Progress,
    sink: &mut dyn Write,
) -> Result<u64, BodyError> {
    let mut decoder = ChunkedDecoder::default();
    let mut payload = Vec::new();
    let mut total: u64 = 0;
    loop {
        if !conn.buf.is_empty() {
            let used = decoder
                .decode(&conn.buf, &mut payload)
                .map_err(BodyError::Chunk)?;
            conn.buf.drain(..used);
            total += payload.len() as u64;
            if total > limit {
                return Err(BodyError::TooLarge);
            }
            sink.write_all(&payload).map_err(BodyError::Sink)?;
            payload.clear();
            if decoder.is_done() {
                return Ok(total);
            }
        }
        fill(conn, pace)?;
    }
}

fn fill(conn: &mut Conn, pace: &mut Progress) -> Result<(), BodyError> {
    loop {
        match conn.fill() {
            Ok(0) => return Err(BodyError::Closed),
            Ok(n) => return pace.advance(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Err(BodyError::Timeout),
            Err(_) => return Err(BodyError::Closed),
        }
    }
}
