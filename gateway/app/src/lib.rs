//! switchboard: one realtime gateway for browsers (Engine.IO), devices (MQTT) and desktop apps (the
//! electron-common-ipc bus), all on one topic space, with an HTTP reverse proxy in front.
//!
//! The binary's `main` only calls [`cli::main`]; everything else is a library so that tests start
//! real gateways in-process through [`run`] or [`Gateway`].
//!
//! # Layout
//! - [`cli`]: command line (`switchboard`, `check-config`, `print-config`, `passwd`) and exit
//!   codes.
//! - [`cluster`]: the optional NATS link (`[cluster]`): start, Engine.IO forwarding, stop.
//! - [`gateway`]: the composition root: [`Gateway::bind`] validates and binds everything,
//!   [`Gateway::serve`] runs and shuts down; [`run`] does both.
//! - [`serve`]: the HTTP accept loop (limits, TLS, HTTP/1.1 + HTTP/2, upgrades, graceful close).
//! - [`front`]: the public front's router; [`front::dashboard`] the live dashboard (assets in
//!   `assets/dashboard/`, embedded); [`front::redirect`] for HTTP → HTTPS.
//! - [`admin`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`api`]: the admin HTTP API under `/api/v1/` (clients, subscriptions, retained topics,
//!   publish and request, the live stream, OpenAPI), on the admin port and optionally the front.
//! - [`telemetry`]: logs, OTLP traces, the metrics registry.
//! - [`tls`]: rustls certificates, reloadable.
//! - [`reload`]: SIGHUP handling.
//! - [`shutdown`]: signals, readiness, the [`shutdown::Lifecycle`] every service takes part in.
//! - [`storage`]: `[storage]`: the embedded store, recovery before serving, close at the end.
//! - [`error`]: [`RunError`] and exit codes.

pub mod admin;
pub mod api;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod front;
pub mod gateway;
pub mod reload;
pub mod serve;
pub mod shutdown;
pub mod storage;
pub mod telemetry;
pub mod tls;

pub use error::RunError;
pub use gateway::{Addresses, Gateway, run};
pub use switchboard_config as config;
pub use switchboard_fabric as fabric;
