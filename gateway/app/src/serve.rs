//! Serving HTTP on a bound listener: the accept loop, connection limits, optional TLS, HTTP/1.1 and
//! HTTP/2 with upgrades, and graceful shutdown.
//!
//! The accept loop only accepts: the TLS handshake and all HTTP work happen in the connection's
//! own task, so one slow client never delays the next.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use switchboard_fabric::ProtocolMetrics;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::Instrument;

use crate::shutdown::Lifecycle;

/// How long a client may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one HTTP server needs.
pub struct HttpServer {
    /// Name for logs and spans (`front`, `admin`, `redirect`).
    pub name: &'static str,
    /// The bound listener.
    pub listener: TcpListener,
    /// The application.
    pub router: Router,
    /// TLS, when the listener speaks HTTPS.
    pub tls: Option<TlsAcceptor>,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (`http.header_read_timeout_ms`):
    /// the first request's from the connection's start, each later one's from its first byte.
    pub header_read_timeout: Duration,
    /// Connection metrics.
    pub metrics: ProtocolMetrics,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("name", &self.name)
            .field("tls", &self.tls.is_some())
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Accepts connections until `lifecycle.stop` fires, serving each in a task tracked by
    /// `lifecycle.tracker`. On stop, open connections finish their current request and close.
    pub async fn run(self, lifecycle: Lifecycle) {
        let limit = Arc::new(Semaphore::new(self.max_connections));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // Slow clients (slowloris): a request head that trickles in is cut after the timeout.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        loop {
            let accepted = tokio::select! {
                _ = lifecycle.stop.cancelled() => break,
                r = self.listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(server = self.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                self.metrics.rejected("max_connections");
                tracing::debug!(server = self.name, %peer, "connection refused: limit reached");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = Connection {
                router: self.router.clone(),
                tls: self.tls.clone(),
                builder: builder.clone(),
                metrics: self.metrics.clone(),
                stop: lifecycle.stop.clone(),
                peer,
                header_read_timeout: self.header_read_timeout,
            };
            let span = tracing::debug_span!("http_conn", server = self.name, %peer);
            lifecycle.tracker.spawn(
                async move {
                    let _permit = permit;
                    conn.serve(stream).await;
                }
                .instrument(span),
            );
        }
        tracing::debug!(server = self.name, "accept loop stopped");
    }
}

struct Connection {
    router: Router,
    tls: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    metrics: ProtocolMetrics,
    stop: tokio_util::sync::CancellationToken,
    peer: SocketAddr,
    header_read_timeout: Duration,
}

impl Connection {
    async fn serve(self, stream: tokio::net::TcpStream) {
        let _guard = self.metrics.connection_opened();
        match self.tls.clone() {
            Some(acceptor) => {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => self.serve_io(TokioIo::new(tls)).await,
                    Ok(Err(e)) => {
                        self.metrics.rejected("tls_handshake");
                        tracing::debug!(error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        self.metrics.rejected("tls_handshake_timeout");
                        tracing::debug!("TLS handshake timed out");
                    }
                }
            }
            None => self.serve_io(TokioIo::new(stream)).await,
        }
    }

    async fn serve_io<I>(&self, io: TokioIo<I>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let started = Arc::new(AtomicBool::new(false));
        let seen = started.clone();
        let svc =
            self.router
                .clone()
                .map_request(move |req: http::Request<hyper::body::Incoming>| {
                    seen.store(true, Ordering::Relaxed);
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let conn = self
            .builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(svc));
        tokio::pin!(conn);
        // The first request must arrive in time whatever the client sends meanwhile (a trickled
        // HTTP/2 preface, or bytes before the protocol is known, are not under hyper's timeout).
        let first = tokio::time::sleep(self.header_read_timeout);
        tokio::pin!(first);
        let mut watching = true;
        let result = loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                _ = self.stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    break conn.await;
                }
                _ = &mut first, if watching => {
                    watching = false;
                    if !started.load(Ordering::Relaxed) {
                        self.metrics.disconnected("header_read_timeout");
                        tracing::debug!("no request within the header timeout");
                        return;
                    }
                }
            }
        };
        if let Err(e) = result {
            if e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
            {
                self.metrics.disconnected("header_read_timeout");
            }
            tracing::debug!(error = %e, "HTTP connection ended with an error");
        }
    }
}
