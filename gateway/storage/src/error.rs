//! Errors of the storage layer.

use std::path::PathBuf;

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory could not be created or is not writable.
    #[error("{path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Another process has the store open.
    #[error("{path} is already open in another process (one gateway per storage.path)")]
    AlreadyOpen {
        /// The database file.
        path: PathBuf,
    },
    /// The database could not be opened.
    #[error("cannot open {path}: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        message: String,
    },
    /// A transaction failed.
    #[error("storage: {0}")]
    Database(String),
    /// A metric could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl StoreError {
    pub(crate) fn db(e: impl std::fmt::Display) -> Self {
        StoreError::Database(e.to_string())
    }
}
