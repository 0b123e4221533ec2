//! The MQTT generator: pipelined publishers (QoS 0 blast or paced, QoS 1/2 with a window of
//! unacknowledged messages), subscribers that parse only what they must, and idle
//! connections. Over TCP or over WebSocket (`mqtt` subprotocol, binary frames), MQTT 3.1.1.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use switchboard_mqtt_proto::{
    Connect, MqttString, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
    Subscription, TopicFilter, TopicName,
};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinSet;

use crate::clock::{self, now_ns};
use crate::error::{BenchError, Context, Result};
use crate::net::{self, WsReader, opcode};
use crate::stats::{Recorder, RunStats, Timing};

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

/// Where the broker listens.
#[derive(Debug, Clone)]
pub struct MqttTarget {
    /// TCP address (the MQTT listener, or the HTTP front for WebSocket).
    pub addr: SocketAddr,
    /// `Some(path)`: MQTT over WebSocket at this path of `addr`.
    pub ws_path: Option<String>,
}

/// One MQTT load shape.
#[derive(Debug, Clone)]
pub struct MqttPlan {
    /// QoS of publishes and subscriptions.
    pub qos: u8,
    /// Publishing connections.
    pub publishers: usize,
    /// Subscribing connections (all on the same topic).
    pub subscribers: usize,
    /// Payload size in bytes.
    pub payload: usize,
    /// Total publish rate in msg/s; `None` publishes as fast as the broker takes them.
    pub rate: Option<f64>,
    /// Unacknowledged publishes per publisher (QoS 1 and 2).
    pub window: usize,
}

fn proto_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(e.to_string())
}

fn mqtt_str(s: &str) -> Result<MqttString> {
    MqttString::from_bytes(Bytes::copy_from_slice(s.as_bytes())).map_err(proto_err)
}

/// One MQTT connection (TCP or WebSocket) with its receive buffer of MQTT bytes.
#[derive(Debug)]
pub struct Conn {
    r: OwnedReadHalf,
    w: OwnedWriteHalf,
    /// MQTT bytes received and not yet consumed.
    data: BytesMut,
    ws: Option<(WsReader, BytesMut)>,
    frame: BytesMut,
}

impl Conn {
    /// Connects, sends CONNECT and waits for CONNACK.
    pub async fn open(t: &MqttTarget, client_id: &str, keep_alive: u16) -> Result<Conn> {
        let stream = net::connect(t.addr)
            .await
            .context(|| format!("MQTT connect to {}", t.addr))?;
        let mut c = match &t.ws_path {
            None => {
                let (r, w) = stream.into_split();
                Conn {
                    r,
                    w,
                    data: BytesMut::with_capacity(net::READ_CHUNK),
                    ws: None,
                    frame: BytesMut::new(),
                }
            }
            Some(path) => {
                let (r, w, rest) = net::ws_handshake(stream, t.addr, path, Some("mqtt"))
                    .await
                    .context(|| format!("MQTT WebSocket upgrade at {}{path}", t.addr))?;
                Conn {
                    r,
                    w,
                    data: BytesMut::with_capacity(net::READ_CHUNK),
                    ws: Some((WsReader::default(), rest)),
                    frame: BytesMut::with_capacity(net::READ_CHUNK),
                }
            }
        };
        let connect = Connect::new(V, mqtt_str(client_id)?, keep_alive);
        let mut buf = BytesMut::new();
        connect.encode(&mut buf).map_err(proto_err)?;
        c.send(&buf).await?;
        let (b0, _) = c.next_packet_owned().await?;
        if b0 >> 4 != 2 {
            return Err(BenchError::Protocol(format!(
                "expected CONNACK, got packet type {}",
                b0 >> 4
            )));
        }
        Ok(c)
    }

    /// Sends MQTT bytes (wrapped in one binary frame over WebSocket).
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let r = if self.ws.is_some() {
            self.frame.clear();
            net::ws_frame(&mut self.frame, opcode::BINARY, bytes);
            self.w.write_all(&self.frame).await
        } else {
            self.w.write_all(bytes).await
        };
        r.context(|| "MQTT write".to_owned())
    }

    /// Reads more MQTT bytes; `false` at end of stream.
    async fn read_more(&mut self) -> Result<bool> {
        match &mut self.ws {
            None => Ok(net::fill(&mut self.r, &mut self.data)
                .await
                .context(|| "MQTT read".to_owned())?
                > 0),
            Some((reader, raw)) => loop {
                let mut got = false;
                let mut pong = None;
                while let Some(m) = reader.next(raw) {
                    match m.op {
                        opcode::CLOSE => return Ok(false),
                        opcode::PING => pong = Some(m.data),
                        opcode::PONG => {}
                        _ => {
                            self.data.extend_from_slice(&m.data);
                            got = true;
                        }
                    }
                }
                if let Some(p) = pong {
                    self.frame.clear();
                    net::ws_frame(&mut self.frame, opcode::PONG, &p);
                    self.w
                        .write_all(&self.frame)
                        .await
                        .context(|| "WebSocket pong".to_owned())?;
                }
                if got {
                    return Ok(true);
                }
                if net::fill(&mut self.r, raw)
                    .await
                    .context(|| "MQTT WebSocket read".to_owned())?
                    == 0
                {
                    return Ok(false);
                }
            },
        }
    }

    /// Waits for one whole packet and returns its first byte and body.
    async fn next_packet_owned(&mut self) -> Result<(u8, BytesMut)> {
        loop {
            if let Some((b0, hl, rl)) = peek(&self.data) {
                self.data.advance(hl);
                return Ok((b0, self.data.split_to(rl)));
            }
            let fut = self.read_more();
            match tokio::time::timeout(Duration::from_secs(10), fut).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    return Err(BenchError::Protocol(
                        "broker closed the connection".to_owned(),
                    ));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(BenchError::Protocol("broker did not answer".to_owned())),
            }
        }
    }

    /// Subscribes and waits for SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: u8) -> Result<()> {
        let name = filter.to_owned();
        let filter = TopicFilter::new(mqtt_str(filter)?).map_err(proto_err)?;
        let qos = QoS::from_u8(qos).ok_or_else(|| proto_err("bad QoS"))?;
        let pid = PacketId::new(1).ok_or_else(|| proto_err("packet id"))?;
        let sub = Subscribe::new(pid, vec![Subscription::new(filter, qos)]);
        let mut buf = BytesMut::new();
        Packet::Subscribe(sub)
            .encode(V, &mut buf)
            .map_err(proto_err)?;
        self.send(&buf).await?;
        loop {
            let (b0, body) = self.next_packet_owned().await?;
            if b0 >> 4 == 9 {
                if body.get(2).is_some_and(|&rc| rc >= 0x80) {
                    return Err(BenchError::Protocol(format!(
                        "SUBSCRIBE to {name:?} refused"
                    )));
                }
                return Ok(());
            }
        }
    }
}

/// The first byte, header length and remaining length of the packet at the start of `b`,
/// when it is complete.
fn peek(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let byte = *b.get(i)?;
        len |= usize::from(byte & 0x7f) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return None;
        }
    }
    if b.len() < i + len {
        return None;
    }
    Some((b[0], i, len))
}

/// A PUBLISH template and where its packet id and stamp go.
pub(crate) struct Template {
    pub(crate) bytes: Vec<u8>,
    pid_at: Option<usize>,
    pub(crate) stamp_at: usize,
}

pub(crate) fn template(topic: &str, qos: u8, payload: usize) -> Result<Template> {
    let body = clock::payload_template(payload);
    let topic = TopicName::new(mqtt_str(topic)?).map_err(proto_err)?;
    let mut p = Publish::new(topic, Bytes::from(body.clone()));
    let pid = PacketId::new(1).ok_or_else(|| proto_err("packet id"))?;
    p.qos_pid = match qos {
        0 => QosPid::AtMostOnce,
        1 => QosPid::AtLeastOnce(pid),
        _ => QosPid::ExactlyOnce(pid),
    };
    let mut buf = BytesMut::new();
    Packet::Publish(p).encode(V, &mut buf).map_err(proto_err)?;
    let stamp_at = buf.len() - body.len();
    Ok(Template {
        bytes: buf.to_vec(),
        pid_at: (qos > 0).then(|| stamp_at - 2),
        stamp_at,
    })
}

const BATCH: usize = 64;
const DRAIN: Duration = Duration::from_millis(300);

async fn publisher(
    mut c: Conn,
    topic: String,
    plan: MqttPlan,
    rate: Option<f64>,
    rec: Recorder,
) -> Result<()> {
    let t = template(&topic, plan.qos, plan.payload)?;
    let mut batch = BytesMut::with_capacity(t.bytes.len() * BATCH.max(plan.window));
    let window = rec.window;
    let drain_end = clock::instant_at(window.end) + DRAIN;
    let started = now_ns();
    let mut sent_total: u64 = 0;
    let mut pid: u16 = 0;
    let mut inflight: usize = 0;
    let mut acks = BytesMut::new();
    loop {
        let now = now_ns();
        let over = window.is_over(now);
        if over && (plan.qos == 0 || inflight == 0) {
            break;
        }
        // How many to send now.
        let n = if over {
            0
        } else if plan.qos > 0 {
            plan.window.saturating_sub(inflight)
        } else if let Some(r) = rate {
            let due = ((now - started) as f64 / 1e9 * r) as u64;
            (due.saturating_sub(sent_total) as usize).min(1024)
        } else {
            BATCH
        };
        if n > 0 {
            batch.clear();
            for _ in 0..n {
                let at = batch.len();
                batch.extend_from_slice(&t.bytes);
                clock::write_stamp(&mut batch[at + t.stamp_at..], now);
                if let Some(p) = t.pid_at {
                    pid = if pid == u16::MAX { 1 } else { pid + 1 };
                    batch[at + p..at + p + 2].copy_from_slice(&pid.to_be_bytes());
                }
            }
            c.send(&batch).await?;
            sent_total += n as u64;
            inflight += n;
            rec.sent(now, n as u64);
        }
        if plan.qos == 0 {
            inflight = 0;
            if rate.is_some() && n == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else if rate.is_none() {
                // Subscribers share this core: keep a bounded number of messages on their way.
                rec.flow(plan.subscribers as u64).await;
                tokio::task::yield_now().await;
            }
            continue;
        }
        // QoS 1/2: read acknowledgements.
        match tokio::time::timeout_at(drain_end.into(), c.read_more()).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(proto_err("broker closed the publisher")),
            Ok(Err(e)) => return Err(e),
            Err(_) => break,
        }
        acks.clear();
        while let Some((b0, hl, rl)) = peek(&c.data) {
            match b0 >> 4 {
                4 | 7 => inflight = inflight.saturating_sub(1),
                5 if rl >= 2 => {
                    acks.extend_from_slice(&[0x62, 0x02, c.data[hl], c.data[hl + 1]]);
                }
                _ => {}
            }
            c.data.advance(hl + rl);
        }
        if !acks.is_empty() {
            let a = acks.split().freeze();
            c.send(&a).await?;
        }
    }
    Ok(())
}

pub(crate) async fn subscriber(mut c: Conn, rec: Recorder) -> Result<()> {
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    let mut acks = BytesMut::new();
    loop {
        match tokio::time::timeout_at(drain_end.into(), c.read_more()).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(proto_err("broker closed the subscriber")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let now = now_ns();
        while let Some((b0, hl, rl)) = peek(&c.data) {
            let body = &c.data[hl..hl + rl];
            match b0 >> 4 {
                3 if body.len() >= 2 => {
                    let tl = usize::from(u16::from_be_bytes([body[0], body[1]]));
                    let qos = (b0 >> 1) & 3;
                    let mut at = 2 + tl;
                    if qos > 0 && body.len() >= at + 2 {
                        let (a, b) = (body[at], body[at + 1]);
                        let ack = if qos == 1 { 0x40 } else { 0x50 };
                        acks.extend_from_slice(&[ack, 0x02, a, b]);
                        at += 2;
                    }
                    let stamp = body
                        .get(at..)
                        .and_then(|p| clock::read_stamp(p).or_else(|| clock::find_stamp(p)));
                    rec.received(now, stamp);
                }
                6 if body.len() >= 2 => acks.extend_from_slice(&[0x70, 0x02, body[0], body[1]]),
                _ => {}
            }
            c.data.advance(hl + rl);
        }
        rec.progress();
        if !acks.is_empty() {
            let a = acks.split().freeze();
            c.send(&a).await?;
        }
    }
}

/// Runs one publish/subscribe load and returns what the subscribers received inside the
/// window (`rate` = deliveries per second over all subscribers).
pub async fn run(t: &MqttTarget, plan: &MqttPlan, timing: Timing) -> Result<RunStats> {
    let topic = "bench/t";
    let tag = std::process::id();
    let mut subs = Vec::new();
    for i in 0..plan.subscribers {
        let mut c = Conn::open(t, &format!("bs-{tag}-{i}"), 600).await?;
        c.subscribe(topic, plan.qos).await?;
        subs.push(c);
    }
    let mut pubs = Vec::new();
    for i in 0..plan.publishers {
        pubs.push(Conn::open(t, &format!("bp-{tag}-{i}"), 600).await?);
    }
    let rec = Recorder::new(timing.start());
    let mut set = JoinSet::new();
    for c in subs {
        set.spawn_local(subscriber(c, rec.clone()));
    }
    let per_pub_rate = plan.rate.map(|r| r / plan.publishers.max(1) as f64);
    for c in pubs {
        set.spawn_local(publisher(
            c,
            topic.to_owned(),
            plan.clone(),
            per_pub_rate,
            rec.clone(),
        ));
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(proto_err(format!("generator task failed: {e}"))),
        }
    }
    Ok(rec.summary())
}

/// One route of a split load: publishers on `publish_to`, subscribers on `subscribe_at`, one topic.
#[derive(Debug, Clone)]
pub struct Route {
    /// The broker the publishers connect to.
    pub publish_to: MqttTarget,
    /// The broker the subscribers connect to (another cluster node for cross-node traffic).
    pub subscribe_at: MqttTarget,
    /// The topic of this route.
    pub topic: String,
}

/// Runs `plan` on every route at once (the plan's rate is per route) and returns what all
/// subscribers received inside the window. `settle` runs after the subscriptions are made and
/// before anything is published (a cluster waits for them to reach the other nodes).
pub async fn run_routes(
    routes: &[Route],
    plan: &MqttPlan,
    timing: Timing,
    settle: impl std::future::Future<Output = Result<()>>,
) -> Result<RunStats> {
    let tag = std::process::id();
    let mut subs = Vec::new();
    let mut pubs = Vec::new();
    for (r, route) in routes.iter().enumerate() {
        for i in 0..plan.subscribers {
            let mut c = Conn::open(&route.subscribe_at, &format!("bs-{tag}-{r}-{i}"), 600).await?;
            c.subscribe(&route.topic, plan.qos).await?;
            subs.push(c);
        }
        for i in 0..plan.publishers {
            let c = Conn::open(&route.publish_to, &format!("bp-{tag}-{r}-{i}"), 600).await?;
            pubs.push((c, route.topic.clone()));
        }
    }
    settle.await?;
    let rec = Recorder::new(timing.start());
    let mut set = JoinSet::new();
    for c in subs {
        set.spawn_local(subscriber(c, rec.clone()));
    }
    let per_pub_rate = plan.rate.map(|r| r / plan.publishers.max(1) as f64);
    for (c, topic) in pubs {
        set.spawn_local(publisher(c, topic, plan.clone(), per_pub_rate, rec.clone()));
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(proto_err(format!("generator task failed: {e}"))),
        }
    }
    Ok(rec.summary())
}

/// Opens `n` idle connections (keep-alive 600 s) and keeps them open until the returned
/// value is dropped.
pub async fn open_idle(t: &MqttTarget, n: usize) -> Result<Vec<Conn>> {
    let tag = std::process::id();
    let mut out = Vec::with_capacity(n);
    let mut set = JoinSet::new();
    let mut next = 0;
    while out.len() < n {
        while set.len() < 128 && next < n {
            let t = t.clone();
            let id = format!("idle-{tag}-{next}");
            set.spawn_local(async move { Conn::open(&t, &id, 600).await });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok(Ok(c))) => out.push(c),
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(e)) => return Err(proto_err(format!("connect task failed: {e}"))),
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_place_pid_and_stamp() {
        let t = template("a/b", 1, 64).unwrap();
        assert_eq!(&t.bytes[t.stamp_at..t.stamp_at + 2], b"TS");
        assert_eq!(t.pid_at, Some(t.stamp_at - 2));
        assert_eq!(&t.bytes[t.stamp_at - 2..t.stamp_at], &[0, 1]);
        let (b0, hl, rl) = peek(&t.bytes).unwrap();
        assert_eq!((b0 >> 4, hl + rl), (3, t.bytes.len()));
    }
}
