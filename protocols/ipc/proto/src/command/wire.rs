//! The command JSON on the wire: the encoder (key order of the Node clients, escaping of
//! `JSON.stringify`) and the serde shapes the decoder reads.

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use serde::Deserialize;

use super::{Command, CommandError, CommandKind, Peer, PeerId, ProcessType, Request, RequestId};

impl Command {
    /// Parses a command from its JSON text (the content of element 0).
    pub fn from_json(json: &[u8]) -> Result<Command, CommandError> {
        let raw: RawCommand<'_> =
            serde_json::from_slice(json).map_err(|e| CommandError::InvalidJson(e.to_string()))?;
        let kind_text = raw.kind.ok_or(CommandError::MissingKind)?;
        let kind = CommandKind::from_wire(&kind_text).ok_or_else(|| {
            // Bound what an error message can carry from hostile input.
            CommandError::UnknownKind(kind_text.chars().take(32).collect())
        })?;
        let command = Command {
            kind,
            channel: raw.channel,
            peer: raw.peer.map(RawPeer::into_peer).transpose()?,
            peers: raw
                .peers
                .map(|peers| peers.into_iter().map(RawPeer::into_peer).collect())
                .transpose()?,
            target: raw.target.map(RawPeer::into_peer).transpose()?,
            request: raw.request.map(|r| Request {
                channel: r.channel.unwrap_or_default(),
                id: r.id,
                resolve: r.resolve,
            }),
            channels: raw.channels,
            data: raw.data,
            is_raw_data: raw.is_raw_data,
        };
        command.check_routable()?;
        Ok(command)
    }

    /// Appends the JSON text of this command, fields in the order the Node clients write
    /// them for its kind.
    pub fn write_json(&self, out: &mut BytesMut) {
        let mut first = true;
        let preferred = preferred_order(self.kind);
        for field in preferred
            .iter()
            .chain(GENERIC_ORDER.iter().filter(|f| !preferred.contains(f)))
        {
            self.write_field(*field, out, &mut first);
        }
        out.put_u8(b'}');
    }

    /// The JSON text of this command.
    pub fn to_json_text(&self) -> String {
        let mut out = BytesMut::new();
        self.write_json(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn write_field(&self, field: Field, out: &mut BytesMut, first: &mut bool) {
        let mut key = |out: &mut BytesMut, name: &str| {
            out.put_u8(if *first { b'{' } else { b',' });
            *first = false;
            write_str(out, name);
            out.put_u8(b':');
        };
        match field {
            Field::Kind => {
                key(out, "kind");
                write_str(out, self.kind.as_str());
            }
            Field::Channel => {
                if let Some(channel) = &self.channel {
                    key(out, "channel");
                    write_str(out, channel);
                }
            }
            Field::Peer => {
                if let Some(peer) = &self.peer {
                    key(out, "peer");
                    write_peer(out, peer);
                }
            }
            Field::Peers => {
                if let Some(peers) = &self.peers {
                    key(out, "peers");
                    out.put_u8(b'[');
                    for (i, peer) in peers.iter().enumerate() {
                        if i > 0 {
                            out.put_u8(b',');
                        }
                        write_peer(out, peer);
                    }
                    out.put_u8(b']');
                }
            }
            Field::Target => {
                if let Some(target) = &self.target {
                    key(out, "target");
                    write_peer(out, target);
                }
            }
            Field::Request => {
                if let Some(request) = &self.request {
                    key(out, "request");
                    out.put_slice(b"{\"channel\":");
                    write_str(out, &request.channel);
                    out.put_slice(b",\"id\":");
                    write_str(out, request.id.as_str());
                    if let Some(resolve) = request.resolve {
                        out.put_slice(if resolve {
                            b",\"resolve\":true"
                        } else {
                            b",\"resolve\":false"
                        });
                    }
                    out.put_u8(b'}');
                }
            }
            Field::Channels => {
                if let Some(channels) = &self.channels {
                    key(out, "channels");
                    out.put_u8(b'[');
                    for (i, channel) in channels.iter().enumerate() {
                        if i > 0 {
                            out.put_u8(b',');
                        }
                        write_str(out, channel);
                    }
                    out.put_u8(b']');
                }
            }
            Field::Data => {
                if let Some(data) = &self.data {
                    key(out, "data");
                    // Writing into a BytesMut cannot fail.
                    let _ = write!(out, "{data}");
                }
            }
            Field::IsRawData => {
                if let Some(raw) = self.is_raw_data {
                    key(out, "isRawData");
                    out.put_slice(if raw { b"true" } else { b"false" });
                }
            }
        }
    }
}

/// The JSON keys of a command, for ordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Kind,
    Channel,
    Peer,
    Peers,
    Target,
    Request,
    Channels,
    Data,
    IsRawData,
}

/// Order for fields a kind's preferred order does not mention.
const GENERIC_ORDER: [Field; 9] = [
    Field::Kind,
    Field::Channel,
    Field::Peer,
    Field::Peers,
    Field::Target,
    Field::Request,
    Field::Channels,
    Field::Data,
    Field::IsRawData,
];

/// Key order of the 16.0.4 Node clients, from the captures and the client source:
/// `HAN {peer, kind}`, `SHT {peers, kind}`, `LIC*`/`LIR {kind, peers, channel}`,
/// `MES {kind, channel, peer, request?, target?, isRawData}` and
/// `RQR {kind, channel, peer, target, request, isRawData}`.
fn preferred_order(kind: CommandKind) -> &'static [Field] {
    match kind {
        CommandKind::Handshake => &[Field::Peer, Field::Kind],
        CommandKind::Shutdown => &[Field::Peers, Field::Kind],
        CommandKind::AddChannelListener
        | CommandKind::RemoveChannelListener
        | CommandKind::RemoveChannelAllListeners
        | CommandKind::RemoveListeners => &[Field::Kind, Field::Peers, Field::Channel],
        CommandKind::SendMessage => &[
            Field::Kind,
            Field::Channel,
            Field::Peer,
            Field::Request,
            Field::Target,
            Field::IsRawData,
        ],
        CommandKind::RequestResponse => &[
            Field::Kind,
            Field::Channel,
            Field::Peer,
            Field::Target,
            Field::Request,
            Field::IsRawData,
        ],
        _ => &GENERIC_ORDER,
    }
}

fn write_peer(out: &mut BytesMut, peer: &Peer) {
    out.put_slice(b"{\"id\":");
    write_str(out, peer.id.as_str());
    // Writing into a BytesMut cannot fail.
    let _ = write!(out, ",\"type\":{}", peer.process_type.code());
    if let Some(name) = &peer.name {
        out.put_slice(b",\"name\":");
        write_str(out, name);
    }
    out.put_u8(b'}');
}

/// Writes a JSON string literal escaped exactly as `JSON.stringify` does: `"` and `\`,
/// the short escapes `\b \f \n \r \t`, other control characters as lowercase `\u00xx`,
/// everything else (non-ASCII and DEL included) verbatim.
pub(crate) fn write_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.put_slice(bytes.get(start..i).unwrap_or_default());
        out.put_slice(escape);
        start = i + 1;
    }
    out.put_slice(bytes.get(start..).unwrap_or_default());
    out.put_u8(b'"');
}

#[derive(Deserialize)]
pub(super) struct RawCommand<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    channel: Option<String>,
    peer: Option<RawPeer>,
    peers: Option<Vec<RawPeer>>,
    target: Option<RawPeer>,
    request: Option<RawRequest>,
    channels: Option<Vec<String>>,
    /// `null` is kept as `Some(Null)`, so a command round-trips exactly.
    #[serde(default, deserialize_with = "present")]
    data: Option<serde_json::Value>,
    #[serde(rename = "isRawData")]
    is_raw_data: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
pub(super) struct RawPeer {
    id: Option<PeerId>,
    #[serde(rename = "type")]
    process_type: Option<i64>,
    name: Option<String>,
}

impl RawPeer {
    fn into_peer(self) -> Result<Peer, CommandError> {
        Ok(Peer {
            id: self.id.ok_or(CommandError::PreV16Peer)?,
            process_type: self
                .process_type
                .map_or(ProcessType::Undefined, ProcessType::from_code),
            name: self.name,
        })
    }
}

#[derive(Deserialize)]
pub(super) struct RawRequest {
    channel: Option<String>,
    id: RequestId,
    resolve: Option<bool>,
}
