//! Bodies stream both ways without being buffered whole: a lock-step echo only completes if
//! each chunk crosses the proxy before the next one is sent, and 10 MB bodies (declared length
//! and chunked) come back byte-exact.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;

#[tokio::test]
async fn chunks_cross_the_proxy_one_by_one_in_both_directions() {
    let up = start_axum("echo").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let (tx, body) = channel_body();
    let req = Request::post(p.url("/echo"))
        .header("x-test-echo-body", "1")
        .body(body)
        .unwrap();
    let pending = tokio::spawn(client().request(req));
    push(&tx, "chunk-0").await;
    let resp = tokio::time::timeout(WAIT, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    assert_eq!(next_data(&mut body).await, "chunk-0");
    for i in 1..5 {
        let chunk = format!("chunk-{i}");
        push(&tx, chunk.clone()).await;
        assert_eq!(next_data(&mut body).await, chunk);
    }
    drop(tx);
    assert!(
        tokio::time::timeout(WAIT, body.frame())
            .await
            .unwrap()
            .is_none(),
        "ends cleanly"
    );
}

async fn next_data(body: &mut hyper::body::Incoming) -> Bytes {
    tokio::time::timeout(WAIT, body.frame())
        .await
        .expect("echoed chunk arrives while the request is still open")
        .expect("body open")
        .expect("no error")
        .into_data()
        .expect("data frame")
}

async fn echo_10mb(body: TestBody, url: String, expected: &Bytes) {
    let req = Request::post(url)
        .header("x-test-echo-body", "1")
        .body(body)
        .unwrap();
    let resp = tokio::time::timeout(WAIT, client().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut got = BytesMut::new();
    let mut body = resp.into_body();
    while let Some(frame) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
        if let Some(d) = frame.unwrap().data_ref() {
            got.extend_from_slice(d);
        }
    }
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "10 MB echoed byte-exact");
}

#[tokio::test]
async fn ten_megabytes_with_content_length_round_trip() {
    let up = start_axum("echo").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let data = pattern(10 * 1024 * 1024);
    echo_10mb(full(data.clone()), p.url("/big"), &data).await;
}

#[tokio::test]
async fn ten_megabytes_chunked_round_trip() {
    let up = start_axum("echo").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let data = pattern(10 * 1024 * 1024);
    let (tx, body) = channel_body();
    let feeder = {
        let data = data.clone();
        tokio::spawn(async move {
            for chunk in data.chunks(64 * 1024) {
                push(&tx, Bytes::copy_from_slice(chunk)).await;
            }
        })
    };
    echo_10mb(body, p.url("/big"), &data).await;
    feeder.await.unwrap();
}

#[tokio::test]
async fn a_stalled_mirror_is_cut_off_without_slowing_the_request() {
    let up = start_axum("main").await;
    // The mirror's handler never reads its body, so its copy backs up.
    let mirror = start_axum("mirror").await;
    let r = switchboard_proxy::RouteConfig {
        forward: Some(format!("{}/hang", mirror.url())),
        ..route(&[&up.url()])
    };
    let p = start_proxy(config(vec![r])).await;
    let data = pattern(10 * 1024 * 1024);
    let (tx, body) = channel_body();
    let feeder = {
        let data = data.clone();
        tokio::spawn(async move {
            for chunk in data.chunks(64 * 1024) {
                push(&tx, Bytes::copy_from_slice(chunk)).await;
            }
        })
    };
    echo_10mb(body, p.url("/"), &data).await;
    feeder.await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while p.metric("switchboard_proxy_errors_total", &[("kind", "forward")]) != Some(1.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mirror was never cut off"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
