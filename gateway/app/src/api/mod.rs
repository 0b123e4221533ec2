//! The admin HTTP API (`/api/v1/...`, JSON): see and steer every connection of every protocol,
//! publish and request from any backend, watch live messages.
//!
//! Mounted on the admin server, and on the front when `http.api` is on; each mount checks its
//! callers with its own [`AccessPolicy`] (the `[admin] token`).
//!
//! # Layout
//! - this file: [`Api`] (what every handler shares) and [`ROUTES`], the one table the router is
//!   built from and the OpenAPI document is checked against.
//! - [`clients`]: list, get and kick connected clients.
//! - [`subscriptions`]: the `queryState` view, (filter, client) pairs of every protocol.
//! - [`topics`]: retained values, and clearing one.
//! - [`publish`]: publish and request.
//! - [`services`]: IPC service availability (`isServiceAvailable`).
//! - [`stream`]: Server-Sent Events of live messages, with `Last-Event-ID` resumption.
//! - [`openapi`]: the OpenAPI 3.1 document.
//! - [`auth`]: [`AccessPolicy`], the bearer token / admin-right check.
//! - [`metrics`]: request, stream and drop counters (`switchboard_api_*`).
//! - [`view`]: the JSON view of a message, timestamps.
//! - [`error`]: [`ApiError`], the one error type, and its JSON form.

pub mod auth;
pub mod clients;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod publish;
pub mod services;
pub mod stream;
pub mod subscriptions;
pub mod topics;
pub mod view;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post};
use switchboard_config::AdminConfig;
use switchboard_fabric::{Fabric, Origin};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use auth::AccessPolicy;
pub use error::ApiError;

use metrics::ApiMetrics;
use stream::{Hub, StreamSettings};

/// Where the API is mounted.
pub const PREFIX: &str = "/api/v1";

/// Default page size of the listings.
pub const DEFAULT_PAGE: usize = 100;

/// Largest page size of the listings.
pub const MAX_PAGE: usize = 1000;

/// Every route of the API: method, path under [`PREFIX`] (axum syntax) and handler.
pub fn routes() -> Vec<(&'static str, &'static str, MethodRouter<Api>)> {
    vec![
        ("GET", "/clients", get(clients::list)),
        ("GET", "/clients/{*id}", get(clients::get)),
        ("DELETE", "/clients/{*id}", delete(clients::kick)),
        ("GET", "/subscriptions", get(subscriptions::list)),
        ("GET", "/services", get(services::list)),
        ("GET", "/services/{name}", get(services::get)),
        ("GET", "/topics", get(topics::list)),
        ("DELETE", "/topics/{*topic}", delete(topics::clear)),
        ("POST", "/publish", post(publish::publish)),
        ("POST", "/request", post(publish::request)),
        ("GET", "/stream", get(stream::stream)),
        ("GET", "/openapi.json", get(openapi::document)),
    ]
}

/// The method and path of every route, for documentation checks.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/clients"),
    ("GET", "/clients/{*id}"),
    ("DELETE", "/clients/{*id}"),
    ("GET", "/subscriptions"),
    ("GET", "/services"),
    ("GET", "/services/{name}"),
    ("GET", "/topics"),
    ("DELETE", "/topics/{*topic}"),
    ("POST", "/publish"),
    ("POST", "/request"),
    ("GET", "/stream"),
    ("GET", "/openapi.json"),
];

struct Inner {
    fabric: Fabric,
    metrics: ApiMetrics,
    hub: Hub,
    max_request_timeout_ms: u64,
    stop: CancellationToken,
    services: OnceLock<switchboard_ipc::ServiceDirectory>,
}

/// What every API handler shares: the fabric, the stream hub, the metrics. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("hub", &self.inner.hub).finish()
    }
}

impl Api {
    /// Builds the API over `fabric` with its metrics on `registry`; the stream's tap runs on
    /// `tracker` until `stop`, which also ends every open stream.
    pub fn new(
        config: &AdminConfig,
        fabric: Fabric,
        registry: &prometheus::Registry,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Api, prometheus::Error> {
        let metrics = ApiMetrics::new(registry)?;
        let hub = Hub::new(
            &fabric,
            StreamSettings {
                ring: config.stream_ring.max(1),
                queue: config.stream_queue.max(1),
                max_streams: config.max_streams.max(1),
                resume: Duration::from_millis(config.stream_resume_ms),
            },
            metrics.clone(),
        );
        tracker.spawn(hub.clone().run(stop.clone()));
        Ok(Api {
            inner: Arc::new(Inner {
                fabric,
                metrics,
                hub,
                max_request_timeout_ms: config.max_request_timeout_ms.max(1),
                stop,
                services: OnceLock::new(),
            }),
        })
    }

    /// The router of every route under [`PREFIX`], callers checked by `policy`, requests
    /// counted.
    pub fn router(&self, policy: AccessPolicy) -> Router {
        let mut router = Router::new();
        for (_, path, handler) in routes() {
            router = router.route(&format!("{PREFIX}{path}"), handler);
        }
        router
            .route_layer(axum::middleware::from_fn_with_state(policy, auth::guard))
            .route_layer(axum::middleware::from_fn_with_state(
                self.inner.metrics.clone(),
                metrics::count,
            ))
            .with_state(self.clone())
    }

    /// Gives the API the IPC broker's services (once the IPC bus is built).
    pub fn set_services(&self, directory: switchboard_ipc::ServiceDirectory) {
        let _ = self.inner.services.set(directory);
    }

    /// The IPC broker's services, when the IPC bus is on.
    pub fn services(&self) -> Option<&switchboard_ipc::ServiceDirectory> {
        self.inner.services.get()
    }

    /// The fabric.
    pub fn fabric(&self) -> &Fabric {
        &self.inner.fabric
    }

    /// The origin of messages the API publishes.
    pub fn origin(&self) -> Origin {
        Origin::new("http", "api")
    }

    /// The cap of a request's `timeout_ms`.
    pub fn max_request_timeout_ms(&self) -> u64 {
        self.inner.max_request_timeout_ms
    }

    fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    fn stop(&self) -> &CancellationToken {
        &self.inner.stop
    }

    fn metrics(&self) -> &ApiMetrics {
        &self.inner.metrics
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use switchboard_fabric::AllowAll;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn every_listed_route_answers_its_method_from_its_handler() {
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let api = Api::new(
            &AdminConfig::default(),
            Fabric::standalone(),
            &prometheus::Registry::new(),
            stop.clone(),
            &tracker,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let router = api.router(AccessPolicy::new(
            None,
            true,
            "admin.listen",
            Arc::new(AllowAll),
        ));
        for (method, path) in ROUTES {
            let uri = format!(
                "{PREFIX}{}",
                path.replace("{*id}", "mqtt:x")
                    .replace("{*topic}", "a/b")
                    .replace("{name}", "svc")
            );
            let body = if *method == "POST" {
                Body::from(r#"{"topic":"a/b","text":"x","timeout_ms":1}"#)
            } else {
                Body::empty()
            };
            let req = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
                .uri(&uri)
                .header("content-type", "application/json")
                .body(body)
                .unwrap_or_else(|e| panic!("{e}"));
            let resp = router
                .clone()
                .oneshot(req)
                .await
                .unwrap_or_else(|e| match e {});
            assert_ne!(
                resp.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            if !resp.status().is_success() {
                // A handler's answer: JSON in the API's error form, not the router's empty 404.
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
                    .await
                    .unwrap_or_default();
                let v: serde_json::Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
                assert!(v["error"]["code"].is_string(), "{method} {uri}: {v}");
            }
        }
        stop.cancel();
        tracker.close();
        tracker.wait().await;
    }
}
