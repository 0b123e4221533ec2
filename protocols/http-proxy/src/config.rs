//! The `[proxy]` configuration section and its `[[proxy.routes]]` entries.
//!
//! Every key is documented with its default. Durations are whole milliseconds; `0` switches a
//! timeout off (TOML has no null). Validation lives in [`crate::validate`] so that the config crate
//! can report each problem with the key that causes it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `[proxy]` section: a list of routes plus settings shared by every upstream client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// `[[proxy.routes]]`: matched in order; the first match forwards the request. Default: none.
    pub routes: Vec<RouteConfig>,
    /// TCP connect timeout (plus TLS handshake) to an upstream, in ms. A timeout answers 504 and
    /// counts as a failure of that target. Default `5000`; `0` = no limit.
    pub connect_timeout_ms: u64,
    /// How long an idle pooled upstream connection is kept, in ms. Keep it *below* the upstream's
    /// own keep-alive timeout (Node's default is 5 s) so the proxy never reuses a socket the
    /// upstream is closing. Default `4000`.
    pub pool_idle_timeout_ms: u64,
    /// Idle connections kept per upstream (each target of each route, and each `forward` mirror,
    /// has its own pool); `0` closes every connection after its response. Default `64`.
    pub pool_max_idle_per_host: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            connect_timeout_ms: 5_000,
            pool_idle_timeout_ms: 4_000,
            pool_max_idle_per_host: 64,
        }
    }
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("routes", &self.routes)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("pool_idle_timeout_ms", &self.pool_idle_timeout_ms)
            .field("pool_max_idle_per_host", &self.pool_max_idle_per_host)
            .finish()
    }
}

/// How a route spreads requests over its `targets`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each request goes to the next healthy target in turn (default).
    #[default]
    RoundRobin,
    /// Each request goes to the healthy target with the fewest requests in flight (open
    /// WebSocket tunnels count as in flight); ties rotate.
    LeastConnections,
}

/// Scheme forced onto a rewritten `Location` header by `protocol_rewrite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolRewrite {
    /// `http://`
    Http,
    /// `https://`
    Https,
}

impl ProtocolRewrite {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A `Set-Cookie` attribute rewrite (`cookie_domain_rewrite` / `cookie_path_rewrite`).
///
/// Either one string applied to every cookie that carries the attribute
/// (`cookie_domain_rewrite = "example.com"`), or a table from the upstream's value to the new one
/// with `"*"` as the fallback (`cookie_path_rewrite = { "/api" = "/", "*" = "/other" }`).
/// An empty replacement removes the attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CookieRewrite {
    /// Replace every value with this one (`""` removes the attribute).
    All(String),
    /// Replace values found as keys; `"*"` matches any other value.
    Map(BTreeMap<String, String>),
}

impl CookieRewrite {
    /// The replacement for `current`, if this rewrite applies to it.
    pub fn replacement(&self, current: &str) -> Option<&str> {
        match self {
            Self::All(v) => Some(v),
            Self::Map(map) => map
                .get(current)
                .or_else(|| map.get("*"))
                .map(String::as_str),
        }
    }
}

/// One `[[proxy.routes]]` entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Name used in metrics labels and logs. Default: the `path_prefix` (plus `@host` when set).
    pub name: Option<String>,
    /// Requests whose path equals this prefix or continues it at a `/` match (segment-wise, so
    /// `/api` matches `/api`, `/api/x` and `/api?q` but not `/apix`). Default `"/"` (everything).
    pub path_prefix: String,
    /// When set, the request's host (the `Host` header, or the HTTP/2 authority, without port)
    /// must equal it, case-insensitively. `*.example.com` matches any subdomain. Default: any host.
    pub host: Option<String>,
    /// Upstream base URLs, `http://` or `https://`, optionally with a path (joined with the
    /// request path, see `prepend_path`). Default: none (then `forward` is required).
    pub targets: Vec<String>,
    /// `round_robin` (default) or `least_connections`.
    pub balance: Balance,
    /// Passive ejection: after this many consecutive failures (connect error, timeout, or the
    /// upstream closing before answering) a target is skipped for `eject_ms`. Default `3`;
    /// `0` never ejects.
    pub eject_after_failures: u32,
    /// How long a passively ejected target is skipped, in ms. Default `30000`.
    pub eject_ms: u64,
    /// Active health checks: when set, each target is sent `GET <target base><health_path>`
    /// every `health_interval_ms`; a non-2xx/3xx answer or no answer within `health_timeout_ms`
    /// marks it unhealthy until a probe succeeds. Default: off.
    pub health_path: Option<String>,
    /// Interval between active health probes, in ms. Default `10000`.
    pub health_interval_ms: u64,
    /// Deadline for one health probe, in ms. Default `2000`.
    pub health_timeout_ms: u64,
    /// Extra attempts on *another* target for idempotent requests without a body whose
    /// connection could not be established (so the upstream never saw them). Default `1`.
    pub retries: u32,
    /// Mirror URL: every request is also sent here, fire-and-forget; its answer is ignored and a
    /// slow mirror is cut off rather than slowing the real request. With no `targets` the client
    /// is answered `200` with an empty body at once. Default: none.
    pub forward: Option<String>,
    /// Proxy WebSocket and any other HTTP/1.1 `Upgrade` (bidirectional byte copy after the 101).
    /// When `false` the upgrade headers are stripped like other hop-by-hop headers and the request
    /// is forwarded as plain HTTP. Default `false`.
    pub ws: bool,
    /// Append `X-Forwarded-For`, `-Proto`, `-Port`, `-Host` and a `Forwarded` element. Default `false`.
    pub xfwd: bool,
    /// With `xfwd`, keep what the client sent in those headers and append to it (node-http-proxy's
    /// behaviour). `false` drops the client's values first, for a front facing untrusted clients.
    /// Default `true`.
    pub trust_forwarded: bool,
    /// Set the upstream `Host` to the target's host (with a non-default port). Default `false`:
    /// the client's `Host` is kept.
    pub change_origin: bool,
    /// Prefix the target URL's path to the request path. Default `true`.
    pub prepend_path: bool,
    /// Drop the request path and query; send only the target URL's path. Default `false`.
    pub ignore_path: bool,
    /// Remove `path_prefix` from the request path before joining it to the target. Default `false`.
    pub strip_prefix: bool,
    /// Headers set on every upstream request (replacing the client's). Default: none.
    pub headers: BTreeMap<String, String>,
    /// Headers set on every response to the client (replacing the upstream's); an empty value
    /// removes the header. Default: none.
    pub response_headers: BTreeMap<String, String>,
    /// `"user:password"` sent to the upstream as `Authorization: Basic`, replacing any client
    /// `Authorization`. Redacted in `Debug`. Default: none.
    pub auth: Option<String>,
    /// Replace the authority of a `Location` header (201/301/302/307/308) that points at the
    /// target with this `host[:port]`. Wins over `auto_rewrite`. Default: none.
    pub host_rewrite: Option<String>,
    /// Same condition as `host_rewrite`; replace it with the client's `Host`. Default `false`.
    pub auto_rewrite: bool,
    /// Same condition; set the `Location` scheme to `http` or `https`. Default: none.
    pub protocol_rewrite: Option<ProtocolRewrite>,
    /// Rewrite the `Domain` attribute of `Set-Cookie`. Default: none.
    pub cookie_domain_rewrite: Option<CookieRewrite>,
    /// Rewrite the `Path` attribute of `Set-Cookie`. Default: none.
    pub cookie_path_rewrite: Option<CookieRewrite>,
    /// Verify `https://` upstream certificates and host names. Default `true`.
    pub secure: bool,
    /// PEM file of CA certificates that replaces the built-in web PKI roots for this route's
    /// `https://` upstreams. Default: none (web PKI roots).
    pub ca: Option<PathBuf>,
    /// Client-side idle timeout, in ms: when the client sends no request-body bytes for this
    /// long, the request is abandoned (408 if no answer was sent yet). Default `60000`; `0` = off.
    pub timeout_ms: u64,
    /// Upstream-side timeout, in ms: the upstream must answer (status line and headers) within
    /// this time (else 504), and its response body may not stall longer than this between bytes
    /// (else the response is cut). Default `60000`; `0` = off (use it for long-idle SSE streams).
    pub proxy_timeout_ms: u64,
    /// Largest request body accepted, in bytes: a larger `Content-Length` is answered 413 before
    /// contacting the upstream; a chunked body is cut and answered 413 when it passes the limit.
    /// Default `0` = no limit (bodies always stream, they are never buffered).
    pub max_body_bytes: u64,
    /// Local IP address upstream connections are bound to. Default: chosen by the OS.
    pub local_address: Option<IpAddr>,
    /// When set, `Via: <version> <this value>` is appended to requests and responses (for example
    /// `via = "switchboard"`). Default: none.
    pub via: Option<String>,
}

impl Default for RouteConfig {
    fn default() -> Self {
        Self {
            name: None,
            path_prefix: "/".to_owned(),
            host: None,
            targets: Vec::new(),
            balance: Balance::RoundRobin,
            eject_after_failures: 3,
            eject_ms: 30_000,
            health_path: None,
            health_interval_ms: 10_000,
            health_timeout_ms: 2_000,
            retries: 1,
            forward: None,
            ws: false,
            xfwd: false,
            trust_forwarded: true,
            change_origin: false,
            prepend_path: true,
            ignore_path: false,
            strip_prefix: false,
            headers: BTreeMap::new(),
            response_headers: BTreeMap::new(),
            auth: None,
            host_rewrite: None,
            auto_rewrite: false,
            protocol_rewrite: None,
            cookie_domain_rewrite: None,
            cookie_path_rewrite: None,
            secure: true,
            ca: None,
            timeout_ms: 60_000,
            proxy_timeout_ms: 60_000,
            max_body_bytes: 0,
            local_address: None,
            via: None,
        }
    }
}

impl RouteConfig {
    /// The label used for this route in metrics and logs.
    pub fn display_name(&self) -> String {
        match (&self.name, &self.host) {
            (Some(name), _) => name.clone(),
            (None, Some(host)) => format!("{}@{host}", self.path_prefix),
            (None, None) => self.path_prefix.clone(),
        }
    }
}

impl fmt::Debug for RouteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteConfig")
            .field("name", &self.name)
            .field("path_prefix", &self.path_prefix)
            .field("host", &self.host)
            .field("targets", &self.targets)
            .field("balance", &self.balance)
            .field("eject_after_failures", &self.eject_after_failures)
            .field("eject_ms", &self.eject_ms)
            .field("health_path", &self.health_path)
            .field("health_interval_ms", &self.health_interval_ms)
            .field("health_timeout_ms", &self.health_timeout_ms)
            .field("retries", &self.retries)
            .field("forward", &self.forward)
            .field("ws", &self.ws)
            .field("xfwd", &self.xfwd)
            .field("trust_forwarded", &self.trust_forwarded)
            .field("change_origin", &self.change_origin)
            .field("prepend_path", &self.prepend_path)
            .field("ignore_path", &self.ignore_path)
            .field("strip_prefix", &self.strip_prefix)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("response_headers", &self.response_headers)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("host_rewrite", &self.host_rewrite)
            .field("auto_rewrite", &self.auto_rewrite)
            .field("protocol_rewrite", &self.protocol_rewrite)
            .field("cookie_domain_rewrite", &self.cookie_domain_rewrite)
            .field("cookie_path_rewrite", &self.cookie_path_rewrite)
            .field("secure", &self.secure)
            .field("ca", &self.ca)
            .field("timeout_ms", &self.timeout_ms)
            .field("proxy_timeout_ms", &self.proxy_timeout_ms)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("local_address", &self.local_address)
            .field("via", &self.via)
            .finish()
    }
}
