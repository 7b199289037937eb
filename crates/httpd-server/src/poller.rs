//! The poller: a thread that owns every connection it accepted, from accept to close.
//!
//! [`Server::run`](crate::Server::run) starts one poller per CPU by default
//! ([`Config::n_pollers`](crate::Config::n_pollers)), named `httpd-poll-1`,
//! `httpd-poll-2`, ... in logs, access lines and `ps`. Each waits in its own
//! [`mio::Poll`] on its descriptors of the listening sockets (every poller is woken
//! for a new connection; one wins the `accept`), on its [`Waker`](mio::Waker) and on every
//! connection it accepted. A connection never leaves its poller: workers get jobs and
//! send results back ([`jobs`](crate::jobs)), so no socket is ever shared or moved
//! between threads.
//!
//! # One turn
//!
//! 1. Wait for readiness, at most until the earliest deadline (or 10 ms while a job
//!    waits for room in the pool's queue).
//! 2. Read the clock once; every decision of the turn uses that `now`.
//! 3. For each ready connection: record the edge and [`Conn::drive`] it.
//! 4. Take every job result from the channel and hand it to its connection (a result
//!    for a connection that is gone, or for an earlier exchange, is dropped).
//! 5. Retry jobs waiting for room in the queue; accept new connections.
//! 6. Expire deadlines from the timer wheel (at most [`EXPIRE_BATCH`] a turn).
//!
//! # Why no wake-up is lost
//!
//! Registrations are edge-triggered for both directions and stay from accept to
//! close. A connection remembers an edge until a read (or write) finds the socket
//! empty (or full), so it may stop reading for a while (a job running, an upload's
//! back-pressure) and pick up later without a new event. Workers send first and wake
//! second, and the channel is drained on every turn, so a result is never left behind
//! a consumed wake-up. Closing a connection closes its only descriptor, which also
//! removes it from the poll; the token is reused only after that.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use httpd_pool::ThreadPool;
use httpd_security::Refusal;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::Context;
use crate::conn::{Conn, Drive, Env};
use crate::jobs::{Done, Job};
use crate::listener::{self, Listener};
use crate::monitor::{Overload, Throttle};
use crate::plan::Peer;
use crate::response::Response;
use crate::timer::{Due, Wheel};
use crate::transport::{READ_CHUNK, Transport};

/// The token of the [`Waker`](mio::Waker) that workers and the shutdown handle use.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Listener `i` polls under `Token(LISTENER_BASE - i)`.
const LISTENER_BASE: usize = usize::MAX - 1;

/// How often a poller tries again to hand a job to a full pool queue.
const JOB_RETRY: Duration = Duration::from_millis(10);

/// How many connections one turn of the loop accepts before it looks at other events.
const ACCEPT_BATCH: usize = 256;

/// How long the poller waits before calling `accept` again after it failed for a reason
/// other than the peer (out of file descriptors, for instance).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How many expired connections one turn of the loop handles at most.
const EXPIRE_BATCH: usize = 64;

/// How many readiness events one poll returns at most.
const EVENTS_CAPACITY: usize = 1024;

/// The poller's state; see the module docs.
pub(crate) struct Poller {
    home: usize,
    name: Arc<str>,
    poll: Poll,
    /// Every listening socket; empty once shutdown began.
    listeners: Vec<Listener>,
    ctx: Arc<Context>,
    /// Connections open at once under all pollers; more get 503.
    max_connections: usize,
    /// Every connection this poller owns, by token.
    conns: Vec<Option<Box<Conn>>>,
    /// Tokens free for reuse.
    free: Vec<usize>,
    wheel: Wheel,
    back: Receiver<Done>,
    /// Connections with a job waiting for room in the pool's queue, oldest first.
    waiting: Vec<usize>,
    scratch: Vec<u8>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    next_serial: u64,
    /// The listeners may hold connections that no future edge will announce.
    accept_pending: bool,
    /// Set after `accept` failed on our side: do not call it again before this.
    accept_retry_at: Option<Instant>,
    overload: Overload,
    conn_cap_log: Throttle,
    /// Connections of this poller that are idle (between requests), kept up to date
    /// after each drive: counting them on demand would walk every connection.
    n_idle: usize,
    /// The idle count this poller last added to the shared gauge.
    published_idle: i64,
    due: Vec<(usize, u64)>,
    /// Reused for every request path this poller resolves.
    path_buf: httpd_security::SafePath,
}

impl Poller {
    /// Registers the listeners; the poll must already hold the workers' waker.
    pub(crate) fn new(
        home: usize,
        poll: Poll,
        listeners: Vec<Listener>,
        ctx: Arc<Context>,
        max_connections: usize,
        back: Receiver<Done>,
    ) -> io::Result<Poller> {
        for (i, listener) in listeners.iter().enumerate() {
            poll.registry().register(
                &mut SourceFd(&listener.socket.as_raw_fd()),
                Token(LISTENER_BASE - i),
                Interest::READABLE,
            )?;
        }
        let now = Instant::now();
        let ctx_root = ctx.root.clone();
        Ok(Poller {
            home,
            name: Arc::from(format!("{}-{}", POLLER_PREFIX, home + 1)),
            poll,
            listeners,
            overload: Overload::new(Arc::clone(&ctx)),
            ctx,
            max_connections,
            conns: Vec::new(),
            free: Vec::new(),
            wheel: Wheel::new(now),
            back,
            waiting: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            rbuf: Vec::with_capacity(READ_CHUNK),
            wbuf: Vec::with_capacity(READ_CHUNK),
            next_serial: 0,
            // Connections may have queued between bind and the registration above.
            accept_pending: true,
            accept_retry_at: None,
            conn_cap_log: Throttle::default(),
            n_idle: 0,
            published_idle: 0,
            due: Vec::new(),
            path_buf: httpd_security::SafePath::empty(&ctx_root),
        })
    }

    /// The thread name for this poller.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs until shutdown, then answers what was read (within `shutdown_timeout`),
    /// closes everything and returns.
    ///
    /// # Errors
    /// The `io::Error` of `poll` itself (not of any connection).
    pub(crate) fn run(
        &mut self,
        pool: &ThreadPool<Job>,
        shutdown_timeout: Duration,
    ) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut stop_by: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if stop_by.is_none() && self.ctx.stop.load(Ordering::Acquire) {
                stop_by = Some(now + shutdown_timeout);
                self.begin_shutdown(pool, now);
            }
            if let Some(by) = stop_by {
                if self.n_open() == 0 {
                    break;
                }
                if now >= by {
                    log::warn!(
                        "connections still busy after {:.1}s; closing {}",
                        shutdown_timeout.as_secs_f64(),
                        self.n_open()
                    );
                    break;
                }
            }
            let timeout = self.timeout(now, stop_by);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    // The channel is drained below, wake-up or not.
                    continue;
                }
                if token.0 > LISTENER_BASE - self.listeners.len().max(1) && token.0 <= LISTENER_BASE
                {
                    self.accept_pending = true;
                    continue;
                }
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                if let Some(Some(conn)) = self.conns.get_mut(token.0) {
                    conn.ready(readable, writable);
                    self.drive(token.0, pool, now, |conn, env| conn.drive(env));
                }
            }
            self.take_results(pool, now);
            self.retry_jobs(pool, now);
            if stop_by.is_none()
                && self.accept_pending
                && self.accept_retry_at.is_none_or(|at| at <= now)
            {
                self.accept(pool, now);
            }
            self.expire(pool, now);
            self.publish_gauges(pool);
        }
        // Whatever is left is closed: dropping a connection closes its socket, and an
        // upload's pending file goes with it.
        for slot in &mut self.conns {
            if let Some(conn) = slot.take() {
                self.ctx.admission.release(conn.peer.addr.ip());
            }
        }
        self.publish_idle(0);
        Ok(())
    }

    fn n_open(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// How long the next poll may wait.
    fn timeout(&mut self, now: Instant, stop_by: Option<Instant>) -> Option<Duration> {
        let mut next = self.wheel.timeout(now);
        let mut cap = |d: Duration| next = Some(next.map_or(d, |n| n.min(d)));
        if !self.waiting.is_empty() {
            cap(JOB_RETRY);
        }
        if self.accept_pending && stop_by.is_none() {
            cap(self
                .accept_retry_at
                .map_or(Duration::ZERO, |at| at.saturating_duration_since(now)));
        }
        if let Some(by) = stop_by {
            cap(by.saturating_duration_since(now));
        }
        next
    }

    /// Runs `f` on the connection of `token` with the poller's environment, then
    /// closes it or files its deadline.
    fn drive(
        &mut self,
        token: usize,
        pool: &ThreadPool<Job>,
        now: Instant,
        f: impl FnOnce(&mut Conn, &mut Env<'_>) -> Drive,
    ) {
        let Some(Some(conn)) = self.conns.get_mut(token) else {
            return;
        };
        let mut env = Env {
            ctx: &self.ctx,
            pool,
            home: self.home,
            by: &self.name,
            now,
            scratch: &mut self.scratch,
            rbuf: &mut self.rbuf,
            wbuf: &mut self.wbuf,
            next_serial: &mut self.next_serial,
            wants_retry: false,
            overload: &mut self.overload,
            path_buf: &mut self.path_buf,
        };
        // A bug that panics on one connection closes that connection, not the poller
        // and every other connection with it.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn, &mut env)));
        let wants_retry = env.wants_retry;
        let drive = match outcome {
            Ok(drive) => drive,
            Err(payload) => {
                self.ctx
                    .counters
                    .n_handler_panics
                    .fetch_add(1, Ordering::Relaxed);
                log::error!(
                    "connection handling panicked: {}",
                    crate::jobs::panic_message(payload.as_ref())
                );
                // The lent buffers may be gone with the unwinding: start afresh.
                self.rbuf = Vec::with_capacity(READ_CHUNK);
                self.wbuf = Vec::with_capacity(READ_CHUNK);
                Drive::Close
            }
        };
        match drive {
            Drive::Close => self.close(token),
            Drive::Open => {
                if wants_retry && !self.waiting.contains(&token) {
                    self.waiting.push(token);
                }
                if let Some(Some(conn)) = self.conns.get_mut(token) {
                    if let Some(deadline) = conn.deadline {
                        self.wheel.arm(token, deadline, &mut conn.armed);
                    }
                    let idle = conn.is_idle();
                    if idle != conn.counted_idle {
                        conn.counted_idle = idle;
                        if idle {
                            self.n_idle += 1;
                        } else {
                            self.n_idle -= 1;
                        }
                    }
                }
            }
        }
    }

    /// Closes and forgets the connection of `token`.
    fn close(&mut self, token: usize) {
        if let Some(slot) = self.conns.get_mut(token) {
            if let Some(conn) = slot.take() {
                self.ctx.admission.release(conn.peer.addr.ip());
                if conn.counted_idle {
                    self.n_idle -= 1;
                }
                self.free.push(token);
                // Dropping closes the only descriptor, which also leaves the poll.
                drop(conn);
            }
        }
        self.waiting.retain(|&t| t != token);
    }

    /// Hands every job result to its connection.
    fn take_results(&mut self, pool: &ThreadPool<Job>, now: Instant) {
        while let Ok(done) = self.back.try_recv() {
            let token = done.token;
            if !matches!(self.conns.get(token), Some(Some(_))) {
                // The connection is gone; dropping the result cleans up.
                continue;
            }
            self.drive(token, pool, now, |conn, env| conn.job_done(done, env));
        }
    }

    /// Submits jobs that waited for room in the pool's queue, oldest first.
    fn retry_jobs(&mut self, pool: &ThreadPool<Job>, now: Instant) {
        let waiting = std::mem::take(&mut self.waiting);
        let mut still = Vec::new();
        let mut full = false;
        for token in waiting {
            if full {
                still.push(token);
                continue;
            }
            let mut submitted = false;
            self.drive(token, pool, now, |conn, env| {
                submitted = conn.retry_job(env);
                if submitted {
                    conn.drive(env)
                } else {
                    Drive::Open
                }
            });
            if !submitted {
                full = true;
                still.push(token);
            }
        }
        still.retain(|&t| matches!(self.conns.get(t), Some(Some(c)) if c.is_waiting()));
        self.waiting.extend(still);
        self.waiting.dedup();
    }

    /// Accepts up to [`ACCEPT_BATCH`] connections from each listener.
    fn accept(&mut self, pool: &ThreadPool<Job>, now: Instant) {
        self.accept_retry_at = None;
        let mut more = false;
        for i in 0..self.listeners.len() {
            let mut n_accepted = 0;
            loop {
                if n_accepted == ACCEPT_BATCH {
                    more = true;
                    break;
                }
                match listener::accept(&self.listeners[i].socket) {
                    Ok((stream, peer)) => {
                        n_accepted += 1;
                        let tls = self.listeners[i].tls;
                        self.admit(stream, peer, tls, pool, now);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted
                                | io::ErrorKind::ConnectionAborted
                                | io::ErrorKind::ConnectionReset
                        ) => {}
                    Err(e) => {
                        // EMFILE and friends: the backlog stays, and no new edge may
                        // come for it, so try again shortly.
                        log::warn!("accept failed: {e}");
                        self.accept_retry_at = Some(now + ACCEPT_RETRY);
                        more = true;
                        break;
                    }
                }
            }
        }
        self.accept_pending = more;
    }

    /// Takes in a new connection, or refuses it beyond the caps.
    fn admit(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        tls: bool,
        pool: &ThreadPool<Job>,
        now: Instant,
    ) {
        let ctx = Arc::clone(&self.ctx);
        match ctx
            .admission
            .admit(peer.ip(), self.max_connections, ctx.limits.max_conns_per_ip)
        {
            Ok(()) => {}
            Err(refusal) => {
                ctx.metrics.rejected();
                match refusal {
                    Refusal::Full(open) => {
                        ctx.counters.n_over_capacity.fetch_add(1, Ordering::Relaxed);
                        let (level, n_more) = self.conn_cap_log.level(log::Level::Warn);
                        log::log!(
                            level,
                            "connection limit reached ({open}/{}): 503 for {peer}{}",
                            self.max_connections,
                            n_more
                        );
                    }
                    Refusal::PerAddr(held) => {
                        // A client hogging connections is peer behaviour: debug.
                        log::debug!("{peer}: {held} connections from this address: 503");
                    }
                    other => log::debug!("{peer}: refused ({other:?}): 503"),
                }
                if tls {
                    // A plain answer means nothing to a TLS client: just close.
                    return;
                }
                let answer = busy_answer(&ctx);
                let sent = listener::refuse(stream, &answer);
                log::info!(target: "access", "{peer} \"-\" 503 {} 0.0ms {}", sent.min(answer.len()), self.name);
                return;
            }
        }
        // Counted from here: every way out below releases the count.
        let transport = if tls {
            match ctx.tls.as_ref().map(|t| t.session()) {
                Some(Ok(session)) => Transport::tls(stream, session),
                Some(Err(e)) => {
                    log::warn!("cannot start a TLS session: {e}");
                    ctx.admission.release(peer.ip());
                    return;
                }
                None => {
                    ctx.admission.release(peer.ip());
                    return;
                }
            }
        } else {
            Transport::Plain(stream)
        };
        // Small responses go out at once; the kernel still coalesces our single writes.
        if let Err(e) = transport.socket().set_nodelay(true) {
            log::debug!("{peer}: cannot configure the socket: {e}");
            ctx.admission.release(peer.ip());
            return;
        }
        let token = match self.free.pop() {
            Some(token) => token,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut SourceFd(&transport.socket().as_raw_fd()),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("cannot poll the connection from {peer}: {e}");
            ctx.admission.release(peer.ip());
            self.free.push(token);
            return;
        }
        log::debug!("connection from {peer}");
        let conn = Conn::new(
            token,
            Peer {
                addr: peer,
                https: tls,
            },
            transport,
            now,
        );
        self.conns[token] = Some(Box::new(conn));
        // With deferred accept the request is usually here already.
        self.drive(token, pool, now, |conn, env| conn.drive(env));
    }

    /// Ends connections whose deadline passed, at most [`EXPIRE_BATCH`] per turn:
    /// thousands of idle connections timing out together are closed over several
    /// turns, between which active connections are served.
    fn expire(&mut self, pool: &ThreadPool<Job>, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.wheel.take_due(now, &mut due);
        let mut n_expired = 0;
        for (token, tick) in due.drain(..) {
            let Some(Some(conn)) = self.conns.get_mut(token) else {
                continue;
            };
            if self.wheel.settle(token, tick, &mut conn.armed) == Due::Skip {
                continue;
            }
            match conn.deadline {
                Some(deadline) if deadline <= now => {
                    if n_expired == EXPIRE_BATCH {
                        // Next turn: filed for now, which is already due.
                        self.wheel.arm(token, now, &mut conn.armed);
                        continue;
                    }
                    n_expired += 1;
                    self.drive(token, pool, now, |conn, env| conn.expire(env));
                }
                Some(deadline) => self.wheel.arm(token, deadline, &mut conn.armed),
                None => {}
            }
        }
        self.due = due;
    }

    /// Shutdown: stops listening and closes every connection that has no request
    /// under way; the others finish their answer and then close.
    fn begin_shutdown(&mut self, pool: &ThreadPool<Job>, now: Instant) {
        for listener in std::mem::take(&mut self.listeners) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&listener.socket.as_raw_fd()));
        }
        if self.ctx.pollers_listening.fetch_sub(1, Ordering::AcqRel) == 1 {
            log::info!("Shutting down server...");
        }
        for token in 0..self.conns.len() {
            let stop = match self.conns.get_mut(token) {
                Some(Some(conn)) => conn.stop(),
                _ => continue,
            };
            match stop {
                Drive::Close => self.close(token),
                Drive::Open => self.drive(token, pool, now, |conn, env| conn.drive(env)),
            }
        }
    }

    /// Publishes connection and pool gauges for `/metrics`.
    fn publish_gauges(&mut self, pool: &ThreadPool<Job>) {
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        // Debug builds (the tests') check the count against a walk of a small table.
        debug_assert!(
            self.conns.len() > 1024
                || self.n_idle
                    == self
                        .conns
                        .iter()
                        .filter(|slot| slot.as_ref().is_some_and(|c| c.is_idle()))
                        .count(),
            "the idle count follows every connection"
        );
        if as_i64(self.n_idle) != self.published_idle {
            self.publish_idle(as_i64(self.n_idle));
        }
        let m = &self.ctx.metrics;
        m.open_connections
            .store(as_i64(self.ctx.admission.n_open()), Ordering::Relaxed);
        let stats = pool.stats();
        // The seed's status line, also when the poller answers everything itself.
        self.overload.observe(&stats);
        m.busy_workers
            .store(as_i64(stats.n_busy), Ordering::Relaxed);
        m.queued.store(as_i64(stats.n_queued), Ordering::Relaxed);
    }

    /// Each poller adds the change of its own idle count to the shared gauge.
    fn publish_idle(&mut self, idle: i64) {
        self.ctx
            .metrics
            .idle_connections
            .fetch_add(idle - self.published_idle, Ordering::Relaxed);
        self.published_idle = idle;
    }
}

/// The prefix of pollers' thread names.
pub(crate) const POLLER_PREFIX: &str = "httpd-poll";

/// The 503 a connection beyond the caps gets.
fn busy_answer(ctx: &Context) -> Vec<u8> {
    let response = Response::error(503).with("Retry-After", "5");
    ctx.write_closing_error(response, false, b"", Vec::new()).0
}
