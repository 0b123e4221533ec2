//! Errors of the auth layer: [`LoadError`] when a file cannot be used (start-up, `check-config`,
//! reload) and [`PasswdError`] when `switchboard passwd` cannot edit a password file.

use std::path::PathBuf;

/// Why the password file, the ACL file or the JWT key could not be loaded.
///
/// Every variant names the file, and the line when one line is at fault, so that an operator can fix
/// it without guessing. Loading never panics, whatever the file holds.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The config key naming the file (`auth.password_file`, ...).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
    /// One line of the file is malformed.
    #[error("{}, line {line}: {message}", path.display())]
    Line {
        /// The config key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The JWT settings or key cannot be used.
    #[error("{message}")]
    Jwt {
        /// The config key at fault (`auth.jwt.public_key_file`, ...).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The metrics could not be registered (a metric registered twice: a programming error).
    #[error("auth metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl LoadError {
    /// The configuration key whose value is at fault (for `check-config`-style reports).
    pub fn key(&self) -> &'static str {
        match self {
            LoadError::Io { key, .. }
            | LoadError::Line { key, .. }
            | LoadError::Jwt { key, .. } => key,
            LoadError::Metrics(_) => "auth",
        }
    }

    /// The error as a configuration problem naming its key (what `check-config` and start-up print).
    pub fn to_config_error(&self) -> switchboard_config::ConfigError {
        switchboard_config::ConfigError::key(self.key(), self.to_string())
    }
}

/// Why `switchboard passwd` could not change a password file.
#[derive(Debug, thiserror::Error)]
pub enum PasswdError {
    /// The user name cannot be stored in a mosquitto password file.
    #[error("invalid user name: {0}")]
    InvalidUsername(&'static str),
    /// The password cannot be used.
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
    /// The iteration count is out of range.
    #[error("the number of iterations must be between 1 and {max}", max = u32::MAX)]
    InvalidIterations,
    /// The user to delete is not in the file.
    #[error("user {0} not found in password file")]
    UserNotFound(String),
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system error.
        source: std::io::Error,
    },
}
