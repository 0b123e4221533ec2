//! Primitive wire encodings (spec §1.5): integers, variable byte integers, length-prefixed
//! strings and binary data. A bounds-checked [`Reader`] for decoding, free functions for
//! encoding into `BytesMut`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::string::{self, MqttString};
use crate::types::{PacketId, PacketType};

/// The largest value a variable byte integer can hold (four bytes).
pub const MAX_VAR_INT: u32 = 268_435_455;

/// Number of bytes the variable byte integer encoding of `value` takes.
pub(crate) const fn var_int_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value` (at most [`MAX_VAR_INT`]) as a variable byte integer.
pub(crate) fn put_var_int(buf: &mut BytesMut, value: usize) {
    debug_assert!(value <= MAX_VAR_INT as usize);
    let mut x = value;
    loop {
        // Truncation intended: the low seven bits.
        let mut byte = (x & 0x7F) as u8;
        x >>= 7;
        if x > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if x == 0 {
            break;
        }
    }
}

/// Parses a variable byte integer at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((value, len)))`: the value and the number of
/// bytes it took. Errors on a fifth byte or a non-minimal encoding.
pub(crate) fn parse_var_int(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A zero final byte after continuation bytes means a longer-than-needed form.
            if i > 0 && byte == 0 {
                return Err(DecodeError::MalformedVarInt);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(DecodeError::MalformedVarInt)
    } else {
        Ok(None)
    }
}

/// Encoded length of a length-prefixed string.
pub(crate) fn str_len(s: &MqttString) -> usize {
    2 + s.len()
}

/// Encoded length of length-prefixed binary data; fails above 65,535 bytes.
pub(crate) fn bin_len(b: &[u8], field: &'static str) -> Result<usize, EncodeError> {
    if b.len() > string::MAX_STRING_LEN {
        return Err(EncodeError::FieldTooLong {
            field,
            len: b.len(),
        });
    }
    Ok(2 + b.len())
}

/// Writes a length-prefixed string.
pub(crate) fn put_str(buf: &mut BytesMut, s: &MqttString) {
    put_bin(buf, s.as_bytes());
}

/// Writes length-prefixed binary data (length already checked by [`bin_len`]).
pub(crate) fn put_bin(buf: &mut BytesMut, b: &[u8]) {
    // Checked by `bin_len` / guaranteed by `MqttString`.
    buf.put_u16(u16::try_from(b.len()).unwrap_or(u16::MAX));
    buf.put_slice(b);
}

/// Writes a fixed header (the remaining length was checked by [`packet_len`]).
pub(crate) fn put_fixed_header(buf: &mut BytesMut, first: u8, remaining: usize) {
    buf.put_u8(first);
    put_var_int(buf, remaining);
}

/// Total packet size for a remaining length, or an error above the protocol maximum.
pub(crate) fn packet_len(remaining: usize) -> Result<usize, EncodeError> {
    if remaining > MAX_VAR_INT as usize {
        return Err(EncodeError::PacketTooLarge(remaining));
    }
    Ok(1 + var_int_len(remaining) + remaining)
}

/// A bounds-checked cursor over one packet.
///
/// `data` is the whole packet (fixed header included); strings and binary fields are
/// sliced out of `backing` without copying when it is present.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    backing: Option<&'a Bytes>,
    pos: usize,
    end: usize,
    packet_type: PacketType,
    strict_utf8: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `data[start..]`.
    pub(crate) fn new(
        data: &'a [u8],
        backing: Option<&'a Bytes>,
        start: usize,
        packet_type: PacketType,
        strict_utf8: bool,
    ) -> Self {
        Self {
            data,
            backing,
            pos: start,
            end: data.len(),
            packet_type,
            strict_utf8,
        }
    }

    /// A reader over a whole `Bytes` packet body (used by tests and nested decoding).
    #[cfg(test)]
    pub(crate) fn over(bytes: &'a Bytes, packet_type: PacketType) -> Self {
        Self::new(bytes, Some(bytes), 0, packet_type, false)
    }

    pub(crate) fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.end
    }

    fn eof(&self) -> DecodeError {
        DecodeError::UnexpectedEnd(self.packet_type)
    }

    pub(crate) fn read_u8(&mut self) -> Result<u8, DecodeError> {
        if self.pos >= self.end {
            return Err(self.eof());
        }
        let b = self.data[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self
            .data
            .get(self.pos..self.pos + N)
            .filter(|_| self.pos + N <= self.end);
        let arr = bytes
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(|| self.eof())?;
        self.pos += N;
        Ok(arr)
    }

    pub(crate) fn read_u16(&mut self) -> Result<u16, DecodeError> {
        self.read_array::<2>().map(u16::from_be_bytes)
    }

    pub(crate) fn read_u32(&mut self) -> Result<u32, DecodeError> {
        self.read_array::<4>().map(u32::from_be_bytes)
    }

    pub(crate) fn read_var_int(&mut self) -> Result<u32, DecodeError> {
        match parse_var_int(&self.data[self.pos..self.end])? {
            Some((value, len)) => {
                self.pos += len;
                Ok(value)
            }
            None => Err(self.eof()),
        }
    }

    /// A non-zero packet identifier.
    pub(crate) fn read_packet_id(&mut self) -> Result<PacketId, DecodeError> {
        let raw = self.read_u16()?;
        PacketId::new(raw).ok_or(DecodeError::ZeroPacketId(self.packet_type))
    }

    /// The next `n` bytes, sharing the packet buffer when possible.
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(self.eof());
        }
        let range = self.pos..self.pos + n;
        self.pos += n;
        Ok(match self.backing {
            Some(b) => b.slice(range),
            None => Bytes::copy_from_slice(&self.data[range]),
        })
    }

    /// Everything up to the end of the current limit.
    pub(crate) fn take_rest(&mut self) -> Result<Bytes, DecodeError> {
        self.take(self.remaining())
    }

    /// Two-byte length-prefixed binary data.
    pub(crate) fn read_binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.read_u16()?;
        self.take(usize::from(len))
    }

    /// A length-prefixed UTF-8 string, validated.
    pub(crate) fn read_string(&mut self) -> Result<MqttString, DecodeError> {
        let bytes = self.read_binary()?;
        let s = MqttString::from_bytes(bytes)?;
        if self.strict_utf8
            && let Some(c) = s.discouraged_code_point()
        {
            return Err(DecodeError::DiscouragedCodePoint(u32::from(c)));
        }
        Ok(s)
    }

    /// Restricts reading to the next `len` bytes; returns the outer limit to restore with
    /// [`Reader::pop_limit`].
    pub(crate) fn push_limit(&mut self, len: usize) -> Result<usize, DecodeError> {
        if len > self.remaining() {
            return Err(self.eof());
        }
        let outer = self.end;
        self.end = self.pos + len;
        Ok(outer)
    }

    /// Restores the limit saved by [`Reader::push_limit`] (the inner part must be consumed).
    pub(crate) fn pop_limit(&mut self, outer: usize) {
        self.end = outer;
    }

    /// Fails if bytes remain before the limit.
    pub(crate) fn expect_end(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.packet_type))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_int_boundaries_from_the_spec_table() {
        // Spec §1.5.5: 1 byte up to 127, 2 up to 16 383, 3 up to 2 097 151, 4 up to 268 435 455.
        let cases: [(usize, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, bytes) in cases {
            let mut buf = BytesMut::new();
            put_var_int(&mut buf, value);
            assert_eq!(&buf[..], bytes, "encoding {value}");
            assert_eq!(var_int_len(value), bytes.len());
            let parsed = parse_var_int(bytes).expect("valid").expect("complete");
            assert_eq!(parsed, (u32::try_from(value).expect("fits"), bytes.len()));
        }
    }

    #[test]
    fn var_int_rejects_five_bytes_and_long_forms() {
        assert_eq!(
            parse_var_int(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::MalformedVarInt)
        );
        assert_eq!(
            parse_var_int(&[0x80, 0x00]),
            Err(DecodeError::MalformedVarInt)
        );
        assert_eq!(
            parse_var_int(&[0xFF, 0x80, 0x00]),
            Err(DecodeError::MalformedVarInt)
        );
        assert_eq!(parse_var_int(&[0x80, 0x80]), Ok(None));
        assert_eq!(parse_var_int(&[]), Ok(None));
    }

    #[test]
    fn reader_bounds() {
        let bytes = Bytes::from_static(&[0x00, 0x02, b'h', b'i', 0x00, 0x05, b'x']);
        let mut r = Reader::over(&bytes, PacketType::Publish);
        assert_eq!(r.read_string().map(|s| s.to_string()), Ok("hi".to_owned()));
        assert_eq!(
            r.read_string(),
            Err(DecodeError::UnexpectedEnd(PacketType::Publish))
        );
        let bytes = Bytes::from_static(&[0x00, 0x00]);
        let mut r = Reader::over(&bytes, PacketType::PubAck);
        assert_eq!(
            r.read_packet_id(),
            Err(DecodeError::ZeroPacketId(PacketType::PubAck))
        );
    }
}
