//! Failure handling: 502 / 504 / 413 / 408 with a small body and a metric, retries only for
//! idempotent requests that never reached an upstream (or whose reused keep-alive connection
//! the upstream closed unanswered), and failures that never close other requests' connections.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use switchboard_proxy::RouteConfig;

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let dead = dead_addr().await;
    let p = start_proxy(config(vec![route(&[&format!("http://{dead}")])])).await;
    let got = get_with(&p.url("/x"), &[]).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(got.body, "bad gateway: upstream unavailable\n");
    assert_eq!(got.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "connect")]),
        Some(1.0),
        "one request failed"
    );
    assert_eq!(
        p.metric("switchboard_proxy_requests_total", &[("status", "502")]),
        Some(1.0)
    );
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let up = start_axum("slow").await;
    let mut r = route(&[&up.url()]);
    r.proxy_timeout_ms = 150;
    let p = start_proxy(config(vec![r])).await;
    let started = Instant::now();
    let got = get_with(&p.url("/hang"), &[]).await;
    assert_eq!(got.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        got.body,
        "gateway timeout: upstream did not answer in time\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after the timeout, not later"
    );
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "timeout")]),
        Some(1.0)
    );
    // The proxy stays usable for fast requests on the same route.
    assert_eq!(get_with(&p.url("/fast"), &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn idempotent_request_is_retried_on_another_target() {
    let dead = dead_addr().await;
    let up = start_axum("live").await;
    let p = start_proxy(config(vec![route(&[&format!("http://{dead}"), &up.url()])])).await;
    let got = get_with(&p.url("/x"), &[]).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "the connect failure on the first target was retried"
    );
    assert_eq!(got.json()["name"], "live");
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "connect")]),
        None,
        "a recovered attempt is not an error of the request"
    );
}

#[tokio::test]
async fn request_with_body_is_never_retried() {
    let dead = dead_addr().await;
    let up = start_axum("live").await;
    let p = start_proxy(config(vec![route(&[&format!("http://{dead}"), &up.url()])])).await;
    let got = send(Request::put(p.url("/x")).body(full("payload")).unwrap()).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(up.hits.load(Ordering::Relaxed), 0);
    let r = RouteConfig {
        retries: 0,
        ..route(&[&format!("http://{dead}"), &up.url()])
    };
    let p = start_proxy(config(vec![r])).await;
    assert_eq!(
        get_with(&p.url("/x"), &[]).await.status,
        StatusCode::BAD_GATEWAY,
        "retries = 0 disables retry"
    );
}

#[tokio::test]
async fn non_idempotent_post_is_not_retried_even_without_body() {
    let dead = dead_addr().await;
    let up = start_axum("live").await;
    let p = start_proxy(config(vec![route(&[&format!("http://{dead}"), &up.url()])])).await;
    let got = send(Request::post(p.url("/x")).body(empty()).unwrap()).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(up.hits.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn upstream_failure_keeps_the_client_connection() {
    let dead = dead_addr().await;
    let up = start_axum("live").await;
    let p = start_proxy(config(vec![
        RouteConfig {
            path_prefix: "/dead".to_owned(),
            ..route(&[&format!("http://{dead}")])
        },
        route(&[&up.url()]),
    ]))
    .await;
    let mut conn = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let host = p.addr;
    let (s1, _) = raw_exchange(
        &mut conn,
        &format!("GET /dead HTTP/1.1\r\nhost: {host}\r\n\r\n"),
    )
    .await;
    assert_eq!(s1, 502);
    let (s2, body) = raw_exchange(
        &mut conn,
        &format!("GET /alive HTTP/1.1\r\nhost: {host}\r\n\r\n"),
    )
    .await;
    assert_eq!(s2, 200, "same keep-alive connection still serves");
    assert!(body.contains("\"name\":\"live\""));
}

#[tokio::test]
async fn declared_body_over_limit_is_413_without_contacting_upstream() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.max_body_bytes = 1000;
    let p = start_proxy(config(vec![r])).await;
    let got = send(
        Request::post(p.url("/u"))
            .body(full(vec![b'x'; 1001]))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(got.body, "payload too large\n");
    assert_eq!(up.hits.load(Ordering::Relaxed), 0);
    assert_eq!(
        p.metric(
            "switchboard_proxy_errors_total",
            &[("kind", "body_too_large")]
        ),
        Some(1.0)
    );
    let ok = send(
        Request::post(p.url("/u"))
            .body(full(vec![b'x'; 1000]))
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["bodyLength"], 1000);
}

#[tokio::test]
async fn chunked_body_over_limit_is_cut_and_413() {
    let mut up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.max_body_bytes = 10_000;
    let p = start_proxy(config(vec![r])).await;
    let (tx, body) = channel_body();
    let req = Request::post(p.url("/u")).body(body).unwrap();
    let pending = tokio::spawn(client().request(req));
    push(&tx, vec![b'a'; 6_000]).await;
    push(&tx, vec![b'b'; 6_000]).await;
    let resp = tokio::time::timeout(WAIT, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The upstream saw a body that ended in an error, never a complete 12 kB one.
    let seen = up.next_seen().await;
    assert!(seen["bodyLength"].as_u64().unwrap() <= 10_000, "{seen}");
    assert!(
        !seen["bodyError"].is_null(),
        "upstream body was aborted: {seen}"
    );
}

#[tokio::test]
async fn stalled_client_body_is_408() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.timeout_ms = 150;
    let p = start_proxy(config(vec![r])).await;
    let (tx, body) = channel_body();
    let req = Request::post(p.url("/u")).body(body).unwrap();
    let pending = tokio::spawn(client().request(req));
    push(&tx, "first chunk").await;
    // ...and nothing more: the proxy gives up after timeout_ms.
    let resp = tokio::time::timeout(WAIT, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        p.metric(
            "switchboard_proxy_errors_total",
            &[("kind", "client_timeout")]
        ),
        Some(1.0)
    );
    drop(tx);
}

#[tokio::test]
async fn stalled_upstream_body_is_cut() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.timeout_ms = 0;
    r.proxy_timeout_ms = 200;
    let p = start_proxy(config(vec![r])).await;
    // The upstream echoes the request body as it arrives; the client sends one chunk and then
    // nothing, so the upstream's response body stalls after the first chunk.
    let (tx, body) = channel_body();
    let req = Request::post(p.url("/echo"))
        .header("x-test-echo-body", "1")
        .body(body)
        .unwrap();
    let pending = tokio::spawn(client().request(req));
    push(&tx, "only chunk").await;
    let resp = tokio::time::timeout(WAIT, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(WAIT, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "only chunk");
    let end = tokio::time::timeout(WAIT, body.frame())
        .await
        .expect("cut, not hung");
    assert!(
        matches!(end, Some(Err(_))),
        "the response is cut with an error, not ended cleanly: {end:?}"
    );
    assert_eq!(
        p.metric(
            "switchboard_proxy_errors_total",
            &[("kind", "body_timeout")]
        ),
        Some(1.0)
    );
    drop(tx);
}

/// An upstream that answers the first `answered` requests of each connection (keep-alive),
/// then reads the next request head and hangs up without answering. Counts the request heads
/// it reads. With `answered = 1` it is the stale keep-alive connection of a server whose idle
/// timeout fired while the proxy reused it.
async fn hang_up_upstream(
    answered: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut reader = tokio::io::BufReader::new(stream);
                for n in 0..=answered {
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match reader.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    if n < answered {
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if reader.get_mut().write_all(ok).await.is_err() {
                            return;
                        }
                    }
                }
                // Dropping the stream closes the connection with the last request unanswered.
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn a_request_the_upstream_received_is_never_retried() {
    let (a, seen_a) = hang_up_upstream(0).await;
    let (b, seen_b) = hang_up_upstream(0).await;
    let p = start_proxy(config(vec![route(&[&a, &b])])).await;
    let post = send(Request::post(p.url("/x")).body(empty()).unwrap()).await;
    assert_eq!(post.status, StatusCode::BAD_GATEWAY);
    let get = get_with(&p.url("/y"), &[]).await;
    assert_eq!(
        get.status,
        StatusCode::BAD_GATEWAY,
        "even an idempotent request that reached an upstream is not sent again"
    );
    let total = seen_a.load(Ordering::SeqCst) + seen_b.load(Ordering::SeqCst);
    assert_eq!(total, 2, "each request reached an upstream exactly once");
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "upstream")]),
        Some(2.0)
    );
}

#[tokio::test]
async fn an_idempotent_request_on_a_connection_the_upstream_closed_goes_once_more_on_a_new_one() {
    let (up, seen) = hang_up_upstream(1).await;
    let p = start_proxy(config(vec![route(&[&up])])).await;
    assert_eq!(get_with(&p.url("/a"), &[]).await.status, StatusCode::OK);
    // The pooled connection is stale now: the upstream reads the next request and hangs up.
    let got = get_with(&p.url("/b"), &[]).await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "the GET went once more on a new connection"
    );
    assert_eq!(got.body, "ok");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "read on the stale and the new connection"
    );
    assert_eq!(
        p.metric("switchboard_proxy_stale_resends_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "upstream")]),
        None,
        "a recovered request is not an error"
    );
    // The new connection is pooled and stale in turn: a POST in the same place is not resent.
    let post = send(Request::post(p.url("/c")).body(empty()).unwrap()).await;
    assert_eq!(post.status, StatusCode::BAD_GATEWAY);
    assert_eq!(seen.load(Ordering::SeqCst), 4, "the POST was read once");
    assert_eq!(
        p.metric("switchboard_proxy_stale_resends_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "upstream")]),
        Some(1.0)
    );
}
