//! [`Decoder`]: client bytes in, whole messages and control frames out.

use bytes::{Bytes, BytesMut};

use super::WsError;
use super::frame::{
    FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask, close_code_is_valid, parse_frame_header,
};

/// What a client sent: a whole data message (fragments assembled) or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A data message.
    Message {
        /// A binary message (else text; the caller checks the UTF-8).
        binary: bool,
        /// The first frame had RSV1 set: the payload is permessage-deflate data, to inflate
        /// with [`decompress_message`](super::decompress_message).
        compressed: bool,
        /// The payload (unmasked, still compressed when `compressed`).
        payload: Bytes,
    },
    /// A ping, to answer with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: its status code and UTF-8 reason, or `None` when it had no payload.
    Close(Option<(u16, Bytes)>),
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Fragmented {
    binary: bool,
    compressed: bool,
}

/// Decodes the frames a client sends (RFC 6455 §5): checks masking, reserved bits, opcodes,
/// control frame rules and fragmentation, enforces the maximum message size from the headers
/// before buffering anything, unmasks, and assembles fragmented messages.
///
/// Input is consumed as it arrives; what does not make a whole frame yet is kept (a partial
/// header inline, a partial payload in a buffer of exactly that frame's size), so an idle
/// decoder holds no heap memory.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    deflate: bool,
    /// The first bytes of a header that has not arrived whole.
    head: [u8; MAX_HEADER_LEN],
    head_len: usize,
    /// The frame whose payload is arriving.
    frame: Option<FrameHeader>,
    /// Its payload so far, unmasked.
    payload: BytesMut,
    /// The fragmented message being assembled, and its data so far.
    fragmented: Option<Fragmented>,
    message: BytesMut,
}

impl Decoder {
    /// A decoder refusing messages over `max_message` bytes. With `deflate`
    /// (permessage-deflate negotiated) the first frame of a message may set RSV1.
    pub fn new(max_message: usize, deflate: bool) -> Self {
        Decoder {
            max_message,
            deflate,
            head: [0; MAX_HEADER_LEN],
            head_len: 0,
            frame: None,
            payload: BytesMut::new(),
            fragmented: None,
            message: BytesMut::new(),
        }
    }

    /// Whether nothing is buffered: no partial frame, no fragmented message.
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.frame.is_none() && self.fragmented.is_none()
    }

    /// Heap bytes held for partial frames and messages.
    pub fn buffered_capacity(&self) -> usize {
        self.payload.capacity() + self.message.capacity()
    }

    /// Decodes the next message or control frame from `input`, advancing it past what was
    /// used. `Ok(None)`: `input` is used up without completing one (the rest is kept).
    /// After an error the connection must be closed with [`WsError::close_code`].
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Incoming>, WsError> {
        loop {
            let header = match self.frame {
                Some(h) => h,
                None => match self.next_header(input)? {
                    Some(h) => {
                        self.check_sequence(&h)?;
                        h
                    }
                    None => return Ok(None),
                },
            };
            let Some(payload) = self.payload(header, input) else {
                return Ok(None);
            };
            if let Some(event) = self.frame_done(header, payload)? {
                return Ok(Some(event));
            }
        }
    }

    /// The next header, from the kept bytes and `input`.
    fn next_header(&mut self, input: &mut &[u8]) -> Result<Option<FrameHeader>, WsError> {
        if self.head_len == 0 {
            return match parse_frame_header(input, self.deflate, true)? {
                Some(h) => {
                    *input = &input[h.header_len..];
                    Ok(Some(h))
                }
                None => {
                    // Shorter than a header: keep it inline.
                    let n = input.len();
                    self.head[..n].copy_from_slice(input);
                    self.head_len = n;
                    *input = &[];
                    Ok(None)
                }
            };
        }
        loop {
            let need = header_len_hint(&self.head[..self.head_len]);
            if self.head_len >= need {
                break;
            }
            let take = (need - self.head_len).min(input.len());
            if take == 0 {
                return Ok(None);
            }
            self.head[self.head_len..self.head_len + take].copy_from_slice(&input[..take]);
            self.head_len += take;
            *input = &input[take..];
        }
        let parsed = parse_frame_header(&self.head[..self.head_len], self.deflate, true)?;
        self.head_len = 0;
        Ok(parsed)
    }

    /// Fragmentation and size rules of a new frame.
    fn check_sequence(&self, h: &FrameHeader) -> Result<(), WsError> {
        match h.opcode {
            OpCode::Text | OpCode::Binary if self.fragmented.is_some() => {
                return Err(WsError::Protocol(
                    "a new message started inside a fragmented one",
                ));
            }
            OpCode::Continuation if self.fragmented.is_none() => {
                return Err(WsError::Protocol("a continuation frame without a message"));
            }
            _ => {}
        }
        if !h.opcode.is_control() {
            let so_far = self.message.len() as u64;
            let total = so_far.saturating_add(h.len);
            if total > self.max_message as u64 {
                return Err(WsError::TooLarge {
                    len: total,
                    max: self.max_message,
                });
            }
        }
        Ok(())
    }

    /// The whole payload of frame `h`, or `None` while it is incomplete (kept).
    fn payload(&mut self, h: FrameHeader, input: &mut &[u8]) -> Option<Bytes> {
        // Bounded by check_sequence (data) or the header rules (control: at most 125).
        let len = usize::try_from(h.len).unwrap_or(usize::MAX);
        let mask = h.mask.unwrap_or([0; 4]);
        if self.frame.is_none() && input.len() >= len {
            let mut p = BytesMut::with_capacity(len);
            p.extend_from_slice(&input[..len]);
            apply_mask(&mut p, mask, 0);
            *input = &input[len..];
            return Some(p.freeze());
        }
        if self.frame.is_none() {
            self.frame = Some(h);
            self.payload.reserve(len);
        }
        let start = self.payload.len();
        let take = (len - start).min(input.len());
        self.payload.extend_from_slice(&input[..take]);
        apply_mask(&mut self.payload[start..], mask, start);
        *input = &input[take..];
        if self.payload.len() < len {
            return None;
        }
        self.frame = None;
        let whole = self.payload.split().freeze();
        // Give back any capacity beyond the frame.
        self.payload = BytesMut::new();
        Some(whole)
    }

    /// What a complete frame means: an event, or `None` for a fragment.
    fn frame_done(&mut self, h: FrameHeader, payload: Bytes) -> Result<Option<Incoming>, WsError> {
        Ok(Some(match h.opcode {
            OpCode::Ping => Incoming::Ping(payload),
            OpCode::Pong => Incoming::Pong(payload),
            OpCode::Close => Incoming::Close(close_payload(payload)?),
            OpCode::Text | OpCode::Binary => {
                let binary = h.opcode == OpCode::Binary;
                if h.fin {
                    Incoming::Message {
                        binary,
                        compressed: h.rsv1,
                        payload,
                    }
                } else {
                    self.fragmented = Some(Fragmented {
                        binary,
                        compressed: h.rsv1,
                    });
                    self.message.extend_from_slice(&payload);
                    return Ok(None);
                }
            }
            OpCode::Continuation => {
                self.message.extend_from_slice(&payload);
                if !h.fin {
                    return Ok(None);
                }
                let Some(f) = self.fragmented.take() else {
                    return Err(WsError::Protocol("a continuation frame without a message"));
                };
                let payload = self.message.split().freeze();
                self.message = BytesMut::new();
                Incoming::Message {
                    binary: f.binary,
                    compressed: f.compressed,
                    payload,
                }
            }
        }))
    }
}

/// How long the header starting with `head` is (2 until the second byte is known).
fn header_len_hint(head: &[u8]) -> usize {
    match head {
        [_, b1, ..] => {
            let ext = match b1 & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
        }
        _ => 2,
    }
}

/// A close frame's code and reason (RFC 6455 §5.5.1, §7.4).
fn close_payload(payload: Bytes) -> Result<Option<(u16, Bytes)>, WsError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(WsError::Protocol("a close payload of one byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !close_code_is_valid(code) {
                return Err(WsError::Protocol("an invalid close status code"));
            }
            let reason = payload.slice(2..);
            if std::str::from_utf8(&reason).is_err() {
                return Err(WsError::InvalidUtf8);
            }
            Ok(Some((code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![b0];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xffff {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        let mut p = payload.to_vec();
        apply_mask(&mut p, mask, 0);
        out.extend_from_slice(&p);
        out
    }

    fn all(d: &mut Decoder, mut input: &[u8]) -> Result<Vec<Incoming>, WsError> {
        let mut out = Vec::new();
        while let Some(e) = d.decode(&mut input)? {
            out.push(e);
        }
        assert!(input.is_empty());
        Ok(out)
    }

    fn text(s: &str) -> Incoming {
        Incoming::Message {
            binary: false,
            compressed: false,
            payload: Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    #[test]
    fn rfc_6455_examples() {
        let mut d = Decoder::new(1 << 20, false);
        // §5.7: masked "Hello"
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(all(&mut d, &hello), Ok(vec![text("Hello")]));
        // §5.7: a fragmented "Hel" "lo" (masked here, as clients must) with a ping between
        let mut input = client_frame(0x01, b"Hel", [1, 2, 3, 4]);
        input.extend(client_frame(0x89, b"Hello", [5, 6, 7, 8]));
        input.extend(client_frame(0x80, b"lo", [9, 9, 9, 9]));
        assert_eq!(
            all(&mut d, &input),
            Ok(vec![
                Incoming::Ping(Bytes::from_static(b"Hello")),
                text("Hello")
            ])
        );
        assert!(d.is_idle());
        assert_eq!(d.buffered_capacity(), 0);
    }

    #[test]
    fn every_split_point_gives_the_same_messages() {
        let mut input = client_frame(0x81, b"first", [1, 2, 3, 4]);
        input.extend(client_frame(0x82, &[7u8; 300], [4, 3, 2, 1]));
        input.extend(client_frame(0x8a, b"", [0, 0, 0, 0]));
        input.extend(client_frame(0x88, &[0x03, 0xe8, b'o', b'k'], [1, 1, 1, 1]));
        let mut whole = Decoder::new(1 << 20, false);
        let expected = all(&mut whole, &input).unwrap_or_default();
        assert_eq!(expected.len(), 4);
        for split in 0..input.len() {
            let mut d = Decoder::new(1 << 20, false);
            let mut got = all(&mut d, &input[..split]).unwrap_or_default();
            got.extend(all(&mut d, &input[split..]).unwrap_or_default());
            assert_eq!(got, expected, "split at {split}");
        }
        // and byte by byte
        let mut d = Decoder::new(1 << 20, false);
        let mut got = Vec::new();
        for b in &input {
            got.extend(all(&mut d, std::slice::from_ref(b)).unwrap_or_default());
        }
        assert_eq!(got, expected);
        assert_eq!(
            expected[3],
            Incoming::Close(Some((1000, Bytes::from_static(b"ok"))))
        );
    }

    #[test]
    fn sizes_are_checked_from_the_header() {
        let mut d = Decoder::new(10, false);
        let frame = client_frame(0x82, &[0u8; 11], [1, 2, 3, 4]);
        // the header alone is enough to refuse
        assert_eq!(
            d.decode(&mut &frame[..6]),
            Err(WsError::TooLarge { len: 11, max: 10 })
        );
        // fragments add up
        let mut d = Decoder::new(10, false);
        let mut input = client_frame(0x02, &[0u8; 6], [1, 2, 3, 4]);
        input.extend(client_frame(0x80, &[0u8; 5], [1, 2, 3, 4]));
        assert_eq!(
            all(&mut d, &input),
            Err(WsError::TooLarge { len: 11, max: 10 })
        );
        // a 64-bit length far beyond memory is refused before anything is reserved
        let mut d = Decoder::new(10, false);
        let huge = [0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert!(matches!(
            d.decode(&mut &huge[..]),
            Err(WsError::TooLarge { .. })
        ));
    }

    #[test]
    fn sequencing_and_close_rules() {
        let cases: Vec<Vec<u8>> = vec![
            client_frame(0x80, b"x", [1, 2, 3, 4]), // continuation without a message
            [
                client_frame(0x01, b"a", [1, 2, 3, 4]),
                client_frame(0x81, b"b", [1, 2, 3, 4]),
            ]
            .concat(), // new message inside a fragmented one
            client_frame(0x88, &[0x03], [1, 2, 3, 4]), // one-byte close payload
            client_frame(0x88, &[0x03, 0xed], [1, 2, 3, 4]), // 1005 is not sent
        ];
        for input in cases {
            let mut d = Decoder::new(100, false);
            assert!(
                matches!(all(&mut d, &input), Err(WsError::Protocol(_))),
                "{input:02x?}"
            );
        }
        let mut d = Decoder::new(100, false);
        let bad_reason = client_frame(0x88, &[0x03, 0xe8, 0xff], [1, 2, 3, 4]);
        assert_eq!(all(&mut d, &bad_reason), Err(WsError::InvalidUtf8));
        let mut d = Decoder::new(100, false);
        assert_eq!(
            all(&mut d, &client_frame(0x88, &[], [1, 2, 3, 4])),
            Ok(vec![Incoming::Close(None)])
        );
    }

    #[test]
    fn compressed_messages_keep_their_flag() {
        let mut d = Decoder::new(100, true);
        // RFC 7692 §7.2.3.1: "Hello" compressed, then the same in two fragments
        let whole = client_frame(
            0xc1,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            [1, 2, 3, 4],
        );
        let mut frags = client_frame(0x41, &[0xf2, 0x48, 0xcd], [1, 2, 3, 4]);
        frags.extend(client_frame(0x80, &[0xc9, 0xc9, 0x07, 0x00], [4, 3, 2, 1]));
        let expected = Incoming::Message {
            binary: false,
            compressed: true,
            payload: Bytes::from_static(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        };
        assert_eq!(all(&mut d, &whole), Ok(vec![expected.clone()]));
        assert_eq!(all(&mut d, &frags), Ok(vec![expected]));
        // without the extension RSV1 is a protocol error
        let mut d = Decoder::new(100, false);
        assert!(matches!(all(&mut d, &whole), Err(WsError::Protocol(_))));
    }
}
