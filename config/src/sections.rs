//! The sections owned by the application itself: `[http]`, `[admin]`, `[auth]`, `[telemetry]`,
//! `[shutdown]`, `[storage]` and `[cluster]`. Protocol sections are owned by their crates.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The public HTTP front (`[http]`): Engine.IO, MQTT over WebSocket, the dashboard, the JS client and
/// proxied routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the front speaks HTTPS (HTTP/1.1 and HTTP/2).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Optional plain-HTTP listener that redirects every request to HTTPS.
    pub redirect_listen: Option<SocketAddr>,
    /// Most simultaneous connections on the front. Default 50 000.
    pub max_connections: usize,
    /// Also serve the admin API under `/api/` on the front. Default false.
    pub api: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: loopback(8080),
            tls_cert: None,
            tls_key: None,
            redirect_listen: None,
            max_connections: 50_000,
            api: false,
        }
    }
}

/// The admin server (`[admin]`): `/metrics`, `/healthz`, `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address to listen on. Default `127.0.0.1:9090`.
    pub listen: SocketAddr,
    /// Bearer token required by the admin API (`/api/v1/...`). Health and metrics stay open.
    pub token: Option<Secret>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: loopback(9090),
            token: None,
        }
    }
}

/// Users and rights shared by every protocol (`[auth]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether clients without credentials are let in. Default: true when the gateway runs without a
    /// config file, false with one (as mosquitto 2 does).
    pub anonymous: Option<bool>,
    /// mosquitto-format password file (`user:$7$...` or `user:$6$...` lines, as `mosquitto_passwd`
    /// or `switchboard passwd` write them). Without it, user names are taken on trust when
    /// `anonymous` is on, and refused when it is off.
    pub password_file: Option<PathBuf>,
    /// mosquitto-format ACL file (`user`, `topic`, `pattern` lines). Without it every client may use
    /// every topic; with it, whatever it does not allow is denied.
    pub acl_file: Option<PathBuf>,
    /// JSON Web Tokens for browsers.
    pub jwt: Option<JwtConfig>,
    /// How long an authorisation decision is cached, in milliseconds; 0 turns the cache off.
    /// Reloading the files (SIGHUP) empties the cache. Default 60 000.
    pub cache_ttl_ms: u64,
    /// Most cached decisions; 0 turns the cache off. Default 100 000.
    pub cache_capacity: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            anonymous: None,
            password_file: None,
            acl_file: None,
            jwt: None,
            cache_ttl_ms: 60_000,
            cache_capacity: 100_000,
        }
    }
}

/// JWT verification (`[auth.jwt]`). A token must carry `exp` (60 s of leeway for clock skew), be
/// signed with `algorithm`, and name its user in `user_claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// Shared secret for HS256.
    pub secret: Option<Secret>,
    /// PEM public key file for RS256 or ES256.
    pub public_key_file: Option<PathBuf>,
    /// `HS256`, `RS256` or `ES256`. Default `HS256`.
    pub algorithm: String,
    /// Claim naming the user. Default `sub`.
    pub user_claim: String,
    /// Optional claim holding the topic filters the token grants (a list of strings, or one string
    /// of filters separated by spaces). A token carrying it may use only topics inside those filters,
    /// on top of the ACL; a token without it is limited by the ACL alone.
    pub topics_claim: Option<String>,
    /// Required audience: tokens must carry an `aud` naming it.
    pub audience: Option<String>,
    /// Required issuer: tokens must carry this `iss`.
    pub issuer: Option<String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            secret: None,
            public_key_file: None,
            algorithm: "HS256".to_owned(),
            user_claim: "sub".to_owned(),
            topics_claim: None,
            audience: None,
            issuer: None,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs and traces (`[telemetry]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// `tracing` filter directive, e.g. `info` or `info,switchboard_mqtt=debug`. Default `info`.
    pub log_level: String,
    /// `text` (default) or `json`.
    pub log_format: LogFormat,
    /// OTLP/HTTP endpoint (e.g. `http://127.0.0.1:4318`); traces are exported when set.
    pub otlp_endpoint: Option<String>,
    /// Service name reported with traces. Default `switchboard`.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            service_name: "switchboard".to_owned(),
        }
    }
}

/// Graceful shutdown (`[shutdown]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long connections may take to drain after SIGTERM before they are cut, in milliseconds.
    /// Default 10 000.
    pub grace_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { grace_ms: 10_000 }
    }
}

/// When the store forces writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Before every acknowledgement.
    #[default]
    Always,
    /// Every `fsync_interval_ms`.
    Interval,
    /// Left to the operating system.
    Never,
}

/// Durable state (`[storage]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory of the embedded store. Without it, state lives in memory only.
    pub path: Option<PathBuf>,
    /// `always` (default), `interval` or `never`.
    pub fsync: Fsync,
    /// Interval for `fsync = "interval"`, in milliseconds. Default 1 000.
    pub fsync_interval_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: None,
            fsync: Fsync::Always,
            fsync_interval_ms: 1_000,
        }
    }
}

/// Scale-out over NATS (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`. Clustering is on when set.
    pub nats_url: Option<String>,
    /// This node's id; generated at start when unset.
    pub node_id: Option<String>,
}
