//! The [`Packet`] enum and one module per control packet.
//!
//! Every packet struct has `encode(&self, version, &mut BytesMut)` and
//! `encoded_len(&self, version)`; decoding goes through [`crate::Decoder`] (or
//! [`crate::decode_packet`] / [`crate::decode_connect`]).
//!
//! Encoding is canonical: MQTT 5 properties are written in ascending identifier order, and
//! the acknowledgements use their shortest form (the reason code and property length are
//! left out when the spec allows it). Decoding a canonical packet and encoding it again
//! gives the same bytes; a packet whose properties arrive in another order (which the spec
//! allows) re-encodes to an equivalent packet with the properties sorted. Fields MQTT 3.1.1
//! cannot carry (properties, reason codes other than those it has) are left out when encoding
//! for 3.1.1.

use bytes::BytesMut;

use crate::error::EncodeError;
use crate::types::{PacketType, ProtocolVersion};
use crate::wire;

pub(crate) mod ack;
pub mod auth;
pub mod connack;
pub mod connect;
pub mod disconnect;
pub mod ping;
pub mod puback;
pub mod pubcomp;
pub mod publish;
pub mod pubrec;
pub mod pubrel;
pub mod suback;
pub mod subscribe;
pub mod unsuback;
pub mod unsubscribe;

pub use self::ack::AckProperties;
pub use self::auth::{Auth, AuthProperties};
pub use self::connack::{ConnAck, ConnAckProperties};
pub use self::connect::{Connect, ConnectProperties, Will, WillProperties};
pub use self::disconnect::{Disconnect, DisconnectProperties};
pub use self::ping::{PingReq, PingResp};
pub use self::puback::PubAck;
pub use self::pubcomp::PubComp;
pub use self::publish::{Publish, PublishMetadata, PublishProperties, QosPid};
pub use self::pubrec::PubRec;
pub use self::pubrel::PubRel;
pub use self::suback::SubAck;
pub use self::subscribe::{
    RetainHandling, Subscribe, SubscribeProperties, Subscription, SubscriptionOptions,
};
pub use self::unsuback::UnsubAck;
pub use self::unsubscribe::{Unsubscribe, UnsubscribeProperties};

/// Any MQTT control packet. CONNECT and CONNACK are boxed: they are rare and large, and
/// this keeps the enum small for the PUBLISH/acknowledgement hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT.
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(Box<ConnAck>),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubAck),
    /// PUBREC.
    PubRec(PubRec),
    /// PUBREL.
    PubRel(PubRel),
    /// PUBCOMP.
    PubComp(PubComp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (MQTT 5 only).
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }

    /// Total encoded size (fixed header included) for `version`, e.g. to compare with a
    /// peer's Maximum Packet Size before writing. CONNECT uses its own protocol version.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        match self {
            Self::Connect(p) => p.encoded_len(),
            Self::ConnAck(p) => p.encoded_len(version),
            Self::Publish(p) => p.encoded_len(version),
            Self::PubAck(p) => p.encoded_len(version),
            Self::PubRec(p) => p.encoded_len(version),
            Self::PubRel(p) => p.encoded_len(version),
            Self::PubComp(p) => p.encoded_len(version),
            Self::Subscribe(p) => p.encoded_len(version),
            Self::SubAck(p) => p.encoded_len(version),
            Self::Unsubscribe(p) => p.encoded_len(version),
            Self::UnsubAck(p) => p.encoded_len(version),
            Self::PingReq => PingReq.encoded_len(version),
            Self::PingResp => PingResp.encoded_len(version),
            Self::Disconnect(p) => p.encoded_len(version),
            Self::Auth(p) => p.encoded_len(version),
        }
    }

    /// Appends the packet encoded for `version` to `buf` (CONNECT uses its own protocol
    /// version). On error nothing is written.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Connect(p) => p.encode(buf),
            Self::ConnAck(p) => p.encode(version, buf),
            Self::Publish(p) => p.encode(version, buf),
            Self::PubAck(p) => p.encode(version, buf),
            Self::PubRec(p) => p.encode(version, buf),
            Self::PubRel(p) => p.encode(version, buf),
            Self::PubComp(p) => p.encode(version, buf),
            Self::Subscribe(p) => p.encode(version, buf),
            Self::SubAck(p) => p.encode(version, buf),
            Self::Unsubscribe(p) => p.encode(version, buf),
            Self::UnsubAck(p) => p.encode(version, buf),
            Self::PingReq => PingReq.encode(version, buf),
            Self::PingResp => PingResp.encode(version, buf),
            Self::Disconnect(p) => p.encode(version, buf),
            Self::Auth(p) => p.encode(version, buf),
        }
    }
}

macro_rules! impl_from_packet {
    ($($variant:ident($ty:ty)),+) => {$(
        impl From<$ty> for Packet {
            fn from(p: $ty) -> Self {
                Self::$variant(p)
            }
        }
    )+};
}

impl_from_packet!(
    Publish(Publish),
    PubAck(PubAck),
    PubRec(PubRec),
    PubRel(PubRel),
    PubComp(PubComp),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    Disconnect(Disconnect),
    Auth(Auth)
);

impl From<Connect> for Packet {
    fn from(p: Connect) -> Self {
        Self::Connect(Box::new(p))
    }
}

impl From<ConnAck> for Packet {
    fn from(p: ConnAck) -> Self {
        Self::ConnAck(Box::new(p))
    }
}

impl From<PingReq> for Packet {
    fn from(_: PingReq) -> Self {
        Self::PingReq
    }
}

impl From<PingResp> for Packet {
    fn from(_: PingResp) -> Self {
        Self::PingResp
    }
}

/// Sizes computed before writing: the remaining length and up to two property blocks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lens {
    /// Remaining length of the packet.
    pub(crate) remaining: usize,
    /// Body length of the main property block.
    pub(crate) props: usize,
    /// Body length of a second property block (CONNECT's Will Properties).
    pub(crate) extra: usize,
}

/// Implemented by each packet: compute sizes (validating), then write without failing.
pub(crate) trait Encode {
    /// Validates the packet for `version` and computes its sizes.
    fn lens(&self, version: ProtocolVersion) -> Result<Lens, EncodeError>;
    /// Writes the whole packet (fixed header included).
    fn write(&self, version: ProtocolVersion, lens: Lens, buf: &mut BytesMut);
}

/// Total encoded size.
pub(crate) fn encoded_len<E: Encode>(p: &E, v: ProtocolVersion) -> Result<usize, EncodeError> {
    wire::packet_len(p.lens(v)?.remaining)
}

/// Validates, reserves and writes.
pub(crate) fn encode<E: Encode>(
    p: &E,
    v: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let lens = p.lens(v)?;
    let total = wire::packet_len(lens.remaining)?;
    buf.reserve(total);
    let before = buf.len();
    p.write(v, lens, buf);
    debug_assert_eq!(buf.len() - before, total, "encoded length mismatch");
    Ok(())
}

/// Adds the public `encode` / `encoded_len` methods to a packet struct.
macro_rules! encode_api {
    ($ty:ty) => {
        impl $ty {
            /// Total encoded size (fixed header included) for `version`.
            pub fn encoded_len(
                &self,
                version: $crate::ProtocolVersion,
            ) -> Result<usize, $crate::EncodeError> {
                $crate::packet::encoded_len(self, version)
            }

            /// Appends the packet encoded for `version` to `buf`; nothing is written on error.
            pub fn encode(
                &self,
                version: $crate::ProtocolVersion,
                buf: &mut ::bytes::BytesMut,
            ) -> Result<(), $crate::EncodeError> {
                $crate::packet::encode(self, version, buf)
            }
        }
    };
}
pub(crate) use encode_api;

/// Checks that a reason code is one the spec lists for `packet` (encode side).
pub(crate) fn check_reason(code: crate::ReasonCode, packet: PacketType) -> Result<(), EncodeError> {
    if code.allowed_in(packet) {
        Ok(())
    } else {
        Err(EncodeError::Invalid(
            "reason code not allowed in this packet",
        ))
    }
}

/// Reads a reason code and checks the spec lists it for the reader's packet (MQTT 5).
pub(crate) fn read_reason(
    r: &mut wire::Reader<'_>,
) -> Result<crate::ReasonCode, crate::DecodeError> {
    let packet_type = r.packet_type();
    let code = r.read_u8()?;
    crate::ReasonCode::from_u8(code)
        .filter(|c| c.allowed_in(packet_type))
        .ok_or(crate::DecodeError::InvalidReasonCode { packet_type, code })
}
