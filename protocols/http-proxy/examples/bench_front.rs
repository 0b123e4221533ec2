//! A throughput probe: `bench_front upstream PORT` serves a fixed 13-byte answer;
//! `bench_front proxy PORT UPSTREAM_URL` serves the proxy mounted like the gateway front.
//! Point `wrk` at either (loopback only) to compare direct and proxied rates.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use switchboard_proxy::{Proxy, ProxyConfig, RouteConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or_default();
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app = match mode {
        "upstream" => Router::new().route("/", get(|| async { "Hello, world!" })),
        "proxy" => {
            let target = args
                .get(3)
                .cloned()
                .ok_or("usage: bench_front proxy PORT UPSTREAM_URL")?;
            let cfg = ProxyConfig {
                routes: vec![RouteConfig {
                    targets: vec![target],
                    ..RouteConfig::default()
                }],
                ..ProxyConfig::default()
            };
            let proxy = Proxy::new(&cfg, &prometheus::Registry::new())?;
            Router::new().fallback_service(proxy)
        }
        _ => {
            return Err(
                "usage: bench_front upstream PORT | bench_front proxy PORT UPSTREAM_URL".into(),
            );
        }
    };
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
