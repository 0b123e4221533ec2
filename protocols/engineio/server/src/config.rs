//! The `[engineio]` configuration section.

use serde::{Deserialize, Serialize};

/// Settings of the Engine.IO server (`[engineio]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineIoConfig {
    /// Whether Engine.IO is served at all. Default true.
    pub enabled: bool,
    /// Path on the HTTP front. Default `/engine.io/`.
    pub path: String,
    /// Interval between server pings, in milliseconds. Default 25 000.
    pub ping_interval_ms: u64,
    /// How long to wait for a pong, in milliseconds. Default 20 000.
    pub ping_timeout_ms: u64,
    /// How long an upgrade may take, in milliseconds. Default 10 000.
    pub upgrade_timeout_ms: u64,
    /// Largest message or polling payload accepted, in bytes. Default 1 000 000.
    pub max_http_buffer_size: usize,
    /// Accept Engine.IO protocol v3 clients. Default false.
    pub allow_eio3: bool,
    /// Allow upgrades from polling to WebSocket. Default true.
    pub allow_upgrades: bool,
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
            allow_eio3: false,
            allow_upgrades: true,
            mount: String::new(),
        }
    }
}

impl EngineIoConfig {
    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.path.starts_with('/') {
            out.push(("engineio.path".to_owned(), "must start with '/'".to_owned()));
        }
        for (key, v) in [
            ("ping_interval_ms", self.ping_interval_ms),
            ("ping_timeout_ms", self.ping_timeout_ms),
            ("upgrade_timeout_ms", self.upgrade_timeout_ms),
            ("max_http_buffer_size", self.max_http_buffer_size as u64),
        ] {
            if v == 0 {
                out.push((format!("engineio.{key}"), "must be at least 1".to_owned()));
            }
        }
        out
    }
}
