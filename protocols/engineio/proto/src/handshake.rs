//! The handshake: [`OpenPacket`], the JSON data of the `open` packet.
//!
//! v4: `{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}`;
//! v3: the same without `maxPayload`. Field order follows engine.io.
//!
//! [`OpenTemplate`] is the same JSON laid out once per server: only the sid differs between
//! sessions, so a handshake writes it with one allocation and no serializer.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::packet::Packet;
use crate::protocol::{ProtocolVersion, Transport};
use crate::sid::Sid;
use crate::str::Str;

/// engine.io's default `pingInterval` in milliseconds.
pub const DEFAULT_PING_INTERVAL_MS: u64 = 25_000;
/// engine.io's default `pingTimeout` in milliseconds.
pub const DEFAULT_PING_TIMEOUT_MS: u64 = 20_000;
/// engine.io's default `upgradeTimeout` in milliseconds.
pub const DEFAULT_UPGRADE_TIMEOUT_MS: u64 = 10_000;

/// The handshake data sent in the `open` packet.
///
/// Generic over the sid type so that foreign handshakes (a Node server's
/// 20-character ids, in tests or clients) can be parsed too; the server uses
/// the default, [`Sid`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPacket<S = Sid> {
    /// The session id.
    pub sid: S,
    /// The transports the client may upgrade to.
    pub upgrades: Vec<Transport>,
    /// Milliseconds between pings.
    pub ping_interval: u64,
    /// Milliseconds to wait for the ping's answer.
    pub ping_timeout: u64,
    /// v4 only: the largest payload the server accepts, in bytes
    /// (`maxHttpBufferSize`); clients split their polling payloads by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<u64>,
}

impl<S> OpenPacket<S> {
    /// The handshake for `version`: `max_payload` is sent in v4 and left out in v3.
    pub fn new(
        version: ProtocolVersion,
        sid: S,
        upgrades: Vec<Transport>,
        ping_interval_ms: u64,
        ping_timeout_ms: u64,
        max_payload: u64,
    ) -> Self {
        OpenPacket {
            sid,
            upgrades,
            ping_interval: ping_interval_ms,
            ping_timeout: ping_timeout_ms,
            max_payload: match version {
                ProtocolVersion::V4 => Some(max_payload),
                ProtocolVersion::V3 => None,
            },
        }
    }
}

impl<S: Serialize> OpenPacket<S> {
    /// The JSON text.
    pub fn to_json(&self) -> Result<Str, Error> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Json(e.to_string()))?;
        // serde_json writes UTF-8.
        Ok(Str::from_utf8_trusted(Bytes::from(json)))
    }

    /// The `open` packet carrying this handshake.
    pub fn to_packet(&self) -> Result<Packet, Error> {
        self.to_json().map(Packet::Open)
    }
}

/// The `open` packet of one server configuration with everything but the sid written out once.
///
/// The bytes are those [`OpenPacket::to_json`] writes (the template is cut from its output), so
/// the two never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTemplate {
    /// Everything after the sid's closing quote: `","upgrades":[..],..}`.
    suffix: Box<[u8]>,
}

/// What every handshake JSON starts with, up to the sid's value.
const SID_PREFIX: &[u8] = br#"{"sid":""#;

impl OpenTemplate {
    /// The template of [`OpenPacket::new`] with the same arguments (except the sid).
    pub fn new(
        version: ProtocolVersion,
        upgrades: Vec<Transport>,
        ping_interval_ms: u64,
        ping_timeout_ms: u64,
        max_payload: u64,
    ) -> Result<Self, Error> {
        let sample = OpenPacket::new(
            version,
            "",
            upgrades,
            ping_interval_ms,
            ping_timeout_ms,
            max_payload,
        );
        let json = sample.to_json()?;
        let suffix = json
            .as_bytes()
            .strip_prefix(SID_PREFIX)
            .ok_or_else(|| Error::Json("the handshake does not start with the sid".into()))?;
        Ok(OpenTemplate {
            suffix: suffix.into(),
        })
    }

    /// The handshake JSON for `sid`, in one exactly sized buffer.
    pub fn json(&self, sid: Sid) -> Str {
        let mut out = Vec::with_capacity(SID_PREFIX.len() + Sid::ENCODED_LEN + self.suffix.len());
        out.extend_from_slice(SID_PREFIX);
        // The sid's characters are URL-safe base64: nothing to escape.
        out.extend_from_slice(&sid.encode());
        out.extend_from_slice(&self.suffix);
        // ASCII sid between two pieces of serde_json output.
        Str::from_utf8_trusted(Bytes::from(out))
    }

    /// The `open` packet for `sid`.
    pub fn packet(&self, sid: Sid) -> Packet {
        Packet::Open(self.json(sid))
    }
}

impl<S: DeserializeOwned> OpenPacket<S> {
    /// Parses handshake JSON (the data of an `open` packet).
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(json).map_err(|e| Error::Json(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::NodeTag;

    #[test]
    fn v4_handshake_from_the_protocol_document() {
        // The example of the v4 protocol document.
        let open = OpenPacket::new(
            ProtocolVersion::V4,
            "lv_VI97HAXpY6yYWAAAC",
            vec![Transport::WebSocket],
            25_000,
            5_000,
            1_000_000,
        );
        let json = open.to_json().map(|s| s.to_string()).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#
        );
        let back = OpenPacket::<String>::from_json(json.as_bytes());
        assert_eq!(back.map(|o| o.max_payload), Ok(Some(1_000_000)));
    }

    #[test]
    fn v3_handshake_has_no_max_payload() {
        let sid = Sid::new(NodeTag::new(1), [9; 16]);
        let open = OpenPacket::new(ProtocolVersion::V3, sid, vec![], 25_000, 20_000, 1_000_000);
        let packet = open.to_packet();
        let expected =
            format!(r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000}}"#);
        let mut buf = bytes::BytesMut::new();
        if let Ok(p) = &packet {
            p.encode_str(ProtocolVersion::V3, &mut buf);
        }
        assert_eq!(&buf[..], expected.as_bytes());
        let back = OpenPacket::<Sid>::from_json(&buf[1..]);
        assert_eq!(back, Ok(open));
    }

    #[test]
    fn the_template_writes_what_the_serializer_writes() {
        for version in [ProtocolVersion::V4, ProtocolVersion::V3] {
            for upgrades in [vec![], vec![Transport::WebSocket]] {
                let template = OpenTemplate::new(version, upgrades.clone(), 25_000, 5_000, 1 << 20);
                let Ok(template) = template else {
                    panic!("no template: {template:?}");
                };
                for n in 0..4u8 {
                    let sid = Sid::new(NodeTag::new(u16::from(n) * 77), [n.wrapping_mul(61); 16]);
                    let full =
                        OpenPacket::new(version, sid, upgrades.clone(), 25_000, 5_000, 1 << 20);
                    assert_eq!(Ok(template.json(sid)), full.to_json());
                    assert_eq!(Ok(template.packet(sid)), full.to_packet());
                }
            }
        }
    }

    #[test]
    fn rejects_bad_json() {
        assert!(matches!(
            OpenPacket::<Sid>::from_json(b"{"),
            Err(Error::Json(_))
        ));
        assert!(matches!(
            OpenPacket::<Sid>::from_json(
                br#"{"sid":"short","upgrades":[],"pingInterval":1,"pingTimeout":1}"#
            ),
            Err(Error::Json(_))
        ));
    }
}
