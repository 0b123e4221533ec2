//! Who may use the API: the bearer token, a loopback listener without one, a public listener
//! without one refused (at start-up when asked for explicitly); health and metrics stay open;
//! the OpenAPI document lists every route; the API on the front with `http.api`.

use serde_json::{Value, json};
use switchboard_tests::TestGateway;
use switchboard_tests::http::{self, Method};

use crate::support::*;

#[tokio::test]
async fn requests_without_or_with_a_wrong_token_get_401() {
    let gw = gateway().await;
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", "Basic Og==")],
    ] {
        let (status, body) = call_with(&gw, Method::GET, "/clients", None, &headers).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &json!("unauthorized")),
            "{headers:?}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("admin.token")),
            "{body}"
        );
    }
    let r = http::send(
        Method::DELETE,
        &gw.admin_url("/api/v1/clients/mqtt:x"),
        &[],
        Default::default(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.headers.contains_key("www-authenticate"));
    let (status, _) = call(&gw, Method::GET, "/clients", None).await;
    assert_eq!(status, 200);
    // Health, readiness and metrics need no token.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(http::get(&gw.admin_url(path)).await.0, 200, "{path}");
    }
    let metrics = gw.metrics().await;
    assert!(
        metrics
            .contains(r#"switchboard_api_requests_total{route="/api/v1/clients",status="401"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"switchboard_api_requests_total{route="/api/v1/clients",status="200"} 1"#)
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn without_a_token_the_api_answers_only_on_loopback() {
    let local = TestGateway::builder().start().await;
    assert_eq!(http::get(&local.admin_url("/api/v1/clients")).await.0, 200);
    local.shutdown().await;

    // A public admin port without a token: the gateway starts, the API refuses everything.
    let public = TestGateway::builder()
        .configure(|c| c.admin.listen = "0.0.0.0:0".parse().expect("address"))
        .start()
        .await;
    let url = format!(
        "http://127.0.0.1:{}/api/v1/clients",
        public.addresses.admin.port()
    );
    let (status, body) = http::get(&url).await;
    assert_eq!(status, 401);
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("set admin.token")),
        "{body}"
    );
    let health = format!("http://127.0.0.1:{}/healthz", public.addresses.admin.port());
    assert_eq!(http::get(&health).await.0, 200);
    public.shutdown().await;
}

#[tokio::test]
async fn start_up_refuses_an_api_exposed_without_a_token() {
    for configure in [
        (|c: &mut switchboard_config::Config| {
            c.admin.listen = "0.0.0.0:0".parse().expect("address");
            c.admin.api = Some(true);
        }) as fn(&mut switchboard_config::Config),
        |c| {
            c.http.listen = "0.0.0.0:0".parse().expect("address");
            c.http.api = true;
        },
    ] {
        let err = TestGateway::builder()
            .configure(configure)
            .try_start()
            .await
            .expect_err("no token on a public API");
        let text = err.to_string();
        assert!(text.contains("admin.token"), "{text}");
        assert_eq!(err.exit_code(), 64, "a configuration error: {text}");
    }
}

#[tokio::test]
async fn the_api_can_be_served_on_the_front_and_turned_off_on_the_admin_port() {
    let gw = gateway_with(|c| {
        c.http.api = true;
        c.admin.api = Some(false);
    })
    .await;
    let auth = format!("Bearer {TOKEN}");
    let r = http::send(
        Method::GET,
        &gw.http_url("/api/v1/clients"),
        &[("authorization", &auth)],
        Default::default(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http::send(
        Method::GET,
        &gw.http_url("/api/v1/clients"),
        &[],
        Default::default(),
    )
    .await;
    assert_eq!(r.status, 401);
    let (status, _) = http::get(&gw.admin_url("/api/v1/clients")).await;
    assert_eq!(status, 404, "admin.api = false");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let gw = gateway().await;
    let doc = get(&gw, "/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(p, _)| p.as_str())
        .collect();
    for (method, path) in switchboard::api::ROUTES {
        let p = path.replace("{*", "{");
        assert!(
            doc["paths"][&p][method.to_lowercase()].is_object(),
            "{method} {p} is documented (paths: {paths:?})"
        );
    }
    gw.shutdown().await;
}
