//! Engine.IO packets ([`Packet`], [`PacketType`], [`MessageData`]) and their
//! string encoding `<type digit>[<data>]`, shared by WebSocket text frames and
//! the polling payloads. Binary messages in string form are `b<base64>` (v4)
//! or `b4<base64>` (v3).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::b64;
use crate::error::Error;
use crate::protocol::ProtocolVersion;
use crate::str::Str;

/// The data of the `ping` / `pong` packets of the upgrade probe.
pub const PROBE: &str = "probe";

/// The seven packet types and their wire numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketType {
    /// 0 — handshake, server to client, with the JSON handshake data.
    Open,
    /// 1 — close the session (a polling client's way to disconnect).
    Close,
    /// 2 — heartbeat ping (server → client in v4, client → server in v3) and upgrade probe.
    Ping,
    /// 3 — heartbeat pong and probe answer.
    Pong,
    /// 4 — application message, text or binary.
    Message,
    /// 5 — completes a transport upgrade.
    Upgrade,
    /// 6 — no operation; ends a pending poll during an upgrade.
    Noop,
}

impl PacketType {
    /// The numeric type (0..=6).
    pub fn number(self) -> u8 {
        match self {
            PacketType::Open => 0,
            PacketType::Close => 1,
            PacketType::Ping => 2,
            PacketType::Pong => 3,
            PacketType::Message => 4,
            PacketType::Upgrade => 5,
            PacketType::Noop => 6,
        }
    }

    /// The type for a number 0..=6.
    pub fn from_number(n: u8) -> Option<Self> {
        Some(match n {
            0 => PacketType::Open,
            1 => PacketType::Close,
            2 => PacketType::Ping,
            3 => PacketType::Pong,
            4 => PacketType::Message,
            5 => PacketType::Upgrade,
            6 => PacketType::Noop,
            _ => return None,
        })
    }

    /// The ASCII digit used in string encodings (`b'0'`..=`b'6'`).
    pub fn digit(self) -> u8 {
        b'0' + self.number()
    }

    /// The type for an ASCII digit `b'0'`..=`b'6'`.
    pub fn from_digit(d: u8) -> Option<Self> {
        d.checked_sub(b'0').and_then(Self::from_number)
    }
}

/// The data of a `message` packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageData {
    /// A UTF-8 text message.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

impl MessageData {
    /// Whether this is binary data.
    pub fn is_binary(&self) -> bool {
        matches!(self, MessageData::Binary(_))
    }

    /// The raw bytes (UTF-8 for text), without copying.
    pub fn into_bytes(self) -> Bytes {
        match self {
            MessageData::Text(s) => s.into_bytes(),
            MessageData::Binary(b) => b,
        }
    }

    /// Length of the data in bytes.
    pub fn len(&self) -> usize {
        match self {
            MessageData::Text(s) => s.len(),
            MessageData::Binary(b) => b.len(),
        }
    }

    /// Whether the data is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One Engine.IO packet.
///
/// Data that the protocol ignores (after `close`, `upgrade` and `noop`) is
/// accepted and dropped on decode, as engine.io does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Packet {
    /// `0` with the handshake JSON (see [`crate::handshake::OpenPacket`]).
    Open(Str),
    /// `1`.
    Close,
    /// `2` with optional data (`probe` for the upgrade probe, usually empty).
    Ping(Str),
    /// `3` with optional data (`probe` in answer to the probe).
    Pong(Str),
    /// `4` with text or binary data.
    Message(MessageData),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

impl Packet {
    /// A text message.
    pub fn text(s: impl Into<Str>) -> Self {
        Packet::Message(MessageData::Text(s.into()))
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Packet::Message(MessageData::Binary(b.into()))
    }

    /// A heartbeat ping without data (`2`).
    pub fn ping() -> Self {
        Packet::Ping(Str::EMPTY)
    }

    /// A heartbeat pong without data (`3`).
    pub fn pong() -> Self {
        Packet::Pong(Str::EMPTY)
    }

    /// The upgrade probe ping (`2probe`), sent by the client on the new transport.
    pub fn probe_ping() -> Self {
        Packet::Ping(Str::from_static(PROBE))
    }

    /// The server's answer to the probe (`3probe`).
    pub fn probe_pong() -> Self {
        Packet::Pong(Str::from_static(PROBE))
    }

    /// Whether this is the upgrade probe ping (`2probe`).
    pub fn is_probe_ping(&self) -> bool {
        matches!(self, Packet::Ping(d) if *d == PROBE)
    }

    /// Whether this is the probe answer (`3probe`).
    pub fn is_probe_pong(&self) -> bool {
        matches!(self, Packet::Pong(d) if *d == PROBE)
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Packet::Message(MessageData::Binary(_)))
    }

    /// The text data carried after the type digit, if any.
    fn text_data(&self) -> Option<&Str> {
        match self {
            Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) => Some(s),
            Packet::Message(MessageData::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// Length in bytes of the string encoding ([`Packet::encode_str`]).
    pub fn encoded_str_len(&self, version: ProtocolVersion) -> usize {
        match self {
            Packet::Message(MessageData::Binary(b)) => {
                binary_str_prefix(version).len() + b64::encoded_len(b.len())
            }
            other => 1 + other.text_data().map_or(0, Str::len),
        }
    }

    /// Appends the string encoding: the type digit and the data, or for a
    /// binary message `b` + base64 (v4) / `b4` + base64 (v3).
    pub fn encode_str(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.reserve(self.encoded_str_len(version));
        match self {
            Packet::Message(MessageData::Binary(b)) => {
                buf.put_slice(binary_str_prefix(version));
                b64::encode_into(b, buf);
            }
            other => {
                buf.put_u8(other.packet_type().digit());
                if let Some(data) = other.text_data() {
                    buf.put_slice(data.as_bytes());
                }
            }
        }
    }

    /// Decodes one packet from its string encoding (a WebSocket text frame, or
    /// one packet of a polling payload).
    pub fn decode_str(version: ProtocolVersion, s: Str) -> Result<Packet, Error> {
        let bytes = s.as_bytes();
        let Some(&first) = bytes.first() else {
            return Err(Error::EmptyPacket);
        };
        if first == b'b' {
            return decode_base64_message(version, &bytes[1..]);
        }
        let ty = PacketType::from_digit(first).ok_or(Error::UnknownPacketType(first))?;
        Ok(match ty {
            PacketType::Open => Packet::Open(after_type(s)),
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(after_type(s)),
            PacketType::Pong => Packet::Pong(after_type(s)),
            PacketType::Message => Packet::Message(MessageData::Text(after_type(s))),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Decodes the v3 binary encoding: a type byte (0..=6, not a digit) then
    /// the data. Only `message` (4) may be binary.
    pub(crate) fn decode_v3_binary(bytes: Bytes) -> Result<Packet, Error> {
        let Some(&first) = bytes.first() else {
            return Err(Error::EmptyPacket);
        };
        match PacketType::from_number(first) {
            Some(PacketType::Message) => Ok(Packet::binary(bytes.slice(1..))),
            Some(other) => Err(Error::BinaryNonMessage(other)),
            None => Err(Error::UnknownPacketType(first)),
        }
    }
}

/// The data after the type digit, sharing the buffer (no reference-count
/// traffic: the buffer is moved, not cloned).
fn after_type(s: Str) -> Str {
    let mut bytes = s.into_bytes();
    bytes.advance(1);
    // The first byte is an ASCII digit, so the rest starts on a character boundary.
    Str::from_utf8_trusted(bytes)
}

/// What precedes the base64 of a binary message in string form.
fn binary_str_prefix(version: ProtocolVersion) -> &'static [u8] {
    match version {
        ProtocolVersion::V4 => b"b",
        ProtocolVersion::V3 => b"b4",
    }
}

/// Decodes what follows the `b` of a base64 binary packet.
fn decode_base64_message(version: ProtocolVersion, rest: &[u8]) -> Result<Packet, Error> {
    let b64 = match version {
        ProtocolVersion::V4 => rest,
        ProtocolVersion::V3 => {
            let (&digit, b64) = rest.split_first().ok_or(Error::UnknownPacketType(b'b'))?;
            match PacketType::from_digit(digit) {
                Some(PacketType::Message) => b64,
                Some(other) => return Err(Error::BinaryNonMessage(other)),
                None => return Err(Error::UnknownPacketType(digit)),
            }
        }
    };
    Ok(Packet::binary(b64::decode(b64)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: ProtocolVersion, p: &Packet) -> Vec<u8> {
        let mut buf = BytesMut::new();
        p.encode_str(v, &mut buf);
        assert_eq!(buf.len(), p.encoded_str_len(v));
        buf.to_vec()
    }

    fn dec(v: ProtocolVersion, s: &'static str) -> Result<Packet, Error> {
        Packet::decode_str(v, Str::from_static(s))
    }

    #[test]
    fn string_encodings_of_every_type() {
        use ProtocolVersion::*;
        for v in [V3, V4] {
            assert_eq!(enc(v, &Packet::Open(Str::from("{}"))), b"0{}");
            assert_eq!(enc(v, &Packet::Close), b"1");
            assert_eq!(enc(v, &Packet::ping()), b"2");
            assert_eq!(enc(v, &Packet::pong()), b"3");
            assert_eq!(enc(v, &Packet::probe_ping()), b"2probe");
            assert_eq!(enc(v, &Packet::probe_pong()), b"3probe");
            assert_eq!(enc(v, &Packet::text("hello")), b"4hello");
            assert_eq!(enc(v, &Packet::Upgrade), b"5");
            assert_eq!(enc(v, &Packet::Noop), b"6");
        }
        assert_eq!(enc(V4, &Packet::binary(vec![1u8, 2, 3, 4])), b"bAQIDBA==");
        assert_eq!(enc(V3, &Packet::binary(vec![1u8, 2, 3, 4])), b"b4AQIDBA==");
    }

    #[test]
    fn decodes_string_packets() {
        use ProtocolVersion::*;
        assert_eq!(dec(V4, "2probe"), Ok(Packet::probe_ping()));
        assert!(dec(V4, "2probe").is_ok_and(|p| p.is_probe_ping()));
        assert!(dec(V4, "3probe").is_ok_and(|p| p.is_probe_pong()));
        assert_eq!(dec(V4, "4"), Ok(Packet::text("")));
        assert_eq!(dec(V4, "4€"), Ok(Packet::text("€")));
        assert_eq!(dec(V4, "bAQIDBA=="), Ok(Packet::binary(vec![1u8, 2, 3, 4])));
        assert_eq!(
            dec(V3, "b4AQIDBA=="),
            Ok(Packet::binary(vec![1u8, 2, 3, 4]))
        );
        // data after close/upgrade/noop is ignored, as engine.io does
        assert_eq!(dec(V4, "1bye"), Ok(Packet::Close));
        assert_eq!(dec(V4, "6x"), Ok(Packet::Noop));
    }

    #[test]
    fn rejects_bad_string_packets() {
        use ProtocolVersion::*;
        assert_eq!(dec(V4, ""), Err(Error::EmptyPacket));
        assert_eq!(dec(V4, "7"), Err(Error::UnknownPacketType(b'7')));
        assert_eq!(dec(V4, "abc"), Err(Error::UnknownPacketType(b'a')));
        assert_eq!(dec(V4, "b!!!"), Err(Error::InvalidBase64));
        assert_eq!(dec(V3, "b"), Err(Error::UnknownPacketType(b'b')));
        assert_eq!(
            dec(V3, "b2AQID"),
            Err(Error::BinaryNonMessage(PacketType::Ping))
        );
        assert_eq!(dec(V3, "b9AQID"), Err(Error::UnknownPacketType(b'9')));
        assert_eq!(dec(V3, "b4A"), Err(Error::InvalidBase64));
    }

    #[test]
    fn v3_binary_encoding() {
        let p = Packet::decode_v3_binary(Bytes::from_static(&[4, 1, 2, 3]));
        assert_eq!(p, Ok(Packet::binary(vec![1u8, 2, 3])));
        assert_eq!(
            Packet::decode_v3_binary(Bytes::new()),
            Err(Error::EmptyPacket)
        );
        assert_eq!(
            Packet::decode_v3_binary(Bytes::from_static(&[2, 1])),
            Err(Error::BinaryNonMessage(PacketType::Ping))
        );
        assert_eq!(
            Packet::decode_v3_binary(Bytes::from_static(&[b'4', 1])),
            Err(Error::UnknownPacketType(b'4'))
        );
    }

    #[test]
    fn packet_type_numbers() {
        for n in 0..=6u8 {
            let t = PacketType::from_number(n);
            assert_eq!(t.map(PacketType::number), Some(n));
            assert_eq!(t.and_then(|t| PacketType::from_digit(t.digit())), t);
        }
        assert_eq!(PacketType::from_number(7), None);
        assert_eq!(PacketType::from_digit(b'/'), None);
    }
}
