//! AUTH (§3.15, MQTT 5 only): a step of enhanced authentication.
//!
//! Layout: fixed header `0xF0`, remaining length, reason code (0x00 Success, 0x18 Continue
//! authentication, 0x19 Re-authenticate), properties. Both may be left out when the reason
//! is 0x00 and there are no properties (remaining length 0); a remaining length of 1 is
//! malformed.

use bytes::{BufMut, Bytes, BytesMut};

use crate::UserProperty;
use crate::error::{DecodeError, EncodeError};
use crate::packet::{Encode, Lens, check_reason, encode_api, read_reason};
use crate::property::{self, PropertyContext, PropertyId, PropertySet, PropertyValue, take};
use crate::reason::ReasonCode;
use crate::string::MqttString;
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::{self, Reader};

/// AUTH: one step of an enhanced authentication exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// Success, Continue authentication or Re-authenticate.
    pub reason_code: ReasonCode,
    /// AUTH properties.
    pub properties: AuthProperties,
}

impl Auth {
    /// An AUTH with `reason_code` and no properties.
    pub fn new(reason_code: ReasonCode) -> Self {
        Self {
            reason_code,
            properties: AuthProperties::default(),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut a = Self::default();
        if !r.is_empty() {
            a.reason_code = read_reason(r)?;
            a.properties = property::read(r, PropertyContext::Auth)?;
        }
        r.expect_end()?;
        Ok(a)
    }
}

impl Encode for Auth {
    fn lens(&self, v: ProtocolVersion) -> Result<Lens, EncodeError> {
        if !v.is_v5() {
            return Err(EncodeError::UnsupportedInVersion {
                packet_type: PacketType::Auth,
                version: v,
            });
        }
        check_reason(self.reason_code, PacketType::Auth)?;
        if self.reason_code == ReasonCode::Success && self.properties.is_empty() {
            return Ok(Lens::default());
        }
        let (block, body) = property::encoded_len(&self.properties)?;
        Ok(Lens {
            remaining: 1 + block,
            props: body,
            extra: 0,
        })
    }

    fn write(&self, _v: ProtocolVersion, lens: Lens, buf: &mut BytesMut) {
        wire::put_fixed_header(buf, 0xF0, lens.remaining);
        if lens.remaining > 0 {
            buf.put_u8(self.reason_code.as_u8());
            property::write(buf, &self.properties, lens.props);
        }
    }
}

encode_api!(Auth);

/// AUTH properties (§3.15.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthProperties {
    /// 0x15 Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// 0x16 Authentication Data.
    pub authentication_data: Option<Bytes>,
    /// 0x1F Reason String.
    pub reason_string: Option<MqttString>,
    /// 0x26 User Properties, in order.
    pub user_properties: Vec<UserProperty>,
}

impl AuthProperties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }
}

impl PropertySet for AuthProperties {
    fn apply(&mut self, id: PropertyId, v: PropertyValue) -> Result<(), DecodeError> {
        use PropertyId as P;
        match id {
            P::AuthenticationMethod => self.authentication_method = Some(take::string(id, v)?),
            P::AuthenticationData => self.authentication_data = Some(take::binary(id, v)?),
            P::ReasonString => self.reason_string = Some(take::string(id, v)?),
            P::UserProperty => self.user_properties.push(take::pair(id, v)?),
            _ => return Err(DecodeError::PropertyNotAllowed(id)),
        }
        Ok(())
    }

    fn body_len(&self) -> Result<usize, EncodeError> {
        use property::len;
        Ok(len::string(&self.authentication_method)
            + len::binary(&self.authentication_data, "authentication data")?
            + len::string(&self.reason_string)
            + len::users(&self.user_properties))
    }

    fn write(&self, buf: &mut BytesMut) {
        use PropertyId as P;
        use property::put;
        put::string(buf, P::AuthenticationMethod, &self.authentication_method);
        put::binary(buf, P::AuthenticationData, &self.authentication_data);
        put::string(buf, P::ReasonString, &self.reason_string);
        put::users(buf, &self.user_properties);
    }
}
