//! Clients of each protocol as the admin API tests drive them, and API calls.
//! - MQTT 5: rumqttc in this process, its event loop's end kept (a server DISCONNECT's reason);
//! - browsers: `tests/interop/engineio/agent.mjs` (engine.io-client 6);
//! - Socket.IO: `tests/interop/browser/sio_agent.mjs` (socket.io-client 4.8);
//! - IPC: `tests/interop/ipc/agent.js` (electron-common-ipc 16), or a raw peer speaking the
//!   wire format (switchboard-ipc-proto) when the test watches the socket itself.

#![allow(dead_code, unused_imports)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchboard_ipc_proto::{Command, Packet, Peer};
use switchboard_tests::TestGateway;
use switchboard_tests::agent::Agent;
use switchboard_tests::http::{self, Method};
use switchboard_tests::interop;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

pub const WAIT: Duration = Duration::from_secs(20);
pub const TOKEN: &str = "test-admin-token";

// ---- the API ----------------------------------------------------------------------------------

/// Calls the API on the admin port with the test token; returns status and JSON body (`null`
/// when empty).
pub async fn call(
    gw: &TestGateway,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call_with(
        gw,
        method,
        path,
        body,
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .await
}

/// Like [`call`] with exactly `headers`.
pub async fn call_with(
    gw: &TestGateway,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut h: Vec<(&str, &str)> = headers.to_vec();
    if body.is_some() {
        h.push(("content-type", "application/json"));
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let r = http::send(method, &gw.admin_url(&format!("/api/v1{path}")), &h, body).await;
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", r.text()))
    };
    (r.status.as_u16(), v)
}

/// `GET path`, asserting 200.
pub async fn get(gw: &TestGateway, path: &str) -> Value {
    let (status, v) = call(gw, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

/// The ids of `GET /clients` items.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

/// A gateway with the test token on the admin API.
pub async fn gateway() -> TestGateway {
    gateway_with(|_| {}).await
}

/// A gateway with the test token and `configure` applied.
pub async fn gateway_with(configure: impl FnOnce(&mut switchboard_config::Config)) -> TestGateway {
    TestGateway::builder()
        .configure(|c| {
            c.admin.token = Some(switchboard_config::Secret::new(TOKEN));
            configure(c);
        })
        .start()
        .await
}

// ---- MQTT 5 -------------------------------------------------------------------------------------

/// An MQTT 5 client (rumqttc) with its event loop in a task.
pub struct Mqtt {
    pub client: rumqttc::v5::AsyncClient,
    publishes: mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
    acks: mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Packet>,
    /// How the event loop ended.
    pub ended: Option<oneshot::Receiver<String>>,
}

impl Mqtt {
    /// Connects as `id` (with `user` as user name, if any) and waits for the CONNACK.
    pub async fn connect(gw: &TestGateway, id: &str, user: Option<&str>) -> Mqtt {
        use rumqttc::v5::mqttbytes::v5::Packet;
        use rumqttc::v5::{ConnectionError, Event, StateError};
        let a = gw.addresses.mqtt.expect("MQTT is on");
        let mut options = rumqttc::v5::MqttOptions::new(id, a.ip().to_string(), a.port());
        options.set_keep_alive(Duration::from_secs(30));
        if let Some(u) = user {
            options.set_credentials(u, "pw");
        }
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 64);
        let (ptx, publishes) = mpsc::unbounded_channel();
        let (atx, mut acks) = mpsc::unbounded_channel();
        let (etx, ended) = oneshot::channel();
        tokio::spawn(async move {
            let end = loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = ptx.send(p);
                    }
                    Ok(Event::Incoming(p @ (Packet::ConnAck(_) | Packet::SubAck(_)))) => {
                        let _ = atx.send(p);
                    }
                    Ok(_) => {}
                    Err(ConnectionError::MqttState(StateError::ServerDisconnect {
                        reason_code,
                        ..
                    })) => break format!("{reason_code:?}"),
                    Err(e) => break format!("error: {e}"),
                }
            };
            let _ = etx.send(end);
        });
        match tokio::time::timeout(WAIT, acks.recv()).await {
            Ok(Some(Packet::ConnAck(c))) => assert_eq!(
                c.code,
                rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success,
                "{id} connects"
            ),
            other => panic!("{id}: no CONNACK: {other:?}"),
        }
        Mqtt {
            client,
            publishes,
            acks,
            ended: Some(ended),
        }
    }

    /// Subscribes at QoS 1 and waits for the SUBACK.
    pub async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
            .await
            .expect("subscribe queued");
        match tokio::time::timeout(WAIT, self.acks.recv()).await {
            Ok(Some(rumqttc::v5::mqttbytes::v5::Packet::SubAck(_))) => {}
            other => panic!("no SUBACK for {filter}: {other:?}"),
        }
    }

    /// The next PUBLISH received.
    pub async fn next(&mut self) -> rumqttc::v5::mqttbytes::v5::Publish {
        match tokio::time::timeout(WAIT, self.publishes.recv()).await {
            Ok(Some(p)) => p,
            other => panic!("no PUBLISH: {other:?}"),
        }
    }

    /// Publishes `payload` on `topic` at QoS 0.
    pub async fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(
                topic,
                rumqttc::v5::mqttbytes::QoS::AtMostOnce,
                retain,
                payload.as_bytes().to_vec(),
            )
            .await
            .expect("publish queued");
    }

    /// How the connection ended (the server DISCONNECT's reason code, or the error).
    pub async fn end(&mut self) -> String {
        let rx = self.ended.take().expect("end() once");
        tokio::time::timeout(WAIT, rx)
            .await
            .expect("the connection to end")
            .unwrap_or_default()
    }
}

// ---- browsers (engine.io-client) ----------------------------------------------------------------

/// A browser session (engine.io-client 6 over WebSocket), open.
pub async fn browser(gw: &TestGateway, name: &str) -> Agent {
    let opts = json!({"url": gw.http_url(""), "name": name});
    let mut b = Agent::spawn(
        name,
        interop::node("engineio", "agent.mjs", &[opts.to_string()]),
    );
    b.expect_event("open").await;
    b
}

/// Subscribes a browser to `filter` and waits for the ack.
pub async fn browser_sub(b: &mut Agent, filter: &str, id: u64) {
    b.send(json!({"cmd": "send", "frame": {"op": "sub", "topic": filter, "id": id}}))
        .await;
    let answer = b
        .expect(&format!("the answer to sub {filter}"), |v| {
            v["event"] == "frame" && v["frame"]["id"] == id
        })
        .await;
    assert_eq!(answer["frame"]["op"], "ack", "sub {filter}: {answer}");
}

/// The next `msg` frame a browser got on `topic`.
pub async fn browser_msg(b: &mut Agent, topic: &str) -> Value {
    let v = b
        .expect(&format!("a msg on {topic}"), |v| {
            v["event"] == "frame" && v["frame"]["op"] == "msg" && v["frame"]["topic"] == topic
        })
        .await;
    v["frame"].clone()
}

// ---- IPC --------------------------------------------------------------------------------------

/// An IPC peer (electron-common-ipc 16) named `name`, connected; [`ipc_do`] runs its commands.
pub use switchboard_tests::agent::{ipc_do, ipc_peer as ipc_agent};

/// A raw IPC peer named `name` listening on `channels`, over TCP: the test sees its socket end.
pub async fn ipc_raw(gw: &TestGateway, name: &str, channels: &[&str]) -> TcpStream {
    let mut s = TcpStream::connect(gw.addresses.ipc.expect("IPC is on"))
        .await
        .expect("IPC connect");
    let peer = Peer::node(format!("{name}-id"), name);
    let mut commands = vec![Command::handshake(peer.clone())];
    for c in channels {
        commands.push(Command::add_listener(vec![peer.clone()], *c));
    }
    for command in commands {
        let p = Packet::from_command(command).expect("IPC packet");
        s.write_all(p.frame()).await.expect("IPC write");
    }
    s
}

// ---- Server-Sent Events -------------------------------------------------------------------------

/// One event of a stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// An open `GET /api/v1/stream`, read event by event.
pub struct Sse {
    body: hyper::body::Incoming,
    buf: String,
}

impl Sse {
    /// Opens the stream at `path_and_query` (under `/api/v1`) with the test token and `headers`.
    pub async fn open(gw: &TestGateway, path_and_query: &str, headers: &[(&str, &str)]) -> Sse {
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;
        let client: Client<_, http_body_util::Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut req = ::http::Request::get(gw.admin_url(&format!("/api/v1{path_and_query}")))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("accept", "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = client
            .request(req.body(http_body_util::Empty::new()).expect("request"))
            .await
            .expect("the stream opens");
        assert_eq!(resp.status(), 200, "GET {path_and_query}");
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Sse {
            body: resp.into_body(),
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped).
    pub async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = SseEvent::default();
                let mut any = false;
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => e.id = Some(value.to_owned()),
                        "event" => e.event = value.to_owned(),
                        "data" => e.data.push_str(value),
                        _ => continue,
                    }
                    any = true;
                }
                if any {
                    return e;
                }
                continue;
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("an event in time")
                .expect("the stream is open")
                .expect("the stream reads");
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}

// ---- Socket.IO (socket.io-client) ---------------------------------------------------------------

/// A socket.io-client 4.8 socket (`tests/interop/browser/sio_agent.mjs`) connected to
/// `namespace` over WebSocket; returns the agent and its socket id (`socket.id`).
pub async fn sio(gw: &TestGateway, name: &str, namespace: &str) -> (Agent, String) {
    let opts = json!({"url": gw.http_url(""), "name": name, "namespace": namespace});
    let mut s = Agent::spawn(
        name,
        interop::node("browser", "sio_agent.mjs", &[opts.to_string()]),
    );
    let connected = s
        .expect("connected", |v| {
            v["event"] == "connected" || v["event"] == "connect_error"
        })
        .await;
    assert_eq!(connected["event"], "connected", "{name}: {connected}");
    let id = connected["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no socket id: {connected}"))
        .to_owned();
    (s, id)
}

/// Subscribes a Socket.IO socket to `filter` and asserts the ack is `{ok: true}`.
pub async fn sio_sub(s: &mut Agent, filter: &str) {
    s.send(json!({"cmd": "subscribe", "filter": filter})).await;
    let ack = s
        .expect(&format!("the ack of subscribe {filter}"), |v| {
            v["event"] == "ack" && v["cmd"] == "subscribe"
        })
        .await;
    assert_eq!(ack["ack"]["ok"], true, "subscribe {filter}: {ack}");
}
