//! [`SocketIo`]: the [`Handler`] the Socket.IO engine runs. Each Engine.IO session is one
//! Socket.IO connection ([`Conn`]); its messages are decoded here, binary packets reassembled,
//! namespace connections authenticated and answered (`CONNECT` or `CONNECT_ERROR`), and
//! events handed to the namespace's mapping ([`crate::control`] or [`crate::events`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use serde::Deserialize;
use smallvec::SmallVec;
use switchboard_engineio::bridge::{ErrorKind, credentials, credentials_from};
use switchboard_engineio::proto::{CloseReason, MessageData, Packet, ProtocolVersion as Eio};
use switchboard_engineio::{Handler, Handshake, Refusal, Socket};
use switchboard_fabric::{
    Access, Authorizer, ClientControl, ClientSpec, Credentials, Fabric, TopicFilter,
};
use switchboard_socketio_proto::encode::connect_error;
use switchboard_socketio_proto::{
    Data, Limits, Packet as SioPacket, PacketType, ProtocolVersion, Reassembler, decode,
    placeholder_index,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{NamespaceMode, SocketIoConfig};
use crate::metrics::Metrics;
use crate::nsp::{Namespace, NsSocket};
use crate::payload;
use crate::pump::{self, Command};

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) fabric: Fabric,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    namespaces: HashMap<String, Arc<Namespace>>,
    limits: Limits,
    connect_timeout: Duration,
    max_namespaces: usize,
    pub(crate) max_subscriptions: usize,
    pub(crate) max_requests: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) max_request_timeout: Duration,
    require_credentials: bool,
    pub(crate) metrics: Metrics,
    pub(crate) tracker: TaskTracker,
    pub(crate) protocol: Arc<str>,
}

/// The Socket.IO server: the [`Handler`] of its Engine.IO engine.
#[derive(Debug, Clone)]
pub struct SocketIo {
    inner: Arc<Inner>,
}

/// One Socket.IO connection (the Engine.IO session's data).
#[derive(Debug)]
pub struct Conn {
    version: ProtocolVersion,
    engine_sid: Arc<str>,
    /// Credentials of the HTTP handshake (`Authorization` header, `token` query parameter).
    http: Credentials,
    /// Filters of the `join` query parameter(s).
    query_join: Vec<String>,
    state: Mutex<ConnState>,
    /// Cancelled once a namespace is joined (ends the connect timeout).
    connected: CancellationToken,
    /// The peer's address from the handshake request.
    peer: Option<std::net::SocketAddr>,
    /// The transport task that found no subscriber to drain, woken when one is created.
    pub(crate) sub_waiter: AtomicWaker,
}

/// How the client registry reaches a namespace socket: an admin kick sends the namespace's
/// `DISCONNECT` (the client sees `io server disconnect` and does not reconnect) and closes the
/// connection once no namespace is left.
struct Control {
    socket: std::sync::Weak<Socket<Conn>>,
    nsp: Arc<str>,
    sid: Arc<str>,
}

impl ClientControl for Control {
    fn kick(&self) {
        let Some(socket) = self.socket.upgrade() else {
            return;
        };
        let (removed, left) = {
            let mut st = socket.data().state.lock();
            let removed = st
                .sockets
                .iter()
                .position(|s| s.sid == self.sid)
                .map(|i| st.sockets.remove(i));
            (removed, st.sockets.len())
        };
        let Some(removed) = removed else {
            return;
        };
        let _ = socket.send(Packet::text(
            switchboard_socketio_proto::encode::disconnect(&self.nsp),
        ));
        tracing::debug!(sid = %self.sid, namespace = %self.nsp, "socket.io socket kicked");
        removed.end();
        if left == 0 {
            socket.close(CloseReason::ForcedClose);
        }
    }

    fn transport(&self) -> Option<&'static str> {
        self.socket.upgrade().map(|s| match s.transport() {
            switchboard_engineio::proto::Transport::Polling => "polling",
            switchboard_engineio::proto::Transport::WebSocket => "websocket",
        })
    }
}

#[derive(Debug, Default)]
struct ConnState {
    sockets: SmallVec<[Arc<NsSocket>; 2]>,
    reassembler: Reassembler<Bytes>,
}

impl Conn {
    /// The protocol revision the client speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Namespaces the connection has joined.
    pub fn namespaces(&self) -> Vec<String> {
        self.state
            .lock()
            .sockets
            .iter()
            .map(|s| s.nsp.name.to_string())
            .collect()
    }

    /// The namespace sockets of the connection.
    pub(crate) fn sockets(&self) -> SmallVec<[Arc<NsSocket>; 2]> {
        self.state.lock().sockets.clone()
    }

    fn socket(&self, nsp: &str) -> Option<Arc<NsSocket>> {
        self.state
            .lock()
            .sockets
            .iter()
            .find(|s| &*s.nsp.name == nsp)
            .cloned()
    }
}

/// What a client may put in the connect `auth` payload (other keys are ignored).
#[derive(Debug, Default, Deserialize)]
struct AuthPayload<'a> {
    #[serde(borrow, default)]
    token: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    password: Option<Cow<'a, str>>,
    #[serde(default)]
    join: Option<Join>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Join {
    One(String),
    Many(Vec<String>),
}

/// Every value of query parameter `name` (form-decoded), each split at commas.
fn query_values(query: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != name {
            continue;
        }
        let spaced = v.replace('+', " ");
        let v = percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy();
        out.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
    }
    out
}

/// Sends an error for event `id`: an error acknowledgement, or an `error` event when the
/// client asked for none.
pub(crate) fn reply_error(
    socket: &Socket<Conn>,
    nsp: &str,
    id: Option<u64>,
    code: ErrorKind,
    message: &str,
) {
    let text = match id {
        Some(id) => payload::ack_err(nsp, id, code, message),
        None => payload::error_event(nsp, code, message),
    };
    let _ = socket.send(Packet::text(text));
}

/// Why a namespace connection is refused.
struct Refused {
    outcome: &'static str,
    code: ErrorKind,
    message: String,
}

impl Refused {
    fn new(outcome: &'static str, code: ErrorKind, message: impl Into<String>) -> Self {
        Refused {
            outcome,
            code,
            message: message.into(),
        }
    }
}

impl SocketIo {
    /// A server mapping `config`'s namespaces onto `fabric`, checking rights with
    /// `authorizer`, spawning its tasks on `tracker`.
    pub fn new(
        config: &SocketIoConfig,
        fabric: Fabric,
        authorizer: Arc<dyn Authorizer>,
        metrics: Metrics,
        tracker: TaskTracker,
    ) -> Self {
        let namespaces = config
            .namespaces
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    Arc::new(Namespace::new(c, metrics.sockets(&c.name))),
                )
            })
            .collect();
        SocketIo {
            inner: Arc::new(Inner {
                fabric,
                authorizer,
                namespaces,
                limits: Limits {
                    max_attachments: config.max_attachments,
                },
                connect_timeout: Duration::from_millis(config.connect_timeout_ms),
                max_namespaces: config.max_namespaces,
                max_subscriptions: config.max_subscriptions,
                max_requests: config.max_pending_requests,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                max_request_timeout: Duration::from_millis(config.max_request_timeout_ms),
                require_credentials: config.require_credentials,
                metrics,
                tracker,
                protocol: Arc::from(crate::PROTOCOL),
            }),
        }
    }

    /// The fabric the server publishes into.
    pub fn fabric(&self) -> &Fabric {
        &self.inner.fabric
    }

    fn violation(&self, socket: &Socket<Conn>, kind: &str, what: &dyn std::fmt::Display) {
        self.inner.metrics.protocol_error(kind);
        tracing::debug!(sid = %socket.data().engine_sid, error = %what, "socket.io protocol error: closing");
        socket.close(CloseReason::ForcedClose);
    }

    /// Connects the client to namespace `field` (v4 clients may append `?query`).
    fn connect(&self, socket: &Arc<Socket<Conn>>, field: &str, auth: Option<&str>) {
        let inner = &self.inner;
        let conn = socket.data();
        let (name, query) = match conn.version {
            ProtocolVersion::V4 => field.split_once('?').unwrap_or((field, "")),
            ProtocolVersion::V5 => (field, ""),
        };
        let Some(ns) = inner.namespaces.get(name).cloned() else {
            inner.metrics.connect("(unknown)", "invalid_namespace");
            let _ = socket.send(Packet::text(connect_error(
                conn.version,
                name,
                "Invalid namespace",
                None,
            )));
            return;
        };
        match self.admit(socket, &ns, query, auth) {
            Ok(()) => {
                inner.metrics.connect(name, "ok");
                conn.connected.cancel();
            }
            Err(r) => {
                inner.metrics.connect(name, r.outcome);
                let data = format!("{{\"code\":\"{}\"}}", r.code.as_str());
                let data = (conn.version == ProtocolVersion::V5).then_some(data.as_str());
                let _ = socket.send(Packet::text(connect_error(
                    conn.version,
                    name,
                    &r.message,
                    data,
                )));
            }
        }
    }

    fn admit(
        &self,
        socket: &Arc<Socket<Conn>>,
        ns: &Arc<Namespace>,
        query: &str,
        auth: Option<&str>,
    ) -> Result<(), Refused> {
        let inner = &self.inner;
        let conn = socket.data();
        let held = conn.state.lock().sockets.len();
        if held >= inner.max_namespaces && conn.socket(&ns.name).is_none() {
            return Err(Refused::new(
                "too_many",
                ErrorKind::Overloaded,
                "socketio.max_namespaces reached",
            ));
        }
        // Credentials: the auth payload (v5) or the namespace query (v4), else the HTTP request.
        let parsed: AuthPayload<'_> = match auth {
            Some(a) => serde_json::from_str(a).map_err(|e| {
                Refused::new(
                    "bad_request",
                    ErrorKind::BadRequest,
                    format!("invalid auth payload: {e}"),
                )
            })?,
            None => AuthPayload::default(),
        };
        let q = |k: &str| query_values(query, k).into_iter().next();
        let (qt, qu, qp) = (q("token"), q("username"), q("password"));
        let creds = credentials_from(
            parsed.token.as_deref().or(qt.as_deref()),
            parsed.username.as_deref().or(qu.as_deref()),
            parsed.password.as_deref().or(qp.as_deref()),
        )
        .unwrap_or_else(|| conn.http.clone());
        if inner.require_credentials && creds == Credentials::Anonymous {
            inner.metrics.common.auth_failure("credentials");
            return Err(Refused::new(
                "unauthorized",
                ErrorKind::Unauthorized,
                "credentials are required",
            ));
        }
        let sid: Arc<str> = match conn.version {
            ProtocolVersion::V5 => Arc::from(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 15]>())),
            ProtocolVersion::V4 if &*ns.name == "/" => conn.engine_sid.clone(),
            ProtocolVersion::V4 => Arc::from(format!("{}#{}", ns.name, conn.engine_sid)),
        };
        let identity = inner
            .authorizer
            .authenticate(crate::PROTOCOL, &sid, &creds)
            .map_err(|e| {
                inner.metrics.common.auth_failure("credentials");
                Refused::new("unauthorized", ErrorKind::Unauthorized, e.to_string())
            })?;
        // Filters joined on connect: the namespace's, then the client's.
        let mut wanted: Vec<String> = Vec::new();
        if ns.client_join {
            match parsed.join {
                Some(Join::One(f)) => wanted.push(f),
                Some(Join::Many(v)) => wanted.extend(v),
                None => {}
            }
            wanted.extend(query_values(query, "join"));
            wanted.extend(conn.query_join.iter().cloned());
        }
        if ns.join.len() + wanted.len() > inner.max_subscriptions {
            return Err(Refused::new(
                "too_many",
                ErrorKind::TooManySubscriptions,
                "socketio.max_subscriptions reached",
            ));
        }
        let mut filters: SmallVec<[TopicFilter; 1]> = SmallVec::new();
        for f in ns.join.iter().cloned() {
            filters.push(f);
        }
        for f in &wanted {
            let filter = ns.mount.filter_in(f).map_err(|e| {
                Refused::new(
                    "invalid_topic",
                    ErrorKind::InvalidTopic,
                    format!("`{f}`: {e}"),
                )
            })?;
            if !filters.contains(&filter) {
                filters.push(filter);
            }
        }
        for f in &filters {
            if !inner
                .authorizer
                .authorize(&identity, Access::Subscribe, f.as_str())
            {
                inner.metrics.common.auth_failure("subscribe");
                return Err(Refused::new(
                    "forbidden",
                    ErrorKind::Forbidden,
                    format!(
                        "not allowed to subscribe to `{}`",
                        f.as_str()
                            .strip_prefix(ns.mount.as_str())
                            .unwrap_or(f.as_str())
                    ),
                ));
            }
        }
        let nss = Arc::new(NsSocket::new(ns.clone(), sid.clone(), identity));
        let previous = {
            let mut st = conn.state.lock();
            let old = st
                .sockets
                .iter()
                .position(|s| Arc::ptr_eq(&s.nsp, ns))
                .map(|i| st.sockets.remove(i));
            st.sockets.push(nss.clone());
            old
        };
        if let Some(old) = previous {
            old.end();
        }
        let spec = ClientSpec::new(inner.protocol.clone(), sid.clone(), "polling")
            .remote(conn.peer)
            .user(nss.identity.user.clone());
        let control = Arc::new(Control {
            socket: Arc::downgrade(socket),
            nsp: ns.name.clone(),
            sid: sid.clone(),
        });
        *nss.registration.lock() = Some(inner.fabric.clients().register(spec, control));
        let _ = socket.send(Packet::text(switchboard_socketio_proto::encode::connect(
            conn.version,
            &ns.name,
            &sid,
        )));
        tracing::debug!(sid = %sid, namespace = %ns.name, "socket.io namespace joined");
        if !filters.is_empty() {
            pump::apply(inner, socket, &nss, Command::Sub { filters, id: None });
        }
        Ok(())
    }

    /// The client left namespace `nsp`.
    fn leave(&self, socket: &Socket<Conn>, nsp: &str) {
        let removed = {
            let mut st = socket.data().state.lock();
            st.sockets
                .iter()
                .position(|s| &*s.nsp.name == nsp)
                .map(|i| st.sockets.remove(i))
        };
        if let Some(s) = removed {
            tracing::debug!(sid = %s.sid, namespace = nsp, "socket.io namespace left");
            s.end();
        }
    }

    /// Handles one complete packet; `buf` holds its text, `attachments` its binary parts.
    fn dispatch(
        &self,
        socket: &Arc<Socket<Conn>>,
        packet: &SioPacket<'_>,
        buf: &Bytes,
        attachments: &[Bytes],
    ) {
        match packet.kind {
            PacketType::Connect => {
                let auth = match packet.data {
                    Data::Value(v) => Some(v),
                    _ => None,
                };
                self.connect(socket, packet.nsp, auth);
            }
            PacketType::Disconnect => self.leave(socket, packet.nsp),
            PacketType::ConnectError => {}
            PacketType::Event | PacketType::BinaryEvent => {
                let Data::Event { name, args } = &packet.data else {
                    return;
                };
                let Some(ns) = socket.data().socket(packet.nsp) else {
                    return;
                };
                if !attachments.is_empty()
                    && args
                        .iter()
                        .filter(|a| placeholder_index(a).is_some())
                        .count()
                        != attachments.len()
                {
                    return reply_error(
                        socket,
                        packet.nsp,
                        packet.id,
                        ErrorKind::BadRequest,
                        "binary data must be a whole argument, not nested in an object",
                    );
                }
                let event = crate::control::Event {
                    name,
                    args,
                    id: packet.id,
                    buf,
                    attachments,
                };
                match ns.nsp.mode {
                    NamespaceMode::Control => {
                        crate::control::on_event(&self.inner, socket, &ns, &event)
                    }
                    NamespaceMode::Events => {
                        crate::events::on_event(&self.inner, socket, &ns, &event)
                    }
                }
            }
            PacketType::Ack | PacketType::BinaryAck => {
                let (Data::Ack(args), Some(id)) = (&packet.data, packet.id) else {
                    return;
                };
                if let Some(ns) = socket.data().socket(packet.nsp) {
                    crate::control::on_ack(&self.inner, &ns, id, args, buf, attachments);
                }
            }
        }
    }
}

impl Handler for SocketIo {
    type Data = Conn;

    fn on_handshake(&self, handshake: &Handshake<'_>) -> Result<Conn, Refusal> {
        Ok(Conn {
            version: match handshake.protocol {
                Eio::V4 => ProtocolVersion::V5,
                Eio::V3 => ProtocolVersion::V4,
            },
            engine_sid: Arc::from(handshake.sid.to_string()),
            http: credentials(handshake),
            query_join: query_values(handshake.query, "join"),
            state: Mutex::new(ConnState::default()),
            connected: CancellationToken::new(),
            peer: handshake.peer,
            sub_waiter: AtomicWaker::new(),
        })
    }

    fn on_connect(&self, socket: &Arc<Socket<Conn>>) {
        match socket.data().version {
            // Socket.IO 2 clients are in the main namespace from the start.
            ProtocolVersion::V4 => self.connect(socket, "/", None),
            ProtocolVersion::V5 => {
                let socket = socket.clone();
                let timeout = self.inner.connect_timeout;
                self.inner.tracker.spawn(async move {
                    let conn = socket.data();
                    tokio::select! {
                        _ = tokio::time::sleep(timeout) => {
                            if !conn.connected.is_cancelled() {
                                tracing::debug!(sid = %conn.engine_sid, "no namespace joined within connect_timeout_ms: closing");
                                socket.close(CloseReason::ForcedClose);
                            }
                        }
                        _ = conn.connected.cancelled() => {}
                        _ = socket.closed() => {}
                    }
                });
            }
        }
    }

    fn on_message(&self, socket: &Arc<Socket<Conn>>, data: MessageData) {
        let conn = socket.data();
        match data {
            MessageData::Text(s) => {
                let buf = s.into_bytes();
                if let Err(e) = conn.state.lock().reassembler.check_text() {
                    return self.violation(socket, "reassembly", &e);
                }
                let Ok(text) = std::str::from_utf8(&buf) else {
                    return self.violation(socket, "decode", &"invalid UTF-8");
                };
                let packet = match decode(text, self.inner.limits) {
                    Ok(p) => p,
                    Err(e) => return self.violation(socket, "decode", &e),
                };
                self.inner.metrics.packet(packet.kind);
                if packet.kind.is_binary() {
                    let started = conn
                        .state
                        .lock()
                        .reassembler
                        .start(buf.clone(), packet.attachments);
                    if let Err(e) = started {
                        self.violation(socket, "reassembly", &e);
                    }
                    return;
                }
                self.dispatch(socket, &packet, &buf, &[]);
            }
            MessageData::Binary(b) => {
                let pushed = conn.state.lock().reassembler.push(b);
                let complete = match pushed {
                    Ok(Some(c)) => c,
                    Ok(None) => return,
                    Err(e) => return self.violation(socket, "reassembly", &e),
                };
                let Ok(text) = std::str::from_utf8(&complete.head) else {
                    return;
                };
                match decode(text, self.inner.limits) {
                    Ok(packet) => {
                        self.dispatch(socket, &packet, &complete.head, &complete.attachments)
                    }
                    Err(e) => self.violation(socket, "decode", &e),
                }
            }
        }
    }

    fn poll_outgoing(
        &self,
        socket: &Arc<Socket<Conn>>,
        cx: &mut Context<'_>,
        out: &mut Vec<Packet>,
    ) -> Poll<()> {
        pump::poll_outgoing(&self.inner, socket, cx, out)
    }

    fn on_disconnect(&self, socket: &Arc<Socket<Conn>>, reason: CloseReason) {
        let conn = socket.data();
        let sockets = {
            let mut st = conn.state.lock();
            st.reassembler.clear();
            std::mem::take(&mut st.sockets)
        };
        for s in sockets {
            s.end();
        }
        conn.connected.cancel();
        tracing::debug!(sid = %conn.engine_sid, reason = reason.as_str(), "socket.io connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_and_split() {
        assert_eq!(
            query_values("EIO=4&join=a%2F%2B,b&join=c+d&x=1", "join"),
            ["a/+", "b", "c d"]
        );
        assert!(query_values("EIO=4", "join").is_empty());
    }

    #[test]
    fn auth_payloads_parse() {
        let a: AuthPayload<'_> =
            serde_json::from_str(r#"{"token":"t","join":["a","b"],"x":1}"#).unwrap_or_default();
        assert_eq!(a.token.as_deref(), Some("t"));
        assert!(matches!(a.join, Some(Join::Many(v)) if v == ["a", "b"]));
        let a: AuthPayload<'_> =
            serde_json::from_str(r#"{"username":"u","password":"p","join":"x/#"}"#)
                .unwrap_or_default();
        assert_eq!(
            (a.username.as_deref(), a.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert!(matches!(a.join, Some(Join::One(f)) if f == "x/#"));
        assert!(serde_json::from_str::<AuthPayload<'_>>(r#"{"token":5}"#).is_err());
    }
}
