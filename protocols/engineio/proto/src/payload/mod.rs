//! HTTP long-polling payloads: several packets in one request or response body.
//!
//! | revision | body format | layout |
//! |---|---|---|
//! | v4 | text | packets in string form joined by `0x1e`; binary as `b<base64>` |
//! | v3 | text | `<length>:<packet>` repeated, length in UTF-16 code units; binary as `b4<base64>` |
//! | v3 | binary (XHR2) | per packet: `0` (string) or `1` (binary), the length as digit bytes 0–9, `0xFF`, then the packet |
//!
//! Decoding checks the size limit and the body's UTF-8 first, then yields the
//! packets one by one ([`PayloadDecoder`]), stopping after the first error,
//! so the packets before a broken one are delivered as engine.io does.
//! Packets share the body's buffer.
//!
//! v4 has no escaping: a text packet whose data contains `0x1e` is split in
//! two by the receiver (engine.io has the same limitation; Socket.IO's JSON
//! escapes the character). Such text is safe over WebSocket or as binary.
//!
//! Encoding writes into a caller's `BytesMut` and reports which
//! [`PayloadFormat`] it produced (v3 servers answer in binary only when the
//! client supports it and a binary packet is present, as engine.io 3 did).

mod v3;
mod v4;

use bytes::{Bytes, BytesMut};

use crate::error::{Error, check_size};
use crate::packet::Packet;
use crate::protocol::ProtocolVersion;
use crate::str::Str;

/// engine.io's default `maxHttpBufferSize`: 1 MB.
pub const DEFAULT_MAX_PAYLOAD: usize = 1_000_000;

/// The v4 record separator between packets.
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// The body of an answered POST: `ok`, sent as `text/html` by engine.io.
pub const POST_OK_BODY: &str = "ok";

/// The two body formats of a polling request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// A UTF-8 text body (`text/plain; charset=UTF-8`).
    Text,
    /// A binary body (`application/octet-stream`): the v3 XHR2 form.
    Binary,
}

impl PayloadFormat {
    /// The format a request body is in, from its `Content-Type` header:
    /// `application/octet-stream` (parameters and case ignored) is
    /// [`PayloadFormat::Binary`], anything else or nothing is text.
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        let media = content_type
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        if media.eq_ignore_ascii_case("application/octet-stream") {
            PayloadFormat::Binary
        } else {
            PayloadFormat::Text
        }
    }

    /// The `Content-Type` of a response body in this format, as engine.io sends it.
    pub fn content_type(self) -> &'static str {
        match self {
            PayloadFormat::Text => "text/plain; charset=UTF-8",
            PayloadFormat::Binary => "application/octet-stream",
        }
    }
}

/// Starts decoding a polling request body.
///
/// Fails at once when the body is larger than `max_size`
/// ([`Error::TooLarge`]), when it is binary in v4
/// ([`Error::BinaryPayloadInV4`]), when a text body is empty or not UTF-8.
/// Otherwise the returned iterator yields the packets.
pub fn decode_payload(
    version: ProtocolVersion,
    format: PayloadFormat,
    body: Bytes,
    max_size: usize,
) -> Result<PayloadDecoder, Error> {
    check_size(body.len(), max_size)?;
    let inner = match (version, format) {
        (ProtocolVersion::V4, PayloadFormat::Binary) => return Err(Error::BinaryPayloadInV4),
        (_, PayloadFormat::Text) => {
            if body.is_empty() {
                return Err(Error::EmptyPayload);
            }
            let text = Str::from_utf8(body)?;
            match version {
                ProtocolVersion::V4 => Inner::V4(v4::Decoder::new(text)),
                ProtocolVersion::V3 => Inner::V3Text(v3::TextDecoder::new(text)),
            }
        }
        (ProtocolVersion::V3, PayloadFormat::Binary) => {
            Inner::V3Binary(v3::BinaryDecoder::new(body))
        }
    };
    Ok(PayloadDecoder {
        inner,
        failed: false,
    })
}

/// Decodes a whole polling body into a vector, failing on the first bad packet.
pub fn decode_payload_vec(
    version: ProtocolVersion,
    format: PayloadFormat,
    body: Bytes,
    max_size: usize,
) -> Result<Vec<Packet>, Error> {
    decode_payload(version, format, body, max_size)?.collect()
}

/// Iterator over the packets of a polling body; see [`decode_payload`].
///
/// Yields `Ok` packets in order; after the first `Err` it yields nothing more.
#[derive(Debug)]
pub struct PayloadDecoder {
    inner: Inner,
    failed: bool,
}

#[derive(Debug)]
enum Inner {
    V4(v4::Decoder),
    V3Text(v3::TextDecoder),
    V3Binary(v3::BinaryDecoder),
}

impl Iterator for PayloadDecoder {
    type Item = Result<Packet, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = match &mut self.inner {
            Inner::V4(d) => d.next_packet(),
            Inner::V3Text(d) => d.next_packet(),
            Inner::V3Binary(d) => d.next_packet(),
        };
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

/// Encodes packets as a polling response body into `buf` and returns the
/// body's format (for the `Content-Type`).
///
/// - v4: always text; binary messages as `b<base64>`.
/// - v3: binary (XHR2) form when `supports_binary` (the client did not send
///   `b64=1`) and at least one packet is binary; otherwise the text form, with
///   binary messages as `b4<base64>`. An empty list encodes as `0:`.
pub fn encode_payload<'a, I>(
    version: ProtocolVersion,
    packets: I,
    supports_binary: bool,
    buf: &mut BytesMut,
) -> PayloadFormat
where
    I: IntoIterator<Item = &'a Packet>,
    I::IntoIter: Clone,
{
    let packets = packets.into_iter();
    match version {
        ProtocolVersion::V4 => {
            v4::encode(packets, buf);
            PayloadFormat::Text
        }
        ProtocolVersion::V3 => {
            if supports_binary && packets.clone().any(Packet::is_binary) {
                v3::encode_binary(packets, buf);
                PayloadFormat::Binary
            } else {
                v3::encode_text(packets, buf);
                PayloadFormat::Text
            }
        }
    }
}

/// Writes the decimal digits of `n`, most significant first, into `out` as
/// values 0..=9 and returns them.
fn digits(mut n: usize, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        // `n % 10` is below 10, so the cast is lossless.
        out[i] = (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    &out[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(PayloadFormat::from_content_type(None), PayloadFormat::Text);
        assert_eq!(
            PayloadFormat::from_content_type(Some("text/plain;charset=UTF-8")),
            PayloadFormat::Text
        );
        assert_eq!(
            PayloadFormat::from_content_type(Some("application/octet-stream")),
            PayloadFormat::Binary
        );
        assert_eq!(
            PayloadFormat::from_content_type(Some(" Application/Octet-Stream ; x=y")),
            PayloadFormat::Binary
        );
        assert_eq!(
            PayloadFormat::Text.content_type(),
            "text/plain; charset=UTF-8"
        );
        assert_eq!(
            PayloadFormat::Binary.content_type(),
            "application/octet-stream"
        );
    }

    #[test]
    fn digit_values() {
        let mut out = [0; 20];
        assert_eq!(digits(0, &mut out), &[0]);
        assert_eq!(digits(6, &mut out), &[6]);
        assert_eq!(digits(1024, &mut out), &[1, 0, 2, 4]);
        assert_eq!(
            digits(usize::MAX, &mut out).len(),
            usize::MAX.to_string().len()
        );
    }

    #[test]
    fn size_limit_is_checked_first() {
        let body = Bytes::from_static(b"4hello");
        assert_eq!(
            decode_payload(ProtocolVersion::V4, PayloadFormat::Text, body.clone(), 5).err(),
            Some(Error::TooLarge { len: 6, max: 5 })
        );
        assert!(decode_payload(ProtocolVersion::V4, PayloadFormat::Text, body, 6).is_ok());
    }
}
