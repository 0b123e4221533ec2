//! Upstream base URLs (`targets`, `forward`) and how a request path is joined onto them.

use http::uri::{Authority, Scheme};

/// A parsed `http://` or `https://` base URL of an upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UpstreamUrl {
    /// `true` for `https://`.
    pub tls: bool,
    /// `host[:port]` exactly as configured.
    pub authority: Authority,
    /// Host without brackets, lowercased.
    pub host: String,
    /// Effective port (explicit or the scheme's default).
    pub port: u16,
    /// Base path; empty when the URL had none or only `/`.
    pub path: String,
    /// Base query, if any.
    pub query: Option<String>,
}

impl UpstreamUrl {
    /// Parses a target URL; the error says what to change.
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: http::Uri = text.parse().map_err(|e| {
            format!("`{text}` is not a URL ({e}); write e.g. \"http://127.0.0.1:3000\"")
        })?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            Some(s) if *s == Scheme::HTTPS => true,
            _ => return Err(format!("`{text}` must start with http:// or https://")),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("`{text}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "`{text}` carries credentials; remove them and set `auth = \"user:password\"`"
            ));
        }
        if authority.host().is_empty() {
            return Err(format!("`{text}` has no host"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = match uri.path() {
            "/" => String::new(),
            p => p.to_owned(),
        };
        Ok(Self {
            tls,
            authority,
            host,
            port,
            path,
            query: uri.query().map(str::to_owned),
        })
    }

    /// The scheme of this URL.
    pub fn scheme(&self) -> Scheme {
        if self.tls {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        }
    }

    /// `Host` header value for `change_origin`: the host plus the port when it is not the
    /// scheme's default.
    pub fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = self.authority.host();
        if self.port == default {
            host.to_owned()
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Whether `host`/`port` (from a `Location` URL with scheme `tls`) designate this upstream.
    pub fn same_origin(&self, host: &str, port: Option<u16>, tls: bool) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port.unwrap_or(if tls { 443 } else { 80 });
        host.eq_ignore_ascii_case(&self.host) && port == self.port
    }
}

/// How the outgoing path is built from the request (node-http-proxy's `prependPath`,
/// `ignorePath`, plus `strip_prefix`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PathRules<'a> {
    /// The route's prefix.
    pub prefix: &'a str,
    /// Remove the prefix from the request path.
    pub strip_prefix: bool,
    /// Drop the request path and query.
    pub ignore_path: bool,
    /// Put the target's path in front.
    pub prepend_path: bool,
}

/// Builds the origin-form path and query sent upstream. Never collapses `//` inside the
/// request path (node-http-proxy does, which changes what the upstream sees).
pub(crate) fn upstream_path_and_query(
    rules: PathRules<'_>,
    base: &UpstreamUrl,
    req_path: &str,
    req_query: Option<&str>,
) -> String {
    let (path, query) = if rules.ignore_path {
        ("", None)
    } else if rules.strip_prefix {
        (strip_prefix(req_path, rules.prefix), req_query)
    } else {
        (req_path, req_query)
    };
    let mut out = if rules.prepend_path {
        join(&base.path, path)
    } else {
        String::from(path)
    };
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    let queries: Vec<&str> = [
        if rules.prepend_path {
            base.query.as_deref()
        } else {
            None
        },
        query,
    ]
    .into_iter()
    .flatten()
    .filter(|q| !q.is_empty())
    .collect();
    if !queries.is_empty() {
        out.push('?');
        out.push_str(&queries.join("&"));
    }
    out
}

/// The request path with the route prefix removed (segment-wise); `/` when nothing remains.
fn strip_prefix<'p>(path: &'p str, prefix: &str) -> &'p str {
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Joins two path pieces with exactly one `/` at the seam.
fn join(base: &str, path: &str) -> String {
    if base.is_empty() {
        return path.to_owned();
    }
    if path.is_empty() || path == "/" && base.ends_with('/') {
        return base.to_owned();
    }
    match (base.ends_with('/'), path.starts_with('/')) {
        (true, true) => format!("{base}{}", &path[1..]),
        (false, false) => format!("{base}/{path}"),
        _ => format!("{base}{path}"),
    }
}

/// Whether `path` is inside `prefix`, segment-wise.
pub(crate) fn path_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" || prefix.is_empty() {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => prefix.ends_with('/') && path == &prefix[..prefix.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(prefix: &str, strip: bool, ignore: bool, prepend: bool) -> PathRules<'_> {
        PathRules {
            prefix,
            strip_prefix: strip,
            ignore_path: ignore,
            prepend_path: prepend,
        }
    }

    #[test]
    fn parses_targets() {
        let u = UpstreamUrl::parse("https://Example.com/base?x=1").unwrap();
        assert!(u.tls);
        assert_eq!((u.host.as_str(), u.port), ("example.com", 443));
        assert_eq!(u.path, "/base");
        assert_eq!(u.query.as_deref(), Some("x=1"));
        let u = UpstreamUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 8080, "")
        );
        assert_eq!(u.host_header(), "[::1]:8080");
        assert!(UpstreamUrl::parse("ftp://x").is_err());
        assert!(UpstreamUrl::parse("/relative").is_err());
        assert!(UpstreamUrl::parse("http://u:p@host").is_err());
    }

    #[test]
    fn joins_paths_like_node_without_collapsing() {
        let t = UpstreamUrl::parse("http://h/base").unwrap();
        let r = rules("/api", false, false, true);
        assert_eq!(
            upstream_path_and_query(r, &t, "/api/x", Some("a=1")),
            "/base/api/x?a=1"
        );
        assert_eq!(
            upstream_path_and_query(r, &t, "/api//x", None),
            "/base/api//x"
        );
        let r = rules("/api", true, false, true);
        assert_eq!(upstream_path_and_query(r, &t, "/api/x", None), "/base/x");
        assert_eq!(upstream_path_and_query(r, &t, "/api", None), "/base/");
        let r = rules("/api", false, false, false);
        assert_eq!(upstream_path_and_query(r, &t, "/api/x", None), "/api/x");
        let r = rules("/api", false, true, true);
        assert_eq!(
            upstream_path_and_query(r, &t, "/api/x", Some("a=1")),
            "/base"
        );
        let t = UpstreamUrl::parse("http://h/base/?k=v").unwrap();
        let r = rules("/", false, false, true);
        assert_eq!(
            upstream_path_and_query(r, &t, "/x", Some("a=1")),
            "/base/x?k=v&a=1"
        );
        let t = UpstreamUrl::parse("http://h").unwrap();
        let r = rules("/", false, true, true);
        assert_eq!(upstream_path_and_query(r, &t, "/x", None), "/");
    }

    #[test]
    fn prefix_matching_is_segment_wise() {
        assert!(path_matches("/", "/anything"));
        assert!(path_matches("/api", "/api"));
        assert!(path_matches("/api", "/api/x"));
        assert!(!path_matches("/api", "/apix"));
        assert!(path_matches("/api/", "/api/x"));
        assert!(path_matches("/api/", "/api"));
        assert!(!path_matches("/api/", "/apix"));
    }
}
