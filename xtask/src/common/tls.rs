//! The TLS transport of the client: rustls on the client side, with the ring provider.
//!
//! A [`Tls`] holds what every handshake of a scenario shares: the roots (one CA
//! from a PEM file, normally the throwaway CA of [`crate::common::certs`]), the
//! name to send as SNI and to check the certificate against, and the ALPN
//! protocols to offer. [`Tls::connect`] makes a [`Conn`] whose handshake is done,
//! so a handshake failure is reported at connect and [`TlsStream`] can tell what
//! was negotiated.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};

use crate::common::client::{Conn, Transport, tcp_connect};

/// Client settings for TLS connections to one server name.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .field("alpn", &self.config.alpn_protocols)
            .field("enable_sni", &self.config.enable_sni)
            .finish()
    }
}

/// Builds a [`Tls`]: `Tls::builder(ca).server_name("a.test").alpn(&["http/1.1"]).build()`.
#[derive(Debug, Clone)]
pub struct TlsBuilder {
    ca_pem: std::path::PathBuf,
    server_name: String,
    alpn: Vec<Vec<u8>>,
    send_sni: bool,
    tls12_only: bool,
    any_name: bool,
    resume: bool,
}

impl Tls {
    /// Starts a builder trusting only the certificates of the PEM file `ca_pem`.
    /// Defaults: server name `localhost`, SNI sent, no ALPN, TLS 1.2 and 1.3,
    /// sessions resumed (rustls' in-memory client cache).
    pub fn builder(ca_pem: &Path) -> TlsBuilder {
        TlsBuilder {
            ca_pem: ca_pem.to_path_buf(),
            server_name: "localhost".to_string(),
            alpn: Vec::new(),
            send_sni: true,
            tls12_only: false,
            any_name: false,
            resume: true,
        }
    }

    /// Connects to `addr` over TCP and completes the TLS handshake.
    ///
    /// # Errors
    /// When the TCP connection fails, or the handshake does (untrusted or
    /// misnamed certificate, no common protocol, a peer that is not TLS).
    pub fn connect(&self, addr: SocketAddr) -> Result<Conn, String> {
        let tcp = tcp_connect(addr)?;
        let session = ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
            .map_err(|e| format!("TLS session: {e}"))?;
        let mut stream = StreamOwned::new(session, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
        }
        Ok(Conn::over(Transport::Tls(Box::new(TlsStream(stream)))))
    }

    /// Returns the first flight of a handshake with these settings: the
    /// ClientHello record(s), as a client would send them, for scenarios that
    /// send it their own way (trickled, cut short).
    ///
    /// # Errors
    /// When the session cannot be made.
    pub fn client_hello(&self) -> Result<Vec<u8>, String> {
        let mut session = ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
            .map_err(|e| format!("TLS session: {e}"))?;
        let mut hello = Vec::new();
        while session.wants_write() {
            session
                .write_tls(&mut hello)
                .map_err(|e| format!("ClientHello: {e}"))?;
        }
        Ok(hello)
    }
}

impl TlsBuilder {
    /// Sets the name sent as SNI and checked against the certificate.
    pub fn server_name(mut self, name: &str) -> TlsBuilder {
        self.server_name = name.to_string();
        self
    }

    /// Sets the ALPN protocols offered, in order of preference.
    pub fn alpn(mut self, protocols: &[&str]) -> TlsBuilder {
        self.alpn = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
        self
    }

    /// Sends no SNI extension (the certificate is still checked against the name).
    pub fn without_sni(mut self) -> TlsBuilder {
        self.send_sni = false;
        self
    }

    /// Checks the certificate chain against the CA but not the name: for asking
    /// which certificate a server presents for a name it has none for.
    pub fn any_name(mut self) -> TlsBuilder {
        self.any_name = true;
        self
    }

    /// Offers TLS 1.2 only.
    pub fn tls12_only(mut self) -> TlsBuilder {
        self.tls12_only = true;
        self
    }

    /// Never resumes a session: every connection makes a full handshake, as
    /// many distinct clients would.
    pub fn without_resumption(mut self) -> TlsBuilder {
        self.resume = false;
        self
    }

    /// Reads the CA file and builds the settings.
    ///
    /// # Errors
    /// When the PEM file cannot be read or holds no certificate, or the name is
    /// not a DNS name or an IP address.
    pub fn build(self) -> Result<Tls, String> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(&self.ca_pem)
            .map_err(|e| format!("read {}: {e}", self.ca_pem.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("read {}: {e}", self.ca_pem.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA of {}: {e}", self.ca_pem.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("no certificate in {}", self.ca_pem.display()));
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS versions: {e}"))?;
        let mut config = if self.any_name {
            let chain = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("certificate verifier: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(chain)))
                .with_no_client_auth()
        } else {
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = self.alpn;
        config.enable_sni = self.send_sni;
        if !self.resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        let server_name = ServerName::try_from(self.server_name.clone())
            .map_err(|e| format!("server name {:?}: {e}", self.server_name))?;
        Ok(Tls {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// Verifies a server's certificate chain like rustls' own verifier, but takes a
/// certificate issued for another name ([`TlsBuilder::any_name`]).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A client TLS session over its TCP socket.
pub struct TlsStream(StreamOwned<ClientConnection, TcpStream>);

impl TlsStream {
    /// Returns the TCP socket under the session.
    pub fn tcp(&self) -> &TcpStream {
        &self.0.sock
    }

    /// Returns the negotiated protocol version, `TLSv1.2` or `TLSv1.3`.
    pub fn protocol_version(&self) -> Option<&'static str> {
        match self.0.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            _ => Some("other"),
        }
    }

    /// Returns the ALPN protocol the server chose, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.0.conn.alpn_protocol()
    }

    /// Returns the DER certificates the server presented, leaf first.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.0.conn.peer_certificates()
    }
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("tcp", &self.0.sock)
            .field("version", &self.protocol_version())
            .finish()
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Conn {
    /// Returns the TLS session of a TLS connection, `None` for plain TCP.
    pub fn tls(&self) -> Option<&TlsStream> {
        match self.transport() {
            Transport::Tls(s) => Some(s),
            Transport::Plain(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use rustls::pki_types::PrivateKeyDer;
    use rustls::{ServerConfig, ServerConnection};

    use super::*;
    use crate::common::certs::TestCerts;

    /// A one-connection rustls server on loopback: answers one request on the
    /// connection with a 200 naming the SNI and ALPN it saw, then closes.
    fn serve_once(certs: &TestCerts, alpn: &[&str]) -> SocketAddr {
        let chain = vec![
            CertificateDer::from_pem_file(&certs.names[0].cert).unwrap(),
            CertificateDer::from_pem_file(&certs.ca_cert).unwrap(),
        ];
        let key = PrivateKeyDer::from_pem_file(&certs.names[0].key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let session = ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = StreamOwned::new(session, tcp);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if tls.read(&mut byte).unwrap_or(0) == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            let body = format!(
                "sni={:?} alpn={:?}",
                tls.conn.server_name(),
                tls.conn.alpn_protocol().map(String::from_utf8_lossy)
            );
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            tls.write_all(resp.as_bytes()).unwrap();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
        addr
    }

    #[test]
    fn requests_go_through_the_tls_transport() {
        let dir = std::env::temp_dir().join(format!("xtask-tls-test-{}", std::process::id()));
        let certs = TestCerts::generate(&dir, &["a.test", "b.test"]).unwrap();
        let addr = serve_once(&certs, &["h2", "http/1.1"]);
        let tls = Tls::builder(&certs.ca_cert)
            .server_name("a.test")
            .alpn(&["http/1.1"])
            .build()
            .unwrap();
        let mut conn = tls.connect(addr).unwrap();
        let session = conn.tls().unwrap();
        assert!(matches!(
            session.protocol_version(),
            Some("TLSv1.3" | "TLSv1.2")
        ));
        assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(session.peer_certificates().map(<[_]>::len), Some(2));
        conn.send_all(&crate::common::client::get("/", "a.test", ""))
            .unwrap();
        let resp = conn.read_response(false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.body_text(),
            "sni=Some(\"a.test\") alpn=Some(\"http/1.1\")"
        );
        conn.expect_closed().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn any_name_checks_the_chain_but_not_the_name() {
        let dir = std::env::temp_dir().join(format!("xtask-tls-any-{}", std::process::id()));
        let certs = TestCerts::generate(&dir, &["a.test"]).unwrap();
        let addr = serve_once(&certs, &[]);
        let tls = Tls::builder(&certs.ca_cert)
            .server_name("other.test")
            .any_name()
            .build()
            .unwrap();
        let conn = tls.connect(addr).unwrap();
        let leaf = CertificateDer::from_pem_file(&certs.names[0].cert).unwrap();
        assert_eq!(conn.tls().unwrap().peer_certificates().unwrap()[0], leaf);
        // Another CA's server is still refused.
        let other = TestCerts::generate(&dir.join("other"), &["a.test"]).unwrap();
        let tls = Tls::builder(&other.ca_cert).any_name().build().unwrap();
        assert!(tls.connect(serve_once(&certs, &[])).is_err());
        let hello = tls.client_hello().unwrap();
        // A handshake record (22) of TLS 1.x, long enough to trickle.
        assert_eq!(hello[..2], [22, 3]);
        assert!(hello.len() > 100, "{}", hello.len());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_name_the_certificate_lacks_fails_the_handshake() {
        let dir = std::env::temp_dir().join(format!("xtask-tls-name-{}", std::process::id()));
        let certs = TestCerts::generate(&dir, &["a.test", "b.test"]).unwrap();
        let addr = serve_once(&certs, &[]);
        let tls = Tls::builder(&certs.ca_cert)
            .server_name("other.test")
            .build()
            .unwrap();
        let err = tls.connect(addr).unwrap_err();
        assert!(err.contains("TLS handshake"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
