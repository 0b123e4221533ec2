//! Sans-IO codec for the electron-common-ipc **16.x** wire protocol.
//!
//! Node and Electron processes using `electron-common-ipc` 16 talk to a `BusBroker` over a
//! TCP or Unix socket. The byte stream is a concatenation of socket-serializer values, each
//! framed as `'[' type [u32 LE length] content ']'`; every packet is one top-level array
//! holding a JSON command header and, for messages, the message arguments. This crate reads
//! and writes that stream and nothing else: no sockets, no runtime, no clock. Decoding works
//! on a caller-owned [`bytes::BytesMut`], reports "need more bytes" as `Ok(None)`, and checks
//! the frame size from the header before any body is buffered.
//!
//! **Only the 16.x dialect is supported.** The framing is shared with older releases, but
//! the command layer changed twice: releases up to 12.x and 13.x–15.x identify peers by
//! process and correlate requests differently, and are not interoperable with a 16.x broker.
//! A pre-16 peer (one without an `id`) is reported as [`CommandError::PreV16Peer`].
//!
//! # Layout
//!
//! - [`frame`]: the value header ([`TypeTag`], [`ValueHeader`]) and the stream splitter
//!   ([`check_frame`], [`decode_frame`]) with its size limit; [`FrameError`].
//! - [`value`]: the value model ([`Value`], [`TypedArray`]), strict and lenient decoding of
//!   a complete frame, single-pass encoding; [`ValueError`].
//! - [`json`]: [`JsonText`] for `o` values and the json-helpers conventions ([`Tagged`],
//!   [`Value::to_json`], [`Value::from_json`]).
//! - [`command`]: the typed JSON header ([`Command`], [`CommandKind`], [`Peer`],
//!   [`PeerId`], [`Request`], [`RequestId`], [`ProcessType`]); [`CommandError`].
//! - [`packet`]: [`Packet`] (raw frame + typed command + located args), [`RawPacket`] and
//!   its borrowed [`Route`] for a broker's hot path, [`PacketCodec`] for streams,
//!   [`encode_command`] / [`encode_message`]; [`PacketError`].
//! - [`payload`]: [`Payload`], the mapping between message args and fabric payloads used
//!   by the bridge; [`PayloadError`].
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use switchboard_ipc_proto::{Command, CommandKind, Packet, PacketCodec, Peer, Value};
//!
//! // What a client sends for `ipcBus.send("news", "hello", 42)`.
//! let peer = Peer::node("zP5CFA<5Nw", "peerB");
//! let sent = Packet::from_message(Command::send("news", peer), &["hello".into(), 42i64.into()])?;
//! assert_eq!(sent.len(), 147);
//!
//! // The broker side: split the stream, route on the header, forward the bytes unchanged.
//! let mut stream = BytesMut::from(&sent.frame()[..]);
//! let codec = PacketCodec::default();
//! let packet = codec.decode(&mut stream)?.expect("a whole frame");
//! assert_eq!(packet.kind(), CommandKind::SendMessage);
//! assert_eq!(packet.command().channel(), "news");
//! assert_eq!(packet.frame(), sent.frame());
//! assert_eq!(packet.args()?, vec![Value::from("hello"), Value::PositiveInteger(42)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod command;
pub mod frame;
pub mod json;
pub mod packet;
pub mod payload;
pub mod value;

pub use command::{
    Command, CommandError, CommandKind, Peer, PeerId, ProcessType, Request, RequestId,
};
pub use frame::{
    DEFAULT_MAX_FRAME, FrameError, FrameStatus, TypeTag, ValueHeader, check_frame, decode_frame,
};
pub use json::{JsonText, Tagged, UNDEFINED_TOKEN};
pub use packet::{
    Packet, PacketCodec, PacketError, RawPacket, Route, encode_command, encode_message,
};
pub use payload::{Payload, PayloadError, PayloadKind};
pub use value::{TypedArray, TypedArrayKind, Value, ValueError};
