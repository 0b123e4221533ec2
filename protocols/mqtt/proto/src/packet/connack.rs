//! CONNACK (§3.2): the server's answer to CONNECT.
//!
//! Layout: fixed header `0x20`, remaining length, acknowledge flags (bit 0 Session Present,
//! bits 7-1 reserved and 0), then the 3.1.1 return code (0..=5) or the MQTT 5 reason code,
//! then MQTT 5 properties. Session Present must be 0 with a failure code.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{BufMut, Bytes, BytesMut};

use crate::UserProperty;
use crate::error::{DecodeError, EncodeError};
use crate::packet::{Encode, Lens, check_reason, encode_api, read_reason};
use crate::property::{self, PropertyContext, PropertyId, PropertySet, PropertyValue, take};
use crate::reason::ReasonCode;
use crate::string::MqttString;
use crate::types::{PacketType, ProtocolVersion, QoS};
use crate::wire::{self, Reader};

/// CONNACK: accepts or refuses a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present: the server resumed a stored session.
    pub session_present: bool,
    /// The outcome. For 3.1.1 the six return codes map onto reason codes (see
    /// [`ReasonCode::to_v3_connack`]); other failures are sent as "server unavailable".
    pub reason_code: ReasonCode,
    /// CONNACK properties (MQTT 5).
    pub properties: ConnAckProperties,
}

impl ConnAck {
    /// A CONNACK with `reason_code` and no properties.
    pub fn new(session_present: bool, reason_code: ReasonCode) -> Self {
        Self {
            session_present,
            reason_code,
            properties: ConnAckProperties::default(),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let flags = r.read_u8()?;
        if flags & 0xFE != 0 {
            return Err(DecodeError::InvalidConnAckFlags(flags));
        }
        let session_present = flags & 1 != 0;
        let (reason_code, properties) = if v.is_v5() {
            let code = read_reason(r)?;
            (
                code,
                property::read::<ConnAckProperties>(r, PropertyContext::ConnAck)?,
            )
        } else {
            let raw = r.read_u8()?;
            let code = ReasonCode::from_v3_connack(raw).ok_or(DecodeError::InvalidReasonCode {
                packet_type: PacketType::ConnAck,
                code: raw,
            })?;
            (code, ConnAckProperties::default())
        };
        if session_present && reason_code.is_error() {
            return Err(DecodeError::SessionPresentOnFailure);
        }
        r.expect_end()?;
        Ok(Self {
            session_present,
            reason_code,
            properties,
        })
    }
}

impl Encode for ConnAck {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if self.session_present && self.reason_code.is_error() {
            return Err(EncodeError::Invalid("session present with a failure code"));
        }
        if !v.is_v5() {
            return Ok(Lens {
                remaining: 2,
                ..Lens::default()
            });
        }
        check_reason(self.reason_code, PacketType::ConnAck)?;
        if self.properties.maximum_qos == Some(QoS::ExactlyOnce) {
            return Err(EncodeError::Invalid("maximum QoS property must be 0 or 1"));
        }
        let (block, body) = property::encoded_len(&self.properties)?;
        Ok(Lens {
            remaining: 2 + block,
            props: body,
            extra: 0,
        })
    }

    fn write(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0x20, lens.remaining);
        buf.put_u8(u8::from(self.session_present));
        if v.is_v5() {
            buf.put_u8(self.reason_code.as_u8());
            property::write(buf, &self.properties, lens.props);
        } else {
            buf.put_u8(self.reason_code.to_v3_connack());
        }
    }
}

encode_api!(ConnAck);

/// CONNACK properties (MQTT 5, §3.2.2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAckProperties {
    /// 0x11 Session Expiry Interval the server uses instead of the client's.
    pub session_expiry_interval: Option<u32>,
    /// 0x12 Assigned Client Identifier (when the client sent an empty one).
    pub assigned_client_identifier: Option<MqttString>,
    /// 0x13 Server Keep Alive, overriding the client's keep alive.
    pub server_keep_alive: Option<u16>,
    /// 0x15 Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// 0x16 Authentication Data.
    pub authentication_data: Option<Bytes>,
    /// 0x1A Response Information (basis for response topics).
    pub response_information: Option<MqttString>,
    /// 0x1C Server Reference (another server to use).
    pub server_reference: Option<MqttString>,
    /// 0x1F Reason String.
    pub reason_string: Option<MqttString>,
    /// 0x21 Receive Maximum of the server.
    pub receive_maximum: Option<NonZeroU16>,
    /// 0x22 Topic Alias Maximum of the server.
    pub topic_alias_maximum: Option<u16>,
    /// 0x24 Maximum QoS (0 or 1; absent means 2).
    pub maximum_qos: Option<QoS>,
    /// 0x25 Retain Available.
    pub retain_available: Option<bool>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
    /// 0x27 Maximum Packet Size the server accepts.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// 0x28 Wildcard Subscription Available.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29 Subscription Identifiers Available.
    pub subscription_identifiers_available: Option<bool>,
    /// 0x2A Shared Subscription Available.
    pub shared_subscription_available: Option<bool>,
}

impl PropertySet for ConnAckProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        use PropertyId as P;
        match id {
            P::SessionExpiryInterval => self.session_expiry_interval = Some(take::u32(id, v)?),
            P::AssignedClientIdentifier => {
                self.assigned_client_identifier = Some(take::string(id, v)?);
            }
            P::ServerKeepAlive => self.server_keep_alive = Some(take::u16(id, v)?),
            P::AuthenticationMethod => self.authentication_method = Some(take::string(id, v)?),
            P::AuthenticationData => self.authentication_data = Some(take::binary(id, v)?),
            P::ResponseInformation => self.response_information = Some(take::string(id, v)?),
            P::ServerReference => self.server_reference = Some(take::string(id, v)?),
            P::ReasonString => self.reason_string = Some(take::string(id, v)?),
            P::ReceiveMaximum => self.receive_maximum = Some(take::nonzero_u16(id, v)?),
            P::TopicAliasMaximum => self.topic_alias_maximum = Some(take::u16(id, v)?),
            P::MaximumQoS => {
                self.maximum_qos = Some(if take::bool(id, v)? {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                });
            }
            P::RetainAvailable => self.retain_available = Some(take::bool(id, v)?),
            P::UserProperty => self.user_properties.push(take::pair(id, v)?),
            P::MaximumPacketSize => self.maximum_packet_size = Some(take::nonzero_u32(id, v)?),
            P::WildcardSubscriptionAvailable => {
                self.wildcard_subscription_available = Some(take::bool(id, v)?);
            }
            P::SubscriptionIdentifierAvailable => {
                self.subscription_identifiers_available = Some(take::bool(id, v)?);
            }
            P::SharedSubscriptionAvailable => {
                self.shared_subscription_available = Some(take::bool(id, v)?);
            }
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        use property::len;
        Ok(len::four(&self.session_expiry_interval)
            + len::string(&self.assigned_client_identifier)
            + len::two(&self.server_keep_alive)
            + len::string(&self.authentication_method)
            + len::binary(&self.authentication_data, "authentication data")?
            + len::string(&self.response_information)
            + len::string(&self.server_reference)
            + len::string(&self.reason_string)
            + len::two(&self.receive_maximum)
            + len::two(&self.topic_alias_maximum)
            + len::byte(&self.maximum_qos)
            + len::byte(&self.retain_available)
            + len::users(&self.user_properties)
            + len::four(&self.maximum_packet_size)
            + len::byte(&self.wildcard_subscription_available)
            + len::byte(&self.subscription_identifiers_available)
            + len::byte(&self.shared_subscription_available))
    }

    fn write(&self, buf: &mut BytesMut) {
        use PropertyId as P;
        use property::put;
        put::four(buf, P::SessionExpiryInterval, self.session_expiry_interval);
        put::string(
            buf,
            P::AssignedClientIdentifier,
            &self.assigned_client_identifier,
        );
        put::two(buf, P::ServerKeepAlive, self.server_keep_alive);
        put::string(buf, P::AuthenticationMethod, &self.authentication_method);
        put::binary(buf, P::AuthenticationData, &self.authentication_data);
        put::string(buf, P::ResponseInformation, &self.response_information);
        put::string(buf, P::ServerReference, &self.server_reference);
        put::string(buf, P::ReasonString, &self.reason_string);
        put::two(
            buf,
            P::ReceiveMaximum,
            self.receive_maximum.map(NonZeroU16::get),
        );
        put::two(buf, P::TopicAliasMaximum, self.topic_alias_maximum);
        put::byte(buf, P::MaximumQoS, self.maximum_qos.map(QoS::as_u8));
        put::flag(buf, P::RetainAvailable, self.retain_available);
        put::users(buf, &self.user_properties);
        put::four(
            buf,
            P::MaximumPacketSize,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        put::flag(
            buf,
            P::WildcardSubscriptionAvailable,
            self.wildcard_subscription_available,
        );
        put::flag(
            buf,
            P::SubscriptionIdentifierAvailable,
            self.subscription_identifiers_available,
        );
        put::flag(
            buf,
            P::SharedSubscriptionAvailable,
            self.shared_subscription_available,
        );
    }
}
