//! SUBSCRIBE (§3.8): a client's request for subscriptions.
//!
//! Layout: fixed header `0x82`, remaining length; variable header = packet identifier
//! (non-zero), MQTT 5 properties; payload = one or more (topic filter, subscription options)
//! pairs. An empty payload is a protocol error.
//!
//! Subscription options byte: bits 1-0 maximum QoS (3 is malformed); MQTT 5 adds bit 2 No
//! Local, bit 3 Retain As Published, bits 5-4 Retain Handling (3 is a protocol error), bits
//! 7-6 reserved. Before MQTT 5, bits 7-2 are reserved. Reserved bits set are malformed.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::{Encode, Lens, encode_api};
use crate::property::{
    self, PropertyContext, PropertyId, PropertySet, PropertyValue, SubscriptionId, UserProperty,
    take,
};
use crate::topic::TopicFilter;
use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};
use crate::wire::{self, Reader};

/// When retained messages are sent for a new subscription (MQTT 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at subscribe time.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not already exist.
    SendAtSubscribeIfNew = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

/// The subscription options byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the client accepts on this subscription.
    pub qos: QoS,
    /// No Local (MQTT 5): do not send the client its own publications.
    pub no_local: bool,
    /// Retain As Published (MQTT 5): keep the RETAIN flag when forwarding.
    pub retain_as_published: bool,
    /// Retain Handling (MQTT 5).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with `qos` and the MQTT 5 flags at their defaults.
    pub fn new(qos: QoS) -> Self {
        Self {
            qos,
            ..Self::default()
        }
    }

    /// Parses the options byte for `version`, rejecting reserved bits, QoS 3 and (MQTT 5)
    /// Retain Handling 3.
    pub fn from_byte(byte: u8, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let reserved = if version.is_v5() { 0xC0 } else { 0xFC };
        if byte & reserved != 0 {
            return Err(DecodeError::InvalidSubscriptionOptions(byte));
        }
        let qos = QoS::from_u8(byte & 0b11).ok_or(DecodeError::InvalidQoS(3))?;
        let retain_handling = match (byte >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        Ok(Self {
            qos,
            no_local: byte & 0b0100 != 0,
            retain_as_published: byte & 0b1000 != 0,
            retain_handling,
        })
    }

    /// The options byte for `version` (before MQTT 5 only the QoS bits are sent).
    pub fn to_byte(self, version: ProtocolVersion) -> u8 {
        let mut byte = self.qos.as_u8();
        if version.is_v5() {
            byte |= (u8::from(self.no_local) << 2)
                | (u8::from(self.retain_as_published) << 3)
                | ((self.retain_handling as u8) << 4);
        }
        byte
    }
}

/// One requested subscription.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// The topic filter.
    pub filter: TopicFilter,
    /// Its options.
    pub options: SubscriptionOptions,
}

impl Subscription {
    /// A subscription with `qos` and default MQTT 5 options.
    pub fn new(filter: TopicFilter, qos: QoS) -> Self {
        Self {
            filter,
            options: SubscriptionOptions::new(qos),
        }
    }
}

/// SUBSCRIBE: requests one or more subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// SUBSCRIBE properties (MQTT 5).
    pub properties: SubscribeProperties,
    /// The subscriptions (at least one).
    pub subscriptions: Vec<Subscription>,
}

impl Subscribe {
    /// A SUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, subscriptions: Vec<Subscription>) -> Self {
        Self {
            packet_id,
            properties: SubscribeProperties::default(),
            subscriptions,
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.read_packet_id()?;
        let properties = if v.is_v5() {
            property::read::<SubscribeProperties>(r, PropertyContext::Subscribe)?
        } else {
            SubscribeProperties::default()
        };
        let mut subscriptions = Vec::new();
        while !r.is_empty() {
            let filter = TopicFilter::new(r.read_string()?)?;
            let options = SubscriptionOptions::from_byte(r.read_u8()?, v)?;
            if options.no_local && filter.shared().is_some() {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            subscriptions.push(Subscription { filter, options });
        }
        if subscriptions.is_empty() {
            return Err(DecodeError::EmptyPayload(PacketType::Subscribe));
        }
        Ok(Self {
            packet_id,
            properties,
            subscriptions,
        })
    }
}

impl Encode for Subscribe {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if self.subscriptions.is_empty() {
            return Err(EncodeError::Invalid("SUBSCRIBE without subscriptions"));
        }
        let mut lens = Lens::default();
        let mut n = 2;
        if v.is_v5() {
            if self
                .subscriptions
                .iter()
                .any(|s| s.options.no_local && s.filter.shared().is_some())
            {
                return Err(EncodeError::Invalid("no local on a shared subscription"));
            }
            let (block, body) = property::encoded_len(&self.properties)?;
            n += block;
            lens.props = body;
        }
        n += self
            .subscriptions
            .iter()
            .map(|s| wire::str_len(&s.filter) + 1)
            .sum::<usize>();
        lens.remaining = n;
        Ok(lens)
    }

    fn write(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0x82, lens.remaining);
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            property::write(buf, &self.properties, lens.props);
        }
        for s in &self.subscriptions {
            wire::put_str(buf, &s.filter);
            buf.put_u8(s.options.to_byte(v));
        }
    }
}

encode_api!(Subscribe);

/// SUBSCRIBE properties (MQTT 5, §3.8.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// 0x0B Subscription Identifier (at most one).
    pub subscription_identifier: Option<SubscriptionId>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
}

impl PropertySet for SubscribeProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        match id {
            PropertyId::SubscriptionIdentifier => {
                self.subscription_identifier = Some(take::subscription_id(id, v)?);
            }
            PropertyId::UserProperty => self.user_properties.push(take::pair(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        Ok(self
            .subscription_identifier
            .map_or(0, |s| property::len::var_int(s.get()))
            + property::len::users(&self.user_properties))
    }

    fn write(&self, buf: &mut BytesMut) {
        if let Some(s) = self.subscription_identifier {
            property::put::var_int(buf, PropertyId::SubscriptionIdentifier, s.get());
        }
        property::put::users(buf, &self.user_properties);
    }
}
