//! Standard base64 (with padding) for `b`-prefixed binary packets, decoding
//! and encoding straight between `Bytes`/`BytesMut` buffers.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::{Bytes, BytesMut};

use crate::error::Error;

/// Encodes with `=` padding (as Node's `Buffer#toString("base64")` and the
/// browser client do) and accepts input with or without padding (Node's
/// decoder is lenient about it).
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Length of the padded base64 form of `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    n.div_ceil(3).saturating_mul(4)
}

/// Appends the base64 form of `data` to `buf`.
pub(crate) fn encode_into(data: &[u8], buf: &mut BytesMut) {
    let start = buf.len();
    buf.resize(start + encoded_len(data.len()), 0);
    // The slice has exactly the needed size, so this cannot fail; on the
    // impossible error keep the buffer consistent rather than panic.
    match ENGINE.encode_slice(data, &mut buf[start..]) {
        Ok(written) => buf.truncate(start + written),
        Err(_) => buf.truncate(start),
    }
}

/// Decodes base64 text into a new buffer.
pub(crate) fn decode(input: &[u8]) -> Result<Bytes, Error> {
    let mut out = vec![0u8; base64::decoded_len_estimate(input.len())];
    let n = ENGINE
        .decode_slice(input, &mut out)
        .map_err(|_| Error::InvalidBase64)?;
    out.truncate(n);
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let mut buf = BytesMut::new();
        encode_into(&[1, 2, 3, 4], &mut buf);
        assert_eq!(&buf[..], b"AQIDBA==");
        assert_eq!(decode(b"AQIDBA==").as_deref(), Ok(&[1u8, 2, 3, 4][..]));
        assert_eq!(decode(b"AQIDBA").as_deref(), Ok(&[1u8, 2, 3, 4][..]));
        assert_eq!(decode(b"").as_deref(), Ok(&[][..]));
        for n in 0..10 {
            assert_eq!(encoded_len(n), base64::encoded_len(n, true).unwrap_or(0));
        }
    }

    #[test]
    fn rejects_broken_base64() {
        for bad in [&b"A"[..], b"AQID!A==", b"AQ=D", b"====", b"AQIDB"] {
            assert_eq!(decode(bad), Err(Error::InvalidBase64), "{bad:?}");
        }
    }
}
