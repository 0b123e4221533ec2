//! The engine's own cost, without sockets: a polling handshake (verify, session, open packet,
//! response) and a bridged control-mode publish, driven through the router on one thread.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::Arc;

use axum::body::Body;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use switchboard_engineio::EngineIoConfig;
use switchboard_fabric::{AllowAll, Fabric};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

fn handshake(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let registry = prometheus::Registry::new();
    let fabric = Fabric::new(Default::default(), "bench", &registry).expect("fabric");
    let mounted = rt.block_on(async {
        switchboard_engineio::mount(
            &EngineIoConfig::default(),
            fabric.clone(),
            Arc::new(AllowAll),
            &registry,
            CancellationToken::new(),
            TaskTracker::new(),
        )
        .expect("mount")
    });
    let router = mounted.router;
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    g.bench_function("polling_handshake_and_close", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = Request::get("/engine.io/?EIO=4&transport=polling")
                    .body(Body::empty())
                    .expect("request");
                let resp = router.clone().oneshot(req).await.expect("infallible");
                let body = resp.into_body().collect().await.expect("body").to_bytes();
                // close the session so the table stays small: POST a close packet
                let sid = &body[9..33];
                let uri = format!(
                    "/engine.io/?EIO=4&transport=polling&sid={}",
                    std::str::from_utf8(sid).unwrap_or_default()
                );
                let req = Request::post(uri).body(Body::from("1")).expect("request");
                let _ = router.clone().oneshot(req).await;
                tokio::task::yield_now().await;
            })
        })
    });
    g.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
