//! Payloads between Socket.IO arguments and fabric messages, and the acknowledgements the
//! gateway writes.
//!
//! In: a string argument is a text message, a placeholder a binary one (the attachment,
//! shared, not copied), anything else JSON (its raw text, sliced out of the packet).
//! Out: JSON messages are written as they are (when valid JSON), text as a string, bytes as
//! a binary attachment. Acknowledgements carry one object: `{"ok":true}` (with `"data"` for a
//! request's reply) or `{"ok":false,"code":C,"message":M}` with the control protocol's codes.

use bytes::Bytes;
use switchboard_engineio::bridge::ErrorKind;
use switchboard_fabric::{Message, PayloadKind};
use switchboard_socketio_proto::{PacketWriter, json, placeholder_index};

/// A subslice of `buf` as a shared `Bytes` (no copy), or a copy when `s` lies elsewhere.
pub(crate) fn share(buf: &Bytes, s: &[u8]) -> Bytes {
    let start = buf.as_ptr() as usize;
    let p = s.as_ptr() as usize;
    if p >= start && p + s.len() <= start + buf.len() {
        buf.slice(p - start..p - start + s.len())
    } else {
        Bytes::copy_from_slice(s)
    }
}

/// Why an argument cannot become a payload.
pub(crate) const MISSING_ATTACHMENT: &str = "a placeholder refers to a missing attachment";

/// The payload an argument carries: `buf` holds the packet text the argument borrows from.
pub(crate) fn arg_payload(
    raw: &str,
    buf: &Bytes,
    attachments: &[Bytes],
) -> Result<(Bytes, PayloadKind), &'static str> {
    if raw.starts_with('"') {
        return match json::read_str(raw) {
            Some(std::borrow::Cow::Borrowed(s)) => {
                Ok((share(buf, s.as_bytes()), PayloadKind::Text))
            }
            Some(std::borrow::Cow::Owned(s)) => Ok((Bytes::from(s), PayloadKind::Text)),
            None => Err("invalid string argument"),
        };
    }
    if !attachments.is_empty()
        && let Some(i) = placeholder_index(raw)
    {
        return attachments
            .get(i)
            .map(|b| (b.clone(), PayloadKind::Binary))
            .ok_or(MISSING_ATTACHMENT);
    }
    Ok((share(buf, raw.as_bytes()), PayloadKind::Json))
}

/// The payload of several arguments (zero-code mode): none is JSON `null`, one is that
/// argument, more are a JSON array of them (binary ones refused).
pub(crate) fn args_payload(
    args: &[&str],
    buf: &Bytes,
    attachments: &[Bytes],
) -> Result<(Bytes, PayloadKind), &'static str> {
    match args {
        [] => Ok((Bytes::from_static(b"null"), PayloadKind::Json)),
        [one] => arg_payload(one, buf, attachments),
        many => {
            if !attachments.is_empty() && many.iter().any(|a| placeholder_index(a).is_some()) {
                return Err("binary data must be the only argument");
            }
            let mut out =
                String::with_capacity(many.iter().map(|a| a.len() + 1).sum::<usize>() + 2);
            out.push('[');
            for (i, a) in many.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(a);
            }
            out.push(']');
            Ok((Bytes::from(out), PayloadKind::Json))
        }
    }
}

/// How a message is written as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape<'m> {
    /// Raw JSON text.
    Json(&'m str),
    /// A string.
    Text(&'m str),
    /// A binary attachment.
    Binary,
}

/// The shape of `m`'s payload. JSON from a Socket.IO client was parsed on the way in;
/// JSON from elsewhere is checked, and sent as a string when it is not valid.
pub(crate) fn shape(m: &Message) -> Shape<'_> {
    let Ok(text) = std::str::from_utf8(&m.payload) else {
        return Shape::Binary;
    };
    match m.kind {
        PayloadKind::Binary => Shape::Binary,
        PayloadKind::Text => Shape::Text(text),
        PayloadKind::Json => {
            let trusted = &*m.origin.protocol == crate::PROTOCOL && !text.is_empty();
            if trusted || serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                Shape::Json(text)
            } else {
                Shape::Text(text)
            }
        }
    }
}

/// Writes `shape` as the next argument of `w` (a placeholder for binary).
pub(crate) fn write_arg(w: &mut PacketWriter, shape: Shape<'_>) {
    match shape {
        Shape::Json(j) => {
            w.raw(j);
        }
        Shape::Text(t) => {
            w.str(t);
        }
        Shape::Binary => {
            w.placeholder();
        }
    }
}

/// `{"retain":b,"qos":n}`, the `meta` argument of a delivery.
pub(crate) fn write_meta(out: &mut String, retain: bool, qos: u8) {
    out.push_str(if retain {
        "{\"retain\":true,\"qos\":"
    } else {
        "{\"retain\":false,\"qos\":"
    });
    out.push(char::from(b'0' + qos.min(2)));
    out.push('}');
}

/// `3<nsp,><id>[{"ok":true}]`.
pub(crate) fn ack_ok(nsp: &str, id: u64) -> String {
    let mut w = PacketWriter::ack(nsp, id, 0);
    w.raw("{\"ok\":true}");
    w.finish()
}

fn write_error(out: &mut String, code: ErrorKind, message: &str) {
    out.push_str("{\"ok\":false,\"code\":\"");
    out.push_str(code.as_str());
    out.push_str("\",\"message\":");
    json::write_str(out, message);
    out.push('}');
}

/// `3<nsp,><id>[{"ok":false,"code":C,"message":M}]`.
pub(crate) fn ack_err(nsp: &str, id: u64, code: ErrorKind, message: &str) -> String {
    let mut w = PacketWriter::ack(nsp, id, 0);
    w.with(|o| write_error(o, code, message));
    w.finish()
}

/// An `error` event for a failed event sent without an acknowledgement:
/// `2<nsp,>["error",{"ok":false,"code":C,"message":M}]`.
pub(crate) fn error_event(nsp: &str, code: ErrorKind, message: &str) -> String {
    let mut w = PacketWriter::event(nsp, None, 0);
    w.str("error").with(|o| write_error(o, code, message));
    w.finish()
}

/// The acknowledgement of a request: `{"ok":true,"data":<reply>}`, the reply's bytes as an
/// attachment when binary.
pub(crate) fn ack_reply(nsp: &str, id: u64, reply: &Message) -> (String, Option<Bytes>) {
    let s = shape(reply);
    let binary = s == Shape::Binary;
    let mut w = PacketWriter::with_capacity(
        switchboard_socketio_proto::PacketType::Ack,
        nsp,
        Some(id),
        usize::from(binary),
        reply.payload.len() + 24,
    );
    w.with(|o| {
        o.push_str("{\"ok\":true,\"data\":");
        match s {
            Shape::Json(j) => o.push_str(j),
            Shape::Text(t) => json::write_str(o, t),
            Shape::Binary => o.push_str("{\"_placeholder\":true,\"num\":0}"),
        }
        o.push('}');
    });
    (w.finish(), binary.then(|| reply.payload.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::{Origin, Topic};

    fn topic() -> Topic {
        Topic::new("t").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn arguments_become_payloads_without_copies() {
        let buf =
            Bytes::from_static(br#"["x","text",{"a":1},{"_placeholder":true,"num":0},"q\"d"]"#);
        let text = std::str::from_utf8(&buf).unwrap_or_default();
        let at = |needle: &str| {
            let i = text.find(needle).unwrap_or_default();
            &text[i..i + needle.len()]
        };
        let args = [
            at("\"text\""),
            at(r#"{"a":1}"#),
            at(r#"{"_placeholder":true,"num":0}"#),
            at(r#""q\"d""#),
        ];
        let att = [Bytes::from_static(&[1, 2])];
        let (p, k) = arg_payload(args[0], &buf, &att).unwrap_or_default();
        assert_eq!((&p[..], k), (&b"text"[..], PayloadKind::Text));
        assert_eq!(
            p.as_ptr() as usize,
            buf.as_ptr() as usize + 6,
            "shared, not copied"
        );
        let (p, k) = arg_payload(args[1], &buf, &att).unwrap_or_default();
        assert_eq!((&p[..], k), (&br#"{"a":1}"#[..], PayloadKind::Json));
        let (p, k) = arg_payload(args[2], &buf, &att).unwrap_or_default();
        assert_eq!((&p[..], k), (&[1u8, 2][..], PayloadKind::Binary));
        assert_eq!(
            arg_payload(args[2], &buf, &att[..0]).map(|p| p.1),
            Ok(PayloadKind::Json)
        );
        let (p, _) = arg_payload(args[3], &buf, &att).unwrap_or_default();
        assert_eq!(&p[..], b"q\"d");
        assert_eq!(
            arg_payload(r#"{"_placeholder":true,"num":3}"#, &buf, &att),
            Err(MISSING_ATTACHMENT)
        );
        assert_eq!(
            args_payload(&["1", "\"a\""], &buf, &[]).map(|p| p.0),
            Ok(Bytes::from_static(br#"[1,"a"]"#))
        );
        assert_eq!(
            args_payload(&[], &buf, &[]).map(|p| p.0),
            Ok(Bytes::from_static(b"null"))
        );
    }

    #[test]
    fn messages_have_shapes() {
        let m = Message::json(topic(), "{\"v\":1}");
        assert_eq!(shape(&m), Shape::Json("{\"v\":1}"));
        let m = Message::json(topic(), "{broken");
        assert_eq!(shape(&m), Shape::Text("{broken"));
        let m = Message::json(topic(), "x").origin(Origin::new(crate::PROTOCOL, "c"));
        assert_eq!(shape(&m), Shape::Json("x"), "trusted: parsed on the way in");
        let m = Message::text(topic(), "hi");
        assert_eq!(shape(&m), Shape::Text("hi"));
        let m = Message::new(topic(), vec![0xffu8]).kind(PayloadKind::Text);
        assert_eq!(shape(&m), Shape::Binary);
    }

    #[test]
    fn acknowledgements() {
        assert_eq!(ack_ok("/", 4), r#"34[{"ok":true}]"#);
        assert_eq!(
            ack_err("/a", 5, ErrorKind::Forbidden, "no \"way\""),
            r#"3/a,5[{"ok":false,"code":"forbidden","message":"no \"way\""}]"#
        );
        assert_eq!(
            error_event("/", ErrorKind::BadRequest, "x"),
            r#"2["error",{"ok":false,"code":"bad_request","message":"x"}]"#
        );
        let (t, a) = ack_reply("/", 6, &Message::json(topic(), "[1]"));
        assert_eq!((t.as_str(), a), (r#"36[{"ok":true,"data":[1]}]"#, None));
        let (t, a) = ack_reply("/", 7, &Message::new(topic(), vec![9u8]));
        assert_eq!(
            t,
            r#"61-7[{"ok":true,"data":{"_placeholder":true,"num":0}}]"#
        );
        assert_eq!(a, Some(Bytes::from_static(&[9])));
        let mut meta = String::new();
        write_meta(&mut meta, true, 1);
        assert_eq!(meta, r#"{"retain":true,"qos":1}"#);
    }
}
