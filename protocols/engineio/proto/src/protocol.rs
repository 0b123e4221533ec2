//! Protocol revision ([`ProtocolVersion`]) and transport names ([`Transport`]).

use std::fmt;
use std::str::FromStr;

use crate::reason::ErrorCode;

/// The Engine.IO protocol revision, from the `EIO` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// Revision 3 (engine.io 3.x, Socket.IO v2 clients; served with `allow_eio3`).
    /// The client pings, binary WebSocket frames carry a type byte, polling
    /// payloads are length-prefixed.
    V3,
    /// Revision 4 (engine.io 4+). The server pings, binary WebSocket frames are
    /// raw, polling payloads are separated by `0x1e`.
    V4,
}

impl ProtocolVersion {
    /// Parses the `EIO` query value. Only `"3"` and `"4"` are accepted; anything
    /// else (including a missing value) is [`ErrorCode::UnsupportedProtocolVersion`].
    ///
    /// The Node server treats every value other than `"4"` as revision 3; this
    /// parser is stricter, as the v4 specification asks for HTTP 400 when a
    /// mandatory parameter is missing. Whether v3 is *allowed* is the server's
    /// `allow_eio3` decision.
    pub fn from_eio(value: Option<&str>) -> Result<Self, ErrorCode> {
        match value {
            Some("4") => Ok(ProtocolVersion::V4),
            Some("3") => Ok(ProtocolVersion::V3),
            _ => Err(ErrorCode::UnsupportedProtocolVersion),
        }
    }

    /// The revision number (3 or 4).
    pub fn number(self) -> u8 {
        match self {
            ProtocolVersion::V3 => 3,
            ProtocolVersion::V4 => 4,
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// A transport name as used in the `transport` query parameter and in the
/// handshake's `upgrades` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// HTTP long-polling (`polling`).
    Polling,
    /// WebSocket (`websocket`).
    WebSocket,
}

impl Transport {
    /// The wire name: `polling` or `websocket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::WebSocket => "websocket",
        }
    }

    /// Parses the `transport` query value; a missing or unknown name is
    /// [`ErrorCode::TransportUnknown`] (code 0), as engine.io answers.
    pub fn from_query(value: Option<&str>) -> Result<Self, ErrorCode> {
        value
            .and_then(|v| v.parse().ok())
            .ok_or(ErrorCode::TransportUnknown)
    }

    /// The transports a session on this transport may upgrade to (before the
    /// server filters them by its enabled transports and `allow_upgrades`).
    pub fn upgrades_to(self) -> &'static [Transport] {
        match self {
            Transport::Polling => &[Transport::WebSocket],
            Transport::WebSocket => &[],
        }
    }
}

impl FromStr for Transport {
    type Err = ErrorCode;

    fn from_str(s: &str) -> Result<Self, ErrorCode> {
        match s {
            "polling" => Ok(Transport::Polling),
            "websocket" => Ok(Transport::WebSocket),
            _ => Err(ErrorCode::TransportUnknown),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Transport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Transport {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse()
            .map_err(|_| serde::de::Error::unknown_variant(&name, &["polling", "websocket"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eio_values() {
        assert_eq!(
            ProtocolVersion::from_eio(Some("4")),
            Ok(ProtocolVersion::V4)
        );
        assert_eq!(
            ProtocolVersion::from_eio(Some("3")),
            Ok(ProtocolVersion::V3)
        );
        for bad in [None, Some(""), Some("5"), Some("abc"), Some("04")] {
            assert_eq!(
                ProtocolVersion::from_eio(bad),
                Err(ErrorCode::UnsupportedProtocolVersion)
            );
        }
        assert_eq!(ProtocolVersion::V3.to_string(), "3");
    }

    #[test]
    fn transport_names() {
        assert_eq!(
            Transport::from_query(Some("polling")),
            Ok(Transport::Polling)
        );
        assert_eq!(
            Transport::from_query(Some("websocket")),
            Ok(Transport::WebSocket)
        );
        for bad in [None, Some("webtransport"), Some("Polling"), Some("")] {
            assert_eq!(Transport::from_query(bad), Err(ErrorCode::TransportUnknown));
        }
        assert_eq!(Transport::Polling.upgrades_to(), &[Transport::WebSocket]);
        assert!(Transport::WebSocket.upgrades_to().is_empty());
    }
}
