//! A hashed timer wheel of connection deadlines: O(1) to arm, nothing to cancel.
//!
//! Each connection has at most one deadline, kept in the connection itself; the wheel
//! only remembers *which slot to look in*. A slot is a span of [`TICK`]; a connection
//! is filed under the slot of its deadline. Moving a deadline later costs nothing:
//! the old entry fires early, the owner sees that the real deadline is still ahead and
//! files the connection again. Moving it earlier files a second entry; the first one
//! then fires for a connection that is no longer filed there and is skipped, because
//! the connection remembers the one slot it is filed under ([`Armed`]) and
//! [`Wheel::settle`] tells a current entry from a stale one. So the wheel
//! never needs to find and remove an entry, and arming on every request costs a
//! comparison and, at most, one push onto a vector that keeps its capacity.
//!
//! Deadlines farther away than the wheel's span are filed in the slot they wrap to and
//! simply re-filed when that slot comes round early. Precision is one [`TICK`]: a
//! deadline fires at most one tick late, which is plenty for idle, head, body and
//! write timeouts of seconds.

use std::time::{Duration, Instant};

/// The span of one slot.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Slots in the wheel: with [`TICK`] of 10 ms, one turn covers 40.96 s, so the default
/// timeouts (10 s, 30 s) are filed without wrapping.
const N_SLOTS: usize = 4096;

/// Where a connection is filed, kept by the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Armed {
    /// The tick of the slot the connection is filed under, if any.
    tick: Option<u64>,
}

/// The wheel: slots of connection keys, and the clock origin that numbers the ticks.
#[derive(Debug)]
pub(crate) struct Wheel {
    origin: Instant,
    slots: Vec<Vec<usize>>,
    /// Every tick before this one has been taken.
    next_tick: u64,
    /// No entry is filed under a tick before this one: a lower bound that spares
    /// [`Wheel::timeout`] a scan of the whole wheel on every call.
    earliest: u64,
    /// Entries filed, stale ones included.
    n_entries: usize,
}

/// What an entry taken by [`Wheel::take_due`] means for its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// The connection was filed under this tick: its deadline may have passed.
    Check,
    /// A stale entry (the connection moved or closed), or one for a later turn of the
    /// wheel, which has been filed again.
    Skip,
}

impl Wheel {
    /// Creates an empty wheel whose ticks count from `origin`.
    pub(crate) fn new(origin: Instant) -> Wheel {
        Wheel {
            origin,
            slots: (0..N_SLOTS).map(|_| Vec::new()).collect(),
            next_tick: 0,
            earliest: 0,
            n_entries: 0,
        }
    }

    /// Returns the tick that contains `at` (rounded up, so a deadline never fires
    /// early).
    fn tick_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos().div_ceil(TICK.as_nanos())).unwrap_or(u64::MAX)
    }

    /// Makes sure the connection `key`, whose deadline is now `deadline`, is filed
    /// under a slot no later than that deadline. `armed` is the connection's record.
    pub(crate) fn arm(&mut self, key: usize, deadline: Instant, armed: &mut Armed) {
        let tick = self.tick_of(deadline).max(self.next_tick);
        if let Some(filed) = armed.tick {
            if filed <= tick && filed >= self.next_tick {
                // Filed earlier (or at the same tick): it fires first and is re-filed.
                return;
            }
        }
        self.file(key, tick);
        armed.tick = Some(tick);
    }

    fn file(&mut self, key: usize, tick: u64) {
        self.slots[slot_index(tick)].push(key);
        self.n_entries += 1;
        self.earliest = self.earliest.min(tick);
    }

    /// Returns the time until the earliest slot that holds entries, or `None` when the
    /// wheel is empty.
    pub(crate) fn timeout(&mut self, now: Instant) -> Option<Duration> {
        if self.n_entries == 0 {
            return None;
        }
        let mut tick = self.earliest.max(self.next_tick);
        let last = self.next_tick + N_SLOTS as u64;
        while tick < last && self.slots[slot_index(tick)].is_empty() {
            tick += 1;
        }
        self.earliest = tick;
        let at = self.origin + TICK * u32::try_from(tick).unwrap_or(u32::MAX);
        Some(at.saturating_duration_since(now))
    }

    /// Moves the keys of every slot whose tick has passed by `now` into `due`, each with
    /// the tick it was filed under; pass each to [`Wheel::settle`].
    pub(crate) fn take_due(&mut self, now: Instant, due: &mut Vec<(usize, u64)>) {
        let now_tick = self.tick_of(now);
        if self.n_entries == 0 {
            self.next_tick = self.next_tick.max(now_tick + 1);
            return;
        }
        // Nothing is filed before `earliest`: skip the empty slots in between.
        self.next_tick = self.next_tick.max(self.earliest.min(now_tick + 1));
        while self.next_tick <= now_tick {
            let tick = self.next_tick;
            let slot = &mut self.slots[slot_index(tick)];
            self.n_entries -= slot.len();
            due.extend(slot.drain(..).map(|key| (key, tick)));
            self.next_tick += 1;
        }
        self.earliest = self.earliest.max(self.next_tick);
    }

    /// Tells what an entry taken by [`Wheel::take_due`] means for the connection with
    /// record `armed`: [`Due::Check`] if it was filed under that tick (it is then filed
    /// nowhere), else [`Due::Skip`] (an entry for a later turn is filed again).
    pub(crate) fn settle(&mut self, key: usize, tick: u64, armed: &mut Armed) -> Due {
        match armed.tick {
            Some(filed) if filed == tick => {
                armed.tick = None;
                Due::Check
            }
            Some(filed) if filed > tick && slot_index(filed) == slot_index(tick) => {
                self.file(key, filed);
                Due::Skip
            }
            _ => Due::Skip,
        }
    }

    /// Entries filed, including stale ones.
    #[cfg(test)]
    pub(crate) fn n_entries(&self) -> usize {
        self.n_entries
    }
}

fn slot_index(tick: u64) -> usize {
    (tick % N_SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes every due entry and returns the keys whose filing is current.
    fn fire(wheel: &mut Wheel, now: Instant, armed: &mut [Armed]) -> Vec<usize> {
        let mut due = Vec::new();
        wheel.take_due(now, &mut due);
        let mut fired: Vec<usize> = due
            .into_iter()
            .filter(|&(key, tick)| wheel.settle(key, tick, &mut armed[key]) == Due::Check)
            .map(|(key, _)| key)
            .collect();
        fired.sort_unstable();
        fired
    }

    #[test]
    fn a_deadline_fires_in_its_tick_and_never_before() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        let mut armed = [Armed::default(); 2];
        wheel.arm(0, t0 + Duration::from_millis(95), &mut armed[0]);
        wheel.arm(1, t0 + Duration::from_secs(30), &mut armed[1]);
        assert!(fire(&mut wheel, t0 + Duration::from_millis(90), &mut armed).is_empty());
        assert_eq!(
            fire(&mut wheel, t0 + Duration::from_millis(100), &mut armed),
            [0]
        );
        assert!(fire(&mut wheel, t0 + Duration::from_secs(29), &mut armed).is_empty());
        assert_eq!(
            fire(&mut wheel, t0 + Duration::from_secs(30), &mut armed),
            [1]
        );
        assert_eq!(wheel.n_entries(), 0);
    }

    #[test]
    fn moving_a_deadline_later_adds_no_entry() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        let mut armed = [Armed::default()];
        for ms in (100..10_000).step_by(100) {
            wheel.arm(0, t0 + Duration::from_millis(ms), &mut armed[0]);
        }
        assert_eq!(wheel.n_entries(), 1);
        // The early entry fires; the owner finds the deadline ahead and re-arms.
        assert_eq!(
            fire(&mut wheel, t0 + Duration::from_millis(100), &mut armed),
            [0]
        );
        wheel.arm(0, t0 + Duration::from_millis(9_900), &mut armed[0]);
        assert_eq!(wheel.n_entries(), 1);
    }

    #[test]
    fn moving_a_deadline_earlier_leaves_the_old_entry_stale() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        let mut armed = [Armed::default()];
        wheel.arm(0, t0 + Duration::from_secs(30), &mut armed[0]);
        wheel.arm(0, t0 + Duration::from_secs(1), &mut armed[0]);
        assert_eq!(wheel.n_entries(), 2);
        assert_eq!(
            fire(&mut wheel, t0 + Duration::from_secs(1), &mut armed),
            [0]
        );
        // The 30 s entry is stale: the connection is no longer filed there.
        assert!(fire(&mut wheel, t0 + Duration::from_secs(31), &mut armed).is_empty());
        assert_eq!(wheel.n_entries(), 0);
    }

    #[test]
    fn an_entry_for_a_closed_connection_is_skipped() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        let mut armed = [Armed::default()];
        wheel.arm(0, t0 + Duration::from_secs(1), &mut armed[0]);
        // The connection closed and its key was reused by a new one, never armed.
        armed[0] = Armed::default();
        assert!(fire(&mut wheel, t0 + Duration::from_secs(2), &mut armed).is_empty());
    }

    #[test]
    fn deadlines_beyond_one_turn_wait_for_their_own_turn() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        let mut armed = [Armed::default(); 2];
        let far = t0 + Duration::from_secs(100);
        wheel.arm(0, far, &mut armed[0]);
        // Same slot, one turn earlier.
        wheel.arm(1, far - TICK * N_SLOTS as u32 * 2, &mut armed[1]);
        let mut now = t0;
        let mut fired = Vec::new();
        while now <= far {
            for key in fire(&mut wheel, now, &mut armed) {
                fired.push((key, now));
            }
            now += Duration::from_millis(500);
        }
        assert_eq!(fired.len(), 2, "{fired:?}");
        assert_eq!(fired[0].0, 1);
        assert_eq!(fired[1], (0, far));
    }

    #[test]
    fn the_timeout_points_at_the_earliest_filled_slot() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        assert_eq!(wheel.timeout(t0), None);
        let mut armed = [Armed::default(); 2];
        wheel.arm(0, t0 + Duration::from_secs(5), &mut armed[0]);
        wheel.arm(1, t0 + Duration::from_millis(250), &mut armed[1]);
        assert_eq!(wheel.timeout(t0), Some(Duration::from_millis(250)));
        assert_eq!(
            wheel.timeout(t0 + Duration::from_secs(1)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            fire(&mut wheel, t0 + Duration::from_secs(1), &mut armed),
            [1]
        );
        assert_eq!(
            wheel.timeout(t0 + Duration::from_secs(1)),
            Some(Duration::from_secs(4))
        );
    }

    #[test]
    fn a_long_idle_gap_is_crossed_without_visiting_every_tick() {
        let t0 = Instant::now();
        let mut wheel = Wheel::new(t0);
        let mut armed = [Armed::default()];
        assert!(fire(&mut wheel, t0 + Duration::from_secs(3600), &mut armed).is_empty());
        wheel.arm(0, t0 + Duration::from_secs(3601), &mut armed[0]);
        assert_eq!(
            fire(&mut wheel, t0 + Duration::from_secs(3601), &mut armed),
            [0]
        );
    }
}
