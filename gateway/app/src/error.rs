//! Errors of the application layer, each mapped to an exit code in one place.

use std::net::SocketAddr;

use switchboard_config::ConfigError;

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for a runtime failure (a port in use, an unreadable certificate...).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for invalid configuration or usage (`EX_USAGE` of sysexits.h).
pub const EXIT_USAGE: u8 = 64;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error("invalid configuration:\n{}", list(.0))]
    Config(Vec<ConfigError>),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} (`{key}`): {source}; {hint}")]
    Bind {
        /// The config key that sets the address.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The system error.
        source: std::io::Error,
        /// What to change.
        hint: &'static str,
    },
    /// A TLS certificate or key could not be loaded.
    #[error("TLS setup for `{key}` failed: {message}")]
    Tls {
        /// The config key naming the file.
        key: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Telemetry could not be set up.
    #[error("telemetry setup failed: {0}")]
    Telemetry(String),
    /// Metrics registration failed (a programming error: a metric registered twice).
    #[error("metrics setup failed: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The fabric could not be created.
    #[error(transparent)]
    Fabric(#[from] switchboard_fabric::FabricError),
    /// A component failed while running.
    #[error("{component} failed: {message}")]
    Component {
        /// Which component.
        component: &'static str,
        /// What went wrong.
        message: String,
    },
}

fn list(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}
