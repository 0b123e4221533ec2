//! How `sub` prints a message: the payload, `topic payload` (`-v`), a mosquitto-style format
//! string (`-F`, [`Template`]) or one JSON object per line (`--json`, [`json_line`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::args::Output;
use crate::message::{Received, iso8601, unix_time};

/// One `%` parameter of a format string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Topic,
    Payload,
    Qos,
    Retain,
    Length,
    Hex,
    HexUpper,
    Kind,
    Origin,
    ContentType,
    Properties,
    Iso,
    Unix,
    Json,
}

impl Field {
    fn from_char(c: char) -> Option<Field> {
        Some(match c {
            't' => Field::Topic,
            'p' => Field::Payload,
            'q' => Field::Qos,
            'r' => Field::Retain,
            'l' => Field::Length,
            'x' => Field::Hex,
            'X' => Field::HexUpper,
            'k' => Field::Kind,
            'o' => Field::Origin,
            'C' => Field::ContentType,
            'P' => Field::Properties,
            'I' => Field::Iso,
            'U' => Field::Unix,
            'j' => Field::Json,
            _ => return None,
        })
    }

    fn numeric(self) -> bool {
        matches!(
            self,
            Field::Qos | Field::Retain | Field::Length | Field::Hex | Field::HexUpper
        )
    }
}

/// Flags, width and maximum width of a parameter (`%-10.20t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Spec {
    left: bool,
    zero: bool,
    width: usize,
    max: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Field(Field, Spec),
}

/// A parsed `-F` format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize)
                .min(65_535),
        );
    }
    n
}

impl Template {
    /// Parses a format string; the error names the offending sequence.
    pub fn parse(format: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    if chars.peek() == Some(&'%') {
                        chars.next();
                        lit.push(b'%');
                        continue;
                    }
                    let mut spec = Spec::default();
                    while let Some(&f) = chars.peek() {
                        match f {
                            '-' => spec.left = true,
                            '0' => spec.zero = true,
                            _ => break,
                        }
                        chars.next();
                    }
                    spec.width = digits(&mut chars).unwrap_or(0);
                    if chars.peek() == Some(&'.') {
                        chars.next();
                        spec.max = Some(digits(&mut chars).unwrap_or(0));
                    }
                    let Some(f) = chars.next() else {
                        return Err("the format ends with an unfinished %".into());
                    };
                    let field =
                        Field::from_char(f).ok_or_else(|| format!("unknown sequence %{f}"))?;
                    if !lit.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Field(field, spec));
                }
                '\\' => {
                    let e = chars
                        .next()
                        .ok_or("the format ends with an unfinished \\")?;
                    lit.push(match e {
                        '\\' => b'\\',
                        '0' => 0,
                        'a' => 7,
                        'e' => 0x1b,
                        'n' => b'\n',
                        'r' => b'\r',
                        't' => b'\t',
                        'v' => 0x0b,
                        other => return Err(format!("unknown escape \\{other}")),
                    });
                }
                c => {
                    let mut buf = [0u8; 4];
                    lit.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Literal(lit));
        }
        Ok(Template { pieces })
    }

    /// Appends the message formatted by this template.
    pub fn render(&self, m: &Received, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(l) => out.extend_from_slice(l),
                Piece::Field(f, spec) => render_field(*f, *spec, m, out),
            }
        }
    }
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let table: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(table[usize::from(b >> 4)]));
        s.push(char::from(table[usize::from(b & 15)]));
    }
    s
}

fn render_field(f: Field, spec: Spec, m: &Received, out: &mut Vec<u8>) {
    let value: Vec<u8> = match f {
        Field::Payload => m.payload.to_vec(),
        Field::Topic => m.topic.clone().into_bytes(),
        Field::Qos => m.qos.unwrap_or(0).to_string().into_bytes(),
        Field::Retain => {
            if m.retain {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            }
        }
        Field::Length => m.payload.len().to_string().into_bytes(),
        Field::Hex => hex(&m.payload, false).into_bytes(),
        Field::HexUpper => hex(&m.payload, true).into_bytes(),
        Field::Kind => m.kind.map_or("-", |k| k.as_str()).as_bytes().to_vec(),
        Field::Origin => m.origin.as_deref().unwrap_or("-").as_bytes().to_vec(),
        Field::ContentType => m.content_type.clone().unwrap_or_default().into_bytes(),
        Field::Properties => m
            .properties
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes(),
        Field::Iso => iso8601(m.time).into_bytes(),
        Field::Unix => unix_time(m.time).into_bytes(),
        Field::Json => json_value(m).to_string().into_bytes(),
    };
    // Maximum width counts characters of text fields (bytes of the raw payload).
    let value = match (spec.max, f) {
        (Some(max), Field::Payload) => value.into_iter().take(max).collect(),
        (Some(max), _) => match String::from_utf8(value) {
            Ok(s) => s.chars().take(max).collect::<String>().into_bytes(),
            Err(e) => e.into_bytes().into_iter().take(max).collect(),
        },
        (None, _) => value,
    };
    let len = match f {
        Field::Payload => value.len(),
        _ => std::str::from_utf8(&value).map_or(value.len(), |s| s.chars().count()),
    };
    let pad = spec.width.saturating_sub(len);
    if spec.left {
        out.extend_from_slice(&value);
        out.extend(std::iter::repeat_n(b' ', pad));
    } else {
        let fill = if spec.zero && f.numeric() { b'0' } else { b' ' };
        out.extend(std::iter::repeat_n(fill, pad));
        out.extend_from_slice(&value);
    }
}

/// The `--json` object of a message.
///
/// Keys: `time` (ISO 8601), `protocol`, `topic`, `qos` (null when the protocol has none),
/// `retain`, `kind` (null when unknown), `origin` (null when not carried), `payload` (text) or
/// `payload_base64` (bytes that are not UTF-8), `data` (the parsed document of a JSON
/// payload), and `content_type` / `properties` when present.
pub fn json_value(m: &Received) -> Value {
    let mut v = json!({
        "time": iso8601(m.time),
        "protocol": m.protocol.as_str(),
        "topic": m.topic,
        "qos": m.qos,
        "retain": m.retain,
        "kind": m.kind.map(|k| k.as_str()),
        "origin": m.origin,
    });
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    match m.text() {
        Some(t) => {
            obj.insert("payload".into(), Value::String(t.to_owned()));
            if m.kind == Some(crate::message::Kind::Json)
                && let Ok(doc) = serde_json::from_str::<Value>(t)
            {
                obj.insert("data".into(), doc);
            }
        }
        None => {
            obj.insert(
                "payload_base64".into(),
                Value::String(STANDARD.encode(&m.payload)),
            );
        }
    }
    if let Some(ct) = &m.content_type {
        obj.insert("content_type".into(), Value::String(ct.clone()));
    }
    if !m.properties.is_empty() {
        obj.insert(
            "properties".into(),
            Value::Array(m.properties.iter().map(|(k, v)| json!([k, v])).collect()),
        );
    }
    v
}

/// The `--json` line of a message (no line ending).
pub fn json_line(m: &Received) -> String {
    json_value(m).to_string()
}

/// A ready-to-use printer for one of the [`Output`] modes.
#[derive(Debug, Clone)]
pub struct Printer {
    mode: Mode,
    eol: bool,
}

#[derive(Debug, Clone)]
enum Mode {
    Payload,
    Verbose,
    Template(Template),
    Json,
}

impl Printer {
    /// A printer for `output`; `eol` false is `-N`. Fails on a bad format string.
    pub fn new(output: &Output, eol: bool) -> Result<Printer, String> {
        let mode = match output {
            Output::Payload => Mode::Payload,
            Output::Verbose => Mode::Verbose,
            Output::Format(f) => Mode::Template(Template::parse(f)?),
            Output::Json => Mode::Json,
        };
        Ok(Printer { mode, eol })
    }

    /// Appends the message's output.
    pub fn render(&self, m: &Received, out: &mut Vec<u8>) {
        match &self.mode {
            Mode::Payload => out.extend_from_slice(&m.payload),
            Mode::Verbose => {
                out.extend_from_slice(m.topic.as_bytes());
                out.push(b' ');
                out.extend_from_slice(&m.payload);
            }
            Mode::Template(t) => t.render(m, out),
            Mode::Json => out.extend_from_slice(json_line(m).as_bytes()),
        }
        if self.eol {
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Kind;
    use crate::url::Protocol;
    use bytes::Bytes;
    use std::time::{Duration, UNIX_EPOCH};

    fn msg() -> Received {
        let mut m = Received::new(Protocol::Mqtt, "plant/1", Bytes::from_static(b"{\"c\":1}"));
        m.qos = Some(1);
        m.retain = true;
        m.kind = Some(Kind::Json);
        m.content_type = Some("application/json".into());
        m.properties = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
        m.time = UNIX_EPOCH + Duration::new(1_470_818_943, 786_368_637);
        m
    }

    fn render(f: &str, m: &Received) -> String {
        let mut out = Vec::new();
        Template::parse(f).unwrap().render(m, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn parameters() {
        let m = msg();
        assert_eq!(
            render("%t|%p|%q|%r|%l|%k|%o|%C|%P|%%", &m),
            "plant/1|{\"c\":1}|1|1|7|json|-|application/json|a:1 b:2|%"
        );
        assert_eq!(
            render("%I %U", &m),
            "2016-08-10T08:49:03.786368Z 1470818943.786368637"
        );
        assert_eq!(render("%x", &m), "7b2263223a317d");
        assert_eq!(render("%X", &m), "7B2263223A317D");
        assert_eq!(render("a\\tb\\n\\\\\\0\\e", &m), "a\tb\n\\\0\x1b");
    }

    #[test]
    fn widths() {
        let m = msg();
        assert_eq!(render("[%10t]", &m), "[   plant/1]");
        assert_eq!(render("[%-10t]", &m), "[plant/1   ]");
        assert_eq!(render("[%.5t]", &m), "[plant]");
        assert_eq!(render("[%04l]", &m), "[0007]");
        assert_eq!(render("[%-04l]", &m), "[7   ]");
        assert_eq!(render("[%04t]", &m), "[plant/1]");
    }

    #[test]
    fn bad_formats() {
        assert!(Template::parse("%").unwrap_err().contains("unfinished"));
        assert!(Template::parse("%Z").unwrap_err().contains("%Z"));
        assert!(Template::parse("\\q").unwrap_err().contains("\\q"));
        assert!(Template::parse("x\\").unwrap_err().contains("unfinished"));
    }

    #[test]
    fn json_lines() {
        let v: Value = serde_json::from_str(&json_line(&msg())).unwrap();
        assert_eq!(v["topic"], "plant/1");
        assert_eq!(v["qos"], 1);
        assert_eq!(v["retain"], true);
        assert_eq!(v["kind"], "json");
        assert_eq!(v["data"], json!({"c": 1}));
        assert_eq!(v["payload"], "{\"c\":1}");
        assert_eq!(v["origin"], Value::Null);
        assert_eq!(v["properties"], json!([["a", "1"], ["b", "2"]]));
        let mut m = Received::new(Protocol::Ipc, "c", Bytes::from_static(&[0xff, 0]));
        m.origin = Some("ipc".into());
        let v: Value = serde_json::from_str(&json_line(&m)).unwrap();
        assert_eq!(v["payload_base64"], "/wA=");
        assert_eq!(v["qos"], Value::Null);
        assert_eq!(v["origin"], "ipc");
        assert!(v.get("payload").is_none());
    }

    #[test]
    fn printers() {
        let m = msg();
        let mut out = Vec::new();
        Printer::new(&Output::Verbose, true)
            .unwrap()
            .render(&m, &mut out);
        Printer::new(&Output::Payload, false)
            .unwrap()
            .render(&m, &mut out);
        assert_eq!(out, b"plant/1 {\"c\":1}\n{\"c\":1}");
    }
}
