//! CONNECT, publish/subscribe at every QoS, retained messages, wills, keep-alive, sessions.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use switchboard_fabric::{Message, Qos, SubOptions, SubscriberSpec, Topic, TopicFilter as FFilter};
use switchboard_mqtt::MqttConfig;
use switchboard_mqtt_proto::{
    ConnAck, Disconnect, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, QoS, ReasonCode,
    Unsubscribe, Will,
};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

#[tokio::test]
async fn connack_tells_a_v5_client_the_limits_and_assigns_an_id() {
    let b = start(MqttConfig::default()).await;
    let (_c, ack) = Client::connect(b.addr, connect_packet(V5, "")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let p = &ack.properties;
    assert!(
        p.assigned_client_identifier
            .as_ref()
            .unwrap()
            .as_str()
            .starts_with("auto-")
    );
    assert_eq!(p.receive_maximum.unwrap().get(), 20);
    assert_eq!(p.topic_alias_maximum, Some(10));
    assert_eq!(p.maximum_packet_size.unwrap().get(), 1024 * 1024);
    // 3.1.1: an empty id is fine with a clean session, refused for a persistent one.
    let (_c, ack) = Client::connect(b.addr, connect_packet(V3, "")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let mut c = connect_packet(V3, "");
    c.clean_start = false;
    let (_c, ack) = Client::connect(b.addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::ClientIdentifierNotValid);
    b.shutdown().await;
}

#[tokio::test]
async fn unsupported_protocol_level_gets_return_code_1() {
    let b = start(MqttConfig::default()).await;
    let mut s = Client::raw(b.addr).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // CONNECT, protocol "MQTT" level 6.
    s.write_all(b"\x10\x0e\x00\x04MQTT\x06\x02\x00\x3c\x00\x02id")
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    assert_eq!(buf, b"\x20\x02\x00\x01");
    b.shutdown().await;
}

#[tokio::test]
async fn qos_0_1_2_flow_both_ways_and_are_downgraded_to_the_subscription() {
    for version in [V3, V5] {
        let b = start(MqttConfig::default()).await;
        let mut sub = Client::v(b.addr, version, "sub").await;
        assert_eq!(
            sub.sub("t/#", QoS::ExactlyOnce).await,
            [ReasonCode::GrantedQoS2]
        );
        let mut low = Client::v(b.addr, version, "low").await;
        assert_eq!(
            low.sub("t/+", QoS::AtLeastOnce).await,
            [ReasonCode::GrantedQoS1]
        );
        let mut publ = Client::v(b.addr, version, "pub").await;

        publ.send(publish("t/0", b"zero", QoS::AtMostOnce, 0)).await;
        publ.send(publish("t/1", b"one", QoS::AtLeastOnce, 1)).await;
        assert!(matches!(publ.recv().await, Some(Packet::PubAck(a)) if a.packet_id == pid(1)));
        publ.send(publish("t/2", b"two", QoS::ExactlyOnce, 2)).await;
        assert!(matches!(publ.recv().await, Some(Packet::PubRec(a)) if a.packet_id == pid(2)));
        publ.send(PubRel::new(pid(2))).await;
        assert!(matches!(publ.recv().await, Some(Packet::PubComp(a)) if a.packet_id == pid(2)));

        let m0 = sub.recv_publish().await;
        assert_eq!((m0.topic.as_str(), m0.qos()), ("t/0", QoS::AtMostOnce));
        let m1 = sub.recv_publish().await;
        assert_eq!((m1.topic.as_str(), m1.qos()), ("t/1", QoS::AtLeastOnce));
        sub.send(PubAck::new(m1.packet_id().unwrap())).await;
        let m2 = sub.recv_publish().await;
        assert_eq!((&m2.payload[..], m2.qos()), (&b"two"[..], QoS::ExactlyOnce));
        sub.send(PubRec::new(m2.packet_id().unwrap())).await;
        assert!(
            matches!(sub.recv().await, Some(Packet::PubRel(r)) if Some(r.packet_id) == m2.packet_id())
        );
        sub.send(PubComp::new(m2.packet_id().unwrap())).await;

        // The QoS 1 subscription gets QoS 2 messages at QoS 1.
        let mut got = Vec::new();
        for _ in 0..3 {
            let p = low.recv_publish().await;
            if let Some(id) = p.packet_id() {
                low.send(PubAck::new(id)).await;
            }
            got.push((p.topic.as_str().to_owned(), p.qos()));
        }
        assert_eq!(
            got,
            [
                ("t/0".to_owned(), QoS::AtMostOnce),
                ("t/1".to_owned(), QoS::AtLeastOnce),
                ("t/2".to_owned(), QoS::AtLeastOnce)
            ]
        );
        assert_eq!(
            b.metric("switchboard_mqtt_messages_received_total", &[("qos", "2")]),
            1.0
        );
        b.shutdown().await;
    }
}

#[tokio::test]
async fn retained_messages_live_in_the_fabric_and_are_replayed_with_retain_set() {
    let b = start(MqttConfig::default()).await;
    let mut p = Client::v(b.addr, V3, "p").await;
    let mut m = publish("r/a", b"kept", QoS::AtLeastOnce, 1);
    m.retain = true;
    p.send(m).await;
    p.recv().await;
    let stored = b
        .fabric
        .retained_value(&Topic::new("r/a").unwrap())
        .unwrap();
    assert_eq!(&stored.payload[..], b"kept");

    // A retained message published from another protocol is replayed to MQTT too.
    b.fabric
        .publish(Message::text(Topic::new("r/b").unwrap(), "from ipc").retain(true));
    let mut s = Client::v(b.addr, V3, "s").await;
    s.sub("r/#", QoS::AtLeastOnce).await;
    let mut got = vec![];
    for _ in 0..2 {
        let x = s.recv_publish().await;
        assert!(x.retain);
        got.push(x.topic.as_str().to_owned());
        if let Some(id) = x.packet_id() {
            s.send(PubAck::new(id)).await;
        }
    }
    got.sort();
    assert_eq!(got, ["r/a", "r/b"]);
    // A live message to an established subscription has retain 0 in 3.1.1.
    let mut live = publish("r/a", b"new", QoS::AtMostOnce, 0);
    live.retain = true;
    p.send(live).await;
    let x = s.recv_publish().await;
    assert!(!x.retain);
    // An empty retained payload deletes.
    let mut del = publish("r/a", b"", QoS::AtMostOnce, 0);
    del.retain = true;
    p.send(del).await;
    s.recv_publish().await;
    assert!(
        b.fabric
            .retained_value(&Topic::new("r/a").unwrap())
            .is_none()
    );
    b.shutdown().await;
}

fn with_will(mut c: switchboard_mqtt_proto::Connect, t: &str) -> switchboard_mqtt_proto::Connect {
    c.will = Some(Will::new(topic(t), Bytes::from_static(b"gone")));
    c
}

#[tokio::test]
async fn will_is_published_on_abrupt_close_and_not_after_disconnect() {
    let b = start(MqttConfig::default()).await;
    let mut w = Client::v(b.addr, V3, "watch").await;
    w.sub("wills/#", QoS::AtMostOnce).await;
    let (c, _) = Client::connect(b.addr, with_will(connect_packet(V3, "a"), "wills/a")).await;
    drop(c);
    let p = w.recv_publish().await;
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("wills/a", &b"gone"[..])
    );
    let (c, _) = Client::connect(b.addr, with_will(connect_packet(V3, "b"), "wills/b")).await;
    c.disconnect().await;
    w.nothing(Duration::from_millis(200)).await;
    // MQTT 5: DISCONNECT 0x04 asks for the will.
    let (mut c, _) = Client::connect(b.addr, with_will(connect_packet(V5, "c"), "wills/c")).await;
    c.send(Disconnect::new(ReasonCode::DisconnectWithWillMessage))
        .await;
    assert_eq!(w.recv_publish().await.topic.as_str(), "wills/c");
    assert_eq!(b.metric("switchboard_mqtt_wills_published_total", &[]), 2.0);
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn keepalive_is_enforced_at_one_and_a_half_times_and_publishes_the_will() {
    let b = start(MqttConfig::default()).await;
    let mut w = Client::v(b.addr, V3, "watch").await;
    w.send(Disconnect::default()).await; // only to keep the watcher's own keep-alive out of it
    let mut watch = b.fabric.subscriber(SubscriberSpec::new("test", "w"));
    watch.subscribe(FFilter::new("wills/#").unwrap(), SubOptions::default());
    let mut c = with_will(connect_packet(V5, "sleepy"), "wills/sleepy");
    c.keep_alive = 10;
    let (mut c, _) = Client::connect(b.addr, c).await;
    let start = tokio::time::Instant::now();
    // A ping at 14 s keeps it alive (window 15 s).
    tokio::time::sleep(Duration::from_secs(14)).await;
    c.send(Packet::PingReq).await;
    assert!(matches!(c.recv().await, Some(Packet::PingResp)));
    let d = c
        .closed_within(Duration::from_secs(60))
        .await
        .expect("DISCONNECT");
    assert_eq!(d.reason_code, ReasonCode::KeepAliveTimeout);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(29) && waited <= Duration::from_secs(31),
        "{waited:?}"
    );
    let will = watch.recv().await.unwrap();
    assert_eq!(will.message.topic.as_str(), "wills/sleepy");
    assert_eq!(
        b.metric(
            "switchboard_disconnects_total",
            &[("protocol", "mqtt"), ("reason", "keepalive_timeout")]
        ),
        1.0
    );
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn keepalive_zero_is_accepted_and_max_keepalive_overrides_for_v5() {
    let cfg = MqttConfig {
        max_keepalive: 30,
        ..MqttConfig::default()
    };
    let b = start(cfg).await;
    let mut c = connect_packet(V5, "k");
    c.keep_alive = 100;
    let (_c, ack) = Client::connect(b.addr, c).await;
    assert_eq!(ack.properties.server_keep_alive, Some(30));
    let mut c = connect_packet(V3, "k3");
    c.keep_alive = 0;
    let (_c, ack) = Client::connect(b.addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let mut c = connect_packet(V3, "k4");
    c.keep_alive = 100;
    let (_c, ack) = Client::connect(b.addr, c).await;
    assert!(ack.reason_code.is_error());
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_connect_that_never_finishes_times_out() {
    let b = start(MqttConfig::default()).await;
    let mut s = Client::raw(b.addr).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"\x10\x20\x00\x04MQ").await.unwrap();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).await.unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_secs(10));
    assert_eq!(
        b.metric(
            "switchboard_connections_rejected_total",
            &[("reason", "connect_timeout")]
        ),
        1.0
    );
    b.shutdown().await;
}

#[tokio::test]
async fn takeover_disconnects_the_old_connection_with_0x8e_and_keeps_the_session() {
    let b = start(MqttConfig::default()).await;
    let mut c = connect_packet(V5, "dev");
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(60);
    let (mut old, ack) = Client::connect(b.addr, c.clone()).await;
    assert!(!ack.session_present);
    old.sub("x/#", QoS::AtLeastOnce).await;
    let (mut new, ack) = Client::connect(b.addr, c).await;
    assert!(ack.session_present);
    let d = old.closed().await.unwrap();
    assert_eq!(d.reason_code, ReasonCode::SessionTakenOver);
    // The subscription came along.
    b.fabric
        .publish(Message::text(Topic::new("x/1").unwrap(), "hi").qos(Qos::AtLeastOnce));
    assert_eq!(new.recv_publish().await.topic.as_str(), "x/1");
    assert_eq!(b.metric("switchboard_mqtt_takeovers_total", &[]), 1.0);
    b.shutdown().await;
}

#[tokio::test]
async fn a_persistent_session_queues_while_offline_and_resends_unacknowledged() {
    let b = start(MqttConfig::default()).await;
    let mut c = connect_packet(V3, "p1");
    c.clean_start = false;
    let (mut s, _) = Client::connect(b.addr, c.clone()).await;
    s.sub("q/#", QoS::AtLeastOnce).await;
    b.fabric
        .publish(Message::text(Topic::new("q/1").unwrap(), "one").qos(Qos::AtLeastOnce));
    let first = s.recv_publish().await; // not acknowledged
    drop(s);
    crate_wait(|| b.broker.stats().offline_sessions == 1).await;
    b.fabric
        .publish(Message::text(Topic::new("q/2").unwrap(), "two").qos(Qos::AtLeastOnce));
    b.fabric
        .publish(Message::text(Topic::new("q/0").unwrap(), "zero"));
    let (mut s, ack) = Client::connect(b.addr, c).await;
    assert!(ack.session_present);
    let again = s.recv_publish().await;
    assert!(again.dup);
    assert_eq!(again.packet_id(), first.packet_id());
    s.send(PubAck::new(again.packet_id().unwrap())).await;
    let next = s.recv_publish().await;
    assert_eq!(next.topic.as_str(), "q/2");
    // QoS 0 messages are not kept for offline sessions (queue_qos0_messages = false).
    s.send(PubAck::new(next.packet_id().unwrap())).await;
    s.nothing(Duration::from_millis(200)).await;
    b.shutdown().await;
}

async fn crate_wait(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn qos2_is_exactly_once_across_a_reconnect() {
    let b = start(MqttConfig::default()).await;
    let mut watch = b.fabric.subscriber(SubscriberSpec::new("test", "w"));
    watch.subscribe(FFilter::new("e/#").unwrap(), SubOptions::default());
    let mut c = connect_packet(V3, "eo");
    c.clean_start = false;
    let (mut p, _) = Client::connect(b.addr, c.clone()).await;
    p.send(publish("e/1", b"once", QoS::ExactlyOnce, 7)).await;
    assert!(matches!(p.recv().await, Some(Packet::PubRec(_))));
    drop(p); // PUBREC lost from the client's point of view
    crate_wait(|| b.broker.stats().offline_sessions == 1).await;
    let (mut p, ack) = Client::connect(b.addr, c).await;
    assert!(ack.session_present);
    let mut again = publish("e/1", b"once", QoS::ExactlyOnce, 7);
    again.dup = true;
    p.send(again).await;
    assert!(matches!(p.recv().await, Some(Packet::PubRec(_))));
    p.send(PubRel::new(pid(7))).await;
    assert!(
        matches!(p.recv().await, Some(Packet::PubComp(c)) if c.reason_code == ReasonCode::Success)
    );
    assert_eq!(&watch.recv().await.unwrap().message.payload[..], b"once");
    assert!(watch.try_recv().unwrap().is_none(), "published twice");
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn v5_session_expiry_ends_the_session_and_publishes_a_delayed_will() {
    let b = start(MqttConfig::default()).await;
    let mut watch = b.fabric.subscriber(SubscriberSpec::new("test", "w"));
    watch.subscribe(FFilter::new("wills/#").unwrap(), SubOptions::default());
    let mut c = with_will(connect_packet(V5, "exp"), "wills/exp");
    c.properties.session_expiry_interval = Some(30);
    c.will.as_mut().unwrap().properties.will_delay_interval = Some(10);
    let (s, _) = Client::connect(b.addr, c.clone()).await;
    drop(s);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(watch.try_recv().unwrap().is_none(), "will before its delay");
    assert!(b.broker.has_session("exp"));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        watch.recv().await.unwrap().message.topic.as_str(),
        "wills/exp"
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(!b.broker.has_session("exp"));
    assert_eq!(
        b.metric("switchboard_mqtt_sessions_expired_total", &[]),
        1.0
    );
    // Reconnecting within the delay cancels the will.
    let (s, _) = Client::connect(b.addr, c.clone()).await;
    drop(s);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s2, ack) = Client::connect(b.addr, {
        let mut c = c;
        c.clean_start = false;
        c
    })
    .await;
    assert!(ack.session_present);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(watch.try_recv().unwrap().is_none());
    drop(s2);
    b.shutdown().await;
}

#[tokio::test]
async fn unsubscribe_pingreq_and_disconnect() {
    let b = start(MqttConfig::default()).await;
    let mut c = Client::v(b.addr, V5, "u").await;
    c.sub("a/b", QoS::AtMostOnce).await;
    c.send(Unsubscribe::new(
        pid(3),
        vec![filter("a/b"), filter("not/there")],
    ))
    .await;
    match c.recv().await {
        Some(Packet::UnsubAck(u)) => assert_eq!(
            u.reason_codes,
            [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        ),
        other => panic!("{other:?}"),
    }
    b.fabric
        .publish(Message::text(Topic::new("a/b").unwrap(), "x"));
    c.send(Packet::PingReq).await;
    assert!(matches!(c.recv().await, Some(Packet::PingResp)));
    c.send(Disconnect::default()).await;
    assert!(c.closed().await.is_none());
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_0x8b_to_v5_clients() {
    let b = start(MqttConfig::default()).await;
    let mut c5 = Client::v(b.addr, V5, "five").await;
    let mut c3 = Client::v(b.addr, V3, "three").await;
    b.stop.cancel();
    assert_eq!(
        c5.closed().await.unwrap().reason_code,
        ReasonCode::ServerShuttingDown
    );
    assert!(c3.closed().await.is_none());
    b.shutdown().await;
}

#[tokio::test]
async fn over_max_connections_a_client_is_told_the_server_is_busy() {
    let cfg = MqttConfig {
        max_connections: 1,
        ..MqttConfig::default()
    };
    let b = start(cfg).await;
    let _first = Client::v(b.addr, V5, "1").await;
    let (_c, ack): (Client, ConnAck) = Client::connect(b.addr, connect_packet(V5, "2")).await;
    assert_eq!(ack.reason_code, ReasonCode::QuotaExceeded);
    let (_c, ack) = Client::connect(b.addr, connect_packet(V3, "3")).await;
    assert_eq!(ack.reason_code, ReasonCode::ServerUnavailable);
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_connections_still_in_their_handshake() {
    let b = start(MqttConfig::default()).await;
    let mut s = Client::raw(b.addr).await;
    use tokio::io::AsyncReadExt;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let start = tokio::time::Instant::now();
    b.stop.cancel();
    let mut buf = [0u8; 4];
    assert_eq!(s.read(&mut buf).await.unwrap(), 0);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "waited for the CONNECT timeout"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn clients_are_listed_and_an_admin_kick_says_0x98_to_v5_and_closes_v3() {
    use switchboard_fabric::{ClientId, Kick};
    let b = start(MqttConfig::default()).await;
    let mut five = Client::v(b.addr, ProtocolVersion::V5, "five").await;
    let mut three = Client::v(b.addr, ProtocolVersion::V3_1_1, "three").await;
    five.sub("k/#", QoS::AtLeastOnce).await;
    let clients = b.fabric.clients();
    let id5 = ClientId::new("mqtt", "five");
    let info = clients.get(&id5).expect("five is listed");
    assert_eq!(info.transport, "tcp");
    assert!(info.remote.is_some_and(|r| r.ip().is_loopback()));
    assert_eq!(info.stats.subscriptions, 1);
    assert!(clients.contains(&ClientId::new("mqtt", "three")));

    assert_eq!(clients.kick(&id5), Kick::Kicked);
    let d = five.closed().await.expect("a DISCONNECT before the close");
    assert_eq!(d.reason_code, ReasonCode::AdministrativeAction);
    assert_eq!(clients.kick(&ClientId::new("mqtt", "three")), Kick::Kicked);
    assert!(
        three.closed().await.is_none(),
        "3.1.1 has no server DISCONNECT"
    );
    for _ in 0..500 {
        if clients.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        clients.is_empty(),
        "kicked clients are gone from the registry"
    );
    assert_eq!(
        b.metric(
            "switchboard_disconnects_total",
            &[("protocol", "mqtt"), ("reason", "admin_kick")]
        ),
        2.0
    );
    b.shutdown().await;
}
