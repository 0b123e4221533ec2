//! `switchboard-soak`: a long mixed load over every protocol against a real gateway process, with
//! clients connecting and disconnecting all the time; reports the gateway's memory over time (it
//! must stay flat), errors (there must be none) and message loss (none for MQTT QoS 1/2 and the
//! IPC bus). `make soak` runs it for 10 minutes; `SOAK_SECONDS=60 make soak` for a short run.
//!
//! Load, all at once:
//! - MQTT QoS 1 and QoS 2 streams: a publisher (reconnecting every ~10 s) publishes numbered
//!   messages; a persistent-session subscriber disconnects every few seconds and resumes, so
//!   messages queue for it while it is away (and go through the store). Every number must arrive;
//!   QoS 2 exactly once.
//! - IPC bus: pairs of fresh connections (a listener and a sender) exchange 200 messages, then
//!   hang up; every message must arrive.
//! - Engine.IO: WebSocket sessions subscribe, publish 50 messages to themselves and close.
//! - HTTP: the front and the admin port (`/healthz`, `/metrics`).
//!
//! Exit status 0 when memory stayed flat, no error happened and nothing was lost; 1 otherwise.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::Parser;
use switchboard_bench::net::{self, WsReader, opcode};
use switchboard_ipc_proto::{
    Command as IpcCommand, CommandKind, Packet as IpcPacket, PacketCodec, Peer, Value,
};
use switchboard_mqtt_proto::{
    Connect, Decoder, Disconnect, MqttString, Packet, PacketId, ProtocolVersion, PubAck, PubComp,
    PubRec, PubRel, Publish, QoS, QosPid, Subscribe, Subscription, TopicFilter, TopicName,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const V5: ProtocolVersion = ProtocolVersion::V5;

#[derive(Debug, Parser)]
#[command(about = "Soak test of a switchboard gateway: mixed load, memory, errors, loss")]
struct Args {
    /// How long the load runs, in seconds.
    #[arg(long, env = "SOAK_SECONDS", default_value_t = 600)]
    seconds: u64,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/switchboard")]
    gateway: PathBuf,
    /// Seconds between memory samples and progress lines.
    #[arg(long, default_value_t = 10)]
    sample_seconds: u64,
}

#[derive(Debug, Default)]
struct Counters {
    q1_sent: AtomicU64,
    q1_received: AtomicU64,
    q1_duplicates: AtomicU64,
    q2_sent: AtomicU64,
    q2_received: AtomicU64,
    q2_duplicates: AtomicU64,
    ipc_sent: AtomicU64,
    ipc_received: AtomicU64,
    ipc_lost: AtomicU64,
    eio_sent: AtomicU64,
    eio_received: AtomicU64,
    http_ok: AtomicU64,
    connections: AtomicU64,
    errors: AtomicU64,
    first_errors: parking_lot_free::Log,
}

/// The first errors, for the report (a tokio mutex: the bench crate has no parking_lot).
mod parking_lot_free {
    #[derive(Debug, Default)]
    pub struct Log(tokio::sync::Mutex<Vec<String>>);
    impl Log {
        pub fn push(&self, s: String) {
            if let Ok(mut v) = self.0.try_lock()
                && v.len() < 20
            {
                v.push(s);
            }
        }
        pub fn all(&self) -> Vec<String> {
            self.0.try_lock().map(|v| v.clone()).unwrap_or_default()
        }
    }
}

impl Counters {
    fn error(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("soak: error: {what}");
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_errors.push(what);
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

struct Ports {
    http: SocketAddr,
    admin: SocketAddr,
    mqtt: SocketAddr,
    ipc: SocketAddr,
}

type Res<T> = Result<T, String>;

fn e(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |err| format!("{what}: {err}")
}

// --- MQTT -------------------------------------------------------------------------------------

struct Mqtt {
    r: OwnedReadHalf,
    w: OwnedWriteHalf,
    buf: BytesMut,
    decoder: Decoder,
}

fn ms(s: &str) -> Res<MqttString> {
    MqttString::try_from(s).map_err(|e| format!("string {s}: {e}"))
}

impl Mqtt {
    async fn connect(addr: SocketAddr, id: &str, persistent: bool) -> Res<(Mqtt, bool)> {
        let stream = net::connect(addr).await.map_err(e("mqtt connect"))?;
        let (r, w) = stream.into_split();
        let mut c = Mqtt {
            r,
            w,
            buf: BytesMut::new(),
            decoder: Decoder::with_version(V5, 1 << 24),
        };
        let mut connect = Connect::new(V5, ms(id)?, 0);
        connect.clean_start = !persistent;
        if persistent {
            connect.properties.session_expiry_interval = Some(3600);
        }
        c.send(connect).await?;
        match c.recv(Duration::from_secs(10)).await? {
            Some(Packet::ConnAck(a)) if !a.reason_code.is_error() => Ok((c, a.session_present)),
            other => Err(format!("{id}: expected CONNACK, got {other:?}")),
        }
    }

    async fn send(&mut self, p: impl Into<Packet>) -> Res<()> {
        let mut out = BytesMut::new();
        p.into()
            .encode(V5, &mut out)
            .map_err(|e| format!("encode: {e}"))?;
        self.w.write_all(&out).await.map_err(e("mqtt write"))
    }

    /// The next packet; `Ok(None)` when nothing arrived within `wait`.
    async fn recv(&mut self, wait: Duration) -> Res<Option<Packet>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(p) = self
                .decoder
                .decode(&mut self.buf)
                .map_err(|e| format!("mqtt decode: {e}"))?
            {
                return Ok(Some(p));
            }
            self.buf.reserve(16 * 1024);
            match tokio::time::timeout_at(deadline, self.r.read_buf(&mut self.buf)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) => return Err("mqtt: the broker closed the connection".into()),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return Err(format!("mqtt read: {err}")),
            }
        }
    }

    async fn subscribe(&mut self, filter: &str, qos: QoS) -> Res<()> {
        let f = TopicFilter::try_from(filter).map_err(|e| format!("filter: {e}"))?;
        let pid = PacketId::new(1).ok_or("pid")?;
        self.send(Subscribe::new(pid, vec![Subscription::new(f, qos)]))
            .await?;
        match self.recv(Duration::from_secs(10)).await? {
            Some(Packet::SubAck(_)) => Ok(()),
            other => Err(format!("expected SUBACK, got {other:?}")),
        }
    }

    async fn disconnect(mut self) {
        let _ = self.send(Disconnect::default()).await;
        let _ = self.w.shutdown().await;
    }
}

/// Publishes numbered messages with `qos` at about `rate`/s until `stop`, reconnecting every
/// ~10 s. Counts a message as sent once its acknowledgement flow completed.
async fn mqtt_publisher(
    addr: SocketAddr,
    qos: QoS,
    rate: u64,
    stop: Arc<AtomicBool>,
    c: Arc<Counters>,
) {
    let sent = if qos == QoS::ExactlyOnce {
        &c.q2_sent
    } else {
        &c.q1_sent
    };
    let topic = format!("soak/q{}/n", qos as u8);
    let Ok(name) = TopicName::try_from(topic.as_str()) else {
        c.error(format!("bad topic {topic}"));
        return;
    };
    let mut seq = 0u64;
    let pause = Duration::from_micros(1_000_000 / rate.max(1));
    while !stop.load(Ordering::Relaxed) {
        let id = format!("soak-pub-q{}", qos as u8);
        let (mut m, _) = match Mqtt::connect(addr, &id, false).await {
            Ok(x) => x,
            Err(err) => {
                c.error(err);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        c.connections.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            seq += 1;
            let Some(pid) = PacketId::new(u16::try_from(seq % 60_000 + 1).unwrap_or(1)) else {
                continue;
            };
            let mut p = Publish::new(name.clone(), Bytes::from(seq.to_string()));
            p.qos_pid = QosPid::from_parts(qos, Some(pid)).unwrap_or_default();
            let flow = async {
                m.send(p).await?;
                match m.recv(Duration::from_secs(10)).await? {
                    Some(Packet::PubAck(a))
                        if qos == QoS::AtLeastOnce && !a.reason_code.is_error() =>
                    {
                        Ok(())
                    }
                    Some(Packet::PubRec(r))
                        if qos == QoS::ExactlyOnce && !r.reason_code.is_error() =>
                    {
                        m.send(PubRel::new(pid)).await?;
                        match m.recv(Duration::from_secs(10)).await? {
                            Some(Packet::PubComp(_)) => Ok(()),
                            other => Err(format!("expected PUBCOMP, got {other:?}")),
                        }
                    }
                    other => Err(format!(
                        "q{}: unexpected answer to PUBLISH: {other:?}",
                        qos as u8
                    )),
                }
            };
            match flow.await {
                Ok(()) => {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    // Not acknowledged: the number is skipped (nothing is expected of it).
                    c.error(err);
                    break;
                }
            }
            tokio::time::sleep(pause).await;
        }
        m.disconnect().await;
    }
}

/// A persistent-session subscriber that goes away every few seconds. Returns the numbers seen.
async fn mqtt_subscriber(
    addr: SocketAddr,
    qos: QoS,
    stop: Arc<AtomicBool>,
    drained: Arc<AtomicBool>,
    c: Arc<Counters>,
) -> HashSet<u64> {
    let (received, dups) = if qos == QoS::ExactlyOnce {
        (&c.q2_received, &c.q2_duplicates)
    } else {
        (&c.q1_received, &c.q1_duplicates)
    };
    let id = format!("soak-sub-q{}", qos as u8);
    let mut seen = HashSet::new();
    let mut awaiting_rel: HashSet<u16> = HashSet::new();
    let mut round = 0u64;
    loop {
        let (mut m, present) = match Mqtt::connect(addr, &id, true).await {
            Ok(x) => x,
            Err(err) => {
                c.error(err);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        c.connections.fetch_add(1, Ordering::Relaxed);
        if round == 0 || !present {
            if round > 0 {
                c.error(format!("{id}: the persistent session was not present"));
            }
            if let Err(err) = m.subscribe(&format!("soak/q{}/#", qos as u8), qos).await {
                c.error(err);
            }
        }
        round += 1;
        let online = Duration::from_millis(2_000 + (round * 1_337) % 4_000);
        let until = Instant::now() + online;
        let mut quiet_since = Instant::now();
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            if !stopping && Instant::now() >= until {
                break;
            }
            if stopping && quiet_since.elapsed() > Duration::from_secs(3) {
                m.disconnect().await;
                drained.store(true, Ordering::Relaxed);
                return seen;
            }
            let p = match m.recv(Duration::from_millis(200)).await {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(err) => {
                    c.error(format!("{id}: {err}"));
                    break;
                }
            };
            quiet_since = Instant::now();
            let r = match p {
                Packet::Publish(p) => {
                    let n: u64 = std::str::from_utf8(&p.payload)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    // A QoS 2 receiver delivers a PUBLISH whose identifier awaits its PUBREL only
                    // once (a re-send after a reconnect is the same message).
                    let (deliver, r) = match p.qos_pid {
                        QosPid::ExactlyOnce(pid) => (
                            awaiting_rel.insert(pid.get()),
                            m.send(PubRec::new(pid)).await,
                        ),
                        QosPid::AtLeastOnce(pid) => (true, m.send(PubAck::new(pid)).await),
                        QosPid::AtMostOnce => (true, Ok(())),
                    };
                    if deliver {
                        received.fetch_add(1, Ordering::Relaxed);
                        if !seen.insert(n) {
                            dups.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    r
                }
                Packet::PubRel(rel) => {
                    awaiting_rel.remove(&rel.packet_id.get());
                    m.send(PubComp::new(rel.packet_id)).await
                }
                _ => Ok(()),
            };
            if let Err(err) = r {
                c.error(format!("{id}: {err}"));
                break;
            }
        }
        m.disconnect().await;
        // Away for a while: messages queue in the session (and the store).
        tokio::time::sleep(Duration::from_millis(500 + (round * 311) % 1_000)).await;
    }
}

// --- IPC --------------------------------------------------------------------------------------

struct Ipc {
    r: OwnedReadHalf,
    w: OwnedWriteHalf,
    buf: BytesMut,
    codec: PacketCodec,
    peer: Peer,
}

impl Ipc {
    async fn open(addr: SocketAddr, id: &str) -> Res<Ipc> {
        let (r, w) = net::connect(addr)
            .await
            .map_err(e("ipc connect"))?
            .into_split();
        let peer = Peer::node(id, "soak");
        let mut c = Ipc {
            r,
            w,
            buf: BytesMut::new(),
            codec: PacketCodec::default(),
            peer,
        };
        let han = IpcPacket::from_command(IpcCommand::handshake(c.peer.clone()))
            .map_err(|e| format!("ipc HAN: {e}"))?;
        c.w.write_all(han.frame()).await.map_err(e("ipc write"))?;
        Ok(c)
    }

    async fn listen(&mut self, channel: &str) -> Res<()> {
        let p = IpcPacket::from_command(IpcCommand::add_listener(vec![self.peer.clone()], channel))
            .map_err(|e| format!("ipc LICA: {e}"))?;
        self.w.write_all(p.frame()).await.map_err(e("ipc write"))
    }

    async fn send(&mut self, channel: &str, text: &str) -> Res<()> {
        let p = IpcPacket::from_message(
            IpcCommand::send(channel, self.peer.clone()),
            &[Value::from(text)],
        )
        .map_err(|e| format!("ipc MES: {e}"))?;
        self.w.write_all(p.frame()).await.map_err(e("ipc write"))
    }

    /// The text of the next message on `channel`; `Ok(None)` after `wait` without one.
    async fn next_message(&mut self, channel: &str, wait: Duration) -> Res<Option<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(p) = self
                .codec
                .decode(&mut self.buf)
                .map_err(|e| format!("ipc decode: {e}"))?
            {
                if p.kind() == CommandKind::SendMessage && p.command().channel() == channel {
                    let args = p.args().map_err(|e| format!("ipc args: {e}"))?;
                    return Ok(args.first().and_then(|v| v.as_str()).map(str::to_owned));
                }
            }
            self.buf.reserve(16 * 1024);
            match tokio::time::timeout_at(deadline, self.r.read_buf(&mut self.buf)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) => return Err("ipc: the broker closed the connection".into()),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return Err(format!("ipc read: {err}")),
            }
        }
    }
}

/// One pair of fresh IPC connections exchanging `n` messages. Returns how many were lost.
async fn ipc_round(addr: SocketAddr, k: u64, n: u64, c: &Counters) -> Res<u64> {
    let channel = format!("soak/ipc/{k}");
    let mut l = Ipc::open(addr, &format!("L{:09}", k % 1_000_000_000)).await?;
    l.listen(&channel).await?;
    let mut s = Ipc::open(addr, &format!("S{:09}", k % 1_000_000_000)).await?;
    c.connections.fetch_add(2, Ordering::Relaxed);
    // The listener's LICA and the sender's messages travel on different connections: probe
    // until the route exists, then send the numbered messages.
    let mut ready = false;
    for _ in 0..50 {
        s.send(&channel, "probe").await?;
        if let Some(m) = l.next_message(&channel, Duration::from_millis(100)).await? {
            ready = m == "probe";
            if ready {
                break;
            }
        }
    }
    if !ready {
        return Err(format!("ipc {channel}: the listener never got the probe"));
    }
    for i in 0..n {
        s.send(&channel, &i.to_string()).await?;
    }
    c.ipc_sent.fetch_add(n, Ordering::Relaxed);
    let mut got = HashSet::new();
    while (got.len() as u64) < n {
        match l.next_message(&channel, Duration::from_secs(5)).await? {
            Some(m) if m == "probe" => {}
            Some(m) => {
                got.insert(m);
                c.ipc_received.fetch_add(1, Ordering::Relaxed);
            }
            None => break,
        }
    }
    Ok(n - got.len() as u64)
}

async fn ipc_churn(addr: SocketAddr, stop: Arc<AtomicBool>, c: Arc<Counters>) {
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        match ipc_round(addr, k, 200, &c).await {
            Ok(0) => {}
            Ok(lost) => {
                c.ipc_lost.fetch_add(lost, Ordering::Relaxed);
                c.error(format!("ipc round {k}: {lost} messages lost"));
            }
            Err(err) => c.error(err),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// --- Engine.IO --------------------------------------------------------------------------------

async fn eio_round(addr: SocketAddr, k: u64, c: &Counters) -> Res<()> {
    let stream = net::connect(addr).await.map_err(e("eio connect"))?;
    let (mut r, mut w, mut raw) =
        net::ws_handshake(stream, addr, "/engine.io/?EIO=4&transport=websocket", None)
            .await
            .map_err(e("eio upgrade"))?;
    c.connections.fetch_add(1, Ordering::Relaxed);
    let mut reader = WsReader::default();
    let mut frame = BytesMut::new();
    let topic = format!("soak/eio/{k}");
    let mut texts: Vec<String> = vec![format!(r#"4{{"op":"sub","topic":"{topic}","id":0}}"#)];
    for i in 1..=50 {
        texts.push(format!(
            r#"4{{"op":"pub","topic":"{topic}","text":"{i}","id":{i}}}"#
        ));
    }
    let mut sent_all = false;
    let mut sent_sub = false;
    let mut acked_sub = false;
    let mut got = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(m) = reader.next(&mut raw) {
            match m.op {
                opcode::CLOSE => return Err("eio: closed by the gateway".into()),
                opcode::TEXT => {
                    let text = String::from_utf8_lossy(&m.data).into_owned();
                    if text == "2" {
                        frame.clear();
                        net::ws_frame(&mut frame, opcode::TEXT, b"3");
                        w.write_all(&frame).await.map_err(e("eio pong"))?;
                    } else if text.starts_with("4{\"op\":\"ack\",\"id\":0") {
                        acked_sub = true;
                    } else if text.starts_with("4{\"op\":\"msg\"") {
                        got += 1;
                        c.eio_received.fetch_add(1, Ordering::Relaxed);
                    } else if text.starts_with("4{\"op\":\"err\"") {
                        return Err(format!("eio: {text}"));
                    }
                }
                _ => {}
            }
        }
        if !sent_all && acked_sub {
            frame.clear();
            for t in texts.iter().skip(1) {
                net::ws_frame(&mut frame, opcode::TEXT, t.as_bytes());
            }
            w.write_all(&frame).await.map_err(e("eio write"))?;
            c.eio_sent.fetch_add(50, Ordering::Relaxed);
            sent_all = true;
        } else if !sent_sub {
            frame.clear();
            net::ws_frame(&mut frame, opcode::TEXT, texts[0].as_bytes());
            w.write_all(&frame).await.map_err(e("eio write"))?;
            sent_sub = true;
        }
        if got >= 50 {
            break;
        }
        match tokio::time::timeout_at(deadline, net::fill(&mut r, &mut raw)).await {
            Err(_) => break,
            Ok(Ok(0)) => return Err("eio: connection closed".into()),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(format!("eio read: {err}")),
        }
    }
    frame.clear();
    net::ws_frame(&mut frame, opcode::CLOSE, &[0x03, 0xe8]);
    let _ = w.write_all(&frame).await;
    Ok(())
}

async fn eio_churn(addr: SocketAddr, stop: Arc<AtomicBool>, c: Arc<Counters>) {
    let mut k = 0;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        if let Err(err) = eio_round(addr, k, &c).await {
            c.error(err);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- HTTP -------------------------------------------------------------------------------------

async fn http_load(ports: (SocketAddr, SocketAddr), stop: Arc<AtomicBool>, c: Arc<Counters>) {
    let (front, admin) = ports;
    while !stop.load(Ordering::Relaxed) {
        for (addr, path, want) in [
            (admin, "/healthz", 200),
            (admin, "/metrics", 200),
            (front, "/no-such-page", 404),
        ] {
            let r = async {
                let mut conn = net::HttpConn::connect(addr)
                    .await
                    .map_err(e("http connect"))?;
                let resp = conn
                    .round_trip(&net::http_get(addr, path))
                    .await
                    .map_err(e("http"))?;
                Ok::<_, String>(resp)
            }
            .await;
            match r {
                Ok(resp) if resp.status == want => {
                    c.http_ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(resp) => c.error(format!("GET {path}: status {}", resp.status)),
                Err(err) => c.error(format!("GET {path}: {err}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// --- the gateway --------------------------------------------------------------------------------

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("switchboard-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(err) = std::fs::create_dir_all(&dir) {
        eprintln!("soak: cannot create {}: {err}", dir.display());
        return std::process::ExitCode::FAILURE;
    }
    let ports = Ports {
        http: SocketAddr::from(([127, 0, 0, 1], free_port())),
        admin: SocketAddr::from(([127, 0, 0, 1], free_port())),
        mqtt: SocketAddr::from(([127, 0, 0, 1], free_port())),
        ipc: SocketAddr::from(([127, 0, 0, 1], free_port())),
    };
    let config = format!(
        "[http]\nlisten = \"{}\"\n[admin]\nlisten = \"{}\"\n[mqtt]\nlisten = \"{}\"\n\
         [ipc]\nlisten = \"{}\"\n[auth]\nanonymous = true\n[fabric]\nsys_interval_ms = 1000\n\
         [telemetry]\nlog_level = \"warn\"\n[storage]\npath = {:?}\nfsync = \"always\"\n",
        ports.http,
        ports.admin,
        ports.mqtt,
        ports.ipc,
        dir.join("data").display().to_string()
    );
    let config_path = dir.join("switchboard.toml");
    if let Err(err) = std::fs::write(&config_path, config) {
        eprintln!("soak: cannot write the config: {err}");
        return std::process::ExitCode::FAILURE;
    }
    let mut child = match Command::new(&args.gateway)
        .arg("--config")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(err) => {
            eprintln!("soak: cannot start {}: {err}", args.gateway.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let pid = child.id();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("soak: runtime: {err}");
            let _ = child.kill();
            return std::process::ExitCode::FAILURE;
        }
    };
    let counters = Arc::new(Counters::default());
    let (samples, q1_seen, q2_seen) = rt.block_on(run(&args, &ports, pid, counters.clone()));
    // Graceful stop: SIGTERM, exit 0 within the drain.
    let term = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut exit_ok = false;
    while term && Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            exit_ok = status.success();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !exit_ok {
        counters.error("the gateway did not exit 0 after SIGTERM");
        let _ = child.kill();
        let _ = child.wait();
    }
    let ok = report(&args, &samples, &counters, &q1_seen, &q2_seen);
    let _ = std::fs::remove_dir_all(&dir);
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

type Samples = Vec<(u64, u64)>;

async fn run(
    args: &Args,
    ports: &Ports,
    pid: u32,
    c: Arc<Counters>,
) -> (Samples, HashSet<u64>, HashSet<u64>) {
    // Wait for the gateway.
    let started = Instant::now();
    while TcpStream::connect(ports.admin).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            c.error("the gateway did not start");
            return (Vec::new(), HashSet::new(), HashSet::new());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    let drained1 = Arc::new(AtomicBool::new(false));
    let drained2 = Arc::new(AtomicBool::new(false));
    // Subscribers first, so that their sessions exist before anything is published.
    let sub1 = tokio::spawn(mqtt_subscriber(
        ports.mqtt,
        QoS::AtLeastOnce,
        stop.clone(),
        drained1.clone(),
        c.clone(),
    ));
    let sub2 = tokio::spawn(mqtt_subscriber(
        ports.mqtt,
        QoS::ExactlyOnce,
        stop.clone(),
        drained2.clone(),
        c.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    tasks.spawn(mqtt_publisher(
        ports.mqtt,
        QoS::AtLeastOnce,
        100,
        stop.clone(),
        c.clone(),
    ));
    tasks.spawn(mqtt_publisher(
        ports.mqtt,
        QoS::ExactlyOnce,
        50,
        stop.clone(),
        c.clone(),
    ));
    tasks.spawn(ipc_churn(ports.ipc, stop.clone(), c.clone()));
    tasks.spawn(eio_churn(ports.http, stop.clone(), c.clone()));
    tasks.spawn(http_load(
        (ports.http, ports.admin),
        stop.clone(),
        c.clone(),
    ));

    let mut samples = Vec::new();
    let t0 = Instant::now();
    let total = Duration::from_secs(args.seconds);
    let every = Duration::from_secs(args.sample_seconds.max(1));
    let mut next = Duration::ZERO;
    println!(
        "soak: {} s of mixed load on gateway pid {pid} (MQTT {}, IPC {}, front {}, admin {})",
        args.seconds, ports.mqtt, ports.ipc, ports.http, ports.admin
    );
    while t0.elapsed() < total {
        if t0.elapsed() >= next {
            let t = t0.elapsed().as_secs();
            let rss = rss_kib(pid).unwrap_or(0);
            samples.push((t, rss));
            println!(
                "[{t:>5} s] rss {:>7.1} MiB | mqtt q1 {}/{} q2 {}/{} | ipc {}/{} | eio {}/{} | http {} | conns {} | errors {}",
                mib(rss),
                load(&c.q1_received),
                load(&c.q1_sent),
                load(&c.q2_received),
                load(&c.q2_sent),
                load(&c.ipc_received),
                load(&c.ipc_sent),
                load(&c.eio_received),
                load(&c.eio_sent),
                load(&c.http_ok),
                load(&c.connections),
                load(&c.errors),
            );
            next += every;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let q1 = sub1.await.unwrap_or_default();
    let q2 = sub2.await.unwrap_or_default();
    let rss = rss_kib(pid).unwrap_or(0);
    samples.push((t0.elapsed().as_secs(), rss));
    (samples, q1, q2)
}

fn report(
    args: &Args,
    samples: &Samples,
    c: &Counters,
    q1_seen: &HashSet<u64>,
    q2_seen: &HashSet<u64>,
) -> bool {
    let mut ok = true;
    println!("\nsoak report ({} s)", args.seconds);
    println!("memory (gateway RSS):");
    for (t, kib) in samples {
        println!("  {t:>5} s  {:>7.1} MiB", mib(*kib));
    }
    // Flat: after a warm-up (the first quarter), the peak of the last third may exceed the peak
    // of the first third by at most 10 % + 8 MiB.
    let n = samples.len();
    if n >= 6 {
        let warm = n / 4;
        let rest = &samples[warm..];
        let third = (rest.len() / 3).max(1);
        let early = rest[..third].iter().map(|s| s.1).max().unwrap_or(0);
        let late = rest[rest.len() - third..]
            .iter()
            .map(|s| s.1)
            .max()
            .unwrap_or(0);
        let allowed = early + early / 10 + 8 * 1024;
        let flat = late <= allowed;
        println!(
            "memory: early peak {:.1} MiB, late peak {:.1} MiB (allowed {:.1}): {}",
            mib(early),
            mib(late),
            mib(allowed),
            if flat { "flat" } else { "GROWING" }
        );
        ok &= flat;
    } else {
        println!("memory: too few samples to judge (run longer or sample more often)");
    }
    let q1_sent = load(&c.q1_sent);
    let q2_sent = load(&c.q2_sent);
    // Numbers are 1.. in publication order, but a number whose flow failed is skipped: loss is
    // acknowledged messages not seen.
    let q1_lost = q1_sent.saturating_sub(q1_seen.len() as u64);
    let q2_lost = q2_sent.saturating_sub(q2_seen.len() as u64);
    let q2_dups = load(&c.q2_duplicates);
    println!(
        "mqtt qos1: {q1_sent} acknowledged, {} distinct received, {q1_lost} lost, {} duplicates (allowed)",
        q1_seen.len(),
        load(&c.q1_duplicates)
    );
    println!(
        "mqtt qos2: {q2_sent} acknowledged, {} distinct received, {q2_lost} lost, {q2_dups} duplicates",
        q2_seen.len()
    );
    println!(
        "ipc: {} sent, {} received, {} lost",
        load(&c.ipc_sent),
        load(&c.ipc_received),
        load(&c.ipc_lost)
    );
    println!(
        "engine.io: {} published, {} received (QoS 0)",
        load(&c.eio_sent),
        load(&c.eio_received)
    );
    println!("http: {} requests answered as expected", load(&c.http_ok));
    println!("connections opened: {}", load(&c.connections));
    let errors = load(&c.errors);
    println!("errors: {errors}");
    for e in c.first_errors.all() {
        println!("  - {e}");
    }
    ok &= errors == 0 && q1_lost == 0 && q2_lost == 0 && q2_dups == 0 && load(&c.ipc_lost) == 0;
    ok &= q1_sent > 0 && q2_sent > 0 && load(&c.ipc_sent) > 0 && load(&c.eio_received) > 0;
    println!("soak: {}", if ok { "PASSED" } else { "FAILED" });
    ok
}
