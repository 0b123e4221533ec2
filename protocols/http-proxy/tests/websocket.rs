//! WebSocket and `Upgrade` proxying against the Node `ws` server and an axum WebSocket
//! upstream: echo, continuation frames, close codes in both directions, non-101 answers passed
//! through, the active-tunnel gauge, and shutdown closing tunnels.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use http::StatusCode;
use serde_json::Value;
use switchboard_proxy::RouteConfig;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Ws = WebSocketStream<TcpStream>;

async fn ws_connect(p: &TestProxy, path: &str, headers: &[(&str, &str)]) -> Result<Ws, WsError> {
    let stream = TcpStream::connect(p.addr)
        .await
        .expect("connect to the front");
    let mut req = format!("ws://{}{path}", p.addr).into_client_request()?;
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::try_from(*k).unwrap(),
            http::HeaderValue::try_from(*v).unwrap(),
        );
    }
    let (ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, stream))
        .await
        .expect("handshake in time")?;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    Ok(ws)
}

/// Reads until the server ends the connection, as a well-behaved client does after the close
/// handshake, then drops the socket.
async fn finish(mut ws: Ws) {
    while let Some(Ok(_)) = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("server closes")
    {}
}

async fn recv(ws: &mut Ws) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("message in time")
        .expect("stream open")
        .expect("no error")
}

fn ws_route(url: &str) -> RouteConfig {
    RouteConfig {
        ws: true,
        xfwd: true,
        ..route(&[url])
    }
}

async fn eventually_metric(p: &TestProxy, name: &str, want: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while p.metric(name, &[]) != Some(want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn node_ws_echo_text_binary_and_continuation_frames() {
    let node = start_node().await;
    let p = start_proxy(config(vec![ws_route(&node.url())])).await;
    let mut ws = ws_connect(&p, "/socket?room=1", &[("x-client", "rust")])
        .await
        .unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(recv(&mut ws).await, Message::text("hello"));
    let blob: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    assert_eq!(recv(&mut ws).await, Message::binary(blob));
    // One text message split over a first frame and a continuation frame.
    ws.send(Message::Frame(Frame::message(
        "split ",
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Frame(Frame::message(
        "message",
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(recv(&mut ws).await, Message::text("split message"));
    // What the upstream saw in the handshake.
    ws.send(Message::text("headers")).await.unwrap();
    let seen: Value = serde_json::from_str(recv(&mut ws).await.to_text().unwrap()).unwrap();
    assert_eq!(seen["url"], "/socket?room=1");
    assert_eq!(seen["headers"]["upgrade"], "websocket");
    assert_eq!(seen["headers"]["connection"], "upgrade");
    assert_eq!(seen["headers"]["x-client"], "rust");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
    assert_eq!(
        p.metric("switchboard_proxy_websockets_active", &[]),
        Some(1.0)
    );
    assert_eq!(
        p.metric("switchboard_proxy_requests_total", &[("status", "101")]),
        Some(1.0)
    );
    ws.close(None).await.unwrap();
    finish(ws).await;
    eventually_metric(&p, "switchboard_proxy_websockets_active", 0.0).await;
}

#[tokio::test]
async fn server_close_code_reaches_the_client() {
    let node = start_node().await;
    let p = start_proxy(config(vec![ws_route(&node.url())])).await;
    let mut ws = ws_connect(&p, "/", &[]).await.unwrap();
    ws.send(Message::text("close:4001:going home"))
        .await
        .unwrap();
    match recv(&mut ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::from(4001));
            assert_eq!(frame.reason.as_str(), "going home");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn client_close_code_reaches_the_server() {
    let node = start_node().await;
    let p = start_proxy(config(vec![ws_route(&node.url())])).await;
    let mut ws = ws_connect(&p, "/", &[]).await.unwrap();
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4002),
        reason: "client done".into(),
    }))
    .await
    .unwrap();
    // The server answers the close with the same code.
    match recv(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::from(4002)),
        other => panic!("expected the close echo, got {other:?}"),
    }
    finish(ws).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let closes = get_with(&p.url("/__ws_closes"), &[]).await.json();
        if let Some(first) = closes.as_array().and_then(|a| a.first()) {
            assert_eq!(first["code"], 4002);
            assert_eq!(first["reason"], "client done");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server never recorded the close"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn axum_ws_upstream_echo_and_close_code() {
    let up = start_axum("ws").await;
    let p = start_proxy(config(vec![ws_route(&up.url())])).await;
    let mut ws = ws_connect(&p, "/ws", &[]).await.unwrap();
    ws.send(Message::text("ping through")).await.unwrap();
    assert_eq!(recv(&mut ws).await, Message::text("ping through"));
    ws.send(Message::text("close:4100:axum says bye"))
        .await
        .unwrap();
    match recv(&mut ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::from(4100));
            assert_eq!(frame.reason.as_str(), "axum says bye");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn non_101_answer_is_passed_through() {
    let up = start_axum("plain").await;
    let p = start_proxy(config(vec![ws_route(&up.url())])).await;
    match ws_connect(&p, "/not-a-socket", &[("x-test-status", "403")]).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status(), StatusCode::FORBIDDEN);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["url"], "/not-a-socket");
        }
        other => panic!("expected the upstream's 403, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        p.metric("switchboard_proxy_websockets_active", &[]),
        None,
        "no tunnel was opened"
    );
}

#[tokio::test]
async fn shutdown_closes_open_tunnels() {
    let node = start_node().await;
    let p = start_proxy(config(vec![ws_route(&node.url())])).await;
    let mut ws = ws_connect(&p, "/", &[]).await.unwrap();
    ws.send(Message::text("before")).await.unwrap();
    assert_eq!(recv(&mut ws).await, Message::text("before"));
    p.proxy.shutdown();
    let end = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("tunnel closed by shutdown");
    assert!(!matches!(end, Some(Ok(Message::Text(_)))), "{end:?}");
    tokio::time::timeout(WAIT, p.proxy.drain())
        .await
        .expect("drained");
    assert_eq!(
        p.metric("switchboard_proxy_websockets_active", &[]),
        Some(0.0)
    );
}
