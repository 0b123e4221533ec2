//! Traces reach an OTLP/HTTP collector when `telemetry.otlp_endpoint` is set.
//!
//! Its own test binary: the tracing subscriber is process-global.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use bytes::Bytes;
use switchboard_config::TelemetryConfig;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_to_the_collector() {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, usize)>();
    let app = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((ct, body.len()));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let config = TelemetryConfig {
        otlp_endpoint: Some(format!("http://{addr}")),
        service_name: "switchboard-test".into(),
        ..Default::default()
    };
    let guard = switchboard::telemetry::init(&config).unwrap();
    tracing::info_span!("test_span", answer = 42).in_scope(|| {
        tracing::info!("inside a span");
    });
    // Dropping the guard flushes the batch exporter.
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();
    let (content_type, len) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("the collector received a batch")
        .unwrap();
    assert_eq!(content_type, "application/x-protobuf");
    assert!(len > 20, "a non-empty protobuf body ({len} bytes)");
}
