//! The public HTTP front: the router of switchboard's own endpoints, and the fallback for
//! everything else.
//!
//! Protocols contribute routers (Engine.IO at its path, MQTT over WebSocket at `ws_path`); the
//! reverse proxy answers every other route; without a matching proxy route the answer is a plain
//! 404 that says what is served here.

pub mod redirect;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The endpoints the front serves, for start-up output and 404 bodies.
#[derive(Debug, Clone, Default)]
pub struct FrontEndpoints {
    /// `(path, what)` pairs.
    pub paths: Vec<(String, &'static str)>,
}

/// Builds the front router from the protocols' routers.
pub fn router(mounts: Vec<Router>, endpoints: FrontEndpoints) -> Router {
    let mut router = Router::new();
    for m in mounts {
        router = router.merge(m);
    }
    router.fallback(move || not_found(endpoints.clone()))
}

async fn not_found(endpoints: FrontEndpoints) -> Response {
    let mut body = String::from("404 Not Found: no route for this path.\n");
    if !endpoints.paths.is_empty() {
        body.push_str("This switchboard front serves:\n");
        for (path, what) in &endpoints.paths {
            body.push_str(&format!("  {path}  {what}\n"));
        }
    }
    (StatusCode::NOT_FOUND, body).into_response()
}
