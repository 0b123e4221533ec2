//! Transport framing: the socket-serializer value header and the stream splitter.
//!
//! The byte stream between an electron-common-ipc client and its broker is a plain
//! concatenation of serialized values, one top-level value per packet, with no outer length
//! prefix. Every value, nested or not, is laid out as
//!
//! ```text
//! +------+------+-------------------------+---------+------+
//! | 0x5B | type | u32 LE content length   | content | 0x5D |
//! | '['  | byte | (dynamic types only)    |         | ']'  |
//! +------+------+-------------------------+---------+------+
//! ```
//!
//! so the size of a whole frame is known once its 2- or 6-byte header is in. [`check_frame`]
//! and [`decode_frame`] read that header, reject a frame larger than the caller's limit
//! **before** its body is buffered, and report "incomplete" as a normal outcome while the
//! stream has not delivered the whole frame yet.

use bytes::{Buf, Bytes, BytesMut};

/// The first byte of every value header (`'['`).
pub const HEADER_SEPARATOR: u8 = b'[';
/// The single byte that ends every value (`']'`).
pub const FOOTER: u8 = b']';
/// Header length of fixed-size types: separator and type byte.
pub const FIXED_HEADER_LEN: usize = 2;
/// Header length of dynamic types: separator, type byte and a u32 LE content length.
pub const DYNAMIC_HEADER_LEN: usize = 6;
/// Length of the footer.
pub const FOOTER_LEN: usize = 1;
/// Smallest possible encoded value (a fixed type with no content, e.g. `null`).
pub const MIN_VALUE_LEN: usize = FIXED_HEADER_LEN + FOOTER_LEN;
/// Default maximum frame size (16 MiB), as configured by the gateway's `[ipc] max_frame`.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// The type byte of a socket-serializer value (the second header byte).
///
/// `O` (Object), `X` (NotValid) and `p` (PartialHeader) exist in the JS enum but are never
/// written, and the JS reader treats them as an invalid header; so does this codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeTag {
    /// `s`: UTF-8 string (dynamic).
    String,
    /// `o`: JSON text written by json-helpers `JSONParserV1.stringify` (dynamic).
    Json,
    /// `A`: array; content is a u32 LE element count followed by the elements (dynamic).
    Array,
    /// `B`: Node `Buffer`, raw bytes (dynamic).
    Buffer,
    /// `C`: `ArrayBuffer` or typed array; content is a one-byte short code then raw bytes
    /// (dynamic).
    ArrayBuffer,
    /// `+`: integer `0 ..= 0xFFFF_FFFF`, u32 LE (fixed, 4 content bytes).
    PositiveInteger,
    /// `-`: integer `-0xFFFF_FFFF ..= -1`, u32 LE magnitude (fixed, 4 content bytes).
    NegativeInteger,
    /// `d`: any other number, f64 LE (fixed, 8 content bytes).
    Double,
    /// `D`: `Date`, f64 LE milliseconds since the epoch (fixed, 8 content bytes).
    Date,
    /// `T`: `true` (fixed, no content).
    True,
    /// `F`: `false` (fixed, no content).
    False,
    /// `N`: `null` (fixed, no content).
    Null,
    /// `U`: `undefined` (fixed, no content).
    Undefined,
}

impl TypeTag {
    /// Every tag this codec reads and writes.
    pub const ALL: [TypeTag; 13] = [
        TypeTag::String,
        TypeTag::Json,
        TypeTag::Array,
        TypeTag::Buffer,
        TypeTag::ArrayBuffer,
        TypeTag::PositiveInteger,
        TypeTag::NegativeInteger,
        TypeTag::Double,
        TypeTag::Date,
        TypeTag::True,
        TypeTag::False,
        TypeTag::Null,
        TypeTag::Undefined,
    ];

    /// The tag for a type byte, or `None` for a byte the JS reader does not accept.
    pub const fn from_byte(byte: u8) -> Option<TypeTag> {
        Some(match byte {
            b's' => TypeTag::String,
            b'o' => TypeTag::Json,
            b'A' => TypeTag::Array,
            b'B' => TypeTag::Buffer,
            b'C' => TypeTag::ArrayBuffer,
            b'+' => TypeTag::PositiveInteger,
            b'-' => TypeTag::NegativeInteger,
            b'd' => TypeTag::Double,
            b'D' => TypeTag::Date,
            b'T' => TypeTag::True,
            b'F' => TypeTag::False,
            b'N' => TypeTag::Null,
            b'U' => TypeTag::Undefined,
            _ => return None,
        })
    }

    /// The type byte written on the wire.
    pub const fn byte(self) -> u8 {
        match self {
            TypeTag::String => b's',
            TypeTag::Json => b'o',
            TypeTag::Array => b'A',
            TypeTag::Buffer => b'B',
            TypeTag::ArrayBuffer => b'C',
            TypeTag::PositiveInteger => b'+',
            TypeTag::NegativeInteger => b'-',
            TypeTag::Double => b'd',
            TypeTag::Date => b'D',
            TypeTag::True => b'T',
            TypeTag::False => b'F',
            TypeTag::Null => b'N',
            TypeTag::Undefined => b'U',
        }
    }

    /// The content length of a fixed-size type, or `None` for a dynamic type whose header
    /// carries the length.
    pub const fn fixed_content_len(self) -> Option<usize> {
        match self {
            TypeTag::PositiveInteger | TypeTag::NegativeInteger => Some(4),
            TypeTag::Double | TypeTag::Date => Some(8),
            TypeTag::True | TypeTag::False | TypeTag::Null | TypeTag::Undefined => Some(0),
            TypeTag::String
            | TypeTag::Json
            | TypeTag::Array
            | TypeTag::Buffer
            | TypeTag::ArrayBuffer => None,
        }
    }

    /// Whether the header carries a u32 content length (6-byte header).
    pub const fn is_dynamic(self) -> bool {
        self.fixed_content_len().is_none()
    }

    /// Header length for this tag: 6 for dynamic types, 2 for fixed ones.
    pub const fn header_len(self) -> usize {
        if self.is_dynamic() {
            DYNAMIC_HEADER_LEN
        } else {
            FIXED_HEADER_LEN
        }
    }
}

/// A decoded value header: the type and the size of what follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueHeader {
    /// The value's type.
    pub tag: TypeTag,
    /// Content length as declared (dynamic types) or implied (fixed types).
    pub content_len: u32,
}

impl ValueHeader {
    /// Header length in bytes (2 or 6).
    pub const fn header_len(&self) -> usize {
        self.tag.header_len()
    }

    /// Total encoded size of the value: header, content and footer. Computed in `u64` so a
    /// declared 4 GiB length cannot overflow on any target.
    pub const fn total_len(&self) -> u64 {
        self.header_len() as u64 + self.content_len as u64 + FOOTER_LEN as u64
    }

    /// Reads a value header at the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` is too short to hold the whole header (2 or 6 bytes),
    /// and an error when the first byte is not `'['` or the type byte is unknown. Only the
    /// header is examined; the content may still be missing.
    pub fn read(buf: &[u8]) -> Result<Option<ValueHeader>, FrameError> {
        let (sep, type_byte) = match buf {
            [] => return Ok(None),
            [sep] => {
                if *sep != HEADER_SEPARATOR {
                    return Err(FrameError::BadSeparator(*sep));
                }
                return Ok(None);
            }
            [sep, type_byte, ..] => (*sep, *type_byte),
        };
        if sep != HEADER_SEPARATOR {
            return Err(FrameError::BadSeparator(sep));
        }
        let tag = TypeTag::from_byte(type_byte).ok_or(FrameError::UnknownType(type_byte))?;
        let content_len = match tag.fixed_content_len() {
            Some(len) => len as u32,
            None => match buf.get(FIXED_HEADER_LEN..DYNAMIC_HEADER_LEN) {
                Some(mut len) => len.get_u32_le(),
                None => return Ok(None),
            },
        };
        Ok(Some(ValueHeader { tag, content_len }))
    }

    /// Appends this header to `dst` (`'['`, type byte and, for dynamic types, the length).
    pub fn write(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(&[HEADER_SEPARATOR, self.tag.byte()]);
        if self.tag.is_dynamic() {
            dst.extend_from_slice(&self.content_len.to_le_bytes());
        }
    }
}

/// What [`check_frame`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameStatus {
    /// Not enough bytes yet. `needed` is the total number of bytes (counted from the start
    /// of the buffer) required to make progress: the header length while the header is
    /// partial, then the whole frame length. It never exceeds the frame limit, so a reader
    /// may reserve it safely.
    Incomplete {
        /// Bytes required from the start of the buffer.
        needed: usize,
    },
    /// A whole frame of `len` bytes is at the start of the buffer.
    Complete {
        /// Frame length in bytes, header and footer included.
        len: usize,
    },
}

/// Errors of the framing layer. Every one of them leaves the stream out of sync: the
/// connection must be closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The first header byte is not `'['`.
    #[error("invalid header: byte 0x{0:02x} where '[' was expected")]
    BadSeparator(u8),
    /// The type byte is not one the socket-serializer reader accepts.
    #[error("invalid header: unknown value type byte 0x{0:02x}")]
    UnknownType(u8),
    /// The header declares a frame larger than the configured maximum.
    #[error("frame of {declared} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Frame size computed from the header (header, content and footer).
        declared: u64,
        /// The limit in force.
        max: usize,
    },
    /// The byte after the content is not `']'`.
    #[error("invalid footer: byte 0x{0:02x} where ']' was expected")]
    BadFooter(u8),
}

/// Examines the start of `buf` for one top-level frame without consuming anything.
///
/// The size limit is enforced from the header alone, so a peer that declares a 4 GiB value
/// is rejected after 6 bytes. A complete frame's footer byte is verified.
pub fn check_frame(buf: &[u8], max_frame: usize) -> Result<FrameStatus, FrameError> {
    let Some(header) = ValueHeader::read(buf)? else {
        let needed = match buf.get(1).copied().and_then(TypeTag::from_byte) {
            Some(tag) => tag.header_len(),
            None => FIXED_HEADER_LEN,
        };
        return Ok(FrameStatus::Incomplete { needed });
    };
    let declared = header.total_len();
    if declared > max_frame as u64 {
        return Err(FrameError::TooLarge {
            declared,
            max: max_frame,
        });
    }
    // `declared <= max_frame`, so it fits in usize.
    let len = declared as usize;
    match buf.get(len - 1) {
        None => Ok(FrameStatus::Incomplete { needed: len }),
        Some(&FOOTER) => Ok(FrameStatus::Complete { len }),
        Some(&other) => Err(FrameError::BadFooter(other)),
    }
}

/// Splits one complete top-level frame off the front of `buf`.
///
/// Returns `Ok(None)` while the frame is incomplete (nothing is consumed), the frame as a
/// zero-copy [`Bytes`] once it is whole, or a [`FrameError`] after which the stream is
/// unusable.
///
/// Nothing is reserved for an announced frame: a peer that sends only headers costs only
/// what it sent. A reader that wants to pre-size its buffer can use the `needed` hint of
/// [`check_frame`], which never exceeds `max_frame`.
pub fn decode_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<Bytes>, FrameError> {
    match check_frame(buf, max_frame)? {
        FrameStatus::Complete { len } => Ok(Some(buf.split_to(len).freeze())),
        FrameStatus::Incomplete { .. } => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_their_byte() {
        for tag in TypeTag::ALL {
            assert_eq!(TypeTag::from_byte(tag.byte()), Some(tag));
        }
        for never_written in [b'O', b'X', b'p', b'a', 0, 0xff] {
            assert_eq!(TypeTag::from_byte(never_written), None);
        }
    }

    #[test]
    fn header_needs_two_or_six_bytes() {
        assert_eq!(ValueHeader::read(b""), Ok(None));
        assert_eq!(ValueHeader::read(b"["), Ok(None));
        assert_eq!(ValueHeader::read(b"[A\x01\x00"), Ok(None));
        assert_eq!(
            ValueHeader::read(b"[T"),
            Ok(Some(ValueHeader {
                tag: TypeTag::True,
                content_len: 0
            }))
        );
        assert_eq!(
            ValueHeader::read(b"[s\x05\x00\x00\x00"),
            Ok(Some(ValueHeader {
                tag: TypeTag::String,
                content_len: 5
            }))
        );
    }

    #[test]
    fn four_gigabyte_declaration_is_rejected_from_the_header() {
        let buf = [b'[', b'A', 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            check_frame(&buf, DEFAULT_MAX_FRAME),
            Err(FrameError::TooLarge {
                declared: 0xffff_ffff + 7,
                max: DEFAULT_MAX_FRAME
            })
        );
    }

    #[test]
    fn incomplete_reports_what_is_needed() {
        assert_eq!(
            check_frame(b"[", 100),
            Ok(FrameStatus::Incomplete { needed: 2 })
        );
        assert_eq!(
            check_frame(b"[s", 100),
            Ok(FrameStatus::Incomplete { needed: 6 })
        );
        assert_eq!(
            check_frame(b"[s\x02\x00\x00\x00a", 100),
            Ok(FrameStatus::Incomplete { needed: 9 })
        );
        assert_eq!(
            check_frame(b"[s\x02\x00\x00\x00ab]", 100),
            Ok(FrameStatus::Complete { len: 9 })
        );
    }

    #[test]
    fn decode_frame_consumes_exactly_one_frame() {
        let mut buf = BytesMut::from(&b"[T][N][s\x01\x00"[..]);
        assert_eq!(decode_frame(&mut buf, 64).unwrap().unwrap(), &b"[T]"[..]);
        assert_eq!(decode_frame(&mut buf, 64).unwrap().unwrap(), &b"[N]"[..]);
        assert_eq!(decode_frame(&mut buf, 64).unwrap(), None);
        assert_eq!(&buf[..], b"[s\x01\x00");
        buf.extend_from_slice(b"\x00\x00x]");
        assert_eq!(
            decode_frame(&mut buf, 64).unwrap().unwrap(),
            &b"[s\x01\x00\x00\x00x]"[..]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn garbage_and_bad_footers_are_errors() {
        assert_eq!(
            check_frame(b"GET /", 64),
            Err(FrameError::BadSeparator(b'G'))
        );
        assert_eq!(check_frame(b"[O", 64), Err(FrameError::UnknownType(b'O')));
        assert_eq!(check_frame(b"[Tx", 64), Err(FrameError::BadFooter(b'x')));
    }
}
