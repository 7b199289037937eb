//! The one socket option this crate needs that neither `socket2` nor `rustix` offers:
//! `TCP_DEFER_ACCEPT` on a listening socket.
//!
//! # Why `unsafe` is allowed here
//! Setting it takes a raw `setsockopt(2)` call through `libc`. The call is sound: the
//! descriptor is borrowed from a live socket for the duration of the call, and the option
//! value is a local `c_int` whose address and exact size are passed together. Nothing
//! else in the crate uses `unsafe`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Sets `TCP_DEFER_ACCEPT` to `secs` on the listening socket `socket`: the kernel
/// completes the handshake but hands the connection to `accept` only once its first
/// bytes have arrived, or after about `secs` seconds without any (then the connection
/// is accepted as usual, and the server's own timeouts apply). 0 turns it off.
pub(crate) fn set_defer_accept(socket: &impl AsFd, secs: u32) -> io::Result<()> {
    let value = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    let fd = socket.as_fd();
    // SAFETY: `fd` is a valid open descriptor for the duration of the call (borrowed
    // from `socket`), and `value` is a live `c_int` whose size is passed as the length.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::addr_of!(value).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads `TCP_DEFER_ACCEPT` back from `socket` (the kernel stores it rounded to its
/// retransmission schedule, so the value read may differ from the one set).
#[cfg(test)]
pub(crate) fn defer_accept(socket: &impl AsFd) -> io::Result<u32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let fd = socket.as_fd();
    // SAFETY: as above; `value` and `len` are live locals and `len` holds the size of
    // `value`, which the kernel writes at most that many bytes of.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::addr_of_mut!(value).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(u32::try_from(value).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defer_accept_is_set_and_cleared_on_a_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        assert_eq!(defer_accept(&listener).expect("get"), 0);
        set_defer_accept(&listener, 1).expect("set");
        assert!(defer_accept(&listener).expect("get") >= 1);
        set_defer_accept(&listener, 0).expect("clear");
        assert_eq!(defer_accept(&listener).expect("get"), 0);
    }

    #[test]
    fn a_bad_descriptor_is_an_error_not_a_panic() {
        // A UDP socket has no TCP options.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert!(set_defer_accept(&udp, 1).is_err());
    }
}
