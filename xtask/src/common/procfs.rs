//! What `/proc` tells about a server process: resident memory, open
//! descriptors, CPU time, children. Linux only; every reader returns an error
//! or `None` when the process is gone.

use std::fmt;
use std::fs;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// What a process holds: resident memory, open descriptors, threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `VmRSS` in KiB.
    pub rss_kib: u64,
    /// Entries of `/proc/PID/fd`.
    pub n_fds: usize,
    /// How many of them are directories. httpd keeps one descriptor of its
    /// docroot per thread, opened the first time that thread serves a file, so
    /// these grow with how many threads have worked, up to one per thread.
    pub n_dir_fds: usize,
    /// `Threads:` of `/proc/PID/status`.
    pub n_threads: usize,
}

impl Usage {
    /// Tells whether `self` is within the slack of `baseline`: descriptors other
    /// than directories at most `fd_slack` more, directories at most one per
    /// thread (or as many as at the baseline), RSS at most `rss_slack_kib` more.
    pub fn is_within(&self, baseline: Usage, fd_slack: usize, rss_slack_kib: u64) -> bool {
        let others = self.n_fds - self.n_dir_fds;
        let baseline_others = baseline.n_fds - baseline.n_dir_fds;
        others <= baseline_others + fd_slack
            && self.n_dir_fds <= baseline.n_dir_fds.max(self.n_threads)
            && self.rss_kib <= baseline.rss_kib + rss_slack_kib
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} fds ({} directories, {} threads), RSS {} KiB",
            self.n_fds, self.n_dir_fds, self.n_threads, self.rss_kib
        )
    }
}

/// Reads the resident memory and open descriptors of process `pid` from `/proc`.
///
/// # Errors
/// When `/proc/PID` cannot be read (the process is gone, or this is not Linux).
pub fn usage(pid: u32) -> Result<Usage, String> {
    let status_path = format!("/proc/{pid}/status");
    let status =
        fs::read_to_string(&status_path).map_err(|e| format!("read {status_path}: {e}"))?;
    let rss_kib = vm_rss_kib(&status).ok_or_else(|| format!("no VmRSS line in {status_path}"))?;
    let n_threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Threads line in {status_path}"))?;
    let fd_dir = format!("/proc/{pid}/fd");
    let (mut n_fds, mut n_dir_fds) = (0, 0);
    for entry in fs::read_dir(&fd_dir).map_err(|e| format!("read {fd_dir}: {e}"))? {
        n_fds += 1;
        // The link names what the descriptor is open on; one closed meanwhile is
        // simply not a directory.
        let is_dir = entry
            .ok()
            .and_then(|e| fs::metadata(e.path()).ok())
            .is_some_and(|m| m.is_dir());
        if is_dir {
            n_dir_fds += 1;
        }
    }
    Ok(Usage {
        rss_kib,
        n_fds,
        n_dir_fds,
        n_threads,
    })
}

/// Reads `VmRSS` of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    vm_rss_kib(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Reads `VmHWM` of `pid`, the peak of its resident memory since it started, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmHWM:",
    )
}

fn vm_rss_kib(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

/// Reads the KiB figure of the `/proc/PID/status` line that starts with `label`.
fn status_kib(status: &str, label: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// How a wait for the resources to return to their baseline ended.
#[derive(Debug)]
pub struct Settled {
    /// The last sample.
    pub usage: Usage,
    /// Whether it is within the slack.
    pub is_within: bool,
    /// How long the wait took.
    pub waited: Duration,
}

/// Samples `pid` every 100 ms until its usage is within the slack of `baseline`, at
/// most `limit`.
///
/// # Errors
/// When `/proc/PID` cannot be read.
pub fn settle(
    pid: u32,
    baseline: Usage,
    fd_slack: usize,
    rss_slack_kib: u64,
    limit: Duration,
) -> Result<Settled, String> {
    let started = Instant::now();
    loop {
        let now = usage(pid)?;
        let is_within = now.is_within(baseline, fd_slack, rss_slack_kib);
        if is_within || started.elapsed() >= limit {
            return Ok(Settled {
                usage: now,
                is_within,
                waited: started.elapsed(),
            });
        }
        // Polling: the kernel offers no event for "a descriptor was closed".
        thread::sleep(Duration::from_millis(100));
    }
}

/// Lists the processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| parent_of(child) == Some(pid))
        .collect()
}

/// Returns the parent process id of `pid` (`PPid:` of `/proc/PID/status`).
pub fn parent_of(pid: u32) -> Option<u32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|p| p.trim().parse().ok())
}

/// Returns the command name of `pid` (`/proc/PID/comm`).
pub fn command_name(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Returns the user plus system CPU time of process `pid` (all its threads), in
/// clock ticks: fields 14 and 15 of `/proc/PID/stat`.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_stat_cpu_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Returns clock ticks per second (`getconf CLK_TCK`, 100 when that fails: the
/// value of every common Linux build).
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// Reads utime + stime from a `/proc/PID/stat` line. The command name (field 2)
/// is in parentheses and may hold spaces, so fields are counted after its `)`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so utime (14) and stime (15) are the
    // 12th and 13th fields from here.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_of_this_process_is_read_from_proc() {
        let dir = fs::File::open(std::env::temp_dir()).unwrap();
        let u = usage(std::process::id()).unwrap();
        assert!(
            u.n_fds >= 4 && u.n_dir_fds >= 1 && u.n_threads >= 1 && u.rss_kib > 0,
            "{u}"
        );
        drop(dir);
        let base = Usage {
            rss_kib: 1000,
            n_fds: 10,
            n_dir_fds: 2,
            n_threads: 6,
        };
        assert!(base.is_within(base, 0, 0));
        assert!(!Usage { n_fds: 11, ..base }.is_within(base, 0, 0));
        // Directory handles may grow to one per thread, and no further.
        let dirs = |n: usize| Usage {
            n_fds: 8 + n,
            n_dir_fds: n,
            ..base
        };
        assert!(dirs(6).is_within(base, 0, 0));
        assert!(!dirs(7).is_within(base, 0, 0));
        assert!(
            Usage {
                rss_kib: 1016,
                ..base
            }
            .is_within(base, 0, 16)
        );
    }

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("1234 (x) S 1"), None);
        assert!(cpu_ticks(std::process::id()).is_some());
        let (rss, peak) = (
            rss_kib(std::process::id()),
            peak_rss_kib(std::process::id()),
        );
        assert!(
            rss.is_some_and(|r| peak.is_some_and(|p| p >= r)),
            "{rss:?} {peak:?}"
        );
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }
}
