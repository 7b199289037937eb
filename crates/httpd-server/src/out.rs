//! A connection's output: bytes ready to send (heads and bodies held in memory), then
//! at most one body still to be produced while sending ([`Stream`]): a file range
//! (`sendfile` on plain TCP; read and encrypted under TLS), the pieces of a multipart
//! body, or a body that workers produce a bounded step at a time ([`Producer`]: gzip
//! output, or a folder's tar archive).
//!
//! The poller owns it and calls [`Out::flush`] whenever the socket may take more; a
//! flush never blocks. A slow reader therefore costs a parked connection and an open
//! file, never a thread. A produced body asks for its next step only once the bytes
//! of the last one are handed to the transport, so it holds at most one step in
//! memory; a connection that closes drops its stream, and with it the producer (or,
//! while a worker runs a step, the step's result, which finds no connection), so no
//! further step is run.

use std::collections::VecDeque;
use std::io;

use httpd_files::{GzipSteps, Piece, StaticFile, TarSteps};

use crate::transport::Transport;

/// How much of a file one step reads into memory under TLS, or hands to one
/// `sendfile` call on plain TCP (the kernel takes what the socket buffer holds).
const FILE_STEP: usize = 16 * 1024;

/// The largest `sendfile` step on plain TCP.
const SENDFILE_STEP: usize = 1 << 30;

/// How much of the file one gzip job compresses.
pub(crate) const GZIP_STEP_INPUT: usize = 256 * 1024;

/// How many archive bytes one tar job appends.
pub(crate) const TAR_STEP_BYTES: usize = 256 * 1024;

/// What [`Out::flush`] got to.
#[derive(Debug)]
pub(crate) enum Flushed {
    /// Everything queued has been handed to the transport.
    Done,
    /// The socket takes nothing more now; wait for writability.
    Blocked,
    /// The produced body (gzip or tar) needs its next step: take the producer with
    /// [`Out::take_producer`] and run the step on a worker.
    NeedsStep,
    /// A step of the produced body is running on a worker.
    Waiting,
    /// The connection is broken, or the body could not be produced; close it.
    Failed(io::Error),
}

/// A body produced while it is sent.
#[derive(Debug)]
pub(crate) enum Stream {
    /// The bytes of `file` from `offset` up to `end`.
    File {
        file: StaticFile,
        offset: u64,
        end: u64,
    },
    /// A multipart body: text pieces and ranges of `file`, in order.
    Pieces {
        file: StaticFile,
        pieces: VecDeque<Piece>,
        /// The range being sent: next offset and end.
        current: Option<(u64, u64)>,
    },
    /// A body produced a step at a time by workers: gzip output or a tar archive.
    Produced(Produced),
}

/// What produces a body a bounded step at a time, on a worker.
#[derive(Debug)]
pub(crate) enum Producer {
    /// Gzip output of a file, [`GZIP_STEP_INPUT`] of input per step.
    Gzip(GzipSteps),
    /// A folder as a tar archive, at most [`TAR_STEP_BYTES`] per step.
    Tar(TarSteps),
}

impl Producer {
    /// Appends the next part of the body to `out`; true once the body is complete.
    /// Blocks on the disk (and the CPU): run it on a worker.
    ///
    /// # Errors
    /// The `io::Error` of a read: the body cannot be completed and the connection
    /// must close.
    pub(crate) fn step(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        match self {
            Producer::Gzip(gzip) => gzip.step(GZIP_STEP_INPUT, out),
            Producer::Tar(tar) => tar.step(TAR_STEP_BYTES, out),
        }
    }
}

/// A body produced a step at a time by workers while it is sent.
#[derive(Debug)]
pub(crate) struct Produced {
    /// The producer, when no worker holds it.
    producer: Option<Box<Producer>>,
    /// Each step is sent as a chunk, and a last chunk ends the body (HTTP/1.1);
    /// otherwise the bytes go as they are and the connection's close ends the body.
    chunked: bool,
    /// The last step ran: only the last chunk is left to write.
    done: bool,
    /// The last chunk was queued.
    ended: bool,
    /// Body bytes produced and queued so far (for the access line).
    n_bytes: u64,
}

impl Stream {
    /// The bytes of `file` from `offset` up to `end`.
    pub(crate) fn file(file: StaticFile, offset: u64, end: u64) -> Stream {
        Stream::File { file, offset, end }
    }

    /// A multipart body.
    pub(crate) fn pieces(file: StaticFile, pieces: Vec<Piece>) -> Stream {
        Stream::Pieces {
            file,
            pieces: pieces.into(),
            current: None,
        }
    }

    /// A gzip body, chunked.
    pub(crate) fn gzip(steps: GzipSteps) -> Stream {
        Stream::produced(Producer::Gzip(steps), true)
    }

    /// A tar archive: chunked for HTTP/1.1, else ended by the connection's close.
    pub(crate) fn tar(steps: TarSteps, chunked: bool) -> Stream {
        Stream::produced(Producer::Tar(steps), chunked)
    }

    fn produced(producer: Producer, chunked: bool) -> Stream {
        Stream::Produced(Produced {
            producer: Some(Box::new(producer)),
            chunked,
            done: false,
            ended: false,
            n_bytes: 0,
        })
    }

    /// Tells whether the body is sent as chunks, so its head announces
    /// `Transfer-Encoding: chunked`; the others are sent with a `Content-Length` or
    /// (an unchunked produced body) until the connection closes.
    pub(crate) fn is_chunked(&self) -> bool {
        matches!(self, Stream::Produced(p) if p.chunked)
    }
}

/// A connection's pending output.
#[derive(Debug, Default)]
pub(crate) struct Out {
    /// Bytes to send, from `pos`.
    buf: Vec<u8>,
    pos: usize,
    stream: Option<Box<Stream>>,
    /// Bytes handed to the transport so far (progress, for the write timeout).
    n_written: u64,
}

impl Out {
    /// Tells whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len() && self.stream.is_none()
    }

    /// Bytes waiting in memory (not counting a stream).
    pub(crate) fn pending_len(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Bytes handed to the transport so far.
    pub(crate) fn n_written(&self) -> u64 {
        self.n_written
    }

    /// Takes the buffer to append to (a response head, a body in memory).
    pub(crate) fn take_buf(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Gives the buffer back after appending to it.
    pub(crate) fn put_buf(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }

    /// Appends bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Queues a body to stream after the bytes already queued. A stream still running
    /// is a bug of the caller, which starts the next response only once the last one
    /// is out.
    pub(crate) fn set_stream(&mut self, stream: Stream) {
        debug_assert!(self.stream.is_none(), "one stream at a time");
        self.stream = Some(Box::new(stream));
    }

    /// Tells whether a body is still being streamed.
    pub(crate) fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// Lends the buffer to the caller when nothing is pending, else keeps it: the
    /// poller swaps in its own large buffer for the common case (whole answers sent at
    /// once) and takes it back afterwards, so an idle connection holds no buffer.
    pub(crate) fn swap_idle_buf(&mut self, other: &mut Vec<u8>) -> bool {
        if self.buf.is_empty() {
            std::mem::swap(&mut self.buf, other);
            self.pos = 0;
            true
        } else {
            false
        }
    }

    /// After [`swap_idle_buf`](Out::swap_idle_buf): gives the poller's buffer back,
    /// keeping only the unsent bytes (copied to a buffer of their own size).
    pub(crate) fn return_buf(&mut self, other: &mut Vec<u8>) {
        let rest = if self.pos < self.buf.len() {
            self.buf[self.pos..].to_vec()
        } else {
            Vec::new()
        };
        std::mem::swap(&mut self.buf, other);
        other.clear();
        self.buf = rest;
        self.pos = 0;
    }

    /// Takes the producer of the body being sent (gzip or tar) for its next step on a
    /// worker.
    pub(crate) fn take_producer(&mut self) -> Option<Box<Producer>> {
        match self.stream.as_deref_mut() {
            Some(Stream::Produced(produced)) => produced.producer.take(),
            _ => None,
        }
    }

    /// Queues the bytes of a step (as one chunk when the body is chunked) and puts the
    /// producer back; `done` says it was the last step.
    pub(crate) fn produced_step(&mut self, producer: Box<Producer>, bytes: &[u8], done: bool) {
        if let Some(Stream::Produced(produced)) = self.stream.as_deref_mut() {
            produced.producer = Some(producer);
            produced.done = done;
            produced.n_bytes += bytes.len() as u64;
            if bytes.is_empty() {
                return;
            }
            if produced.chunked {
                httpd_proto::encode_chunk(bytes, &mut self.buf);
            } else {
                self.buf.extend_from_slice(bytes);
            }
        }
    }

    /// Body bytes queued by a produced body (gzip or tar), if one is being sent.
    pub(crate) fn produced_bytes(&self) -> Option<u64> {
        match self.stream.as_deref() {
            Some(Stream::Produced(produced)) => Some(produced.n_bytes),
            _ => None,
        }
    }

    /// Hands as much as the transport takes, without blocking.
    pub(crate) fn flush(&mut self, transport: &mut Transport) -> Flushed {
        loop {
            if self.pos < self.buf.len() {
                // More follows at once when a body is streamed after these bytes.
                let more = self.stream.is_some();
                match transport.write(&self.buf[self.pos..], more) {
                    Ok(n) => {
                        self.pos += n;
                        self.n_written += n as u64;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
                    Err(e) => return Flushed::Failed(e),
                }
            }
            self.buf.clear();
            self.pos = 0;
            let Some(stream) = self.stream.as_deref_mut() else {
                return match transport.flush() {
                    Ok(()) => Flushed::Done,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Flushed::Done,
                    Err(e) => Flushed::Failed(e),
                };
            };
            let step = match stream {
                Stream::File { file, offset, end } => send_span(
                    file,
                    offset,
                    *end,
                    transport,
                    &mut self.buf,
                    &mut self.n_written,
                ),
                Stream::Pieces {
                    file,
                    pieces,
                    current,
                } => match current {
                    Some((offset, end)) if *offset < *end => send_span(
                        file,
                        offset,
                        *end,
                        transport,
                        &mut self.buf,
                        &mut self.n_written,
                    ),
                    _ => {
                        *current = None;
                        match pieces.pop_front() {
                            Some(Piece::Text(text)) => {
                                self.buf.extend_from_slice(&text);
                                Step::Progress
                            }
                            Some(Piece::Range(r)) => {
                                *current = Some((r.start, r.start + r.len()));
                                Step::Progress
                            }
                            Some(_) => Step::Failed(io::Error::other("unknown multipart piece")),
                            None => Step::End,
                        }
                    }
                },
                Stream::Produced(produced) => {
                    if produced.ended {
                        Step::End
                    } else if produced.done {
                        produced.ended = true;
                        if produced.chunked {
                            self.buf.extend_from_slice(httpd_proto::LAST_CHUNK);
                        }
                        Step::Progress
                    } else if produced.producer.is_some() {
                        return Flushed::NeedsStep;
                    } else {
                        return Flushed::Waiting;
                    }
                }
            };
            match step {
                Step::Progress => {}
                Step::End => self.stream = None,
                Step::Blocked => return Flushed::Blocked,
                Step::Failed(e) => return Flushed::Failed(e),
            }
        }
    }
}

/// What one step of a stream did.
enum Step {
    Progress,
    End,
    Blocked,
    Failed(io::Error),
}

/// Sends the next part of `file` from `*offset` to `end`: by `sendfile` on plain TCP,
/// else by reading it into `buf` for the transport to encrypt.
fn send_span(
    file: &StaticFile,
    offset: &mut u64,
    end: u64,
    transport: &mut Transport,
    buf: &mut Vec<u8>,
    n_written: &mut u64,
) -> Step {
    if *offset >= end {
        return Step::End;
    }
    let left = usize::try_from(end - *offset).unwrap_or(usize::MAX);
    if let Some(socket) = transport.sendfile_socket() {
        return match file.sendfile_at(socket, *offset, left.min(SENDFILE_STEP)) {
            Ok(n) => {
                *offset += n as u64;
                *n_written += n as u64;
                Step::Progress
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Blocked,
            Err(e) => Step::Failed(e),
        };
    }
    let want = left.min(FILE_STEP);
    buf.resize(want, 0);
    match file.read_at(*offset, &mut buf[..want]) {
        Ok(n) => {
            buf.truncate(n);
            *offset += n as u64;
            Step::Progress
        }
        Err(e) => {
            buf.clear();
            Step::Failed(e)
        }
    }
}
