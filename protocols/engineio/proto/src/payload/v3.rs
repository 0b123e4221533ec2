//! v3 payloads (engine.io-parser 2.x): the text form `<length>:<packet>...`
//! with lengths in UTF-16 code units (JavaScript's `String.length`), and the
//! binary XHR2 form `<0|1><digit bytes><0xFF><packet>...` with lengths in bytes.

use bytes::{BufMut, Bytes, BytesMut};

use super::digits;
use crate::error::Error;
use crate::packet::{MessageData, Packet, PacketType};
use crate::protocol::ProtocolVersion;
use crate::str::Str;

/// Length prefixes longer than this are rejected: no body within any sane
/// `maxHttpBufferSize` needs more, and it keeps the arithmetic overflow-free.
const MAX_LENGTH_DIGITS: usize = 12;

/// The text form of an empty payload.
const EMPTY_TEXT_PAYLOAD: &[u8] = b"0:";

/// Record marker of a string packet in the binary form.
const MARKER_STRING: u8 = 0;
/// Record marker of a binary packet in the binary form.
const MARKER_BINARY: u8 = 1;
/// Ends the length digits in the binary form.
const LENGTH_END: u8 = 0xFF;

/// Decoder of the text form over a validated UTF-8 body.
#[derive(Debug)]
pub(super) struct TextDecoder {
    text: Str,
    pos: usize,
}

impl TextDecoder {
    pub(super) fn new(text: Str) -> Self {
        TextDecoder { text, pos: 0 }
    }

    pub(super) fn next_packet(&mut self) -> Option<Result<Packet, Error>> {
        loop {
            if self.pos >= self.text.len() {
                return None;
            }
            let (start, end) = match self.next_record() {
                Ok(range) => range,
                Err(e) => return Some(Err(e)),
            };
            self.pos = end;
            // engine.io skips zero-length packets (the empty payload is `0:`).
            if start == end {
                continue;
            }
            let packet = Str::from_utf8_trusted(self.text.bytes().slice(start..end));
            return Some(Packet::decode_str(ProtocolVersion::V3, packet));
        }
    }

    /// Parses `<units>:` at `pos` and returns the byte range of the packet.
    fn next_record(&self) -> Result<(usize, usize), Error> {
        let bytes = self.text.as_bytes();
        let rest = bytes.get(self.pos..).unwrap_or_default();
        let colon = memchr::memchr(b':', rest).ok_or(Error::InvalidLength)?;
        let units = parse_decimal(&rest[..colon])?;
        let start = self.pos + colon + 1;
        let end = advance_utf16(bytes, start, units)?;
        Ok((start, end))
    }
}

/// Parses ASCII decimal digits (at least one, at most [`MAX_LENGTH_DIGITS`]).
fn parse_decimal(digits: &[u8]) -> Result<usize, Error> {
    if digits.is_empty() || digits.len() > MAX_LENGTH_DIGITS {
        return Err(Error::InvalidLength);
    }
    digits.iter().try_fold(0usize, |n, &d| {
        if d.is_ascii_digit() {
            Ok(n * 10 + usize::from(d - b'0'))
        } else {
            Err(Error::InvalidLength)
        }
    })
}

/// Returns the byte offset `units` UTF-16 code units after `start` in valid
/// UTF-8. A count that ends inside a surrogate pair is [`Error::InvalidLength`];
/// running out of input is [`Error::Truncated`].
fn advance_utf16(utf8: &[u8], start: usize, units: usize) -> Result<usize, Error> {
    let rest = utf8.get(start..).unwrap_or_default();
    // Every unit takes at least one byte.
    if units > rest.len() {
        return Err(Error::Truncated);
    }
    // Fast path: all-ASCII stretch, one byte per unit.
    if rest[..units].is_ascii() {
        return Ok(start + units);
    }
    let mut counted = 0usize;
    let mut i = 0usize;
    while counted < units {
        let Some(&lead) = rest.get(i) else {
            return Err(Error::Truncated);
        };
        let (width, cost) = match lead {
            0x00..=0x7F => (1, 1),
            0xC0..=0xDF => (2, 1),
            0xE0..=0xEF => (3, 1),
            _ => (4, 2), // 0xF0..: outside the BMP, a surrogate pair in UTF-16
        };
        counted += cost;
        i += width;
    }
    if counted != units {
        return Err(Error::InvalidLength);
    }
    Ok(start + i)
}

/// Decoder of the binary (XHR2) form.
#[derive(Debug)]
pub(super) struct BinaryDecoder {
    body: Bytes,
    pos: usize,
}

impl BinaryDecoder {
    pub(super) fn new(body: Bytes) -> Self {
        BinaryDecoder { body, pos: 0 }
    }

    pub(super) fn next_packet(&mut self) -> Option<Result<Packet, Error>> {
        if self.pos >= self.body.len() {
            return None;
        }
        Some(self.next_record())
    }

    fn next_record(&mut self) -> Result<Packet, Error> {
        let rest = self.body.get(self.pos..).unwrap_or_default();
        let (&marker, rest) = rest.split_first().ok_or(Error::Truncated)?;
        if marker != MARKER_STRING && marker != MARKER_BINARY {
            return Err(Error::InvalidRecordMarker(marker));
        }
        let end_of_digits = memchr::memchr(LENGTH_END, rest).ok_or(Error::Truncated)?;
        let digit_bytes = &rest[..end_of_digits];
        if digit_bytes.is_empty() || digit_bytes.len() > MAX_LENGTH_DIGITS {
            return Err(Error::InvalidLength);
        }
        let len = digit_bytes.iter().try_fold(0usize, |n, &d| {
            if d <= 9 {
                Ok(n * 10 + usize::from(d))
            } else {
                Err(Error::InvalidLength)
            }
        })?;
        let start = self.pos + 1 + end_of_digits + 1;
        let end = start.checked_add(len).ok_or(Error::Truncated)?;
        if end > self.body.len() {
            return Err(Error::Truncated);
        }
        self.pos = end;
        let data = self.body.slice(start..end);
        if marker == MARKER_STRING {
            Packet::decode_str(ProtocolVersion::V3, Str::from_utf8(data)?)
        } else {
            Packet::decode_v3_binary(data)
        }
    }
}

/// Length of a packet's v3 string form in UTF-16 code units.
fn utf16_len_of(packet: &Packet) -> usize {
    match packet {
        // `b4` + base64: ASCII, one unit per byte.
        Packet::Message(MessageData::Binary(_)) => packet.encoded_str_len(ProtocolVersion::V3),
        Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) => 1 + s.utf16_len(),
        Packet::Message(MessageData::Text(s)) => 1 + s.utf16_len(),
        Packet::Close | Packet::Upgrade | Packet::Noop => 1,
    }
}

/// Writes the text form; binary messages as `b4<base64>`.
pub(super) fn encode_text<'a>(
    packets: impl Iterator<Item = &'a Packet> + Clone,
    buf: &mut BytesMut,
) {
    let mut any = false;
    let mut scratch = [0u8; 20];
    for packet in packets {
        any = true;
        for d in digits(utf16_len_of(packet), &mut scratch) {
            buf.put_u8(b'0' + d);
        }
        buf.put_u8(b':');
        packet.encode_str(ProtocolVersion::V3, buf);
    }
    if !any {
        buf.put_slice(EMPTY_TEXT_PAYLOAD);
    }
}

/// Writes the binary (XHR2) form: string packets as UTF-8 records, binary
/// messages as `0x04` + data records.
pub(super) fn encode_binary<'a>(
    packets: impl Iterator<Item = &'a Packet> + Clone,
    buf: &mut BytesMut,
) {
    let mut scratch = [0u8; 20];
    for packet in packets {
        match packet {
            Packet::Message(MessageData::Binary(data)) => {
                buf.reserve(data.len() + 24);
                buf.put_u8(MARKER_BINARY);
                buf.put_slice(digits(1 + data.len(), &mut scratch));
                buf.put_u8(LENGTH_END);
                buf.put_u8(PacketType::Message.number());
                buf.put_slice(data);
            }
            other => {
                let len = other.encoded_str_len(ProtocolVersion::V3);
                buf.reserve(len + 24);
                buf.put_u8(MARKER_STRING);
                buf.put_slice(digits(len, &mut scratch));
                buf.put_u8(LENGTH_END);
                other.encode_str(ProtocolVersion::V3, buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_advance() {
        let s = "a€😀b".as_bytes(); // units: a=1, €=1, 😀=2, b=1
        assert_eq!(advance_utf16(s, 0, 1), Ok(1));
        assert_eq!(advance_utf16(s, 0, 2), Ok(4));
        assert_eq!(advance_utf16(s, 0, 3), Err(Error::InvalidLength)); // half a surrogate pair
        assert_eq!(advance_utf16(s, 0, 4), Ok(8));
        assert_eq!(advance_utf16(s, 0, 5), Ok(9));
        assert_eq!(advance_utf16(s, 0, 6), Err(Error::Truncated));
        assert_eq!(advance_utf16(s, 4, 2), Ok(8));
        assert_eq!(advance_utf16(s, 9, 0), Ok(9));
    }

    #[test]
    fn decimal_lengths() {
        assert_eq!(parse_decimal(b"6"), Ok(6));
        assert_eq!(parse_decimal(b"006"), Ok(6));
        assert_eq!(parse_decimal(b""), Err(Error::InvalidLength));
        assert_eq!(parse_decimal(b"-1"), Err(Error::InvalidLength));
        assert_eq!(parse_decimal(b"1e3"), Err(Error::InvalidLength));
        assert_eq!(parse_decimal(b"9999999999999"), Err(Error::InvalidLength));
    }
}
