//! The codec's two error types: [`DecodeError`] (input the specs reject) and
//! [`EncodeError`] (a packet that cannot be put on the wire).

use crate::property::PropertyId;
use crate::reason::ReasonCode;
use crate::types::{PacketType, ProtocolVersion};

/// Why received bytes were rejected.
///
/// Every variant maps onto the MQTT 5 reason code to send before closing
/// ([`DecodeError::reason_code`]): in a CONNACK when the error is in CONNECT, in a
/// DISCONNECT afterwards. MQTT 3.1.1 has no such codes: the server closes the connection
/// (after a CONNACK with return code 1 for [`DecodeError::UnsupportedProtocolVersion`], see
/// [`DecodeError::v3_connack_return_code`]). After any error the input buffer's contents are
/// unspecified and the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A variable byte integer (the remaining length, a property length, a property
    /// identifier, a subscription identifier) uses more than four bytes or is not minimally
    /// encoded.
    #[error("malformed variable byte integer")]
    MalformedVarInt,
    /// The packet, fixed header included, is larger than the receiver's maximum.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Size declared by the fixed header (fixed header included).
        size: u64,
        /// The limit in force.
        max: u32,
    },
    /// The packet type nibble is 0 (reserved) or 15 (AUTH) outside MQTT 5.
    #[error("invalid packet type {0}")]
    InvalidPacketType(u8),
    /// The fixed-header flag nibble has a value the spec forbids for this type.
    #[error("invalid fixed header flags {flags:#06b} for {packet_type}")]
    InvalidHeaderFlags {
        /// The packet type.
        packet_type: PacketType,
        /// The flag nibble received.
        flags: u8,
    },
    /// The first packet on a connection was not CONNECT.
    #[error("expected CONNECT as the first packet, got {0}")]
    ExpectedConnect(PacketType),
    /// A field runs past the end of the packet.
    #[error("{0} packet ends in the middle of a field")]
    UnexpectedEnd(PacketType),
    /// Bytes remain after the last field of the packet.
    #[error("{0} packet has bytes after its last field")]
    TrailingBytes(PacketType),
    /// A UTF-8 string is not well-formed UTF-8 (this includes encoded surrogates).
    #[error("string is not well-formed UTF-8")]
    InvalidUtf8,
    /// A string is longer than 65,535 bytes (only from the constructors: a length prefix
    /// cannot declare more).
    #[error("string of {0} bytes is longer than 65535")]
    StringTooLong(usize),
    /// A UTF-8 string contains U+0000.
    #[error("string contains the null character U+0000")]
    NullCharacter,
    /// A UTF-8 string contains a control character or non-character the spec says
    /// SHOULD NOT be sent (only reported by a decoder in strict UTF-8 mode).
    #[error("string contains the discouraged code point U+{0:04X}")]
    DiscouragedCodePoint(u32),
    /// A QoS field holds 3.
    #[error("invalid QoS value {0}")]
    InvalidQoS(u8),
    /// DUP is set on a QoS 0 PUBLISH.
    #[error("DUP flag set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    /// A topic name is empty where the spec requires at least one character.
    #[error("empty topic name")]
    EmptyTopicName,
    /// A topic name contains a wildcard character (`+` or `#`).
    #[error("topic name contains a wildcard character")]
    WildcardInTopicName,
    /// A topic filter is empty, misplaces `+` or `#`, or is a malformed `$share/` filter.
    #[error("invalid topic filter: {0}")]
    InvalidTopicFilter(&'static str),
    /// A packet identifier is 0 where the spec requires a non-zero one.
    #[error("packet identifier 0 in {0}")]
    ZeroPacketId(PacketType),
    /// The protocol name in CONNECT is neither `MQTT` nor `MQIsdp`.
    #[error("invalid protocol name in CONNECT")]
    InvalidProtocolName,
    /// The protocol level in CONNECT is not supported (or does not fit the name).
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    /// The CONNECT flags byte is inconsistent (reserved bit set, Will QoS or Will Retain
    /// without the Will Flag, Will QoS 3).
    #[error("invalid CONNECT flags {0:#010b}")]
    InvalidConnectFlags(u8),
    /// The password flag is set without the user name flag (forbidden before MQTT 5).
    #[error("password flag set without user name flag")]
    PasswordWithoutUsername,
    /// The CONNACK acknowledge flags byte has reserved bits set.
    #[error("invalid CONNACK flags {0:#010b}")]
    InvalidConnAckFlags(u8),
    /// A CONNACK reports Session Present together with a failure code.
    #[error("CONNACK has session present set with a failure code")]
    SessionPresentOnFailure,
    /// A reason (or return) code that the spec does not define for this packet.
    #[error("reason code 0x{code:02X} is not valid in {packet_type}")]
    InvalidReasonCode {
        /// The packet type.
        packet_type: PacketType,
        /// The code received.
        code: u8,
    },
    /// SUBSCRIBE, UNSUBSCRIBE, SUBACK or UNSUBACK carries no entries.
    #[error("{0} has an empty payload")]
    EmptyPayload(PacketType),
    /// A subscription options byte has reserved bits set.
    #[error("subscription options {0:#010b} have reserved bits set")]
    InvalidSubscriptionOptions(u8),
    /// Retain Handling is 3.
    #[error("retain handling 3 is reserved")]
    InvalidRetainHandling,
    /// No Local is set on a shared subscription.
    #[error("no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// A property identifier the spec does not define.
    #[error("unknown property identifier {0}")]
    UnknownProperty(u32),
    /// A property that the spec does not allow in this packet (or in the Will properties).
    #[error("property {0} is not allowed here")]
    PropertyNotAllowed(PropertyId),
    /// A property included twice where the spec allows it once.
    #[error("property {0} included more than once")]
    DuplicateProperty(PropertyId),
    /// A property value the spec forbids (e.g. Receive Maximum 0, a boolean other than 0/1).
    #[error("invalid value for property {0}")]
    InvalidPropertyValue(PropertyId),
    /// Authentication Data is present without an Authentication Method.
    #[error("authentication data without authentication method")]
    AuthDataWithoutMethod,
}

impl DecodeError {
    /// The MQTT 5 reason code to report for this error (in CONNACK or DISCONNECT).
    pub const fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            UnsupportedProtocolVersion(_) => ReasonCode::UnsupportedProtocolVersion,
            WildcardInTopicName => ReasonCode::TopicNameInvalid,
            InvalidTopicFilter(_) => ReasonCode::TopicFilterInvalid,
            MalformedVarInt
            | InvalidPacketType(_)
            | InvalidHeaderFlags { .. }
            | UnexpectedEnd(_)
            | TrailingBytes(_)
            | InvalidUtf8
            | StringTooLong(_)
            | NullCharacter
            | DiscouragedCodePoint(_)
            | InvalidQoS(_)
            | DupOnQoS0
            | InvalidConnectFlags(_)
            | InvalidConnAckFlags(_)
            | InvalidSubscriptionOptions(_)
            | UnknownProperty(_) => ReasonCode::MalformedPacket,
            ExpectedConnect(_)
            | EmptyTopicName
            | ZeroPacketId(_)
            | InvalidProtocolName
            | PasswordWithoutUsername
            | SessionPresentOnFailure
            | InvalidReasonCode { .. }
            | EmptyPayload(_)
            | InvalidRetainHandling
            | NoLocalOnSharedSubscription
            | PropertyNotAllowed(_)
            | DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | AuthDataWithoutMethod => ReasonCode::ProtocolError,
        }
    }

    /// The MQTT 3.1.1 CONNACK return code to send before closing, if the spec asks for
    /// one: `Some(1)` (unacceptable protocol version) for an unsupported protocol level,
    /// `None` otherwise (3.1.1 servers simply close the connection).
    pub const fn v3_connack_return_code(&self) -> Option<u8> {
        match self {
            Self::UnsupportedProtocolVersion(_) => Some(1),
            _ => None,
        }
    }
}

/// Why a packet could not be encoded. Nothing is written to the buffer when this is
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The remaining length would exceed 268,435,455 bytes.
    #[error("remaining length {0} exceeds the protocol maximum")]
    PacketTooLarge(usize),
    /// A length-prefixed binary field is longer than 65,535 bytes.
    #[error("{field} is {len} bytes, more than 65535")]
    FieldTooLong {
        /// The field's name.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The packet does not exist in this protocol version (AUTH before MQTT 5).
    #[error("{packet_type} cannot be sent with MQTT {version}")]
    UnsupportedInVersion {
        /// The packet type.
        packet_type: PacketType,
        /// The version asked for.
        version: ProtocolVersion,
    },
    /// The packet breaks a rule the decoder enforces (the message says which), so the
    /// peer would reject it.
    #[error("invalid packet: {0}")]
    Invalid(&'static str),
}
