//! Engine.IO metrics: the shared per-protocol metrics of the fabric (`protocol="engineio"`:
//! connections, messages, bytes, disconnects by engine.io close reason, drops, auth failures)
//! plus the `switchboard_engineio_*` series registered on the registry the app passes in.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use switchboard_engineio_proto::{ErrorCode, ProtocolVersion, Transport};
use switchboard_fabric::ProtocolMetrics;

/// The Engine.IO server's metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// The shared per-protocol metrics (`switchboard_connections{protocol="engineio"}`, ...).
    pub common: ProtocolMetrics,
    sessions_polling: IntGauge,
    sessions_websocket: IntGauge,
    /// Handshakes by `[polling v4, polling v3, websocket v4, websocket v3]`, pre-bound.
    handshakes: [IntCounter; 4],
    upgrades: IntCounterVec,
    errors: IntCounterVec,
    /// Polling GETs waiting for packets.
    pub(crate) pending_polls: IntGauge,
    /// Requests answered with an engine.io error code, by code (0..=5), pre-bound.
    error_codes: Vec<IntCounter>,
    deflate_messages: IntCounterVec,
    deflate_bytes: IntCounterVec,
}

impl Metrics {
    /// Registers the `switchboard_engineio_*` series on `registry`.
    pub fn register(
        registry: &Registry,
        common: ProtocolMetrics,
    ) -> Result<Self, prometheus::Error> {
        let sessions = IntGaugeVec::new(
            Opts::new(
                "switchboard_engineio_sessions",
                "Open Engine.IO sessions, by current transport",
            ),
            &["transport"],
        )?;
        let handshakes = IntCounterVec::new(
            Opts::new(
                "switchboard_engineio_handshakes_total",
                "Engine.IO sessions opened, by transport and protocol revision",
            ),
            &["transport", "protocol"],
        )?;
        let upgrades = IntCounterVec::new(
            Opts::new(
                "switchboard_engineio_upgrades_total",
                "Transport upgrades to WebSocket, by outcome (ok, timeout, failed, refused)",
            ),
            &["outcome"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "switchboard_engineio_request_errors_total",
                "Requests answered with an engine.io error code (0-5), by code",
            ),
            &["code"],
        )?;
        let pending_polls = IntGauge::new(
            "switchboard_engineio_pending_polls",
            "Long-polling GETs waiting for packets",
        )?;
        let deflate_messages = IntCounterVec::new(
            Opts::new(
                "switchboard_engineio_websocket_deflate_messages_total",
                "WebSocket messages carried compressed (permessage-deflate), by direction",
            ),
            &["direction"],
        )?;
        let deflate_bytes = IntCounterVec::new(
            Opts::new(
                "switchboard_engineio_websocket_deflate_bytes_total",
                "Payload bytes of compressed WebSocket messages, by direction and size \
                 (raw: before compression, compressed: on the wire)",
            ),
            &["direction", "size"],
        )?;
        registry.register(Box::new(deflate_messages.clone()))?;
        registry.register(Box::new(deflate_bytes.clone()))?;
        registry.register(Box::new(pending_polls.clone()))?;
        registry.register(Box::new(sessions.clone()))?;
        registry.register(Box::new(handshakes.clone()))?;
        registry.register(Box::new(upgrades.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        let error_codes = ErrorCode::ALL
            .iter()
            .map(|c| errors.with_label_values(&[&c.code().to_string()]))
            .collect();
        Ok(Metrics {
            common,
            sessions_polling: sessions.with_label_values(&["polling"]),
            sessions_websocket: sessions.with_label_values(&["websocket"]),
            handshakes: [
                handshakes.with_label_values(&["polling", "4"]),
                handshakes.with_label_values(&["polling", "3"]),
                handshakes.with_label_values(&["websocket", "4"]),
                handshakes.with_label_values(&["websocket", "3"]),
            ],
            upgrades,
            errors,
            pending_polls,
            error_codes,
            deflate_messages,
            deflate_bytes,
        })
    }

    /// Metrics on a private registry, for tests and tools.
    pub fn standalone() -> Self {
        let fabric = switchboard_fabric::Fabric::standalone();
        Self::register(&Registry::new(), fabric.metrics().protocol("engineio"))
            .unwrap_or_else(|e| unreachable!("a fresh registry has no duplicates: {e}"))
    }

    pub(crate) fn sessions(&self, transport: Transport) -> &IntGauge {
        match transport {
            Transport::Polling => &self.sessions_polling,
            Transport::WebSocket => &self.sessions_websocket,
        }
    }

    pub(crate) fn handshake(&self, transport: Transport, protocol: ProtocolVersion) {
        let t = match transport {
            Transport::Polling => 0,
            Transport::WebSocket => 2,
        };
        let p = match protocol {
            ProtocolVersion::V4 => 0,
            ProtocolVersion::V3 => 1,
        };
        self.handshakes[t + p].inc();
    }

    pub(crate) fn upgrade(&self, outcome: &str) {
        self.upgrades.with_label_values(&[outcome]).inc();
    }

    /// `n` messages went compressed in `direction` (`in`, `out`): `raw` bytes before
    /// compression, `wire` after.
    pub(crate) fn deflated(&self, direction: &str, n: u64, raw: u64, wire: u64) {
        self.deflate_messages
            .with_label_values(&[direction])
            .inc_by(n);
        self.deflate_bytes
            .with_label_values(&[direction, "raw"])
            .inc_by(raw);
        self.deflate_bytes
            .with_label_values(&[direction, "compressed"])
            .inc_by(wire);
    }

    pub(crate) fn request_error(&self, code: ErrorCode) {
        match self.error_codes.get(usize::from(code.code())) {
            Some(c) => c.inc(),
            None => self.errors.with_label_values(&["other"]).inc(),
        }
    }
}
