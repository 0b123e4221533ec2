//! Namespaces at run time: [`Namespace`] (its mapping, and the cache that encodes a broadcast
//! once for all its sockets) and [`NsSocket`], one client connected to one namespace.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_engineio::bridge::Mount;
use switchboard_engineio::proto::Str;
use switchboard_fabric::{
    Delivery, Identity, Message, Registration, Subscriber, Topic, TopicFilter,
};
use switchboard_socketio_proto::{PacketWriter, RESERVED_EVENTS};
use tokio_util::sync::CancellationToken;

use crate::config::{NamespaceConfig, NamespaceMode};
use crate::payload::{self, Shape};

/// Requests a socket was asked to answer, remembered until it acknowledges (bounded).
const MAX_OPEN_REPLIES: usize = 1024;
/// Encoded deliveries a namespace remembers, so that a broadcast is encoded once.
const CACHE_SLOTS: usize = 8;

/// One encoded delivery: the packet text and its attachment.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub(crate) text: Str,
    pub(crate) attachment: Option<Bytes>,
}

#[derive(Debug)]
struct Slot {
    message: Arc<Message>,
    retain: bool,
    encoded: Encoded,
}

/// A namespace's mapping onto the fabric.
#[derive(Debug)]
pub(crate) struct Namespace {
    pub(crate) name: Arc<str>,
    pub(crate) mode: NamespaceMode,
    pub(crate) mount: Mount,
    /// Filters every socket joins (mounted).
    pub(crate) join: Vec<TopicFilter>,
    pub(crate) client_join: bool,
    pub(crate) sockets: prometheus::IntGauge,
    cache: Mutex<VecDeque<Slot>>,
}

impl Namespace {
    /// The runtime form of `c` (validated by `SocketIoConfig::problems`).
    pub(crate) fn new(c: &NamespaceConfig, sockets: prometheus::IntGauge) -> Self {
        let mount = Mount::new(c.mount.clone());
        Namespace {
            name: Arc::from(c.name.as_str()),
            mode: c.mode,
            join: c
                .join
                .iter()
                .filter_map(|f| mount.filter_in(f).ok())
                .collect(),
            mount,
            client_join: c.client_join,
            sockets,
            cache: Mutex::new(VecDeque::with_capacity(CACHE_SLOTS)),
        }
    }

    /// The packet a delivery becomes in this namespace (not a request: those carry a
    /// per-socket ack id). `None` when the topic cannot be an event name here.
    pub(crate) fn encode(&self, d: &Delivery) -> Option<Encoded> {
        {
            let cache = self.cache.lock();
            if let Some(s) = cache
                .iter()
                .find(|s| Arc::ptr_eq(&s.message, &d.message) && s.retain == d.retain)
            {
                return Some(s.encoded.clone());
            }
        }
        let encoded = self.write(&d.message, d.retain, d.qos.as_u8(), None)?;
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_SLOTS {
            cache.pop_front();
        }
        cache.push_back(Slot {
            message: d.message.clone(),
            retain: d.retain,
            encoded: encoded.clone(),
        });
        Some(encoded)
    }

    /// Writes `m` as this namespace's event: `["message", topic, data, meta]` (control) or
    /// `[topic, data, meta]` (events), with ack id `id` for requests.
    pub(crate) fn write(
        &self,
        m: &Message,
        retain: bool,
        qos: u8,
        id: Option<u64>,
    ) -> Option<Encoded> {
        let topic = self.mount.topic_out(&m.topic);
        let shape = payload::shape(m);
        let binary = shape == Shape::Binary;
        let mut w = PacketWriter::with_capacity(
            switchboard_socketio_proto::PacketType::Event,
            &self.name,
            id,
            usize::from(binary),
            topic.len() + m.payload.len() + 48,
        );
        match (self.mode, id.is_some()) {
            (NamespaceMode::Control, false) => {
                w.str("message").str(topic);
            }
            (NamespaceMode::Control, true) => {
                w.str("request").str(topic);
            }
            (NamespaceMode::Events, _) => {
                if topic.is_empty() || RESERVED_EVENTS.contains(&topic) {
                    return None;
                }
                w.str(topic);
            }
        }
        payload::write_arg(&mut w, shape);
        w.with(|o| payload::write_meta(o, retain, qos));
        Some(Encoded {
            text: Str::from(w.finish()),
            attachment: binary.then(|| m.payload.clone()),
        })
    }
}

/// Requests delivered to a socket (with an ack id), by that id.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    open: HashMap<u64, (Topic, Option<Bytes>)>,
    order: VecDeque<u64>,
}

impl Replies {
    pub(crate) fn remember(&mut self, id: u64, reply_to: Topic, correlation: Option<Bytes>) {
        if self.order.len() >= MAX_OPEN_REPLIES
            && let Some(old) = self.order.pop_front()
        {
            self.open.remove(&old);
        }
        self.open.insert(id, (reply_to, correlation));
        self.order.push_back(id);
    }

    pub(crate) fn take(&mut self, id: u64) -> Option<(Topic, Option<Bytes>)> {
        let found = self.open.remove(&id)?;
        self.order.retain(|r| *r != id);
        Some(found)
    }
}

/// One client connected to one namespace.
#[derive(Debug)]
pub(crate) struct NsSocket {
    pub(crate) nsp: Arc<Namespace>,
    /// The Socket.IO socket id (also the fabric client id).
    pub(crate) sid: Arc<str>,
    pub(crate) identity: Identity,
    /// The socket's fabric subscriber, created with its first subscription; the transport
    /// task drains it through `Handler::poll_outgoing`.
    pub(crate) sub: Mutex<Option<Subscriber>>,
    /// `request` events waiting for their reply.
    pub(crate) requests: AtomicUsize,
    pub(crate) replies: Mutex<Replies>,
    pub(crate) next_ack: AtomicU64,
    /// Cancelled when the socket leaves the namespace (or the connection closes).
    pub(crate) closed: CancellationToken,
    /// The last topic published, reused while the client keeps publishing on it.
    pub(crate) last_topic: Mutex<Option<Topic>>,
    /// The socket's entry in the fabric's client registry, while it is in the namespace.
    pub(crate) registration: Mutex<Option<Registration>>,
}

impl NsSocket {
    pub(crate) fn new(nsp: Arc<Namespace>, sid: Arc<str>, identity: Identity) -> Self {
        nsp.sockets.inc();
        NsSocket {
            nsp,
            sid,
            identity,
            sub: Mutex::new(None),
            requests: AtomicUsize::new(0),
            replies: Mutex::new(Replies::default()),
            next_ack: AtomicU64::new(0),
            closed: CancellationToken::new(),
            last_topic: Mutex::new(None),
            registration: Mutex::new(None),
        }
    }

    /// Leaves the namespace: ends the socket's tasks, its subscriptions (at once rather than
    /// when the last reference goes) and its registry entry.
    pub(crate) fn end(&self) {
        self.closed.cancel();
        drop(self.sub.lock().take());
        drop(self.registration.lock().take());
    }

    /// The fabric topic for client topic `t`, reusing the last one when it repeats.
    pub(crate) fn topic(&self, t: &str) -> Result<Topic, switchboard_fabric::TopicError> {
        let mut last = self.last_topic.lock();
        if let Some(topic) = &*last
            && self.nsp.mount.topic_out(topic) == t
            && topic.as_str().len() == self.nsp.mount.as_str().len() + t.len()
        {
            return Ok(topic.clone());
        }
        let topic = self.nsp.mount.topic_in(t)?;
        *last = Some(topic.clone());
        Ok(topic)
    }
}

impl Drop for NsSocket {
    fn drop(&mut self) {
        self.nsp.sockets.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::{Qos, SubscriberSpec};

    fn ns(mode: NamespaceMode, mount: &str) -> Namespace {
        let c = NamespaceConfig {
            name: "/n".to_owned(),
            mode,
            mount: mount.to_owned(),
            ..NamespaceConfig::default()
        };
        Namespace::new(
            &c,
            prometheus::IntGauge::new("g", "g").unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn delivery(m: Message, retain: bool) -> Delivery {
        let fabric = switchboard_fabric::Fabric::standalone();
        let mut sub = fabric.subscriber(SubscriberSpec::new("t", "t"));
        sub.subscribe(
            TopicFilter::new("#").unwrap_or_else(|e| panic!("{e}")),
            Default::default(),
        );
        fabric.publish(m.retain(retain));
        sub.try_recv()
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no delivery"))
    }

    fn topic(s: &str) -> Topic {
        Topic::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn deliveries_become_events() {
        let control = ns(NamespaceMode::Control, "site/");
        let d = delivery(Message::json(topic("site/a"), "{\"v\":1}"), false);
        let e = control.encode(&d).unwrap_or_else(|| panic!("encoded"));
        assert_eq!(
            e.text.as_str(),
            r#"2/n,["message","a",{"v":1},{"retain":false,"qos":0}]"#
        );
        let again = control.encode(&d).unwrap_or_else(|| panic!("encoded"));
        assert_eq!(
            again.text.as_bytes().as_ptr(),
            e.text.as_bytes().as_ptr(),
            "cached"
        );
        let events = ns(NamespaceMode::Events, "");
        let m = Message::new(topic("plant/1"), vec![7u8]).qos(Qos::AtLeastOnce);
        let e = events
            .write(&m, true, 1, None)
            .unwrap_or_else(|| panic!("encoded"));
        assert_eq!(
            e.text.as_str(),
            r#"51-/n,["plant/1",{"_placeholder":true,"num":0},{"retain":true,"qos":1}]"#
        );
        assert_eq!(e.attachment, Some(Bytes::from_static(&[7])));
        assert!(
            events
                .write(&Message::text(topic("connect"), "x"), false, 0, None)
                .is_none()
        );
        let e = control
            .write(&Message::text(topic("site/q"), "x"), false, 0, Some(9))
            .unwrap_or_else(|| panic!("encoded"));
        assert_eq!(
            e.text.as_str(),
            r#"2/n,9["request","q","x",{"retain":false,"qos":0}]"#
        );
    }

    #[test]
    fn topics_are_reused_and_replies_bounded() {
        let s = NsSocket::new(
            Arc::new(ns(NamespaceMode::Control, "m/")),
            Arc::from("sid"),
            Identity::anonymous("sid"),
        );
        let a = s.topic("x/y").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.as_str(), "m/x/y");
        let b = s.topic("x/y").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(
            s.topic("x/z")
                .map(|t| t.as_str().to_owned())
                .ok()
                .as_deref(),
            Some("m/x/z")
        );
        assert!(s.topic("bad/#").is_err());
        let mut r = Replies::default();
        for i in 0..(MAX_OPEN_REPLIES as u64 + 1) {
            r.remember(i, topic("r"), None);
        }
        assert!(r.take(0).is_none(), "the oldest is forgotten");
        assert!(r.take(1).is_some());
        assert!(r.take(1).is_none());
    }
}
