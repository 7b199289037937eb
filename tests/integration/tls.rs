//! HTTPS over real sockets: a throwaway CA and certificates made with rcgen, a rustls
//! client; the seed's behaviour over TLS, SNI, redirect, HSTS, reload, and hostile
//! handshakes (slow, garbage, plain HTTP, cut off).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::util::{Client, Dir, IO_TIMEOUT, TestServer, wait_until};

/// A CA and two server certificates signed by it, as PEM files in a temporary folder.
struct Certs {
    dir: Dir,
    ca_der: CertificateDer<'static>,
    /// The leaf of `a.pem` (localhost, 127.0.0.1, a.test) and of `b.pem` (b.test).
    a_der: CertificateDer<'static>,
    b_der: CertificateDer<'static>,
}

impl Certs {
    fn new() -> Certs {
        let dir = Dir::new();
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "httpd test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let a_der = leaf(&dir, &ca, "a", &["localhost", "a.test", "127.0.0.1"]);
        let b_der = leaf(&dir, &ca, "b", &["b.test"]);
        dir.write("ca.pem", ca.pem().as_bytes());
        Certs {
            ca_der: ca.der().clone(),
            dir,
            a_der,
            b_der,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// A client configuration trusting the test CA.
    fn client(&self) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        Arc::new(
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// Writes `NAME.pem` and `NAME.key`, a leaf for `names` signed by `ca`.
fn leaf(
    dir: &Dir,
    ca: &rcgen::CertifiedIssuer<'_, rcgen::KeyPair>,
    name: &str,
    names: &[&str],
) -> CertificateDer<'static> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    dir.write(&format!("{name}.pem"), cert.pem().as_bytes());
    dir.write(&format!("{name}.key"), key.serialize_pem().as_bytes());
    cert.der().clone()
}

/// A server with a TLS listener using `a` (and `b` when `both`), plus `extra` flags;
/// returns it with the TLS address.
fn start(certs: &Certs, both: bool, extra: &[&str]) -> (TestServer, SocketAddr) {
    let (a_pem, a_key, b_pem, b_key) = (
        certs.path("a.pem"),
        certs.path("a.key"),
        certs.path("b.pem"),
        certs.path("b.key"),
    );
    let mut args = vec![
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        &a_pem,
        "--tls-key",
        &a_key,
    ];
    if both {
        args.extend(["--tls-cert", &b_pem, "--tls-key", &b_key]);
    }
    args.extend_from_slice(extra);
    let server = TestServer::start(&args);
    let line = || {
        server
            .stdout()
            .lines()
            .chain(server.stderr().lines())
            .find_map(|l| {
                l.trim()
                    .strip_prefix("listening on https://")
                    .map(str::to_string)
            })
    };
    // The https line follows the http one on stdout.
    assert!(wait_until(|| line().is_some()), "no https listening line");
    let addr = line().unwrap().parse().unwrap();
    (server, addr)
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects and completes the handshake for `name`.
fn connect(addr: SocketAddr, config: Arc<ClientConfig>, name: &str) -> Client<TlsStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let conn =
        ClientConnection::new(config, ServerName::try_from(name.to_string()).unwrap()).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    Client::over(stream)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

#[test]
fn the_seed_behaviour_holds_over_https() {
    let certs = Certs::new();
    let (server, addr) = start(&certs, false, &[]);
    let mut c = connect(addr, certs.client(), "localhost");
    // Keep-alive and pipelining over one TLS connection.
    let mut batch = get("/");
    batch.extend(get("/sample.txt"));
    batch.extend(get("/../etc/passwd"));
    batch.extend(get("/missing.html"));
    batch.extend(get("/script.php"));
    c.write(&batch);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<!DOCTYPE html><title>home</title>\n");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"sample.txt\"")
    );
    assert_eq!(c.response().status, 403);
    assert_eq!(c.response().status, 404);
    assert_eq!(c.response().status, 415);
    // An upload.
    c.write(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\": 1}");
    let r = c.response();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(server.root.uploads().len(), 1);
    // The access line names the scheme and the TLS version.
    assert!(wait_until(|| server
        .stdout()
        .contains("\"GET / HTTP/1.1\" 200")));
    let line = server
        .stdout()
        .lines()
        .find(|l| l.contains("\"GET / HTTP/1.1\" 200"))
        .unwrap()
        .to_string();
    assert!(line.ends_with(" https TLSv1.3"), "{line}");
    // Plain HTTP still works beside it, and says so.
    assert_eq!(server.get("/").status, 200);
    assert!(wait_until(|| server
        .stdout()
        .lines()
        .any(|l| l.ends_with(" http"))));
}

#[test]
fn large_files_stream_whole_over_https_in_bounded_memory() {
    let certs = Certs::new();
    let root = Dir::docroot();
    let big = root.write_large("big.jpg", 8 * 1024 * 1024);
    let (a_pem, a_key) = (certs.path("a.pem"), certs.path("a.key"));
    let server = TestServer::start_in(
        root,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            &a_pem,
            "--tls-key",
            &a_key,
        ],
    );
    let addr = tls_addr(&server);
    let mut c = connect(addr, certs.client(), "localhost");
    c.write(&get("/big.jpg"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.body == big, "the body differs ({} bytes)", r.body.len());
    // A range of it too.
    c.write(b"GET /big.jpg HTTP/1.1\r\nHost: localhost\r\nRange: bytes=1000-1999\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 206);
    assert!(r.body == big[1000..2000]);
    let rss = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
        .unwrap();
    let kib: u64 = rss.trim_end_matches(" kB").trim().parse().unwrap();
    assert!(kib < 16 * 1024, "peak RSS {kib} KiB for an 8 MiB download");
}

fn tls_addr(server: &TestServer) -> SocketAddr {
    let line = || {
        server.stdout().lines().find_map(|l| {
            l.trim()
                .strip_prefix("listening on https://")
                .map(str::to_string)
        })
    };
    assert!(wait_until(|| line().is_some()), "no https listening line");
    line().unwrap().parse().unwrap()
}

/// Accepts any certificate, so a test can look at the one the server chose.
#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The leaf certificate the server presents for `name`.
fn presented(addr: SocketAddr, name: &str) -> CertificateDer<'static> {
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert))
            .with_no_client_auth();
    let c = connect(addr, Arc::new(config), name);
    c.stream.conn.peer_certificates().unwrap()[0].clone()
}

#[test]
fn sni_picks_the_certificate_and_an_unknown_name_gets_the_first() {
    let certs = Certs::new();
    let (_server, addr) = start(&certs, true, &[]);
    assert_eq!(presented(addr, "b.test"), certs.b_der);
    assert_eq!(presented(addr, "a.test"), certs.a_der);
    assert_eq!(presented(addr, "unknown.test"), certs.a_der);
    // And a verifying client accepts each for its own name.
    let mut b = connect(addr, certs.client(), "b.test");
    b.write(&get("/"));
    assert_eq!(b.response().status, 200);
}

#[test]
fn plain_listeners_redirect_to_https_and_hsts_is_sent_over_tls_only() {
    let certs = Certs::new();
    let (server, addr) = start(&certs, false, &["--redirect-https", "--hsts", "365d"]);
    let r = server.get("/about.html?x=1");
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://localhost:{}/about.html?x=1", addr.port()).as_str())
    );
    assert_eq!(r.header("strict-transport-security"), None);
    let mut c = server.connect();
    c.write(
        format!(
            "HEAD / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            server.addr.port()
        )
        .as_bytes(),
    );
    let r = c.read_response(true);
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://127.0.0.1:{}/", addr.port()).as_str())
    );
    // Anything but GET and HEAD is refused rather than redirected.
    let r = server.send(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(r.status, 400);
    assert!(server.root.uploads().is_empty());
    // Over TLS: served, with HSTS.
    let mut c = connect(addr, certs.client(), "localhost");
    c.write(&get("/about.html"));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
}

/// The value of one metric line, or 0.
fn metric(server: &TestServer, name: &str) -> u64 {
    server
        .get("/metrics")
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_slow_handshake_is_cut_off_at_the_header_timeout() {
    let certs = Certs::new();
    let (server, addr) = start(&certs, false, &["--header-timeout", "500ms"]);
    // The first bytes of a real ClientHello, then nothing.
    let mut hello = Vec::new();
    let mut conn =
        ClientConnection::new(certs.client(), ServerName::try_from("localhost").unwrap()).unwrap();
    conn.write_tls(&mut hello).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.write_all(&hello[..20]).unwrap();
    let started = std::time::Instant::now();
    let mut byte = [0u8; 1];
    let closed = matches!(tcp.read(&mut byte), Ok(0) | Err(_));
    assert!(closed, "the server kept a stalled handshake open");
    assert!(started.elapsed() < IO_TIMEOUT);
    assert!(server.wait_for_log("TLS handshake too slow"));
    assert_eq!(
        metric(
            &server,
            "httpd_tls_handshake_failures_total{reason=\"timeout\"}"
        ),
        1
    );
}

#[test]
fn garbage_plain_http_and_cut_handshakes_are_closed_and_counted() {
    let certs = Certs::new();
    let (server, addr) = start(&certs, false, &[]);
    // Garbage instead of a ClientHello.
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7])
        .unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    // At most a TLS alert comes back, never HTTP.
    assert!(!rest.starts_with(b"HTTP"), "{rest:?}");
    // Plain HTTP on the TLS port: nginx's short 400, in the clear, then close.
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.write_all(&get("/")).unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("plain HTTP request was sent to HTTPS port"));
    // A client that leaves mid-handshake.
    let mut hello = Vec::new();
    let mut conn =
        ClientConnection::new(certs.client(), ServerName::try_from("localhost").unwrap()).unwrap();
    conn.write_tls(&mut hello).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(&hello).unwrap();
    drop(tcp);
    // Each is logged at debug, counted, and the server goes on.
    assert!(wait_until(|| metric(
        &server,
        "httpd_tls_handshake_failures_total{reason=\"plain_http\"}"
    ) == 1));
    assert!(wait_until(|| metric(
        &server,
        "httpd_tls_handshake_failures_total{reason=\"bad_record\"}"
    ) + metric(
        &server,
        "httpd_tls_handshake_failures_total{reason=\"other\"}"
    ) >= 1));
    let stderr = server.stderr();
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("WARN"),
        "{stderr}"
    );
    let mut c = connect(addr, certs.client(), "localhost");
    c.write(&get("/"));
    assert_eq!(c.response().status, 200);
}

#[test]
fn sessions_resume_and_handshakes_are_counted() {
    let certs = Certs::new();
    let (server, addr) = start(&certs, false, &[]);
    let config = certs.client();
    for _ in 0..3 {
        let mut c = connect(addr, Arc::clone(&config), "localhost");
        c.write(&get("/"));
        assert_eq!(c.response().status, 200);
    }
    assert!(wait_until(
        || metric(&server, "httpd_tls_handshakes_total") == 3
    ));
    // The client kept the tickets of the first connection and resumed with them.
    assert!(metric(&server, "httpd_tls_resumed_total") >= 1);
    assert!(
        server
            .get("/metrics")
            .text()
            .contains("httpd_requests_by_scheme_total{scheme=\"https\"} 3\n")
    );
}

#[test]
fn tls_1_2_clients_are_served_and_logged_as_such() {
    let certs = Certs::new();
    let (server, addr) = start(&certs, false, &[]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs.ca_der.clone()).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let mut c = connect(addr, Arc::new(config), "localhost");
    c.write(&get("/"));
    assert_eq!(c.response().status, 200);
    assert_eq!(
        c.stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert!(wait_until(|| server.stdout().contains(" https TLSv1.2")));
}

#[test]
fn sighup_reloads_certificates_without_dropping_connections() {
    let certs = Certs::new();
    let (server, addr) = start(&certs, false, &[]);
    let mut kept = connect(addr, certs.client(), "localhost");
    kept.write(&get("/"));
    assert_eq!(kept.response().status, 200);
    // New files at the same paths: b's certificate and key take a's place.
    std::fs::copy(certs.path("b.pem"), certs.path("a.pem")).unwrap();
    std::fs::copy(certs.path("b.key"), certs.path("a.key")).unwrap();
    server.signal("HUP");
    assert!(server.wait_for_log("reloaded 1 TLS certificate(s)"));
    assert_eq!(presented(addr, "localhost"), certs.b_der);
    // The connection opened before the reload goes on.
    kept.write(&get("/about.html"));
    assert_eq!(kept.response().status, 200);
    // Bad files: the reload is refused, the last good certificate stays.
    std::fs::write(certs.path("a.key"), b"not a key").unwrap();
    server.signal("HUP");
    assert!(server.wait_for_log("TLS reload refused"));
    assert_eq!(presented(addr, "localhost"), certs.b_der);
    assert_eq!(metric(&server, "httpd_tls_reload_failures_total"), 1);
    assert_eq!(metric(&server, "httpd_tls_reloads_total"), 1);
}

#[test]
fn bad_certificate_files_stop_the_server_with_a_clear_error() {
    let certs = Certs::new();
    let root = Dir::docroot();
    let (b_pem, a_key) = (certs.path("b.pem"), certs.path("a.key"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_httpd"))
        .arg("--root")
        .arg(root.path())
        .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
        .args(["--tls-cert", &b_pem, "--tls-key", &a_key])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot set up TLS"), "{stderr}");
    assert!(stderr.contains("does not belong to"), "{stderr}");
    // Without a key at all: a usage error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_httpd"))
        .args(["--tls-listen", "127.0.0.1:0", "--tls-cert", &b_pem])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("come in pairs"));
}
