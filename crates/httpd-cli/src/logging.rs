//! The only `fern::Dispatch`: diagnostics to stderr, access lines to stdout or a file.

use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use log::LevelFilter;

/// Why the logger could not be installed.
#[derive(Debug)]
pub enum LogError {
    /// The access log file could not be opened.
    AccessLog(std::io::Error),
    /// A logger was already installed.
    Installed(log::SetLoggerError),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogError::AccessLog(_) => "cannot open the access log",
            LogError::Installed(_) => "cannot install the logger",
        })
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::AccessLog(e) => Some(e),
            LogError::Installed(e) => Some(e),
        }
    }
}

/// Installs the logger: diagnostics at `level` to stderr as
/// `2026-01-02T03:04:05.678Z INFO  target: message`, and every access line (target
/// `access`, level info) to `access_log` or stdout, whatever `level` says.
///
/// # Errors
/// [`LogError`] when the access log cannot be opened or a logger exists.
pub fn install(level: LevelFilter, access_log: Option<&Path>) -> Result<(), LogError> {
    let diagnostics = fern::Dispatch::new()
        .level(level)
        .filter(|meta| meta.target() != "access")
        .format(|out, message, record| {
            out.finish(format_args!(
                "{} {:<5} {}: {}",
                humantime::format_rfc3339_millis(SystemTime::now()),
                record.level(),
                record.target(),
                message
            ))
        })
        .chain(std::io::stderr());
    let access = fern::Dispatch::new()
        .level(LevelFilter::Info)
        .filter(|meta| meta.target() == "access")
        .format(|out, message, _| {
            out.finish(format_args!(
                "{} {}",
                humantime::format_rfc3339_millis(SystemTime::now()),
                message
            ))
        });
    let access = match access_log {
        Some(path) => access.chain(fern::log_file(path).map_err(LogError::AccessLog)?),
        None => access.chain(std::io::stdout()),
    };
    fern::Dispatch::new()
        .level(level.max(LevelFilter::Info))
        .chain(diagnostics)
        .chain(access)
        .apply()
        .map_err(LogError::Installed)
}
