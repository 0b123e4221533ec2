//! Malformed-packet and protocol-error rules of the framing layer: fixed header, remaining
//! length, size limit, UTF-8 strings, topic names and filters, packet identifiers. Each test
//! uses the smallest input that breaks the rule and checks the reason code it maps to.

mod common;

use bytes::BytesMut;
use common::*;
use switchboard_mqtt_proto::{
    DecodeError as E, Decoder, FixedHeader, Packet, PacketType, ReasonCode, decode_connect,
    decode_packet,
};

// ---- fixed header -------------------------------------------------------------------

#[test]
fn remaining_length_longer_than_four_bytes_is_malformed() {
    rejects(
        Some(V311),
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF],
        E::MalformedVarInt,
    );
    rejects(
        Some(V5),
        &[0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
        E::MalformedVarInt,
    );
    assert_eq!(
        E::MalformedVarInt.reason_code(),
        ReasonCode::MalformedPacket
    );
}

#[test]
fn non_minimal_remaining_length_is_malformed() {
    // 0 written in two bytes.
    rejects(Some(V5), &[0xC0, 0x80, 0x00], E::MalformedVarInt);
}

#[test]
fn a_256_mb_declared_length_is_rejected_from_the_header_alone() {
    // PUBLISH declaring 268,435,455 bytes; only the five header bytes have arrived.
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let err = Decoder::with_version(V5, 1024 * 1024).decode(&mut buf);
    assert_eq!(
        err,
        Err(E::PacketTooLarge {
            size: 268_435_460,
            max: 1024 * 1024
        })
    );
    assert_eq!(
        E::PacketTooLarge { size: 0, max: 0 }.reason_code(),
        ReasonCode::PacketTooLarge
    );
    // Same for the very first packet (CONNECT), before the version is known.
    let mut buf = BytesMut::from(&[0x10, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    assert!(matches!(
        decode_connect(&mut buf, 64 * 1024),
        Err(E::PacketTooLarge { .. })
    ));
}

#[test]
fn the_size_limit_counts_the_fixed_header() {
    // PINGREQ is 2 bytes: allowed with a 2-byte limit, rejected with 1.
    let ok = decode_packet(&mut BytesMut::from(&[0xC0, 0x00][..]), V311, 2);
    assert_eq!(ok, Ok(Some(Packet::PingReq)));
    let err = decode_packet(&mut BytesMut::from(&[0xC0, 0x00][..]), V311, 1);
    assert_eq!(err, Err(E::PacketTooLarge { size: 2, max: 1 }));
    // A 130-byte remaining length has a 3-byte fixed header: 133 bytes in total.
    let header = FixedHeader::parse(&[0x30, 0x82, 0x01], Some(V5), 133);
    assert_eq!(header.map(|h| h.map(|h| h.packet_len())), Ok(Some(133)));
    let header = FixedHeader::parse(&[0x30, 0x82, 0x01], Some(V5), 132);
    assert_eq!(
        header,
        Err(E::PacketTooLarge {
            size: 133,
            max: 132
        })
    );
}

#[test]
fn reserved_packet_type_is_rejected_from_the_first_byte() {
    rejects(Some(V311), &[0x00], E::InvalidPacketType(0));
    // AUTH does not exist before MQTT 5.
    rejects(Some(V311), &[0xF0, 0x00], E::InvalidPacketType(15));
    rejects(Some(V31), &[0xF0], E::InvalidPacketType(15));
}

#[test]
fn fixed_header_flags_are_checked_for_every_type() {
    for t in 1..=15u8 {
        let ty = PacketType::from_u8(t).expect("defined");
        let Some(required) = ty.required_flags() else {
            continue;
        };
        for flags in (0..16u8).filter(|&f| f != required) {
            let err = E::InvalidHeaderFlags {
                packet_type: ty,
                flags,
            };
            let version = if ty == PacketType::Connect {
                None
            } else {
                Some(V5)
            };
            // Rejected from the first byte alone.
            rejects(version, &[(t << 4) | flags], err);
        }
    }
}

#[test]
fn publish_qos_3_and_dup_on_qos_0_are_malformed() {
    rejects(Some(V311), &[0x36], E::InvalidQoS(3));
    rejects(Some(V5), &[0x3F], E::InvalidQoS(3));
    rejects(Some(V311), &[0x38], E::DupOnQoS0);
    assert_eq!(E::DupOnQoS0.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn the_first_packet_must_be_connect() {
    rejects(None, &[0xC0, 0x00], E::ExpectedConnect(PacketType::PingReq));
    rejects(None, &[0x30], E::ExpectedConnect(PacketType::Publish));
    assert_eq!(
        E::ExpectedConnect(PacketType::Publish).reason_code(),
        ReasonCode::ProtocolError
    );
}

#[test]
fn trailing_bytes_are_malformed() {
    rejects(
        Some(V311),
        &[0xC0, 0x01, 0x00],
        E::TrailingBytes(PacketType::PingReq),
    );
    rejects(
        Some(V311),
        &[0x40, 0x03, 0x00, 0x01, 0x00],
        E::TrailingBytes(PacketType::PubAck),
    );
    rejects(
        Some(V311),
        &[0xE0, 0x01, 0x00],
        E::TrailingBytes(PacketType::Disconnect),
    );
    rejects(
        Some(V311),
        &[0xB0, 0x03, 0x00, 0x01, 0x00],
        E::TrailingBytes(PacketType::UnsubAck),
    );
}

#[test]
fn fields_running_past_the_packet_are_malformed() {
    // PUBACK with a one-byte packet identifier.
    rejects(
        Some(V311),
        &[0x40, 0x01, 0x00],
        E::UnexpectedEnd(PacketType::PubAck),
    );
    // PUBLISH whose topic length says 5 but 1 byte follows.
    rejects(
        Some(V311),
        &[0x30, 0x03, 0x00, 0x05, b'a'],
        E::UnexpectedEnd(PacketType::Publish),
    );
    // QoS 1 PUBLISH without room for the packet identifier.
    rejects(
        Some(V311),
        &[0x32, 0x03, 0x00, 0x01, b'a'],
        E::UnexpectedEnd(PacketType::Publish),
    );
    // AUTH with a reason code but no property length (remaining length 1).
    rejects(
        Some(V5),
        &[0xF0, 0x01, 0x18],
        E::UnexpectedEnd(PacketType::Auth),
    );
    // A property block longer than the packet.
    rejects(
        Some(V5),
        &[0x30, 0x05, 0x00, 0x01, b't', 0x05, 0x01],
        E::UnexpectedEnd(PacketType::Publish),
    );
}

// ---- strings and topics ---------------------------------------------------------------

#[test]
fn ill_formed_utf8_is_malformed() {
    // Topic "\xC3\x28": a lead byte followed by a non-continuation byte.
    rejects(
        Some(V311),
        &[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28],
        E::InvalidUtf8,
    );
    // An encoded surrogate U+D800.
    rejects(
        Some(V5),
        &[0x30, 0x06, 0x00, 0x03, 0xED, 0xA0, 0x80, 0x00],
        E::InvalidUtf8,
    );
    // A truncated sequence in a client identifier.
    #[rustfmt::skip]
    let connect = [
        0x10, 13, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00,
        0x00, 0x01, 0xE2,                       // client id: first byte of a 3-byte sequence
    ];
    rejects(None, &connect, E::InvalidUtf8);
    assert_eq!(E::InvalidUtf8.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn the_null_character_is_malformed() {
    rejects(
        Some(V311),
        &[0x30, 0x05, 0x00, 0x03, b'a', 0x00, b'b'],
        E::NullCharacter,
    );
    // Also inside a user property.
    #[rustfmt::skip]
    let puback = [0x40, 0x0B, 0x00, 0x01, 0x00, 0x07, 0x26, 0x00, 0x01, 0x00, 0x00, 0x01, b'v'];
    rejects(Some(V5), &puback, E::NullCharacter);
}

#[test]
fn discouraged_code_points_are_rejected_only_in_strict_mode() {
    // Topic "a\x01": a control character the spec says SHOULD NOT be sent.
    let bytes = [0x30, 0x04, 0x00, 0x02, b'a', 0x01];
    assert!(decode_one(Some(V311), &bytes).is_ok());
    let mut buf = BytesMut::from(&bytes[..]);
    let strict = Decoder::with_version(V311, 1024)
        .strict_utf8(true)
        .decode(&mut buf);
    assert_eq!(strict, Err(E::DiscouragedCodePoint(1)));
    // U+FEFF (zero width no-break space) is fine even in strict mode.
    let bom = [0x30, 0x05, 0x00, 0x03, 0xEF, 0xBB, 0xBF];
    let mut buf = BytesMut::from(&bom[..]);
    assert!(
        Decoder::with_version(V311, 1024)
            .strict_utf8(true)
            .decode(&mut buf)
            .is_ok()
    );
}

#[test]
fn wildcards_in_topic_names_are_rejected() {
    rejects(
        Some(V311),
        &[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'],
        E::WildcardInTopicName,
    );
    rejects(
        Some(V5),
        &[0x30, 0x04, 0x00, 0x01, b'#', 0x00],
        E::WildcardInTopicName,
    );
    assert_eq!(
        E::WildcardInTopicName.reason_code(),
        ReasonCode::TopicNameInvalid
    );
    // Also in a will topic.
    #[rustfmt::skip]
    let connect = [
        0x10, 17, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x06, 0x00, 0x00,
        0x00, 0x00,                             // client id ""
        0x00, 0x01, b'#',                       // will topic "#"
        0x00, 0x00,                             // will payload
    ];
    rejects(None, &connect, E::WildcardInTopicName);
}

#[test]
fn empty_topic_names_are_a_protocol_error() {
    rejects(Some(V311), &[0x30, 0x02, 0x00, 0x00], E::EmptyTopicName);
    // MQTT 5 allows it only with a Topic Alias.
    rejects(Some(V5), &[0x30, 0x03, 0x00, 0x00, 0x00], E::EmptyTopicName);
    assert_eq!(E::EmptyTopicName.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn misplaced_filter_wildcards_are_rejected() {
    for bad in [
        "a/#/b",
        "a#",
        "a+",
        "+a",
        "#/",
        "",
        "$share/g",
        "$share//a",
        "$share/g+/a",
    ] {
        let mut bytes = vec![
            0x82,
            0,
            0x00,
            0x01,
            0x00,
            u8::try_from(bad.len()).expect("short"),
        ];
        bytes.extend_from_slice(bad.as_bytes());
        bytes.push(0x00); // options: QoS 0
        bytes[1] = u8::try_from(bytes.len() - 2).expect("short");
        assert!(
            matches!(
                decode_one(Some(V311), &bytes),
                Err(E::InvalidTopicFilter(_))
            ),
            "SUBSCRIBE {bad:?}"
        );
        // UNSUBSCRIBE: same filter without the options byte.
        bytes.pop();
        bytes[0] = 0xA2;
        bytes[1] -= 1;
        assert!(
            matches!(
                decode_one(Some(V311), &bytes),
                Err(E::InvalidTopicFilter(_))
            ),
            "UNSUBSCRIBE {bad:?}"
        );
    }
    assert_eq!(
        E::InvalidTopicFilter("x").reason_code(),
        ReasonCode::TopicFilterInvalid
    );
}

// ---- packet identifiers ---------------------------------------------------------------

#[test]
fn packet_identifier_zero_is_rejected_where_forbidden() {
    let cases: [(&[u8], PacketType); 9] = [
        (
            &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
            PacketType::Publish,
        ),
        (&[0x40, 0x02, 0x00, 0x00], PacketType::PubAck),
        (&[0x50, 0x02, 0x00, 0x00], PacketType::PubRec),
        (&[0x62, 0x02, 0x00, 0x00], PacketType::PubRel),
        (&[0x70, 0x02, 0x00, 0x00], PacketType::PubComp),
        (
            &[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00],
            PacketType::Subscribe,
        ),
        (&[0x90, 0x03, 0x00, 0x00, 0x00], PacketType::SubAck),
        (
            &[0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, b'a'],
            PacketType::Unsubscribe,
        ),
        (&[0xB0, 0x02, 0x00, 0x00], PacketType::UnsubAck),
    ];
    for (bytes, ty) in cases {
        rejects(Some(V311), bytes, E::ZeroPacketId(ty));
    }
    assert_eq!(
        E::ZeroPacketId(PacketType::PubAck).reason_code(),
        ReasonCode::ProtocolError
    );
}
