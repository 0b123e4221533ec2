//! The JavaScript client, `switchboard.js`: a dependency-free ES module embedded in the binary
//! and served on the front (default `/switchboard.js`). It speaks Engine.IO v4 (WebSocket with a
//! long-polling fallback) and the control protocol; see the README.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The client's source.
pub const SOURCE: &str = include_str!("../js/switchboard.js");

/// A router serving the client at `path` (`application/javascript`, cacheable for an hour).
pub fn router(path: &str) -> Router {
    Router::new().route(path, get(serve))
}

async fn serve() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        SOURCE,
    )
        .into_response()
}
