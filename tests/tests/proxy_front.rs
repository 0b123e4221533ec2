//! The reverse proxy mounted on the gateway's front: matching routes are forwarded with the client's
//! address, other paths keep the front's own 404.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::any;
use switchboard_proxy::RouteConfig;
use switchboard_tests::{TestGateway, http};

async fn upstream() -> std::net::SocketAddr {
    let app = Router::new().fallback(any(|headers: HeaderMap, uri: axum::http::Uri| async move {
        let xff = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        format!("upstream saw {} xff={xff}", uri.path())
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn routes_are_proxied_and_other_paths_get_the_front_404() {
    let up = upstream().await;
    let gw = TestGateway::builder()
        .configure(|c| {
            let route = RouteConfig {
                path_prefix: "/app".into(),
                targets: vec![format!("http://{up}")],
                xfwd: true,
                strip_prefix: true,
                ..Default::default()
            };
            c.proxy.routes.push(route);
        })
        .start()
        .await;
    let (status, body) = http::get(&gw.http_url("/app/page")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "upstream saw /page xff=127.0.0.1");
    let (status, body) = http::get(&gw.http_url("/elsewhere")).await;
    assert_eq!(status, 404);
    assert!(
        body.contains("/app") && body.contains("reverse proxy"),
        "{body}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_and_the_gateway_keeps_serving() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = TestGateway::builder()
        .configure(|c| {
            c.proxy.routes.push(RouteConfig {
                path_prefix: "/dead".into(),
                targets: vec![format!("http://{dead}")],
                ..Default::default()
            });
        })
        .start()
        .await;
    let (status, _) = http::get(&gw.http_url("/dead/x")).await;
    assert_eq!(status, 502);
    assert_eq!(http::get(&gw.admin_url("/healthz")).await.0, 200);
    let metrics = http::get(&gw.admin_url("/metrics")).await.1;
    assert!(
        metrics.contains("switchboard_proxy_"),
        "proxy metrics are on the registry"
    );
    gw.shutdown().await;
}
