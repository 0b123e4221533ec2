//! Encoding values into a `BytesMut`.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Value, ValueError};
use crate::frame::{DYNAMIC_HEADER_LEN, FIXED_HEADER_LEN, FOOTER, FOOTER_LEN, HEADER_SEPARATOR};

impl Value {
    /// Appends the encoding of this value to `dst`.
    ///
    /// Strings, JSON text and binary contents are copied once; arrays are written in a
    /// single pass with their length patched afterwards. On error (a content larger than
    /// the u32 length field) `dst` is restored to its previous length.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), ValueError> {
        let start = dst.len();
        dst.reserve(self.encoded_len());
        let result = write(self, dst);
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }

    /// This value encoded into a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes, ValueError> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }

    /// Exact number of bytes [`Value::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let dynamic = |content: usize| DYNAMIC_HEADER_LEN + content + FOOTER_LEN;
        match self {
            Value::String(s) => dynamic(s.len()),
            Value::Json(text) => dynamic(text.as_str().len()),
            Value::Buffer(b) => dynamic(b.len()),
            Value::TypedArray(t) => dynamic(1 + t.bytes.len()),
            Value::Array(items) => dynamic(4 + items.iter().map(Value::encoded_len).sum::<usize>()),
            Value::PositiveInteger(_) | Value::NegativeInteger(_) => FIXED_HEADER_LEN + 4 + 1,
            Value::Double(_) | Value::Date(_) => FIXED_HEADER_LEN + 8 + 1,
            Value::Bool(_) | Value::Null | Value::Undefined => FIXED_HEADER_LEN + 1,
        }
    }
}

fn write(value: &Value, dst: &mut BytesMut) -> Result<(), ValueError> {
    let tag = value.tag().byte();
    match value {
        Value::String(s) => write_dynamic(dst, tag, s.as_bytes())?,
        Value::Json(text) => write_dynamic(dst, tag, text.as_str().as_bytes())?,
        Value::Buffer(b) => write_dynamic(dst, tag, b)?,
        Value::TypedArray(t) => {
            let len = content_len(1 + t.bytes.len())?;
            dst.put_slice(&[HEADER_SEPARATOR, tag]);
            dst.put_u32_le(len);
            dst.put_u8(t.kind.code());
            dst.put_slice(&t.bytes);
            dst.put_u8(FOOTER);
        }
        Value::Array(items) => write_array(dst, items)?,
        Value::PositiveInteger(n) | Value::NegativeInteger(n) => {
            dst.put_slice(&[HEADER_SEPARATOR, tag]);
            dst.put_u32_le(*n);
            dst.put_u8(FOOTER);
        }
        Value::Double(n) | Value::Date(n) => {
            dst.put_slice(&[HEADER_SEPARATOR, tag]);
            dst.put_f64_le(*n);
            dst.put_u8(FOOTER);
        }
        Value::Bool(_) | Value::Null | Value::Undefined => {
            dst.put_slice(&[HEADER_SEPARATOR, tag, FOOTER]);
        }
    }
    Ok(())
}

/// Writes an `A` value holding `items`, patching its length once the items are written.
/// On error `dst` may hold a partial value; callers truncate.
pub(crate) fn write_array(dst: &mut BytesMut, items: &[Value]) -> Result<(), ValueError> {
    let len_at = begin_dynamic(dst, b'A');
    let count = u32::try_from(items.len()).map_err(|_| ValueError::TooLarge(items.len()))?;
    dst.put_u32_le(count);
    for item in items {
        write(item, dst)?;
    }
    end_dynamic(dst, len_at)
}

/// Writes the header of a dynamic value with a zero length placeholder; returns where
/// the length goes, for [`end_dynamic`].
pub(crate) fn begin_dynamic(dst: &mut BytesMut, tag: u8) -> usize {
    dst.put_slice(&[HEADER_SEPARATOR, tag]);
    let len_at = dst.len();
    dst.put_u32_le(0);
    len_at
}

/// Patches the length of the dynamic value begun at `len_at` to cover everything written
/// since, and writes its footer.
pub(crate) fn end_dynamic(dst: &mut BytesMut, len_at: usize) -> Result<(), ValueError> {
    let len = content_len(dst.len() - len_at - 4)?;
    if let Some(slot) = dst.get_mut(len_at..len_at + 4) {
        slot.copy_from_slice(&len.to_le_bytes());
    }
    dst.put_u8(FOOTER);
    Ok(())
}

/// Writes a dynamic value whose content is one slice.
pub(crate) fn write_dynamic(dst: &mut BytesMut, tag: u8, content: &[u8]) -> Result<(), ValueError> {
    let len = content_len(content.len())?;
    dst.reserve(DYNAMIC_HEADER_LEN + content.len() + FOOTER_LEN);
    dst.put_slice(&[HEADER_SEPARATOR, tag]);
    dst.put_u32_le(len);
    dst.put_slice(content);
    dst.put_u8(FOOTER);
    Ok(())
}

fn content_len(len: usize) -> Result<u32, ValueError> {
    u32::try_from(len).map_err(|_| ValueError::TooLarge(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{TypedArray, TypedArrayKind};

    #[test]
    fn encodes_capture_elements() {
        let cases: Vec<(Value, &[u8])> = vec![
            (Value::string("héllo"), b"[s\x06\x00\x00\x00h\xc3\xa9llo]"),
            (Value::number(0.0), b"[+\x00\x00\x00\x00]"),
            (Value::number(-7.0), b"[-\x07\x00\x00\x00]"),
            (Value::number(4_294_967_295.0), b"[+\xff\xff\xff\xff]"),
            (
                Value::number(4_294_967_296.0),
                b"[d\x00\x00\x00\x00\x00\x00\xf0\x41]",
            ),
            (Value::number(-0.25), b"[d\x00\x00\x00\x00\x00\x00\xd0\xbf]"),
            (
                Value::number(f64::NAN),
                b"[d\x00\x00\x00\x00\x00\x00\xf8\x7f]",
            ),
            (Value::number(-0.0), b"[+\x00\x00\x00\x00]"),
            (
                Value::TypedArray(TypedArray {
                    kind: TypedArrayKind::Uint8,
                    bytes: Bytes::from_static(&[4, 5]),
                }),
                b"[C\x03\x00\x00\x00\x01\x04\x05]",
            ),
            (
                Value::Array(vec![Value::number(1.0), "a".into()]),
                b"[A\x13\x00\x00\x00\x02\x00\x00\x00[+\x01\x00\x00\x00][s\x01\x00\x00\x00a]]",
            ),
        ];
        for (value, expected) in cases {
            let bytes = value.to_bytes().unwrap();
            assert_eq!(&bytes[..], expected, "{value:?}");
            assert_eq!(value.encoded_len(), expected.len());
        }
    }
}
