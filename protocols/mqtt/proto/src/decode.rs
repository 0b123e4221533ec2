//! Sans-IO decoding: bytes received so far in, `Ok(None)` ("need more") or one packet out.
//!
//! The fixed header is checked as soon as its bytes are there, before the body is buffered:
//! the type and flag nibble from the first byte, then the remaining length (at most four
//! bytes, minimally encoded) and the total size against the caller's maximum. A declared
//! 256 MB packet is therefore rejected after five bytes.
//!
//! Packets carrying no string or binary field (PINGREQ, most acknowledgements) are decoded
//! straight from the buffer and consumed with `advance`: no allocation, no reference count.
//! The others are split off the buffer and frozen, and their strings and payload are
//! zero-copy slices of that frame.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PubAck, PubComp, PubRec, PubRel, Publish, SubAck,
    Subscribe, UnsubAck, Unsubscribe,
};
use crate::types::{PacketType, ProtocolVersion};
use crate::wire::{self, MAX_VAR_INT, Reader};

/// The largest packet the protocol can express: a five-byte fixed header plus the largest
/// remaining length. Use it as `max_packet_size` for "no limit of our own".
pub const MAX_PACKET_SIZE: u32 = MAX_VAR_INT + 5;

/// A parsed fixed header (§2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The flag nibble.
    pub flags: u8,
    /// The remaining length: bytes after the fixed header.
    pub remaining_length: u32,
    /// Length of the fixed header itself (2 to 5 bytes).
    pub header_len: usize,
}

impl FixedHeader {
    /// Total packet size: fixed header plus remaining length.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_length as usize
    }

    /// Parses and checks the fixed header at the start of `buf` for `version` (`None`: the
    /// connection's first packet, which must be CONNECT).
    ///
    /// Checks, in order as the bytes arrive: packet type (0 is reserved, AUTH needs MQTT 5,
    /// only CONNECT may come first), the flag nibble (including QoS 3 and DUP on QoS 0 for
    /// PUBLISH), the remaining length encoding, and `max_packet_size` against the whole
    /// packet. `Ok(None)` means more bytes are needed to finish the header.
    #[inline]
    pub fn parse(
        buf: &[u8],
        version: Option<ProtocolVersion>,
        max_packet_size: u32,
    ) -> Result<Option<Self>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let type_bits = first >> 4;
        let flags = first & 0x0F;
        let packet_type =
            PacketType::from_u8(type_bits).ok_or(DecodeError::InvalidPacketType(type_bits))?;
        match version {
            None if packet_type != PacketType::Connect => {
                return Err(DecodeError::ExpectedConnect(packet_type));
            }
            Some(v) if packet_type == PacketType::Auth && !v.is_v5() => {
                return Err(DecodeError::InvalidPacketType(type_bits));
            }
            _ => {}
        }
        match packet_type.required_flags() {
            Some(required) if flags != required => {
                return Err(DecodeError::InvalidHeaderFlags { packet_type, flags });
            }
            Some(_) => {}
            None => {
                let qos = (flags >> 1) & 0b11;
                if qos == 3 {
                    return Err(DecodeError::InvalidQoS(3));
                }
                if qos == 0 && flags & 0b1000 != 0 {
                    return Err(DecodeError::DupOnQoS0);
                }
            }
        }
        let Some((remaining_length, len_bytes)) = wire::parse_var_int(&buf[1..])? else {
            return Ok(None);
        };
        let header = Self {
            packet_type,
            flags,
            remaining_length,
            header_len: 1 + len_bytes,
        };
        let size = header.packet_len() as u64;
        if size > u64::from(max_packet_size) {
            return Err(DecodeError::PacketTooLarge {
                size,
                max: max_packet_size,
            });
        }
        Ok(Some(header))
    }
}

/// A stateful decoder for one connection: it remembers the protocol version and the limits.
///
/// Server side, start with [`Decoder::new`]: the first packet must be CONNECT, and
/// decoding it sets the version used for everything after. Client side (or after a
/// restart), use [`Decoder::with_version`].
#[derive(Debug, Clone)]
pub struct Decoder {
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
    strict_utf8: bool,
}

impl Decoder {
    /// A decoder expecting CONNECT first, rejecting packets larger than `max_packet_size`
    /// bytes (fixed header included).
    pub fn new(max_packet_size: u32) -> Self {
        Self {
            version: None,
            max_packet_size,
            strict_utf8: false,
        }
    }

    /// A decoder for a connection whose version is already known.
    pub fn with_version(version: ProtocolVersion, max_packet_size: u32) -> Self {
        Self {
            version: Some(version),
            max_packet_size,
            strict_utf8: false,
        }
    }

    /// Also reject strings containing the code points the spec says SHOULD NOT be sent
    /// (U+0001..U+001F, U+007F..U+009F, non-characters) as malformed. Off by default.
    pub fn strict_utf8(mut self, strict: bool) -> Self {
        self.strict_utf8 = strict;
        self
    }

    /// The negotiated version, once known.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Sets the version used for the packets that follow.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = Some(version);
    }

    /// The size limit in force.
    pub fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// Changes the size limit.
    pub fn set_max_packet_size(&mut self, max_packet_size: u32) {
        self.max_packet_size = max_packet_size;
    }

    /// Decodes one packet from the front of `buf`, consuming its bytes.
    ///
    /// `Ok(None)`: the packet is incomplete; nothing is consumed, call again with more
    /// bytes. A decoded CONNECT sets the decoder's version if it had none.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let packet = decode_inner(buf, self.version, self.max_packet_size, self.strict_utf8)?;
        if let (None, Some(Packet::Connect(c))) = (self.version, &packet) {
            self.version = Some(c.protocol);
        }
        Ok(packet)
    }
}

/// Decodes the first packet of a connection, which must be CONNECT. Its protocol level
/// tells the version for the rest of the connection.
pub fn decode_connect(
    buf: &mut BytesMut,
    max_packet_size: u32,
) -> Result<Option<Connect>, DecodeError> {
    match decode_inner(buf, None, max_packet_size, false)? {
        Some(Packet::Connect(c)) => Ok(Some(*c)),
        // `decode_inner` rejects anything but CONNECT when the version is unknown.
        Some(other) => Err(DecodeError::ExpectedConnect(other.packet_type())),
        None => Ok(None),
    }
}

/// Decodes one packet of a connection whose version is `version`.
pub fn decode_packet(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    decode_inner(buf, Some(version), max_packet_size, false)
}

/// Whether decoding may keep slices of the frame (so it is worth freezing it). Packets
/// without strings or binary data are read in place.
fn needs_frame(header: &FixedHeader, version: Option<ProtocolVersion>) -> bool {
    let rl = header.remaining_length;
    let v5 = version.is_some_and(ProtocolVersion::is_v5);
    match header.packet_type {
        PacketType::PingReq | PacketType::PingResp => false,
        // Identifier, reason code, empty property length: no properties up to 4 bytes.
        PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp => {
            v5 && rl > 4
        }
        PacketType::Disconnect | PacketType::Auth => v5 && rl > 2,
        PacketType::ConnAck => v5 && rl > 3,
        PacketType::UnsubAck => v5,
        PacketType::SubAck => v5,
        PacketType::Connect
        | PacketType::Publish
        | PacketType::Subscribe
        | PacketType::Unsubscribe => true,
    }
}

#[inline]
fn decode_inner(
    buf: &mut BytesMut,
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
    strict_utf8: bool,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = FixedHeader::parse(buf, version, max_packet_size)? else {
        return Ok(None);
    };
    let total = header.packet_len();
    if buf.len() < total {
        return Ok(None);
    }
    if needs_frame(&header, version) {
        let frame: Bytes = buf.split_to(total).freeze();
        let mut r = Reader::new(
            &frame,
            Some(&frame),
            header.header_len,
            header.packet_type,
            strict_utf8,
        );
        decode_body(&mut r, &header, version).map(Some)
    } else {
        let packet = {
            let mut r = Reader::new(
                &buf[..total],
                None,
                header.header_len,
                header.packet_type,
                strict_utf8,
            );
            decode_body(&mut r, &header, version)?
        };
        buf.advance(total);
        Ok(Some(packet))
    }
}

#[inline]
fn decode_body(
    r: &mut Reader<'_>,
    header: &FixedHeader,
    version: Option<ProtocolVersion>,
) -> Result<Packet, DecodeError> {
    let Some(v) = version else {
        // Only CONNECT gets past `FixedHeader::parse` without a version.
        return Ok(Packet::Connect(Box::new(Connect::decode(r)?)));
    };
    let packet = match header.packet_type {
        PacketType::Connect => Packet::Connect(Box::new(Connect::decode(r)?)),
        PacketType::ConnAck => Packet::ConnAck(Box::new(ConnAck::decode(r, v)?)),
        PacketType::Publish => Packet::Publish(Publish::decode(r, v, header.flags)?),
        PacketType::PubAck => Packet::PubAck(PubAck::decode(r, v)?),
        PacketType::PubRec => Packet::PubRec(PubRec::decode(r, v)?),
        PacketType::PubRel => Packet::PubRel(PubRel::decode(r, v)?),
        PacketType::PubComp => Packet::PubComp(PubComp::decode(r, v)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(r, v)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(r, v)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(r, v)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(r, v)?),
        PacketType::PingReq => {
            r.expect_end()?;
            Packet::PingReq
        }
        PacketType::PingResp => {
            r.expect_end()?;
            Packet::PingResp
        }
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(r, v)?),
        PacketType::Auth => Packet::Auth(Auth::decode(r)?),
    };
    Ok(packet)
}
