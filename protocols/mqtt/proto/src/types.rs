//! Small value types shared by every packet: protocol version, QoS, packet identifier,
//! packet type.

use std::fmt;
use std::num::NonZeroU16;

/// The protocol version negotiated by CONNECT (the "protocol level" byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1 (protocol name `MQIsdp`, level 3). Encoded like 3.1.1 apart from CONNECT.
    V3_1,
    /// MQTT 3.1.1 (protocol name `MQTT`, level 4).
    V3_1_1,
    /// MQTT 5.0 (protocol name `MQTT`, level 5).
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte carried in CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            Self::V3_1 => 3,
            Self::V3_1_1 => 4,
            Self::V5 => 5,
        }
    }

    /// The protocol name carried in CONNECT (`MQIsdp` for 3.1, `MQTT` otherwise).
    pub const fn protocol_name(self) -> &'static str {
        match self {
            Self::V3_1 => "MQIsdp",
            Self::V3_1_1 | Self::V5 => "MQTT",
        }
    }

    /// True for MQTT 5.0, the only version with properties and reason codes.
    pub const fn is_v5(self) -> bool {
        matches!(self, Self::V5)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_1 => "3.1",
            Self::V3_1_1 => "3.1.1",
            Self::V5 => "5.0",
        })
    }
}

/// Quality of service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// QoS 0: at most once.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once.
    AtLeastOnce = 1,
    /// QoS 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// Parses the two-bit QoS value; 3 is not a QoS (the specs call it malformed).
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }

    /// The wire value (0, 1 or 2).
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

/// A non-zero packet identifier (the specs forbid 0 wherever an identifier is carried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// Wraps `value`; `None` for 0.
    pub const fn new(value: u16) -> Option<Self> {
        match NonZeroU16::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The identifier as sent on the wire.
    pub const fn get(self) -> u16 {
        self.0.get()
    }
}

impl From<NonZeroU16> for PacketId {
    fn from(value: NonZeroU16) -> Self {
        Self(value)
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The control packet type: the upper four bits of the first fixed-header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// 1: client request to connect.
    Connect = 1,
    /// 2: connect acknowledgment.
    ConnAck = 2,
    /// 3: publish message.
    Publish = 3,
    /// 4: publish acknowledgment (QoS 1).
    PubAck = 4,
    /// 5: publish received (QoS 2, part 1).
    PubRec = 5,
    /// 6: publish release (QoS 2, part 2).
    PubRel = 6,
    /// 7: publish complete (QoS 2, part 3).
    PubComp = 7,
    /// 8: subscribe request.
    Subscribe = 8,
    /// 9: subscribe acknowledgment.
    SubAck = 9,
    /// 10: unsubscribe request.
    Unsubscribe = 10,
    /// 11: unsubscribe acknowledgment.
    UnsubAck = 11,
    /// 12: ping request.
    PingReq = 12,
    /// 13: ping response.
    PingResp = 13,
    /// 14: disconnect notification.
    Disconnect = 14,
    /// 15: authentication exchange (MQTT 5 only; reserved in 3.1.1).
    Auth = 15,
}

impl PacketType {
    /// Maps the four-bit type value; 0 is reserved and returns `None`.
    pub const fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            15 => Self::Auth,
            _ => return None,
        })
    }

    /// The four-bit type value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The spec's name of the packet, e.g. `"PUBACK"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::ConnAck => "CONNACK",
            Self::Publish => "PUBLISH",
            Self::PubAck => "PUBACK",
            Self::PubRec => "PUBREC",
            Self::PubRel => "PUBREL",
            Self::PubComp => "PUBCOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
            Self::Auth => "AUTH",
        }
    }

    /// The fixed flag nibble required for every type except PUBLISH (whose flags carry
    /// DUP, QoS and RETAIN and return `None`). PUBREL, SUBSCRIBE and UNSUBSCRIBE use `0b0010`.
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            Self::Publish => None,
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
