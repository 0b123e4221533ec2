//! The `[mqtt]` configuration section.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Settings of the MQTT broker (`[mqtt]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Whether the broker runs at all. Default true.
    pub enabled: bool,
    /// Plain TCP listener. Default `127.0.0.1:1883`.
    pub listen: SocketAddr,
    /// TLS listener (needs `cert` and `key`), e.g. `0.0.0.0:8883`.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for `tls_listen`.
    pub cert: Option<PathBuf>,
    /// PEM private key for `tls_listen`.
    pub key: Option<PathBuf>,
    /// PEM CA bundle; when set, TLS clients must present a certificate signed by it.
    pub client_ca: Option<PathBuf>,
    /// Use the client certificate's common name as the user name.
    pub use_identity_as_username: bool,
    /// Path of MQTT over WebSocket on the HTTP front; empty turns it off. Default `/mqtt`.
    pub ws_path: String,
    /// Most simultaneous connections per listener. Default 100 000.
    pub max_connections: usize,
    /// Largest packet accepted, in bytes. Default 1 MiB.
    pub max_packet_size: u32,
    /// QoS 1/2 messages in flight to one client at once. Default 20.
    pub max_inflight: u16,
    /// Messages queued per slow or offline session beyond those in flight. Default 1 000.
    pub max_queued_messages: usize,
    /// Largest keep-alive a client may ask for, in seconds (v5 clients are told; v3 clients asking
    /// more are refused). Default 65 535.
    pub max_keepalive: u16,
    /// Topic prefix added to everything this broker publishes into the fabric and removed on the
    /// way out. Default empty.
    pub mount: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            tls_listen: None,
            cert: None,
            key: None,
            client_ca: None,
            use_identity_as_username: false,
            ws_path: "/mqtt".to_owned(),
            max_connections: 100_000,
            max_packet_size: 1024 * 1024,
            max_inflight: 20,
            max_queued_messages: 1000,
            max_keepalive: 65_535,
            mount: String::new(),
        }
    }
}

impl MqttConfig {
    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut need = |ok: bool, key: &str, what: &str| {
            if !ok {
                out.push((format!("mqtt.{key}"), what.to_owned()));
            }
        };
        need(
            self.max_connections > 0,
            "max_connections",
            "must be at least 1",
        );
        need(
            self.max_packet_size >= 16,
            "max_packet_size",
            "must be at least 16 bytes",
        );
        need(self.max_inflight > 0, "max_inflight", "must be at least 1");
        need(
            self.max_queued_messages > 0,
            "max_queued_messages",
            "must be at least 1",
        );
        need(
            self.tls_listen.is_none() || (self.cert.is_some() && self.key.is_some()),
            "tls_listen",
            "needs mqtt.cert and mqtt.key",
        );
        need(
            self.ws_path.is_empty() || self.ws_path.starts_with('/'),
            "ws_path",
            "must start with '/' (or be empty to turn MQTT over WebSocket off)",
        );
        out
    }
}
