//! Target selection: round-robin or least-connections over the targets that are neither
//! passively ejected (consecutive failures) nor marked down by active health checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus::IntGauge;
use tokio::time::Instant;

use crate::config::Balance;
use crate::metrics::Metrics;
use crate::url::UpstreamUrl;

/// One upstream of a route and its live state.
#[derive(Debug)]
pub(crate) struct Target {
    /// Parsed base URL.
    pub url: UpstreamUrl,
    /// The URL as configured (metrics label; shared with each request's access log).
    pub label: Arc<str>,
    /// Requests (and tunnels) currently using this target.
    in_flight: AtomicUsize,
    /// Consecutive failures since the last success.
    failures: AtomicU32,
    /// Passive ejection end, in ms since the balancer's epoch; 0 = not ejected.
    ejected_until_ms: AtomicU64,
    /// Result of the last active health check (true when checks are off).
    healthy: AtomicBool,
    ejected_gauge: IntGauge,
}

/// Keeps a target's in-flight count raised until dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Target>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The targets of one route.
#[derive(Debug)]
pub(crate) struct Balancer {
    targets: Vec<Arc<Target>>,
    policy: Balance,
    next: AtomicUsize,
    eject_after: u32,
    eject_for: Duration,
    epoch: Instant,
    route: String,
    metrics: Metrics,
}

impl Balancer {
    /// Builds the balancer; `urls` were validated already.
    pub fn new(
        route: &str,
        urls: Vec<(String, UpstreamUrl)>,
        policy: Balance,
        eject_after: u32,
        eject_for: Duration,
        metrics: Metrics,
    ) -> Self {
        let targets = urls
            .into_iter()
            .map(|(label, url)| {
                let ejected_gauge = metrics.ejected.with_label_values(&[route, &label]);
                ejected_gauge.set(0);
                Arc::new(Target {
                    url,
                    label: label.into(),
                    in_flight: AtomicUsize::new(0),
                    failures: AtomicU32::new(0),
                    ejected_until_ms: AtomicU64::new(0),
                    healthy: AtomicBool::new(true),
                    ejected_gauge,
                })
            })
            .collect();
        Self {
            targets,
            policy,
            next: AtomicUsize::new(0),
            eject_after,
            eject_for,
            epoch: Instant::now(),
            route: route.to_owned(),
            metrics,
        }
    }

    /// All targets, in configuration order.
    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether target `i` may receive traffic now (clears an expired passive ejection).
    fn usable(&self, t: &Target) -> bool {
        let until = t.ejected_until_ms.load(Ordering::Relaxed);
        let ejected = if until != 0 && self.now_ms() >= until {
            if t.ejected_until_ms
                .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                tracing::info!(route = %self.route, target = %t.label, "target back in rotation after ejection");
                self.update_gauge(t);
            }
            false
        } else {
            until != 0
        };
        !ejected && t.healthy.load(Ordering::Relaxed)
    }

    fn update_gauge(&self, t: &Target) {
        let down =
            t.ejected_until_ms.load(Ordering::Relaxed) != 0 || !t.healthy.load(Ordering::Relaxed);
        t.ejected_gauge.set(i64::from(down));
    }

    /// Picks a target not in `exclude`. Healthy targets are preferred; when every remaining
    /// target is ejected the proxy fails open and picks among them anyway (a guess beats a
    /// certain 502). `None` when every target was tried.
    pub fn pick(&self, exclude: &[usize]) -> Option<(usize, InFlight)> {
        let n = self.targets.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let chosen = self.choose(start, exclude, true).or_else(|| {
            let any = self.choose(start, exclude, false);
            if any.is_some() {
                tracing::debug!(route = %self.route, "every remaining target is ejected; failing open");
            }
            any
        })?;
        let target = &self.targets[chosen];
        target.in_flight.fetch_add(1, Ordering::Relaxed);
        Some((chosen, InFlight(target.clone())))
    }

    /// One pass over the targets in rotation order starting at `start` (no allocation).
    fn choose(&self, start: usize, exclude: &[usize], usable_only: bool) -> Option<usize> {
        let n = self.targets.len();
        let mut best: Option<(usize, usize)> = None;
        for k in 0..n {
            let i = (start.wrapping_add(k)) % n;
            let t = &self.targets[i];
            if exclude.contains(&i) || (usable_only && !self.usable(t)) {
                continue;
            }
            match self.policy {
                Balance::RoundRobin => return Some(i),
                Balance::LeastConnections => {
                    let load = t.in_flight.load(Ordering::Relaxed);
                    if best.is_none_or(|(_, l)| load < l) {
                        best = Some((i, load));
                    }
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// Records a response from target `i`: its failure streak ends.
    pub fn success(&self, i: usize) {
        if let Some(t) = self.targets.get(i) {
            t.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failure of target `i`; ejects it after `eject_after` in a row.
    pub fn failure(&self, i: usize) {
        let Some(t) = self.targets.get(i) else { return };
        let streak = t.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if self.eject_after == 0 || streak < self.eject_after {
            return;
        }
        t.failures.store(0, Ordering::Relaxed);
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(self.eject_for.as_millis()).unwrap_or(u64::MAX));
        if t.ejected_until_ms.swap(until, Ordering::Relaxed) == 0 {
            tracing::warn!(
                route = %self.route,
                target = %t.label,
                failures = streak,
                eject_ms = self.eject_for.as_millis() as u64,
                "target ejected after consecutive failures"
            );
            self.metrics
                .ejections
                .with_label_values(&[&self.route, &*t.label])
                .inc();
        }
        self.update_gauge(t);
    }

    /// Records an active health check result for target `i`.
    pub fn set_healthy(&self, i: usize, healthy: bool) {
        let Some(t) = self.targets.get(i) else { return };
        let was = t.healthy.swap(healthy, Ordering::Relaxed);
        if was && !healthy {
            tracing::warn!(route = %self.route, target = %t.label, "target failed its health check");
            self.metrics
                .ejections
                .with_label_values(&[&self.route, &*t.label])
                .inc();
        } else if !was && healthy {
            tracing::info!(route = %self.route, target = %t.label, "target passed its health check");
        }
        self.update_gauge(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(n: usize, policy: Balance, eject_after: u32) -> Balancer {
        let metrics = Metrics::register(&prometheus::Registry::new()).unwrap();
        let urls = (0..n)
            .map(|i| {
                let s = format!("http://127.0.0.1:{}", 1000 + i);
                (s.clone(), UpstreamUrl::parse(&s).unwrap())
            })
            .collect();
        Balancer::new(
            "r",
            urls,
            policy,
            eject_after,
            Duration::from_secs(10),
            metrics,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_skips_ejected_until_expiry() {
        let b = balancer(3, Balance::RoundRobin, 2);
        let picks: Vec<usize> = (0..6).map(|_| b.pick(&[]).unwrap().0).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        b.failure(1);
        assert_eq!(
            (0..3).map(|_| b.pick(&[]).unwrap().0).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        b.failure(1);
        let picks: Vec<usize> = (0..6).map(|_| b.pick(&[]).unwrap().0).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        assert_eq!(b.targets[1].ejected_gauge.get(), 1);
        tokio::time::advance(Duration::from_secs(11)).await;
        let picks: Vec<usize> = (0..6).map(|_| b.pick(&[]).unwrap().0).collect();
        assert!(picks.contains(&1), "{picks:?}");
        assert_eq!(b.targets[1].ejected_gauge.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_streak_and_exclusions_apply() {
        let b = balancer(2, Balance::RoundRobin, 2);
        b.failure(0);
        b.success(0);
        b.failure(0);
        assert!(b.usable(&b.targets[0]));
        assert_eq!(b.pick(&[0]).unwrap().0, 1);
        assert!(b.pick(&[0, 1]).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn fails_open_when_everything_is_down() {
        let b = balancer(2, Balance::RoundRobin, 1);
        b.failure(0);
        b.failure(1);
        assert!(b.pick(&[]).is_some());
        b.set_healthy(0, false);
        assert_eq!(b.targets[0].ejected_gauge.get(), 1);
    }

    #[tokio::test]
    async fn least_connections_prefers_idle_targets() {
        let b = balancer(3, Balance::LeastConnections, 0);
        let (a, _ga) = b.pick(&[]).unwrap();
        let (c, _gc) = b.pick(&[]).unwrap();
        let (d, gd) = b.pick(&[]).unwrap();
        let mut all = vec![a, c, d];
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2]);
        drop(gd);
        // Only `d` is idle now.
        assert_eq!(b.pick(&[]).unwrap().0, d);
    }
}
