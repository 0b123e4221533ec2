//! The WebSocket transport and the upgrade from polling, on a real server, in raw echo mode.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::net::{self, http, next, next_text, send_text, serve, ws};
use futures_util::SinkExt;
use switchboard_engineio::EngineIoConfig;
use switchboard_engineio::config::{BridgeMode, RawConfig};
use tokio_tungstenite::tungstenite::Message;

fn echo() -> EngineIoConfig {
    EngineIoConfig {
        mode: BridgeMode::Raw,
        raw: RawConfig {
            publish: "echo/{sid}".to_owned(),
            subscribe: vec!["echo/{sid}".to_owned()],
        },
        ..EngineIoConfig::default()
    }
}

fn sid_of(open: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(&open[1..]).expect("open JSON");
    json["sid"].as_str().expect("sid").to_owned()
}

#[tokio::test]
async fn websocket_sessions_echo_text_and_binary() {
    let s = serve(echo()).await;
    let mut w = ws(s.addr, "/engine.io/?EIO=4&transport=websocket").await;
    let open = next_text(&mut w).await;
    assert!(open.starts_with("0{"), "{open}");
    let json: serde_json::Value = serde_json::from_str(&open[1..]).expect("json");
    assert_eq!(json["upgrades"], serde_json::json!([]));
    send_text(&mut w, "4hello").await;
    assert_eq!(next_text(&mut w).await, "4hello");
    w.send(Message::binary(Bytes::from_static(&[1, 2, 3])))
        .await
        .expect("send");
    assert_eq!(
        next(&mut w).await,
        Some(Message::binary(Bytes::from_static(&[1, 2, 3])))
    );
    // many messages keep their order
    for i in 0..200 {
        send_text(&mut w, &format!("4m{i}")).await;
    }
    for i in 0..200 {
        assert_eq!(next_text(&mut w).await, format!("4m{i}"));
    }
    assert_eq!(s.engine.session_count(), 1);
    drop(w);
    tokio::time::timeout(Duration::from_secs(5), async {
        while s.engine.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the session ends with its WebSocket");
}

#[tokio::test]
async fn base64_clients_get_binary_as_text() {
    let s = serve(echo()).await;
    let mut w = ws(s.addr, "/engine.io/?EIO=4&transport=websocket&b64=1").await;
    let _open = next_text(&mut w).await;
    send_text(&mut w, "bAQID").await;
    assert_eq!(next_text(&mut w).await, "bAQID");
}

#[tokio::test]
async fn oversized_websocket_messages_close_the_session() {
    let s = serve(EngineIoConfig {
        max_http_buffer_size: 1000,
        ..echo()
    })
    .await;
    let mut w = ws(s.addr, "/engine.io/?EIO=4&transport=websocket").await;
    let _open = next_text(&mut w).await;
    let fits = "4".to_owned() + &"x".repeat(999);
    send_text(&mut w, &fits).await;
    assert_eq!(next_text(&mut w).await, fits);
    send_text(&mut w, &(fits + "x")).await;
    match next(&mut w).await {
        None | Some(Message::Close(_)) => {}
        other => panic!("expected the socket to close, got {other:?}"),
    }
}

#[tokio::test]
async fn upgrade_from_polling_flushes_in_order() {
    let s = serve(echo()).await;
    let r = http(s.addr, "GET", "/engine.io/?EIO=4&transport=polling", b"").await;
    assert_eq!(r.status, 200);
    let sid = sid_of(&r.text());
    let poll = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    // messages echoed before the upgrade come back on polling
    assert_eq!(http(s.addr, "POST", &poll, b"4before").await.status, 200);
    assert_eq!(http(s.addr, "GET", &poll, b"").await.text(), "4before");
    // a poll is pending while the client probes
    let pending = {
        let addr = s.addr;
        let poll = poll.clone();
        tokio::spawn(async move { http(addr, "GET", &poll, b"").await.text() })
    };
    let mut w = ws(
        s.addr,
        &format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
    )
    .await;
    send_text(&mut w, "2probe").await;
    assert_eq!(next_text(&mut w).await, "3probe");
    assert_eq!(
        pending.await.ok().as_deref(),
        Some("6"),
        "the pending poll is flushed with a noop"
    );
    // messages sent while upgrading are buffered, then drained in order over the WebSocket
    for m in ["4one", "4two"] {
        assert_eq!(http(s.addr, "POST", &poll, m.as_bytes()).await.status, 200);
    }
    send_text(&mut w, "5").await;
    assert_eq!(next_text(&mut w).await, "4one");
    assert_eq!(next_text(&mut w).await, "4two");
    send_text(&mut w, "4after").await;
    assert_eq!(next_text(&mut w).await, "4after");
    // polling is over for this session
    let r = http(s.addr, "GET", &poll, b"").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    assert_eq!(
        net_metric(&s, "switchboard_engineio_upgrades_total", "outcome=\"ok\""),
        1.0
    );
}

#[tokio::test]
async fn an_upgrade_that_is_not_completed_in_time_is_abandoned() {
    let s = serve(EngineIoConfig {
        upgrade_timeout_ms: 100,
        ..echo()
    })
    .await;
    let r = http(s.addr, "GET", "/engine.io/?EIO=4&transport=polling", b"").await;
    let sid = sid_of(&r.text());
    let mut w = ws(
        s.addr,
        &format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
    )
    .await;
    // no probe: the server closes the WebSocket when upgrade_timeout_ms passes
    match next(&mut w).await {
        None | Some(Message::Close(_)) => {}
        other => panic!("expected a close, got {other:?}"),
    }
    // the session carries on over polling
    let poll = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(s.addr, "POST", &poll, b"4still").await.status, 200);
    assert_eq!(http(s.addr, "GET", &poll, b"").await.text(), "4still");
    assert_eq!(
        net_metric(
            &s,
            "switchboard_engineio_upgrades_total",
            "outcome=\"timeout\""
        ),
        1.0
    );
}

#[tokio::test]
async fn websocket_errors_are_engine_io_upgrade_errors() {
    let s = serve(echo()).await;
    let stream = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid=AQKrq6urq6urq6urq6urq6ur",
        s.addr
    );
    match tokio_tungstenite::client_async(url, stream).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400);
            let body = resp.body().clone().unwrap_or_default();
            assert_eq!(String::from_utf8_lossy(&body), "Session ID unknown");
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_says_goodbye_on_websockets() {
    let s = serve(echo()).await;
    let (mut w, _sid) = net::ws_session(s.addr, "").await;
    s.stop.cancel();
    assert_eq!(next_text(&mut w).await, "1");
    match next(&mut w).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

fn net_metric(s: &net::Server, name: &str, label: &str) -> f64 {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&s.registry.gather())
        .unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn undecodable_websocket_frames_close_with_parse_error() {
    let s = serve(echo()).await;
    for bad in ["9nope", "bAQ!D", ""] {
        let mut w = ws(s.addr, "/engine.io/?EIO=4&transport=websocket").await;
        let _open = next_text(&mut w).await;
        send_text(&mut w, bad).await;
        match next(&mut w).await {
            Some(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1007, "{bad:?}");
                assert_eq!(frame.reason.as_str(), "parse error");
            }
            other => panic!("expected a close frame for {bad:?}, got {other:?}"),
        }
    }
    // a v4 client must not ping: "invalid heartbeat direction" is a transport error
    let mut w = ws(s.addr, "/engine.io/?EIO=4&transport=websocket").await;
    let _open = next_text(&mut w).await;
    send_text(&mut w, "2").await;
    match next(&mut w).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.reason.as_str(), "transport error"),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(
        net_metric(
            &s,
            "switchboard_disconnects_total",
            "reason=\"parse_error\""
        ),
        3.0
    );
}
