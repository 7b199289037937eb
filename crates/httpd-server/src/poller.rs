//! The poller: a thread that owns every connection it accepted while no worker is
//! serving it, and hands a connection to the pool only when a whole request head is
//! buffered.
//!
//! [`Server::run`](crate::Server::run) starts one poller per CPU by default
//! ([`Config::n_pollers`](crate::Config::n_pollers)); their threads, log lines and
//! access lines are named [`POLLER_NAME`] (`httpd-poll`). Each waits in its own
//! [`mio::Poll`] on its descriptors of the listening sockets (every poller is woken for
//! a new connection; one wins the `accept`), on its [`Waker`] and on every connection
//! it parked, so an idle keep-alive connection or a client still sending its head costs
//! a socket and a few bytes of bookkeeping, never a thread. A connection stays with the
//! poller that accepted it (`Parked::home`): a worker hands it back there. The caps on
//! open connections, overall and per address, are counted across pollers
//! ([`Admission`]); the worker pool is shared.
//!
//! # A connection's life
//!
//! 1. Accepted: nonblocking, registered for readability under a fresh [`Token`] that it
//!    keeps until it is closed, and parked with an idle deadline
//!    ([`Limits::idle_timeout`](httpd_security::Limits)). Beyond the connection cap the
//!    poller answers `503` with `Retry-After: 5` itself and closes.
//! 2. Readable: the poller reads what the kernel has into the connection's buffer. The
//!    first byte of a head replaces the idle deadline with the head deadline
//!    ([`Limits::header_timeout`](httpd_security::Limits), counted from that byte).
//! 3. A complete head (or a head that must be refused: too large, malformed) is submitted
//!    to the pool as a [`Job`]; the pool's queue therefore holds only *ready*
//!    connections. When the queue is full the poller answers `503` + `Retry-After: 5`.
//! 4. A worker serves the buffered requests in blocking mode (pipelined heads at once),
//!    then either closes the connection or, when nothing complete is left, hands it back
//!    over a channel and wakes the poller ([`Returner`]). Back at step 2.
//! 5. An upload whose body is larger than the poller buffers before step 3: its worker
//!    checks the request, opens the upload's temporary file and hands the connection
//!    back with the upload ([`Parked::suspended`]). The poller then writes the body into
//!    the file as it arrives (deadline: the body's read timeout or minimum rate, see
//!    `body::BodyReader::deadline`) and, once it is complete or has failed, submits the
//!    connection again; a worker stores the upload and answers. A finished upload finding
//!    the queue full waits parked (`uploads_waiting`) for up to the idle timeout.
//!
//! Deadlines live in one ordered set of `(Instant, Token)`; the poll timeout is the
//! earliest one. An idle deadline closes silently, a head deadline answers `408` (one
//! small nonblocking write, best effort) and closes. Only parked connections have a
//! deadline: a connection in a worker is bounded by its socket timeouts instead.
//!
//! # Why no wake-up is lost
//!
//! Readiness is edge-triggered: an event reports that new bytes arrived, once. Whoever
//! owns a connection is responsible for the bytes the kernel holds for it:
//!
//! - While parked, every event for it is followed by reads until `WouldBlock` (or until
//!   a whole head is buffered, when ownership passes to a worker). A read that returns
//!   less than it asked for counts as finding `WouldBlock`: the kernel had nothing
//!   more at that moment, and every later arrival raises a fresh edge (epoll(7)); this
//!   saves the extra `read` after each small request.
//! - While a worker owns it, the poller ignores events for its token; the worker reads
//!   with blocking reads as it needs.
//! - A connection handed back is treated as readable at once: the poller reads until
//!   `WouldBlock` before waiting again. Bytes that arrived while a worker owned it are
//!   read then; bytes arriving after that `WouldBlock` raise a fresh edge, because the
//!   registration stays in place from accept to close (it is removed by the owner right
//!   before the socket is closed, so a reused descriptor number is never touched).
//!
//! The return channel works the same way: a worker sends first and wakes second, and the
//! poller drains the channel after every wake-up (and on every loop turn), so a message
//! is never left behind an already consumed wake-up.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use httpd_pool::{Stats, SubmitError, ThreadPool};
use httpd_proto::HeadScanner;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use crate::Context;
use crate::conn::{self, HeadScan, Inline, Job};

/// How the poller's thread is named in log and access lines.
pub(crate) const POLLER_NAME: &str = "httpd-poll";

/// The listening socket's token.
/// Hashes the poller's own tokens: sequential numbers it hands out itself, never chosen
/// by a client, so one multiply spreads them well enough and SipHash's flood resistance
/// buys nothing here (it cost about 1 % of a busy poller's time).
type TokenHash = std::hash::BuildHasherDefault<TokenHasher>;

/// The [`Hasher`](std::hash::Hasher) behind [`TokenHash`].
#[derive(Default)]
struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // An odd multiplier keeps sequential tokens distinct in the low bits (hashbrown's
        // bucket index) and spreads them into the high bits (its tag byte).
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) const LISTENER: Token = Token(0);

/// How often a poller tries again to hand finished uploads to a full pool queue.
const UPLOAD_RETRY: Duration = Duration::from_millis(10);

/// The token of the [`Waker`] that workers and [`ShutdownHandle`](crate::ShutdownHandle)
/// use.
pub(crate) const WAKER: Token = Token(1);

/// The first token given to a connection.
const FIRST_CONN_TOKEN: usize = 2;

/// How many connections one turn of the loop accepts before it looks at other events;
/// the rest are accepted on the next turn (polled without waiting).
const ACCEPT_BATCH: usize = 256;

/// How long the poller waits before calling `accept` again after it failed for a reason
/// other than the peer (out of file descriptors, for instance).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How many expired connections one turn of the loop closes at most.
const EXPIRE_BATCH: usize = 64;

/// How many readiness events one poll returns at most.
const EVENTS_CAPACITY: usize = 1024;

/// Overload lines (pool saturated, queue full, connection cap, pool colour) are logged
/// at their level at most once per this interval; the others in between go to debug.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// How many bytes one read of a parked connection asks for; the buffer is shared by
/// every parked connection, whose own buffers grow only by what was read.
const READ_CHUNK: usize = 16 * 1024;

/// A connection between requests: its socket and what must survive from one request to
/// the next. The socket is nonblocking while parked.
#[derive(Debug)]
pub(crate) struct Parked {
    /// The index of the poller that accepted the connection and owns its registration;
    /// a worker hands the connection back to that poller.
    pub(crate) home: usize,
    /// The connection's registration with the poller, kept from accept to close.
    pub(crate) token: Token,
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Bytes read and not consumed yet: a partial or complete head, pipelined requests.
    pub(crate) buf: Vec<u8>,
    /// Requests already served on this connection, for the per-connection cap.
    pub(crate) n_served: u32,
    /// The unsent end of a response the poller served inline; a worker sends it first.
    pub(crate) pending: Vec<u8>,
    /// Close once `pending` is sent.
    pub(crate) close_after: bool,
    /// The socket's read and write timeouts are set; they matter only in blocking
    /// mode, so the first worker to take the connection sets them.
    pub(crate) timeouts_set: bool,
    /// An upload whose body the poller reads for a worker to answer later.
    pub(crate) suspended: Option<Box<conn::Suspended>>,
}

/// What every poller shares about open connections, for the caps that hold across
/// all of them.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// Connections open, parked or in the pool, under every poller.
    open: AtomicUsize,
    /// Open connections per client address (entries are removed at zero).
    per_addr: parking_lot::Mutex<HashMap<IpAddr, usize>>,
}

impl Admission {
    /// Counts a new connection from `ip` unless a cap is reached; returns which one.
    fn admit(
        &self,
        ip: IpAddr,
        max_connections: usize,
        max_per_addr: usize,
    ) -> Result<(), Refusal> {
        // Both caps are checked and counted under the one lock, so pollers admitting
        // at the same moment cannot overshoot either.
        let mut per_addr = self.per_addr.lock();
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
    fn release(&self, ip: IpAddr) {
        let mut per_addr = self.per_addr.lock();
        if let Some(n) = per_addr.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                per_addr.remove(&ip);
            }
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
        drop(per_addr);
    }

    /// Connections open now.
    pub(crate) fn n_open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// Why a new connection was refused.
enum Refusal {
    /// The connection cap; this many were open.
    Full(usize),
    /// The per-address cap; this address held this many.
    PerAddr(usize),
}

/// What a worker tells the poller about a connection it was given.
#[derive(Debug)]
pub(crate) enum Back {
    /// Nothing complete is buffered: wait for more bytes.
    Parked(Parked),
    /// The connection was closed (and deregistered); its token is free.
    Closed(Token),
}

/// The workers' way back to the poller: a channel plus the poller's [`Waker`].
#[derive(Debug)]
pub(crate) struct Returner {
    tx: Sender<Back>,
    waker: Arc<Waker>,
    /// A handle on the poller's registry, so a worker deregisters what it closes.
    registry: Registry,
}

impl Returner {
    /// Hands a connection back to the poller; its socket must be nonblocking.
    ///
    /// If the poller is gone (shutting down), the connection is closed instead.
    pub(crate) fn park(&self, conn: Parked) {
        if let Err(unsent) = self.tx.send(Back::Parked(conn)) {
            if let Back::Parked(conn) = unsent.into_inner() {
                self.deregister(&conn.stream);
            }
            return;
        }
        self.wake();
    }

    /// Tells the poller that the connection of `token` is closed.
    pub(crate) fn closed(&self, token: Token) {
        if self.tx.send(Back::Closed(token)).is_ok() {
            self.wake();
        }
    }

    /// Removes `stream` from the poller's interest; call right before closing it.
    pub(crate) fn deregister(&self, stream: &TcpStream) {
        let _ = self.registry.deregister(&mut SourceFd(&stream.as_raw_fd()));
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the poller: {e}");
        }
    }
}

/// Creates the channel between the workers and the poller.
pub(crate) fn channel(poll: &Poll, waker: Arc<Waker>) -> io::Result<(Returner, Receiver<Back>)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let registry = poll.registry().try_clone()?;
    Ok((
        Returner {
            tx,
            waker,
            registry,
        },
        rx,
    ))
}

/// The poller's state; see the module docs.
pub(crate) struct Poller {
    poll: Poll,
    /// Every listening socket (all under the LISTENER token); empty once shutdown began.
    listeners: Vec<TcpListener>,
    ctx: Arc<Context>,
    /// This poller's index, which its connections carry home.
    home: usize,
    /// Connections open at once under all pollers (parked or in the pool); more get
    /// 503. Counted in `ctx.admission`.
    max_connections: usize,
    /// Every connection this poller owns, by token.
    conns: HashMap<Token, Slot, TokenHash>,
    /// The client address of every connection this poller owns, for the caps.
    addr_of: HashMap<Token, IpAddr, TokenHash>,
    /// The idle count this poller last added to the shared gauge.
    published_idle: i64,
    /// The deadline of every parked connection, earliest first; each entry matches the
    /// `deadline` field of a `Slot::Parked` (invariant kept by `park` and `unpark`).
    deadlines: BTreeSet<(Instant, Token)>,
    back: Receiver<Back>,
    /// Uploads whose body is in, waiting (parked) for room in the pool's queue, oldest
    /// first: a client that sent a whole body is not answered 503 for a full queue
    /// unless it waited the idle timeout for a worker.
    uploads_waiting: VecDeque<Token>,
    next_token: usize,
    /// Read buffer shared by all parked connections.
    scratch: Vec<u8>,
    /// Response buffer of the requests the poller answers itself, reused.
    out: Vec<u8>,
    /// The listener may hold connections that no future edge will announce.
    accept_pending: bool,
    /// Set after `accept` failed on our side: do not call it again before this.
    accept_retry_at: Option<Instant>,
    monitor: PoolMonitor,
    saturated_log: Throttle,
    rejected_log: Throttle,
}

/// Where an open connection is.
enum Slot {
    /// Owned by the poller, waiting for bytes. Boxed: the table of every connection
    /// then stays small enough for the cache with thousands of idle connections, and
    /// taking an entry out and back moves a pointer, not the whole state.
    Parked(Box<Waiting>),
    /// Owned by a worker or waiting in the pool's queue.
    Busy,
}

/// A parked connection with its scanning state and deadline.
struct Waiting {
    conn: Parked,
    /// Remembers how far `conn.buf` was scanned for the end of the head.
    scanner: HeadScanner,
    /// When the first byte of the buffered head was read; `None` while idle.
    head_started: Option<Instant>,
    /// The entry of this connection in `Poller::deadlines`.
    deadline: Instant,
    /// Once the head is complete: its length, the bytes that must be buffered before
    /// it is served (head plus a small body), and what to do with it.
    need: Option<Need>,
    /// The deadline already makes room for the body at the minimum rate.
    body_deadline: bool,
    /// The last read returned less than it asked for, and no readiness edge was taken
    /// since: the kernel held nothing more then, and anything arriving later raises a
    /// fresh edge (epoll(7) on edge-triggered stream sockets), so no read is needed to
    /// find `WouldBlock`.
    drained: bool,
}

/// A complete head in a parked connection's buffer.
#[derive(Clone, Copy, Debug)]
struct Need {
    head_len: usize,
    /// Head plus the small body the poller buffers.
    total: usize,
    plan: conn::HeadPlan,
}

/// Who answers for the bytes the kernel may hold for a connection being parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    /// A readiness edge will announce them (a new registration, or an edge taken
    /// without a read that found the socket empty).
    Edge,
    /// The last read found the socket empty; later bytes raise a fresh edge.
    Drained,
    /// Unknown (a worker owned the socket): read at once.
    ReadNow,
}

/// What reading a parked connection led to.
enum Step {
    /// Still waiting for bytes.
    Wait,
    /// A head is complete (or must be refused): give it to a worker.
    Ready,
    /// The peer closed or the socket failed.
    Closed,
}

impl Poller {
    /// Registers the listener; the poll must already hold the workers' [`Waker`].
    pub(crate) fn new(
        home: usize,
        poll: Poll,
        listeners: Vec<TcpListener>,
        ctx: Arc<Context>,
        max_connections: usize,
        back: Receiver<Back>,
    ) -> io::Result<Poller> {
        for listener in &listeners {
            poll.registry().register(
                &mut SourceFd(&listener.as_raw_fd()),
                LISTENER,
                Interest::READABLE,
            )?;
        }
        Ok(Poller {
            poll,
            listeners,
            ctx,
            home,
            max_connections,
            conns: HashMap::default(),
            addr_of: HashMap::default(),
            published_idle: 0,
            deadlines: BTreeSet::new(),
            back,
            uploads_waiting: VecDeque::new(),
            next_token: FIRST_CONN_TOKEN,
            scratch: vec![0; READ_CHUNK],
            out: Vec::new(),
            // Connections may have queued between bind and the registration above.
            accept_pending: true,
            accept_retry_at: None,
            monitor: PoolMonitor::default(),
            saturated_log: Throttle::default(),
            rejected_log: Throttle::default(),
        })
    }

    /// Runs until shutdown is requested, then closes the listener and every parked
    /// connection; connections in the pool are left to finish.
    ///
    /// # Errors
    /// The `io::Error` of `poll` itself (not of any connection).
    pub(crate) fn run(&mut self, pool: &ThreadPool<Job>) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let result = loop {
            let timeout = self.timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break Err(e);
            }
            if self.ctx.stop.load(Ordering::Acquire) {
                break Ok(());
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_pending = true,
                    // The channel is drained below, wake-up or not.
                    WAKER => {}
                    token => self.pump(token, pool),
                }
            }
            self.take_back(pool);
            self.retry_uploads(pool);
            let now = Instant::now();
            if self.accept_pending && self.accept_retry_at.is_none_or(|at| at <= now) {
                self.accept(pool);
            }
            self.expire(Instant::now(), pool);
            self.publish_gauges(pool);
        };
        self.close_parked(pool);
        result
    }

    /// How long the next poll may wait: until the earliest deadline or accept retry, or
    /// [`UPLOAD_RETRY`] while finished uploads wait for room in the pool's queue (a
    /// worker of another poller's connection frees it without waking this one).
    fn timeout(&self, now: Instant) -> Option<Duration> {
        let mut next = self.deadlines.first().map(|&(at, _)| at);
        if !self.uploads_waiting.is_empty() {
            let at = now + UPLOAD_RETRY;
            next = Some(next.map_or(at, |d| d.min(at)));
        }
        if self.accept_pending {
            let at = self.accept_retry_at.unwrap_or(now);
            next = Some(next.map_or(at, |d| d.min(at)));
        }
        next.map(|at| at.saturating_duration_since(now))
    }

    /// Accepts up to [`ACCEPT_BATCH`] connections from each listener.
    fn accept(&mut self, pool: &ThreadPool<Job>) {
        self.accept_retry_at = None;
        // Every listener shares the LISTENER token, so each is drained to WouldBlock
        // (which re-arms its edge) or left marked pending for the next turn.
        let mut more = false;
        for i in 0..self.listeners.len() {
            let mut n_accepted = 0;
            loop {
                if n_accepted == ACCEPT_BATCH {
                    more = true;
                    break;
                }
                match accept_nonblocking(&self.listeners[i]) {
                    Ok((stream, peer)) => {
                        n_accepted += 1;
                        self.admit(stream, peer, pool);
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
                        self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY);
                        more = true;
                        break;
                    }
                }
            }
        }
        self.accept_pending = more;
    }

    /// Parks a new connection, or refuses it beyond the connection cap.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, pool: &ThreadPool<Job>) {
        let limits = &self.ctx.limits;
        match self
            .ctx
            .admission
            .admit(peer.ip(), self.max_connections, limits.max_conns_per_ip)
        {
            Ok(()) => {}
            Err(Refusal::Full(open)) => {
                self.ctx
                    .counters
                    .n_over_capacity
                    .fetch_add(1, Ordering::Relaxed);
                self.ctx.metrics.rejected();
                let (level, n_more) = self.rejected_log.level(log::Level::Warn);
                log::log!(
                    level,
                    "connection limit reached ({open}/{}): 503 for {peer}{}",
                    self.max_connections,
                    n_more
                );
                conn::reject_busy(stream, peer, POLLER_NAME);
                return;
            }
            Err(Refusal::PerAddr(held)) => {
                self.ctx.metrics.rejected();
                // A client hogging connections is peer behaviour: debug, not warn.
                log::debug!("[{POLLER_NAME}] {peer}: {held} connections from this address: 503");
                conn::reject_busy(stream, peer, POLLER_NAME);
                return;
            }
        }
        // Counted from here: every way out below releases the count.
        // Small responses go out at once; the kernel still coalesces our single writes.
        // (The timeouts for blocking mode are set by the first worker that needs them.)
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("{peer}: cannot configure the socket: {e}");
            self.ctx.admission.release(peer.ip());
            return;
        }
        let token = self.new_token();
        if let Err(e) = self.poll.registry().register(
            &mut SourceFd(&stream.as_raw_fd()),
            token,
            Interest::READABLE,
        ) {
            log::warn!("cannot poll the connection from {peer}: {e}");
            self.ctx.admission.release(peer.ip());
            return;
        }
        log::debug!("connection from {peer}");
        self.addr_of.insert(token, peer.ip());
        let conn = Parked {
            home: self.home,
            token,
            stream,
            peer,
            buf: Vec::new(),
            n_served: 0,
            pending: Vec::new(),
            close_after: false,
            timeouts_set: false,
            suspended: None,
        };
        // Bytes that came with the connection raise an event once registered.
        self.park(conn, Instant::now(), pool, Arrival::Edge);
    }

    /// Returns a token no open connection uses.
    fn new_token(&mut self) -> Token {
        loop {
            let token = Token(self.next_token);
            self.next_token = self.next_token.wrapping_add(1).max(FIRST_CONN_TOKEN);
            if !self.conns.contains_key(&token) {
                return token;
            }
        }
    }

    /// Makes the poller the owner of `conn`, with the deadline its buffer calls for;
    /// `arrival` says who answers for the bytes the kernel may hold.
    fn park(&mut self, mut conn: Parked, now: Instant, pool: &ThreadPool<Job>, arrival: Arrival) {
        let limits = &self.ctx.limits;
        let (head_started, deadline) = if let Some(s) = &conn.suspended {
            match s.upload.outcome {
                // Read and waiting for a worker: the client waits for the answer.
                Some(_) => (None, now + limits.idle_timeout),
                None => (None, s.upload.deadline()),
            }
        } else if conn.buf.is_empty() {
            // An idle connection keeps no buffer memory.
            conn.buf = Vec::new();
            (None, now + limits.idle_timeout)
        } else {
            // Pipelined bytes of a head: its deadline counts from now, when the worker
            // that read them gave the connection back.
            conn.buf.shrink_to_fit();
            (Some(now), now + limits.header_timeout)
        };
        let token = conn.token;
        self.deadlines.insert((deadline, token));
        self.conns.insert(
            token,
            Slot::Parked(Box::new(Waiting {
                conn,
                scanner: HeadScanner::default(),
                head_started,
                deadline,
                need: None,
                body_deadline: false,
                drained: arrival == Arrival::Drained,
            })),
        );
        if arrival == Arrival::ReadNow {
            self.pump(token, pool);
        }
    }

    /// Reads what a parked connection has and acts on it.
    fn pump(&mut self, token: Token, pool: &ThreadPool<Job>) {
        // Busy or already closed: its owner answers for its bytes (see the module docs).
        let Some(Slot::Parked(waiting)) = self.conns.get_mut(&token) else {
            return;
        };
        if waiting.conn.suspended.is_some() {
            self.pump_upload(token, pool);
            return;
        }
        // An edge (or a hand-back) may announce bytes no read has seen yet.
        waiting.drained = false;
        let was_idle = waiting.head_started.is_none();
        let limits = &self.ctx.limits;
        match read_available(
            waiting,
            &mut self.scratch,
            limits.max_head_bytes,
            limits.max_body_bytes,
        ) {
            Step::Wait => {
                let limits = &self.ctx.limits;
                let mut deadline = None;
                if let (true, Some(started)) = (was_idle, waiting.head_started) {
                    // The first byte of a head: the idle deadline gives way to the
                    // head deadline, counted from that byte.
                    deadline = Some(started + limits.header_timeout);
                }
                if let (Some(Need { plan, .. }), false) = (waiting.need, waiting.body_deadline) {
                    let body = plan.body;
                    if body > 0 {
                        // The head is in; its small body may take as long as the minimum
                        // rate allows (or the idle timeout when no rate is enforced).
                        let allowance = if limits.min_body_rate > 0 {
                            Duration::from_secs_f64(body as f64 / limits.min_body_rate as f64)
                        } else {
                            limits.idle_timeout
                        };
                        let started = waiting.head_started.unwrap_or_else(Instant::now);
                        deadline = Some(started + limits.header_timeout + allowance);
                        waiting.body_deadline = true;
                    }
                }
                if let Some(deadline) = deadline {
                    self.deadlines.remove(&(waiting.deadline, token));
                    self.deadlines.insert((deadline, token));
                    waiting.deadline = deadline;
                }
            }
            Step::Ready => self.ready(token, pool),
            Step::Closed => {
                if let Some(waiting) = self.unpark(token) {
                    self.close(waiting.conn);
                    self.forget(token);
                }
            }
        }
    }

    /// Reads what a suspended upload's client has sent into the upload. Once the body is
    /// in (or has failed) a worker answers it; until then the deadline follows the
    /// body's pace (read timeout since the last bytes, minimum average rate).
    fn pump_upload(&mut self, token: Token, pool: &ThreadPool<Job>) {
        let Some(Slot::Parked(waiting)) = self.conns.get_mut(&token) else {
            return;
        };
        let conn = &mut waiting.conn;
        let Some(s) = conn.suspended.as_mut() else {
            return;
        };
        if s.upload.outcome.is_some() {
            // Already waiting for a worker; later bytes are the worker's to read.
            return;
        }
        let deadline = if !s
            .upload
            .pump(&mut conn.stream, &mut conn.buf, &mut self.scratch)
        {
            s.upload.deadline()
        } else if self.uploads_waiting.is_empty() {
            self.submit_upload(token, pool);
            return;
        } else {
            self.uploads_waiting.push_back(token);
            Instant::now() + self.ctx.limits.idle_timeout
        };
        if deadline != waiting.deadline {
            self.deadlines.remove(&(waiting.deadline, token));
            self.deadlines.insert((deadline, token));
            waiting.deadline = deadline;
        }
    }

    /// Hands finished uploads to the pool while its queue has room, oldest first.
    fn retry_uploads(&mut self, pool: &ThreadPool<Job>) {
        while let Some(token) = self.uploads_waiting.pop_front() {
            if !self.submit_upload(token, pool) {
                return;
            }
        }
    }

    /// Gives a parked upload whose body is read to the pool; when the queue is full
    /// (other pollers share it), parks it again at the head of `uploads_waiting` and
    /// returns false. A connection no longer parked (expired, closed) counts as handed.
    fn submit_upload(&mut self, token: Token, pool: &ThreadPool<Job>) -> bool {
        let Some(waiting) = self.unpark(token) else {
            return true;
        };
        let job = Job {
            conn: waiting.conn,
            queued_at: None,
        };
        match pool.try_submit(job) {
            Ok(()) => {
                self.conns.insert(token, Slot::Busy);
                true
            }
            Err(SubmitError::Full(job)) => {
                self.park(job.conn, Instant::now(), pool, Arrival::Edge);
                self.uploads_waiting.push_front(token);
                false
            }
            Err(SubmitError::Closed(job)) => {
                // Shutting down: `submit` answers 503.
                self.submit(token, job.conn, pool);
                true
            }
        }
    }

    /// Removes a parked connection from the bookkeeping and returns it.
    fn unpark(&mut self, token: Token) -> Option<Box<Waiting>> {
        match self.conns.remove(&token) {
            Some(Slot::Parked(waiting)) => {
                self.deadlines.remove(&(waiting.deadline, token));
                Some(waiting)
            }
            Some(Slot::Busy) => {
                // Not ours to take; put it back.
                self.conns.insert(token, Slot::Busy);
                None
            }
            None => None,
        }
    }

    /// A parked connection holds a complete head. Cheap requests (no body, small answer)
    /// are served right here, one after another while complete heads are buffered; the
    /// rest go to the pool. The socket is read until `WouldBlock` (or a short read)
    /// before the connection is parked again, so no readiness edge is lost.
    fn ready(&mut self, token: Token, pool: &ThreadPool<Job>) {
        if !self.ctx.inline || self.ctx.stop.load(Ordering::Acquire) {
            self.dispatch(token, pool);
            return;
        }
        let Some(mut waiting) = self.unpark(token) else {
            return;
        };
        let max_head = self.ctx.limits.max_head_bytes;
        let max_body = self.ctx.limits.max_body_bytes;
        loop {
            if !is_ready(&mut waiting, max_head, max_body) {
                // A head still arriving, or one whose small body is still arriving.
                if waiting.drained {
                    // The socket was empty at the last read: no need to ask again.
                    self.park(waiting.conn, Instant::now(), pool, Arrival::Drained);
                    return;
                }
                match read_available(&mut waiting, &mut self.scratch, max_head, max_body) {
                    Step::Ready => continue,
                    Step::Wait => {
                        self.park(waiting.conn, Instant::now(), pool, Arrival::Drained);
                        return;
                    }
                    Step::Closed => {
                        self.close(waiting.conn);
                        self.forget(token);
                        return;
                    }
                }
            }
            let head_len = match waiting.need {
                Some(Need { head_len, plan, .. }) if plan.inline => head_len,
                // Bodies, big answers and malformed heads are a worker's job.
                _ => {
                    self.submit(token, waiting.conn, pool);
                    return;
                }
            };
            let (conn, end) = conn::serve_inline(waiting.conn, head_len, &self.ctx, &mut self.out);
            match end {
                Inline::KeepAlive => {
                    waiting.conn = conn;
                    // The next head starts from scratch.
                    waiting.scanner = HeadScanner::default();
                    waiting.head_started = None;
                    waiting.need = None;
                    waiting.body_deadline = false;
                }
                Inline::Close => {
                    self.forget(token);
                    if conn.buf.is_empty() && waiting.drained {
                        // Nothing unread: a plain close sends FIN, no reset can destroy
                        // the answer, and closing the only descriptor also removes it
                        // from the poll.
                        drop(conn);
                    } else {
                        self.deregister(&conn.stream);
                        conn::close_gently(conn.stream);
                    }
                    return;
                }
                Inline::Pending | Inline::NeedsWorker => {
                    self.submit(token, conn, pool);
                    return;
                }
            }
        }
    }

    /// Submits a connection with a complete head to the pool, or answers 503.
    fn dispatch(&mut self, token: Token, pool: &ThreadPool<Job>) {
        let Some(waiting) = self.unpark(token) else {
            return;
        };
        self.submit(token, waiting.conn, pool);
    }

    /// Gives an unparked connection to the pool, or answers 503.
    fn submit(&mut self, token: Token, conn: Parked, pool: &ThreadPool<Job>) {
        let peer = conn.peer;
        let stats = pool.stats();
        let saturated = stats.n_busy >= stats.n_workers;
        self.monitor.observe(&stats);
        if saturated {
            let (level, n_more) = self.saturated_log.level(log::Level::Warn);
            log::log!(
                level,
                "Warning: Thread pool saturated, queuing connection from {peer} ({}/{} queued){}",
                stats.n_queued,
                stats.queue_capacity,
                n_more
            );
        }
        let job = Job {
            conn,
            queued_at: saturated.then(Instant::now),
        };
        match pool.try_submit(job) {
            Ok(()) => {
                self.conns.insert(token, Slot::Busy);
            }
            Err(SubmitError::Full(job)) | Err(SubmitError::Closed(job)) => {
                self.ctx.counters.n_rejected.fetch_add(1, Ordering::Relaxed);
                self.ctx.metrics.rejected();
                let (level, n_more) = self.rejected_log.level(log::Level::Warn);
                log::log!(
                    level,
                    "queue full ({}/{}): 503 for {peer}{}",
                    pool.n_queued(),
                    pool.queue_capacity(),
                    n_more
                );
                let conn = job.conn;
                self.deregister(&conn.stream);
                self.forget(token);
                conn::reject_busy(conn.stream, peer, POLLER_NAME);
            }
        }
    }

    /// Takes every message the workers sent.
    fn take_back(&mut self, pool: &ThreadPool<Job>) {
        while let Ok(back) = self.back.try_recv() {
            match back {
                Back::Parked(conn) => self.park(conn, Instant::now(), pool, Arrival::ReadNow),
                Back::Closed(token) => {
                    // The worker deregistered and closed the socket already.
                    self.conns.remove(&token);
                    self.forget(token);
                }
            }
        }
    }

    /// Publishes connection and pool gauges for `/metrics`.
    fn publish_gauges(&mut self, pool: &ThreadPool<Job>) {
        let m = &self.ctx.metrics;
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        m.open_connections
            .store(as_i64(self.ctx.admission.n_open()), Ordering::Relaxed);
        // Each poller adds the change of its own idle count.
        let idle = as_i64(self.deadlines.len());
        m.idle_connections
            .fetch_add(idle - self.published_idle, Ordering::Relaxed);
        self.published_idle = idle;
        let stats = pool.stats();
        // The seed's status line, also when the poller answers everything itself.
        self.monitor.observe(&stats);
        m.busy_workers
            .store(as_i64(stats.n_busy), Ordering::Relaxed);
        m.queued.store(as_i64(stats.n_queued), Ordering::Relaxed);
    }

    /// Ends parked connections whose deadline is not after `now`, at most
    /// [`EXPIRE_BATCH`] per turn: thousands of idle connections timing out together are
    /// closed over several turns, between which active connections are served (the
    /// next poll does not wait while an expired deadline is left).
    fn expire(&mut self, now: Instant, pool: &ThreadPool<Job>) {
        let mut n_expired = 0;
        while let Some(&(at, token)) = self.deadlines.first() {
            if at > now || n_expired == EXPIRE_BATCH {
                break;
            }
            n_expired += 1;
            let Some(mut waiting) = self.unpark(token) else {
                // Not parked: the entry is stale (never expected); drop it.
                self.deadlines.remove(&(at, token));
                continue;
            };
            if let Some(s) = &mut waiting.conn.suspended {
                if s.upload.outcome.is_none() {
                    // An upload too slow: a worker answers 408 and logs it.
                    log::debug!(
                        "[{POLLER_NAME}] {}: upload body too slow",
                        waiting.conn.peer
                    );
                    s.upload.outcome = Some(Err(crate::body::BodyError::Timeout));
                } else {
                    // Waited the idle timeout for room in the queue: 503 unless there
                    // is room now.
                    self.uploads_waiting.retain(|&t| t != token);
                }
                self.submit(token, waiting.conn, pool);
                continue;
            }
            let peer = waiting.conn.peer;
            self.forget(token);
            match waiting.head_started {
                Some(started) => {
                    log::debug!("[{POLLER_NAME}] {peer}: head deadline passed");
                    self.deregister(&waiting.conn.stream);
                    conn::answer_head_timeout(waiting.conn.stream, peer, started, POLLER_NAME);
                }
                None => {
                    log::debug!("[{POLLER_NAME}] {peer}: idle timeout");
                    self.close(waiting.conn);
                }
            }
        }
    }

    /// Uncounts a closed connection (caps and gauges).
    fn forget(&mut self, token: Token) {
        if let Some(ip) = self.addr_of.remove(&token) {
            self.ctx.admission.release(ip);
        }
    }

    /// Deregisters and closes a parked connection.
    fn close(&self, conn: Parked) {
        self.deregister(&conn.stream);
        drop(conn);
    }

    fn deregister(&self, stream: &TcpStream) {
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&stream.as_raw_fd()));
    }

    /// Shutdown: stops listening and closes every parked connection at once, but for
    /// uploads under way, which go to workers to be read to their end (blocking, within
    /// the shutdown timeout) and answered.
    fn close_parked(&mut self, pool: &ThreadPool<Job>) {
        for listener in std::mem::take(&mut self.listeners) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&listener.as_raw_fd()));
        }
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            if let Some(waiting) = self.unpark(token) {
                if waiting.conn.suspended.is_some() {
                    self.submit(token, waiting.conn, pool);
                } else {
                    self.close(waiting.conn);
                }
            }
        }
        // Workers still serving see the stop flag and close instead of parking.
        while let Ok(back) = self.back.try_recv() {
            if let Back::Parked(conn) = back {
                if conn.suspended.is_some() {
                    self.submit(conn.token, conn, pool);
                } else {
                    self.close(conn);
                }
            }
        }
    }
}

/// Accepts one connection, nonblocking and close-on-exec from the start (`accept4`),
/// which saves a system call per connection over `accept` then `set_nonblocking`.
fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::{SocketFlags, acceptfrom_with};
    let (fd, addr) = acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let stream = TcpStream::from(fd);
    let peer = match addr.map(SocketAddr::try_from) {
        Some(Ok(peer)) => peer,
        // A TCP listener always reports an IP peer; ask the socket if it did not.
        _ => stream.peer_addr()?,
    };
    Ok((stream, peer))
}

/// Reads from a parked connection until `WouldBlock`, a complete head, or the end.
///
/// Bounded: a partial head longer than `max_head_bytes` counts as ready (the worker
/// answers 414 or 431), so at most `max_head_bytes + READ_CHUNK` bytes are buffered.
fn read_available(
    waiting: &mut Waiting,
    scratch: &mut [u8],
    max_head_bytes: usize,
    max_body_bytes: u64,
) -> Step {
    // A buffer handed back may already hold more than the worker saw.
    if is_ready(waiting, max_head_bytes, max_body_bytes) {
        return Step::Ready;
    }
    loop {
        let conn = &mut waiting.conn;
        match conn.stream.read(scratch) {
            Ok(0) => {
                if !conn.buf.is_empty() {
                    log::debug!("[{POLLER_NAME}] {}: closed mid-request", conn.peer);
                }
                return Step::Closed;
            }
            Ok(n) => {
                if waiting.head_started.is_none() {
                    waiting.head_started = Some(Instant::now());
                }
                waiting.drained = n < scratch.len();
                conn.buf.extend_from_slice(&scratch[..n]);
                if is_ready(waiting, max_head_bytes, max_body_bytes) {
                    return Step::Ready;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                waiting.drained = true;
                return Step::Wait;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("[{POLLER_NAME}] {}: read failed: {e}", conn.peer);
                return Step::Closed;
            }
        }
    }
}

/// Tells whether a worker can take the connection without waiting on the client: the
/// head is complete (or must be refused) and a small declared body (see
/// [`conn::bufferable_body`]) is buffered whole. A slowly sent body then costs a parked
/// connection, not a worker.
fn is_ready(waiting: &mut Waiting, max_head_bytes: usize, max_body_bytes: u64) -> bool {
    if let Some(need) = waiting.need {
        return waiting.conn.buf.len() >= need.total;
    }
    match conn::scan_head(&mut waiting.scanner, &waiting.conn.buf, max_head_bytes) {
        HeadScan::Partial => false,
        HeadScan::Fail(_) => true,
        HeadScan::Complete(head_len) => {
            let plan = conn::plan_head(&waiting.conn.buf[..head_len], max_body_bytes);
            let total = head_len + usize::try_from(plan.body).unwrap_or(usize::MAX);
            waiting.need = Some(Need {
                head_len,
                total,
                plan,
            });
            waiting.conn.buf.len() >= total
        }
    }
}

/// Logs the seed's pool status line when its colour changes (at most once per
/// [`LOG_INTERVAL`] at info; at debug otherwise).
#[derive(Debug, Default)]
struct PoolMonitor {
    last: Option<char>,
    throttle: Throttle,
}

impl PoolMonitor {
    fn observe(&mut self, stats: &Stats) {
        let (busy, workers) = (stats.n_busy, stats.n_workers);
        // Green below 70 % busy, yellow from 70 %, red when every worker is busy.
        let marker = if busy >= workers {
            '🔴'
        } else if busy * 10 >= workers * 7 {
            '🟡'
        } else {
            '🟢'
        };
        let level = if self.last == Some(marker) {
            log::Level::Debug
        } else {
            self.throttle.level(log::Level::Info).0
        };
        // A change logged at debug is not remembered, so it is logged at info later.
        if level != log::Level::Debug {
            self.last = Some(marker);
        }
        log::log!(
            level,
            "{marker} Thread pool: {busy}/{workers} active | Queue: {}/{}",
            stats.n_queued,
            stats.queue_capacity
        );
    }
}

/// Lets one line of a kind through at its level per [`LOG_INTERVAL`], and counts the
/// ones sent to debug in between.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    n_suppressed: u64,
}

impl Throttle {
    /// Returns the level for the next line (`level`, or debug) and, with `level`, a
    /// suffix telling how many lines went to debug since the last one.
    fn level(&mut self, level: log::Level) -> (log::Level, String) {
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
    fn token_hashes_spread_sequential_tokens() {
        use std::hash::BuildHasher;
        let build = TokenHash::default();
        let hashes: std::collections::HashSet<u64> =
            (0..4096).map(|n| build.hash_one(Token(n))).collect();
        assert_eq!(hashes.len(), 4096);
        // 4096 sequential tokens fill all 4096 slots of a 12-bit bucket index.
        let buckets: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 0xFFF).collect();
        assert_eq!(buckets.len(), 4096);
        // And the tag byte (the top 7 bits) takes many values, not one.
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(tags.len() > 64, "{} tags", tags.len());
    }

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
