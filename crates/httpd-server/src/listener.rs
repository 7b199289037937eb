//! Listening sockets: binding them, accepting without blocking, and refusing a
//! connection beyond the caps.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use crate::sys;

/// A listening socket and the scheme it serves.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) socket: TcpListener,
    /// Connections on it speak TLS.
    pub(crate) tls: bool,
}

impl Listener {
    /// A new descriptor of the same listening socket, for another poller.
    pub(crate) fn try_clone(&self) -> io::Result<Listener> {
        Ok(Listener {
            socket: self.socket.try_clone()?,
            tls: self.tls,
        })
    }
}

/// Binds one listening socket: `SO_REUSEADDR` always, `SO_REUSEPORT` when asked,
/// `TCP_DEFER_ACCEPT` unless `defer_accept_secs` is 0, and an IPv6 wildcard explicitly
/// dual-stack.
pub(crate) fn bind(
    addr: SocketAddr,
    reuse_port: bool,
    defer_accept_secs: u32,
) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    if defer_accept_secs > 0 {
        sys::set_defer_accept(&socket, defer_accept_secs)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Accepts one connection, nonblocking and close-on-exec from the start (`accept4`),
/// which saves a system call per connection over `accept` then `set_nonblocking`.
pub(crate) fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::{SocketFlags, acceptfrom_with};
    let (fd, addr) = acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let stream = TcpStream::from(fd);
    let peer = match addr.map(SocketAddr::try_from) {
        Some(Ok(peer)) => peer,
        // A TCP listener always reports an IP peer; ask the socket if it did not.
        _ => stream.peer_addr()?,
    };
    Ok((stream, peer))
}

/// Answers a plain connection the server has no room for with `answer` (a 503 with
/// `Retry-After`), one best-effort nonblocking write, then closes after reading
/// (without waiting) what the client already sent, so the answer is not destroyed by
/// a reset. Returns the bytes written.
pub(crate) fn refuse(stream: TcpStream, answer: &[u8]) -> usize {
    let mut stream = stream;
    let sent = stream.write(answer).unwrap_or(0);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match io::Read::read(&mut stream, &mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    sent
}
