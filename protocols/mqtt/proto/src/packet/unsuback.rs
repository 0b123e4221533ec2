//! UNSUBACK (§3.11): the server's answer to UNSUBSCRIBE.
//!
//! Layout: fixed header `0xB0`, remaining length, packet identifier. MQTT 5 adds properties
//! and a payload of one reason code per topic filter; 3.1.1 has neither (remaining length 2).

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::{AckProperties, Encode, Lens, check_reason, encode_api, read_reason};
use crate::property::{self, PropertyContext};
use crate::reason::ReasonCode;
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{self, Reader};

/// UNSUBACK: confirms an UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The UNSUBSCRIBE's packet identifier.
    pub packet_id: PacketId,
    /// Reason String and User Properties (MQTT 5).
    pub properties: AckProperties,
    /// One code per topic filter (MQTT 5; empty for 3.1.1, where nothing is sent).
    pub reason_codes: Vec<ReasonCode>,
}

impl UnsubAck {
    /// An UNSUBACK without properties.
    pub fn new(packet_id: PacketId, reason_codes: Vec<ReasonCode>) -> Self {
        Self {
            packet_id,
            properties: AckProperties::default(),
            reason_codes,
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.read_packet_id()?;
        if !v.is_v5() {
            r.expect_end()?;
            return Ok(Self::new(packet_id, Vec::new()));
        }
        let properties = property::read::<AckProperties>(r, PropertyContext::UnsubAck)?;
        let mut reason_codes = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            reason_codes.push(read_reason(r)?);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::EmptyPayload(PacketType::UnsubAck));
        }
        Ok(Self {
            packet_id,
            properties,
            reason_codes,
        })
    }
}

impl Encode for UnsubAck {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if !v.is_v5() {
            return Ok(Lens {
                remaining: 2,
                ..Lens::default()
            });
        }
        if self.reason_codes.is_empty() {
            return Err(EncodeError::Invalid("MQTT 5 UNSUBACK without reason codes"));
        }
        for &code in &self.reason_codes {
            check_reason(code, PacketType::UnsubAck)?;
        }
        let (block, body) = property::encoded_len(&self.properties)?;
        Ok(Lens {
            remaining: 2 + block + self.reason_codes.len(),
            props: body,
            extra: 0,
        })
    }

    fn write(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0xB0, lens.remaining);
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            property::write(buf, &self.properties, lens.props);
            for code in &self.reason_codes {
                buf.put_u8(code.as_u8());
            }
        }
    }
}

encode_api!(UnsubAck);
