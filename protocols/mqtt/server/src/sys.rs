//! `$SYS/broker/...`: mosquitto's statistics topics, published as retained messages next to the
//! fabric's own `$SYS/switchboard/...`, so dashboards made for mosquitto (MQTT Explorer, Grafana
//! exporters) find what they expect. Like mosquitto, a value is only published when it changed.
//!
//! Topics (all under `$SYS/broker/`): `version`, `uptime`, `clients/{connected,active,
//! disconnected,inactive,total,maximum,expired}`, `messages/{received,sent,stored,inflight}`,
//! `publish/messages/{received,sent,dropped}`, `publish/bytes/{received,sent}`,
//! `bytes/{received,sent}`, `subscriptions/count`, `shared_subscriptions/count`,
//! `retained messages/count` (with its space), `store/messages/{count,bytes}`, and the load
//! averages `load/{messages,publish,bytes}/{received,sent}/{1min,5min,15min}`,
//! `load/publish/dropped/{1min,5min,15min}`, `load/{connections,sockets}/{1min,5min,15min}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use switchboard_fabric::{Fabric, Message, PayloadKind, Topic};
use tokio_util::sync::CancellationToken;

/// Prefix of mosquitto's statistics topics.
pub const SYS_BROKER_PREFIX: &str = "$SYS/broker/";

/// Counters the connections add to and the `$SYS` publisher reads.
#[derive(Debug, Default)]
pub struct Stats {
    /// Clients connected now.
    pub connected: AtomicI64,
    /// Most clients connected at once.
    pub maximum: AtomicI64,
    /// Persistent sessions whose client is away.
    pub disconnected: AtomicI64,
    /// Sessions that expired.
    pub expired: AtomicU64,
    /// Connections accepted since start (for the connections load average).
    pub connections: AtomicU64,
    /// Control packets received.
    pub packets_received: AtomicU64,
    /// Control packets sent.
    pub packets_sent: AtomicU64,
    /// PUBLISH messages received.
    pub publish_received: AtomicU64,
    /// PUBLISH messages sent.
    pub publish_sent: AtomicU64,
    /// Bytes of PUBLISH payloads received.
    pub publish_bytes_received: AtomicU64,
    /// Bytes of PUBLISH payloads sent.
    pub publish_bytes_sent: AtomicU64,
    /// Bytes received.
    pub bytes_received: AtomicU64,
    /// Bytes sent.
    pub bytes_sent: AtomicU64,
    /// Messages dropped by the broker itself (denied, too large, not representable...).
    pub dropped: AtomicU64,
    /// Messages in flight to clients.
    pub inflight: AtomicI64,
}

impl Stats {
    /// Counts a client connected, updating the maximum.
    pub fn client_connected(&self) {
        let now = self.connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.maximum.fetch_max(now, Ordering::Relaxed);
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the publisher needs besides the counters.
pub trait SysSource: Send + Sync {
    /// The statistics counters.
    fn stats(&self) -> &Stats;
    /// Messages dropped for MQTT subscribers by the fabric (queue overflow, expiry).
    fn fabric_drops(&self) -> u64;
    /// Shared subscriptions held by MQTT clients.
    fn shared_subscriptions(&self) -> usize;
    /// Messages queued for MQTT sessions.
    fn queued(&self) -> usize;
}

/// An exponentially decaying load average per minute, like mosquitto's `load/...` topics.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    last: u64,
    avg: [f64; 3],
}

impl Load {
    fn update(&mut self, total: u64, interval: Duration) {
        let secs = interval.as_secs_f64().max(0.001);
        let per_min = total.saturating_sub(self.last) as f64 * 60.0 / secs;
        self.last = total;
        for (i, window) in [60.0, 300.0, 900.0].into_iter().enumerate() {
            let k = (-secs / window).exp();
            self.avg[i] = self.avg[i] * k + per_min * (1.0 - k);
        }
    }
}

/// Publishes `$SYS/broker/...` values, remembering the last value of each topic.
#[derive(Debug)]
pub struct SysPublisher {
    fabric: Fabric,
    version: String,
    last: HashMap<&'static str, String>,
    loads: HashMap<&'static str, Load>,
}

impl SysPublisher {
    /// A publisher announcing `version` (e.g. `switchboard 0.1.0`).
    pub fn new(fabric: Fabric, version: impl Into<String>) -> Self {
        SysPublisher {
            fabric,
            version: version.into(),
            last: HashMap::new(),
            loads: HashMap::new(),
        }
    }

    fn put(&mut self, suffix: &'static str, value: String) {
        if self.last.get(suffix) == Some(&value) {
            return;
        }
        let Ok(topic) = Topic::new(format!("{SYS_BROKER_PREFIX}{suffix}")) else {
            return;
        };
        self.fabric.publish(
            Message::new(topic, value.clone().into_bytes())
                .kind(PayloadKind::Text)
                .retain(true),
        );
        self.last.insert(suffix, value);
    }

    fn load(&mut self, name: [&'static str; 3], total: u64, interval: Duration) {
        let load = self.loads.entry(name[0]).or_default();
        load.update(total, interval);
        let avg = load.avg;
        for (i, topic) in name.into_iter().enumerate() {
            self.put(topic, format!("{:.2}", avg[i]));
        }
    }

    /// Publishes every value that changed since the last call; `interval` is the time since it.
    pub fn publish(&mut self, src: &dyn SysSource, interval: Duration) {
        let s = src.stats();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let geti = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0);
        let fstats = self.fabric.stats();
        let connected = geti(&s.connected);
        let disconnected = geti(&s.disconnected);
        let dropped = get(&s.dropped) + src.fabric_drops();
        let version = format!("{} version {}", "switchboard", self.version);
        self.put("version", version);
        self.put("uptime", format!("{} seconds", fstats.uptime.as_secs()));
        self.put("clients/connected", connected.to_string());
        self.put("clients/active", connected.to_string());
        self.put("clients/disconnected", disconnected.to_string());
        self.put("clients/inactive", disconnected.to_string());
        self.put("clients/total", (connected + disconnected).to_string());
        self.put("clients/maximum", geti(&s.maximum).to_string());
        self.put("clients/expired", get(&s.expired).to_string());
        self.put("messages/received", get(&s.packets_received).to_string());
        self.put("messages/sent", get(&s.packets_sent).to_string());
        self.put(
            "messages/stored",
            (fstats.retained + src.queued()).to_string(),
        );
        self.put("messages/inflight", geti(&s.inflight).to_string());
        self.put(
            "publish/messages/received",
            get(&s.publish_received).to_string(),
        );
        self.put("publish/messages/sent", get(&s.publish_sent).to_string());
        self.put("publish/messages/dropped", dropped.to_string());
        self.put(
            "publish/bytes/received",
            get(&s.publish_bytes_received).to_string(),
        );
        self.put("publish/bytes/sent", get(&s.publish_bytes_sent).to_string());
        self.put("bytes/received", get(&s.bytes_received).to_string());
        self.put("bytes/sent", get(&s.bytes_sent).to_string());
        self.put("subscriptions/count", fstats.filters.to_string());
        self.put(
            "shared_subscriptions/count",
            src.shared_subscriptions().to_string(),
        );
        self.put("retained messages/count", fstats.retained.to_string());
        self.put("store/messages/count", fstats.retained.to_string());
        self.put("store/messages/bytes", fstats.retained_bytes.to_string());
        let loads: [([&'static str; 3], u64); 9] = [
            (
                [
                    "load/messages/received/1min",
                    "load/messages/received/5min",
                    "load/messages/received/15min",
                ],
                get(&s.packets_received),
            ),
            (
                [
                    "load/messages/sent/1min",
                    "load/messages/sent/5min",
                    "load/messages/sent/15min",
                ],
                get(&s.packets_sent),
            ),
            (
                [
                    "load/publish/received/1min",
                    "load/publish/received/5min",
                    "load/publish/received/15min",
                ],
                get(&s.publish_received),
            ),
            (
                [
                    "load/publish/sent/1min",
                    "load/publish/sent/5min",
                    "load/publish/sent/15min",
                ],
                get(&s.publish_sent),
            ),
            (
                [
                    "load/publish/dropped/1min",
                    "load/publish/dropped/5min",
                    "load/publish/dropped/15min",
                ],
                dropped,
            ),
            (
                [
                    "load/bytes/received/1min",
                    "load/bytes/received/5min",
                    "load/bytes/received/15min",
                ],
                get(&s.bytes_received),
            ),
            (
                [
                    "load/bytes/sent/1min",
                    "load/bytes/sent/5min",
                    "load/bytes/sent/15min",
                ],
                get(&s.bytes_sent),
            ),
            (
                [
                    "load/connections/1min",
                    "load/connections/5min",
                    "load/connections/15min",
                ],
                get(&s.connections),
            ),
            (
                [
                    "load/sockets/1min",
                    "load/sockets/5min",
                    "load/sockets/15min",
                ],
                get(&s.connections),
            ),
        ];
        for (names, total) in loads {
            self.load(names, total, interval);
        }
    }
}

/// Publishes `$SYS/broker/...` every `interval` until `stop` fires.
pub async fn run(
    mut publisher: SysPublisher,
    source: std::sync::Arc<dyn SysSource>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => publisher.publish(&*source, interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::{SubOptions, SubscriberSpec, TopicFilter};

    struct Src(Stats);
    impl SysSource for Src {
        fn stats(&self) -> &Stats {
            &self.0
        }
        fn fabric_drops(&self) -> u64 {
            5
        }
        fn shared_subscriptions(&self) -> usize {
            0
        }
        fn queued(&self) -> usize {
            0
        }
    }

    #[test]
    fn mosquitto_topics_are_published_retained_and_only_when_changed() {
        let fabric = Fabric::standalone();
        let src = Src(Stats::default());
        src.0.client_connected();
        src.0.publish_received.store(7, Ordering::Relaxed);
        let mut p = SysPublisher::new(fabric.clone(), "0.1.0");
        p.publish(&src, Duration::from_secs(10));
        let value = |t: &str| {
            fabric
                .retained_value(&Topic::new(t).unwrap())
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        };
        assert_eq!(value("$SYS/broker/clients/connected").as_deref(), Some("1"));
        assert_eq!(value("$SYS/broker/clients/maximum").as_deref(), Some("1"));
        assert_eq!(
            value("$SYS/broker/publish/messages/received").as_deref(),
            Some("7")
        );
        assert_eq!(
            value("$SYS/broker/publish/messages/dropped").as_deref(),
            Some("5")
        );
        assert_eq!(
            value("$SYS/broker/retained messages/count").as_deref(),
            Some("0")
        );
        assert!(
            value("$SYS/broker/version")
                .unwrap()
                .starts_with("switchboard version")
        );
        assert!(value("$SYS/broker/load/publish/received/1min").is_some());

        // A second round publishes only what changed.
        let mut sub = fabric.subscriber(SubscriberSpec::new("test", "t"));
        sub.subscribe(
            TopicFilter::new("$SYS/broker/clients/#").unwrap(),
            SubOptions {
                replay: switchboard_fabric::Replay::Never,
                ..SubOptions::default()
            },
        );
        src.0.client_connected();
        p.publish(&src, Duration::from_secs(10));
        let mut got = Vec::new();
        while let Ok(Some(d)) = sub.try_recv() {
            got.push(d.message.topic.as_str().to_owned());
        }
        got.sort();
        assert_eq!(
            got,
            [
                "$SYS/broker/clients/active",
                "$SYS/broker/clients/connected",
                "$SYS/broker/clients/maximum",
                "$SYS/broker/clients/total"
            ]
        );
    }

    #[test]
    fn load_averages_converge_to_the_rate() {
        let mut l = Load::default();
        let mut total = 0;
        for _ in 0..1000 {
            total += 100; // 100 per 10 s = 600 per minute
            l.update(total, Duration::from_secs(10));
        }
        assert!((l.avg[0] - 600.0).abs() < 1.0, "{:?}", l.avg);
        assert!((l.avg[2] - 600.0).abs() < 1.0, "{:?}", l.avg);
    }
}
