//! Slow consumers across protocols: a browser, an MQTT subscriber and an IPC listener that stop
//! reading never slow an MQTT publisher or a healthy subscriber; what they cannot take is
//! dropped (or they are disconnected, per their protocol's policy) and counted per protocol in
//! `/metrics`.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_ipc_proto::{Command, Packet, Peer};
use switchboard_tests::TestGateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const MESSAGES: usize = 8_000;
const PAYLOAD: usize = 4 * 1024;

/// An MQTT 3.1.1 subscriber on `filter` that stops reading after its SUBACK.
async fn stalled_mqtt(gw: &TestGateway, filter: &str) -> TcpStream {
    let mut s = TcpStream::connect(gw.addresses.mqtt.expect("MQTT is on"))
        .await
        .unwrap();
    let id = b"stalled-mqtt";
    let mut connect = vec![0x10, (12 + id.len()) as u8, 0, 4];
    connect.extend_from_slice(b"MQTT");
    connect.extend_from_slice(&[4, 0x02, 0, 60, 0, id.len() as u8]);
    connect.extend_from_slice(id);
    let mut subscribe = vec![0x82, (5 + filter.len()) as u8, 0, 1, 0, filter.len() as u8];
    subscribe.extend_from_slice(filter.as_bytes());
    subscribe.push(0);
    s.write_all(&connect).await.unwrap();
    s.write_all(&subscribe).await.unwrap();
    let mut acks = [0u8; 9];
    tokio::time::timeout(WAIT, s.read_exact(&mut acks))
        .await
        .expect("CONNACK and SUBACK")
        .unwrap();
    assert_eq!((acks[0], acks[3], acks[4]), (0x20, 0, 0x90), "{acks:?}");
    s
}

/// An IPC peer listening on `channel` that never reads.
async fn stalled_ipc(gw: &TestGateway, channel: &str) -> TcpStream {
    let mut s = TcpStream::connect(gw.addresses.ipc.expect("IPC is on"))
        .await
        .unwrap();
    let peer = Peer::node("stalled-ipc-id", "stalled");
    for command in [
        Command::handshake(peer.clone()),
        Command::add_listener(vec![peer], channel),
    ] {
        let p = Packet::from_command(command).unwrap();
        s.write_all(p.frame()).await.unwrap();
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_consumers_of_every_protocol_never_slow_an_mqtt_publisher() {
    let gw = TestGateway::builder()
        .configure(|c| {
            // A 1 MiB output queue per IPC connection (the default is 64 MiB).
            c.ipc.max_frame = 1 << 20;
            c.ipc.queue_bytes = 1 << 20;
        })
        .start()
        .await;
    // The stalled ones: a frozen browser tab, an MQTT device that stopped reading, a hung
    // desktop app.
    let mut frozen = browser(&gw, "frozen").await;
    sub(&mut frozen, "load/#", 1).await;
    frozen.send(json!({"cmd": "stall"})).await;
    frozen.expect_event("stalled").await;
    let _mqtt = stalled_mqtt(&gw, "load/#").await;
    let _ipc = stalled_ipc(&gw, "load/x").await;
    gw.subscribed("load/x").await;
    let mut healthy = Mqtt4::connect(&gw, "healthy").await;
    healthy.subscribe("load/#").await;
    let mut publisher = Mqtt4::connect(&gw, "publisher").await;

    // The publisher keeps up to WINDOW QoS 1 messages in flight; a healthy subscriber keeps up.
    const WINDOW: usize = 32;
    let started = Instant::now();
    let (mut sent, mut acked, mut received) = (0, 0, 0);
    while acked < MESSAGES || received < MESSAGES {
        if sent < MESSAGES && sent - acked < WINDOW {
            let mut payload = vec![b'.'; PAYLOAD];
            payload[..8].copy_from_slice(&(sent as u64).to_be_bytes());
            publisher
                .client
                .publish("load/x", rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .expect("publish queued");
            sent += 1;
            continue;
        }
        tokio::select! {
            a = publisher.ack(), if acked < sent => {
                assert!(matches!(a, rumqttc::Packet::PubAck(_)), "{a:?}");
                acked += 1;
            }
            p = healthy.next(), if received < MESSAGES => {
                let n = u64::from_be_bytes(p.payload[..8].try_into().unwrap());
                assert_eq!(n as usize, received, "the healthy subscriber gets every message in order");
                received += 1;
            }
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "{MESSAGES} QoS 1 publishes of {PAYLOAD} B took {took:?}"
    );

    // Each stalled consumer's share was dropped or it was disconnected: counted per protocol.
    let dropped = |m: &str, p: &str| {
        sample(
            m,
            "switchboard_dropped_total",
            &[&format!("protocol=\"{p}\"")],
        )
    };
    switchboard_tests::wait::until_async("drops of every protocol in /metrics", || async {
        let m = gw.metrics().await;
        ["engineio", "mqtt", "ipc"]
            .iter()
            .all(|p| dropped(&m, p) > 0.0)
    })
    .await;
    let m = gw.metrics().await;
    eprintln!(
        "{MESSAGES} messages of {PAYLOAD} B in {took:?}; dropped: engineio {}, mqtt {}, ipc {}",
        dropped(&m, "engineio"),
        dropped(&m, "mqtt"),
        dropped(&m, "ipc")
    );
    assert!(
        sample(
            &m,
            "switchboard_ipc_dropped_total",
            &["reason=\"slow_consumer\""]
        ) > 0.0,
        "the hung IPC app was disconnected as a slow consumer"
    );
    frozen.kill().await;
    gw.shutdown().await;
}
