//! The upstream connection pool: one [`Pool`] per upstream (each target of a route, and its
//! `forward` mirror), built at configuration time and indexed like the targets, so a checkout
//! is a lock on a short list and no hashing.
//!
//! A pool keeps a bounded LIFO list of idle HTTP/1.1 senders (`hyper::client::conn::http1`).
//! Each connection's driver task is spawned once, when it is opened. A sender goes back to the
//! list only after its response was read to the end (so the connection is idle again) and when
//! neither side asked to close; closed senders are dropped at checkout, and idle ones older
//! than `pool_idle_timeout_ms` are dropped at checkout and by a sweeper task per pool (started
//! on the first checkin, stopped by [`crate::Proxy::shutdown`]).

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::header::{self, HeaderMap};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::UpstreamBody;
use crate::connector::{BoxError, Connector};

/// The sending half of one upstream HTTP/1.1 connection.
pub(crate) type Sender = SendRequest<UpstreamBody>;

/// Settings and lifecycle handles shared by every pool of a proxy.
#[derive(Clone, Debug)]
pub(crate) struct PoolSettings {
    /// Idle connections kept per upstream (`pool_max_idle_per_host`); `0` disables reuse.
    pub max_idle: usize,
    /// How long a connection may stay idle (`pool_idle_timeout_ms`).
    pub idle_timeout: Duration,
    /// Cancelled on shutdown: the sweepers stop and drop every idle connection.
    pub cancel: CancellationToken,
    /// Where the sweepers run (the proxy waits for them in `drain`).
    pub tasks: TaskTracker,
}

/// An idle sender and when it went idle.
#[derive(Debug)]
struct Idle {
    sender: Sender,
    since: Instant,
}

/// The pool of one upstream.
#[derive(Debug)]
pub(crate) struct Pool {
    connector: Connector,
    /// `scheme://authority/` of the upstream (what the connector dials).
    dial: Uri,
    builder: http1::Builder,
    settings: PoolSettings,
    idle: Mutex<VecDeque<Idle>>,
    sweeper: AtomicBool,
    /// Connections opened so far (tests and debugging).
    opened: AtomicU64,
}

/// A connection taken from a pool (or opened for this request), given back with
/// [`Pooled::checkin`] once its response has been read to the end.
#[derive(Debug)]
pub(crate) struct Pooled {
    /// The sender, ready for a request when handed out.
    pub sender: Sender,
    /// Whether it served an earlier request (a stale reused connection may fail before the
    /// request is written; the caller then retries on a fresh one).
    pub reused: bool,
    pool: Arc<Pool>,
}

impl Pooled {
    /// Gives the connection back to its pool (dropped instead when it closed meanwhile).
    pub fn checkin(self) {
        let Self { sender, pool, .. } = self;
        pool.checkin(sender);
    }
}

/// Why no connection could be had.
#[derive(Debug)]
pub(crate) struct ConnectError(pub BoxError);

impl SendError {
    /// The error, without the request.
    pub fn into_error(self) -> BoxError {
        match self {
            Self::Unsent(e, _) => e,
            Self::Failed(e) => e.into(),
        }
    }
}

/// Why [`Pool::send`] failed.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The request was never written (no connection could be had, or a new connection closed
    /// first); it is given back for another attempt.
    Unsent(BoxError, Box<Request<UpstreamBody>>),
    /// The exchange failed after the request was handed to the connection: the upstream may
    /// have seen it.
    Failed(hyper::Error),
}

impl Pool {
    /// A pool dialling `dial` (`scheme://authority/`) through `connector`.
    pub fn new(connector: Connector, dial: Uri, settings: PoolSettings) -> Arc<Self> {
        Arc::new(Self {
            connector,
            dial,
            builder: http1::Builder::new(),
            settings,
            idle: Mutex::new(VecDeque::new()),
            sweeper: AtomicBool::new(false),
            opened: AtomicU64::new(0),
        })
    }

    /// Connections opened so far.
    #[cfg(test)]
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// A ready connection: the most recently used idle one that is still open (and idle for
    /// less than `pool_idle_timeout_ms` at `now`), else a new one.
    pub async fn acquire(self: &Arc<Self>, now: Instant) -> Result<Pooled, ConnectError> {
        while let Some(mut sender) = self.checkout(now) {
            // Usually ready at once; a connection checked in the moment its response ended may
            // still be finishing that response. An error means it closed: try the next one.
            if sender.ready().await.is_ok() {
                return Ok(Pooled {
                    sender,
                    reused: true,
                    pool: self.clone(),
                });
            }
        }
        // Boxed: connecting (DNS, TCP, TLS) is rare and its state is large; inline, it would
        // be copied with every move of each request's future.
        Box::pin(self.open()).await
    }

    /// A new connection, its driver task spawned.
    pub async fn open(self: &Arc<Self>) -> Result<Pooled, ConnectError> {
        let io = self
            .connector
            .connect(self.dial.clone())
            .await
            .map_err(ConnectError)?;
        let (sender, conn) = self
            .builder
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| ConnectError(e.into()))?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(Pooled {
            sender,
            reused: false,
            pool: self.clone(),
        })
    }

    /// Sends `req` on `conn` (from [`Pool::acquire`]). When a reused connection turns out to
    /// have closed before the request was written, the request goes once more on a new
    /// connection ([`Pool::resend`]): the upstream never saw it, whatever its method.
    pub async fn send(
        mut conn: Pooled,
        req: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Pooled), SendError> {
        // Awaited through a pinned reference: hyper's future is stored once, not twice.
        match pin!(conn.sender.try_send_request(req)).await {
            Ok(resp) => Ok((resp, conn)),
            Err(e) => Box::pin(Self::resend(conn, e)).await,
        }
    }

    /// [`Pool::send`]'s failure path (boxed by callers: it is rare and its state is large).
    pub async fn resend(
        conn: Pooled,
        mut e: TrySendError<Request<UpstreamBody>>,
    ) -> Result<(Response<Incoming>, Pooled), SendError> {
        let Some(req) = e.take_message() else {
            return Err(SendError::Failed(e.into_error()));
        };
        if !conn.reused {
            return Err(SendError::Unsent(e.into_error().into(), Box::new(req)));
        }
        tracing::debug!("pooled connection closed before the request was sent; using a new one");
        conn.pool.send_fresh(req).await
    }

    /// Sends `req` once on a new connection, without a further attempt: a request that no
    /// connection could be had for, or that the new connection closed before writing, is
    /// given back ([`SendError::Unsent`]).
    pub async fn send_fresh(
        self: &Arc<Self>,
        req: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Pooled), SendError> {
        let mut fresh = match Box::pin(self.open()).await {
            Ok(c) => c,
            Err(ConnectError(err)) => return Err(SendError::Unsent(err, Box::new(req))),
        };
        match fresh.sender.try_send_request(req).await {
            Ok(resp) => Ok((resp, fresh)),
            Err(mut e) => match e.take_message() {
                Some(req) => Err(SendError::Unsent(e.into_error().into(), Box::new(req))),
                None => Err(SendError::Failed(e.into_error())),
            },
        }
    }

    /// Pops the newest idle sender that is not closed; drops expired and closed ones.
    fn checkout(&self, now: Instant) -> Option<Sender> {
        let mut idle = self.idle.lock();
        while let Some(entry) = idle.pop_back() {
            if now.saturating_duration_since(entry.since) >= self.settings.idle_timeout {
                // The newest one expired, so did every older one.
                idle.clear();
                return None;
            }
            if !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        None
    }

    fn checkin(self: Arc<Self>, sender: Sender) {
        if self.settings.max_idle == 0 || sender.is_closed() || self.settings.cancel.is_cancelled()
        {
            return;
        }
        let evicted = {
            let mut idle = self.idle.lock();
            let evicted = if idle.len() >= self.settings.max_idle {
                idle.pop_front()
            } else {
                None
            };
            idle.push_back(Idle {
                sender,
                since: Instant::now(),
            });
            evicted
        };
        drop(evicted);
        if !self.sweeper.load(Ordering::Relaxed) && !self.sweeper.swap(true, Ordering::Relaxed) {
            self.start_sweeper();
        }
    }

    /// Drops idle connections that went idle at or before `now - idle_timeout`.
    fn sweep(&self, now: Instant) {
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock();
            while idle.front().is_some_and(|e| {
                now.saturating_duration_since(e.since) >= self.settings.idle_timeout
            }) {
                expired.extend(idle.pop_front());
            }
        }
        drop(expired);
    }

    /// Drops every idle connection.
    fn clear(&self) {
        let all = std::mem::take(&mut *self.idle.lock());
        drop(all);
    }

    fn start_sweeper(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            self.sweeper.store(false, Ordering::Relaxed);
            return;
        }
        let pool: Weak<Self> = Arc::downgrade(self);
        let cancel = self.settings.cancel.clone();
        let period = (self.settings.idle_timeout / 2).max(Duration::from_millis(1));
        self.settings.tasks.spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let Some(pool) = pool.upgrade() else { return };
                pool.sweep(Instant::now());
            }
            if let Some(pool) = pool.upgrade() {
                pool.clear();
            }
        });
    }
}

/// Whether the connection that carried `resp` may serve another request (RFC 9112 §9.3):
/// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
pub(crate) fn keeps_alive<B>(resp: &Response<B>) -> bool {
    let tokens = connection_tokens(resp.headers());
    match resp.version() {
        Version::HTTP_11 => !tokens.close,
        Version::HTTP_10 => tokens.keep_alive && !tokens.close,
        _ => false,
    }
}

#[derive(Default)]
struct Tokens {
    close: bool,
    keep_alive: bool,
}

fn connection_tokens(headers: &HeaderMap) -> Tokens {
    let mut t = Tokens::default();
    for value in headers.get_all(header::CONNECTION) {
        let Ok(s) = value.to_str() else { continue };
        for token in s.split(',').map(str::trim) {
            if token.eq_ignore_ascii_case("close") {
                t.close = true;
            } else if token.eq_ignore_ascii_case("keep-alive") {
                t.keep_alive = true;
            }
        }
    }
    t
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
