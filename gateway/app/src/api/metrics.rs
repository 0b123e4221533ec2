//! The API's metrics on the gateway's registry: requests by route and status, open streams,
//! stream events and drops.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The API's metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: IntCounterVec,
    /// Streams open now.
    pub streams_open: IntGauge,
    /// Stream events written to consumers.
    pub stream_events: IntCounter,
    /// Stream events dropped because a consumer's queue was full.
    pub stream_dropped: IntCounter,
}

impl ApiMetrics {
    /// Registers the metrics on `registry`.
    pub fn new(registry: &Registry) -> Result<ApiMetrics, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "switchboard_api_requests_total",
                "Admin API requests by route and HTTP status",
            ),
            &["route", "status"],
        )?;
        let streams_open = IntGauge::new(
            "switchboard_api_streams_open",
            "Server-Sent Events streams (GET /api/v1/stream) open",
        )?;
        let stream_events = IntCounter::new(
            "switchboard_api_stream_events_total",
            "Messages written to Server-Sent Events streams",
        )?;
        let stream_dropped = IntCounter::new(
            "switchboard_api_stream_dropped_total",
            "Messages dropped for a Server-Sent Events consumer whose queue was full",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(streams_open.clone()))?;
        registry.register(Box::new(stream_events.clone()))?;
        registry.register(Box::new(stream_dropped.clone()))?;
        Ok(ApiMetrics {
            requests,
            streams_open,
            stream_events,
            stream_dropped,
        })
    }

    fn request(&self, route: &str, status: axum::http::StatusCode) {
        self.requests
            .with_label_values(&[route, status.as_str()])
            .inc();
    }
}

/// Middleware counting each request by its route template (`/api/v1/clients/{*id}`) and status.
pub async fn count(State(metrics): State<ApiMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let resp = next.run(req).await;
    metrics.request(&route, resp.status());
    resp
}
