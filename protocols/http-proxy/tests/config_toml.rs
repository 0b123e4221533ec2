//! The `[proxy]` TOML section as the config crate deserialises it: every key, the documented
//! defaults, unknown keys refused, and validation problems named by key path.

use std::collections::BTreeMap;

use switchboard_proxy::{
    Balance, BuildError, CookieRewrite, ProtocolRewrite, Proxy, ProxyConfig, RouteConfig,
};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    proxy: ProxyConfig,
}

fn parse(text: &str) -> Result<ProxyConfig, toml::de::Error> {
    toml::from_str::<File>(text).map(|f| f.proxy)
}

#[test]
fn every_key_parses() {
    let cfg = parse(
        r#"
        [proxy]
        connect_timeout_ms = 1000
        pool_idle_timeout_ms = 3000
        pool_max_idle_per_host = 8

        [[proxy.routes]]
        name = "api"
        path_prefix = "/api"
        host = "*.example.com"
        targets = ["http://127.0.0.1:3000", "https://backend.internal/base"]
        balance = "least_connections"
        eject_after_failures = 5
        eject_ms = 10000
        health_path = "/healthz"
        health_interval_ms = 5000
        health_timeout_ms = 1000
        retries = 2
        forward = "http://127.0.0.1:4000"
        ws = true
        xfwd = true
        trust_forwarded = false
        change_origin = true
        prepend_path = false
        ignore_path = false
        strip_prefix = true
        headers = { x-api-key = "secret" }
        response_headers = { x-frame-options = "DENY", server = "" }
        auth = "user:pass"
        host_rewrite = "public.example.com"
        auto_rewrite = true
        protocol_rewrite = "https"
        cookie_domain_rewrite = { "backend.internal" = "example.com", "*" = "" }
        cookie_path_rewrite = "/"
        secure = false
        timeout_ms = 30000
        proxy_timeout_ms = 15000
        max_body_bytes = 1048576
        local_address = "127.0.0.1"
        via = "switchboard"

        [[proxy.routes]]
        targets = ["http://127.0.0.1:5000"]
        "#,
    )
    .expect("parses");
    assert_eq!(cfg.connect_timeout_ms, 1000);
    let r = &cfg.routes[0];
    assert_eq!(r.balance, Balance::LeastConnections);
    assert_eq!(r.protocol_rewrite, Some(ProtocolRewrite::Https));
    assert_eq!(
        r.cookie_path_rewrite,
        Some(CookieRewrite::All("/".to_owned()))
    );
    assert_eq!(
        r.cookie_domain_rewrite,
        Some(CookieRewrite::Map(BTreeMap::from([
            ("backend.internal".to_owned(), "example.com".to_owned()),
            ("*".to_owned(), String::new()),
        ])))
    );
    assert_eq!(r.local_address, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(r.max_body_bytes, 1_048_576);
    // The second route takes every default.
    let d = &cfg.routes[1];
    let want = RouteConfig {
        targets: vec!["http://127.0.0.1:5000".to_owned()],
        ..RouteConfig::default()
    };
    assert_eq!(d, &want);
    assert_eq!(d.path_prefix, "/");
    assert!(d.prepend_path && d.secure && d.trust_forwarded && !d.ws && !d.xfwd);
    assert_eq!(
        (
            d.timeout_ms,
            d.proxy_timeout_ms,
            d.retries,
            d.eject_after_failures
        ),
        (60_000, 60_000, 1, 3)
    );
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    // Secrets stay out of Debug output.
    let debug = format!("{cfg:?}");
    assert!(
        !debug.contains("user:pass") && !debug.contains("secret"),
        "{debug}"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let err = parse("[proxy]\n[[proxy.routes]]\ntargets = [\"http://a:1\"]\nchangeOrigin = true\n")
        .unwrap_err();
    assert!(err.to_string().contains("changeOrigin"), "{err}");
    let err = parse("[proxy]\ntimeout = 5\n").unwrap_err();
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(parse("[proxy]\n[[proxy.routes]]\nbalance = \"random\"\n").is_err());
}

#[test]
fn validation_names_keys_and_proxy_new_refuses() {
    let cfg = parse(
        r#"
        [proxy]
        [[proxy.routes]]
        path_prefix = "api"
        targets = ["ftp://x", "http://ok:1"]
        ca = "/nonexistent/ca.pem"
        headers = { connection = "close" }
        health_path = "/h"
        health_interval_ms = 100
        health_timeout_ms = 500
        [[proxy.routes]]
        "#,
    )
    .unwrap();
    let keys: Vec<String> = cfg.validate().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "proxy.routes[0].path_prefix",
            "proxy.routes[0].targets[0]",
            "proxy.routes[0].health_timeout_ms",
            "proxy.routes[0].headers.connection",
            "proxy.routes[0].ca",
            "proxy.routes[1].targets",
        ]
    );
    let err = Proxy::new(&cfg, &prometheus::Registry::new()).unwrap_err();
    assert!(
        matches!(err, BuildError::Invalid(ref p) if p.len() == 6),
        "{err}"
    );
    assert!(err.to_string().contains("proxy.routes[0].targets[0]"));
}

#[test]
fn registering_twice_on_one_registry_is_an_error() {
    let cfg = ProxyConfig::default();
    let registry = prometheus::Registry::new();
    let _first = Proxy::new(&cfg, &registry).unwrap();
    assert!(matches!(
        Proxy::new(&cfg, &registry),
        Err(BuildError::Metrics(_))
    ));
}

#[test]
fn health_checks_need_a_runtime() {
    let cfg = ProxyConfig {
        routes: vec![RouteConfig {
            targets: vec!["http://127.0.0.1:1".to_owned()],
            health_path: Some("/h".to_owned()),
            ..RouteConfig::default()
        }],
        ..ProxyConfig::default()
    };
    assert!(matches!(
        Proxy::new(&cfg, &prometheus::Registry::new()),
        Err(BuildError::NoRuntime)
    ));
}
