//! Generated-input tests (proptest):
//! - arbitrary packets of every type and version encode, then decode to the same value, and
//!   the decoded packet re-encodes to exactly the same bytes;
//! - every truncation of a valid packet is "incomplete", never an error or a panic;
//! - random and mutated bytes never panic, and whatever they decode to re-encodes to the
//!   same bytes (3.1/3.1.1) or to the canonical equivalent (MQTT 5, whose properties may come
//!   in any order and whose acknowledgements have optional long forms);
//! - a stream of packets cut into arbitrary chunks decodes to the same packets.

mod common;

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use common::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use switchboard_mqtt_proto::{
    ALL_REASON_CODES, AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect,
    ConnectProperties, Disconnect, DisconnectProperties, MqttString, Packet, PacketId, PacketType,
    PayloadFormat, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, PublishMetadata,
    PublishProperties, QoS, QosPid, ReasonCode, RetainHandling, SubAck, Subscribe,
    SubscribeProperties, Subscription, SubscriptionId, SubscriptionOptions, TopicFilter, TopicName,
    UnsubAck, Unsubscribe, UnsubscribeProperties, UserProperty, Will, WillProperties,
};

// ---- strategies -----------------------------------------------------------------------

fn mqtt_string() -> impl Strategy<Value = MqttString> {
    "[a-zA-Z0-9 _/é€\u{1F600}]{0,8}".prop_map(|s| MqttString::try_from(s).expect("valid"))
}

fn topic_name() -> impl Strategy<Value = TopicName> {
    "[a-z0-9é$]{1,4}(/[a-z0-9 ]{0,3}){0,3}".prop_map(|s| TopicName::try_from(s).expect("valid"))
}

fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop_oneof!["[a-z0-9]{0,3}", Just("+".to_owned())];
    (vec(level, 1..4), any::<bool>(), option::of("[a-z]{1,3}")).prop_filter_map(
        "empty filter",
        |(levels, hash, share)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str(if f.is_empty() { "#" } else { "/#" });
            }
            if let Some(group) = share {
                f = format!("$share/{group}/{f}");
            }
            TopicFilter::try_from(f).ok()
        },
    )
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1u16..).prop_map(|n| PacketId::new(n).expect("non-zero"))
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn users() -> impl Strategy<Value = Vec<UserProperty>> {
    vec(
        (mqtt_string(), mqtt_string()).prop_map(|(k, v)| UserProperty::new(k, v)),
        0..3,
    )
}

fn payload_format() -> impl Strategy<Value = PayloadFormat> {
    select(vec![PayloadFormat::Unspecified, PayloadFormat::Utf8])
}

fn subscription_id() -> impl Strategy<Value = SubscriptionId> {
    prop_oneof![1u32..200, 1u32..=SubscriptionId::MAX]
        .prop_map(|n| SubscriptionId::new(n).expect("in range"))
}

fn nonzero16() -> impl Strategy<Value = NonZeroU16> {
    (1u16..).prop_map(|n| NonZeroU16::new(n).expect("non-zero"))
}

fn nonzero32() -> impl Strategy<Value = NonZeroU32> {
    (1u32..).prop_map(|n| NonZeroU32::new(n).expect("non-zero"))
}

/// A reason code the spec lists for `packet`.
fn reason_in(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    select(
        ALL_REASON_CODES
            .iter()
            .copied()
            .filter(|c| c.allowed_in(packet))
            .collect::<Vec<_>>(),
    )
}

fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (option::of(mqtt_string()), users()).prop_map(|(reason_string, user_properties)| {
        AckProperties {
            reason_string,
            user_properties,
        }
    })
}

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        option::of(any::<u32>()),
        option::of((mqtt_string(), option::of(binary()))),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(nonzero16()),
        option::of(any::<u16>()),
        users(),
        option::of(nonzero32()),
    )
        .prop_map(
            |(session, auth, problem, response, receive, alias, users, max)| ConnectProperties {
                session_expiry_interval: session,
                authentication_data: auth.as_ref().and_then(|(_, d)| d.clone()),
                authentication_method: auth.map(|(m, _)| m),
                request_problem_information: problem,
                request_response_information: response,
                receive_maximum: receive,
                topic_alias_maximum: alias,
                user_properties: users,
                maximum_packet_size: max,
            },
        )
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        option::of(payload_format()),
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(topic_name()),
        option::of(binary()),
        option::of(any::<u32>()),
        users(),
    )
        .prop_map(
            |(format, expiry, content, response, correlation, delay, users)| WillProperties {
                payload_format_indicator: format,
                message_expiry_interval: expiry,
                content_type: content,
                response_topic: response,
                correlation_data: correlation,
                will_delay_interval: delay,
                user_properties: users,
            },
        )
}

fn connect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let will = (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        will_properties(),
    )
        .prop_map(move |(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties: if v5 {
                properties
            } else {
                WillProperties::default()
            },
        });
    (
        any::<bool>(),
        any::<u16>(),
        mqtt_string(),
        option::of(will),
        option::of(mqtt_string()),
        option::of(binary()),
        connect_properties(),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, props)| {
                Connect {
                    protocol: version,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    // Before MQTT 5 a password needs a user name.
                    password: if v5 || username.is_some() {
                        password
                    } else {
                        None
                    },
                    username,
                    properties: if v5 {
                        props
                    } else {
                        ConnectProperties::default()
                    },
                }
                .into()
            },
        )
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let strings = (
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(binary()),
    );
    let numbers = (
        option::of(any::<u32>()),
        option::of(any::<u16>()),
        option::of(nonzero16()),
        option::of(any::<u16>()),
        option::of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        option::of(nonzero32()),
    );
    let flags = vec(option::of(any::<bool>()), 4);
    (strings, numbers, flags, users()).prop_map(|(s, n, f, users)| ConnAckProperties {
        assigned_client_identifier: s.0,
        authentication_method: s.1,
        response_information: s.2,
        server_reference: s.3,
        reason_string: s.4,
        authentication_data: s.5,
        session_expiry_interval: n.0,
        server_keep_alive: n.1,
        receive_maximum: n.2,
        topic_alias_maximum: n.3,
        maximum_qos: n.4,
        maximum_packet_size: n.5,
        retain_available: f[0],
        wildcard_subscription_available: f[1],
        subscription_identifiers_available: f[2],
        shared_subscription_available: f[3],
        user_properties: users,
    })
}

fn connack(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let reason = if version.is_v5() {
        reason_in(PacketType::ConnAck).boxed()
    } else {
        (0u8..=5)
            .prop_map(|c| ReasonCode::from_v3_connack(c).expect("defined"))
            .boxed()
    };
    (any::<bool>(), reason, connack_properties())
        .prop_map(move |(present, reason_code, properties)| {
            ConnAck {
                session_present: present && !reason_code.is_error(),
                reason_code,
                properties: if version.is_v5() {
                    properties
                } else {
                    ConnAckProperties::default()
                },
            }
            .into()
        })
        .boxed()
}

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        option::of(payload_format()),
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(topic_name()),
        option::of(binary()),
        vec(subscription_id(), 0..3),
        option::of(nonzero16()),
        users(),
    )
        .prop_map(
            |(format, expiry, content, response, correlation, ids, alias, users)| {
                let metadata = PublishMetadata {
                    content_type: content,
                    response_topic: response,
                    correlation_data: correlation,
                    user_properties: users,
                };
                PublishProperties {
                    payload_format_indicator: format,
                    message_expiry_interval: expiry,
                    subscription_identifiers: ids.into_iter().collect(),
                    topic_alias: alias,
                    // Decoding yields `None` rather than empty metadata.
                    metadata: (!metadata.is_empty()).then(|| metadata.into()),
                }
            },
        )
}

fn publish(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    (
        any::<bool>(),
        qos(),
        packet_id(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        publish_properties(),
        vec(any::<u8>(), 0..300),
    )
        .prop_map(
            move |(dup, qos, pid, retain, topic, empty_topic, props, payload)| {
                let qos_pid = QosPid::from_parts(qos, Some(pid)).expect("has an id");
                let properties = if v5 {
                    props
                } else {
                    PublishProperties::default()
                };
                // An empty topic needs a Topic Alias (MQTT 5 only).
                let topic = if empty_topic && properties.topic_alias.is_some() {
                    TopicName::empty()
                } else {
                    topic
                };
                Publish {
                    dup: dup && qos != QoS::AtMostOnce,
                    qos_pid,
                    retain,
                    topic,
                    properties,
                    payload: payload.into(),
                }
                .into()
            },
        )
}

fn ack(version: ProtocolVersion, packet: PacketType) -> BoxedStrategy<Packet> {
    let reason = if version.is_v5() {
        reason_in(packet).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    let props = if version.is_v5() {
        ack_properties().boxed()
    } else {
        Just(AckProperties::default()).boxed()
    };
    (packet_id(), reason, props)
        .prop_map(move |(packet_id, reason_code, properties)| match packet {
            PacketType::PubAck => PubAck {
                packet_id,
                reason_code,
                properties,
            }
            .into(),
            PacketType::PubRec => PubRec {
                packet_id,
                reason_code,
                properties,
            }
            .into(),
            PacketType::PubRel => PubRel {
                packet_id,
                reason_code,
                properties,
            }
            .into(),
            _ => PubComp {
                packet_id,
                reason_code,
                properties,
            }
            .into(),
        })
        .boxed()
}

fn subscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let handling = select(vec![
        RetainHandling::SendAtSubscribe,
        RetainHandling::SendAtSubscribeIfNew,
        RetainHandling::DoNotSend,
    ]);
    let subscription = (
        topic_filter(),
        qos(),
        any::<bool>(),
        any::<bool>(),
        handling,
    )
        .prop_map(move |(filter, qos, no_local, rap, retain_handling)| {
            let options = if v5 {
                SubscriptionOptions {
                    qos,
                    // No Local is a protocol error on a shared subscription.
                    no_local: no_local && filter.shared().is_none(),
                    retain_as_published: rap,
                    retain_handling,
                }
            } else {
                SubscriptionOptions::new(qos)
            };
            Subscription { filter, options }
        });
    let props =
        (option::of(subscription_id()), users()).prop_map(|(id, users)| SubscribeProperties {
            subscription_identifier: id,
            user_properties: users,
        });
    (packet_id(), props, vec(subscription, 1..4)).prop_map(move |(packet_id, props, subs)| {
        Subscribe {
            packet_id,
            properties: if v5 {
                props
            } else {
                SubscribeProperties::default()
            },
            subscriptions: subs,
        }
        .into()
    })
}

fn suback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let code = if version.is_v5() {
        reason_in(PacketType::SubAck).boxed()
    } else {
        select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (packet_id(), ack_properties(), vec(code, 1..4))
        .prop_map(move |(packet_id, props, reason_codes)| {
            let properties = if version.is_v5() {
                props
            } else {
                AckProperties::default()
            };
            SubAck {
                packet_id,
                properties,
                reason_codes,
            }
            .into()
        })
        .boxed()
}

fn unsubscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (packet_id(), users(), vec(topic_filter(), 1..4)).prop_map(
        move |(packet_id, users, filters)| {
            let user_properties = if version.is_v5() { users } else { Vec::new() };
            Unsubscribe {
                packet_id,
                properties: UnsubscribeProperties { user_properties },
                filters,
            }
            .into()
        },
    )
}

fn unsuback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    if !version.is_v5() {
        return packet_id()
            .prop_map(|id| UnsubAck::new(id, Vec::new()).into())
            .boxed();
    }
    (
        packet_id(),
        ack_properties(),
        vec(reason_in(PacketType::UnsubAck), 1..4),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            UnsubAck {
                packet_id,
                properties,
                reason_codes,
            }
            .into()
        })
        .boxed()
}

fn disconnect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    if !version.is_v5() {
        return Just(Disconnect::default().into()).boxed();
    }
    let props = (
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        users(),
    )
        .prop_map(|(session, reference, reason, users)| DisconnectProperties {
            session_expiry_interval: session,
            server_reference: reference,
            reason_string: reason,
            user_properties: users,
        });
    (reason_in(PacketType::Disconnect), props)
        .prop_map(|(reason_code, properties)| {
            Disconnect {
                reason_code,
                properties,
            }
            .into()
        })
        .boxed()
}

fn auth() -> impl Strategy<Value = Packet> {
    let props = (
        option::of(mqtt_string()),
        option::of(binary()),
        option::of(mqtt_string()),
        users(),
    )
        .prop_map(|(method, data, reason, users)| AuthProperties {
            authentication_method: method,
            authentication_data: data,
            reason_string: reason,
            user_properties: users,
        });
    (reason_in(PacketType::Auth), props).prop_map(|(reason_code, properties)| {
        Auth {
            reason_code,
            properties,
        }
        .into()
    })
}

/// Any packet that `version` can carry (CONNECT included).
fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut choices: Vec<BoxedStrategy<Packet>> = vec![
        connect(version).boxed(),
        connack(version),
        publish(version).boxed(),
        publish(version).boxed(),
        ack(version, PacketType::PubAck),
        ack(version, PacketType::PubRec),
        ack(version, PacketType::PubRel),
        ack(version, PacketType::PubComp),
        subscribe(version).boxed(),
        suback(version),
        unsubscribe(version).boxed(),
        unsuback(version),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(version),
    ];
    if version.is_v5() {
        choices.push(auth().boxed());
    }
    proptest::strategy::Union::new(choices).boxed()
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(vec![V31, V311, V5])
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| packet(v).prop_map(move |p| (v, p)))
}

// ---- properties -------------------------------------------------------------------------

/// Decodes everything in `bytes` with a decoder for `version` (`None`: a new connection),
/// checking the invariants on every packet that comes out. Never panics on its own account.
fn decode_everything(version: Option<ProtocolVersion>, bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = decoder(version).strict_utf8(bytes.first().is_some_and(|b| b & 1 == 1));
    loop {
        let before = buf.clone();
        match decoder.decode(&mut buf) {
            Ok(Some(packet)) => {
                let consumed = &before[..before.len() - buf.len()];
                let v = decoder.version().expect("known after a packet");
                let wire_version = match &packet {
                    Packet::Connect(c) => c.protocol,
                    _ => v,
                };
                let mut again = BytesMut::new();
                packet
                    .encode(v, &mut again)
                    .map_err(|e| TestCaseError::fail(format!("{e}")))?;
                let redecoded =
                    decode_one(Some(v), &again).map_err(|e| TestCaseError::fail(format!("{e}")))?;
                prop_assert_eq!(&redecoded, &packet);
                if wire_version.is_v5() {
                    // Canonical form: same or shorter (short acknowledgement forms).
                    prop_assert!(again.len() <= consumed.len());
                } else {
                    prop_assert_eq!(&again[..], consumed);
                }
            }
            Ok(None) => {
                prop_assert_eq!(
                    &buf[..],
                    &before[..],
                    "incomplete input must not be consumed"
                );
                return Ok(());
            }
            Err(e) => {
                prop_assert!(e.reason_code().is_error());
                return Ok(());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn encode_then_decode_round_trips((v, packet) in versioned_packet()) {
        let bytes = encode(&packet, v);
        let first = matches!(packet, Packet::Connect(_)).then_some(None);
        for dv in first.into_iter().chain([Some(v)]) {
            let decoded = decode_one(dv, &bytes).map_err(|e| TestCaseError::fail(format!("{e}: {bytes:02X?}")))?;
            prop_assert_eq!(&decoded, &packet);
            // The decoded packet re-encodes to exactly the same bytes.
            prop_assert_eq!(encode(&decoded, v), bytes.clone());
        }
    }

    #[test]
    fn truncations_of_valid_packets_are_incomplete((v, packet) in versioned_packet()) {
        let bytes = encode(&packet, v);
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            prop_assert_eq!(decoder(Some(v)).decode(&mut buf), Ok(None));
            prop_assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        for v in [None, Some(V31), Some(V311), Some(V5)] {
            decode_everything(v, &bytes)?;
        }
    }

    #[test]
    fn random_bytes_after_a_plausible_header_never_panic(
        first in select(vec![0x10u8, 0x20, 0x30, 0x32, 0x34, 0x40, 0x62, 0x82, 0x90, 0xA2, 0xB0, 0xE0, 0xF0]),
        body in vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![first, u8::try_from(body.len()).expect("short")];
        bytes.extend_from_slice(&body);
        for v in [None, Some(V311), Some(V5)] {
            decode_everything(v, &bytes)?;
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        (v, packet) in versioned_packet(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = encode(&packet, v);
        for (at, value, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = value,
                1 => bytes.insert(i, value),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        let first = matches!(packet, Packet::Connect(_)).then_some(None);
        for dv in first.into_iter().chain([Some(v)]) {
            decode_everything(dv, &bytes)?;
        }
    }

    #[test]
    fn a_chunked_stream_decodes_to_the_same_packets(
        (v, packets) in version().prop_flat_map(|v| vec(packet(v), 1..6).prop_map(move |p| (v, p))),
        chunk_sizes in vec(1usize..40, 1..20),
    ) {
        let packets: Vec<Packet> =
            packets.into_iter().filter(|p| !matches!(p, Packet::Connect(_))).collect();
        let stream: Vec<u8> = packets.iter().flat_map(|p| encode(p, v)).collect();
        let mut decoder = decoder(Some(v));
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut rest = &stream[..];
        let mut sizes = chunk_sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().expect("cycle")).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(p) = decoder.decode(&mut buf).map_err(|e| TestCaseError::fail(format!("{e}")))? {
                out.push(p);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(out, packets);
    }

    #[test]
    fn encoded_len_matches_and_the_size_limit_is_exact((v, packet) in versioned_packet()) {
        let len = packet.encoded_len(v).expect("encodes");
        let bytes = encode(&packet, v);
        prop_assert_eq!(len, bytes.len());
        let limit = u32::try_from(len).expect("small");
        let version = if matches!(packet, Packet::Connect(_)) { None } else { Some(v) };
        let mut exact = BytesMut::from(&bytes[..]);
        let mut d = switchboard_mqtt_proto::Decoder::new(limit);
        if let Some(v) = version { d.set_version(v); }
        prop_assert!(d.decode(&mut exact).is_ok());
        let mut too_small = switchboard_mqtt_proto::Decoder::new(limit - 1);
        if let Some(v) = version { too_small.set_version(v); }
        let mut buf = BytesMut::from(&bytes[..]);
        let is_too_large = matches!(
            too_small.decode(&mut buf),
            Err(switchboard_mqtt_proto::DecodeError::PacketTooLarge { .. })
        );
        prop_assert!(is_too_large);
    }
}
