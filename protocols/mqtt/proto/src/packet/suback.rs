//! SUBACK (§3.9): the server's answer to SUBSCRIBE.
//!
//! Layout: fixed header `0x90`, remaining length; variable header = packet identifier, MQTT 5
//! properties; payload = one code per requested subscription. 3.1.1 return codes are 0x00,
//! 0x01, 0x02 (granted QoS) and 0x80 (failure); MQTT 5 reason codes are those the spec lists
//! for SUBACK.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::{AckProperties, Encode, Lens, check_reason, encode_api, read_reason};
use crate::property::{self, PropertyContext};
use crate::reason::ReasonCode;
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{self, Reader};

/// SUBACK: one result per requested subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The SUBSCRIBE's packet identifier.
    pub packet_id: PacketId,
    /// Reason String and User Properties (MQTT 5).
    pub properties: AckProperties,
    /// One code per subscription, in request order. For 3.1.1 every failure code is sent
    /// as 0x80 and 0x80 decodes as [`ReasonCode::UnspecifiedError`].
    pub reason_codes: Vec<ReasonCode>,
}

impl SubAck {
    /// A SUBACK without properties.
    pub fn new(packet_id: PacketId, reason_codes: Vec<ReasonCode>) -> Self {
        Self {
            packet_id,
            properties: AckProperties::default(),
            reason_codes,
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.read_packet_id()?;
        let properties = if v.is_v5() {
            property::read::<AckProperties>(r, PropertyContext::SubAck)?
        } else {
            AckProperties::default()
        };
        let mut reason_codes = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            let code = if v.is_v5() {
                read_reason(r)?
            } else {
                match r.read_u8()? {
                    0x00 => ReasonCode::Success,
                    0x01 => ReasonCode::GrantedQoS1,
                    0x02 => ReasonCode::GrantedQoS2,
                    0x80 => ReasonCode::UnspecifiedError,
                    code => {
                        return Err(DecodeError::InvalidReasonCode {
                            packet_type: PacketType::SubAck,
                            code,
                        });
                    }
                }
            };
            reason_codes.push(code);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::EmptyPayload(PacketType::SubAck));
        }
        Ok(Self {
            packet_id,
            properties,
            reason_codes,
        })
    }
}

impl Encode for SubAck {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::Invalid("SUBACK without reason codes"));
        }
        let mut lens = Lens::default();
        let mut n = 2 + self.reason_codes.len();
        if v.is_v5() {
            for &code in &self.reason_codes {
                check_reason(code, PacketType::SubAck)?;
            }
            let (block, body) = property::encoded_len(&self.properties)?;
            n += block;
            lens.props = body;
        } else if self
            .reason_codes
            .iter()
            .any(|c| !c.is_error() && c.as_u8() > 2)
        {
            // 3.1.1 knows only the granted QoS codes besides the 0x80 failure.
            return Err(EncodeError::Invalid(
                "reason code not allowed in this packet",
            ));
        }
        lens.remaining = n;
        Ok(lens)
    }

    fn write(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0x90, lens.remaining);
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            property::write(buf, &self.properties, lens.props);
            for code in &self.reason_codes {
                buf.put_u8(code.as_u8());
            }
        } else {
            for code in &self.reason_codes {
                buf.put_u8(if code.is_error() { 0x80 } else { code.as_u8() });
            }
        }
    }
}

encode_api!(SubAck);
