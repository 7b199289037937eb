//! Unpredictable-enough numbers for file names, without a random-number crate.
//!
//! Each call hashes the clock, the process id, the thread id and a process-wide
//! counter with a freshly keyed [`RandomState`] (SipHash with per-thread random keys
//! that std advances on every `new()`). This is not cryptographic; it only has to make
//! name collisions rare, and every caller still handles a collision.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

/// Returns 64 bits that differ between calls, threads and processes.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u32(process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    thread::current().id().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn successive_values_differ() {
        let values: HashSet<u64> = (0..1000).map(|_| random_u64()).collect();
        assert_eq!(values.len(), 1000);
    }
}
