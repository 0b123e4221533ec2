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
    /// How long a client may take to send a request's headers, in milliseconds (counted from
    /// the connection's start for its first request, then for each request's head); a client
    /// that takes longer is disconnected. Applies to the front, the redirect listener and the
    /// admin server. Default 10 000.
    pub header_read_timeout_ms: u64,
    /// Also serve the admin API under `/api/v1/` on the front (with the same `admin.token`;
    /// a non-loopback front without a token is a configuration error). Default false.
    pub api: bool,
    /// Path of the live dashboard page (topics, message log, publish form, `$SYS` statistics),
    /// served with its assets embedded in the binary; it talks to the gateway through the
    /// Engine.IO client, so it needs `engineio.enabled` and sees what its user may see.
    /// Default `/dashboard`; empty turns it off.
    pub dashboard: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: loopback(8080),
            tls_cert: None,
            tls_key: None,
            redirect_listen: None,
            max_connections: 50_000,
            header_read_timeout_ms: 10_000,
            api: false,
            dashboard: "/dashboard".to_owned(),
        }
    }
}

/// The admin server (`[admin]`): `/metrics`, `/healthz`, `/readyz` and the admin API
/// (`/api/v1/...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address to listen on. Default `127.0.0.1:9090`.
    pub listen: SocketAddr,
    /// Bearer token required by the admin API (`/api/v1/...`). Health and metrics stay open.
    /// Without it the API answers only on a loopback listener.
    pub token: Option<Secret>,
    /// Whether the admin port serves the API. Unset (default): served, and without `token` on a
    /// non-loopback `listen` every API request is refused (401). `true`: served, and a
    /// non-loopback `listen` without `token` is a configuration error. `false`: not served.
    pub api: Option<bool>,
    /// Live messages kept for `GET /api/v1/stream` resumption (`Last-Event-ID`). Default 1 024.
    pub stream_ring: usize,
    /// Messages queued for one slow stream consumer before they are dropped (and counted).
    /// Default 256.
    pub stream_queue: usize,
    /// Most simultaneous streams. Default 1 024.
    pub max_streams: usize,
    /// How long a stream's filter keeps being recorded after its last stream closed, so that a
    /// reconnecting consumer resumes without a gap, in milliseconds. Default 60 000.
    pub stream_resume_ms: u64,
    /// Longest wait `POST /api/v1/request` allows (`timeout_ms` is capped to it), in
    /// milliseconds. Default 30 000.
    pub max_request_timeout_ms: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: loopback(9090),
            token: None,
            api: None,
            stream_ring: 1024,
            stream_queue: 256,
            max_streams: 1024,
            stream_resume_ms: 60_000,
            max_request_timeout_ms: 30_000,
        }
    }
}

impl AdminConfig {
    /// The token, when set and not blank.
    pub fn token(&self) -> Option<&str> {
        self.token
            .as_ref()
            .map(Secret::expose)
            .filter(|t| !t.trim().is_empty())
    }

    /// Problems of this section, as `(key, what to change)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, value) in [
            ("stream_ring", self.stream_ring as u64),
            ("stream_queue", self.stream_queue as u64),
            ("max_streams", self.max_streams as u64),
            ("max_request_timeout_ms", self.max_request_timeout_ms),
        ] {
            if value == 0 {
                out.push((format!("admin.{key}"), "must be at least 1".to_owned()));
            }
        }
        if self.token.is_some() && self.token().is_none() {
            out.push((
                "admin.token".to_owned(),
                "must not be blank; remove the key to go without a token".to_owned(),
            ));
        }
        out
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

/// When the store forces writes to disk (`storage.fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Each batch is fsync'd before the acknowledgements of what it holds are sent: nothing
    /// acknowledged is lost, even on power loss.
    #[default]
    Always,
    /// Batches are committed without fsync and acknowledged at once; a commit with fsync every
    /// `fsync_interval_ms` makes them durable. A crash loses at most the last interval.
    Interval,
    /// Batches reach the operating system before their acknowledgements and are never fsync'd:
    /// nothing acknowledged is lost when the process crashes; a machine crash may lose the store.
    Never,
}

/// Durable state (`[storage]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory of the embedded store (created when missing; it must be writable). Without it,
    /// retained messages, persistent MQTT sessions and the node id live in memory only.
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

/// Where the cluster keeps retained messages in JetStream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RetainedStorage {
    /// On the NATS server's disk (survives a NATS restart).
    #[default]
    File,
    /// In the NATS server's memory.
    Memory,
}

/// Scale-out over NATS (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS server URL(s), comma-separated, e.g. `nats://127.0.0.1:4222` (`tls://` for TLS).
    /// Clustering is on when set.
    pub nats_url: Option<String>,
    /// This node's id (letters, digits, `-`, `_`; at most 64): in reply topics, subjects and
    /// Engine.IO session ids. Generated at start when unset; set it (e.g. to the pod name) so a
    /// node keeps it across restarts.
    pub node_id: Option<String>,
    /// First token of every subject the gateway uses, so several gateway clusters can share one
    /// NATS account. Default `switchboard`.
    pub subject_prefix: String,
    /// NATS user (with `password`).
    pub user: Option<String>,
    /// NATS password.
    pub password: Option<Secret>,
    /// NATS token.
    pub token: Option<Secret>,
    /// NATS credentials file (JWT and NKey seed, `.creds`).
    pub creds_file: Option<PathBuf>,
    /// PEM file of the CA that signed the NATS server certificate; TLS is required when set.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS servers that verify clients, with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Require TLS even without `tls_ca` (the system roots are used). Default false.
    pub tls_required: bool,
    /// How long start-up waits for NATS (and the retained store) before serving degraded, in
    /// milliseconds. Default 5 000.
    pub connect_timeout_ms: u64,
    /// Messages kept for other nodes while NATS is unreachable, sent once it is back. Default
    /// 10 000; beyond it (or `outbound_buffer_bytes`) new messages are dropped and counted.
    pub outbound_buffer_messages: usize,
    /// Bytes kept for other nodes while NATS is unreachable. Default 16 MiB.
    pub outbound_buffer_bytes: usize,
    /// After a reconnection, how long to wait for the other nodes known before to be back (their
    /// subscriptions restored) before sending what was kept, in milliseconds. Default 5 000.
    pub resume_wait_ms: u64,
    /// Time a polling request forwarded to the node owning its Engine.IO session may take, in
    /// milliseconds (longer than `engineio.ping_interval_ms`). Default 60 000.
    pub forward_timeout_ms: u64,
    /// Share retained messages through a JetStream stream (the NATS server needs JetStream).
    /// Default true.
    pub retained: bool,
    /// `file` (default) or `memory`.
    pub retained_storage: RetainedStorage,
    /// Replicas of the retained stream in a NATS cluster. Default 1.
    pub retained_replicas: usize,
    /// Upper bound of the retained stream's size in bytes. Default 1 GiB.
    pub retained_max_bytes: i64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_url: None,
            node_id: None,
            subject_prefix: "switchboard".to_owned(),
            user: None,
            password: None,
            token: None,
            creds_file: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_required: false,
            connect_timeout_ms: 5_000,
            outbound_buffer_messages: 10_000,
            outbound_buffer_bytes: 16 << 20,
            resume_wait_ms: 5_000,
            forward_timeout_ms: 60_000,
            retained: true,
            retained_storage: RetainedStorage::File,
            retained_replicas: 1,
            retained_max_bytes: 1 << 30,
        }
    }
}

fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ClusterConfig {
    /// The NATS URLs when clustering is on (`nats_url` set and not blank; a blank value, as an
    /// empty environment variable gives, leaves it off).
    pub fn nats_url(&self) -> Option<&str> {
        self.nats_url.as_deref().filter(|u| !u.trim().is_empty())
    }

    /// Problems of this section, as `(key, what to change)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |key: &str, what: &str| out.push((format!("cluster.{key}"), what.to_owned()));
        if let Some(url) = self.nats_url() {
            let ok = url.split(',').all(|u| {
                let u = u.trim();
                let rest = ["nats://", "tls://"]
                    .iter()
                    .find_map(|s| u.strip_prefix(s))
                    .unwrap_or(u);
                !rest.is_empty() && !rest.contains(char::is_whitespace)
            });
            if !ok {
                bad(
                    "nats_url",
                    "must be NATS server URLs such as `nats://127.0.0.1:4222`, comma-separated",
                );
            }
        }
        if let Some(id) = &self.node_id
            && !is_token(id, 64)
        {
            bad(
                "node_id",
                "must be 1 to 64 letters, digits, `-` or `_` (e.g. the pod name)",
            );
        }
        if !is_token(&self.subject_prefix, 64) {
            bad(
                "subject_prefix",
                "must be 1 to 64 letters, digits, `-` or `_` (one NATS subject token)",
            );
        }
        if self.password.is_some() != self.user.is_some() {
            bad("user", "`user` and `password` go together");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bad("tls_cert", "`tls_cert` and `tls_key` go together");
        }
        if self.outbound_buffer_messages == 0 || self.outbound_buffer_bytes == 0 {
            bad(
                "outbound_buffer_messages",
                "the outbound buffer needs room for at least one message",
            );
        }
        if self.connect_timeout_ms == 0 || self.forward_timeout_ms == 0 {
            bad(
                "forward_timeout_ms",
                "timeouts must be above zero (connect_timeout_ms, forward_timeout_ms)",
            );
        }
        if self.retained_replicas == 0 || self.retained_replicas > 5 {
            bad("retained_replicas", "must be 1 to 5 (JetStream's limit)");
        }
        if self.retained_max_bytes <= 0 {
            bad("retained_max_bytes", "must be above zero");
        }
        out
    }
}
