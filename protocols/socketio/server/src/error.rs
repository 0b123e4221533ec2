//! [`Error`]: why the Socket.IO server could not be set up. Protocol errors are answered on
//! the wire (`CONNECT_ERROR`, error acknowledgements) or close the connection.

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid (the first problem, `key: what`).
    #[error("invalid socketio configuration: {0}")]
    Config(String),
    /// Registering a metric failed (a name registered twice in one registry).
    #[error("registering socketio metrics failed: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The Engine.IO engine underneath could not be built.
    #[error("the Engine.IO layer of Socket.IO: {0}")]
    Engine(#[from] switchboard_engineio::Error),
}
