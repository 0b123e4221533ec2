//! Sans-IO codec for the Socket.IO protocol, revision 5 (Socket.IO 3+, `socket.io-client` 3.x
//! and 4.x) and revision 4 (Socket.IO 1 and 2, over Engine.IO v3), with the behaviour of the
//! reference `socket.io-parser` 4.x.
//!
//! A Socket.IO packet travels as the text of one Engine.IO message:
//! `<type>[<attachments>-][<namespace>,][<ack id>][JSON payload]`; the binary attachments of
//! a `BINARY_EVENT`/`BINARY_ACK` follow as separate binary Engine.IO messages, referenced in
//! the JSON by `{"_placeholder":true,"num":N}`.
//!
//! No sockets, no runtime, no clock: [`decode`] turns a message's text into a [`Packet`] that
//! borrows from it (JSON arguments are kept as raw text slices, never re-serialised),
//! [`PacketWriter`] and the [`encode`] helpers write packets into a `String`, and
//! [`Reassembler`] collects the attachments that follow a binary packet.
//!
//! ```
//! use switchboard_socketio_proto::{decode, Data, Limits, PacketType, PacketWriter};
//!
//! let p = decode(r#"2/admin,12["temp",21.5,{"unit":"C"}]"#, Limits::default()).unwrap();
//! assert_eq!((p.kind, p.nsp, p.id), (PacketType::Event, "/admin", Some(12)));
//! let Data::Event { name, args } = &p.data else { unreachable!() };
//! assert_eq!(name.as_str(), Some("temp"));
//! assert_eq!(&args[..], &["21.5", r#"{"unit":"C"}"#]);
//!
//! let mut w = PacketWriter::ack("/admin", 12, 0);
//! w.raw(r#"{"ok":true}"#);
//! assert_eq!(w.finish(), r#"3/admin,12[{"ok":true}]"#);
//! ```
//!
//! # Layout
//!
//! - [`packet`]: [`PacketType`], [`Packet`], [`Data`], [`EventName`], [`Args`], [`decode`]
//!   and [`Limits`], and [`Packet::encode`].
//! - [`encode`]: [`PacketWriter`] (an event or ack written argument by argument) and the
//!   `CONNECT`/`CONNECT_ERROR`/`DISCONNECT` helpers, per [`ProtocolVersion`].
//! - [`binary`]: placeholders ([`placeholder_index`]) and the [`Reassembler`] of attachments.
//! - [`json`]: JSON string escaping and unescaping helpers.
//! - [`error`](mod@error): [`Error`].

pub mod binary;
pub mod encode;
pub mod error;
pub mod json;
pub mod packet;

pub use binary::{Complete, Reassembler, placeholder_index};
pub use encode::{PacketWriter, ProtocolVersion};
pub use error::Error;
pub use packet::{Args, Data, EventName, Limits, Packet, PacketType, RESERVED_EVENTS, decode};

/// The Socket.IO protocol revision this crate speaks natively.
pub const PROTOCOL: u8 = 5;
