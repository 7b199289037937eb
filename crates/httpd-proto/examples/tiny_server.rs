//! A complete HTTP/1.1 server on std and httpd-proto alone: keep-alive, pipelining, a
//! bounded head, one thread per connection; it answers GET and HEAD with the path.
//! Run `cargo run -p httpd-proto --example tiny_server [ADDR]`, then `curl -v URL`.
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use httpd_proto::{Framing, HeadScanner, Header, MAX_HEADERS, ParseError, ResponseHead, Status};

/// The longest head read; a longer one is answered 431 and the connection closed.
const MAX_HEAD_BYTES: usize = 8192;

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let listener = TcpListener::bind(addr.as_deref().unwrap_or("127.0.0.1:8080"))?;
    println!("listening on http://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        thread::spawn(move || serve(stream));
    }
    Ok(())
}

/// Serves one connection until the client closes it or asks to, or a head is bad.
fn serve(mut stream: TcpStream) -> io::Result<()> {
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
    let mut scanner = HeadScanner::default();
    loop {
        // Scan: read until the buffer holds a whole head, within the bound.
        let head_len = loop {
            match scanner.scan(&buf) {
                Ok(Status::Complete(n)) if n <= MAX_HEAD_BYTES => break n,
                Ok(Status::Partial) if buf.len() <= MAX_HEAD_BYTES => {}
                Ok(_) => return refuse(&mut stream, 431, "head too large"),
                Err(e) => return refuse(&mut stream, 400, &e.to_string()),
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(()); // The client closed the connection.
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        // Parse: the slots are declared here, inside the loop, so that they borrow this
        // head only and `buf` may change once the request is answered.
        let mut slots = [Header::EMPTY; MAX_HEADERS];
        let request = match httpd_proto::parse_request(&buf[..head_len], &mut slots) {
            Ok(Status::Complete((request, _))) => request,
            Ok(Status::Partial) => return refuse(&mut stream, 400, "incomplete head"),
            Err(e) => return refuse(&mut stream, status_of(e), &e.to_string()),
        };
        match request.framing() {
            Ok(Framing::None) if matches!(request.method, "GET" | "HEAD") => {}
            // This server reads no bodies, so a request with one ends the connection.
            Ok(_) => return refuse(&mut stream, 405, "GET or HEAD only"),
            Err(e) => return refuse(&mut stream, status_of(e), &e.to_string()),
        }
        let (keep_alive, body) = (request.wants_keep_alive(), request.path().to_string());
        // A HEAD answer has the GET answer's head, and no body.
        respond(&mut stream, 200, &body, request.method == "GET", keep_alive)?;
        if !keep_alive {
            return Ok(());
        }
        // Drain the answered head (a pipelined request may follow it) and reset.
        buf.drain(..head_len);
        scanner.reset();
    }
}

/// Answers a refused head and closes: the framing of what follows it is unknown.
fn refuse(stream: &mut TcpStream, code: u16, why: &str) -> io::Result<()> {
    respond(stream, code, &format!("{why}\n"), true, false)
}

/// The status for a refused head, as httpd-server maps it.
fn status_of(error: ParseError) -> u16 {
    match error {
        ParseError::UnsupportedVersion => 505,
        ParseError::UnsupportedTransferCoding => 501,
        ParseError::TooManyHeaders => 431,
        _ => 400,
    }
}

/// Writes a response head and, if `with_body`, `body`.
fn respond(
    s: &mut TcpStream,
    code: u16,
    body: &str,
    with_body: bool,
    keep: bool,
) -> io::Result<()> {
    let mut head = ResponseHead::new(code);
    head.header("Content-Type", "text/plain")
        .header_u64("Content-Length", body.len() as u64);
    head.header("Connection", if keep { "keep-alive" } else { "close" });
    let mut response = head.finish();
    response.extend_from_slice(if with_body { body.as_bytes() } else { b"" });
    s.write_all(&response)
}
