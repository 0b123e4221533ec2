//! MQTT load: numbered QoS 1/2 streams into persistent sessions that come and go.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use switchboard_bench::net;
use switchboard_mqtt_proto::{
    Connect, Decoder, Disconnect, MqttString, Packet, PacketId, ProtocolVersion, PubAck, PubComp,
    PubRec, PubRel, Publish, QoS, QosPid, Subscribe, Subscription, TopicFilter, TopicName,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::{Counters, Res, e};

const V5: ProtocolVersion = ProtocolVersion::V5;

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
pub async fn mqtt_publisher(
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
pub async fn mqtt_subscriber(
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
