//! [`CliError`]: everything that can stop `switchboard pub` or `switchboard sub`, and the exit
//! code each one maps to.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure: protocol error, connection lost (without reconnection), I/O |
//! | 2 | the gateway is unreachable: name resolution, TCP, TLS or WebSocket handshake failed, or the connect timed out |
//! | 3 | the credentials were refused (MQTT CONNACK, Engine.IO handshake or `auth`, IPC connection closed at once) |
//! | 4 | a topic was denied: subscribe refused, or a publish refused (MQTT 5 at QoS 1/2, Engine.IO) |
//! | 5 | timeout: `-W` expired, or an acknowledgement did not come in time |
//! | 64 | usage: bad option, URL, topic, or an option the chosen protocol does not support |

use std::process::ExitCode;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Any failure without a more specific code.
pub const EXIT_FAILURE: u8 = 1;
/// The gateway could not be reached.
pub const EXIT_UNREACHABLE: u8 = 2;
/// The gateway refused the credentials.
pub const EXIT_REFUSED: u8 = 3;
/// The gateway denied a topic.
pub const EXIT_DENIED: u8 = 4;
/// A time limit expired.
pub const EXIT_TIMEOUT: u8 = 5;
/// Invalid usage.
pub const EXIT_USAGE: u8 = 64;

/// Why a command failed; [`CliError::exit_code`] maps it to the process exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Invalid options, URL or topic.
    #[error("{0}")]
    Usage(String),
    /// A file or stdin could not be read.
    #[error("cannot read {what}: {source}")]
    Input {
        /// What was being read.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS options could not be turned into a client configuration.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The gateway could not be reached.
    #[error("cannot reach {target}: {reason}")]
    Unreachable {
        /// The endpoint (password redacted).
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// The gateway refused the credentials.
    #[error("{target} refused the connection: {reason}")]
    Refused {
        /// The endpoint (password redacted).
        target: String,
        /// What the gateway said.
        reason: String,
    },
    /// The gateway denied an action on a topic.
    #[error("{action} on `{topic}` denied: {reason}")]
    Denied {
        /// `subscribe` or `publish`.
        action: &'static str,
        /// The topic or filter.
        topic: String,
        /// What the gateway said.
        reason: String,
    },
    /// A time limit expired.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection ended while the command still needed it.
    #[error("connection lost: {0}")]
    Lost(String),
    /// The gateway answered something unexpected.
    #[error("{0}")]
    Protocol(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}

impl CliError {
    /// The process exit code (see the module table).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
            CliError::Refused { .. } => EXIT_REFUSED,
            CliError::Denied { .. } => EXIT_DENIED,
            CliError::Timeout(_) => EXIT_TIMEOUT,
            CliError::Input { .. }
            | CliError::Tls(_)
            | CliError::Lost(_)
            | CliError::Protocol(_)
            | CliError::Output(_) => EXIT_FAILURE,
        }
    }

    /// The exit code as an [`ExitCode`].
    pub fn to_exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }

    /// Whether a subscriber should reconnect after this error (the network went away, as
    /// opposed to a refusal or a usage problem).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CliError::Unreachable { .. } | CliError::Lost(_) | CliError::Timeout(_)
        )
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }
}

/// The help text's exit-code section (shared by `pub` and `sub`).
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0   success
  1   other failure (protocol error, connection lost, I/O)
  2   gateway unreachable (DNS, TCP, TLS or WebSocket handshake failed, connect timed out)
  3   credentials refused
  4   topic denied (subscribe; publish with MQTT 5 at QoS 1/2 and over eio://)
  5   timeout (-W expired, or an acknowledgement did not arrive)
  64  usage (bad option, URL or topic, or an option the protocol does not support)";
