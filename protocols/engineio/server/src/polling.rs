//! HTTP long-polling: the handshake GET, the pending GET that waits for packets (one per
//! session: a second one closes the session, as engine.io does), and the POST that carries the
//! client's packets.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Limited};
use switchboard_engineio_proto::{
    CloseReason, Packet, PayloadFormat, ProtocolVersion, Transport, decode_payload, encode_payload,
    payload::POST_OK_BODY,
};

use crate::engine::{Engine, Verified, polling_headers};
use crate::handler::Handler;
use crate::http::{self as h, negotiate};
use crate::socket::{Socket, Upgrade};

/// Bodies above this size are compressed on the blocking pool rather than on the runtime.
const BLOCKING_COMPRESS: usize = 64 * 1024;

/// Clears the session's "a GET is pending" mark; a poll that ends without answering (the
/// client went away) closes the session, as engine.io's "poll connection closed prematurely".
struct PendingPoll<'a, D> {
    socket: &'a Arc<Socket<D>>,
    answered: bool,
}

impl<D> Drop for PendingPoll<'_, D> {
    fn drop(&mut self) {
        self.socket.shared.metrics.pending_polls.dec();
        self.socket.state.lock().polling = false;
        if !self.answered {
            self.socket.close(CloseReason::TransportError);
        }
    }
}

/// Clears the session's "a POST is being read" mark.
struct PendingPost<'a, D>(&'a Arc<Socket<D>>);

impl<D> Drop for PendingPost<'_, D> {
    fn drop(&mut self) {
        self.0.state.lock().posting = false;
    }
}

/// Whether queued packets are still delivered before the `close` packet.
fn graceful(reason: CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::ForcedClose | CloseReason::ServerShuttingDown
    )
}

impl<H: Handler> Engine<H> {
    /// A polling handshake: opens the session and answers with its `open` packet.
    pub(crate) async fn polling_handshake(
        self: &Arc<Self>,
        headers: &HeaderMap,
        query: &str,
        peer: Option<SocketAddr>,
        protocol: ProtocolVersion,
        verified: Verified,
    ) -> Response {
        let (sid, data, slot) =
            match self.admit(headers, query, peer, protocol, Transport::Polling, false) {
                Ok(x) => x,
                Err(r) => return *r,
            };
        let socket = self.open_session(
            sid,
            protocol,
            Transport::Polling,
            verified.supports_binary,
            data,
            slot,
        );
        // The session's task starts with its first request (see `idle`); the reaper starts
        // it by the first heartbeat deadline otherwise (or it starts now when the reaper's
        // list is full). A session that slipped in past the shutdown's `close_all` is closed
        // by its task now, like the others.
        let due = match protocol {
            ProtocolVersion::V4 => socket.heartbeat_deadline(),
            ProtocolVersion::V3 => socket.heartbeat_deadline() - self.shared.ping_timeout,
        };
        let max = self.shared.config.max_sessions;
        if !self.shared.idle.opened(sid, due, max) {
            self.ensure_driven(&socket);
        }
        if self.stop.is_cancelled() {
            socket.close(CloseReason::ServerShuttingDown);
            self.ensure_driven(&socket);
        }
        let mut packets = Vec::new();
        socket.take_queued(&mut packets);
        let mut response = self.payload_response(&socket, &packets, headers).await;
        self.handshake_headers(sid, response.headers_mut());
        response
    }

    /// A GET of an open polling session: answers with the queued packets, waiting for some.
    pub(crate) async fn poll(
        self: &Arc<Self>,
        socket: Arc<Socket<H::Data>>,
        headers: &HeaderMap,
    ) -> Response {
        {
            let mut st = socket.state.lock();
            if st.polling {
                drop(st);
                tracing::debug!(sid = %socket.sid(), "overlapping polls: closing the session");
                socket.close(CloseReason::TransportError);
                return h::empty(StatusCode::BAD_REQUEST);
            }
            st.polling = true;
        }
        socket.shared.metrics.pending_polls.inc();
        let mut pending = PendingPoll {
            socket: &socket,
            answered: false,
        };
        let mut packets = Vec::new();
        loop {
            let notified = socket.writer.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = socket.take_queued(&mut packets) {
                if !graceful(reason) {
                    packets.clear();
                }
                packets.push(Packet::Close);
                break;
            }
            if !packets.is_empty() {
                break;
            }
            {
                let st = socket.state.lock();
                if st.upgrade == Upgrade::Probed || st.transport != Transport::Polling {
                    // Let the client finish its poll cycle and pause for the upgrade.
                    packets.push(Packet::Noop);
                    break;
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = socket.closed() => {}
            }
        }
        pending.answered = true;
        drop(pending);
        self.payload_response(&socket, &packets, headers).await
    }

    /// Encodes `packets` as a polling response body (compressed when it pays).
    async fn payload_response(
        &self,
        socket: &Arc<Socket<H::Data>>,
        packets: &[Packet],
        req: &HeaderMap,
    ) -> Response {
        let supports_binary = socket.state.lock().supports_binary;
        // The usual body is one or a few short packets: one allocation, no regrowth.
        let protocol = socket.protocol();
        let estimate: usize = packets
            .iter()
            .map(|p| p.encoded_str_len(protocol) + 8)
            .sum();
        let mut buf = BytesMut::with_capacity(estimate);
        let format = encode_payload(protocol, packets, supports_binary, &mut buf);
        let m = &self.shared.metrics.common;
        let messages = packets
            .iter()
            .filter(|p| matches!(p, Packet::Message(_)))
            .count();
        m.messages_out.inc_by(messages as u64);
        let body = buf.freeze();
        let compression = &self.shared.config.http_compression;
        let coding = (compression.enabled && body.len() >= compression.threshold)
            .then(|| negotiate(req.get(header::ACCEPT_ENCODING)))
            .flatten();
        let (body, coding) = match coding {
            Some(c) => {
                let compressed = if body.len() >= BLOCKING_COMPRESS {
                    let input = body.clone();
                    tokio::task::spawn_blocking(move || h::compress(c, &input))
                        .await
                        .map_err(std::io::Error::other)
                        .and_then(|r| r)
                } else {
                    h::compress(c, &body)
                };
                match compressed {
                    Ok(z) => (z, Some(c)),
                    Err(e) => {
                        tracing::warn!(error = %e, "compressing a polling response failed");
                        return h::empty(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                }
            }
            None => (body, None),
        };
        m.bytes_out.inc_by(body.len() as u64);
        let mut response = h::respond(StatusCode::OK, format.content_type(), body);
        let headers = response.headers_mut();
        if let Some(c) = coding {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(c.as_str()),
            );
        }
        polling_headers(req, headers);
        response
    }

    /// A POST of an open polling session: decodes the packets and hands them to the session.
    pub(crate) async fn post(
        self: &Arc<Self>,
        socket: Arc<Socket<H::Data>>,
        headers: &HeaderMap,
        body: Body,
    ) -> Response {
        {
            let mut st = socket.state.lock();
            if st.posting {
                drop(st);
                tracing::debug!(sid = %socket.sid(), "overlapping POSTs: closing the session");
                socket.close(CloseReason::TransportError);
                return h::empty(StatusCode::BAD_REQUEST);
            }
            st.posting = true;
        }
        let _posting = PendingPost(&socket);
        let max = self.shared.config.max_http_buffer_size;
        let format = PayloadFormat::from_content_type(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        if format == PayloadFormat::Binary && socket.protocol() == ProtocolVersion::V4 {
            tracing::debug!(sid = %socket.sid(), "binary POST body in protocol v4: closing");
            socket.close(CloseReason::TransportError);
            return h::respond(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=UTF-8",
                Bytes::from_static(b"invalid content"),
            );
        }
        let announced = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > max as u64) {
            return self.too_large(&socket);
        }
        let body = match Limited::new(body, max).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                if e.is::<http_body_util::LengthLimitError>() {
                    return self.too_large(&socket);
                }
                tracing::debug!(sid = %socket.sid(), error = %e, "reading a POST body failed");
                socket.close(CloseReason::TransportError);
                return h::empty(StatusCode::BAD_REQUEST);
            }
        };
        self.shared
            .metrics
            .common
            .bytes_in
            .inc_by(body.len() as u64);
        let decoder = match decode_payload(socket.protocol(), format, body, max) {
            Ok(d) => d,
            Err(e) => return self.parse_error(&socket, &e),
        };
        for packet in decoder {
            match packet {
                Ok(p) => {
                    if let Err(reason) = self.on_packet(&socket, p) {
                        socket.close(reason);
                        break;
                    }
                }
                Err(e) => return self.parse_error(&socket, &e),
            }
        }
        let mut response = h::respond(
            StatusCode::OK,
            "text/html",
            Bytes::from_static(POST_OK_BODY.as_bytes()),
        );
        polling_headers(headers, response.headers_mut());
        response
    }

    fn too_large(&self, socket: &Arc<Socket<H::Data>>) -> Response {
        tracing::debug!(
            sid = %socket.sid(),
            max = self.shared.config.max_http_buffer_size,
            "POST body over engineio.max_http_buffer_size: closing"
        );
        self.shared.metrics.common.dropped("payload_too_large");
        socket.close(CloseReason::TransportError);
        h::empty(StatusCode::PAYLOAD_TOO_LARGE)
    }

    fn parse_error(
        &self,
        socket: &Arc<Socket<H::Data>>,
        error: &switchboard_engineio_proto::Error,
    ) -> Response {
        tracing::debug!(sid = %socket.sid(), error = %error, "undecodable POST body: closing");
        if error.is_too_large() {
            return self.too_large(socket);
        }
        socket.close(CloseReason::ParseError);
        h::respond(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=UTF-8",
            Bytes::from(format!("parse error: {error}")),
        )
    }
}
