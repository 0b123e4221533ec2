//! Validation of [`ProxyConfig`]: each problem is reported with the key that causes it.

use std::collections::HashSet;

use http::{HeaderName, HeaderValue};

use crate::config::{CookieRewrite, ProxyConfig, RouteConfig};
use crate::headers::is_hop_by_hop_name;
use crate::url::UpstreamUrl;

/// One problem: the key path (e.g. `proxy.routes[0].targets[1]`) and what to change.
pub type Problem = (String, String);

impl ProxyConfig {
    /// Checks every key; returns one `(key path, what to change)` per problem, empty when valid.
    ///
    /// Reads the `ca` files to check they hold PEM certificates; touches nothing else.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.pool_max_idle_per_host == 0 {
            out.push((
                "proxy.pool_max_idle_per_host".to_owned(),
                "must be at least 1, or upstream connections are never reused".to_owned(),
            ));
        }
        let mut names = HashSet::new();
        let mut seen = Vec::<(String, Option<String>, usize)>::new();
        for (i, route) in self.routes.iter().enumerate() {
            let key = format!("proxy.routes[{i}]");
            validate_route(&key, route, &mut out);
            let name = route.display_name();
            if !names.insert(name.clone()) {
                out.push((
                    format!("{key}.name"),
                    format!("route name `{name}` is used twice; give each route a unique `name`"),
                ));
            }
            let host = route.host.as_ref().map(|h| h.to_ascii_lowercase());
            if let Some((_, _, j)) = seen
                .iter()
                .find(|(p, h, _)| *p == route.path_prefix && *h == host)
            {
                out.push((
                    format!("{key}.path_prefix"),
                    format!(
                        "route can never match: proxy.routes[{j}] has the same path_prefix and \
                         host and comes first"
                    ),
                ));
            }
            seen.push((route.path_prefix.clone(), host, i));
        }
        out
    }
}

fn validate_route(key: &str, r: &RouteConfig, out: &mut Vec<Problem>) {
    let mut push = |k: &str, msg: String| out.push((format!("{key}.{k}"), msg));
    if !r.path_prefix.starts_with('/') {
        push(
            "path_prefix",
            "must start with `/`, e.g. \"/api\"".to_owned(),
        );
    }
    if let Some(host) = &r.host {
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty()
            || bare.contains(['/', ':', '*', ' '])
            || http::uri::Authority::try_from(bare).is_err()
        {
            push(
                "host",
                format!(
                    "`{host}` is not a host name; write e.g. \"app.example.com\" or \"*.example.com\" (no port)"
                ),
            );
        }
    }
    if r.targets.is_empty() && r.forward.is_none() {
        push(
            "targets",
            "add at least one upstream URL, e.g. targets = [\"http://127.0.0.1:3000\"] (or set `forward`)"
                .to_owned(),
        );
    }
    let mut uniq = HashSet::new();
    for (t, target) in r.targets.iter().enumerate() {
        match UpstreamUrl::parse(target) {
            Ok(_) if !uniq.insert(target.as_str()) => {
                push(
                    &format!("targets[{t}]"),
                    format!("`{target}` is listed twice"),
                );
            }
            Ok(_) => {}
            Err(msg) => push(&format!("targets[{t}]"), msg),
        }
    }
    if let Some(fwd) = &r.forward
        && let Err(msg) = UpstreamUrl::parse(fwd)
    {
        push("forward", msg);
    }
    if r.eject_after_failures > 0 && r.eject_ms == 0 {
        push(
            "eject_ms",
            "must be above 0 when eject_after_failures is set (or set eject_after_failures = 0)"
                .to_owned(),
        );
    }
    if let Some(path) = &r.health_path {
        if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
            push(
                "health_path",
                format!("`{path}` must be a path starting with `/`, e.g. \"/healthz\""),
            );
        }
        if r.health_interval_ms == 0 {
            push("health_interval_ms", "must be above 0".to_owned());
        }
        if r.health_timeout_ms == 0 || r.health_timeout_ms > r.health_interval_ms {
            push(
                "health_timeout_ms",
                "must be above 0 and at most health_interval_ms".to_owned(),
            );
        }
    }
    for (field, map) in [
        ("headers", &r.headers),
        ("response_headers", &r.response_headers),
    ] {
        for (name, value) in map {
            let k = format!("{field}.{name}");
            match HeaderName::try_from(name.as_str()) {
                Err(_) => push(&k, format!("`{name}` is not a valid header name")),
                Ok(n) if is_hop_by_hop_name(&n) => push(
                    &k,
                    format!(
                        "`{name}` is a hop-by-hop header and cannot be set on a proxied message"
                    ),
                ),
                Ok(_) => {}
            }
            if HeaderValue::try_from(value.as_str()).is_err() {
                push(
                    &k,
                    "value contains characters not allowed in a header".to_owned(),
                );
            }
        }
    }
    if let Some(auth) = &r.auth
        && (!auth.contains(':') || HeaderValue::try_from(auth.as_str()).is_err())
    {
        push("auth", "write it as \"user:password\"".to_owned());
    }
    if let Some(h) = &r.host_rewrite
        && (h.is_empty()
            || h.contains(['/', '@'])
            || http::uri::Authority::try_from(h.as_str()).is_err())
    {
        push("host_rewrite", format!("`{h}` is not `host[:port]`"));
    }
    for (field, rw) in [
        ("cookie_domain_rewrite", &r.cookie_domain_rewrite),
        ("cookie_path_rewrite", &r.cookie_path_rewrite),
    ] {
        let values: Vec<&str> = match rw {
            None => continue,
            Some(CookieRewrite::All(v)) => vec![v.as_str()],
            Some(CookieRewrite::Map(m)) => m.values().map(String::as_str).collect(),
        };
        if values.iter().any(|v| v.contains([';', '\r', '\n'])) {
            push(
                field,
                "replacement values may not contain `;` or line breaks".to_owned(),
            );
        }
    }
    if let Some(path) = &r.ca {
        match std::fs::read(path) {
            Err(e) => push("ca", format!("cannot read `{}`: {e}", path.display())),
            Ok(pem) => {
                let certs = rustls_pemfile::certs(&mut pem.as_slice())
                    .filter(Result::is_ok)
                    .count();
                if certs == 0 {
                    push(
                        "ca",
                        format!("`{}` holds no PEM certificate", path.display()),
                    );
                }
            }
        }
    }
    if let Some(via) = &r.via
        && (via.is_empty()
            || via.contains([',', '\r', '\n'])
            || HeaderValue::try_from(via.as_str()).is_err())
    {
        push(
            "via",
            "write a short token such as \"switchboard\"".to_owned(),
        );
    }
    if let Some(name) = &r.name
        && name.is_empty()
    {
        push("name", "must not be empty".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(targets: &[&str]) -> RouteConfig {
        RouteConfig {
            targets: targets.iter().map(|s| (*s).to_owned()).collect(),
            ..RouteConfig::default()
        }
    }

    fn keys(cfg: &ProxyConfig) -> Vec<String> {
        cfg.validate().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn default_and_good_configs_are_valid() {
        assert!(ProxyConfig::default().validate().is_empty());
        let cfg = ProxyConfig {
            routes: vec![route(&[
                "http://127.0.0.1:3000",
                "https://example.com/base",
            ])],
            ..ProxyConfig::default()
        };
        assert_eq!(cfg.validate(), vec![]);
    }

    #[test]
    fn names_the_offending_key() {
        let mut bad = route(&["http://ok:1", "nope", "http://ok:1"]);
        bad.path_prefix = "api".to_owned();
        bad.headers.insert("connection".to_owned(), "x".to_owned());
        bad.headers.insert("bad name".to_owned(), "x".to_owned());
        bad.auth = Some("nocolon".to_owned());
        bad.health_path = Some("healthz".to_owned());
        bad.host = Some("a.example.com:80".to_owned());
        let empty = RouteConfig::default();
        let cfg = ProxyConfig {
            routes: vec![bad, empty],
            ..ProxyConfig::default()
        };
        let k = keys(&cfg);
        for want in [
            "proxy.routes[0].path_prefix",
            "proxy.routes[0].targets[1]",
            "proxy.routes[0].targets[2]",
            "proxy.routes[0].headers.connection",
            "proxy.routes[0].headers.bad name",
            "proxy.routes[0].auth",
            "proxy.routes[0].health_path",
            "proxy.routes[0].host",
            "proxy.routes[1].targets",
        ] {
            assert!(k.iter().any(|x| x == want), "missing {want} in {k:?}");
        }
    }

    #[test]
    fn shadowed_route_is_reported() {
        let cfg = ProxyConfig {
            routes: vec![
                RouteConfig {
                    name: Some("a".to_owned()),
                    ..route(&["http://a:1"])
                },
                RouteConfig {
                    name: Some("b".to_owned()),
                    ..route(&["http://b:1"])
                },
            ],
            ..ProxyConfig::default()
        };
        assert_eq!(keys(&cfg), vec!["proxy.routes[1].path_prefix".to_owned()]);
    }
}
