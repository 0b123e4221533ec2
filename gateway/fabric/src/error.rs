//! Errors of the fabric layer.

use std::time::Duration;

/// Why a topic name or filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The name is empty.
    #[error("topic is empty")]
    Empty,
    /// The name is longer than 65 535 bytes.
    #[error("topic is {0} bytes long; at most 65535 are allowed")]
    TooLong(usize),
    /// The name has more levels than allowed.
    #[error("topic has {0} levels; at most {max} are allowed", max = crate::topic::MAX_TOPIC_LEVELS)]
    TooDeep(usize),
    /// The name contains a NUL character.
    #[error("topic contains a NUL character")]
    Nul,
    /// A topic to publish to contains `+` or `#`.
    #[error("a topic to publish to may not contain '+' or '#'")]
    WildcardInTopic,
    /// `#` is not alone in the last level.
    #[error("'#' must be the whole last level of a filter")]
    MisplacedMultiLevelWildcard,
    /// `+` is not alone in its level.
    #[error("'+' must be a whole level of a filter")]
    MisplacedSingleLevelWildcard,
}

/// Why a request did not get a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Nobody subscribes to the request's topic.
    #[error("no subscriber answers on this topic")]
    NoResponders,
    /// No reply arrived in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// Too many requests are waiting for replies already.
    #[error("too many requests are waiting for replies")]
    Overloaded,
    /// The fabric is shutting down.
    #[error("the gateway is shutting down")]
    Closed,
}

/// Why a subscriber's queue stopped delivering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Closed {
    /// The queue overflowed and the subscriber's policy is `disconnect`.
    #[error("the subscriber could not keep up and was disconnected (queue full)")]
    SlowConsumer,
    /// The subscriber was closed deliberately (an administrator, a session takeover, shutdown).
    #[error("the subscriber was closed")]
    Closed,
}

/// Errors from setting up the fabric.
#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    /// Registering a metric failed (a name registered twice in one registry).
    #[error("registering fabric metrics failed: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The configuration is invalid.
    #[error("invalid fabric configuration: {0}")]
    Config(String),
}
