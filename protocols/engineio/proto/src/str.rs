//! [`Str`]: an immutable UTF-8 string backed by [`Bytes`], so text messages
//! are sliced out of a request body or WebSocket frame without copying.

use std::fmt;

use bytes::Bytes;

use crate::error::Error;

/// An immutable, cheaply cloneable UTF-8 string stored in [`Bytes`].
///
/// Every constructor checks (or, inside this crate, guarantees) that the
/// bytes are valid UTF-8. Cloning and slicing share the underlying buffer.
///
/// Because this crate forbids `unsafe`, [`Str::as_str`] re-checks the UTF-8
/// on each call (a fast, vectorised scan). Hot paths that only forward the
/// text should use [`Str::as_bytes`] or [`Str::into_bytes`], which are free.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Str(Bytes);

impl Str {
    /// The empty string.
    pub const EMPTY: Str = Str(Bytes::from_static(b""));

    /// Wraps a static string without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Str(Bytes::from_static(s.as_bytes()))
    }

    /// Validates `bytes` as UTF-8 and wraps them without copying.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Error> {
        match std::str::from_utf8(&bytes) {
            Ok(_) => Ok(Str(bytes)),
            Err(_) => Err(Error::InvalidUtf8),
        }
    }

    /// Copies a borrowed string into a new buffer.
    pub fn copy_from(s: &str) -> Self {
        Str(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// Wraps bytes that the caller has already proven to be valid UTF-8
    /// (for example a slice of a validated buffer cut at ASCII bytes).
    ///
    /// This is not `unsafe`: a wrong call cannot cause undefined behaviour,
    /// [`Str::as_str`] would only return a shorter string.
    pub(crate) fn from_utf8_trusted(bytes: Bytes) -> Self {
        debug_assert!(
            std::str::from_utf8(&bytes).is_ok(),
            "Str built from invalid UTF-8"
        );
        Str(bytes)
    }

    /// The text as `&str` (re-validated, see the type docs).
    pub fn as_str(&self) -> &str {
        match std::str::from_utf8(&self.0) {
            Ok(s) => s,
            // Unreachable by construction; degrade to the valid prefix rather than panic.
            Err(e) => std::str::from_utf8(&self.0[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// The shared buffer, for zero-copy slicing inside the crate.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The UTF-8 bytes, without any check.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying buffer, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in UTF-16 code units, the unit of JavaScript's `String.length`
    /// (and so of Engine.IO v3 payload length prefixes).
    pub fn utf16_len(&self) -> usize {
        utf16_len(&self.0)
    }
}

/// Counts the UTF-16 code units of a valid UTF-8 byte sequence: one per
/// character, two for characters outside the Basic Multilingual Plane
/// (whose UTF-8 form starts with a byte `>= 0xF0`).
pub(crate) fn utf16_len(utf8: &[u8]) -> usize {
    utf8.iter()
        .map(|&b| usize::from(b & 0xC0 != 0x80) + usize::from(b >= 0xF0))
        .sum()
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(Bytes::from(s))
    }
}

impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str::from_static(s)
    }
}

impl TryFrom<Bytes> for Str {
    type Error = Error;

    fn try_from(bytes: Bytes) -> Result<Self, Error> {
        Str::from_utf8(bytes)
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Bytes {
        s.0
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl serde::Serialize for Str {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_length_counts_surrogate_pairs_twice() {
        assert_eq!(utf16_len("hello".as_bytes()), 5);
        assert_eq!(utf16_len("€".as_bytes()), 1); // 3 UTF-8 bytes, 1 unit
        assert_eq!(utf16_len("é".as_bytes()), 1); // 2 UTF-8 bytes, 1 unit
        assert_eq!(utf16_len("😀".as_bytes()), 2); // 4 UTF-8 bytes, a surrogate pair
        assert_eq!(utf16_len("a€😀".as_bytes()), 4);
        for s in ["", "abc", "€€€", "𝄞x", "ÿ\u{10FFFF}"] {
            assert_eq!(utf16_len(s.as_bytes()), s.encode_utf16().count(), "{s}");
        }
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert!(Str::from_utf8(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(
            Str::from_utf8(Bytes::from_static(b"ok")).map(|s| s.len()),
            Ok(2)
        );
    }

    #[test]
    fn compares_with_str_and_displays() {
        let s = Str::from("probe");
        assert_eq!(s, "probe");
        assert_eq!(s.to_string(), "probe");
        assert_eq!(format!("{s:?}"), "\"probe\"");
    }
}
