//! The WebSocket protocol itself (RFC 6455) and its permessage-deflate extension (RFC 7692),
//! server side, sans-IO: the Engine.IO server reads bytes from its connection into whatever
//! buffer it likes, hands them to a [`Decoder`], and writes the frames [`encode_frame_header`]
//! and [`encode_close`] produce.
//!
//! The codec keeps no buffer of its own while a connection is idle: a [`Decoder`] only holds
//! the bytes of a frame that has not arrived whole (sized to that frame) and of a fragmented
//! message, and releases them once the frame or message is complete.
//!
//! # Layout
//! - `frame`: [`OpCode`], frame headers ([`FrameHeader`], [`parse_frame_header`],
//!   [`encode_frame_header`]), masking ([`apply_mask`]) and close frames ([`encode_close`],
//!   [`close_code_is_valid`]).
//! - `decoder`: [`Decoder`], which turns client bytes into [`Incoming`] messages and control
//!   frames (fragments assembled, every rule of RFC 6455 §5 checked).
//! - `handshake`: [`accept_key`], [`key_is_valid`] and the permessage-deflate negotiation
//!   ([`negotiate_deflate`], [`Deflate`]).
//! - `deflate`: [`compress_message`] and [`decompress_message`] (no context takeover).

mod decoder;
mod deflate;
mod frame;
mod handshake;

pub use decoder::{Decoder, Incoming};
pub use deflate::{compress_message, decompress_message};
pub use frame::{
    FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask, close_code_is_valid, encode_close,
    encode_frame_header, parse_frame_header,
};
pub use handshake::{Deflate, accept_key, key_is_valid, negotiate_deflate};

/// Why a WebSocket connection must end. [`WsError::close_code`] is the status code of the
/// close frame to send (RFC 6455 §7.4.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A frame breaks a rule of RFC 6455 §5 (reserved bits, opcodes, masking, fragmentation,
    /// control frame size, close payload).
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A message (or frame) is larger than the configured maximum.
    #[error("WebSocket message of at least {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Size of the message so far (or as announced), in bytes.
        len: u64,
        /// The configured maximum in bytes.
        max: usize,
    },
    /// A close frame's reason is not UTF-8.
    #[error("WebSocket close reason is not valid UTF-8")]
    InvalidUtf8,
    /// A compressed message cannot be inflated.
    #[error("invalid permessage-deflate data: {0}")]
    Compression(String),
}

impl WsError {
    /// The close status code this error ends the connection with: 1002 (protocol error),
    /// 1009 (message too big) or 1007 (invalid payload data).
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => 1002,
            WsError::TooLarge { .. } => 1009,
            WsError::InvalidUtf8 | WsError::Compression(_) => 1007,
        }
    }
}
