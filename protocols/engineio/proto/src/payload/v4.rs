//! v4 payloads: packets in string form separated by `0x1e`.

use bytes::{BufMut, BytesMut};

use super::RECORD_SEPARATOR;
use crate::error::Error;
use crate::packet::Packet;
use crate::protocol::ProtocolVersion;
use crate::str::Str;

/// Splits a validated UTF-8 body at each `0x1e`.
#[derive(Debug)]
pub(super) struct Decoder {
    text: Str,
    pos: usize,
    done: bool,
}

impl Decoder {
    pub(super) fn new(text: Str) -> Self {
        Decoder {
            text,
            pos: 0,
            done: false,
        }
    }

    pub(super) fn next_packet(&mut self) -> Option<Result<Packet, Error>> {
        if self.done {
            return None;
        }
        let rest = self.text.as_bytes().get(self.pos..).unwrap_or_default();
        let end = match memchr::memchr(RECORD_SEPARATOR, rest) {
            Some(i) => self.pos + i,
            None => {
                self.done = true;
                self.text.len()
            }
        };
        // 0x1e is ASCII, so both cuts fall on character boundaries.
        let segment = Str::from_utf8_trusted(self.text.bytes().slice(self.pos..end));
        self.pos = end + 1;
        Some(Packet::decode_str(ProtocolVersion::V4, segment))
    }
}

/// Joins the packets' string forms with `0x1e`, reserving the exact size first.
pub(super) fn encode<'a>(packets: impl Iterator<Item = &'a Packet> + Clone, buf: &mut BytesMut) {
    let total: usize = packets
        .clone()
        .map(|p| p.encoded_str_len(ProtocolVersion::V4) + 1)
        .sum();
    buf.reserve(total);
    for (i, packet) in packets.enumerate() {
        if i > 0 {
            buf.put_u8(RECORD_SEPARATOR);
        }
        packet.encode_str(ProtocolVersion::V4, buf);
    }
}
