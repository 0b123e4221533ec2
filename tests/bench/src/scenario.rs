//! The scenarios of the suite: what load, against which servers, which figure, and the target
//! its issue sets. Every performance line of the protocol issues maps to one scenario id.

use std::time::Duration;

use serde::Serialize;

use crate::cluster::Placement;
use crate::eio::EioPlan;
use crate::http::HttpPlan;
use crate::ipc::IpcPlan;
use crate::mqtt::MqttPlan;
use crate::peers::ServerKind;
use crate::sio::SioPlan;

/// Whether a larger or a smaller figure is better.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Throughput.
    Higher,
    /// Latency, memory.
    Lower,
}

/// Which figure of a run a scenario reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Messages (deliveries, requests) per second.
    Rate,
    /// Median latency in µs.
    P50,
    /// 99th percentile latency in µs.
    P99,
}

/// What switchboard must serve for a scenario to run.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// MQTT over TCP.
    Mqtt,
    /// MQTT over WebSocket.
    MqttWs,
    /// Engine.IO.
    EngineIo,
    /// Socket.IO.
    SocketIo,
    /// The IPC bus.
    Ipc,
    /// The reverse proxy.
    Http,
    /// MQTT and Engine.IO (cross-protocol).
    MqttEngineIo,
    /// IPC and MQTT (cross-protocol).
    IpcMqtt,
    /// Nothing from switchboard (generator ceilings).
    Nothing,
}

/// The load of a scenario.
#[derive(Debug, Clone)]
pub enum Load {
    /// MQTT publish/subscribe (over WebSocket when `ws`).
    Mqtt {
        /// The shape.
        plan: MqttPlan,
        /// Over WebSocket.
        ws: bool,
        /// The figure.
        metric: Metric,
    },
    /// Idle MQTT connections: resident bytes per connection.
    MqttIdle,
    /// IPC bus at wire level.
    Ipc {
        /// The shape.
        plan: IpcPlan,
        /// The figure.
        metric: Metric,
    },
    /// IPC request/response with the stock Node clients.
    IpcStock {
        /// Outstanding requests.
        concurrency: usize,
        /// The figure.
        metric: Metric,
    },
    /// Engine.IO.
    Eio {
        /// The shape.
        plan: EioPlan,
        /// The figure.
        metric: Metric,
    },
    /// Idle Engine.IO WebSocket sessions: resident bytes per session.
    EioIdle,
    /// Socket.IO (control events in the main namespace).
    Sio {
        /// The shape.
        plan: SioPlan,
        /// The figure.
        metric: Metric,
    },
    /// HTTP through a proxy at the maximum rate.
    Http {
        /// The shape.
        plan: HttpPlan,
    },
    /// HTTP through a proxy at the maximum rate, driven by `wrk` (Debian) instead of the Rust
    /// generator: the cross-check the HTTP issue asks for.
    Wrk {
        /// Connections (one wrk thread).
        connections: usize,
    },
    /// Latency a proxy adds (p99 through it minus p99 direct), paced at half of switchboard's
    /// maximum rate from `http.rps`.
    HttpAdded {
        /// Connections.
        connections: usize,
    },
    /// MQTT across a cluster of replicas joined over a nats-server started for each run (the
    /// side's own server is not used).
    Cluster {
        /// Replicas.
        replicas: usize,
        /// Where publishers and subscribers sit.
        placement: crate::cluster::Placement,
        /// The shape (its rate is per route).
        plan: MqttPlan,
        /// The figure.
        metric: Metric,
    },
    /// MQTT → Engine.IO browsers (control mode).
    CrossMqttEio {
        /// Browser sessions.
        sockets: usize,
        /// Total msg/s.
        rate: f64,
        /// The figure.
        metric: Metric,
    },
    /// IPC → MQTT.
    CrossIpcMqtt,
    /// Not runnable yet: the server it needs does not exist.
    Pending(&'static str),
}

/// One scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Stable id (JSON key, chart file name).
    pub id: &'static str,
    /// What it measures.
    pub title: &'static str,
    /// The issue whose performance line it answers.
    pub issue: u32,
    /// Unit of the figure.
    pub unit: &'static str,
    /// Direction.
    pub better: Better,
    /// What switchboard must serve.
    pub need: Need,
    /// The servers, switchboard (or the relay) first.
    pub sides: Vec<ServerKind>,
    /// The load.
    pub load: Load,
    /// The issue's target, as text.
    pub target: &'static str,
    /// For generator ceilings: the scenario whose servers it must out-run.
    pub ceiling_of: Option<&'static str>,
}

/// Durations and sizes of one suite run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Profile {
    /// Name (`quick`, `full`, `smoke`).
    pub name: &'static str,
    /// Warm-up before each measurement (excluded).
    pub warmup: Duration,
    /// Measurement window.
    pub measure: Duration,
    /// Repetitions per server (alternating between servers).
    pub reps: usize,
    /// Idle connections for the memory scenarios.
    pub idle: usize,
    /// Before each run, wait up to this long for other processes on the machine to go quiet
    /// (below a quarter of a core), so that a neighbour's burst does not land in a window.
    pub quiet_wait: Duration,
    /// The most the whole run may spend waiting for quiet.
    pub quiet_budget: Duration,
}

impl Profile {
    /// `make bench-quick`: one short run each.
    pub const QUICK: Profile = Profile {
        name: "quick",
        warmup: Duration::from_millis(500),
        measure: Duration::from_millis(1000),
        reps: 1,
        idle: 2_000,
        quiet_wait: Duration::from_secs(3),
        quiet_budget: Duration::from_secs(20),
    };
    /// `make bench`: three runs each, alternating, 10 000 idle connections.
    pub const FULL: Profile = Profile {
        name: "full",
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(4),
        reps: 3,
        idle: 10_000,
        quiet_wait: Duration::from_secs(20),
        quiet_budget: Duration::from_secs(120),
    };
    /// The test in `make test`: about a second per scenario.
    pub const SMOKE: Profile = Profile {
        name: "smoke",
        warmup: Duration::from_millis(300),
        measure: Duration::from_millis(700),
        reps: 1,
        idle: 50,
        quiet_wait: Duration::ZERO,
        quiet_budget: Duration::ZERO,
    };
}

fn sb() -> ServerKind {
    ServerKind::Switchboard(Vec::new())
}

fn sb_with(kv: &[(&str, &str)]) -> ServerKind {
    ServerKind::Switchboard(
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// switchboard's Engine.IO as an echo server (raw mode, `echo/{sid}` both ways).
pub fn sb_eio_echo() -> ServerKind {
    sb_with(&[
        ("engineio.mode", "raw"),
        ("engineio.raw.publish", "echo/{sid}"),
        ("engineio.raw.subscribe", r#"["echo/{sid}"]"#),
    ])
}

/// switchboard's Engine.IO broadcasting every message to every session (raw mode).
pub fn sb_eio_broadcast() -> ServerKind {
    sb_with(&[
        ("engineio.mode", "raw"),
        ("engineio.raw.publish", "bench/all"),
        ("engineio.raw.subscribe", r#"["bench/all"]"#),
    ])
}

/// A scale-out scenario (issue 10): its own nats-server and replicas for each run.
#[allow(clippy::too_many_arguments)]
fn cluster(
    id: &'static str,
    title: &'static str,
    replicas: usize,
    placement: Placement,
    plan: MqttPlan,
    metric: Metric,
    target: &'static str,
) -> Scenario {
    let (unit, better) = match metric {
        Metric::Rate => ("deliveries/s", Better::Higher),
        Metric::P50 => ("µs p50", Better::Lower),
        Metric::P99 => ("µs p99", Better::Lower),
    };
    Scenario {
        id,
        title,
        issue: 10,
        unit,
        better,
        need: Need::Mqtt,
        sides: vec![sb()],
        load: Load::Cluster {
            replicas,
            placement,
            plan,
            metric,
        },
        target,
        ceiling_of: None,
    }
}

fn mqtt(qos: u8, publishers: usize, subscribers: usize, rate: Option<f64>) -> MqttPlan {
    MqttPlan {
        qos,
        publishers,
        subscribers,
        payload: 64,
        rate,
        window: 64,
    }
}

/// Every scenario, in the order of the table.
pub fn all() -> Vec<Scenario> {
    let mosq = || vec![sb(), ServerKind::Mosquitto];
    let eio = || vec![sb_eio_echo(), ServerKind::NodeEngineIo { broadcast: false }];
    let ipc = || vec![sb(), ServerKind::NodeIpcBroker];
    let m = |id, title, plan, metric, unit, better, target| Scenario {
        id,
        title,
        issue: 4,
        unit,
        better,
        need: Need::Mqtt,
        sides: mosq(),
        load: Load::Mqtt {
            plan,
            ws: false,
            metric,
        },
        target,
        ceiling_of: None,
    };
    let e = |id, title, plan, metric, unit, better, target| Scenario {
        id,
        title,
        issue: 5,
        unit,
        better,
        need: Need::EngineIo,
        sides: eio(),
        load: Load::Eio { plan, metric },
        target,
        ceiling_of: None,
    };
    let i = |id, title, plan, metric, unit, target| Scenario {
        id,
        title,
        issue: 6,
        unit,
        better: Better::Higher,
        need: Need::Ipc,
        sides: ipc(),
        load: Load::Ipc { plan, metric },
        target,
        ceiling_of: None,
    };
    vec![
        // ---- MQTT (issue 4) -------------------------------------------------------------
        m(
            "mqtt.qos0.1to1",
            "MQTT QoS 0, 1 publisher → 1 subscriber, 64 B, as fast as accepted",
            mqtt(0, 1, 1, None),
            Metric::Rate,
            "msg/s",
            Better::Higher,
            "≥ 1.2× mosquitto",
        ),
        m(
            "mqtt.qos0.fanout10",
            "MQTT QoS 0 fan-out, 1 publisher → 10 subscribers, 64 B",
            mqtt(0, 1, 10, None),
            Metric::Rate,
            "deliveries/s",
            Better::Higher,
            "≥ 2× mosquitto",
        ),
        m(
            "mqtt.qos0.fanin10",
            "MQTT QoS 0 fan-in, 10 publishers → 1 subscriber, 64 B",
            mqtt(0, 10, 1, None),
            Metric::Rate,
            "msg/s",
            Better::Higher,
            "(no target)",
        ),
        m(
            "mqtt.qos1.1to1",
            "MQTT QoS 1, 1 → 1, window of 64 unacknowledged, 64 B",
            mqtt(1, 1, 1, None),
            Metric::Rate,
            "msg/s",
            Better::Higher,
            "≥ 1.0× mosquitto",
        ),
        m(
            "mqtt.qos2.1to1",
            "MQTT QoS 2, 1 → 1, window of 64 incomplete, 64 B",
            mqtt(2, 1, 1, None),
            Metric::Rate,
            "msg/s",
            Better::Higher,
            "(no target)",
        ),
        m(
            "mqtt.latency.10k",
            "MQTT QoS 0 publish → deliver p99 at 10 000 msg/s paced, 1 → 1",
            mqtt(0, 1, 1, Some(10_000.0)),
            Metric::P99,
            "µs p99",
            Better::Lower,
            "p99 < 1 ms",
        ),
        Scenario {
            id: "mqtt.ws.qos0.1to1",
            title: "MQTT over WebSocket, QoS 0, 1 → 1, 64 B",
            issue: 4,
            unit: "msg/s",
            better: Better::Higher,
            need: Need::MqttWs,
            sides: mosq(),
            load: Load::Mqtt {
                plan: mqtt(0, 1, 1, None),
                ws: true,
                metric: Metric::Rate,
            },
            target: "(no target)",
            ceiling_of: None,
        },
        Scenario {
            id: "mqtt.idle",
            title: "MQTT resident memory per idle connection (keep-alive 600 s)",
            issue: 4,
            unit: "B/conn",
            better: Better::Lower,
            need: Need::Mqtt,
            sides: mosq(),
            load: Load::MqttIdle,
            target: "≤ 2 KB per connection at 10 000",
            ceiling_of: None,
        },
        Scenario {
            id: "gen.mqtt.qos0.1to1",
            title: "generator ceiling: MQTT QoS 0 1 → 1 through a zero-work byte relay",
            issue: 11,
            unit: "msg/s",
            better: Better::Higher,
            need: Need::Nothing,
            sides: vec![ServerKind::Relay("mqtt")],
            load: Load::Mqtt {
                plan: mqtt(0, 1, 1, None),
                ws: false,
                metric: Metric::Rate,
            },
            target: "above every server in mqtt.qos0.1to1",
            ceiling_of: Some("mqtt.qos0.1to1"),
        },
        Scenario {
            id: "gen.mqtt.qos0.fanout10",
            title: "generator ceiling: MQTT QoS 0 1 → 10 through a zero-work byte relay",
            issue: 11,
            unit: "deliveries/s",
            better: Better::Higher,
            need: Need::Nothing,
            sides: vec![ServerKind::Relay("mqtt")],
            load: Load::Mqtt {
                plan: mqtt(0, 1, 10, None),
                ws: false,
                metric: Metric::Rate,
            },
            target: "above every server in mqtt.qos0.fanout10",
            ceiling_of: Some("mqtt.qos0.fanout10"),
        },
        // ---- Engine.IO (issue 5) --------------------------------------------------------
        e(
            "eio.ws.echo",
            "Engine.IO WebSocket echo, 10 sessions × 32 in flight, 32 B text",
            EioPlan::WsEcho {
                sockets: 10,
                window: 32,
                payload: 32,
            },
            Metric::Rate,
            "msg/s",
            Better::Higher,
            "≥ 4× engine.io",
        ),
        Scenario {
            id: "eio.polling.handshake",
            title: "Engine.IO polling handshakes, 32 keep-alive connections × 8 pipelined (sessions are left to time out)",
            issue: 5,
            unit: "handshakes/s",
            better: Better::Higher,
            need: Need::EngineIo,
            // The Node server has no session limit; lift switchboard's (100 000) so that both
            // hold every session a run opens.
            sides: vec![
                sb_with(&[
                    ("engineio.mode", "raw"),
                    ("engineio.raw.publish", "echo/{sid}"),
                    ("engineio.raw.subscribe", r#"["echo/{sid}"]"#),
                    ("engineio.max_sessions", "1000000"),
                ]),
                ServerKind::NodeEngineIo { broadcast: false },
            ],
            load: Load::Eio {
                plan: EioPlan::PollingHandshake {
                    connections: 32,
                    depth: 8,
                },
                metric: Metric::Rate,
            },
            target: "≥ 3× engine.io",
            ceiling_of: None,
        },
        e(
            "eio.polling.echo",
            "Engine.IO polling round trips (POST message, GET echo), 32 sessions",
            EioPlan::PollingEcho {
                sessions: 32,
                payload: 32,
            },
            Metric::Rate,
            "round trips/s",
            Better::Higher,
            "(no target)",
        ),
        Scenario {
            id: "eio.ws.fanout100",
            title: "Engine.IO WebSocket broadcast, 1 sender (16 in flight) → 101 sessions",
            issue: 5,
            unit: "deliveries/s",
            better: Better::Higher,
            need: Need::EngineIo,
            sides: vec![
                sb_eio_broadcast(),
                ServerKind::NodeEngineIo { broadcast: true },
            ],
            load: Load::Eio {
                plan: EioPlan::WsFanout {
                    sockets: 100,
                    window: 16,
                    payload: 32,
                },
                metric: Metric::Rate,
            },
            target: "(no target)",
            ceiling_of: None,
        },
        e(
            "eio.latency.paced",
            "Engine.IO echo p99, 10 000 msg/s spread evenly over 1 000 sessions",
            EioPlan::WsPaced {
                sockets: 1000,
                rate: 10_000.0,
                burst: false,
                payload: 32,
            },
            Metric::P99,
            "µs p99",
            Better::Lower,
            "p99 < 500 µs",
        ),
        e(
            "eio.latency.burst",
            "Engine.IO echo p99, 10 000 msg/s as bursts from all 1 000 sessions at once",
            EioPlan::WsPaced {
                sockets: 1000,
                rate: 10_000.0,
                burst: true,
                payload: 32,
            },
            Metric::P99,
            "µs p99",
            Better::Lower,
            "≤ ½ of engine.io's p99",
        ),
        // A session as a browser holds it (control mode, the default: no subscription until
        // the page asks), beside the Node server's plain socket.
        Scenario {
            id: "eio.idle",
            title: "Engine.IO resident memory per idle WebSocket session (default control mode)",
            issue: 5,
            unit: "B/session",
            better: Better::Lower,
            need: Need::EngineIo,
            sides: vec![sb(), ServerKind::NodeEngineIo { broadcast: false }],
            load: Load::EioIdle,
            target: "≤ 4 KB per session at 10 000",
            ceiling_of: None,
        },
        // The echo setup: every session also holds a fabric subscriber and its `echo/{sid}`
        // subscription from the start.
        Scenario {
            id: "eio.idle.raw",
            title: "Engine.IO resident memory per idle WebSocket session (raw echo mode: one subscription each)",
            issue: 5,
            unit: "B/session",
            better: Better::Lower,
            need: Need::EngineIo,
            sides: eio(),
            load: Load::EioIdle,
            target: "(no target)",
            ceiling_of: None,
        },
        // ---- IPC bus (issue 6) ----------------------------------------------------------
        i(
            "ipc.send.1to1",
            "IPC send 1 → 1, 100-byte Buffer, wire-level generator",
            IpcPlan::Send {
                receivers: 1,
                payload: 100,
            },
            Metric::Rate,
            "msg/s",
            "≥ 5× Node broker",
        ),
        i(
            "ipc.send.1to10",
            "IPC send 1 → 10, 100-byte Buffer, wire-level generator",
            IpcPlan::Send {
                receivers: 10,
                payload: 100,
            },
            Metric::Rate,
            "deliveries/s",
            "≥ 5× Node broker",
        ),
        i(
            "ipc.request.c1",
            "IPC request/response, wire-level, concurrency 1",
            IpcPlan::Request {
                concurrency: 1,
                payload: 100,
            },
            Metric::Rate,
            "round trips/s",
            "(no target)",
        ),
        i(
            "ipc.request.c32",
            "IPC request/response, wire-level, concurrency 32",
            IpcPlan::Request {
                concurrency: 32,
                payload: 100,
            },
            Metric::Rate,
            "round trips/s",
            "(no target)",
        ),
        Scenario {
            id: "ipc.stock.request.c1.p50",
            title: "IPC request/response p50 with the stock electron-common-ipc 16 clients, concurrency 1",
            issue: 6,
            unit: "µs p50",
            better: Better::Lower,
            need: Need::Ipc,
            sides: ipc(),
            load: Load::IpcStock {
                concurrency: 1,
                metric: Metric::P50,
            },
            target: "p50 < 1 ms (Node broker: 88 ms)",
            ceiling_of: None,
        },
        Scenario {
            id: "ipc.stock.request.c32",
            title: "IPC round trips/s with the stock electron-common-ipc 16 clients, concurrency 32",
            issue: 6,
            unit: "round trips/s",
            better: Better::Higher,
            need: Need::Ipc,
            sides: ipc(),
            load: Load::IpcStock {
                concurrency: 32,
                metric: Metric::Rate,
            },
            target: "≥ 10× Node broker",
            ceiling_of: None,
        },
        Scenario {
            id: "gen.ipc.send.1to1",
            title: "generator ceiling: IPC send 1 → 1 through a zero-work byte relay",
            issue: 11,
            unit: "msg/s",
            better: Better::Higher,
            need: Need::Nothing,
            sides: vec![ServerKind::Relay("ipc")],
            load: Load::Ipc {
                plan: IpcPlan::Send {
                    receivers: 1,
                    payload: 100,
                },
                metric: Metric::Rate,
            },
            target: "above every server in ipc.send.1to1",
            ceiling_of: Some("ipc.send.1to1"),
        },
        // ---- HTTP reverse proxy (issue 7) -----------------------------------------------
        Scenario {
            id: "http.rps",
            title: "HTTP GET through the reverse proxy to a static 13-byte upstream, 64 keep-alive connections",
            issue: 7,
            unit: "req/s",
            better: Better::Higher,
            need: Need::Http,
            sides: vec![
                sb(),
                ServerKind::NginxProxy,
                ServerKind::NodeHttpProxy { keepalive: true },
                ServerKind::NodeHttpProxy { keepalive: false },
            ],
            load: Load::Http {
                plan: HttpPlan::Closed { connections: 64 },
            },
            target: "≥ 1.1× nginx, ≥ 4× node-http-proxy with keep-alive",
            ceiling_of: None,
        },
        Scenario {
            id: "http.rps.wrk",
            title: "The same through the proxy, driven by wrk (1 thread, 64 connections) as a cross-check",
            issue: 7,
            unit: "req/s",
            better: Better::Higher,
            need: Need::Http,
            sides: vec![
                sb(),
                ServerKind::NginxProxy,
                ServerKind::NodeHttpProxy { keepalive: true },
            ],
            load: Load::Wrk { connections: 64 },
            target: "≥ 1.1× nginx, ≥ 4× node-http-proxy with keep-alive",
            ceiling_of: None,
        },
        Scenario {
            id: "http.added_p99",
            title: "p99 latency the proxy adds (through it minus direct), at half of switchboard's maximum rate",
            issue: 7,
            unit: "µs added p99",
            better: Better::Lower,
            need: Need::Http,
            sides: vec![sb(), ServerKind::NginxProxy],
            load: Load::HttpAdded { connections: 32 },
            target: "< 1 ms",
            ceiling_of: None,
        },
        Scenario {
            id: "gen.http.direct",
            title: "generator ceiling: HTTP GET straight to the upstream (no proxy), 64 connections",
            issue: 11,
            unit: "req/s",
            better: Better::Higher,
            need: Need::Nothing,
            sides: vec![],
            load: Load::Http {
                plan: HttpPlan::Closed { connections: 64 },
            },
            target: "above every proxy in http.rps",
            ceiling_of: Some("http.rps"),
        },
        // ---- Cross-protocol (issue 8) ---------------------------------------------------
        Scenario {
            id: "cross.mqtt_to_eio1000",
            title: "MQTT publish → 1 000 Engine.IO WebSocket browsers (control mode), 10 000 msg/s total, p99",
            issue: 8,
            unit: "µs p99",
            better: Better::Lower,
            need: Need::MqttEngineIo,
            sides: vec![sb()],
            load: Load::CrossMqttEio {
                sockets: 1000,
                rate: 10_000.0,
                metric: Metric::P99,
            },
            target: "p99 < 5 ms, no drops",
            ceiling_of: None,
        },
        Scenario {
            id: "cross.ipc_to_mqtt",
            title: "IPC send → MQTT subscriber, 100-byte Buffer, as fast as accepted",
            issue: 8,
            unit: "msg/s",
            better: Better::Higher,
            need: Need::IpcMqtt,
            sides: vec![sb()],
            load: Load::CrossIpcMqtt,
            target: "≥ 100 000 msg/s sustained",
            ceiling_of: None,
        },
        // ---- Not built yet --------------------------------------------------------------
        // ---- Socket.IO (issue 14) --------------------------------------------------------
        Scenario {
            id: "sio.event",
            title: "Socket.IO events: publish → message through pub/sub, 10 sockets × 32 in flight, 32 B string",
            issue: 14,
            unit: "events/s",
            better: Better::Higher,
            need: Need::SocketIo,
            sides: vec![sb(), ServerKind::NodeSocketIo],
            load: Load::Sio {
                plan: SioPlan::Events {
                    sockets: 10,
                    window: 32,
                    payload: 32,
                },
                metric: Metric::Rate,
            },
            target: "≥ 4× socket.io",
            ceiling_of: None,
        },
        Scenario {
            id: "sio.broadcast1000",
            title: "Socket.IO broadcast to 1 000 sockets every 100 ms (10 000 deliveries/s), p99",
            issue: 14,
            unit: "µs p99",
            better: Better::Lower,
            need: Need::SocketIo,
            sides: vec![sb(), ServerKind::NodeSocketIo],
            load: Load::Sio {
                plan: SioPlan::Broadcast {
                    sockets: 1000,
                    rate: 10.0,
                    payload: 32,
                },
                metric: Metric::P99,
            },
            target: "p99 < 5 ms",
            ceiling_of: None,
        },
        Scenario {
            id: "sio.broadcast1000.heavy",
            title: "Socket.IO broadcast to 1 000 sockets, 100 publishes/s (100 000 deliveries/s), p99",
            issue: 14,
            unit: "µs p99",
            better: Better::Lower,
            need: Need::SocketIo,
            sides: vec![sb(), ServerKind::NodeSocketIo],
            load: Load::Sio {
                plan: SioPlan::Broadcast {
                    sockets: 1000,
                    rate: 100.0,
                    payload: 32,
                },
                metric: Metric::P99,
            },
            target: "(no target)",
            ceiling_of: None,
        },
        cluster(
            "cluster.same_node",
            "Clustered gateway, publisher and subscriber on one replica (MQTT QoS 0, 64 B)",
            2,
            Placement::SameNode,
            mqtt(0, 1, 1, None),
            Metric::Rate,
            "report (the single-node baseline)",
        ),
        cluster(
            "cluster.cross_node",
            "Cross-node: publisher on replica 1, subscriber on replica 2, over NATS",
            2,
            Placement::CrossNode,
            mqtt(0, 1, 1, None),
            Metric::Rate,
            "report vs cluster.same_node",
        ),
        cluster(
            "cluster.same_node.p50",
            "Same replica, paced 2 000 msg/s, p50",
            2,
            Placement::SameNode,
            mqtt(0, 1, 1, Some(2000.0)),
            Metric::P50,
            "report",
        ),
        cluster(
            "cluster.cross_node.p50",
            "Cross-node, paced 2 000 msg/s, p50 (added latency: minus cluster.same_node.p50)",
            2,
            Placement::CrossNode,
            mqtt(0, 1, 1, Some(2000.0)),
            Metric::P50,
            "report vs same node",
        ),
        cluster(
            "cluster.same_node.p99",
            "Same replica, paced 2 000 msg/s, p99",
            2,
            Placement::SameNode,
            mqtt(0, 1, 1, Some(2000.0)),
            Metric::P99,
            "report",
        ),
        cluster(
            "cluster.cross_node.p99",
            "Cross-node, paced 2 000 msg/s, p99 (added latency: minus cluster.same_node.p99)",
            2,
            Placement::CrossNode,
            mqtt(0, 1, 1, Some(2000.0)),
            Metric::P99,
            "report vs same node",
        ),
        cluster(
            "cluster.scale1",
            "1 replica: 1 route publisher → subscriber, total deliveries/s",
            1,
            Placement::Spread,
            mqtt(0, 1, 1, None),
            Metric::Rate,
            "report",
        ),
        cluster(
            "cluster.scale2",
            "2 replicas: 2 routes, each replica publishing to the next one's subscriber",
            2,
            Placement::Spread,
            mqtt(0, 1, 1, None),
            Metric::Rate,
            "report vs cluster.scale1",
        ),
        cluster(
            "cluster.scale3",
            "3 replicas: 3 routes, each replica publishing to the next one's subscriber",
            3,
            Placement::Spread,
            mqtt(0, 1, 1, None),
            Metric::Rate,
            "report, project to 10",
        ),
    ]
}
