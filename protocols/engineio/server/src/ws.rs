//! The WebSocket transport (axum's WebSocket, tokio-tungstenite underneath): sessions opened
//! on a WebSocket, and upgrades of polling sessions (probe, `3probe`, `noop` to the pending
//! poll, `upgrade`, then the buffered packets in order), bounded by `upgrade_timeout_ms`.
//!
//! One task per WebSocket reads frames, writes queued packets in batches (one flush per batch),
//! and, for sessions opened on the WebSocket, drives the heartbeat.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::HeaderMap;
use switchboard_engineio_proto::{
    CloseReason, ErrorCode, Frame, Packet, ProtocolVersion, Str, Transport, decode_frame,
    encode_frame,
};
use tokio::time::Instant;
use tracing::Instrument;

use crate::engine::{Engine, Verified};
use crate::handler::Handler;
use crate::socket::{Socket, Upgrade};

/// tungstenite's read buffer per connection, allocated (and zero-filled) at the upgrade and
/// the most one read takes: small, since idle sessions dominate memory (the budget is 4 KB
/// per idle WebSocket session); a large frame grows the buffer to its size.
const READ_BUFFER: usize = 512;
/// Frames are written once this much is buffered, or at the end of a batch.
const WRITE_BUFFER: usize = 64 * 1024;
/// How long a goodbye (close packet and close frame) may take.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

/// A session opened by a WebSocket handshake whose upgrade has not started: if the upgrade
/// fails (the closure is dropped unused), the session ends with `transport error`.
struct Unstarted<H: Handler> {
    engine: Arc<Engine<H>>,
    socket: Option<Arc<Socket<H::Data>>>,
}

impl<H: Handler> Drop for Unstarted<H> {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            socket.close(CloseReason::TransportError);
            self.engine.finish(&socket);
        }
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

/// The WebSocket message carrying `packet`.
fn to_message(protocol: ProtocolVersion, packet: &Packet, binary: bool) -> Message {
    match encode_frame(protocol, packet, binary) {
        Frame::Text(s) => Message::Text(
            Utf8Bytes::try_from(s.into_bytes()).unwrap_or_else(|_| Utf8Bytes::from_static("")),
        ),
        Frame::Binary(b) => Message::Binary(b),
    }
}

/// What one received WebSocket message means for the session.
enum Incoming {
    Packet(Packet),
    /// Control frames (ping/pong): nothing to do.
    Nothing,
    Close(CloseReason),
}

fn incoming(protocol: ProtocolVersion, frame: Option<Result<Message, axum::Error>>) -> Incoming {
    let frame = match frame {
        None | Some(Ok(Message::Close(_))) => return Incoming::Close(CloseReason::TransportClose),
        Some(Err(e)) => {
            tracing::debug!(error = %e, "WebSocket error");
            return Incoming::Close(CloseReason::TransportError);
        }
        Some(Ok(Message::Text(t))) => match Str::from_utf8(Bytes::from(t)) {
            Ok(s) => Frame::Text(s),
            Err(_) => return Incoming::Close(CloseReason::ParseError),
        },
        Some(Ok(Message::Binary(b))) => Frame::Binary(b),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Incoming::Nothing,
    };
    match decode_frame(protocol, frame) {
        Ok(p) => Incoming::Packet(p),
        Err(e) => {
            tracing::debug!(error = %e, "undecodable WebSocket frame");
            Incoming::Close(CloseReason::ParseError)
        }
    }
}

impl<H: Handler> Engine<H> {
    fn configure(&self, ws: WebSocketUpgrade) -> WebSocketUpgrade {
        let max = self.shared.config.max_http_buffer_size;
        ws.max_message_size(max)
            .max_frame_size(max)
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            .max_write_buffer_size(WRITE_BUFFER + 2 * max + 1024)
    }

    /// A handshake on a WebSocket: the session starts on it.
    pub(crate) fn ws_handshake(
        self: &Arc<Self>,
        ws: WebSocketUpgrade,
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
        // The session opens now so the closure carries one pointer rather than the handler's
        // data: the WebSocket task of every idle session is that much smaller.
        let socket = self.open_session(
            sid,
            protocol,
            Transport::WebSocket,
            verified.supports_binary,
            data,
            slot,
        );
        let guard = Unstarted {
            engine: self.clone(),
            socket: Some(socket),
        };
        let tracker = self.tracker.clone();
        let span = tracing::debug_span!("engineio_session", %sid, transport = "websocket");
        let mut response = self.configure(ws).on_upgrade(move |ws| {
            let mut guard = guard;
            let engine = guard.engine.clone();
            let socket = guard.socket.take();
            tracker.track_future(
                async move {
                    if let Some(socket) = socket {
                        engine.run_ws_session(ws, socket).await;
                    }
                }
                .instrument(span),
            )
        });
        self.handshake_headers(sid, response.headers_mut());
        response
    }

    async fn run_ws_session(&self, mut ws: WebSocket, socket: Arc<Socket<H::Data>>) {
        self.ws_loop(&socket, &mut ws, true).await;
        self.finish(&socket);
    }

    /// An upgrade of a polling session to WebSocket.
    pub(crate) fn upgrade(
        self: &Arc<Self>,
        socket: Arc<Socket<H::Data>>,
        ws: WebSocketUpgrade,
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
            socket: socket.clone(),
            completed: false,
        };
        let engine = self.clone();
        let tracker = self.tracker.clone();
        let binary = verified.supports_binary;
        self.configure(ws).on_upgrade(move |ws| {
            tracker.track_future(engine.run_upgrade(ws, pending, binary).instrument(span))
        })
    }

    async fn run_upgrade(
        self: Arc<Self>,
        mut ws: WebSocket,
        mut pending: PendingUpgrade<H::Data>,
        binary: bool,
    ) {
        let socket = pending.socket.clone();
        let m = &self.shared.metrics;
        let outcome =
            tokio::time::timeout(self.shared.upgrade_timeout, self.probe(&socket, &mut ws)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                tracing::debug!(sid = %socket.sid(), why, "upgrade failed");
                m.upgrade("failed");
                drop(pending);
                let _ = tokio::time::timeout(GOODBYE_TIMEOUT, ws.close()).await;
                return;
            }
            Err(_) => {
                tracing::debug!(sid = %socket.sid(), "client did not complete the upgrade in time");
                m.upgrade("timeout");
                drop(pending);
                let _ = tokio::time::timeout(GOODBYE_TIMEOUT, ws.close()).await;
                return;
            }
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
        self.ws_loop(&socket, &mut ws, false).await;
    }

    /// The probe exchange: `2probe` → `3probe`, then the client's `5` (upgrade).
    async fn probe(
        &self,
        socket: &Arc<Socket<H::Data>>,
        ws: &mut WebSocket,
    ) -> Result<(), &'static str> {
        let protocol = socket.protocol();
        loop {
            let frame = tokio::select! {
                f = ws.next() => f,
                _ = socket.closed.cancelled() => return Err("the session closed"),
            };
            let packet = match incoming(protocol, frame) {
                Incoming::Packet(p) => p,
                Incoming::Nothing => continue,
                Incoming::Close(_) => return Err("the WebSocket closed"),
            };
            if packet.is_probe_ping() {
                let pong = to_message(protocol, &Packet::probe_pong(), true);
                ws.send(pong)
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

    /// Runs an active WebSocket transport until the session closes.
    async fn ws_loop(&self, socket: &Arc<Socket<H::Data>>, ws: &mut WebSocket, drive: bool) {
        let protocol = socket.protocol();
        let binary = socket.state.lock().supports_binary;
        let write_timeout = self.shared.ping_interval + self.shared.ping_timeout;
        let mut batch = Vec::new();
        let heartbeat = tokio::time::sleep_until(socket.heartbeat_deadline());
        tokio::pin!(heartbeat);
        loop {
            let close = socket.take_queued(&mut batch);
            if !batch.is_empty() {
                let written = tokio::time::timeout(
                    write_timeout,
                    self.write_batch(ws, protocol, binary, &mut batch),
                )
                .await;
                if !matches!(written, Ok(Ok(()))) {
                    batch.clear();
                    socket.close(CloseReason::TransportError);
                    continue;
                }
            }
            if let Some(reason) = close {
                let _ =
                    tokio::time::timeout(GOODBYE_TIMEOUT, self.goodbye(ws, protocol, reason)).await;
                return;
            }
            tokio::select! {
                biased;
                _ = socket.closed.cancelled() => {}
                _ = socket.writer.notified() => {}
                frame = ws.next() => match incoming(protocol, frame) {
                    Incoming::Packet(p) => {
                        if let Err(reason) = self.on_packet(socket, p) {
                            socket.close(reason);
                        }
                    }
                    Incoming::Nothing => {}
                    Incoming::Close(reason) => socket.close(reason),
                },
                _ = &mut heartbeat, if drive => {
                    if let Some(next) = socket.heartbeat_tick(Instant::now()) {
                        heartbeat.as_mut().reset(next);
                    }
                }
            }
        }
    }

    /// Writes a batch of packets with one flush.
    async fn write_batch(
        &self,
        ws: &mut WebSocket,
        protocol: ProtocolVersion,
        binary: bool,
        batch: &mut Vec<Packet>,
    ) -> Result<(), axum::Error> {
        let m = &self.shared.metrics.common;
        let mut messages = 0u64;
        let mut bytes = 0u64;
        for packet in batch.drain(..) {
            if matches!(packet, Packet::Message(_)) {
                messages += 1;
            }
            let msg = to_message(protocol, &packet, binary);
            bytes += match &msg {
                Message::Text(t) => t.len(),
                Message::Binary(b) => b.len(),
                _ => 0,
            } as u64;
            ws.feed(msg).await?;
        }
        ws.flush().await?;
        m.messages_out.inc_by(messages);
        m.bytes_out.inc_by(bytes);
        if batch.capacity() > 256 {
            *batch = Vec::new();
        }
        Ok(())
    }

    /// Says goodbye on a WebSocket: a `close` packet when the server ends the session on
    /// purpose, then a close frame.
    async fn goodbye(&self, ws: &mut WebSocket, protocol: ProtocolVersion, reason: CloseReason) {
        let code = match reason {
            CloseReason::TransportClose => {
                // The client closed; answer its close frame (tungstenite does) and stop.
                let _ = ws.flush().await;
                return;
            }
            CloseReason::ServerShuttingDown => 1001,
            CloseReason::ParseError => 1007,
            CloseReason::TransportError => 1011,
            CloseReason::PingTimeout | CloseReason::ForcedClose => 1000,
        };
        if matches!(
            reason,
            CloseReason::ForcedClose | CloseReason::ServerShuttingDown
        ) {
            let _ = ws.feed(to_message(protocol, &Packet::Close, true)).await;
        }
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason.as_str()),
        };
        let _ = ws.send(Message::Close(Some(frame))).await;
    }
}
