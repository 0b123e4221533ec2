//! Every pair of protocols, both ways, with the payload mapping: text stays text, binary stays
//! binary, JSON stays JSON (MQTT 3.1.1 has no payload type: what it publishes is bytes).

use std::time::Duration;

use serde_json::json;
use switchboard_tests::TestGateway;

use crate::support::*;

#[tokio::test]
async fn mqtt_reaches_browsers_through_plus_and_hash_filters() {
    let gw = TestGateway::builder().start().await;
    let mut b = browser(&gw, "dashboard").await;
    sub(&mut b, "plant/+/temp", 1).await;
    sub(&mut b, "alerts/#", 2).await;
    let mut dev5 = Mqtt5::connect(&gw, "dev5").await;
    let mut dev3 = Mqtt4::connect(&gw, "dev3").await;

    dev5.publish("plant/1/temp", r#"{"c":21.5}"#, false, props("json"))
        .await;
    dev5.publish("plant/2/temp", "warm", false, props("text"))
        .await;
    dev3.publish("plant/3/temp", vec![0u8, 1, 2, 255], false)
        .await;
    dev3.publish("plant/1/humidity", "not for this filter", false)
        .await;
    dev3.publish("plant/1/temp/raw", "one level too deep", false)
        .await;
    dev5.publish("alerts/a/b/c", "[1,2]", false, props("json"))
        .await;
    dev3.publish("alerts", "the parent level", false).await;

    let m = msg(&mut b, "plant/1/temp").await;
    assert_eq!(m["data"], json!({"c": 21.5}), "JSON stays JSON: {m}");
    assert_eq!(m["retain"], false);
    assert_eq!(msg(&mut b, "plant/2/temp").await["text"], "warm");
    assert_eq!(binary(&mut b, "plant/3/temp").await, "000102ff");
    assert_eq!(msg(&mut b, "alerts/a/b/c").await["data"], json!([1, 2]));
    assert_eq!(
        binary(&mut b, "alerts").await,
        hex(b"the parent level"),
        "`#` also matches the parent level"
    );
    b.expect_none(
        "a message outside the filters",
        Duration::from_millis(300),
        |v| {
            let t = if v["event"] == "binary" {
                &v["topic"]
            } else {
                &v["frame"]["topic"]
            };
            t == "plant/1/humidity" || t == "plant/1/temp/raw"
        },
    )
    .await;
    b.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn browsers_reach_mqtt_with_their_payload_kinds() {
    let gw = TestGateway::builder().start().await;
    let mut m5 = Mqtt5::connect(&gw, "m5").await;
    let mut m3 = Mqtt4::connect(&gw, "m3").await;
    m5.subscribe("web/#").await;
    m3.subscribe("web/#").await;
    let mut b = browser(&gw, "browser").await;

    let a = op(
        &mut b,
        json!({"op": "pub", "topic": "web/json", "data": {"fan": "on", "n": [1, 2]}, "qos": 1}),
        1,
    )
    .await;
    assert_eq!(a["op"], "ack");
    let a = op(
        &mut b,
        json!({"op": "pub", "topic": "web/text", "text": "héllo"}),
        2,
    )
    .await;
    assert_eq!(a["op"], "ack");
    b.send(json!({"cmd": "binary", "topic": "web/bin", "hex": "00ff10"}))
        .await;

    let p = m5.next().await;
    assert_eq!(&p.topic[..], b"web/json");
    assert_eq!(kind_of(&p), "json");
    let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(v, json!({"fan": "on", "n": [1, 2]}));
    let p = m5.next().await;
    assert_eq!((&p.topic[..], kind_of(&p)), (&b"web/text"[..], "text"));
    assert_eq!(&p.payload[..], "héllo".as_bytes());
    let p = m5.next().await;
    assert_eq!((&p.topic[..], kind_of(&p)), (&b"web/bin"[..], "bytes"));
    assert_eq!(&p.payload[..], &[0x00, 0xff, 0x10]);

    // MQTT 3.1.1 sees the same bytes, in the same order.
    for (topic, payload) in [
        ("web/json", br#"{"fan":"on","n":[1,2]}"#.to_vec()),
        ("web/text", "héllo".as_bytes().to_vec()),
        ("web/bin", vec![0x00, 0xff, 0x10]),
    ] {
        let p = m3.next().await;
        assert_eq!(p.topic, topic);
        assert_eq!(&p.payload[..], &payload[..], "{topic}");
    }
    b.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn ipc_and_browsers_talk_both_ways() {
    let gw = TestGateway::builder().start().await;
    let mut desk = ipc(&gw, "desk").await;
    for c in ["desk/in/json", "desk/in/text", "desk/in/bin"] {
        ipc_listen(&gw, &mut desk, c).await;
    }
    let mut b = browser(&gw, "browser").await;
    sub(&mut b, "desk/out/#", 1).await;

    // Browser → IPC.
    op(
        &mut b,
        json!({"op": "pub", "topic": "desk/in/json", "data": {"a": [1, "x"]}}),
        2,
    )
    .await;
    op(
        &mut b,
        json!({"op": "pub", "topic": "desk/in/text", "text": "to the desktop"}),
        3,
    )
    .await;
    b.send(json!({"cmd": "binary", "topic": "desk/in/bin", "hex": "deadbeef"}))
        .await;
    let m = ipc_msg(&mut desk, "desk/in/json").await;
    assert_eq!(m["sender"], "switchboard");
    assert_eq!(m["args"], json!([{"t": "object", "v": {"a": [1, "x"]}}]));
    let m = ipc_msg(&mut desk, "desk/in/text").await;
    assert_eq!(m["args"], json!([{"t": "string", "v": "to the desktop"}]));
    let m = ipc_msg(&mut desk, "desk/in/bin").await;
    assert_eq!(m["args"], json!([{"t": "Buffer", "hex": "deadbeef"}]));

    // IPC → browser: one string, one Buffer, one object, a number, several arguments.
    for (channel, args) in [
        (
            "desk/out/text",
            json!([{"t": "string", "v": "to the browser"}]),
        ),
        ("desk/out/bin", json!([{"t": "Buffer", "hex": "0001feff"}])),
        ("desk/out/json", json!([{"t": "json", "v": {"ok": true}}])),
        ("desk/out/num", json!([{"t": "json", "v": 42}])),
        (
            "desk/out/many",
            json!([{"t": "string", "v": "a"}, {"t": "json", "v": 1}]),
        ),
    ] {
        ipc_do(
            &mut desk,
            json!({"cmd": "send", "channel": channel, "args": args}),
        )
        .await;
    }
    assert_eq!(msg(&mut b, "desk/out/text").await["text"], "to the browser");
    assert_eq!(binary(&mut b, "desk/out/bin").await, "0001feff");
    assert_eq!(
        msg(&mut b, "desk/out/json").await["data"],
        json!({"ok": true})
    );
    assert_eq!(msg(&mut b, "desk/out/num").await["data"], json!(42));
    assert_eq!(
        msg(&mut b, "desk/out/many").await["data"],
        json!(["a", 1]),
        "several arguments are a JSON array"
    );
    b.kill().await;
    desk.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn ipc_and_mqtt5_keep_payload_kinds_both_ways() {
    let gw = TestGateway::builder().start().await;
    let mut m5 = Mqtt5::connect(&gw, "m5").await;
    m5.subscribe("app/out/#").await;
    let mut m3 = Mqtt4::connect(&gw, "m3").await;
    let mut app = ipc(&gw, "app").await;
    for c in ["app/in/json", "app/in/text", "app/in/bin"] {
        ipc_listen(&gw, &mut app, c).await;
    }

    // IPC → MQTT 5: payload format indicator and content type say what it is.
    for (channel, args) in [
        ("app/out/text", json!([{"t": "string", "v": "plain"}])),
        ("app/out/bin", json!([{"t": "Buffer", "hex": "ff00"}])),
        ("app/out/json", json!([{"t": "json", "v": {"a": 1}}])),
    ] {
        ipc_do(
            &mut app,
            json!({"cmd": "send", "channel": channel, "args": args}),
        )
        .await;
    }
    let p = m5.next().await;
    assert_eq!((&p.topic[..], kind_of(&p)), (&b"app/out/text"[..], "text"));
    assert_eq!(&p.payload[..], b"plain");
    let p = m5.next().await;
    assert_eq!((&p.topic[..], kind_of(&p)), (&b"app/out/bin"[..], "bytes"));
    assert_eq!(&p.payload[..], &[0xff, 0x00]);
    let p = m5.next().await;
    assert_eq!((&p.topic[..], kind_of(&p)), (&b"app/out/json"[..], "json"));
    assert_eq!(&p.payload[..], br#"{"a":1}"#);

    // MQTT → IPC.
    m5.publish("app/in/json", r#"{"b":[true]}"#, false, props("json"))
        .await;
    m5.publish("app/in/text", "from a device", false, props("text"))
        .await;
    m3.publish("app/in/bin", vec![7u8, 8, 9], false).await;
    let m = ipc_msg(&mut app, "app/in/json").await;
    assert_eq!(m["args"], json!([{"t": "object", "v": {"b": [true]}}]));
    let m = ipc_msg(&mut app, "app/in/text").await;
    assert_eq!(m["args"], json!([{"t": "string", "v": "from a device"}]));
    let m = ipc_msg(&mut app, "app/in/bin").await;
    assert_eq!(m["args"], json!([{"t": "Buffer", "hex": "070809"}]));
    app.kill().await;
    gw.shutdown().await;
}
