//! Socket.IO metrics: the shared per-protocol metrics of the fabric (`protocol="socketio"`),
//! which the Engine.IO layer underneath also counts its sessions and messages in, plus the
//! `switchboard_socketio_*` series.

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use switchboard_fabric::ProtocolMetrics;
use switchboard_socketio_proto::PacketType;

/// The Socket.IO server's own metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The shared per-protocol metrics (`switchboard_connections{protocol="socketio"}`, ...).
    pub common: ProtocolMetrics,
    sockets: IntGaugeVec,
    connects: IntCounterVec,
    /// Packets received, by type (pre-bound, in wire order).
    packets: Vec<IntCounter>,
    errors: IntCounterVec,
}

impl Metrics {
    /// Registers the `switchboard_socketio_*` series on `registry`.
    pub fn register(
        registry: &Registry,
        common: ProtocolMetrics,
    ) -> Result<Self, prometheus::Error> {
        let sockets = IntGaugeVec::new(
            Opts::new(
                "switchboard_socketio_sockets",
                "Sockets connected to a Socket.IO namespace, by namespace",
            ),
            &["namespace"],
        )?;
        let connects = IntCounterVec::new(
            Opts::new(
                "switchboard_socketio_connects_total",
                "Namespace connection attempts, by namespace and outcome (ok, invalid_namespace, \
                 unauthorized, forbidden, invalid_topic, too_many)",
            ),
            &["namespace", "outcome"],
        )?;
        let packets = IntCounterVec::new(
            Opts::new(
                "switchboard_socketio_packets_received_total",
                "Socket.IO packets received, by type",
            ),
            &["type"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "switchboard_socketio_protocol_errors_total",
                "Connections closed for a Socket.IO protocol violation, by kind",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(sockets.clone()))?;
        registry.register(Box::new(connects.clone()))?;
        registry.register(Box::new(packets.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        let names = [
            "connect",
            "disconnect",
            "event",
            "ack",
            "connect_error",
            "binary_event",
            "binary_ack",
        ];
        Ok(Metrics {
            common,
            sockets,
            connects,
            packets: names
                .iter()
                .map(|n| packets.with_label_values(&[n]))
                .collect(),
            errors,
        })
    }

    /// Metrics on a private registry, for tests and tools.
    pub fn standalone() -> Self {
        let fabric = switchboard_fabric::Fabric::standalone();
        Self::register(&Registry::new(), fabric.metrics().protocol(crate::PROTOCOL))
            .unwrap_or_else(|e| unreachable!("a fresh registry has no duplicates: {e}"))
    }

    pub(crate) fn packet(&self, t: PacketType) {
        if let Some(c) = self.packets.get(usize::from(t.number())) {
            c.inc();
        }
    }

    pub(crate) fn connect(&self, namespace: &str, outcome: &str) {
        self.connects.with_label_values(&[namespace, outcome]).inc();
    }

    pub(crate) fn sockets(&self, namespace: &str) -> prometheus::IntGauge {
        self.sockets.with_label_values(&[namespace])
    }

    pub(crate) fn protocol_error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }
}
