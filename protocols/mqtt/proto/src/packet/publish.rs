//! PUBLISH (§3.3): an application message, in either direction.
//!
//! Layout: fixed header `0x3X` where the flag nibble is DUP (bit 3), QoS (bits 2-1, never
//! 3) and RETAIN (bit 0), remaining length; variable header = topic name, packet identifier
//! (QoS 1 and 2 only, non-zero), MQTT 5 properties; payload = the rest of the packet.
//!
//! Decoding shares the received buffer: topic, properties and payload are slices of it.

use std::num::NonZeroU16;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use smallvec::SmallVec;

use crate::error::{DecodeError, EncodeError};
use crate::packet::connect::{put_topic, response_topic};
use crate::packet::{Encode, Lens, encode_api};
use crate::property::{
    self, PayloadFormat, PropertyContext, PropertyId, PropertySet, PropertyValue, SubscriptionId,
    UserProperty, take,
};
use crate::string::MqttString;
use crate::topic::TopicName;
use crate::types::{PacketId, ProtocolVersion, QoS};
use crate::wire::{self, Reader};

/// QoS together with the packet identifier it requires: QoS 0 has none, QoS 1 and 2 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QosPid {
    /// QoS 0, no packet identifier.
    #[default]
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(PacketId),
}

impl QosPid {
    /// The QoS level.
    pub const fn qos(self) -> QoS {
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce(_) => QoS::AtLeastOnce,
            Self::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier (QoS 1 and 2).
    pub const fn packet_id(self) -> Option<PacketId> {
        match self {
            Self::AtMostOnce => None,
            Self::AtLeastOnce(id) | Self::ExactlyOnce(id) => Some(id),
        }
    }

    /// Combines a QoS with an identifier; `None` when QoS 1/2 lacks one.
    pub const fn from_parts(qos: QoS, packet_id: Option<PacketId>) -> Option<Self> {
        match (qos, packet_id) {
            (QoS::AtMostOnce, _) => Some(Self::AtMostOnce),
            (QoS::AtLeastOnce, Some(id)) => Some(Self::AtLeastOnce(id)),
            (QoS::ExactlyOnce, Some(id)) => Some(Self::ExactlyOnce(id)),
            _ => None,
        }
    }
}

/// PUBLISH: an application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a re-delivery (QoS 1 and 2 only).
    pub dup: bool,
    /// QoS and packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// Topic name (empty only in MQTT 5 together with a Topic Alias).
    pub topic: TopicName,
    /// PUBLISH properties (MQTT 5).
    pub properties: PublishProperties,
    /// The payload, a slice of the received buffer when decoded.
    pub payload: Bytes,
}

impl Publish {
    /// A QoS 0, non-retained message without properties.
    pub fn new(topic: TopicName, payload: Bytes) -> Self {
        Self {
            dup: false,
            qos_pid: QosPid::AtMostOnce,
            retain: false,
            topic,
            properties: PublishProperties::default(),
            payload,
        }
    }

    /// The QoS level.
    pub fn qos(&self) -> QoS {
        self.qos_pid.qos()
    }

    /// The packet identifier (QoS 1 and 2).
    pub fn packet_id(&self) -> Option<PacketId> {
        self.qos_pid.packet_id()
    }

    /// Writes everything but the payload (fixed header, topic, packet identifier,
    /// properties), so that a large payload can be sent from its own buffer with a vectored
    /// write. The remaining length written counts the payload.
    pub fn encode_head(&self, v: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let lens = self.lens(v)?;
        let total = wire::packet_len(lens.remaining)?;
        buf.reserve(total - self.payload.len());
        self.write_head(v, lens, buf);
        Ok(())
    }

    #[inline]
    pub(crate) fn decode(
        r: &mut Reader<'_>,
        v: ProtocolVersion,
        flags: u8,
    ) -> Result<Self, DecodeError> {
        // Flags were validated with the fixed header (QoS 3 and DUP on QoS 0 rejected).
        let dup = flags & 0b1000 != 0;
        let retain = flags & 0b0001 != 0;
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS(3))?;
        let topic = TopicName::new_allow_empty(r.read_string()?)?;
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            QoS::AtLeastOnce => QosPid::AtLeastOnce(r.read_packet_id()?),
            QoS::ExactlyOnce => QosPid::ExactlyOnce(r.read_packet_id()?),
        };
        let properties = if v.is_v5() {
            property::read::<PublishProperties>(r, PropertyContext::Publish)?
        } else {
            PublishProperties::default()
        };
        if topic.is_empty() && properties.topic_alias.is_none() {
            return Err(DecodeError::EmptyTopicName);
        }
        let payload = r.take_rest()?;
        Ok(Self {
            dup,
            qos_pid,
            retain,
            topic,
            properties,
            payload,
        })
    }

    fn first_byte(&self) -> u8 {
        0x30 | (u8::from(self.dup) << 3) | (self.qos().as_u8() << 1) | u8::from(self.retain)
    }

    fn write_head(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, self.first_byte(), lens.remaining);
        wire::put_str(buf, &self.topic);
        if let Some(id) = self.packet_id() {
            buf.put_u16(id.get());
        }
        if v.is_v5() {
            property::write(buf, &self.properties, lens.props);
        }
    }
}

impl Encode for Publish {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if self.dup && self.qos_pid == QosPid::AtMostOnce {
            return Err(EncodeError::Invalid("DUP set on a QoS 0 PUBLISH"));
        }
        let mut lens = Lens::default();
        let mut n = wire::str_len(&self.topic) + if self.packet_id().is_some() { 2 } else { 0 };
        if v.is_v5() {
            if self.topic.is_empty() && self.properties.topic_alias.is_none() {
                return Err(EncodeError::Invalid("empty topic without a topic alias"));
            }
            let (block, body) = property::encoded_len(&self.properties)?;
            n += block;
            lens.props = body;
        } else if self.topic.is_empty() {
            return Err(EncodeError::Invalid("empty topic before MQTT 5"));
        }
        lens.remaining = n + self.payload.len();
        Ok(lens)
    }

    fn write(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        self.write_head(v, lens, buf);
        buf.put_slice(&self.payload);
    }
}

encode_api!(Publish);

/// PUBLISH properties (MQTT 5, §3.3.2.3).
///
/// The properties a broker changes per delivery (expiry, alias, subscription identifiers)
/// are inline; the application metadata it forwards unchanged (content type, response topic,
/// correlation data, user properties) sits behind an `Arc` in [`PublishProperties::metadata`],
/// so fan-out shares it instead of copying it, and a PUBLISH stays small to move.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// 0x01 Payload Format Indicator.
    pub payload_format_indicator: Option<PayloadFormat>,
    /// 0x02 Message Expiry Interval in seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x23 Topic Alias.
    pub topic_alias: Option<NonZeroU16>,
    /// 0x0B Subscription Identifiers of the matching subscriptions (server to client only;
    /// two fit without allocating).
    pub subscription_identifiers: SmallVec<[SubscriptionId; 2]>,
    /// Content Type, Response Topic, Correlation Data and User Properties; `None` when the
    /// packet has none of them (decoding never yields an empty one).
    pub metadata: Option<Arc<PublishMetadata>>,
}

/// The application metadata of a PUBLISH (MQTT 5), shared between copies of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishMetadata {
    /// 0x03 Content Type.
    pub content_type: Option<MqttString>,
    /// 0x08 Response Topic (a topic name: no wildcards).
    pub response_topic: Option<TopicName>,
    /// 0x09 Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
}

impl PublishMetadata {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.content_type.is_none()
            && self.response_topic.is_none()
            && self.correlation_data.is_none()
            && self.user_properties.is_empty()
    }
}

impl PublishProperties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.payload_format_indicator.is_none()
            && self.message_expiry_interval.is_none()
            && self.topic_alias.is_none()
            && self.subscription_identifiers.is_empty()
            && self.metadata.as_ref().is_none_or(|m| m.is_empty())
    }

    /// The Content Type, if any.
    pub fn content_type(&self) -> Option<&MqttString> {
        self.metadata.as_ref()?.content_type.as_ref()
    }

    /// The Response Topic, if any.
    pub fn response_topic(&self) -> Option<&TopicName> {
        self.metadata.as_ref()?.response_topic.as_ref()
    }

    /// The Correlation Data, if any.
    pub fn correlation_data(&self) -> Option<&Bytes> {
        self.metadata.as_ref()?.correlation_data.as_ref()
    }

    /// The User Properties, in order.
    pub fn user_properties(&self) -> &[UserProperty] {
        self.metadata.as_ref().map_or(&[], |m| &m.user_properties)
    }

    /// Mutable access to the metadata, creating it, or copying it if it is shared.
    pub fn metadata_mut(&mut self) -> &mut PublishMetadata {
        Arc::make_mut(self.metadata.get_or_insert_with(Arc::default))
    }
}

impl PropertySet for PublishProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        use PropertyId as P;
        match id {
            P::PayloadFormatIndicator => {
                self.payload_format_indicator = Some(take::payload_format(id, v)?);
            }
            P::MessageExpiryInterval => self.message_expiry_interval = Some(take::u32(id, v)?),
            P::ContentType => self.metadata_mut().content_type = Some(take::string(id, v)?),
            P::ResponseTopic => self.metadata_mut().response_topic = Some(response_topic(id, v)?),
            P::CorrelationData => {
                self.metadata_mut().correlation_data = Some(take::binary(id, v)?);
            }
            P::SubscriptionIdentifier => {
                self.subscription_identifiers
                    .push(take::subscription_id(id, v)?);
            }
            P::TopicAlias => self.topic_alias = Some(take::nonzero_u16(id, v)?),
            P::UserProperty => self.metadata_mut().user_properties.push(take::pair(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        use property::len;
        let mut n = len::byte(&self.payload_format_indicator)
            + len::four(&self.message_expiry_interval)
            + self
                .subscription_identifiers
                .iter()
                .map(|s| len::var_int(s.get()))
                .sum::<usize>()
            + len::two(&self.topic_alias);
        if let Some(m) = &self.metadata {
            n += len::string(&m.content_type)
                + m.response_topic
                    .as_ref()
                    .map_or(0, |t| 1 + wire::str_len(t))
                + len::binary(&m.correlation_data, "correlation data")?
                + len::users(&m.user_properties);
        }
        Ok(n)
    }

    fn write(&self, buf: &mut BytesMut) {
        use PropertyId as P;
        use property::put;
        let m = self.metadata.as_deref();
        put::byte(
            buf,
            P::PayloadFormatIndicator,
            self.payload_format_indicator.map(|f| f as u8),
        );
        put::four(buf, P::MessageExpiryInterval, self.message_expiry_interval);
        if let Some(m) = m {
            put::string(buf, P::ContentType, &m.content_type);
            put_topic(buf, P::ResponseTopic, &m.response_topic);
            put::binary(buf, P::CorrelationData, &m.correlation_data);
        }
        for id in &self.subscription_identifiers {
            put::var_int(buf, P::SubscriptionIdentifier, id.get());
        }
        put::two(buf, P::TopicAlias, self.topic_alias.map(NonZeroU16::get));
        if let Some(m) = m {
            put::users(buf, &m.user_properties);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_stays_small_enough_to_move_cheaply() {
        // Moves of up to 128 bytes compile to a few vector moves; larger ones call memcpy.
        assert!(
            std::mem::size_of::<Publish>() <= 120,
            "{}",
            std::mem::size_of::<Publish>()
        );
        assert!(std::mem::size_of::<crate::Packet>() <= 128);
    }

    #[test]
    fn metadata_is_shared_and_copied_on_write() {
        let mut props = PublishProperties::default();
        assert!(props.is_empty());
        assert_eq!(props.user_properties(), &[]);
        props.metadata_mut().content_type = MqttString::try_from("json").ok();
        let shared = props.clone();
        assert!(Arc::ptr_eq(
            props.metadata.as_ref().expect("set"),
            shared.metadata.as_ref().expect("set")
        ));
        // Changing one copy leaves the other alone.
        props.metadata_mut().content_type = None;
        assert_eq!(shared.content_type().map(MqttString::as_str), Some("json"));
        assert_eq!(props.content_type(), None);
        // Empty metadata counts as no properties.
        assert!(props.is_empty());
    }
}
