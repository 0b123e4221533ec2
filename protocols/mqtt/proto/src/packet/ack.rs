//! What PUBACK, PUBREC, PUBREL and PUBCOMP share: the layout
//! `packet id [reason code [properties]]`, and [`AckProperties`] (Reason String and User
//! Properties), which SUBACK and UNSUBACK also use.
//!
//! MQTT 5 (§3.4.2): the reason code and property length may be left out when the reason is
//! 0x00 and there are no properties (remaining length 2); the property length alone may be
//! left out (remaining length 3). The encoder uses those short forms.

use bytes::{BufMut, BytesMut};

use crate::UserProperty;
use crate::error::{DecodeError, EncodeError};
use crate::packet::{Lens, check_reason, read_reason};
use crate::property::{self, PropertyContext, PropertyId, PropertySet, PropertyValue, take};
use crate::reason::ReasonCode;
use crate::string::MqttString;
use crate::types::{PacketId, PacketType, ProtocolVersion};
use crate::wire::{self, Reader};

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK (MQTT 5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckProperties {
    /// 0x1F Reason String: human-readable diagnostics.
    pub reason_string: Option<MqttString>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

impl PropertySet for AckProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        match id {
            PropertyId::ReasonString => self.reason_string = Some(take::string(id, v)?),
            PropertyId::UserProperty => self.user_properties.push(take::pair(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        Ok(
            property::len::string(&self.reason_string)
                + property::len::users(&self.user_properties),
        )
    }

    fn write(&self, buf: &mut BytesMut) {
        property::put::string(buf, PropertyId::ReasonString, &self.reason_string);
        property::put::users(buf, &self.user_properties);
    }
}

/// The decoded fields of a PUBACK-like packet.
pub(crate) struct AckFields {
    pub(crate) packet_id: PacketId,
    pub(crate) reason_code: ReasonCode,
    pub(crate) properties: AckProperties,
}

/// Maps a packet type to its property context.
fn context(packet_type: PacketType) -> PropertyContext {
    match packet_type {
        PacketType::PubAck => PropertyContext::PubAck,
        PacketType::PubRec => PropertyContext::PubRec,
        PacketType::PubRel => PropertyContext::PubRel,
        _ => PropertyContext::PubComp,
    }
}

/// Decodes `packet id [reason [properties]]`.
pub(crate) fn decode(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<AckFields, DecodeError> {
    let packet_id = r.read_packet_id()?;
    let mut fields = AckFields {
        packet_id,
        reason_code: ReasonCode::Success,
        properties: AckProperties::default(),
    };
    if v.is_v5() && !r.is_empty() {
        fields.reason_code = read_reason(r)?;
        if !r.is_empty() {
            let ctx = context(r.packet_type());
            fields.properties = property::read(r, ctx)?;
        }
    }
    r.expect_end()?;
    Ok(fields)
}

/// Sizes of a PUBACK-like packet in its shortest form.
pub(crate) fn lens(
    packet_type: PacketType,
    v: ProtocolVersion,
    reason: ReasonCode,
    props: &AckProperties,
) -> Result<Lens, EncodeError> {
    if !v.is_v5() {
        return Ok(Lens {
            remaining: 2,
            ..Lens::default()
        });
    }
    check_reason(reason, packet_type)?;
    if props.is_empty() {
        let remaining = if reason == ReasonCode::Success { 2 } else { 3 };
        return Ok(Lens {
            remaining,
            ..Lens::default()
        });
    }
    let (block, body) = property::encoded_len(props)?;
    Ok(Lens {
        remaining: 3 + block,
        props: body,
        extra: 0,
    })
}

/// Writes a PUBACK-like packet with the sizes from [`lens`].
pub(crate) fn write(
    buf: &mut BytesMut,
    first_byte: u8,
    packet_id: PacketId,
    reason: ReasonCode,
    props: &AckProperties,
    lens: Lens,
) {
    wire::put_fixed_header(buf, first_byte, lens.remaining);
    buf.put_u16(packet_id.get());
    if lens.remaining >= 3 {
        buf.put_u8(reason.as_u8());
    }
    if lens.remaining >= 4 {
        property::write(buf, props, lens.props);
    }
}

/// Defines one of the four PUBACK-like packets.
macro_rules! ack_packet {
    ($(#[$doc:meta])* $name:ident, $ptype:ident, $first:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The packet identifier being acknowledged.
            pub packet_id: $crate::PacketId,
            /// The reason code (MQTT 5; always Success when decoded from 3.1.1).
            pub reason_code: $crate::ReasonCode,
            /// Reason String and User Properties (MQTT 5).
            pub properties: $crate::AckProperties,
        }

        impl $name {
            /// A successful acknowledgement without properties.
            pub fn new(packet_id: $crate::PacketId) -> Self {
                Self {
                    packet_id,
                    reason_code: $crate::ReasonCode::Success,
                    properties: $crate::AckProperties::default(),
                }
            }

            /// An acknowledgement with `reason_code` and no properties.
            pub fn with_reason(packet_id: $crate::PacketId, reason_code: $crate::ReasonCode) -> Self {
                Self { reason_code, ..Self::new(packet_id) }
            }

            pub(crate) fn decode(
                r: &mut $crate::wire::Reader<'_>,
                v: $crate::ProtocolVersion,
            ) -> Result<Self, $crate::DecodeError> {
                let f = $crate::packet::ack::decode(r, v)?;
                Ok(Self { packet_id: f.packet_id, reason_code: f.reason_code, properties: f.properties })
            }
        }

        impl $crate::packet::Encode for $name {
            fn lens(
                &self,
                v: $crate::ProtocolVersion,
            ) -> Result<$crate::packet::Lens, $crate::EncodeError> {
                $crate::packet::ack::lens(
                    $crate::PacketType::$ptype,
                    v,
                    self.reason_code,
                    &self.properties,
                )
            }

            fn write(
                &self,
                _v: $crate::ProtocolVersion,
                lens: $crate::packet::Lens,
                buf: &mut ::bytes::BytesMut,
            ) {
                $crate::packet::ack::write(
                    buf,
                    $first,
                    self.packet_id,
                    self.reason_code,
                    &self.properties,
                    lens,
                );
            }
        }

        $crate::packet::encode_api!($name);
    };
}
pub(crate) use ack_packet;
