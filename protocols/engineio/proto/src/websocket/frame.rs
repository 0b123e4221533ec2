//! Frame headers (RFC 6455 §5.2), masking (§5.3) and close frames (§5.5.1, §7.4).

use bytes::{BufMut, BytesMut};

use super::WsError;

/// The longest frame header: 2 bytes, an 8-byte extended length, a 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame's opcode (RFC 6455 §5.2). Reserved opcodes are refused by [`parse_frame_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `0x0`: a continuation of a fragmented message.
    Continuation,
    /// `0x1`: the first frame of a text message.
    Text,
    /// `0x2`: the first frame of a binary message.
    Binary,
    /// `0x8`: close.
    Close,
    /// `0x9`: ping.
    Ping,
    /// `0xA`: pong.
    Pong,
}

impl OpCode {
    /// The 4-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// The opcode of a 4-bit wire value, `None` for reserved values.
    pub fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Whether this is a control opcode (close, ping, pong).
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// RSV1: the message is compressed (permessage-deflate), on its first frame only.
    pub rsv1: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key (every client frame has one).
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub len: u64,
    /// Length of the header itself in bytes (2 to 14).
    pub header_len: usize,
}

/// Parses the header at the start of `buf`: `Ok(None)` while it is incomplete.
///
/// Every rule that the header alone can break is checked here: RSV2/RSV3 set, RSV1 set
/// without `rsv1_allowed` (no extension negotiated) or on a control or continuation frame,
/// reserved opcodes, fragmented or oversized (> 125 bytes) control frames, a 64-bit length
/// with its most significant bit set, and (with `require_mask`, as a server must) unmasked
/// frames.
pub fn parse_frame_header(
    buf: &[u8],
    rsv1_allowed: bool,
    require_mask: bool,
) -> Result<Option<FrameHeader>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 {
        return Err(WsError::Protocol("RSV2 or RSV3 set without an extension"));
    }
    let opcode = OpCode::from_bits(b0 & 0x0f).ok_or(WsError::Protocol("reserved opcode"))?;
    if rsv1 && (!rsv1_allowed || opcode.is_control() || opcode == OpCode::Continuation) {
        return Err(WsError::Protocol("RSV1 set where no extension allows it"));
    }
    let masked = b1 & 0x80 != 0;
    if require_mask && !masked {
        return Err(WsError::Protocol("unmasked client frame"));
    }
    let len7 = b1 & 0x7f;
    if opcode.is_control() && (!fin || len7 > 125) {
        return Err(WsError::Protocol(
            "control frames must be whole and at most 125 bytes",
        ));
    }
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header_len = 2 + ext + if masked { 4 } else { 0 };
    if buf.len() < header_len {
        return Ok(None);
    }
    let len = match len7 {
        126 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
        127 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(b);
            if len >> 63 != 0 {
                return Err(WsError::Protocol("64-bit length with its top bit set"));
            }
            len
        }
        n => u64::from(n),
    };
    let mask = masked.then(|| {
        let at = 2 + ext;
        [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]
    });
    Ok(Some(FrameHeader {
        fin,
        rsv1,
        opcode,
        mask,
        len,
        header_len,
    }))
}

/// Writes the header of an unmasked (server) frame carrying `len` payload bytes.
pub fn encode_frame_header(out: &mut BytesMut, fin: bool, rsv1: bool, opcode: OpCode, len: usize) {
    let b0 = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode.bits();
    if len < 126 {
        out.put_slice(&[b0, len as u8]);
    } else if let Ok(n) = u16::try_from(len) {
        out.put_slice(&[b0, 126]);
        out.put_u16(n);
    } else {
        out.put_slice(&[b0, 127]);
        out.put_u64(len as u64);
    }
}

/// XORs `data` with `mask`, the first byte of `data` being byte `offset` of the payload
/// (masking is its own inverse).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = [0u8; 4];
    for (i, k) in key.iter_mut().enumerate() {
        *k = mask[(offset + i) % 4];
    }
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word) ^ wide;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Whether `code` may appear in a close frame (RFC 6455 §7.4 and the IANA registry):
/// 1000–1003, 1007–1014 and the application range 3000–4999.
pub fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Writes a close frame with `code` and `reason` (truncated at a character boundary to fit
/// the 125-byte control frame limit).
pub fn encode_close(out: &mut BytesMut, code: u16, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    encode_frame_header(out, true, false, OpCode::Close, 2 + reason.len());
    out.put_u16(code);
    out.put_slice(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_examples_parse() {
        // §5.7: a single-frame masked text message "Hello"
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = parse_frame_header(&masked, false, true).unwrap().unwrap();
        assert_eq!(
            h,
            FrameHeader {
                fin: true,
                rsv1: false,
                opcode: OpCode::Text,
                mask: Some([0x37, 0xfa, 0x21, 0x3d]),
                len: 5,
                header_len: 6,
            }
        );
        let mut payload = masked[6..].to_vec();
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, b"Hello");
        // 256 bytes and 64 KiB binary messages in one unmasked frame
        let h = parse_frame_header(&[0x82, 0x7e, 0x01, 0x00], false, false)
            .unwrap()
            .unwrap();
        assert_eq!((h.opcode, h.len, h.header_len), (OpCode::Binary, 256, 4));
        let big = [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        let h = parse_frame_header(&big, false, false).unwrap().unwrap();
        assert_eq!((h.len, h.header_len), (65536, 10));
    }

    #[test]
    fn headers_encode_like_the_rfc_examples() {
        let mut out = BytesMut::new();
        encode_frame_header(&mut out, true, false, OpCode::Text, 5);
        assert_eq!(&out[..], [0x81, 0x05]);
        out.clear();
        encode_frame_header(&mut out, true, false, OpCode::Binary, 256);
        assert_eq!(&out[..], [0x82, 0x7e, 0x01, 0x00]);
        out.clear();
        encode_frame_header(&mut out, true, false, OpCode::Binary, 65536);
        assert_eq!(&out[..], [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        out.clear();
        // RFC 7692 §7.2.3.1: a compressed "Hello" has RSV1 set
        encode_frame_header(&mut out, true, true, OpCode::Text, 7);
        assert_eq!(&out[..], [0xc1, 0x07]);
    }

    #[test]
    fn broken_headers_are_refused() {
        let bad: &[(&[u8], bool)] = &[
            (&[0xa1, 0x80, 0, 0, 0, 0], true),         // RSV2
            (&[0xc1, 0x80, 0, 0, 0, 0], false),        // RSV1 without deflate
            (&[0xc0, 0x80, 0, 0, 0, 0], true),         // RSV1 on a continuation
            (&[0xc9, 0x80, 0, 0, 0, 0], true),         // RSV1 on a ping
            (&[0x83, 0x80, 0, 0, 0, 0], true),         // reserved opcode
            (&[0x81, 0x00], true),                     // unmasked
            (&[0x09, 0x80, 0, 0, 0, 0], true),         // fragmented ping
            (&[0x89, 0xfe, 0, 126, 0, 0, 0, 0], true), // 126-byte ping
            (&[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], true), // top bit
        ];
        for (frame, deflate) in bad {
            assert!(
                matches!(
                    parse_frame_header(frame, *deflate, true),
                    Err(WsError::Protocol(_))
                ),
                "{frame:02x?} accepted"
            );
        }
        assert_eq!(parse_frame_header(&[0x81], false, true), Ok(None));
        assert_eq!(
            parse_frame_header(&[0x81, 0xfe, 0x01], false, true),
            Ok(None)
        );
    }

    #[test]
    fn masking_at_any_offset_and_length() {
        let mask = [1, 2, 3, 4];
        let data: Vec<u8> = (0..37).collect();
        for split in 0..data.len() {
            let mut a = data.clone();
            let (head, tail) = a.split_at_mut(split);
            apply_mask(head, mask, 0);
            apply_mask(tail, mask, split);
            let expected: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(a, expected, "split at {split}");
        }
    }

    #[test]
    fn close_frames() {
        let mut out = BytesMut::new();
        encode_close(&mut out, 1000, "bye");
        assert_eq!(&out[..], [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
        out.clear();
        encode_close(&mut out, 1001, &"é".repeat(100));
        assert_eq!(out.len(), 2 + 2 + 122, "cut at a character boundary");
        for ok in [1000, 1003, 1007, 1011, 3000, 4999] {
            assert!(close_code_is_valid(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!close_code_is_valid(bad), "{bad}");
        }
    }
}
