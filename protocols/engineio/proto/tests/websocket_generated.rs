//! Generated-input tests of the WebSocket codec: random and truncated bytes never panic (and
//! never make the decoder reserve more than the maximum), masked frames cut anywhere decode to
//! the messages that were framed, and compressed messages inflate back to what was compressed.

use bytes::{BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress};
use proptest::prelude::*;
use switchboard_engineio_proto::websocket::{
    Decoder, Incoming, OpCode, apply_mask, compress_message, decompress_message,
    encode_frame_header, negotiate_deflate,
};

const MAX: usize = 4096;

/// A client frame: the server encoding plus the mask bit and key.
fn client_frame(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut head = BytesMut::new();
    encode_frame_header(&mut head, fin, rsv1, opcode, payload.len());
    head[1] |= 0x80;
    head.put_slice(&mask);
    let mut body = payload.to_vec();
    apply_mask(&mut body, mask, 0);
    head.put_slice(&body);
    head.to_vec()
}

/// A message, sent as `pieces` fragments.
#[derive(Debug, Clone)]
struct Sent {
    binary: bool,
    data: Vec<u8>,
    pieces: usize,
    mask: [u8; 4],
}

fn sent() -> impl Strategy<Value = Sent> {
    (
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..600),
        1usize..4,
        any::<[u8; 4]>(),
    )
        .prop_map(|(binary, data, pieces, mask)| Sent {
            binary,
            data,
            pieces,
            mask,
        })
}

fn frames(s: &Sent) -> Vec<u8> {
    let first = if s.binary {
        OpCode::Binary
    } else {
        OpCode::Text
    };
    let step = s.data.len().div_ceil(s.pieces).max(1);
    let chunks: Vec<&[u8]> = if s.data.is_empty() {
        vec![&[][..]]
    } else {
        s.data.chunks(step).collect()
    };
    let mut out = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let op = if i == 0 { first } else { OpCode::Continuation };
        out.extend(client_frame(i + 1 == chunks.len(), false, op, c, s.mask));
    }
    out
}

fn decode_all(d: &mut Decoder, mut input: &[u8], out: &mut Vec<Incoming>) -> bool {
    loop {
        match d.decode(&mut input) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000),
                                cut in 0usize..2000, deflate in any::<bool>()) {
        let mut d = Decoder::new(MAX, deflate);
        let cut = cut.min(bytes.len());
        let mut out = Vec::new();
        if decode_all(&mut d, &bytes[..cut], &mut out) {
            decode_all(&mut d, &bytes[cut..], &mut out);
        }
        prop_assert!(d.buffered_capacity() <= 2 * MAX);
    }

    #[test]
    fn framed_messages_decode_whatever_the_cuts(messages in proptest::collection::vec(sent(), 1..5),
                                                cuts in proptest::collection::vec(0usize..5000, 0..6)) {
        let wire: Vec<u8> = messages.iter().flat_map(frames).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
        cuts.sort_unstable();
        let mut d = Decoder::new(MAX, false);
        let mut out = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([wire.len()]) {
            prop_assert!(decode_all(&mut d, &wire[at..c], &mut out));
            at = c;
        }
        let expected: Vec<Incoming> = messages
            .iter()
            .map(|m| Incoming::Message {
                binary: m.binary,
                compressed: false,
                payload: m.data.clone().into(),
            })
            .collect();
        prop_assert_eq!(out, expected);
        prop_assert!(d.is_idle());
        prop_assert_eq!(d.buffered_capacity(), 0);
    }

    #[test]
    fn compressed_messages_inflate_to_what_was_compressed(
        data in proptest::collection::vec(prop_oneof![Just(b'a'), any::<u8>()], 0..5000)
    ) {
        let mut c = Compress::new(Compression::fast(), false);
        let mut z = BytesMut::new();
        prop_assert!(compress_message(&mut c, &data, &mut z).is_ok());
        let wire = client_frame(true, true, OpCode::Binary, &z, [9, 8, 7, 6]);
        let mut d = Decoder::new(MAX * 4, true);
        let mut out = Vec::new();
        prop_assert!(decode_all(&mut d, &wire, &mut out));
        let Some(Incoming::Message { compressed: true, payload, .. }) = out.pop() else {
            return Err(TestCaseError::fail("no compressed message"));
        };
        let back = decompress_message(&mut Decompress::new(false), &payload, MAX * 4);
        prop_assert_eq!(back.as_deref(), Ok(&data[..]));
    }

    #[test]
    fn inflating_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decompress_message(&mut Decompress::new(false), &bytes, MAX);
    }

    #[test]
    fn extension_headers_never_panic(h in ".{0,80}") {
        let _ = negotiate_deflate([h.as_str()]);
    }
}
