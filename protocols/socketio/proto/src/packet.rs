//! Packets: [`PacketType`], the decoded [`Packet`] (borrowing from the message text), its
//! [`Data`], and [`decode`], which validates a message as `socket.io-parser` 4.x does.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::ops::Deref;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::error::Error;
use crate::json;

/// Event names the other side must never receive: they have a meaning of their own in the
/// Socket.IO libraries (`socket.io-parser` refuses an `EVENT` carrying one).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The seven Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: connect to a namespace (client), or accept the connection (server).
    Connect,
    /// `1`: leave a namespace (either side).
    Disconnect,
    /// `2`: an event with JSON arguments.
    Event,
    /// `3`: the acknowledgement of an event.
    Ack,
    /// `4`: the server refuses a namespace connection.
    ConnectError,
    /// `5`: an event whose arguments hold binary attachments.
    BinaryEvent,
    /// `6`: an acknowledgement whose arguments hold binary attachments.
    BinaryAck,
}

impl PacketType {
    /// Every type, in wire order.
    pub const ALL: [PacketType; 7] = [
        PacketType::Connect,
        PacketType::Disconnect,
        PacketType::Event,
        PacketType::Ack,
        PacketType::ConnectError,
        PacketType::BinaryEvent,
        PacketType::BinaryAck,
    ];

    /// The type's number.
    pub fn number(self) -> u8 {
        match self {
            PacketType::Connect => 0,
            PacketType::Disconnect => 1,
            PacketType::Event => 2,
            PacketType::Ack => 3,
            PacketType::ConnectError => 4,
            PacketType::BinaryEvent => 5,
            PacketType::BinaryAck => 6,
        }
    }

    /// The type of wire character `c` (`b'0'`..`b'6'`).
    pub fn from_digit(c: u8) -> Option<Self> {
        Self::ALL.get(usize::from(c.checked_sub(b'0')?)).copied()
    }

    /// Whether binary attachments follow (`BINARY_EVENT`, `BINARY_ACK`).
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }

    /// The binary counterpart of `EVENT`/`ACK` when `attachments > 0`, or `self`.
    pub fn with_attachments(self, attachments: usize) -> Self {
        match (self, attachments > 0) {
            (PacketType::Event, true) => PacketType::BinaryEvent,
            (PacketType::Ack, true) => PacketType::BinaryAck,
            (PacketType::BinaryEvent, false) => PacketType::Event,
            (PacketType::BinaryAck, false) => PacketType::Ack,
            (t, _) => t,
        }
    }
}

/// Decoding limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most attachments one binary packet may announce (`socket.io-parser`'s
    /// `maxAttachments`, default 10).
    pub max_attachments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attachments: 10,
        }
    }
}

/// The arguments of an event or acknowledgement: each one the raw JSON text of one array
/// element, borrowed from the message (no value is built).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args<'a>(pub SmallVec<[&'a str; 4]>);

impl<'a> Deref for Args<'a> {
    type Target = [&'a str];
    fn deref(&self) -> &[&'a str] {
        &self.0
    }
}

impl<'a> FromIterator<&'a str> for Args<'a> {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        Args(iter.into_iter().collect())
    }
}

/// The name of an event: a string (usually) or a number (`socket.io` allows both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventName<'a> {
    /// A string name, unescaped.
    Text(Cow<'a, str>),
    /// A numeric name, as its raw JSON text.
    Number(&'a str),
}

impl EventName<'_> {
    /// The string name, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            EventName::Text(s) => Some(s),
            EventName::Number(_) => None,
        }
    }

    /// Whether the name is one of [`RESERVED_EVENTS`].
    pub fn is_reserved(&self) -> bool {
        self.as_str().is_some_and(|n| RESERVED_EVENTS.contains(&n))
    }

    fn write(&self, out: &mut String) {
        match self {
            EventName::Text(s) => json::write_str(out, s),
            EventName::Number(n) => out.push_str(n),
        }
    }
}

impl fmt::Display for EventName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventName::Text(s) => f.write_str(s),
            EventName::Number(n) => f.write_str(n),
        }
    }
}

/// The payload of a packet, as its type requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    /// No payload (`DISCONNECT`; `CONNECT` without auth; the v5 server's `CONNECT` always
    /// has one).
    None,
    /// One JSON value, raw: the object of a `CONNECT`, the string or object of a
    /// `CONNECT_ERROR`.
    Value(&'a str),
    /// `EVENT`/`BINARY_EVENT`: the name and the remaining arguments.
    Event {
        /// The event name (the first array element).
        name: EventName<'a>,
        /// The arguments after the name.
        args: Args<'a>,
    },
    /// `ACK`/`BINARY_ACK`: the arguments (possibly none).
    Ack(Args<'a>),
}

/// One decoded packet, borrowing from the message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The type (binary types kept as such).
    pub kind: PacketType,
    /// Attachments announced (0 unless `kind` is binary).
    pub attachments: usize,
    /// The namespace, `/` when absent on the wire. For revision 4 clients it may carry a
    /// query string (`/admin?token=x`).
    pub nsp: &'a str,
    /// The acknowledgement id.
    pub id: Option<u64>,
    /// The payload.
    pub data: Data<'a>,
}

struct ArgsVisitor;

impl<'de> Visitor<'de> for ArgsVisitor {
    type Value = Args<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args<'de>, A::Error> {
        let mut out = SmallVec::new();
        while let Some(v) = seq.next_element::<&'de RawValue>()? {
            out.push(v.get());
        }
        Ok(Args(out))
    }
}

/// Parses a JSON array into its raw elements, or `None` when `s` is not exactly one array.
fn parse_args(s: &str) -> Option<Args<'_>> {
    let mut de = serde_json::Deserializer::from_str(s);
    let args = (&mut de).deserialize_seq(ArgsVisitor).ok()?;
    de.end().ok()?;
    Some(args)
}

/// Parses exactly one JSON value, returning its raw text without surrounding whitespace.
fn parse_value(s: &str) -> Option<&str> {
    serde_json::from_str::<&RawValue>(s)
        .ok()
        .map(|v| v.get().trim())
}

fn payload<'a>(kind: PacketType, s: &'a str) -> Result<Data<'a>, Error> {
    let bad = || Error::InvalidPayload(kind);
    match kind {
        PacketType::Connect => {
            let v = parse_value(s).ok_or_else(bad)?;
            if v.starts_with('{') {
                Ok(Data::Value(v))
            } else {
                Err(bad())
            }
        }
        PacketType::Disconnect => Err(bad()),
        PacketType::ConnectError => {
            let v = parse_value(s).ok_or_else(bad)?;
            if v.starts_with('{') || v.starts_with('"') {
                Ok(Data::Value(v))
            } else {
                Err(bad())
            }
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let mut args = parse_args(s).ok_or_else(bad)?;
            let first = *args.first().ok_or_else(bad)?;
            let name = if json::is_number(first) {
                EventName::Number(first)
            } else {
                let name = EventName::Text(json::read_str(first).ok_or_else(bad)?);
                if name.is_reserved() {
                    return Err(bad());
                }
                name
            };
            args.0.remove(0);
            Ok(Data::Event { name, args })
        }
        PacketType::Ack | PacketType::BinaryAck => Ok(Data::Ack(parse_args(s).ok_or_else(bad)?)),
    }
}

/// Decodes the text of one Engine.IO message into a packet, validating it as
/// `socket.io-parser` 4.x does. Binary packets announce their attachments; feed them to a
/// [`Reassembler`](crate::Reassembler).
pub fn decode(text: &str, limits: Limits) -> Result<Packet<'_>, Error> {
    let bytes = text.as_bytes();
    let first = *bytes.first().ok_or(Error::Empty)?;
    let kind = PacketType::from_digit(first).ok_or(Error::UnknownType(first))?;
    let mut i = 1;
    let mut attachments = 0;
    if kind.is_binary() {
        let dash = bytes[1..]
            .iter()
            .position(|&b| b == b'-')
            .ok_or(Error::IllegalAttachments)?
            + 1;
        let digits = &bytes[1..dash];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Error::IllegalAttachments);
        }
        let count = digits.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        let count = count.ok_or(Error::TooManyAttachments {
            count: u64::MAX,
            max: limits.max_attachments,
        })?;
        if count == 0 {
            return Err(Error::IllegalAttachments);
        }
        if count > limits.max_attachments as u64 {
            return Err(Error::TooManyAttachments {
                count,
                max: limits.max_attachments,
            });
        }
        attachments = count as usize;
        i = dash + 1;
    }
    let nsp = if bytes.get(i) == Some(&b'/') {
        let end = bytes[i..]
            .iter()
            .position(|&b| b == b',')
            .map_or(bytes.len(), |p| i + p);
        let nsp = &text[i..end];
        i = (end + 1).min(bytes.len());
        nsp
    } else {
        "/"
    };
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let id = if digits > 0 {
        let id = bytes[i..i + digits].iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        i += digits;
        Some(id.ok_or(Error::InvalidId)?)
    } else {
        None
    };
    let rest = &text[i..];
    let data = if rest.is_empty() {
        match kind {
            PacketType::Connect | PacketType::Disconnect => Data::None,
            _ => return Err(Error::InvalidPayload(kind)),
        }
    } else {
        payload(kind, rest)?
    };
    Ok(Packet {
        kind,
        attachments,
        nsp,
        id,
        data,
    })
}

/// Writes the header `<type>[<attachments>-][<nsp>,][<id>]`.
pub(crate) fn write_header(
    out: &mut String,
    kind: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
) {
    out.push(char::from(b'0' + kind.number()));
    if kind.is_binary() {
        let _ = write!(out, "{attachments}-");
    }
    if !nsp.is_empty() && nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
    if let Some(id) = id {
        let _ = write!(out, "{id}");
    }
}

impl Packet<'_> {
    /// Appends the packet's text to `out`.
    pub fn encode_into(&self, out: &mut String) {
        write_header(out, self.kind, self.attachments, self.nsp, self.id);
        match &self.data {
            Data::None => {}
            Data::Value(v) => out.push_str(v),
            Data::Event { name, args } => {
                out.push('[');
                name.write(out);
                for a in args.iter() {
                    out.push(',');
                    out.push_str(a);
                }
                out.push(']');
            }
            Data::Ack(args) => {
                out.push('[');
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(a);
                }
                out.push(']');
            }
        }
    }

    /// The packet's text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Result<Packet<'_>, Error> {
        decode(s, Limits::default())
    }

    #[test]
    fn header_fields() {
        let p = d("0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.kind, p.nsp, p.id, p.data),
            (PacketType::Connect, "/", None, Data::None)
        );
        assert_eq!(d(""), Err(Error::Empty));
        assert_eq!(d("7"), Err(Error::UnknownType(b'7')));
        assert_eq!(d("x"), Err(Error::UnknownType(b'x')));
        let p = d("0/admin").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.nsp, "/admin");
        let p = d("1/admin,").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.kind, p.nsp), (PacketType::Disconnect, "/admin"));
        let p = d("3/a,0[]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.id, p.data), (Some(0), Data::Ack(Args::default())));
        assert_eq!(d("318446744073709551616[]"), Err(Error::InvalidId));
    }

    #[test]
    fn attachments_are_checked() {
        assert_eq!(d("5-[\"a\"]"), Err(Error::IllegalAttachments));
        assert_eq!(d("50-[\"a\"]"), Err(Error::IllegalAttachments));
        assert_eq!(d("5x-[\"a\"]"), Err(Error::IllegalAttachments));
        assert_eq!(d("51[\"a\"]"), Err(Error::IllegalAttachments));
        assert_eq!(
            d("511-[\"a\"]"),
            Err(Error::TooManyAttachments { count: 11, max: 10 })
        );
        assert!(matches!(
            d("599999999999999999999999-[\"a\"]"),
            Err(Error::TooManyAttachments { .. })
        ));
        let p = d("62-/a,7[1]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.kind, p.attachments, p.nsp, p.id),
            (PacketType::BinaryAck, 2, "/a", Some(7))
        );
    }

    #[test]
    fn payload_shapes() {
        assert_eq!(d("0\"x\""), Err(Error::InvalidPayload(PacketType::Connect)));
        assert_eq!(d("0[]"), Err(Error::InvalidPayload(PacketType::Connect)));
        assert_eq!(
            d("1null"),
            Err(Error::InvalidPayload(PacketType::Disconnect))
        );
        assert_eq!(d("2"), Err(Error::InvalidPayload(PacketType::Event)));
        assert_eq!(d("2[]"), Err(Error::InvalidPayload(PacketType::Event)));
        assert_eq!(d("2[{}]"), Err(Error::InvalidPayload(PacketType::Event)));
        assert_eq!(
            d("2[\"connect\"]"),
            Err(Error::InvalidPayload(PacketType::Event))
        );
        assert_eq!(d("2[\"a\""), Err(Error::InvalidPayload(PacketType::Event)));
        assert_eq!(
            d("2[\"a\"] x"),
            Err(Error::InvalidPayload(PacketType::Event))
        );
        assert_eq!(d("3{}"), Err(Error::InvalidPayload(PacketType::Ack)));
        assert_eq!(
            d("4[]"),
            Err(Error::InvalidPayload(PacketType::ConnectError))
        );
        let p = d("4\"nope\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.data, Data::Value("\"nope\""));
        let p = d("2[7,\"x\"]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.data,
            Data::Event {
                name: EventName::Number("7"),
                args: Args::from_iter(["\"x\""])
            }
        );
        let p = d("2[\"t\\u00e9\", [1, 2] , null]").unwrap_or_else(|e| panic!("{e}"));
        let Data::Event { name, args } = p.data else {
            panic!("not an event")
        };
        assert_eq!(name.as_str(), Some("té"));
        assert_eq!(&args[..], &["[1, 2]", "null"]);
        let p = d("0 {\"token\":\"x\"} ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.data, Data::Value("{\"token\":\"x\"}"));
    }

    #[test]
    fn types_and_encoding() {
        for t in PacketType::ALL {
            assert_eq!(PacketType::from_digit(b'0' + t.number()), Some(t));
        }
        assert_eq!(PacketType::from_digit(b'7'), None);
        assert_eq!(PacketType::from_digit(b'/'), None);
        assert_eq!(
            PacketType::Event.with_attachments(1),
            PacketType::BinaryEvent
        );
        assert_eq!(PacketType::BinaryAck.with_attachments(0), PacketType::Ack);
        for s in [
            "0",
            "0/a,{\"k\":1}",
            "1/a,",
            "2[\"e\",1,{}]",
            "3/a,5[]",
            "4{\"message\":\"x\"}",
            "52-/a,9[\"e\",{\"_placeholder\":true,\"num\":0}]",
        ] {
            assert_eq!(d(s).map(|p| p.encode()).as_deref(), Ok(s));
        }
    }
}
