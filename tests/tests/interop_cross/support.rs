//! The clients of each ecosystem as the cross-protocol scenarios drive them:
//! - browsers: `tests/interop/engineio/agent.mjs` (engine.io-client 6, control protocol);
//! - desktop apps: `tests/interop/ipc/agent.js` (electron-common-ipc 16.0.4);
//! - devices: rumqttc (MQTT 3.1.1 and 5) in this process.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use switchboard_tests::TestGateway;
use switchboard_tests::agent::Agent;
use switchboard_tests::interop;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(20);

// ---- browsers ---------------------------------------------------------------------------------

/// A browser session (engine.io-client 6 over WebSocket), open.
pub async fn browser(gw: &TestGateway, name: &str) -> Agent {
    browser_with(gw, name, json!({})).await
}

/// A browser session with extra agent options (`token`, `transports`), open.
pub async fn browser_with(gw: &TestGateway, name: &str, extra: Value) -> Agent {
    let mut opts = json!({"url": gw.http_url(""), "name": name});
    if let (Some(o), Some(e)) = (opts.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    let mut b = Agent::spawn(
        name,
        interop::node("engineio", "agent.mjs", &[opts.to_string()]),
    );
    b.expect_event("open").await;
    b
}

/// Sends a control frame with `id` and returns the answer for it (`ack`, `err` or `res`).
pub async fn op(b: &mut Agent, mut frame: Value, id: u64) -> Value {
    frame["id"] = json!(id);
    b.send(json!({"cmd": "send", "frame": frame})).await;
    let answer = b
        .expect(&format!("the answer to op {id}"), |v| {
            v["event"] == "frame" && v["frame"]["id"] == id
        })
        .await;
    answer["frame"].clone()
}

/// Subscribes to `filter` and asserts the ack.
pub async fn sub(b: &mut Agent, filter: &str, id: u64) {
    let answer = op(b, json!({"op": "sub", "topic": filter}), id).await;
    assert_eq!(answer["op"], "ack", "sub {filter}: {answer}");
}

/// The next `msg` frame on `topic`.
pub async fn msg(b: &mut Agent, topic: &str) -> Value {
    let v = b
        .expect(&format!("a msg on {topic}"), |v| {
            v["event"] == "frame" && v["frame"]["op"] == "msg" && v["frame"]["topic"] == topic
        })
        .await;
    v["frame"].clone()
}

/// The next binary message on `topic`, as hex.
pub async fn binary(b: &mut Agent, topic: &str) -> String {
    let v = b
        .expect(&format!("a binary message on {topic}"), |v| {
            v["event"] == "binary" && v["topic"] == topic
        })
        .await;
    v["hex"].as_str().unwrap_or_default().to_owned()
}

// ---- IPC peers --------------------------------------------------------------------------------

/// An IPC peer (electron-common-ipc 16) named `name`, connected; [`ipc_do`] runs its commands.
pub use switchboard_tests::agent::{ipc_do, ipc_peer as ipc};

/// Listens on `channel` and waits until the bridge subscribed the fabric to it.
pub async fn ipc_listen(gw: &TestGateway, a: &mut Agent, channel: &str) {
    ipc_do(a, json!({"cmd": "listen", "channel": channel})).await;
    gw.subscribed(channel).await;
}

/// The next IPC message on `channel`.
pub async fn ipc_msg(a: &mut Agent, channel: &str) -> Value {
    a.expect(&format!("an IPC message on {channel}"), |v| {
        v["event"] == "msg" && v["channel"] == channel
    })
    .await
}

// ---- MQTT devices -----------------------------------------------------------------------------

/// An MQTT 5 client (rumqttc) with its event loop in a task.
pub struct Mqtt5 {
    pub client: rumqttc::v5::AsyncClient,
    publishes: mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
    acks: mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Packet>,
    task: JoinHandle<()>,
}

impl Mqtt5 {
    /// Connects as `id` (with `configure` applied to the options) and waits for the CONNACK.
    pub async fn connect_with(
        gw: &TestGateway,
        id: &str,
        configure: impl FnOnce(&mut rumqttc::v5::MqttOptions),
    ) -> Mqtt5 {
        use rumqttc::v5::Event;
        use rumqttc::v5::mqttbytes::v5::Packet;
        let a = gw.addresses.mqtt.expect("MQTT is on");
        let mut options = rumqttc::v5::MqttOptions::new(id, a.ip().to_string(), a.port());
        options.set_keep_alive(Duration::from_secs(30));
        configure(&mut options);
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 1024);
        let (ptx, publishes) = mpsc::unbounded_channel();
        let (atx, mut acks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(ev) = eventloop.poll().await {
                match ev {
                    Event::Incoming(Packet::Publish(p)) => {
                        let _ = ptx.send(p);
                    }
                    Event::Incoming(
                        p @ (Packet::ConnAck(_) | Packet::SubAck(_) | Packet::PubAck(_)),
                    ) => {
                        let _ = atx.send(p);
                    }
                    _ => {}
                }
            }
        });
        match tokio::time::timeout(WAIT, acks.recv()).await {
            Ok(Some(Packet::ConnAck(c))) => assert_eq!(
                c.code,
                rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success,
                "{id} connects"
            ),
            other => panic!("{id}: no CONNACK: {other:?}"),
        }
        Mqtt5 {
            client,
            publishes,
            acks,
            task,
        }
    }

    /// Connects as `id` with default options.
    pub async fn connect(gw: &TestGateway, id: &str) -> Mqtt5 {
        Mqtt5::connect_with(gw, id, |_| {}).await
    }

    /// The next SUBACK or PUBACK.
    pub async fn ack(&mut self) -> rumqttc::v5::mqttbytes::v5::Packet {
        match tokio::time::timeout(WAIT, self.acks.recv()).await {
            Ok(Some(p)) => p,
            other => panic!("no SUBACK/PUBACK: {other:?}"),
        }
    }

    /// Subscribes at QoS 1 and returns the SUBACK's reason codes.
    pub async fn subscribe(
        &mut self,
        filter: &str,
    ) -> Vec<rumqttc::v5::mqttbytes::v5::SubscribeReasonCode> {
        self.client
            .subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
            .await
            .expect("subscribe queued");
        match self.ack().await {
            rumqttc::v5::mqttbytes::v5::Packet::SubAck(s) => s.return_codes,
            other => panic!("expected a SUBACK, got {other:?}"),
        }
    }

    /// Publishes at QoS 1 with `props` and returns the PUBACK's reason.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: impl Into<Bytes>,
        retain: bool,
        props: rumqttc::v5::mqttbytes::v5::PublishProperties,
    ) -> rumqttc::v5::mqttbytes::v5::PubAckReason {
        self.client
            .publish_with_properties(
                topic,
                rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                retain,
                payload.into(),
                props,
            )
            .await
            .expect("publish queued");
        match self.ack().await {
            rumqttc::v5::mqttbytes::v5::Packet::PubAck(a) => a.reason,
            other => panic!("expected a PUBACK, got {other:?}"),
        }
    }

    /// The next message received.
    pub async fn next(&mut self) -> rumqttc::v5::mqttbytes::v5::Publish {
        match tokio::time::timeout(WAIT, self.publishes.recv()).await {
            Ok(Some(p)) => p,
            other => panic!("no PUBLISH within {WAIT:?}: {other:?}"),
        }
    }

    /// Asserts that nothing arrives within `period`.
    pub async fn nothing_for(&mut self, period: Duration) {
        if let Ok(Some(p)) = tokio::time::timeout(period, self.publishes.recv()).await {
            panic!("unexpected PUBLISH on {:?}", p.topic);
        }
    }

    /// Drops the connection without DISCONNECT (the device vanished).
    pub fn vanish(self) {
        self.task.abort();
    }
}

impl Drop for Mqtt5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// MQTT 5 publish properties: text (payload format 1), JSON (content type) or none (bytes).
pub fn props(kind: &str) -> rumqttc::v5::mqttbytes::v5::PublishProperties {
    let mut p = rumqttc::v5::mqttbytes::v5::PublishProperties::default();
    match kind {
        "text" => p.payload_format_indicator = Some(1),
        "json" => {
            p.payload_format_indicator = Some(1);
            p.content_type = Some("application/json".into());
        }
        _ => {}
    }
    p
}

/// What an MQTT 5 delivery says its payload is: "json", "text" or "bytes".
pub fn kind_of(p: &rumqttc::v5::mqttbytes::v5::Publish) -> &'static str {
    let props = p.properties.clone().unwrap_or_default();
    match (
        props.content_type.as_deref(),
        props.payload_format_indicator,
    ) {
        (Some("application/json"), Some(1)) => "json",
        (None, Some(1)) => "text",
        (None, None) => "bytes",
        other => panic!("unexpected MQTT 5 payload properties {other:?}"),
    }
}

/// An MQTT 3.1.1 client (rumqttc) with its event loop in a task.
pub struct Mqtt4 {
    pub client: rumqttc::AsyncClient,
    publishes: mpsc::UnboundedReceiver<rumqttc::Publish>,
    acks: mpsc::UnboundedReceiver<rumqttc::Packet>,
    task: JoinHandle<()>,
}

impl Mqtt4 {
    /// Connects as `id` (with `configure` applied) and waits for the CONNACK.
    pub async fn connect_with(
        gw: &TestGateway,
        id: &str,
        configure: impl FnOnce(&mut rumqttc::MqttOptions),
    ) -> Mqtt4 {
        use rumqttc::{Event, Packet};
        let a = gw.addresses.mqtt.expect("MQTT is on");
        let mut options = rumqttc::MqttOptions::new(id, a.ip().to_string(), a.port());
        options.set_keep_alive(Duration::from_secs(30));
        configure(&mut options);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 1024);
        let (ptx, publishes) = mpsc::unbounded_channel();
        let (atx, mut acks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(ev) = eventloop.poll().await {
                match ev {
                    Event::Incoming(Packet::Publish(p)) => {
                        let _ = ptx.send(p);
                    }
                    Event::Incoming(
                        p @ (Packet::ConnAck(_) | Packet::SubAck(_) | Packet::PubAck(_)),
                    ) => {
                        let _ = atx.send(p);
                    }
                    _ => {}
                }
            }
        });
        match tokio::time::timeout(WAIT, acks.recv()).await {
            Ok(Some(Packet::ConnAck(c))) => {
                assert_eq!(c.code, rumqttc::ConnectReturnCode::Success, "{id} connects")
            }
            other => panic!("{id}: no CONNACK: {other:?}"),
        }
        Mqtt4 {
            client,
            publishes,
            acks,
            task,
        }
    }

    /// Connects as `id` with default options.
    pub async fn connect(gw: &TestGateway, id: &str) -> Mqtt4 {
        Mqtt4::connect_with(gw, id, |_| {}).await
    }

    /// The next SUBACK or PUBACK.
    pub async fn ack(&mut self) -> rumqttc::Packet {
        match tokio::time::timeout(WAIT, self.acks.recv()).await {
            Ok(Some(p)) => p,
            other => panic!("no SUBACK/PUBACK: {other:?}"),
        }
    }

    /// Subscribes at QoS 1 and returns the SUBACK's return codes.
    pub async fn subscribe(&mut self, filter: &str) -> Vec<rumqttc::SubscribeReasonCode> {
        self.client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .await
            .expect("subscribe queued");
        match self.ack().await {
            rumqttc::Packet::SubAck(s) => s.return_codes,
            other => panic!("expected a SUBACK, got {other:?}"),
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload)
            .await
            .expect("publish queued");
        match self.ack().await {
            rumqttc::Packet::PubAck(_) => {}
            other => panic!("expected a PUBACK, got {other:?}"),
        }
    }

    /// The next message received.
    pub async fn next(&mut self) -> rumqttc::Publish {
        match tokio::time::timeout(WAIT, self.publishes.recv()).await {
            Ok(Some(p)) => p,
            other => panic!("no PUBLISH within {WAIT:?}: {other:?}"),
        }
    }
}

impl Drop for Mqtt4 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of a Prometheus sample `name{labels}` in `metrics` text (0 when absent). `labels`
/// are `key="value"` pairs that must all be present.
pub fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|kv| l.contains(kv)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
