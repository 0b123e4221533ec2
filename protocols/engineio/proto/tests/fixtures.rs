//! Byte-exact fixtures for every packet and payload form of both revisions,
//! taken from the Engine.IO protocol documents (v3 and v4), the
//! engine.io-parser 4.0.0 changelog's v3/v4 comparison, and the protocol
//! test suite; plus the error cases.

use bytes::{Bytes, BytesMut};
use switchboard_engineio_proto::{
    DEFAULT_MAX_PAYLOAD, Error, Frame, Packet, PacketType, PayloadFormat, ProtocolVersion, Str,
    decode_frame, decode_payload, decode_payload_vec, encode_frame, encode_payload,
};

use ProtocolVersion::{V3, V4};

fn encode(version: ProtocolVersion, packets: &[Packet], binary: bool) -> (Vec<u8>, PayloadFormat) {
    let mut buf = BytesMut::new();
    let format = encode_payload(version, packets, binary, &mut buf);
    (buf.to_vec(), format)
}

fn decode(
    version: ProtocolVersion,
    format: PayloadFormat,
    body: &[u8],
) -> Result<Vec<Packet>, Error> {
    decode_payload_vec(
        version,
        format,
        Bytes::copy_from_slice(body),
        DEFAULT_MAX_PAYLOAD,
    )
}

/// Asserts both directions: `body` decodes to `packets` and `packets` encode to `body`.
fn both_ways(
    version: ProtocolVersion,
    format: PayloadFormat,
    body: &[u8],
    packets: &[Packet],
    supports_binary: bool,
) {
    assert_eq!(
        decode(version, format, body).as_deref(),
        Ok(packets),
        "decode {body:?}"
    );
    assert_eq!(
        encode(version, packets, supports_binary),
        (body.to_vec(), format),
        "encode"
    );
}

fn hello_and_bytes() -> Vec<Packet> {
    vec![Packet::text("hello"), Packet::binary(vec![1u8, 2, 3, 4])]
}

// ---------------------------------------------------------------- v4 payloads

#[test]
fn v4_payload_text_and_binary() {
    // protocol document, "HTTP long-polling" packet encoding
    both_ways(
        V4,
        PayloadFormat::Text,
        b"4hello\x1ebAQIDBA==",
        &hello_and_bytes(),
        true,
    );
}

#[test]
fn v4_payload_examples_from_the_documents() {
    both_ways(
        V4,
        PayloadFormat::Text,
        b"4hello\x1e4world",
        &[Packet::text("hello"), Packet::text("world")],
        true,
    );
    both_ways(
        V4,
        PayloadFormat::Text,
        b"4hey",
        &[Packet::text("hey")],
        true,
    );
    // engine.io-parser 4.0.0 changelog: strings, and string + binary
    both_ways(
        V4,
        PayloadFormat::Text,
        "4hello\x1e4€€€".as_bytes(),
        &[Packet::text("hello"), Packet::text("€€€")],
        true,
    );
    both_ways(
        V4,
        PayloadFormat::Text,
        b"4hello\x1ebAQID",
        &[Packet::text("hello"), Packet::binary(vec![1u8, 2, 3])],
        true,
    );
    both_ways(
        V4,
        PayloadFormat::Text,
        b"2probe\x1e4hello\x1e1",
        &[Packet::probe_ping(), Packet::text("hello"), Packet::Close],
        true,
    );
}

#[test]
fn v4_payload_every_packet_type() {
    both_ways(
        V4,
        PayloadFormat::Text,
        b"0{}\x1e1\x1e2\x1e3\x1e4\x1e5\x1e6\x1e2probe\x1e3probe",
        &[
            Packet::Open(Str::from("{}")),
            Packet::Close,
            Packet::ping(),
            Packet::pong(),
            Packet::text(""),
            Packet::Upgrade,
            Packet::Noop,
            Packet::probe_ping(),
            Packet::probe_pong(),
        ],
        true,
    );
}

#[test]
fn v4_binary_is_base64_even_when_the_client_supports_binary() {
    assert_eq!(
        encode(V4, &[Packet::binary(vec![1u8, 2, 3, 4])], true),
        (b"bAQIDBA==".to_vec(), PayloadFormat::Text)
    );
}

#[test]
fn v4_payload_errors() {
    let d = |b: &[u8]| decode(V4, PayloadFormat::Text, b);
    assert_eq!(d(b""), Err(Error::EmptyPayload));
    assert_eq!(d(b"4a\x1e\x1e4b"), Err(Error::EmptyPacket));
    assert_eq!(d(b"4a\x1e"), Err(Error::EmptyPacket));
    assert_eq!(d(b"abc"), Err(Error::UnknownPacketType(b'a')));
    assert_eq!(d(b"9"), Err(Error::UnknownPacketType(b'9')));
    assert_eq!(d(b"4ok\x1ebAQ!D"), Err(Error::InvalidBase64));
    assert_eq!(d(b"4\xff"), Err(Error::InvalidUtf8));
    assert_eq!(
        decode(V4, PayloadFormat::Binary, b"\x00\x01\xff4"),
        Err(Error::BinaryPayloadInV4)
    );
}

#[test]
fn packets_before_a_broken_one_are_delivered() {
    let body = Bytes::from_static(b"4one\x1e4two\x1e7bad\x1e4never");
    let mut it = decode_payload(V4, PayloadFormat::Text, body, 100)
        .into_iter()
        .flatten();
    assert_eq!(it.next(), Some(Ok(Packet::text("one"))));
    assert_eq!(it.next(), Some(Ok(Packet::text("two"))));
    assert_eq!(it.next(), Some(Err(Error::UnknownPacketType(b'7'))));
    assert_eq!(it.next(), None);
}

#[test]
fn oversize_is_reported_apart_from_malformed() {
    let body = b"4hello\x1ebAQIDBA==";
    for (version, format) in [
        (V4, PayloadFormat::Text),
        (V3, PayloadFormat::Text),
        (V3, PayloadFormat::Binary),
    ] {
        let at_limit = decode_payload(version, format, Bytes::from_static(body), body.len());
        assert!(
            !matches!(at_limit, Err(Error::TooLarge { .. })),
            "{version:?} {format:?}"
        );
        let over = decode_payload(version, format, Bytes::from_static(body), body.len() - 1).err();
        assert_eq!(
            over,
            Some(Error::TooLarge {
                len: body.len(),
                max: body.len() - 1
            })
        );
        assert!(over.is_some_and(|e| e.is_too_large() && e.http_status() == 413));
    }
    let malformed = decode(V4, PayloadFormat::Text, b"x").err();
    assert!(malformed.is_some_and(|e| !e.is_too_large() && e.http_status() == 400));
}

// ----------------------------------------------------------- v3 text payloads

#[test]
fn v3_text_payloads_from_the_documents() {
    // engine.io-parser 4.0.0 changelog: '€€€' is 3 UTF-16 units (9 UTF-8 bytes)
    both_ways(
        V3,
        PayloadFormat::Text,
        "6:4hello4:4€€€".as_bytes(),
        &[Packet::text("hello"), Packet::text("€€€")],
        true,
    );
    // protocol test suite
    both_ways(
        V3,
        PayloadFormat::Text,
        b"6:4hello",
        &[Packet::text("hello")],
        true,
    );
    both_ways(
        V3,
        PayloadFormat::Text,
        b"6:4test16:4test26:4test3",
        &[
            Packet::text("test1"),
            Packet::text("test2"),
            Packet::text("test3"),
        ],
        true,
    );
    both_ways(V3, PayloadFormat::Text, b"1:2", &[Packet::ping()], true);
    both_ways(V3, PayloadFormat::Text, b"1:3", &[Packet::pong()], true);
    both_ways(V3, PayloadFormat::Text, b"1:1", &[Packet::Close], true);
    both_ways(V3, PayloadFormat::Text, b"1:6", &[Packet::Noop], true);
    // parser doc comment example
    both_ways(
        V3,
        PayloadFormat::Text,
        b"12:4hello world3:4hi",
        &[Packet::text("hello world"), Packet::text("hi")],
        true,
    );
}

#[test]
fn v3_lengths_count_utf16_code_units() {
    // '€' is 1 unit (3 bytes); '😀' is 2 units (4 bytes, a surrogate pair).
    both_ways(
        V3,
        PayloadFormat::Text,
        "2:4€".as_bytes(),
        &[Packet::text("€")],
        true,
    );
    both_ways(
        V3,
        PayloadFormat::Text,
        "3:4😀".as_bytes(),
        &[Packet::text("😀")],
        true,
    );
    both_ways(
        V3,
        PayloadFormat::Text,
        "5:4a😀b2:4é".as_bytes(),
        &[Packet::text("a😀b"), Packet::text("é")],
        true,
    );
    // a length that ends inside the surrogate pair is malformed
    assert_eq!(
        decode(V3, PayloadFormat::Text, "2:4😀".as_bytes()),
        Err(Error::InvalidLength)
    );
    // counting bytes instead of units is wrong: "4€" is 4 bytes but 2 units
    assert_eq!(
        decode(V3, PayloadFormat::Text, "4:4€".as_bytes()),
        Err(Error::Truncated)
    );
}

#[test]
fn v3_text_binary_as_b4_base64() {
    // no XHR2 (b64=1): binary goes as b4<base64>, its length counted in characters
    both_ways(
        V3,
        PayloadFormat::Text,
        b"6:4hello10:b4AQIDBA==",
        &hello_and_bytes(),
        false,
    );
}

#[test]
fn v3_empty_payload_is_0_colon() {
    assert_eq!(encode(V3, &[], true), (b"0:".to_vec(), PayloadFormat::Text));
    assert_eq!(
        encode(V3, &[], false),
        (b"0:".to_vec(), PayloadFormat::Text)
    );
    assert_eq!(decode(V3, PayloadFormat::Text, b"0:"), Ok(vec![]));
    // zero-length packets are skipped, as engine.io-parser 2.x does
    assert_eq!(
        decode(V3, PayloadFormat::Text, b"0:1:2"),
        Ok(vec![Packet::ping()])
    );
}

#[test]
fn v3_text_payload_errors() {
    let d = |b: &[u8]| decode(V3, PayloadFormat::Text, b);
    assert_eq!(d(b""), Err(Error::EmptyPayload));
    assert_eq!(d(b"abc"), Err(Error::InvalidLength));
    assert_eq!(d(b":4a"), Err(Error::InvalidLength));
    assert_eq!(d(b"2x:4a"), Err(Error::InvalidLength));
    assert_eq!(d(b"-1:4"), Err(Error::InvalidLength));
    assert_eq!(d(b"6:4hello3"), Err(Error::InvalidLength)); // trailing length without colon
    assert_eq!(d(b"7:4hello"), Err(Error::Truncated));
    assert_eq!(d(b"99999999999999:4"), Err(Error::InvalidLength));
    assert_eq!(d(b"1:9"), Err(Error::UnknownPacketType(b'9')));
    assert_eq!(d(b"5:b4A!=="), Err(Error::InvalidBase64));
    assert_eq!(
        d(b"6:b2AQID"),
        Err(Error::BinaryNonMessage(PacketType::Ping))
    );
}

// --------------------------------------------------------- v3 binary payloads

#[test]
fn v3_binary_payload_from_the_changelog() {
    // engine.io-parser 4.0.0 changelog, v3 output of [ 'hello', <01 02 03> ]
    both_ways(
        V3,
        PayloadFormat::Binary,
        &[
            0x00, 0x06, 0xff, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x01, 0x04, 0xff, 0x04, 0x01,
            0x02, 0x03,
        ],
        &[Packet::text("hello"), Packet::binary(vec![1u8, 2, 3])],
        true,
    );
}

#[test]
fn v3_binary_payload_string_lengths_are_utf8_bytes_and_multi_digit() {
    // "4€" is 4 UTF-8 bytes in the binary form
    let mut body = vec![0x00, 0x04, 0xff];
    body.extend_from_slice("4€".as_bytes());
    // a 12-byte binary message: length 13 written as digits 1, 3
    body.extend_from_slice(&[0x01, 0x01, 0x03, 0xff, 0x04]);
    body.extend_from_slice(&[7u8; 12]);
    both_ways(
        V3,
        PayloadFormat::Binary,
        &body,
        &[Packet::text("€"), Packet::binary(vec![7u8; 12])],
        true,
    );
}

#[test]
fn v3_server_answers_in_text_without_binary_packets_or_support() {
    assert_eq!(
        encode(V3, &[Packet::text("hello")], true),
        (b"6:4hello".to_vec(), PayloadFormat::Text)
    );
    assert_eq!(
        encode(V3, &hello_and_bytes(), false),
        (b"6:4hello10:b4AQIDBA==".to_vec(), PayloadFormat::Text)
    );
}

#[test]
fn v3_binary_payload_may_hold_base64_string_packets() {
    let mut body = vec![0x00, 0x01, 0x00, 0xff];
    body.extend_from_slice(b"b4AQIDBA==");
    assert_eq!(
        decode(V3, PayloadFormat::Binary, &body),
        Ok(vec![Packet::binary(vec![1u8, 2, 3, 4])])
    );
    assert_eq!(decode(V3, PayloadFormat::Binary, b""), Ok(vec![]));
}

#[test]
fn v3_binary_payload_errors() {
    let d = |b: &[u8]| decode(V3, PayloadFormat::Binary, b);
    assert_eq!(
        d(&[0x02, 0x01, 0xff, b'2']),
        Err(Error::InvalidRecordMarker(2))
    );
    assert_eq!(d(&[0x00, 0x01]), Err(Error::Truncated)); // no 0xFF
    assert_eq!(d(&[0x00, 0xff, b'2']), Err(Error::InvalidLength)); // no digits
    assert_eq!(d(&[0x00, 0x0a, 0xff, b'2']), Err(Error::InvalidLength)); // "digit" 10
    assert_eq!(d(&[0x00, 0x05, 0xff, b'4', b'a']), Err(Error::Truncated));
    assert_eq!(d(&[0x00, 0x02, 0xff, b'4', 0xff]), Err(Error::InvalidUtf8));
    assert_eq!(d(&[0x00, 0x00, 0xff]), Err(Error::EmptyPacket));
    assert_eq!(
        d(&[0x01, 0x02, 0xff, 0x02, 0x01]),
        Err(Error::BinaryNonMessage(PacketType::Ping))
    );
    assert_eq!(
        d(&[0x01, 0x02, 0xff, 0x09, 0x01]),
        Err(Error::UnknownPacketType(9))
    );
    let mut long = vec![0x00];
    long.extend_from_slice(&[9u8; 13]);
    long.push(0xff);
    assert_eq!(d(&long), Err(Error::InvalidLength));
}

// ------------------------------------------------------------ WebSocket frames

#[test]
fn websocket_frames_both_revisions() {
    for v in [V3, V4] {
        for (packet, text) in [
            (Packet::text("hello"), "4hello"),
            (Packet::probe_ping(), "2probe"),
            (Packet::probe_pong(), "3probe"),
            (Packet::ping(), "2"),
            (Packet::pong(), "3"),
            (Packet::Upgrade, "5"),
            (Packet::Noop, "6"),
            (Packet::Close, "1"),
        ] {
            assert_eq!(encode_frame(v, &packet, true), Frame::Text(Str::from(text)));
            assert_eq!(decode_frame(v, Frame::Text(Str::from(text))), Ok(packet));
        }
    }
    let bin = Packet::binary(vec![1u8, 2, 3, 4]);
    // v4: the raw bytes; v3: 0x04 then the bytes (protocol doc "4|0|1|2|3|4|5")
    assert_eq!(
        encode_frame(V4, &bin, true),
        Frame::Binary(Bytes::from_static(&[1, 2, 3, 4]))
    );
    assert_eq!(
        encode_frame(V3, &bin, true),
        Frame::Binary(Bytes::from_static(&[4, 1, 2, 3, 4]))
    );
    assert_eq!(
        decode_frame(
            V3,
            Frame::Binary(Bytes::from_static(&[4, 0, 1, 2, 3, 4, 5]))
        ),
        Ok(Packet::binary(vec![0u8, 1, 2, 3, 4, 5]))
    );
    assert_eq!(
        decode_frame(V3, Frame::Text(Str::from("abc"))),
        Err(Error::UnknownPacketType(b'a'))
    );
    assert_eq!(
        decode_frame(V4, Frame::Text(Str::from(""))),
        Err(Error::EmptyPacket)
    );
}

#[test]
fn open_packet_fixture_from_the_v4_document() {
    let body = br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#;
    let packets = decode(V4, PayloadFormat::Text, body);
    let Ok(packets) = packets else {
        panic!("decode failed: {packets:?}")
    };
    let [Packet::Open(json)] = packets.as_slice() else {
        panic!("expected one open packet")
    };
    let open = switchboard_engineio_proto::OpenPacket::<String>::from_json(json.as_bytes());
    let Ok(open) = open else {
        panic!("bad handshake json")
    };
    assert_eq!(open.sid, "lv_VI97HAXpY6yYWAAAC");
    assert_eq!(open.ping_interval, 25_000);
    assert_eq!(open.max_payload, Some(1_000_000));
    let again = open.to_packet().ok();
    assert_eq!(encode(V4, again.as_slice(), true).0, body.to_vec());
}
