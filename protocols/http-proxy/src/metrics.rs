//! Prometheus metrics, registered on the registry the application passes in.

use std::sync::{Arc, OnceLock};

use http::StatusCode;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

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
    /// `switchboard_proxy_stale_resends_total{route}`: idempotent requests sent again on a new
    /// connection after the upstream closed a reused one without answering.
    pub stale_resends: IntCounterVec,
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
        let stale_resends = IntCounterVec::new(
            Opts::new(
                "switchboard_proxy_stale_resends_total",
                "Idempotent requests sent again on a new connection after the upstream closed a reused keep-alive connection without answering",
            ),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(upstream_latency.clone()))?;
        registry.register(Box::new(websockets.clone()))?;
        registry.register(Box::new(ejected.clone()))?;
        registry.register(Box::new(ejections.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(stale_resends.clone()))?;
        Ok(Self {
            requests,
            upstream_latency,
            websockets,
            ejected,
            ejections,
            errors,
            stale_resends,
        })
    }
}

/// Status codes 100..=599 get a cached series; others are looked up by label each time.
const CACHED_STATUSES: std::ops::Range<u16> = 100..600;

/// One route's per-request counters, bound to their labels on first use so that the request
/// path does not hash label values (`with_label_values`) on every request. A series still
/// appears only once it is first counted, as with direct `with_label_values` calls.
pub(crate) struct RouteCounters {
    route: String,
    requests: IntCounterVec,
    by_status: Box<[OnceLock<IntCounter>]>,
    body_timeout: LazyCounter,
}

impl std::fmt::Debug for RouteCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteCounters")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl RouteCounters {
    /// The counters of route `route`.
    pub fn new(metrics: &Metrics, route: &str) -> Self {
        Self {
            route: route.to_owned(),
            requests: metrics.requests.clone(),
            by_status: CACHED_STATUSES.map(|_| OnceLock::new()).collect(),
            body_timeout: LazyCounter::new(&metrics.errors, [route, "body_timeout"]),
        }
    }

    /// Counts one answered request with `status`.
    pub fn answered(&self, status: StatusCode) {
        let code = status.as_u16();
        if CACHED_STATUSES.contains(&code)
            && let Some(slot) = self
                .by_status
                .get(usize::from(code - CACHED_STATUSES.start))
        {
            slot.get_or_init(|| {
                self.requests
                    .with_label_values(&[&self.route, status.as_str()])
            })
            .inc();
        } else {
            self.requests
                .with_label_values(&[&self.route, status.as_str()])
                .inc();
        }
    }

    /// `switchboard_proxy_errors_total{route, kind="body_timeout"}` (series created on first use).
    pub fn body_timeout(&self) -> &LazyCounter {
        &self.body_timeout
    }
}

/// A counter whose series is created when it is first incremented. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LazyCounter(Arc<LazyInner>);

struct LazyInner {
    cell: OnceLock<IntCounter>,
    vec: IntCounterVec,
    labels: [String; 2],
}

impl LazyCounter {
    /// The series `labels` of `vec`.
    pub fn new(vec: &IntCounterVec, labels: [&str; 2]) -> Self {
        Self(Arc::new(LazyInner {
            cell: OnceLock::new(),
            vec: vec.clone(),
            labels: labels.map(str::to_owned),
        }))
    }

    /// Increments the counter.
    pub fn inc(&self) {
        let inner = &*self.0;
        inner
            .cell
            .get_or_init(|| {
                let [a, b] = &inner.labels;
                inner.vec.with_label_values(&[a.as_str(), b.as_str()])
            })
            .inc();
    }
}

impl std::fmt::Debug for LazyCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LazyCounter").field(&self.0.labels).finish()
    }
}
