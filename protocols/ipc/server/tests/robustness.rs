//! What the Node broker trips on: garbage, huge declared frames, unknown commands, silent
//! sockets, peers that never read. Each is a clean, counted disconnect that leaves the other
//! connections working.

mod support;

use std::time::Duration;

use support::{Broker, Client, expect_eof};
use switchboard_ipc_proto::{Command, CommandKind, Packet, Peer, Value};
use tokio::io::AsyncWriteExt;

/// Asserts that two healthy clients still exchange a message.
async fn still_routes(a: &mut Client, b: &mut Client) {
    let sent = b.send("alive", &["yes".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
}

async fn healthy_pair(broker: &Broker) -> (Client, Client) {
    let mut a = broker.client("a").await;
    let b = broker.client("b").await;
    a.listen("alive").await;
    a.sync().await;
    (a, b)
}

#[tokio::test]
async fn garbage_bytes_close_the_connection() {
    let broker = Broker::start().await;
    let (mut a, mut b) = healthy_pair(&broker).await;
    let mut bad = Client::raw(broker.addr).await;
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    expect_eof(&mut bad).await;
    broker
        .wait_for("the bad frame to be counted", |b| {
            b.handle.metrics().drops("bad_frame") == 1
        })
        .await;
    still_routes(&mut a, &mut b).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_declared_length_of_4_gib_is_refused_from_the_header() {
    let broker = Broker::start().await;
    let (mut a, mut b) = healthy_pair(&broker).await;
    let mut bad = Client::raw(broker.addr).await;
    // '[' 'A' then a u32 LE length of 0xFFFF_FFFF, and nothing else.
    bad.write_all(&[b'[', b'A', 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    expect_eof(&mut bad).await;
    assert_eq!(broker.handle.metrics().drops("frame_too_large"), 1);
    still_routes(&mut a, &mut b).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_frame_over_max_frame_is_refused() {
    let broker = Broker::start_with(|c| {
        c.max_frame = 1024;
        c.queue_bytes = 1 << 20;
    })
    .await;
    let (mut a, mut b) = healthy_pair(&broker).await;
    let mut big = broker.client("big").await;
    big.send("alive", &[Value::from("x".repeat(2000))]).await;
    big.expect_closed().await;
    a.expect_nothing().await;
    assert_eq!(broker.handle.metrics().drops("frame_too_large"), 1);
    still_routes(&mut a, &mut b).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn an_unknown_command_closes_the_connection() {
    let broker = Broker::start().await;
    let (mut a, mut b) = healthy_pair(&broker).await;
    let mut bad = broker.client("bad").await;
    // A well-framed packet whose kind is not in the 16.x enum.
    let json = br#"{"kind":"NOPE","channel":"alive"}"#;
    let mut frame = Vec::new();
    let inner_len = 2 + 4 + json.len() + 1;
    frame.extend_from_slice(b"[A");
    frame.extend_from_slice(&((4 + inner_len) as u32).to_le_bytes());
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(b"[o");
    frame.extend_from_slice(&(json.len() as u32).to_le_bytes());
    frame.extend_from_slice(json);
    frame.extend_from_slice(b"]]");
    bad.stream.write_all(&frame).await.unwrap();
    bad.expect_closed().await;
    assert_eq!(broker.handle.metrics().drops("unknown_command"), 1);
    still_routes(&mut a, &mut b).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_pre_16_handshake_is_refused() {
    let broker = Broker::start().await;
    let mut old = Client::raw(broker.addr).await;
    // The 15.x handshake from the reference capture: a peer without an id.
    let json = br#"{"kind":"HAN","channel":"","peer":{"process":{"type":"node","pid":5421}}}"#;
    let mut frame = Vec::new();
    frame.extend_from_slice(b"[A");
    frame.extend_from_slice(&((4 + 2 + 4 + json.len() + 1) as u32).to_le_bytes());
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(b"[o");
    frame.extend_from_slice(&(json.len() as u32).to_le_bytes());
    frame.extend_from_slice(json);
    frame.extend_from_slice(b"]]");
    old.write_all(&frame).await.unwrap();
    expect_eof(&mut old).await;
    assert_eq!(broker.handle.metrics().drops("pre_v16_client"), 1);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_socket_without_handshake_is_closed_after_the_timeout() {
    let broker = Broker::start_with(|c| c.handshake_timeout_ms = 100).await;
    let (mut a, mut b) = healthy_pair(&broker).await;
    let mut silent = Client::raw(broker.addr).await;
    expect_eof(&mut silent).await;
    assert_eq!(broker.handle.metrics().drops("handshake_timeout"), 1);
    // Handshaken clients are not affected by the timeout.
    tokio::time::sleep(Duration::from_millis(150)).await;
    still_routes(&mut a, &mut b).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn peer_limits_close_the_offender() {
    let broker = Broker::start_with(|c| c.max_peers_per_connection = 1).await;
    let (mut a, mut b) = healthy_pair(&broker).await;
    let mut greedy = broker.client("greedy").await;
    let han = Packet::from_command(Command::handshake(Peer::node("second", "second"))).unwrap();
    greedy.write(&han).await;
    greedy.expect_closed().await;
    assert_eq!(broker.handle.metrics().drops("limit"), 1);
    still_routes(&mut a, &mut b).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_never_reads_is_disconnected_and_counted() {
    let broker = Broker::start_with(|c| {
        c.max_frame = 64 * 1024;
        c.queue_bytes = 256 * 1024;
    })
    .await;
    let (mut a, mut b) = healthy_pair(&broker).await;
    // `lazy` listens and then never reads its socket.
    let mut lazy = broker.client("lazy").await;
    lazy.listen("flood").await;
    lazy.sync().await;
    let mut flooder = broker.client("flooder").await;
    let chunk = Value::buffer(vec![7u8; 32 * 1024]);
    let mut sent = 0;
    while broker.handle.metrics().drops("slow_consumer") == 0 {
        flooder.send("flood", std::slice::from_ref(&chunk)).await;
        sent += 1;
        assert!(sent < 20_000, "the lazy peer was never disconnected");
        if sent % 64 == 0 {
            flooder.sync().await;
        }
    }
    broker
        .wait_for("the lazy peer to be removed", |b| {
            b.handle.stats().peers == 3
        })
        .await;
    assert_eq!(broker.handle.metrics().queued_bytes.get(), 0);
    flooder.sync().await;
    still_routes(&mut a, &mut b).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn drop_new_policy_counts_drops_and_keeps_the_connection() {
    let broker = Broker::start_with(|c| {
        c.max_frame = 64 * 1024;
        c.queue_bytes = 256 * 1024;
        c.slow_consumer = switchboard_fabric::OverflowPolicy::DropNew;
    })
    .await;
    let mut lazy = broker.client("lazy").await;
    lazy.listen("flood").await;
    lazy.sync().await;
    let mut flooder = broker.client("flooder").await;
    let chunk = Value::buffer(vec![7u8; 32 * 1024]);
    let mut sent = 0;
    while broker.handle.metrics().drops("queue_full_drop_new") == 0 {
        flooder.send("flood", std::slice::from_ref(&chunk)).await;
        sent += 1;
        assert!(sent < 20_000, "nothing was ever dropped");
        if sent % 64 == 0 {
            flooder.sync().await;
        }
    }
    // The lazy peer is still connected and gets what was queued once it reads.
    assert_eq!(broker.handle.stats().peers, 2);
    let first = lazy.recv().await;
    assert_eq!(first.kind(), CommandKind::SendMessage);
    broker.shutdown().await;
}
