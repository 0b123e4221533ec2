//! Persistent sessions through a durable store: acknowledgements wait for durability, and a broker
//! built on the store's content after a crash resumes every session with its queued and in-flight
//! messages, exactly once for QoS 2.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use switchboard_fabric::durable::{Durable, Ticket, note};
use switchboard_fabric::{AllowAll, Fabric};
use switchboard_mqtt::{Broker, MqttConfig};
use switchboard_mqtt_proto::{
    Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, QoS, ReasonCode,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const V5: ProtocolVersion = ProtocolVersion::V5;
const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

type Table = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

/// A store in memory; the test decides when writes become durable.
#[derive(Debug)]
struct MemStore {
    data: Mutex<Table>,
    seq: Mutex<u64>,
    durable: watch::Sender<u64>,
    auto: bool,
}

impl MemStore {
    fn new(auto: bool) -> Arc<Self> {
        Arc::new(MemStore {
            data: Mutex::new(BTreeMap::new()),
            seq: Mutex::new(0),
            durable: watch::channel(0).0,
            auto,
        })
    }
    fn make_durable(&self) {
        self.durable.send_replace(*self.seq.lock());
    }
    fn next(&self) -> Ticket {
        let mut s = self.seq.lock();
        *s += 1;
        let t = Ticket(*s);
        drop(s);
        note(t);
        if self.auto {
            self.make_durable();
        }
        t
    }
    fn count(&self, table: &str) -> usize {
        self.data.lock().keys().filter(|(t, _)| *t == table).count()
    }
    /// A copy of the data, as a crash would leave it (everything made durable).
    fn crash_copy(&self) -> Arc<MemStore> {
        let copy = MemStore::new(true);
        *copy.data.lock() = self.data.lock().clone();
        copy
    }
}

impl Durable for MemStore {
    fn put(&self, table: &'static str, key: Vec<u8>, value: Option<Vec<u8>>) -> Ticket {
        let mut d = self.data.lock();
        match value {
            Some(v) => {
                d.insert((table, key), v);
            }
            None => {
                d.remove(&(table, key));
            }
        }
        drop(d);
        self.next()
    }
    fn delete_prefix(&self, table: &'static str, prefix: Vec<u8>) -> Ticket {
        self.data
            .lock()
            .retain(|(t, k), _| !(*t == table && k.starts_with(&prefix)));
        self.next()
    }
    fn load(&self, table: &'static str) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.data
            .lock()
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect()
    }
    fn watch(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }
    fn acks_wait(&self) -> bool {
        true
    }
}

async fn start_stored(
    store: Arc<MemStore>,
) -> (TestBroker, switchboard_mqtt::persist::RestoreStats) {
    let registry = prometheus::Registry::new();
    let fabric = Fabric::new(Default::default(), "test", &registry).unwrap();
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let broker = Broker::new(
        MqttConfig::default(),
        fabric.clone(),
        Arc::new(AllowAll),
        &registry,
        stop.clone(),
        tracker.clone(),
    )
    .unwrap();
    let stats = broker.restore(store);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tracker.spawn(broker.serve(listener, None));
    (
        TestBroker {
            addr,
            broker,
            fabric,
            registry,
            stop,
            tracker,
        },
        stats,
    )
}

/// A persistent v5 session (expiry 1 h) or a 3.1.1 clean-session-0 one.
async fn persistent(
    addr: std::net::SocketAddr,
    version: ProtocolVersion,
    id: &str,
) -> (Client, bool) {
    let mut c = connect_packet(version, id);
    c.clean_start = false;
    if version == V5 {
        c.properties.session_expiry_interval = Some(3600);
    }
    let (client, ack) = Client::connect(addr, c).await;
    assert!(!ack.reason_code.is_error());
    (client, ack.session_present)
}

#[tokio::test]
async fn a_puback_waits_until_the_message_is_durable() {
    let store = MemStore::new(false);
    let (b, _) = start_stored(store.clone()).await;
    let (mut sub, _) = persistent(b.addr, V5, "s1").await;
    sub.sub("t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut p = Client::v(b.addr, V5, "pub").await;
    p.send(publish("t", b"m1", QoS::AtLeastOnce, 1)).await;
    p.nothing(Duration::from_millis(300)).await;
    assert_eq!(
        store.count("mqtt_messages"),
        1,
        "queued for the offline session"
    );
    store.make_durable();
    match p.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.packet_id, pid(1)),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    // A message nobody persistent receives is acknowledged at once.
    p.send(publish("elsewhere", b"x", QoS::AtLeastOnce, 2))
        .await;
    assert!(matches!(p.recv().await, Some(Packet::PubAck(_))));
    b.shutdown().await;
}

#[tokio::test]
async fn acknowledgements_keep_their_order_behind_a_held_one() {
    let store = MemStore::new(false);
    let (b, _) = start_stored(store.clone()).await;
    let (mut sub, _) = persistent(b.addr, V3, "s1").await;
    sub.sub("t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut p = Client::v(b.addr, V3, "pub").await;
    p.send(publish("t", b"held", QoS::AtLeastOnce, 1)).await;
    p.send(publish("other", b"free", QoS::AtLeastOnce, 2)).await;
    p.nothing(Duration::from_millis(200)).await;
    store.make_durable();
    for id in [1, 2] {
        match p.recv().await {
            Some(Packet::PubAck(a)) => assert_eq!(a.packet_id, pid(id)),
            other => panic!("expected PUBACK {id}, got {other:?}"),
        }
    }
    b.shutdown().await;
}

#[tokio::test]
async fn queued_messages_survive_a_crash_and_qos2_arrives_once() {
    let store = MemStore::new(true);
    let (b, _) = start_stored(store.clone()).await;
    let (mut sub, present) = persistent(b.addr, V5, "s1").await;
    assert!(!present);
    sub.sub("q/#", QoS::ExactlyOnce).await;
    sub.disconnect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut p = Client::v(b.addr, V5, "pub").await;
    p.send(publish("q/1", b"one", QoS::AtLeastOnce, 1)).await;
    assert!(matches!(p.recv().await, Some(Packet::PubAck(_))));
    p.send(publish("q/2", b"two", QoS::ExactlyOnce, 2)).await;
    assert!(matches!(p.recv().await, Some(Packet::PubRec(_))));
    p.send(PubRel::new(pid(2))).await;
    assert!(matches!(p.recv().await, Some(Packet::PubComp(_))));

    // The crash: nothing is shut down, a new broker starts on what the store holds.
    let after = store.crash_copy();
    b.stop.cancel();
    let (b2, stats) = start_stored(after.clone()).await;
    assert_eq!(stats.sessions, 1);
    assert_eq!(stats.messages, 2);
    assert!(b2.broker.has_session("s1"));

    let (mut sub, present) = persistent(b2.addr, V5, "s1").await;
    assert!(present, "the session was restored");
    let m1 = sub.recv_publish().await;
    assert_eq!(&m1.payload[..], b"one");
    assert_eq!(m1.qos(), QoS::AtLeastOnce);
    let m2 = sub.recv_publish().await;
    assert_eq!(&m2.payload[..], b"two");
    assert_eq!(m2.qos(), QoS::ExactlyOnce);
    sub.send(PubAck::new(m1.packet_id().unwrap())).await;
    sub.send(PubRec::new(m2.packet_id().unwrap())).await;
    assert!(matches!(sub.recv().await, Some(Packet::PubRel(_))));
    sub.send(PubComp::new(m2.packet_id().unwrap())).await;
    sub.nothing(Duration::from_millis(200)).await;
    assert_eq!(
        after.count("mqtt_messages"),
        0,
        "completed messages are deleted"
    );
    // The subscription itself came back.
    let mut p = Client::v(b2.addr, V5, "pub2").await;
    p.send(publish("q/3", b"three", QoS::AtMostOnce, 0)).await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"three");
    b2.shutdown().await;
}

#[tokio::test]
async fn an_unacknowledged_qos2_delivery_is_resent_with_its_packet_id_after_a_crash() {
    let store = MemStore::new(true);
    let (b, _) = start_stored(store.clone()).await;
    let (mut sub, _) = persistent(b.addr, V3, "s1").await;
    sub.sub("x", QoS::ExactlyOnce).await;
    let mut p = Client::v(b.addr, V3, "pub").await;
    p.send(publish("x", b"once", QoS::ExactlyOnce, 9)).await;
    assert!(matches!(p.recv().await, Some(Packet::PubRec(_))));
    let first = sub.recv_publish().await;
    // The subscriber received it (and, as a QoS 2 receiver, remembers its id) but the gateway
    // crashes before PUBREC arrives.
    let after = store.crash_copy();
    b.stop.cancel();
    drop(sub);
    let (b2, stats) = start_stored(after.clone()).await;
    assert_eq!(stats.messages, 1);
    let (mut sub, present) = persistent(b2.addr, V3, "s1").await;
    assert!(present);
    let again = sub.recv_publish().await;
    assert!(again.dup);
    assert_eq!(
        again.packet_id(),
        first.packet_id(),
        "same packet id: the client drops the copy"
    );
    sub.send(PubRec::new(again.packet_id().unwrap())).await;
    assert!(matches!(sub.recv().await, Some(Packet::PubRel(_))));
    sub.send(PubComp::new(again.packet_id().unwrap())).await;
    sub.nothing(Duration::from_millis(200)).await;
    b2.shutdown().await;
}

#[tokio::test]
async fn a_qos2_publish_resent_after_a_crash_is_not_published_twice() {
    let store = MemStore::new(true);
    let (b, _) = start_stored(store.clone()).await;
    let (mut sub, _) = persistent(b.addr, V5, "s1").await;
    sub.sub("y", QoS::ExactlyOnce).await;
    sub.disconnect().await;
    let (mut p, _) = persistent(b.addr, V5, "pub").await;
    p.send(publish("y", b"only-once", QoS::ExactlyOnce, 5))
        .await;
    assert!(matches!(p.recv().await, Some(Packet::PubRec(_))));
    let after = store.crash_copy();
    b.stop.cancel();
    drop(p);
    let (b2, _) = start_stored(after).await;
    // The publisher did not see its PUBCOMP: it re-sends the PUBLISH with DUP, then PUBREL.
    let (mut p, present) = persistent(b2.addr, V5, "pub").await;
    assert!(present);
    let mut again = publish("y", b"only-once", QoS::ExactlyOnce, 5);
    again.dup = true;
    p.send(again).await;
    assert!(matches!(p.recv().await, Some(Packet::PubRec(_))));
    p.send(PubRel::new(pid(5))).await;
    match p.recv().await {
        Some(Packet::PubComp(c)) => assert_eq!(c.reason_code, ReasonCode::Success),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    let (mut sub, _) = persistent(b2.addr, V5, "s1").await;
    let m = sub.recv_publish().await;
    assert_eq!(&m.payload[..], b"only-once");
    sub.send(PubRec::new(m.packet_id().unwrap())).await;
    assert!(matches!(sub.recv().await, Some(Packet::PubRel(_))));
    sub.send(PubComp::new(m.packet_id().unwrap())).await;
    sub.nothing(Duration::from_millis(300)).await;
    b2.shutdown().await;
}

#[tokio::test]
async fn a_clean_start_deletes_the_stored_session() {
    let store = MemStore::new(true);
    let (b, _) = start_stored(store.clone()).await;
    let (mut sub, _) = persistent(b.addr, V5, "s1").await;
    sub.sub("z", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.count("mqtt_sessions"), 1);
    let mut c = connect_packet(V5, "s1");
    c.clean_start = true;
    let (c, ack) = Client::connect(b.addr, c).await;
    assert!(!ack.session_present);
    c.disconnect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.count("mqtt_sessions"), 0);
    assert_eq!(store.count("mqtt_messages"), 0);
    b.shutdown().await;
}
