//! Prometheus metrics, registered on the registry the application passes in.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Upstream latency buckets in seconds (0.5 ms .. 30 s).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The proxy's metric families (all `switchboard_proxy_*`).
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    /// `switchboard_proxy_requests_total{route,status}`: answered requests.
    pub requests: IntCounterVec,
    /// `switchboard_proxy_upstream_duration_seconds{route}`: time to the upstream response head.
    pub upstream_latency: HistogramVec,
    /// `switchboard_proxy_websockets_active{route}`: open upgraded tunnels.
    pub websockets: IntGaugeVec,
    /// `switchboard_proxy_target_ejected{route,target}`: 1 while a target is skipped.
    pub ejected: IntGaugeVec,
    /// `switchboard_proxy_ejections_total{route,target}`: times a target was ejected.
    pub ejections: IntCounterVec,
    /// `switchboard_proxy_errors_total{route,kind}`: failures by kind.
    pub errors: IntCounterVec,
}

impl Metrics {
    /// Creates and registers the families.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "switchboard_proxy_requests_total",
                "Proxied requests answered, by route and status",
            ),
            &["route", "status"],
        )?;
        let upstream_latency = HistogramVec::new(
            HistogramOpts::new(
                "switchboard_proxy_upstream_duration_seconds",
                "Time from sending a request upstream to receiving its response head",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let websockets = IntGaugeVec::new(
            Opts::new(
                "switchboard_proxy_websockets_active",
                "Open WebSocket/upgrade tunnels",
            ),
            &["route"],
        )?;
        let ejected = IntGaugeVec::new(
            Opts::new(
                "switchboard_proxy_target_ejected",
                "1 while a target is ejected (passive failures or failed health checks)",
            ),
            &["route", "target"],
        )?;
        let ejections = IntCounterVec::new(
            Opts::new(
                "switchboard_proxy_ejections_total",
                "Times a target was ejected",
            ),
            &["route", "target"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "switchboard_proxy_errors_total",
                "Proxy failures by route and kind",
            ),
            &["route", "kind"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(upstream_latency.clone()))?;
        registry.register(Box::new(websockets.clone()))?;
        registry.register(Box::new(ejected.clone()))?;
        registry.register(Box::new(ejections.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        Ok(Self {
            requests,
            upstream_latency,
            websockets,
            ejected,
            ejections,
            errors,
        })
    }
}
