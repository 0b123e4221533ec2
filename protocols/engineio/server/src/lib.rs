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
