//! HTTP through the proxy to the Node `http` upstream (tests/node/upstream.js): what Node
//! received, 10 MB bodies both ways, keep-alive reuse, and an upstream that dies before or
//! during its answer or is killed mid-request.
//!
//! Needs `npm ci --prefix protocols/http-proxy/tests/node`; fails (never skips) without it.

mod common;

use std::sync::Arc;

use bytes::BytesMut;
use common::*;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use switchboard_proxy::RouteConfig;

#[tokio::test]
async fn node_sees_a_clean_forwarded_request() {
    let node = start_node().await;
    let r = RouteConfig {
        xfwd: true,
        via: Some("switchboard".to_owned()),
        ..route(&[&node.url()])
    };
    let p = start_proxy(config(vec![r])).await;
    let got = send(
        Request::patch(p.url("/items/9?full=1"))
            .header("connection", "keep-alive, x-drop")
            .header("x-drop", "1")
            .header("keep-alive", "timeout=3")
            .header("x-keep", "2")
            .body(full("{\"a\":1}"))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let echo = got.json();
    assert_eq!(echo["server"], "node");
    assert_eq!(echo["method"], "PATCH");
    assert_eq!(echo["url"], "/items/9?full=1");
    assert_eq!(echo["httpVersion"], "1.1");
    assert_eq!(echo["body"], "{\"a\":1}");
    let raw: Vec<String> = echo["rawHeaders"]
        .as_array()
        .unwrap()
        .iter()
        .step_by(2)
        .map(|v| v.as_str().unwrap().to_ascii_lowercase())
        .collect();
    for gone in ["x-drop", "keep-alive", "connection"] {
        assert!(
            !raw.contains(&gone.to_owned()),
            "{gone} reached Node: {raw:?}"
        );
    }
    let h = &echo["headers"];
    assert_eq!(h["x-keep"], "2");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-port"], p.addr.port().to_string());
    assert_eq!(h["x-forwarded-host"], p.addr.to_string());
    assert_eq!(h["via"], "1.1 switchboard");
}

#[tokio::test]
async fn node_connections_are_kept_alive() {
    let node = start_node().await;
    let p = start_proxy(config(vec![route(&[&node.url()])])).await;
    let mut ports = Vec::new();
    for _ in 0..5 {
        ports.push(
            get_with(&p.url("/"), &[]).await.json()["remotePort"]
                .as_u64()
                .unwrap(),
        );
    }
    ports.dedup();
    assert_eq!(
        ports.len(),
        1,
        "one upstream socket for sequential requests: {ports:?}"
    );
}

#[tokio::test]
async fn ten_megabytes_chunked_to_node_and_back() {
    let node = start_node().await;
    let p = start_proxy(config(vec![route(&[&node.url()])])).await;
    let data = pattern(10 * 1024 * 1024);
    let (tx, body) = channel_body();
    let feeder = {
        let data = data.clone();
        tokio::spawn(async move {
            for chunk in data.chunks(100_000) {
                push(&tx, bytes::Bytes::copy_from_slice(chunk)).await;
            }
        })
    };
    let req = Request::put(p.url("/upload"))
        .header("x-test-echo-body", "1")
        .body(body)
        .unwrap();
    let resp = tokio::time::timeout(WAIT, client().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed back chunked"
    );
    let got = tokio::time::timeout(WAIT, resp.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    feeder.await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "byte-exact");
}

#[tokio::test]
async fn ten_megabyte_response_streams_from_node() {
    let node = start_node().await;
    let p = start_proxy(config(vec![route(&[&node.url()])])).await;
    let want = 10 * 1024 * 1024;
    let req = Request::get(p.url("/download"))
        .header("x-test-response-bytes", want.to_string())
        .body(empty())
        .unwrap();
    let resp = tokio::time::timeout(WAIT, client().request(req))
        .await
        .unwrap()
        .unwrap();
    let mut body = resp.into_body();
    let mut total = 0usize;
    let mut frames = 0usize;
    let mut sample = BytesMut::new();
    while let Some(frame) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
        let data = frame.unwrap().into_data().unwrap();
        total += data.len();
        frames += 1;
        if sample.is_empty() {
            sample.extend_from_slice(&data[..data.len().min(16)]);
        }
    }
    assert_eq!(total, want);
    assert!(
        frames > 10,
        "arrived as a stream of frames, not one buffer ({frames})"
    );
    assert_eq!(&sample[..], &[b'b'; 16]);
}

#[tokio::test]
async fn upstream_dying_before_the_answer_is_502() {
    let node = start_node().await;
    let p = start_proxy(config(vec![route(&[&node.url()])])).await;
    let got = send(
        Request::post(p.url("/x"))
            .header("x-test-die", "before")
            .body(full("b"))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "upstream")]),
        Some(1.0)
    );
    // The next request is served on a fresh connection.
    assert_eq!(get_with(&p.url("/y"), &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn upstream_dying_mid_response_cuts_the_client_response() {
    let node = start_node().await;
    let p = start_proxy(config(vec![route(&[&node.url()])])).await;
    let req = Request::get(p.url("/x"))
        .header("x-test-die", "mid")
        .body(empty())
        .unwrap();
    let resp = tokio::time::timeout(WAIT, client().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], "100000");
    let res = tokio::time::timeout(WAIT, resp.into_body().collect())
        .await
        .expect("ends, not hangs");
    assert!(
        res.is_err(),
        "a truncated body must surface as an error, never as a short success"
    );
}

#[tokio::test]
async fn upstream_killed_mid_request_is_502_and_other_routes_keep_working() {
    let mut node = start_node().await;
    let other = start_axum("other").await;
    let p = Arc::new(
        start_proxy(config(vec![
            RouteConfig {
                path_prefix: "/node".to_owned(),
                ..route(&[&node.url()])
            },
            route(&[&other.url()]),
        ]))
        .await,
    );
    let url = p.url("/node/slow");
    let pending = tokio::spawn(async move {
        get_with(
            &url,
            &[("x-test-announce", "1"), ("x-test-delay-ms", "60000")],
        )
        .await
    });
    assert_eq!(
        node.next_event().await["url"],
        "/node/slow",
        "Node has the request"
    );
    node.kill().await;
    let got = pending.await.unwrap();
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(get_with(&p.url("/fine"), &[]).await.json()["name"], "other");
}
