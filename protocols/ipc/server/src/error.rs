//! Errors of the IPC broker.

use switchboard_ipc_proto::{CommandError, PacketError};

use crate::metrics::reason;
use crate::router::LimitExceeded;

/// Why the IPC service could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// The settings are invalid.
    #[error("invalid [ipc] setting `{key}`: {what}")]
    Config {
        /// The offending key.
        key: String,
        /// What to change.
        what: String,
    },
    /// The metrics could not be registered (a name registered twice).
    #[error("IPC metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A socket could not be set up.
    #[error("IPC socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Why the broker closed a connection.
#[derive(Debug, thiserror::Error)]
pub enum CloseReason {
    /// The client ended the connection.
    #[error("closed by the client")]
    ClientClosed,
    /// The gateway is shutting down.
    #[error("gateway shutting down")]
    Shutdown,
    /// An operator disconnected the client (admin API).
    #[error("disconnected by an administrator")]
    Kicked,
    /// No handshake in time.
    #[error("no handshake within the handshake timeout")]
    HandshakeTimeout,
    /// The output queue overflowed (`disconnect` policy).
    #[error("slow consumer: output queue full")]
    SlowConsumer,
    /// Writing to the connection failed (the peer reset it, or the flush timed out).
    #[error("write failed")]
    WriteFailed,
    /// The stream or a packet broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] PacketError),
    /// A limit was exceeded.
    #[error("{0}")]
    Limit(#[from] LimitExceeded),
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

impl CloseReason {
    /// The reason label counted in `switchboard_disconnects_total{protocol="ipc"}`, and for
    /// errors also in `switchboard_ipc_dropped_total`.
    pub fn label(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => reason::CLIENT_CLOSED,
            CloseReason::Shutdown => reason::SHUTDOWN,
            CloseReason::Kicked => reason::ADMIN_KICK,
            CloseReason::HandshakeTimeout => reason::HANDSHAKE_TIMEOUT,
            CloseReason::SlowConsumer => reason::SLOW_CONSUMER,
            CloseReason::WriteFailed => reason::IO_ERROR,
            CloseReason::Limit(_) => reason::LIMIT,
            CloseReason::Io(_) => reason::IO_ERROR,
            CloseReason::Protocol(e) => match e {
                PacketError::Frame(switchboard_ipc_proto::FrameError::TooLarge { .. }) => {
                    reason::FRAME_TOO_LARGE
                }
                PacketError::Frame(_) => reason::BAD_FRAME,
                PacketError::Command(CommandError::UnknownKind(_)) => reason::UNKNOWN_COMMAND,
                PacketError::Command(CommandError::PreV16Peer) => reason::PRE_V16,
                _ => reason::BAD_PACKET,
            },
        }
    }

    /// Whether the close is the client's misbehaviour (counted as a drop).
    pub fn is_violation(&self) -> bool {
        matches!(
            self,
            CloseReason::Protocol(_) | CloseReason::Limit(_) | CloseReason::HandshakeTimeout
        )
    }
}
