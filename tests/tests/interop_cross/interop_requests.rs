//! Request/reply across protocols: an IPC request answered (or rejected) by a browser, a
//! browser `req` answered (or rejected) by an IPC listener, an MQTT 5 request (response topic
//! and correlation data) answered (or rejected) by an IPC listener.

use serde_json::json;
use switchboard_tests::TestGateway;

use crate::support::*;

#[tokio::test]
async fn an_ipc_request_is_answered_or_rejected_by_a_browser() {
    let gw = TestGateway::builder().start().await;
    let mut b = browser(&gw, "responder").await;
    b.send(json!({"cmd": "answer", "prefix": "svc/browser/"}))
        .await;
    b.send(json!({"cmd": "reject", "prefix": "svc/deny/", "reason": "not today"}))
        .await;
    sub(&mut b, "svc/#", 1).await;
    let mut app = ipc(&gw, "app").await;

    app.send(
        json!({"cmd": "request", "channel": "svc/browser/double", "timeout": 5000,
                    "args": [{"t": "json", "v": {"n": 21}}]}),
    )
    .await;
    let r = app.expect_event("response").await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["sender"], "switchboard");
    assert_eq!(
        r["payload"],
        json!({"answeredBy": "browser", "topic": "svc/browser/double", "got": {"n": 21}})
    );
    let asked = b
        .expect("the request frame", |v| v["frame"]["op"] == "req")
        .await;
    assert_eq!(asked["frame"]["data"], json!({"n": 21}));

    app.send(
        json!({"cmd": "request", "channel": "svc/deny/x", "timeout": 5000,
                    "args": [{"t": "string", "v": "please"}]}),
    )
    .await;
    let r = app.expect_event("response").await;
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["err"].as_str().unwrap_or_default().contains("not today"),
        "the IPC requester sees the browser's reason: {r}"
    );
    b.kill().await;
    app.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn a_browser_request_is_answered_or_rejected_by_an_ipc_listener() {
    let gw = TestGateway::builder().start().await;
    let mut app = ipc(&gw, "inventory").await;
    ipc_do(&mut app, json!({"cmd": "answer", "channel": "svc/ipc/sum"})).await;
    ipc_do(
        &mut app,
        json!({"cmd": "reject", "channel": "svc/ipc/order", "reason": "out of stock"}),
    )
    .await;
    gw.subscribed("svc/ipc/sum").await;
    gw.subscribed("svc/ipc/order").await;
    let mut b = browser(&gw, "browser").await;

    let res = op(
        &mut b,
        json!({"op": "req", "topic": "svc/ipc/sum", "data": {"a": 2, "b": 3}, "timeout_ms": 5000}),
        1,
    )
    .await;
    assert_eq!(res["op"], "res", "{res}");
    assert_eq!(
        res["data"],
        json!({"answeredBy": "ipc", "got": [{"a": 2, "b": 3}]})
    );
    let seen = ipc_msg(&mut app, "svc/ipc/sum").await;
    assert_eq!(seen["request"], true);
    assert_eq!(seen["sender"], "switchboard");

    let err = op(
        &mut b,
        json!({"op": "req", "topic": "svc/ipc/order", "text": "one widget", "timeout_ms": 5000}),
        2,
    )
    .await;
    assert_eq!(
        (
            err["op"].clone(),
            err["code"].clone(),
            err["message"].clone()
        ),
        (json!("err"), json!("rejected"), json!("out of stock")),
        "{err}"
    );

    let err = op(
        &mut b,
        json!({"op": "req", "topic": "svc/nobody", "data": null, "timeout_ms": 1000}),
        3,
    )
    .await;
    assert_eq!(err["code"], "no_responders", "{err}");
    b.kill().await;
    app.kill().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn an_mqtt5_request_is_answered_by_an_ipc_listener() {
    let gw = TestGateway::builder().start().await;
    let mut app = ipc(&gw, "calc").await;
    ipc_do(
        &mut app,
        json!({"cmd": "answer", "channel": "svc/calc/sum"}),
    )
    .await;
    gw.subscribed("svc/calc/sum").await;
    let mut device = Mqtt5::connect(&gw, "asker").await;
    device.subscribe("replies/asker").await;

    let mut p = props("json");
    p.response_topic = Some("replies/asker".into());
    p.correlation_data = Some(bytes::Bytes::from_static(b"req-7"));
    device
        .publish("svc/calc/sum", r#"{"a":40,"b":2}"#, false, p)
        .await;

    let reply = device.next().await;
    assert_eq!(&reply.topic[..], b"replies/asker");
    let got = reply.properties.clone().expect("properties");
    assert_eq!(got.correlation_data.as_deref(), Some(&b"req-7"[..]));
    assert_eq!(kind_of(&reply), "json");
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(v, json!({"answeredBy": "ipc", "got": [{"a": 40, "b": 2}]}));
    let seen = ipc_msg(&mut app, "svc/calc/sum").await;
    assert_eq!(seen["request"], true);

    // A rejection reaches the MQTT 5 requester as the user property `error`.
    ipc_do(
        &mut app,
        json!({"cmd": "reject", "channel": "svc/calc/div", "reason": "division by zero"}),
    )
    .await;
    gw.subscribed("svc/calc/div").await;
    let mut p = props("json");
    p.response_topic = Some("replies/asker".into());
    p.correlation_data = Some(bytes::Bytes::from_static(b"req-8"));
    device
        .publish("svc/calc/div", r#"{"a":1,"b":0}"#, false, p)
        .await;
    let reply = device.next().await;
    let got = reply.properties.clone().expect("properties");
    assert_eq!(got.correlation_data.as_deref(), Some(&b"req-8"[..]));
    assert!(
        got.user_properties
            .contains(&("error".to_owned(), "division by zero".to_owned())),
        "{:?}",
        got.user_properties
    );
    app.kill().await;
    gw.shutdown().await;
}
