//! The bridge: IPC channels ↔ fabric topics, payload kinds, requests both ways, mount
//! prefix, retained replay, and no double delivery.

mod support;

use std::time::Duration;

use support::Broker;
use switchboard_fabric::{Message, PayloadKind, SubOptions, SubscriberSpec, Topic, TopicFilter};
use switchboard_ipc::ERROR_PROPERTY;
use switchboard_ipc_proto::{CommandKind, JsonText, Value};

fn topic(t: &str) -> Topic {
    Topic::literal(t).unwrap()
}

#[tokio::test]
async fn ipc_sends_reach_fabric_subscribers_with_the_mapped_kind() {
    let broker = Broker::start().await;
    let mut sub = broker.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(
        TopicFilter::new("sensors/#").unwrap(),
        SubOptions::default(),
    );
    let mut ipc = broker.client("ipc").await;
    ipc.send("sensors/a", &["21.5".into()]).await;
    ipc.send("sensors/b", &[Value::buffer(&b"\x00\x01"[..])])
        .await;
    ipc.send("sensors/c", &["hello".into(), Value::PositiveInteger(42)])
        .await;
    let obj = JsonText::new(r#"{"k":"v"}"#).unwrap();
    ipc.send("sensors/d", &[Value::Json(obj)]).await;
    let expect = [
        ("sensors/a", PayloadKind::Text, &b"21.5"[..]),
        ("sensors/b", PayloadKind::Binary, &b"\x00\x01"[..]),
        ("sensors/c", PayloadKind::Json, &br#"["hello",42]"#[..]),
        ("sensors/d", PayloadKind::Json, &br#"{"k":"v"}"#[..]),
    ];
    for (t, kind, payload) in expect {
        let d = tokio::time::timeout(support::WAIT, sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.message.topic.as_str(), t);
        assert_eq!(d.message.kind, kind);
        assert_eq!(&d.message.payload[..], payload);
        assert_eq!(&*d.message.origin.protocol, "ipc");
        assert_eq!(&*d.message.origin.client, "id-ipc");
    }
    assert_eq!(broker.handle.metrics().bridged_count("to_fabric"), 4);
    broker.shutdown().await;
}

#[tokio::test]
async fn fabric_messages_reach_ipc_listeners_once_and_ipc_messages_are_not_echoed() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    a.listen("chat").await;
    a.sync().await;
    let t = topic("chat");
    broker
        .wait_for("the bridge to subscribe", |b| b.fabric.has_subscribers(&t))
        .await;
    // A fabric subscriber too, to check IPC → fabric still happens alongside.
    let mut sub = broker.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(TopicFilter::new("chat").unwrap(), SubOptions::default());

    broker.fabric.publish(Message::text(t.clone(), "from mqtt"));
    let got = a.recv().await;
    assert_eq!(got.kind(), CommandKind::SendMessage);
    assert_eq!(got.command().channel(), "chat");
    assert_eq!(
        got.command().peer.as_ref(),
        Some(broker.handle.gateway_peer())
    );
    assert_eq!(got.args().unwrap(), [Value::from("from mqtt")]);

    let sent = b.send("chat", &["from ipc".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    // Exactly one copy: the byte-exact one, not a second through the bridge.
    a.expect_nothing().await;
    for expected in ["from mqtt", "from ipc"] {
        let d = tokio::time::timeout(support::WAIT, sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.message.payload_str(), Some(expected));
    }

    broker
        .fabric
        .publish(Message::json(t.clone(), r#"{"n":[1,2]}"#));
    let got = a.recv().await;
    assert_eq!(
        got.args().unwrap(),
        [Value::Json(JsonText::new(r#"{"n":[1,2]}"#).unwrap())]
    );
    broker.fabric.publish(Message::new(t, &b"\xff\x00"[..]));
    assert_eq!(
        a.recv().await.args().unwrap(),
        [Value::buffer(&b"\xff\x00"[..])]
    );
    // Once nobody listens, the bridge lets go of the topic.
    a.unlisten("chat").await;
    a.sync().await;
    drop(sub);
    let t = topic("chat");
    broker
        .wait_for("the bridge to unsubscribe", |b| {
            !b.fabric.has_subscribers(&t)
        })
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn an_ipc_request_is_answered_by_a_fabric_responder() {
    let broker = Broker::start().await;
    let fabric = broker.fabric.clone();
    let mut responder = fabric.subscriber(SubscriberSpec::new("test", "responder"));
    responder.subscribe(TopicFilter::new("math/+").unwrap(), SubOptions::default());
    let answering = tokio::spawn(async move {
        for _ in 0..2 {
            let d = responder.recv().await.unwrap();
            let reply_to = d.message.reply_to.clone().unwrap();
            let reply = if d.message.topic.as_str() == "math/add" {
                Message::json(reply_to, r#"{"sum":5}"#)
            } else {
                Message::text(reply_to, "").property(ERROR_PROPERTY, "division by zero")
            };
            fabric.publish(reply);
        }
    });
    let mut ipc = broker.client("ipc").await;
    let request = ipc
        .request(
            "math/add",
            "q1",
            &[Value::PositiveInteger(2), Value::PositiveInteger(3)],
        )
        .await;
    let answer = ipc.recv().await;
    assert_eq!(answer.kind(), CommandKind::RequestResponse);
    let command = answer.command();
    assert_eq!(command.channel(), "q1");
    assert_eq!(command.target.as_ref(), request.command().peer.as_ref());
    assert_eq!(command.request.as_ref().unwrap().resolve, Some(true));
    assert_eq!(
        answer.args().unwrap(),
        [Value::Json(JsonText::new(r#"{"sum":5}"#).unwrap())]
    );
    ipc.request("math/div", "q2", &[Value::PositiveInteger(1)])
        .await;
    let answer = ipc.recv().await;
    assert_eq!(
        answer.command().request.as_ref().unwrap().resolve,
        Some(false)
    );
    assert_eq!(answer.args().unwrap(), [Value::from("division by zero")]);
    answering.await.unwrap();
    broker.shutdown().await;
}

#[tokio::test]
async fn a_fabric_request_is_answered_by_an_ipc_listener() {
    let broker = Broker::start_with(|c| c.mount = "ipc/".to_owned()).await;
    let mut listener = broker.client("listener").await;
    listener.listen("compute").await;
    listener.sync().await;
    let t = topic("ipc/compute");
    broker
        .wait_for("the bridge to subscribe", |b| b.fabric.has_subscribers(&t))
        .await;
    let fabric = broker.fabric.clone();
    let request = tokio::spawn(async move {
        fabric
            .request(
                Message::json(topic("ipc/compute"), "[2,3]").correlation(&b"c1"[..]),
                Duration::from_secs(5),
            )
            .await
    });
    let got = listener.recv().await;
    assert!(got.command().is_request());
    assert_eq!(got.command().channel(), "compute");
    assert_eq!(
        got.args().unwrap(),
        [Value::Array(vec![
            Value::PositiveInteger(2),
            Value::PositiveInteger(3)
        ])]
    );
    listener
        .respond(&got, true, &[Value::PositiveInteger(5)])
        .await;
    let reply = request.await.unwrap().unwrap();
    assert_eq!(reply.kind, PayloadKind::Json);
    assert_eq!(reply.payload_str(), Some("5"));
    assert_eq!(reply.correlation.as_deref(), Some(&b"c1"[..]));
    assert!(reply.properties.is_empty());

    // A rejection carries the error text.
    let fabric = broker.fabric.clone();
    let request = tokio::spawn(async move {
        fabric
            .request(
                Message::text(topic("ipc/compute"), "x"),
                Duration::from_secs(5),
            )
            .await
    });
    let got = listener.recv().await;
    listener.respond(&got, false, &["no way".into()]).await;
    let reply = request.await.unwrap().unwrap();
    assert_eq!(
        reply.properties,
        [(ERROR_PROPERTY.to_owned(), "no way".to_owned())]
    );
    assert_eq!(broker.handle.stats().pending_fabric_requests, 0);
    broker.shutdown().await;
}

#[tokio::test]
async fn the_mount_prefix_is_added_and_removed() {
    let broker = Broker::start_with(|c| c.mount = "desk/".to_owned()).await;
    let mut sub = broker.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(TopicFilter::new("#").unwrap(), SubOptions::default());
    let mut ipc = broker.client("ipc").await;
    ipc.listen("news").await;
    ipc.sync().await;
    let mut other = broker.client("other").await;
    other.send("news", &["x".into()]).await;
    let d = tokio::time::timeout(support::WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message.topic.as_str(), "desk/news");
    let t = topic("desk/news");
    broker
        .wait_for("the bridge to subscribe", |b| {
            b.fabric.subscriptions(None).len() == 2
        })
        .await;
    broker.fabric.publish(Message::text(t, "y"));
    // The first is other's byte-exact message, then the fabric one on the bare channel.
    assert_eq!(ipc.recv().await.args().unwrap(), [Value::from("x")]);
    let got = ipc.recv().await;
    assert_eq!(got.command().channel(), "news");
    assert_eq!(got.args().unwrap(), [Value::from("y")]);
    // Topics outside the mount never reach IPC.
    broker.fabric.publish(Message::text(topic("news"), "z"));
    ipc.expect_nothing().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_new_listener_gets_the_retained_value() {
    let broker = Broker::start().await;
    broker
        .fabric
        .publish(Message::text(topic("status/door"), "open").retain(true));
    let mut ipc = broker.client("ipc").await;
    ipc.listen("status/door").await;
    let got = ipc.recv().await;
    assert_eq!(got.command().channel(), "status/door");
    assert_eq!(got.args().unwrap(), [Value::from("open")]);
    broker.shutdown().await;
}

#[tokio::test]
async fn channels_that_cannot_be_topics_stay_ipc_only() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    // An IPC channel with wildcard characters is matched literally.
    a.listen("a/+").await;
    a.sync().await;
    let sent = b.send("a/+", &["literal".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    broker
        .fabric
        .publish(Message::text(topic("a/b"), "not for a/+"));
    a.expect_nothing().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn messages_only_ipc_listens_to_are_not_converted() {
    let broker = Broker::start().await;
    let mut a = broker.client("a").await;
    let mut b = broker.client("b").await;
    a.listen("local").await;
    a.sync().await;
    let t = topic("local");
    broker
        .wait_for("the bridge to subscribe", |b| b.fabric.has_subscribers(&t))
        .await;
    // Only the bridge's own (no-local) subscription matches: nothing crosses.
    let sent = b.send("local", &["ipc only".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    assert_eq!(broker.handle.metrics().bridged_count("to_fabric"), 0);
    // With a subscriber of another protocol, the same send crosses once.
    let mut sub = broker.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(TopicFilter::new("local").unwrap(), SubOptions::default());
    let sent = b.send("local", &["to the fabric too".into()]).await;
    assert_eq!(a.recv().await.frame(), sent.frame());
    let d = tokio::time::timeout(support::WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.message.payload_str(), Some("to the fabric too"));
    assert_eq!(broker.handle.metrics().bridged_count("to_fabric"), 1);
    broker.shutdown().await;
}
