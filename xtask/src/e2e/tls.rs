//! `tls/`: HTTPS, written against server options that did not exist yet when
//! these scenarios were: `--tls-listen ADDR`, `--tls-cert FILE --tls-key FILE`
//! (repeatable: SNI picks the pair, an unknown or missing name gets the
//! first), `--redirect-https` and `--hsts SECONDS`. Every scenario first asks
//! `httpd --help`; while it does not mention `--tls-listen`, each is skipped
//! with `SKIP: server has no --tls-listen (tls/NAME)`, and lights up once the
//! server has the option.
//!
//! Each scenario starts its own server: a plain listener on port 0 (its
//! listening line comes first, as ever) and a TLS listener on a loopback port
//! picked free just before, serving two names, `a.test` then `b.test`, whose
//! throwaway certificates ([`crate::common::certs`]) are made once per run in
//! the run directory. Requests name the host `a.test` (an allowed host).
//!
//! What is checked: the seed's requests over HTTPS (a page, a download, an
//! upload, 404, traversal 403) through the common client's TLS transport; the
//! same with `curl --cacert` and `openssl s_client`; SNI; the plain listener's
//! 308 redirect; HSTS only on TLS responses; a trickled ClientHello cut at the
//! header timeout; garbage and plain HTTP on the TLS port; and testssl.sh
//! finding nothing vulnerable and nothing "NOT ok" beyond what a self-signed
//! test CA causes. curl, openssl and testssl (Debian's `testssl.sh`) are
//! installed when missing and running as root ([`debian_tool`]), else those
//! scenarios are skipped.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::checks::{JSON, check_created, expect_status, localhost};
use super::client::{self, Conn, Response};
use super::promtool::debian_tool;
use super::scenarios::{Check, Outcome, Scenario, tables};
use super::seed::{check_file_response, file_case};
use super::{Ctx, Server, skip};
use crate::common::certs::TestCerts;
use crate::common::tls::Tls;
use crate::common::{free_port, run_captured};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Returns the scenarios of this module, in run order.
pub fn all() -> Vec<Scenario> {
    tables(&[], CHECKS)
}

/// Scenarios that are one function each, in run order.
const CHECKS: &[(&str, Check)] = &[
    ("tls/get_root_seed", get_root),
    ("tls/download_photo_seed", download_photo),
    ("tls/upload_json_201_seed", upload_json),
    ("tls/missing_404", missing_404),
    ("tls/tls12_and_alpn_http11", tls12_and_alpn),
    ("tls/traversal_403_seed", traversal_403),
    ("tls/curl_cacert", curl_cacert),
    ("tls/openssl_s_client", openssl_s_client),
    ("tls/sni_picks_certificate", sni_picks),
    ("tls/unknown_or_no_sni_gets_first", unknown_sni),
    ("tls/redirect_https_308", redirect_https),
    ("tls/hsts_only_on_tls", hsts_only_on_tls),
    ("tls/slow_handshake_cut", slow_handshake),
    ("tls/garbage_closed", garbage_closed),
    ("tls/plain_http_to_tls_port_closed", plain_http_closed),
    ("tls/testssl_nothing_vulnerable", testssl),
];

/// The names the TLS listener serves, in the order given to the server.
const NAMES: [&str; 2] = ["a.test", "b.test"];

/// How long the TLS listener may take to accept after the listening line.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long curl, openssl s_client and testssl may run.
const CURL_TIMEOUT: Duration = Duration::from_secs(30);
const TESTSSL_TIMEOUT: Duration = Duration::from_secs(600);

/// testssl findings that a throwaway, self-signed test CA causes (no public
/// chain of trust, no CRL or OCSP URI), or that testssl checking by IP address
/// causes (`cert_trust`: the certificate names `a.test`, not 127.0.0.1).
const TEST_CA_FINDINGS: &[&str] = &[
    "cert_chain_of_trust",
    "cert_crlDistributionPoints",
    "cert_ocspURL",
    "cert_revocation",
    "OCSP_stapling",
    "cert_trust",
];

/// testssl severities that its text output shows as "NOT ok" (or worse).
const NOT_OK: &[&str] = &["MEDIUM", "HIGH", "CRITICAL"];

/// A server with a TLS listener.
struct TlsServer {
    srv: Server,
    tls_addr: SocketAddr,
    certs: TestCerts,
}

impl TlsServer {
    /// Starts a server `name` with the TLS listener and `extra` flags; skips
    /// the scenario when the server has no `--tls-listen`.
    fn start(ctx: &Ctx, name: &str, extra: &[&str]) -> Result<TlsServer, String> {
        require_tls(ctx)?;
        let certs = test_certs(ctx)?;
        let tls_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut flags: Vec<String> = vec!["--tls-listen".into(), tls_addr.to_string()];
        for named in &certs.names {
            flags.extend([
                "--tls-cert".into(),
                named.cert.display().to_string(),
                "--tls-key".into(),
                named.key.display().to_string(),
            ]);
            flags.extend(["--allowed-host".into(), named.name.clone()]);
        }
        flags.extend(extra.iter().map(|f| f.to_string()));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let srv = ctx.start(name, &flags)?;
        wait_accepting(tls_addr)?;
        Ok(TlsServer {
            srv,
            tls_addr,
            certs,
        })
    }

    /// Client settings for `name`, trusting the run's CA.
    fn client(&self, name: &str) -> Result<Tls, String> {
        Tls::builder(&self.certs.ca_cert).server_name(name).build()
    }

    /// `a.test:PORT`, for Host headers over TLS.
    fn host(&self) -> String {
        format!("{}:{}", NAMES[0], self.tls_addr.port())
    }

    /// Sends `raw` over a new TLS connection to `a.test` and reads one response.
    fn exchange(&self, raw: &[u8], to_head: bool) -> Result<(Conn, Response), String> {
        let mut conn = self.client(NAMES[0])?.connect(self.tls_addr)?;
        conn.send_all(raw)?;
        let resp = conn.read_response(to_head)?;
        Ok((conn, resp))
    }

    /// GETs `target` over TLS with `Connection: close`.
    fn get(&self, target: &str) -> Result<Response, String> {
        let raw = client::get(target, &self.host(), "Connection: close\r\n");
        self.exchange(&raw, false)
            .map(|(_, resp)| resp)
            .map_err(|e| format!("GET {target} over TLS: {e}"))
    }

    /// Returns the DER of the leaf certificate of name `index`.
    fn leaf(&self, index: usize) -> Result<CertificateDer<'static>, String> {
        let path = &self.certs.names[index].cert;
        CertificateDer::from_pem_file(path).map_err(|e| format!("read {}: {e}", path.display()))
    }
}

/// Skips the scenario unless `httpd --help` mentions `--tls-listen` (asked once
/// per run).
fn require_tls(ctx: &Ctx) -> Outcome {
    static HAS_TLS: OnceLock<Result<bool, String>> = OnceLock::new();
    let has_tls = HAS_TLS
        .get_or_init(|| {
            let out = ctx.run_cli(&["--help"])?;
            Ok(format!("{}{}", out.stdout, out.stderr).contains("--tls-listen"))
        })
        .clone()?;
    if has_tls {
        Ok(())
    } else {
        Err(skip("server has no --tls-listen"))
    }
}

/// Returns `program`, installing Debian `package` when missing (as root), or
/// skips the scenario; asked only once the server is known to have TLS.
fn tool(ctx: &Ctx, program: &str, package: &str) -> Result<PathBuf, String> {
    require_tls(ctx)?;
    debian_tool(ctx, program, package, &[])
        .map_err(|why| skip(&format!("{program} missing: {why}")))
}

/// The run's throwaway CA and certificates for [`NAMES`] (made once per run).
fn test_certs(ctx: &Ctx) -> Result<TestCerts, String> {
    static CERTS: OnceLock<Result<TestCerts, String>> = OnceLock::new();
    CERTS
        .get_or_init(|| TestCerts::generate(&ctx.run_dir.join("tls-certs"), &NAMES))
        .clone()
}

/// Polls until `addr` accepts a TCP connection, at most [`LISTEN_TIMEOUT`].
fn wait_accepting(addr: SocketAddr) -> Outcome {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        ensure!(
            Instant::now() < deadline,
            "the TLS listener {addr} does not accept after {LISTEN_TIMEOUT:?}"
        );
        // Polling: nothing tells when another process starts listening.
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The seed's requests over HTTPS

fn get_root(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-get", &[])?;
    let mut conn = tls.client(NAMES[0])?.connect(tls.tls_addr)?;
    let version = conn.tls().and_then(|s| s.protocol_version());
    ensure!(
        matches!(version, Some("TLSv1.2" | "TLSv1.3")),
        "negotiated {version:?}, expected TLS 1.2 or 1.3"
    );
    // Two requests on one connection: keep-alive works over TLS too.
    for target in ["/", "/index.html"] {
        conn.send_all(&client::get(target, &tls.host(), ""))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("GET {target} over TLS: {e}"))?;
        check_file_response(&tls.srv, file_case(target), &resp, false)?;
    }
    Ok(())
}

fn download_photo(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-download", &[])?;
    let resp = tls.get("/photo.jpg")?;
    check_file_response(&tls.srv, file_case("/photo.jpg"), &resp, false)
}

fn upload_json(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-upload", &[])?;
    let body = br#"{"over": "tls"}"#;
    let raw = client::post("/upload", &tls.host(), JSON, body, "Connection: close\r\n");
    let (_, resp) = tls.exchange(&raw, false)?;
    check_created(&tls.srv, &resp, body).map(|_| ())
}

/// TLS 1.2 alone is served too, and ALPN `http/1.1` is selected when offered.
fn tls12_and_alpn(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-versions", &[])?;
    let ca = &tls.certs.ca_cert;
    let tls12 = Tls::builder(ca)
        .server_name(NAMES[0])
        .tls12_only()
        .build()?;
    let alpn = Tls::builder(ca)
        .server_name(NAMES[0])
        .alpn(&["http/1.1"])
        .build()?;
    for (what, settings) in [("TLS 1.2 only", tls12), ("ALPN http/1.1", alpn)] {
        let mut conn = settings
            .connect(tls.tls_addr)
            .map_err(|e| format!("{what}: {e}"))?;
        let session = conn.tls().ok_or("not a TLS connection")?;
        if what == "TLS 1.2 only" {
            let version = session.protocol_version();
            ensure!(version == Some("TLSv1.2"), "{what}: negotiated {version:?}");
        } else {
            let chosen = session.alpn_protocol().map(String::from_utf8_lossy);
            ensure!(
                chosen.as_deref() == Some("http/1.1"),
                "{what}: the server chose {chosen:?}"
            );
        }
        conn.send_all(&client::get(
            "/sample.txt",
            &tls.host(),
            "Connection: close\r\n",
        ))?;
        let resp = conn
            .read_response(false)
            .map_err(|e| format!("{what}: {e}"))?;
        check_file_response(&tls.srv, file_case("/sample.txt"), &resp, false)
            .map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

fn missing_404(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-404", &[])?;
    expect_status(&tls.get("/nope.html")?, 404)
}

fn traversal_403(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-403", &[])?;
    expect_status(&tls.get("/../etc/passwd")?, 403)
}

// ---------------------------------------------------------------------------
// Other clients

fn curl_cacert(ctx: &Ctx) -> Outcome {
    let curl = tool(ctx, "curl", "curl")?;
    let tls = TlsServer::start(ctx, "tls-curl", &[])?;
    let out_path = ctx.run_dir.join("tls-curl").join("index.out");
    let port = tls.tls_addr.port();
    let mut command = Command::new(curl);
    command
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(&tls.certs.ca_cert)
        .args(["--resolve", &format!("{}:{port}:127.0.0.1", NAMES[0])])
        .args(["-w", "%{http_code} %{ssl_verify_result}", "-o"])
        .arg(&out_path)
        .arg(format!("https://{}/index.html", tls.host()));
    let out = run_captured(command, None, CURL_TIMEOUT)?;
    let (code, stdout, stderr) = (out.status.code(), out.stdout, out.stderr);
    ensure!(
        code == Some(0) && stdout.trim() == "200 0",
        "curl exit {code:?}, printed {stdout:?}, stderr {:?}",
        stderr.trim()
    );
    let got = fs::read(&out_path).map_err(|e| format!("read {}: {e}", out_path.display()))?;
    let want = fs::read(tls.srv.root.join("index.html")).map_err(|e| format!("index.html: {e}"))?;
    ensure!(got == want, "curl got {} bytes, not index.html", got.len());
    Ok(())
}

fn openssl_s_client(ctx: &Ctx) -> Outcome {
    let openssl = tool(ctx, "openssl", "openssl")?;
    let tls = TlsServer::start(ctx, "tls-openssl", &[])?;
    let mut command = Command::new(openssl);
    command
        .args(["s_client", "-connect", &tls.tls_addr.to_string()])
        .args(["-servername", NAMES[0], "-CAfile"])
        .arg(&tls.certs.ca_cert)
        .args(["-verify_return_error", "-brief", "-ign_eof"]);
    let request = format!(
        "GET /sample.txt HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        tls.host()
    );
    let out = run_captured(command, Some(request.into_bytes()), CURL_TIMEOUT)?;
    let (code, stdout, stderr) = (out.status.code(), out.stdout, out.stderr);
    let all = format!("{stdout}{stderr}");
    ensure!(
        code == Some(0) && all.contains("Verification: OK"),
        "openssl s_client exit {code:?}, no \"Verification: OK\": {:?}",
        all.trim()
    );
    ensure!(
        all.contains("Protocol version: TLSv1.3") || all.contains("Protocol version: TLSv1.2"),
        "openssl s_client negotiated neither TLS 1.2 nor 1.3: {:?}",
        all.trim()
    );
    ensure!(
        stdout.contains("HTTP/1.1 200 "),
        "no 200 through openssl s_client: {:?}",
        stdout.trim()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// SNI

fn sni_picks(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-sni", &[])?;
    for (index, name) in NAMES.iter().enumerate() {
        let conn = tls.client(name)?.connect(tls.tls_addr)?;
        let leaf = conn
            .tls()
            .and_then(|s| s.peer_certificates())
            .and_then(|chain| chain.first().cloned())
            .ok_or_else(|| format!("SNI {name}: no certificate"))?;
        ensure!(
            leaf == tls.leaf(index)?,
            "SNI {name}: the server presented another name's certificate"
        );
    }
    Ok(())
}

fn unknown_sni(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-sni-unknown", &[])?;
    let first = tls.leaf(0)?;
    let builders = [
        (
            "SNI c.test",
            Tls::builder(&tls.certs.ca_cert).server_name("c.test"),
        ),
        (
            "no SNI",
            Tls::builder(&tls.certs.ca_cert)
                .server_name(NAMES[1])
                .without_sni(),
        ),
    ];
    for (what, builder) in builders {
        let conn = builder.any_name().build()?.connect(tls.tls_addr)?;
        let leaf = conn
            .tls()
            .and_then(|s| s.peer_certificates())
            .and_then(|chain| chain.first().cloned())
            .ok_or_else(|| format!("{what}: no certificate"))?;
        ensure!(
            leaf == first,
            "{what}: the server presented another certificate than the first ({})",
            NAMES[0]
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Redirect and HSTS

fn redirect_https(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-redirect", &["--redirect-https"])?;
    let plain = &tls.srv;
    let suffix = format!(":{}/about.html?x=1", tls.tls_addr.port());
    for method in ["GET", "HEAD"] {
        let raw = format!(
            "{method} /about.html?x=1 HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            localhost(plain)
        );
        let mut conn = Conn::connect(plain.addr)?;
        conn.send_all(raw.as_bytes())?;
        let resp = conn.read_response(method == "HEAD")?;
        ensure!(
            resp.status == 308,
            "plain {method} with --redirect-https: {}",
            resp.summary()
        );
        let location = resp.header("location").unwrap_or_default();
        ensure!(
            location.starts_with("https://") && location.ends_with(&suffix),
            "plain {method}: Location {location:?} is not https://HOST{suffix}"
        );
    }
    let body = br#"{"plain": "post"}"#;
    let raw = client::post(
        "/upload",
        &localhost(plain),
        JSON,
        body,
        "Connection: close\r\n",
    );
    let (_, resp) = client::exchange(plain.addr, &raw)?;
    ensure!(
        resp.status == 400,
        "plain POST with --redirect-https must be 400: {}",
        resp.summary()
    );
    // The TLS listener serves as usual.
    check_file_response(
        plain,
        file_case("/about.html"),
        &tls.get("/about.html")?,
        false,
    )
}

fn hsts_only_on_tls(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-hsts", &["--hsts", "600"])?;
    let over_tls = tls.get("/index.html")?;
    expect_status(&over_tls, 200)?;
    let hsts = over_tls
        .header("strict-transport-security")
        .unwrap_or_default();
    ensure!(
        hsts.starts_with("max-age=600"),
        "TLS response with --hsts 600: Strict-Transport-Security {hsts:?}"
    );
    let (_, plain) = client::exchange(
        tls.srv.addr,
        &client::get("/index.html", &localhost(&tls.srv), "Connection: close\r\n"),
    )?;
    expect_status(&plain, 200)?;
    ensure!(
        plain.header("strict-transport-security").is_none(),
        "a plain-HTTP response carries HSTS: {}",
        plain.summary()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Hostile handshakes

fn slow_handshake(ctx: &Ctx) -> Outcome {
    /// One byte, then this long waiting for the server to act.
    const DRIP_PAUSE: Duration = Duration::from_millis(200);
    /// Least time the cut may take: the 1 s header timeout, less slack.
    const NOT_BEFORE: Duration = Duration::from_millis(800);
    let tls = TlsServer::start(ctx, "tls-slow", &["--header-timeout", "1s"])?;
    let hello = tls.client(NAMES[0])?.client_hello()?;
    let mut conn = Conn::connect(tls.tls_addr)?;
    let started = Instant::now();
    let mut n_sent = 0;
    let mut cut = false;
    for byte in &hello {
        if conn.send(std::slice::from_ref(byte)).is_err() || conn.has_data(DRIP_PAUSE)? {
            cut = true;
            break;
        }
        n_sent += 1;
    }
    let waited = started.elapsed();
    ensure!(
        cut,
        "the whole {}-byte ClientHello was trickled over {waited:?} without the \
         server acting (header timeout 1 s)",
        hello.len()
    );
    ensure!(
        waited >= NOT_BEFORE,
        "a trickled ClientHello was cut after {waited:?} ({n_sent} bytes), before the 1 s header timeout"
    );
    // Whatever came (an alert, or nothing), the connection must end.
    conn.wait_closed()
        .map(|_| ())
        .map_err(|e| format!("after the handshake timeout: {e}"))
}

fn garbage_closed(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-garbage", &[])?;
    not_tls(
        &tls,
        b"\x01\x02\x03 this is no ClientHello \xff\xfe\r\n\r\n",
    )
}

fn plain_http_closed(ctx: &Ctx) -> Outcome {
    let tls = TlsServer::start(ctx, "tls-plain", &[])?;
    not_tls(&tls, &client::get("/", &tls.host(), ""))
}

/// Sends `bytes` that are not TLS to the TLS port: the server must close,
/// having sent nothing, a TLS alert, or a short HTTP/1.1 400.
fn not_tls(tls: &TlsServer, bytes: &[u8]) -> Outcome {
    let mut conn = Conn::connect(tls.tls_addr)?;
    // The server may close before reading everything.
    let _ = conn.send(bytes);
    let (got, _) = conn.wait_closed()?;
    let is_alert = got.first() == Some(&0x15) && got.len() <= 64;
    let is_400 = got.starts_with(b"HTTP/1.1 400") && got.len() <= 1024;
    ensure!(
        got.is_empty() || is_alert || is_400,
        "the TLS port answered non-TLS bytes with {} bytes: {:?}",
        got.len(),
        String::from_utf8_lossy(&got[..got.len().min(200)])
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// testssl.sh

fn testssl(ctx: &Ctx) -> Outcome {
    let testssl = tool(ctx, "testssl", "testssl.sh")?;
    // testssl rates any HTTP compression "potentially VULNERABLE" to BREACH, which needs
    // a secret and attacker-controlled text in one compressed response. httpd serves
    // static files and reflects nothing, so its gzip is safe, but testssl cannot know
    // that: it is checked with gzip off, as the nginx reference (gzip off by default).
    let tls = TlsServer::start(ctx, "tls-testssl", &["--no-gzip"])?;
    let json_path = ctx.paths.e2e_dir.join("testssl.json");
    let _ = fs::remove_file(&json_path);
    let mut command = Command::new(testssl);
    command
        .args(["--quiet", "--color", "0", "--warnings", "off", "--jsonfile"])
        .arg(&json_path)
        .arg(format!("https://{}", tls.tls_addr));
    let out = run_captured(command, None, TESTSSL_TIMEOUT)?;
    let _ = fs::write(ctx.paths.e2e_dir.join("testssl.txt"), &out.stdout);
    let problems = testssl_problems(&json_path)?;
    ensure!(
        problems.is_empty(),
        "testssl reports {} problem(s): {} (all in {})",
        problems.len(),
        problems.join("; "),
        json_path.display()
    );
    Ok(())
}

/// Reads testssl's JSON findings and returns those rated vulnerable (or
/// potentially so) or "NOT ok", less the ones a self-signed test CA causes. In
/// the JSON, "NOT ok" is a severity of [`NOT_OK`] (testssl 3.0: `cipher_order`
/// HIGH "NOT a cipher order configured" prints as "no (NOT ok)"); a
/// vulnerability is a finding that says "VULNERABLE" (of any severity: LUCKY13's
/// "potentially VULNERABLE" is LOW).
fn testssl_problems(json_path: &Path) -> Result<Vec<String>, String> {
    let text =
        fs::read_to_string(json_path).map_err(|e| format!("read {}: {e}", json_path.display()))?;
    let findings: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", json_path.display()))?;
    let findings = findings
        .as_array()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| format!("{} holds no findings", json_path.display()))?;
    let mut problems = Vec::new();
    for finding in findings {
        let id = finding["id"].as_str().unwrap_or_default();
        let text = finding["finding"].as_str().unwrap_or_default();
        let severity = finding["severity"].as_str().unwrap_or_default();
        let lower = text.to_ascii_lowercase();
        let vulnerable = lower.contains("vulnerable") && !lower.contains("not vulnerable");
        let not_ok = NOT_OK.contains(&severity) || text.contains("NOT ok");
        if (vulnerable || not_ok) && !TEST_CA_FINDINGS.contains(&id) {
            problems.push(format!("{id} ({severity}): {text}"));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testssl_findings_are_filtered() {
        let dir = std::env::temp_dir().join(format!("xtask-testssl-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.json");
        fs::write(
            &path,
            r#"[
            {"id": "heartbleed", "severity": "OK", "finding": "not vulnerable, no heartbeat extension"},
            {"id": "engine_problem", "severity": "WARN", "finding": "No engine or GOST support"},
            {"id": "cert_chain_of_trust", "severity": "CRITICAL", "finding": "failed (self signed CA in chain)."},
            {"id": "cert_revocation", "severity": "HIGH", "finding": "Neither CRL nor OCSP URI provided"},
            {"id": "HSTS", "severity": "LOW", "finding": "not offered"},
            {"id": "LUCKY13", "severity": "LOW", "finding": "potentially VULNERABLE, uses cipher block chaining (CBC) ciphers with TLS"},
            {"id": "cipher_order", "severity": "HIGH", "finding": "NOT a cipher order configured"}
            ]"#,
        )
        .unwrap();
        let problems = testssl_problems(&path).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("LUCKY13"));
        assert!(problems[1].starts_with("cipher_order"));
        fs::write(&path, "[]").unwrap();
        assert!(testssl_problems(&path).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
