//! Response rewrites: `Location` (`host_rewrite`, `auto_rewrite`, `protocol_rewrite`) and
//! `Set-Cookie` attributes (`cookie_domain_rewrite`, `cookie_path_rewrite`).

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use crate::config::{CookieRewrite, ProtocolRewrite};
use crate::url::UpstreamUrl;

/// The `Location` rewrite options of a route.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocationRules<'a> {
    /// `host_rewrite`.
    pub host_rewrite: Option<&'a str>,
    /// `auto_rewrite`: use the client's host.
    pub auto_rewrite: bool,
    /// `protocol_rewrite`.
    pub protocol_rewrite: Option<ProtocolRewrite>,
}

impl LocationRules<'_> {
    fn is_active(&self) -> bool {
        self.host_rewrite.is_some() || self.auto_rewrite || self.protocol_rewrite.is_some()
    }
}

/// Rewrites `Location` on 201/301/302/307/308 responses whose absolute URL points at `target`
/// (node-http-proxy's condition: 303 is deliberately not included).
pub(crate) fn rewrite_location(
    status: StatusCode,
    headers: &mut HeaderMap,
    target: &UpstreamUrl,
    rules: LocationRules<'_>,
    client_host: Option<&str>,
) {
    if !rules.is_active() || !matches!(status.as_u16(), 201 | 301 | 302 | 307 | 308) {
        return;
    }
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Ok(uri) = location.parse::<http::Uri>() else {
        return;
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return;
    };
    let tls = scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss");
    if !target.same_origin(authority.host(), authority.port_u16(), tls) {
        return;
    }
    let new_authority = match (rules.host_rewrite, rules.auto_rewrite, client_host) {
        (Some(h), _, _) => h,
        (None, true, Some(h)) => h,
        _ => authority.as_str(),
    };
    let new_scheme = rules.protocol_rewrite.map_or(scheme, |p| p.as_str());
    let rest = uri.path_and_query().map_or("", |pq| pq.as_str());
    let rest = if rest == "/" && !location.ends_with('/') {
        ""
    } else {
        rest
    };
    let rewritten = format!("{new_scheme}://{new_authority}{rest}");
    if let Ok(v) = HeaderValue::try_from(rewritten) {
        headers.insert(header::LOCATION, v);
    }
}

/// Applies the cookie attribute rewrites to every `Set-Cookie` value, keeping them all.
pub(crate) fn rewrite_cookies(
    headers: &mut HeaderMap,
    domain: Option<&CookieRewrite>,
    path: Option<&CookieRewrite>,
) {
    if domain.is_none() && path.is_none() {
        return;
    }
    let values: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| match v.to_str() {
            Ok(s) => {
                let s = rewrite_attribute(s, "domain", domain);
                let s = rewrite_attribute(&s, "path", path);
                HeaderValue::try_from(s).unwrap_or_else(|_| v.clone())
            }
            Err(_) => v.clone(),
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in values {
        headers.append(header::SET_COOKIE, v);
    }
}

/// Rewrites (or removes, on an empty replacement) attribute `attr` of one cookie string.
fn rewrite_attribute(cookie: &str, attr: &str, rule: Option<&CookieRewrite>) -> String {
    let Some(rule) = rule else {
        return cookie.to_owned();
    };
    let mut parts: Vec<String> = Vec::new();
    for (i, part) in cookie.split(';').enumerate() {
        if i > 0
            && let Some((name, value)) = part.split_once('=')
            && name.trim().eq_ignore_ascii_case(attr)
        {
            match rule.replacement(value.trim()) {
                Some("") => continue,
                Some(new) => {
                    parts.push(format!(" {}={new}", name.trim()));
                    continue;
                }
                None => {}
            }
        }
        parts.push(part.to_owned());
    }
    parts.join(";")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn loc(status: u16, location: &str, rules: LocationRules<'_>) -> String {
        let target = UpstreamUrl::parse("http://backend:3000").unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, HeaderValue::try_from(location).unwrap());
        rewrite_location(
            StatusCode::from_u16(status).unwrap(),
            &mut h,
            &target,
            rules,
            Some("front.example:8080"),
        );
        h[header::LOCATION].to_str().unwrap().to_owned()
    }

    const NONE: LocationRules<'static> = LocationRules {
        host_rewrite: None,
        auto_rewrite: false,
        protocol_rewrite: None,
    };

    #[test]
    fn location_rewrite_matrix() {
        let host = LocationRules {
            host_rewrite: Some("public.example"),
            ..NONE
        };
        let auto = LocationRules {
            auto_rewrite: true,
            ..NONE
        };
        let both = LocationRules {
            host_rewrite: Some("public.example"),
            auto_rewrite: true,
            ..NONE
        };
        let proto = LocationRules {
            protocol_rewrite: Some(ProtocolRewrite::Https),
            ..NONE
        };
        for s in [201, 301, 302, 307, 308] {
            assert_eq!(
                loc(s, "http://backend:3000/a?b", host),
                "http://public.example/a?b"
            );
        }
        assert_eq!(
            loc(303, "http://backend:3000/a", host),
            "http://backend:3000/a"
        );
        assert_eq!(
            loc(200, "http://backend:3000/a", host),
            "http://backend:3000/a"
        );
        assert_eq!(loc(302, "http://other:3000/a", host), "http://other:3000/a");
        assert_eq!(loc(302, "http://backend/a", host), "http://backend/a");
        assert_eq!(loc(302, "/relative", host), "/relative");
        assert_eq!(
            loc(302, "http://backend:3000/a", auto),
            "http://front.example:8080/a"
        );
        assert_eq!(
            loc(302, "http://backend:3000/a", both),
            "http://public.example/a"
        );
        assert_eq!(
            loc(302, "http://backend:3000/a", proto),
            "https://backend:3000/a"
        );
        assert_eq!(
            loc(302, "http://backend:3000", proto),
            "https://backend:3000"
        );
        assert_eq!(
            loc(302, "http://backend:3000/a", NONE),
            "http://backend:3000/a"
        );
    }

    #[test]
    fn cookie_rewrites_keep_every_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("a=1; Domain=old.example; Path=/api"),
        );
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("b=2; path=/x; domain=keep.example"),
        );
        h.append(header::SET_COOKIE, HeaderValue::from_static("c=3"));
        let domain = CookieRewrite::Map(BTreeMap::from([(
            "old.example".to_owned(),
            "new.example".to_owned(),
        )]));
        let path = CookieRewrite::All(String::new());
        rewrite_cookies(&mut h, Some(&domain), Some(&path));
        let got: Vec<&str> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            got,
            ["a=1; Domain=new.example", "b=2; domain=keep.example", "c=3"]
        );
    }

    #[test]
    fn cookie_wildcard_and_value_rewrite() {
        let star = CookieRewrite::Map(BTreeMap::from([("*".to_owned(), "/".to_owned())]));
        assert_eq!(
            rewrite_attribute("a=1; Path=/api; HttpOnly", "path", Some(&star)),
            "a=1; Path=/; HttpOnly"
        );
        // The cookie's own name=value is never touched, even when named like an attribute.
        assert_eq!(
            rewrite_attribute("path=1; Path=/x", "path", Some(&star)),
            "path=1; Path=/"
        );
    }
}
