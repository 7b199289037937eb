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

    /// Each of the 64 bits is set in about half of many draws. A counter, a clock,
    /// or any value with fixed or rarely changing bits fails this.
    #[test]
    fn every_bit_is_set_about_half_of_the_time() {
        const N: u32 = 4096;
        let mut ones = [0u32; 64];
        for _ in 0..N {
            let value = random_u64();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += u32::from(value >> bit & 1 == 1);
            }
        }
        for (bit, &count) in ones.iter().enumerate() {
            // Binomial(4096, 1/2) has a standard deviation of 32: 10 of them either
            // side is never crossed by chance.
            assert!(
                (N / 2 - 320..=N / 2 + 320).contains(&count),
                "bit {bit} set in {count} of {N} draws"
            );
        }
    }

    /// Successive values share no fixed relation: every XOR of neighbours differs.
    /// A counter, or a generator stepping by a constant, gives few distinct ones.
    #[test]
    fn successive_values_are_unrelated() {
        let values: Vec<u64> = (0..1000).map(|_| random_u64()).collect();
        let xors: HashSet<u64> = values.windows(2).map(|w| w[0] ^ w[1]).collect();
        assert_eq!(xors.len(), values.len() - 1);
    }
}
