//! Packets: one frame holding a typed command header and, for messages, the raw args.
//!
//! Every packet a 16.x client sends is a top-level array:
//!
//! ```text
//! command: [A len 1 [o len {JSON command}] ]
//! message: [A len 2 [o len {JSON header}] [A len n arg0 arg1 ...] ]
//! ```
//!
//! [`Packet::parse`] checks that structure, types the JSON header into a [`Command`] and
//! only *locates* the args element: its bytes are not decoded until [`Packet::args`] or
//! [`Packet::payload`] is called. The original frame stays available as a zero-copy
//! [`Bytes`] ([`Packet::frame`]), because the broker forwards message packets byte for byte.
//!
//! A broker's hot path does not need the whole typed header of every message: a
//! [`RawPacket`] is a structurally checked frame whose header is read on demand, either as a
//! borrowed [`Route`] (kind, channel, sender and target ids: no allocation when the strings
//! have no escapes) or in full with [`RawPacket::into_packet`].

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use std::borrow::Cow;

use serde::Deserialize;

use crate::command::{Command, CommandError, CommandKind};
use crate::frame::{DEFAULT_MAX_FRAME, FrameError, TypeTag, ValueHeader, decode_frame};
use crate::payload::Payload;
use crate::value::{Value, ValueError, begin_dynamic, end_dynamic, locate, write_array};

/// Errors of the packet layer.
///
/// Only [`PacketError::Frame`] leaves the byte stream out of sync
/// ([`PacketError::is_stream_fatal`]); after any other error the offending frame has been
/// consumed whole and the next one can be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The frame header is invalid or over the size limit.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The frame's structure is inconsistent (lengths, footers, element sizes).
    #[error(transparent)]
    Value(#[from] ValueError),
    /// The top-level value is not an array.
    #[error("packet is a {0:?} value, not an array")]
    NotAnArray(TypeTag),
    /// The top-level array does not have 1 (command) or 2 (message) elements.
    #[error("packet array has {0} elements, expected 1 or 2")]
    ElementCount(u32),
    /// Element 0 is not an `o` JSON value.
    #[error("packet header is a {0:?} value, not JSON")]
    HeaderNotJson(TypeTag),
    /// The JSON header is not a valid 16.x command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Element 1 is neither an array nor `undefined`.
    #[error("packet args are a {0:?} value, not an array")]
    ArgsNotArray(TypeTag),
}

impl PacketError {
    /// Whether the byte stream can no longer be read (the connection must be closed).
    pub fn is_stream_fatal(&self) -> bool {
        matches!(self, PacketError::Frame(_))
    }
}

/// One packet: the raw frame, its typed command and where its args are.
#[derive(Clone, Debug)]
pub struct Packet {
    frame: Bytes,
    command: Command,
    /// The JSON text of element 0, within `frame`.
    json: Range<usize>,
    /// Element 1 (header to footer), within `frame`.
    args: Option<Range<usize>>,
}

/// Position of element 0's JSON text in a packet: outer header (6), count (4), `o` header (6).
const JSON_START: usize = 16;

/// A frame whose packet structure is checked and whose JSON header is read on demand.
#[derive(Clone, Debug)]
pub struct RawPacket {
    frame: Bytes,
    /// The JSON text of element 0, within `frame`.
    json: Range<usize>,
    /// Element 1 (header to footer), within `frame`.
    args: Option<Range<usize>>,
}

/// The fields a broker routes a message on, borrowed from the header JSON where it can be
/// (strings without escapes). Read with [`RawPacket::route`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route<'a> {
    /// The command kind.
    pub kind: CommandKind,
    /// `channel` (for `RQR` the request id).
    pub channel: Option<Cow<'a, str>>,
    /// `peer.id`: the sender.
    pub peer: Option<Cow<'a, str>>,
    /// `target.id`: the addressee of a targeted message or a response.
    pub target: Option<Cow<'a, str>>,
    /// Whether the header carries a `request` (a request `MES`, or an `RQR`).
    pub has_request: bool,
}

/// A string borrowed from the input unless it has escapes (serde borrows a `Cow` only when
/// it is not nested in an `Option`, hence the newtype).
#[derive(Deserialize)]
struct CowStr<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct RawRoute<'a> {
    #[serde(borrow)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow)]
    channel: Option<CowStr<'a>>,
    #[serde(borrow)]
    peer: Option<RawPeerRef<'a>>,
    #[serde(borrow)]
    target: Option<RawPeerRef<'a>>,
    request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawPeerRef<'a> {
    #[serde(borrow)]
    id: Option<CowStr<'a>>,
}

impl RawPacket {
    /// Checks a complete frame (from [`decode_frame`]): every length and footer, 1 or 2
    /// elements, element 0 is JSON. Nothing is parsed.
    pub fn new(frame: Bytes) -> Result<RawPacket, PacketError> {
        let outer = locate(&frame, 0, frame.len())?;
        if outer.header.tag != TypeTag::Array {
            return Err(PacketError::NotAnArray(outer.header.tag));
        }
        if outer.end() != frame.len() {
            return Err(ValueError::TrailingBytes(frame.len() - outer.end()).into());
        }
        let count = match frame.get(outer.content_start..outer.content_start + 4) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => {
                return Err(ValueError::ContentTooShort {
                    tag: TypeTag::Array,
                    len: outer.header.content_len,
                }
                .into());
            }
        };
        if !(1..=2).contains(&count) {
            return Err(PacketError::ElementCount(count));
        }
        let end = outer.content_end;
        let header = locate(&frame, outer.content_start + 4, end)?;
        if header.header.tag != TypeTag::Json {
            return Err(PacketError::HeaderNotJson(header.header.tag));
        }
        let mut pos = header.end();
        let args = if count == 2 {
            if pos == end {
                return Err(ValueError::MissingElements {
                    declared: 2,
                    found: 1,
                }
                .into());
            }
            let element = locate(&frame, pos, end)?;
            let span = pos..element.end();
            pos = element.end();
            Some(span)
        } else {
            None
        };
        if pos != end {
            return Err(ValueError::TrailingBytes(end - pos).into());
        }
        let json = header.content_start..header.content_end;
        Ok(RawPacket { frame, json, args })
    }

    /// The raw JSON text of the header.
    pub fn header_json(&self) -> &[u8] {
        self.frame.get(self.json.clone()).unwrap_or_default()
    }

    /// Reads the routing fields of the header without typing the rest of it.
    ///
    /// Lenient where [`Command::from_json`] is strict (a missing channel or a peer without
    /// an id is not an error here); a broker takes the fast path only for what it
    /// recognises and parses the packet in full otherwise.
    pub fn route(&self) -> Result<Route<'_>, CommandError> {
        let raw: RawRoute<'_> = serde_json::from_slice(self.header_json())
            .map_err(|e| CommandError::InvalidJson(e.to_string()))?;
        let kind_text = raw.kind.ok_or(CommandError::MissingKind)?.0;
        let kind = CommandKind::from_wire(&kind_text)
            .ok_or_else(|| CommandError::UnknownKind(kind_text.chars().take(32).collect()))?;
        Ok(Route {
            kind,
            channel: raw.channel.map(|c| c.0),
            peer: raw.peer.and_then(|p| p.id).map(|c| c.0),
            target: raw.target.and_then(|p| p.id).map(|c| c.0),
            has_request: raw.request.is_some(),
        })
    }

    /// Parses the header in full.
    pub fn into_packet(self) -> Result<Packet, PacketError> {
        let command = Command::from_json(self.header_json())?;
        Ok(Packet {
            frame: self.frame,
            command,
            json: self.json,
            args: self.args,
        })
    }

    /// The whole frame, exactly as received.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The args mapped to a fabric payload, as [`Packet::payload`] does.
    pub fn payload(&self) -> Result<Payload, PacketError> {
        Ok(Payload::from_args(decode_args(
            &self.frame,
            self.args.clone(),
            Value::decode_lenient,
        )?))
    }

    /// Length of the frame in bytes.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Always `false`: a packet holds at least its header.
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }
}

/// Decodes the args element `span` of `frame`: an empty list for a command packet or
/// `undefined` args, the elements for an array.
fn decode_args(
    frame: &Bytes,
    span: Option<Range<usize>>,
    decode: fn(&Bytes) -> Result<Value, ValueError>,
) -> Result<Vec<Value>, PacketError> {
    let Some(span) = span else {
        return Ok(Vec::new());
    };
    match decode(&frame.slice(span))? {
        Value::Array(items) => Ok(items),
        Value::Undefined => Ok(Vec::new()),
        other => Err(PacketError::ArgsNotArray(other.tag())),
    }
}

impl Packet {
    /// Parses a complete frame (from [`decode_frame`]) into a packet.
    ///
    /// Checks the array structure (every length and footer, 1 or 2 elements, element 0 is
    /// JSON) and parses the JSON header; element 1 is located but not decoded, so the cost
    /// does not grow with the size of the args.
    pub fn parse(frame: Bytes) -> Result<Packet, PacketError> {
        RawPacket::new(frame)?.into_packet()
    }

    /// Builds a command packet `[o(command)]`.
    pub fn from_command(command: Command) -> Result<Packet, ValueError> {
        let mut dst = BytesMut::new();
        let json = encode_into(&command, None, &mut dst)?;
        Ok(Packet {
            frame: dst.freeze(),
            command,
            json,
            args: None,
        })
    }

    /// Builds a message packet `[o(command), A(args)]`, e.g. a `MES` the bridge
    /// originates or an `RQR` answering a client's request.
    pub fn from_message(command: Command, args: &[Value]) -> Result<Packet, ValueError> {
        let mut dst = BytesMut::new();
        let json = encode_into(&command, Some(args), &mut dst)?;
        let args = json.end + 1..dst.len() - 1;
        Ok(Packet {
            frame: dst.freeze(),
            command,
            json,
            args: Some(args),
        })
    }

    /// The whole frame, exactly as received or built. Cloning it is cheap (reference
    /// counted), which is how the broker forwards one packet to many connections.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The whole frame, by value.
    pub fn into_frame(self) -> Bytes {
        self.frame
    }

    /// The typed JSON header.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// The typed JSON header, by value.
    pub fn into_command(self) -> Command {
        self.command
    }

    /// The command kind.
    pub fn kind(&self) -> CommandKind {
        self.command.kind
    }

    /// The raw JSON text of the header, as received.
    pub fn header_json(&self) -> &[u8] {
        self.frame.get(self.json.clone()).unwrap_or_default()
    }

    /// The encoded args element (header to footer), zero-copy; `None` for a command packet.
    pub fn raw_args(&self) -> Option<Bytes> {
        self.args.clone().map(|span| self.frame.slice(span))
    }

    /// The type of the args element, read from its header without decoding it.
    pub fn args_tag(&self) -> Option<TypeTag> {
        let span = self.args.clone()?;
        let bytes = self.frame.get(span)?;
        ValueHeader::read(bytes).ok().flatten().map(|h| h.tag)
    }

    /// Decodes the args strictly: an empty list for a command packet or `undefined` args,
    /// the elements for an array. `Buffer` contents are slices of the frame.
    pub fn args(&self) -> Result<Vec<Value>, PacketError> {
        self.decode_args(Value::decode)
    }

    /// Like [`Packet::args`], tolerating the upstream Float32Array bug (see
    /// [`Value::decode_lenient`]).
    pub fn args_lenient(&self) -> Result<Vec<Value>, PacketError> {
        self.decode_args(Value::decode_lenient)
    }

    fn decode_args(
        &self,
        decode: fn(&Bytes) -> Result<Value, ValueError>,
    ) -> Result<Vec<Value>, PacketError> {
        decode_args(&self.frame, self.args.clone(), decode)
    }

    /// The args mapped to a fabric payload (one string → text, one `Buffer` → binary,
    /// anything else → JSON; see [`Payload::from_args`]).
    pub fn payload(&self) -> Result<Payload, PacketError> {
        Ok(Payload::from_args(self.args_lenient()?))
    }

    /// Length of the frame in bytes.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Always `false`: a packet holds at least its header. Present for API symmetry with
    /// [`Packet::len`].
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }

    /// Appends the frame's bytes to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.frame);
    }
}

/// Appends the command packet `[o(command)]` to `dst`.
pub fn encode_command(command: &Command, dst: &mut BytesMut) -> Result<(), ValueError> {
    encode_into(command, None, dst).map(drop)
}

/// Appends the message packet `[o(command), A(args)]` to `dst`.
pub fn encode_message(
    command: &Command,
    args: &[Value],
    dst: &mut BytesMut,
) -> Result<(), ValueError> {
    encode_into(command, Some(args), dst).map(drop)
}

/// Writes a packet; returns the span of the JSON text relative to the packet start.
/// On error `dst` is restored to its previous length.
fn encode_into(
    command: &Command,
    args: Option<&[Value]>,
    dst: &mut BytesMut,
) -> Result<Range<usize>, ValueError> {
    let start = dst.len();
    let result = write_packet(command, args, dst, start);
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

fn write_packet(
    command: &Command,
    args: Option<&[Value]>,
    dst: &mut BytesMut,
    start: usize,
) -> Result<Range<usize>, ValueError> {
    let outer = begin_dynamic(dst, TypeTag::Array.byte());
    dst.put_u32_le(if args.is_some() { 2 } else { 1 });
    let header = begin_dynamic(dst, TypeTag::Json.byte());
    let json_start = dst.len();
    command.write_json(dst);
    let json_end = dst.len();
    end_dynamic(dst, header)?;
    if let Some(args) = args {
        write_array(dst, args)?;
    }
    end_dynamic(dst, outer)?;
    debug_assert_eq!(json_start - start, JSON_START);
    Ok(json_start - start..json_end - start)
}

/// A streaming packet decoder with a maximum frame size.
///
/// Feed it the connection's read buffer; each call splits off at most one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketCodec {
    max_frame: usize,
}

impl Default for PacketCodec {
    /// A codec with the [`DEFAULT_MAX_FRAME`] limit (16 MiB).
    fn default() -> PacketCodec {
        PacketCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl PacketCodec {
    /// A codec rejecting frames larger than `max_frame` bytes (header and footer included).
    pub fn new(max_frame: usize) -> PacketCodec {
        PacketCodec { max_frame }
    }

    /// The frame size limit.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Splits the next frame off `buf` as a [`RawPacket`] (structure checked, header not
    /// parsed). Same outcomes as [`PacketCodec::decode`].
    pub fn decode_raw(&self, buf: &mut BytesMut) -> Result<Option<RawPacket>, PacketError> {
        match decode_frame(buf, self.max_frame)? {
            Some(frame) => RawPacket::new(frame).map(Some),
            None => Ok(None),
        }
    }

    /// Splits the next packet off `buf`.
    ///
    /// `Ok(None)`: more bytes are needed (nothing consumed, nothing reserved; see
    /// [`crate::frame::check_frame`] for a sizing hint). `Ok(Some(packet))`: one frame was
    /// consumed. `Err(e)`: if [`PacketError::is_stream_fatal`], close the connection;
    /// otherwise the bad frame was consumed and decoding can go on.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Packet>, PacketError> {
        match decode_frame(buf, self.max_frame)? {
            Some(frame) => Packet::parse(frame).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Peer;

    #[test]
    fn built_packets_parse_back() {
        let peer = Peer::node("id", "name");
        let command = Command::send("ch", peer).with_request("r1");
        let packet = Packet::from_message(command.clone(), &["x".into()]).unwrap();
        let parsed = Packet::parse(packet.frame().clone()).unwrap();
        assert_eq!(parsed.command(), &command);
        assert_eq!(parsed.header_json(), packet.header_json());
        assert_eq!(parsed.raw_args(), packet.raw_args());
        assert_eq!(parsed.args().unwrap(), vec![Value::from("x")]);
        assert_eq!(parsed.args_tag(), Some(TypeTag::Array));
    }

    #[test]
    fn routes_are_read_without_typing_the_header() {
        let peer = Peer::node("p\"1", "name");
        let command = Command::send("ch", peer)
            .with_request("r1")
            .with_target(Peer::node("t", "t"));
        let packet = Packet::from_message(command, &["x".into()]).unwrap();
        let raw = RawPacket::new(packet.frame().clone()).unwrap();
        let route = raw.route().unwrap();
        assert_eq!(route.kind, CommandKind::SendMessage);
        assert_eq!(route.channel.as_deref(), Some("ch"));
        assert!(matches!(route.channel, Some(Cow::Borrowed(_))));
        // An escaped string is unescaped (and owned).
        assert_eq!(route.peer.as_deref(), Some("p\"1"));
        assert_eq!(route.target.as_deref(), Some("t"));
        assert!(route.has_request);
        assert_eq!(raw.payload().unwrap(), packet.payload().unwrap());
        assert_eq!(
            raw.clone().into_packet().unwrap().command(),
            packet.command()
        );

        let han = Packet::from_command(Command::handshake(Peer::node("a", "b"))).unwrap();
        let raw = RawPacket::new(han.frame().clone()).unwrap();
        let route = raw.route().unwrap();
        assert_eq!(route.kind, CommandKind::Handshake);
        assert_eq!(
            (route.channel, route.target, route.has_request),
            (None, None, false)
        );

        let bad = |json: &str| {
            let mut frame = BytesMut::new();
            let outer = begin_dynamic(&mut frame, b'A');
            frame.put_u32_le(1);
            let inner = begin_dynamic(&mut frame, b'o');
            frame.put_slice(json.as_bytes());
            end_dynamic(&mut frame, inner).unwrap();
            end_dynamic(&mut frame, outer).unwrap();
            RawPacket::new(frame.freeze()).unwrap().route().unwrap_err()
        };
        assert_eq!(
            bad(r#"{"kind":"NOPE"}"#),
            CommandError::UnknownKind("NOPE".into())
        );
        assert_eq!(bad(r#"{"channel":"c"}"#), CommandError::MissingKind);
        assert!(matches!(bad("[1]"), CommandError::InvalidJson(_)));
    }

    #[test]
    fn structure_errors() {
        let parse = |bytes: &'static [u8]| Packet::parse(Bytes::from_static(bytes));
        assert_eq!(
            parse(b"[T]").unwrap_err(),
            PacketError::NotAnArray(TypeTag::True)
        );
        assert_eq!(
            parse(b"[A\x04\x00\x00\x00\x00\x00\x00\x00]").unwrap_err(),
            PacketError::ElementCount(0)
        );
        assert_eq!(
            parse(b"[A\x07\x00\x00\x00\x01\x00\x00\x00[N]]").unwrap_err(),
            PacketError::HeaderNotJson(TypeTag::Null)
        );
        assert_eq!(
            parse(b"[A\x0d\x00\x00\x00\x01\x00\x00\x00[o\x02\x00\x00\x00{}]]").unwrap_err(),
            PacketError::Command(CommandError::MissingKind)
        );
        assert!(matches!(
            parse(b"[A\x0d\x00\x00\x00\x02\x00\x00\x00[o\x02\x00\x00\x00{}]]").unwrap_err(),
            PacketError::Value(ValueError::MissingElements { .. })
        ));
    }

    /// A 2-element packet whose element 1 is `second` instead of an args array.
    fn with_second_element(second: &Value) -> Packet {
        let command = Command::send("c", Peer::node("p", "n"));
        let mut frame = BytesMut::new();
        let outer = begin_dynamic(&mut frame, b'A');
        frame.put_u32_le(2);
        Value::Json(crate::json::JsonText::new(command.to_json_text()).unwrap())
            .encode(&mut frame)
            .unwrap();
        second.encode(&mut frame).unwrap();
        end_dynamic(&mut frame, outer).unwrap();
        Packet::parse(frame.freeze()).unwrap()
    }

    #[test]
    fn undefined_args_are_empty_and_scalars_are_rejected() {
        // `[o, U]` is what a client sends for a message posted without args (LOGRT).
        let packet = with_second_element(&Value::Undefined);
        assert_eq!(packet.args().unwrap(), Vec::<Value>::new());
        assert_eq!(packet.args_tag(), Some(TypeTag::Undefined));

        let packet = with_second_element(&Value::from("x"));
        assert_eq!(packet.args_tag(), Some(TypeTag::String));
        assert_eq!(
            packet.args().unwrap_err(),
            PacketError::ArgsNotArray(TypeTag::String)
        );
    }
}
