//! Errors of the cluster link.

/// Why the cluster link could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A setting is missing or contradictory.
    #[error("cluster configuration: {0}")]
    Config(&'static str),
    /// The credentials file could not be read.
    #[error("cluster.creds_file: {0}")]
    Credentials(String),
    /// The NATS client refused to start (bad URL, TLS files).
    #[error("NATS: {0}")]
    Connect(String),
    /// Metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}
