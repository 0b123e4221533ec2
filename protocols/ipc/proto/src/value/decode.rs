//! Decoding values from a complete frame.

use bytes::{Buf, Bytes};

use super::{MAX_DEPTH, MAX_LENIENT_PADDING, TypedArray, TypedArrayKind, Value, ValueError};
use crate::frame::{FOOTER, FOOTER_LEN, MIN_VALUE_LEN, TypeTag, ValueHeader};
use crate::json::JsonText;

impl Value {
    /// Decodes the single value that spans all of `src`.
    ///
    /// `src` must be complete (a whole frame from [`crate::frame::decode_frame`], or the raw
    /// args of a packet); a short buffer is an error here, not "incomplete". Decoding is
    /// strict: every length, footer and element count must agree, strings must be UTF-8
    /// and `o` contents valid JSON. `Buffer` and typed-array contents are zero-copy slices
    /// of `src`.
    pub fn decode(src: &Bytes) -> Result<Value, ValueError> {
        decode_all(src, false)
    }

    /// Like [`Value::decode`], but tolerates arrays that declare more elements than they
    /// hold, padding them with `undefined` as the JS reader does.
    ///
    /// electron-common-ipc 16 clients produce such arrays when an argument is a
    /// `Float32Array`: the writer counts it but writes nothing. At most
    /// [`MAX_LENIENT_PADDING`] elements are padded per array.
    pub fn decode_lenient(src: &Bytes) -> Result<Value, ValueError> {
        decode_all(src, true)
    }
}

fn decode_all(src: &Bytes, lenient: bool) -> Result<Value, ValueError> {
    let decoder = Decoder { src, lenient };
    let (value, end) = decoder.value_at(0, src.len(), 0)?;
    match src.len() - end {
        0 => Ok(value),
        rest => Err(ValueError::TrailingBytes(rest)),
    }
}

struct Decoder<'a> {
    src: &'a Bytes,
    lenient: bool,
}

/// Where a value's parts lie in the source buffer.
pub(crate) struct Located {
    /// The value's header.
    pub(crate) header: ValueHeader,
    /// Index of the first content byte.
    pub(crate) content_start: usize,
    /// Index just past the content (where the footer is).
    pub(crate) content_end: usize,
}

impl Located {
    /// Index just past the footer.
    pub(crate) fn end(&self) -> usize {
        self.content_end + FOOTER_LEN
    }
}

/// Finds the value starting at `pos`, checking that it, footer included, ends by `end`.
pub(crate) fn locate(src: &[u8], pos: usize, end: usize) -> Result<Located, ValueError> {
    let window = src.get(pos..end).unwrap_or_default();
    let Some(header) = ValueHeader::read(window)? else {
        return Err(ValueError::Truncated {
            needed: MIN_VALUE_LEN as u64,
            available: window.len(),
        });
    };
    let total = header.total_len();
    if total > window.len() as u64 {
        return Err(ValueError::Truncated {
            needed: total,
            available: window.len(),
        });
    }
    // `total <= window.len()`, so these fit in usize and stay within `src`.
    let content_start = pos + header.header_len();
    let content_end = content_start + header.content_len as usize;
    match src.get(content_end) {
        Some(&FOOTER) => Ok(Located {
            header,
            content_start,
            content_end,
        }),
        Some(&other) => Err(ValueError::BadFooter(other)),
        None => Err(ValueError::Truncated {
            needed: total,
            available: window.len(),
        }),
    }
}

impl Decoder<'_> {
    fn value_at(&self, pos: usize, end: usize, depth: usize) -> Result<(Value, usize), ValueError> {
        let loc = locate(self.src, pos, end)?;
        let content = self
            .src
            .get(loc.content_start..loc.content_end)
            .unwrap_or_default();
        let value = match loc.header.tag {
            TypeTag::String => Value::String(utf8(content)?.to_owned()),
            TypeTag::Json => {
                let text = utf8(content)?;
                Value::Json(
                    JsonText::new(text).map_err(|e| ValueError::InvalidJson(e.to_string()))?,
                )
            }
            TypeTag::Buffer => Value::Buffer(self.src.slice(loc.content_start..loc.content_end)),
            TypeTag::ArrayBuffer => {
                let Some(&code) = content.first() else {
                    return Err(ValueError::ContentTooShort {
                        tag: TypeTag::ArrayBuffer,
                        len: loc.header.content_len,
                    });
                };
                Value::TypedArray(TypedArray {
                    kind: TypedArrayKind::from_code(code),
                    bytes: self.src.slice(loc.content_start + 1..loc.content_end),
                })
            }
            TypeTag::PositiveInteger => Value::PositiveInteger(u32_le(content)),
            TypeTag::NegativeInteger => Value::NegativeInteger(u32_le(content)),
            TypeTag::Double => Value::Double(f64_le(content)),
            TypeTag::Date => Value::Date(f64_le(content)),
            TypeTag::True => Value::Bool(true),
            TypeTag::False => Value::Bool(false),
            TypeTag::Null => Value::Null,
            TypeTag::Undefined => Value::Undefined,
            TypeTag::Array => self.array(&loc, depth)?,
        };
        Ok((value, loc.end()))
    }

    fn array(&self, loc: &Located, depth: usize) -> Result<Value, ValueError> {
        if depth >= MAX_DEPTH {
            return Err(ValueError::TooDeep);
        }
        let content = self
            .src
            .get(loc.content_start..loc.content_end)
            .unwrap_or_default();
        let Some(mut count_bytes) = content.get(..4) else {
            return Err(ValueError::ContentTooShort {
                tag: TypeTag::Array,
                len: loc.header.content_len,
            });
        };
        let declared = count_bytes.get_u32_le();
        let end = loc.content_end;
        let mut pos = loc.content_start + 4;
        // Never trust the count for allocation: every element takes at least 3 bytes.
        let room = (end - pos) / MIN_VALUE_LEN;
        let mut items = Vec::with_capacity((declared as usize).min(room));
        while items.len() < declared as usize {
            if pos == end {
                let missing = declared as usize - items.len();
                if self.lenient && missing <= MAX_LENIENT_PADDING {
                    items.resize(declared as usize, Value::Undefined);
                    break;
                }
                return Err(ValueError::MissingElements {
                    declared,
                    found: items.len(),
                });
            }
            let (item, next) = self.value_at(pos, end, depth + 1)?;
            items.push(item);
            pos = next;
        }
        if pos != end {
            return Err(ValueError::TrailingBytes(end - pos));
        }
        Ok(Value::Array(items))
    }
}

fn utf8(content: &[u8]) -> Result<&str, ValueError> {
    std::str::from_utf8(content).map_err(|_| ValueError::InvalidUtf8)
}

/// Reads a u32 LE; the caller's header guarantees 4 content bytes.
fn u32_le(content: &[u8]) -> u32 {
    let mut raw = [0u8; 4];
    if let Some(bytes) = content.get(..4) {
        raw.copy_from_slice(bytes);
    }
    u32::from_le_bytes(raw)
}

/// Reads an f64 LE; the caller's header guarantees 8 content bytes.
fn f64_le(content: &[u8]) -> f64 {
    let mut raw = [0u8; 8];
    if let Some(bytes) = content.get(..8) {
        raw.copy_from_slice(bytes);
    }
    f64::from_le_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Value, ValueError> {
        Value::decode(&Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn scalars() {
        assert_eq!(
            decode(b"[+\x2a\x00\x00\x00]"),
            Ok(Value::PositiveInteger(42))
        );
        assert_eq!(
            decode(b"[-\x07\x00\x00\x00]"),
            Ok(Value::NegativeInteger(7))
        );
        assert_eq!(decode(b"[T]"), Ok(Value::Bool(true)));
        assert_eq!(decode(b"[U]"), Ok(Value::Undefined));
        assert_eq!(
            decode(b"[s\x05\x00\x00\x00hello]"),
            Ok(Value::String("hello".into()))
        );
    }

    #[test]
    fn strict_rejects_missing_elements_and_lenient_pads() {
        // ['a', <Float32Array written as nothing>, 'b'] as the JS writer sends it.
        let bytes = Bytes::from_static(
            b"[A\x14\x00\x00\x00\x03\x00\x00\x00[s\x01\x00\x00\x00a][s\x01\x00\x00\x00b]]",
        );
        assert_eq!(
            Value::decode(&bytes),
            Err(ValueError::MissingElements {
                declared: 3,
                found: 2
            })
        );
        assert_eq!(
            Value::decode_lenient(&bytes),
            Ok(Value::Array(vec!["a".into(), "b".into(), Value::Undefined]))
        );
    }

    #[test]
    fn huge_count_does_not_allocate_or_pad() {
        let bytes = Bytes::from_static(b"[A\x04\x00\x00\x00\xff\xff\xff\xff]");
        assert!(matches!(
            Value::decode_lenient(&bytes),
            Err(ValueError::MissingElements { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        // Build MAX_DEPTH + 1 nested single-element arrays around a null.
        let mut bytes = b"[N]".to_vec();
        for _ in 0..=MAX_DEPTH {
            let mut outer = b"[A".to_vec();
            outer.extend_from_slice(&((bytes.len() + 4) as u32).to_le_bytes());
            outer.extend_from_slice(&1u32.to_le_bytes());
            outer.extend_from_slice(&bytes);
            outer.push(b']');
            bytes = outer;
        }
        assert_eq!(decode(&bytes), Err(ValueError::TooDeep));
    }

    #[test]
    fn element_overrunning_its_array_is_truncated() {
        // The array claims 10 content bytes, but its string element claims 5 more than fit.
        let bytes = b"[A\x0a\x00\x00\x00\x01\x00\x00\x00[s\x05\x00\x00\x00]]";
        assert!(matches!(decode(bytes), Err(ValueError::Truncated { .. })));
    }
}
