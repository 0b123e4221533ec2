//! Routing between IPC peers, at the wire level: byte-exact forwarding, sender exclusion,
//! targets, requests and responses, cleanup, shutdown.

mod support;

use support::{Broker, Client, expect_eof};
use switchboard_ipc_proto::{CommandKind, Value};

#[tokio::test]
async fn a_message_reaches_every_other_listening_connection_byte_for_byte() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    let mut c = broker.client("c").await;
    a.listen("news").await;
    b.listen("news").await;
    a.sync().await;
    b.sync().await;
    let sent = c
        .send("news", &["hello".into(), Value::PositiveInteger(42)])
        .await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    assert_eq!(b.recv().await.frame(), sent.frame());
    // The sender's own connection is excluded, even when it listens.
    let sent = b.send("news", &["from b".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    b.expect_nothing().await;
    c.expect_nothing().await;
    assert_eq!(broker.handle.stats().channels, 1);
    assert_eq!(broker.handle.metrics().packets_received("MES"), 6);
    broker.shutdown().await;
}

#[tokio::test]
async fn listeners_are_reference_counted_and_removed() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    a.listen("x").await;
    a.listen("x").await;
    a.unlisten("x").await;
    a.sync().await;
    let sent = b.send("x", &[Value::Null]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    a.unlisten("x").await;
    a.sync().await;
    assert!(!broker.handle.has_listeners("x"));
    b.send("x", &[Value::Null]).await;
    a.expect_nothing().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn targeted_messages_go_to_the_target_only() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    let mut c = broker.client("c").await;
    a.listen("ch").await;
    b.listen("ch").await;
    a.sync().await;
    b.sync().await;
    let target = b.peer.clone();
    let sent = c.send_to(&target, "ch", &["just b".into()]).await;
    assert_eq!(b.recv().await.frame(), sent.frame());
    a.expect_nothing().await;
    // An unknown target falls back to a channel broadcast.
    let ghost = switchboard_ipc_proto::Peer::node("nobody", "nobody");
    let sent = c.send_to(&ghost, "ch", &["anyone".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    assert_eq!(b.recv().await.frame(), sent.frame());
    broker.shutdown().await;
}

#[tokio::test]
async fn requests_and_responses_are_routed_by_target() {
    let broker = Broker::start().await;
    let mut responder = broker.client("responder").await;
    let mut requester = broker.client("requester").await;
    let mut other = broker.client("other").await;
    responder.listen("compute").await;
    responder.sync().await;
    let request = requester
        .request(
            "compute",
            "r1",
            &[Value::PositiveInteger(2), Value::PositiveInteger(3)],
        )
        .await;
    let got = responder.recv().await;
    assert_eq!(got.frame(), request.frame());
    assert!(got.command().is_request());
    let response = responder
        .respond(&got, true, &[Value::PositiveInteger(5)])
        .await;
    let answer = requester.recv().await;
    assert_eq!(answer.kind(), CommandKind::RequestResponse);
    assert_eq!(answer.frame(), response.frame());
    other.expect_nothing().await;
    // A response to a requester that has gone is dropped and counted.
    let request = requester.request("compute", "r2", &[]).await;
    let got = responder.recv().await;
    assert_eq!(got.frame(), request.frame());
    drop(requester);
    broker
        .wait_for("the requester to be removed", |b| {
            b.handle.stats().peers == 2
        })
        .await;
    responder.respond(&got, false, &["too late".into()]).await;
    responder.sync().await;
    assert_eq!(broker.handle.metrics().drops("no_target"), 1);
    broker.shutdown().await;
}

#[tokio::test]
async fn several_peers_on_one_connection_get_one_copy() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    // A second IpcBusClient of the same process: one more HAN on the same socket.
    let second = switchboard_ipc_proto::Peer::node("id-a2", "a2");
    let han = switchboard_ipc_proto::Packet::from_command(
        switchboard_ipc_proto::Command::handshake(second.clone()),
    )
    .unwrap();
    a.write(&han).await;
    let lica = switchboard_ipc_proto::Packet::from_command(
        switchboard_ipc_proto::Command::add_listener(vec![a.peer.clone(), second], "news"),
    )
    .unwrap();
    a.write(&lica).await;
    a.sync().await;
    assert_eq!(broker.handle.stats().peers, 1 + 1);
    let mut b = broker.client("b").await;
    let sent = b.send("news", &["once".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    a.expect_nothing().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn closing_a_connection_removes_its_peers_and_listeners() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let b = broker.client("b").await;
    a.listen("one").await;
    a.listen("two").await;
    a.sync().await;
    assert_eq!(broker.handle.stats().channels, 2);
    assert_eq!(broker.handle.metrics().peers.get(), 2);
    drop(a);
    broker
        .wait_for("a's listeners to go", |b| b.handle.stats().channels == 0)
        .await;
    assert_eq!(broker.handle.stats().peers, 1);
    assert_eq!(broker.handle.metrics().channels.get(), 0);
    drop(b);
    broker
        .wait_for("every connection to go", |b| {
            b.handle.stats().connections == 0
        })
        .await;
    assert_eq!(broker.handle.metrics().peers.get(), 0);
    assert_eq!(broker.handle.metrics().protocol.connections.get(), 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn shutdown_flushes_and_ends_every_connection() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    a.listen("bye").await;
    a.sync().await;
    let sent = b.send("bye", &["last".into()]).await;
    b.sync().await;
    let stop = broker.stop.clone();
    let tracker = broker.tracker.clone();
    stop.cancel();
    tracker.close();
    assert_eq!(a.recv().await.frame(), sent.frame());
    a.expect_closed().await;
    b.expect_closed().await;
    tokio::time::timeout(support::WAIT, tracker.wait())
        .await
        .expect("every task ends");
    // Nothing accepts any more.
    assert!(tokio::net::TcpStream::connect(broker.addr).await.is_err());
}

#[tokio::test]
async fn the_connection_limit_refuses_extra_sockets() {
    let broker = Broker::start_with(|c| c.max_connections = 1).await;
    let mut a = broker.client("a").await;
    a.sync().await;
    let mut extra = Client::raw(broker.addr).await;
    expect_eof(&mut extra).await;
    a.sync().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn connections_are_listed_with_their_listeners_and_an_admin_kick_ends_the_socket() {
    use switchboard_fabric::{ClientId, Kick};
    let broker = Broker::start().await;
    let mut a = broker.client("desk").await;
    let mut b = broker.client("other").await;
    a.listen("news").await;
    a.listen("news").await;
    a.listen("weather").await;
    a.sync().await;
    b.sync().await;
    let clients = broker.fabric.clients();
    let page = clients.list(&switchboard_fabric::ClientQuery {
        protocol: Some("ipc".into()),
        limit: 10,
        ..Default::default()
    });
    assert_eq!(page.clients.len(), 2);
    let desk = page
        .clients
        .iter()
        .find(|c| c.user.as_deref() == Some("desk"))
        .expect("named after its peer");
    assert_eq!(desk.transport, "tcp");
    assert!(desk.remote.is_some_and(|r| r.ip().is_loopback()));
    assert_eq!(desk.stats.subscriptions, 2);
    let held: Vec<_> = clients
        .held_subscriptions()
        .into_iter()
        .filter(|(id, _)| *id == desk.id)
        .map(|(_, h)| (h.filter, h.holder, h.count))
        .collect();
    assert_eq!(
        held,
        [
            ("news".to_owned(), Some("id-desk".to_owned()), 2),
            ("weather".to_owned(), Some("id-desk".to_owned()), 1)
        ]
    );
    // The bridge's own subscriber is not a client.
    assert!(broker.fabric.subscriptions(None).iter().all(|s| s.internal));
    let id: ClientId = desk.id.clone();
    assert_eq!(clients.kick(&id), Kick::Kicked);
    a.expect_closed().await;
    broker
        .wait_for("the kicked connection to leave", |b| {
            !b.fabric.clients().contains(&id)
        })
        .await;
    b.sync().await;
    broker.shutdown().await;
}
