//! Prometheus metrics of the fabric, and the per-protocol connection metrics every bridge shares.
//!
//! Everything is registered on a registry the caller passes in; names start with `switchboard_`.
//! Protocol labels are opaque strings: the fabric does not know which protocols exist.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::message::Message;

/// Latency buckets in seconds, from 10 µs to 2.5 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The fabric's metrics.
#[derive(Debug, Clone)]
pub struct FabricMetrics {
    pub(crate) published: IntCounter,
    pub(crate) delivered: IntCounterVec,
    pub(crate) dropped: IntCounterVec,
    pub(crate) subscriptions: IntGaugeVec,
    pub(crate) subscribers: IntGaugeVec,
    pub(crate) retained: IntGauge,
    pub(crate) retained_bytes: IntGauge,
    pub(crate) latency: HistogramVec,
    pub(crate) requests: IntCounterVec,
    pub(crate) protocol: ProtocolMetricsFamily,
    pub(crate) per_protocol: Arc<Mutex<HashMap<Arc<str>, ProtocolMetrics>>>,
    /// Subscriber metrics bound to each protocol label, bound once and shared by every
    /// subscriber of that protocol (binding labels costs a hash and a lock each time).
    per_subscriber: Arc<Mutex<HashMap<Arc<str>, SubscriberMetrics>>>,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: T,
) -> Result<T, prometheus::Error> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl FabricMetrics {
    /// Creates the fabric metrics and registers them on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(FabricMetrics {
            published: reg(
                registry,
                IntCounter::new(
                    "switchboard_fabric_published_total",
                    "Messages published into the fabric",
                )?,
            )?,
            delivered: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "switchboard_fabric_delivered_total",
                        "Deliveries taken from subscriber queues, by subscriber protocol",
                    ),
                    &["protocol"],
                )?,
            )?,
            dropped: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "switchboard_dropped_total",
                        "Messages dropped, by protocol and reason",
                    ),
                    &["protocol", "reason"],
                )?,
            )?,
            subscriptions: reg(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "switchboard_subscriptions",
                        "Active subscriptions, by subscriber protocol",
                    ),
                    &["protocol"],
                )?,
            )?,
            subscribers: reg(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "switchboard_fabric_subscribers",
                        "Subscriber queues, by protocol",
                    ),
                    &["protocol"],
                )?,
            )?,
            retained: reg(
                registry,
                IntGauge::new("switchboard_retained_messages", "Retained messages stored")?,
            )?,
            retained_bytes: reg(
                registry,
                IntGauge::new(
                    "switchboard_retained_bytes",
                    "Bytes of topic and payload held by retained messages",
                )?,
            )?,
            latency: reg(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "switchboard_delivery_latency_seconds",
                        "Time from publish into the fabric to hand-over to the subscriber's connection",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["protocol"],
                )?,
            )?,
            requests: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "switchboard_requests_total",
                        "Fabric requests, by outcome (ok, timeout, no_responders)",
                    ),
                    &["outcome"],
                )?,
            )?,
            protocol: ProtocolMetricsFamily::register(registry)?,
            per_protocol: Arc::default(),
            per_subscriber: Arc::default(),
        })
    }

    pub(crate) fn subscriber(&self, protocol: &str) -> SubscriberMetrics {
        let mut map = self.per_subscriber.lock();
        if let Some(m) = map.get(protocol) {
            return m.clone();
        }
        let common_drops = DROP_REASONS
            .iter()
            .map(|r| self.dropped.with_label_values(&[protocol, r]))
            .collect();
        let protocol: Arc<str> = Arc::from(protocol);
        let m = SubscriberMetrics(Arc::new(BoundSubscriberMetrics {
            delivered: self.delivered.with_label_values(&[&*protocol]),
            latency: self.latency.with_label_values(&[&*protocol]),
            subscribers: self.subscribers.with_label_values(&[&*protocol]),
            subscriptions: self.subscriptions.with_label_values(&[&*protocol]),
            dropped: self.dropped.clone(),
            protocol: protocol.clone(),
            common_drops,
        }));
        map.insert(protocol, m.clone());
        m
    }

    /// Counts a drop that happened outside a subscriber queue (a bridge refusing a message).
    pub fn count_drop(&self, protocol: &str, reason: &str) {
        self.dropped.with_label_values(&[protocol, reason]).inc();
    }

    /// The connection and traffic metrics of one protocol (created on first use, then shared).
    pub fn protocol(&self, protocol: &str) -> ProtocolMetrics {
        let mut map = self.per_protocol.lock();
        if let Some(m) = map.get(protocol) {
            return m.clone();
        }
        let m = self.protocol.bind(protocol, self.dropped.clone());
        map.insert(Arc::from(protocol), m.clone());
        m
    }

    /// Currently open connections, by protocol label.
    pub fn connections_by_protocol(&self) -> Vec<(Arc<str>, i64)> {
        let mut v: Vec<_> = self
            .per_protocol
            .lock()
            .iter()
            .map(|(k, m)| (k.clone(), m.connections.get()))
            .collect();
        v.sort();
        v
    }
}

const DROP_REASONS: &[&str] = &[
    "queue_full_drop_oldest",
    "queue_full_drop_new",
    "slow_consumer_disconnect",
    "expired",
];

/// Metrics pre-bound to one subscriber's protocol label (shared by the protocol's subscribers).
#[derive(Debug, Clone)]
pub(crate) struct SubscriberMetrics(Arc<BoundSubscriberMetrics>);

#[derive(Debug)]
struct BoundSubscriberMetrics {
    delivered: IntCounter,
    latency: Histogram,
    subscribers: IntGauge,
    subscriptions: IntGauge,
    dropped: IntCounterVec,
    protocol: Arc<str>,
    common_drops: Vec<IntCounter>,
}

impl SubscriberMetrics {
    /// `switchboard_subscribers{protocol}`.
    pub(crate) fn subscribers(&self) -> &IntGauge {
        &self.0.subscribers
    }

    /// `switchboard_subscriptions{protocol}`.
    pub(crate) fn subscriptions(&self) -> &IntGauge {
        &self.0.subscriptions
    }

    pub(crate) fn dropped(&self, reason: &'static str) {
        match DROP_REASONS.iter().position(|r| *r == reason) {
            Some(i) => self.0.common_drops[i].inc(),
            None => self
                .0
                .dropped
                .with_label_values(&[&*self.0.protocol, reason])
                .inc(),
        }
    }

    pub(crate) fn delivered(&self, msg: &Message) {
        self.0.delivered.inc();
        self.0.latency.observe(
            Instant::now()
                .saturating_duration_since(msg.created)
                .as_secs_f64(),
        );
    }
}

/// Metric families shared by all protocols.
#[derive(Debug, Clone)]
pub(crate) struct ProtocolMetricsFamily {
    connections: IntGaugeVec,
    accepted: IntCounterVec,
    rejected: IntCounterVec,
    disconnects: IntCounterVec,
    messages_in: IntCounterVec,
    messages_out: IntCounterVec,
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    auth_failures: IntCounterVec,
}

impl ProtocolMetricsFamily {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let cv =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                reg(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
            };
        Ok(ProtocolMetricsFamily {
            connections: reg(
                registry,
                IntGaugeVec::new(
                    Opts::new("switchboard_connections", "Open connections, by protocol"),
                    &["protocol"],
                )?,
            )?,
            accepted: cv(
                "switchboard_connections_accepted_total",
                "Connections accepted, by protocol",
                &["protocol"],
            )?,
            rejected: cv(
                "switchboard_connections_rejected_total",
                "Connections refused before or during the handshake, by protocol and reason",
                &["protocol", "reason"],
            )?,
            disconnects: cv(
                "switchboard_disconnects_total",
                "Connections closed, by protocol and reason",
                &["protocol", "reason"],
            )?,
            messages_in: cv(
                "switchboard_messages_received_total",
                "Messages received from clients, by protocol",
                &["protocol"],
            )?,
            messages_out: cv(
                "switchboard_messages_sent_total",
                "Messages sent to clients, by protocol",
                &["protocol"],
            )?,
            bytes_in: cv(
                "switchboard_bytes_received_total",
                "Bytes received from clients, by protocol",
                &["protocol"],
            )?,
            bytes_out: cv(
                "switchboard_bytes_sent_total",
                "Bytes sent to clients, by protocol",
                &["protocol"],
            )?,
            auth_failures: cv(
                "switchboard_auth_failures_total",
                "Refused credentials or denied actions, by protocol and kind",
                &["protocol", "kind"],
            )?,
        })
    }

    fn bind(&self, protocol: &str, dropped: IntCounterVec) -> ProtocolMetrics {
        ProtocolMetrics {
            protocol: Arc::from(protocol),
            connections: self.connections.with_label_values(&[protocol]),
            accepted: self.accepted.with_label_values(&[protocol]),
            messages_in: self.messages_in.with_label_values(&[protocol]),
            messages_out: self.messages_out.with_label_values(&[protocol]),
            bytes_in: self.bytes_in.with_label_values(&[protocol]),
            bytes_out: self.bytes_out.with_label_values(&[protocol]),
            rejected: self.rejected.clone(),
            disconnects: self.disconnects.clone(),
            auth_failures: self.auth_failures.clone(),
            dropped,
        }
    }
}

/// Connection and traffic metrics pre-bound to one protocol label. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProtocolMetrics {
    protocol: Arc<str>,
    /// Open connections.
    pub connections: IntGauge,
    /// Connections accepted.
    pub accepted: IntCounter,
    /// Messages received from clients.
    pub messages_in: IntCounter,
    /// Messages sent to clients.
    pub messages_out: IntCounter,
    /// Bytes received from clients.
    pub bytes_in: IntCounter,
    /// Bytes sent to clients.
    pub bytes_out: IntCounter,
    rejected: IntCounterVec,
    disconnects: IntCounterVec,
    auth_failures: IntCounterVec,
    dropped: IntCounterVec,
}

impl ProtocolMetrics {
    /// The protocol label.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// Counts a new connection and returns a guard that counts it closed when dropped.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.accepted.inc();
        self.connections.inc();
        ConnectionGuard {
            gauge: self.connections.clone(),
        }
    }

    /// Counts a connection refused (over the limit, bad handshake, ...).
    pub fn rejected(&self, reason: &str) {
        self.rejected
            .with_label_values(&[&*self.protocol, reason])
            .inc();
    }

    /// Counts a connection closed, with the protocol's own reason name.
    pub fn disconnected(&self, reason: &str) {
        self.disconnects
            .with_label_values(&[&*self.protocol, reason])
            .inc();
    }

    /// Counts an authentication or authorisation failure (`kind`: `credentials`, `publish`,
    /// `subscribe`...).
    pub fn auth_failure(&self, kind: &str) {
        self.auth_failures
            .with_label_values(&[&*self.protocol, kind])
            .inc();
    }

    /// Counts a message dropped by the protocol layer itself.
    pub fn dropped(&self, reason: &str) {
        self.dropped
            .with_label_values(&[&*self.protocol, reason])
            .inc();
    }
}

/// Decrements the open-connections gauge when dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    gauge: IntGauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}
