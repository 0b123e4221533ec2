//! Which protocols a running switchboard serves, found by speaking to each endpoint: the
//! suite and the test run a scenario only when its protocol answers, and say which are still
//! waiting for their server instead of skipping them silently.

use std::time::Duration;

use serde::Serialize;

use crate::error::BenchError;
use crate::mqtt;
use crate::net::{self, HttpConn};
use crate::peers::Endpoints;
use crate::scenario::Need;

/// What answered, and why the others did not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Served {
    /// MQTT over TCP: `Ok` or the reason it is not served.
    pub mqtt: Probe,
    /// MQTT over WebSocket.
    pub mqtt_ws: Probe,
    /// Engine.IO.
    pub engineio: Probe,
    /// Socket.IO.
    pub socketio: Probe,
    /// The IPC bus.
    pub ipc: Probe,
    /// The reverse proxy route `/up/`.
    pub http: Probe,
}

/// The outcome of one probe.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Probe {
    /// Whether the protocol answered correctly.
    pub served: bool,
    /// What was observed.
    pub detail: String,
}

impl Probe {
    fn ok(detail: &str) -> Probe {
        Probe {
            served: true,
            detail: detail.to_owned(),
        }
    }
    fn no(detail: String) -> Probe {
        Probe {
            served: false,
            detail,
        }
    }
}

impl Served {
    /// Whether everything `need` requires answers; otherwise why not.
    pub fn check(&self, need: Need) -> Result<(), String> {
        let req: &[(&str, &Probe)] = match need {
            Need::Mqtt => &[("MQTT", &self.mqtt)],
            Need::MqttWs => &[("MQTT over WebSocket", &self.mqtt_ws)],
            Need::EngineIo => &[("Engine.IO", &self.engineio)],
            Need::SocketIo => &[("Socket.IO", &self.socketio)],
            Need::Ipc => &[("IPC bus", &self.ipc)],
            Need::Http => &[("reverse proxy", &self.http)],
            Need::MqttEngineIo => &[("MQTT", &self.mqtt), ("Engine.IO", &self.engineio)],
            Need::IpcMqtt => &[("IPC bus", &self.ipc), ("MQTT", &self.mqtt)],
            Need::Nothing => &[],
        };
        let missing: Vec<String> = req
            .iter()
            .filter(|(_, p)| !p.served)
            .map(|(n, p)| format!("{n} not served yet ({})", p.detail))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("waiting for its server: {}", missing.join("; ")))
        }
    }
}

fn short(e: &BenchError) -> String {
    let s = e.to_string();
    s.chars().take(140).collect()
}

/// Probes every endpoint of a switchboard.
pub async fn discover(e: &Endpoints) -> Served {
    let mut s = Served::default();
    let limit = Duration::from_secs(5);
    s.mqtt = match &e.mqtt {
        None => Probe::no("no MQTT address".to_owned()),
        Some(t) => {
            match tokio::time::timeout(limit, mqtt::Conn::open(t, "bench-probe", 60)).await {
                Ok(Ok(_)) => Probe::ok("CONNACK received"),
                Ok(Err(e)) => Probe::no(short(&e)),
                Err(_) => Probe::no("no CONNACK within 5 s".to_owned()),
            }
        }
    };
    s.mqtt_ws = match &e.mqtt_ws {
        None => Probe::no("no WebSocket path".to_owned()),
        Some(t) => {
            match tokio::time::timeout(limit, mqtt::Conn::open(t, "bench-probe-ws", 60)).await {
                Ok(Ok(_)) => Probe::ok("CONNACK received over WebSocket"),
                Ok(Err(e)) => Probe::no(short(&e)),
                Err(_) => Probe::no("no CONNACK within 5 s".to_owned()),
            }
        }
    };
    s.engineio = probe_eio(&e.eio, limit).await;
    s.socketio = probe_eio(&e.sio, limit).await;
    s.ipc = match e.ipc {
        None => Probe::no("no IPC address".to_owned()),
        Some(a) => match tokio::time::timeout(limit, crate::ipc::probe(a)).await {
            Ok(Ok(())) => Probe::ok("a send reached a listener"),
            Ok(Err(e)) => Probe::no(short(&e)),
            Err(_) => Probe::no("no delivery within 5 s".to_owned()),
        },
    };
    s.http = match e.http {
        None => Probe::no("no HTTP address".to_owned()),
        Some(a) => match HttpConn::connect(a).await {
            Err(e) => Probe::no(e.to_string()),
            Ok(mut c) => {
                match tokio::time::timeout(limit, c.round_trip(&net::http_get(a, "/up/"))).await {
                    Ok(Ok(r)) if r.status == 200 => Probe::ok("GET /up/ answered 200"),
                    Ok(Ok(r)) => Probe::no(format!("GET /up/ answered HTTP {}", r.status)),
                    Ok(Err(e)) => Probe::no(e.to_string()),
                    Err(_) => Probe::no("no answer within 5 s".to_owned()),
                }
            }
        },
    };
    s
}

/// An Engine.IO endpoint answers a polling handshake with its open packet.
async fn probe_eio(t: &Option<crate::eio::EioTarget>, limit: Duration) -> Probe {
    let Some(t) = t else {
        return Probe::no("no Engine.IO path".to_owned());
    };
    let path = format!("{}?EIO=4&transport=polling", t.path);
    match HttpConn::connect(t.addr).await {
        Err(e) => Probe::no(e.to_string()),
        Ok(mut c) => {
            match tokio::time::timeout(limit, c.round_trip(&net::http_get(t.addr, &path))).await {
                Ok(Ok(r)) if r.status == 200 && r.body.first() == Some(&b'0') => {
                    Probe::ok("open packet received")
                }
                Ok(Ok(r)) => Probe::no(format!("GET {path} answered HTTP {}", r.status)),
                Ok(Err(e)) => Probe::no(e.to_string()),
                Err(_) => Probe::no("no answer within 5 s".to_owned()),
            }
        }
    }
}
