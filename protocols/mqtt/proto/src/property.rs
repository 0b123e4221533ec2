//! MQTT 5 properties (spec §2.2.2): the identifier table with each property's type and the
//! packets it may appear in, the shared value types, and the generic read/write machinery
//! behind the per-packet property structs.
//!
//! Decoding rejects unknown identifiers (Malformed Packet), identifiers not allowed in the
//! packet, duplicates of anything but User Property (and Subscription Identifier in PUBLISH),
//! and the values the spec calls a Protocol Error (0 for Receive Maximum, Maximum Packet
//! Size, Topic Alias and Subscription Identifier; anything but 0/1 for the boolean bytes and
//! Maximum QoS). Encoding writes properties in ascending identifier order.

use std::fmt;
use std::num::NonZeroU32;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::string::MqttString;
use crate::wire::{self, MAX_VAR_INT, Reader};

/// The data type of a property value (spec §2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    /// One byte.
    Byte,
    /// Big-endian `u16`.
    TwoByteInteger,
    /// Big-endian `u32`.
    FourByteInteger,
    /// Variable byte integer.
    VariableByteInteger,
    /// Length-prefixed UTF-8 string.
    Utf8String,
    /// Length-prefixed binary data.
    BinaryData,
    /// Two length-prefixed UTF-8 strings.
    Utf8StringPair,
}

/// Where a property block appears: a packet, or the Will Properties inside CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    /// CONNECT variable header.
    Connect,
    /// CONNACK.
    ConnAck,
    /// PUBLISH.
    Publish,
    /// The Will Properties in the CONNECT payload.
    Will,
    /// PUBACK.
    PubAck,
    /// PUBREC.
    PubRec,
    /// PUBREL.
    PubRel,
    /// PUBCOMP.
    PubComp,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    SubAck,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    UnsubAck,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
}

macro_rules! property_ids {
    ($( $(#[$doc:meta])* $name:ident = $value:literal, $label:literal, $ty:ident,
        [$($ctx:ident),+]; )+) => {
        /// An MQTT 5 property identifier.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PropertyId {
            $( $(#[$doc])* $name = $value, )+
        }

        /// Every property identifier, in ascending order.
        pub const ALL_PROPERTY_IDS: &[PropertyId] = &[$(PropertyId::$name),+];

        impl PropertyId {
            /// Maps an identifier value; `None` for identifiers the spec does not define.
            pub const fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $( $value => Some(Self::$name), )+
                    _ => None,
                }
            }

            /// The spec's name, e.g. `"Topic Alias"`.
            pub const fn name(self) -> &'static str {
                match self { $( Self::$name => $label, )+ }
            }

            /// The value's data type.
            pub const fn value_type(self) -> PropertyType {
                match self { $( Self::$name => PropertyType::$ty, )+ }
            }

            /// Whether the spec allows this property in `ctx`.
            pub const fn allowed_in(self, ctx: PropertyContext) -> bool {
                match self {
                    $( Self::$name => matches!(ctx, $(PropertyContext::$ctx)|+), )+
                }
            }
        }
    };
}

property_ids! {
    /// 0x01 Payload Format Indicator (byte, 0 or 1).
    PayloadFormatIndicator = 0x01, "Payload Format Indicator", Byte, [Publish, Will];
    /// 0x02 Message Expiry Interval (seconds).
    MessageExpiryInterval = 0x02, "Message Expiry Interval", FourByteInteger, [Publish, Will];
    /// 0x03 Content Type.
    ContentType = 0x03, "Content Type", Utf8String, [Publish, Will];
    /// 0x08 Response Topic.
    ResponseTopic = 0x08, "Response Topic", Utf8String, [Publish, Will];
    /// 0x09 Correlation Data.
    CorrelationData = 0x09, "Correlation Data", BinaryData, [Publish, Will];
    /// 0x0B Subscription Identifier (1..=268,435,455).
    SubscriptionIdentifier = 0x0B, "Subscription Identifier", VariableByteInteger,
        [Publish, Subscribe];
    /// 0x11 Session Expiry Interval (seconds).
    SessionExpiryInterval = 0x11, "Session Expiry Interval", FourByteInteger,
        [Connect, ConnAck, Disconnect];
    /// 0x12 Assigned Client Identifier.
    AssignedClientIdentifier = 0x12, "Assigned Client Identifier", Utf8String, [ConnAck];
    /// 0x13 Server Keep Alive (seconds).
    ServerKeepAlive = 0x13, "Server Keep Alive", TwoByteInteger, [ConnAck];
    /// 0x15 Authentication Method.
    AuthenticationMethod = 0x15, "Authentication Method", Utf8String, [Connect, ConnAck, Auth];
    /// 0x16 Authentication Data.
    AuthenticationData = 0x16, "Authentication Data", BinaryData, [Connect, ConnAck, Auth];
    /// 0x17 Request Problem Information (byte, 0 or 1).
    RequestProblemInformation = 0x17, "Request Problem Information", Byte, [Connect];
    /// 0x18 Will Delay Interval (seconds).
    WillDelayInterval = 0x18, "Will Delay Interval", FourByteInteger, [Will];
    /// 0x19 Request Response Information (byte, 0 or 1).
    RequestResponseInformation = 0x19, "Request Response Information", Byte, [Connect];
    /// 0x1A Response Information.
    ResponseInformation = 0x1A, "Response Information", Utf8String, [ConnAck];
    /// 0x1C Server Reference.
    ServerReference = 0x1C, "Server Reference", Utf8String, [ConnAck, Disconnect];
    /// 0x1F Reason String.
    ReasonString = 0x1F, "Reason String", Utf8String,
        [ConnAck, PubAck, PubRec, PubRel, PubComp, SubAck, UnsubAck, Disconnect, Auth];
    /// 0x21 Receive Maximum (non-zero).
    ReceiveMaximum = 0x21, "Receive Maximum", TwoByteInteger, [Connect, ConnAck];
    /// 0x22 Topic Alias Maximum.
    TopicAliasMaximum = 0x22, "Topic Alias Maximum", TwoByteInteger, [Connect, ConnAck];
    /// 0x23 Topic Alias (non-zero).
    TopicAlias = 0x23, "Topic Alias", TwoByteInteger, [Publish];
    /// 0x24 Maximum QoS (byte, 0 or 1).
    MaximumQoS = 0x24, "Maximum QoS", Byte, [ConnAck];
    /// 0x25 Retain Available (byte, 0 or 1).
    RetainAvailable = 0x25, "Retain Available", Byte, [ConnAck];
    /// 0x26 User Property (repeatable, order preserved).
    UserProperty = 0x26, "User Property", Utf8StringPair,
        [Connect, ConnAck, Publish, Will, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck,
         Unsubscribe, UnsubAck, Disconnect, Auth];
    /// 0x27 Maximum Packet Size (non-zero).
    MaximumPacketSize = 0x27, "Maximum Packet Size", FourByteInteger, [Connect, ConnAck];
    /// 0x28 Wildcard Subscription Available (byte, 0 or 1).
    WildcardSubscriptionAvailable = 0x28, "Wildcard Subscription Available", Byte, [ConnAck];
    /// 0x29 Subscription Identifier Available (byte, 0 or 1).
    SubscriptionIdentifierAvailable = 0x29, "Subscription Identifier Available", Byte,
        [ConnAck];
    /// 0x2A Shared Subscription Available (byte, 0 or 1).
    SharedSubscriptionAvailable = 0x2A, "Shared Subscription Available", Byte, [ConnAck];
}

impl PropertyId {
    /// The identifier value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether the property may appear more than once in `ctx`: User Property always,
    /// Subscription Identifier in PUBLISH (one per matching subscription).
    pub const fn repeatable_in(self, ctx: PropertyContext) -> bool {
        matches!(
            (self, ctx),
            (Self::UserProperty, _) | (Self::SubscriptionIdentifier, PropertyContext::Publish)
        )
    }
}

impl fmt::Display for PropertyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), self.as_u8())
    }
}

/// A User Property: a name/value pair of UTF-8 strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserProperty {
    /// The name.
    pub key: MqttString,
    /// The value.
    pub value: MqttString,
}

impl UserProperty {
    /// Builds a pair from two validated strings.
    pub fn new(key: MqttString, value: MqttString) -> Self {
        Self { key, value }
    }
}

/// A subscription identifier: 1..=268,435,455.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(NonZeroU32);

impl SubscriptionId {
    /// The largest identifier (the largest variable byte integer).
    pub const MAX: u32 = MAX_VAR_INT;

    /// Wraps `value`; `None` for 0 or values above [`SubscriptionId::MAX`].
    pub const fn new(value: u32) -> Option<Self> {
        if value > Self::MAX {
            return None;
        }
        match NonZeroU32::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The identifier.
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

/// The Payload Format Indicator value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PayloadFormat {
    /// 0: unspecified bytes.
    #[default]
    Unspecified = 0,
    /// 1: UTF-8 encoded character data.
    Utf8 = 1,
}

/// A decoded property value, before it is stored in a typed field.
#[derive(Debug)]
pub(crate) enum PropertyValue {
    Byte(u8),
    TwoByte(u16),
    FourByte(u32),
    VarInt(u32),
    String(MqttString),
    Binary(Bytes),
    Pair(MqttString, MqttString),
}

impl PropertyValue {
    fn read(r: &mut Reader<'_>, ty: PropertyType) -> Result<Self, DecodeError> {
        Ok(match ty {
            PropertyType::Byte => Self::Byte(r.read_u8()?),
            PropertyType::TwoByteInteger => Self::TwoByte(r.read_u16()?),
            PropertyType::FourByteInteger => Self::FourByte(r.read_u32()?),
            PropertyType::VariableByteInteger => Self::VarInt(r.read_var_int()?),
            PropertyType::Utf8String => Self::String(r.read_string()?),
            PropertyType::BinaryData => Self::Binary(r.read_binary()?),
            PropertyType::Utf8StringPair => Self::Pair(r.read_string()?, r.read_string()?),
        })
    }
}

/// Typed extraction from a [`PropertyValue`]; a mismatch cannot happen because the value
/// was read with the identifier's type, but is reported rather than panicking.
pub(crate) mod take {
    use super::*;

    fn bad(id: PropertyId) -> DecodeError {
        DecodeError::InvalidPropertyValue(id)
    }

    pub(crate) fn u8(id: PropertyId, v: PropertyValue) -> Result<u8, DecodeError> {
        match v {
            PropertyValue::Byte(b) => Ok(b),
            _ => Err(bad(id)),
        }
    }

    /// A byte that must be 0 or 1.
    pub(crate) fn bool(id: PropertyId, v: PropertyValue) -> Result<bool, DecodeError> {
        match u8(id, v)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad(id)),
        }
    }

    pub(crate) fn u16(id: PropertyId, v: PropertyValue) -> Result<u16, DecodeError> {
        match v {
            PropertyValue::TwoByte(x) => Ok(x),
            _ => Err(bad(id)),
        }
    }

    pub(crate) fn nonzero_u16(
        id: PropertyId,
        v: PropertyValue,
    ) -> Result<std::num::NonZeroU16, DecodeError> {
        std::num::NonZeroU16::new(u16(id, v)?).ok_or_else(|| bad(id))
    }

    pub(crate) fn u32(id: PropertyId, v: PropertyValue) -> Result<u32, DecodeError> {
        match v {
            PropertyValue::FourByte(x) => Ok(x),
            _ => Err(bad(id)),
        }
    }

    pub(crate) fn nonzero_u32(id: PropertyId, v: PropertyValue) -> Result<NonZeroU32, DecodeError> {
        NonZeroU32::new(u32(id, v)?).ok_or_else(|| bad(id))
    }

    pub(crate) fn subscription_id(
        id: PropertyId,
        v: PropertyValue,
    ) -> Result<SubscriptionId, DecodeError> {
        match v {
            PropertyValue::VarInt(x) => SubscriptionId::new(x).ok_or_else(|| bad(id)),
            _ => Err(bad(id)),
        }
    }

    pub(crate) fn string(id: PropertyId, v: PropertyValue) -> Result<MqttString, DecodeError> {
        match v {
            PropertyValue::String(s) => Ok(s),
            _ => Err(bad(id)),
        }
    }

    pub(crate) fn binary(id: PropertyId, v: PropertyValue) -> Result<Bytes, DecodeError> {
        match v {
            PropertyValue::Binary(b) => Ok(b),
            _ => Err(bad(id)),
        }
    }

    pub(crate) fn pair(id: PropertyId, v: PropertyValue) -> Result<UserProperty, DecodeError> {
        match v {
            PropertyValue::Pair(key, value) => Ok(UserProperty { key, value }),
            _ => Err(bad(id)),
        }
    }

    pub(crate) fn payload_format(
        id: PropertyId,
        v: PropertyValue,
    ) -> Result<PayloadFormat, DecodeError> {
        Ok(if bool(id, v)? {
            PayloadFormat::Utf8
        } else {
            PayloadFormat::Unspecified
        })
    }
}

/// Implemented by each packet's property struct.
pub(crate) trait PropertySet: Default {
    /// Stores one property (already checked for context and duplicates).
    fn apply(&mut self, id: PropertyId, value: PropertyValue) -> Result<(), DecodeError>;

    /// Rules that involve several properties, checked after the whole block is read.
    fn check(&self) -> Result<(), DecodeError> {
        Ok(())
    }

    /// Length of the property block, without its length prefix.
    fn body_len(&self) -> Result<usize, EncodeError>;

    /// Writes the properties in ascending identifier order.
    fn write(&self, buf: &mut BytesMut);
}

/// Reads a property block (length prefix included) for `ctx`.
pub(crate) fn read<P: PropertySet>(
    r: &mut Reader<'_>,
    ctx: PropertyContext,
) -> Result<P, DecodeError> {
    let len = r.read_var_int()?;
    let mut props = P::default();
    if len == 0 {
        return Ok(props);
    }
    let outer = r.push_limit(len as usize)?;
    // Identifiers are below 64, so one bit each.
    let mut seen: u64 = 0;
    while !r.is_empty() {
        let raw = r.read_var_int()?;
        let id = PropertyId::from_u32(raw).ok_or(DecodeError::UnknownProperty(raw))?;
        if !id.allowed_in(ctx) {
            return Err(DecodeError::PropertyNotAllowed(id));
        }
        if !id.repeatable_in(ctx) {
            let bit = 1u64 << id.as_u8();
            if seen & bit != 0 {
                return Err(DecodeError::DuplicateProperty(id));
            }
            seen |= bit;
        }
        let value = PropertyValue::read(r, id.value_type())?;
        props.apply(id, value)?;
    }
    r.pop_limit(outer);
    props.check()?;
    Ok(props)
}

/// Length of a property block including its variable-byte-integer length prefix.
pub(crate) fn encoded_len<P: PropertySet>(props: &P) -> Result<(usize, usize), EncodeError> {
    let body = props.body_len()?;
    if body > MAX_VAR_INT as usize {
        return Err(EncodeError::PacketTooLarge(body));
    }
    Ok((wire::var_int_len(body) + body, body))
}

/// Writes a property block with its length prefix (`body` from [`encoded_len`]).
pub(crate) fn write<P: PropertySet>(buf: &mut BytesMut, props: &P, body: usize) {
    wire::put_var_int(buf, body);
    props.write(buf);
}

/// Length helpers for optional properties (identifier byte included).
pub(crate) mod len {
    use super::*;

    pub(crate) fn byte<T>(v: &Option<T>) -> usize {
        if v.is_some() { 2 } else { 0 }
    }
    pub(crate) fn two<T>(v: &Option<T>) -> usize {
        if v.is_some() { 3 } else { 0 }
    }
    pub(crate) fn four<T>(v: &Option<T>) -> usize {
        if v.is_some() { 5 } else { 0 }
    }
    pub(crate) fn var_int(v: u32) -> usize {
        1 + wire::var_int_len(v as usize)
    }
    pub(crate) fn string(v: &Option<MqttString>) -> usize {
        v.as_ref().map_or(0, |s| 1 + wire::str_len(s))
    }
    pub(crate) fn binary(v: &Option<Bytes>, field: &'static str) -> Result<usize, EncodeError> {
        v.as_ref()
            .map_or(Ok(0), |b| Ok(1 + wire::bin_len(b, field)?))
    }
    pub(crate) fn users(v: &[UserProperty]) -> usize {
        v.iter()
            .map(|p| 1 + wire::str_len(&p.key) + wire::str_len(&p.value))
            .sum()
    }
}

/// Writers for optional properties.
pub(crate) mod put {
    use super::*;

    pub(crate) fn byte(buf: &mut BytesMut, id: PropertyId, v: Option<u8>) {
        if let Some(v) = v {
            buf.put_u8(id.as_u8());
            buf.put_u8(v);
        }
    }
    pub(crate) fn flag(buf: &mut BytesMut, id: PropertyId, v: Option<bool>) {
        byte(buf, id, v.map(u8::from));
    }
    pub(crate) fn two(buf: &mut BytesMut, id: PropertyId, v: Option<u16>) {
        if let Some(v) = v {
            buf.put_u8(id.as_u8());
            buf.put_u16(v);
        }
    }
    pub(crate) fn four(buf: &mut BytesMut, id: PropertyId, v: Option<u32>) {
        if let Some(v) = v {
            buf.put_u8(id.as_u8());
            buf.put_u32(v);
        }
    }
    pub(crate) fn var_int(buf: &mut BytesMut, id: PropertyId, v: u32) {
        buf.put_u8(id.as_u8());
        wire::put_var_int(buf, v as usize);
    }
    pub(crate) fn string(buf: &mut BytesMut, id: PropertyId, v: &Option<MqttString>) {
        if let Some(s) = v {
            buf.put_u8(id.as_u8());
            wire::put_str(buf, s);
        }
    }
    pub(crate) fn binary(buf: &mut BytesMut, id: PropertyId, v: &Option<Bytes>) {
        if let Some(b) = v {
            buf.put_u8(id.as_u8());
            wire::put_bin(buf, b);
        }
    }
    pub(crate) fn users(buf: &mut BytesMut, v: &[UserProperty]) {
        for p in v {
            buf.put_u8(PropertyId::UserProperty.as_u8());
            wire::put_str(buf, &p.key);
            wire::put_str(buf, &p.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for &id in ALL_PROPERTY_IDS {
            assert_eq!(PropertyId::from_u32(u32::from(id.as_u8())), Some(id));
            assert!(id.as_u8() < 64, "seen-bitmask needs ids below 64");
        }
        assert_eq!(ALL_PROPERTY_IDS.len(), 27);
        assert!(ALL_PROPERTY_IDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(PropertyId::from_u32(0x04), None);
        assert_eq!(
            PropertyId::TopicAlias.value_type(),
            PropertyType::TwoByteInteger
        );
        assert!(PropertyId::WillDelayInterval.allowed_in(PropertyContext::Will));
        assert!(!PropertyId::WillDelayInterval.allowed_in(PropertyContext::Connect));
        assert!(PropertyId::SubscriptionIdentifier.repeatable_in(PropertyContext::Publish));
        assert!(!PropertyId::SubscriptionIdentifier.repeatable_in(PropertyContext::Subscribe));
        assert_eq!(PropertyId::TopicAlias.to_string(), "Topic Alias (0x23)");
    }

    #[test]
    fn subscription_id_bounds() {
        assert_eq!(SubscriptionId::new(0), None);
        assert_eq!(SubscriptionId::new(1).map(SubscriptionId::get), Some(1));
        assert!(SubscriptionId::new(SubscriptionId::MAX).is_some());
        assert_eq!(SubscriptionId::new(SubscriptionId::MAX + 1), None);
    }
}
