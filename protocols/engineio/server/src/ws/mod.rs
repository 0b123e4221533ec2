//! The WebSocket transport: the opening handshake (RFC 6455 §4.2, permessage-deflate as
//! configured), sessions opened on a WebSocket, and upgrades of polling sessions (probe,
//! `3probe`, `noop` to the pending poll, `upgrade`, then the buffered packets in order),
//! bounded by `upgrade_timeout_ms`.
//!
//! One task per WebSocket reads frames, writes queued packets in batches (one write per
//! batch), and, for sessions opened on the WebSocket, drives the heartbeat. The frames are the
//! project's own codec (`switchboard_engineio_proto::websocket`) over the connection hyper
//! hands over after the `101` answer; see [`conn`] for how buffers are kept per thread rather
//! than per connection.
//!
//! # Layout
//! - this file: the handshake ([`WsRequest`]), the session and upgrade tasks.
//! - [`conn`]: [`conn::Conn`], reading, writing and compressing frames.

pub(crate) mod conn;

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode, Version};
use hyper_util::rt::TokioIo;
use switchboard_engineio_proto::websocket::{self, Deflate, Incoming};
use switchboard_engineio_proto::{
    CloseReason, ErrorCode, Frame, Packet, ProtocolVersion, Str, Transport, decode_frame,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::Instrument;

use self::conn::{Conn, ReadEnd, Written};
use crate::engine::{Engine, Verified};
use crate::handler::Handler;
use crate::socket::{Socket, Upgrade};

/// How long a goodbye (close packet and close frame) may take.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// A valid WebSocket upgrade request (RFC 6455 §4.2.1), ready to be answered.
pub(crate) struct WsRequest {
    key: HeaderValue,
    deflate: Option<Deflate>,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl WsRequest {
    /// The upgrade request in `parts`, or `None` when it is not a valid one (answered with
    /// engine.io's `400 Bad request`). With `deflate`, a permessage-deflate offer is accepted.
    pub(crate) fn from_parts(parts: &mut Parts, deflate: bool) -> Option<WsRequest> {
        let h = &parts.headers;
        if parts.method != Method::GET
            || parts.version > Version::HTTP_11
            || !header_has_token(h, header::CONNECTION, "upgrade")
            || !header_has_token(h, header::UPGRADE, "websocket")
            || h.get(header::SEC_WEBSOCKET_VERSION)
                .is_none_or(|v| v.as_bytes() != b"13")
        {
            return None;
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY)?.clone();
        if !websocket::key_is_valid(key.as_bytes()) {
            return None;
        }
        let deflate = if deflate {
            websocket::negotiate_deflate(
                h.get_all(header::SEC_WEBSOCKET_EXTENSIONS)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
        } else {
            None
        };
        let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>()?;
        Some(WsRequest {
            key,
            deflate,
            on_upgrade,
        })
    }

    /// The `101 Switching Protocols` answer.
    fn response(&self) -> Response {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(v) = HeaderValue::from_str(&websocket::accept_key(self.key.as_bytes())) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(d) = &self.deflate {
            h.insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_static(d.response_header()),
            );
        }
        r
    }
}

/// Resets the session's upgrade state when an upgrade ends without completing.
struct PendingUpgrade<D> {
    socket: Arc<Socket<D>>,
    completed: bool,
}

impl<D> Drop for PendingUpgrade<D> {
    fn drop(&mut self) {
        if !self.completed {
            self.socket.state.lock().upgrade = Upgrade::Idle;
        }
    }
}

/// How a WebSocket transport ended, for its goodbye.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The client sent a close frame (answered with this code).
    PeerClosed(u16),
    /// The connection is gone (EOF, I/O error): nothing to say.
    Gone,
    /// The client broke the WebSocket protocol: close with this code.
    Broken(u16),
}

/// Turns a message payload into a packet.
fn packet_of(protocol: ProtocolVersion, binary: bool, payload: bytes::Bytes) -> Result<Packet, ()> {
    let frame = if binary {
        Frame::Binary(payload)
    } else {
        Frame::Text(Str::from_utf8(payload).map_err(|_| ())?)
    };
    decode_frame(protocol, frame).map_err(|e| {
        tracing::debug!(error = %e, "undecodable WebSocket message");
    })
}

impl<H: Handler> Engine<H> {
    fn deflate_threshold(&self, request: &WsRequest) -> Option<usize> {
        request
            .deflate
            .map(|_| self.shared.config.per_message_deflate.threshold)
    }

    /// A handshake on a WebSocket: the session starts on it.
    pub(crate) fn ws_handshake(
        self: &Arc<Self>,
        request: WsRequest,
        headers: &HeaderMap,
        query: &str,
        peer: Option<SocketAddr>,
        protocol: ProtocolVersion,
        verified: Verified,
    ) -> Response {
        let (sid, data, slot) =
            match self.admit(headers, query, peer, protocol, Transport::WebSocket, true) {
                Ok(x) => x,
                Err(r) => return *r,
            };
        let socket = self.open_session(
            sid,
            protocol,
            Transport::WebSocket,
            verified.supports_binary,
            data,
            slot,
        );
        let mut response = request.response();
        self.handshake_headers(sid, response.headers_mut());
        let threshold = self.deflate_threshold(&request);
        let engine = self.clone();
        let span = tracing::debug_span!("engineio_session", %sid, transport = "websocket");
        self.tracker.spawn(
            async move {
                match request.on_upgrade.await {
                    Ok(upgraded) => {
                        let max = engine.shared.config.max_http_buffer_size;
                        let mut conn = Conn::new(TokioIo::new(upgraded), max, threshold);
                        engine.ws_loop(&socket, &mut conn, true).await;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the WebSocket upgrade did not complete");
                        socket.close(CloseReason::TransportError);
                    }
                }
                engine.finish(&socket);
            }
            .instrument(span),
        );
        response
    }

    /// An upgrade of a polling session to WebSocket.
    pub(crate) fn upgrade(
        self: &Arc<Self>,
        socket: Arc<Socket<H::Data>>,
        request: WsRequest,
        verified: Verified,
    ) -> Response {
        {
            let mut st = socket.state.lock();
            if !self.shared.config.allow_upgrades
                || st.transport != Transport::Polling
                || st.upgrade != Upgrade::Idle
                || st.close.is_some()
            {
                drop(st);
                self.shared.metrics.upgrade("refused");
                self.shared.metrics.request_error(ErrorCode::BadRequest);
                return crate::http::upgrade_error_response(ErrorCode::BadRequest, None);
            }
            st.upgrade = Upgrade::Connected;
        }
        let span = tracing::debug_span!("engineio_upgrade", sid = %socket.sid());
        let pending = PendingUpgrade {
            socket,
            completed: false,
        };
        let response = request.response();
        let threshold = self.deflate_threshold(&request);
        let engine = self.clone();
        let binary = verified.supports_binary;
        self.tracker.spawn(
            async move {
                match request.on_upgrade.await {
                    Ok(upgraded) => {
                        let max = engine.shared.config.max_http_buffer_size;
                        let conn = Conn::new(TokioIo::new(upgraded), max, threshold);
                        engine.run_upgrade(conn, pending, binary).await;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the WebSocket upgrade did not complete");
                        engine.shared.metrics.upgrade("failed");
                    }
                }
            }
            .instrument(span),
        );
        response
    }

    async fn run_upgrade<S: AsyncRead + AsyncWrite + Unpin>(
        self: Arc<Self>,
        mut conn: Conn<S>,
        mut pending: PendingUpgrade<H::Data>,
        binary: bool,
    ) {
        let socket = pending.socket.clone();
        let m = &self.shared.metrics;
        let outcome =
            tokio::time::timeout(self.shared.upgrade_timeout, self.probe(&socket, &mut conn)).await;
        let failed = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(why)) => {
                tracing::debug!(sid = %socket.sid(), why, "upgrade failed");
                Some("failed")
            }
            Err(_) => {
                tracing::debug!(sid = %socket.sid(), "client did not complete the upgrade in time");
                Some("timeout")
            }
        };
        if let Some(outcome) = failed {
            m.upgrade(outcome);
            drop(pending);
            let _ = tokio::time::timeout(GOODBYE_TIMEOUT, conn.close(1000, "")).await;
            return;
        }
        {
            let mut st = socket.state.lock();
            if st.close.is_some() {
                return;
            }
            st.transport = Transport::WebSocket;
            st.upgrade = Upgrade::Idle;
            st.supports_binary = binary;
        }
        pending.completed = true;
        m.sessions(Transport::Polling).dec();
        m.sessions(Transport::WebSocket).inc();
        m.upgrade("ok");
        tracing::debug!(sid = %socket.sid(), "upgraded to WebSocket");
        // A poll still pending is answered with `noop`; later polls are refused.
        socket.writer.notify_waiters();
        self.ws_loop(&socket, &mut conn, false).await;
    }

    /// The probe exchange: `2probe` → `3probe`, then the client's `5` (upgrade).
    async fn probe<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        socket: &Arc<Socket<H::Data>>,
        conn: &mut Conn<S>,
    ) -> Result<(), &'static str> {
        let protocol = socket.protocol();
        loop {
            let mut next = None;
            let read = tokio::select! {
                r = std::future::poll_fn(|cx| conn.poll_read(cx, &mut |e| {
                    next = Some(e);
                    // One at a time: what follows `upgrade` belongs to the upgraded session.
                    ControlFlow::Break(())
                })) => r,
                _ = socket.closed() => return Err("the session closed"),
            };
            if read.is_err() {
                return Err("the WebSocket closed");
            }
            let packet = match next {
                None => continue,
                Some(Incoming::Message {
                    binary, payload, ..
                }) => packet_of(protocol, binary, payload)
                    .map_err(|()| "undecodable packet during the upgrade")?,
                Some(_) => return Err("the WebSocket closed"),
            };
            if packet.is_probe_ping() {
                let mut pong = vec![Packet::probe_pong()];
                conn.send(protocol, true, &mut pong)
                    .await
                    .map_err(|_| "writing the probe answer failed")?;
                socket.state.lock().upgrade = Upgrade::Probed;
                socket.writer.notify_waiters();
            } else if packet == Packet::Upgrade {
                return Ok(());
            } else {
                return Err("unexpected packet during the upgrade");
            }
        }
    }

    /// Handles one message or close frame read from the WebSocket.
    fn on_incoming(
        &self,
        socket: &Arc<Socket<H::Data>>,
        event: Incoming,
        ending: &mut Option<Ending>,
    ) -> ControlFlow<()> {
        match event {
            Incoming::Message {
                binary, payload, ..
            } => {
                self.shared
                    .metrics
                    .common
                    .bytes_in
                    .inc_by(payload.len() as u64);
                let result = match packet_of(socket.protocol(), binary, payload) {
                    Ok(p) => self.on_packet(socket, p),
                    Err(()) => Err(CloseReason::ParseError),
                };
                match result {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(reason) => {
                        socket.close(reason);
                        ControlFlow::Break(())
                    }
                }
            }
            Incoming::Close(close) => {
                *ending = Some(Ending::PeerClosed(close.map_or(1000, |(code, _)| code)));
                socket.close(CloseReason::TransportClose);
                ControlFlow::Break(())
            }
            // Pings are answered by the connection; pongs need nothing.
            Incoming::Ping(_) | Incoming::Pong(_) => ControlFlow::Continue(()),
        }
    }

    /// Runs an active WebSocket transport until the session closes.
    async fn ws_loop<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        socket: &Arc<Socket<H::Data>>,
        conn: &mut Conn<S>,
        drive: bool,
    ) {
        let protocol = socket.protocol();
        let binary = socket.state.lock().supports_binary;
        let write_timeout = self.shared.ping_interval + self.shared.ping_timeout;
        let mut ending: Option<Ending> = None;
        // Packets the handler handed over while this task waited.
        let mut ready: Vec<Packet> = Vec::new();
        let heartbeat = tokio::time::sleep_until(socket.heartbeat_deadline());
        tokio::pin!(heartbeat);
        // The close and writer signals stay registered across turns instead of joining and
        // leaving the Notify's waiter list on every message; the writer's is renewed once it
        // fires (its `notify_one` permit covers packets queued in between).
        let closed = socket.closed();
        tokio::pin!(closed);
        let mut closed_seen = false;
        let writer = socket.writer.notified();
        tokio::pin!(writer);
        loop {
            if let Some((n, wire, raw)) = conn.take_inflated() {
                self.shared.metrics.deflated("in", n, raw, wire);
            }
            // A fresh batch each turn: the socket's buffer moves here and is freed once
            // written, so an idle session holds no packet buffer.
            let mut batch = Vec::new();
            let close = socket.take_queued(&mut batch);
            // Answers queued by the session first, then what the handler handed over.
            if batch.is_empty() {
                batch = std::mem::take(&mut ready);
            } else if !ready.is_empty() {
                batch.append(&mut ready);
                ready = Vec::new();
            }
            if close.is_none() {
                // What the handler has ready (deliveries) goes out in the same write.
                std::future::poll_fn(|cx| {
                    let _ = self.handler.poll_outgoing(socket, cx, &mut batch);
                    Poll::Ready(())
                })
                .await;
            }
            if (!batch.is_empty() || conn.has_pending()) && (close.is_none() || ending.is_none()) {
                // Most writes complete at once: the timeout (and its timer entry) is only set
                // up for one the socket does not take straight away.
                let mut send = std::pin::pin!(conn.send(protocol, binary, &mut batch));
                let first = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
                let written = match first {
                    Poll::Ready(r) => Ok(r),
                    Poll::Pending => tokio::time::timeout(write_timeout, send).await,
                };
                match written {
                    Ok(Ok(w)) => self.count_written(w),
                    _ => {
                        ending.get_or_insert(Ending::Gone);
                        socket.close(CloseReason::TransportError);
                        continue;
                    }
                }
            }
            if let Some(reason) = close {
                let _ = tokio::time::timeout(
                    GOODBYE_TIMEOUT,
                    self.goodbye(conn, protocol, reason, ending),
                )
                .await;
                return;
            }
            tokio::select! {
                biased;
                _ = &mut closed, if !closed_seen => closed_seen = true,
                _ = &mut heartbeat, if drive => {
                    if let Some(next) = socket.heartbeat_tick(Instant::now()) {
                        heartbeat.as_mut().reset(next);
                    }
                }
                read = std::future::poll_fn(|cx| conn.poll_read(cx, &mut |e| {
                    self.on_incoming(socket, e, &mut ending)
                })) => {
                    if let Err(end) = read {
                        let reason = match end {
                            ReadEnd::Eof => {
                                ending.get_or_insert(Ending::Gone);
                                CloseReason::TransportClose
                            }
                            ReadEnd::Io(e) => {
                                tracing::debug!(error = %e, "WebSocket read failed");
                                ending.get_or_insert(Ending::Gone);
                                CloseReason::TransportError
                            }
                            ReadEnd::Ws(e) => {
                                tracing::debug!(error = %e, "WebSocket protocol error");
                                ending.get_or_insert(Ending::Broken(e.close_code()));
                                CloseReason::TransportError
                            }
                        };
                        socket.close(reason);
                    }
                }
                _ = &mut writer => writer.set(socket.writer.notified()),
                _ = std::future::poll_fn(|cx| self.handler.poll_outgoing(socket, cx, &mut ready)) => {}
            }
        }
    }

    fn count_written(&self, w: Written) {
        let m = &self.shared.metrics;
        m.common.messages_out.inc_by(w.messages);
        m.common.bytes_out.inc_by(w.bytes);
        if w.deflated > 0 {
            m.deflated("out", w.deflated, w.deflated_raw, w.deflated_wire);
        }
    }

    /// Says goodbye on a WebSocket: a `close` packet when the server ends the session on
    /// purpose, then a close frame (the answer to the client's, when it closed).
    async fn goodbye<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        conn: &mut Conn<S>,
        protocol: ProtocolVersion,
        reason: CloseReason,
        ending: Option<Ending>,
    ) {
        let code = match (ending, reason) {
            (Some(Ending::Gone), _) => return,
            (Some(Ending::PeerClosed(code)), _) => code,
            (Some(Ending::Broken(code)), _) => code,
            (None, CloseReason::TransportClose) => 1000,
            (None, CloseReason::ServerShuttingDown) => 1001,
            (None, CloseReason::ParseError) => 1007,
            (None, CloseReason::TransportError) => 1011,
            (None, CloseReason::PingTimeout | CloseReason::ForcedClose) => 1000,
        };
        if ending.is_none()
            && matches!(
                reason,
                CloseReason::ForcedClose | CloseReason::ServerShuttingDown
            )
        {
            let _ = conn.send(protocol, true, &mut vec![Packet::Close]).await;
        }
        let why = match ending {
            Some(Ending::PeerClosed(_)) => "",
            _ => reason.as_str(),
        };
        let _ = conn.close(code, why).await;
    }
}
