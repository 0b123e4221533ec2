//! Prometheus metrics of the IPC broker (`switchboard_ipc_*`), next to the shared per-protocol
//! metrics the fabric keeps for every protocol (`switchboard_connections{protocol="ipc"}`,
//! `switchboard_messages_received_total`, ...).
//!
//! Hot paths count into per-connection locals and add them here once per read or write batch,
//! so two cores forwarding messages do not fight over one counter's cache line per message.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use switchboard_fabric::ProtocolMetrics;

/// Why a frame was dropped or a connection closed, as counted in
/// `switchboard_ipc_dropped_total{reason}` and `switchboard_disconnects_total`.
pub mod reason {
    /// A connection's output queue was full and the frame was dropped (`drop_new`).
    pub const QUEUE_FULL_DROP_NEW: &str = "queue_full_drop_new";
    /// A queued frame was dropped to make room (`drop_oldest`).
    pub const QUEUE_FULL_DROP_OLDEST: &str = "queue_full_drop_oldest";
    /// The output queue was full and the connection was closed (`disconnect`).
    pub const SLOW_CONSUMER: &str = "slow_consumer";
    /// A frame header declared more than `max_frame` bytes.
    pub const FRAME_TOO_LARGE: &str = "frame_too_large";
    /// Bytes that are not a socket-serializer frame.
    pub const BAD_FRAME: &str = "bad_frame";
    /// A well-framed packet that is not a valid 16.x packet.
    pub const BAD_PACKET: &str = "bad_packet";
    /// A command kind the 16.x broker does not know.
    pub const UNKNOWN_COMMAND: &str = "unknown_command";
    /// A client of the 13–15.x dialect (a peer without an id).
    pub const PRE_V16: &str = "pre_v16_client";
    /// No handshake within `handshake_timeout_ms`.
    pub const HANDSHAKE_TIMEOUT: &str = "handshake_timeout";
    /// A per-connection or total limit was exceeded.
    pub const LIMIT: &str = "limit";
    /// The peer closed the connection.
    pub const CLIENT_CLOSED: &str = "client_closed";
    /// Reading or writing failed.
    pub const IO_ERROR: &str = "io_error";
    /// The gateway is shutting down.
    pub const SHUTDOWN: &str = "shutdown";
    /// An operator disconnected the client (admin API).
    pub const ADMIN_KICK: &str = "admin_kick";
    /// A targeted response whose target is not connected.
    pub const NO_TARGET: &str = "no_target";
    /// A fabric payload that cannot become IPC args (invalid UTF-8 text, invalid JSON).
    pub const BAD_PAYLOAD: &str = "bad_payload";
    /// The authorizer refused the action.
    pub const NOT_AUTHORIZED: &str = "not_authorized";
}

/// The IPC broker's own metrics plus the shared per-protocol ones. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IpcMetrics {
    /// Registered peers (`switchboard_ipc_peers`).
    pub peers: IntGauge,
    /// Channels with at least one listener (`switchboard_ipc_channels`).
    pub channels: IntGauge,
    /// Packets received, by command kind (`switchboard_ipc_packets_received_total{kind}`).
    packets: IntCounterVec,
    /// Frames sent to IPC connections (`switchboard_ipc_frames_sent_total`).
    pub frames_sent: IntCounter,
    /// Bytes received from IPC connections (`switchboard_ipc_bytes_received_total`).
    pub bytes_received: IntCounter,
    /// Bytes sent to IPC connections (`switchboard_ipc_bytes_sent_total`).
    pub bytes_sent: IntCounter,
    /// Bytes waiting in output queues (`switchboard_ipc_queued_bytes`).
    pub queued_bytes: IntGauge,
    /// Frames dropped or connections closed, by reason (`switchboard_ipc_dropped_total`).
    dropped: IntCounterVec,
    /// Messages crossing the bridge, by direction (`switchboard_ipc_bridged_total{direction}`:
    /// `to_fabric`, `from_fabric`, `request_to_fabric`, `request_from_fabric`, `reply_to_fabric`,
    /// `reply_from_fabric`).
    bridged: IntCounterVec,
    /// The shared per-protocol metrics (`protocol="ipc"`).
    pub protocol: ProtocolMetrics,
}

impl IpcMetrics {
    /// Registers the `switchboard_ipc_*` metrics on `registry`.
    pub fn register(
        registry: &Registry,
        protocol: ProtocolMetrics,
    ) -> Result<IpcMetrics, prometheus::Error> {
        fn reg<T: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            metric: T,
        ) -> Result<T, prometheus::Error> {
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        }
        let counter = |name: &str, help: &str| reg(registry, IntCounter::new(name, help)?);
        let gauge = |name: &str, help: &str| reg(registry, IntGauge::new(name, help)?);
        let vec = |name: &str, help: &str, label: &str| {
            reg(
                registry,
                IntCounterVec::new(Opts::new(name, help), &[label])?,
            )
        };
        Ok(IpcMetrics {
            peers: gauge("switchboard_ipc_peers", "Registered IPC peers")?,
            channels: gauge(
                "switchboard_ipc_channels",
                "IPC channels with at least one listener",
            )?,
            packets: vec(
                "switchboard_ipc_packets_received_total",
                "IPC packets received, by command kind",
                "kind",
            )?,
            frames_sent: counter(
                "switchboard_ipc_frames_sent_total",
                "Frames written to IPC connections",
            )?,
            bytes_received: counter(
                "switchboard_ipc_bytes_received_total",
                "Bytes read from IPC connections",
            )?,
            bytes_sent: counter(
                "switchboard_ipc_bytes_sent_total",
                "Bytes written to IPC connections",
            )?,
            queued_bytes: gauge(
                "switchboard_ipc_queued_bytes",
                "Bytes waiting in IPC output queues",
            )?,
            dropped: vec(
                "switchboard_ipc_dropped_total",
                "IPC frames dropped or connections closed, by reason",
                "reason",
            )?,
            bridged: vec(
                "switchboard_ipc_bridged_total",
                "Messages crossing the IPC bridge, by direction",
                "direction",
            )?,
            protocol,
        })
    }

    /// Metrics on a private registry, for tests and tools.
    pub fn standalone(protocol: ProtocolMetrics) -> IpcMetrics {
        IpcMetrics::register(&Registry::new(), protocol)
            .unwrap_or_else(|e| unreachable!("a fresh registry has no clashes: {e}"))
    }

    /// Counts `n` packets of `kind` received.
    pub fn packets(&self, kind: &str, n: u64) {
        self.packets.with_label_values(&[kind]).inc_by(n);
    }

    /// Packets of `kind` received so far.
    pub fn packets_received(&self, kind: &str) -> u64 {
        self.packets.with_label_values(&[kind]).get()
    }

    /// Counts a drop (or a closed connection) for `reason`, here and in the shared
    /// `switchboard_dropped_total{protocol="ipc"}`.
    pub fn dropped(&self, reason: &str) {
        self.dropped.with_label_values(&[reason]).inc();
        self.protocol.dropped(reason);
    }

    /// Drops counted so far for `reason`.
    pub fn drops(&self, reason: &str) -> u64 {
        self.dropped.with_label_values(&[reason]).get()
    }

    /// Counts one message crossing the bridge in `direction`.
    pub fn bridged(&self, direction: &str) {
        self.bridged.with_label_values(&[direction]).inc();
    }

    /// Messages counted so far crossing the bridge in `direction`.
    pub fn bridged_count(&self, direction: &str) -> u64 {
        self.bridged.with_label_values(&[direction]).get()
    }
}
