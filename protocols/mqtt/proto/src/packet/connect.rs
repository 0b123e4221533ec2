//! CONNECT (§3.1): the first packet a client sends.
//!
//! Layout: fixed header `0x10`, remaining length; variable header = protocol name
//! (`"MQTT"`, or `"MQIsdp"` for 3.1), protocol level (3, 4 or 5), connect flags, keep alive
//! (2 bytes), MQTT 5 properties; payload = client identifier, then (with the will flag) the
//! MQTT 5 Will Properties, Will Topic and Will Payload, then the User Name and the Password
//! when their flags are set.
//!
//! Connect flags: bit 7 user name, bit 6 password, bit 5 will retain, bits 4-3 will QoS,
//! bit 2 will flag, bit 1 clean start (clean session before 5.0), bit 0 reserved (must be 0).
//! Will QoS and Will Retain must be 0 without the will flag; before MQTT 5 the password flag
//! requires the user name flag.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::{Encode, Lens};
use crate::property::{
    self, PayloadFormat, PropertyContext, PropertyId, PropertySet, PropertyValue, UserProperty,
    take,
};
use crate::string::MqttString;
use crate::topic::TopicName;
use crate::types::{ProtocolVersion, QoS};
use crate::wire::{self, Reader};

const FLAG_USERNAME: u8 = 0x80;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_WILL_RETAIN: u8 = 0x20;
const FLAG_WILL: u8 = 0x04;
const FLAG_CLEAN_START: u8 = 0x02;
const FLAG_RESERVED: u8 = 0x01;

/// CONNECT: a client's request to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol version requested (decoded from the protocol name and level).
    pub protocol: ProtocolVersion,
    /// Clean Start (MQTT 5) / Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep alive in seconds (0 disables it).
    pub keep_alive: u16,
    /// Client identifier (may be empty; whether that is accepted is the server's call).
    pub client_id: MqttString,
    /// The Will Message, if the will flag is set.
    pub will: Option<Will>,
    /// User name.
    pub username: Option<MqttString>,
    /// Password (binary data).
    pub password: Option<Bytes>,
    /// CONNECT properties (MQTT 5).
    pub properties: ConnectProperties,
}

impl Connect {
    /// A CONNECT with clean start, no will, credentials or properties.
    pub fn new(protocol: ProtocolVersion, client_id: MqttString, keep_alive: u16) -> Self {
        Self {
            protocol,
            clean_start: true,
            keep_alive,
            client_id,
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
        }
    }

    /// Total encoded size (fixed header included), using `self.protocol`.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        crate::packet::encoded_len(self, self.protocol)
    }

    /// Appends the packet encoded for `self.protocol` to `buf`; nothing is written on error.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        crate::packet::encode(self, self.protocol, buf)
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name = r.read_binary()?;
        let level = r.read_u8()?;
        let protocol = match (&name[..], level) {
            (b"MQTT", 4) => ProtocolVersion::V3_1_1,
            (b"MQTT", 5) => ProtocolVersion::V5,
            (b"MQIsdp", 3) => ProtocolVersion::V3_1,
            (b"MQTT" | b"MQIsdp", _) => return Err(DecodeError::UnsupportedProtocolVersion(level)),
            _ => return Err(DecodeError::InvalidProtocolName),
        };
        let flags = r.read_u8()?;
        let will_flag = flags & FLAG_WILL != 0;
        let will_qos_bits = (flags >> 3) & 0b11;
        let will_retain = flags & FLAG_WILL_RETAIN != 0;
        if flags & FLAG_RESERVED != 0
            || (!will_flag && (will_qos_bits != 0 || will_retain))
            || will_qos_bits == 3
        {
            return Err(DecodeError::InvalidConnectFlags(flags));
        }
        let has_username = flags & FLAG_USERNAME != 0;
        let has_password = flags & FLAG_PASSWORD != 0;
        if has_password && !has_username && !protocol.is_v5() {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = r.read_u16()?;
        let properties = if protocol.is_v5() {
            property::read::<ConnectProperties>(r, PropertyContext::Connect)?
        } else {
            ConnectProperties::default()
        };
        let client_id = r.read_string()?;
        let will = if will_flag {
            let properties = if protocol.is_v5() {
                property::read::<WillProperties>(r, PropertyContext::Will)?
            } else {
                WillProperties::default()
            };
            let topic = TopicName::new(r.read_string()?)?;
            let payload = r.read_binary()?;
            let qos = QoS::from_u8(will_qos_bits).ok_or(DecodeError::InvalidConnectFlags(flags))?;
            Some(Will {
                topic,
                payload,
                qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if has_username {
            Some(r.read_string()?)
        } else {
            None
        };
        let password = if has_password {
            Some(r.read_binary()?)
        } else {
            None
        };
        r.expect_end()?;
        Ok(Self {
            protocol,
            clean_start: flags & FLAG_CLEAN_START != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.username.is_some() {
            flags |= FLAG_USERNAME;
        }
        if self.password.is_some() {
            flags |= FLAG_PASSWORD;
        }
        if let Some(will) = &self.will {
            flags |= FLAG_WILL | (will.qos.as_u8() << 3);
            if will.retain {
                flags |= FLAG_WILL_RETAIN;
            }
        }
        if self.clean_start {
            flags |= FLAG_CLEAN_START;
        }
        flags
    }
}

impl Encode for Connect {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if self.password.is_some() && self.username.is_none() && !v.is_v5() {
            return Err(EncodeError::Invalid(
                "password without user name before MQTT 5",
            ));
        }
        let mut lens = Lens::default();
        // Protocol name, level, flags, keep alive.
        let mut n = 2 + v.protocol_name().len() + 1 + 1 + 2;
        if v.is_v5() {
            self.properties.validate()?;
            let (block, body) = property::encoded_len(&self.properties)?;
            n += block;
            lens.props = body;
        }
        n += wire::str_len(&self.client_id);
        if let Some(will) = &self.will {
            if will.topic.is_empty() {
                return Err(EncodeError::Invalid("empty will topic"));
            }
            if v.is_v5() {
                let (block, body) = property::encoded_len(&will.properties)?;
                n += block;
                lens.extra = body;
            }
            n += wire::str_len(&will.topic) + wire::bin_len(&will.payload, "will payload")?;
        }
        if let Some(u) = &self.username {
            n += wire::str_len(u);
        }
        if let Some(p) = &self.password {
            n += wire::bin_len(p, "password")?;
        }
        lens.remaining = n;
        Ok(lens)
    }

    fn write(&self, v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0x10, lens.remaining);
        wire::put_bin(buf, v.protocol_name().as_bytes());
        buf.put_u8(v.level());
        buf.put_u8(self.flags());
        buf.put_u16(self.keep_alive);
        if v.is_v5() {
            property::write(buf, &self.properties, lens.props);
        }
        wire::put_str(buf, &self.client_id);
        if let Some(will) = &self.will {
            if v.is_v5() {
                property::write(buf, &will.properties, lens.extra);
            }
            wire::put_str(buf, &will.topic);
            wire::put_bin(buf, &will.payload);
        }
        if let Some(u) = &self.username {
            wire::put_str(buf, u);
        }
        if let Some(p) = &self.password {
            wire::put_bin(buf, p);
        }
    }
}

/// The Will Message carried in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will Topic (non-empty, no wildcards).
    pub topic: TopicName,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will Properties (MQTT 5).
    pub properties: WillProperties,
}

impl Will {
    /// A QoS 0, non-retained will without properties.
    pub fn new(topic: TopicName, payload: Bytes) -> Self {
        Self {
            topic,
            payload,
            qos: QoS::AtMostOnce,
            retain: false,
            properties: WillProperties::default(),
        }
    }
}

/// CONNECT properties (MQTT 5, §3.1.2.11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// 0x11 Session Expiry Interval in seconds (absent means 0).
    pub session_expiry_interval: Option<u32>,
    /// 0x15 Authentication Method (enhanced authentication).
    pub authentication_method: Option<MqttString>,
    /// 0x16 Authentication Data (requires an Authentication Method).
    pub authentication_data: Option<Bytes>,
    /// 0x17 Request Problem Information.
    pub request_problem_information: Option<bool>,
    /// 0x19 Request Response Information.
    pub request_response_information: Option<bool>,
    /// 0x21 Receive Maximum (absent means 65,535).
    pub receive_maximum: Option<NonZeroU16>,
    /// 0x22 Topic Alias Maximum (absent means 0).
    pub topic_alias_maximum: Option<u16>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
    /// 0x27 Maximum Packet Size the client accepts (absent means no limit).
    pub maximum_packet_size: Option<NonZeroU32>,
}

impl ConnectProperties {
    fn validate(&self) -> Result<(), EncodeError> {
        if self.authentication_data.is_some() && self.authentication_method.is_none() {
            return Err(EncodeError::Invalid("authentication data without method"));
        }
        Ok(())
    }
}

impl PropertySet for ConnectProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        use PropertyId as P;
        match id {
            P::SessionExpiryInterval => self.session_expiry_interval = Some(take::u32(id, v)?),
            P::AuthenticationMethod => self.authentication_method = Some(take::string(id, v)?),
            P::AuthenticationData => self.authentication_data = Some(take::binary(id, v)?),
            P::RequestProblemInformation => {
                self.request_problem_information = Some(take::bool(id, v)?);
            }
            P::RequestResponseInformation => {
                self.request_response_information = Some(take::bool(id, v)?);
            }
            P::ReceiveMaximum => self.receive_maximum = Some(take::nonzero_u16(id, v)?),
            P::TopicAliasMaximum => self.topic_alias_maximum = Some(take::u16(id, v)?),
            P::UserProperty => self.user_properties.push(take::pair(id, v)?),
            P::MaximumPacketSize => self.maximum_packet_size = Some(take::nonzero_u32(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn check(&self) -> Result<(), DecodeError> {
        if self.authentication_data.is_some() && self.authentication_method.is_none() {
            return Err(DecodeError::AuthDataWithoutMethod);
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        use property::len;
        Ok(len::four(&self.session_expiry_interval)
            + len::string(&self.authentication_method)
            + len::binary(&self.authentication_data, "authentication data")?
            + len::byte(&self.request_problem_information)
            + len::byte(&self.request_response_information)
            + len::two(&self.receive_maximum)
            + len::two(&self.topic_alias_maximum)
            + len::users(&self.user_properties)
            + len::four(&self.maximum_packet_size))
    }

    fn write(&self, buf: &mut BytesMut) {
        use PropertyId as P;
        use property::put;
        put::four(buf, P::SessionExpiryInterval, self.session_expiry_interval);
        put::string(buf, P::AuthenticationMethod, &self.authentication_method);
        put::binary(buf, P::AuthenticationData, &self.authentication_data);
        put::flag(
            buf,
            P::RequestProblemInformation,
            self.request_problem_information,
        );
        put::flag(
            buf,
            P::RequestResponseInformation,
            self.request_response_information,
        );
        put::two(
            buf,
            P::ReceiveMaximum,
            self.receive_maximum.map(NonZeroU16::get),
        );
        put::two(buf, P::TopicAliasMaximum, self.topic_alias_maximum);
        put::users(buf, &self.user_properties);
        put::four(
            buf,
            P::MaximumPacketSize,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
    }
}

/// Will Properties (MQTT 5, §3.1.3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WillProperties {
    /// 0x01 Payload Format Indicator.
    pub payload_format_indicator: Option<PayloadFormat>,
    /// 0x02 Message Expiry Interval in seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type.
    pub content_type: Option<MqttString>,
    /// 0x08 Response Topic.
    pub response_topic: Option<TopicName>,
    /// 0x09 Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// 0x18 Will Delay Interval in seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
}

impl PropertySet for WillProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        use PropertyId as P;
        match id {
            P::PayloadFormatIndicator => {
                self.payload_format_indicator = Some(take::payload_format(id, v)?);
            }
            P::MessageExpiryInterval => self.message_expiry_interval = Some(take::u32(id, v)?),
            P::ContentType => self.content_type = Some(take::string(id, v)?),
            P::ResponseTopic => self.response_topic = Some(response_topic(id, v)?),
            P::CorrelationData => self.correlation_data = Some(take::binary(id, v)?),
            P::WillDelayInterval => self.will_delay_interval = Some(take::u32(id, v)?),
            P::UserProperty => self.user_properties.push(take::pair(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        use property::len;
        Ok(len::byte(&self.payload_format_indicator)
            + len::four(&self.message_expiry_interval)
            + len::string(&self.content_type)
            + self
                .response_topic
                .as_ref()
                .map_or(0, |t| 1 + wire::str_len(t))
            + len::binary(&self.correlation_data, "correlation data")?
            + len::four(&self.will_delay_interval)
            + len::users(&self.user_properties))
    }

    fn write(&self, buf: &mut BytesMut) {
        use PropertyId as P;
        use property::put;
        put::byte(
            buf,
            P::PayloadFormatIndicator,
            self.payload_format_indicator.map(|f| f as u8),
        );
        put::four(buf, P::MessageExpiryInterval, self.message_expiry_interval);
        put::string(buf, P::ContentType, &self.content_type);
        put_topic(buf, P::ResponseTopic, &self.response_topic);
        put::binary(buf, P::CorrelationData, &self.correlation_data);
        put::four(buf, P::WillDelayInterval, self.will_delay_interval);
        put::users(buf, &self.user_properties);
    }
}

/// A Response Topic property: a non-empty topic name without wildcards.
pub(crate) fn response_topic(id: PropertyId, v: PropertyValue) -> Result<TopicName, DecodeError> {
    TopicName::new(take::string(id, v)?).map_err(|_| DecodeError::InvalidPropertyValue(id))
}

/// Writes an optional topic-name property.
pub(crate) fn put_topic(buf: &mut BytesMut, id: PropertyId, v: &Option<TopicName>) {
    if let Some(t) = v {
        buf.put_u8(id.as_u8());
        wire::put_str(buf, t);
    }
}
