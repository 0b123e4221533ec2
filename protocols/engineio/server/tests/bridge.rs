//! The fabric bridge over a real WebSocket: every op of the control protocol, binary frames,
//! retained replay, requests both ways, authentication and ACLs, mount prefixes, raw mode.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::net::{http, next, next_json, next_text, send_text, serve, serve_with, ws, ws_session};
use futures_util::SinkExt;
use serde_json::json;
use switchboard_engineio::EngineIoConfig;
use switchboard_engineio::config::{BridgeMode, RawConfig};
use switchboard_fabric::{
    Access, AuthError, Authorizer, Credentials, Identity, Message, PayloadKind, SubOptions,
    SubscriberSpec, Topic, TopicFilter,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn topic(t: &str) -> Topic {
    Topic::new(t).expect("topic")
}

async fn op(w: &mut common::net::Ws, frame: serde_json::Value) -> serde_json::Value {
    send_text(w, &format!("4{frame}")).await;
    next_json(w).await
}

#[tokio::test]
async fn subscribe_publish_and_retained_replay() {
    let s = serve(EngineIoConfig::default()).await;
    s.fabric
        .publish(Message::json(topic("plant/1/temp"), r#"{"c":21.5}"#).retain(true));
    let (mut w, _) = ws_session(s.addr, "").await;
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"plant/+/temp","id":1})).await,
        json!({"op":"ack","id":1})
    );
    assert_eq!(
        next_json(&mut w).await,
        json!({"op":"msg","topic":"plant/1/temp","data":{"c":21.5},"retain":true})
    );
    s.fabric.publish(Message::text(topic("plant/2/temp"), "19"));
    assert_eq!(
        next_json(&mut w).await,
        json!({"op":"msg","topic":"plant/2/temp","text":"19","retain":false})
    );
    s.fabric
        .publish(Message::new(topic("plant/3/temp"), vec![1u8, 2]));
    match next(&mut w).await {
        Some(WsMessage::Binary(b)) => {
            assert_eq!(&b[..], b"\x00\x0cplant/3/temp\x01\x02");
        }
        other => panic!("expected a binary frame, got {other:?}"),
    }
    // the client publishes JSON, text and binary
    let mut sub = s.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(
        TopicFilter::new("cmd/#").expect("filter"),
        SubOptions::default(),
    );
    assert_eq!(
        op(
            &mut w,
            json!({"op":"pub","topic":"cmd/a","data":[1,{"x":true}],"retain":true,"id":"p1"})
        )
        .await,
        json!({"op":"ack","id":"p1"})
    );
    let d = sub.recv().await.expect("delivery");
    assert_eq!(d.message.kind, PayloadKind::Json);
    assert_eq!(&d.message.payload[..], br#"[1,{"x":true}]"#);
    assert!(s.fabric.retained_value(&topic("cmd/a")).is_some());
    send_text(&mut w, r#"4{"op":"pub","topic":"cmd/b","text":"hi"}"#).await;
    let d = sub.recv().await.expect("delivery");
    assert_eq!(
        (d.message.kind, &d.message.payload[..]),
        (PayloadKind::Text, &b"hi"[..])
    );
    w.send(WsMessage::binary(Bytes::from_static(b"\x00\x05cmd/c\xff")))
        .await
        .expect("send");
    let d = sub.recv().await.expect("delivery");
    assert_eq!(d.message.topic.as_str(), "cmd/c");
    assert_eq!(
        (d.message.kind, &d.message.payload[..]),
        (PayloadKind::Binary, &b"\xff"[..])
    );
    // unsubscribe stops deliveries
    assert_eq!(
        op(&mut w, json!({"op":"unsub","topic":"plant/+/temp","id":2})).await,
        json!({"op":"ack","id":2})
    );
    s.fabric.publish(Message::text(topic("plant/4/temp"), "x"));
    s.fabric.publish(Message::text(topic("cmd/echo"), "x"));
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"after","id":3})).await,
        json!({"op":"ack","id":3}),
        "nothing of plant/+/temp arrived after the unsubscribe"
    );
}

#[tokio::test]
async fn a_subscription_then_a_publish_keep_their_order() {
    let s = serve(EngineIoConfig::default()).await;
    let (mut w, _) = ws_session(s.addr, "").await;
    send_text(&mut w, r#"4{"op":"sub","topic":"loop"}"#).await;
    send_text(&mut w, r#"4{"op":"pub","topic":"loop","text":"self"}"#).await;
    assert_eq!(next_json(&mut w).await, json!({"op":"ack"}));
    assert_eq!(
        next_json(&mut w).await,
        json!({"op":"msg","topic":"loop","text":"self","retain":false})
    );
}

#[tokio::test]
async fn errors_carry_machine_readable_codes() {
    let s = serve(EngineIoConfig {
        max_subscriptions: 1,
        ..EngineIoConfig::default()
    })
    .await;
    let (mut w, _) = ws_session(s.addr, "").await;
    send_text(&mut w, "4{nope").await;
    let e = next_json(&mut w).await;
    assert_eq!(
        (e["op"].as_str(), e["code"].as_str()),
        (Some("err"), Some("bad_request"))
    );
    let e = op(&mut w, json!({"op":"dance","id":1})).await;
    assert_eq!(
        (e["code"].as_str(), e["id"].as_i64()),
        (Some("bad_request"), Some(1))
    );
    let e = op(&mut w, json!({"op":"pub","topic":"a/+","text":"x","id":2})).await;
    assert_eq!(e["code"], "invalid_topic");
    let e = op(&mut w, json!({"op":"sub","topic":"a/#/b","id":3})).await;
    assert_eq!(e["code"], "invalid_topic");
    let e = op(&mut w, json!({"op":"pub","id":4})).await;
    assert_eq!(e["code"], "bad_request");
    let e = op(&mut w, json!({"op":"pub","topic":"t","b64":"!!","id":5})).await;
    assert_eq!(e["code"], "bad_request");
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"one","id":6})).await["op"],
        "ack"
    );
    let e = op(&mut w, json!({"op":"sub","topic":"two","id":7})).await;
    assert_eq!(e["code"], "too_many_subscriptions");
    let e = op(&mut w, json!({"op":"reply","rid":99,"data":1,"id":8})).await;
    assert_eq!(e["code"], "unknown_request");
    w.send(WsMessage::binary(Bytes::from_static(b"\x00\x09ab")))
        .await
        .expect("send");
    assert_eq!(next_json(&mut w).await["code"], "bad_request");
}

#[tokio::test]
async fn requests_from_the_client_and_to_the_client() {
    let s = serve(EngineIoConfig::default()).await;
    let (mut w, _) = ws_session(s.addr, "").await;
    // a fabric service answers on svc/time
    let mut svc = s.fabric.subscriber(SubscriberSpec::new("test", "svc"));
    svc.subscribe(
        TopicFilter::new("svc/time").expect("f"),
        SubOptions::default(),
    );
    let fabric = s.fabric.clone();
    tokio::spawn(async move {
        while let Ok(d) = svc.recv().await {
            if let Some(reply_to) = d.message.reply_to.clone() {
                let mut r = Message::json(reply_to, r#"{"now":42}"#);
                r.correlation = d.message.correlation.clone();
                fabric.publish(r);
            }
        }
    });
    assert_eq!(
        op(
            &mut w,
            json!({"op":"req","topic":"svc/time","data":null,"id":10})
        )
        .await,
        json!({"op":"res","id":10,"data":{"now":42}})
    );
    let e = op(&mut w, json!({"op":"req","topic":"svc/none","id":11})).await;
    assert_eq!(e["code"], "no_responders");
    // a subscriber that never answers: the request times out
    let mut silent = s.fabric.subscriber(SubscriberSpec::new("test", "silent"));
    silent.subscribe(
        TopicFilter::new("svc/slow").expect("f"),
        SubOptions::default(),
    );
    let e = op(
        &mut w,
        json!({"op":"req","topic":"svc/slow","timeout_ms":50,"id":12}),
    )
    .await;
    assert_eq!(e["code"], "timeout");

    // the client answers requests on a topic it subscribes to
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"browser/ask","id":1})).await["op"],
        "ack"
    );
    let fabric = s.fabric.clone();
    let asking = tokio::spawn(async move {
        fabric
            .request(
                Message::json(topic("browser/ask"), r#"{"q":"ping"}"#),
                Duration::from_secs(5),
            )
            .await
    });
    let req = next_json(&mut w).await;
    assert_eq!(req["op"], "req");
    assert_eq!(req["topic"], "browser/ask");
    assert_eq!(req["data"], json!({"q":"ping"}));
    let rid = req["rid"].as_u64().expect("rid");
    send_text(
        &mut w,
        &format!(r#"4{{"op":"reply","rid":{rid},"text":"pong"}}"#),
    )
    .await;
    let answer = asking.await.expect("task").expect("answered");
    assert_eq!(answer.payload_str(), Some("pong"));
    drop(silent);
}

#[derive(Debug)]
struct TestAuth;

impl Authorizer for TestAuth {
    fn authenticate(
        &self,
        _protocol: &str,
        client_id: &str,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError> {
        match credentials {
            Credentials::Token(t) if t == "good" => Ok(Identity::user("alice", client_id)),
            Credentials::Password { username, password }
                if username == "bob" && password == b"pw" =>
            {
                Ok(Identity::user("bob", client_id))
            }
            Credentials::Anonymous => Err(AuthError::NotAuthorized),
            _ => Err(AuthError::BadCredentials),
        }
    }

    fn authorize(&self, identity: &Identity, _access: Access, topic: &str) -> bool {
        !topic.starts_with("secret") || identity.user.as_deref() == Some("bob")
    }
}

#[tokio::test]
async fn authentication_by_op_header_and_query() {
    let s = serve_with(EngineIoConfig::default(), Arc::new(TestAuth)).await;
    // anonymous is refused, but a control session may authenticate later
    let (mut w, _) = ws_session(s.addr, "").await;
    let e = op(&mut w, json!({"op":"sub","topic":"a","id":1})).await;
    assert_eq!(e["code"], "unauthorized");
    let e = op(&mut w, json!({"op":"auth","token":"bad","id":2})).await;
    assert_eq!(e["code"], "unauthorized");
    assert_eq!(
        op(&mut w, json!({"op":"auth","token":"good","id":3})).await,
        json!({"op":"ack","id":3})
    );
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"a","id":4})).await["op"],
        "ack"
    );
    let e = op(
        &mut w,
        json!({"op":"pub","topic":"secret/x","text":"s","id":5}),
    )
    .await;
    assert_eq!(e["code"], "forbidden");
    let e = op(&mut w, json!({"op":"sub","topic":"secret/#","id":6})).await;
    assert_eq!(e["code"], "forbidden");
    assert_eq!(
        op(
            &mut w,
            json!({"op":"auth","username":"bob","password":"pw","id":7})
        )
        .await["op"],
        "ack"
    );
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"secret/#","id":8})).await["op"],
        "ack"
    );

    // the token query parameter authenticates the handshake; a bad one is refused with 403
    let (mut w2, _) = ws_session(s.addr, "&token=good").await;
    assert_eq!(
        op(&mut w2, json!({"op":"sub","topic":"a","id":1})).await["op"],
        "ack"
    );
    let r = http(
        s.addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling&token=bad",
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"code":4,"message":"bad user name or password"}"#
    );
    assert!(
        metric(
            &s,
            "switchboard_auth_failures_total",
            "kind=\"credentials\""
        ) >= 2.0
    );
}

#[tokio::test]
async fn basic_and_bearer_headers_authenticate_polling_handshakes() {
    let s = serve_with(EngineIoConfig::default(), Arc::new(TestAuth)).await;
    for (auth, status) in [
        ("Bearer good", 200),
        ("Basic Ym9iOnB3", 200),
        ("Basic Ym9iOm5v", 403),
    ] {
        let mut st = tokio::net::TcpStream::connect(s.addr)
            .await
            .expect("connect");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let req = format!(
            "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        );
        st.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        st.read_to_string(&mut out).await.expect("read");
        assert!(
            out.starts_with(&format!("HTTP/1.1 {status}")),
            "{auth}: {out}"
        );
    }
}

#[tokio::test]
async fn require_credentials_refuses_anonymous_handshakes() {
    let mut c = EngineIoConfig::default();
    c.allow_request.require_credentials = true;
    let s = serve(c).await;
    let r = http(s.addr, "GET", "/engine.io/?EIO=4&transport=polling", b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"code":4,"message":"credentials are required"}"#
    );
}

#[tokio::test]
async fn the_mount_prefix_is_added_and_removed() {
    let s = serve(EngineIoConfig {
        mount: "browser/".to_owned(),
        ..EngineIoConfig::default()
    })
    .await;
    let (mut w, _) = ws_session(s.addr, "").await;
    let mut sub = s.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(TopicFilter::new("#").expect("f"), SubOptions::default());
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"x/#","id":1})).await["op"],
        "ack"
    );
    send_text(&mut w, r#"4{"op":"pub","topic":"x/1","text":"v"}"#).await;
    let d = sub.recv().await.expect("delivery");
    assert_eq!(d.message.topic.as_str(), "browser/x/1");
    assert_eq!(
        next_json(&mut w).await,
        json!({"op":"msg","topic":"x/1","text":"v","retain":false})
    );
}

#[tokio::test]
async fn raw_mode_with_user_templates() {
    let s = serve_with(
        EngineIoConfig {
            mode: BridgeMode::Raw,
            raw: RawConfig {
                publish: "devices/{user}/in".to_owned(),
                subscribe: vec!["devices/{user}/out".to_owned()],
            },
            ..EngineIoConfig::default()
        },
        Arc::new(TestAuth),
    )
    .await;
    // raw mode has no auth op: anonymous handshakes are refused
    let r = http(s.addr, "GET", "/engine.io/?EIO=4&transport=polling", b"").await;
    assert_eq!(r.status, 403);
    let (mut w, _) = ws_session(s.addr, "&token=good").await;
    let mut sub = s.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(
        TopicFilter::new("devices/#").expect("f"),
        SubOptions::default(),
    );
    send_text(&mut w, "4{\"not\":\"parsed\"}").await;
    let d = sub.recv().await.expect("delivery");
    assert_eq!(d.message.topic.as_str(), "devices/alice/in");
    assert_eq!(d.message.payload_str(), Some("{\"not\":\"parsed\"}"));
    s.fabric
        .publish(Message::new(topic("devices/alice/out"), vec![7u8]));
    assert_eq!(next(&mut w).await, Some(WsMessage::binary(vec![7u8])));
    s.fabric
        .publish(Message::json(topic("devices/alice/out"), "[1]"));
    assert_eq!(common::net::next_text(&mut w).await, "4[1]");
    drop(ws(s.addr, "/engine.io/?EIO=4&transport=websocket&token=good").await);
}

fn metric(s: &common::net::Server, name: &str, label: &str) -> f64 {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&s.registry.gather())
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test]
async fn sessions_are_listed_and_an_admin_kick_is_a_forced_close() {
    use switchboard_fabric::{ClientId, Kick};
    let s = serve(EngineIoConfig::default()).await;
    let (mut w, sid) = ws_session(s.addr, "").await;
    assert_eq!(
        op(&mut w, json!({"op":"sub","topic":"k/#","id":1})).await,
        json!({"op":"ack","id":1})
    );
    let clients = s.fabric.clients();
    let id = ClientId::new("engineio", sid.as_str());
    let info = clients.get(&id).expect("the session is listed");
    assert_eq!(info.transport, "websocket");
    assert_eq!(info.stats.subscriptions, 1);
    assert_eq!(clients.kick(&id), Kick::Kicked);
    // engine.io's goodbye: a `close` packet, then a close frame saying why.
    assert_eq!(next_text(&mut w).await, "1");
    match next(&mut w).await {
        Some(WsMessage::Close(Some(f))) => assert_eq!(f.reason.as_str(), "forced close"),
        other => panic!("expected a close frame, got {other:?}"),
    }
    for _ in 0..500 {
        if clients.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(clients.is_empty(), "the closed session left the registry");
}
