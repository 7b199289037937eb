//! The transport under a connection: plain TCP, or TLS (rustls) over TCP.
//!
//! A [`Transport`] turns socket bytes into plaintext and plaintext into socket bytes,
//! without ever blocking: every socket is nonblocking and owned by its poller. The
//! protocol above it (HTTP/1.1) sees plaintext only. For TLS, the rustls
//! `ServerConnection` is sans-IO: the transport reads ciphertext from the socket into
//! it (`read_tls`, `process_new_packets`), takes the plaintext out (`reader`), puts
//! plaintext in (`writer`) and writes what it wants to send (`write_tls`). The
//! handshake happens inside the same calls, driven by the same readiness events.
//!
//! File bodies go out with `sendfile(2)` on plain TCP only; under TLS they are read
//! into memory and encrypted (this kernel offers no kTLS).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};

use rustls::ServerConnection;

/// How many bytes one read of the socket asks for.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// Plaintext rustls may hold unsent before [`Transport::write`] takes no more.
const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// What one [`Transport::read`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// This many plaintext bytes were appended (possibly 0 for TLS: only handshake or
    /// other records arrived). `drained` tells that the socket had nothing more: the
    /// read returned less than it asked for, so any later arrival raises a fresh
    /// readiness edge.
    Data { n: usize, drained: bool },
    /// The socket had nothing to read.
    WouldBlock,
    /// The peer closed its side (TCP FIN, or a TLS `close_notify`).
    Eof,
    /// The connection failed; it must be closed.
    Failed(Failure),
}

/// Why a connection failed in the transport; counted in `/metrics` for TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A socket error (reset, ...).
    Io,
    /// Plain HTTP arrived on a TLS port.
    PlainHttp,
    /// Bytes that are not TLS records, or a record that breaks the protocol.
    BadRecord,
    /// No protocol version, cipher suite or key exchange in common.
    NoCommonParameters,
    /// The client refused our certificate (an alert from the peer).
    PeerAlert,
    /// The peer closed during the handshake.
    HandshakeEof,
    /// Any other TLS error.
    Other,
}

impl Failure {
    /// The label of the failure in `/metrics`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Failure::Io => "io",
            Failure::PlainHttp => "plain_http",
            Failure::BadRecord => "bad_record",
            Failure::NoCommonParameters => "no_common_parameters",
            Failure::PeerAlert => "peer_alert",
            Failure::HandshakeEof => "eof",
            Failure::Other => "other",
        }
    }

    fn from_tls(e: &rustls::Error) -> Failure {
        use rustls::Error as E;
        match e {
            E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::DecryptError => {
                Failure::BadRecord
            }
            E::PeerIncompatible(_) => Failure::NoCommonParameters,
            E::AlertReceived(_) => Failure::PeerAlert,
            _ => Failure::Other,
        }
    }
}

/// The facts of a completed TLS handshake, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Handshake {
    /// `TLSv1.2` or `TLSv1.3`.
    pub(crate) version: &'static str,
    /// The session was resumed from a ticket.
    pub(crate) resumed: bool,
}

/// A plain or TLS stream, nonblocking.
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<Tls>),
}

/// A TLS connection: the socket and its rustls state.
pub(crate) struct Tls {
    sock: TcpStream,
    session: ServerConnection,
    /// The first bytes have been looked at (plain HTTP on a TLS port is refused).
    checked_first: bool,
    /// The handshake completed and was reported.
    handshake: Option<Handshake>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Plain(s) => f.debug_tuple("Plain").field(s).finish(),
            Transport::Tls(t) => f
                .debug_struct("Tls")
                .field("sock", &t.sock)
                .field("handshake", &t.handshake)
                .finish_non_exhaustive(),
        }
    }
}

impl Transport {
    /// Wraps an accepted socket in a TLS session.
    pub(crate) fn tls(sock: TcpStream, session: ServerConnection) -> Transport {
        let mut session = session;
        session.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Transport::Tls(Box::new(Tls {
            sock,
            session,
            checked_first: false,
            handshake: None,
        }))
    }

    /// The socket, for registration with the poll.
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.sock,
        }
    }

    /// Tells whether this is TLS.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Tells whether a TLS handshake is still in progress.
    pub(crate) fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.session.is_handshaking(),
        }
    }

    /// Returns the handshake's facts once it completed.
    pub(crate) fn handshake(&self) -> Option<Handshake> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(t) => t.handshake,
        }
    }

    /// Reads once from the socket and appends the plaintext that yields to `buf`.
    /// `scratch` is the caller's buffer for socket bytes. For TLS, whatever the
    /// session wants to send in reply (handshake messages, alerts) is written out as
    /// far as the socket takes it; see [`Transport::wants_write`].
    pub(crate) fn read(&mut self, buf: &mut Vec<u8>, scratch: &mut [u8]) -> ReadOutcome {
        match self {
            Transport::Plain(sock) => loop {
                match sock.read(scratch) {
                    Ok(0) => return ReadOutcome::Eof,
                    Ok(n) => {
                        buf.extend_from_slice(&scratch[..n]);
                        return ReadOutcome::Data {
                            n,
                            drained: n < scratch.len(),
                        };
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return ReadOutcome::WouldBlock;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return ReadOutcome::Failed(Failure::Io),
                }
            },
            Transport::Tls(tls) => tls.read(buf, scratch),
        }
    }

    /// Writes plaintext; returns how much was taken (0 only for empty `bytes`).
    /// `more` hints that more bytes follow at once (plain TCP: `MSG_MORE`).
    ///
    /// # Errors
    /// `WouldBlock` when the socket (or, for TLS, the session's send buffer) takes
    /// nothing now; any other error means the connection is broken.
    pub(crate) fn write(&mut self, bytes: &[u8], more: bool) -> io::Result<usize> {
        if bytes.is_empty() {
            return Ok(0);
        }
        match self {
            Transport::Plain(sock) => send(sock, bytes, more),
            Transport::Tls(tls) => {
                // Ciphertext already waiting goes first.
                tls.flush()?;
                let n = tls.session.writer().write(bytes)?;
                // Try to push the new records out; the rest waits for writability.
                match tls.flush() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if n == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// Writes out what the TLS session holds (a no-op on plain TCP).
    ///
    /// # Errors
    /// `WouldBlock` when some is left; any other error means the connection is broken.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(tls) => tls.flush(),
        }
    }

    /// Tells whether the TLS session holds bytes to send.
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.session.wants_write(),
        }
    }

    /// The socket to `sendfile` into, for plain TCP only.
    pub(crate) fn sendfile_socket(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Transport::Plain(s) => Some(s.as_fd()),
            Transport::Tls(_) => None,
        }
    }

    /// Starts closing: TLS queues a `close_notify` alert and tries to send it; then the
    /// write side of the socket is shut, so the peer sees the end of our data.
    pub(crate) fn shutdown_write(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.session.send_close_notify();
            let _ = tls.flush();
        }
        let _ = self.socket().shutdown(std::net::Shutdown::Write);
    }
}

impl Tls {
    fn read(&mut self, buf: &mut Vec<u8>, scratch: &mut [u8]) -> ReadOutcome {
        let n = loop {
            match self.sock.read(scratch) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return ReadOutcome::WouldBlock;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ReadOutcome::Failed(Failure::Io),
            }
        };
        if n == 0 {
            // A TCP FIN: mid-handshake it is a failed handshake; after it, whatever
            // plaintext the session still holds was read already.
            let _ = self.session.read_tls(&mut io::empty());
            return if self.session.is_handshaking() {
                ReadOutcome::Failed(Failure::HandshakeEof)
            } else {
                ReadOutcome::Eof
            };
        }
        let mut bytes = &scratch[..n];
        if !self.checked_first {
            self.checked_first = true;
            // Every TLS connection starts with a handshake record (content type 22).
            // A letter instead is most likely a plain HTTP request line.
            if bytes[0].is_ascii_uppercase() {
                return ReadOutcome::Failed(Failure::PlainHttp);
            }
        }
        let before = buf.len();
        while !bytes.is_empty() {
            if let Err(e) = self.session.read_tls(&mut bytes) {
                log::debug!("tls: cannot take records: {e}");
                return ReadOutcome::Failed(Failure::BadRecord);
            }
            match self.session.process_new_packets() {
                Ok(state) => {
                    if state.plaintext_bytes_to_read() > 0 {
                        let start = buf.len();
                        buf.resize(start + state.plaintext_bytes_to_read(), 0);
                        match self.session.reader().read(&mut buf[start..]) {
                            Ok(got) => buf.truncate(start + got),
                            Err(_) => buf.truncate(start),
                        }
                    }
                    if state.peer_has_closed() && buf.len() == before {
                        let _ = self.flush();
                        return ReadOutcome::Eof;
                    }
                }
                Err(e) => {
                    let failure = Failure::from_tls(&e);
                    log::debug!("tls: {e}");
                    // Send the alert rustls queued, as far as the socket takes it.
                    let _ = self.flush();
                    return ReadOutcome::Failed(failure);
                }
            }
        }
        if self.handshake.is_none() && !self.session.is_handshaking() {
            self.handshake = Some(Handshake {
                version: match self.session.protocol_version() {
                    Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                    Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                    _ => "TLS",
                },
                resumed: matches!(
                    self.session.handshake_kind(),
                    Some(rustls::HandshakeKind::Resumed)
                ),
            });
        }
        match self.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return ReadOutcome::Failed(Failure::Io),
        }
        ReadOutcome::Data {
            n: buf.len() - before,
            drained: n < scratch.len(),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut SendAll(&self.sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes to a socket with `MSG_NOSIGNAL` (a closed peer is an error, not a signal).
struct SendAll<'a>(&'a TcpStream);

impl Write for SendAll<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        send(self.0, bytes, false)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One `send(2)`; `more` sets `MSG_MORE`, so a close right after carries the FIN in
/// the same segment as the last bytes.
fn send(sock: &TcpStream, bytes: &[u8], more: bool) -> io::Result<usize> {
    use rustix::net::SendFlags;
    let flags = if more {
        SendFlags::MORE | SendFlags::NOSIGNAL
    } else {
        SendFlags::NOSIGNAL
    };
    loop {
        match rustix::net::send(sock, bytes, flags) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
