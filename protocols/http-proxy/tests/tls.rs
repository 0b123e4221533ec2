//! Upstream TLS with rustls: verified against a custom `ca`, rejected against the web PKI
//! roots, accepted unverified with `secure = false`; WebSocket over an `https://` target.

mod common;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use http::StatusCode;
use switchboard_proxy::RouteConfig;
use tokio_tungstenite::tungstenite::Message;

fn tls_route(url: &str, f: impl FnOnce(&mut RouteConfig)) -> RouteConfig {
    let mut r = route(&[url]);
    f(&mut r);
    r
}

#[tokio::test]
async fn verified_with_custom_ca_by_name_and_by_ip() {
    let up = start_axum_tls("tls").await;
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}", up.addr.port());
        let r = tls_route(&url, |r| r.ca = Some(fixtures().join("ca.pem")));
        let p = start_proxy(config(vec![r])).await;
        let got = get_with(&p.url("/secure?x=1"), &[]).await;
        assert_eq!(got.status, StatusCode::OK, "via {host}");
        assert_eq!(got.json()["url"], "/secure?x=1");
        assert_eq!(got.json()["name"], "tls");
    }
}

#[tokio::test]
async fn unknown_issuer_is_rejected_when_secure() {
    let up = start_axum_tls("tls").await;
    let r = route(&[&format!("https://localhost:{}", up.addr.port())]);
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(&p.url("/"), &[]).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        p.metric("switchboard_proxy_errors_total", &[("kind", "connect")]),
        Some(1.0)
    );
    assert_eq!(up.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test]
async fn secure_false_skips_verification() {
    let up = start_axum_tls("tls").await;
    let url = format!("https://localhost:{}", up.addr.port());
    let r = tls_route(&url, |r| r.secure = false);
    let p = start_proxy(config(vec![r])).await;
    assert_eq!(get_with(&p.url("/"), &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn websocket_to_an_https_upstream() {
    let up = start_axum_tls("tls").await;
    let url = format!("https://localhost:{}", up.addr.port());
    let r = tls_route(&url, |r| {
        r.ca = Some(fixtures().join("ca.pem"));
        r.ws = true;
    });
    let p = start_proxy(config(vec![r])).await;
    let stream = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{}/ws", p.addr), stream)
        .await
        .expect("handshake through the proxy to the TLS upstream");
    ws.send(Message::text("over tls")).await.unwrap();
    let echoed = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text("over tls"));
}
