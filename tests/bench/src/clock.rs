//! One monotonic clock for the whole generator, and the timestamp carried in payloads.
//!
//! Every sender writes `TS` followed by 16 lowercase hex digits (nanoseconds since the
//! generator's epoch) at the start of its payload; receivers find it again whichever way a
//! server maps the payload (raw bytes, a text frame, a JSON string).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The length of an encoded timestamp: `TS` + 16 hex digits.
pub const STAMP_LEN: usize = 18;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the generator's epoch.
pub fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The instant `ns` nanoseconds after the epoch.
pub fn instant_at(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `TS<16 hex digits of ns>` into `out[..STAMP_LEN]`; `out` must be long enough.
pub fn write_stamp(out: &mut [u8], ns: u64) {
    if out.len() < STAMP_LEN {
        return;
    }
    out[0] = b'T';
    out[1] = b'S';
    for i in 0..16 {
        let nibble = (ns >> ((15 - i) * 4)) & 0xf;
        out[2 + i] = HEX[nibble as usize];
    }
}

/// Reads a stamp at the start of `data`.
pub fn read_stamp(data: &[u8]) -> Option<u64> {
    if data.len() < STAMP_LEN || data[0] != b'T' || data[1] != b'S' {
        return None;
    }
    let mut v = 0u64;
    for &c in &data[2..STAMP_LEN] {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Finds the first stamp anywhere in `data`.
pub fn find_stamp(data: &[u8]) -> Option<u64> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&data[from..], b"TS") {
        if let Some(v) = read_stamp(&data[from + i..]) {
            return Some(v);
        }
        from += i + 1;
    }
    None
}

/// A payload of `len` bytes (at least [`STAMP_LEN`]) with room for a stamp at the front and
/// printable padding after it.
pub fn payload_template(len: usize) -> Vec<u8> {
    let len = len.max(STAMP_LEN);
    let mut v = vec![b'x'; len];
    write_stamp(&mut v, 0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip_and_search() {
        let mut buf = payload_template(32);
        write_stamp(&mut buf, 0x0123_4567_89ab_cdef);
        assert_eq!(read_stamp(&buf), Some(0x0123_4567_89ab_cdef));
        let mut framed = b"{\"op\":\"msg\",\"TSx\":\"".to_vec();
        framed.extend_from_slice(&buf);
        assert_eq!(find_stamp(&framed), Some(0x0123_4567_89ab_cdef));
        assert_eq!(read_stamp(b"TSzz"), None);
        assert_eq!(find_stamp(b"no stamp here TS12"), None);
    }
}
