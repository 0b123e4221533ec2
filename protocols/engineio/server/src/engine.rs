//! [`Engine`]: the session table and the request entry point. It verifies each request the way
//! engine.io's `verify` does (transport, sid, handshake method, protocol revision, the
//! `allow_request` check), answers errors with engine.io's codes, opens sessions, and hands
//! requests of existing sessions to their transport (`polling`, `ws`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use parking_lot::RwLock;
use switchboard_engineio_proto::{
    CloseReason, ErrorCode, NodeTag, OpenTemplate, Packet, ProtocolVersion, QueryParams, Sid,
    Transport,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{BufferOverflow, EngineIoConfig};
use crate::error::Error;
use crate::handler::{Handler, Handshake};
use crate::http::{self as h, Cors};
use crate::idle::Idle;
use crate::metrics::Metrics;
use crate::socket::Socket;

/// Settings and metrics every session of an engine shares, prepared once.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EngineIoConfig,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_buffered: usize,
    pub(crate) overflow: BufferOverflow,
    pub(crate) metrics: Metrics,
    pub(crate) extra_headers: HeaderMap,
    pub(crate) initial_headers: HeaderMap,
    pub(crate) cors: Option<Cors>,
    pub(crate) polling: bool,
    pub(crate) websocket: bool,
    /// Polling sessions no task drives yet, for the engine's reaper.
    pub(crate) idle: Idle,
}

impl Shared {
    pub(crate) fn new(config: EngineIoConfig, metrics: Metrics) -> Self {
        Shared {
            ping_interval: Duration::from_millis(config.ping_interval_ms),
            ping_timeout: Duration::from_millis(config.ping_timeout_ms),
            upgrade_timeout: Duration::from_millis(config.upgrade_timeout_ms),
            max_buffered: config.max_buffered_packets.max(1),
            overflow: config.buffer_overflow,
            extra_headers: h::header_map(&config.extra_headers),
            initial_headers: h::header_map(&config.initial_headers),
            cors: Cors::new(&config.cors),
            polling: config.transports.contains(&Transport::Polling),
            websocket: config.transports.contains(&Transport::WebSocket),
            idle: Idle::default(),
            metrics,
            config,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(config: EngineIoConfig) -> Self {
        Shared::new(config, Metrics::standalone())
    }

    fn enabled(&self, t: Transport) -> bool {
        match t {
            Transport::Polling => self.polling,
            Transport::WebSocket => self.websocket,
        }
    }
}

const SHARDS: usize = 16;

/// Hashes sids for the session table. A sid is 128 random bits from a CSPRNG (after the node
/// tag), so folding its bytes with a secret per-process key spreads entries as well as SipHash
/// does, at a fraction of the cost; sids clients make up only ever cost a lookup.
#[derive(Clone, Copy)]
struct SidHash {
    key: u64,
}

impl SidHash {
    fn new() -> Self {
        SidHash {
            key: rand::random(),
        }
    }
}

impl BuildHasher for SidHash {
    type Hasher = SidHasher;

    fn build_hasher(&self) -> SidHasher {
        SidHasher(self.key)
    }
}

/// The [`Hasher`] of [`SidHash`]: a multiply-rotate fold of 8-byte words.
struct SidHasher(u64);

impl SidHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl Hasher for SidHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn finish(&self) -> u64 {
        // Spread the high bits down: the shard index and hashbrown's control bytes use both
        // ends.
        self.0 ^ (self.0 >> 32)
    }
}

type Shard<D> = RwLock<HashMap<Sid, Arc<Socket<D>>, SidHash>>;

/// The session table: sharded so that lookups from many connections rarely contend.
struct Sessions<D> {
    shards: Vec<Shard<D>>,
    hasher: SidHash,
    count: Arc<AtomicUsize>,
}

impl<D> Sessions<D> {
    fn new() -> Self {
        let hasher = SidHash::new();
        Sessions {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::with_hasher(hasher)))
                .collect(),
            hasher,
            count: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn shard(&self, sid: &Sid) -> &Shard<D> {
        // The top bits pick the shard; hashbrown indexes buckets with the low ones.
        let i = (self.hasher.hash_one(sid) >> 58) as usize % SHARDS;
        &self.shards[i]
    }

    fn get(&self, sid: &Sid) -> Option<Arc<Socket<D>>> {
        self.shard(sid).read().get(sid).cloned()
    }

    fn all(&self) -> Vec<Arc<Socket<D>>> {
        self.shards
            .iter()
            .flat_map(|s| s.read().values().cloned().collect::<Vec<_>>())
            .collect()
    }
}

/// A reserved place in the session table: released on drop unless a session took it.
pub(crate) struct Slot {
    count: Arc<AtomicUsize>,
    taken: bool,
}

impl Slot {
    fn take(mut self) {
        self.taken = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.taken {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The `open` packets of this configuration, by protocol revision and transport, written
/// once: a handshake only adds its sid.
struct OpenTemplates {
    /// `[v4 polling, v4 websocket, v3 polling, v3 websocket]`.
    templates: [OpenTemplate; 4],
}

impl OpenTemplates {
    fn new(shared: &Shared) -> Result<Self, Error> {
        let c = &shared.config;
        let make = |protocol, transport: Transport| {
            let upgrades = if c.allow_upgrades {
                transport
                    .upgrades_to()
                    .iter()
                    .copied()
                    .filter(|t| shared.enabled(*t))
                    .collect()
            } else {
                Vec::new()
            };
            OpenTemplate::new(
                protocol,
                upgrades,
                c.ping_interval_ms,
                c.ping_timeout_ms,
                c.max_http_buffer_size as u64,
            )
            .map_err(|e| Error::Config(format!("cannot write the open packet: {e}")))
        };
        use ProtocolVersion::{V3, V4};
        use Transport::{Polling, WebSocket};
        Ok(OpenTemplates {
            templates: [
                make(V4, Polling)?,
                make(V4, WebSocket)?,
                make(V3, Polling)?,
                make(V3, WebSocket)?,
            ],
        })
    }

    fn get(&self, protocol: ProtocolVersion, transport: Transport) -> &OpenTemplate {
        let i = match (protocol, transport) {
            (ProtocolVersion::V4, Transport::Polling) => 0,
            (ProtocolVersion::V4, Transport::WebSocket) => 1,
            (ProtocolVersion::V3, Transport::Polling) => 2,
            (ProtocolVersion::V3, Transport::WebSocket) => 3,
        };
        &self.templates[i]
    }
}

/// The Engine.IO server: sessions, their transports, and the [`Handler`] on top.
pub struct Engine<H: Handler> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: H,
    sessions: Sessions<H::Data>,
    open: OpenTemplates,
    node: NodeTag,
    pub(crate) stop: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

impl<H: Handler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("node", &self.node)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

/// What a request to the Engine.IO path asks for, once verified.
pub(crate) struct Verified {
    pub(crate) supports_binary: bool,
}

impl<H: Handler> Engine<H> {
    /// Builds an engine. Every task it starts is spawned on (or tracked by) `tracker`; when
    /// `stop` is cancelled it refuses new sessions and closes every open one with
    /// `server shutting down`.
    pub fn new(
        config: EngineIoConfig,
        handler: H,
        node: NodeTag,
        metrics: Metrics,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Result<Arc<Self>, Error> {
        if let Some((key, what)) = config.problems().into_iter().next() {
            return Err(Error::Config(format!("{key}: {what}")));
        }
        let shared = Shared::new(config, metrics);
        let open = OpenTemplates::new(&shared)?;
        let engine = Arc::new(Engine {
            shared: Arc::new(shared),
            handler,
            sessions: Sessions::new(),
            open,
            node,
            stop,
            tracker,
        });
        engine.tracker.spawn(engine.clone().reap());
        Ok(engine)
    }

    /// The settings in effect.
    pub fn config(&self) -> &EngineIoConfig {
        &self.shared.config
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Open sessions (including handshakes in progress).
    pub fn session_count(&self) -> usize {
        self.sessions.count.load(Ordering::Acquire)
    }

    /// The open session `sid`.
    pub fn socket(&self, sid: &Sid) -> Option<Arc<Socket<H::Data>>> {
        self.sessions.get(sid)
    }

    /// Closes every session with `reason`.
    pub fn close_all(&self, reason: CloseReason) {
        for s in self.sessions.all() {
            s.close(reason);
        }
    }

    fn mint_sid(&self) -> Sid {
        Sid::new(self.node, rand::random())
    }

    fn reserve(&self) -> Option<Slot> {
        let n = self.sessions.count.fetch_add(1, Ordering::AcqRel);
        let slot = Slot {
            count: self.sessions.count.clone(),
            taken: false,
        };
        (n < self.shared.config.max_sessions).then_some(slot)
    }

    fn insert(&self, socket: &Arc<Socket<H::Data>>, slot: Slot) {
        slot.take();
        self.sessions
            .shard(&socket.sid())
            .write()
            .insert(socket.sid(), socket.clone());
    }

    /// Forgets a closed session: counts its close reason, tells the handler. Idempotent.
    pub(crate) fn finish(&self, socket: &Arc<Socket<H::Data>>) {
        let sid = socket.sid();
        if self.sessions.shard(&sid).write().remove(&sid).is_none() {
            return;
        }
        self.sessions.count.fetch_sub(1, Ordering::AcqRel);
        // A session closes once; make sure the reason is set for transports still waiting.
        socket.close(CloseReason::TransportClose);
        let reason = socket.close_reason().unwrap_or(CloseReason::TransportClose);
        let m = &self.shared.metrics;
        m.sessions(socket.transport()).dec();
        m.common.disconnected(reason.metric_label());
        tracing::debug!(%sid, reason = reason.as_str(), "engine.io session closed");
        self.handler.on_disconnect(socket, reason);
    }

    /// Heartbeat and clean-up of a session whose transport does not drive them itself (polling
    /// sessions, including after an upgrade). While the session is on polling it also moves
    /// what the handler has ready ([`Handler::poll_outgoing`]) into the send buffer, waiting
    /// for room. Ends when the session closes.
    pub(crate) async fn drive(self: Arc<Self>, socket: Arc<Socket<H::Data>>) {
        let sleep = tokio::time::sleep_until(socket.heartbeat_deadline());
        tokio::pin!(sleep);
        let mut ready: Vec<Packet> = Vec::new();
        loop {
            let polling = socket.transport() == Transport::Polling;
            tokio::select! {
                _ = socket.closed() => break,
                _ = &mut sleep => {
                    match socket.heartbeat_tick(Instant::now()) {
                        Some(d) => sleep.as_mut().reset(d),
                        None => break,
                    }
                }
                _ = std::future::poll_fn(|cx| self.handler.poll_outgoing(&socket, cx, &mut ready)), if polling => {
                    if !ready.is_empty() {
                        // Closed: the next turn ends the loop.
                        let _ = socket.send_wait_all(std::mem::take(&mut ready)).await;
                    }
                }
            }
        }
        self.finish(&socket);
    }

    /// Handles one packet the client sent. `Err` is the reason to close the session.
    pub(crate) fn on_packet(
        &self,
        socket: &Arc<Socket<H::Data>>,
        packet: Packet,
    ) -> Result<(), CloseReason> {
        match packet {
            Packet::Message(data) => {
                self.shared.metrics.common.messages_in.inc();
                self.handler.on_message(socket, data);
            }
            Packet::Pong(_) => match socket.protocol() {
                ProtocolVersion::V4 => socket.on_pong(Instant::now()),
                // "invalid heartbeat direction"
                ProtocolVersion::V3 => return Err(CloseReason::TransportError),
            },
            Packet::Ping(_) => match socket.protocol() {
                ProtocolVersion::V3 => socket.on_client_ping(Instant::now()),
                ProtocolVersion::V4 => return Err(CloseReason::TransportError),
            },
            Packet::Close => return Err(CloseReason::TransportClose),
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
        }
        Ok(())
    }

    /// Queues the handshake packets: `open`, then the configured initial message.
    fn queue_open_packets(
        &self,
        queue: &mut Vec<Packet>,
        sid: Sid,
        protocol: ProtocolVersion,
        transport: Transport,
    ) {
        let initial = self.shared.config.initial_packet.as_ref();
        queue.reserve_exact(1 + usize::from(initial.is_some()));
        queue.push(self.open.get(protocol, transport).packet(sid));
        if let Some(initial) = initial {
            queue.push(Packet::text(initial.clone()));
        }
    }

    /// Creates a session and queues its handshake packets.
    pub(crate) fn open_session(
        self: &Arc<Self>,
        sid: Sid,
        protocol: ProtocolVersion,
        transport: Transport,
        supports_binary: bool,
        data: H::Data,
        slot: Slot,
    ) -> Arc<Socket<H::Data>> {
        let socket = Arc::new(Socket::new(
            sid,
            protocol,
            transport,
            supports_binary,
            self.shared.clone(),
            data,
            Instant::now(),
        ));
        {
            let mut st = socket.state.lock();
            self.queue_open_packets(&mut st.queue, sid, protocol, transport);
        }
        self.insert(&socket, slot);
        let m = &self.shared.metrics;
        m.handshake(transport, protocol);
        m.sessions(transport).inc();
        tracing::debug!(%sid, %transport, protocol = protocol.number(), "engine.io session opened");
        self.handler.on_connect(&socket);
        socket
    }

    fn reject(&self, code: ErrorCode, message: Option<&str>, upgrade: bool) -> Response {
        self.shared.metrics.request_error(code);
        tracing::debug!(
            code = code.code(),
            message = message.unwrap_or(code.message()),
            "engine.io request refused"
        );
        if upgrade {
            h::upgrade_error_response(code, message)
        } else {
            h::error_response(code, message)
        }
    }

    /// Serves one request to the Engine.IO path.
    pub async fn handle(self: Arc<Self>, req: Request<Body>) -> Response {
        let cors = self.shared.cors.as_ref();
        let req_headers = cors.map(|_| req.headers().clone());
        if let Some(c) = cors
            && Cors::is_preflight(req.method(), req.headers())
        {
            return c.preflight(req.headers());
        }
        let mut response = self.dispatch(req).await;
        let headers = response.headers_mut();
        h::extend(headers, &self.shared.extra_headers);
        if let (Some(c), Some(req_headers)) = (cors, &req_headers) {
            c.apply(req_headers, headers);
        }
        response
    }

    async fn dispatch(self: &Arc<Self>, req: Request<Body>) -> Response {
        let (mut parts, body) = req.into_parts();
        // A clone shares the URI's bytes: the query stays borrowed while `parts` changes.
        let uri = parts.uri.clone();
        let query = uri.query().unwrap_or("");
        let q = QueryParams::parse(query);
        let upgrade = is_websocket_upgrade(&parts.headers);
        // transport check
        let transport = match q.transport() {
            Ok(t) if self.shared.enabled(t) => t,
            _ => return self.reject(ErrorCode::TransportUnknown, None, upgrade),
        };
        let verified = Verified {
            supports_binary: q.supports_binary(),
        };
        match q.sid() {
            Err(code) => self.reject(code, None, upgrade),
            Ok(Some(sid)) => {
                // A closed session is unknown at once, even before its task forgets it.
                let Some(socket) = self.sessions.get(&sid).filter(|s| !s.is_closed()) else {
                    return self.reject(ErrorCode::UnknownSid, None, upgrade);
                };
                self.ensure_driven(&socket);
                let current = socket.transport();
                if !upgrade && current != transport {
                    // "TRANSPORT_MISMATCH"
                    return self.reject(ErrorCode::BadRequest, None, false);
                }
                match (transport, upgrade) {
                    (Transport::Polling, false) => match parts.method {
                        Method::GET => self.poll(socket, &parts.headers).await,
                        Method::POST => self.post(socket, &parts.headers, body).await,
                        _ => h::empty(StatusCode::INTERNAL_SERVER_ERROR),
                    },
                    (Transport::WebSocket, true) => match self.ws_request(&mut parts) {
                        Some(ws) => self.upgrade(socket, ws, verified),
                        None => self.reject(ErrorCode::BadRequest, None, true),
                    },
                    _ => self.reject(ErrorCode::BadRequest, None, upgrade),
                }
            }
            Ok(None) => {
                if parts.method != Method::GET {
                    return self.reject(ErrorCode::BadHandshakeMethod, None, upgrade);
                }
                if transport == Transport::WebSocket && !upgrade {
                    // "TRANSPORT_HANDSHAKE_ERROR"
                    return self.reject(ErrorCode::BadRequest, None, false);
                }
                if let Some(message) = self.origin_refused(&parts.headers) {
                    return self.reject(ErrorCode::Forbidden, Some(message), upgrade);
                }
                let protocol = match q.protocol() {
                    Ok(ProtocolVersion::V3) if !self.shared.config.allow_eio3 => {
                        return self.reject(ErrorCode::UnsupportedProtocolVersion, None, upgrade);
                    }
                    Ok(p) => p,
                    Err(code) => return self.reject(code, None, upgrade),
                };
                let peer = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0);
                if upgrade {
                    match self.ws_request(&mut parts) {
                        Some(ws) => {
                            self.ws_handshake(ws, &parts.headers, query, peer, protocol, verified)
                        }
                        None => self.reject(ErrorCode::BadRequest, None, true),
                    }
                } else {
                    self.polling_handshake(&parts.headers, query, peer, protocol, verified)
                        .await
                }
            }
        }
    }

    /// The WebSocket upgrade request in `parts`, if valid.
    fn ws_request(&self, parts: &mut http::request::Parts) -> Option<crate::ws::WsRequest> {
        crate::ws::WsRequest::from_parts(parts, self.shared.config.per_message_deflate.enabled)
    }

    /// The `allow_request` origin check: the refusal message, if refused.
    fn origin_refused(&self, headers: &HeaderMap) -> Option<&'static str> {
        let allowed = &self.shared.config.allow_request.origins;
        if allowed.is_empty() {
            return None;
        }
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        match origin {
            Some(o) if allowed.iter().any(|a| a == o || a == "*") => None,
            _ => Some("Origin not allowed"),
        }
    }

    /// Common handshake steps: capacity, then the handler's decision. `Err` is the answer.
    pub(crate) fn admit(
        &self,
        headers: &HeaderMap,
        query: &str,
        peer: Option<SocketAddr>,
        protocol: ProtocolVersion,
        transport: Transport,
        upgrade: bool,
    ) -> Result<(Sid, H::Data, Slot), Box<Response>> {
        if self.stop.is_cancelled() {
            self.shared.metrics.common.rejected("shutting_down");
            return Err(Box::new(h::respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                ErrorCode::BadRequest
                    .json_body_with("Server shutting down")
                    .into(),
            )));
        }
        let Some(slot) = self.reserve() else {
            self.shared.metrics.common.rejected("max_sessions");
            tracing::warn!(
                max = self.shared.config.max_sessions,
                "engine.io handshake refused: engineio.max_sessions reached"
            );
            return Err(Box::new(h::respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                ErrorCode::BadRequest
                    .json_body_with("Too many sessions")
                    .into(),
            )));
        };
        let sid = self.mint_sid();
        let handshake = Handshake {
            sid,
            protocol,
            transport,
            headers,
            query,
            peer,
        };
        match self.handler.on_handshake(&handshake) {
            Ok(data) => Ok((sid, data, slot)),
            Err(refusal) => {
                self.shared.metrics.common.rejected("refused");
                Err(Box::new(self.reject(
                    ErrorCode::Forbidden,
                    Some(&refusal.message),
                    upgrade,
                )))
            }
        }
    }

    /// Headers of the handshake response: cookie and `initial_headers`.
    pub(crate) fn handshake_headers(&self, sid: Sid, headers: &mut HeaderMap) {
        let c = &self.shared.config.cookie;
        if c.enabled
            && let Some(v) = h::cookie(c, sid)
        {
            headers.append(header::SET_COOKIE, v);
        }
        h::extend(headers, &self.shared.initial_headers);
    }
}

/// Whether the request asks for a WebSocket upgrade (`Upgrade: websocket`).
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `Cache-Control: no-store` and, for Internet Explorer, `X-XSS-Protection: 0`, as engine.io
/// sets on polling responses.
pub(crate) fn polling_headers(req: &HeaderMap, resp: &mut HeaderMap) {
    resp.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if req
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.contains(";MSIE") || ua.contains("Trident/"))
    {
        resp.insert("x-xss-protection", HeaderValue::from_static("0"));
    }
}
