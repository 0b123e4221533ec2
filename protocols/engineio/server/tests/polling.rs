//! Raw HTTP behaviour of the engine, driven through its router without sockets: handshakes,
//! every error code, the duplicate-poll rule, heartbeats with paused time, CORS, cookie,
//! compression, bad input and half-open sessions.

mod common;

use std::io::Read as _;
use std::time::Duration;

use bytes::Bytes;
use common::{engine, poll_uri};
use http::Method;
use switchboard_engineio::EngineIoConfig;
use switchboard_engineio::config::{CookieConfig, CorsConfig};
use switchboard_engineio::proto::CloseReason;

fn config() -> EngineIoConfig {
    EngineIoConfig::default()
}

#[tokio::test]
async fn handshake_answers_the_open_packet() {
    let t = engine(config());
    let r = t.get("/engine.io/?EIO=4&transport=polling&t=abc").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let text = r.text();
    let json: serde_json::Value = serde_json::from_str(&text[1..]).expect("json");
    assert!(text.starts_with('0'));
    assert_eq!(json["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(json["pingInterval"], 25000);
    assert_eq!(json["pingTimeout"], 20000);
    assert_eq!(json["maxPayload"], 1_000_000);
    let sid = json["sid"].as_str().unwrap_or_default();
    assert_eq!(sid.len(), 24);
    let parsed: switchboard_engineio::proto::Sid = sid.parse().expect("our sid");
    assert_eq!(parsed.node().get(), 7, "the sid carries the node tag");
    assert_eq!(t.engine.session_count(), 1);
    assert_eq!(
        t.metric("switchboard_engineio_sessions", &[("transport", "polling")]),
        1.0
    );
}

#[tokio::test]
async fn messages_round_trip_over_polling() {
    let t = engine(config());
    let (sid, _) = t.handshake(4).await;
    let r = t.post(&poll_uri(&sid), "4hello\x1ebAQID").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = t.get(&poll_uri(&sid)).await;
    assert_eq!(r.text(), "4hello\x1ebAQID");
    assert_eq!(
        t.metric(
            "switchboard_messages_received_total",
            &[("protocol", "engineio")]
        ),
        2.0
    );
}

#[tokio::test]
async fn initial_packet_follows_the_open_packet() {
    let t = engine(EngineIoConfig {
        initial_packet: Some("welcome".to_owned()),
        ..config()
    });
    let (_, body) = t.handshake(4).await;
    assert!(body.ends_with("\x1e4welcome"), "{body}");
}

#[tokio::test]
async fn every_error_code_is_answered_like_engine_io() {
    let mut c = config();
    c.transports = vec![switchboard_engineio::proto::Transport::Polling];
    let t = engine(c);
    let cases: [(Method, &str, u16, &str); 8] = [
        (
            Method::GET,
            "/engine.io/?EIO=4&transport=tobi",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            Method::GET,
            "/engine.io/?EIO=4",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            // disabled transport
            Method::GET,
            "/engine.io/?EIO=4&transport=websocket",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            Method::GET,
            "/engine.io/?EIO=4&transport=polling&sid=AQKrq6urq6urq6urq6urq6ur",
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            Method::POST,
            "/engine.io/?EIO=4&transport=polling&sid=nope",
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            Method::POST,
            "/engine.io/?EIO=4&transport=polling",
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            Method::GET,
            "/engine.io/?EIO=4&transport=polling&deny=1",
            403,
            r#"{"code":4,"message":"denied by the test"}"#,
        ),
        (
            Method::GET,
            "/engine.io/?EIO=3&transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
    ];
    for (method, uri, status, body) in cases {
        let r = t.request(method.clone(), uri, &[], Bytes::new()).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, body),
            "{method} {uri}"
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let r = t.get("/engine.io/?transport=polling").await;
    assert_eq!(
        r.text(),
        r#"{"code":5,"message":"Unsupported protocol version"}"#
    );
    assert_eq!(
        t.metric(
            "switchboard_engineio_request_errors_total",
            &[("code", "1")]
        ),
        2.0
    );
    assert_eq!(t.engine.session_count(), 0);
}

#[tokio::test]
async fn bad_request_code_3_for_transport_mismatch_and_websocket_without_upgrade() {
    let t = engine(config());
    let r = t.get("/engine.io/?EIO=4&transport=websocket").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"code":3,"message":"Bad request"}"#)
    );
    let (sid, _) = t.handshake(4).await;
    let r = t
        .get(&format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"))
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"code":3,"message":"Bad request"}"#)
    );
}

#[tokio::test]
async fn allow_request_origins_are_checked() {
    let mut c = config();
    c.allow_request.origins = vec!["https://app.example".to_owned()];
    let t = engine(c);
    let uri = "/engine.io/?EIO=4&transport=polling";
    let r = t
        .request(
            Method::GET,
            uri,
            &[("origin", "https://evil.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, r#"{"code":4,"message":"Origin not allowed"}"#)
    );
    let r = t
        .request(
            Method::GET,
            uri,
            &[("origin", "https://app.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn eio3_when_allowed() {
    let t = engine(EngineIoConfig {
        allow_eio3: true,
        ..config()
    });
    let r = t.get("/engine.io/?EIO=3&transport=polling").await;
    assert_eq!(r.status, 200);
    let text = r.text();
    // v3 payload: <length>:<packet>, no maxPayload
    let (len, packet) = text.split_once(':').expect("length prefix");
    assert_eq!(len.parse::<usize>().ok(), Some(packet.chars().count()));
    assert!(
        packet.starts_with("0{") && !packet.contains("maxPayload"),
        "{text}"
    );
    let sid = serde_json::from_str::<serde_json::Value>(&packet[1..]).expect("json")["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let uri = format!("/engine.io/?EIO=3&transport=polling&sid={sid}");
    // v3: the client pings, the server answers pong
    let r = t.post(&uri, "1:2").await;
    assert_eq!(r.status, 200);
    assert_eq!(t.get(&uri).await.text(), "1:3");
}

#[tokio::test]
async fn a_second_pending_poll_closes_the_session() {
    let t = engine(config());
    let (sid, _) = t.handshake(4).await;
    let uri = poll_uri(&sid);
    let first = {
        let router = t.router.clone();
        let uri = uri.clone();
        tokio::spawn(async move {
            use tower::ServiceExt;
            let req = http::Request::get(uri)
                .body(axum::body::Body::empty())
                .expect("req");
            let resp = router.oneshot(req).await.expect("infallible");
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .expect("body")
                .to_bytes();
            String::from_utf8_lossy(&body).into_owned()
        })
    };
    // Let the first poll register as pending.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    let second = t.get(&uri).await;
    assert_eq!(second.status, 400);
    assert!(second.body.is_empty());
    assert_eq!(
        first.await.ok().as_deref(),
        Some("1"),
        "the pending poll gets a close packet"
    );
    let third = t.get(&uri).await;
    assert_eq!(third.text(), r#"{"code":1,"message":"Session ID unknown"}"#);
    tokio::time::timeout(Duration::from_secs(5), async {
        while t.engine.handler().closed.lock().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the session was forgotten");
    assert_eq!(
        t.engine.handler().closed.lock().as_slice(),
        &[CloseReason::TransportError]
    );
    assert_eq!(
        t.metric(
            "switchboard_disconnects_total",
            &[("protocol", "engineio"), ("reason", "transport_error")]
        ),
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn server_pings_and_closes_on_ping_timeout() {
    let t = engine(config());
    let (sid, _) = t.handshake(4).await;
    let uri = poll_uri(&sid);
    // The pending poll waits (in paused time) until the first ping at 25 s.
    let start = tokio::time::Instant::now();
    let r = t.get(&uri).await;
    assert_eq!(r.text(), "2");
    assert_eq!(start.elapsed(), Duration::from_millis(25_000));
    // Answer the ping: the next one comes 25 s later.
    assert_eq!(t.post(&uri, "3").await.status, 200);
    let r = t.get(&uri).await;
    assert_eq!(r.text(), "2");
    assert_eq!(start.elapsed(), Duration::from_millis(50_000));
    // No pong this time: 20 s later the pending poll gets the close packet.
    let r = t.get(&uri).await;
    assert_eq!(r.text(), "1");
    assert_eq!(start.elapsed(), Duration::from_millis(70_000));
    assert_eq!(t.get(&uri).await.status, 400);
    tokio::task::yield_now().await;
    assert_eq!(
        t.engine.handler().closed.lock().as_slice(),
        &[CloseReason::PingTimeout]
    );
    assert_eq!(
        t.metric(
            "switchboard_disconnects_total",
            &[("protocol", "engineio"), ("reason", "ping_timeout")]
        ),
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn v3_sessions_close_without_client_pings() {
    let t = engine(EngineIoConfig {
        allow_eio3: true,
        ..config()
    });
    let (sid, _) = t.handshake(3).await;
    tokio::time::sleep(Duration::from_millis(44_000)).await;
    assert!(t.engine.socket(&sid.parse().expect("sid")).is_some());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(t.engine.socket(&sid.parse().expect("sid")).is_none());
    assert_eq!(
        t.engine.handler().closed.lock().as_slice(),
        &[CloseReason::PingTimeout]
    );
}

#[tokio::test]
async fn cors_preflight_and_actual_requests() {
    let t = engine(EngineIoConfig {
        cors: CorsConfig {
            origins: vec!["https://app.example".to_owned()],
            credentials: true,
            max_age_s: Some(600),
            ..CorsConfig::default()
        },
        ..config()
    });
    let r = t
        .request(
            Method::OPTIONS,
            "/engine.io/?EIO=4&transport=polling",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let r = t
        .request(
            Method::GET,
            "/engine.io/?EIO=4&transport=polling",
            &[("origin", "https://app.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // errors carry CORS headers too, so browsers can read them
    let r = t
        .request(
            Method::GET,
            "/engine.io/?EIO=4&transport=nope",
            &[("origin", "https://app.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // without CORS configured, OPTIONS is a bad handshake method
    let plain = engine(config());
    let r = plain
        .request(
            Method::OPTIONS,
            "/engine.io/?EIO=4&transport=polling",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.text(), r#"{"code":2,"message":"Bad handshake method"}"#);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cookie_and_headers_on_the_handshake() {
    let mut c = config();
    c.cookie = CookieConfig {
        enabled: true,
        ..CookieConfig::default()
    };
    c.extra_headers
        .insert("x-served-by".to_owned(), "switchboard".to_owned());
    c.initial_headers
        .insert("x-first".to_owned(), "yes".to_owned());
    let t = engine(c);
    let r = t.get("/engine.io/?EIO=4&transport=polling").await;
    let sid = serde_json::from_str::<serde_json::Value>(&r.text()[1..]).expect("json")["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        r.header("set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
    assert_eq!(r.header("x-served-by"), Some("switchboard"));
    assert_eq!(r.header("x-first"), Some("yes"));
    let r = t.post(&poll_uri(&sid), "4x").await;
    assert!(r.header("set-cookie").is_none());
    assert!(r.header("x-first").is_none());
    assert_eq!(r.header("x-served-by"), Some("switchboard"));
}

#[tokio::test]
async fn large_polling_responses_are_compressed() {
    let t = engine(config());
    let (sid, _) = t.handshake(4).await;
    let uri = poll_uri(&sid);
    let big = "4".to_owned() + &"x".repeat(5000);
    let big: &'static str = Box::leak(big.into_boxed_str());
    assert_eq!(t.post(&uri, big).await.status, 200);
    let r = t
        .request(
            Method::GET,
            &uri,
            &[("accept-encoding", "gzip, deflate")],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body.len() < 200);
    let mut text = String::new();
    let _ = flate2::read::GzDecoder::new(&r.body[..]).read_to_string(&mut text);
    assert_eq!(text, big);
    // small bodies and clients without Accept-Encoding get identity
    assert_eq!(t.post(&uri, "4small").await.status, 200);
    let r = t
        .request(
            Method::GET,
            &uri,
            &[("accept-encoding", "gzip")],
            Bytes::new(),
        )
        .await;
    assert!(r.header("content-encoding").is_none());
    assert_eq!(r.text(), "4small");
}

#[tokio::test]
async fn bad_input_closes_with_a_clear_error() {
    let t = engine(config());
    for (body, status, reason) in [
        ("9nope", 400, CloseReason::ParseError),
        ("bAQ!D", 400, CloseReason::ParseError),
        ("", 400, CloseReason::ParseError),
    ] {
        let (sid, _) = t.handshake(4).await;
        let r = t.post(&poll_uri(&sid), body).await;
        assert_eq!(r.status, status, "{body:?}");
        assert!(r.text().starts_with("parse error"), "{}", r.text());
        let s = t.engine.socket(&sid.parse().expect("sid"));
        assert!(s.is_none() || s.is_some_and(|s| s.close_reason() == Some(reason)));
    }
    // v4 has no binary POST bodies
    let (sid, _) = t.handshake(4).await;
    let r = t
        .request(
            Method::POST,
            &poll_uri(&sid),
            &[("content-type", "application/octet-stream")],
            Bytes::from_static(b"\x04abc"),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn bodies_over_max_http_buffer_size_are_refused() {
    let t = engine(EngineIoConfig {
        max_http_buffer_size: 100,
        ..config()
    });
    let (sid, _) = t.handshake(4).await;
    let exactly: String = "4".to_owned() + &"a".repeat(99);
    let r = t
        .request(
            Method::POST,
            &poll_uri(&sid),
            &[],
            Bytes::from(exactly.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "a body of exactly the limit is accepted");
    assert_eq!(t.get(&poll_uri(&sid)).await.text(), exactly);
    let over = exactly + "a";
    let r = t
        .request(Method::POST, &poll_uri(&sid), &[], Bytes::from(over))
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        t.get(&poll_uri(&sid)).await.status,
        400,
        "the session is closed"
    );
    assert_eq!(
        t.metric(
            "switchboard_dropped_total",
            &[("protocol", "engineio"), ("reason", "payload_too_large")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_close_packet_ends_the_session() {
    let t = engine(config());
    let (sid, _) = t.handshake(4).await;
    assert_eq!(t.post(&poll_uri(&sid), "1").await.status, 200);
    assert_eq!(t.get(&poll_uri(&sid)).await.status, 400);
}

#[tokio::test]
async fn max_sessions_is_enforced() {
    let t = engine(EngineIoConfig {
        max_sessions: 2,
        ..config()
    });
    t.handshake(4).await;
    t.handshake(4).await;
    let r = t.get("/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        t.metric(
            "switchboard_connections_rejected_total",
            &[("protocol", "engineio"), ("reason", "max_sessions")]
        ),
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_half_open_sessions_are_bounded_and_cleaned_up() {
    let t = engine(config());
    for _ in 0..10_000 {
        let r = t.get("/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(t.engine.session_count(), 10_000);
    assert_eq!(
        t.metric("switchboard_connections", &[("protocol", "engineio")]),
        10_000.0
    );
    // Nobody polls: each session pings at 25 s and times out 20 s later.
    tokio::time::sleep(Duration::from_millis(45_001)).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(t.engine.session_count(), 0);
    assert_eq!(
        t.metric("switchboard_connections", &[("protocol", "engineio")]),
        0.0
    );
    assert_eq!(
        t.metric(
            "switchboard_disconnects_total",
            &[("protocol", "engineio"), ("reason", "ping_timeout")]
        ),
        10_000.0
    );
    assert_eq!(t.engine.handler().closed.lock().len(), 10_000);
}

#[tokio::test]
async fn shutdown_closes_every_session() {
    let t = engine(config());
    let (sid, _) = t.handshake(4).await;
    t.stop.cancel();
    let r = t.get(&poll_uri(&sid)).await;
    assert_eq!(r.text(), "1");
    let r = t.get("/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 503);
    t.tracker.close();
    tokio::time::timeout(Duration::from_secs(5), t.tracker.wait())
        .await
        .expect("every task ends");
    assert_eq!(
        t.engine.handler().closed.lock().as_slice(),
        &[CloseReason::ServerShuttingDown]
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_closed_before_its_first_poll_is_forgotten_at_once() {
    let t = engine(config());
    let (sid, _) = t.handshake(4).await;
    let (other, _) = t.handshake(4).await;
    let socket = t.engine.socket(&sid.parse().expect("sid")).expect("open");
    // As an admin kick does: no request of the session ever came.
    socket.close(CloseReason::ForcedClose);
    let start = tokio::time::Instant::now();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "no timer was needed");
    assert!(t.engine.socket(&sid.parse().expect("sid")).is_none());
    assert_eq!(t.engine.session_count(), 1);
    assert_eq!(
        t.engine.handler().closed.lock().as_slice(),
        &[CloseReason::ForcedClose]
    );
    assert_eq!(
        t.metric(
            "switchboard_disconnects_total",
            &[("protocol", "engineio"), ("reason", "forced_close")]
        ),
        1.0
    );
    assert_eq!(t.get(&poll_uri(&sid)).await.status, 400);
    // The other session is untouched and still served.
    assert_eq!(t.post(&poll_uri(&other), "4hi").await.status, 200);
    assert_eq!(t.get(&poll_uri(&other)).await.text(), "4hi");
}

#[tokio::test]
async fn shutdown_closes_sessions_that_never_polled() {
    let t = engine(config());
    for _ in 0..3 {
        t.handshake(4).await;
    }
    t.stop.cancel();
    t.tracker.close();
    tokio::time::timeout(Duration::from_secs(5), t.tracker.wait())
        .await
        .expect("every task ends");
    assert_eq!(t.engine.session_count(), 0);
    assert_eq!(
        t.engine.handler().closed.lock().as_slice(),
        &[CloseReason::ServerShuttingDown; 3]
    );
}
