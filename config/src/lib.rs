//! Configuration of switchboard: the schema, its layering and its validation.
//!
//! Values come, from lowest to highest precedence, from the embedded defaults, a TOML file
//! (`--config FILE`), environment variables `SWITCHBOARD_<SECTION>__<KEY>` and command-line
//! overrides. Each component owns its section's struct (the protocol crates own theirs); this crate
//! composes them, rejects unknown keys, and checks what spans sections (port clashes, TLS files,
//! limits) before any port is bound.
//!
//! # Layout
//! - [`Config`]: the whole schema (this file).
//! - [`sections`]: the sections owned by the application (`http`, `admin`, `auth`, `telemetry`,
//!   `shutdown`, `storage`, `cluster`).
//! - [`load`](mod@load): layering with figment and the [`ConfigError`] that names key and source.
//! - [`validate`](mod@validate): cross-section validation.
//! - [`secret`]: [`Secret`], a string that prints as `<redacted>`.

pub mod load;
pub mod secret;
pub mod sections;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use load::{ConfigError, Sources, load};
pub use secret::Secret;
pub use sections::{
    AdminConfig, AuthConfig, ClusterConfig, Fsync, HttpConfig, JwtConfig, LogFormat,
    RetainedStorage, ShutdownConfig, StorageConfig, TelemetryConfig,
};
pub use switchboard_engineio::EngineIoConfig;
pub use switchboard_fabric::FabricConfig;
pub use switchboard_ipc::IpcConfig;
pub use switchboard_mqtt::MqttConfig;
pub use switchboard_proxy::ProxyConfig;
pub use switchboard_socketio::SocketIoConfig;
pub use validate::validate;

/// The whole configuration of one gateway process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The public HTTP front.
    pub http: HttpConfig,
    /// The admin server.
    pub admin: AdminConfig,
    /// The pub/sub fabric.
    pub fabric: FabricConfig,
    /// The Engine.IO server.
    pub engineio: EngineIoConfig,
    /// The Socket.IO server (on Engine.IO, with the `engineio` options underneath).
    pub socketio: SocketIoConfig,
    /// The MQTT broker.
    pub mqtt: MqttConfig,
    /// The IPC-bus broker.
    pub ipc: IpcConfig,
    /// Reverse-proxy routes of the front.
    pub proxy: ProxyConfig,
    /// Users and rights.
    pub auth: AuthConfig,
    /// Durable state.
    pub storage: StorageConfig,
    /// Scale-out.
    pub cluster: ClusterConfig,
    /// Logs and traces.
    pub telemetry: TelemetryConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
}

impl Config {
    /// Whether anonymous clients are let in, once the file-dependent default is applied.
    pub fn anonymous_allowed(&self) -> bool {
        self.auth.anonymous.unwrap_or(true)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# the configuration could not be printed: {e}\n"))
    }
}
