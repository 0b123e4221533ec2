//! The one error type of the generator and the suite.

use std::io;

/// What can go wrong while driving a server or running the suite.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A server answered something the generator did not expect.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A server or tool could not be started, or did not become ready.
    #[error("{name}: {message}")]
    Start {
        /// The server.
        name: String,
        /// Why.
        message: String,
    },
    /// Nothing was measured (e.g. no message arrived inside the window).
    #[error("nothing measured: {0}")]
    Empty(String),
}

/// `Result` with [`BenchError`].
pub type Result<T> = std::result::Result<T, BenchError>;

/// Adds context to I/O results.
pub trait Context<T> {
    /// Wraps the error with `what`.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| BenchError::Io {
            context: what(),
            source,
        })
    }
}
