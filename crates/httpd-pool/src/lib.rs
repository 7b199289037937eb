//! A fixed-size pool of named worker threads fed by one bounded queue.
//!
//! STUB: the API below is the agreed contract; bodies are being written.
#![deny(missing_docs)]

use std::fmt;
use std::sync::Arc;

/// Why [`ThreadPool::try_submit`] refused an item; the item is handed back.
pub enum SubmitError<T> {
    /// The queue holds as many waiting items as its capacity.
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

/// Configures a [`ThreadPool`].
#[derive(Clone, Debug)]
pub struct Builder {
    n_workers: usize,
    queue_capacity: usize,
    name_prefix: String,
}

impl Builder {
    /// Starts with 4 workers, a queue of 64 and thread names `pool-worker-N`.
    pub fn new() -> Builder {
        Builder {
            n_workers: 4,
            queue_capacity: 64,
            name_prefix: "pool-worker".to_string(),
        }
    }

    /// Sets the number of workers.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn workers(mut self, n: usize) -> Builder {
        self.n_workers = n;
        self
    }

    /// Sets how many submitted items may wait for a worker (0 is allowed: hand-off only).
    pub fn queue_capacity(mut self, n: usize) -> Builder {
        self.queue_capacity = n;
        self
    }

    /// Sets the thread name prefix; workers are named `PREFIX-1` .. `PREFIX-N`.
    pub fn name_prefix(mut self, prefix: &str) -> Builder {
        self.name_prefix = prefix.to_string();
        self
    }

    /// Spawns the workers; each runs `handler` on the items it receives.
    ///
    /// # Errors
    /// The `io::Error` from spawning a thread.
    pub fn build<T, F>(self, handler: F) -> std::io::Result<ThreadPool<T>>
    where
        T: Send + 'static,
        F: Fn(T) + Send + Sync + 'static,
    {
        let _ = (Arc::new(handler), &self.n_workers, &self.queue_capacity, &self.name_prefix);
        unimplemented!()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

/// A fixed set of worker threads consuming items from one bounded queue.
pub struct ThreadPool<T> {
    _marker: std::marker::PhantomData<T>,
}

impl<T: Send + 'static> ThreadPool<T> {
    /// Queues `item` for a worker without blocking.
    ///
    /// # Errors
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], holding `item`.
    pub fn try_submit(&self, item: T) -> Result<(), SubmitError<T>> {
        let _ = item;
        unimplemented!()
    }

    /// Returns the number of worker threads.
    pub fn n_workers(&self) -> usize {
        unimplemented!()
    }

    /// Returns how many workers are running an item right now.
    pub fn n_busy(&self) -> usize {
        unimplemented!()
    }

    /// Returns how many items wait in the queue.
    pub fn n_queued(&self) -> usize {
        unimplemented!()
    }

    /// Returns the queue's capacity.
    pub fn queue_capacity(&self) -> usize {
        unimplemented!()
    }

    /// Returns how many items panicked in the handler so far.
    pub fn n_panics(&self) -> usize {
        unimplemented!()
    }

    /// Stops taking items, lets the workers finish every queued item, and joins them.
    pub fn shutdown(self) {
        unimplemented!()
    }
}
