//! queryState and service availability with unmodified `electron-common-ipc@16.0.4` clients
//! (`tests/interop/ipc/query.js`), against switchboard and against the package's own Node
//! broker in the same run.
//!
//! What the stock library itself tracks (a service proxy's `connect()` and `isStarted`) must
//! be the same on both brokers. The requests on `/electron-common-ipc/queryState` and
//! `/electron-common-ipc/serviceAvailable`, which the README documents but the 16.x Node
//! broker no longer answers (the client's timeout rejects them there), are answered by
//! switchboard: the Node broker's `QueryStateBroker` shape, with the listeners of other
//! protocols as peers named by their client id.

use std::time::Duration;

use serde_json::{Value as Json, json};
use switchboard_fabric::{SubOptions, SubscriberSpec, TopicFilter};
use switchboard_tests::TestGateway;
use switchboard_tests::interop::{self, Running, ScriptOutput};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

async fn run_query(port: u16) -> ScriptOutput {
    let out = interop::run(
        interop::node("ipc", "query.js", &["--port".into(), port.to_string()]),
        SCRIPT_TIMEOUT,
    )
    .await;
    out.assert_success();
    out
}

fn summary(out: &ScriptOutput) -> Json {
    out.events_named("summary")
        .first()
        .map(|s| (*s).clone())
        .unwrap_or_else(|| panic!("no summary\n{}\n{}", out.stdout, out.stderr))
}

/// The summary without the broker's own answers, which only switchboard gives.
fn stock_view(summary: &Json) -> Json {
    let mut view = summary.clone();
    for phase in ["before", "during", "after"] {
        if let Some(p) = view[phase].as_object_mut() {
            p.remove("request");
        }
    }
    if let Some(v) = view.as_object_mut() {
        v.remove("queryState");
    }
    view
}

#[tokio::test]
async fn stock_clients_read_query_state_and_service_availability() {
    let gw = TestGateway::builder().start().await;
    let port = gw.addresses.ipc.expect("the IPC bus is on").port();
    // An MQTT client's subscription on the channel the host listens to.
    let mut mqtt = gw
        .fabric
        .subscriber(SubscriberSpec::new("mqtt", "sensor-1"));
    mqtt.subscribe(TopicFilter::new("ipc-news").unwrap(), SubOptions::default());

    let ours_out = run_query(port).await;
    let ours = summary(&ours_out);

    // What the stock library tracks: unavailable, started, stopped again.
    let phase = |started: bool, answer: bool| {
        json!({
            "proxyConnect": started,
            "proxyIsStarted": started,
            "request": {"answered": true, "payload": answer, "sender": "switchboard"},
        })
    };
    assert_eq!(ours["before"], phase(false, false), "{ours}");
    assert_eq!(ours["during"], phase(true, true), "{ours}");
    assert_eq!(ours["after"], phase(false, false), "{ours}");
    assert_eq!(ours["add"], 5);
    assert_eq!(ours["queryState"], json!({"answered": true}));

    // The queryState answer while the service ran.
    let state = ours_out.events_named("state");
    let state = &state.first().expect("a state event")["payload"];
    assert_eq!(state["type"], "broker");
    assert!(state["contextId"].as_str().unwrap().starts_with("Node-"));
    let channels = &state["channels"];
    assert_eq!(
        channels["ipc-news"],
        json!({"name": "ipc-news", "refCount": 2}),
        "the IPC host and the MQTT client: {state}"
    );
    assert_eq!(
        channels["/electron-ipc-bus/ipc-service/calc/call"]["refCount"],
        1
    );
    let peers = state["peers"].as_object().unwrap();
    let host = peers
        .values()
        .find(|p| p["peer"]["name"] == "host")
        .unwrap_or_else(|| panic!("the host peer is listed: {state}"));
    assert_eq!(host["peer"]["type"], 1);
    assert_eq!(host["protocol"], "ipc");
    assert!(host["client"].as_str().unwrap().starts_with("ipc:ipc-"));
    for channel in [
        "ipc-news",
        "__sync",
        "/electron-ipc-bus/ipc-service/calc/call",
    ] {
        assert_eq!(
            host["channels"][channel],
            json!({"name": channel, "refCount": 1}),
            "{host}"
        );
    }
    let watcher = peers
        .values()
        .find(|p| p["peer"]["name"] == "watcher")
        .unwrap_or_else(|| panic!("the watcher peer is listed: {state}"));
    assert_eq!(
        watcher["channels"]["/electron-ipc-bus/ipc-service/calc/event"]["refCount"],
        1
    );
    assert_eq!(
        peers["mqtt:sensor-1"],
        json!({
            "peer": {"id": "mqtt:sensor-1", "type": 4, "name": "sensor-1"},
            "channels": {"ipc-news": {"name": "ipc-news", "refCount": 1}},
            "protocol": "mqtt",
            "client": "mqtt:sensor-1",
        })
    );
    // The gateway's own plumbing (the IPC bridge's subscriber) is not a peer.
    assert!(
        peers
            .keys()
            .all(|k| !k.starts_with("ipc:") && !k.contains("bridge")),
        "{state}"
    );
    // The Node broker in the same scenario: the same as far as the stock library goes; its
    // own answers never come (each request is rejected by the client's timeout).
    let mut broker = Running::spawn(interop::node("ipc", "node-broker.js", &[]));
    let listening = broker.expect("listening", Duration::from_secs(20)).await;
    let node_port = listening["port"].as_u64().expect("a port") as u16;
    let theirs_out = run_query(node_port).await;
    broker.kill().await;
    let theirs = summary(&theirs_out);
    assert_eq!(
        stock_view(&ours),
        stock_view(&theirs),
        "the brokers disagree"
    );
    for phase in ["before", "during", "after"] {
        assert_eq!(theirs[phase]["request"], json!({"answered": false}));
    }
    assert_eq!(theirs["queryState"], json!({"answered": false}));
    assert!(theirs_out.events_named("state").is_empty());
    gw.shutdown().await;
}
