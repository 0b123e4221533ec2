//! Active health checks: one task per target sends `GET <base><health_path>` every
//! `health_interval_ms` and marks the target down on a non-2xx/3xx answer or no answer.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Uri, header};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::UpstreamBody;
use crate::pool::Pool;
use crate::route::Route;

/// Most bytes of a probe's response body read (to let the connection be reused).
const PROBE_BODY_LIMIT: usize = 64 * 1024;

/// Starts the probes of `route` (no-op when it has no `health_path`).
pub(crate) fn spawn(
    route: &Arc<Route>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
    runtime: &tokio::runtime::Handle,
) {
    let Some(path) = route.cfg.health_path.clone() else {
        return;
    };
    let interval = Duration::from_millis(route.cfg.health_interval_ms.max(1));
    let timeout = Duration::from_millis(route.cfg.health_timeout_ms.max(1));
    for i in 0..route.balancer.targets().len() {
        let route = route.clone();
        let cancel = cancel.clone();
        let path = path.clone();
        tracker.spawn_on(
            async move {
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        _ = ticker.tick() => {}
                    }
                    let healthy = tokio::select! {
                        () = cancel.cancelled() => break,
                        h = probe(&route, i, &path, timeout) => h,
                    };
                    route.balancer.set_healthy(i, healthy);
                }
            },
            runtime,
        );
    }
}

/// One probe; `true` when the target answered 2xx or 3xx in time.
async fn probe(route: &Route, i: usize, path: &str, timeout: Duration) -> bool {
    let Some(target) = route.balancer.targets().get(i) else {
        return false;
    };
    let Some(pool) = route.pools.get(i) else {
        return false;
    };
    let base = target.url.path.trim_end_matches('/');
    let Ok(uri) = Uri::try_from(format!("{base}{path}")) else {
        return false;
    };
    let Ok(req) = Request::get(uri)
        .header(header::HOST, target.url.host_header())
        .header(header::USER_AGENT, "switchboard-health-check")
        .body(UpstreamBody::Empty)
    else {
        return false;
    };
    let exchange = async {
        let conn = pool.acquire(tokio::time::Instant::now()).await.ok()?;
        let (resp, conn) = Pool::send(conn, req).await.ok()?;
        let ok = resp.status().is_success() || resp.status().is_redirection();
        crate::forward::discard(resp, conn, PROBE_BODY_LIMIT).await;
        Some(ok)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Some(ok)) => ok,
        Ok(None) | Err(_) => {
            tracing::debug!(route = %route.name, target = %target.label, "health probe failed");
            false
        }
    }
}
