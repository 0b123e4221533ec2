//! [`Error`]: why a Socket.IO message could not be decoded or reassembled. Each variant is a
//! protocol violation after which `socket.io` closes the connection.

use crate::packet::PacketType;

/// A decoding or reassembly error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An empty message: not even a packet type.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type `0`..`6`.
    #[error("unknown packet type 0x{0:02x}")]
    UnknownType(u8),
    /// A binary packet without a valid `<count>-` prefix (the count must be at least 1).
    #[error("illegal attachments")]
    IllegalAttachments,
    /// A binary packet announcing more attachments than allowed.
    #[error("too many attachments: {count} (at most {max})")]
    TooManyAttachments {
        /// Attachments announced.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// The acknowledgement id does not fit in 64 bits.
    #[error("invalid acknowledgement id")]
    InvalidId,
    /// The payload is not valid JSON, or not the shape this packet type requires (an object
    /// for `CONNECT`, none for `DISCONNECT`, an array starting with a non-reserved event name
    /// for `EVENT`, an array for `ACK`, a string or object for `CONNECT_ERROR`).
    #[error("invalid payload for a {0:?} packet")]
    InvalidPayload(PacketType),
    /// A text message arrived while the attachments of a binary packet were still expected.
    #[error("got plaintext data when reconstructing a packet")]
    TextWhileReassembling,
    /// A binary message arrived that no binary packet announced.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
}
