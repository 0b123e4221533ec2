//! Durable state: the contract between the parts that keep state across restarts (the retained
//! store, MQTT sessions) and the embedded store the application opens when `storage.path` is set.
//!
//! A [`Durable`] store takes writes without waiting ([`Durable::put`] returns a [`Ticket`]), writes
//! them in batches, and tells through [`Durable::watch`] which tickets are durable. A protocol that
//! promises durability at its acknowledgement (an MQTT PUBACK) runs the publication inside
//! [`tracked`], which reports the last ticket written on this thread meanwhile, and acknowledges
//! once that ticket is durable.
//!
//! The module also holds the binary record format of a [`Message`] ([`encode_message`],
//! [`decode_message`]) and the small [`RecordWriter`] / [`RecordReader`] helpers every record uses.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::message::{Message, Origin, PayloadKind, Qos};
use crate::topic::Topic;

/// The sequence number of one write to a [`Durable`] store. Writes become durable in ticket order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ticket(pub u64);

/// An embedded store that survives restarts.
pub trait Durable: Send + Sync + fmt::Debug + 'static {
    /// Records `value` under `key` in `table` (`None` deletes the key). Never waits; the write is
    /// part of the next batch. Later writes of a key replace earlier ones.
    fn put(&self, table: &'static str, key: Vec<u8>, value: Option<Vec<u8>>) -> Ticket;

    /// Deletes every key of `table` starting with `prefix` (ordered with the other writes).
    fn delete_prefix(&self, table: &'static str, prefix: Vec<u8>) -> Ticket;

    /// Every entry of `table` as last written (for recovery at start-up, before serving).
    fn load(&self, table: &'static str) -> Vec<(Vec<u8>, Vec<u8>)>;

    /// The highest durable ticket, updated after each batch. The value only grows.
    fn watch(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Whether acknowledgements wait for the tickets of what they acknowledge (`fsync = "always"`
    /// and `"never"`; with `"interval"` nothing waits).
    fn acks_wait(&self) -> bool;
}

thread_local! {
    static LAST_TICKET: Cell<u64> = const { Cell::new(0) };
}

/// Records that this thread just wrote `ticket`; [`Durable`] implementations call it from
/// [`Durable::put`] so that [`tracked`] can report it.
pub fn note(ticket: Ticket) {
    LAST_TICKET.with(|t| t.set(t.get().max(ticket.0)));
}

/// Runs `f` and returns its result with the last ticket written on this thread meanwhile, if any:
/// what an acknowledgement of `f`'s work must wait for.
pub fn tracked<R>(f: impl FnOnce() -> R) -> (R, Option<Ticket>) {
    let before = LAST_TICKET.with(|t| t.replace(0));
    let out = f();
    let inner = LAST_TICKET.with(|t| t.replace(before.max(t.get())));
    (out, (inner > 0).then_some(Ticket(inner)))
}

/// Builds a record: length-prefixed fields, big-endian integers.
#[derive(Debug, Default)]
pub struct RecordWriter {
    buf: Vec<u8>,
}

impl RecordWriter {
    /// An empty record starting with `version`.
    pub fn new(version: u8) -> Self {
        RecordWriter { buf: vec![version] }
    }
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    /// Appends a `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends bytes with a `u32` length.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.buf.extend_from_slice(&v[..len as usize]);
        self
    }
    /// Appends a string with a `u32` length.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// Appends an optional byte string (a presence byte, then the bytes).
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(b) => self.u8(1).bytes(b),
            None => self.u8(0),
        }
    }
    /// The record.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads a record written by [`RecordWriter`]; every read is `None` on a short or bad record.
#[derive(Debug)]
pub struct RecordReader<'a> {
    buf: &'a [u8],
}

impl<'a> RecordReader<'a> {
    /// Starts reading `buf`; `None` unless it starts with `version`.
    pub fn new(buf: &'a [u8], version: u8) -> Option<Self> {
        match buf.split_first() {
            Some((v, rest)) if *v == version => Some(RecordReader { buf: rest }),
            _ => None,
        }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    /// Reads a byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    /// Reads a `u16`.
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2)?.try_into().ok().map(u16::from_be_bytes)
    }
    /// Reads a `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_be_bytes)
    }
    /// Reads a `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_be_bytes)
    }
    /// Reads length-prefixed bytes.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    /// Reads an optional byte string.
    pub fn opt_bytes(&mut self) -> Option<Option<&'a [u8]>> {
        match self.u8()? {
            0 => Some(None),
            1 => self.bytes().map(Some),
            _ => None,
        }
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

const MESSAGE_VERSION: u8 = 1;

/// Milliseconds since the Unix epoch of `at` (an [`Instant`]), through the wall clock now.
pub fn instant_to_unix_ms(at: Instant) -> u64 {
    let now_i = Instant::now();
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let unix = if at >= now_i {
        now_s + (at - now_i)
    } else {
        now_s.saturating_sub(now_i - at)
    };
    u64::try_from(unix.as_millis()).unwrap_or(u64::MAX)
}

/// The [`Instant`] of a Unix time in milliseconds, through the wall clock now; `None` when it is
/// already past.
pub fn unix_ms_to_instant(ms: u64) -> Option<Instant> {
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::from_millis(ms);
    (at > now_s).then(|| Instant::now() + (at - now_s))
}

/// Encodes `message` as a durable record. The creation time and the publisher's subscriber id are
/// not kept; the expiry is kept as wall-clock time.
pub fn encode_message(message: &Message) -> Vec<u8> {
    let mut w = RecordWriter::new(MESSAGE_VERSION);
    w.str(message.topic.as_str())
        .bytes(&message.payload)
        .u8(match message.kind {
            PayloadKind::Binary => 0,
            PayloadKind::Text => 1,
            PayloadKind::Json => 2,
        })
        .u8(message.qos.as_u8())
        .u8(u8::from(message.retain))
        .str(&message.origin.protocol)
        .str(&message.origin.client)
        .opt_bytes(message.reply_to.as_ref().map(|t| t.as_str().as_bytes()))
        .opt_bytes(message.correlation.as_deref())
        .opt_bytes(message.content_type.as_deref().map(str::as_bytes));
    w.u32(u32::try_from(message.properties.len()).unwrap_or(0));
    for (k, v) in message.properties.iter().take(u32::MAX as usize) {
        w.str(k).str(v);
    }
    match message.expires_at {
        Some(at) => w.u8(1).u64(instant_to_unix_ms(at)),
        None => w.u8(0),
    };
    w.finish()
}

/// A message read back from its record.
#[derive(Debug, Clone)]
pub enum DecodedMessage {
    /// The message, with a fresh creation time.
    Live(Box<Message>),
    /// The message expired while stored.
    Expired,
}

/// Decodes a record of [`encode_message`]; `None` when it is malformed.
pub fn decode_message(record: &[u8]) -> Option<DecodedMessage> {
    let mut r = RecordReader::new(record, MESSAGE_VERSION)?;
    let topic = Topic::literal(r.str()?).ok()?;
    let payload = Bytes::copy_from_slice(r.bytes()?);
    let kind = match r.u8()? {
        0 => PayloadKind::Binary,
        1 => PayloadKind::Text,
        2 => PayloadKind::Json,
        _ => return None,
    };
    let qos = Qos::try_from(r.u8()?).ok()?;
    let retain = r.u8()? != 0;
    let protocol: Arc<str> = Arc::from(r.str()?);
    let client: Arc<str> = Arc::from(r.str()?);
    let reply_to = match r.opt_bytes()? {
        Some(b) => Some(Topic::literal(std::str::from_utf8(b).ok()?).ok()?),
        None => None,
    };
    let correlation = r.opt_bytes()?.map(Bytes::copy_from_slice);
    let content_type = match r.opt_bytes()? {
        Some(b) => Some(Arc::from(std::str::from_utf8(b).ok()?)),
        None => None,
    };
    let n = r.u32()? as usize;
    let mut properties = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        properties.push((r.str()?.to_owned(), r.str()?.to_owned()));
    }
    let expires = match r.u8()? {
        0 => None,
        1 => Some(r.u64()?),
        _ => return None,
    };
    if !r.is_empty() {
        return None;
    }
    let expires_at = match expires {
        Some(ms) => match unix_ms_to_instant(ms) {
            Some(at) => Some(at),
            None => return Some(DecodedMessage::Expired),
        },
        None => None,
    };
    let mut message = Message::new(topic, payload)
        .kind(kind)
        .qos(qos)
        .retain(retain)
        .origin(Origin::new(protocol, client));
    message.reply_to = reply_to;
    message.correlation = correlation;
    message.content_type = content_type;
    message.properties = properties;
    message.expires_at = expires_at;
    Some(DecodedMessage::Live(Box::new(message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full() -> Message {
        Message::json(Topic::new("a/b").unwrap(), "{\"x\":1}")
            .qos(Qos::ExactlyOnce)
            .retain(true)
            .origin(Origin::new("mqtt", "c1"))
            .reply_to(Topic::literal("$reply/n/1").unwrap())
            .correlation(&b"\x00\x01"[..])
            .content_type("application/json")
            .property("k", "v")
            .property("k", "w")
            .expires_in(Duration::from_secs(3600))
    }

    #[test]
    fn a_message_survives_its_record() {
        let m = full();
        let Some(DecodedMessage::Live(d)) = decode_message(&encode_message(&m)) else {
            panic!("decodes");
        };
        assert_eq!(d.topic, m.topic);
        assert_eq!(d.payload, m.payload);
        assert_eq!(d.kind, m.kind);
        assert_eq!(d.qos, m.qos);
        assert!(d.retain);
        assert_eq!(d.origin.client.as_ref(), "c1");
        assert_eq!(d.reply_to, m.reply_to);
        assert_eq!(d.correlation, m.correlation);
        assert_eq!(d.content_type, m.content_type);
        assert_eq!(d.properties, m.properties);
        let ttl = d.remaining_ttl(Instant::now()).unwrap();
        assert!(ttl > Duration::from_secs(3590) && ttl <= Duration::from_secs(3600));
    }

    #[test]
    fn an_expired_message_is_reported_as_such() {
        let mut m = full();
        m.expires_at = Some(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(
            decode_message(&encode_message(&m)),
            Some(DecodedMessage::Expired)
        ));
    }

    #[test]
    fn tracked_reports_only_its_own_writes() {
        let ((), none) = tracked(|| {});
        assert_eq!(none, None);
        let ((), t) = tracked(|| note(Ticket(7)));
        assert_eq!(t, Some(Ticket(7)));
        let ((), outer) = tracked(|| {
            note(Ticket(9));
            let ((), inner) = tracked(|| note(Ticket(10)));
            assert_eq!(inner, Some(Ticket(10)));
        });
        assert_eq!(
            outer,
            Some(Ticket(10)),
            "the inner write counts for the outer scope"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_message(&bytes);
            let mut with_version = vec![MESSAGE_VERSION];
            with_version.extend_from_slice(&bytes);
            let _ = decode_message(&with_version);
        }

        #[test]
        fn truncated_records_are_refused(cut in 0usize..64) {
            let record = encode_message(&full());
            let cut = cut.min(record.len() - 1);
            prop_assert!(decode_message(&record[..cut]).is_none());
        }
    }
}
