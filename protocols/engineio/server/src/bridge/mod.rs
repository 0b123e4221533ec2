//! The bridge between Engine.IO sessions and the fabric: [`Bridge`] is the [`Handler`] the
//! gateway runs the engine with.
//!
//! - `control` mode: each text message is a JSON op of the control protocol (`sub`, `unsub`,
//!   `pub`, `req`, `reply`, `auth`); the gateway answers with `ack`/`err`/`res` and delivers
//!   `msg` and `req` frames; binary frames are `[u16 BE topic length][topic][payload]`.
//!   See [`frames`] and the README's "Engine.IO control protocol".
//! - `raw` mode: each message is published as it is on the `raw.publish` template; messages of
//!   the `raw.subscribe` templates are sent to the client as plain messages.
//!
//! Identity: credentials come from the `Authorization` header (bearer token or basic), the
//! `token` query parameter, or later the `auth` op; every publish, subscribe and delivery is
//! checked with the [`Authorizer`].
//!
//! # Layout
//! - this file: [`Bridge`], [`Session`], the handshake (credentials, raw templates).
//! - [`control`](self): the control protocol's ops and the per-session delivery task.
//! - [`frames`]: frame parsing and writing.
//! - `template`: raw-mode topic templates, split at their placeholders once.
//! - [`common`]: what the Socket.IO bridge shares with this one ([`Mount`], credentials,
//!   request error codes).

pub mod common;
mod control;
pub mod frames;
mod template;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::header;
use parking_lot::Mutex;
use switchboard_engineio_proto::{CloseReason, MessageData, Str};
use switchboard_fabric::{
    Access, Authorizer, ClientControl, ClientSpec, Credentials, Delivery, Fabric, Identity,
    Message, Origin, PayloadKind, ProtocolMetrics, Qos, Registration, SubOptions, Subscriber,
    SubscriberSpec, Topic, TopicFilter,
};
use tokio_util::task::TaskTracker;

use crate::PROTOCOL;
use crate::config::{BridgeMode, EngineIoConfig};
use crate::handler::{Handler, Handshake, Refusal};
use crate::socket::Socket;
use template::Template;

pub use common::{Mount, credentials_from};
pub use frames::ErrorKind;

/// Requests this client was asked to answer, remembered until it replies (bounded).
const MAX_OPEN_REPLIES: usize = 1024;
/// Deliveries moved per [`Handler::poll_outgoing`] call.
const DELIVERY_BATCH: usize = 64;

/// The fabric bridge: the [`Handler`] of the gateway's Engine.IO server.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("mode", &self.inner.mode)
            .field("mount", &self.inner.mount)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) fabric: Fabric,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) mode: BridgeMode,
    pub(crate) mount: Mount,
    raw_publish: Template,
    raw_subscribe: Vec<Template>,
    require_credentials: bool,
    pub(crate) max_subscriptions: usize,
    pub(crate) max_requests: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) max_request_timeout: Duration,
    pub(crate) metrics: ProtocolMetrics,
    pub(crate) tracker: TaskTracker,
    pub(crate) protocol: Arc<str>,
}

/// Topics of a raw-mode session, rendered from the templates at the handshake.
#[derive(Debug)]
struct RawTopics {
    publish: Option<Topic>,
    subscribe: Vec<TopicFilter>,
}

/// The bridge's per-session state.
pub struct Session {
    pub(crate) client: Arc<str>,
    pub(crate) identity: Mutex<Option<Identity>>,
    /// The session's fabric subscriber, created with its first subscription (raw mode: at
    /// connect). The transport task drains it through [`Handler::poll_outgoing`].
    pub(crate) sub: Mutex<Option<Subscriber>>,
    /// The transport task that found no subscriber yet, woken when one is created.
    pub(crate) sub_waiter: AtomicWaker,
    /// `req` ops waiting for their reply.
    pub(crate) requests: AtomicUsize,
    pub(crate) replies: Mutex<Replies>,
    raw: Option<RawTopics>,
    /// The peer's address from the handshake request.
    peer: Option<std::net::SocketAddr>,
    /// The session's entry in the fabric's client registry, from open to close.
    pub(crate) registration: Mutex<Option<Registration>>,
}

/// How the client registry reaches a session: an admin kick closes it with `forced close`.
struct Control(std::sync::Weak<Socket<Session>>);

impl ClientControl for Control {
    fn kick(&self) {
        if let Some(s) = self.0.upgrade() {
            s.close(CloseReason::ForcedClose);
        }
    }

    fn transport(&self) -> Option<&'static str> {
        self.0.upgrade().map(|s| match s.transport() {
            switchboard_engineio_proto::Transport::Polling => "polling",
            switchboard_engineio_proto::Transport::WebSocket => "websocket",
        })
    }
}

impl Session {
    /// Installs the session's subscriber (counted in the client registry) and wakes the
    /// transport task waiting for one.
    pub(crate) fn set_subscriber(&self, sub: Subscriber) {
        self.attach(&sub);
        *self.sub.lock() = Some(sub);
        self.sub_waiter.wake();
    }

    /// Counts `sub` as this session's in the client registry.
    pub(crate) fn attach(&self, sub: &Subscriber) {
        if let Some(r) = &*self.registration.lock() {
            r.attach(sub.handle());
        }
    }

    /// Records the authenticated user in the client registry.
    pub(crate) fn set_user(&self, user: Option<Arc<str>>) {
        if let Some(r) = &*self.registration.lock() {
            r.set_user(user);
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("client", &self.client)
            .field("identity", &*self.identity.lock())
            .finish_non_exhaustive()
    }
}

/// Requests delivered to this client (`req` frames), by the `rid` it must answer with.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    next: u64,
    open: HashMap<u64, (Topic, Option<Bytes>)>,
    order: VecDeque<u64>,
}

impl Replies {
    pub(crate) fn remember(&mut self, reply_to: Topic, correlation: Option<Bytes>) -> u64 {
        self.next += 1;
        if self.order.len() >= MAX_OPEN_REPLIES
            && let Some(old) = self.order.pop_front()
        {
            self.open.remove(&old);
        }
        self.open.insert(self.next, (reply_to, correlation));
        self.order.push_back(self.next);
        self.next
    }

    pub(crate) fn take(&mut self, rid: u64) -> Option<(Topic, Option<Bytes>)> {
        let found = self.open.remove(&rid)?;
        self.order.retain(|r| *r != rid);
        Some(found)
    }
}

/// Credentials presented on the HTTP request: `Authorization: Bearer`/`Basic`, or `?token=`.
pub fn credentials(handshake: &Handshake<'_>) -> Credentials {
    if let Some(auth) = handshake
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, value) = auth.split_once(' ').unwrap_or((auth, ""));
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            return Credentials::Token(value.to_owned());
        }
        if scheme.eq_ignore_ascii_case("basic")
            && let Ok(raw) = STANDARD.decode(value)
            && let Ok(text) = String::from_utf8(raw)
        {
            let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
            return Credentials::Password {
                username: user.to_owned(),
                password: pass.as_bytes().to_vec(),
            };
        }
    }
    match handshake.query_param("token") {
        Some(t) if !t.is_empty() => Credentials::Token(t),
        _ => Credentials::Anonymous,
    }
}

impl Bridge {
    /// A bridge publishing into `fabric`, checking rights with `authorizer`, spawning its tasks
    /// on `tracker`.
    pub fn new(
        config: &EngineIoConfig,
        fabric: Fabric,
        authorizer: Arc<dyn Authorizer>,
        tracker: TaskTracker,
    ) -> Self {
        let metrics = fabric.metrics().protocol(PROTOCOL);
        Bridge {
            inner: Arc::new(Inner {
                fabric,
                authorizer,
                mode: config.mode,
                mount: Mount::new(config.mount.clone()),
                raw_publish: Template::new(&config.raw.publish),
                raw_subscribe: config
                    .raw
                    .subscribe
                    .iter()
                    .map(|t| Template::new(t))
                    .collect(),
                require_credentials: config.allow_request.require_credentials,
                max_subscriptions: config.max_subscriptions,
                max_requests: config.max_pending_requests,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                max_request_timeout: Duration::from_millis(config.max_request_timeout_ms),
                metrics,
                tracker,
                protocol: Arc::from(PROTOCOL),
            }),
        }
    }

    /// The fabric this bridge publishes into.
    pub fn fabric(&self) -> &Fabric {
        &self.inner.fabric
    }
}

impl Inner {
    /// The fabric topic for a client topic (the mount prefix added).
    pub(crate) fn topic_in(&self, t: &str) -> Result<Topic, switchboard_fabric::TopicError> {
        self.mount.topic_in(t)
    }

    /// The fabric filter for a client filter.
    pub(crate) fn filter_in(&self, f: &str) -> Result<TopicFilter, switchboard_fabric::TopicError> {
        self.mount.filter_in(f)
    }

    /// The client's name for a fabric topic (the mount prefix removed).
    pub(crate) fn topic_out<'t>(&self, topic: &'t Topic) -> &'t str {
        self.mount.topic_out(topic)
    }

    pub(crate) fn origin(&self, session: &Session) -> Origin {
        Origin::new(self.protocol.clone(), session.client.clone())
    }

    /// A message from `session`, built field by field: `Message::new` would first allocate the
    /// gateway's own origin only for it to be replaced.
    pub(crate) fn message(
        &self,
        session: &Session,
        topic: Topic,
        payload: Bytes,
        kind: PayloadKind,
    ) -> Message {
        Message {
            topic,
            payload,
            kind,
            qos: Qos::AtMostOnce,
            retain: false,
            origin: self.origin(session),
            reply_to: None,
            correlation: None,
            content_type: None,
            properties: Vec::new(),
            expires_at: None,
            created: std::time::Instant::now(),
        }
    }

    /// Whether the session may do `access` on `topic` (never, without an identity).
    pub(crate) fn allowed(&self, session: &Session, access: Access, topic: &str) -> bool {
        let identity = session.identity.lock();
        match &*identity {
            Some(id) => self.authorizer.authorize(id, access, topic),
            None => false,
        }
    }

    fn render(
        &self,
        template: &Template,
        client: &str,
        identity: Option<&Identity>,
    ) -> Result<String, Refusal> {
        let user = identity.and_then(|i| i.user.as_deref());
        template
            .render(client, user)
            .ok_or_else(|| Refusal::new("this endpoint needs an authenticated user"))
    }

    fn raw_topics(&self, client: &str, identity: &Identity) -> Result<RawTopics, Refusal> {
        let publish = if self.raw_publish.is_empty() {
            None
        } else {
            let name = self.render(&self.raw_publish, client, Some(identity))?;
            let topic = self
                .topic_in(&name)
                .map_err(|e| Refusal::new(format!("invalid publish topic: {e}")))?;
            if !self
                .authorizer
                .authorize(identity, Access::Write, topic.as_str())
            {
                self.metrics.auth_failure("publish");
                return Err(Refusal::new(
                    "not allowed to publish on this endpoint's topic",
                ));
            }
            Some(topic)
        };
        let mut subscribe = Vec::with_capacity(self.raw_subscribe.len());
        for t in &self.raw_subscribe {
            let filter = match &publish {
                // The echo set-up (`publish` and `subscribe` alike): the filter is the publish
                // topic, already rendered and checked, sharing its text.
                Some(topic) if *t == self.raw_publish => TopicFilter::exact(topic),
                _ => {
                    let name = self.render(t, client, Some(identity))?;
                    self.filter_in(&name)
                        .map_err(|e| Refusal::new(format!("invalid subscribe filter: {e}")))?
                }
            };
            if !self
                .authorizer
                .authorize(identity, Access::Subscribe, filter.as_str())
            {
                self.metrics.auth_failure("subscribe");
                return Err(Refusal::new(
                    "not allowed to subscribe to this endpoint's topics",
                ));
            }
            subscribe.push(filter);
        }
        Ok(RawTopics { publish, subscribe })
    }

    /// Raw mode: the message as it is, on the session's publish topic.
    fn raw_publish(&self, socket: &Arc<Socket<Session>>, data: MessageData) {
        let session = socket.data();
        let Some(topic) = session.raw.as_ref().and_then(|r| r.publish.clone()) else {
            self.metrics.dropped("raw_no_publish_topic");
            return;
        };
        let kind = if data.is_binary() {
            PayloadKind::Binary
        } else {
            PayloadKind::Text
        };
        let message = self.message(session, topic, data.into_bytes(), kind);
        self.fabric.publish(message);
    }

    /// The packet a raw-mode client gets for a delivery: the payload as a plain message.
    fn raw_packet(&self, delivery: &Delivery) -> switchboard_engineio_proto::Packet {
        use switchboard_engineio_proto::Packet;
        let m = &delivery.message;
        match m.kind {
            PayloadKind::Text | PayloadKind::Json => match Str::from_utf8(m.payload.clone()) {
                Ok(s) => Packet::text(s),
                Err(_) => Packet::binary(m.payload.clone()),
            },
            PayloadKind::Binary => Packet::binary(m.payload.clone()),
        }
    }
}

impl Handler for Bridge {
    type Data = Session;

    fn on_handshake(&self, handshake: &Handshake<'_>) -> Result<Session, Refusal> {
        let inner = &self.inner;
        let encoded = handshake.sid.encode();
        // A sid's characters are URL-safe base64, so ASCII.
        let client: Arc<str> = match std::str::from_utf8(&encoded) {
            Ok(s) => Arc::from(s),
            Err(_) => Arc::from(handshake.sid.to_string()),
        };
        let creds = credentials(handshake);
        let given = !matches!(creds, Credentials::Anonymous);
        if inner.require_credentials && !given {
            inner.metrics.auth_failure("credentials");
            return Err(Refusal::new("credentials are required"));
        }
        let identity = match inner.authorizer.authenticate(PROTOCOL, &client, &creds) {
            Ok(id) => Some(id),
            Err(e) => {
                inner.metrics.auth_failure("credentials");
                if given || inner.mode == BridgeMode::Raw {
                    return Err(Refusal::new(e.to_string()));
                }
                // Control mode: the client may still send an `auth` op.
                None
            }
        };
        let raw = match (inner.mode, &identity) {
            (BridgeMode::Raw, Some(id)) => Some(inner.raw_topics(&client, id)?),
            _ => None,
        };
        Ok(Session {
            client,
            identity: Mutex::new(identity),
            sub: Mutex::new(None),
            sub_waiter: AtomicWaker::new(),
            requests: AtomicUsize::new(0),
            replies: Mutex::new(Replies::default()),
            raw,
            peer: handshake.peer,
            registration: Mutex::new(None),
        })
    }

    fn on_connect(&self, socket: &Arc<Socket<Session>>) {
        let inner = &self.inner;
        let session = socket.data();
        let spec = ClientSpec::new(inner.protocol.clone(), session.client.clone(), "polling")
            .remote(session.peer)
            .user(
                session
                    .identity
                    .lock()
                    .as_ref()
                    .and_then(|i| i.user.clone()),
            );
        let control = Arc::new(Control(Arc::downgrade(socket)));
        *session.registration.lock() = Some(inner.fabric.clients().register(spec, control));
        let Some(raw) = &socket.data().raw else {
            return;
        };
        if raw.subscribe.is_empty() {
            return;
        }
        let mut sub = inner
            .fabric
            .subscriber(SubscriberSpec::new(PROTOCOL, socket.data().client.clone()));
        for f in &raw.subscribe {
            sub.subscribe(f.clone(), SubOptions::default());
        }
        socket.data().set_subscriber(sub);
    }

    fn on_message(&self, socket: &Arc<Socket<Session>>, data: MessageData) {
        match self.inner.mode {
            BridgeMode::Raw => self.inner.raw_publish(socket, data),
            BridgeMode::Control => control::on_message(&self.inner, socket, data),
        }
    }

    fn poll_outgoing(
        &self,
        socket: &Arc<Socket<Session>>,
        cx: &mut Context<'_>,
        out: &mut Vec<switchboard_engineio_proto::Packet>,
    ) -> Poll<()> {
        let session = socket.data();
        let mut guard = session.sub.lock();
        let Some(sub) = guard.as_mut() else {
            session.sub_waiter.register(cx.waker());
            return Poll::Pending;
        };
        let drained = sub.poll_drain(cx, DELIVERY_BATCH, |d| {
            if let Some(p) = packet_for(&self.inner, session, &d) {
                out.push(p);
            }
        });
        let taken = match drained {
            Ok(n) => n,
            Err(closed) => {
                drop(guard);
                tracing::debug!(client = %session.client, %closed, "subscriber closed: ending the session");
                socket.close(CloseReason::ForcedClose);
                return Poll::Ready(());
            }
        };
        if taken == 0 {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    fn on_disconnect(&self, socket: &Arc<Socket<Session>>, reason: CloseReason) {
        drop(socket.data().registration.lock().take());
        // Unsubscribes at once rather than when the last reference to the session goes.
        drop(socket.data().sub.lock().take());
        tracing::debug!(client = %socket.data().client, reason = reason.as_str(), "engine.io bridge session ended");
    }
}

/// The packet a delivery becomes for a control- or raw-mode session (`None` when the session
/// may not read its topic).
pub(crate) fn packet_for(
    inner: &Inner,
    session: &Session,
    d: &Delivery,
) -> Option<switchboard_engineio_proto::Packet> {
    use switchboard_engineio_proto::Packet;
    let m = &d.message;
    if !inner.allowed(session, Access::Read, m.topic.as_str()) {
        return None;
    }
    Some(match inner.mode {
        BridgeMode::Raw => inner.raw_packet(d),
        BridgeMode::Control => {
            let topic = inner.topic_out(&m.topic);
            if let Some(reply_to) = &m.reply_to {
                let rid = session
                    .replies
                    .lock()
                    .remember(reply_to.clone(), m.correlation.clone());
                Packet::text(frames::req(rid, topic, m))
            } else if m.kind == PayloadKind::Binary && !d.retain {
                // A binary frame has no room for the retain flag: retained replays of bytes
                // go as a `msg` frame with `b64` and `"retain":true`.
                Packet::binary(frames::binary(topic, &m.payload))
            } else {
                Packet::text(frames::msg(topic, m, d.retain))
            }
        }
    })
}

/// Subscribes `sub` and reports whether the subscription is new.
pub(crate) fn subscribe(sub: &mut Subscriber, filter: TopicFilter) -> bool {
    sub.subscribe(filter, SubOptions::default())
}
