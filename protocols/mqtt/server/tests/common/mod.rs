//! A broker on an ephemeral port and a minimal MQTT client built on the codec, for tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use switchboard_fabric::{AllowAll, Authorizer, Fabric};
use switchboard_mqtt::{Broker, MqttConfig};
use switchboard_mqtt_proto::{
    ConnAck, Connect, Decoder, Disconnect, MqttString, Packet, PacketId, ProtocolVersion, Publish,
    QoS, QosPid, Subscribe, Subscription, TopicFilter, TopicName,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A broker serving on 127.0.0.1 with an ephemeral port.
pub struct TestBroker {
    pub addr: SocketAddr,
    pub broker: Broker,
    pub fabric: Fabric,
    pub registry: prometheus::Registry,
    pub stop: CancellationToken,
    pub tracker: TaskTracker,
}

pub async fn start(config: MqttConfig) -> TestBroker {
    start_with(config, Arc::new(AllowAll)).await
}

pub async fn start_with(config: MqttConfig, auth: Arc<dyn Authorizer>) -> TestBroker {
    let registry = prometheus::Registry::new();
    let fabric = Fabric::new(Default::default(), "test", &registry).unwrap();
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let broker = Broker::new(
        config,
        fabric.clone(),
        auth,
        &registry,
        stop.clone(),
        tracker.clone(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tracker.spawn(broker.serve(listener, None));
    TestBroker {
        addr,
        broker,
        fabric,
        registry,
        stop,
        tracker,
    }
}

impl TestBroker {
    /// The value of a counter or gauge with the given labels (0 when absent).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        for family in self.registry.gather() {
            if family.name() != name {
                continue;
            }
            for m in family.get_metric() {
                let ok = labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                });
                if ok {
                    if m.get_counter().get_value() != 0.0 {
                        return m.get_counter().get_value();
                    }
                    return m.get_gauge().get_value();
                }
            }
        }
        0.0
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .expect("broker tasks end");
    }
}

pub fn s(text: &str) -> MqttString {
    MqttString::try_from(text).unwrap()
}

pub fn topic(text: &str) -> TopicName {
    TopicName::try_from(text).unwrap()
}

pub fn filter(text: &str) -> TopicFilter {
    TopicFilter::try_from(text).unwrap()
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

pub fn connect_packet(version: ProtocolVersion, id: &str) -> Connect {
    Connect::new(version, s(id), 60)
}

pub fn publish(t: &str, payload: &'static [u8], qos: QoS, id: u16) -> Publish {
    let mut p = Publish::new(topic(t), Bytes::from_static(payload));
    p.qos_pid = QosPid::from_parts(qos, PacketId::new(id)).unwrap();
    p
}

pub fn subscribe(id: u16, f: &str, qos: QoS) -> Subscribe {
    Subscribe::new(pid(id), vec![Subscription::new(filter(f), qos)])
}

/// A raw MQTT client.
pub struct Client {
    pub stream: TcpStream,
    pub version: ProtocolVersion,
    buf: BytesMut,
    decoder: Decoder,
}

pub const WAIT: Duration = Duration::from_secs(5);

impl Client {
    pub async fn raw(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// Connects and returns the CONNACK.
    pub async fn connect(addr: SocketAddr, connect: Connect) -> (Client, ConnAck) {
        let version = connect.protocol;
        let mut c = Client {
            stream: Self::raw(addr).await,
            version,
            buf: BytesMut::new(),
            decoder: Decoder::with_version(version, u32::MAX >> 4),
        };
        c.send(connect).await;
        match c.recv().await {
            Some(Packet::ConnAck(a)) => (c, *a),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with defaults and asserts success.
    pub async fn v(addr: SocketAddr, version: ProtocolVersion, id: &str) -> Client {
        let (c, ack) = Self::connect(addr, connect_packet(version, id)).await;
        assert!(!ack.reason_code.is_error(), "{ack:?}");
        c
    }

    pub async fn send(&mut self, p: impl Into<Packet>) {
        let p = p.into();
        let mut out = BytesMut::new();
        p.encode(self.version, &mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    pub async fn send_bytes(&mut self, b: &[u8]) {
        let _ = self.stream.write_all(b).await;
    }

    /// The next packet; `None` when the server closed the connection.
    pub async fn try_recv(&mut self, wait: Duration) -> Result<Option<Packet>, ()> {
        let fut = async {
            loop {
                if let Some(p) = self
                    .decoder
                    .decode(&mut self.buf)
                    .expect("valid from server")
                {
                    return Some(p);
                }
                self.buf.reserve(4096);
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(wait, fut).await.map_err(|_| ())
    }

    pub async fn recv(&mut self) -> Option<Packet> {
        self.try_recv(WAIT).await.expect("a packet in time")
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn nothing(&mut self, wait: Duration) {
        if let Ok(p) = self.try_recv(wait).await {
            panic!("expected nothing, got {p:?}");
        }
    }

    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Some(Packet::Publish(p)) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Reads until the server closes; returns the DISCONNECT it sent, if any.
    pub async fn closed(&mut self) -> Option<Disconnect> {
        self.closed_within(WAIT).await
    }

    /// Like [`Client::closed`], waiting up to `wait` for each packet.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<Disconnect> {
        let mut d = None;
        loop {
            match self
                .try_recv(wait)
                .await
                .expect("the server closes in time")
            {
                None => return d,
                Some(Packet::Disconnect(x)) => d = Some(x),
                Some(_) => {}
            }
        }
    }

    pub async fn sub(&mut self, f: &str, qos: QoS) -> Vec<switchboard_mqtt_proto::ReasonCode> {
        self.send(subscribe(1, f, qos)).await;
        match self.recv().await {
            Some(Packet::SubAck(a)) => a.reason_codes,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    pub async fn disconnect(mut self) {
        self.send(Disconnect::default()).await;
        let _ = self.stream.shutdown().await;
    }
}
