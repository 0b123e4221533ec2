//! Streaming body wrappers. Nothing here buffers a whole body: frames pass through one at a
//! time while the wrappers count bytes (`max_body_bytes`), watch idle gaps (`timeout_ms`,
//! `proxy_timeout_ms`), tee frames to a `forward` mirror, and hold a target's in-flight count.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::balance::InFlight;
use crate::connector::BoxError;
use crate::deadline::Deadline;
use crate::metrics::LazyCounter;
use crate::pool::Pooled;

/// Frames a mirror may lag behind the real request before it is cut off.
const MIRROR_QUEUE: usize = 16;

/// What happened to a request body, read after a failed upstream call to pick the status.
#[derive(Debug, Default)]
pub(crate) struct BodyOutcome {
    /// The body passed `max_body_bytes`.
    pub too_large: AtomicBool,
    /// The client stalled longer than `timeout_ms`.
    pub client_timeout: AtomicBool,
    /// The client's stream failed.
    pub client_error: AtomicBool,
}

/// An idle timer that restarts whenever data flows.
#[derive(Debug)]
struct IdleTimer {
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl IdleTimer {
    fn new(limit: Option<Duration>) -> Option<Self> {
        limit.map(|limit| Self { limit, sleep: None })
    }

    fn activity(&mut self) {
        if let Some(sleep) = &mut self.sleep {
            sleep.as_mut().reset(Instant::now() + self.limit);
        }
    }

    /// Polls the timer; `Ready` once the limit passed without activity.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let limit = self.limit;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        sleep.as_mut().poll(cx)
    }
}

/// The sending half of a `forward` mirror's body.
#[derive(Debug)]
pub(crate) struct MirrorTx {
    tx: mpsc::Sender<Bytes>,
    aborted: Arc<AtomicBool>,
    cut: CancellationToken,
}

impl MirrorTx {
    /// A connected pair: frames sent here come out of the returned body. The token is
    /// cancelled when the mirror is cut off, so its request can be abandoned at once (its
    /// connection may be stuck writing and never poll the body again).
    pub fn pair() -> (Self, MirrorBody, CancellationToken) {
        let (tx, rx) = mpsc::channel(MIRROR_QUEUE);
        let aborted = Arc::new(AtomicBool::new(false));
        let cut = CancellationToken::new();
        (
            Self {
                tx,
                aborted: aborted.clone(),
                cut: cut.clone(),
            },
            MirrorBody { rx, aborted },
            cut,
        )
    }

    /// Passes a copy of `data`; `false` when the mirror fell behind (it is then cut off).
    fn send(&self, data: &Bytes) -> bool {
        match self.tx.try_send(data.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.aborted.store(true, Ordering::Relaxed);
                self.cut.cancel();
                false
            }
        }
    }

    fn abort(self) {
        self.aborted.store(true, Ordering::Relaxed);
        self.cut.cancel();
    }
}

/// The body of a mirrored request: the real request's frames, or an error if the mirror was
/// cut off (so a truncated copy is never sent as if complete).
#[derive(Debug)]
pub(crate) struct MirrorBody {
    rx: mpsc::Receiver<Bytes>,
    aborted: Arc<AtomicBool>,
}

impl Body for MirrorBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match ready!(self.rx.poll_recv(cx)) {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None if self.aborted.load(Ordering::Relaxed) => {
                Poll::Ready(Some(Err("mirror fell behind and was cut off".into())))
            }
            None => Poll::Ready(None),
        }
    }
}

/// The body sent upstream.
#[derive(Debug)]
pub(crate) enum UpstreamBody {
    /// No body (health checks, retried requests).
    Empty,
    /// The client's body, streamed.
    Client(Box<RequestBody>),
    /// A mirror copy.
    Mirror(MirrorBody),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Client(b) => Pin::new(b.as_mut()).poll_frame(cx),
            Self::Mirror(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Client(b) => b.is_end_stream(),
            Self::Mirror(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Client(b) => b.size_hint(),
            Self::Mirror(_) => SizeHint::default(),
        }
    }
}

/// The client's request body on its way upstream.
#[derive(Debug)]
pub(crate) struct RequestBody {
    inner: axum::body::Body,
    limit: u64,
    seen: u64,
    idle: Option<IdleTimer>,
    outcome: Arc<BodyOutcome>,
    mirror: Option<MirrorTx>,
}

impl RequestBody {
    /// Wraps `inner`; `limit` 0 = unlimited.
    pub fn new(
        inner: axum::body::Body,
        limit: u64,
        idle: Option<Duration>,
        outcome: Arc<BodyOutcome>,
        mirror: Option<MirrorTx>,
    ) -> Self {
        Self {
            inner,
            limit,
            seen: 0,
            idle: IdleTimer::new(idle),
            outcome,
            mirror,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.limit > 0 && this.seen > this.limit {
                        this.outcome.too_large.store(true, Ordering::Relaxed);
                        if let Some(m) = this.mirror.take() {
                            m.abort();
                        }
                        return Poll::Ready(Some(Err("request body too large".into())));
                    }
                    if let Some(idle) = &mut this.idle {
                        idle.activity();
                    }
                    if let Some(m) = &this.mirror
                        && !m.send(data)
                    {
                        this.mirror = None;
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.outcome.client_error.store(true, Ordering::Relaxed);
                if let Some(m) = this.mirror.take() {
                    m.abort();
                }
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.mirror = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if let Some(idle) = &mut this.idle {
                    ready!(idle.poll_expired(cx));
                    this.outcome.client_timeout.store(true, Ordering::Relaxed);
                    if let Some(m) = this.mirror.take() {
                        m.abort();
                    }
                    return Poll::Ready(Some(Err("client request body timed out".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream's response body on its way to the client. Holds the target's in-flight count
/// and the upstream connection until the body ends; then the connection goes back to its pool
/// (when `reuse`), else it is dropped with the body (hyper closes a connection whose response
/// was not read to the end).
#[derive(Debug)]
pub(crate) struct ResponseBody {
    inner: Incoming,
    deadline: Option<Deadline>,
    stalled: LazyCounter,
    in_flight: Option<InFlight>,
    conn: Option<Pooled>,
    reuse: bool,
}

impl ResponseBody {
    /// Wraps `inner`; `deadline` cuts a body that stalls (`stalled` counts the cuts).
    pub fn new(
        inner: Incoming,
        deadline: Option<Deadline>,
        stalled: LazyCounter,
        in_flight: Option<InFlight>,
        conn: Option<Pooled>,
        reuse: bool,
    ) -> Self {
        Self {
            inner,
            deadline,
            stalled,
            in_flight,
            conn,
            reuse,
        }
    }

    /// The body ended cleanly: release the target and the connection, stop the timer.
    fn finish(&mut self) {
        self.in_flight = None;
        self.deadline = None;
        if let Some(conn) = self.conn.take()
            && self.reuse
        {
            conn.checkin();
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // The front stops polling once `is_end_stream` says so (a body of known
                // length), so the end is detected here too.
                if this.inner.is_end_stream() {
                    this.finish();
                } else if let Some(d) = &mut this.deadline {
                    d.touch(Instant::now());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "upstream response body failed");
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if let Some(d) = &mut this.deadline {
                    ready!(d.poll_expired(cx));
                    this.deadline = None;
                    this.stalled.inc();
                    tracing::warn!("upstream response body stalled past proxy_timeout_ms; cut");
                    return Poll::Ready(Some(Err("upstream response body timed out".into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
