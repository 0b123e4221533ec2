//! Byte-exact fixtures for every MQTT 5.0 packet, built field by field from the layouts in
//! the 5.0 specification, chapter 3 (property identifiers from §2.2.2.2).

mod common;

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;

use common::*;
use switchboard_mqtt_proto::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, Packet, PayloadFormat, PubAck, PubComp, PubRec, PubRel,
    Publish, PublishMetadata, PublishProperties, QoS, QosPid, ReasonCode, RetainHandling, SubAck,
    Subscribe, SubscribeProperties, Subscription, SubscriptionId, SubscriptionOptions, UnsubAck,
    Unsubscribe, UnsubscribeProperties, UserProperty, Will, WillProperties,
};

fn user(k: &str, v: &str) -> UserProperty {
    UserProperty::new(s(k), s(v))
}

#[test]
fn connect_with_properties_and_will_properties() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 62,                               // CONNECT, remaining length 62
        0x00, 0x04, b'M', b'Q', b'T', b'T',     // protocol name "MQTT"
        0x05,                                   // protocol level 5
        0b1100_0110,                            // user name, password, will (QoS 0, no
                                                // retain), clean start
        0x00, 0x1E,                             // keep alive 30 s
        23,                                     // property length
        0x11, 0x00, 0x00, 0x0E, 0x10,           //   session expiry interval 3600
        0x21, 0x00, 0x14,                       //   receive maximum 20
        0x22, 0x00, 0x0A,                       //   topic alias maximum 10
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
        0x27, 0x00, 0x00, 0x10, 0x00,           //   maximum packet size 4096
        0x00, 0x02, b'c', b'5',                 // client identifier "c5"
        12,                                     // will property length
        0x01, 0x01,                             //   payload format indicator: UTF-8
        0x02, 0x00, 0x00, 0x00, 0x3C,           //   message expiry interval 60
        0x18, 0x00, 0x00, 0x00, 0x05,           //   will delay interval 5
        0x00, 0x01, b'w',                       // will topic "w"
        0x00, 0x00,                             // will payload: empty
        0x00, 0x01, b'u',                       // user name "u"
        0x00, 0x01, b'p',                       // password "p"
    ];
    let connect = Connect {
        will: Some(Will {
            properties: WillProperties {
                payload_format_indicator: Some(PayloadFormat::Utf8),
                message_expiry_interval: Some(60),
                will_delay_interval: Some(5),
                ..WillProperties::default()
            },
            ..Will::new(topic("w"), b(b""))
        }),
        username: Some(s("u")),
        password: Some(b(b"p")),
        properties: ConnectProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: NonZeroU16::new(20),
            topic_alias_maximum: Some(10),
            user_properties: vec![user("k", "v")],
            maximum_packet_size: NonZeroU32::new(4096),
            ..ConnectProperties::default()
        },
        ..Connect::new(V5, s("c5"), 30)
    };
    assert_fixture(V5, &bytes, &connect.into());
}

#[test]
fn connect_with_enhanced_auth_and_password_only() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 33,                               // CONNECT, remaining length 33
        0x00, 0x04, b'M', b'Q', b'T', b'T',     // protocol name "MQTT"
        0x05,                                   // level 5
        0b0100_0000,                            // password without user name (allowed in 5)
        0x00, 0x00,                             // keep alive 0
        16,                                     // property length
        0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // authentication method "SCRAM"
        0x16, 0x00, 0x01, 0x07,                 //   authentication data 07
        0x17, 0x00,                             //   request problem information: 0
        0x19, 0x01,                             //   request response information: 1
        0x00, 0x00,                             // client identifier ""
        0x00, 0x02, 0x00, 0xFF,                 // password: binary 00 FF
    ];
    let connect = Connect {
        clean_start: false,
        password: Some(b(&[0x00, 0xFF])),
        properties: ConnectProperties {
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(b(&[0x07])),
            request_problem_information: Some(false),
            request_response_information: Some(true),
            ..ConnectProperties::default()
        },
        ..Connect::new(V5, s(""), 0)
    };
    assert_fixture(V5, &bytes, &connect.into());
}

#[test]
fn connack_success_with_server_capabilities() {
    #[rustfmt::skip]
    let bytes = [
        0x20, 33,                               // CONNACK, remaining length 33
        0x00,                                   // acknowledge flags: no session present
        0x00,                                   // reason code: Success
        30,                                     // property length
        0x12, 0x00, 0x03, b'g', b'e', b'n',     //   assigned client identifier "gen"
        0x13, 0x00, 0x3C,                       //   server keep alive 60
        0x21, 0x00, 0x14,                       //   receive maximum 20
        0x22, 0x00, 0x0A,                       //   topic alias maximum 10
        0x24, 0x01,                             //   maximum QoS 1
        0x25, 0x01,                             //   retain available
        0x27, 0x00, 0x01, 0x00, 0x00,           //   maximum packet size 65536
        0x28, 0x01,                             //   wildcard subscription available
        0x29, 0x00,                             //   subscription identifiers not available
        0x2A, 0x01,                             //   shared subscription available
    ];
    let connack = ConnAck {
        properties: ConnAckProperties {
            assigned_client_identifier: Some(s("gen")),
            server_keep_alive: Some(60),
            receive_maximum: NonZeroU16::new(20),
            topic_alias_maximum: Some(10),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(true),
            maximum_packet_size: NonZeroU32::new(65536),
            wildcard_subscription_available: Some(true),
            subscription_identifiers_available: Some(false),
            shared_subscription_available: Some(true),
            ..ConnAckProperties::default()
        },
        ..ConnAck::new(false, ReasonCode::Success)
    };
    assert_fixture(V5, &bytes, &connack.into());
}

#[test]
fn connack_refusal_with_reason_string() {
    #[rustfmt::skip]
    let bytes = [
        0x20, 19,                               // CONNACK, remaining length 19
        0x00,                                   // no session present
        0x87,                                   // reason code: Not authorized
        16,                                     // property length
        0x11, 0x00, 0x00, 0x00, 0x00,           //   session expiry interval 0
        0x1C, 0x00, 0x01, b'h',                 //   server reference "h"
        0x1F, 0x00, 0x04, b'd', b'e', b'n', b'y', // reason string "deny"
    ];
    let connack = ConnAck {
        properties: ConnAckProperties {
            session_expiry_interval: Some(0),
            server_reference: Some(s("h")),
            reason_string: Some(s("deny")),
            ..ConnAckProperties::default()
        },
        ..ConnAck::new(false, ReasonCode::NotAuthorized)
    };
    assert_fixture(V5, &bytes, &connack.into());
    // Without properties the property length is still sent (0).
    let bare = [0x20, 0x03, 0x01, 0x00, 0x00]; // session present, Success, no properties
    assert_fixture(V5, &bare, &ConnAck::new(true, ReasonCode::Success).into());
}

#[test]
fn publish_with_every_publish_property() {
    #[rustfmt::skip]
    let bytes = [
        0x32, 57,                               // PUBLISH, QoS 1, remaining length 57
        0x00, 0x03, b'a', b'/', b'b',           // topic name "a/b"
        0x00, 0x07,                             // packet identifier 7
        47,                                     // property length
        0x01, 0x01,                             //   payload format indicator: UTF-8
        0x02, 0x00, 0x00, 0x00, 0x0A,           //   message expiry interval 10
        0x03, 0x00, 0x04, b'j', b's', b'o', b'n', // content type "json"
        0x08, 0x00, 0x03, b'r', b'/', b'1',     //   response topic "r/1"
        0x09, 0x00, 0x02, 0x01, 0x02,           //   correlation data 01 02
        0x0B, 0x05,                             //   subscription identifier 5
        0x0B, 0x80, 0x01,                       //   subscription identifier 128 (2-byte VBI)
        0x23, 0x00, 0x02,                       //   topic alias 2
        0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // user property a=b
        0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'c', // user property a=c (names may repeat)
        b'h', b'i',                             // payload "hi"
    ];
    let publish = Publish {
        qos_pid: QosPid::AtLeastOnce(pid(7)),
        properties: PublishProperties {
            payload_format_indicator: Some(PayloadFormat::Utf8),
            message_expiry_interval: Some(10),
            subscription_identifiers: [5, 128]
                .into_iter()
                .map(|i| SubscriptionId::new(i).expect("valid"))
                .collect(),
            topic_alias: NonZeroU16::new(2),
            metadata: Some(Arc::new(PublishMetadata {
                content_type: Some(s("json")),
                response_topic: Some(topic("r/1")),
                correlation_data: Some(b(&[1, 2])),
                user_properties: vec![user("a", "b"), user("a", "c")],
            })),
        },
        ..Publish::new(topic("a/b"), b(b"hi"))
    };
    assert_fixture(V5, &bytes, &publish.into());
}

#[test]
fn publish_with_topic_alias_and_empty_topic() {
    #[rustfmt::skip]
    let bytes = [
        0x31, 7,                                // PUBLISH, QoS 0, RETAIN, remaining length 7
        0x00, 0x00,                             // topic name "" (replaced by the alias)
        3,                                      // property length
        0x23, 0x00, 0x01,                       //   topic alias 1
        b'x',                                   // payload "x"
    ];
    let publish = Publish {
        retain: true,
        properties: PublishProperties {
            topic_alias: NonZeroU16::new(1),
            ..PublishProperties::default()
        },
        ..Publish::new(switchboard_mqtt_proto::TopicName::empty(), b(b"x"))
    };
    assert_fixture(V5, &bytes, &publish.into());
}

#[test]
fn publish_without_properties() {
    #[rustfmt::skip]
    let bytes = [
        0x30, 8,                                // PUBLISH, QoS 0, remaining length 8
        0x00, 0x03, b'a', b'/', b'b',           // topic name "a/b"
        0x00,                                   // property length 0
        b'h', b'i',                             // payload "hi"
    ];
    assert_fixture(V5, &bytes, &Publish::new(topic("a/b"), b(b"hi")).into());
}

#[test]
fn puback_short_and_long_forms() {
    // Success without properties: reason code and property length left out.
    assert_fixture(V5, &[0x40, 0x02, 0x00, 0x07], &PubAck::new(pid(7)).into());
    // A reason code without properties: the property length is left out.
    let no_subscribers = PubAck::with_reason(pid(7), ReasonCode::NoMatchingSubscribers);
    assert_fixture(V5, &[0x40, 0x03, 0x00, 0x07, 0x10], &no_subscribers.into());
    #[rustfmt::skip]
    let bytes = [
        0x40, 11,                               // PUBACK, remaining length 11
        0x00, 0x07,                             // packet identifier 7
        0x87,                                   // reason code: Not authorized
        7,                                      // property length
        0x1F, 0x00, 0x04, b'd', b'e', b'n', b'y', // reason string "deny"
    ];
    let denied = PubAck {
        properties: AckProperties {
            reason_string: Some(s("deny")),
            ..AckProperties::default()
        },
        ..PubAck::with_reason(pid(7), ReasonCode::NotAuthorized)
    };
    assert_fixture(V5, &bytes, &denied.into());
}

#[test]
fn pubrec_pubrel_pubcomp() {
    // PUBREC with Packet Identifier in use.
    let pubrec = PubRec::with_reason(pid(7), ReasonCode::PacketIdentifierInUse);
    assert_fixture(V5, &[0x50, 0x03, 0x00, 0x07, 0x91], &pubrec.into());
    // PUBREL (flags 0b0010) with Packet Identifier not found.
    let pubrel = PubRel::with_reason(pid(7), ReasonCode::PacketIdentifierNotFound);
    assert_fixture(V5, &[0x62, 0x03, 0x00, 0x07, 0x92], &pubrel.into());
    #[rustfmt::skip]
    let bytes = [
        0x70, 11,                               // PUBCOMP, remaining length 11
        0x00, 0x07,                             // packet identifier 7
        0x00,                                   // reason code: Success (needed: properties follow)
        7,                                      // property length
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
    ];
    let pubcomp = PubComp {
        properties: AckProperties {
            user_properties: vec![user("k", "v")],
            ..AckProperties::default()
        },
        ..PubComp::new(pid(7))
    };
    assert_fixture(V5, &bytes, &pubcomp.into());
}

#[test]
fn subscribe_with_options_and_identifier() {
    #[rustfmt::skip]
    let bytes = [
        0x82, 26,                               // SUBSCRIBE (flags 0b0010), length 26
        0x00, 0x0A,                             // packet identifier 10
        2,                                      // property length
        0x0B, 0x07,                             //   subscription identifier 7
        0x00, 0x03, b'a', b'/', b'+',           // topic filter "a/+"
        0b0010_1101,                            // retain handling 2, retain as published,
                                                // no local, QoS 1
        0x00, 0x0C, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'x', b'/', b'#',
                                                // topic filter "$share/g/x/#"
        0b0000_0010,                            // QoS 2, other options 0
    ];
    let subscribe = Subscribe {
        properties: SubscribeProperties {
            subscription_identifier: SubscriptionId::new(7),
            ..SubscribeProperties::default()
        },
        ..Subscribe::new(
            pid(10),
            vec![
                Subscription {
                    filter: filter("a/+"),
                    options: SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                },
                Subscription::new(filter("$share/g/x/#"), QoS::ExactlyOnce),
            ],
        )
    };
    assert_fixture(V5, &bytes, &subscribe.into());
}

#[test]
fn suback_with_reason_codes() {
    #[rustfmt::skip]
    let bytes = [
        0x90, 7,                                // SUBACK, remaining length 7
        0x00, 0x0A,                             // packet identifier 10
        0,                                      // property length 0
        0x01,                                   // Granted QoS 1
        0x02,                                   // Granted QoS 2
        0x8F,                                   // Topic Filter invalid
        0xA2,                                   // Wildcard Subscriptions not supported
    ];
    let suback = SubAck::new(
        pid(10),
        vec![
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::TopicFilterInvalid,
            ReasonCode::WildcardSubscriptionsNotSupported,
        ],
    );
    assert_fixture(V5, &bytes, &suback.into());
}

#[test]
fn unsubscribe_and_unsuback() {
    #[rustfmt::skip]
    let bytes = [
        0xA2, 15,                               // UNSUBSCRIBE (flags 0b0010), length 15
        0x00, 0x0B,                             // packet identifier 11
        7,                                      // property length
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
        0x00, 0x03, b'a', b'/', b'+',           // topic filter "a/+"
    ];
    let unsubscribe = Unsubscribe {
        properties: UnsubscribeProperties {
            user_properties: vec![user("k", "v")],
        },
        ..Unsubscribe::new(pid(11), vec![filter("a/+")])
    };
    assert_fixture(V5, &bytes, &unsubscribe.into());
    #[rustfmt::skip]
    let bytes = [
        0xB0, 5,                                // UNSUBACK, remaining length 5
        0x00, 0x0B,                             // packet identifier 11
        0,                                      // property length 0
        0x00,                                   // Success
        0x11,                                   // No subscription existed
    ];
    let unsuback = UnsubAck::new(
        pid(11),
        vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
    );
    assert_fixture(V5, &bytes, &unsuback.into());
}

#[test]
fn ping() {
    assert_fixture(V5, &[0xC0, 0x00], &Packet::PingReq);
    assert_fixture(V5, &[0xD0, 0x00], &Packet::PingResp);
}

#[test]
fn disconnect_forms() {
    // Normal disconnection: reason code and properties left out.
    assert_fixture(V5, &[0xE0, 0x00], &Disconnect::default().into());
    // A reason code alone.
    let with_will = Disconnect::new(ReasonCode::DisconnectWithWillMessage);
    assert_fixture(V5, &[0xE0, 0x01, 0x04], &with_will.into());
    #[rustfmt::skip]
    let bytes = [
        0xE0, 12,                               // DISCONNECT, remaining length 12
        0x8B,                                   // reason code: Server shutting down
        10,                                     // property length
        0x1C, 0x00, 0x01, b'h',                 //   server reference "h"
        0x1F, 0x00, 0x03, b'b', b'y', b'e',     //   reason string "bye"
    ];
    let shutdown = Disconnect {
        properties: DisconnectProperties {
            server_reference: Some(s("h")),
            reason_string: Some(s("bye")),
            ..DisconnectProperties::default()
        },
        ..Disconnect::new(ReasonCode::ServerShuttingDown)
    };
    assert_fixture(V5, &bytes, &shutdown.into());
}

#[test]
fn auth_forms() {
    // Success without properties: remaining length 0.
    assert_fixture(V5, &[0xF0, 0x00], &Auth::default().into());
    #[rustfmt::skip]
    let bytes = [
        0xF0, 15,                               // AUTH, remaining length 15
        0x18,                                   // reason code: Continue authentication
        13,                                     // property length
        0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // authentication method "SCRAM"
        0x16, 0x00, 0x02, 0x01, 0x02,           //   authentication data 01 02
    ];
    let auth = Auth {
        properties: AuthProperties {
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(b(&[1, 2])),
            ..AuthProperties::default()
        },
        ..Auth::new(ReasonCode::ContinueAuthentication)
    };
    assert_fixture(V5, &bytes, &auth.into());
}

#[test]
fn properties_in_any_order_decode_and_re_encode_sorted() {
    // The spec allows any property order; the encoder writes ascending identifiers.
    #[rustfmt::skip]
    let received = [
        0x30, 15,                               // PUBLISH, QoS 0, remaining length 15
        0x00, 0x01, b't',                       // topic "t"
        10,                                     // property length
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property first
        0x23, 0x00, 0x01,                       // topic alias 1 after it
        b'!',                                   // payload
    ];
    let packet = decode_one(Some(V5), &received).expect("valid");
    #[rustfmt::skip]
    let canonical = [
        0x30, 15, 0x00, 0x01, b't', 10,
        0x23, 0x00, 0x01,                       // topic alias (0x23) first
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // then user property (0x26)
        b'!',
    ];
    assert_eq!(encode(&packet, V5), canonical);
    assert_eq!(decode_one(Some(V5), &canonical), Ok(packet));
}

#[test]
fn long_ack_forms_decode_and_re_encode_short() {
    // Reason code Success written out, and an empty property block written out: both legal.
    for bytes in [
        &[0x40, 0x03, 0x00, 0x07, 0x00][..],
        &[0x40, 0x04, 0x00, 0x07, 0x00, 0x00],
    ] {
        let packet = decode_one(Some(V5), bytes).expect("valid");
        assert_eq!(packet, PubAck::new(pid(7)).into());
        assert_eq!(encode(&packet, V5), [0x40, 0x02, 0x00, 0x07]);
    }
    let packet = decode_one(Some(V5), &[0xE0, 0x02, 0x00, 0x00]).expect("valid");
    assert_eq!(packet, Disconnect::default().into());
}

#[test]
fn v5_fields_are_dropped_when_encoding_for_3_1_1() {
    let publish = Publish {
        properties: PublishProperties {
            message_expiry_interval: Some(5),
            ..PublishProperties::default()
        },
        ..Publish::new(topic("a"), b(b"x"))
    };
    assert_eq!(
        encode(&publish.into(), V311),
        [0x30, 0x04, 0x00, 0x01, b'a', b'x']
    );
    let denied = PubAck::with_reason(pid(1), ReasonCode::NotAuthorized);
    assert_eq!(encode(&denied.into(), V311), [0x40, 0x02, 0x00, 0x01]);
    let banned = ConnAck::new(false, ReasonCode::Banned);
    assert_eq!(encode(&banned.into(), V311), [0x20, 0x02, 0x00, 0x05]);
}

#[test]
fn publish_head_plus_payload_equals_the_whole_packet() {
    let publish = Publish {
        qos_pid: QosPid::ExactlyOnce(pid(3)),
        properties: PublishProperties {
            metadata: Some(Arc::new(PublishMetadata {
                content_type: Some(s("text/plain")),
                ..PublishMetadata::default()
            })),
            ..PublishProperties::default()
        },
        ..Publish::new(topic("a/b"), bytes::Bytes::from(vec![7u8; 300]))
    };
    let whole = encode(&publish.clone().into(), V5);
    let mut head = bytes::BytesMut::new();
    publish.encode_head(V5, &mut head).expect("encodes");
    assert_eq!(head.len() + 300, whole.len());
    head.extend_from_slice(&publish.payload);
    assert_eq!(&head[..], &whole[..]);
}

#[test]
fn decoded_payload_and_topic_share_the_receive_buffer() {
    let publish = Publish::new(topic("a/b"), bytes::Bytes::from(vec![9u8; 64]));
    let mut buf = bytes::BytesMut::new();
    publish.encode(V5, &mut buf).expect("encodes");
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let Ok(Some(Packet::Publish(decoded))) = decoder(Some(V5)).decode(&mut buf) else {
        panic!("expected a PUBLISH");
    };
    for ptr in [
        decoded.payload.as_ptr() as usize,
        decoded.topic.as_bytes().as_ptr() as usize,
    ] {
        assert!(
            (start..end).contains(&ptr),
            "not a slice of the receive buffer"
        );
    }
}
