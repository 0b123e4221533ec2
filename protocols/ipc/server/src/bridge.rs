//! The bridge between IPC channels and the fabric.
//!
//! | IPC | fabric |
//! |---|---|
//! | channel `c` | topic `mount + c`, matched literally (a channel `a/+` is only `a/+`) |
//! | `send(c, "text")` / `send(c, buffer)` / anything else | a `Text` / `Binary` / `Json` message (see [`Payload`]) |
//! | `request(c, ...)` | a fabric request; the first fabric reply becomes the `RQR` |
//! | listener answering a fabric request | `event.request.resolve(x)` → reply `x`; `reject(e)` → reply with user property `error` = the error's text |
//! | fabric message on `mount + c` | `MES` on `c` from the gateway's peer to every listening connection |
//! | fabric request on `mount + c` | request `MES` from the gateway's peer; the first `RQR` becomes the reply |
//!
//! **No double delivery.** IPC peers get IPC traffic from the byte-exact router only. The
//! bridge publishes IPC messages into the fabric with its own subscriber as the origin and
//! holds its subscriptions with `no_local`, so the fabric never hands them back; what reaches
//! IPC through the bridge is only traffic that entered from another protocol (or another
//! node).
//!
//! **Requests with no fabric responder** (nobody but IPC listens on the topic) are not
//! answered by the bridge: the IPC listeners answer them directly, or the requester's own
//! timeout rejects them, exactly as with the Node broker.
//!
//! The bridge task owns one fabric subscriber for all channels: it subscribes to a channel's
//! topic while at least one IPC connection listens to it. Connections report the channels
//! whose "has listeners" state changed (`BridgeState::mark_dirty`); the task reconciles
//! each with the routing table, so the order in which reports arrive does not matter.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_fabric::{
    Delivery, Message, Origin, PayloadKind as FabricKind, Replay, SubOptions, Subscriber, Topic,
    TopicFilter,
};
use switchboard_ipc_proto::{
    Command, Packet, Payload, PayloadKind, RawPacket, RequestId, Route, Tagged, Value,
};
use tokio::sync::Notify;

use crate::broker::Broker;
use crate::metrics::reason;
use crate::router::ConnId;

/// The user property carrying a rejection on a fabric reply (both ways).
pub const ERROR_PROPERTY: &str = "error";

/// Deliveries taken from the bridge's fabric queue per wake-up.
const DELIVERY_BATCH: usize = 256;

/// A fabric request handed to IPC listeners, waiting for their first `RQR`.
#[derive(Debug)]
struct Pending {
    reply_to: Topic,
    correlation: Option<Bytes>,
    deadline: Instant,
}

/// The bridge's shared state: channels to reconcile and fabric requests in flight.
#[derive(Debug)]
pub(crate) struct BridgeState {
    dirty: Mutex<HashSet<String>>,
    wake: Notify,
    pending: Mutex<HashMap<RequestId, Pending>>,
    next_request: AtomicU64,
    request_prefix: u32,
    pub(crate) request_timeout: Duration,
    max_pending: usize,
}

impl BridgeState {
    pub(crate) fn new(request_timeout: Duration, max_pending: usize) -> BridgeState {
        BridgeState {
            dirty: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            pending: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            request_prefix: rand::random(),
            request_timeout,
            max_pending,
        }
    }

    /// Asks the bridge task to re-check these channels' fabric subscriptions.
    pub(crate) fn mark_dirty(&self, channels: Vec<String>) {
        self.dirty.lock().extend(channels);
        self.wake.notify_one();
    }

    fn take_dirty(&self) -> HashSet<String> {
        std::mem::take(&mut *self.dirty.lock())
    }

    fn add_pending(&self, reply_to: Topic, correlation: Option<Bytes>) -> Option<RequestId> {
        let now = Instant::now();
        let mut pending = self.pending.lock();
        if pending.len() >= self.max_pending {
            pending.retain(|_, p| p.deadline > now);
            if pending.len() >= self.max_pending {
                return None;
            }
        }
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        let id = RequestId::new(format!("sb{:08x}{n:x}", self.request_prefix));
        pending.insert(
            id.clone(),
            Pending {
                reply_to,
                correlation,
                deadline: now + self.request_timeout,
            },
        );
        Some(id)
    }

    fn take_pending(&self, id: &str) -> Option<Pending> {
        let pending = self.pending.lock().remove(&RequestId::new(id))?;
        (pending.deadline > Instant::now()).then_some(pending)
    }

    /// Fabric requests waiting for an IPC answer.
    pub(crate) fn pending_count(&self) -> usize {
        self.pending.lock().len()
    }
}

fn to_fabric_kind(kind: PayloadKind) -> FabricKind {
    match kind {
        PayloadKind::Text => FabricKind::Text,
        PayloadKind::Binary => FabricKind::Binary,
        PayloadKind::Json => FabricKind::Json,
    }
}

fn from_fabric_kind(kind: FabricKind) -> PayloadKind {
    match kind {
        FabricKind::Text => PayloadKind::Text,
        FabricKind::Binary => PayloadKind::Binary,
        FabricKind::Json => PayloadKind::Json,
    }
}

/// The text of a rejection: a string as is, an `Error` (json-helpers `{"type":"Error"}`) as
/// its message, anything else as JSON.
fn error_text(args: &[Value]) -> String {
    match args {
        [Value::String(s)] => s.clone(),
        [Value::Json(json)] => match json.to_json().ok().as_ref().and_then(Tagged::from_json) {
            Some(Tagged::Error(message)) => message,
            _ => json.as_str().to_owned(),
        },
        [other] => other.to_json().to_string(),
        many => serde_json::Value::Array(many.iter().map(Value::to_json).collect()).to_string(),
    }
}

/// The `RQR` args and `resolve` flag for a fabric reply.
fn reply_args(reply: &Message) -> (bool, Vec<Value>) {
    if let Some((_, error)) = reply.properties.iter().find(|(k, _)| k == ERROR_PROPERTY) {
        return (false, vec![Value::String(error.clone())]);
    }
    let payload = Payload {
        kind: from_fabric_kind(reply.kind),
        data: reply.payload.clone(),
    };
    match payload.to_args() {
        Ok(args) => (true, args),
        Err(e) => (false, vec![Value::String(format!("invalid reply: {e}"))]),
    }
}

impl Broker {
    /// Publishes an IPC message (or request) into the fabric for the other protocols.
    /// `known` is what the router knew of the channel: `Some(topic)` when it has IPC
    /// listeners (so the bridge holds a subscription and the topic is cached), `None`
    /// otherwise.
    pub(crate) fn to_fabric(
        self: &Arc<Self>,
        conn: ConnId,
        raw: &RawPacket,
        route: &Route<'_>,
        channel: &str,
        known: Option<Option<Topic>>,
    ) {
        let topic = match known {
            Some(Some(topic)) => topic,
            Some(None) => return,
            None => match self.topic(channel) {
                Some(topic) => topic,
                None => return,
            },
        };
        // Nobody but the bridge itself (whose no-local subscription would skip it) listens:
        // skip the conversion entirely.
        let listened = match self.bridge_sub.get() {
            Some(id) => self.fabric.has_subscribers_except(&topic, *id),
            None => self.fabric.has_subscribers(&topic),
        };
        if !listened {
            return;
        }
        let payload = match raw.payload() {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%conn, error = %e, "IPC args not bridged");
                self.metrics.dropped(reason::BAD_PAYLOAD);
                return;
            }
        };
        let sender = route.peer.as_deref().unwrap_or_default();
        let mut origin = Origin::new("ipc", sender);
        if let Some(id) = self.bridge_sub.get() {
            origin = origin.with_subscriber(*id);
        }
        let message = Message::new(topic, payload.data)
            .kind(to_fabric_kind(payload.kind))
            .origin(origin);
        if route.has_request {
            match raw.clone().into_packet() {
                Ok(packet) => self.request_to_fabric(packet.into_command(), message),
                Err(_) => self.metrics.dropped(reason::BAD_PACKET),
            }
        } else if self.fabric.publish(message) > 0 {
            self.metrics.bridged("to_fabric");
        }
    }

    /// Sends an IPC request to fabric responders; their first reply becomes the `RQR`.
    fn request_to_fabric(self: &Arc<Self>, request: Command, message: Message) {
        let Some(requester) = request.peer.clone() else {
            return;
        };
        let broker = Arc::clone(self);
        self.tracker.spawn(async move {
            let timeout = broker.bridge.request_timeout;
            let result = tokio::select! {
                _ = broker.stop.cancelled() => return,
                r = broker.fabric.request(message, timeout) => r,
            };
            let reply = match result {
                Ok(reply) => reply,
                // No fabric responder, or none in time: the IPC listeners (if any) answer,
                // otherwise the requester's own timeout rejects, as with the Node broker.
                Err(e) => {
                    tracing::trace!(error = %e, "bridged IPC request not answered by the fabric");
                    return;
                }
            };
            broker.metrics.bridged("request_to_fabric");
            let (resolve, args) = reply_args(&reply);
            let Ok(response) = Command::response_to(&request, broker.gateway.clone(), resolve)
            else {
                return;
            };
            let Ok(packet) = Packet::from_message(response, &args) else {
                broker.metrics.dropped(reason::BAD_PAYLOAD);
                return;
            };
            match broker.router.endpoint(requester.id.as_str()) {
                Some((_, outbox)) => {
                    outbox.push(packet.into_frame());
                    broker.metrics.bridged("reply_from_fabric");
                }
                None => broker.metrics.dropped(reason::NO_TARGET),
            }
        });
    }

    /// An IPC listener answered a fabric request: publish its answer as the reply.
    pub(crate) fn reply_to_fabric(&self, packet: &Packet) {
        let command = packet.command();
        let id = command
            .request_id()
            .map_or(command.channel(), RequestId::as_str);
        let Some(pending) = self.bridge.take_pending(id) else {
            // A later answer (the first one won), or the requester gave up.
            return;
        };
        let args = match packet.args_lenient() {
            Ok(args) => args,
            Err(_) => {
                self.metrics.dropped(reason::BAD_PAYLOAD);
                return;
            }
        };
        let resolve = command
            .request
            .as_ref()
            .and_then(|r| r.resolve)
            .unwrap_or(true);
        let error = (!resolve).then(|| error_text(&args));
        let payload = Payload::from_args(args);
        let responder = command.peer.as_ref().map_or("", |p| p.id.as_str());
        let mut reply = Message::new(pending.reply_to, payload.data)
            .kind(to_fabric_kind(payload.kind))
            .origin(Origin::new("ipc", responder));
        if let Some(correlation) = pending.correlation {
            reply = reply.correlation(correlation);
        }
        if let Some(error) = error {
            reply = reply.property(ERROR_PROPERTY, error);
        }
        self.fabric.publish(reply);
        self.metrics.bridged("reply_to_fabric");
    }

    /// Sends the retained fabric messages of `channel` to a connection that just started
    /// listening to it.
    pub(crate) fn replay_retained(&self, conn: ConnId, channel: &str) {
        let Some(topic) = self.topic(channel) else {
            return;
        };
        for message in self.fabric.retained(&TopicFilter::exact(&topic)) {
            if let Some(frame) = self.frame_from_fabric(channel, &message, None) {
                self.send_to_conn(conn, frame);
                self.metrics.bridged("from_fabric");
            }
        }
    }

    /// The `MES` frame carrying a fabric message on `channel`.
    fn frame_from_fabric(
        &self,
        channel: &str,
        message: &Message,
        request: Option<RequestId>,
    ) -> Option<Bytes> {
        let payload = Payload {
            kind: from_fabric_kind(message.kind),
            data: message.payload.clone(),
        };
        let args = match payload.to_args() {
            Ok(args) => args,
            Err(e) => {
                tracing::debug!(topic = %message.topic, error = %e, "fabric payload not bridged to IPC");
                self.metrics.dropped(reason::BAD_PAYLOAD);
                return None;
            }
        };
        let mut command = Command::send(channel, self.gateway.clone());
        if let Some(id) = request {
            command = command.with_request(id);
        }
        match Packet::from_message(command, &args) {
            Ok(packet) => Some(packet.into_frame()),
            Err(_) => {
                self.metrics.dropped(reason::BAD_PAYLOAD);
                None
            }
        }
    }

    /// Hands one fabric delivery to the IPC listeners of its channel.
    fn deliver(&self, delivery: &Delivery) {
        let message = &delivery.message;
        let Some(channel) = self.channel(&message.topic) else {
            return;
        };
        let request = match &message.reply_to {
            Some(reply_to) => {
                match self
                    .bridge
                    .add_pending(reply_to.clone(), message.correlation.clone())
                {
                    Some(id) => Some(id),
                    None => {
                        self.metrics.dropped("pending_requests_full");
                        return;
                    }
                }
            }
            None => None,
        };
        let is_request = request.is_some();
        let Some(frame) = self.frame_from_fabric(channel, message, request) else {
            return;
        };
        let mut killed = Vec::new();
        let (queued, _) = self.router.broadcast(None, channel, &frame, &mut killed);
        if queued > 0 {
            self.metrics.bridged(if is_request {
                "request_from_fabric"
            } else {
                "from_fabric"
            });
        }
    }

    /// Makes the bridge's fabric subscriptions follow the channels that have listeners.
    fn reconcile(&self, sub: &mut Subscriber, subscribed: &mut HashMap<String, TopicFilter>) {
        for channel in self.bridge.take_dirty() {
            let wanted = self.router.has_listeners(&channel);
            match (wanted, subscribed.contains_key(&channel)) {
                (true, false) => {
                    let Some(topic) = self.topic(&channel) else {
                        continue;
                    };
                    let filter = TopicFilter::exact(&topic);
                    let options = SubOptions {
                        no_local: true,
                        replay: Replay::Never,
                        ..SubOptions::default()
                    };
                    sub.subscribe(filter.clone(), options);
                    subscribed.insert(channel, filter);
                }
                (false, true) => {
                    if let Some(filter) = subscribed.remove(&channel) {
                        sub.unsubscribe(&filter, None);
                    }
                }
                _ => {}
            }
        }
    }

    /// The bridge task: follows channel listeners with fabric subscriptions and hands fabric
    /// deliveries to IPC connections, until `stop`.
    pub(crate) async fn run_bridge(self: Arc<Self>, mut sub: Subscriber) {
        let mut subscribed = HashMap::new();
        let mut batch = Vec::with_capacity(DELIVERY_BATCH);
        loop {
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                _ = self.bridge.wake.notified() => self.reconcile(&mut sub, &mut subscribed),
                delivery = sub.recv() => {
                    let Ok(delivery) = delivery else { break };
                    self.deliver(&delivery);
                    if sub.drain_into(&mut batch, DELIVERY_BATCH).is_ok() {
                        for delivery in batch.drain(..) {
                            self.deliver(&delivery);
                        }
                    }
                }
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_ipc_proto::JsonText;

    #[test]
    fn rejections_become_text() {
        assert_eq!(error_text(&["negative!".into()]), "negative!");
        let error = JsonText::new(r#"{"type":"Error","data":"boom"}"#).unwrap();
        assert_eq!(error_text(&[Value::Json(error)]), "boom");
        assert_eq!(error_text(&[Value::PositiveInteger(3)]), "3");
        assert_eq!(error_text(&[]), "[]");
    }

    #[test]
    fn replies_map_to_resolve_and_reject() {
        let topic = Topic::new("t").unwrap();
        let ok = Message::json(topic.clone(), r#"{"sum":5}"#);
        let (resolve, args) = reply_args(&ok);
        assert!(resolve);
        assert_eq!(args, [Value::Json(JsonText::new(r#"{"sum":5}"#).unwrap())]);
        let err = Message::text(topic.clone(), "x").property(ERROR_PROPERTY, "nope");
        assert_eq!(reply_args(&err), (false, vec![Value::from("nope")]));
        let bad = Message::json(topic, "{");
        assert!(!reply_args(&bad).0);
    }

    #[test]
    fn pending_requests_are_bounded_and_expire() {
        let state = BridgeState::new(Duration::from_secs(60), 2);
        let topic = Topic::literal("$reply/x").unwrap();
        let a = state.add_pending(topic.clone(), None).unwrap();
        let _b = state.add_pending(topic.clone(), None).unwrap();
        assert!(state.add_pending(topic.clone(), None).is_none());
        assert!(state.take_pending(a.as_str()).is_some());
        assert!(state.take_pending(a.as_str()).is_none());
        assert_eq!(state.pending_count(), 1);
        let expired = BridgeState::new(Duration::ZERO, 1);
        let c = expired.add_pending(topic, None).unwrap();
        assert!(expired.take_pending(c.as_str()).is_none());
    }
}
