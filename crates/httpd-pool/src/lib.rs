//! A fixed-size pool of named worker threads fed by one bounded queue.
//!
//! [`Builder::build`] spawns a fixed number of threads named `PREFIX-1` ..
//! `PREFIX-N`; each runs one shared handler on the items submitted to the pool. The
//! pool knows nothing about what an item is: an HTTP server submits accepted
//! connections, a test submits closures (see [Running closures](#running-closures)).
//!
//! Invariants:
//!
//! - **Fixed size.** The pool never grows and never shrinks. A handler that
//!   panics is caught with [`std::panic::catch_unwind`], counted in
//!   [`ThreadPool::n_panics`], reported (to the [`Builder::panic_handler`] if one is
//!   set, else logged at `error` with the worker's name and the panic message when the
//!   default `log` feature is on), and the worker goes on with the next item.
//! - **Bounded queue.** An item is accepted when a worker is idle (it is handed
//!   straight to that worker) or when fewer than
//!   [`queue_capacity`](Builder::queue_capacity) items are waiting for a worker. The
//!   capacity counts only *waiting* items, never running ones, so at most
//!   `n_workers + queue_capacity` items are accepted and unfinished at any time.
//! - **The caller chooses what overload means.** [`ThreadPool::try_submit`] never
//!   blocks: when there is no room, or once the pool is closed, it returns the item
//!   inside a [`SubmitError`] so the caller can still deal with it (a server answers
//!   `503` on the socket it still owns). [`ThreadPool::submit`] waits for room, and
//!   [`ThreadPool::submit_timeout`] waits at most a given time and then hands the item
//!   back. Submission never panics.
//! - **Clean shutdown.** [`ThreadPool::shutdown`] (or dropping the pool)
//!   stops accepting items, lets the workers run every item already accepted,
//!   and joins every thread. No thread is ever detached.
//!
//! With the default `log` feature, the pool logs worker panics (`error`) unless a
//! panic handler is set; refusing an item is the caller's decision to report. Without
//! the feature it depends only on crossbeam-channel and parking_lot.
//!
//! # Example
//!
//! ```
//! use std::sync::mpsc;
//!
//! use httpd_pool::{Builder, SubmitError};
//!
//! let (done_tx, done_rx) = mpsc::channel();
//! let pool = Builder::new()
//!     .workers(2)
//!     .queue_capacity(8)
//!     .name_prefix("doc-worker")
//!     .build(move |n: u64| done_tx.send(n * n).expect("the receiver outlives the pool"))?;
//!
//! for n in 1..=4 {
//!     match pool.try_submit(n) {
//!         Ok(()) => {}
//!         // Overloaded: the item comes back and the caller handles it itself.
//!         Err(SubmitError::Full(n)) => println!("busy, dropping {n}"),
//!         Err(err) => return Err(err.into()),
//!     }
//! }
//! // Runs whatever is still queued, then joins the workers.
//! pool.shutdown();
//!
//! let mut squares: Vec<u64> = done_rx.iter().collect();
//! squares.sort();
//! assert_eq!(squares, [1, 4, 9, 16]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Running closures
//!
//! A pool whose items are boxed closures runs arbitrary jobs, like a classic thread
//! pool: the handler calls each one.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! use httpd_pool::{Builder, ThreadPool};
//!
//! /// A job: any closure that can move to a worker thread.
//! type Job = Box<dyn FnOnce() + Send>;
//!
//! let pool: ThreadPool<Job> = Builder::new()
//!     .workers(2)
//!     .queue_capacity(16)
//!     .build(|job: Job| job())?;
//!
//! let counter = Arc::new(AtomicUsize::new(0));
//! for _ in 0..10 {
//!     let counter = Arc::clone(&counter);
//!     // `submit` waits while the queue is full instead of handing the job back.
//!     pool.submit(Box::new(move || {
//!         counter.fetch_add(1, Ordering::Relaxed);
//!     }))?;
//! }
//! // Every job has run, and the pool can take more.
//! pool.wait_idle();
//! assert_eq!(counter.load(Ordering::Relaxed), 10);
//! pool.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::any::Any;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Condvar, Mutex, MutexGuard};

// The README's examples run as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Number of workers a [`Builder`] starts with.
pub const DEFAULT_N_WORKERS: usize = 4;

/// Number of waiting items a [`Builder`] starts with.
pub const DEFAULT_QUEUE_CAPACITY: usize = 64;

/// Thread name prefix a [`Builder`] starts with.
pub const DEFAULT_NAME_PREFIX: &str = "pool-worker";

/// Why the pool refused an item; the item is handed back
/// ([`into_inner`](SubmitError::into_inner) takes it whatever the reason).
#[non_exhaustive]
pub enum SubmitError<T> {
    /// There was no room: no worker was idle and the queue held as many waiting items
    /// as its capacity ([`ThreadPool::try_submit`]), or it still did when the timeout
    /// passed ([`ThreadPool::submit_timeout`]).
    Full(T),
    /// The pool is shutting down.
    Closed(T),
}

impl<T> SubmitError<T> {
    /// Returns the item that was not accepted.
    pub fn into_inner(self) -> T {
        match self {
            SubmitError::Full(t) | SubmitError::Closed(t) => t,
        }
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubmitError::Full(_) => "Full(..)",
            SubmitError::Closed(_) => "Closed(..)",
        })
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubmitError::Full(_) => "queue is full",
            SubmitError::Closed(_) => "pool is shut down",
        })
    }
}

impl<T> std::error::Error for SubmitError<T> {}

/// What a panic handler is given: the worker's thread name and the panic payload.
type PanicHandler = dyn Fn(&str, Box<dyn Any + Send>) + Send + Sync;

/// Configures a [`ThreadPool`].
///
/// # Examples
///
/// ```
/// let pool = httpd_pool::Builder::new()
///     .workers(3)
///     .queue_capacity(0)
///     .name_prefix("example-worker")
///     .build(|line: String| assert!(!line.is_empty()))?;
/// assert_eq!(pool.n_workers(), 3);
/// assert_eq!(pool.queue_capacity(), 0);
/// pool.shutdown();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Builder {
    n_workers: usize,
    queue_capacity: usize,
    name_prefix: String,
    /// Called with each handler panic; `None` logs it (with the `log` feature).
    panic_handler: Option<Arc<PanicHandler>>,
}

impl Builder {
    /// Starts with 4 workers, a queue of 64, thread names `pool-worker-N` and panics
    /// logged (with the `log` feature).
    ///
    /// See [`DEFAULT_N_WORKERS`], [`DEFAULT_QUEUE_CAPACITY`] and
    /// [`DEFAULT_NAME_PREFIX`].
    pub fn new() -> Builder {
        Builder {
            n_workers: DEFAULT_N_WORKERS,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            name_prefix: DEFAULT_NAME_PREFIX.to_string(),
            panic_handler: None,
        }
    }

    /// Sets the number of workers.
    ///
    /// # Panics
    /// If `n` is 0: a pool without workers could never run an item.
    pub fn workers(mut self, n: usize) -> Builder {
        assert!(n > 0, "a thread pool needs at least one worker");
        self.n_workers = n;
        self
    }

    /// Sets how many submitted items may wait for a worker (0 is allowed: hand-off only).
    ///
    /// Items handed to an idle worker do not count against this capacity.
    /// The queue's memory (`n_workers + n` slots) is allocated by
    /// [`build`](Builder::build).
    pub fn queue_capacity(mut self, n: usize) -> Builder {
        self.queue_capacity = n;
        self
    }

    /// Sets the thread name prefix; workers are named `PREFIX-1` .. `PREFIX-N`.
    pub fn name_prefix(mut self, prefix: &str) -> Builder {
        self.name_prefix = prefix.to_string();
        self
    }

    /// Sets what happens when a handler panics: `handler` is called on the worker with
    /// the worker's thread name and the panic payload (downcast it to `&str` or
    /// `String` for a `panic!` message), instead of the default log line.
    ///
    /// The panic is counted in [`ThreadPool::n_panics`] either way, and the worker goes
    /// on with the next item. A panic inside `handler` itself is caught and ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let pool = httpd_pool::Builder::new()
    ///     .workers(1)
    ///     .name_prefix("hooked")
    ///     .panic_handler(move |worker, payload| {
    ///         let message = payload.downcast_ref::<&str>().copied().unwrap_or("?");
    ///         let _ = tx.lock().unwrap().send(format!("{worker}: {message}"));
    ///     })
    ///     .build(|n: u32| assert!(n < 10, "too big"))?;
    /// pool.try_submit(12)?;
    /// pool.shutdown();
    /// assert_eq!(rx.recv()?, "hooked-1: too big");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn panic_handler<F>(mut self, handler: F) -> Builder
    where
        F: Fn(&str, Box<dyn Any + Send>) + Send + Sync + 'static,
    {
        self.panic_handler = Some(Arc::new(handler));
        self
    }

    /// Spawns the workers; each runs `handler` on the items it receives.
    ///
    /// If a later worker cannot be spawned, the workers already spawned are
    /// stopped and joined before the error is returned.
    ///
    /// # Errors
    /// The `io::Error` from spawning a thread, or an error of kind
    /// [`io::ErrorKind::InvalidInput`] if the name prefix contains a NUL byte
    /// (the platform cannot name such a thread).
    pub fn build<T, F>(self, handler: F) -> io::Result<ThreadPool<T>>
    where
        T: Send + 'static,
        F: Fn(T) + Send + Sync + 'static,
    {
        if self.name_prefix.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "thread name prefix contains a NUL byte",
            ));
        }
        // Admission control in `offer` keeps at most one item per worker plus
        // `queue_capacity` waiting items in the channel, so the channel's own bound is
        // never what refuses an item; it is a second safety net.
        let channel_capacity = self.n_workers.saturating_add(self.queue_capacity);
        let (sender, receiver) = crossbeam_channel::bounded(channel_capacity);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                sender: Some(sender),
                n_idle: self.n_workers,
                n_queued: 0,
                n_panics: 0,
                n_waiting: 0,
            }),
            room: Condvar::new(),
            idle: Condvar::new(),
            n_workers: self.n_workers,
        });
        let mut pool = ThreadPool {
            shared,
            n_workers: self.n_workers,
            queue_capacity: self.queue_capacity,
            handles: Vec::with_capacity(self.n_workers),
        };
        let handler = Arc::new(handler);
        for worker_idx in 1..=self.n_workers {
            let receiver = receiver.clone();
            let handler = Arc::clone(&handler);
            let shared = Arc::clone(&pool.shared);
            let on_panic = self.panic_handler.clone();
            let spawned = thread::Builder::new()
                .name(format!("{}-{}", self.name_prefix, worker_idx))
                .spawn(move || run_worker(&receiver, &*handler, &shared, on_panic.as_deref()));
            match spawned {
                Ok(handle) => pool.handles.push(handle),
                Err(err) => {
                    // Dropping the pool closes the queue and joins the
                    // workers spawned so far.
                    drop(pool);
                    return Err(err);
                }
            }
        }
        Ok(pool)
    }
}

impl Default for Builder {
    /// Same as [`Builder::new`]: 4 workers, a queue of 64, names `pool-worker-N`.
    fn default() -> Builder {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("n_workers", &self.n_workers)
            .field("queue_capacity", &self.queue_capacity)
            .field("name_prefix", &self.name_prefix)
            .field("panic_handler", &self.panic_handler.as_ref().map(|_| ".."))
            .finish()
    }
}

/// A consistent snapshot of a [`ThreadPool`]'s counters, from [`ThreadPool::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Number of worker threads.
    pub n_workers: usize,
    /// Workers running an item, or handed one they are about to run.
    pub n_busy: usize,
    /// Items waiting for a worker.
    pub n_queued: usize,
    /// Largest number of items that may wait for a worker.
    pub queue_capacity: usize,
    /// Items whose handler panicked so far.
    pub n_panics: usize,
    /// Callers of [`ThreadPool::submit`] or [`ThreadPool::submit_timeout`] waiting for
    /// room right now.
    pub n_waiting: usize,
}

/// A fixed set of worker threads consuming items from one bounded queue.
///
/// The pool is `Send + Sync`: several threads may submit through a shared
/// reference. Dropping it has the same effect as [`ThreadPool::shutdown`].
pub struct ThreadPool<T> {
    /// Shared with every worker; holds the only `Sender`.
    shared: Arc<Shared<T>>,
    n_workers: usize,
    queue_capacity: usize,
    /// Emptied by `join_workers`; joined after the sender is dropped, since
    /// the workers only leave their loop once the channel is disconnected.
    handles: Vec<thread::JoinHandle<()>>,
}

impl<T: Send + 'static> ThreadPool<T> {
    /// Queues `item` for a worker without blocking.
    ///
    /// The item is accepted if a worker is idle (it goes straight to that
    /// worker and does not use the queue's capacity) or if fewer than
    /// [`queue_capacity`](ThreadPool::queue_capacity) items are waiting.
    ///
    /// # Errors
    /// [`SubmitError::Full`] if no worker is idle and the queue is full, or
    /// [`SubmitError::Closed`] once [`close`](ThreadPool::close) was called;
    /// either holds `item`.
    pub fn try_submit(&self, item: T) -> Result<(), SubmitError<T>> {
        let mut state = self.shared.state.lock();
        self.offer(&mut state, item)
    }

    /// Queues `item` for a worker, waiting as long as it takes for room.
    ///
    /// Room is what [`try_submit`](ThreadPool::try_submit) needs: an idle worker or a
    /// free place in the queue. Waiting callers are counted in [`Stats::n_waiting`].
    /// Calling this from the pool's own handler can wait forever (when every worker
    /// does it); use `try_submit` there.
    ///
    /// # Errors
    /// [`SubmitError::Closed`] with `item` if the pool is closed, before or while
    /// waiting.
    pub fn submit(&self, item: T) -> Result<(), SubmitError<T>> {
        self.submit_until(item, None)
    }

    /// Queues `item` for a worker, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SubmitError::Full`] with `item` if there was still no room when `timeout`
    /// passed, or [`SubmitError::Closed`] with `item` if the pool is closed, before or
    /// while waiting.
    pub fn submit_timeout(&self, item: T, timeout: Duration) -> Result<(), SubmitError<T>> {
        // A timeout too large for the clock waits without a deadline.
        self.submit_until(item, Instant::now().checked_add(timeout))
    }

    /// Waits until every accepted item has run: the queue is empty and no worker is
    /// busy. The pool stays open and usable.
    ///
    /// Items submitted meanwhile by other threads are waited for too. Calling this from
    /// the pool's own handler waits forever (that handler's item is never done).
    pub fn wait_idle(&self) {
        let mut state = self.shared.state.lock();
        while state.n_idle < self.n_workers {
            self.shared.idle.wait(&mut state);
        }
    }

    /// Returns the number of worker threads.
    pub fn n_workers(&self) -> usize {
        self.n_workers
    }

    /// Returns how many workers are running an item right now.
    ///
    /// An item handed to an idle worker counts from the moment
    /// [`try_submit`](ThreadPool::try_submit) accepts it until its handler
    /// returns (or panics).
    pub fn n_busy(&self) -> usize {
        self.stats().n_busy
    }

    /// Returns how many items wait in the queue.
    ///
    /// These are items no worker has been assigned to yet; it never exceeds
    /// [`queue_capacity`](ThreadPool::queue_capacity).
    pub fn n_queued(&self) -> usize {
        self.shared.state.lock().n_queued
    }

    /// Returns the queue's capacity.
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// Returns how many items panicked in the handler so far.
    pub fn n_panics(&self) -> usize {
        self.shared.state.lock().n_panics
    }

    /// Returns all counters, read together under one lock.
    pub fn stats(&self) -> Stats {
        let state = self.shared.state.lock();
        Stats {
            n_workers: self.n_workers,
            n_busy: self.n_workers.saturating_sub(state.n_idle),
            n_queued: state.n_queued,
            queue_capacity: self.queue_capacity,
            n_panics: state.n_panics,
            n_waiting: state.n_waiting,
        }
    }

    /// Stops taking items, lets the workers finish every queued item, and joins them.
    pub fn shutdown(mut self) {
        self.close();
        self.join_workers();
    }

    /// Accepts `item` if there is room; the caller holds the lock.
    fn offer(&self, state: &mut State<T>, item: T) -> Result<(), SubmitError<T>> {
        let Some(sender) = state.sender.as_ref() else {
            return Err(SubmitError::Closed(item));
        };
        let to_idle_worker = state.n_idle > 0;
        if !to_idle_worker && state.n_queued >= self.queue_capacity {
            return Err(SubmitError::Full(item));
        }
        // The send happens under the lock so that the counters and the
        // channel's contents change together (see `State`). `try_send` never
        // blocks.
        match sender.try_send(item) {
            Ok(()) => {
                if to_idle_worker {
                    state.n_idle -= 1;
                } else {
                    state.n_queued += 1;
                }
                Ok(())
            }
            // The channel holds at most `n_workers + queue_capacity` items by
            // the accounting above, so this arm is not expected; should it
            // happen, the caller still gets the item back.
            Err(TrySendError::Full(item)) => Err(SubmitError::Full(item)),
            // Every worker holds a receiver until the sender is dropped.
            Err(TrySendError::Disconnected(item)) => Err(SubmitError::Closed(item)),
        }
    }

    /// Offers `item` until it is accepted, the pool closes, or `deadline` passes.
    fn submit_until(&self, item: T, deadline: Option<Instant>) -> Result<(), SubmitError<T>> {
        let mut state = self.shared.state.lock();
        let mut item = match self.offer(&mut state, item) {
            Err(SubmitError::Full(item)) => item,
            accepted_or_closed => return accepted_or_closed,
        };
        state.n_waiting += 1;
        let result = loop {
            let timed_out = match deadline {
                None => {
                    self.shared.room.wait(&mut state);
                    false
                }
                Some(deadline) => self
                    .shared
                    .room
                    .wait_until(&mut state, deadline)
                    .timed_out(),
            };
            match self.offer(&mut state, item) {
                Err(SubmitError::Full(back)) if !timed_out => item = back,
                result => break result,
            }
        };
        state.n_waiting -= 1;
        result
    }
}

impl<T> ThreadPool<T> {
    /// Stops accepting items without waiting; every item already accepted still runs.
    ///
    /// Later [`try_submit`](ThreadPool::try_submit) calls return
    /// [`SubmitError::Closed`], and callers waiting in
    /// [`submit`](ThreadPool::submit) get their item back the same way. Each worker
    /// exits once the queue is empty; [`shutdown`](ThreadPool::shutdown) or dropping
    /// the pool joins them. Calling `close` again does nothing.
    pub fn close(&self) {
        let sender = self.shared.state.lock().sender.take();
        // Waiting submitters must see the pool closed.
        self.shared.room.notify_all();
        // Dropped outside the lock: disconnecting wakes the idle workers.
        drop(sender);
    }

    /// Returns whether [`close`](ThreadPool::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().sender.is_none()
    }

    /// Joins every worker; the sender must already be dropped.
    fn join_workers(&mut self) {
        let current = thread::current().id();
        for handle in self.handles.drain(..) {
            // A handler that drops its own pool must not join itself (that
            // would deadlock); its thread exits as soon as the handler returns.
            if handle.thread().id() == current {
                continue;
            }
            let name = handle.thread().name().unwrap_or("<unnamed>").to_string();
            if handle.join().is_err() {
                log_error(format_args!(
                    "worker {name} exited with a panic outside its handler"
                ));
            }
        }
    }
}

impl<T> fmt::Debug for ThreadPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("ThreadPool")
            .field("n_workers", &self.n_workers)
            .field("queue_capacity", &self.queue_capacity)
            .field("n_busy", &self.n_workers.saturating_sub(state.n_idle))
            .field("n_queued", &state.n_queued)
            .field("n_waiting", &state.n_waiting)
            .field("n_panics", &state.n_panics)
            .field("is_closed", &state.sender.is_none())
            .finish()
    }
}

impl<T> Drop for ThreadPool<T> {
    /// Closes the queue, lets the workers drain it and joins them, as
    /// [`ThreadPool::shutdown`] does.
    fn drop(&mut self) {
        self.close();
        self.join_workers();
    }
}

/// What the pool and its workers share.
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when a worker finishes an item (a queue place or a worker is free)
    /// and when the pool closes; waited on by `submit` and `submit_timeout`.
    room: Condvar,
    /// Signalled when the last busy worker becomes idle; waited on by `wait_idle`.
    idle: Condvar,
    n_workers: usize,
}

/// Bookkeeping shared by the pool and its workers.
///
/// Invariant, whenever the lock is free: the channel holds
/// `n_queued + (workers handed an item they have not received yet)` items,
/// and `n_queued > 0` only while `n_idle == 0`. A worker that finishes an item
/// therefore takes one of the `n_queued` items if there are any (it stays
/// busy) and otherwise becomes idle. Workers are interchangeable, so it does
/// not matter which receiving worker actually gets which item.
struct State<T> {
    /// The only sender; `None` once the pool is closed, which lets the
    /// workers' `recv` fail after the queue is drained.
    sender: Option<Sender<T>>,
    /// Workers neither running nor assigned an item.
    n_idle: usize,
    /// Accepted items not assigned to any worker yet.
    n_queued: usize,
    /// Items whose handler panicked.
    n_panics: usize,
    /// Submitters waiting for room.
    n_waiting: usize,
}

/// Runs items until the queue is closed and empty.
fn run_worker<T, F>(
    receiver: &Receiver<T>,
    handler: &F,
    shared: &Shared<T>,
    on_panic: Option<&PanicHandler>,
) where
    F: Fn(T),
{
    while let Ok(item) = receiver.recv() {
        let panicked = match panic::catch_unwind(AssertUnwindSafe(|| handler(item))) {
            Ok(()) => false,
            Err(payload) => {
                report_panic(payload, on_panic);
                true
            }
        };
        let mut state: MutexGuard<'_, State<T>> = shared.state.lock();
        if panicked {
            state.n_panics += 1;
        }
        if state.n_queued > 0 {
            state.n_queued -= 1;
        } else {
            state.n_idle += 1;
            if state.n_idle == shared.n_workers {
                shared.idle.notify_all();
            }
        }
        // A queue place or this worker is free: one waiting submitter can go on.
        if state.n_waiting > 0 {
            shared.room.notify_one();
        }
    }
}

/// Reports a handler's panic with the current worker's name, to `on_panic` if set,
/// else to the log (with the `log` feature); drops the payload either way.
fn report_panic(payload: Box<dyn Any + Send>, on_panic: Option<&PanicHandler>) {
    // A panic handler, a logger or a payload destructor that panics must not kill the
    // worker.
    let _ = panic::catch_unwind(AssertUnwindSafe(move || {
        let current = thread::current();
        let name = current.name().unwrap_or("<unnamed>");
        match on_panic {
            Some(handler) => handler(name, payload),
            None => {
                // The message may carry peer data, so it is logged escaped.
                log_error(format_args!(
                    "worker {name} panicked: {:?}",
                    panic_message(&*payload)
                ));
                drop(payload);
            }
        }
    }));
}

/// Logs at `error` with the `log` feature; does nothing without it.
fn log_error(message: fmt::Arguments<'_>) {
    #[cfg(feature = "log")]
    log::error!("{message}");
    #[cfg(not(feature = "log"))]
    let _ = message;
}

/// Returns the message of a panic payload from `panic!` (`&str` or `String`).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<non-string panic payload>"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::panic::UnwindSafe;
    use std::sync::Barrier;
    #[cfg(feature = "log")]
    use std::sync::OnceLock;
    use std::time::Duration;

    use super::*;

    /// Test items are closures so one pool type serves every test.
    type Job = Box<dyn FnOnce() + Send>;

    /// Only turns a deadlock into a failure; no assertion depends on timing.
    const HANG_GUARD: Duration = Duration::from_secs(60);

    fn job_pool(workers: usize, queue_capacity: usize, prefix: &str) -> ThreadPool<Job> {
        Builder::new()
            .workers(workers)
            .queue_capacity(queue_capacity)
            .name_prefix(prefix)
            .build(|job: Job| job())
            .unwrap()
    }

    fn recv<T>(rx: &Receiver<T>) -> T {
        rx.recv_timeout(HANG_GUARD)
            .expect("a pool worker did not report back (deadlock?)")
    }

    /// A job that reports `id` on `started` and then blocks until `gate`'s
    /// sender is dropped.
    fn blocker(id: usize, started: &Sender<usize>, gate: &Receiver<()>) -> Job {
        let started = started.clone();
        let gate = gate.clone();
        Box::new(move || {
            started.send(id).unwrap();
            // Err(Disconnected) is the release signal.
            assert_eq!(gate.recv(), Err(crossbeam_channel::RecvError));
        })
    }

    /// A job that reports `id` on `done`.
    fn reporter(id: usize, done: &Sender<usize>) -> Job {
        let done = done.clone();
        Box::new(move || done.send(id).unwrap())
    }

    /// Submits `job`, failing the test if the pool refuses it.
    fn submit(pool: &ThreadPool<Job>, job: Job) {
        if let Err(err) = pool.try_submit(job) {
            panic!("submission refused: {err}");
        }
    }

    /// Asserts that `pool` refuses a job as `Full` and hands back that very job.
    fn assert_full_hands_back(pool: &ThreadPool<Job>, id: usize) {
        let (tx, rx) = crossbeam_channel::unbounded();
        match pool.try_submit(reporter(id, &tx)) {
            Err(SubmitError::Full(job)) => {
                job();
                assert_eq!(rx.try_recv(), Ok(id));
            }
            other => panic!("expected Full, got {other:?}"),
        }
    }

    #[test]
    fn runs_every_submitted_item() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pool = Builder::new()
            .workers(3)
            .queue_capacity(100)
            .name_prefix("every-item")
            .build(move |n: usize| tx.send(n).unwrap())
            .unwrap();
        for n in 0..100 {
            pool.try_submit(n).unwrap();
        }
        pool.shutdown();
        let seen: BTreeSet<usize> = rx.try_iter().collect();
        assert_eq!(seen, (0..100).collect());
        // Every handler clone is gone once shutdown returns.
        assert_eq!(
            rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        );
    }

    #[test]
    fn one_worker_runs_items_in_submission_order() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pool = Builder::new()
            .workers(1)
            .queue_capacity(20)
            .build(move |n: usize| tx.send(n).unwrap())
            .unwrap();
        for n in 0..21 {
            pool.try_submit(n).unwrap();
        }
        pool.shutdown();
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            (0..21).collect::<Vec<_>>()
        );
    }

    #[test]
    fn items_run_on_threads_named_prefix_dash_index() {
        let pool = job_pool(3, 0, "named-worker");
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        let (name_tx, name_rx) = crossbeam_channel::unbounded();
        // Three jobs held at the gate at once must be on three different workers.
        for _ in 0..3 {
            let name_tx = name_tx.clone();
            let gate_rx = gate_rx.clone();
            submit(
                &pool,
                Box::new(move || {
                    name_tx
                        .send(thread::current().name().map(str::to_string))
                        .unwrap();
                    let _ = gate_rx.recv();
                }),
            );
        }
        let names: BTreeSet<Option<String>> = (0..3).map(|_| recv(&name_rx)).collect();
        let expected: BTreeSet<Option<String>> = (1..=3)
            .map(|idx| Some(format!("named-worker-{idx}")))
            .collect();
        assert_eq!(names, expected);
        drop(gate_tx);
        pool.shutdown();
    }

    #[test]
    fn full_queue_hands_the_item_back() {
        let pool = job_pool(2, 3, "full-queue");
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        submit(&pool, blocker(0, &started_tx, &gate_rx));
        submit(&pool, blocker(1, &started_tx, &gate_rx));
        let started: BTreeSet<usize> = [recv(&started_rx), recv(&started_rx)].into();
        assert_eq!(started, BTreeSet::from([0, 1]));

        // Both workers are blocked: exactly `queue_capacity` more fit.
        for id in 10..13 {
            submit(&pool, reporter(id, &done_tx));
        }
        assert_eq!((pool.n_busy(), pool.n_queued()), (2, 3));
        assert_full_hands_back(&pool, 13);
        assert_full_hands_back(&pool, 14);
        assert_eq!((pool.n_busy(), pool.n_queued()), (2, 3));

        drop(gate_tx);
        pool.shutdown();
        let done: BTreeSet<usize> = done_rx.try_iter().collect();
        assert_eq!(done, BTreeSet::from([10, 11, 12]));
    }

    #[test]
    fn zero_capacity_hands_off_to_idle_workers_only() {
        let pool = job_pool(2, 0, "zero-capacity");
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        // Accepted while the workers may not even have reached `recv` yet:
        // they are idle, so each takes one item.
        submit(&pool, blocker(0, &started_tx, &gate_rx));
        submit(&pool, blocker(1, &started_tx, &gate_rx));
        assert_eq!((pool.n_busy(), pool.n_queued()), (2, 0));
        assert_full_hands_back(&pool, 2);
        recv(&started_rx);
        recv(&started_rx);
        assert_full_hands_back(&pool, 3);
        drop(gate_tx);
        pool.shutdown();
    }

    #[test]
    fn finishing_worker_takes_a_waiting_item() {
        let pool = job_pool(1, 1, "takes-waiting");
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (first_gate_tx, first_gate_rx) = crossbeam_channel::unbounded::<()>();
        let (second_gate_tx, second_gate_rx) = crossbeam_channel::unbounded::<()>();
        submit(&pool, blocker(0, &started_tx, &first_gate_rx));
        submit(&pool, blocker(1, &started_tx, &second_gate_rx));
        assert_eq!(recv(&started_rx), 0);
        assert_eq!((pool.n_busy(), pool.n_queued()), (1, 1));
        assert_full_hands_back(&pool, 2);

        drop(first_gate_tx);
        // The waiting item now runs: the queue has room again, the worker not.
        assert_eq!(recv(&started_rx), 1);
        assert_eq!((pool.n_busy(), pool.n_queued()), (1, 0));
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        submit(&pool, reporter(3, &done_tx));
        assert_full_hands_back(&pool, 4);

        drop(second_gate_tx);
        pool.shutdown();
        assert_eq!(done_rx.try_iter().collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn busy_and_queued_counts_follow_the_work() {
        let pool = job_pool(3, 5, "counts");
        assert_eq!(
            pool.stats(),
            Stats {
                n_workers: 3,
                n_busy: 0,
                n_queued: 0,
                queue_capacity: 5,
                n_panics: 0,
                n_waiting: 0,
            }
        );
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        let table = [(1, 1, 0), (2, 2, 0), (3, 3, 0), (4, 3, 1), (8, 3, 5)];
        let mut n_submitted = 0;
        for (n_total, n_busy, n_queued) in table {
            while n_submitted < n_total {
                submit(&pool, blocker(n_submitted, &started_tx, &gate_rx));
                n_submitted += 1;
            }
            assert_eq!(
                (pool.n_busy(), pool.n_queued()),
                (n_busy, n_queued),
                "after {n_total} submissions"
            );
        }
        for _ in 0..3 {
            recv(&started_rx);
        }
        let stats = pool.stats();
        assert_eq!((stats.n_busy, stats.n_queued), (3, 5));
        assert_eq!(pool.n_workers(), 3);
        assert_eq!(pool.queue_capacity(), 5);
        drop(gate_tx);
        pool.shutdown();
        assert_eq!(started_rx.try_iter().count(), 5);
    }

    #[test]
    fn closed_pool_hands_the_item_back() {
        let pool = job_pool(1, 4, "closed");
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        submit(&pool, blocker(0, &started_tx, &gate_rx));
        submit(&pool, reporter(1, &done_tx));
        recv(&started_rx);
        assert!(!pool.is_closed());

        pool.close();
        pool.close();
        assert!(pool.is_closed());
        match pool.try_submit(reporter(2, &done_tx)) {
            Err(SubmitError::Closed(job)) => {
                job();
                assert_eq!(done_rx.try_recv(), Ok(2));
            }
            other => panic!("expected Closed, got {other:?}"),
        }

        // The item accepted before `close` still runs.
        drop(gate_tx);
        pool.shutdown();
        assert_eq!(done_rx.try_iter().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn panicking_jobs_do_not_shrink_the_pool() {
        const N_WORKERS: usize = 3;
        const N_PANICS: usize = 7;
        let pool = job_pool(N_WORKERS, N_PANICS + N_WORKERS, "panicky");
        for k in 0..N_PANICS {
            submit(&pool, Box::new(move || panic!("job {k} fails")));
        }
        // All workers must run these at the same time to pass the barrier.
        let barrier = Arc::new(Barrier::new(N_WORKERS + 1));
        for _ in 0..N_WORKERS {
            let barrier = Arc::clone(&barrier);
            submit(
                &pool,
                Box::new(move || {
                    barrier.wait();
                    barrier.wait();
                }),
            );
        }
        barrier.wait();
        // Every worker is in a barrier job, so each finished (and counted)
        // the panicking jobs queued before it.
        assert_eq!(pool.n_panics(), N_PANICS);
        assert_eq!((pool.n_busy(), pool.n_queued()), (N_WORKERS, 0));
        barrier.wait();
        pool.shutdown();
    }

    #[test]
    fn counts_str_and_string_panic_payloads() {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let pool = Builder::new()
            .workers(1)
            .queue_capacity(8)
            .name_prefix("payloads")
            .build(move |kind: u8| match kind {
                0 => panic!("a static str"),
                1 => panic!("a formatted {}", "String"),
                2 => panic::panic_any(42_u32),
                _ => done_tx.send(kind).unwrap(),
            })
            .unwrap();
        for kind in [0, 1, 2, 0, 3] {
            pool.try_submit(kind).unwrap();
        }
        // One worker runs items in order and counts a panic before taking
        // the next item, so all four panics are counted once 3 has run.
        assert_eq!(recv(&done_rx), 3);
        assert_eq!(pool.n_panics(), 4);
        assert_eq!(pool.stats().n_panics, 4);
        pool.shutdown();
    }

    #[test]
    fn describes_str_string_and_other_payloads() {
        fn payload_of(f: impl FnOnce() + UnwindSafe) -> Box<dyn Any + Send> {
            panic::catch_unwind(f).unwrap_err()
        }
        let cases: [(Box<dyn Any + Send>, &str); 4] = [
            (payload_of(|| panic!("plain")), "plain"),
            (payload_of(|| panic!("formatted {}", 7)), "formatted 7"),
            (Box::new(String::from("owned")), "owned"),
            (
                payload_of(|| panic::panic_any(7_i64)),
                "<non-string panic payload>",
            ),
        ];
        for (payload, expected) in &cases {
            assert_eq!(panic_message(&**payload), *expected);
        }
    }

    /// Collects `error` records from every test of this binary.
    #[cfg(feature = "log")]
    struct CaptureLogger {
        lines: Mutex<Vec<String>>,
    }

    #[cfg(feature = "log")]
    impl log::Log for CaptureLogger {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Error
        }

        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                self.lines.lock().push(record.args().to_string());
            }
        }

        fn flush(&self) {}
    }

    #[cfg(feature = "log")]
    fn capture_logger() -> &'static CaptureLogger {
        static LOGGER: CaptureLogger = CaptureLogger {
            lines: Mutex::new(Vec::new()),
        };
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            log::set_logger(&LOGGER).expect("no other logger in this test binary");
            log::set_max_level(log::LevelFilter::Error);
        });
        &LOGGER
    }

    #[test]
    #[cfg(feature = "log")]
    fn logs_panics_with_worker_name_and_payload() {
        let logger = capture_logger();
        let pool = Builder::new()
            .workers(1)
            .queue_capacity(2)
            .name_prefix("logged")
            .build(|text: &'static str| {
                if text.starts_with("owned") {
                    // `panic!` with arguments carries a `String`.
                    panic!("{}", text.to_string());
                }
                // A `&'static str` payload, as from `panic!("literal")`.
                panic::panic_any(text);
            })
            .unwrap();
        pool.try_submit("owned \"quoted\"").unwrap();
        pool.try_submit("static payload").unwrap();
        pool.shutdown();
        let ours: Vec<String> = logger
            .lines
            .lock()
            .iter()
            .filter(|line| line.contains("logged-1"))
            .cloned()
            .collect();
        assert_eq!(
            ours,
            [
                r#"worker logged-1 panicked: "owned \"quoted\"""#,
                r#"worker logged-1 panicked: "static payload""#,
            ]
        );
    }

    #[test]
    fn shutdown_runs_queued_jobs_and_joins() {
        let pool = job_pool(1, 10, "shutdown");
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        let ran = Arc::new(Mutex::new(Vec::new()));
        submit(&pool, blocker(0, &started_tx, &gate_rx));
        for id in 1..=10 {
            let ran = Arc::clone(&ran);
            submit(&pool, Box::new(move || ran.lock().push(id)));
        }
        recv(&started_rx);
        assert_eq!(pool.n_queued(), 10);
        // Closed with ten items still waiting; shutdown must run them all.
        pool.close();
        drop(gate_tx);
        pool.shutdown();
        assert_eq!(*ran.lock(), (1..=10).collect::<Vec<_>>());
        // Every job, and with it its clone of `ran`, is gone.
        assert_eq!(Arc::strong_count(&ran), 1);
    }

    #[test]
    fn drop_closes_drains_and_joins() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        let pool = Builder::new()
            .workers(2)
            .queue_capacity(10)
            .name_prefix("dropped")
            .build(move |n: usize| {
                let _ = gate_rx.recv();
                tx.send(n).unwrap();
            })
            .unwrap();
        for n in 0..12 {
            pool.try_submit(n).unwrap();
        }
        // Both workers hold an item at the closed gate; ten items wait.
        assert_eq!((pool.n_busy(), pool.n_queued()), (2, 10));
        drop(gate_tx);
        drop(pool);
        let seen: BTreeSet<usize> = rx.try_iter().collect();
        assert_eq!(seen, (0..12).collect());
        // Joined: no worker still holds the handler (and with it `tx`).
        assert_eq!(
            rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        );
    }

    #[test]
    fn concurrent_submitters_lose_and_duplicate_nothing() {
        const N_THREADS: usize = 4;
        const N_PER_THREAD: usize = 500;
        let (tx, rx) = crossbeam_channel::unbounded();
        let pool = Builder::new()
            .workers(2)
            .queue_capacity(3)
            .name_prefix("contended")
            .build(move |n: usize| tx.send(n).unwrap())
            .unwrap();
        let accepted: Vec<usize> = thread::scope(|scope| {
            let pool = &pool;
            let submitters: Vec<_> = (0..N_THREADS)
                .map(|t| {
                    scope.spawn(move || {
                        let mut accepted = Vec::new();
                        for i in 0..N_PER_THREAD {
                            let n = t * N_PER_THREAD + i;
                            match pool.try_submit(n) {
                                Ok(()) => accepted.push(n),
                                Err(SubmitError::Full(back)) => assert_eq!(back, n),
                                Err(SubmitError::Closed(_)) => panic!("pool closed early"),
                            }
                        }
                        accepted
                    })
                })
                .collect();
            submitters
                .into_iter()
                .flat_map(|handle| handle.join().unwrap())
                .collect()
        });
        pool.shutdown();
        let mut ran: Vec<usize> = rx.try_iter().collect();
        ran.sort_unstable();
        let mut accepted = accepted;
        accepted.sort_unstable();
        assert!(!accepted.is_empty());
        assert_eq!(ran, accepted);
    }

    /// Waits, without sleeping, until `n` submitters wait for room in `pool`.
    fn until_waiting(pool: &ThreadPool<Job>, n: usize) {
        let started = std::time::Instant::now();
        while pool.stats().n_waiting != n {
            assert!(
                started.elapsed() < HANG_GUARD,
                "no submitter started waiting"
            );
            thread::yield_now();
        }
    }

    /// A pool of one worker, without queue, whose worker is running a job that ends once
    /// the returned gate's sender is dropped.
    fn occupied_pool(prefix: &str) -> (ThreadPool<Job>, Sender<()>) {
        let pool = job_pool(1, 0, prefix);
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        submit(&pool, blocker(0, &started_tx, &gate_rx));
        recv(&started_rx);
        (pool, gate_tx)
    }

    #[test]
    fn blocking_submit_completes_once_a_worker_frees_up() {
        let (pool, gate_tx) = occupied_pool("blocking-submit");
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        assert_full_hands_back(&pool, 1);
        thread::scope(|scope| {
            let pool = &pool;
            let submitter = scope.spawn(move || pool.submit(reporter(2, &done_tx)).is_ok());
            // The submitter waits for room, and its job has not run.
            until_waiting(pool, 1);
            assert_eq!(
                done_rx.try_recv(),
                Err(crossbeam_channel::TryRecvError::Empty)
            );
            // The running job ends: the worker is free, the submission goes through.
            drop(gate_tx);
            assert!(submitter.join().unwrap());
        });
        assert_eq!(recv(&done_rx), 2);
        assert_eq!(pool.stats().n_waiting, 0);
        pool.shutdown();
    }

    #[test]
    fn blocking_submit_takes_a_freed_queue_place() {
        let pool = job_pool(1, 1, "blocking-queue");
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        let (first_gate_tx, first_gate_rx) = crossbeam_channel::unbounded::<()>();
        let (second_gate_tx, second_gate_rx) = crossbeam_channel::unbounded::<()>();
        submit(&pool, blocker(0, &started_tx, &first_gate_rx));
        submit(&pool, blocker(1, &started_tx, &second_gate_rx));
        assert_eq!(recv(&started_rx), 0);
        thread::scope(|scope| {
            let pool = &pool;
            let started_tx = started_tx.clone();
            let gate_rx = second_gate_rx.clone();
            let submitter = scope.spawn(move || pool.submit(blocker(2, &started_tx, &gate_rx)));
            until_waiting(pool, 1);
            // Job 0 ends, the worker takes job 1 from the queue, job 2 takes its place.
            drop(first_gate_tx);
            assert!(submitter.join().unwrap().is_ok());
        });
        assert_eq!(recv(&started_rx), 1);
        assert_eq!((pool.n_busy(), pool.n_queued()), (1, 1));
        drop(second_gate_tx);
        pool.shutdown();
        assert_eq!(recv(&started_rx), 2);
    }

    #[test]
    fn submit_timeout_hands_the_item_back_when_no_room_comes() {
        let (pool, gate_tx) = occupied_pool("timeout");
        let (tx, rx) = crossbeam_channel::unbounded();
        for timeout in [Duration::ZERO, Duration::from_millis(20)] {
            match pool.submit_timeout(reporter(7, &tx), timeout) {
                Err(SubmitError::Full(job)) => {
                    job();
                    assert_eq!(rx.try_recv(), Ok(7));
                }
                other => panic!("expected Full after {timeout:?}, got {other:?}"),
            }
        }
        assert_eq!(pool.stats().n_waiting, 0);
        drop(gate_tx);
        // With room, it is accepted at once.
        pool.wait_idle();
        assert!(
            pool.submit_timeout(reporter(8, &tx), Duration::ZERO)
                .is_ok()
        );
        pool.shutdown();
        assert_eq!(recv(&rx), 8);
    }

    #[test]
    fn closing_the_pool_hands_waiting_items_back() {
        let (pool, gate_tx) = occupied_pool("close-waiting");
        let (tx, rx) = crossbeam_channel::unbounded();
        thread::scope(|scope| {
            let pool = &pool;
            let forever = scope.spawn({
                let tx = tx.clone();
                move || pool.submit(reporter(1, &tx))
            });
            let bounded = scope.spawn({
                let tx = tx.clone();
                move || pool.submit_timeout(reporter(2, &tx), HANG_GUARD)
            });
            until_waiting(pool, 2);
            pool.close();
            for handle in [forever, bounded] {
                match handle.join().unwrap() {
                    Err(SubmitError::Closed(job)) => job(),
                    other => panic!("expected Closed, got {other:?}"),
                }
            }
        });
        let mut back: Vec<usize> = rx.try_iter().collect();
        back.sort_unstable();
        assert_eq!(back, [1, 2]);
        assert!(matches!(
            pool.submit(reporter(3, &tx)),
            Err(SubmitError::Closed(_))
        ));
        drop(gate_tx);
        pool.shutdown();
    }

    #[test]
    fn wait_idle_waits_for_every_accepted_item_and_leaves_the_pool_usable() {
        let pool = job_pool(2, 8, "wait-idle");
        // Nothing to wait for.
        pool.wait_idle();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
        for id in 0..10 {
            let ran = Arc::clone(&ran);
            let gate_rx = gate_rx.clone();
            submit(
                &pool,
                Box::new(move || {
                    let _ = gate_rx.recv();
                    ran.lock().push(id);
                }),
            );
        }
        assert_eq!((pool.n_busy(), pool.n_queued()), (2, 8));
        thread::scope(|scope| {
            let pool = &pool;
            let waiter = scope.spawn(move || {
                pool.wait_idle();
                pool.stats()
            });
            drop(gate_tx);
            let stats = waiter.join().unwrap();
            assert_eq!((stats.n_busy, stats.n_queued), (0, 0));
        });
        assert_eq!(ran.lock().len(), 10);
        // Still open: more work runs.
        assert!(!pool.is_closed());
        let (tx, rx) = crossbeam_channel::unbounded();
        submit(&pool, reporter(11, &tx));
        pool.wait_idle();
        assert_eq!(rx.try_recv(), Ok(11));
        pool.shutdown();
    }

    #[test]
    fn panic_handler_receives_the_worker_name_and_payload() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pool = Builder::new()
            .workers(1)
            .queue_capacity(4)
            .name_prefix("hooked")
            .panic_handler(move |worker, payload| {
                let message = if let Some(text) = payload.downcast_ref::<&str>() {
                    (*text).to_string()
                } else if let Some(text) = payload.downcast_ref::<String>() {
                    text.clone()
                } else if let Some(n) = payload.downcast_ref::<u32>() {
                    format!("u32 {n}")
                } else {
                    "other".to_string()
                };
                tx.send(format!("{worker}: {message}")).unwrap();
            })
            .build(|kind: u8| match kind {
                0 => panic!("a static str"),
                1 => panic!("a formatted {}", "String"),
                2 => panic::panic_any(42_u32),
                _ => {}
            })
            .unwrap();
        for kind in [0, 1, 3, 2] {
            pool.try_submit(kind).unwrap();
        }
        pool.shutdown();
        let got: Vec<String> = rx.try_iter().collect();
        assert_eq!(
            got,
            [
                "hooked-1: a static str",
                "hooked-1: a formatted String",
                "hooked-1: u32 42"
            ]
        );
    }

    #[test]
    fn a_panicking_panic_handler_does_not_kill_the_worker() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pool = Builder::new()
            .workers(1)
            .queue_capacity(4)
            .panic_handler(|_, _| panic!("the handler fails too"))
            .build(move |n: u8| {
                assert!(n != 0, "zero");
                tx.send(n).unwrap();
            })
            .unwrap();
        for n in [0, 1, 0, 2] {
            pool.try_submit(n).unwrap();
        }
        pool.shutdown();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn debug_shows_configuration_and_counters() {
        let builder = Builder::new().workers(2).panic_handler(|_, _| {});
        let shown = format!("{builder:?}");
        assert!(shown.contains("n_workers: 2"), "{shown}");
        assert!(shown.contains("panic_handler: Some"), "{shown}");
        let pool = job_pool(2, 3, "debug");
        let shown = format!("{pool:?}");
        for field in [
            "n_workers: 2",
            "queue_capacity: 3",
            "n_busy: 0",
            "is_closed: false",
        ] {
            assert!(shown.contains(field), "{shown}");
        }
        pool.shutdown();
    }

    #[test]
    fn zero_workers_panic() {
        let result = panic::catch_unwind(|| Builder::new().workers(0));
        assert!(result.is_err());
    }

    #[test]
    fn nul_in_name_prefix_is_an_error() {
        let result = Builder::new().name_prefix("bad\0name").build(|_: ()| {});
        let err = result.expect_err("a NUL byte cannot be in a thread name");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn builder_defaults() {
        let pool = Builder::default().build(|_: ()| {}).unwrap();
        assert_eq!(pool.n_workers(), DEFAULT_N_WORKERS);
        assert_eq!(pool.queue_capacity(), DEFAULT_QUEUE_CAPACITY);
        let (name_tx, name_rx) = crossbeam_channel::unbounded();
        let pool_of_jobs = job_pool(1, 0, DEFAULT_NAME_PREFIX);
        submit(
            &pool_of_jobs,
            Box::new(move || {
                name_tx
                    .send(thread::current().name().map(str::to_string))
                    .unwrap();
            }),
        );
        assert_eq!(recv(&name_rx).as_deref(), Some("pool-worker-1"));
        pool.shutdown();
        pool_of_jobs.shutdown();
    }

    #[test]
    fn submit_error_formats_without_the_item() {
        let cases = [
            (SubmitError::Full("secret"), "Full(..)", "queue is full"),
            (
                SubmitError::Closed("secret"),
                "Closed(..)",
                "pool is shut down",
            ),
        ];
        for (err, debug, display) in cases {
            assert_eq!(format!("{err:?}"), debug);
            assert_eq!(err.to_string(), display);
            assert_eq!(err.into_inner(), "secret");
        }
    }

    #[test]
    fn pool_is_send_and_sync() {
        fn assert_send_sync<X: Send + Sync>() {}
        assert_send_sync::<ThreadPool<Job>>();
        assert_send_sync::<Builder>();
        assert_send_sync::<SubmitError<String>>();
    }
}
