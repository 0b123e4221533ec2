//! Malformed-packet and protocol-error rules inside packets: CONNECT fields and flags,
//! SUBSCRIBE/UNSUBSCRIBE payloads and options, MQTT 5 properties, reason codes, and what the
//! encoder refuses to produce. Each test uses the smallest input that breaks the rule.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use switchboard_mqtt_proto::{
    Auth, ConnAck, Connect, DecodeError as E, EncodeError, MqttString, Packet, PacketType,
    PropertyId, PubAck, Publish, QoS, QosPid, ReasonCode, SubAck, Subscribe, Subscription,
    SubscriptionOptions, TopicName, Unsubscribe,
};

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
