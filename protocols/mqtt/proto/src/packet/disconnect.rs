//! DISCONNECT (§3.14): the last packet of a connection. In 3.1.1 only the client sends it
//! and it is two bytes, `0xE0 0x00`. In MQTT 5 either side sends it, with a reason code and
//! properties; the reason code may be left out when it is 0x00 and there are no properties
//! (remaining length 0), and the property length alone may be left out (remaining length 1).

use bytes::{BufMut, BytesMut};

use crate::UserProperty;
use crate::error::{DecodeError, EncodeError};
use crate::packet::{Encode, Lens, check_reason, encode_api, read_reason};
use crate::property::{self, PropertyContext, PropertyId, PropertySet, PropertyValue, take};
use crate::reason::ReasonCode;
use crate::string::MqttString;
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::{self, Reader};

/// DISCONNECT: closes the connection, with a reason in MQTT 5.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnect {
    /// The reason (MQTT 5; 0x00 is "Normal disconnection").
    pub reason_code: ReasonCode,
    /// DISCONNECT properties (MQTT 5).
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A DISCONNECT with `reason_code` and no properties.
    pub fn new(reason_code: ReasonCode) -> Self {
        Self {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>, v: ProtocolVersion) -> Result<Self, DecodeError> {
        let mut d = Self::default();
        if v.is_v5() && !r.is_empty() {
            d.reason_code = read_reason(r)?;
            if !r.is_empty() {
                d.properties = property::read(r, PropertyContext::Disconnect)?;
            }
        }
        r.expect_end()?;
        Ok(d)
    }
}

impl Encode for Disconnect {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if !v.is_v5() {
            return Ok(Lens::default());
        }
        check_reason(self.reason_code, PacketType::Disconnect)?;
        if self.properties.is_empty() {
            let remaining = usize::from(self.reason_code != ReasonCode::Success);
            return Ok(Lens {
                remaining,
                ..Lens::default()
            });
        }
        let (block, body) = property::encoded_len(&self.properties)?;
        Ok(Lens {
            remaining: 1 + block,
            props: body,
            extra: 0,
        })
    }

    fn write(&self, _v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0xE0, lens.remaining);
        if lens.remaining >= 1 {
            buf.put_u8(self.reason_code.as_u8());
        }
        if lens.remaining >= 2 {
            property::write(buf, &self.properties, lens.props);
        }
    }
}

encode_api!(Disconnect);

/// DISCONNECT properties (MQTT 5, §3.14.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisconnectProperties {
    /// 0x11 Session Expiry Interval (client to server only).
    pub session_expiry_interval: Option<u32>,
    /// 0x1C Server Reference (server to client).
    pub server_reference: Option<MqttString>,
    /// 0x1F Reason String.
    pub reason_string: Option<MqttString>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
}

impl DisconnectProperties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.server_reference.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }
}

impl PropertySet for DisconnectProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        use PropertyId as P;
        match id {
            P::SessionExpiryInterval => self.session_expiry_interval = Some(take::u32(id, v)?),
            P::ServerReference => self.server_reference = Some(take::string(id, v)?),
            P::ReasonString => self.reason_string = Some(take::string(id, v)?),
            P::UserProperty => self.user_properties.push(take::pair(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        use property::len;
        Ok(len::four(&self.session_expiry_interval)
            + len::string(&self.server_reference)
            + len::string(&self.reason_string)
            + len::users(&self.user_properties))
    }

    fn write(&self, buf: &mut BytesMut) {
        use PropertyId as P;
        use property::put;
        put::four(buf, P::SessionExpiryInterval, self.session_expiry_interval);
        put::string(buf, P::ServerReference, &self.server_reference);
        put::string(buf, P::ReasonString, &self.reason_string);
        put::users(buf, &self.user_properties);
    }
}
