//! [`MqttString`]: a validated, `Bytes`-backed UTF-8 string as the specs define it.
//!
//! Rules (3.1.1 §1.5.3, 5.0 §1.5.4): well-formed UTF-8 (so no encoded surrogates), no
//! U+0000, at most 65,535 bytes. Control characters U+0001..U+001F and U+007F..U+009F and
//! Unicode non-characters SHOULD NOT be sent and a receiver MAY reject them: they are accepted
//! by default, and rejected by a decoder in strict mode
//! (see [`crate::Decoder::strict_utf8`]); [`MqttString::discouraged_code_point`] finds them.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

use crate::error::DecodeError;

/// The longest string a two-byte length prefix can carry.
pub const MAX_STRING_LEN: usize = u16::MAX as usize;

/// A UTF-8 string valid for MQTT, sharing the received buffer (no copy on decode).
#[derive(Clone, Default)]
pub struct MqttString(Bytes);

impl MqttString {
    /// The empty string.
    pub const fn empty() -> Self {
        Self(Bytes::new())
    }

    /// Validates `bytes` and wraps them without copying.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, DecodeError> {
        validate(&bytes)?;
        Ok(Self(bytes))
    }

    /// Validates a static string (no allocation).
    pub fn from_static(s: &'static str) -> Result<Self, DecodeError> {
        Self::from_bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The string. It was validated on construction; this re-checks it (no `unsafe` in
    /// this crate), which costs a pass over the bytes: prefer [`MqttString::as_bytes`] on hot
    /// paths.
    pub fn as_str(&self) -> &str {
        // Cannot fail: the bytes were validated on construction and `Bytes` is immutable.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The backing buffer (cheap to clone).
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Unwraps the backing buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first code point that the spec says SHOULD NOT appear (control characters
    /// U+0001..U+001F, U+007F..U+009F, and non-characters), if any.
    pub fn discouraged_code_point(&self) -> Option<char> {
        discouraged_code_point(self.as_str())
    }
}

/// Checks the rules every MQTT string must follow.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > MAX_STRING_LEN {
        // Only reachable through the constructors: the wire prefix cannot say more.
        return Err(DecodeError::StringTooLong(bytes.len()));
    }
    // `contains` on bytes is memchr-backed.
    if bytes.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok(())
}

/// See [`MqttString::discouraged_code_point`].
pub(crate) fn discouraged_code_point(s: &str) -> Option<char> {
    // Fast path: printable ASCII only.
    if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return None;
    }
    s.chars().find(|&c| {
        let cp = c as u32;
        (0x01..=0x1F).contains(&cp)
            || (0x7F..=0x9F).contains(&cp)
            || (0xFDD0..=0xFDEF).contains(&cp)
            || (cp & 0xFFFE) == 0xFFFE
    })
}

impl TryFrom<&str> for MqttString {
    type Error = DecodeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        validate(s.as_bytes())?;
        Ok(Self(Bytes::copy_from_slice(s.as_bytes())))
    }
}

impl TryFrom<String> for MqttString {
    type Error = DecodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate(s.as_bytes())?;
        Ok(Self(Bytes::from(s)))
    }
}

impl TryFrom<Bytes> for MqttString {
    type Error = DecodeError;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        Self::from_bytes(b)
    }
}

impl AsRef<[u8]> for MqttString {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for MqttString {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for MqttString {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for MqttString {}

impl Hash for MqttString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for MqttString {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MqttString {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_multibyte() {
        assert_eq!(MqttString::try_from("a/b").map(|s| s.len()), Ok(3));
        // U+FEFF (BOM) is a normal character that must be kept.
        let s = MqttString::try_from("\u{FEFF}x").expect("valid");
        assert_eq!(s.as_bytes(), [0xEF, 0xBB, 0xBF, b'x']);
    }

    #[test]
    fn rejects_nul_and_ill_formed() {
        assert_eq!(
            MqttString::try_from("a\0b"),
            Err(DecodeError::NullCharacter)
        );
        // An encoded surrogate (U+D800) is ill-formed UTF-8.
        let surrogate = Bytes::from_static(&[0xED, 0xA0, 0x80]);
        assert_eq!(
            MqttString::from_bytes(surrogate),
            Err(DecodeError::InvalidUtf8)
        );
        // Overlong encoding of '/'.
        let overlong = Bytes::from_static(&[0xC0, 0xAF]);
        assert_eq!(
            MqttString::from_bytes(overlong),
            Err(DecodeError::InvalidUtf8)
        );
        let long = "x".repeat(MAX_STRING_LEN + 1);
        assert!(MqttString::try_from(long.as_str()).is_err());
        assert!(MqttString::try_from("x".repeat(MAX_STRING_LEN)).is_ok());
    }

    #[test]
    fn finds_discouraged_code_points() {
        let s = |t: &str| MqttString::try_from(t).expect("valid");
        assert_eq!(s("plain/topic").discouraged_code_point(), None);
        assert_eq!(s("é/ü").discouraged_code_point(), None);
        assert_eq!(s("a\u{1}").discouraged_code_point(), Some('\u{1}'));
        assert_eq!(s("a\u{7F}").discouraged_code_point(), Some('\u{7F}'));
        assert_eq!(s("a\u{9F}").discouraged_code_point(), Some('\u{9F}'));
        assert_eq!(s("\u{FFFF}").discouraged_code_point(), Some('\u{FFFF}'));
        assert_eq!(s("\u{FDD0}").discouraged_code_point(), Some('\u{FDD0}'));
        assert_eq!(s("\u{1FFFE}").discouraged_code_point(), Some('\u{1FFFE}'));
    }
}
