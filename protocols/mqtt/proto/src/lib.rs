//! Sans-IO MQTT 3.1.1 and 5.0 packet codec (3.1 CONNECT accepted too): no sockets, no
//! tokio, no clock.
//!
//! Decode from the bytes received so far with a [`Decoder`] (or [`decode_connect`] /
//! [`decode_packet`]): an incomplete packet is `Ok(None)`, and the size limit is enforced
//! from the fixed header before the body is buffered. Encode any packet into a `BytesMut`
//! with `encode(version, &mut buf)`, and learn its size first with `encoded_len(version)`
//! (e.g. to honour a client's Maximum Packet Size).
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use switchboard_mqtt_proto::{Decoder, Packet, ProtocolVersion, Publish, TopicName};
//!
//! let publish = Publish::new(TopicName::from_static("a/b")?, Bytes::from_static(b"hi"));
//! let mut wire = BytesMut::new();
//! publish.encode(ProtocolVersion::V3_1_1, &mut wire)?;
//! assert_eq!(&wire[..], b"\x30\x07\x00\x03a/bhi");
//!
//! let mut decoder = Decoder::with_version(ProtocolVersion::V3_1_1, 1024);
//! let mut partial = wire.split_to(4);
//! assert_eq!(decoder.decode(&mut partial)?, None); // incomplete: wait for more bytes
//! partial.unsplit(wire);
//! assert_eq!(decoder.decode(&mut partial)?, Some(Packet::Publish(publish)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors: one [`DecodeError`] enum whose [`DecodeError::reason_code`] gives the MQTT 5
//! reason code to send (Malformed Packet, Protocol Error, Packet too large, Unsupported
//! Protocol Version, Topic Name/Filter invalid), so a server maps errors to the wire in one
//! place. Encoding fails with [`EncodeError`] only for packets the peer would reject.
//!
//! Zero copy: decoded topics, strings, binary properties and PUBLISH payloads are
//! `bytes::Bytes` slices of the received frame. PINGREQ, PINGRESP and acknowledgements
//! without properties are decoded without touching the allocator.
//!
//! # Layout
//!
//! - `types`: [`ProtocolVersion`], [`QoS`], [`PacketId`], [`PacketType`].
//! - `reason`: [`ReasonCode`] with names, meanings, the packets each may appear in, and the
//!   3.1.1 CONNACK return code mapping.
//! - `string`: [`MqttString`], the validated `Bytes`-backed UTF-8 string.
//! - `topic`: [`TopicName`] and [`TopicFilter`] with the wildcard and `$share/` rules.
//! - `property`: the MQTT 5 property table ([`PropertyId`]: type, allowed packets,
//!   repeatability) and shared value types ([`UserProperty`], [`SubscriptionId`],
//!   [`PayloadFormat`]). Each packet's property struct lives with its packet; PUBLISH keeps
//!   its application metadata in an `Arc` ([`PublishMetadata`]) so fan-out shares it.
//! - `wire` (private): integers, variable byte integers, length-prefixed fields, the
//!   bounds-checked reader.
//! - [`packet`]: [`Packet`] and one module per control packet (`connect`, `connack`,
//!   `publish`, `puback`, `pubrec`, `pubrel`, `pubcomp`, `subscribe`, `suback`,
//!   `unsubscribe`, `unsuback`, `ping`, `disconnect`, `auth`), each with its property struct.
//! - `decode`: [`FixedHeader`], [`Decoder`], [`decode_connect`], [`decode_packet`].
//! - `error`: [`DecodeError`] and [`EncodeError`].

mod decode;
mod error;
pub mod packet;
mod property;
mod reason;
mod string;
mod topic;
mod types;
mod wire;

pub use crate::decode::{Decoder, FixedHeader, MAX_PACKET_SIZE, decode_connect, decode_packet};
pub use crate::error::{DecodeError, EncodeError};
pub use crate::packet::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, Packet, PingReq, PingResp, PubAck, PubComp, PubRec, PubRel,
    Publish, PublishMetadata, PublishProperties, QosPid, RetainHandling, SubAck, Subscribe,
    SubscribeProperties, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe,
    UnsubscribeProperties, Will, WillProperties,
};
pub use crate::property::{
    ALL_PROPERTY_IDS, PayloadFormat, PropertyContext, PropertyId, PropertyType, SubscriptionId,
    UserProperty,
};
pub use crate::reason::{ALL_REASON_CODES, ReasonCode};
pub use crate::string::{MAX_STRING_LEN, MqttString};
pub use crate::topic::{SHARED_PREFIX, TopicFilter, TopicName};
pub use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};
pub use crate::wire::MAX_VAR_INT;

/// Re-exported so callers can name the subscription identifier list type.
pub use smallvec;
