//! Byte-exact fixtures for every MQTT 3.1.1 packet (and the 3.1 CONNECT), built field by
//! field from the layouts in the 3.1.1 specification, chapter 3.

mod common;

use common::*;
use switchboard_mqtt_proto::{
    ConnAck, Connect, Disconnect, Packet, PubAck, PubComp, PubRec, PubRel, Publish, QoS, QosPid,
    ReasonCode, SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe, Will,
};

#[test]
fn connect_with_will_and_credentials() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 36,                               // CONNECT, remaining length 36
        0x00, 0x04, b'M', b'Q', b'T', b'T',     // protocol name "MQTT"
        0x04,                                   // protocol level 4 = 3.1.1
        0b1110_1110,                            // user name, password, will retain,
                                                // will QoS 1, will flag, clean session
        0x00, 0x3C,                             // keep alive 60 s
        0x00, 0x03, b'c', b'i', b'd',           // client identifier "cid"
        0x00, 0x04, b'w', b'i', b'l', b'l',     // will topic "will"
        0x00, 0x03, b'b', b'y', b'e',           // will payload "bye"
        0x00, 0x04, b'u', b's', b'e', b'r',     // user name "user"
        0x00, 0x02, 0xDE, 0xAD,                 // password: binary DE AD
    ];
    let mut connect = Connect::new(V311, s("cid"), 60);
    connect.will = Some(Will {
        qos: QoS::AtLeastOnce,
        retain: true,
        ..Will::new(topic("will"), b(b"bye"))
    });
    connect.username = Some(s("user"));
    connect.password = Some(b(&[0xDE, 0xAD]));
    assert_fixture(V311, &bytes, &connect.into());
}

#[test]
fn connect_minimal_with_empty_client_id() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 12,                               // CONNECT, remaining length 12
        0x00, 0x04, b'M', b'Q', b'T', b'T',     // protocol name "MQTT"
        0x04,                                   // level 4
        0b0000_0000,                            // no flags: clean session 0
        0x00, 0x00,                             // keep alive 0 (disabled)
        0x00, 0x00,                             // client identifier ""
    ];
    let connect = Connect {
        clean_start: false,
        ..Connect::new(V311, s(""), 0)
    };
    assert_fixture(V311, &bytes, &connect.into());
}

#[test]
fn connect_mqtt_3_1() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 15,                                           // CONNECT, remaining length 15
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p',     // protocol name "MQIsdp"
        0x03,                                               // level 3 = 3.1
        0b0000_0010,                                        // clean session
        0x00, 0x0A,                                         // keep alive 10 s
        0x00, 0x01, b'x',                                   // client identifier "x"
    ];
    assert_fixture(V31, &bytes, &Connect::new(V31, s("x"), 10).into());
}

#[test]
fn connack_return_codes() {
    // Session present, connection accepted.
    let accepted = [0x20, 0x02, 0x01, 0x00];
    assert_fixture(
        V311,
        &accepted,
        &ConnAck::new(true, ReasonCode::Success).into(),
    );
    // Each refusal code maps onto the MQTT 5 reason code of the same meaning.
    for (code, reason) in [
        (1, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ] {
        let bytes = [0x20, 0x02, 0x00, code]; // CONNACK, flags 0, return code
        assert_fixture(V311, &bytes, &ConnAck::new(false, reason).into());
    }
}

#[test]
fn publish_qos0() {
    #[rustfmt::skip]
    let bytes = [
        0x30, 7,                                // PUBLISH, DUP 0, QoS 0, RETAIN 0, length 7
        0x00, 0x03, b'a', b'/', b'b',           // topic name "a/b"
        b'h', b'i',                             // payload "hi" (no packet identifier)
    ];
    assert_fixture(V311, &bytes, &Publish::new(topic("a/b"), b(b"hi")).into());
}

#[test]
fn publish_qos1_dup_retain() {
    #[rustfmt::skip]
    let bytes = [
        0x3B, 9,                                // PUBLISH, DUP 1, QoS 1 (0b01 << 1), RETAIN 1
        0x00, 0x03, b'a', b'/', b'b',           // topic name "a/b"
        0x00, 0x0A,                             // packet identifier 10
        b'h', b'i',                             // payload "hi"
    ];
    let publish = Publish {
        dup: true,
        qos_pid: QosPid::AtLeastOnce(pid(10)),
        retain: true,
        ..Publish::new(topic("a/b"), b(b"hi"))
    };
    assert_fixture(V311, &bytes, &publish.into());
}

#[test]
fn publish_qos2_empty_payload() {
    #[rustfmt::skip]
    let bytes = [
        0x34, 5,                                // PUBLISH, QoS 2 (0b10 << 1)
        0x00, 0x01, b't',                       // topic name "t"
        0xFF, 0xFF,                             // packet identifier 65535
                                                // empty payload
    ];
    let publish = Publish {
        qos_pid: QosPid::ExactlyOnce(pid(65535)),
        ..Publish::new(topic("t"), b(b""))
    };
    assert_fixture(V311, &bytes, &publish.into());
}

#[test]
fn publish_large_payload_uses_multi_byte_remaining_length() {
    let payload = vec![0xAB; 200];
    // 2 + 1 topic bytes + 200 payload bytes = 203 = 0xCB 0x01 as a variable byte integer.
    let mut bytes = vec![0x30, 0xCB, 0x01, 0x00, 0x01, b'x'];
    bytes.extend_from_slice(&payload);
    let publish = Publish::new(topic("x"), payload.into());
    assert_fixture(V311, &bytes, &publish.into());
}

#[test]
fn publish_acknowledgements() {
    // PUBACK, PUBREC, PUBREL (flags 0b0010), PUBCOMP: remaining length 2, packet identifier.
    assert_fixture(
        V311,
        &[0x40, 0x02, 0x00, 0x0A],
        &PubAck::new(pid(10)).into(),
    );
    assert_fixture(
        V311,
        &[0x50, 0x02, 0x00, 0x0A],
        &PubRec::new(pid(10)).into(),
    );
    assert_fixture(
        V311,
        &[0x62, 0x02, 0x00, 0x0A],
        &PubRel::new(pid(10)).into(),
    );
    assert_fixture(
        V311,
        &[0x70, 0x02, 0x01, 0x00],
        &PubComp::new(pid(256)).into(),
    );
}

#[test]
fn subscribe_two_filters() {
    #[rustfmt::skip]
    let bytes = [
        0x82, 12,                               // SUBSCRIBE (flags 0b0010), length 12
        0x00, 0x01,                             // packet identifier 1
        0x00, 0x03, b'a', b'/', b'#',           // topic filter "a/#"
        0x01,                                   // requested QoS 1
        0x00, 0x01, b'+',                       // topic filter "+"
        0x02,                                   // requested QoS 2
    ];
    let subscribe = Subscribe::new(
        pid(1),
        vec![
            Subscription::new(filter("a/#"), QoS::AtLeastOnce),
            Subscription::new(filter("+"), QoS::ExactlyOnce),
        ],
    );
    assert_fixture(V311, &bytes, &subscribe.into());
}

#[test]
fn suback_granted_and_failure() {
    #[rustfmt::skip]
    let bytes = [
        0x90, 5,                                // SUBACK, length 5
        0x00, 0x01,                             // packet identifier 1
        0x00,                                   // granted QoS 0
        0x02,                                   // granted QoS 2
        0x80,                                   // failure
    ];
    let suback = SubAck::new(
        pid(1),
        vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ],
    );
    assert_fixture(V311, &bytes, &suback.into());
    // Any MQTT 5 failure code goes out as 0x80 on a 3.1.1 connection.
    let v5_codes = SubAck::new(pid(1), vec![ReasonCode::NotAuthorized]);
    assert_eq!(
        encode(&v5_codes.into(), V311),
        [0x90, 0x03, 0x00, 0x01, 0x80]
    );
}

#[test]
fn unsubscribe_and_unsuback() {
    #[rustfmt::skip]
    let bytes = [
        0xA2, 12,                               // UNSUBSCRIBE (flags 0b0010), length 12
        0x00, 0x02,                             // packet identifier 2
        0x00, 0x03, b'a', b'/', b'#',           // topic filter "a/#"
        0x00, 0x03, b'b', b'/', b'+',           // topic filter "b/+"
    ];
    let unsubscribe = Unsubscribe::new(pid(2), vec![filter("a/#"), filter("b/+")]);
    assert_fixture(V311, &bytes, &unsubscribe.into());
    // UNSUBACK: remaining length 2, packet identifier, nothing else.
    assert_fixture(
        V311,
        &[0xB0, 0x02, 0x00, 0x02],
        &UnsubAck::new(pid(2), vec![]).into(),
    );
}

#[test]
fn ping_and_disconnect() {
    assert_fixture(V311, &[0xC0, 0x00], &Packet::PingReq);
    assert_fixture(V311, &[0xD0, 0x00], &Packet::PingResp);
    assert_fixture(V311, &[0xE0, 0x00], &Disconnect::default().into());
}

#[test]
fn mqtt_3_1_uses_the_3_1_1_layouts_after_connect() {
    assert_fixture(V31, &[0x40, 0x02, 0x00, 0x0A], &PubAck::new(pid(10)).into());
    assert_fixture(V31, &[0x30, 0x04, 0x00, 0x01, b'x', b'!'], &{
        Publish::new(topic("x"), b(b"!")).into()
    });
}

#[test]
fn several_packets_in_one_buffer_decode_in_order() {
    let mut buf = bytes::BytesMut::from(&[0xC0, 0x00, 0x40, 0x02, 0x00, 0x07, 0xE0][..]);
    let mut d = decoder(Some(V311));
    assert_eq!(d.decode(&mut buf), Ok(Some(Packet::PingReq)));
    assert_eq!(d.decode(&mut buf), Ok(Some(PubAck::new(pid(7)).into())));
    // A lone first byte of DISCONNECT: incomplete, left in the buffer.
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], [0xE0]);
}
