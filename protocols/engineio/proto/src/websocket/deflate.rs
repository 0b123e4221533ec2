//! permessage-deflate payloads (RFC 7692 §7.2) without context takeover: each message is
//! compressed with a reset compressor, flushed with a sync flush whose `00 00 ff ff` tail is
//! removed, and inflated with a reset decompressor after putting the tail back.

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::WsError;

/// The tail of a sync flush, removed on the wire.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Output grows by this much at a time.
const CHUNK: usize = 4096;

/// Compresses one message into `out` (appended), for a frame with RSV1 set.
///
/// `compressor` must be a raw deflate compressor (`Compress::new(level, false)`); it is reset
/// first, so one compressor serves any number of connections.
pub fn compress_message(
    compressor: &mut Compress,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), WsError> {
    compressor.reset();
    let start = out.len();
    let room = CHUNK.max(input.len() / 4 + 64);
    let mut consumed = 0usize;
    loop {
        let filled = out.len();
        out.resize(filled + room, 0);
        let (used, produced, _) = step(compressor, &input[consumed..], &mut out[filled..])?;
        consumed += used;
        out.truncate(filled + produced);
        // Done once every byte went in and the flush fitted in the room given.
        if consumed == input.len() && produced < room {
            break;
        }
    }
    // A sync flush ends with an empty stored block: 00 00 ff ff, left off the wire.
    if out.len() >= start + 4 && out[out.len() - 4..] == TAIL {
        out.truncate(out.len() - 4);
    }
    Ok(())
}

fn step(c: &mut Compress, input: &[u8], out: &mut [u8]) -> Result<(usize, usize, Status), WsError> {
    let (i, o) = (c.total_in(), c.total_out());
    let status = c
        .compress(input, out, FlushCompress::Sync)
        .map_err(|e| WsError::Compression(e.to_string()))?;
    Ok((
        (c.total_in() - i) as usize,
        (c.total_out() - o) as usize,
        status,
    ))
}

/// Inflates one compressed message, refusing to produce more than `max` bytes.
///
/// `decompressor` must be a raw inflater (`Decompress::new(false)`); it is reset first.
pub fn decompress_message(
    decompressor: &mut Decompress,
    input: &[u8],
    max: usize,
) -> Result<Bytes, WsError> {
    decompressor.reset(false);
    let mut out = BytesMut::new();
    let room = CHUNK.max(input.len() * 2).min(max.saturating_add(1)).max(1);
    for part in [input, &TAIL[..]] {
        let mut consumed = 0usize;
        loop {
            let filled = out.len();
            out.resize(filled + room, 0);
            let (i, o) = (decompressor.total_in(), decompressor.total_out());
            let status = decompressor
                .decompress(&part[consumed..], &mut out[filled..], FlushDecompress::Sync)
                .map_err(|e| WsError::Compression(e.to_string()))?;
            let used = (decompressor.total_in() - i) as usize;
            let produced = (decompressor.total_out() - o) as usize;
            consumed += used;
            out.truncate(filled + produced);
            if out.len() > max {
                return Err(WsError::TooLarge {
                    len: out.len() as u64,
                    max,
                });
            }
            if status == Status::StreamEnd {
                // A final block (BFINAL): the message ends here, the tail is not needed.
                return Ok(out.freeze());
            }
            if consumed == part.len() && produced < room {
                break;
            }
            if used == 0 && produced == 0 {
                return Err(WsError::Compression(
                    "truncated or invalid deflate data".to_owned(),
                ));
            }
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;

    fn inflate(input: &[u8], max: usize) -> Result<Bytes, WsError> {
        decompress_message(&mut Decompress::new(false), input, max)
    }

    #[test]
    fn rfc_7692_examples_inflate() {
        // §7.2.3.1: "Hello" compressed
        assert_eq!(
            inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100).as_deref(),
            Ok(&b"Hello"[..])
        );
        // §7.2.3.3: "Hello" in a stored (uncompressed) block
        assert_eq!(
            inflate(
                &[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00
                ],
                100
            )
            .as_deref(),
            Ok(&b"Hello"[..])
        );
        // §7.2.3.4: BFINAL set
        assert_eq!(
            inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00], 100).as_deref(),
            Ok(&b"Hello"[..])
        );
        // an empty message is the tail alone
        assert_eq!(inflate(&[0x00], 100).as_deref(), Ok(&b""[..]));
    }

    #[test]
    fn round_trips_with_one_shared_compressor() {
        let mut c = Compress::new(Compression::fast(), false);
        let mut d = Decompress::new(false);
        let messages: Vec<Vec<u8>> = vec![
            b"Hello".to_vec(),
            Vec::new(),
            vec![b'x'; 100_000],
            (0..50_000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ];
        for m in &messages {
            let mut out = BytesMut::new();
            assert_eq!(compress_message(&mut c, m, &mut out), Ok(()));
            assert_ne!(&out[out.len().saturating_sub(4)..], TAIL, "tail removed");
            assert_eq!(
                decompress_message(&mut d, &out, 1 << 20).as_deref(),
                Ok(&m[..])
            );
        }
        let mut out = BytesMut::new();
        let _ = compress_message(&mut c, &messages[2], &mut out);
        assert!(out.len() < 1000, "{} bytes", out.len());
    }

    #[test]
    fn bombs_and_garbage_are_refused() {
        let mut c = Compress::new(Compression::fast(), false);
        let mut out = BytesMut::new();
        let _ = compress_message(&mut c, &vec![0u8; 1_000_000], &mut out);
        assert!(matches!(
            inflate(&out, 10_000),
            Err(WsError::TooLarge { .. })
        ));
        assert_eq!(inflate(&out, 1_000_000).map(|b| b.len()), Ok(1_000_000));
        assert!(matches!(
            inflate(&[0xff, 0xff, 0xff, 0xff], 100),
            Err(WsError::Compression(_))
        ));
    }
}
