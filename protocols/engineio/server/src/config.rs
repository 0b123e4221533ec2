//! The `[engineio]` configuration section: every option of the Node `engine.io` 6.x server, the
//! limits switchboard adds (sessions, send buffers, subscriptions), and the fabric bridge mode.
//!
//! ```
//! use switchboard_engineio::EngineIoConfig;
//! let config: EngineIoConfig = toml::from_str(r#"
//!     path = "/realtime/"
//!     mode = "raw"
//!     [raw]
//!     publish = "echo/{sid}"
//!     subscribe = ["echo/{sid}"]
//! "#).unwrap();
//! assert!(config.problems().is_empty());
//! assert_eq!(config.ping_interval_ms, 25_000);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_engineio_proto::Transport;

/// Settings of the Engine.IO server (`[engineio]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineIoConfig {
    /// Whether Engine.IO is served at all. Default true.
    pub enabled: bool,
    /// Path on the HTTP front (engine.io `path`). Default `/engine.io/`.
    pub path: String,
    /// Interval between server pings, in milliseconds (`pingInterval`). Default 25 000.
    pub ping_interval_ms: u64,
    /// How long to wait for a pong, in milliseconds (`pingTimeout`). Default 20 000.
    pub ping_timeout_ms: u64,
    /// How long an upgrade may take, in milliseconds (`upgradeTimeout`). Default 10 000.
    pub upgrade_timeout_ms: u64,
    /// Largest WebSocket message or polling request body accepted, in bytes
    /// (`maxHttpBufferSize`). Default 1 000 000.
    pub max_http_buffer_size: usize,
    /// Enabled transports (`transports`). Default `["polling", "websocket"]`.
    pub transports: Vec<Transport>,
    /// Allow upgrades from polling to WebSocket (`allowUpgrades`). Default true.
    pub allow_upgrades: bool,
    /// Accept Engine.IO protocol v3 clients (`allowEIO3`). Default false.
    pub allow_eio3: bool,
    /// WebSocket permessage-deflate (`perMessageDeflate`). Default off.
    pub per_message_deflate: DeflateConfig,
    /// gzip/deflate of polling responses (`httpCompression`). Default on, threshold 1024 bytes.
    pub http_compression: CompressionConfig,
    /// The session cookie set on the handshake (`cookie`). Default off.
    pub cookie: CookieConfig,
    /// Cross-origin resource sharing (`cors`). Default off (no CORS headers).
    pub cors: CorsConfig,
    /// A text message sent right after the open packet (`initialPacket`). Default none.
    pub initial_packet: Option<String>,
    /// Headers added to every Engine.IO response (the `headers` event). Default none.
    pub extra_headers: BTreeMap<String, String>,
    /// Headers added to the handshake response only (the `initial_headers` event). Default none.
    pub initial_headers: BTreeMap<String, String>,
    /// Checks made on every handshake (`allowRequest`). Default: every origin, credentials optional.
    pub allow_request: AllowRequestConfig,
    /// Most simultaneous sessions; handshakes beyond it get HTTP 503. Default 100 000.
    pub max_sessions: usize,
    /// Messages buffered per session while the client is not reading. Default 1024.
    pub max_buffered_packets: usize,
    /// What happens when a session's send buffer is full. Default `close`.
    pub buffer_overflow: BufferOverflow,
    /// How the sessions map onto the fabric. Default `control`.
    pub mode: BridgeMode,
    /// Topic templates of the `raw` mode.
    pub raw: RawConfig,
    /// Most subscriptions per session in control mode. Default 1000.
    pub max_subscriptions: usize,
    /// Most requests (`req` ops) a session may have waiting for replies. Default 64.
    pub max_pending_requests: usize,
    /// Timeout of a `req` op without `timeout_ms`, in milliseconds. Default 5000.
    pub request_timeout_ms: u64,
    /// Largest `timeout_ms` a `req` op may ask for, in milliseconds. Default 60 000.
    pub max_request_timeout_ms: u64,
    /// Where the JavaScript client is served on the front; empty = not served.
    /// Default `/switchboard.js`.
    pub client_path: String,
    /// Topic prefix added on the way in and removed on the way out. Default empty.
    pub mount: String,
}

impl Default for EngineIoConfig {
    fn default() -> Self {
        EngineIoConfig {
            enabled: true,
            path: "/engine.io/".to_owned(),
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            upgrade_timeout_ms: 10_000,
            max_http_buffer_size: 1_000_000,
            transports: vec![Transport::Polling, Transport::WebSocket],
            allow_upgrades: true,
            allow_eio3: false,
            per_message_deflate: DeflateConfig::default(),
            http_compression: CompressionConfig::default(),
            cookie: CookieConfig::default(),
            cors: CorsConfig::default(),
            initial_packet: None,
            extra_headers: BTreeMap::new(),
            initial_headers: BTreeMap::new(),
            allow_request: AllowRequestConfig::default(),
            max_sessions: 100_000,
            max_buffered_packets: 1024,
            buffer_overflow: BufferOverflow::Close,
            mode: BridgeMode::Control,
            raw: RawConfig::default(),
            max_subscriptions: 1000,
            max_pending_requests: 64,
            request_timeout_ms: 5000,
            max_request_timeout_ms: 60_000,
            client_path: "/switchboard.js".to_owned(),
            mount: String::new(),
        }
    }
}

/// `[engineio.per_message_deflate]`: WebSocket compression (RFC 7692).
///
/// When enabled, a client's permessage-deflate offer is accepted with
/// `server_no_context_takeover` and `client_no_context_takeover`: every message is compressed
/// on its own, so compression keeps no memory per connection (one compressor and one
/// decompressor per thread serve them all). Offers the server cannot honour (a server window
/// below 15 bits) are declined and the connection goes uncompressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeflateConfig {
    /// Whether permessage-deflate may be negotiated. Default false (as engine.io 4+).
    pub enabled: bool,
    /// Messages smaller than this many bytes are sent uncompressed (as engine.io's
    /// `perMessageDeflate.threshold`). Default 1024.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: false,
            threshold: 1024,
        }
    }
}

/// `[engineio.http_compression]`: compression of polling responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionConfig {
    /// Whether responses are gzip- or deflate-compressed when the client accepts it. Default true.
    pub enabled: bool,
    /// Bodies smaller than this many bytes are sent as they are. Default 1024.
    pub threshold: usize,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            enabled: true,
            threshold: 1024,
        }
    }
}

/// The `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax` (engine.io's default).
    #[default]
    Lax,
    /// `SameSite=None` (needs `secure`).
    None,
    /// No `SameSite` attribute.
    Unset,
}

/// `[engineio.cookie]`: the cookie holding the session id, set on the handshake response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieConfig {
    /// Whether the cookie is set. Default false (as engine.io 4+).
    pub enabled: bool,
    /// Cookie name. Default `io`.
    pub name: String,
    /// `Path` attribute; empty = none. Default `/`.
    pub path: String,
    /// `HttpOnly` attribute. Default true.
    pub http_only: bool,
    /// `SameSite` attribute. Default `lax`.
    pub same_site: SameSite,
    /// `Secure` attribute. Default false.
    pub secure: bool,
    /// `Domain` attribute. Default none.
    pub domain: Option<String>,
    /// `Max-Age` attribute in seconds. Default none (a session cookie).
    pub max_age_s: Option<u64>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            enabled: false,
            name: "io".to_owned(),
            path: "/".to_owned(),
            http_only: true,
            same_site: SameSite::Lax,
            secure: false,
            domain: None,
            max_age_s: None,
        }
    }
}

/// `[engineio.cors]`: CORS headers and preflight answers, as the `cors` middleware engine.io uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins: empty = CORS off, `["*"]` = any origin, or exact origins
    /// (`https://app.example.com`). Default empty.
    pub origins: Vec<String>,
    /// Methods announced in preflight answers. Default `["GET", "POST"]`.
    pub methods: Vec<String>,
    /// Request headers allowed in preflight answers; empty = echo what the browser asks for.
    pub allowed_headers: Vec<String>,
    /// Response headers exposed to scripts. Default none.
    pub exposed_headers: Vec<String>,
    /// `Access-Control-Allow-Credentials: true` (cookies). Default false.
    pub credentials: bool,
    /// `Access-Control-Max-Age` of preflight answers, in seconds; none = header not sent.
    pub max_age_s: Option<u64>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            origins: Vec::new(),
            methods: vec!["GET".to_owned(), "POST".to_owned()],
            allowed_headers: Vec::new(),
            exposed_headers: Vec::new(),
            credentials: false,
            max_age_s: None,
        }
    }
}

/// `[engineio.allow_request]`: the handshake check (engine.io's `allowRequest`). A refused
/// handshake gets HTTP 403 `{"code":4,"message":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AllowRequestConfig {
    /// Origins allowed to open sessions; empty = any (including requests without `Origin`).
    pub origins: Vec<String>,
    /// Refuse handshakes without valid credentials (bearer or basic `Authorization` header, or
    /// `token` query parameter) instead of letting control-mode clients `auth` later. Default false.
    pub require_credentials: bool,
}

/// What a session does when its send buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BufferOverflow {
    /// Close the session (`forced close`): the client reconnects and resynchronises.
    #[default]
    Close,
    /// Drop the oldest buffered message.
    DropOldest,
    /// Drop the message that does not fit.
    DropNew,
}

impl BufferOverflow {
    /// The reason label of the drop counter.
    pub fn drop_reason(self) -> &'static str {
        match self {
            BufferOverflow::Close => "send_buffer_full_close",
            BufferOverflow::DropOldest => "send_buffer_full_drop_oldest",
            BufferOverflow::DropNew => "send_buffer_full_drop_new",
        }
    }
}

/// How Engine.IO sessions map onto the fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BridgeMode {
    /// The JSON control protocol (`sub`, `pub`, `req`, ...): see the README.
    #[default]
    Control,
    /// Each message is published on `raw.publish`; `raw.subscribe` topics come back as messages.
    Raw,
}

/// `[engineio.raw]`: topic templates of the raw mode; `{sid}` and `{user}` are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Topic each client message is published on; empty = messages are dropped.
    /// Default `engineio/{sid}/in`.
    pub publish: String,
    /// Filters whose messages are sent to the client. Default `["engineio/{sid}/out"]`.
    pub subscribe: Vec<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            publish: "engineio/{sid}/in".to_owned(),
            subscribe: vec!["engineio/{sid}/out".to_owned()],
        }
    }
}

/// The placeholders a raw template may use.
const PLACEHOLDERS: [&str; 2] = ["{sid}", "{user}"];

fn template_problem(template: &str) -> Option<String> {
    let mut rest = template.to_owned();
    for p in PLACEHOLDERS {
        rest = rest.replace(p, "x");
    }
    if rest.contains(['{', '}']) {
        return Some(format!(
            "`{template}` has an unknown placeholder; only {{sid}} and {{user}} exist"
        ));
    }
    None
}

impl EngineIoConfig {
    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |key: &str, what: String| out.push((format!("engineio.{key}"), what));
        if !self.path.starts_with('/') {
            push("path", "must start with '/'".to_owned());
        }
        if !self.client_path.is_empty() && !self.client_path.starts_with('/') {
            push(
                "client_path",
                "must start with '/' (or be empty to not serve the client)".to_owned(),
            );
        }
        for (key, v) in [
            ("ping_interval_ms", self.ping_interval_ms),
            ("ping_timeout_ms", self.ping_timeout_ms),
            ("upgrade_timeout_ms", self.upgrade_timeout_ms),
            ("max_http_buffer_size", self.max_http_buffer_size as u64),
            ("max_sessions", self.max_sessions as u64),
            ("max_buffered_packets", self.max_buffered_packets as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("max_request_timeout_ms", self.max_request_timeout_ms),
        ] {
            if v == 0 {
                push(key, "must be at least 1".to_owned());
            }
        }
        if self.transports.is_empty() {
            push(
                "transports",
                "must list at least one of \"polling\", \"websocket\"".to_owned(),
            );
        }
        if self.cookie.enabled && self.cookie.name.is_empty() {
            push("cookie.name", "must not be empty".to_owned());
        }
        if self.cookie.enabled && self.cookie.same_site == SameSite::None && !self.cookie.secure {
            push(
                "cookie.secure",
                "must be true with same_site = \"none\" (browsers drop such cookies)".to_owned(),
            );
        }
        for (key, map) in [
            ("extra_headers", &self.extra_headers),
            ("initial_headers", &self.initial_headers),
        ] {
            for (name, value) in map {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                    || http::HeaderValue::from_str(value).is_err()
                {
                    push(
                        &format!("{key}.{name}"),
                        "is not a valid HTTP header name and value".to_owned(),
                    );
                }
            }
        }
        if self.request_timeout_ms > self.max_request_timeout_ms {
            push(
                "request_timeout_ms",
                "must not exceed max_request_timeout_ms".to_owned(),
            );
        }
        if let Some(p) = template_problem(&self.raw.publish) {
            push("raw.publish", p);
        }
        for t in &self.raw.subscribe {
            if let Some(p) = template_problem(t) {
                push("raw.subscribe", p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_engine_io_defaults_and_valid() {
        let c = EngineIoConfig::default();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.path, "/engine.io/");
        assert_eq!(
            (c.ping_interval_ms, c.ping_timeout_ms, c.upgrade_timeout_ms),
            (25_000, 20_000, 10_000)
        );
        assert_eq!(c.max_http_buffer_size, 1_000_000);
        assert!(c.http_compression.enabled && !c.per_message_deflate.enabled);
        let deflate = EngineIoConfig {
            per_message_deflate: DeflateConfig {
                enabled: true,
                threshold: 1,
            },
            ..EngineIoConfig::default()
        };
        assert!(deflate.problems().is_empty(), "{:?}", deflate.problems());
        assert!(!c.cookie.enabled && c.cors.origins.is_empty());
    }

    #[test]
    fn problems_name_their_keys() {
        let mut c = EngineIoConfig {
            path: "engine.io".to_owned(),
            ping_timeout_ms: 0,
            transports: vec![],
            ..EngineIoConfig::default()
        };
        c.raw.publish = "in/{client}".to_owned();
        c.cookie.enabled = true;
        c.cookie.same_site = SameSite::None;
        c.extra_headers
            .insert("bad header".to_owned(), "x".to_owned());
        let keys: Vec<String> = c.problems().into_iter().map(|(k, _)| k).collect();
        for k in [
            "engineio.path",
            "engineio.ping_timeout_ms",
            "engineio.transports",
            "engineio.raw.publish",
            "engineio.cookie.secure",
            "engineio.extra_headers.bad header",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
    }

    #[test]
    fn parses_every_section() {
        let c: EngineIoConfig = toml::from_str(
            r#"
            transports = ["websocket"]
            buffer_overflow = "drop_oldest"
            initial_packet = "hello"
            [cookie]
            enabled = true
            same_site = "strict"
            [cors]
            origins = ["https://a.example"]
            credentials = true
            [extra_headers]
            x-served-by = "switchboard"
            [allow_request]
            origins = ["https://a.example"]
            "#,
        )
        .unwrap_or_default();
        assert_eq!(c.transports, vec![Transport::WebSocket]);
        assert_eq!(c.buffer_overflow, BufferOverflow::DropOldest);
        assert_eq!(c.cookie.same_site, SameSite::Strict);
        assert!(c.cors.credentials);
        assert_eq!(c.initial_packet.as_deref(), Some("hello"));
        assert!(toml::from_str::<EngineIoConfig>("nope = 1").is_err());
        assert!(toml::from_str::<EngineIoConfig>("transports = [\"flash\"]").is_err());
    }
}
