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

/// Listening sockets this process was given, each with the address it is bound to,
/// waiting to be matched with an address of the configuration.
#[derive(Debug)]
pub(crate) struct Inherited {
    sockets: Vec<(SocketAddr, TcpListener)>,
}

impl Inherited {
    /// Reads each socket's address.
    pub(crate) fn new(sockets: Vec<TcpListener>) -> io::Result<Inherited> {
        let sockets = sockets
            .into_iter()
            .map(|s| Ok((s.local_addr()?, s)))
            .collect::<io::Result<_>>()?;
        Ok(Inherited { sockets })
    }

    /// Takes the socket bound to exactly `addr` (never for port 0, which asks for a
    /// new port), made nonblocking.
    pub(crate) fn take(&mut self, addr: SocketAddr) -> io::Result<Option<TcpListener>> {
        if addr.port() == 0 {
            return Ok(None);
        }
        let Some(i) = self.sockets.iter().position(|(a, _)| *a == addr) else {
            return Ok(None);
        };
        let (_, socket) = self.sockets.swap_remove(i);
        socket.set_nonblocking(true)?;
        Ok(Some(socket))
    }

    /// The address of a socket no configured address took, if any.
    pub(crate) fn left_over(&self) -> Option<SocketAddr> {
        self.sockets.first().map(|(a, _)| *a)
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::Inherited;
    use crate::{Config, Server, ServerError};

    fn listening() -> TcpListener {
        TcpListener::bind("127.0.0.1:0").unwrap()
    }

    #[test]
    fn an_inherited_socket_is_taken_for_its_own_address_only() {
        let (a, b) = (listening(), listening());
        let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut inherited = Inherited::new(vec![a, b]).unwrap();
        // Port 0 asks for a new port: never an inherited one.
        assert!(
            inherited
                .take("127.0.0.1:0".parse().unwrap())
                .unwrap()
                .is_none()
        );
        let other = std::net::SocketAddr::new("127.0.0.2".parse().unwrap(), addr_a.port());
        assert!(inherited.take(other).unwrap().is_none());
        let taken = inherited.take(addr_a).unwrap().unwrap();
        assert_eq!(taken.local_addr().unwrap(), addr_a);
        assert!(inherited.take(addr_a).unwrap().is_none(), "taken once");
        assert_eq!(inherited.left_over(), Some(addr_b));
        assert!(inherited.take(addr_b).unwrap().is_some());
        assert_eq!(inherited.left_over(), None);
    }

    #[test]
    fn a_server_on_an_inherited_socket_answers_connections_made_before_it_started() {
        let socket = listening();
        let addr = socket.local_addr().unwrap();
        // Queued in the socket's backlog while no server exists yet.
        let mut early = TcpStream::connect(addr).unwrap();
        early
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let root = std::env::temp_dir().join(format!("httpd-inherit-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let config = Config {
            listen: addr,
            root: root.clone(),
            ..Config::default()
        };
        // Binding the address anew would fail: the inherited socket holds it.
        let server = Server::bind_inheriting(config, vec![socket]).unwrap();
        assert_eq!(server.local_addr(), addr);
        let stop = server.shutdown_handle();
        let running = std::thread::spawn(move || server.run());
        let mut answer = String::new();
        early.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        stop.shutdown();
        running.join().unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn an_inherited_socket_no_address_names_stops_the_start() {
        let socket = listening();
        let addr = socket.local_addr().unwrap();
        let root = std::env::temp_dir().join(format!("httpd-inherit2-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            root: root.clone(),
            ..Config::default()
        };
        match Server::bind_inheriting(config, vec![socket]) {
            Err(ServerError::Inherited(a)) => assert_eq!(a, addr),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
