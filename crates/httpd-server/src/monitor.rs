//! Overload reporting: the seed's pool status line (🟢/🟡/🔴), written once per change
//! of the one shared pool whichever poller sees it, and the throttled warnings for a
//! saturated pool and a full queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use httpd_pool::{Stats, ThreadPool};

use crate::Context;
use crate::jobs::Job;

/// Overload lines (pool saturated, queue full, connection cap, pool colour) are logged
/// at their level at most once per this interval; the others in between go to debug.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The seed's pool status line, logged once per change of the one shared pool's
/// colour (at most once per [`LOG_INTERVAL`] at info), whichever poller sees it.
#[derive(Debug, Default)]
pub(crate) struct PoolMonitor {
    /// The colour last logged at info: 0 none, 1 green, 2 yellow, 3 red.
    last: AtomicU32,
    throttle: parking_lot::Mutex<Throttle>,
}

impl PoolMonitor {
    fn observe(&self, stats: &Stats) {
        let (busy, workers) = (stats.n_busy, stats.n_workers);
        // Green below 70 % busy, yellow from 70 %, red when every worker is busy.
        let (code, marker) = if busy >= workers {
            (3, '🔴')
        } else if busy * 10 >= workers * 7 {
            (2, '🟡')
        } else {
            (1, '🟢')
        };
        if self.last.load(Ordering::Relaxed) == code {
            return;
        }
        let mut throttle = self.throttle.lock();
        if self.last.load(Ordering::Relaxed) == code {
            return;
        }
        let (level, _) = throttle.level(log::Level::Info);
        // A change logged at debug is not remembered, so it is logged at info later.
        if level != log::Level::Debug {
            self.last.store(code, Ordering::Relaxed);
        }
        log::log!(
            level,
            "{marker} Thread pool: {busy}/{workers} active | Queue: {}/{}",
            stats.n_queued,
            stats.queue_capacity
        );
    }
}

/// A poller's throttled overload log lines.
#[derive(Debug)]
pub(crate) struct Overload {
    monitor: Arc<Context>,
    saturated_log: Throttle,
    rejected_log: Throttle,
}

impl Overload {
    /// The overload lines of one poller of the server `ctx`.
    pub(crate) fn new(ctx: Arc<Context>) -> Overload {
        Overload {
            monitor: ctx,
            saturated_log: Throttle::default(),
            rejected_log: Throttle::default(),
        }
    }

    /// Notes the pool's state (the status line).
    pub(crate) fn observe(&mut self, stats: &Stats) {
        self.monitor.pool_monitor.observe(stats);
    }

    /// Every worker is busy: a job will wait in the queue.
    pub(crate) fn saturated(&mut self, peer: SocketAddr, stats: &Stats) {
        let (level, n_more) = self.saturated_log.level(log::Level::Warn);
        log::log!(
            level,
            "Warning: Thread pool saturated, queuing connection from {peer} ({}/{} queued){}",
            stats.n_queued,
            stats.queue_capacity,
            n_more
        );
    }

    /// The queue is full: a job was refused.
    pub(crate) fn rejected(&mut self, peer: SocketAddr, pool: &ThreadPool<Job>) {
        let (level, n_more) = self.rejected_log.level(log::Level::Warn);
        log::log!(
            level,
            "queue full ({}/{}): 503 for {peer}{}",
            pool.n_queued(),
            pool.queue_capacity(),
            n_more
        );
    }
}

/// Lets one line of a kind through at its level per [`LOG_INTERVAL`], and counts the
/// ones sent to debug in between.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last: Option<Instant>,
    n_suppressed: u64,
}

impl Throttle {
    /// Returns the level for the next line (`level`, or debug) and, with `level`, a
    /// suffix telling how many lines went to debug since the last one.
    pub(crate) fn level(&mut self, level: log::Level) -> (log::Level, String) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_INTERVAL)
        {
            self.n_suppressed += 1;
            return (log::Level::Debug, String::new());
        }
        self.last = Some(now);
        let suffix = match std::mem::take(&mut self.n_suppressed) {
            0 => String::new(),
            n => format!(" (and {n} more at debug)"),
        };
        (level, suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_line_through_per_interval() {
        let mut throttle = Throttle::default();
        assert_eq!(
            throttle.level(log::Level::Warn),
            (log::Level::Warn, String::new())
        );
        for _ in 0..3 {
            assert_eq!(throttle.level(log::Level::Warn).0, log::Level::Debug);
        }
        // As if the interval had passed: the next line is let through with the count.
        throttle.last = Instant::now().checked_sub(LOG_INTERVAL);
        assert_eq!(
            throttle.level(log::Level::Warn),
            (log::Level::Warn, " (and 3 more at debug)".to_string())
        );
        assert_eq!(throttle.level(log::Level::Warn).0, log::Level::Debug);
    }
}
