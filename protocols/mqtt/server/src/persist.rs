//! Persistent sessions in the durable store (`[storage] path`).
//!
//! A session whose expiry is above zero gets a [`Journal`] when the broker has a store. The journal
//! watches the session's fabric queue ([`QueueObserver`]) and records every QoS 1/2 delivery as it
//! is queued, updates the record when the message is sent (its packet identifier) and released
//! (PUBREC), and deletes it when the client completes it (PUBACK, PUBCOMP) or it is dropped. The
//! session record (expiry, subscriptions with their options, the will) is written when it
//! changes, and the QoS 2 packet identifiers received and not yet released are kept too.
//!
//! Tables (keys start with the client id and a NUL, which MQTT strings cannot contain):
//!
//! | table | key | value |
//! |---|---|---|
//! | `mqtt_sessions` | client id | [`SessionRecord`] |
//! | `mqtt_messages` | client id, NUL, sequence (u64 BE) | delivery record: QoS, retain, subscription ids, packet id (0: not sent yet), released, the message |
//! | `mqtt_received` | client id, NUL, packet id (u16 BE) | empty |
//!
//! Packet identifiers of journaled messages derive from their sequence number (`seq % 65535 + 1`,
//! unless in use), so a QoS 2 message sent just before a crash whose record did not carry its
//! identifier yet is re-sent after the restart with the identifier the client already knows.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use parking_lot::Mutex;
use smallvec::SmallVec;
use switchboard_fabric::durable::{
    DecodedMessage, Durable, RecordReader, RecordWriter, decode_message, encode_message,
};
use switchboard_fabric::{
    Delivery, Identity, OverflowPolicy, Qos, QueueObserver, Replay, SubOptions, SubscriberSpec,
    TopicFilter,
};
use switchboard_mqtt_proto::{
    Connect, Decoder, MqttString, Packet, PacketId, ProtocolVersion, Will,
};

use crate::broker::Shared;
use crate::session::{NEVER_EXPIRES, OutFlight, PendingWill, Session};

/// Session records.
pub const SESSIONS: &str = "mqtt_sessions";
/// Deliveries queued or in flight to persistent sessions.
pub const MESSAGES: &str = "mqtt_messages";
/// QoS 2 packet identifiers received and not yet released.
pub const RECEIVED: &str = "mqtt_received";

const RECORD_VERSION: u8 = 1;

fn prefix(client_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(client_id.len() + 9);
    k.extend_from_slice(client_id.as_bytes());
    k.push(0);
    k
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The packet identifier a journaled message with sequence `seq` is sent with.
pub fn pid_for(seq: u64) -> Option<PacketId> {
    PacketId::new(u16::try_from(seq % 65_535 + 1).unwrap_or(1))
}

#[derive(Debug, Default)]
struct JournalState {
    next_seq: u64,
    /// Sequence numbers of the journaled deliveries in the fabric queue, in queue order.
    queued: VecDeque<u64>,
    /// The sequence of the delivery the owner took last.
    last_taken: Option<u64>,
}

/// The durable record of one persistent session.
#[derive(Debug)]
pub struct Journal {
    store: Arc<dyn Durable>,
    prefix: Vec<u8>,
    client_id: Arc<str>,
    state: Mutex<JournalState>,
    ended: AtomicBool,
}

impl Journal {
    /// A journal for `client_id` whose next sequence number is `next_seq`.
    pub fn new(store: Arc<dyn Durable>, client_id: Arc<str>, next_seq: u64) -> Arc<Journal> {
        Arc::new(Journal {
            store,
            prefix: prefix(&client_id),
            client_id,
            state: Mutex::new(JournalState {
                next_seq: next_seq.max(1),
                ..JournalState::default()
            }),
            ended: AtomicBool::new(false),
        })
    }

    fn live(&self) -> bool {
        !self.ended.load(Ordering::Acquire)
    }

    fn key(&self, seq: u64) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    fn put_message(&self, seq: u64, record: MessageRecordRef<'_>) {
        if self.live() {
            self.store
                .put(MESSAGES, self.key(seq), Some(record.encode()));
        }
    }

    /// The sequence number of the delivery just taken from the fabric queue; a delivery that did not
    /// come through the queue (a retained replay) is recorded now.
    pub fn taken(&self, d: &Delivery) -> Option<u64> {
        if d.qos == Qos::AtMostOnce {
            return None;
        }
        let seq = {
            let mut s = self.state.lock();
            match s.last_taken.take() {
                Some(seq) => return Some(seq),
                None => {
                    let seq = s.next_seq;
                    s.next_seq += 1;
                    seq
                }
            }
        };
        self.put_message(
            seq,
            MessageRecordRef {
                qos: d.qos,
                retain: d.retain,
                tags: &d.tags,
                pid: 0,
                released: false,
                message: &d.message,
            },
        );
        Some(seq)
    }

    /// Makes `seq` the delivery the owner takes next (a restored queued message).
    pub fn set_taken(&self, seq: u64) {
        self.state.lock().last_taken = Some(seq);
    }

    /// The message `f` was sent (or, `released`, PUBREC came back).
    pub fn sent(&self, f: &OutFlight) {
        if f.seq == 0 {
            return;
        }
        self.put_message(
            f.seq,
            MessageRecordRef {
                qos: f.qos,
                retain: f.retain,
                tags: &f.tags,
                pid: f.pid.get(),
                released: f.released,
                message: &f.message,
            },
        );
    }

    /// The message `seq` is done with (acknowledged, or not delivered).
    pub fn done(&self, seq: u64) {
        if seq != 0 && self.live() {
            self.store.put(MESSAGES, self.key(seq), None);
        }
    }

    fn received_key(&self, pid: PacketId) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(&pid.get().to_be_bytes());
        k
    }

    /// A QoS 2 identifier was received (`true`) or released by PUBREL (`false`).
    pub fn received(&self, pid: PacketId, held: bool) {
        if self.live() {
            self.store
                .put(RECEIVED, self.received_key(pid), held.then(Vec::new));
        }
    }

    /// Writes the session record.
    pub fn save(&self, session: &Session, will: Option<(&Will, &Identity)>, offline: bool) {
        if !self.live() {
            return;
        }
        let record = SessionRecord::of(session, will, offline);
        self.store.put(
            SESSIONS,
            self.client_id.as_bytes().to_vec(),
            Some(record.encode()),
        );
    }

    /// The session ended: everything it kept is deleted and later writes are ignored.
    pub fn end(&self) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        self.store
            .put(SESSIONS, self.client_id.as_bytes().to_vec(), None);
        self.store.delete_prefix(MESSAGES, self.prefix.clone());
        self.store.delete_prefix(RECEIVED, self.prefix.clone());
    }
}

impl QueueObserver for Journal {
    fn queued(&self, d: &Delivery) {
        if d.qos == Qos::AtMostOnce {
            return;
        }
        let seq = {
            let mut s = self.state.lock();
            let seq = s.next_seq;
            s.next_seq += 1;
            s.queued.push_back(seq);
            seq
        };
        self.put_message(
            seq,
            MessageRecordRef {
                qos: d.qos,
                retain: d.retain,
                tags: &d.tags,
                pid: 0,
                released: false,
                message: &d.message,
            },
        );
    }

    fn dequeued(&self, d: &Delivery, taken: bool) {
        if d.qos == Qos::AtMostOnce {
            return;
        }
        let seq = {
            let mut s = self.state.lock();
            let Some(seq) = s.queued.pop_front() else {
                return;
            };
            if taken {
                s.last_taken = Some(seq);
                return;
            }
            seq
        };
        self.done(seq);
    }
}

struct MessageRecordRef<'a> {
    qos: Qos,
    retain: bool,
    tags: &'a [u32],
    pid: u16,
    released: bool,
    message: &'a switchboard_fabric::Message,
}

impl MessageRecordRef<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut w = RecordWriter::new(RECORD_VERSION);
        w.u8(self.qos.as_u8())
            .u8(u8::from(self.retain))
            .u8(u8::try_from(self.tags.len().min(255)).unwrap_or(255));
        for t in self.tags.iter().take(255) {
            w.u32(*t);
        }
        w.u16(self.pid)
            .u8(u8::from(self.released))
            .bytes(&encode_message(self.message));
        w.finish()
    }
}

/// A delivery read back from the store.
#[derive(Debug)]
struct StoredDelivery {
    delivery: Delivery,
    pid: u16,
    released: bool,
}

fn decode_delivery(record: &[u8]) -> Option<Option<StoredDelivery>> {
    let mut r = RecordReader::new(record, RECORD_VERSION)?;
    let qos = Qos::try_from(r.u8()?).ok()?;
    let retain = r.u8()? != 0;
    let n = r.u8()?;
    let mut tags = SmallVec::new();
    for _ in 0..n {
        tags.push(r.u32()?);
    }
    let pid = r.u16()?;
    let released = r.u8()? != 0;
    let message = match decode_message(r.bytes()?)? {
        DecodedMessage::Live(m) => m,
        // A released QoS 2 message only needs its PUBREL: its body no longer matters.
        DecodedMessage::Expired if released => Box::new(switchboard_fabric::Message::new(
            switchboard_fabric::Topic::literal("$expired").ok()?,
            bytes::Bytes::new(),
        )),
        // Expired while stored: nothing to deliver.
        DecodedMessage::Expired => return Some(None),
    };
    Some(Some(StoredDelivery {
        delivery: Delivery {
            message: Arc::new(*message),
            qos,
            retain,
            replayed: false,
            tags,
        },
        pid,
        released,
    }))
}

/// What a session record holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Session expiry interval in seconds.
    pub expiry: u32,
    /// When the client went away (Unix ms); 0 while it was connected.
    pub offline_since_ms: u64,
    /// Subscriptions: fabric filter and options (the replay setting is not kept).
    pub subscriptions: Vec<(String, SubOptions)>,
    /// The will (CONNECT-encoded) and the user it is published as.
    pub will: Option<(Vec<u8>, Option<String>)>,
}

fn encode_will(will: &Will) -> Vec<u8> {
    let mut c = Connect::new(
        ProtocolVersion::V5,
        MqttString::from_static("w").unwrap_or_default(),
        0,
    );
    c.will = Some(will.clone());
    let mut buf = BytesMut::new();
    match c.encode(&mut buf) {
        Ok(()) => buf.to_vec(),
        Err(_) => Vec::new(),
    }
}

fn decode_will(bytes: &[u8]) -> Option<Will> {
    let mut buf = BytesMut::from(bytes);
    match Decoder::new(switchboard_mqtt_proto::MAX_PACKET_SIZE).decode(&mut buf) {
        Ok(Some(Packet::Connect(c))) => c.will,
        _ => None,
    }
}

impl SessionRecord {
    fn of(session: &Session, will: Option<(&Will, &Identity)>, offline: bool) -> Self {
        let subscriptions = session
            .subscriber
            .as_ref()
            .map(|s| {
                s.subscriptions()
                    .map(|(f, o)| (f.as_str().to_owned(), o.clone()))
                    .collect()
            })
            .unwrap_or_default();
        SessionRecord {
            expiry: session.expiry,
            offline_since_ms: if offline { now_ms() } else { 0 },
            subscriptions,
            will: will.map(|(w, id)| (encode_will(w), id.user.as_deref().map(str::to_owned))),
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = RecordWriter::new(RECORD_VERSION);
        w.u32(self.expiry).u64(self.offline_since_ms);
        w.u32(u32::try_from(self.subscriptions.len()).unwrap_or(0));
        for (filter, o) in &self.subscriptions {
            w.str(filter)
                .opt_bytes(o.group.as_deref().map(str::as_bytes))
                .u8(o.max_qos.as_u8())
                .u8(u8::from(o.no_local))
                .u8(u8::from(o.retain_as_published));
            match o.tag {
                Some(t) => w.u8(1).u32(t),
                None => w.u8(0),
            };
        }
        match &self.will {
            Some((bytes, user)) => {
                w.u8(1)
                    .bytes(bytes)
                    .opt_bytes(user.as_deref().map(str::as_bytes));
            }
            None => {
                w.u8(0);
            }
        }
        w.finish()
    }

    /// Reads a record; `None` when malformed.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = RecordReader::new(bytes, RECORD_VERSION)?;
        let expiry = r.u32()?;
        let offline_since_ms = r.u64()?;
        let n = r.u32()? as usize;
        let mut subscriptions = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let filter = r.str()?.to_owned();
            let group = match r.opt_bytes()? {
                Some(g) => Some(Arc::from(std::str::from_utf8(g).ok()?)),
                None => None,
            };
            let max_qos = Qos::try_from(r.u8()?).ok()?;
            let no_local = r.u8()? != 0;
            let retain_as_published = r.u8()? != 0;
            let tag = match r.u8()? {
                0 => None,
                1 => Some(r.u32()?),
                _ => return None,
            };
            subscriptions.push((
                filter,
                SubOptions {
                    max_qos,
                    no_local,
                    retain_as_published,
                    replay: Replay::Never,
                    tag,
                    group,
                },
            ));
        }
        let will = match r.u8()? {
            0 => None,
            1 => {
                let bytes = r.bytes()?.to_vec();
                let user = match r.opt_bytes()? {
                    Some(u) => Some(std::str::from_utf8(u).ok()?.to_owned()),
                    None => None,
                };
                Some((bytes, user))
            }
            _ => return None,
        };
        r.is_empty().then_some(SessionRecord {
            expiry,
            offline_since_ms,
            subscriptions,
            will,
        })
    }
}

/// A session read back from the store, ready to be registered offline.
#[derive(Debug)]
pub struct Restored {
    /// The client id.
    pub client_id: Arc<str>,
    /// The session (subscriber re-created, in-flight and queued messages, QoS 2 identifiers).
    pub session: Box<Session>,
    /// Seconds of expiry left ([`NEVER_EXPIRES`]: never).
    pub expiry_left: u32,
    /// The will, with its delay left.
    pub will: Option<(PendingWill, u32)>,
}

/// What recovery found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoreStats {
    /// Sessions restored.
    pub sessions: usize,
    /// Sessions found expired (their wills were published).
    pub expired: usize,
    /// Messages restored (queued and in flight).
    pub messages: usize,
}

fn split_key(key: &[u8]) -> Option<(&str, &[u8])> {
    let nul = key.iter().position(|b| *b == 0)?;
    Some((std::str::from_utf8(&key[..nul]).ok()?, &key[nul + 1..]))
}

/// Reads every persistent session back from `store` into `shared`'s registry (as offline sessions),
/// publishing the wills of those that expired while the gateway was down.
pub fn restore(shared: &Arc<Shared>, store: &Arc<dyn Durable>) -> RestoreStats {
    let mut stats = RestoreStats::default();
    let mut messages: HashMap<String, BTreeMap<u64, StoredDelivery>> = HashMap::new();
    for (key, value) in store.load(MESSAGES) {
        let Some((client, rest)) = split_key(&key) else {
            store.put(MESSAGES, key, None);
            continue;
        };
        let Ok(seq) = <[u8; 8]>::try_from(rest).map(u64::from_be_bytes) else {
            store.put(MESSAGES, key, None);
            continue;
        };
        match decode_delivery(&value) {
            Some(Some(d)) => {
                messages
                    .entry(client.to_owned())
                    .or_default()
                    .insert(seq, d);
            }
            _ => {
                store.put(MESSAGES, key, None);
            }
        }
    }
    let mut received: HashMap<String, Vec<PacketId>> = HashMap::new();
    for (key, _) in store.load(RECEIVED) {
        if let Some((client, rest)) = split_key(&key)
            && let Ok(pid) = <[u8; 2]>::try_from(rest).map(u16::from_be_bytes)
            && let Some(pid) = PacketId::new(pid)
        {
            received.entry(client.to_owned()).or_default().push(pid);
        }
    }
    let now = now_ms();
    for (key, value) in store.load(SESSIONS) {
        let (Ok(client), Some(record)) = (std::str::from_utf8(&key), SessionRecord::decode(&value))
        else {
            tracing::warn!("unreadable MQTT session record in the store; deleted");
            store.put(SESSIONS, key, None);
            continue;
        };
        let client_id: Arc<str> = Arc::from(client);
        let journal_msgs = messages.remove(client).unwrap_or_default();
        let next_seq = journal_msgs.keys().next_back().map_or(1, |s| s + 1);
        let journal = Journal::new(store.clone(), client_id.clone(), next_seq);
        let identity = |user: &Option<String>| match user {
            Some(u) => Identity::user(u.as_str(), client_id.clone()),
            None => Identity::anonymous(client_id.clone()),
        };
        let will = record.will.as_ref().and_then(|(bytes, user)| {
            decode_will(bytes).map(|w| PendingWill {
                will: w,
                identity: identity(user),
            })
        });
        // A session whose client was connected at the crash went away now.
        let since = if record.offline_since_ms == 0 {
            now
        } else {
            record.offline_since_ms
        };
        let away_s = u32::try_from(now.saturating_sub(since) / 1000).unwrap_or(u32::MAX);
        if record.expiry != NEVER_EXPIRES && away_s >= record.expiry {
            journal.end();
            stats.expired += 1;
            shared.metrics.sessions_expired.inc();
            if let Some(w) = will {
                shared.publish_will(&w);
            }
            continue;
        }
        let mut session = Box::new(Session::new(record.expiry));
        if !record.subscriptions.is_empty() {
            let spec = SubscriberSpec::new(shared.protocol.clone(), client_id.clone())
                .capacity(shared.config.max_queued_messages)
                .policy(OverflowPolicy::DropNew)
                .observer(journal.clone());
            let mut sub = shared.fabric.subscriber(spec);
            for (filter, options) in record.subscriptions {
                let Ok(f) = TopicFilter::new(&filter) else {
                    continue;
                };
                if options.group.is_some() {
                    shared.shared_subscriptions.fetch_add(1, Ordering::Relaxed);
                }
                sub.subscribe(f, options);
            }
            session.subscriber = Some(Box::new(sub));
        }
        let mut backlog = VecDeque::new();
        for (seq, d) in journal_msgs {
            stats.messages += 1;
            if d.pid != 0
                && let Some(pid) = PacketId::new(d.pid)
            {
                session.inflight.push(OutFlight {
                    pid,
                    seq,
                    message: d.delivery.message,
                    qos: d.delivery.qos,
                    retain: d.delivery.retain,
                    tags: d.delivery.tags,
                    released: d.released,
                });
            } else {
                backlog.push_back((seq, d.delivery));
            }
        }
        let n = session.inflight.len() as i64;
        shared.metrics.inflight.add(n);
        shared.stats.inflight.fetch_add(n, Ordering::Relaxed);
        if !backlog.is_empty() {
            session.backlog = Some(Box::new(backlog));
        }
        for pid in received.remove(client).unwrap_or_default() {
            session.received.insert(pid);
        }
        session.journal = Some(journal);
        let expiry_left = if record.expiry == NEVER_EXPIRES {
            NEVER_EXPIRES
        } else {
            record.expiry - away_s
        };
        let will = will.map(|w| {
            let delay = crate::broker::will_delay(&w.will).saturating_sub(away_s);
            (w, delay)
        });
        stats.sessions += 1;
        shared.restore_offline(client_id, session, expiry_left, will);
    }
    // Messages of sessions that are gone.
    for client in messages.keys() {
        store.delete_prefix(MESSAGES, prefix(client));
    }
    for client in received.keys() {
        store.delete_prefix(RECEIVED, prefix(client));
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_record_survives_encoding() {
        let r = SessionRecord {
            expiry: 300,
            offline_since_ms: 12,
            subscriptions: vec![
                (
                    "a/+".into(),
                    SubOptions {
                        max_qos: Qos::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        replay: Replay::Never,
                        tag: Some(7),
                        group: Some(Arc::from("g")),
                    },
                ),
                (
                    "b".into(),
                    SubOptions {
                        replay: Replay::Never,
                        ..SubOptions::default()
                    },
                ),
            ],
            will: Some((vec![1, 2, 3], Some("alice".into()))),
        };
        assert_eq!(SessionRecord::decode(&r.encode()), Some(r.clone()));
        let bytes = r.encode();
        for cut in 0..bytes.len() {
            assert!(SessionRecord::decode(&bytes[..cut]).is_none());
        }
    }

    #[test]
    fn a_will_survives_encoding() {
        let mut w = Will::new(
            switchboard_mqtt_proto::TopicName::try_from("last/words").unwrap(),
            bytes::Bytes::from_static(b"bye"),
        );
        w.qos = switchboard_mqtt_proto::QoS::AtLeastOnce;
        w.retain = true;
        w.properties.will_delay_interval = Some(30);
        assert_eq!(decode_will(&encode_will(&w)), Some(w));
    }

    #[test]
    fn packet_ids_follow_the_sequence() {
        assert_eq!(pid_for(0).map(PacketId::get), Some(1));
        assert_eq!(pid_for(65_534).map(PacketId::get), Some(65_535));
        assert_eq!(pid_for(65_535).map(PacketId::get), Some(1));
    }
}
