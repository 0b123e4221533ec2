//! `POST /api/v1/publish`, `POST /api/v1/request`, `GET/DELETE /api/v1/topics`: a backend's
//! message reaches MQTT, Engine.IO and IPC subscribers; retained values are listed with their
//! metadata and cleared everywhere; requests get replies, rejections, timeouts.

use serde_json::json;
use switchboard_tests::http::Method;

use crate::support::*;

#[tokio::test]
async fn an_http_publish_reaches_mqtt_engineio_and_ipc_subscribers() {
    let gw = gateway().await;
    let mut dev = Mqtt::connect(&gw, "dev", None).await;
    dev.subscribe("news/#").await;
    let mut tab = browser(&gw, "tab").await;
    browser_sub(&mut tab, "news/#", 1).await;
    let mut desk = ipc_agent(&gw, "desk").await;
    ipc_do(&mut desk, json!({"cmd": "listen", "channel": "news/today"})).await;
    gw.subscribed("news/today").await;

    let (status, body) = call(
        &gw,
        Method::POST,
        "/publish",
        Some(
            json!({"topic": "news/today", "json": {"headline": "hi"}, "qos": 1,
                    "properties": {"source": "backend"}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["delivered"].as_u64().is_some_and(|n| n >= 3), "{body}");

    let p = dev.next().await;
    assert_eq!(&p.topic[..], b"news/today");
    let got: serde_json::Value = serde_json::from_slice(&p.payload).expect("JSON payload");
    assert_eq!(got, json!({"headline": "hi"}));
    let props = p.properties.expect("MQTT 5 properties");
    assert!(
        props
            .user_properties
            .contains(&("source".into(), "backend".into()))
    );
    let frame = browser_msg(&mut tab, "news/today").await;
    assert_eq!(frame["data"], json!({"headline": "hi"}), "{frame}");
    let m = desk
        .expect("the IPC message", |v| {
            v["event"] == "msg" && v["channel"] == "news/today"
        })
        .await;
    assert_eq!(m["args"][0]["v"], json!({"headline": "hi"}), "{m}");

    // Text and base64 payloads; malformed bodies are 400s in the API's error form.
    let (status, _) = call(
        &gw,
        Method::POST,
        "/publish",
        Some(json!({"topic": "news/b", "base64": "AAEC"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&dev.next().await.payload[..], &[0u8, 1, 2]);
    for bad in [
        json!({"topic": "news/+", "text": "x"}),
        json!({"topic": "t", "text": "x", "json": 1}),
        json!({"topic": "t"}),
        json!({"topic": "t", "text": "x", "qos": 3}),
        json!({"topic": "t", "base64": "!!"}),
        json!({"topic": "t", "text": "x", "nope": 1}),
    ] {
        let (status, body) = call(&gw, Method::POST, "/publish", Some(bad.clone())).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!("bad_request")),
            "{bad}: {body}"
        );
    }
    tab.kill().await;
    desk.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn retained_values_are_listed_with_metadata_and_cleared_everywhere() {
    let gw = gateway().await;
    let dev = Mqtt::connect(&gw, "dev", None).await;
    dev.publish("state/lamp", "on", true).await;
    let (status, _) = call(
        &gw,
        Method::POST,
        "/publish",
        Some(
            json!({"topic": "state/door", "text": "open", "retain": true, "qos": 1,
                    "content_type": "text/plain", "properties": [["k", "v"]]}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    switchboard_tests::wait::until_async("both retained values", || async {
        get(&gw, "/topics?filter=state/%23").await["items"]
            .as_array()
            .map(Vec::len)
            == Some(2)
    })
    .await;
    let page = get(&gw, "/topics?filter=state/%23").await;
    let door = &page["items"][0];
    assert_eq!(door["topic"], "state/door", "sorted by topic: {page}");
    assert_eq!(
        (
            &door["text"],
            &door["qos"],
            &door["retain"],
            &door["content_type"]
        ),
        (
            &json!("open"),
            &json!(1),
            &json!(true),
            &json!("text/plain")
        )
    );
    assert_eq!(door["properties"], json!([["k", "v"]]));
    assert_eq!(door["origin"]["protocol"], "http");
    let lamp = &page["items"][1];
    assert_eq!(
        (&lamp["topic"], &lamp["origin"]["protocol"]),
        (&json!("state/lamp"), &json!("mqtt"))
    );
    assert_eq!(lamp["origin"]["client"], "dev");
    assert!(
        lamp["received_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // Pages of one follow the cursor.
    let first = get(&gw, "/topics?filter=state/%23&limit=1").await;
    assert_eq!(first["next"], "state/door");
    let second = get(&gw, "/topics?filter=state/%23&limit=1&cursor=state/door").await;
    assert_eq!(
        (&second["items"][0]["topic"], &second["next"]),
        (&json!("state/lamp"), &json!(null))
    );

    // Clearing publishes an empty retained message: subscribers see it, late ones get nothing.
    let mut watcher = Mqtt::connect(&gw, "watcher", None).await;
    watcher.subscribe("state/lamp").await;
    assert_eq!(&watcher.next().await.payload[..], b"on");
    let (status, body) = call(&gw, Method::DELETE, "/topics/state/lamp", None).await;
    assert_eq!((status, body), (204, serde_json::Value::Null));
    let cleared = watcher.next().await;
    assert!(cleared.payload.is_empty());
    assert_eq!(ids_topics(&get(&gw, "/topics").await), ["state/door"]);
    let mut late = Mqtt::connect(&gw, "late", None).await;
    late.subscribe("state/#").await;
    assert_eq!(&late.next().await.topic[..], b"state/door");
    let (status, body) = call(&gw, Method::DELETE, "/topics/state/lamp", None).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    gw.shutdown().await;
}

fn ids_topics(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["topic"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn requests_get_replies_rejections_timeouts_and_no_responders() {
    let gw = gateway_with(|c| c.admin.max_request_timeout_ms = 300).await;
    let mut desk = ipc_agent(&gw, "desk").await;
    ipc_do(&mut desk, json!({"cmd": "answer", "channel": "svc/echo"})).await;
    ipc_do(
        &mut desk,
        json!({"cmd": "reject", "channel": "svc/no", "reason": "not today"}),
    )
    .await;
    gw.subscribed("svc/no").await;
    let mut silent = Mqtt::connect(&gw, "silent", None).await;
    silent.subscribe("svc/silent").await;

    let (status, reply) = call(
        &gw,
        Method::POST,
        "/request",
        Some(json!({"topic": "svc/echo", "text": "ping", "timeout_ms": 10000})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["json"],
        json!({"answeredBy": "ipc", "got": ["ping"]}),
        "{reply}"
    );
    assert_eq!(reply["origin"]["protocol"], "ipc");

    let (status, body) = call(
        &gw,
        Method::POST,
        "/request",
        Some(json!({"topic": "svc/no", "text": "x"})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("rejected")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not today"))
    );

    // timeout_ms is capped by admin.max_request_timeout_ms (300 here).
    let (status, body) = call(
        &gw,
        Method::POST,
        "/request",
        Some(json!({"topic": "svc/silent", "text": "x", "timeout_ms": 60000})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (504, &json!("timeout")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("300 ms")),
        "{body}"
    );

    let (status, body) = call(
        &gw,
        Method::POST,
        "/request",
        Some(json!({"topic": "svc/nobody", "text": "x"})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("no_responders")),
        "{body}"
    );
    desk.kill().await;
    gw.shutdown().await;
}
