//! Durability of the real binary: retained messages and QoS 1/2 messages queued for offline
//! persistent MQTT sessions survive `kill -9` (with `fsync = "always"` and `"never"`) and a SIGTERM
//! restart; after the restart every acknowledged message is delivered as its QoS promises (QoS 2
//! exactly once, including deliveries that were in flight at the crash).

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use switchboard_mqtt_proto::{
    Connect, Decoder, MqttString, Packet, PacketId, ProtocolVersion, PubAck, PubComp, PubRec,
    PubRel, Publish, QoS, QosPid, Subscribe, Subscription, TopicFilter, TopicName,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const N: u16 = 40;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Gateway {
    child: Child,
    mqtt: SocketAddr,
}

fn config(dir: &Path, fsync: &str) -> PathBuf {
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:{}\"\n[admin]\nlisten = \"127.0.0.1:{}\"\n\
         [mqtt]\nlisten = \"127.0.0.1:{}\"\n[ipc]\nlisten = \"127.0.0.1:{}\"\n\
         [auth]\nanonymous = true\n[fabric]\nsys_interval_ms = 0\n\
         [storage]\npath = {:?}\nfsync = \"{fsync}\"\n",
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        dir.join("data").display().to_string(),
    );
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

fn mqtt_addr(config: &Path) -> SocketAddr {
    let text = std::fs::read_to_string(config).expect("config");
    let port = text
        .split("[mqtt]\nlisten = \"127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("mqtt port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn start(config: &Path) -> Gateway {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") {
            c.env_remove(k);
        }
    }
    let child = c
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the gateway starts");
    Gateway {
        child,
        mqtt: mqtt_addr(config),
    }
}

impl Gateway {
    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    fn sigterm(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "a clean exit after SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the gateway drains in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A blocking MQTT 5 client that plays the QoS 2 receiver's part faithfully: it remembers the
/// identifiers it acknowledged with PUBREC until their PUBREL, across reconnects, and does not
/// deliver a re-sent PUBLISH with such an identifier again.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

fn s(t: &str) -> MqttString {
    MqttString::try_from(t).expect("string")
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("pid")
}

impl Client {
    /// Connects (retrying while the gateway starts) with a persistent session.
    fn connect(addr: SocketAddr, id: &str, persistent: bool) -> (Client, bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Self::try_connect(addr, id, persistent) {
                Some(c) => return c,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                None => panic!("cannot connect to {addr}"),
            }
        }
    }

    fn try_connect(addr: SocketAddr, id: &str, persistent: bool) -> Option<(Client, bool)> {
        let stream = TcpStream::connect(addr).ok()?;
        stream.set_nodelay(true).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let mut c = Client {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::with_version(V5, 1 << 24),
        };
        let mut connect = Connect::new(V5, s(id), 60);
        connect.clean_start = !persistent;
        if persistent {
            connect.properties.session_expiry_interval = Some(3600);
        }
        c.send(connect);
        match c.recv(Duration::from_secs(10))? {
            Packet::ConnAck(a) if !a.reason_code.is_error() => Some((c, a.session_present)),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    fn send(&mut self, p: impl Into<Packet>) {
        let mut out = BytesMut::new();
        p.into().encode(V5, &mut out).expect("encodes");
        self.stream.write_all(&out).expect("write");
    }

    /// The next packet within `wait`; `None` on timeout or close.
    fn recv(&mut self, wait: Duration) -> Option<Packet> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf).expect("valid packets") {
                return Some(p);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.send(Subscribe::new(
            pid(1),
            vec![Subscription::new(
                TopicFilter::try_from(filter).expect("filter"),
                qos,
            )],
        ));
        assert!(matches!(
            self.recv(Duration::from_secs(5)),
            Some(Packet::SubAck(_))
        ));
    }

    /// Publishes and waits for the whole acknowledgement flow.
    fn publish(&mut self, topic: &str, payload: String, qos: QoS, retain: bool, id: u16) {
        let mut p = Publish::new(
            TopicName::try_from(topic).expect("topic"),
            Bytes::from(payload),
        );
        p.retain = retain;
        p.qos_pid = QosPid::from_parts(qos, PacketId::new(id)).expect("qos");
        self.send(p);
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => assert!(matches!(
                self.recv(Duration::from_secs(10)),
                Some(Packet::PubAck(_))
            )),
            QoS::ExactlyOnce => {
                assert!(matches!(
                    self.recv(Duration::from_secs(10)),
                    Some(Packet::PubRec(_))
                ));
                self.send(PubRel::new(pid(id)));
                assert!(matches!(
                    self.recv(Duration::from_secs(10)),
                    Some(Packet::PubComp(_))
                ));
            }
        }
    }

    fn disconnect(mut self) {
        self.send(switchboard_mqtt_proto::Disconnect::default());
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// What a subscriber's application saw, and its QoS 2 receiver state.
#[derive(Default)]
struct Receiver {
    delivered: Vec<String>,
    awaiting_rel: HashSet<u16>,
}

impl Receiver {
    /// Handles packets until nothing arrives for `quiet`; `budget` limits how many PUBLISH packets
    /// it handles (after that it acknowledges nothing, as a client cut off mid-flow).
    fn run(&mut self, c: &mut Client, quiet: Duration, mut budget: Option<usize>) {
        while let Some(p) = c.recv(quiet) {
            if budget == Some(0) {
                // Cut off: nothing more is acknowledged (PUBREL included).
                continue;
            }
            match p {
                Packet::Publish(p) => {
                    let text = String::from_utf8_lossy(&p.payload).into_owned();
                    match p.qos_pid {
                        QosPid::AtMostOnce => self.delivered.push(text),
                        QosPid::AtLeastOnce(id) => {
                            self.delivered.push(text);
                            c.send(PubAck::new(id));
                        }
                        QosPid::ExactlyOnce(id) => {
                            if self.awaiting_rel.insert(id.get()) {
                                self.delivered.push(text);
                            }
                            c.send(PubRec::new(id));
                        }
                    }
                    if let Some(b) = &mut budget {
                        *b -= 1;
                    }
                }
                Packet::PubRel(r) => {
                    self.awaiting_rel.remove(&r.packet_id.get());
                    c.send(PubComp::new(r.packet_id));
                }
                _ => {}
            }
        }
    }
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn expected(prefix: &str) -> BTreeSet<String> {
    (1..=N).map(|i| format!("{prefix}-{i}")).collect()
}

/// Publishes the scenario's messages: QoS 1 for `s1`, QoS 2 for `s2` (both offline), retained
/// values (one of them deleted again).
fn publish_all(addr: SocketAddr) {
    let (mut p, _) = Client::connect(addr, "publisher", false);
    for i in 1..=N {
        p.publish(
            &format!("c/q1/{i}"),
            format!("one-{i}"),
            QoS::AtLeastOnce,
            false,
            i,
        );
        p.publish(
            &format!("c/q2/{i}"),
            format!("two-{i}"),
            QoS::ExactlyOnce,
            false,
            i,
        );
    }
    for i in 1..=10u16 {
        p.publish(
            &format!("c/r/{i}"),
            format!("r-{i}"),
            QoS::AtLeastOnce,
            true,
            100 + i,
        );
    }
    p.publish("c/r/10", String::new(), QoS::AtLeastOnce, true, 200);
    p.disconnect();
}

fn subscribe_offline(addr: SocketAddr) {
    let (mut s1, _) = Client::connect(addr, "s1", true);
    s1.subscribe("c/q1/#", QoS::AtLeastOnce);
    s1.disconnect();
    let (mut s2, _) = Client::connect(addr, "s2", true);
    s2.subscribe("c/q2/#", QoS::ExactlyOnce);
    s2.disconnect();
}

fn check_retained(addr: SocketAddr) {
    let (mut r, _) = Client::connect(addr, "retained-reader", false);
    r.subscribe("c/r/#", QoS::AtLeastOnce);
    let mut seen = Receiver::default();
    seen.run(&mut r, Duration::from_millis(500), None);
    let got: BTreeSet<String> = seen.delivered.into_iter().collect();
    let want: BTreeSet<String> = (1..=9).map(|i| format!("r-{i}")).collect();
    assert_eq!(got, want, "every retained value, the deleted one excepted");
}

fn crash_scenario(fsync: &str) {
    let dir = tempdir(fsync);
    let cfg = config(&dir, fsync);
    let gw = start(&cfg);
    subscribe_offline(gw.mqtt);
    publish_all(gw.mqtt);

    // s2 comes online and is cut off mid-way: 10 messages handled (QoS 2 flows up to PUBREC),
    // then it stops acknowledging; its PUBREC/PUBREL/PUBCOMP flows are in every state.
    let mut r2 = Receiver::default();
    let (mut s2, present) = Client::connect(gw.mqtt, "s2", true);
    assert!(present);
    r2.run(&mut s2, Duration::from_millis(300), Some(10));
    assert_eq!(r2.delivered.len(), 10);
    std::thread::sleep(Duration::from_millis(100));

    gw.kill9();
    drop(s2);
    let gw = start(&cfg);

    let (mut s1, present) = Client::connect(gw.mqtt, "s1", true);
    assert!(present, "s1's session survived the crash");
    let mut r1 = Receiver::default();
    r1.run(&mut s1, Duration::from_millis(700), None);
    let got: BTreeSet<String> = r1.delivered.iter().cloned().collect();
    assert_eq!(got, expected("one"), "every acknowledged QoS 1 message");
    s1.disconnect();

    let (mut s2, present) = Client::connect(gw.mqtt, "s2", true);
    assert!(present, "s2's session survived the crash");
    r2.run(&mut s2, Duration::from_millis(700), None);
    assert_eq!(
        r2.delivered.len(),
        usize::from(N),
        "QoS 2 exactly once: {:?}",
        r2.delivered
    );
    let got: BTreeSet<String> = r2.delivered.iter().cloned().collect();
    assert_eq!(got, expected("two"));
    assert!(r2.awaiting_rel.is_empty(), "every QoS 2 flow completed");
    s2.disconnect();

    check_retained(gw.mqtt);

    // Everything was delivered: nothing comes back after another restart.
    gw.kill9();
    let gw = start(&cfg);
    for id in ["s1", "s2"] {
        let (mut c, present) = Client::connect(gw.mqtt, id, true);
        assert!(present);
        let mut r = Receiver::default();
        r.run(&mut c, Duration::from_millis(400), None);
        assert!(r.delivered.is_empty(), "{id} got {:?}", r.delivered);
    }
    gw.kill9();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_messages_survive_kill_9_with_fsync_always() {
    crash_scenario("always");
}

#[test]
fn acknowledged_messages_survive_kill_9_with_fsync_never() {
    crash_scenario("never");
}

#[test]
fn a_sigterm_restart_loses_and_duplicates_nothing() {
    let dir = tempdir("sigterm");
    let cfg = config(&dir, "interval");
    let gw = start(&cfg);
    subscribe_offline(gw.mqtt);
    publish_all(gw.mqtt);
    gw.sigterm();
    let gw = start(&cfg);
    for (id, prefix) in [("s1", "one"), ("s2", "two")] {
        let (mut c, present) = Client::connect(gw.mqtt, id, true);
        assert!(present);
        let mut r = Receiver::default();
        r.run(&mut c, Duration::from_millis(700), None);
        assert_eq!(
            r.delivered.len(),
            usize::from(N),
            "{id}: no loss, no duplicate"
        );
        let got: BTreeSet<String> = r.delivered.into_iter().collect();
        assert_eq!(got, expected(prefix));
        c.disconnect();
    }
    check_retained(gw.mqtt);
    gw.sigterm();
    let _ = std::fs::remove_dir_all(&dir);
}
