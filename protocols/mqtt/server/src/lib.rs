//! The MQTT 3.1.1 and 5.0 broker of switchboard, on the fabric.
//!
//! MQTT clients share one topic space with every other protocol: what a device publishes
//! reaches browsers (Engine.IO) and desktop apps (IPC), retained messages live in the fabric's
//! store, and an MQTT 5 request (Response Topic + Correlation Data) is answered by any protocol.
//! See the mapping table in [`bridge`].
//!
//! ```no_run
//! # async fn demo(
//! #     fabric: switchboard_fabric::Fabric,
//! #     listener: tokio::net::TcpListener,
//! # ) -> Result<(), switchboard_mqtt::MqttError> {
//! use std::sync::Arc;
//! use switchboard_mqtt::{Broker, MqttConfig};
//!
//! let stop = tokio_util::sync::CancellationToken::new();
//! let tracker = tokio_util::task::TaskTracker::new();
//! let broker = Broker::new(
//!     MqttConfig::default(),
//!     fabric,
//!     Arc::new(switchboard_fabric::AllowAll),
//!     &prometheus::Registry::new(),
//!     stop.clone(),
//!     tracker.clone(),
//! )?;
//! tracker.spawn(broker.serve(listener, None));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - [`config`]: the `[mqtt]` settings.
//! - [`bridge`]: PUBLISH ↔ fabric `Message` mapping (mount, payload kinds, properties).
//! - [`broker`]: shared state and the session registry (takeover, expiry, will delay).
//! - [`session`]: per-session state (subscriber, in-flight messages, QoS 2 identifiers).
//! - [`persist`]: persistent sessions in the durable store (journal, records, recovery).
//! - `connection`: one client: CONNECT handshake, event loop, inbound and outbound packets.
//! - [`transport`]: TCP, TLS and in-memory streams the connection runs on.
//! - [`listener`]: TCP/TLS accept loops and connection limits.
//! - [`ws`]: MQTT over WebSocket on the HTTP front.
//! - [`cert`]: the client certificate's common name.
//! - [`metrics`]: `switchboard_mqtt_*` metrics.
//! - [`sys`]: mosquitto's `$SYS/broker/...` topics.

pub mod bridge;
pub mod broker;
pub mod cert;
pub mod config;
mod connection;
pub mod listener;
pub mod metrics;
pub mod persist;
pub mod session;
pub mod sys;
pub mod transport;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use switchboard_fabric::{Authorizer, Durable, Fabric};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::MqttConfig;
pub use listener::TlsSetup;

use crate::broker::{Shared, SysView};
use crate::metrics::MqttMetrics;

/// Why the broker could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The configuration is invalid.
    #[error("mqtt.{0}")]
    Config(String),
    /// A metric could not be registered (registered twice on one registry).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A snapshot of the broker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerStats {
    /// Clients connected.
    pub connected: i64,
    /// Persistent sessions whose client is away.
    pub offline_sessions: usize,
    /// Messages in flight to clients.
    pub inflight: i64,
}

/// The MQTT broker. Cheap to clone; every clone serves the same sessions.
#[derive(Debug, Clone)]
pub struct Broker {
    shared: Arc<Shared>,
    registry: prometheus::Registry,
}

impl Broker {
    /// Builds the broker: its metrics go on `registry`; `stop` ends every listener and connection
    /// (MQTT 5 clients are told 0x8B Server shutting down); every task is spawned on `tracker`.
    pub fn new(
        config: MqttConfig,
        fabric: Fabric,
        authorizer: Arc<dyn Authorizer>,
        registry: &prometheus::Registry,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Result<Broker, MqttError> {
        if let Some((key, what)) = config.problems().into_iter().next() {
            return Err(MqttError::Config(format!(
                "{} {what}",
                key.trim_start_matches("mqtt.")
            )));
        }
        let metrics = MqttMetrics::register(registry)?;
        Ok(Broker {
            shared: Arc::new(Shared::new(
                config, fabric, authorizer, metrics, stop, tracker,
            )),
            registry: registry.clone(),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &MqttConfig {
        &self.shared.config
    }

    /// Accepts MQTT connections on `listener` (TLS when `tls` is given) until stopped.
    pub fn serve(
        &self,
        listener: TcpListener,
        tls: Option<TlsSetup>,
    ) -> impl Future<Output = ()> + Send + 'static {
        listener::accept_loop(self.shared.clone(), listener, tls)
    }

    /// The router serving MQTT over WebSocket at `ws_path`, or `None` when it is off.
    pub fn ws_router(&self) -> Option<axum::Router> {
        (!self.shared.config.ws_path.is_empty()).then(|| ws::router(self.shared.clone()))
    }

    /// Publishes `$SYS/broker/...` every `interval` until stopped.
    pub fn sys_publisher(
        &self,
        version: &str,
        interval: Duration,
    ) -> impl Future<Output = ()> + Send + 'static {
        let publisher = sys::SysPublisher::new(self.shared.fabric.clone(), version);
        let source: Arc<dyn sys::SysSource> = Arc::new(SysView {
            shared: self.shared.clone(),
            registry: self.registry.clone(),
        });
        sys::run(publisher, source, interval, self.shared.stop.clone())
    }

    /// Counters for tests and operators.
    pub fn stats(&self) -> BrokerStats {
        use std::sync::atomic::Ordering::Relaxed;
        BrokerStats {
            connected: self.shared.stats.connected.load(Relaxed),
            offline_sessions: self.shared.offline_sessions(),
            inflight: self.shared.stats.inflight.load(Relaxed),
        }
    }

    /// Keeps persistent sessions in `store` from now on, and reads back those it holds as offline
    /// sessions (their expiry and will delay counting from now). Call before serving.
    pub fn restore(&self, store: Arc<dyn Durable>) -> persist::RestoreStats {
        if self.shared.store.set(store.clone()).is_err() {
            return persist::RestoreStats::default();
        }
        persist::restore(&self.shared, &store)
    }

    /// Whether a session (online or offline) exists for `client_id`.
    pub fn has_session(&self, client_id: &str) -> bool {
        self.shared.has_session(client_id)
    }
}
