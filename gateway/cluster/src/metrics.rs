//! `switchboard_cluster_*` metrics.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The cluster link's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// 1 while NATS is connected and the backlog may flow, else 0.
    pub up: IntGauge,
    /// Other nodes heard from recently.
    pub peers: IntGauge,
    /// NATS subjects subscribed for local interest.
    pub subscriptions: IntGauge,
    /// Messages waiting in the outbound buffer.
    pub buffered: IntGauge,
    /// Messages sent to NATS.
    pub sent: IntCounter,
    /// Messages received from other nodes and injected into the fabric.
    pub received: IntCounter,
    /// Messages the cluster did not carry, by reason.
    pub dropped: IntCounterVec,
    /// Messages sent again after the link broke before NATS confirmed them.
    pub resent: IntCounter,
    /// Reconnections to NATS.
    pub reconnects: IntCounter,
    /// HTTP requests forwarded to the node owning their session, by result.
    pub forwarded: IntCounterVec,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    c: T,
) -> Result<T, prometheus::Error> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Registers the metrics on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Metrics {
            up: reg(
                registry,
                IntGauge::new(
                    "switchboard_cluster_up",
                    "1 while the NATS link is up and messages flow to other nodes",
                )?,
            )?,
            peers: reg(
                registry,
                IntGauge::new(
                    "switchboard_cluster_peers",
                    "Other gateway nodes heard from recently",
                )?,
            )?,
            subscriptions: reg(
                registry,
                IntGauge::new(
                    "switchboard_cluster_subscriptions",
                    "NATS subjects subscribed for local subscribers",
                )?,
            )?,
            buffered: reg(
                registry,
                IntGauge::new(
                    "switchboard_cluster_buffered",
                    "Messages waiting in the outbound buffer for the NATS link",
                )?,
            )?,
            sent: reg(
                registry,
                IntCounter::new(
                    "switchboard_cluster_sent_total",
                    "Messages sent to other nodes through NATS",
                )?,
            )?,
            received: reg(
                registry,
                IntCounter::new(
                    "switchboard_cluster_received_total",
                    "Messages received from other nodes",
                )?,
            )?,
            dropped: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "switchboard_cluster_dropped_total",
                        "Messages the cluster did not carry, by reason",
                    ),
                    &["reason"],
                )?,
            )?,
            resent: reg(
                registry,
                IntCounter::new(
                    "switchboard_cluster_resent_total",
                    "Messages sent again after the NATS link broke before confirming them",
                )?,
            )?,
            reconnects: reg(
                registry,
                IntCounter::new(
                    "switchboard_cluster_reconnects_total",
                    "Reconnections to NATS",
                )?,
            )?,
            forwarded: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "switchboard_cluster_forwarded_total",
                        "HTTP requests forwarded to the node owning their Engine.IO session",
                    ),
                    &["result"],
                )?,
            )?,
        })
    }

    /// Counts a drop.
    pub fn drop(&self, reason: &str) {
        self.dropped.with_label_values(&[reason]).inc();
    }

    /// Metrics on a private registry, for tests.
    pub fn standalone() -> Self {
        Metrics::register(&Registry::new()).unwrap_or_else(|e| unreachable!("fresh registry: {e}"))
    }
}
