//! Sans-IO codec for the Engine.IO protocol, revisions 4 and 3, with the
//! behaviour of the reference `engine.io-parser` (5.x for v4, 2.x for v3)
//! and the Node `engine.io` server.
//!
//! No sockets, no runtime, no clock: the crate turns request bodies and
//! WebSocket messages into [`Packet`]s and back, builds the handshake, mints
//! and parses session ids from caller-supplied randomness, and names the
//! server's error codes and close reasons. Text and binary data are
//! [`bytes::Bytes`]-backed ([`Str`] for text) and decoded packets share the
//! input buffer instead of copying it.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use switchboard_engineio_proto::{
//!     decode_payload_vec, encode_payload, Packet, PayloadFormat, ProtocolVersion,
//! };
//!
//! // A v4 polling POST body: a text and a binary message.
//! let body = Bytes::from_static(b"4hello\x1ebAQIDBA==");
//! let packets =
//!     decode_payload_vec(ProtocolVersion::V4, PayloadFormat::Text, body, 1_000_000).unwrap();
//! assert_eq!(packets, [Packet::text("hello"), Packet::binary(vec![1u8, 2, 3, 4])]);
//!
//! // The same packets as a v3 response to a client with XHR2 support.
//! let mut out = BytesMut::new();
//! let format = encode_payload(ProtocolVersion::V3, &packets, true, &mut out);
//! assert_eq!(format, PayloadFormat::Binary);
//! assert_eq!(&out[..], b"\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04");
//! ```
//!
//! # Layout
//!
//! - [`packet`]: [`Packet`], [`PacketType`], [`MessageData`]; the string form
//!   of one packet (`<type digit><data>`, binary as `b<base64>` / `b4<base64>`).
//! - [`ws`]: WebSocket framing, one packet per message ([`Frame`],
//!   [`encode_frame`], [`decode_frame`]).
//! - [`websocket`]: the WebSocket protocol under it (RFC 6455 frames, the
//!   opening handshake's accept key) and permessage-deflate (RFC 7692).
//! - [`payload`]: HTTP long-polling bodies: v4 `0x1e`-separated, v3
//!   length-prefixed text and binary (XHR2) forms; size limit
//!   ([`decode_payload`], [`encode_payload`], [`PayloadFormat`]).
//! - [`handshake`]: [`OpenPacket`], the JSON of the `open` packet, [`OpenTemplate`]
//!   (the same, laid out once per server), and the engine.io timing defaults.
//! - [`sid`]: [`Sid`] and [`NodeTag`].
//! - [`protocol`]: [`ProtocolVersion`] and [`Transport`].
//! - [`query`]: [`QueryParams`], the `EIO`/`transport`/`sid`/`b64`/`t` parameters.
//! - [`reason`]: [`ErrorCode`] (HTTP error answers, codes 0–5) and
//!   [`CloseReason`] (why a session ended).
//! - [`error`]: [`Error`], the codec's error type.
//! - `str`: [`Str`], the `Bytes`-backed UTF-8 string.
//! - `b64`: base64 between byte buffers (internal).

mod b64;
pub mod error;
pub mod handshake;
pub mod packet;
pub mod payload;
pub mod protocol;
pub mod query;
pub mod reason;
pub mod sid;
mod str;
pub mod websocket;
pub mod ws;

pub use crate::error::{Error, check_size};
pub use crate::handshake::{OpenPacket, OpenTemplate};
pub use crate::packet::{MessageData, PROBE, Packet, PacketType};
pub use crate::payload::{
    DEFAULT_MAX_PAYLOAD, PayloadDecoder, PayloadFormat, decode_payload, decode_payload_vec,
    encode_payload,
};
pub use crate::protocol::{ProtocolVersion, Transport};
pub use crate::query::QueryParams;
pub use crate::reason::{CloseReason, ErrorCode};
pub use crate::sid::{NodeTag, Sid};
pub use crate::str::Str;
pub use crate::ws::{Frame, decode_binary_frame, decode_frame, encode_frame};
