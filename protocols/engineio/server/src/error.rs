//! Errors of the Engine.IO server layer: [`Error`] (setting the engine up) and [`SendError`]
//! (queueing a packet for a session). Request errors are answered on the wire (see `http`).

/// Why a packet could not be queued for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The send buffer is full and the policy is `drop_new`: the packet was dropped (and counted).
    #[error("the session's send buffer is full")]
    Full,
    /// The session is closed (or closing).
    #[error("the session is closed")]
    Closed,
}

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid (the first problem, `key: what`).
    #[error("invalid engineio configuration: {0}")]
    Config(String),
    /// Registering a metric failed (a name registered twice in one registry).
    #[error("registering engineio metrics failed: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A raw-mode topic template renders to an invalid topic.
    #[error("invalid topic template: {0}")]
    Template(String),
}
