//! Interop with the real Socket.IO clients against a gateway: `socket.io-client` 4.x (control
//! and events mappings over WebSocket, polling and the upgrade; namespaces; acknowledgements;
//! binary payloads; requests both ways; reconnection; auth with JWT, password and failures),
//! `socket.io-client` 2.x with `allow_eio3`, and one dashboard script run unchanged against a
//! Node `socket.io` 4 server and against switchboard, with the same observable results.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_auth::passwd::{self, HashKind};
use switchboard_fabric::{Message, SubOptions, SubscriberSpec, Topic, TopicFilter};
use switchboard_socketio::{NamespaceConfig, NamespaceMode};
use switchboard_tests::TestGateway;
use switchboard_tests::interop::{self, Running, ScriptOutput};

const TIMEOUT: Duration = Duration::from_secs(60);
const STEP: Duration = Duration::from_secs(15);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-interop-socketio-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `/` in control mode and `/plant` in events mode below `plant/`; anonymous clients may use
/// `sio/`, `svc/`, `ask/`, `plant/`, `re/`, `x/` and `v2/`, not `secret/`.
async fn gateway(
    name: &str,
    configure: impl FnOnce(&mut switchboard_config::Config),
) -> TestGateway {
    let acl = scratch(name).join("acl");
    std::fs::write(
        &acl,
        "topic readwrite sio/#\ntopic readwrite svc/#\ntopic readwrite ask/#\n\
         topic readwrite plant/#\ntopic readwrite re/#\ntopic readwrite x/#\n\
         topic readwrite v2/#\n",
    )
    .expect("acl");
    TestGateway::builder()
        .configure(|c| {
            c.auth.acl_file = Some(acl);
            c.socketio.namespaces.push(NamespaceConfig {
                name: "/plant".to_owned(),
                mode: NamespaceMode::Events,
                mount: "plant/".to_owned(),
                ..NamespaceConfig::default()
            });
            configure(c);
        })
        .start()
        .await
}

fn sio(gw: &TestGateway, scenario: &str, arg: &str) -> tokio::process::Command {
    interop::node(
        "socketio",
        "sio.mjs",
        &[gw.http_url(""), scenario.to_owned(), arg.to_owned()],
    )
}

async fn run(gw: &TestGateway, scenario: &str, arg: &str) -> ScriptOutput {
    let out = interop::run(sio(gw, scenario, arg), TIMEOUT).await;
    out.assert_success();
    out
}

fn topic(s: &str) -> Topic {
    Topic::new(s).expect("topic")
}

/// Answers requests on `svc/echo` with their own payload.
fn echo_responder(gw: &TestGateway) {
    let mut sub = gw.fabric.subscriber(SubscriberSpec::new("test", "echo"));
    sub.subscribe(
        TopicFilter::new("svc/echo").expect("filter"),
        SubOptions::default(),
    );
    let fabric = gw.fabric.clone();
    tokio::spawn(async move {
        while let Ok(d) = sub.recv().await {
            if let Some(to) = d.message.reply_to.clone() {
                let reply = Message::new(to, d.message.payload.clone()).kind(d.message.kind);
                fabric.publish(reply);
            }
        }
    });
}

async fn control(transport: &str) {
    let gw = gateway(&format!("control-{transport}"), |_| {}).await;
    echo_responder(&gw);
    let mut r = Running::spawn(sio(&gw, "control", transport));
    let connected = r.expect("connected", STEP).await;
    assert_eq!(
        connected["transport"],
        if transport == "polling" {
            "polling"
        } else {
            "websocket"
        }
    );
    let ok = json!({"ok": true});
    assert_eq!(r.expect("ack", STEP).await["ack"], ok, "retained publish");
    assert_eq!(r.expect("ack", STEP).await["ack"], ok, "subscribe");
    let m = r.expect("message", STEP).await;
    assert_eq!(
        (&m["topic"], &m["data"], &m["meta"]),
        (
            &json!("sio/r"),
            &json!({"v": 0}),
            &json!({"retain": true, "qos": 0})
        )
    );
    for data in [
        json!({"v": 1}),
        json!("text é"),
        json!([1, 2]),
        Value::Null,
        json!({"bytes": [0, 1, 254, 255]}),
    ] {
        let m = r.expect("message", STEP).await;
        assert_eq!(m["data"], data, "{m}");
        assert_eq!(m["meta"], json!({"retain": false, "qos": 1}));
    }
    let burst = r.expect("burst", STEP).await;
    assert_eq!(
        (&burst["ordered"], &burst["count"]),
        (&json!(true), &json!(50))
    );
    for code in ["invalid_topic", "forbidden", "bad_request"] {
        let a = r.expect("ack", STEP).await;
        assert_eq!(
            (&a["ack"]["ok"], &a["ack"]["code"]),
            (&json!(false), &json!(code)),
            "{a}"
        );
        assert!(a["ack"]["message"].is_string());
    }
    let a = r.expect("ack", STEP).await;
    assert_eq!(a["ack"], json!({"ok": true, "data": {"n": 7}}));
    let a = r.expect("ack", STEP).await;
    assert_eq!(
        (&a["ok"], &a["data"]),
        (&json!(true), &json!({"bytes": [5, 6]}))
    );
    let a = r.expect("ack", STEP).await;
    assert_eq!(a["ack"]["code"], "no_responders");
    assert_eq!(r.expect("ack", STEP).await["ack"], ok, "subscribe ask/#");
    r.expect("ready-for-request", STEP).await;
    let reply = gw
        .fabric
        .request(Message::json(topic("ask/1"), "21"), Duration::from_secs(5))
        .await
        .expect("the client answers the request");
    let reply: Value = serde_json::from_slice(&reply.payload).expect("JSON reply");
    assert_eq!(reply, json!({"answered": "ask/1", "doubled": 42}));
    gw.fabric
        .publish(Message::new(topic("sio/from-rust"), vec![42u8, 43]));
    let m = r.expect("message", STEP).await;
    assert_eq!(
        (&m["topic"], &m["data"]),
        (&json!("sio/from-rust"), &json!({"bytes": [42, 43]}))
    );
    assert_eq!(r.expect("ack", STEP).await["ack"], ok, "unsubscribe");
    r.expect("done", STEP).await;
    assert_eq!(r.wait(STEP).await, Some(0));
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_sio4_control_mode_over_websocket() {
    control("websocket").await;
}

#[tokio::test]
async fn interop_sio4_control_mode_over_polling() {
    control("polling").await;
}

#[tokio::test]
async fn interop_sio4_control_mode_after_the_upgrade() {
    control("upgrade").await;
}

#[tokio::test]
async fn interop_sio4_events_mode_maps_event_names_to_topics() {
    let gw = gateway("events", |_| {}).await;
    let out = run(&gw, "events", "").await;
    let acks: Vec<&Value> = out.events_named("ack");
    assert_eq!(acks[0]["ack"], json!({"ok": true}));
    assert_eq!(acks[1]["ack"], json!({"ok": true}));
    assert_eq!(acks[2]["ack"]["code"], "invalid_topic");
    let mut got: Vec<Value> = out
        .events_named("event")
        .into_iter()
        .map(|e| json!([e["socket"], e["name"], e["data"], e["retain"]]))
        .collect();
    got.sort_by_key(|v| v.to_string());
    assert_eq!(
        got,
        [
            json!(["a", "1/temp", 21.5, false]),
            json!(["a", "2/temp", {"bytes": [7, 7]}, false]),
            json!(["a", "3/temp", [1, 2], false]),
            json!(["b", "1/hum", "40 %", false]),
        ]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_sio4_namespaces_share_one_connection() {
    let gw = gateway("namespaces", |_| {}).await;
    let out = run(&gw, "namespaces", "").await;
    let c = &out.events_named("connected")[0];
    assert_eq!(
        (&c["both"], &c["shared"], &c["different"]),
        (&json!(true), &json!(true), &json!(true))
    );
    let x = &out.events_named("cross-namespace")[0];
    assert_eq!((&x["data"], &x["retain"]), (&json!(19), &json!(false)));
    let refused = &out.events_named("refused")[0];
    assert_eq!(
        (&refused["message"], &refused["data"]),
        (&json!("Invalid namespace"), &Value::Null)
    );
    let after = &out.events_named("after-leave")[0];
    assert_eq!(
        (&after["main"], &after["ack"]),
        (&json!(true), &json!({"ok": true}))
    );
    gw.shutdown().await;
}

fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a signed token")
}

#[tokio::test]
async fn interop_sio4_auth_with_jwt_password_and_failures() {
    let dir = scratch("auth");
    let pw = dir.join("passwd");
    passwd::create(&pw, "alice", b"alice-pw", HashKind::Pbkdf2Sha512, 101).expect("passwd");
    let acl = dir.join("acl");
    std::fs::write(&acl, "user alice\ntopic readwrite alice/#\n").expect("acl");
    let secret = "interop-secret-interop-secret-32b";
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw);
            c.auth.acl_file = Some(acl);
            c.auth.jwt = Some(switchboard_config::JwtConfig {
                secret: Some(switchboard_config::Secret::new(secret)),
                ..Default::default()
            });
        })
        .start()
        .await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 600)
        .unwrap_or(0);
    let jwt = hs256(secret, &json!({"sub": "alice", "exp": exp}));
    let out = run(&gw, "auth", &jwt).await;
    for (name, code) in [
        ("anonymous", "unauthorized"),
        ("bad-token", "unauthorized"),
        ("bad-password", "unauthorized"),
    ] {
        let e = &out.events_named(name)[0];
        assert_eq!(e["data"], json!({"code": code}), "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
    let j = &out.events_named("jwt")[0];
    assert_eq!(j["connected"], true);
    assert_eq!(j["own"], json!({"ok": true}));
    assert_eq!(j["other"]["code"], "forbidden");
    let p = &out.events_named("password")[0];
    assert_eq!(
        (&p["connected"], &p["own"]),
        (&json!(true), &json!({"ok": true}))
    );
    assert_eq!(out.events_named("query-token")[0]["connected"], true);
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_sio4_reconnects_and_resubscribes() {
    let gw = gateway("reconnect", |_| {}).await;
    let out = run(&gw, "reconnect", "").await;
    assert_eq!(
        out.events_named("disconnected")[0]["reason"],
        "transport close"
    );
    let r = &out.events_named("reconnected")[0];
    assert_eq!(r["different"], true);
    assert_eq!(r["got"], json!(["hello 1", "hello 2"]));
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_sio2_client_with_allow_eio3() {
    let gw = gateway("v2", |c| c.engineio.allow_eio3 = true).await;
    let out = interop::run(
        interop::node("socketio", "v2.cjs", &[gw.http_url("")]),
        TIMEOUT,
    )
    .await;
    out.assert_success();
    let acks = out.events_named("ack");
    assert_eq!(acks[0]["ack"], json!({"ok": true}));
    assert_eq!(acks[1]["ack"], json!({"ok": true}));
    let m = out.events_named("message");
    assert_eq!(
        (&m[0]["topic"], &m[0]["data"]),
        (&json!("v2/a"), &json!({"hello": "v2"}))
    );
    assert_eq!(
        (&m[1]["topic"], &m[1]["data"]),
        (&json!("v2/b"), &json!([3, 4]))
    );
    let plant = out.events_named("plant")[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(plant.starts_with("/plant#"), "{plant}");
    assert_eq!(out.events_named("event")[0]["data"], 18);
    assert_eq!(out.events_named("refused")[0]["error"], "Invalid namespace");
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_dashboard_sees_the_same_on_node_socketio_and_switchboard() {
    // the Node socket.io 4 server the dashboard was written for
    let mut node = Running::spawn(interop::node("socketio", "node-server.mjs", &[]));
    let port = node.expect("listening", STEP).await["port"]
        .as_u64()
        .expect("port");
    let on_node = interop::run(
        interop::node(
            "socketio",
            "dashboard.mjs",
            &[format!("http://127.0.0.1:{port}")],
        ),
        TIMEOUT,
    )
    .await;
    node.kill().await;
    on_node.assert_success();
    let gw = TestGateway::builder().start().await;
    let on_switchboard = interop::run(
        interop::node("socketio", "dashboard.mjs", &[gw.http_url("")]),
        TIMEOUT,
    )
    .await;
    on_switchboard.assert_success();
    assert_eq!(on_node.events, on_switchboard.events);
    // and what it shows is what a dashboard should show
    let messages = on_switchboard.events_named("message");
    assert_eq!(messages.len(), 4, "{}", on_switchboard.stdout);
    assert_eq!(
        messages[0],
        &json!({"event":"message","topic":"plant/1/temp","data":20.5,"retain":true,"qos":0})
    );
    assert_eq!(messages[3]["data"], json!({"bytes": [1, 2, 255]}));
    assert_eq!(
        on_switchboard.events_named("after-unsubscribe")[0]["messages"],
        0
    );
    gw.shutdown().await;
}
