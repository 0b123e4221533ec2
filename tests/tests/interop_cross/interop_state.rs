//! State across protocols: retained values for late subscribers of every protocol, an MQTT will
//! reaching a browser, what a reconnecting browser gets of a device's QoS 1 stream, and topic
//! mounts per listener.

use std::time::Duration;

use serde_json::json;
use switchboard_fabric::{SubOptions, SubscriberSpec, TopicFilter};
use switchboard_tests::TestGateway;
use switchboard_tests::interop;

use crate::support::*;

#[tokio::test]
async fn retained_values_reach_late_subscribers_whoever_published_them() {
    let gw = TestGateway::builder().start().await;
    // Published before anyone listens: by an MQTT 5 device, an MQTT 3.1.1 device, an Engine.IO
    // browser and a Socket.IO dashboard.
    let mut dev5 = Mqtt5::connect(&gw, "dev5").await;
    dev5.publish("state/device", r#"{"on":true}"#, true, props("json"))
        .await;
    let mut dev3 = Mqtt4::connect(&gw, "dev3").await;
    dev3.publish("state/raw", vec![1u8, 2, 3], true).await;
    let mut early = browser(&gw, "early").await;
    let a = op(
        &mut early,
        json!({"op": "pub", "topic": "state/browser", "text": "idle", "retain": true}),
        1,
    )
    .await;
    assert_eq!(a["op"], "ack");
    early.kill().await;
    // And by a Socket.IO dashboard.
    let out = interop::run(
        interop::node(
            "browser",
            "sio_pub.mjs",
            &[
                gw.http_url(""),
                "state/sio".into(),
                r#"{"mode":"auto"}"#.into(),
                "retain".into(),
            ],
        ),
        WAIT,
    )
    .await;
    out.assert_success();
    assert_eq!(out.events_named("published")[0]["ack"], json!({"ok": true}));

    // A dashboard that subscribes late gets all four, marked retained, with their kinds.
    let mut late = browser(&gw, "late").await;
    sub(&mut late, "state/#", 1).await;
    let m = msg(&mut late, "state/device").await;
    assert_eq!(
        (m["data"].clone(), m["retain"].clone()),
        (json!({"on": true}), json!(true))
    );
    let m = msg(&mut late, "state/browser").await;
    assert_eq!(
        (m["text"].clone(), m["retain"].clone()),
        (json!("idle"), json!(true))
    );
    let m = msg(&mut late, "state/sio").await;
    assert_eq!(
        (m["data"].clone(), m["retain"].clone()),
        (json!({"mode": "auto"}), json!(true))
    );
    let m = msg(&mut late, "state/raw").await;
    assert_eq!(
        (m["b64"].clone(), m["retain"].clone()),
        (json!("AQID"), json!(true)),
        "a retained binary value keeps its retain flag (msg with b64)"
    );

    // A late MQTT 5 subscriber: the retain flag set, the kinds in the properties.
    let mut m5 = Mqtt5::connect(&gw, "late-m5").await;
    m5.subscribe("state/#").await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let p = m5.next().await;
        assert!(p.retain, "{:?} is a retained replay", p.topic);
        got.push((
            String::from_utf8_lossy(&p.topic).into_owned(),
            kind_of(&p),
            p.payload.to_vec(),
        ));
    }
    got.sort();
    assert_eq!(
        got,
        [
            ("state/browser".to_owned(), "text", b"idle".to_vec()),
            (
                "state/device".to_owned(),
                "json",
                br#"{"on":true}"#.to_vec()
            ),
            ("state/raw".to_owned(), "bytes", vec![1, 2, 3]),
            (
                "state/sio".to_owned(),
                "json",
                br#"{"mode":"auto"}"#.to_vec()
            ),
        ]
    );

    // A late IPC listener gets the retained value of its channel.
    let mut app = ipc(&gw, "app").await;
    ipc_do(
        &mut app,
        json!({"cmd": "listen", "channel": "state/browser"}),
    )
    .await;
    let m = ipc_msg(&mut app, "state/browser").await;
    assert_eq!(m["args"], json!([{"t": "string", "v": "idle"}]));
    ipc_do(
        &mut app,
        json!({"cmd": "listen", "channel": "state/device"}),
    )
    .await;
    let m = ipc_msg(&mut app, "state/device").await;
    assert_eq!(m["args"], json!([{"t": "object", "v": {"on": true}}]));

    late.kill().await;
    app.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn an_mqtt_will_reaches_a_browser() {
    let gw = TestGateway::builder().start().await;
    let mut b = browser(&gw, "dashboard").await;
    sub(&mut b, "devices/+/status", 1).await;
    let device = Mqtt5::connect_with(&gw, "d1", |o| {
        o.set_last_will(rumqttc::v5::mqttbytes::v5::LastWill {
            topic: "devices/d1/status".into(),
            message: "offline".into(),
            qos: rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            retain: true,
            properties: Some(rumqttc::v5::mqttbytes::v5::LastWillProperties {
                delay_interval: None,
                payload_format_indicator: Some(1),
                message_expiry_interval: None,
                content_type: None,
                response_topic: None,
                correlation_data: None,
                user_properties: Vec::new(),
            }),
        });
    })
    .await;
    b.expect_none(
        "a will while the device is connected",
        Duration::from_millis(200),
        |v| v["frame"]["topic"] == "devices/d1/status",
    )
    .await;
    // The device's connection drops without DISCONNECT: its will is published.
    device.vanish();
    let m = msg(&mut b, "devices/d1/status").await;
    assert_eq!(m["text"], "offline");
    // It was retained: a dashboard opened later sees it too.
    let mut later = browser(&gw, "later").await;
    sub(&mut later, "devices/#", 1).await;
    let m = msg(&mut later, "devices/d1/status").await;
    assert_eq!(
        (m["text"].clone(), m["retain"].clone()),
        (json!("offline"), json!(true))
    );
    b.kill().await;
    later.kill().await;
    gw.shutdown().await;
}

/// What a browser gets of a device's QoS 1 stream when it reconnects (README "Delivery to
/// browsers"): in order and complete while connected; after a reconnect, the last retained
/// value of each topic (marked retained), then live messages. Messages published while it was
/// away are not replayed, and never hold up the device.
#[tokio::test]
async fn qos1_from_a_device_to_a_browser_that_reconnects() {
    let gw = TestGateway::builder().start().await;
    let mut b = browser(&gw, "dashboard").await;
    sub(&mut b, "fleet/+/state", 1).await;
    sub(&mut b, "fleet/+/event", 2).await;
    let mut dev = Mqtt5::connect(&gw, "truck-1").await;

    for n in 1..=5 {
        let reason = dev
            .publish("fleet/t1/state", n.to_string(), true, props("text"))
            .await;
        assert_eq!(reason, rumqttc::v5::mqttbytes::v5::PubAckReason::Success);
    }
    for n in 1..=5 {
        assert_eq!(
            msg(&mut b, "fleet/t1/state").await["text"],
            n.to_string(),
            "in order"
        );
    }

    // The browser goes away; the device keeps publishing and every publish is acknowledged.
    b.send(json!({"cmd": "close"})).await;
    b.expect_event("close").await;
    for n in 6..=10 {
        dev.publish("fleet/t1/state", n.to_string(), true, props("text"))
            .await;
    }
    dev.publish("fleet/t1/event", "door opened", false, props("text"))
        .await;

    // Back: it subscribes again (as /switchboard.js does) and gets the last value only.
    b.send(json!({"cmd": "open"})).await;
    b.expect_event("open").await;
    sub(&mut b, "fleet/+/state", 3).await;
    sub(&mut b, "fleet/+/event", 4).await;
    let m = msg(&mut b, "fleet/t1/state").await;
    assert_eq!(
        (m["text"].clone(), m["retain"].clone()),
        (json!("10"), json!(true))
    );
    dev.publish("fleet/t1/state", "11", true, props("text"))
        .await;
    let m = msg(&mut b, "fleet/t1/state").await;
    assert_eq!(
        (m["text"].clone(), m["retain"].clone()),
        (json!("11"), json!(false))
    );
    b.expect_none(
        "a replay of what was missed",
        Duration::from_millis(300),
        |v| v["event"] == "frame" && v["frame"]["op"] == "msg",
    )
    .await;
    b.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn each_listener_mounts_its_own_prefix() {
    let gw = TestGateway::builder()
        .configure(|c| {
            c.engineio.mount = "site/".to_owned();
            c.mqtt.mount = "site/".to_owned();
            c.ipc.mount = "site/desk/".to_owned();
        })
        .start()
        .await;
    // What the fabric sees: every topic below `site/`.
    let mut all = gw
        .fabric
        .subscriber(SubscriberSpec::new("test", "observer"));
    all.subscribe(TopicFilter::new("#").unwrap(), SubOptions::default());
    let mut b = browser(&gw, "browser").await;
    sub(&mut b, "#", 1).await;
    let mut m5 = Mqtt5::connect(&gw, "m5").await;
    m5.subscribe("#").await;
    let mut desk = ipc(&gw, "desk").await;
    ipc_do(&mut desk, json!({"cmd": "listen", "channel": "lamp"})).await;
    gw.subscribed("site/desk/lamp").await;

    // Browser `desk/lamp` = fabric `site/desk/lamp` = MQTT `desk/lamp` = IPC channel `lamp`.
    op(
        &mut b,
        json!({"op": "pub", "topic": "desk/lamp", "data": {"on": true}}),
        2,
    )
    .await;
    let d = tokio::time::timeout(WAIT, all.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message.topic.as_str(), "site/desk/lamp");
    let p = m5.next().await;
    assert_eq!(&p.topic[..], b"desk/lamp");
    let m = ipc_msg(&mut desk, "lamp").await;
    assert_eq!(m["args"], json!([{"t": "object", "v": {"on": true}}]));
    assert_eq!(msg(&mut b, "desk/lamp").await["data"], json!({"on": true}));

    // IPC `door` = MQTT `desk/door` = browser `desk/door`.
    ipc_do(
        &mut desk,
        json!({"cmd": "send", "channel": "door", "args": [{"t": "string", "v": "open"}]}),
    )
    .await;
    assert_eq!(msg(&mut b, "desk/door").await["text"], "open");
    assert_eq!(&m5.next().await.topic[..], b"desk/door");

    // Something outside the mounts reaches nobody mounted.
    gw.fabric.publish(switchboard_fabric::Message::text(
        switchboard_fabric::Topic::new("elsewhere/x").unwrap(),
        "outside",
    ));
    b.expect_none(
        "a message from outside the mount",
        Duration::from_millis(300),
        |v| v["frame"]["text"] == "outside",
    )
    .await;
    m5.nothing_for(Duration::from_millis(100)).await;
    b.kill().await;
    desk.kill().await;
    gw.shutdown().await;
}
