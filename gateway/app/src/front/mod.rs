//! The public HTTP front: the router of switchboard's own endpoints, and the fallback for
//! everything else.
//!
//! Protocols contribute routers (Engine.IO at its path, MQTT over WebSocket at `ws_path`); the
//! reverse proxy answers every other route; without a matching proxy route the answer is a plain
//! 404 that says what is served here. The live dashboard ([`dashboard`]) is one of the front's
//! own routes.

pub mod dashboard;
pub mod redirect;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchboard_proxy::{ClientInfo, Proxy};

/// The endpoints the front serves, for start-up output and 404 bodies.
#[derive(Debug, Clone, Default)]
pub struct FrontEndpoints {
    /// `(path, what)` pairs.
    pub paths: Vec<(String, &'static str)>,
}

/// Builds the front router from the protocols' routers; every other path goes to the reverse proxy
/// when one of its routes matches, else to a 404 that lists what the front serves.
pub fn router(mounts: Vec<Router>, endpoints: FrontEndpoints, proxy: Option<Proxy>) -> Router {
    let mut router = Router::new();
    for m in mounts {
        router = router.merge(m);
    }
    // Shared, not cloned per request: the fallback runs for every proxied request.
    let endpoints = Arc::new(endpoints);
    router.fallback(move |req: Request| fallback(req, proxy.clone(), endpoints.clone()))
}

async fn fallback(req: Request, proxy: Option<Proxy>, endpoints: Arc<FrontEndpoints>) -> Response {
    match proxy {
        Some(p) if p.matches(req.uri(), req.headers()) => {
            let client = ClientInfo::from_request(&req);
            p.handle(req, client).await.into_response()
        }
        _ => not_found(&endpoints),
    }
}

fn not_found(endpoints: &FrontEndpoints) -> Response {
    let mut body = String::from("404 Not Found: no route for this path.\n");
    if !endpoints.paths.is_empty() {
        body.push_str("This switchboard front serves:\n");
        for (path, what) in &endpoints.paths {
            body.push_str(&format!("  {path}  {what}\n"));
        }
    }
    (StatusCode::NOT_FOUND, body).into_response()
}
