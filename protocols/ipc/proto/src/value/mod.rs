//! The socket-serializer value model: one Rust variant per wire type.
//!
//! [`Value`] keeps every distinction the wire makes (a `+0` is not a `-0`, a `Date` is not a
//! `Double`, JSON text is kept as written) so that decoding and re-encoding any accepted
//! value reproduces its bytes exactly. Binary contents (`Buffer`, typed arrays) are
//! zero-copy slices of the frame they were decoded from.
//!
//! See [`Value::number`] for how a JS number is written, and the [`crate::json`] module for
//! the json-helpers conventions and the mapping to and from `serde_json::Value`.

mod decode;
mod encode;

pub(crate) use decode::locate;
pub(crate) use encode::{begin_dynamic, end_dynamic, write_array};

use bytes::Bytes;

use crate::json::JsonText;

/// Deepest nesting of arrays accepted by the decoder. Bounds recursion (and so the stack)
/// on hostile input; real clients nest a handful of levels at most.
pub const MAX_DEPTH: usize = 128;

/// Most elements the lenient decoder ([`Value::decode_lenient`]) pads with `undefined` when
/// an array declares more elements than it holds (the upstream Float32Array bug).
pub const MAX_LENIENT_PADDING: usize = 1024;

/// One socket-serializer value.
#[derive(Clone, Debug)]
pub enum Value {
    /// `s`: a JS string.
    String(String),
    /// `o`: a plain JS object (or anything with a `toJSON`) as JSON text, json-helpers
    /// conventions included (see [`crate::json`]).
    Json(JsonText),
    /// `A`: a JS array.
    Array(Vec<Value>),
    /// `B`: a Node `Buffer`.
    Buffer(Bytes),
    /// `C`: an `ArrayBuffer` or a typed array.
    TypedArray(TypedArray),
    /// `+`: a non-negative integer up to `0xFFFF_FFFF`.
    PositiveInteger(u32),
    /// `-`: a negative integer, stored as its magnitude (`NegativeInteger(7)` is `-7`).
    NegativeInteger(u32),
    /// `d`: any other number (fractions, magnitudes above `0xFFFF_FFFF`, NaN, infinities).
    Double(f64),
    /// `D`: a JS `Date`, as milliseconds since the Unix epoch (may be NaN).
    Date(f64),
    /// `T` / `F`: a boolean.
    Bool(bool),
    /// `N`: `null`.
    Null,
    /// `U`: `undefined`.
    Undefined,
}

impl PartialEq for Value {
    /// Structural equality that compares floating-point numbers by their bits, so a NaN
    /// equals the same NaN: two values are equal exactly when they encode to the same bytes.
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Json(a), Value::Json(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Buffer(a), Value::Buffer(b)) => a == b,
            (Value::TypedArray(a), Value::TypedArray(b)) => a == b,
            (Value::PositiveInteger(a), Value::PositiveInteger(b))
            | (Value::NegativeInteger(a), Value::NegativeInteger(b)) => a == b,
            (Value::Double(a), Value::Double(b)) | (Value::Date(a), Value::Date(b)) => {
                a.to_bits() == b.to_bits()
            }
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Null, Value::Null) | (Value::Undefined, Value::Undefined) => true,
            _ => false,
        }
    }
}

impl Value {
    /// The value a JS `number` is written as by socket-serializer: an integer with
    /// magnitude up to `0xFFFF_FFFF` becomes [`Value::PositiveInteger`] or
    /// [`Value::NegativeInteger`] (`-0` is written as `+0`); anything else is a
    /// [`Value::Double`].
    pub fn number(n: f64) -> Value {
        if n.is_finite() && n.fract() == 0.0 && n.abs() <= f64::from(u32::MAX) {
            // In range and integral, so the casts are exact.
            if n < 0.0 {
                Value::NegativeInteger((-n) as u32)
            } else {
                Value::PositiveInteger(n as u32)
            }
        } else {
            Value::Double(n)
        }
    }

    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A Node `Buffer` value.
    pub fn buffer(bytes: impl Into<Bytes>) -> Value {
        Value::Buffer(bytes.into())
    }

    /// The wire type this value is written as.
    pub fn tag(&self) -> crate::frame::TypeTag {
        use crate::frame::TypeTag;
        match self {
            Value::String(_) => TypeTag::String,
            Value::Json(_) => TypeTag::Json,
            Value::Array(_) => TypeTag::Array,
            Value::Buffer(_) => TypeTag::Buffer,
            Value::TypedArray(_) => TypeTag::ArrayBuffer,
            Value::PositiveInteger(_) => TypeTag::PositiveInteger,
            Value::NegativeInteger(_) => TypeTag::NegativeInteger,
            Value::Double(_) => TypeTag::Double,
            Value::Date(_) => TypeTag::Date,
            Value::Bool(true) => TypeTag::True,
            Value::Bool(false) => TypeTag::False,
            Value::Null => TypeTag::Null,
            Value::Undefined => TypeTag::Undefined,
        }
    }

    /// The JS number this value holds, for the three number encodings.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::PositiveInteger(n) => Some(f64::from(n)),
            Value::NegativeInteger(n) => Some(-f64::from(n)),
            Value::Double(n) => Some(n),
            _ => None,
        }
    }

    /// The string, for a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::number(n)
    }
}

impl From<i64> for Value {
    /// Integers that a JS number holds exactly are written like the JS writer does; larger
    /// magnitudes become the nearest double, as they would in JS.
    fn from(n: i64) -> Value {
        match u32::try_from(n.unsigned_abs()) {
            Ok(magnitude) if n < 0 => Value::NegativeInteger(magnitude),
            Ok(magnitude) => Value::PositiveInteger(magnitude),
            Err(_) => Value::Double(n as f64),
        }
    }
}

impl From<JsonText> for Value {
    fn from(text: JsonText) -> Value {
        Value::Json(text)
    }
}

impl From<Bytes> for Value {
    fn from(bytes: Bytes) -> Value {
        Value::Buffer(bytes)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

/// The JS class of a `C` value, from its one-byte short code.
///
/// Code 7 is unassigned upstream and code 11 (Float32Array) is never written by the JS
/// writer because of a typo in its lookup table; both, and any other byte, are kept as
/// [`TypedArrayKind::Unknown`] so they re-encode unchanged (the JS reader turns them into
/// `undefined`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypedArrayKind {
    /// 0: a bare `ArrayBuffer`.
    ArrayBuffer,
    /// 1: `Uint8Array`.
    Uint8,
    /// 2: `Uint8ClampedArray`.
    Uint8Clamped,
    /// 3: `Uint16Array`.
    Uint16,
    /// 4: `Uint32Array`.
    Uint32,
    /// 5: `Int8Array`.
    Int8,
    /// 6: `Int16Array`.
    Int16,
    /// 8: `Int32Array`.
    Int32,
    /// 9: `BigInt64Array`.
    BigInt64,
    /// 10: `BigUint64Array`.
    BigUint64,
    /// 12: `Float64Array`.
    Float64,
    /// Any other short code, kept verbatim.
    Unknown(u8),
}

impl TypedArrayKind {
    /// The kind for a short code.
    pub const fn from_code(code: u8) -> TypedArrayKind {
        match code {
            0 => TypedArrayKind::ArrayBuffer,
            1 => TypedArrayKind::Uint8,
            2 => TypedArrayKind::Uint8Clamped,
            3 => TypedArrayKind::Uint16,
            4 => TypedArrayKind::Uint32,
            5 => TypedArrayKind::Int8,
            6 => TypedArrayKind::Int16,
            8 => TypedArrayKind::Int32,
            9 => TypedArrayKind::BigInt64,
            10 => TypedArrayKind::BigUint64,
            12 => TypedArrayKind::Float64,
            other => TypedArrayKind::Unknown(other),
        }
    }

    /// The short code written on the wire.
    pub const fn code(self) -> u8 {
        match self {
            TypedArrayKind::ArrayBuffer => 0,
            TypedArrayKind::Uint8 => 1,
            TypedArrayKind::Uint8Clamped => 2,
            TypedArrayKind::Uint16 => 3,
            TypedArrayKind::Uint32 => 4,
            TypedArrayKind::Int8 => 5,
            TypedArrayKind::Int16 => 6,
            TypedArrayKind::Int32 => 8,
            TypedArrayKind::BigInt64 => 9,
            TypedArrayKind::BigUint64 => 10,
            TypedArrayKind::Float64 => 12,
            TypedArrayKind::Unknown(code) => code,
        }
    }
}

/// A `C` value: an `ArrayBuffer` or a typed array.
///
/// `bytes` is the **whole underlying `ArrayBuffer`** as the JS writer sends it, even when
/// the typed array was a view on part of it (an upstream quirk).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedArray {
    /// Which JS class the receiver rebuilds.
    pub kind: TypedArrayKind,
    /// The raw little-endian element bytes.
    pub bytes: Bytes,
}

/// Errors of the value layer (decoding values inside a frame, and encoding them).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A value header is malformed (bad separator or unknown type byte).
    #[error(transparent)]
    Header(#[from] crate::frame::FrameError),
    /// A value extends past the end of its container.
    #[error("value truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the value declares (header, content, footer).
        needed: u64,
        /// Bytes left in the container.
        available: usize,
    },
    /// A dynamic value's content is too short for its type (an array without its count,
    /// a typed array without its short code).
    #[error("{tag:?} content of {len} bytes is too short")]
    ContentTooShort {
        /// The value's type.
        tag: crate::frame::TypeTag,
        /// The declared content length.
        len: u32,
    },
    /// The byte after a value's content is not `']'`.
    #[error("invalid footer: byte 0x{0:02x} where ']' was expected")]
    BadFooter(u8),
    /// A string or JSON value is not valid UTF-8.
    #[error("string content is not valid UTF-8")]
    InvalidUtf8,
    /// An `o` value is not valid JSON.
    #[error("JSON content is invalid: {0}")]
    InvalidJson(String),
    /// An array holds fewer elements than it declares (strict decoding), or more padding
    /// than [`MAX_LENIENT_PADDING`] would be needed (lenient decoding).
    #[error("array declares {declared} elements but holds {found}")]
    MissingElements {
        /// The declared element count.
        declared: u32,
        /// Elements actually present.
        found: usize,
    },
    /// Bytes remain after the last element inside an array, or after the value in the
    /// buffer given to [`Value::decode`].
    #[error("{0} unexpected bytes after the last value")]
    TrailingBytes(usize),
    /// Arrays are nested deeper than [`MAX_DEPTH`].
    #[error("arrays nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A value's content would exceed the u32 length field.
    #[error("value content of {0} bytes exceeds the 4 GiB length field")]
    TooLarge(usize),
}
