//! Every rule the specs call malformed or a protocol error, each with the smallest input
//! that breaks it, and the reason code the error maps to.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use switchboard_mqtt_proto::{
    Auth, ConnAck, Connect, DecodeError as E, Decoder, EncodeError, FixedHeader, MqttString,
    Packet, PacketType, PropertyId, PubAck, Publish, QoS, QosPid, ReasonCode, SubAck, Subscribe,
    Subscription, SubscriptionOptions, TopicName, Unsubscribe, decode_connect, decode_packet,
};

/// Decodes with `version` and a size limit, expecting `error`, and checks its reason code.
fn rejects(version: Option<switchboard_mqtt_proto::ProtocolVersion>, bytes: &[u8], error: E) {
    let code = error.reason_code();
    assert_error(version, bytes, error);
    assert!(code.is_error());
}

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

// ---- CONNECT --------------------------------------------------------------------------

/// A 3.1.1 CONNECT with `flags` and the payload fields the flags announce.
fn connect_with_flags(level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![
        0x10, 0, 0x00, 0x04, b'M', b'Q', b'T', b'T', level, flags, 0x00, 0x00,
    ];
    if level == 5 {
        bytes.push(0x00); // property length
    }
    bytes.extend_from_slice(&[0x00, 0x00]); // client id ""
    bytes.extend_from_slice(payload);
    bytes[1] = u8::try_from(bytes.len() - 2).expect("short");
    bytes
}

#[test]
fn connect_flag_rules() {
    // Reserved bit 0 set.
    rejects(
        None,
        &connect_with_flags(4, 0x03, &[]),
        E::InvalidConnectFlags(0x03),
    );
    // Will QoS without the will flag.
    rejects(
        None,
        &connect_with_flags(4, 0x08, &[]),
        E::InvalidConnectFlags(0x08),
    );
    // Will retain without the will flag.
    rejects(
        None,
        &connect_with_flags(5, 0x20, &[]),
        E::InvalidConnectFlags(0x20),
    );
    // Will QoS 3.
    let will = [0x00, 0x01, b'w', 0x00, 0x00];
    rejects(
        None,
        &connect_with_flags(4, 0x1C, &will),
        E::InvalidConnectFlags(0x1C),
    );
    assert_eq!(
        E::InvalidConnectFlags(0).reason_code(),
        ReasonCode::MalformedPacket
    );
}

#[test]
fn password_without_user_name_is_rejected_before_mqtt_5() {
    let password = [0x00, 0x01, b'p'];
    rejects(
        None,
        &connect_with_flags(4, 0x40, &password),
        E::PasswordWithoutUsername,
    );
    let v5 = decode_one(None, &connect_with_flags(5, 0x40, &[0x00, 0x01, b'p']));
    let Ok(Packet::Connect(c)) = v5 else {
        panic!("MQTT 5 allows a password alone: {v5:?}")
    };
    assert_eq!(c.password.as_deref(), Some(&b"p"[..]));
    // The encoder refuses to produce the 3.1.1 form.
    let connect = Connect {
        password: Some(b(b"p")),
        ..Connect::new(V311, s("c"), 0)
    };
    assert!(matches!(
        connect.encode(&mut BytesMut::new()),
        Err(EncodeError::Invalid(_))
    ));
}

#[test]
fn protocol_name_and_level_are_checked() {
    let mut bad_name = connect_with_flags(4, 0x02, &[]);
    bad_name[7] = b'X'; // "MQTX"
    rejects(None, &bad_name, E::InvalidProtocolName);
    for level in [0, 1, 2, 3, 6, 0x84] {
        let err = E::UnsupportedProtocolVersion(level);
        assert_eq!(err.reason_code(), ReasonCode::UnsupportedProtocolVersion);
        assert_eq!(err.v3_connack_return_code(), Some(1));
        rejects(None, &connect_with_flags(level, 0x02, &[]), err);
    }
    // "MQIsdp" is 3.1 only.
    #[rustfmt::skip]
    let mqisdp_v4 = [
        0x10, 14, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x04, 0x02, 0x00, 0x00,
        0x00, 0x00,
    ];
    rejects(None, &mqisdp_v4, E::UnsupportedProtocolVersion(4));
    assert_eq!(E::InvalidProtocolName.v3_connack_return_code(), None);
}

#[test]
fn connect_property_rules() {
    // Authentication Data without Authentication Method.
    #[rustfmt::skip]
    let bytes = [
        0x10, 17, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00,
        4, 0x16, 0x00, 0x01, 0x07,              // authentication data only
        0x00, 0x00,
    ];
    rejects(None, &bytes, E::AuthDataWithoutMethod);
    // Topic Alias is a PUBLISH property.
    #[rustfmt::skip]
    let bytes = [
        0x10, 16, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00,
        3, 0x23, 0x00, 0x01,
        0x00, 0x00,
    ];
    rejects(None, &bytes, E::PropertyNotAllowed(PropertyId::TopicAlias));
    // Will Delay Interval belongs in the Will Properties, not the CONNECT properties.
    #[rustfmt::skip]
    let bytes = [
        0x10, 18, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00,
        5, 0x18, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00,
    ];
    rejects(
        None,
        &bytes,
        E::PropertyNotAllowed(PropertyId::WillDelayInterval),
    );
}

// ---- SUBSCRIBE / UNSUBSCRIBE -----------------------------------------------------------

#[test]
fn empty_subscribe_and_unsubscribe_are_protocol_errors() {
    rejects(
        Some(V311),
        &[0x82, 0x02, 0x00, 0x01],
        E::EmptyPayload(PacketType::Subscribe),
    );
    rejects(
        Some(V5),
        &[0x82, 0x03, 0x00, 0x01, 0x00],
        E::EmptyPayload(PacketType::Subscribe),
    );
    rejects(
        Some(V311),
        &[0xA2, 0x02, 0x00, 0x01],
        E::EmptyPayload(PacketType::Unsubscribe),
    );
    rejects(
        Some(V5),
        &[0x90, 0x03, 0x00, 0x01, 0x00],
        E::EmptyPayload(PacketType::SubAck),
    );
    assert_eq!(
        E::EmptyPayload(PacketType::Subscribe).reason_code(),
        ReasonCode::ProtocolError
    );
    let empty = Subscribe::new(pid(1), vec![]);
    assert!(empty.encode(V5, &mut BytesMut::new()).is_err());
    let empty = Unsubscribe::new(pid(1), vec![]);
    assert!(empty.encode(V311, &mut BytesMut::new()).is_err());
}

/// A SUBSCRIBE to "a" with `options`.
fn subscribe_with_options(
    version: switchboard_mqtt_proto::ProtocolVersion,
    options: u8,
) -> Vec<u8> {
    if version.is_v5() {
        vec![0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', options]
    } else {
        vec![0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', options]
    }
}

#[test]
fn subscription_option_rules() {
    // Before MQTT 5 only the two QoS bits may be set.
    for bit in 2..8 {
        let options = 1 << bit;
        rejects(
            Some(V311),
            &subscribe_with_options(V311, options),
            E::InvalidSubscriptionOptions(options),
        );
    }
    // MQTT 5: bits 6 and 7 are reserved.
    for options in [0x40, 0x80] {
        rejects(
            Some(V5),
            &subscribe_with_options(V5, options),
            E::InvalidSubscriptionOptions(options),
        );
    }
    rejects(
        Some(V311),
        &subscribe_with_options(V311, 0x03),
        E::InvalidQoS(3),
    );
    rejects(
        Some(V5),
        &subscribe_with_options(V5, 0x30),
        E::InvalidRetainHandling,
    );
    assert_eq!(
        E::InvalidRetainHandling.reason_code(),
        ReasonCode::ProtocolError
    );
    assert_eq!(
        E::InvalidSubscriptionOptions(0x40).reason_code(),
        ReasonCode::MalformedPacket
    );
    // Every valid MQTT 5 options byte round-trips.
    for byte in (0u8..0x40).filter(|b| b & 0x03 != 3 && (b >> 4) != 3) {
        let options = SubscriptionOptions::from_byte(byte, V5).expect("valid");
        assert_eq!(options.to_byte(V5), byte);
    }
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    #[rustfmt::skip]
    let bytes = [
        0x82, 16, 0x00, 0x01, 0x00,
        0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'a',
        0x04,                                   // no local
    ];
    rejects(Some(V5), &bytes, E::NoLocalOnSharedSubscription);
    let mut sub = Subscription::new(filter("$share/g/a"), QoS::AtMostOnce);
    sub.options.no_local = true;
    assert!(
        Subscribe::new(pid(1), vec![sub])
            .encode(V5, &mut BytesMut::new())
            .is_err()
    );
}

// ---- properties -------------------------------------------------------------------------

/// A QoS 0 MQTT 5 PUBLISH to "t" with the given property block (without its length).
fn publish_with_props(props: &[u8]) -> Vec<u8> {
    let mut bytes = vec![
        0x30,
        0,
        0x00,
        0x01,
        b't',
        u8::try_from(props.len()).expect("short"),
    ];
    bytes.extend_from_slice(props);
    bytes[1] = u8::try_from(bytes.len() - 2).expect("short");
    bytes
}

#[test]
fn unknown_property_identifiers_are_malformed() {
    rejects(
        Some(V5),
        &publish_with_props(&[0x04, 0x00]),
        E::UnknownProperty(4),
    );
    rejects(
        Some(V5),
        &publish_with_props(&[0x7F, 0x00]),
        E::UnknownProperty(0x7F),
    );
    assert_eq!(
        E::UnknownProperty(4).reason_code(),
        ReasonCode::MalformedPacket
    );
}

#[test]
fn properties_outside_their_packets_are_protocol_errors() {
    // Session Expiry Interval in PUBLISH.
    let props = [0x11, 0x00, 0x00, 0x00, 0x01];
    rejects(
        Some(V5),
        &publish_with_props(&props),
        E::PropertyNotAllowed(PropertyId::SessionExpiryInterval),
    );
    // Reason String in PUBLISH.
    let props = [0x1F, 0x00, 0x01, b'x'];
    rejects(
        Some(V5),
        &publish_with_props(&props),
        E::PropertyNotAllowed(PropertyId::ReasonString),
    );
    // Topic Alias in PUBACK.
    let puback = [0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01];
    rejects(
        Some(V5),
        &puback,
        E::PropertyNotAllowed(PropertyId::TopicAlias),
    );
    assert_eq!(
        E::PropertyNotAllowed(PropertyId::TopicAlias).reason_code(),
        ReasonCode::ProtocolError
    );
}

#[test]
fn duplicates_are_rejected_except_where_repeatable() {
    let twice = [0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2];
    rejects(
        Some(V5),
        &publish_with_props(&twice),
        E::DuplicateProperty(PropertyId::MessageExpiryInterval),
    );
    let twice = [0x01, 0x00, 0x01, 0x01];
    rejects(
        Some(V5),
        &publish_with_props(&twice),
        E::DuplicateProperty(PropertyId::PayloadFormatIndicator),
    );
    // User Property repeats; Subscription Identifier repeats in PUBLISH.
    let users = [0x26, 0, 1, b'k', 0, 1, b'v', 0x26, 0, 1, b'k', 0, 1, b'v'];
    assert!(decode_one(Some(V5), &publish_with_props(&users)).is_ok());
    let ids = [0x0B, 0x01, 0x0B, 0x02];
    assert!(decode_one(Some(V5), &publish_with_props(&ids)).is_ok());
    // ... but not in SUBSCRIBE.
    #[rustfmt::skip]
    let subscribe = [0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b'a', 0x00];
    rejects(
        Some(V5),
        &subscribe,
        E::DuplicateProperty(PropertyId::SubscriptionIdentifier),
    );
}

#[test]
fn forbidden_property_values_are_protocol_errors() {
    use PropertyId as P;
    // Payload Format Indicator other than 0/1.
    rejects(
        Some(V5),
        &publish_with_props(&[0x01, 0x02]),
        E::InvalidPropertyValue(P::PayloadFormatIndicator),
    );
    // Topic Alias 0.
    rejects(
        Some(V5),
        &publish_with_props(&[0x23, 0x00, 0x00]),
        E::InvalidPropertyValue(P::TopicAlias),
    );
    // Subscription Identifier 0.
    rejects(
        Some(V5),
        &publish_with_props(&[0x0B, 0x00]),
        E::InvalidPropertyValue(P::SubscriptionIdentifier),
    );
    // Response Topic with a wildcard.
    rejects(
        Some(V5),
        &publish_with_props(&[0x08, 0x00, 0x01, b'#']),
        E::InvalidPropertyValue(P::ResponseTopic),
    );
    // CONNACK: Maximum QoS 2, Retain Available 2, Receive Maximum 0, Maximum Packet Size 0.
    for (props, id) in [
        (&[0x24, 0x02][..], P::MaximumQoS),
        (&[0x25, 0x02], P::RetainAvailable),
        (&[0x28, 0x02], P::WildcardSubscriptionAvailable),
        (&[0x29, 0x02], P::SubscriptionIdentifierAvailable),
        (&[0x2A, 0x02], P::SharedSubscriptionAvailable),
        (&[0x21, 0x00, 0x00], P::ReceiveMaximum),
        (&[0x27, 0x00, 0x00, 0x00, 0x00], P::MaximumPacketSize),
    ] {
        let mut connack = vec![
            0x20,
            0,
            0x00,
            0x00,
            u8::try_from(props.len()).expect("short"),
        ];
        connack.extend_from_slice(props);
        connack[1] = u8::try_from(connack.len() - 2).expect("short");
        rejects(Some(V5), &connack, E::InvalidPropertyValue(id));
    }
    // CONNECT: Request Problem Information 2.
    #[rustfmt::skip]
    let connect = [
        0x10, 15, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00,
        2, 0x17, 0x02,
        0x00, 0x00,
    ];
    rejects(
        None,
        &connect,
        E::InvalidPropertyValue(P::RequestProblemInformation),
    );
}

#[test]
fn malformed_variable_byte_integers_inside_properties() {
    // Property length written in a non-minimal form.
    rejects(
        Some(V5),
        &[0x30, 0x05, 0x00, 0x01, b't', 0x80, 0x00],
        E::MalformedVarInt,
    );
    // Subscription identifier with five bytes.
    let props = [0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    rejects(Some(V5), &publish_with_props(&props), E::MalformedVarInt);
}

// ---- reason codes -------------------------------------------------------------------------

#[test]
fn reason_codes_must_be_listed_for_their_packet() {
    let invalid = |packet_type, code| E::InvalidReasonCode { packet_type, code };
    // Packet Identifier not found is a PUBREL/PUBCOMP code, not a PUBACK one.
    rejects(
        Some(V5),
        &[0x40, 0x03, 0x00, 0x01, 0x92],
        invalid(PacketType::PubAck, 0x92),
    );
    // 0x03 is not defined at all.
    rejects(
        Some(V5),
        &[0xE0, 0x01, 0x03],
        invalid(PacketType::Disconnect, 0x03),
    );
    // Granted QoS 1 is a SUBACK code, not an AUTH one.
    rejects(
        Some(V5),
        &[0xF0, 0x02, 0x01, 0x00],
        invalid(PacketType::Auth, 0x01),
    );
    // CONNACK: 3.1.1 return codes above 5 are reserved; Server shutting down is not a CONNACK code.
    rejects(
        Some(V311),
        &[0x20, 0x02, 0x00, 0x06],
        invalid(PacketType::ConnAck, 0x06),
    );
    rejects(
        Some(V5),
        &[0x20, 0x03, 0x00, 0x8B, 0x00],
        invalid(PacketType::ConnAck, 0x8B),
    );
    // 3.1.1 SUBACK knows only 0x00, 0x01, 0x02 and 0x80.
    rejects(
        Some(V311),
        &[0x90, 0x03, 0x00, 0x01, 0x87],
        invalid(PacketType::SubAck, 0x87),
    );
    assert_eq!(
        invalid(PacketType::SubAck, 0).reason_code(),
        ReasonCode::ProtocolError
    );
}

#[test]
fn connack_flag_rules() {
    rejects(
        Some(V311),
        &[0x20, 0x02, 0x02, 0x00],
        E::InvalidConnAckFlags(0x02),
    );
    rejects(
        Some(V5),
        &[0x20, 0x03, 0x80, 0x00, 0x00],
        E::InvalidConnAckFlags(0x80),
    );
    // Session Present with a refusal.
    rejects(
        Some(V311),
        &[0x20, 0x02, 0x01, 0x05],
        E::SessionPresentOnFailure,
    );
    rejects(
        Some(V5),
        &[0x20, 0x03, 0x01, 0x87, 0x00],
        E::SessionPresentOnFailure,
    );
}

// ---- encode-side refusals ---------------------------------------------------------------

#[test]
fn the_encoder_refuses_what_the_decoder_would_reject() {
    let mut buf = BytesMut::new();
    let auth = Auth::new(ReasonCode::ReAuthenticate);
    assert!(matches!(
        auth.encode(V311, &mut buf),
        Err(EncodeError::UnsupportedInVersion { .. })
    ));
    let dup_qos0 = Publish {
        dup: true,
        ..Publish::new(topic("t"), Bytes::new())
    };
    assert!(matches!(
        dup_qos0.encode(V5, &mut buf),
        Err(EncodeError::Invalid(_))
    ));
    let empty_topic = Publish::new(TopicName::empty(), Bytes::new());
    assert!(matches!(
        empty_topic.encode(V5, &mut buf),
        Err(EncodeError::Invalid(_))
    ));
    assert!(matches!(
        empty_topic.encode(V311, &mut buf),
        Err(EncodeError::Invalid(_))
    ));
    let wrong_code = PubAck::with_reason(pid(1), ReasonCode::PacketIdentifierNotFound);
    assert!(matches!(
        wrong_code.encode(V5, &mut buf),
        Err(EncodeError::Invalid(_))
    ));
    let present_and_refused = ConnAck::new(true, ReasonCode::NotAuthorized);
    assert!(present_and_refused.encode(V311, &mut buf).is_err());
    let bad_suback = SubAck::new(pid(1), vec![ReasonCode::NoMatchingSubscribers]);
    assert!(bad_suback.encode(V5, &mut buf).is_err());
    assert!(bad_suback.encode(V311, &mut buf).is_err());
    let long_password = Connect {
        username: Some(s("u")),
        password: Some(Bytes::from(vec![0; 70_000])),
        ..Connect::new(V5, s("c"), 0)
    };
    assert_eq!(
        long_password.encode(&mut buf),
        Err(EncodeError::FieldTooLong {
            field: "password",
            len: 70_000
        })
    );
    // Nothing was written by any of the failures.
    assert!(buf.is_empty());
}

#[test]
fn packets_beyond_the_protocol_maximum_cannot_be_encoded() {
    // 256 MiB of zeroes (lazily mapped, never touched) plus the topic exceeds 268,435,455.
    let payload = Bytes::from(vec![0u8; 268_435_456]);
    let publish = Publish {
        qos_pid: QosPid::AtMostOnce,
        ..Publish::new(topic("t"), payload)
    };
    assert!(matches!(
        publish.encoded_len(V311),
        Err(EncodeError::PacketTooLarge(_))
    ));
}

#[test]
fn string_constructors_enforce_the_rules() {
    assert_eq!(MqttString::try_from("a\0"), Err(E::NullCharacter));
    assert!(matches!(
        MqttString::try_from("x".repeat(65_536)),
        Err(E::StringTooLong(65_536))
    ));
    assert_eq!(TopicName::try_from("a/+"), Err(E::WildcardInTopicName));
}
