//! HTTP and WebSocket reverse proxy for switchboard.
//!
//! The gateway's axum front mounts a [`Proxy`] as its fallback service: every request that is
//! not one of switchboard's own endpoints is matched against the `[[proxy.routes]]` (in order,
//! by `path_prefix` and optional `host`) and forwarded to the route's upstreams with
//! node-http-proxy's options, done right: hop-by-hop headers stripped both ways, pooled
//! keep-alive upstream connections, streaming bodies, WebSocket/`Upgrade` tunnels, balancing
//! with passive ejection and active health checks, upstream TLS with rustls, and errors mapped
//! to 502/504/413 with a log line and a metric.
//!
//! ```no_run
//! # async fn run(cfg: switchboard_proxy::ProxyConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let registry = prometheus::Registry::new();
//! let proxy = switchboard_proxy::Proxy::new(&cfg, &registry)?;
//! let app = axum::Router::new().fallback_service(proxy.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! proxy.shutdown();
//! proxy.drain().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `config`: [`ProxyConfig`], [`RouteConfig`] and their enums (serde, documented defaults).
//! - `validate`: [`ProxyConfig::validate`], problems named by key path.
//! - `error`: [`BuildError`] (construction) and [`ForwardError`] (per request → status).
//! - `proxy`: [`Proxy`] (routing, the forwarding pipeline, the tower `Service`), [`ClientInfo`].
//! - `forward`: one attempt at one target; response rules; starting tunnels.
//! - `route`: a compiled route (matcher, balancer, connection pools, parsed header rules).
//! - `url`: upstream URLs and the `prepend_path`/`ignore_path`/`strip_prefix` path join.
//! - `headers`: hop-by-hop stripping, upgrade detection, `X-Forwarded-*`, `Forwarded`, `Via`.
//! - `rewrite`: `Location` and `Set-Cookie` rewrites.
//! - `balance`: round-robin / least-connections, passive ejection.
//! - `health`: active health-check tasks.
//! - `body`: streaming body wrappers (limits, idle timeouts, mirror tee, in-flight guard,
//!   handing the connection back to its pool at the end of a response).
//! - `deadline`: the one timer of a request (`proxy_timeout_ms`, head then body stalls).
//! - `pool`: per-upstream pools of idle HTTP/1.1 connections (checkout, checkin, sweeper).
//! - `upgrade`: the bidirectional tunnel after a 101.
//! - `connector`: TCP + rustls connector that opens the pools' connections.
//! - `metrics`: the `switchboard_proxy_*` families.

mod balance;
mod body;
mod config;
mod connector;
mod deadline;
mod error;
mod forward;
mod headers;
mod health;
mod metrics;
mod pool;
mod proxy;
mod rewrite;
mod route;
mod upgrade;
mod url;
mod validate;

pub use config::{Balance, CookieRewrite, ProtocolRewrite, ProxyConfig, RouteConfig};
pub use error::{BuildError, ForwardError};
pub use proxy::{ClientInfo, Proxy};
pub use validate::Problem;
