//! Caps on clients: open connections (overall and per address) and a request rate per
//! address. Shared by every thread that admits connections or requests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Most client addresses a [`RateLimiter`] remembers; beyond it, idle entries are
/// dropped.
pub const MAX_TRACKED_CLIENTS: usize = 65_536;

/// Counts open connections against two caps: all of them, and those of one client
/// address; both are checked and counted under one lock, so admitters running at
/// the same moment cannot overshoot either.
///
/// # Examples
/// ```
/// use httpd_security::{Admission, Refusal};
///
/// let caps = Admission::default();
/// let ip = "192.0.2.1".parse().unwrap();
/// assert!(caps.admit(ip, 10, 1).is_ok());
/// assert_eq!(caps.admit(ip, 10, 1), Err(Refusal::PerAddr(1)));
/// caps.release(ip);
/// assert_eq!(caps.n_open(), 0);
/// ```
#[derive(Debug, Default)]
pub struct Admission {
    open: AtomicUsize,
    /// Open connections per client address (entries are removed at zero).
    per_addr: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a new connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The cap on all connections; this many were open.
    Full(usize),
    /// The cap per address; this address held this many.
    PerAddr(usize),
}

impl Admission {
    /// Counts a new connection from `ip` unless a cap is reached.
    ///
    /// # Errors
    /// The cap that refused it.
    pub fn admit(
        &self,
        ip: IpAddr,
        max_connections: usize,
        max_per_addr: usize,
    ) -> Result<(), Refusal> {
        let mut per_addr = self.lock();
        let open = self.open.load(Ordering::Relaxed);
        if open >= max_connections {
            return Err(Refusal::Full(open));
        }
        let held = per_addr.get(&ip).copied().unwrap_or(0);
        if held >= max_per_addr {
            return Err(Refusal::PerAddr(held));
        }
        per_addr.insert(ip, held + 1);
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Uncounts a closed connection from `ip`.
    pub fn release(&self, ip: IpAddr) {
        let mut per_addr = self.lock();
        if let Some(n) = per_addr.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                per_addr.remove(&ip);
            }
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Connections open now.
    pub fn n_open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // The map stays consistent whatever a panicking holder did between two
        // statements: each update is one insert or remove.
        self.per_addr.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A token bucket per client address: `per_second` requests a second, with bursts
/// of twice that.
///
/// # Examples
/// ```
/// use std::time::Instant;
///
/// use httpd_security::RateLimiter;
///
/// let limiter = RateLimiter::new(1);
/// let ip = "192.0.2.1".parse().unwrap();
/// let now = Instant::now();
/// assert!(limiter.check(ip, now).is_ok());
/// assert!(limiter.check(ip, now).is_ok());
/// assert!(limiter.check(ip, now).is_err());
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter of `per_second` requests a second (at least 1).
    pub fn new(per_second: u32) -> RateLimiter {
        let per_second = f64::from(per_second.max(1));
        RateLimiter {
            per_second,
            burst: per_second * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`.
    ///
    /// # Errors
    /// How long until a token is free.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            // Forget clients whose bucket has refilled: they lose nothing by it.
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, at)| now.saturating_duration_since(*at) < full_after);
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        let refill = now.saturating_duration_since(*at).as_secs_f64() * self.per_second;
        *tokens = (*tokens + refill).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_both_caps_and_releases() {
        let a = Admission::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(a.admit(ip, 3, 2).is_ok());
        assert!(a.admit(ip, 3, 2).is_ok());
        assert_eq!(a.admit(ip, 3, 2), Err(Refusal::PerAddr(2)));
        assert!(a.admit(other, 3, 2).is_ok());
        assert_eq!(a.admit(other, 3, 2), Err(Refusal::Full(3)));
        a.release(ip);
        assert_eq!(a.n_open(), 2);
        assert!(a.admit(other, 3, 2).is_ok());
        // Releasing an address never admitted changes nothing.
        a.release("10.0.0.1".parse().unwrap());
        assert_eq!(a.n_open(), 3);
    }

    #[test]
    fn the_caps_hold_across_threads() {
        let a = Admission::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..100).filter(|_| a.admit(ip, 1000, 50).is_ok()).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 50);
        assert_eq!(a.n_open(), 50);
    }

    #[test]
    fn token_bucket_allows_burst_then_refills() {
        let limiter = RateLimiter::new(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        let wait = limiter.check(ip, t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500));
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_ok());
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(limiter.check(other, t0).is_ok());
    }
}
