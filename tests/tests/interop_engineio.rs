//! Interop with the real Engine.IO clients against a gateway: engine.io-client 6.x (polling,
//! WebSocket, upgrade, binary, payloads near the limit, reconnect, permessage-deflate),
//! engine.io-client 3.x with `allow_eio3`, python-engineio's clients (threads and asyncio),
//! and the gateway's own `/switchboard.js` in Node. Each test asserts what the client received.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_engineio::config::{BridgeMode, RawConfig};
use switchboard_fabric::{Message, SubOptions, SubscriberSpec, Topic, TopicFilter};
use switchboard_tests::TestGateway;
use switchboard_tests::interop::{self, Running, ScriptOutput};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A gateway whose Engine.IO endpoint echoes every message (raw mode, `echo/{sid}`).
async fn echo_gateway(max: usize, eio3: bool) -> TestGateway {
    echo_gateway_with(max, eio3, false).await
}

async fn echo_gateway_with(max: usize, eio3: bool, deflate: bool) -> TestGateway {
    TestGateway::builder()
        .configure(|c| {
            c.engineio.per_message_deflate.enabled = deflate;
            c.engineio.mode = BridgeMode::Raw;
            c.engineio.raw = RawConfig {
                publish: "echo/{sid}".to_owned(),
                subscribe: vec!["echo/{sid}".to_owned()],
            };
            c.engineio.max_http_buffer_size = max;
            c.engineio.allow_eio3 = eio3;
            if eio3 {
                // v3 clients ping: make one round trip happen during the test
                c.engineio.ping_interval_ms = 300;
            }
        })
        .start()
        .await
}

async fn eio6(gw: &TestGateway, scenario: &str, extra: &[&str]) -> ScriptOutput {
    let mut args = vec![gw.http_url(""), scenario.to_owned()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = interop::run(interop::node("engineio", "eio6.mjs", &args), TIMEOUT).await;
    out.assert_success();
    out
}

fn echoes(out: &ScriptOutput) -> Vec<&Value> {
    out.events_named("echo")
}

fn assert_basic_echo(out: &ScriptOutput, transport: &str) {
    let open = out.events_named("open");
    assert_eq!(open.len(), 1, "{}", out.stdout);
    let e = echoes(out);
    assert_eq!(e[0]["type"], "text");
    assert_eq!(e[0]["head"], "hello €");
    assert_eq!(e[1]["type"], "binary");
    assert_eq!(e[1]["head"], json!([1, 2, 3, 255]));
    let burst = out.events_named("burst");
    assert_eq!(burst[0]["ordered"], true);
    assert_eq!(burst[0]["count"], 100);
    assert_eq!(out.events_named("close")[0]["reason"], "forced close");
    let last_transport = out
        .events_named("upgraded")
        .first()
        .map(|u| u["transport"].clone())
        .unwrap_or_else(|| open[0]["transport"].clone());
    assert_eq!(last_transport, transport);
}

#[tokio::test]
async fn interop_eio6_polling_only() {
    let gw = echo_gateway(1_000_000, false).await;
    let out = eio6(&gw, "polling", &[]).await;
    assert_eq!(out.events_named("open")[0]["transport"], "polling");
    assert_basic_echo(&out, "polling");
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_eio6_websocket_only() {
    let gw = echo_gateway(1_000_000, false).await;
    let out = eio6(&gw, "websocket", &[]).await;
    assert_eq!(out.events_named("open")[0]["transport"], "websocket");
    assert_basic_echo(&out, "websocket");
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_eio6_polling_upgrades_to_websocket() {
    let gw = echo_gateway(1_000_000, false).await;
    let out = eio6(&gw, "upgrade", &[]).await;
    assert_eq!(out.events_named("open")[0]["transport"], "polling");
    assert_basic_echo(&out, "websocket");
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_eio6_large_payloads_near_the_limit() {
    // maxPayload is 100 000: a 99 000-character text fits in a POST and a WebSocket frame; a
    // binary message travels raw over WebSocket but as base64 (4/3 larger) over polling.
    let gw = echo_gateway(100_000, false).await;
    for (scenario, bin) in [("large-polling", 74_000), ("large-websocket", 99_000)] {
        let out = eio6(&gw, scenario, &["99000", &bin.to_string()]).await;
        let e = echoes(&out);
        assert_eq!(
            (&e[0]["type"], &e[0]["length"]),
            (&json!("text"), &json!(99000)),
            "{scenario}"
        );
        assert_eq!(
            (&e[1]["type"], &e[1]["length"]),
            (&json!("binary"), &json!(bin)),
            "{scenario}"
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_eio6_reconnects_with_a_new_session() {
    let gw = echo_gateway(1_000_000, false).await;
    let out = eio6(&gw, "reconnect", &[]).await;
    assert_eq!(out.events_named("reopened")[0]["different"], true);
    assert_eq!(echoes(&out)[0]["head"], "again");
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_eio3_client_with_allow_eio3() {
    let gw = echo_gateway(1_000_000, true).await;
    for scenario in ["polling", "websocket", "upgrade"] {
        let out = interop::run(
            interop::node(
                "engineio",
                "eio3.cjs",
                &[gw.http_url(""), scenario.to_owned()],
            ),
            TIMEOUT,
        )
        .await;
        out.assert_success();
        let e = echoes(&out);
        assert_eq!(e[0]["value"], "hello v3", "{scenario}");
        assert_eq!(e[1]["value"], json!([9, 8, 7]), "{scenario}");
        assert_eq!(out.events_named("heartbeat").len(), 1, "{scenario}");
        if scenario == "upgrade" {
            assert_eq!(out.events_named("upgraded")[0]["transport"], "websocket");
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_eio3_client_is_refused_without_allow_eio3() {
    let gw = echo_gateway(1_000_000, false).await;
    let out = interop::run(
        interop::node(
            "engineio",
            "eio3.cjs",
            &[gw.http_url(""), "polling".to_owned()],
        ),
        TIMEOUT,
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.events_named("failure").len() == 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_python_engineio_client() {
    let gw = echo_gateway(1_000_000, false).await;
    for transports in ["polling", "websocket", "polling,websocket"] {
        let out = interop::run(
            interop::python(
                "engineio",
                "pyclient.py",
                &[gw.http_url(""), transports.to_owned()],
            ),
            TIMEOUT,
        )
        .await;
        out.assert_success();
        let open = &out.events_named("open")[0];
        let expected = if transports == "polling" {
            "polling"
        } else {
            "websocket"
        };
        assert_eq!(open["transport"], expected, "{transports}");
        let e = echoes(&out);
        assert_eq!(e[0]["value"], "hello from python");
        assert_eq!(e[1]["value"], json!([0, 1, 254]));
    }
    gw.shutdown().await;
}

/// Sum of the samples of `name` whose labels include every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const DEFLATE_MESSAGES: &str = "switchboard_engineio_websocket_deflate_messages_total";
const DEFLATE_BYTES: &str = "switchboard_engineio_websocket_deflate_bytes_total";

#[tokio::test]
async fn interop_permessage_deflate_with_node_and_python_clients() {
    let gw = echo_gateway_with(1_000_000, false, true).await;
    // engine.io-client 6 in Node offers permessage-deflate (ws) by default, directly on a
    // WebSocket and on the upgrade from polling.
    for scenario in ["deflate", "deflate-upgrade"] {
        let out = eio6(&gw, scenario, &[]).await;
        let e = echoes(&out);
        assert_eq!(
            (e[0]["type"].clone(), e[0]["same"].clone()),
            (json!("text"), json!(true))
        );
        assert_eq!(
            (e[1]["type"].clone(), e[1]["same"].clone()),
            (json!("binary"), json!(true))
        );
        assert_eq!(e[2]["head"], "small");
        let wire = &out.events_named("wire")[0];
        assert_eq!(wire["extensions"], "permessage-deflate", "{scenario}");
        let payload = wire["payload"].as_f64().unwrap_or_default();
        // Both directions went compressed: far fewer bytes on the wire than in the messages.
        for dir in ["read", "written"] {
            let bytes = wire[dir].as_f64().unwrap_or(f64::MAX);
            assert!(
                bytes * 10.0 < payload,
                "{scenario}: {dir} {bytes} of {payload}"
            );
        }
    }
    let m = gw.metrics().await;
    for dir in ["in", "out"] {
        // text and binary of each of the two runs; "small" stays under the threshold
        assert_eq!(
            metric(&m, DEFLATE_MESSAGES, &[("direction", dir)]),
            4.0,
            "{dir}"
        );
        let raw = metric(&m, DEFLATE_BYTES, &[("direction", dir), ("size", "raw")]);
        let wire = metric(
            &m,
            DEFLATE_BYTES,
            &[("direction", dir), ("size", "compressed")],
        );
        assert!(wire * 10.0 < raw, "{dir}: {wire} of {raw}");
    }
    // python-engineio's asyncio client (aiohttp, compress=15) negotiates it too.
    let out = interop::run(
        interop::python("engineio", "pyclient_deflate.py", &[gw.http_url("")]),
        TIMEOUT,
    )
    .await;
    out.assert_success();
    let open = &out.events_named("open")[0];
    assert_eq!(open["transport"], "websocket");
    assert_eq!(open["compress"], 15);
    assert!(
        open["extensions"]
            .as_str()
            .is_some_and(|x| x.starts_with("permessage-deflate")),
        "{open}"
    );
    for e in echoes(&out) {
        assert_eq!(e["same"], true, "{e}");
    }
    let m = gw.metrics().await;
    assert_eq!(metric(&m, DEFLATE_MESSAGES, &[("direction", "in")]), 6.0);
    assert_eq!(metric(&m, DEFLATE_MESSAGES, &[("direction", "out")]), 6.0);
    // Its thread-based client does not offer the extension: the session goes uncompressed.
    let out = interop::run(
        interop::python(
            "engineio",
            "pyclient.py",
            &[gw.http_url(""), "websocket".to_owned()],
        ),
        TIMEOUT,
    )
    .await;
    out.assert_success();
    assert_eq!(echoes(&out)[0]["value"], "hello from python");
    gw.shutdown().await;
}

/// A fabric service answering `svc/upper` with the upper-cased text.
fn upper_service(gw: &TestGateway) {
    let fabric = gw.fabric.clone();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "upper"));
    sub.subscribe(
        TopicFilter::new("svc/upper").expect("filter"),
        SubOptions::default(),
    );
    tokio::spawn(async move {
        while let Ok(d) = sub.recv().await {
            if let Some(to) = d.message.reply_to.clone() {
                let text = d.message.payload_str().unwrap_or("").to_uppercase();
                let mut r = Message::text(to, text);
                r.correlation = d.message.correlation.clone();
                fabric.publish(r);
            }
        }
    });
}

async fn switchboard_js(transport: &str) {
    let gw = TestGateway::builder().start().await;
    gw.fabric.publish(
        Message::json(Topic::new("state/lamp").expect("topic"), r#"{"on":true}"#).retain(true),
    );
    upper_service(&gw);
    let mut script = Running::spawn(interop::node(
        "engineio",
        "sbclient.mjs",
        &[gw.http_url(""), transport.to_owned()],
    ));
    let t = Duration::from_secs(20);
    let served = script.expect("served", t).await;
    assert_eq!(served["status"], 200);
    assert_eq!(served["type"], "text/javascript; charset=utf-8");
    assert_eq!(script.expect("matches", t).await["ok"], true);
    assert_eq!(script.expect("open", t).await["transport"], transport);
    let retained = script.expect("retained", t).await;
    assert_eq!(retained["data"], json!({"on": true}));
    assert_eq!(retained["retain"], true);
    assert_eq!(script.expect("own", t).await["data"], json!({"n": 1}));
    let bin = script.expect("binary", t).await;
    assert_eq!(bin["data"], json!([1, 2, 3]));
    assert_eq!(bin["binary"], true);
    assert_eq!(script.expect("response", t).await["data"], "SHOUT");
    assert_eq!(
        script.expect("request-error", t).await["code"],
        "no_responders"
    );
    script.expect("serving", t).await;
    let reply = gw
        .fabric
        .request(
            Message::text(Topic::new("browser/ask").expect("topic"), "q?"),
            Duration::from_secs(5),
        )
        .await
        .expect("the browser answered");
    assert_eq!(reply.payload_str(), Some(r#"{"seen":"q?"}"#));
    gw.fabric
        .publish(Message::text(Topic::new("state/go").expect("topic"), "go"));
    assert_eq!(
        script.expect("reconnected", t).await["transport"],
        transport
    );
    assert_eq!(script.expect("after-reconnect", t).await["data"], "back");
    script.expect("done", t).await;
    assert_eq!(script.wait(t).await, Some(0));
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_switchboard_js_over_websocket() {
    switchboard_js("websocket").await;
}

#[tokio::test]
async fn interop_switchboard_js_over_polling() {
    switchboard_js("polling").await;
}
