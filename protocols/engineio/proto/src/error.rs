//! [`Error`]: everything that can go wrong while decoding Engine.IO input
//! (packets, payloads, session ids, handshake JSON).

use crate::packet::PacketType;

/// A codec error. Every variant but [`Error::TooLarge`] means "malformed";
/// [`Error::is_too_large`] and [`Error::http_status`] tell the two apart the
/// way engine.io does (HTTP 413 for an oversized POST body, a transport/parse
/// error otherwise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is larger than the configured maximum
    /// (engine.io's `maxHttpBufferSize`).
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Size of the rejected input in bytes.
        len: usize,
        /// The configured maximum in bytes.
        max: usize,
    },
    /// A packet without even a type character.
    #[error("empty packet")]
    EmptyPacket,
    /// An empty polling payload where the protocol requires at least one packet.
    #[error("empty payload")]
    EmptyPayload,
    /// The type byte is not one of `0`..`6` (or `b` for base64 binary).
    #[error("unknown packet type byte 0x{0:02x}")]
    UnknownPacketType(u8),
    /// Binary data on a packet type other than `message`.
    #[error("binary data on a {0:?} packet (only messages can be binary)")]
    BinaryNonMessage(PacketType),
    /// Broken base64 in a `b`-prefixed binary packet.
    #[error("invalid base64 in a binary packet")]
    InvalidBase64,
    /// Text that is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// A v3 payload length prefix that is missing, not decimal, too long,
    /// or splits a character.
    #[error("invalid length prefix in a v3 payload")]
    InvalidLength,
    /// A v3 payload that ends before the length its prefix announced.
    #[error("v3 payload truncated: a packet is shorter than its length prefix")]
    Truncated,
    /// A v3 binary payload record whose first byte is neither 0 (string) nor 1 (binary).
    #[error("invalid v3 binary payload record marker 0x{0:02x}")]
    InvalidRecordMarker(u8),
    /// An `application/octet-stream` polling body in protocol v4, which has
    /// no binary payload form (engine.io closes with "invalid content").
    #[error("binary polling payloads are not part of protocol v4")]
    BinaryPayloadInV4,
    /// A malformed session id string.
    #[error("malformed session id")]
    InvalidSid,
    /// Handshake JSON that could not be produced or parsed.
    #[error("handshake JSON: {0}")]
    Json(String),
}

impl Error {
    /// Whether this is the "too large" outcome rather than malformed input.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Error::TooLarge { .. })
    }

    /// The HTTP status a polling POST answered with this error gets:
    /// 413 for [`Error::TooLarge`] (as engine.io), 400 for malformed input.
    pub fn http_status(&self) -> u16 {
        if self.is_too_large() { 413 } else { 400 }
    }
}

/// Rejects an input of `len` bytes when it exceeds `max` (engine.io closes when
/// the body is strictly larger than `maxHttpBufferSize`). Call it with the
/// `Content-Length` header before buffering a body, and again on the buffer.
pub fn check_size(len: usize, max: usize) -> Result<(), Error> {
    if len > max {
        Err(Error::TooLarge { len, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_is_distinct_from_malformed() {
        let big = Error::TooLarge { len: 11, max: 10 };
        assert!(big.is_too_large());
        assert_eq!(big.http_status(), 413);
        assert!(!Error::InvalidBase64.is_too_large());
        assert_eq!(Error::InvalidBase64.http_status(), 400);
        assert_eq!(check_size(10, 10), Ok(()));
        assert_eq!(check_size(11, 10), Err(big));
    }
}
