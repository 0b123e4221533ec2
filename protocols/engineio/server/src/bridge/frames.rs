//! The frames of the control protocol: parsing what clients send ([`Op`]), writing what the
//! gateway sends (`msg`, `ack`, `err`, `req`, `res`) and the binary frame
//! `[u16 big-endian topic length][topic][payload]`.

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_fabric::{Message, PayloadKind};

/// Machine-readable error codes of `err` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The frame is not valid JSON, lacks a field, or names an unknown op.
    BadRequest,
    /// The topic or filter is not valid.
    InvalidTopic,
    /// The session has no identity yet (anonymous access is off): send `auth` first, or the
    /// credentials were refused.
    Unauthorized,
    /// The ACL refuses this action on this topic.
    Forbidden,
    /// The session holds `max_subscriptions` already.
    TooManySubscriptions,
    /// Too many requests in flight, or the session's command queue is full.
    Overloaded,
    /// No reply arrived within the request's timeout.
    Timeout,
    /// Nobody subscribes to the request's topic.
    NoResponders,
    /// A `reply` names a request id this session does not know (or no longer: it expired).
    UnknownRequest,
    /// The gateway is shutting down.
    Closed,
    /// The responder rejected the request (the reply carried an error instead of an answer:
    /// an IPC `reject`, a `reply` with `error`, an MQTT 5 response with the user property
    /// `error`); the message is its reason.
    Rejected,
}

impl ErrorKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::InvalidTopic => "invalid_topic",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::TooManySubscriptions => "too_many_subscriptions",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::NoResponders => "no_responders",
            ErrorKind::UnknownRequest => "unknown_request",
            ErrorKind::Closed => "closed",
            ErrorKind::Rejected => "rejected",
        }
    }
}

/// One client frame of the control protocol, borrowing from the text.
#[derive(Debug, Deserialize)]
pub(crate) struct Op<'a> {
    #[serde(borrow)]
    pub(crate) op: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) topic: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) b64: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) retain: bool,
    #[serde(default)]
    pub(crate) qos: u8,
    /// Echoed back verbatim in `ack`/`err`/`res` (a number or a string).
    #[serde(borrow, default)]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(default)]
    pub(crate) rid: Option<u64>,
    #[serde(default)]
    pub(crate) timeout_ms: Option<u64>,
    #[serde(borrow, default)]
    pub(crate) token: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) password: Option<Cow<'a, str>>,
    /// A `reply` that rejects the request, with this reason.
    #[serde(borrow, default)]
    pub(crate) error: Option<Cow<'a, str>>,
}

impl Op<'_> {
    /// The payload of a `pub`/`req`/`reply`: `data` (JSON), `text` or `b64` (binary).
    /// `Err` when `b64` is not base64. Absent means an empty JSON `null`.
    pub(crate) fn payload(&self) -> Result<(Bytes, PayloadKind), ()> {
        if let Some(d) = self.data {
            return Ok((
                Bytes::copy_from_slice(d.get().as_bytes()),
                PayloadKind::Json,
            ));
        }
        if let Some(t) = &self.text {
            return Ok((Bytes::copy_from_slice(t.as_bytes()), PayloadKind::Text));
        }
        if let Some(b) = &self.b64 {
            return STANDARD
                .decode(b.as_bytes())
                .map(|v| (Bytes::from(v), PayloadKind::Binary))
                .map_err(|_| ());
        }
        Ok((Bytes::from_static(b"null"), PayloadKind::Json))
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `,"data":..` / `,"text":..` / `,"b64":..` for a message payload. JSON payloads
/// that are not valid JSON are sent as text (or base64 when not UTF-8).
pub(crate) fn push_payload(out: &mut String, message: &Message) {
    let text = std::str::from_utf8(&message.payload).ok();
    match (message.kind, text) {
        (PayloadKind::Json, Some(t))
            if serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok() =>
        {
            out.push_str(",\"data\":");
            out.push_str(t);
        }
        (PayloadKind::Json | PayloadKind::Text, Some(t)) => {
            out.push_str(",\"text\":");
            push_json_str(out, t);
        }
        _ => {
            out.push_str(",\"b64\":\"");
            STANDARD.encode_string(&message.payload, out);
            out.push('"');
        }
    }
}

/// `{"op":"msg","topic":T,"data":J|"text":S,"retain":b}` for a text or JSON message.
pub(crate) fn msg(topic: &str, message: &Message, retain: bool) -> String {
    let mut out = String::with_capacity(40 + topic.len() + message.payload.len());
    out.push_str("{\"op\":\"msg\",\"topic\":");
    push_json_str(&mut out, topic);
    push_payload(&mut out, message);
    out.push_str(if retain {
        ",\"retain\":true}"
    } else {
        ",\"retain\":false}"
    });
    out
}

/// `{"op":"req","rid":R,"topic":T,...payload}`: a request for this client to answer.
pub(crate) fn req(rid: u64, topic: &str, message: &Message) -> String {
    let mut out = String::with_capacity(48 + topic.len() + message.payload.len());
    let _ = write!(out, "{{\"op\":\"req\",\"rid\":{rid},\"topic\":");
    push_json_str(&mut out, topic);
    push_payload(&mut out, message);
    out.push('}');
    out
}

/// `{"op":"res","id":n,...payload}`: the reply to the client's request `id`.
pub(crate) fn res(id: Option<&RawValue>, message: &Message) -> String {
    let mut out = String::with_capacity(32 + message.payload.len());
    out.push_str("{\"op\":\"res\"");
    push_id(&mut out, id);
    push_payload(&mut out, message);
    out.push('}');
    out
}

fn push_id(out: &mut String, id: Option<&RawValue>) {
    if let Some(id) = id {
        out.push_str(",\"id\":");
        out.push_str(id.get());
    }
}

/// `{"op":"ack","id":n}`.
pub(crate) fn ack(id: Option<&RawValue>) -> String {
    let mut out = String::from("{\"op\":\"ack\"");
    push_id(&mut out, id);
    out.push('}');
    out
}

/// `{"op":"err","id":n,"code":C,"message":S}`.
pub(crate) fn err(id: Option<&RawValue>, code: ErrorKind, message: &str) -> String {
    let mut out = String::with_capacity(48 + message.len());
    out.push_str("{\"op\":\"err\"");
    push_id(&mut out, id);
    out.push_str(",\"code\":\"");
    out.push_str(code.as_str());
    out.push_str("\",\"message\":");
    push_json_str(&mut out, message);
    out.push('}');
    out
}

/// The binary frame `[u16 BE topic length][topic][payload]`.
pub(crate) fn binary(topic: &str, payload: &[u8]) -> Bytes {
    let len = u16::try_from(topic.len()).unwrap_or(u16::MAX);
    let topic = &topic.as_bytes()[..usize::from(len)];
    let mut out = BytesMut::with_capacity(2 + topic.len() + payload.len());
    out.put_u16(len);
    out.put_slice(topic);
    out.put_slice(payload);
    out.freeze()
}

/// Splits a binary frame into topic and payload (sharing the buffer).
pub(crate) fn parse_binary(frame: &Bytes) -> Option<(&str, Bytes)> {
    let len = usize::from(u16::from_be_bytes([*frame.first()?, *frame.get(1)?]));
    let topic = frame.get(2..2 + len)?;
    let topic = std::str::from_utf8(topic).ok()?;
    Some((topic, frame.slice(2 + len..)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::Topic;

    fn topic(s: &str) -> Topic {
        Topic::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_client_ops() {
        let op: Op<'_> = serde_json::from_str(
            r#"{"op":"pub","topic":"a/b","data":{"x":[1,2]},"retain":true,"qos":1,"id":7}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op.op, "pub");
        assert_eq!(op.topic.as_deref(), Some("a/b"));
        assert!(op.retain);
        assert_eq!(op.id.map(RawValue::get), Some("7"));
        assert_eq!(
            op.payload(),
            Ok((Bytes::from_static(br#"{"x":[1,2]}"#), PayloadKind::Json))
        );
        let op: Op<'_> = serde_json::from_str(r#"{"op":"pub","topic":"t","text":"h\u00e9"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op.payload(), Ok((Bytes::from("hé"), PayloadKind::Text)));
        let op: Op<'_> = serde_json::from_str(r#"{"op":"pub","topic":"t","b64":"AQI="}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            op.payload(),
            Ok((Bytes::from_static(&[1, 2]), PayloadKind::Binary))
        );
        let op: Op<'_> = serde_json::from_str(r#"{"op":"pub","topic":"t","b64":"!"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op.payload(), Err(()));
        assert!(serde_json::from_str::<Op<'_>>(r#"{"topic":"t"}"#).is_err());
    }

    #[test]
    fn writes_gateway_frames() {
        let m = Message::json(topic("a/b"), r#"{"v":1}"#);
        assert_eq!(
            msg("a/b", &m, true),
            r#"{"op":"msg","topic":"a/b","data":{"v":1},"retain":true}"#
        );
        let m = Message::text(topic("a"), "say \"hi\"\n");
        assert_eq!(
            msg("a", &m, false),
            r#"{"op":"msg","topic":"a","text":"say \"hi\"\n","retain":false}"#
        );
        let broken = Message::json(topic("a"), "{not json");
        assert_eq!(
            msg("a", &broken, false),
            r#"{"op":"msg","topic":"a","text":"{not json","retain":false}"#
        );
        let bin = Message::new(topic("a"), vec![1u8, 2]);
        assert_eq!(
            req(3, "a", &bin),
            r#"{"op":"req","rid":3,"topic":"a","b64":"AQI="}"#
        );
        let id = RawValue::from_string("\"x1\"".to_owned()).ok();
        assert_eq!(ack(id.as_deref()), r#"{"op":"ack","id":"x1"}"#);
        assert_eq!(ack(None), r#"{"op":"ack"}"#);
        assert_eq!(
            err(id.as_deref(), ErrorKind::Forbidden, "no \u{1}"),
            r#"{"op":"err","id":"x1","code":"forbidden","message":"no \u0001"}"#
        );
        let m = Message::json(topic("r"), "42");
        assert_eq!(
            res(id.as_deref(), &m),
            r#"{"op":"res","id":"x1","data":42}"#
        );
    }

    #[test]
    fn binary_frames_round_trip() {
        let f = binary("a/b", &[9, 8]);
        assert_eq!(&f[..], &[0, 3, b'a', b'/', b'b', 9, 8]);
        assert_eq!(parse_binary(&f), Some(("a/b", Bytes::from_static(&[9, 8]))));
        assert_eq!(parse_binary(&Bytes::from_static(&[0])), None);
        assert_eq!(parse_binary(&Bytes::from_static(&[0, 5, b'a'])), None);
        assert_eq!(parse_binary(&Bytes::from_static(&[0, 1, 0xff])), None);
        assert_eq!(
            parse_binary(&Bytes::from_static(&[0, 0])),
            Some(("", Bytes::new()))
        );
    }
}
