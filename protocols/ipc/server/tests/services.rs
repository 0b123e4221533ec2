//! The service directory follows what stock services do on the wire: a listener on the call
//! channel, start and stop events on the event channel, and the connection going away.

mod support;

use support::Broker;
use switchboard_ipc_proto::{JsonText, Value};

const CALL: &str = "/electron-ipc-bus/ipc-service/calc/call";
const EVENT: &str = "/electron-ipc-bus/ipc-service/calc/event";

fn start_event() -> Value {
    Value::Json(
        JsonText::new(
            r#"{"eventName":"service-event-start","args":[{"started":true,"callHandlers":["add","slowMul"],"supportEventEmitter":true}]}"#,
        )
        .unwrap(),
    )
}

fn stop_event() -> Value {
    Value::Json(JsonText::new(r#"{"eventName":"service-event-stop","args":[{}]}"#).unwrap())
}

#[tokio::test]
async fn a_service_is_listed_while_it_listens_and_started_until_it_stops() {
    let broker = Broker::start().await;
    let services = broker.handle.services();
    let mut host = broker.client("host").await;
    assert!(services.lookup("calc").is_none());
    assert!(services.list().is_empty());

    // Start: the listener on the call channel, then the start event.
    host.listen(CALL).await;
    host.send(EVENT, &[start_event()]).await;
    host.sync().await;
    let info = services.lookup("calc").expect("calc is provided");
    assert_eq!(info.name, "calc");
    assert_eq!(info.peer, "id-host");
    assert_eq!(info.peer_name.as_deref(), Some("host"));
    assert!(info.client.starts_with("ipc:ipc-"), "{}", info.client);
    assert!(info.started && info.status_known);
    assert_eq!(info.call_handlers, ["add", "slowMul"]);
    assert!(info.support_event_emitter);
    assert_eq!(info.providers, 1);
    assert!(info.since_ms > 1_600_000_000_000);
    assert!(services.is_available("calc"));
    assert!(!services.is_available("other"));
    assert_eq!(services.list(), std::slice::from_ref(&info));
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["name"], "calc");
    assert_eq!(json["started"], true);
    assert_eq!(json["call_handlers"], serde_json::json!(["add", "slowMul"]));

    // Stop: the stop event, then the listener goes.
    host.send(EVENT, &[stop_event()]).await;
    host.sync().await;
    assert!(!services.is_available("calc"));
    assert!(!services.lookup("calc").unwrap().started);
    host.unlisten(CALL).await;
    host.sync().await;
    assert!(services.lookup("calc").is_none());
    assert!(services.list().is_empty());

    // Restarted, then the host process crashes: gone with its connection.
    host.listen(CALL).await;
    host.send(EVENT, &[start_event()]).await;
    host.sync().await;
    assert!(services.is_available("calc"));
    drop(host);
    broker
        .wait_for("the service goes with its connection", |b| {
            b.handle.services().lookup("calc").is_none()
        })
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_bare_listener_is_a_started_service_of_unknown_status_and_events_alone_are_not() {
    let broker = Broker::start().await;
    let services = broker.handle.services();
    let mut other = broker.client("other").await;
    // A start event from a connection that does not listen on the call channel is no service.
    other.send(EVENT, &[start_event()]).await;
    other.sync().await;
    assert!(services.lookup("calc").is_none());

    // Nor is a listener naming only another connection's peer (the routing table ignores it).
    let foreign = switchboard_ipc_proto::Command::add_listener(vec![other.peer.clone()], CALL);
    let mut intruder = broker.client("intruder").await;
    intruder
        .write(&switchboard_ipc_proto::Packet::from_command(foreign).unwrap())
        .await;
    intruder.sync().await;
    assert!(services.lookup("calc").is_none());
    assert!(!broker.handle.has_listeners(CALL));
    // ... and leaves nothing behind in the table (its Debug shows the names it holds).
    assert_eq!(format!("{services:?}"), "ServiceDirectory { services: 0 }");

    let mut host = broker.client("host").await;
    host.listen(CALL).await;
    host.sync().await;
    let info = services.lookup("calc").unwrap();
    assert!(info.started && !info.status_known);
    assert!(info.call_handlers.is_empty());
    // A second provider: listed too, and counted.
    other.listen(CALL).await;
    other.sync().await;
    let list = services.list();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| s.providers == 2));
    // Its stop event leaves the first provider the one looked up.
    other.send(EVENT, &[stop_event()]).await;
    other.sync().await;
    assert_eq!(services.lookup("calc").unwrap().peer, "id-host");
    broker.shutdown().await;
}
