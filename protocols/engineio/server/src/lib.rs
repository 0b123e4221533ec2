//! The Engine.IO server of switchboard: protocol revisions 4 and 3 (`allow_eio3`), HTTP
//! long-polling and WebSocket, upgrades, heartbeats, and every option of the Node `engine.io`
//! 6.x server, mounted on the HTTP front as an axum [`Router`](axum::Router).
//!
//! The engine is generic over a [`Handler`] (the seam Socket.IO will use later); the
//! [`bridge`] module is the handler that connects sessions to the fabric, in `control` mode
//! (the JSON control protocol) or `raw` mode (topic templates). [`client`] serves the
//! JavaScript client at `/switchboard.js`.
//!
//! # Layout
//! - [`config`]: the `[engineio]` settings.
//! - [`engine`]: [`Engine`]: the session table, request verification, engine.io error codes.
//! - `polling`: long-polling GET/POST, one pending GET per session.
//! - `idle`: polling sessions whose task has not started yet, and the engine's reaper.
//! - `ws`: the WebSocket transport and the upgrade from polling.
//! - [`socket`]: [`Socket`]: one session, its bounded send buffer and heartbeat.
//! - [`handler`]: the [`Handler`] trait and the [`Handshake`] it decides on.
//! - `http`: CORS, the session cookie, compression, error answers.
//! - [`bridge`]: the fabric bridge ([`bridge::Bridge`]), control protocol and raw mode.
//! - [`client`]: the embedded `/switchboard.js` client.
//! - [`metrics`]: the [`Metrics`] of the server.
//! - [`error`]: [`Error`] and [`SendError`].

pub mod bridge;
pub mod client;
pub mod config;
pub mod engine;
pub mod error;
pub mod handler;
mod http;
mod idle;
pub mod metrics;
mod polling;
pub mod socket;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::any;

pub use config::EngineIoConfig;
pub use engine::Engine;
pub use error::{Error, SendError};
pub use handler::{Handler, Handshake, Refusal};
pub use metrics::Metrics;
pub use socket::Socket;
pub use switchboard_engineio_proto as proto;

/// The protocol label of metrics and fabric origins.
pub const PROTOCOL: &str = "engineio";

/// The router serving `engine` at its configured path (with and without the trailing slash).
pub fn router<H: Handler>(engine: Arc<Engine<H>>) -> Router {
    let path = engine.config().path.clone();
    let handler = move |req: axum::http::Request<Body>| {
        let engine = engine.clone();
        async move { engine.handle(req).await }
    };
    let mut router = Router::new().route(&path, any(handler.clone()));
    let trimmed = path.trim_end_matches('/');
    if trimmed != path && !trimmed.is_empty() {
        router = router.route(trimmed, any(handler));
    }
    router
}

/// A stable 16-bit node tag for sids, derived from the fabric's node id (FNV-1a, folded), so a
/// node keeps its tag across restarts when its id is configured.
pub fn node_tag(node_id: &str) -> proto::NodeTag {
    let mut h: u32 = 0x811c_9dc5;
    for b in node_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    proto::NodeTag::new(((h >> 16) ^ (h & 0xffff)) as u16)
}

/// The Engine.IO server as the gateway mounts it: the engine running the fabric
/// [`bridge::Bridge`], its router, and the front paths it serves.
#[derive(Debug)]
pub struct Mounted {
    /// The engine.
    pub engine: Arc<Engine<bridge::Bridge>>,
    /// The Engine.IO path and, when enabled, the JavaScript client.
    pub router: Router,
    /// `(path, what)` for the start-up announcement and 404 pages.
    pub paths: Vec<(String, &'static str)>,
}

/// Builds the Engine.IO server bridged to `fabric`: its metrics go on `registry`, its tasks on
/// `tracker`, and it says goodbye to every session when `stop` is cancelled.
pub fn mount(
    config: &EngineIoConfig,
    fabric: switchboard_fabric::Fabric,
    authorizer: Arc<dyn switchboard_fabric::Authorizer>,
    registry: &prometheus::Registry,
    stop: tokio_util::sync::CancellationToken,
    tracker: tokio_util::task::TaskTracker,
) -> Result<Mounted, Error> {
    let metrics = Metrics::register(registry, fabric.metrics().protocol(PROTOCOL))?;
    let node = node_tag(fabric.node_id());
    let bridge = bridge::Bridge::new(config, fabric, authorizer, tracker.clone());
    let engine = Engine::new(config.clone(), bridge, node, metrics, stop, tracker)?;
    let mut router = router(engine.clone());
    let mut paths = vec![(config.path.clone(), "Engine.IO")];
    if !config.client_path.is_empty() {
        router = router.merge(client::router(&config.client_path));
        paths.push((config.client_path.clone(), "JavaScript client"));
    }
    Ok(Mounted {
        engine,
        router,
        paths,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_tags_are_stable_and_spread() {
        assert_eq!(super::node_tag("gw-1"), super::node_tag("gw-1"));
        assert_ne!(super::node_tag("gw-1"), super::node_tag("gw-2"));
    }
}
