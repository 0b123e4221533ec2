//! The opening handshake (RFC 6455 §4.2): the `Sec-WebSocket-Accept` value, and the
//! permessage-deflate negotiation of RFC 7692 §7.1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID a server appends to the client's key (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 of 16 bytes.
pub fn key_is_valid(key: &[u8]) -> bool {
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|k| k.len() == 16)
}

/// The permessage-deflate settings agreed with a client.
///
/// The server always answers with `server_no_context_takeover` and
/// `client_no_context_takeover` (RFC 7692 §7.1.1 lets it add both to any offer): every message
/// is compressed and inflated on its own, so a connection keeps no LZ77 window between messages
/// and the compressor and decompressor can be shared by every connection of a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate {
    /// The accepted offer named `server_max_window_bits` (answered with 15).
    server_max_window_bits: bool,
}

impl Deflate {
    /// The `Sec-WebSocket-Extensions` value of the handshake response.
    pub fn response_header(&self) -> &'static str {
        if self.server_max_window_bits {
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=15"
        } else {
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        }
    }
}

/// Picks the first permessage-deflate offer of the `Sec-WebSocket-Extensions` header values
/// the server can accept (RFC 7692 §5, §7.1): `None` when there is none, and the connection
/// goes uncompressed.
///
/// An offer is declined when a parameter is unknown, repeated or has an invalid value, or
/// when it asks for `server_max_window_bits` below 15 (the compressor always uses a 32 KiB
/// window). `client_max_window_bits` is accepted with any valid value and not answered: a
/// 32 KiB window inflates what a smaller one produced.
pub fn negotiate_deflate<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Deflate> {
    headers
        .into_iter()
        .flat_map(|h| split_outside_quotes(h, ','))
        .find_map(accept_offer)
}

fn accept_offer(offer: &str) -> Option<Deflate> {
    let mut parts = split_outside_quotes(offer, ';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("permessage-deflate")
    {
        return None;
    }
    let mut seen = [false; 4];
    let mut server_max_window_bits = false;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (param.trim(), None),
        };
        let slot = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => 0,
            "client_no_context_takeover" if value.is_none() => 1,
            "server_max_window_bits" => {
                if window_bits(value?)? != 15 {
                    return None;
                }
                server_max_window_bits = true;
                2
            }
            "client_max_window_bits" => {
                if let Some(v) = value {
                    window_bits(v)?;
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
    }
    Some(Deflate {
        server_max_window_bits,
    })
}

/// A window size parameter: 8 to 15, decimal without a leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') {
        return None;
    }
    v.parse::<u8>().ok().filter(|b| (8..=15).contains(b))
}

/// A token or a quoted string's content.
fn unquote(v: &str) -> Option<&str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').filter(|s| !s.contains('"')),
        None => Some(v),
    }
}

/// Splits at `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut quoted = false;
    let mut bounds = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                bounds.push((start, i));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    bounds.push((start, s.len()));
    bounds.into_iter().map(move |(a, b)| &s[a..b])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc_6455() {
        // §1.3
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(key_is_valid(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!key_is_valid(b"dGhlIHNhbXBsZQ=="));
        assert!(!key_is_valid(b"not base64 at all!!!!!!!"));
    }

    const PLAIN: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn offers_of_real_clients_are_accepted() {
        // Node's ws and browsers
        let d = negotiate_deflate(["permessage-deflate; client_max_window_bits"]);
        assert_eq!(d.map(|d| d.response_header()), Some(PLAIN));
        // Python websockets / aiohttp style offers
        let d = negotiate_deflate(["permessage-deflate; client_max_window_bits=12"]);
        assert_eq!(d.map(|d| d.response_header()), Some(PLAIN));
        let d = negotiate_deflate(["permessage-deflate; server_max_window_bits=15"]);
        assert!(d.is_some_and(|d| d.response_header().ends_with("server_max_window_bits=15")));
        let d = negotiate_deflate([
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ]);
        assert_eq!(d.map(|d| d.response_header()), Some(PLAIN));
        let d = negotiate_deflate(["PerMessage-Deflate; Client_Max_Window_Bits=\"10\""]);
        assert!(d.is_some());
    }

    #[test]
    fn unacceptable_offers_fall_through_to_the_next() {
        // a smaller server window cannot be honoured; the fallback offer can
        let d = negotiate_deflate([
            "permessage-deflate; server_max_window_bits=10, permessage-deflate",
        ]);
        assert_eq!(d.map(|d| d.response_header()), Some(PLAIN));
        let d = negotiate_deflate(["x-webkit-deflate-frame", "permessage-deflate"]);
        assert!(d.is_some());
        for bad in [
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=08",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown",
            "permessage-deflate; client_max_window_bits=\"1,5\"",
            "x-webkit-deflate-frame",
            "",
        ] {
            assert_eq!(negotiate_deflate([bad]), None, "{bad}");
        }
    }
}
