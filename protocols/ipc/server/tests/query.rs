//! Requests the broker answers itself: `/electron-common-ipc/queryState` (every protocol's
//! listeners in the Node broker's `QueryStateBroker` shape) and
//! `/electron-common-ipc/serviceAvailable`.

mod support;

use std::sync::Arc;

use serde_json::{Value as Json, json};
use support::{Broker, Client};
use switchboard_fabric::{
    ClientControl, ClientSpec, HeldSubscription, SubOptions, SubscriberSpec, TopicFilter,
};
use switchboard_ipc_proto::{CommandKind, JsonText, Packet, Value};

/// A client of another protocol keeping one subscription outside the fabric's index.
struct Held;

impl ClientControl for Held {
    fn kick(&self) {}

    fn subscriptions(&self, out: &mut Vec<HeldSubscription>) {
        out.push(HeldSubscription {
            filter: "news".into(),
            holder: None,
            count: 2,
        });
    }
}

/// Sends a request on `channel` and returns its answer's `RQR` packet.
async fn ask(client: &mut Client, channel: &str, id: &str, args: &[Value]) -> Packet {
    client.request(channel, id, args).await;
    loop {
        let p = client.recv().await;
        if p.kind() == CommandKind::RequestResponse {
            return p;
        }
    }
}

fn answer_json(reply: &Packet) -> Json {
    let args = reply.args().unwrap();
    let [Value::Json(json)] = args.as_slice() else {
        panic!("one JSON arg expected, got {args:?}");
    };
    json.to_json().unwrap()
}

#[tokio::test]
async fn query_state_lists_every_protocols_listeners_in_the_node_brokers_shape() {
    let broker = Broker::start().await;
    let mut listener = broker.client("listener").await;
    listener.listen("news").await;
    listener.listen("news").await;
    listener.listen("weather").await;
    listener.sync().await;
    // An MQTT client's fabric subscription, and the gateway's own plumbing (left out).
    let mut mqtt = broker
        .fabric
        .subscriber(SubscriberSpec::new("mqtt", "sensor-1"));
    mqtt.subscribe(TopicFilter::new("news").unwrap(), SubOptions::default());
    mqtt.subscribe(
        TopicFilter::new("sensors/+").unwrap(),
        SubOptions::default(),
    );
    let mut plumbing = broker
        .fabric
        .subscriber(SubscriberSpec::new("engineio", "bridge").internal());
    plumbing.subscribe(TopicFilter::new("news").unwrap(), SubOptions::default());
    let _held = broker.fabric.clients().register(
        ClientSpec::new("socketio", "abc", "websocket"),
        Arc::new(Held),
    );

    let mut asker = broker.client("asker").await;
    let reply = ask(&mut asker, "/electron-common-ipc/queryState", "q1", &[]).await;
    let command = reply.command();
    assert_eq!(command.channel(), "q1");
    assert_eq!(command.target.as_ref().unwrap().id, asker.peer.id);
    assert_eq!(command.request.as_ref().unwrap().resolve, Some(true));
    assert_eq!(
        command.peer.as_ref().unwrap().id,
        broker.handle.gateway_peer().id
    );
    let state = answer_json(&reply);
    assert_eq!(state["type"], "broker");
    assert!(state["contextId"].as_str().unwrap().starts_with("Node-"));
    assert_eq!(
        state["channels"],
        json!({
            "news": {"name": "news", "refCount": 5},
            "weather": {"name": "weather", "refCount": 1},
            "sensors/+": {"name": "sensors/+", "refCount": 1},
        })
    );
    let peers = state["peers"].as_object().unwrap();
    assert_eq!(peers.len(), 3, "{peers:?}");
    let ipc = &peers["id-listener"];
    assert_eq!(
        ipc["peer"],
        json!({"id": "id-listener", "type": 1, "name": "listener"})
    );
    assert_eq!(
        ipc["channels"],
        json!({
            "news": {"name": "news", "refCount": 2},
            "weather": {"name": "weather", "refCount": 1},
        })
    );
    assert_eq!(ipc["protocol"], "ipc");
    let client = ipc["client"].as_str().unwrap();
    assert!(client.starts_with("ipc:ipc-"), "{client}");
    assert!(
        broker
            .fabric
            .clients()
            .contains(&switchboard_fabric::ClientId::parse(client).unwrap())
    );
    assert_eq!(
        peers["mqtt:sensor-1"],
        json!({
            "peer": {"id": "mqtt:sensor-1", "type": 4, "name": "sensor-1"},
            "channels": {
                "news": {"name": "news", "refCount": 1},
                "sensors/+": {"name": "sensors/+", "refCount": 1},
            },
            "protocol": "mqtt",
            "client": "mqtt:sensor-1",
        })
    );
    assert_eq!(
        peers["socketio:abc"]["channels"],
        json!({"news": {"name": "news", "refCount": 2}})
    );
    assert_eq!(broker.handle.query_state().peers.len(), 3);

    // The listener leaves: gone from the next answer.
    drop(listener);
    broker
        .wait_for("the listener's connection is gone", |b| {
            b.handle.stats().connections == 1
        })
        .await;
    let state = answer_json(&ask(&mut asker, "/electron-common-ipc/queryState", "q2", &[]).await);
    assert_eq!(state["channels"]["news"]["refCount"], 3);
    assert!(state["channels"].get("weather").is_none());
    assert!(state["peers"].get("id-listener").is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn the_mount_is_taken_off_listed_filters() {
    let broker = Broker::start_with(|c| c.mount = "ipc/".into()).await;
    let mut listener = broker.client("listener").await;
    listener.listen("news").await;
    listener.sync().await;
    let mut mqtt = broker.fabric.subscriber(SubscriberSpec::new("mqtt", "m"));
    mqtt.subscribe(TopicFilter::new("ipc/news").unwrap(), SubOptions::default());
    mqtt.subscribe(TopicFilter::new("other/#").unwrap(), SubOptions::default());
    let mut asker = broker.client("asker").await;
    let state = answer_json(&ask(&mut asker, "/electron-common-ipc/queryState", "q", &[]).await);
    assert_eq!(state["channels"]["news"]["refCount"], 2);
    assert_eq!(state["channels"]["other/#"]["refCount"], 1);
    broker.shutdown().await;
}

#[tokio::test]
async fn service_available_follows_the_service() {
    let broker = Broker::start().await;
    let mut asker = broker.client("asker").await;
    let available = |reply: Packet| -> bool {
        match reply.args().unwrap().as_slice() {
            [Value::Bool(b)] => *b,
            other => panic!("a boolean answer expected, got {other:?}"),
        }
    };
    let name = [Value::from("calc")];
    let channel = "/electron-common-ipc/serviceAvailable";
    assert!(!available(ask(&mut asker, channel, "s1", &name).await));
    let mut host = broker.client("host").await;
    host.listen("/electron-ipc-bus/ipc-service/calc/call").await;
    let start = JsonText::new(
        r#"{"eventName":"service-event-start","args":[{"started":true,"callHandlers":["add"],"supportEventEmitter":false}]}"#,
    )
    .unwrap();
    host.send(
        "/electron-ipc-bus/ipc-service/calc/event",
        &[Value::Json(start)],
    )
    .await;
    host.sync().await;
    assert!(available(ask(&mut asker, channel, "s2", &name).await));
    assert!(!available(ask(&mut asker, channel, "s3", &[]).await));
    drop(host);
    broker
        .wait_for("the host is gone", |b| {
            !b.handle.services().is_available("calc")
        })
        .await;
    assert!(!available(ask(&mut asker, channel, "s4", &name).await));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_plain_send_or_a_request_targeted_elsewhere_is_not_answered() {
    let broker = Broker::start().await;
    let mut asker = broker.client("asker").await;
    let other = broker.client("other").await;
    asker.send("/electron-common-ipc/queryState", &[]).await;
    let command =
        switchboard_ipc_proto::Command::send("/electron-common-ipc/queryState", asker.peer.clone())
            .with_request("t1")
            .with_target(other.peer.clone());
    asker
        .write(&Packet::from_message(command, &[]).unwrap())
        .await;
    asker.expect_nothing().await;
    broker.shutdown().await;
}
