//! The broker's own Prometheus metrics (`switchboard_mqtt_*`), next to the shared per-protocol
//! ones ([`switchboard_fabric::ProtocolMetrics`]).
//!
//! Hot-path counters are pre-bound to their labels once, and connections add to them once per
//! batch ([`Tally`]) rather than once per packet.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use switchboard_mqtt_proto::PacketType;

/// Every packet type, indexed by its wire value (index 0 unused).
const TYPES: [&str; 16] = [
    "reserved",
    "connect",
    "connack",
    "publish",
    "puback",
    "pubrec",
    "pubrel",
    "pubcomp",
    "subscribe",
    "suback",
    "unsubscribe",
    "unsuback",
    "pingreq",
    "pingresp",
    "disconnect",
    "auth",
];

/// The broker's metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MqttMetrics {
    packets_in: Vec<IntCounter>,
    packets_out: Vec<IntCounter>,
    messages_in: [IntCounter; 3],
    messages_out: [IntCounter; 3],
    /// QoS 1/2 messages sent to clients and not yet acknowledged.
    pub inflight: IntGauge,
    /// Sessions by state (`online`, `offline`).
    sessions: IntGaugeVec,
    /// Sessions that expired while offline.
    pub sessions_expired: IntCounter,
    /// Sessions taken over by a new connection with the same client id.
    pub takeovers: IntCounter,
    /// Will messages published.
    pub wills: IntCounter,
    /// Messages re-sent on reconnect (DUP) and PUBRELs repeated.
    pub retransmits: IntCounter,
    /// Protocol violations and malformed input, by kind.
    protocol_errors: IntCounterVec,
    /// Messages from other protocols that MQTT cannot carry, by reason.
    skipped: IntCounterVec,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: T,
) -> Result<T, prometheus::Error> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl MqttMetrics {
    /// Creates the metrics and registers them on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let cv = |name: &str, help: &str, label: &str| {
            reg(
                registry,
                IntCounterVec::new(Opts::new(name, help), &[label])?,
            )
        };
        let c = |name: &str, help: &str| reg(registry, IntCounter::new(name, help)?);
        let pin = cv(
            "switchboard_mqtt_packets_received_total",
            "MQTT control packets received, by type",
            "type",
        )?;
        let pout = cv(
            "switchboard_mqtt_packets_sent_total",
            "MQTT control packets sent, by type",
            "type",
        )?;
        let min = cv(
            "switchboard_mqtt_messages_received_total",
            "PUBLISH messages received from clients, by QoS",
            "qos",
        )?;
        let mout = cv(
            "switchboard_mqtt_messages_sent_total",
            "PUBLISH messages sent to clients, by QoS",
            "qos",
        )?;
        let qos = |v: &IntCounterVec| {
            [
                v.with_label_values(&["0"]),
                v.with_label_values(&["1"]),
                v.with_label_values(&["2"]),
            ]
        };
        Ok(MqttMetrics {
            packets_in: TYPES.iter().map(|t| pin.with_label_values(&[*t])).collect(),
            packets_out: TYPES
                .iter()
                .map(|t| pout.with_label_values(&[*t]))
                .collect(),
            messages_in: qos(&min),
            messages_out: qos(&mout),
            inflight: reg(
                registry,
                IntGauge::new(
                    "switchboard_mqtt_inflight",
                    "QoS 1/2 messages sent to clients and not yet acknowledged",
                )?,
            )?,
            sessions: reg(
                registry,
                IntGaugeVec::new(
                    Opts::new("switchboard_mqtt_sessions", "MQTT sessions, by state"),
                    &["state"],
                )?,
            )?,
            sessions_expired: c(
                "switchboard_mqtt_sessions_expired_total",
                "Offline MQTT sessions that expired",
            )?,
            takeovers: c(
                "switchboard_mqtt_takeovers_total",
                "Sessions taken over by a new connection with the same client id",
            )?,
            wills: c(
                "switchboard_mqtt_wills_published_total",
                "Will messages published",
            )?,
            retransmits: c(
                "switchboard_mqtt_retransmits_total",
                "Unacknowledged messages re-sent when a session resumed",
            )?,
            protocol_errors: cv(
                "switchboard_mqtt_protocol_errors_total",
                "Connections ended for malformed input or protocol violations, by kind",
                "kind",
            )?,
            skipped: cv(
                "switchboard_mqtt_skipped_total",
                "Messages not delivered to an MQTT client, by reason",
                "reason",
            )?,
        })
    }

    /// Metrics on a private registry, for tests.
    pub fn unregistered() -> Self {
        Self::register(&Registry::new())
            .unwrap_or_else(|e| unreachable!("a fresh registry accepts the metrics: {e}"))
    }

    /// The gauge of sessions in `state` (`online` or `offline`).
    pub fn sessions(&self, state: &str) -> IntGauge {
        self.sessions.with_label_values(&[state])
    }

    /// Counts a protocol error of `kind`.
    pub fn protocol_error(&self, kind: &str) {
        self.protocol_errors.with_label_values(&[kind]).inc();
    }

    /// Counts a message not delivered for `reason`.
    pub fn skipped(&self, reason: &str) {
        self.skipped.with_label_values(&[reason]).inc();
    }

    /// Adds a connection's batch of counts.
    pub fn add(&self, tally: &mut Tally) {
        for (i, n) in tally.packets_in.iter_mut().enumerate() {
            if *n > 0 {
                self.packets_in[i].inc_by(*n);
                *n = 0;
            }
        }
        for (i, n) in tally.packets_out.iter_mut().enumerate() {
            if *n > 0 {
                self.packets_out[i].inc_by(*n);
                *n = 0;
            }
        }
        for q in 0..3 {
            if tally.messages_in[q] > 0 {
                self.messages_in[q].inc_by(tally.messages_in[q]);
                tally.messages_in[q] = 0;
            }
            if tally.messages_out[q] > 0 {
                self.messages_out[q].inc_by(tally.messages_out[q]);
                tally.messages_out[q] = 0;
            }
        }
    }
}

/// Counts gathered by a connection between two flushes into [`MqttMetrics`].
#[derive(Debug, Default, Clone)]
pub struct Tally {
    packets_in: [u64; 16],
    packets_out: [u64; 16],
    messages_in: [u64; 3],
    messages_out: [u64; 3],
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// PUBLISH payload bytes received.
    pub publish_bytes_in: u64,
    /// PUBLISH payload bytes sent.
    pub publish_bytes_out: u64,
    /// Change of the number of messages in flight to clients.
    pub inflight_delta: i64,
}

impl Tally {
    /// One packet received.
    pub fn packet_in(&mut self, t: PacketType) {
        self.packets_in[usize::from(t.as_u8() & 0x0F)] += 1;
    }

    /// One packet sent.
    pub fn packet_out(&mut self, t: PacketType) {
        self.packets_out[usize::from(t.as_u8() & 0x0F)] += 1;
    }

    /// One PUBLISH received at `qos`.
    pub fn message_in(&mut self, qos: u8) {
        self.messages_in[usize::from(qos.min(2))] += 1;
    }

    /// One PUBLISH sent at `qos`.
    pub fn message_out(&mut self, qos: u8) {
        self.messages_out[usize::from(qos.min(2))] += 1;
    }

    /// PUBLISH messages received in this tally (all QoS).
    pub fn messages_in_total(&self) -> u64 {
        self.messages_in.iter().sum()
    }

    /// PUBLISH messages sent in this tally (all QoS).
    pub fn messages_out_total(&self) -> u64 {
        self.messages_out.iter().sum()
    }

    /// Packets received in this tally (all types).
    pub fn packets_in_total(&self) -> u64 {
        self.packets_in.iter().sum()
    }

    /// Packets sent in this tally (all types).
    pub fn packets_out_total(&self) -> u64 {
        self.packets_out.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_is_added_once_and_reset() {
        let m = MqttMetrics::unregistered();
        let mut t = Tally::default();
        t.packet_in(PacketType::Publish);
        t.packet_in(PacketType::Publish);
        t.message_out(1);
        m.add(&mut t);
        m.add(&mut t);
        assert_eq!(m.packets_in[3].get(), 2);
        assert_eq!(m.messages_out[1].get(), 1);
        assert_eq!(t.packets_in_total(), 0);
    }
}
