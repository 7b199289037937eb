//! The only `fern::Dispatch`: diagnostics to stderr, access lines to stdout or a file
//! that [`AccessLog::reopen`] opens again at its path (SIGHUP, after logrotate renamed it).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use log::LevelFilter;
use parking_lot::Mutex;

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

/// The access log file, appended to, which can be reopened at the same path.
///
/// Clones share the file: the logger writes through one, the signal thread reopens
/// through another. A record is the bytes written between two flushes (fern flushes
/// after every line); the file opened by [`AccessLog::reopen`] takes over at the start of
/// the next record, so a line is never split between the old file and the new one.
#[derive(Clone, Debug)]
pub struct AccessLog {
    path: PathBuf,
    /// Held only to write, flush or swap a file, never while opening one.
    state: Arc<Mutex<LogState>>,
}

#[derive(Debug)]
struct LogState {
    current: BufWriter<File>,
    /// Opened by `reopen`, waiting for the next record to start.
    next: Option<BufWriter<File>>,
    /// Bytes of a record were written and not yet flushed.
    mid_record: bool,
}

impl AccessLog {
    /// Opens (creating it if need be) the file at `path` for appending.
    ///
    /// # Errors
    /// The `io::Error` of opening the file.
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        let state = LogState {
            current: BufWriter::new(open_append(path)?),
            next: None,
            mid_record: false,
        };
        Ok(AccessLog {
            path: path.to_path_buf(),
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// Returns the path the file is opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again (creating the file, as after logrotate renamed it); every
    /// record that starts from now on goes there.
    ///
    /// # Errors
    /// The `io::Error` of opening the file; records keep going to the old one.
    pub fn reopen(&self) -> io::Result<()> {
        // Opened before the lock is taken, so writers never wait on the file system.
        let fresh = BufWriter::new(open_append(&self.path)?);
        self.state.lock().next = Some(fresh);
        Ok(())
    }
}

impl Write for AccessLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.state.lock();
        if !state.mid_record {
            if let Some(fresh) = state.next.take() {
                // Between records the old buffer is empty: this flush only reports an
                // error left from the last one.
                let mut old = std::mem::replace(&mut state.current, fresh);
                let _ = old.flush();
            }
        }
        state.mid_record = true;
        state.current.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut state = self.state.lock();
        state.mid_record = false;
        state.current.flush()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Installs the logger: diagnostics at `level` to stderr as
/// `2026-01-02T03:04:05.678Z INFO  target: [thread] message` (no `[thread]` from
/// the main thread), and every access line (target
/// `access`, level info) to `access_log` or stdout, whatever `level` says. Returns the
/// access log file, if any, for [`AccessLog::reopen`].
///
/// # Errors
/// [`LogError`] when the access log cannot be opened or a logger exists.
pub fn install(
    level: LevelFilter,
    access_log: Option<&Path>,
) -> Result<Option<AccessLog>, LogError> {
    let diagnostics = fern::Dispatch::new()
        .level(level)
        .filter(|meta| meta.target() != "access")
        .format(|out, message, record| {
            // The thread that wrote the line, as the seed's `[Thread-1]`: a poller
            // (`httpd-poll-2`), a worker (`httpd-worker-3`), the signal thread; the main
            // thread's startup and shutdown lines go without.
            let thread = std::thread::current();
            match thread.name() {
                Some(name) if name != "main" => out.finish(format_args!(
                    "{} {:<5} {}: [{name}] {}",
                    humantime::format_rfc3339_millis(SystemTime::now()),
                    record.level(),
                    record.target(),
                    message
                )),
                _ => out.finish(format_args!(
                    "{} {:<5} {}: {}",
                    humantime::format_rfc3339_millis(SystemTime::now()),
                    record.level(),
                    record.target(),
                    message
                )),
            }
        })
        .chain(
            Box::new(std::io::LineWriter::new(std::io::stderr())) as Box<dyn std::io::Write + Send>
        );
    let access = fern::Dispatch::new()
        .level(LevelFilter::Info)
        .filter(|meta| meta.target() == "access")
        // The server formats the whole line (timestamp included where the format has
        // one), so JSON and the NCSA formats stay exactly what their readers expect.
        .format(|out, message, _| out.finish(format_args!("{message}")));
    let file = access_log
        .map(AccessLog::open)
        .transpose()
        .map_err(LogError::AccessLog)?;
    let access = match &file {
        // fern flushes after every record, so each line is written whole.
        Some(file) => access.chain(Box::new(file.clone()) as Box<dyn Write + Send>),
        None => access.chain(std::io::stdout()),
    };
    fern::Dispatch::new()
        .level(level.max(LevelFilter::Info))
        .chain(diagnostics)
        .chain(access)
        .apply()
        .map_err(LogError::Installed)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_writes_to_a_fresh_file_at_the_path() {
        let dir = std::env::temp_dir().join(format!("httpd-cli-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let rotated = dir.join("access.log.1");
        let _ = std::fs::remove_file(&path);
        let mut log = AccessLog::open(&path).unwrap();
        log.write_all(b"old\n").unwrap();
        log.flush().unwrap();
        std::fs::rename(&path, &rotated).unwrap();
        // A record in progress when the file is reopened still ends in the old file.
        log.write_all(b"la").unwrap();
        log.reopen().unwrap();
        log.write_all(b"te\n").unwrap();
        log.flush().unwrap();
        log.write_all(b"new\n").unwrap();
        log.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "old\nlate\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
