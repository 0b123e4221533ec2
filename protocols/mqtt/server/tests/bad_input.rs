//! Hostile and broken clients: each gets a clean disconnect and a counter, never a crash, a hang
//! or unbounded memory.

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use switchboard_fabric::{Message, Topic};
use switchboard_mqtt::MqttConfig;
use switchboard_mqtt_proto::{Packet, ProtocolVersion, QoS, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

/// Reads until EOF (or 5 s) and returns what arrived.
async fn read_to_close(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .ok();
    out
}

#[tokio::test]
async fn garbage_before_connect_is_closed_and_counted() {
    let b = start(MqttConfig::default()).await;
    for junk in [
        &b"\x00\x00\x00\x00"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x30\x02\x00\x00",
    ] {
        let mut s = Client::raw(b.addr).await;
        s.write_all(junk).await.unwrap();
        assert!(read_to_close(&mut s).await.is_empty());
    }
    assert!(
        b.metric(
            "switchboard_connections_rejected_total",
            &[("reason", "malformed_connect")]
        ) >= 3.0
    );
    // The broker still serves.
    Client::v(b.addr, V5, "after").await;
    b.shutdown().await;
}

#[tokio::test]
async fn garbage_after_connect_gets_a_malformed_packet_disconnect() {
    let b = start(MqttConfig::default()).await;
    let mut c = Client::v(b.addr, V5, "g").await;
    c.send_bytes(b"\x00\xff\xff\xff").await;
    assert_eq!(
        c.closed().await.unwrap().reason_code,
        ReasonCode::MalformedPacket
    );
    assert_eq!(
        b.metric(
            "switchboard_mqtt_protocol_errors_total",
            &[("kind", "malformed_packet")]
        ),
        1.0
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_256_mb_declared_length_is_refused_from_the_header() {
    let b = start(MqttConfig::default()).await;
    // Before CONNECT.
    let mut s = Client::raw(b.addr).await;
    s.write_all(b"\x10\xff\xff\xff\x7f").await.unwrap();
    assert!(read_to_close(&mut s).await.is_empty());
    // After CONNECT: MQTT 5 is told 0x95 without the body ever being sent.
    let mut c = Client::v(b.addr, V5, "big").await;
    c.send_bytes(b"\x30\xff\xff\xff\x7f\x00\x01a").await;
    assert_eq!(
        c.closed().await.unwrap().reason_code,
        ReasonCode::PacketTooLarge
    );
    let mut c = Client::v(b.addr, V3, "big3").await;
    c.send_bytes(b"\x30\xff\xff\xff\x7f").await;
    assert!(c.closed().await.is_none());
    assert_eq!(
        b.metric(
            "switchboard_mqtt_protocol_errors_total",
            &[("kind", "packet_too_large")]
        ),
        3.0
    );
    b.shutdown().await;
}

fn deep(levels: usize) -> String {
    vec!["a"; levels].join("/")
}

#[tokio::test]
async fn ten_thousand_topic_levels() {
    let b = start(MqttConfig::default()).await;
    let mut c = Client::v(b.addr, V5, "deep").await;
    // A subscription that deep is refused, the connection stays.
    c.send(subscribe(1, &deep(10_000), QoS::AtMostOnce)).await;
    match c.recv().await {
        Some(Packet::SubAck(a)) => assert_eq!(a.reason_codes, [ReasonCode::TopicFilterInvalid]),
        other => panic!("{other:?}"),
    }
    // A PUBLISH that deep: 0x90 Topic Name invalid, and the connection ends.
    let mut p = publish("x", b"x", QoS::AtMostOnce, 0);
    p.topic = topic(&deep(10_000));
    c.send(p).await;
    assert_eq!(
        c.closed().await.unwrap().reason_code,
        ReasonCode::TopicNameInvalid
    );
    assert_eq!(
        b.metric(
            "switchboard_mqtt_protocol_errors_total",
            &[("kind", "invalid_topic")]
        ),
        1.0
    );
    b.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_topics_are_malformed() {
    let b = start(MqttConfig::default()).await;
    for version in [V5, V3] {
        let mut c = Client::v(b.addr, version, "utf").await;
        // PUBLISH QoS 0, topic "\xff\xfe" (2 bytes), payload "x".
        let mut raw = BytesMut::new();
        raw.put_slice(b"\x30");
        let body: &[u8] = if version == V5 {
            b"\x00\x02\xff\xfe\x00x"
        } else {
            b"\x00\x02\xff\xfex"
        };
        raw.put_u8(body.len() as u8);
        raw.put_slice(body);
        c.send_bytes(&raw).await;
        let d = c.closed().await;
        if version == V5 {
            assert_eq!(d.unwrap().reason_code, ReasonCode::MalformedPacket);
        } else {
            assert!(d.is_none());
        }
    }
    assert_eq!(
        b.metric(
            "switchboard_mqtt_protocol_errors_total",
            &[("kind", "invalid_utf8")]
        ),
        2.0
    );
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped_for_and_then_disconnected() {
    let cfg = MqttConfig {
        max_queued_messages: 50,
        write_timeout_ms: 5_000,
        ..MqttConfig::default()
    };
    let b = start(cfg).await;
    let mut c = Client::v(b.addr, V3, "deaf").await;
    c.sub("flood/#", QoS::AtMostOnce).await;
    // The client never reads again. 20 000 × 16 KiB = 320 MB offered.
    let payload = Bytes::from(vec![b'z'; 16 * 1024]);
    let topic = Topic::new("flood/x").unwrap();
    for _ in 0..20_000 {
        b.fabric
            .publish(Message::new(topic.clone(), payload.clone()));
        tokio::task::yield_now().await;
    }
    let dropped = b.metric(
        "switchboard_dropped_total",
        &[("protocol", "mqtt"), ("reason", "queue_full_drop_new")],
    );
    assert!(dropped > 10_000.0, "dropped {dropped}");
    // No progress for write_timeout_ms: disconnected as a slow consumer.
    for _ in 0..100 {
        if b.broker.stats().connected == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(b.broker.stats().connected, 0);
    assert_eq!(
        b.metric(
            "switchboard_disconnects_total",
            &[("protocol", "mqtt"), ("reason", "slow_consumer")]
        ),
        1.0
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_second_connect_and_server_only_packets_are_protocol_errors() {
    let b = start(MqttConfig::default()).await;
    let mut c = Client::v(b.addr, V5, "twice").await;
    c.send(connect_packet(V5, "twice")).await;
    assert_eq!(
        c.closed().await.unwrap().reason_code,
        ReasonCode::ProtocolError
    );
    let mut c = Client::v(b.addr, V5, "pingresp").await;
    c.send(Packet::PingResp).await;
    assert_eq!(
        c.closed().await.unwrap().reason_code,
        ReasonCode::ProtocolError
    );
    b.shutdown().await;
}
