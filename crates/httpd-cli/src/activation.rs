//! Listening sockets handed to httpd by the process that started it, by the protocol
//! of systemd's socket activation (`sd_listen_fds`): `LISTEN_PID` names this process,
//! `LISTEN_FDS` counts the descriptors, which start at 3. The server then serves each
//! configured address from the inherited socket bound to it instead of binding anew
//! ([`httpd_server::Server::bind_inheriting`]), so a connection that arrives while
//! httpd starts (or restarts) waits in the socket's queue instead of being refused.
//!
//! # Why `unsafe`
//! Taking ownership of a descriptor by its number is the one thing safe Rust cannot
//! express: the number comes from the environment. It is done once per descriptor,
//! only when `LISTEN_PID` is this process (so the descriptors were meant for it and
//! nothing else in the process owns them), only for numbers from 3 to 3 + `LISTEN_FDS`
//! (at most [`MAX_FDS`]), only after `fcntl(F_GETFD)` showed the number is open, and
//! first thing in `main`, before anything in the process opens a descriptor (which
//! could take a number the parent left closed). Each is then checked to be a listening TCP stream socket before it is used. This is
//! the crate's only `unsafe` code.
#![allow(unsafe_code)]

use std::net::TcpListener;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The first inherited descriptor (after stdin, stdout, stderr).
const FIRST_FD: RawFd = 3;

/// The most descriptors taken; more is a broken environment, not a deployment.
pub const MAX_FDS: usize = 64;

/// What the environment says about inherited sockets.
#[derive(Debug, PartialEq, Eq)]
pub enum Handed {
    /// Nothing was handed to this process.
    Nothing,
    /// This many descriptors, from 3.
    Sockets(usize),
}

/// Reads `LISTEN_PID` and `LISTEN_FDS` (as given) for the process `pid`.
///
/// # Errors
/// A message when the variables are meant for this process but malformed.
pub fn handed(
    pid: u32,
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
) -> Result<Handed, String> {
    let Some(listen_pid) = listen_pid else {
        return Ok(Handed::Nothing);
    };
    // Variables left by a parent for another process (or a stale export) are not ours.
    if listen_pid.trim().parse::<u32>().ok() != Some(pid) {
        return Ok(Handed::Nothing);
    }
    let fds = listen_fds.unwrap_or("0");
    match fds.trim().parse::<usize>() {
        Ok(0) => Ok(Handed::Nothing),
        Ok(n) if n <= MAX_FDS => Ok(Handed::Sockets(n)),
        _ => Err(format!(
            "LISTEN_FDS={fds:?} is not a count of inherited sockets from 1 to {MAX_FDS}"
        )),
    }
}

/// Takes the listening sockets the environment hands this process, if any.
///
/// # Errors
/// A message naming the descriptor that is not open or not a listening TCP socket, or
/// the malformed variable.
pub fn take_from_env() -> Result<Vec<TcpListener>, String> {
    let listen_pid = std::env::var("LISTEN_PID").ok();
    let listen_fds = std::env::var("LISTEN_FDS").ok();
    let n = match handed(
        std::process::id(),
        listen_pid.as_deref(),
        listen_fds.as_deref(),
    )? {
        Handed::Nothing => return Ok(Vec::new()),
        Handed::Sockets(n) => n,
    };
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        // `n` is at most MAX_FDS, so this cannot overflow.
        let fd = FIRST_FD + RawFd::try_from(i).unwrap_or(0);
        sockets.push(take(fd)?);
    }
    Ok(sockets)
}

/// Takes descriptor `fd` as a listening TCP socket.
fn take(fd: RawFd) -> Result<TcpListener, String> {
    // SAFETY: only borrowed for the duration of one `fcntl`, which fails with EBADF
    // on a number that is not open; nothing is read or closed through it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    if rustix::io::fcntl_getfd(borrowed).is_err() {
        return Err(format!(
            "inherited descriptor {fd} is not open (LISTEN_FDS counts more sockets than were passed)"
        ));
    }
    // SAFETY: the number is open (checked above), LISTEN_PID names this process, and
    // the numbers from 3 to 3 + LISTEN_FDS were handed to it for this purpose: nothing
    // else in the process owns this descriptor, and it is taken only once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    check_listening(&owned).map_err(|why| format!("inherited descriptor {fd} {why}"))?;
    // Not passed on to anything this process might start.
    let _ = rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC);
    Ok(TcpListener::from(owned))
}

/// Tells why `fd` is not a listening TCP stream socket, if it is not one.
fn check_listening(fd: &OwnedFd) -> Result<(), &'static str> {
    use rustix::net::sockopt;
    match sockopt::socket_type(fd) {
        Ok(rustix::net::SocketType::STREAM) => {}
        Ok(_) => return Err("is not a stream socket"),
        Err(_) => return Err("is not a socket"),
    }
    if !sockopt::socket_acceptconn(fd).unwrap_or(false) {
        return Err("is not listening");
    }
    match rustix::net::getsockname(fd).map(std::net::SocketAddr::try_from) {
        Ok(Ok(_)) => Ok(()),
        _ => Err("is not an IPv4 or IPv6 socket"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Handed, MAX_FDS, check_listening, handed};
    use std::os::fd::OwnedFd;

    #[test]
    fn only_variables_naming_this_process_hand_it_sockets() {
        // LISTEN_PID, LISTEN_FDS, and what process 42 makes of them.
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<Handed, ()>);
        let cases: &[Case<'_>] = &[
            (None, None, Ok(Handed::Nothing)),
            (None, Some("2"), Ok(Handed::Nothing)),
            (Some("41"), Some("2"), Ok(Handed::Nothing)),
            (Some("oops"), Some("2"), Ok(Handed::Nothing)),
            (Some("42"), Some("2"), Ok(Handed::Sockets(2))),
            (Some("42"), None, Ok(Handed::Nothing)),
            (Some("42"), Some("0"), Ok(Handed::Nothing)),
            (Some("42"), Some("64"), Ok(Handed::Sockets(MAX_FDS))),
            (Some("42"), Some("65"), Err(())),
            (Some("42"), Some("-1"), Err(())),
            (Some("42"), Some("two"), Err(())),
        ];
        for (pid, fds, want) in cases {
            let got = handed(42, *pid, *fds).map_err(|_| ());
            assert_eq!(&got, want, "LISTEN_PID={pid:?} LISTEN_FDS={fds:?}");
        }
    }

    #[test]
    fn only_a_listening_tcp_socket_passes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = OwnedFd::from(listener);
        assert_eq!(check_listening(&listener), Ok(()));
        let stream = std::net::TcpStream::connect(addr).unwrap();
        assert_eq!(
            check_listening(&OwnedFd::from(stream)),
            Err("is not listening")
        );
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            check_listening(&OwnedFd::from(udp)),
            Err("is not a stream socket")
        );
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(
            check_listening(&OwnedFd::from(file)),
            Err("is not a socket")
        );
    }
}
