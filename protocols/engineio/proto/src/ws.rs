//! WebSocket framing: one packet per WebSocket message.
//!
//! - A text frame holds one packet in string form (`4hello`, `2probe`, and
//!   `b<base64>` / `b4<base64>` for binary when the client asked for base64
//!   with `b64=1`).
//! - A binary frame is a binary message: the raw bytes in v4, a leading
//!   `0x04` type byte then the bytes in v3.
//!
//! The maximum message size is enforced by the WebSocket layer (engine.io
//! passes `maxHttpBufferSize` to `ws` as `maxPayload`), so these functions take
//! complete frames.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::Error;
use crate::packet::{MessageData, Packet, PacketType};
use crate::protocol::ProtocolVersion;
use crate::str::Str;

/// The content of one WebSocket data message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Frame {
    /// A text message.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

impl Frame {
    /// Length of the frame payload in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(s) => s.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// Whether the frame payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decodes a WebSocket message into a packet.
pub fn decode_frame(version: ProtocolVersion, frame: Frame) -> Result<Packet, Error> {
    match frame {
        Frame::Text(text) => Packet::decode_str(version, text),
        Frame::Binary(bytes) => decode_binary_frame(version, bytes),
    }
}

/// Decodes a binary WebSocket message: always a binary `message` packet
/// (v4: the bytes as they are; v3: a `0x04` type byte, then the bytes).
pub fn decode_binary_frame(version: ProtocolVersion, bytes: Bytes) -> Result<Packet, Error> {
    match version {
        ProtocolVersion::V4 => Ok(Packet::binary(bytes)),
        ProtocolVersion::V3 => Packet::decode_v3_binary(bytes),
    }
}

/// Encodes a packet as one WebSocket message.
///
/// `supports_binary` is false when the client connected with `b64=1`; binary
/// messages then travel as base64 text frames. A v4 binary frame shares the
/// message's buffer (no copy); every other frame is written into one
/// exactly-sized allocation.
pub fn encode_frame(version: ProtocolVersion, packet: &Packet, supports_binary: bool) -> Frame {
    match packet {
        Packet::Message(MessageData::Binary(data)) if supports_binary => match version {
            ProtocolVersion::V4 => Frame::Binary(data.clone()),
            ProtocolVersion::V3 => {
                let mut buf = BytesMut::with_capacity(1 + data.len());
                buf.put_u8(PacketType::Message.number());
                buf.put_slice(data);
                Frame::Binary(buf.freeze())
            }
        },
        other => {
            let mut buf = BytesMut::with_capacity(other.encoded_str_len(version));
            other.encode_str(version, &mut buf);
            // A type digit followed by UTF-8 data, or base64: valid UTF-8.
            Frame::Text(Str::from_utf8_trusted(buf.freeze()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;

    #[test]
    fn text_frames() {
        for v in [V3, V4] {
            let f = encode_frame(v, &Packet::text("hello"), true);
            assert_eq!(f, Frame::Text(Str::from("4hello")));
            assert_eq!(decode_frame(v, f), Ok(Packet::text("hello")));
            assert_eq!(
                encode_frame(v, &Packet::probe_pong(), true),
                Frame::Text(Str::from("3probe"))
            );
        }
    }

    #[test]
    fn binary_frames_v4_are_raw_and_share_the_buffer() {
        let data = Bytes::from_static(&[1, 2, 3]);
        let f = encode_frame(V4, &Packet::binary(data.clone()), true);
        match &f {
            Frame::Binary(b) => assert_eq!(b.as_ptr(), data.as_ptr()),
            Frame::Text(_) => panic!("expected a binary frame"),
        }
        assert_eq!(decode_frame(V4, f), Ok(Packet::binary(data)));
        // an empty binary frame is an empty binary message in v4
        assert_eq!(
            decode_binary_frame(V4, Bytes::new()),
            Ok(Packet::binary(Bytes::new()))
        );
    }

    #[test]
    fn binary_frames_v3_carry_a_type_byte() {
        let f = encode_frame(V3, &Packet::binary(vec![1u8, 2, 3]), true);
        assert_eq!(f, Frame::Binary(Bytes::from_static(&[4, 1, 2, 3])));
        assert_eq!(decode_frame(V3, f), Ok(Packet::binary(vec![1u8, 2, 3])));
        assert_eq!(
            decode_binary_frame(V3, Bytes::new()),
            Err(Error::EmptyPacket)
        );
    }

    #[test]
    fn base64_text_frames_when_binary_is_not_supported() {
        let p = Packet::binary(vec![1u8, 2, 3, 4]);
        assert_eq!(
            encode_frame(V4, &p, false),
            Frame::Text(Str::from("bAQIDBA=="))
        );
        assert_eq!(
            encode_frame(V3, &p, false),
            Frame::Text(Str::from("b4AQIDBA=="))
        );
        assert_eq!(
            decode_frame(V4, Frame::Text(Str::from("bAQIDBA=="))),
            Ok(p.clone())
        );
        assert_eq!(
            decode_frame(V3, Frame::Text(Str::from("b4AQIDBA=="))),
            Ok(p)
        );
    }
}
