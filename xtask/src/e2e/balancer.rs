//! `balancer/nginx_failover`: nginx balances two httpd processes
//! that share one docroot (and so one `uploads/` directory), and one of them
//! is stopped with SIGTERM in the middle of the load.
//!
//! The configuration is the README's, byte for byte: the scenario reads the
//! `sh` and `nginx` blocks of its section "Deployment behind a load
//! balancer", and only swaps in free loopback ports and paths under this
//! run's directory (each swap must find its text, so the README cannot drift
//! from what is tested). nginx runs in the foreground with its
//! configuration, pid, logs and temporary files in `target/e2e/balancer-nginx/`.
//!
//! Four client threads send [`N_OPS`] requests through nginx over keep-alive
//! connections: [`N_UPLOADS`] uploads, each with its own body `{"n": N}`, and
//! GETs of every file of `resources/`, each checked byte for byte. Once half
//! are answered, backend A gets SIGTERM. Then:
//!
//! - every GET was 200 with the file's exact bytes, every upload 201;
//! - every upload landed exactly once: `uploads/` holds one file per body,
//!   named as its 201 said, and nothing else (no temporary file);
//! - A exited 0, and A and B together logged each request exactly once;
//! - the JSON access logs name the client from `X-Forwarded-For`: a request
//!   that reaches nginx with `X-Forwarded-For: 203.0.113.5` is logged as
//!   203.0.113.5 (nginx appends its peer, 127.0.0.1, which httpd trusts and
//!   skips: the rightmost untrusted hop is the client), the load as
//!   127.0.0.1; a direct request with a forged header is believed by a
//!   backend (its peer, 127.0.0.1, is trusted) and not by a third httpd
//!   without `--trusted-proxy`, which logs its peer.
//!
//! Figures (requests per backend, nginx retries) go to
//! `target/e2e/balancer-summary.txt`. When nginx is missing and cannot be
//! installed, the scenario is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::checks::{JSON, LOG_WAIT};
use super::client::{self, Conn, Response};
use super::promtool::debian_tool;
use super::scenarios::Outcome;
use super::{Ctx, Server, file_contains, skip};
use crate::common::server::{Launch, Ready, Stop};
use crate::common::{self, free_port};

/// The README section whose blocks are the tested configuration.
const SECTION: &str = "## Deployment behind a load balancer";

/// Requests of the load, uploads included.
const N_OPS: usize = 1200;

/// Every [`UPLOAD_EVERY`]th request of the load is an upload.
const UPLOAD_EVERY: usize = 6;

/// Uploads of the load.
const N_UPLOADS: usize = N_OPS / UPLOAD_EVERY;

/// Client threads.
const N_THREADS: usize = 4;

/// How long nginx and the backends may take to start or stop.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the whole load may take before the SIGTERM is given up on.
const LOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The files the load downloads, relative to the docroot.
const FILES: &[&str] = &[
    "index.html",
    "about.html",
    "contact.html",
    "logo.png",
    "logo2.png",
    "photo.jpg",
    "sample.txt",
];

/// What the README's section gives: two httpd command lines and nginx's
/// `upstream` and `server` blocks.
struct Deployment {
    /// The two `httpd` command lines, split into words, quotes removed.
    backends: Vec<Vec<String>>,
    nginx: String,
}

pub fn nginx_failover(ctx: &Ctx) -> Outcome {
    let nginx = debian_tool(ctx, "nginx", "nginx-light", &[])
        .map_err(|why| skip(&format!("nginx missing: {why}")))?;
    let readme = ctx.paths.workspace.join("README.md");
    let deployment = read_deployment(&readme)?;
    let root = ctx.fresh_root("balancer")?;
    let logs = [
        ctx.paths.e2e_dir.join("balancer-a.access.json"),
        ctx.paths.e2e_dir.join("balancer-b.access.json"),
    ];
    let mut backends = Vec::new();
    let mut readme_listen = Vec::new();
    for (i, (line, log)) in deployment.backends.iter().zip(&logs).enumerate() {
        let _ = fs::remove_file(log);
        let (args, listen) = backend_args(line, &root, log)?;
        let name = ["balancer-a", "balancer-b"][i];
        backends.push(ctx.spawn(name, &args, root.clone())?);
        readme_listen.push(listen);
    }
    let untrusted_log = ctx.paths.e2e_dir.join("balancer-untrusted.access.json");
    let _ = fs::remove_file(&untrusted_log);
    let untrusted = ctx.start(
        "balancer-untrusted",
        &[
            "--access-format",
            "json",
            "--access-log",
            &untrusted_log.display().to_string(),
        ],
    )?;

    let port = free_port()?;
    let mut site = deployment.nginx.clone();
    for (listen, srv) in readme_listen.iter().zip(&backends) {
        site = swap(
            &site,
            &format!("server {listen} "),
            &format!("server {} ", srv.addr),
        )?;
    }
    site = swap(&site, "listen 80;", &format!("listen 127.0.0.1:{port};"))?;
    let nginx_dir = ctx.paths.e2e_dir.join("balancer-nginx");
    let _ = fs::remove_dir_all(&nginx_dir);
    let mut lb = start_nginx(&nginx, &nginx_dir, &site, port)?;
    let lb_addr = SocketAddr::from(([127, 0, 0, 1], port));

    // The load, with SIGTERM to A once half of it is answered.
    let expected: Vec<Vec<u8>> = FILES
        .iter()
        .map(|f| fs::read(root.join(f)).map_err(|e| format!("read {f}: {e}")))
        .collect::<Result<_, _>>()?;
    let answered = AtomicUsize::new(0);
    let (half_tx, half_rx) = mpsc::channel::<()>();
    let mut a = backends.remove(0);
    let b = backends.remove(0);
    let (results, a_exit) = thread::scope(|s| {
        let handles: Vec<_> = (0..N_THREADS)
            .map(|t| {
                let (expected, answered, half_tx) = (&expected, &answered, half_tx.clone());
                s.spawn(move || client_thread(t, lb_addr, expected, answered, &half_tx))
            })
            .collect();
        drop(half_tx);
        let a_exit = half_rx
            .recv_timeout(LOAD_TIMEOUT)
            .map_err(|_| "the load never reached half way".to_string())
            .and_then(|()| a.signal("TERM"))
            .and_then(|()| {
                a.wait_exit(PROCESS_TIMEOUT)
                    .ok_or_else(|| format!("A still running {PROCESS_TIMEOUT:?} after SIGTERM"))
            });
        let results: Vec<ThreadResult> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| ThreadResult::panicked()))
            .collect();
        (results, a_exit)
    });
    let a_exit = a_exit?;
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.failures).collect();
    ensure!(
        failures.is_empty(),
        "{} of {N_OPS} requests through nginx failed; first: {:?}",
        failures.len(),
        failures.iter().take(5).collect::<Vec<_>>()
    );
    ensure!(
        a_exit.success(),
        "A exited with {a_exit} after SIGTERM; stderr tail: {}",
        a.log_tail()
    );
    ensure!(
        a.log_contains("Shutting down server...", Duration::ZERO),
        "A logged no 'Shutting down server...'; tail: {}",
        a.log_tail()
    );

    // Every upload exactly once, as its 201 said, and nothing else.
    let uploads: BTreeMap<usize, String> = results
        .iter()
        .flat_map(|r| r.uploads.iter().cloned())
        .collect();
    ensure!(
        uploads.len() == N_UPLOADS,
        "{} distinct uploads answered, expected {N_UPLOADS}",
        uploads.len()
    );
    let names: BTreeSet<String> = uploads
        .values()
        .map(|p| p.trim_start_matches("/uploads/").to_string())
        .collect();
    ensure!(
        names.len() == N_UPLOADS,
        "two uploads were given the same name: {} names for {N_UPLOADS} uploads",
        names.len()
    );
    let on_disk: BTreeSet<String> = b.uploads().into_iter().collect();
    ensure!(
        on_disk == names,
        "uploads/ holds {} files, expected the {N_UPLOADS} named in the 201s; extra: {:?}, \
         missing: {:?}",
        on_disk.len(),
        on_disk.difference(&names).take(5).collect::<Vec<_>>(),
        names.difference(&on_disk).take(5).collect::<Vec<_>>()
    );
    for (n, path) in &uploads {
        let stored = fs::read(root.join(path.trim_start_matches('/')))
            .map_err(|e| format!("read {path}: {e}"))?;
        ensure!(
            stored == upload_body(*n),
            "{path} holds {:?}, expected the body of upload {n}",
            String::from_utf8_lossy(&stored)
        );
    }

    // Forwarded addresses, through nginx and directly.
    let xff = "X-Forwarded-For: 203.0.113.5\r\n";
    probe(lb_addr, "/index.html?probe=via-nginx", xff)?;
    let forged = "X-Forwarded-For: 198.51.100.1\r\n";
    probe(b.addr, "/index.html?probe=direct-trusted", forged)?;
    probe(untrusted.addr, "/index.html?probe=direct-untrusted", forged)?;
    let wait = LOG_WAIT;
    ensure!(
        file_contains(&logs[1], "probe=direct-trusted", wait)
            && file_contains(&untrusted_log, "probe=direct-untrusted", wait),
        "the probes are not in {} and {}",
        logs[1].display(),
        untrusted_log.display()
    );
    let a_lines = read_log(&logs[0])?;
    let b_lines = read_log(&logs[1])?;
    let client_of = |lines: &[LogLine], probe: &str| {
        lines
            .iter()
            .find(|l| l.target.ends_with(probe))
            .map(|l| l.client.clone())
    };
    let via_nginx = client_of(&b_lines, "probe=via-nginx");
    ensure!(
        via_nginx.as_deref() == Some("203.0.113.5"),
        "through nginx with X-Forwarded-For: 203.0.113.5, B logged client {via_nginx:?}"
    );
    let direct = client_of(&b_lines, "probe=direct-trusted");
    ensure!(
        direct.as_deref() == Some("198.51.100.1"),
        "B, trusting 127.0.0.1, logged client {direct:?} for a forged header from 127.0.0.1"
    );
    let untrusted_client = client_of(&read_log(&untrusted_log)?, "probe=direct-untrusted")
        .map(|c| ip_of(&c).to_string());
    ensure!(
        untrusted_client.as_deref() == Some("127.0.0.1"),
        "httpd without --trusted-proxy logged client {untrusted_client:?}, not its peer"
    );

    // Each load request logged once, by A or B, from 127.0.0.1.
    let is_load = |l: &&LogLine| !l.target.contains("probe=");
    let is_ok = |l: &&&LogLine| l.status == 200 || l.status == 201;
    let a_load: Vec<&LogLine> = a_lines.iter().filter(is_load).collect();
    let b_load: Vec<&LogLine> = b_lines.iter().filter(is_load).collect();
    let (n_a, n_b) = (
        a_load.iter().filter(is_ok).count(),
        b_load.iter().filter(is_ok).count(),
    );
    let others: Vec<String> = a_load
        .iter()
        .chain(&b_load)
        .filter(|l| !is_ok(l))
        .map(|l| format!("{} {}", l.status, l.target))
        .collect();
    ensure!(
        n_a + n_b == N_OPS,
        "A and B logged {} successful load requests, expected {N_OPS} (other lines: {others:?})",
        n_a + n_b
    );
    ensure!(
        n_a > 0 && n_b > 0,
        "A served {n_a} and B {n_b} load requests: nginx did not balance"
    );
    let strangers: Vec<&str> = a_load
        .iter()
        .chain(&b_load)
        .map(|l| l.client.as_str())
        .filter(|c| ip_of(c) != "127.0.0.1")
        .collect();
    ensure!(
        strangers.is_empty(),
        "load requests logged with clients {:?}",
        strangers.iter().take(5).collect::<Vec<_>>()
    );

    let stopped = lb.stop().map_err(|e| format!("nginx after SIGQUIT: {e}"))?;
    ensure!(stopped.success(), "nginx exited with {stopped}");
    let error_log = fs::read_to_string(nginx_dir.join("error.log")).unwrap_or_default();
    let count = |needle: &str| error_log.matches(needle).count();
    let summary = format!(
        "requests through nginx: {N_OPS} ({} GETs, {N_UPLOADS} uploads), {N_THREADS} client \
         threads, all answered 200/201\n\
         served by A (SIGTERM after {} answers; {a_exit}): {n_a}\n\
         served by B: {n_b}\n\
         other backend answers hidden by nginx: {others:?}\n\
         nginx error log: {} connect() refused, {} upstream closed/reset, {} upstream \
         marked failed\n",
        N_OPS - N_UPLOADS,
        N_OPS / 2,
        count("(111: Connection refused)"),
        count("upstream prematurely closed") + count("(104: Connection reset by peer)"),
        count("upstream server temporarily disabled"),
    );
    let summary_path = ctx.paths.e2e_dir.join("balancer-summary.txt");
    fs::write(&summary_path, &summary)
        .map_err(|e| format!("write {}: {e}", summary_path.display()))?;
    eprintln!("e2e: balancer: {}", summary.trim().replace('\n', "; "));
    Ok(())
}

// ---------------------------------------------------------------------------
// The load

/// What one client thread saw.
#[derive(Default)]
struct ThreadResult {
    failures: Vec<String>,
    /// Upload number and the filepath its 201 gave.
    uploads: Vec<(usize, String)>,
}

impl ThreadResult {
    fn panicked() -> ThreadResult {
        ThreadResult {
            failures: vec!["client thread panicked".to_string()],
            uploads: Vec::new(),
        }
    }
}

fn upload_body(n: usize) -> Vec<u8> {
    format!("{{\"n\": {n}}}").into_bytes()
}

/// Sends requests `t`, `t + N_THREADS`, ... of the load on keep-alive
/// connections to nginx; tells `half` when the load's middle request is done.
fn client_thread(
    t: usize,
    lb: SocketAddr,
    expected: &[Vec<u8>],
    answered: &AtomicUsize,
    half: &mpsc::Sender<()>,
) -> ThreadResult {
    let host = lb.to_string();
    let mut result = ThreadResult::default();
    let mut conn: Option<Conn> = None;
    for k in (t..N_OPS).step_by(N_THREADS) {
        let upload = (k % UPLOAD_EVERY == UPLOAD_EVERY - 1).then_some(k / UPLOAD_EVERY);
        let raw = match upload {
            Some(n) => client::post("/upload", &host, JSON, &upload_body(n), ""),
            None => client::get(&format!("/{}", FILES[k % FILES.len()]), &host, ""),
        };
        let outcome = exchange(&mut conn, lb, &raw).and_then(|resp| match upload {
            Some(n) => created(&resp).map(|path| result.uploads.push((n, path))),
            None => {
                let file = k % FILES.len();
                ensure!(
                    resp.status == 200 && resp.body == expected[file],
                    "GET /{}: {}",
                    FILES[file],
                    resp.summary()
                );
                Ok(())
            }
        });
        if let Err(e) = outcome {
            result.failures.push(format!("request {k}: {e}"));
            conn = None;
        }
        if answered.fetch_add(1, Ordering::SeqCst) + 1 == N_OPS / 2 {
            let _ = half.send(());
        }
    }
    result
}

/// Sends `raw` on the open connection (a new one if there is none) and
/// reads the response; drops the connection when the response closes it.
fn exchange(conn: &mut Option<Conn>, addr: SocketAddr, raw: &[u8]) -> Result<Response, String> {
    let mut c = match conn.take() {
        Some(c) => c,
        None => Conn::connect(addr)?,
    };
    c.send_all(raw)?;
    let resp = c.read_response(false)?;
    if !resp.has_connection_token("close") {
        *conn = Some(c);
    }
    Ok(resp)
}

/// Checks a 201 and returns its `filepath`.
fn created(resp: &Response) -> Result<String, String> {
    ensure!(resp.status == 201, "upload: {}", resp.summary());
    let json: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| format!("201 body is not JSON ({e}): {}", resp.summary()))?;
    let path = json["filepath"]
        .as_str()
        .ok_or_else(|| format!("no filepath: {}", resp.summary()))?;
    ensure!(
        path.starts_with("/uploads/upload_") && path.ends_with(".json"),
        "odd filepath {path:?}"
    );
    Ok(path.to_string())
}

/// One GET of `target` with `extra` header lines, on its own connection.
fn probe(addr: SocketAddr, target: &str, extra: &str) -> Outcome {
    let host = addr.to_string();
    let (_, resp) = client::exchange(addr, &client::get(target, &host, extra))?;
    ensure!(resp.status == 200, "GET {target}: {}", resp.summary());
    Ok(())
}

// ---------------------------------------------------------------------------
// Access logs

/// The fields of a JSON access line that the scenario reads.
#[derive(Debug)]
struct LogLine {
    client: String,
    target: String,
    status: u64,
}

/// Reads a JSON access log. httpd currently writes a timestamp and a space
/// before each object (reported as a bug); the object is read from its `{`.
fn read_log(path: &Path) -> Result<Vec<LogLine>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let object = &line[line.find('{').unwrap_or(0)..];
            let json: Value = serde_json::from_str(object)
                .map_err(|e| format!("{}: not a JSON line ({e}): {line:?}", path.display()))?;
            let text = |key: &str| {
                json[key]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{}: no {key} in {line:?}", path.display()))
            };
            Ok(LogLine {
                client: text("client")?,
                target: text("target")?,
                status: json["status"]
                    .as_u64()
                    .ok_or_else(|| format!("{}: no status in {line:?}", path.display()))?,
            })
        })
        .collect()
}

/// Returns the address of a logged client, without a `:port`.
fn ip_of(client: &str) -> &str {
    match client.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => client,
    }
}

// ---------------------------------------------------------------------------
// The README's configuration

/// Reads the `sh` and `nginx` blocks of the README's [`SECTION`].
fn read_deployment(readme: &Path) -> Result<Deployment, String> {
    let text = fs::read_to_string(readme).map_err(|e| format!("read {}: {e}", readme.display()))?;
    let start = text
        .find(&format!("\n{SECTION}\n"))
        .ok_or_else(|| format!("{} has no section {SECTION:?}", readme.display()))?;
    let section = &text[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let block = |lang: &str| -> Result<&str, String> {
        let open = format!("```{lang}\n");
        let from = section
            .find(&open)
            .ok_or_else(|| format!("no ```{lang} block in {SECTION:?}"))?
            + open.len();
        let len = section[from..]
            .find("```")
            .ok_or_else(|| format!("unclosed ```{lang} block"))?;
        Ok(&section[from..from + len])
    };
    let backends: Vec<Vec<String>> = block("sh")?
        .replace("\\\n", " ")
        .lines()
        .filter(|l| l.trim_start().starts_with("httpd "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|w| w.trim_matches('\'').to_string())
                .collect()
        })
        .collect();
    ensure!(
        backends.len() == 2,
        "the ```sh block of {SECTION:?} has {} httpd lines, expected 2",
        backends.len()
    );
    Ok(Deployment {
        backends,
        nginx: block("nginx")?.to_string(),
    })
}

/// Returns a README command line with port 0, `root` and `log` swapped in,
/// and the address it listened on in the README.
fn backend_args(line: &[String], root: &Path, log: &Path) -> Result<(Vec<String>, String), String> {
    let mut args = line.to_vec();
    let mut listen = None;
    for (flag, value) in [
        ("--listen", "127.0.0.1:0".to_string()),
        ("--root", root.display().to_string()),
        ("--access-log", log.display().to_string()),
    ] {
        let i = args
            .iter()
            .position(|a| a == flag)
            .filter(|i| i + 1 < args.len())
            .ok_or_else(|| format!("README command line {line:?} lacks {flag} VALUE"))?;
        let old = std::mem::replace(&mut args[i + 1], value);
        if flag == "--listen" {
            listen = Some(old);
        }
    }
    Ok((args, listen.unwrap_or_default()))
}

/// Replaces `from` (which must occur) by `to` everywhere in `text`.
fn swap(text: &str, from: &str, to: &str) -> Result<String, String> {
    ensure!(
        text.contains(from),
        "the README's nginx block lacks {from:?}"
    );
    Ok(text.replace(from, to))
}

// ---------------------------------------------------------------------------
// nginx

/// Writes `dir/nginx.conf` around `site` (the README's blocks) and starts nginx
/// in the foreground on `port`; ready once its worker runs, stopped with SIGQUIT
/// (then SIGKILL) on drop.
fn start_nginx(program: &Path, dir: &Path, site: &str, port: u16) -> Result<Server, String> {
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let d = dir.display();
    // As root, workers would run as nobody; keep them able to use the
    // temporary directories of this run.
    let user = if common::is_root() {
        "user root;\n"
    } else {
        ""
    };
    let site: String = site.lines().map(|l| format!("    {l}\n")).collect();
    let conf = format!(
        "# Written by cargo xtask e2e (balancer/); the http block's last part is the\n\
         # README's \"Deployment behind a load balancer\" configuration.\n\
         {user}daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log notice;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20   access_log {d}/access.log;\n\
         \x20   client_body_temp_path {d}/client_body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         {site}\
         }}\n"
    );
    let conf_path = dir.join("nginx.conf");
    fs::write(&conf_path, conf).map_err(|e| format!("write {}: {e}", conf_path.display()))?;
    let mut command = Command::new(program);
    command
        .arg("-p")
        .arg(format!("{d}/"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .current_dir(dir);
    // The master binds before it starts its worker; connections wait in the
    // backlog until the worker accepts them.
    let launch = Launch {
        name: "balancer-nginx".to_string(),
        root: dir.to_path_buf(),
        log_path: dir.join("nginx.out"),
        access_path: dir.join("nginx.stdout"),
        ready: Ready::LogLine {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log: dir.join("error.log"),
            needle: "start worker process".to_string(),
        },
        stop: Stop::Signal("QUIT", PROCESS_TIMEOUT),
    };
    Server::start(command, launch).map_err(|e| format!("nginx on port {port}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_clients_lose_their_port() {
        assert_eq!(ip_of("127.0.0.1:5042"), "127.0.0.1");
        assert_eq!(ip_of("203.0.113.5"), "203.0.113.5");
        assert_eq!(ip_of("[::1]:80"), "[::1]:80");
        assert_eq!(ip_of("::1"), "::1");
    }

    #[test]
    fn backend_lines_get_their_ports_and_paths_swapped() {
        let line: Vec<String> = "--listen 127.0.0.1:8081 --root /srv/www --access-log /a.log"
            .split(' ')
            .map(str::to_string)
            .collect();
        let (args, listen) = backend_args(&line, Path::new("/r"), Path::new("/l")).unwrap();
        assert_eq!(listen, "127.0.0.1:8081");
        assert_eq!(
            args,
            [
                "--listen",
                "127.0.0.1:0",
                "--root",
                "/r",
                "--access-log",
                "/l"
            ]
        );
        assert!(backend_args(&line[..4], Path::new("/r"), Path::new("/l")).is_err());
    }
}
