//! Session ids: [`Sid`] (unguessable, URL-safe, 24 characters) carrying the
//! [`NodeTag`] of the gateway node that owns the session, so a polling request
//! that reaches another replica can be forwarded without sticky sessions.
//!
//! Layout: 18 bytes = the node tag (2 bytes, big-endian) followed by 16
//! random bytes (128 bits), written as unpadded URL-safe base64
//! (`A-Z a-z 0-9 - _`). 18 bytes are exactly 24 characters with no leftover
//! bits, so every valid string has exactly one `Sid` and formatting a parsed
//! sid gives back the same string.
//!
//! The random bytes come from the caller (a CSPRNG such as `rand`'s
//! `ThreadRng` or `OsRng`): this crate stays sans-IO and deterministic.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Error;

/// The id of a gateway node (for example a StatefulSet pod ordinal), stored
/// in every session id the node issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeTag(u16);

impl NodeTag {
    /// Wraps a node number.
    pub const fn new(id: u16) -> Self {
        NodeTag(id)
    }

    /// The node number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u16> for NodeTag {
    fn from(id: u16) -> Self {
        NodeTag(id)
    }
}

/// Number of bytes in a sid: the node tag then the random part.
const RAW_LEN: usize = 2 + Sid::RANDOM_LEN;

/// An Engine.IO session id. `Copy`, 18 bytes, cheap to hash; formats as 24
/// URL-safe characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; RAW_LEN]);

impl Sid {
    /// Number of random bytes the caller supplies (128 bits).
    pub const RANDOM_LEN: usize = 16;

    /// Length of the string form.
    pub const ENCODED_LEN: usize = 24;

    /// Builds a sid for `node` from `random`, which must come from a
    /// cryptographically secure generator: the sid is the session's only secret.
    pub fn new(node: NodeTag, random: [u8; Sid::RANDOM_LEN]) -> Self {
        let mut raw = [0u8; RAW_LEN];
        raw[..2].copy_from_slice(&node.0.to_be_bytes());
        raw[2..].copy_from_slice(&random);
        Sid(raw)
    }

    /// The node that issued (and owns) this session.
    pub fn node(&self) -> NodeTag {
        NodeTag(u16::from_be_bytes([self.0[0], self.0[1]]))
    }

    /// Reads the owning node straight from a sid string.
    pub fn node_of(sid: &str) -> Result<NodeTag, Error> {
        sid.parse::<Sid>().map(|s| s.node())
    }

    /// The string form as ASCII bytes, without allocating.
    pub fn encode(&self) -> [u8; Sid::ENCODED_LEN] {
        let mut out = [0u8; Sid::ENCODED_LEN];
        // 18 bytes always encode to exactly 24 characters.
        let _ = URL_SAFE_NO_PAD.encode_slice(self.0, &mut out);
        out
    }
}

impl FromStr for Sid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() != Sid::ENCODED_LEN {
            return Err(Error::InvalidSid);
        }
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut raw) {
            Ok(RAW_LEN) => Ok(Sid(raw)),
            _ => Err(Error::InvalidSid),
        }
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoded = self.encode();
        // The base64 alphabet is ASCII.
        f.write_str(std::str::from_utf8(&encoded).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_node() {
        let sid = Sid::new(NodeTag::new(0x0102), [0xAB; 16]);
        let s = sid.to_string();
        assert_eq!(s.len(), 24);
        assert_eq!(s, "AQKrq6urq6urq6urq6urq6ur");
        assert_eq!(s.parse::<Sid>(), Ok(sid));
        assert_eq!(Sid::node_of(&s), Ok(NodeTag::new(258)));
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(format!("{sid:?}"), "Sid(AQKrq6urq6urq6urq6urq6ur)");
    }

    #[test]
    fn url_safe_alphabet() {
        let sid = Sid::new(NodeTag::new(u16::MAX), [0xFF; 16]);
        assert_eq!(sid.to_string(), "________________________");
        assert_eq!(sid.node().get(), u16::MAX);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "AQKrq6urq6urq6urq6urq6u",   // 23
            "AQKrq6urq6urq6urq6urq6urq", // 25
            "AQKrq6urq6urq6urq6urq6u+",  // standard alphabet
            "AQKrq6urq6urq6urq6urq6u=",  // padding
            "AQKrq6urq6urq6urq6urq6u€",  // non-ASCII (24 bytes, fewer chars)
            "lv_VI97HAXpY6yYWAAAC",      // a Node engine.io sid
        ] {
            assert_eq!(bad.parse::<Sid>(), Err(Error::InvalidSid), "{bad}");
        }
    }

    #[test]
    fn serde_as_string() {
        let sid = Sid::new(NodeTag::new(7), [1; 16]);
        let json = serde_json::to_string(&sid).unwrap_or_default();
        assert_eq!(json, format!("\"{sid}\""));
        assert_eq!(serde_json::from_str::<Sid>(&json).ok(), Some(sid));
        assert!(serde_json::from_str::<Sid>("\"nope\"").is_err());
    }
}
