//! The foundation end to end: health, readiness, metrics, the front's fallback, HTTPS redirect,
//! bind errors and graceful shutdown, against real gateways on loopback.

use std::time::Duration;

use switchboard::RunError;
use switchboard_tests::{TestGateway, http, wait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn health_and_readiness_answer() {
    let gw = TestGateway::builder().start().await;
    assert_eq!(
        http::get(&gw.admin_url("/healthz")).await,
        (200, "ok\n".into())
    );
    assert_eq!(
        http::get(&gw.admin_url("/readyz")).await,
        (200, "ready\n".into())
    );
    gw.readiness.set_degraded("cluster", true);
    let (status, body) = http::get(&gw.admin_url("/readyz")).await;
    assert_eq!(status, 200);
    assert!(body.contains("degraded: cluster"), "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_switchboard_names() {
    let gw = TestGateway::builder().start().await;
    // Make some traffic first: a front request and a delivery through the fabric.
    let _ = http::get(&gw.http_url("/nothing-here")).await;
    let mut sub = gw
        .fabric
        .subscriber(switchboard_fabric::SubscriberSpec::new("test", "t"));
    sub.subscribe(
        switchboard_fabric::TopicFilter::new("t").unwrap(),
        Default::default(),
    );
    gw.fabric.publish(switchboard_fabric::Message::text(
        switchboard_fabric::Topic::new("t").unwrap(),
        "x",
    ));
    sub.recv().await.unwrap();
    let resp = http::send(
        http::Method::GET,
        &gw.admin_url("/metrics"),
        &[],
        Default::default(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let ct = resp.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text();
    for needle in [
        "switchboard_build_info{version=\"",
        "switchboard_start_time_seconds ",
        "switchboard_fabric_published_total 1",
        "switchboard_connections_accepted_total{protocol=\"http\"} ",
        "switchboard_connections{protocol=\"http\"} ",
        "# TYPE switchboard_delivery_latency_seconds histogram",
        "switchboard_delivery_latency_seconds_count{protocol=\"test\"} 1",
        "switchboard_fabric_delivered_total{protocol=\"test\"} 1",
        "switchboard_subscriptions{protocol=\"test\"} 1",
        "switchboard_retained_messages 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn unknown_front_paths_get_a_helpful_404() {
    let gw = TestGateway::builder().start().await;
    let (status, body) = http::get(&gw.http_url("/no/such/route")).await;
    assert_eq!(status, 404);
    assert!(body.contains("no route"), "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_is_named_with_its_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = TestGateway::builder()
        .configure(|c| c.admin.listen = addr)
        .try_start()
        .await
        .unwrap_err();
    match &err {
        RunError::Bind { key, addr: a, .. } => {
            assert_eq!(*key, "admin.listen");
            assert_eq!(*a, addr);
        }
        other => panic!("expected a bind error, got {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("already uses this port"), "{text}");
    assert_eq!(err.exit_code(), 1);
}

#[tokio::test]
async fn invalid_config_is_refused_before_binding() {
    let err = TestGateway::builder()
        .configure(|c| c.fabric.queue_capacity = 0)
        .try_start()
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Config(_)), "{err}");
    assert!(err.to_string().contains("fabric.queue_capacity"));
    assert_eq!(err.exit_code(), 64);
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_promptly() {
    let mut gw = TestGateway::builder()
        .configure(|c| c.shutdown.grace_ms = 60_000)
        .start()
        .await;
    // An idle keep-alive connection after one complete exchange.
    let mut conn = tokio::net::TcpStream::connect(gw.addresses.http)
        .await
        .unwrap();
    conn.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
    gw.begin_shutdown();
    // The 60 s grace is not used up: the idle connection is closed at once and serve returns.
    tokio::time::timeout(Duration::from_secs(10), gw.join())
        .await
        .expect("shutdown should not wait for idle connections")
        .unwrap();
    let n = conn.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "the server closed the idle connection");
}

#[tokio::test]
async fn readiness_is_false_during_drain_and_the_grace_period_bounds_it() {
    let mut gw = TestGateway::builder()
        .configure(|c| c.shutdown.grace_ms = 1_500)
        .start()
        .await;
    let admin = gw.admin_url("/readyz");
    // A request that never completes keeps its connection busy through the drain.
    let mut stuck = tokio::net::TcpStream::connect(gw.addresses.http)
        .await
        .unwrap();
    stuck
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    wait::until("the connection to be counted", || {
        gw.fabric
            .metrics()
            .connections_by_protocol()
            .iter()
            .any(|(p, n)| &**p == "http" && *n >= 1)
    })
    .await;
    gw.begin_shutdown();
    wait::until_async("readyz to report shutting down", || {
        let admin = admin.clone();
        async move { http::get(&admin).await == (503, "not ready: shutting down\n".into()) }
    })
    .await;
    // serve returns once the grace period is over even though the connection is still open.
    tokio::time::timeout(Duration::from_secs(10), gw.join())
        .await
        .expect("the grace period bounds the drain")
        .unwrap();
    drop(stuck);
}

#[tokio::test]
async fn fabric_statistics_are_published_under_sys() {
    let gw = TestGateway::builder()
        .configure(|c| c.fabric.sys_interval_ms = 50)
        .start()
        .await;
    let topic = switchboard_fabric::Topic::new("$SYS/switchboard/version").unwrap();
    wait::until("$SYS version", || {
        gw.fabric.retained_value(&topic).is_some()
    })
    .await;
    let v = gw.fabric.retained_value(&topic).unwrap();
    assert_eq!(v.payload_str(), Some(env!("CARGO_PKG_VERSION")));
    gw.shutdown().await;
}
