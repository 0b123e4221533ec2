//! UNSUBSCRIBE (§3.10): a client's request to remove subscriptions.
//!
//! Layout: fixed header `0xA2`, remaining length; variable header = packet identifier
//! (non-zero), MQTT 5 properties; payload = one or more topic filters. An empty payload is a
//! protocol error.

use bytes::{BufMut, BytesMut};

use crate::UserProperty;
use crate::error::{DecodeError, EncodeError};
use crate::packet::{Encode, Lens, encode_api};
use crate::property::{self, PropertyContext, PropertyId, PropertySet, PropertyValue, take};
use crate::topic::TopicFilter;
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{self, Reader};

/// UNSUBSCRIBE: removes one or more subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// UNSUBSCRIBE properties (MQTT 5).
    pub properties: UnsubscribeProperties,
    /// The topic filters (at least one).
    pub filters: Vec<TopicFilter>,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, filters: Vec<TopicFilter>) -> Self {
        Self {
            packet_id,
            properties: UnsubscribeProperties::default(),
            filters,
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.read_packet_id()?;
        let properties = if v.is_v5() {
            property::read::<UnsubscribeProperties>(r, PropertyContext::Unsubscribe)?
        } else {
            UnsubscribeProperties::default()
        };
        let mut filters = Vec::new();
        while !r.is_empty() {
            filters.push(TopicFilter::new(r.read_string()?)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::EmptyPayload(PacketType::Unsubscribe));
        }
        Ok(Self {
            packet_id,
            properties,
            filters,
        })
    }
}

impl Encode for Unsubscribe {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Invalid("UNSUBSCRIBE without topic filters"));
        }
        let mut lens = Lens::default();
        let mut n = 2;
        if v.is_v5() {
            let (block, body) = property::encoded_len(&self.properties)?;
            n += block;
            lens.props = body;
        }
        n += self.filters.iter().map(|f| wire::str_len(f)).sum::<usize>();
        lens.remaining = n;
        Ok(lens)
    }

    fn write(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0xA2, lens.remaining);
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            property::write(buf, &self.properties, lens.props);
        }
        for f in &self.filters {
            wire::put_str(buf, f);
        }
    }
}

encode_api!(Unsubscribe);

/// UNSUBSCRIBE properties (MQTT 5, §3.10.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsubscribeProperties {
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
}

impl PropertySet for UnsubscribeProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        match id {
            PropertyId::UserProperty => self.user_properties.push(take::pair(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        Ok(property::len::users(&self.user_properties))
    }

    fn write(&self, buf: &mut BytesMut) {
        property::put::users(buf, &self.user_properties);
    }
}
