//! The Socket.IO server of switchboard: protocol revision 5 (`socket.io-client` 3.x and 4.x)
//! and, with `engineio.allow_eio3`, revision 4 (`socket.io-client` 2.x), on a second
//! [`Engine`] of the Engine.IO server mounted at `[socketio] path` (default `/socket.io/`),
//! with the `[engineio]` options underneath.
//!
//! Each namespace maps onto the fabric in one of two ways (see [`config::NamespaceMode`]):
//! `control` (the events `subscribe`/`unsubscribe`/`publish`/`request` with acknowledgements,
//! deliveries as `message` events) or `events` (zero code: event names are topics). Clients
//! authenticate per namespace with the connect `auth` payload (`token`, or `username` and
//! `password`), falling back to the HTTP request's credentials; refusals are `CONNECT_ERROR`s
//! with a message and `data.code`, the codes of the Engine.IO control protocol.
//!
//! This crate builds on `switchboard-engineio` (the transport it runs on) besides its own
//! `-proto` crate: Socket.IO is a layer over Engine.IO by design, not a sibling protocol.
//!
//! # Layout
//! - [`config`]: the `[socketio]` settings.
//! - [`server`]: [`SocketIo`], the engine's handler: decoding, reassembly of binary packets,
//!   namespace connections and authentication.
//! - `nsp`: namespaces at run time (mapping, broadcast encoding cache) and namespace sockets.
//! - `control`: the `control` mapping (subscribe, unsubscribe, publish, request, replies).
//! - `events`: the `events` mapping (event names are topics).
//! - `pump`: subscription changes and deliveries (drained by the transport task).
//! - `payload`: arguments ↔ payloads, acknowledgements.
//! - [`metrics`](mod@metrics): [`Metrics`].
//! - [`error`](mod@error): [`Error`].

pub mod config;
mod control;
pub mod error;
mod events;
pub mod metrics;
mod nsp;
mod payload;
mod pump;
pub mod server;

use std::sync::Arc;

use axum::Router;
use switchboard_engineio::config::BufferOverflow;
use switchboard_engineio::{Engine, EngineIoConfig};

pub use config::{NamespaceConfig, NamespaceMode, SocketIoConfig};
pub use error::Error;
pub use metrics::Metrics;
pub use server::{Conn, SocketIo};
pub use switchboard_socketio_proto as proto;

/// The protocol label of metrics and fabric origins.
pub const PROTOCOL: &str = "socketio";

/// The Engine.IO settings of the Socket.IO engine: `[engineio]`'s, served at
/// `socketio.path`. `buffer_overflow = "drop_oldest"` becomes `drop_new` here: dropping the
/// oldest queued packet could split a binary event from its attachments.
pub fn engine_config(engineio: &EngineIoConfig, socketio: &SocketIoConfig) -> EngineIoConfig {
    let mut c = engineio.clone();
    c.path = socketio.path.clone();
    c.enabled = socketio.enabled;
    if c.buffer_overflow == BufferOverflow::DropOldest {
        c.buffer_overflow = BufferOverflow::DropNew;
    }
    // Credentials arrive with each namespace connection, after the Engine.IO handshake.
    c.allow_request.require_credentials = false;
    c
}

/// The Socket.IO server as the gateway mounts it.
#[derive(Debug)]
pub struct Mounted {
    /// The engine.
    pub engine: Arc<Engine<SocketIo>>,
    /// The router serving `socketio.path`.
    pub router: Router,
    /// `(path, what)` for the start-up announcement.
    pub paths: Vec<(String, &'static str)>,
}

/// Builds the Socket.IO server bridged to `fabric`. `engine_metrics` are the Engine.IO
/// server's metrics when it runs too (their names can be registered once per registry);
/// otherwise they are registered here. Tasks go on `tracker`; when `stop` is cancelled every
/// connection is closed with the Engine.IO goodbye, so clients reconnect (to another
/// replica) rather than treat it as a final `io server disconnect`.
#[allow(clippy::too_many_arguments)]
pub fn mount(
    config: &SocketIoConfig,
    engineio: &EngineIoConfig,
    fabric: switchboard_fabric::Fabric,
    authorizer: Arc<dyn switchboard_fabric::Authorizer>,
    registry: &prometheus::Registry,
    engine_metrics: Option<switchboard_engineio::Metrics>,
    stop: tokio_util::sync::CancellationToken,
    tracker: tokio_util::task::TaskTracker,
) -> Result<Mounted, Error> {
    if let Some((key, what)) = config.problems().into_iter().next() {
        return Err(Error::Config(format!("{key}: {what}")));
    }
    let common = fabric.metrics().protocol(PROTOCOL);
    let mut eio_metrics = match engine_metrics {
        Some(m) => m,
        None => switchboard_engineio::Metrics::register(registry, common.clone())?,
    };
    eio_metrics.common = common.clone();
    let metrics = Metrics::register(registry, common)?;
    let node = switchboard_engineio::node_tag(fabric.node_id());
    let handler = SocketIo::new(config, fabric, authorizer, metrics, tracker.clone());
    let engine = Engine::new(
        engine_config(engineio, config),
        handler,
        node,
        eio_metrics,
        stop,
        tracker,
    )?;
    let router = switchboard_engineio::router(engine.clone());
    Ok(Mounted {
        engine,
        router,
        paths: vec![(config.path.clone(), "Socket.IO")],
    })
}
