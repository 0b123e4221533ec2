//! Generated-input tests: random and truncated input never panics,
//! decode(encode(x)) == x, and encoder output re-encodes to the same bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use switchboard_engineio_proto::{
    Frame, NodeTag, OpenPacket, Packet, PayloadFormat, ProtocolVersion, QueryParams, Sid, Str,
    decode_frame, decode_payload, decode_payload_vec, encode_frame, encode_payload,
};

const MAX: usize = 1 << 20;

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V3), Just(ProtocolVersion::V4)]
}

fn format() -> impl Strategy<Value = PayloadFormat> {
    prop_oneof![Just(PayloadFormat::Text), Just(PayloadFormat::Binary)]
}

/// Any text, including astral characters (UTF-16 surrogate pairs) and, unless
/// excluded, the v4 record separator.
fn text(allow_separator: bool) -> impl Strategy<Value = Str> {
    any::<String>().prop_map(move |s| {
        if allow_separator {
            Str::from(s)
        } else {
            Str::from(s.replace('\u{1e}', ""))
        }
    })
}

fn packet(allow_separator: bool) -> impl Strategy<Value = Packet> {
    prop_oneof![
        text(allow_separator).prop_map(Packet::Open),
        Just(Packet::Close),
        text(allow_separator).prop_map(Packet::Ping),
        text(allow_separator).prop_map(Packet::Pong),
        Just(Packet::probe_ping()),
        text(allow_separator).prop_map(Packet::text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Packet::binary),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
    ]
}

/// Packets that survive a polling payload: in v4 a text packet cannot hold
/// `0x1e` (the same limitation as engine.io's).
fn payload_packets() -> impl Strategy<Value = (ProtocolVersion, Vec<Packet>)> {
    version().prop_flat_map(|v| {
        let allow_sep = v == ProtocolVersion::V3;
        (Just(v), proptest::collection::vec(packet(allow_sep), 0..8))
    })
}

fn encode(v: ProtocolVersion, packets: &[Packet], binary: bool) -> (Bytes, PayloadFormat) {
    let mut buf = BytesMut::new();
    let format = encode_payload(v, packets, binary, &mut buf);
    (buf.freeze(), format)
}

/// Drains a decoder completely (also exercising the fused end).
fn drain(v: ProtocolVersion, f: PayloadFormat, body: Bytes) {
    if let Ok(mut it) = decode_payload(v, f, body, MAX) {
        for _ in it.by_ref() {}
        assert!(it.next().is_none());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
    ))]

    #[test]
    fn payload_round_trip((v, packets) in payload_packets(), binary in any::<bool>()) {
        let (body, format) = encode(v, &packets, binary);
        let decoded = decode_payload_vec(v, format, body.clone(), MAX);
        // v4 cannot carry an empty list (the server never sends one).
        if v == ProtocolVersion::V4 && packets.is_empty() {
            prop_assert!(decoded.is_err());
        } else {
            prop_assert_eq!(decoded.as_ref(), Ok(&packets));
            // canonical input: encoding the decoded packets gives the same bytes
            let (again, format_again) = encode(v, decoded.as_deref().unwrap_or_default(), binary);
            prop_assert_eq!(again, body);
            prop_assert_eq!(format_again, format);
        }
    }

    #[test]
    fn frame_round_trip(v in version(), p in packet(true), binary in any::<bool>()) {
        let frame = encode_frame(v, &p, binary);
        prop_assert_eq!(matches!(frame, Frame::Binary(_)), binary && p.is_binary());
        let decoded = decode_frame(v, frame.clone());
        prop_assert_eq!(decoded.as_ref(), Ok(&p));
        prop_assert_eq!(encode_frame(v, decoded.as_ref().unwrap_or(&p), binary), frame);
    }

    #[test]
    fn v3_text_lengths_are_utf16_units(s in any::<String>()) {
        let (body, _) = encode(ProtocolVersion::V3, &[Packet::text(s.clone())], false);
        let expected = format!("{}:4{s}", 1 + s.encode_utf16().count());
        prop_assert_eq!(&body[..], expected.as_bytes());
    }

    #[test]
    fn random_bytes_never_panic(v in version(), f in format(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let body = Bytes::from(bytes);
        drain(v, f, body.clone());
        let _ = decode_frame(v, Frame::Binary(body.clone()));
        if let Ok(text) = Str::from_utf8(body.clone()) {
            let _ = decode_frame(v, Frame::Text(text));
        }
        let _ = OpenPacket::<Sid>::from_json(&body);
    }

    #[test]
    fn payload_shaped_noise_never_panics(
        v in version(),
        f in format(),
        parts in proptest::collection::vec(
            prop_oneof![
                Just(vec![0x1e]), Just(vec![b':']), Just(vec![0xff]), Just(vec![0]), Just(vec![1]),
                Just(b"b4".to_vec()), Just(b"b".to_vec()), Just("😀".as_bytes().to_vec()),
                proptest::collection::vec(b'0'..=b'9', 1..4),
                proptest::collection::vec(0u8..=9, 1..4),
                proptest::collection::vec(any::<u8>(), 0..8),
            ],
            0..24,
        ),
    ) {
        drain(v, f, Bytes::from(parts.concat()));
    }

    #[test]
    fn truncated_and_mutated_encodings_never_panic(
        (v, packets) in payload_packets(),
        binary in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let (body, format) = encode(v, &packets, binary);
        if !body.is_empty() {
            let at = cut.index(body.len());
            drain(v, format, body.slice(..at));
            let mut mutated = body.to_vec();
            let i = flip.index(mutated.len());
            mutated[i] ^= xor;
            drain(v, format, Bytes::from(mutated));
        }
    }

    #[test]
    fn oversize_is_always_too_large(v in version(), f in format(), len in 1usize..512) {
        let body = Bytes::from(vec![b'4'; len]);
        let err = decode_payload(v, f, body, len - 1).err();
        prop_assert!(err.is_some_and(|e| e.is_too_large()));
    }

    #[test]
    fn sid_round_trip(node in any::<u16>(), random in any::<[u8; 16]>()) {
        let sid = Sid::new(NodeTag::new(node), random);
        let s = sid.to_string();
        prop_assert_eq!(s.len(), Sid::ENCODED_LEN);
        prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(s.parse::<Sid>(), Ok(sid));
        prop_assert_eq!(Sid::node_of(&s).map(NodeTag::get), Ok(node));
    }

    #[test]
    fn every_well_formed_sid_string_round_trips(s in "[A-Za-z0-9_-]{24}") {
        let parsed = s.parse::<Sid>();
        prop_assert_eq!(parsed.map(|sid| sid.to_string()), Ok(s));
    }

    #[test]
    fn random_sid_strings_and_queries_never_panic(s in any::<String>()) {
        let _ = s.parse::<Sid>();
        let q = QueryParams::parse(&s);
        let _ = (q.protocol(), q.transport(), q.sid(), q.supports_binary());
    }
}
