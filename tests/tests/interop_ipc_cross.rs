//! Cross-protocol with the real clients of each side: an unmodified `electron-common-ipc`
//! 16.0.4 client (`tests/interop/ipc/cross.js`), mosquitto's `mosquitto_pub` /
//! `mosquitto_sub` (Debian `mosquitto-clients`) and switchboard's own JavaScript client over
//! Engine.IO (`tests/interop/ipc/eio_responder.mjs`).
//!
//! - IPC → MQTT: one string → a text payload, one Buffer → the bytes, an object → its JSON;
//! - MQTT → IPC: an MQTT 3.1.1 payload arrives as a Buffer, an MQTT 5 payload with the
//!   UTF-8 payload-format indicator as a string;
//! - an IPC request answered by an Engine.IO client in control mode.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use switchboard_fabric::Topic;
use switchboard_tests::interop::{self, Running};
use switchboard_tests::{TestGateway, wait};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

fn mosquitto(name: &str, gw: &TestGateway, args: &[&str]) -> Command {
    let port = gw.addresses.mqtt.expect("mqtt listener").port().to_string();
    let mut c = Command::new(name);
    c.args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .kill_on_drop(true);
    c
}

async fn has_subscribers(gw: &TestGateway, topic: &str) {
    let topic = Topic::new(topic).unwrap();
    wait::until(&format!("a subscriber on {topic}"), || {
        gw.fabric.has_subscribers(&topic)
    })
    .await;
}

#[tokio::test]
async fn ipc_talks_to_mqtt_and_engineio_clients() {
    let gw = TestGateway::builder().start().await;
    let ipc_port = gw.addresses.ipc.expect("the IPC bus is on").port();

    // The Engine.IO responder (a browser's client, in Node).
    let mut responder = Running::spawn(interop::node(
        "ipc",
        "eio_responder.mjs",
        &[gw.http_url("")],
    ));
    responder.expect("ready", WAIT).await;
    has_subscribers(&gw, "svc/ipc-ask").await;

    // An MQTT subscriber for what IPC sends: topic and payload in hex, three messages.
    let sub = mosquitto(
        "mosquitto_sub",
        &gw,
        &["-V", "5", "-t", "cross/out/#", "-F", "%t %x", "-C", "3"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap_or_else(|e| panic!("mosquitto_sub: {e} (apt-get install mosquitto-clients)"));
    has_subscribers(&gw, "cross/out/text").await;

    // The IPC client.
    let mut ipc = Running::spawn(interop::node(
        "ipc",
        "cross.js",
        &["--port".into(), ipc_port.to_string()],
    ));
    ipc.expect("ready", WAIT).await;
    has_subscribers(&gw, "cross/in").await;

    // MQTT → IPC, in both versions.
    for args in [
        &["-V", "mqttv311", "-t", "cross/in", "-m", "from mqtt 3"][..],
        &[
            "-V",
            "5",
            "-t",
            "cross/in",
            "-m",
            "from mqtt 5",
            "-D",
            "publish",
            "payload-format-indicator",
            "1",
        ][..],
    ] {
        let out = tokio::time::timeout(WAIT, mosquitto("mosquitto_pub", &gw, args).output())
            .await
            .expect("mosquitto_pub finishes")
            .expect("mosquitto_pub runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let first = ipc.expect("received", WAIT).await;
    assert_eq!(first["sender"], "switchboard");
    assert_eq!(
        first["args"],
        json!([{"t": "Buffer", "v": b"from mqtt 3".to_vec()}])
    );
    let second = ipc.expect("received", WAIT).await;
    assert_eq!(second["args"], json!([{"t": "string", "v": "from mqtt 5"}]));

    // IPC → MQTT.
    let out = tokio::time::timeout(WAIT, sub.wait_with_output())
        .await
        .expect("mosquitto_sub gets three messages")
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        lines,
        [
            format!("cross/out/bin {}", hex(&[0, 1, 2, 255])),
            format!("cross/out/json {}", hex(br#"{"a":1}"#)),
            format!("cross/out/text {}", hex(b"hello mqtt")),
        ]
    );

    // IPC request → Engine.IO responder.
    let answered = responder.expect("answered", WAIT).await;
    assert_eq!(answered["topic"], "svc/ipc-ask");
    assert_eq!(answered["data"], json!({"n": 21}));
    let answer = ipc.expect("answer", WAIT).await;
    assert_eq!(
        answer["payload"],
        json!({"answeredBy": "engineio", "doubled": 42})
    );
    assert_eq!(answer["sender"], "switchboard");
    assert_eq!(ipc.wait(WAIT).await, Some(0));
    responder.kill().await;
    gw.shutdown().await;
}
