//! The `httpd` binary: parses the command line and the configuration file, installs the
//! logger and signal handling, and runs [`httpd_server::Server`] until Ctrl+C or SIGTERM.

mod activation;
mod args;
mod config;
mod logging;
mod options;

use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::iterator::Signals;

use httpd_server::Server;

use crate::args::{Command, USAGE};
use crate::logging::AccessLog;
use crate::options::{Settings, UsageError};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(e)) if e.file().is_some() => {
            eprintln!("httpd: {e}");
            ExitCode::from(2)
        }
        Err(CliError::Usage(e)) => {
            eprintln!("httpd: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(CliError::Runtime(e)) => {
            eprintln!("httpd: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(1)
        }
    }
}

/// How a run fails: bad usage (exit 2) or a runtime failure (exit 1).
#[derive(Debug)]
enum CliError {
    Usage(UsageError),
    Runtime(Box<dyn std::error::Error>),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(e) => e.fmt(f),
            CliError::Runtime(e) => e.fmt(f),
        }
    }
}

fn run() -> Result<(), CliError> {
    // First, before anything opens a descriptor: one opened earlier could take a number
    // the parent left closed, and would then be mistaken for an inherited socket.
    let inherited = activation::take_from_env().map_err(|e| CliError::Runtime(e.into()))?;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let settings = match args::parse(&argv).map_err(CliError::Usage)? {
        Command::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Command::Version => {
            println!("httpd {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Command::CheckConfig(json) => {
            println!("{json}");
            return Ok(());
        }
        Command::Serve(settings) => *settings,
    };
    serve(settings, inherited).map_err(CliError::Runtime)
}

fn serve(
    settings: Settings,
    inherited: Vec<std::net::TcpListener>,
) -> Result<(), Box<dyn std::error::Error>> {
    let Settings {
        config,
        root_display,
        log_level,
        access_log,
    } = settings;
    let access_file = logging::install(log_level, access_log.as_deref())?;
    // Registered before binding, so a signal sent as soon as the listening line appears
    // is handled rather than killing the process.
    // A write past RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the process;
    // with any handler installed the write fails with EFBIG instead, which the upload
    // path answers with 507 and cleans up after.
    signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)))?;
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let n_workers = config.n_workers;
    if !inherited.is_empty() {
        log::info!(
            "Taking over {} inherited listening socket(s)",
            inherited.len()
        );
    }
    let server = Server::bind_inheriting(config, inherited).inspect_err(|e| log::error!("{e}"))?;
    let addr = server.local_addr();

    // Tests and scripts wait for this exact line (it names the real port when 0 was asked);
    // the primary address comes first.
    for bound in server.local_addrs() {
        println!("listening on http://{bound}");
    }
    for bound in server.tls_addrs() {
        println!("listening on https://{bound}");
    }
    let _ = std::io::stdout().flush();
    log::info!("HTTP Server started on http://{addr}");
    for bound in server.tls_addrs() {
        log::info!("HTTPS on https://{bound}");
    }
    log::info!("Thread pool size: {n_workers}");
    log::info!("Serving files from '{root_display}' directory");
    log::info!("Press Ctrl+C to stop the server");

    let signal_handle = signals.handle();
    let stop = server.shutdown_handle();
    let watcher = std::thread::Builder::new()
        .name("httpd-signal".to_string())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    reopen(access_file.as_ref());
                    // Logged and counted by the server either way.
                    let _ = stop.reload_tls();
                    continue;
                }
                seen += 1;
                if seen == 1 {
                    log::debug!("signal {signal} received");
                    stop.shutdown();
                } else {
                    log::warn!("second signal: exiting at once");
                    std::process::exit(1);
                }
            }
        })?;

    let result = server.run();
    signal_handle.close();
    let _ = watcher.join();
    result?;
    log::info!("Server stopped");
    Ok(())
}

/// Reopens the access log file after SIGHUP (logrotate renamed it); without one there is
/// nothing to do.
fn reopen(access_file: Option<&AccessLog>) {
    let Some(file) = access_file else {
        log::debug!("SIGHUP: no access log file to reopen");
        return;
    };
    match file.reopen() {
        Ok(()) => log::info!("reopened access log {}", file.path().display()),
        Err(e) => log::error!("cannot reopen access log {}: {e}", file.path().display()),
    }
}
