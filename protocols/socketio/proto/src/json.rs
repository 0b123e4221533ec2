//! JSON text helpers: string literals written without an intermediate value, and string
//! literals read back borrowing from the input when they hold no escape.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Appends `s` as a JSON string literal (quotes included), escaping as `JSON.stringify` does.
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Reads a JSON string literal (`raw` is exactly one JSON value), borrowing when it has no
/// escapes. `None` when `raw` is not a string.
pub fn read_str(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        // The value was validated as JSON by the decoder, or is checked here.
        if inner.bytes().all(|b| b >= 0x20 && b != b'"') {
            return Some(Cow::Borrowed(inner));
        }
        return None;
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

/// Whether `raw` (one JSON value) is a JSON number.
pub fn is_number(raw: &str) -> bool {
    matches!(raw.as_bytes().first(), Some(b'-' | b'0'..=b'9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for s in [
            "",
            "plain",
            "q\"b\\n\nr\rt\tz",
            "\u{1}\u{1f}\u{8}\u{c}",
            "é€𝄞",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(
                serde_json::from_str::<String>(&out).ok().as_deref(),
                Some(s),
                "{out}"
            );
            assert_eq!(read_str(&out).as_deref(), Some(s));
        }
        let mut out = String::new();
        write_str(&mut out, "a\u{1}\u{8}");
        assert_eq!(out, r#""a\u0001\b""#);
        assert!(matches!(read_str(r#""abc""#), Some(Cow::Borrowed("abc"))));
        assert_eq!(read_str("12"), None);
        assert_eq!(read_str("\""), None);
        assert!(is_number("-1.5e3") && is_number("0") && !is_number("\"1\""));
    }
}
