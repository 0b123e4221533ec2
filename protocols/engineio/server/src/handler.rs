//! [`Handler`]: the seam between the Engine.IO server and what runs on top of it (the fabric
//! bridge today, Socket.IO later). The engine knows nothing about the messages' meaning: it calls
//! the handler when a session is requested, opened, receives a message, and closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::HeaderMap;
use switchboard_engineio_proto::{
    CloseReason, MessageData, Packet, ProtocolVersion, Sid, Transport,
};

use crate::socket::Socket;

/// What a handshake request carried, for the handler to decide on the session.
#[derive(Debug)]
pub struct Handshake<'a> {
    /// The session id the engine will give the session.
    pub sid: Sid,
    /// The protocol revision the client speaks.
    pub protocol: ProtocolVersion,
    /// The transport of the handshake request.
    pub transport: Transport,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// The peer's address, when known.
    pub peer: Option<SocketAddr>,
}

impl Handshake<'_> {
    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query, name)
    }
}

/// The first value of query parameter `name` in `query`, form-decoded (`+` is a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    // Keys are compared undecoded, so a query without the name has none (the usual case).
    if !query.contains(name) {
        return None;
    }
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            let spaced = v.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Why a handler refuses a handshake: answered as HTTP 403 `{"code":4,"message":...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The message of the error body.
    pub message: String,
}

impl Refusal {
    /// A refusal with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Refusal {
            message: message.into(),
        }
    }
}

/// The application side of the Engine.IO server.
///
/// Every callback runs synchronously on the task that handles the session's I/O: keep it short,
/// and move slow work to a task of its own. [`Socket::send`] never waits, so it may be called
/// from a callback.
pub trait Handler: Send + Sync + 'static {
    /// Per-session state, created by [`Handler::on_handshake`].
    type Data: Send + Sync + 'static;

    /// A client asks for a session (the engine's own checks have passed). Returns the session's
    /// state, or a refusal (HTTP 403).
    fn on_handshake(&self, handshake: &Handshake<'_>) -> Result<Self::Data, Refusal>;

    /// The session is open: its open packet (and the configured initial packet) are queued.
    fn on_connect(&self, socket: &Arc<Socket<Self::Data>>);

    /// The client sent a message.
    fn on_message(&self, socket: &Arc<Socket<Self::Data>>, data: MessageData);

    /// The session closed; it is already removed from the engine and sends nothing more.
    fn on_disconnect(&self, socket: &Arc<Socket<Self::Data>>, reason: CloseReason);

    /// Moves packets that wait elsewhere for this client (typically its fabric deliveries)
    /// into `out`, or registers `cx` to be woken when some may be ready.
    ///
    /// The task that writes to the client calls it whenever it can take more: the WebSocket
    /// task before each write and while idle, and for polling sessions the session's task,
    /// while the send buffer has room (the packets then wait there for the next poll). So
    /// deliveries need no task of their own, and go out with one wake-up and one write.
    /// Return `Ready` when packets were added (at most a few dozen per call, to stay fair) or
    /// the source ended; `Pending` (with `cx` registered) when nothing is ready. The default
    /// has nothing to give.
    fn poll_outgoing(
        &self,
        socket: &Arc<Socket<Self::Data>>,
        cx: &mut Context<'_>,
        out: &mut Vec<Packet>,
    ) -> Poll<()> {
        let _ = (socket, cx, out);
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param("EIO=4&token=a%20b+c&x", "token").as_deref(),
            Some("a b c")
        );
        assert_eq!(query_param("x&token=", "token").as_deref(), Some(""));
        assert_eq!(query_param("x", "x").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "token"), None);
    }
}
