//! Load balancing over real upstreams: round-robin spreads, least-connections avoids a busy
//! target, passive ejection skips a failing target, active health checks take a target out and
//! back in.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use http::{Request, StatusCode};
use switchboard_proxy::{Balance, RouteConfig};

/// Polls `cond` every 10 ms until it holds, failing after [`WAIT`].
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn round_robin_spreads_evenly() {
    let ups = [
        start_axum("a").await,
        start_axum("b").await,
        start_axum("c").await,
    ];
    let urls: Vec<String> = ups.iter().map(AxumUpstream::url).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let p = start_proxy(config(vec![route(&urls)])).await;
    for _ in 0..30 {
        assert_eq!(get_with(&p.url("/"), &[]).await.status, StatusCode::OK);
    }
    let hits: Vec<usize> = ups.iter().map(|u| u.hits.load(Ordering::Relaxed)).collect();
    assert_eq!(hits, [10, 10, 10]);
}

#[tokio::test]
async fn passive_ejection_skips_a_failing_target() {
    let live = start_axum("live").await;
    let dead = dead_addr().await;
    let dead_url = format!("http://{dead}");
    let r = RouteConfig {
        eject_after_failures: 2,
        eject_ms: 60_000,
        ..route(&[&live.url(), &dead_url])
    };
    let p = start_proxy(config(vec![r])).await;
    // POST with a body is never retried, so each pick of the dead target shows as a 502.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let got = send(Request::post(p.url("/")).body(full("x")).unwrap()).await;
        statuses.push(got.status.as_u16());
    }
    assert_eq!(statuses, [200, 502, 200, 502]);
    assert_eq!(
        p.metric("switchboard_proxy_target_ejected", &[("target", &dead_url)]),
        Some(1.0)
    );
    assert_eq!(
        p.metric(
            "switchboard_proxy_ejections_total",
            &[("target", &dead_url)]
        ),
        Some(1.0)
    );
    assert_eq!(
        p.metric(
            "switchboard_proxy_target_ejected",
            &[("target", &live.url())]
        ),
        Some(0.0)
    );
    let before = live.hits.load(Ordering::Relaxed);
    for _ in 0..10 {
        let got = send(Request::post(p.url("/")).body(full("x")).unwrap()).await;
        assert_eq!(got.status, StatusCode::OK, "the ejected target is skipped");
    }
    assert_eq!(live.hits.load(Ordering::Relaxed), before + 10);
}

#[tokio::test]
async fn least_connections_avoids_the_busy_target() {
    let mut busy = start_axum("busy").await;
    let idle = start_axum("idle").await;
    let r = RouteConfig {
        balance: Balance::LeastConnections,
        ..route(&[&busy.url(), &idle.url()])
    };
    let p = start_proxy(config(vec![r])).await;
    // The first pick is `busy` (ties rotate from the first target); hold it in flight.
    let slow_url = p.url("/slow");
    let slow =
        tokio::spawn(async move { get_with(&slow_url, &[("x-test-delay-ms", "400")]).await });
    let first = busy.next_seen().await;
    assert_eq!(first["url"], "/slow");
    for _ in 0..6 {
        let got = get_with(&p.url("/quick"), &[]).await;
        assert_eq!(got.json()["name"], "idle");
    }
    assert_eq!(busy.hits.load(Ordering::Relaxed), 1);
    slow.abort();
}

#[tokio::test]
async fn active_health_checks_take_targets_out_and_back() {
    let a = start_axum("a").await;
    let b = start_axum("b").await;
    let r = RouteConfig {
        health_path: Some("/health".to_owned()),
        health_interval_ms: 100,
        health_timeout_ms: 100,
        ..route(&[&a.url(), &b.url()])
    };
    let p = start_proxy(config(vec![r])).await;
    eventually("both probed", || {
        a.probes.load(Ordering::Relaxed) > 0 && b.probes.load(Ordering::Relaxed) > 0
    })
    .await;
    b.healthy.store(false, Ordering::Relaxed);
    let b_url = b.url();
    eventually("b marked down", || {
        p.metric("switchboard_proxy_target_ejected", &[("target", &b_url)]) == Some(1.0)
    })
    .await;
    let b_before = b.hits.load(Ordering::Relaxed);
    for _ in 0..8 {
        assert_eq!(get_with(&p.url("/"), &[]).await.json()["name"], "a");
    }
    assert_eq!(b.hits.load(Ordering::Relaxed), b_before);
    b.healthy.store(true, Ordering::Relaxed);
    eventually("b back", || {
        p.metric("switchboard_proxy_target_ejected", &[("target", &b_url)]) == Some(0.0)
    })
    .await;
    for _ in 0..8 {
        get_with(&p.url("/"), &[]).await;
    }
    assert_eq!(
        b.hits.load(Ordering::Relaxed),
        b_before + 4,
        "round robin includes b again"
    );
    // Shutdown stops the probe tasks: drain (which waits for every tracked task) returns.
    p.proxy.shutdown();
    tokio::time::timeout(WAIT, p.proxy.drain())
        .await
        .expect("probe tasks ended");
}
