//! The envelope a message crosses NATS in: a few header bytes in front of the payload, so the
//! subject routes and the envelope carries everything else the [`Message`] has.
//!
//! ```text
//! byte 0      version (1)
//! byte 1      flags: bits 0-1 QoS, bit 2 retain, bits 3-4 kind (0 binary, 1 text, 2 JSON)
//! varint      sequence number of the sending node (duplicate detection)
//! varint      incarnation of the sending node (random per process start)
//! fields      tag (1 byte), varint length, bytes; tag 0 (no length) ends them:
//!               1 node        2 protocol     3 client      4 reply_to
//!               5 correlation 6 content type 7 property (varint key length, key, value)
//!               8 remaining lifetime in ms (varint)
//!             unknown tags are skipped, so fields can be added
//! rest        the payload, untouched (decoding slices it without copying)
//! ```
//!
//! The topic is not in the envelope: it is the subject. `origin.subscriber` never crosses (it is a
//! local id), `origin.node` is set from field 1, and `created` is the time of arrival.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use switchboard_fabric::{Message, Origin, PayloadKind, Qos, Topic};

/// The envelope version this build writes and reads.
pub const VERSION: u8 = 1;

const END: u8 = 0;
const NODE: u8 = 1;
const PROTOCOL: u8 = 2;
const CLIENT: u8 = 3;
const REPLY_TO: u8 = 4;
const CORRELATION: u8 = 5;
const CONTENT_TYPE: u8 = 6;
const PROPERTY: u8 = 7;
const TTL_MS: u8 = 8;

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Another version, or not an envelope.
    #[error("unknown envelope version {0}")]
    Version(u8),
    /// Cut short or malformed.
    #[error("malformed envelope")]
    Malformed,
    /// A string field is not UTF-8 or a topic field is not a valid topic.
    #[error("invalid field {0}")]
    Field(u8),
}

/// Who sent an envelope, and its place in that node's sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The sending node's id.
    pub node: Arc<str>,
    /// Random per process start of the sender.
    pub incarnation: u32,
    /// The sender's sequence number.
    pub seq: u64,
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn put_field(buf: &mut BytesMut, tag: u8, value: &[u8]) {
    buf.put_u8(tag);
    put_varint(buf, value.len() as u64);
    buf.put_slice(value);
}

/// Writes `message` as sent by `sender` (its `node` becomes the origin node on arrival). `now`
/// turns the expiry into a remaining lifetime.
pub fn encode(message: &Message, sender: &Sender, now: Instant) -> Bytes {
    let o = &message.origin;
    let mut buf = BytesMut::with_capacity(
        32 + sender.node.len()
            + o.protocol.len()
            + o.client.len()
            + message.reply_to.as_ref().map_or(0, |t| t.as_str().len())
            + message.payload.len(),
    );
    buf.put_u8(VERSION);
    let kind = match message.kind {
        PayloadKind::Binary => 0,
        PayloadKind::Text => 1,
        PayloadKind::Json => 2,
    };
    buf.put_u8(message.qos.as_u8() | (u8::from(message.retain) << 2) | (kind << 3));
    put_varint(&mut buf, sender.seq);
    put_varint(&mut buf, u64::from(sender.incarnation));
    put_field(&mut buf, NODE, sender.node.as_bytes());
    put_field(&mut buf, PROTOCOL, o.protocol.as_bytes());
    put_field(&mut buf, CLIENT, o.client.as_bytes());
    if let Some(r) = &message.reply_to {
        put_field(&mut buf, REPLY_TO, r.as_str().as_bytes());
    }
    if let Some(c) = &message.correlation {
        put_field(&mut buf, CORRELATION, c);
    }
    if let Some(ct) = &message.content_type {
        put_field(&mut buf, CONTENT_TYPE, ct.as_bytes());
    }
    for (k, v) in &message.properties {
        buf.put_u8(PROPERTY);
        let mut inner = BytesMut::with_capacity(k.len() + v.len() + 2);
        put_varint(&mut inner, k.len() as u64);
        inner.put_slice(k.as_bytes());
        inner.put_slice(v.as_bytes());
        put_varint(&mut buf, inner.len() as u64);
        buf.put_slice(&inner);
    }
    if let Some(ttl) = message.remaining_ttl(now) {
        let mut inner = BytesMut::with_capacity(10);
        put_varint(
            &mut inner,
            u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        );
        put_field(&mut buf, TTL_MS, &inner);
    }
    buf.put_u8(END);
    buf.put_slice(&message.payload);
    buf.freeze()
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, WireError> {
        let b = *self.buf.get(self.pos).ok_or(WireError::Malformed)?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Malformed)
    }

    fn slice(&mut self, len: u64) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(len).map_err(|_| WireError::Malformed)?;
        let end = self.pos.checked_add(len).ok_or(WireError::Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Malformed)?;
        self.pos = end;
        Ok(s)
    }
}

fn utf8(tag: u8, b: &[u8]) -> Result<&str, WireError> {
    std::str::from_utf8(b).map_err(|_| WireError::Field(tag))
}

/// Reads an envelope that arrived for `topic` at `now`.
pub fn decode(topic: Topic, bytes: &Bytes, now: Instant) -> Result<(Message, Sender), WireError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let flags = r.u8()?;
    let qos = Qos::try_from(flags & 0b11).map_err(|_| WireError::Malformed)?;
    let retain = flags & 0b100 != 0;
    let kind = match (flags >> 3) & 0b11 {
        0 => PayloadKind::Binary,
        1 => PayloadKind::Text,
        2 => PayloadKind::Json,
        _ => return Err(WireError::Malformed),
    };
    let seq = r.varint()?;
    let incarnation = u32::try_from(r.varint()?).map_err(|_| WireError::Malformed)?;
    let mut message = Message::new(topic, Bytes::new())
        .kind(kind)
        .qos(qos)
        .retain(retain);
    let mut node: Option<Arc<str>> = None;
    let mut origin = Origin::new("", "");
    loop {
        let tag = r.u8()?;
        if tag == END {
            break;
        }
        let len = r.varint()?;
        let value = r.slice(len)?;
        match tag {
            NODE => node = Some(Arc::from(utf8(tag, value)?)),
            PROTOCOL => origin.protocol = Arc::from(utf8(tag, value)?),
            CLIENT => origin.client = Arc::from(utf8(tag, value)?),
            REPLY_TO => {
                let t = Topic::literal(utf8(tag, value)?).map_err(|_| WireError::Field(tag))?;
                message.reply_to = Some(t);
            }
            CORRELATION => message.correlation = Some(bytes.slice_ref(value)),
            CONTENT_TYPE => message.content_type = Some(Arc::from(utf8(tag, value)?)),
            PROPERTY => {
                let mut p = Reader { buf: value, pos: 0 };
                let klen = p.varint()?;
                let k = utf8(tag, p.slice(klen)?)?;
                let v = utf8(tag, &value[p.pos..])?;
                message.properties.push((k.to_owned(), v.to_owned()));
            }
            TTL_MS => {
                let ms = Reader { buf: value, pos: 0 }.varint()?;
                message.created = now;
                message.expires_at = now.checked_add(std::time::Duration::from_millis(ms));
            }
            _ => {}
        }
    }
    let node = node.ok_or(WireError::Field(NODE))?;
    origin.node = Some(node.clone());
    message.origin = origin;
    message.created = now;
    message.payload = bytes.slice(r.pos..);
    Ok((
        message,
        Sender {
            node,
            incarnation,
            seq,
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sender() -> Sender {
        Sender {
            node: Arc::from("gw-1"),
            incarnation: 0xdead_beef,
            seq: 300,
        }
    }

    fn t(s: &str) -> Topic {
        Topic::new(s).unwrap()
    }

    #[test]
    fn a_minimal_message_is_byte_exact() {
        let msg = Message::new(t("a"), Bytes::from_static(b"hi")).origin(Origin::new("mqtt", "c1"));
        let s = Sender {
            node: Arc::from("n"),
            incarnation: 1,
            seq: 2,
        };
        let bytes = encode(&msg, &s, Instant::now());
        assert_eq!(
            &bytes[..],
            b"\x01\x00\x02\x01\x01\x01n\x02\x04mqtt\x03\x02c1\x00hi"
        );
    }

    #[test]
    fn every_field_survives_the_hop() {
        let now = Instant::now();
        let msg = Message::json(t("plant/1/temp"), r#"{"v":21}"#)
            .qos(Qos::AtLeastOnce)
            .retain(true)
            .origin(
                Origin::new("engineio", "sid-1")
                    .with_subscriber(switchboard_fabric::SubscriberId(99)),
            )
            .reply_to(Topic::literal("$reply/gw-1/abc").unwrap())
            .correlation(Bytes::from_static(b"\x00\x01"))
            .content_type("application/json")
            .property("k", "v")
            .property("", "empty key")
            .expires_in(Duration::from_secs(30));
        let bytes = encode(&msg, &sender(), now);
        let (got, from) = decode(t("plant/1/temp"), &bytes, now).unwrap();
        assert_eq!(from, sender());
        assert_eq!(got.topic, msg.topic);
        assert_eq!(got.payload, msg.payload);
        assert_eq!(got.kind, PayloadKind::Json);
        assert_eq!(got.qos, Qos::AtLeastOnce);
        assert!(got.retain);
        assert_eq!(&*got.origin.protocol, "engineio");
        assert_eq!(&*got.origin.client, "sid-1");
        assert_eq!(got.origin.subscriber, None, "local ids never cross");
        assert_eq!(got.origin.node.as_deref(), Some("gw-1"));
        assert_eq!(got.reply_to, msg.reply_to);
        assert_eq!(got.correlation, msg.correlation);
        assert_eq!(got.content_type, msg.content_type);
        assert_eq!(got.properties, msg.properties);
        let ttl = got.remaining_ttl(now).unwrap();
        assert!(ttl <= Duration::from_secs(30) && ttl > Duration::from_secs(29));
    }

    #[test]
    fn unknown_fields_are_skipped_and_bad_input_refused() {
        let msg = Message::text(t("a"), "x");
        let mut bytes = encode(&msg, &sender(), Instant::now()).to_vec();
        // insert an unknown field 42 right after the varints (version, flags, seq 300 = 2 bytes,
        // incarnation = 5 bytes)
        let at = 2 + 2 + 5;
        bytes.splice(at..at, [42u8, 3, b'z', b'z', b'z']);
        let (got, _) = decode(t("a"), &Bytes::from(bytes.clone()), Instant::now()).unwrap();
        assert_eq!(got.payload_str(), Some("x"));
        assert_eq!(
            decode(t("a"), &Bytes::from_static(b"\x02\x00"), Instant::now()).unwrap_err(),
            WireError::Version(2)
        );
        assert_eq!(
            decode(
                t("a"),
                &Bytes::from_static(b"\x01\x03\x00\x00\x00"),
                Instant::now()
            )
            .unwrap_err(),
            WireError::Malformed,
            "QoS 3"
        );
        // no node field
        assert_eq!(
            decode(
                t("a"),
                &Bytes::from_static(b"\x01\x00\x00\x00\x00"),
                Instant::now()
            )
            .unwrap_err(),
            WireError::Field(NODE)
        );
        for cut in 0..bytes.len() - 1 {
            let _ = decode(
                t("a"),
                &Bytes::copy_from_slice(&bytes[..cut]),
                Instant::now(),
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = decode(t("a"), &Bytes::from(data), Instant::now());
        }

        #[test]
        fn encode_then_decode_gives_the_same_message(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            qos in 0u8..3, retain: bool, kind in 0u8..3,
            client in "[a-z0-9]{0,12}",
            props in proptest::collection::vec(("[a-z]{0,5}", "[a-z ]{0,8}"), 0..3),
            seq: u64, incarnation: u32,
        ) {
            let now = Instant::now();
            let mut msg = Message::new(t("x/y"), payload)
                .qos(Qos::try_from(qos).unwrap())
                .retain(retain)
                .kind([PayloadKind::Binary, PayloadKind::Text, PayloadKind::Json][kind as usize])
                .origin(Origin::new("ipc", client));
            msg.properties = props;
            let s = Sender { node: Arc::from("node_7"), incarnation, seq };
            let bytes = encode(&msg, &s, now);
            let (got, from) = decode(t("x/y"), &bytes, now).unwrap();
            proptest::prop_assert_eq!(&from, &s);
            proptest::prop_assert_eq!(&got.payload, &msg.payload);
            proptest::prop_assert_eq!(got.qos, msg.qos);
            proptest::prop_assert_eq!(got.retain, msg.retain);
            proptest::prop_assert_eq!(got.kind, msg.kind);
            proptest::prop_assert_eq!(&got.origin.client, &msg.origin.client);
            proptest::prop_assert_eq!(&got.properties, &msg.properties);
            // and re-encoding gives the same bytes
            proptest::prop_assert_eq!(encode(&got, &from, now), bytes);
        }
    }
}
