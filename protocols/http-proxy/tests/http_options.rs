//! Every forwarding option, asserted by what a real axum upstream received and what the client
//! got back through the proxy mounted like the gateway front mounts it.

mod common;

use std::collections::BTreeMap;

use common::*;
use http::{Method, Request, StatusCode};
use switchboard_proxy::{CookieRewrite, ProtocolRewrite, RouteConfig};

#[tokio::test]
async fn forwards_method_path_query_headers_and_body() {
    let up = start_axum("a").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let got = send(
        Request::post(p.url("/some//path?q=1&r=%20"))
            .header("x-custom", "yes")
            .header("content-type", "text/plain")
            .body(full("hello body"))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let echo = got.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["url"], "/some//path?q=1&r=%20",
        "the path is never collapsed"
    );
    assert_eq!(echo["body"], "hello body");
    assert_eq!(echo["headers"]["x-custom"], "yes");
    assert_eq!(
        echo["headers"]["host"],
        p.addr.to_string(),
        "client Host kept by default"
    );
    assert!(
        echo["headers"]["x-forwarded-for"].is_null(),
        "no xfwd by default"
    );
    // The front's own routes are not proxied.
    let own = get_with(&p.url("/front-own"), &[]).await;
    assert_eq!(own.body, "served by the front");
    assert_eq!(up.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Metrics and latency histogram.
    assert_eq!(
        p.metric(
            "switchboard_proxy_requests_total",
            &[("route", "/"), ("status", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(
        p.metric(
            "switchboard_proxy_upstream_duration_seconds",
            &[("route", "/")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn strips_hop_by_hop_headers_both_ways() {
    let up = start_axum("a").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let got = get_with(
        &p.url("/hop"),
        &[
            ("connection", "keep-alive, x-nominated"),
            ("x-nominated", "secret"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-t"),
            ("upgrade", "h2c"),
            ("x-end-to-end", "kept"),
            (
                "x-test-response-headers",
                "connection=x-resp-nominated|x-resp-nominated=1|keep-alive=timeout=9|proxy-authenticate=Basic|x-resp-kept=1",
            ),
        ],
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let echo = got.json();
    let h = echo["headers"].as_object().unwrap();
    for gone in [
        "x-nominated",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "upgrade",
    ] {
        assert!(!h.contains_key(gone), "{gone} reached the upstream: {h:?}");
    }
    assert_eq!(h["te"], "trailers", "te: trailers survives");
    assert_eq!(h["x-end-to-end"], "kept");
    for gone in ["x-resp-nominated", "keep-alive", "proxy-authenticate"] {
        assert!(got.headers.get(gone).is_none(), "{gone} reached the client");
    }
    assert_eq!(got.headers["x-resp-kept"], "1");
}

#[tokio::test]
async fn xfwd_appends_forwarded_headers() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.xfwd = true;
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(
        &p.url("/x"),
        &[
            ("x-forwarded-for", "10.1.1.1"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=10.1.1.1;proto=https"),
            ("host", "app.example:8443"),
        ],
    )
    .await;
    assert_eq!(
        got.upstream_header("x-forwarded-for").unwrap(),
        "10.1.1.1, 127.0.0.1"
    );
    assert_eq!(
        got.upstream_header("x-forwarded-proto").unwrap(),
        "https, http"
    );
    assert_eq!(got.upstream_header("x-forwarded-port").unwrap(), "8443");
    assert_eq!(
        got.upstream_header("x-forwarded-host").unwrap(),
        "app.example:8443"
    );
    assert_eq!(
        got.upstream_header("forwarded").unwrap(),
        "for=10.1.1.1;proto=https, for=127.0.0.1;host=\"app.example:8443\";proto=http"
    );
    assert_eq!(got.upstream_header("host").unwrap(), "app.example:8443");
}

#[tokio::test]
async fn xfwd_without_trust_resets_client_values() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.xfwd = true;
    r.trust_forwarded = false;
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(
        &p.url("/x"),
        &[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-host", "evil")],
    )
    .await;
    assert_eq!(got.upstream_header("x-forwarded-for").unwrap(), "127.0.0.1");
    assert_eq!(
        got.upstream_header("x-forwarded-host").unwrap(),
        p.addr.to_string()
    );
    assert_eq!(
        got.upstream_header("x-forwarded-port").unwrap(),
        p.addr.port().to_string()
    );
    assert_eq!(
        got.upstream_header("forwarded").unwrap(),
        format!("for=127.0.0.1;host=\"{}\";proto=http", p.addr)
    );
}

#[tokio::test]
async fn via_is_added_both_ways() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.via = Some("switchboard".to_owned());
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(&p.url("/"), &[("via", "1.0 corp-proxy")]).await;
    assert_eq!(
        got.upstream_header("via").unwrap(),
        "1.0 corp-proxy, 1.1 switchboard"
    );
    assert_eq!(got.headers["via"], "1.1 switchboard");
}

#[tokio::test]
async fn change_origin_sets_host_to_the_target() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.change_origin = true;
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(&p.url("/"), &[("host", "public.example")]).await;
    assert_eq!(got.upstream_header("host").unwrap(), up.addr.to_string());
}

#[tokio::test]
async fn path_options_prepend_ignore_and_strip() {
    let up = start_axum("a").await;
    let base = format!("{}/base", up.url());
    let cases: Vec<(RouteConfig, &str, &str)> = vec![
        (route(&[&base]), "/api/x?y=1", "/base/api/x?y=1"),
        (
            RouteConfig {
                prepend_path: false,
                ..route(&[&base])
            },
            "/api/x?y=1",
            "/api/x?y=1",
        ),
        (
            RouteConfig {
                ignore_path: true,
                ..route(&[&base])
            },
            "/api/x?y=1",
            "/base",
        ),
        (
            RouteConfig {
                strip_prefix: true,
                ..route(&[&base])
            },
            "/api/x?y=1",
            "/base/x?y=1",
        ),
        (
            RouteConfig {
                strip_prefix: true,
                ..route(&[&base])
            },
            "/api",
            "/base/",
        ),
        (
            RouteConfig {
                strip_prefix: true,
                ..route(&[&up.url()])
            },
            "/api/deep/er",
            "/deep/er",
        ),
    ];
    for (mut r, path, want) in cases {
        r.path_prefix = "/api".to_owned();
        let p = start_proxy(config(vec![r])).await;
        let got = get_with(&p.url(path), &[]).await;
        assert_eq!(got.json()["url"], want, "request {path}");
    }
}

#[tokio::test]
async fn request_and_response_headers_are_set() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.headers = BTreeMap::from([
        ("x-api-key".to_owned(), "k1".to_owned()),
        ("x-replaced".to_owned(), "by-proxy".to_owned()),
    ]);
    r.response_headers = BTreeMap::from([
        ("x-frame-options".to_owned(), "DENY".to_owned()),
        ("server".to_owned(), String::new()),
    ]);
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(
        &p.url("/"),
        &[
            ("x-replaced", "by-client"),
            ("x-test-response-headers", "server=upstream/1.0"),
        ],
    )
    .await;
    assert_eq!(got.upstream_header("x-api-key").unwrap(), "k1");
    assert_eq!(got.upstream_header("x-replaced").unwrap(), "by-proxy");
    assert_eq!(got.headers["x-frame-options"], "DENY");
    assert!(
        got.headers.get("server").is_none(),
        "empty value removes the header"
    );
}

#[tokio::test]
async fn auth_sends_basic_credentials() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.auth = Some("user:pass".to_owned());
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(&p.url("/"), &[("authorization", "Bearer client-token")]).await;
    assert_eq!(
        got.upstream_header("authorization").unwrap(),
        "Basic dXNlcjpwYXNz"
    );
}

#[tokio::test]
async fn location_rewrites() {
    let up = start_axum("a").await;
    let target_loc = format!("http://{}/next?x=1", up.addr);
    let make = |f: &dyn Fn(&mut RouteConfig)| {
        let mut r = route(&[&up.url()]);
        f(&mut r);
        r
    };
    let host = make(&|r| r.host_rewrite = Some("public.example".to_owned()));
    let auto = make(&|r| r.auto_rewrite = true);
    let proto = make(&|r| r.protocol_rewrite = Some(ProtocolRewrite::Https));
    let both = make(&|r| {
        r.auto_rewrite = true;
        r.protocol_rewrite = Some(ProtocolRewrite::Https);
    });
    let cases = [
        (
            host.clone(),
            "301",
            target_loc.clone(),
            "http://public.example/next?x=1".to_owned(),
        ),
        (
            host.clone(),
            "201",
            target_loc.clone(),
            "http://public.example/next?x=1".to_owned(),
        ),
        (
            host.clone(),
            "308",
            target_loc.clone(),
            "http://public.example/next?x=1".to_owned(),
        ),
        (host.clone(), "303", target_loc.clone(), target_loc.clone()),
        (
            host,
            "302",
            "http://elsewhere.example/next".to_owned(),
            "http://elsewhere.example/next".to_owned(),
        ),
        (
            auto,
            "302",
            target_loc.clone(),
            "http://front.example:9000/next?x=1".to_owned(),
        ),
        (
            proto,
            "307",
            target_loc.clone(),
            format!("https://{}/next?x=1", up.addr),
        ),
        (
            both,
            "302",
            target_loc.clone(),
            "https://front.example:9000/next?x=1".to_owned(),
        ),
    ];
    for (r, status, loc, want) in cases {
        let p = start_proxy(config(vec![r])).await;
        let got = get_with(
            &p.url("/"),
            &[
                ("host", "front.example:9000"),
                ("x-test-status", status),
                ("x-test-location", &loc),
            ],
        )
        .await;
        assert_eq!(got.status.as_str(), status);
        assert_eq!(got.headers["location"], want.as_str(), "status {status}");
    }
}

#[tokio::test]
async fn cookie_rewrites_keep_every_set_cookie() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.cookie_domain_rewrite = Some(CookieRewrite::Map(BTreeMap::from([
        ("backend.internal".to_owned(), "public.example".to_owned()),
        ("*".to_owned(), String::new()),
    ])));
    r.cookie_path_rewrite = Some(CookieRewrite::All("/app".to_owned()));
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(
        &p.url("/"),
        &[(
            "x-test-set-cookie",
            "a=1; Domain=backend.internal; Path=/|b=2; domain=other.example; HttpOnly|c=3",
        )],
    )
    .await;
    assert_eq!(
        got.all("set-cookie"),
        [
            "a=1; Domain=public.example; Path=/app",
            "b=2; HttpOnly",
            "c=3"
        ]
    );
}

#[tokio::test]
async fn routes_match_in_order_by_prefix_and_host() {
    let api = start_axum("api").await;
    let tenant = start_axum("tenant").await;
    let rest = start_axum("rest").await;
    let p = start_proxy(config(vec![
        RouteConfig {
            path_prefix: "/api".to_owned(),
            host: Some("*.tenant.example".to_owned()),
            ..route(&[&tenant.url()])
        },
        RouteConfig {
            path_prefix: "/api".to_owned(),
            ..route(&[&api.url()])
        },
        RouteConfig {
            path_prefix: "/static".to_owned(),
            host: Some("cdn.example".to_owned()),
            ..route(&[&rest.url()])
        },
    ]))
    .await;
    let name = |g: &Got| g.json()["name"].as_str().unwrap().to_owned();
    assert_eq!(
        name(&get_with(&p.url("/api/x"), &[("host", "a.tenant.example:8080")]).await),
        "tenant"
    );
    assert_eq!(
        name(&get_with(&p.url("/api/x"), &[("host", "tenant.example")]).await),
        "api"
    );
    assert_eq!(name(&get_with(&p.url("/api"), &[]).await), "api");
    assert_eq!(
        name(&get_with(&p.url("/static/a.css"), &[("host", "CDN.example")]).await),
        "rest"
    );
    let miss = get_with(&p.url("/static/a.css"), &[("host", "other.example")]).await;
    assert_eq!(miss.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get_with(&p.url("/apix"), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    // The routing predicate the front can use.
    let uri: http::Uri = "/api/v1".parse().unwrap();
    assert!(p.proxy.matches(&uri, &http::HeaderMap::new()));
    assert!(
        !p.proxy
            .matches(&"/nope".parse().unwrap(), &http::HeaderMap::new())
    );
}

#[tokio::test]
async fn forward_mirrors_requests_and_ignores_the_answer() {
    let main = start_axum("main").await;
    let mut mirror = start_axum("mirror").await;
    let mut r = route(&[&main.url()]);
    r.forward = Some(format!("{}/shadow", mirror.url()));
    let p = start_proxy(config(vec![r])).await;
    let got = send(
        Request::post(p.url("/orders?id=7"))
            .header("x-test-status", "201")
            .body(full("order body"))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::CREATED);
    assert_eq!(got.json()["name"], "main");
    let copy = mirror.next_seen().await;
    assert_eq!(copy["method"], "POST");
    assert_eq!(copy["url"], "/shadow/orders?id=7");
    assert_eq!(copy["body"], "order body");
}

#[tokio::test]
async fn forward_only_route_answers_at_once() {
    let mut mirror = start_axum("mirror").await;
    let r = RouteConfig {
        forward: Some(mirror.url()),
        ..RouteConfig::default()
    };
    let p = start_proxy(config(vec![r])).await;
    let got = send(Request::put(p.url("/log")).body(full("entry")).unwrap()).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.is_empty());
    let copy = mirror.next_seen().await;
    assert_eq!(
        (copy["method"].as_str(), copy["body"].as_str()),
        (Some("PUT"), Some("entry"))
    );
}

#[tokio::test]
async fn delete_without_body_gets_content_length_zero() {
    let up = start_axum("a").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let got = send(Request::delete(p.url("/thing")).body(empty()).unwrap()).await;
    let echo = got.json();
    assert_eq!(echo["method"], "DELETE");
    assert_eq!(echo["headers"]["content-length"], "0");
    assert!(echo["headers"]["transfer-encoding"].is_null());
    let got = send(
        Request::builder()
            .method(Method::OPTIONS)
            .uri(p.url("/thing"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(got.json()["headers"]["content-length"], "0");
}

#[tokio::test]
async fn upstream_connections_are_reused() {
    let up = start_axum("a").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let mut peers = Vec::new();
    for _ in 0..5 {
        let got = get_with(&p.url("/"), &[]).await;
        peers.push(got.json()["peer"].as_str().unwrap().to_owned());
    }
    peers.dedup();
    assert_eq!(
        peers.len(),
        1,
        "one pooled upstream connection serves sequential requests: {peers:?}"
    );
}

#[tokio::test]
async fn local_address_binds_upstream_connections() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.local_address = Some("127.0.0.2".parse().unwrap());
    let p = start_proxy(config(vec![r])).await;
    let got = get_with(&p.url("/"), &[]).await;
    let peer: std::net::SocketAddr = got.json()["peer"].as_str().unwrap().parse().unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.2");
}

#[tokio::test]
async fn expect_continue_request_is_forwarded() {
    let up = start_axum("a").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let body = "x".repeat(4096);
    let got = send(
        Request::post(p.url("/upload"))
            .header("expect", "100-continue")
            .body(full(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let echo = got.json();
    assert_eq!(echo["bodyLength"], 4096);
    assert!(
        echo["headers"]["expect"].is_null(),
        "the proxy answered the 100-continue itself"
    );
}

#[tokio::test]
async fn upgrade_is_stripped_when_ws_is_off() {
    let up = start_axum("a").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let got = get_with(
        &p.url("/chat"),
        &[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.upstream_header("upgrade").is_none());
    assert!(got.upstream_header("connection").is_none());
}

#[tokio::test]
async fn http2_client_is_forwarded_as_http11_with_host_from_authority() {
    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.xfwd = true;
    let p = start_proxy(config(vec![r])).await;
    let h2: hyper_util::client::legacy::Client<_, TestBody> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let req = Request::post(p.url("/h2?x=1"))
        .header("te", "trailers")
        .body(full("over h2"))
        .unwrap();
    let resp = tokio::time::timeout(WAIT, h2.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("connection").is_none());
    use http_body_util::BodyExt as _;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["url"], "/h2?x=1");
    assert_eq!(echo["body"], "over h2");
    assert_eq!(echo["headers"]["host"], p.addr.to_string());
    assert_eq!(echo["headers"]["x-forwarded-host"], p.addr.to_string());
}

#[tokio::test]
async fn client_info_from_a_tls_front_marks_requests_https() {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use switchboard_proxy::ClientInfo;

    let up = start_axum("a").await;
    let mut r = route(&[&up.url()]);
    r.xfwd = true;
    let registry = prometheus::Registry::new();
    let proxy = switchboard_proxy::Proxy::new(&config(vec![r]), &registry).unwrap();
    // What a TLS-terminating front does: tell the proxy the connection was TLS.
    let app = axum::Router::new()
        .fallback_service(proxy)
        .layer(axum::middleware::map_request(
            |mut req: axum::extract::Request| async move {
                let addr = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0);
                req.extensions_mut().insert(ClientInfo { addr, tls: true });
                req
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let got = get_with(&format!("http://{addr}/"), &[("host", "secure.example")]).await;
    assert_eq!(got.upstream_header("x-forwarded-proto").unwrap(), "https");
    assert_eq!(got.upstream_header("x-forwarded-port").unwrap(), "443");
    assert_eq!(got.upstream_header("x-forwarded-for").unwrap(), "127.0.0.1");
    assert_eq!(
        got.upstream_header("forwarded").unwrap(),
        "for=127.0.0.1;host=secure.example;proto=https"
    );
    server.abort();
}

#[tokio::test]
async fn http10_client_without_host_is_served() {
    let up = start_axum("a").await;
    let p = start_proxy(config(vec![route(&[&up.url()])])).await;
    let mut conn = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let (status, body) = raw_exchange(&mut conn, "GET /old?x=1 HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 200);
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["url"], "/old?x=1");
    assert_eq!(echo["version"], "HTTP/1.1", "upstream hop is HTTP/1.1");
    assert_eq!(
        echo["headers"]["host"],
        up.addr.to_string(),
        "no client Host: the target's is used"
    );
}
