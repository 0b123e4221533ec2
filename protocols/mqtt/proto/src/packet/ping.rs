//! PINGREQ (§3.12) and PINGRESP (§3.13): keep-alive probes. Two bytes each: `0xC0 0x00`
//! and `0xD0 0x00`; no variable header, no payload, identical in every version.

use bytes::{BufMut, BytesMut};

use crate::error::EncodeError;
use crate::packet::{Encode, Lens, encode_api};
use crate::types::ProtocolVersion;

/// PINGREQ: the client is alive and asks for a PINGRESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PingReq;

/// PINGRESP: the server's answer to PINGREQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PingResp;

impl PingReq {
    /// The encoded packet.
    pub const BYTES: [u8; 2] = [0xC0, 0x00];
}

impl PingResp {
    /// The encoded packet.
    pub const BYTES: [u8; 2] = [0xD0, 0x00];
}

impl Encode for PingReq {
    fn lens(&self, _v: ProtocolVersion) -> Result<Lens, EncodeError> {
        Ok(Lens::default())
    }
    fn write(&self, _v: ProtocolVersion, _lens: Lens, buf: &mut BytesMut) {
        buf.put_slice(&Self::BYTES);
    }
}

impl Encode for PingResp {
    fn lens(&self, _v: ProtocolVersion) -> Result<Lens, EncodeError> {
        Ok(Lens::default())
    }
    fn write(&self, _v: ProtocolVersion, _lens: Lens, buf: &mut BytesMut) {
        buf.put_slice(&Self::BYTES);
    }
}

encode_api!(PingReq);
encode_api!(PingResp);
