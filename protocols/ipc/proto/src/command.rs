//! The electron-common-ipc 16.x command layer: the JSON header (element 0) of every packet.
//!
//! A packet is a top-level array `[ o(command JSON) ]` for commands, or
//! `[ o(message JSON), A(args...) ]` for messages (see [`crate::packet`]). This module types
//! the JSON part: its [`CommandKind`], the [`Peer`] identities, the channel, the request
//! correlation and the target. Decoding accepts the fields in any order and ignores fields it
//! does not know (e.g. the logging `stamp`); encoding writes them in the order the Node
//! clients do, so packets built here are byte-identical to the captured ones.

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use serde::Deserialize;

/// A peer's identity: the nanoid an `IpcBusClient` generates (e.g. `"Xkyh#)qsci"`).
/// Opaque UTF-8; the broker keys its endpoint table on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(transparent)]
pub struct PeerId(String);

impl PeerId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> PeerId {
        PeerId(id.into())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PeerId {
    fn from(id: &str) -> PeerId {
        PeerId(id.to_owned())
    }
}

impl From<String> for PeerId {
    fn from(id: String) -> PeerId {
        PeerId(id)
    }
}

/// A request's correlation id (a nanoid chosen by the requester). A response (`RQR`)
/// carries it both as its `channel` and in `request.id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> RequestId {
        RequestId(id.into())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RequestId {
    fn from(id: &str) -> RequestId {
        RequestId(id.to_owned())
    }
}

impl From<String> for RequestId {
    fn from(id: String) -> RequestId {
        RequestId(id)
    }
}

/// `IpcBusProcessType`: what kind of process a peer lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessType {
    /// 0.
    Native,
    /// 1: a plain Node process (what Node clients send, and what the gateway uses).
    Node,
    /// 2: an Electron renderer; messages targeted at one go to the Electron bridge.
    Renderer,
    /// 3.
    Worker,
    /// 4.
    Undefined,
    /// 5.
    Browser,
    /// 6: the Electron main process; messages targeted at one go to the Electron bridge.
    Main,
    /// Any other number, kept verbatim.
    Other(i64),
}

impl ProcessType {
    /// The type for its wire number.
    pub const fn from_code(code: i64) -> ProcessType {
        match code {
            0 => ProcessType::Native,
            1 => ProcessType::Node,
            2 => ProcessType::Renderer,
            3 => ProcessType::Worker,
            4 => ProcessType::Undefined,
            5 => ProcessType::Browser,
            6 => ProcessType::Main,
            other => ProcessType::Other(other),
        }
    }

    /// The wire number.
    pub const fn code(self) -> i64 {
        match self {
            ProcessType::Native => 0,
            ProcessType::Node => 1,
            ProcessType::Renderer => 2,
            ProcessType::Worker => 3,
            ProcessType::Undefined => 4,
            ProcessType::Browser => 5,
            ProcessType::Main => 6,
            ProcessType::Other(code) => code,
        }
    }

    /// Whether a message targeted at this type is routed to the Electron bridge (Main or
    /// Renderer) rather than to a socket endpoint.
    pub const fn is_electron(self) -> bool {
        matches!(self, ProcessType::Main | ProcessType::Renderer)
    }
}

/// `IpcBusPeer`: `{"id": string, "type": number, "name"?: string}`.
///
/// Fields the 16.x clients do not send (e.g. `process`) are ignored when decoding; the
/// broker forwards the original bytes, so nothing is lost on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The peer's unique id.
    pub id: PeerId,
    /// The process type (1 for Node clients). A peer without `type` decodes as
    /// [`ProcessType::Undefined`].
    pub process_type: ProcessType,
    /// The optional `peerName` connect option.
    pub name: Option<String>,
}

impl Peer {
    /// A peer with a name.
    pub fn new(id: impl Into<PeerId>, process_type: ProcessType, name: Option<String>) -> Peer {
        Peer {
            id: id.into(),
            process_type,
            name,
        }
    }

    /// A Node-type peer (`type: 1`), what the gateway presents itself as.
    pub fn node(id: impl Into<PeerId>, name: impl Into<String>) -> Peer {
        Peer::new(id, ProcessType::Node, Some(name.into()))
    }
}

/// `MessageRequest`: the correlation part of a request (`MES`) or response (`RQR`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// The channel the request was sent on.
    pub channel: String,
    /// The correlation id.
    pub id: RequestId,
    /// In a response: `true` for `resolve`, `false` for `reject`. Absent in the request.
    pub resolve: Option<bool>,
}

/// `IpcBusCommandKind`, the whole 16.x enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `HAN`: a client registers a peer on its socket (once per `IpcBusClient`). No reply.
    Handshake,
    /// `SHT`: a client is closing (its `peers` are in practice always empty).
    Shutdown,
    /// `LICA`: a channel got its first listener in the process.
    AddChannelListener,
    /// `LICR`: a channel lost its last listener in the process.
    RemoveChannelListener,
    /// `LICRA`: drop every listener of a channel (defined; not sent by the socket transport).
    RemoveChannelAllListeners,
    /// `LIR`: remove the peers from every channel (at close, with empty `peers`).
    RemoveListeners,
    /// `LOGRT`: message-logging round trip, for the Electron bridge only.
    LogRoundtrip,
    /// `BICOO`: an Electron `IpcBusBridge` connects, with its channels.
    BridgeConnect,
    /// `BICOC`: the Electron bridge closes.
    BridgeClose,
    /// `BILICA`: the Electron side gained a channel listener.
    BridgeAddChannelListener,
    /// `BILICR`: the Electron side lost a channel listener.
    BridgeRemoveChannelListener,
    /// `QUST`: state query from the Electron bridge's collector.
    QueryState,
    /// `QUSTR`: answer to a state query, with `data: {id, queryState}`.
    QueryStateResponse,
    /// `MES`: a message, a request when it carries `request`, targeted when it carries
    /// `target`.
    SendMessage,
    /// `RQR`: the response to a request, routed by `target.id`.
    RequestResponse,
}

impl CommandKind {
    /// Every kind, in the order of the upstream enum.
    pub const ALL: [CommandKind; 15] = [
        CommandKind::Handshake,
        CommandKind::Shutdown,
        CommandKind::AddChannelListener,
        CommandKind::RemoveChannelListener,
        CommandKind::RemoveChannelAllListeners,
        CommandKind::RemoveListeners,
        CommandKind::LogRoundtrip,
        CommandKind::BridgeConnect,
        CommandKind::BridgeClose,
        CommandKind::BridgeAddChannelListener,
        CommandKind::BridgeRemoveChannelListener,
        CommandKind::QueryState,
        CommandKind::QueryStateResponse,
        CommandKind::SendMessage,
        CommandKind::RequestResponse,
    ];

    /// The `kind` string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            CommandKind::Handshake => "HAN",
            CommandKind::Shutdown => "SHT",
            CommandKind::AddChannelListener => "LICA",
            CommandKind::RemoveChannelListener => "LICR",
            CommandKind::RemoveChannelAllListeners => "LICRA",
            CommandKind::RemoveListeners => "LIR",
            CommandKind::LogRoundtrip => "LOGRT",
            CommandKind::BridgeConnect => "BICOO",
            CommandKind::BridgeClose => "BICOC",
            CommandKind::BridgeAddChannelListener => "BILICA",
            CommandKind::BridgeRemoveChannelListener => "BILICR",
            CommandKind::QueryState => "QUST",
            CommandKind::QueryStateResponse => "QUSTR",
            CommandKind::SendMessage => "MES",
            CommandKind::RequestResponse => "RQR",
        }
    }

    /// The kind for a wire string, or `None` for a string the 16.x broker does not know.
    pub fn from_wire(kind: &str) -> Option<CommandKind> {
        CommandKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// Whether packets of this kind carry an args element (`MES`, `RQR`, `LOGRT`).
    pub const fn has_args(self) -> bool {
        matches!(
            self,
            CommandKind::SendMessage | CommandKind::RequestResponse | CommandKind::LogRoundtrip
        )
    }
}

impl std::fmt::Display for CommandKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of the command layer (the JSON header of a packet). The frame was consumed
/// whole, so the stream is still in sync after any of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The header is not a JSON object of the expected shape.
    #[error("invalid command JSON: {0}")]
    InvalidJson(String),
    /// The header has no `kind`.
    #[error("command without a kind")]
    MissingKind,
    /// The `kind` is not in the 16.x enum (the Node broker throws on these).
    #[error("unknown command kind {0:?}")]
    UnknownKind(String),
    /// A field the command cannot be routed without is absent.
    #[error("{kind} command without its {field:?} field")]
    MissingField {
        /// The command's kind.
        kind: CommandKind,
        /// The wire name of the missing field.
        field: &'static str,
    },
    /// A peer has no `id`: the client speaks the 13–15.x (or older) dialect, which keys
    /// peers by process id and is not compatible with 16.x.
    #[error("peer without an id: a pre-16 electron-common-ipc client, not supported")]
    PreV16Peer,
}

/// The typed JSON header of a packet.
///
/// Which fields are present depends on the kind; see the constructors for the shapes the
/// Node clients send. Decoding keeps the fields below and ignores others.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// The command kind.
    pub kind: CommandKind,
    /// `channel`: the channel name; for `RQR` the request id; `""` in `LIR`.
    pub channel: Option<String>,
    /// `peer`: the sender (`HAN`, `MES`, `RQR`, ...).
    pub peer: Option<Peer>,
    /// `peers`: the peers a listener command applies to (`LICA`, `LICR`, `LIR`, `SHT`).
    pub peers: Option<Vec<Peer>>,
    /// `target`: the peer a message or response is addressed to.
    pub target: Option<Peer>,
    /// `request`: the correlation of a request or response.
    pub request: Option<Request>,
    /// `channels`: the Electron bridge's channel list (`BICOO`).
    pub channels: Option<Vec<String>>,
    /// `data`: the payload of `QUSTR`, kept as JSON.
    pub data: Option<serde_json::Value>,
    /// `isRawData`: set to `true` by the socket transport on every message.
    pub is_raw_data: Option<bool>,
}

impl Command {
    /// A command of `kind` with no fields set.
    pub fn new(kind: CommandKind) -> Command {
        Command {
            kind,
            channel: None,
            peer: None,
            peers: None,
            target: None,
            request: None,
            channels: None,
            data: None,
            is_raw_data: None,
        }
    }

    /// `HAN {peer}`.
    pub fn handshake(peer: Peer) -> Command {
        Command {
            peer: Some(peer),
            ..Command::new(CommandKind::Handshake)
        }
    }

    /// `SHT {peers: []}`, as the 16.x clients send it.
    pub fn shutdown() -> Command {
        Command {
            peers: Some(Vec::new()),
            ..Command::new(CommandKind::Shutdown)
        }
    }

    /// `LICA {peers, channel}`.
    pub fn add_listener(peers: Vec<Peer>, channel: impl Into<String>) -> Command {
        Command::listener(CommandKind::AddChannelListener, peers, channel.into())
    }

    /// `LICR {peers, channel}`.
    pub fn remove_listener(peers: Vec<Peer>, channel: impl Into<String>) -> Command {
        Command::listener(CommandKind::RemoveChannelListener, peers, channel.into())
    }

    /// `LICRA {peers, channel}`.
    pub fn remove_all_listeners(peers: Vec<Peer>, channel: impl Into<String>) -> Command {
        Command::listener(
            CommandKind::RemoveChannelAllListeners,
            peers,
            channel.into(),
        )
    }

    /// `LIR {peers: [], channel: ""}`, as the 16.x clients send it at close.
    pub fn remove_listeners() -> Command {
        Command::listener(CommandKind::RemoveListeners, Vec::new(), String::new())
    }

    fn listener(kind: CommandKind, peers: Vec<Peer>, channel: String) -> Command {
        Command {
            peers: Some(peers),
            channel: Some(channel),
            ..Command::new(kind)
        }
    }

    /// `MES {channel, peer, isRawData: true}`: a broadcast `send`. Add a target with
    /// [`Command::with_target`] (`sendTo`) or a request with [`Command::with_request`]
    /// (`request`).
    pub fn send(channel: impl Into<String>, peer: Peer) -> Command {
        Command {
            channel: Some(channel.into()),
            peer: Some(peer),
            is_raw_data: Some(true),
            ..Command::new(CommandKind::SendMessage)
        }
    }

    /// Turns a `MES` into a request with correlation id `id` (its `request.channel` is the
    /// message channel).
    pub fn with_request(mut self, id: impl Into<RequestId>) -> Command {
        self.request = Some(Request {
            channel: self.channel.clone().unwrap_or_default(),
            id: id.into(),
            resolve: None,
        });
        self
    }

    /// Addresses the message to one peer (`sendTo` / `requestTo`).
    pub fn with_target(mut self, target: Peer) -> Command {
        self.target = Some(target);
        self
    }

    /// The `RQR` answering `request` (a `MES` with `request` and `peer`), sent by
    /// `responder`: `channel` is the request id, `target` the requester, `request.resolve`
    /// is `resolve` (`true` for resolve, `false` for reject).
    pub fn response_to(
        request: &Command,
        responder: Peer,
        resolve: bool,
    ) -> Result<Command, CommandError> {
        let missing = |field| CommandError::MissingField {
            kind: request.kind,
            field,
        };
        let correlation = request.request.as_ref().ok_or(missing("request"))?;
        let requester = request.peer.as_ref().ok_or(missing("peer"))?;
        Ok(Command {
            channel: Some(correlation.id.as_str().to_owned()),
            peer: Some(responder),
            target: Some(requester.clone()),
            request: Some(Request {
                resolve: Some(resolve),
                ..correlation.clone()
            }),
            is_raw_data: Some(true),
            ..Command::new(CommandKind::RequestResponse)
        })
    }

    /// The channel, or `""` when absent.
    pub fn channel(&self) -> &str {
        self.channel.as_deref().unwrap_or_default()
    }

    /// The peers a command applies to: `peers` when present, else the single `peer`
    /// (what the Node broker does: `peers ?? [peer]`).
    pub fn peers(&self) -> &[Peer] {
        match (&self.peers, &self.peer) {
            (Some(peers), _) => peers,
            (None, Some(peer)) => std::slice::from_ref(peer),
            (None, None) => &[],
        }
    }

    /// The request correlation id, for a request `MES` or an `RQR`.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request.as_ref().map(|r| &r.id)
    }

    /// Whether this is a `MES` that expects a response.
    pub fn is_request(&self) -> bool {
        self.kind == CommandKind::SendMessage && self.request.is_some()
    }

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

    /// Rejects commands missing a field the broker needs to act on them.
    fn check_routable(&self) -> Result<(), CommandError> {
        let missing = |field| {
            Err(CommandError::MissingField {
                kind: self.kind,
                field,
            })
        };
        match self.kind {
            CommandKind::Handshake if self.peer.is_none() => missing("peer"),
            CommandKind::AddChannelListener
            | CommandKind::RemoveChannelListener
            | CommandKind::RemoveChannelAllListeners
            | CommandKind::SendMessage
            | CommandKind::RequestResponse
                if self.channel.is_none() =>
            {
                missing("channel")
            }
            _ => Ok(()),
        }
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
struct RawCommand<'a> {
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
struct RawPeer {
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
struct RawRequest {
    channel: Option<String>,
    id: RequestId,
    resolve: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer_a() -> Peer {
        Peer::node("Xkyh#)qsci", "peerA")
    }

    #[test]
    fn handshake_json_matches_the_capture() {
        assert_eq!(
            Command::handshake(peer_a()).to_json_text(),
            r#"{"peer":{"id":"Xkyh#)qsci","type":1,"name":"peerA"},"kind":"HAN"}"#
        );
        assert_eq!(
            Command::shutdown().to_json_text(),
            r#"{"peers":[],"kind":"SHT"}"#
        );
        assert_eq!(
            Command::remove_listeners().to_json_text(),
            r#"{"kind":"LIR","peers":[],"channel":""}"#
        );
    }

    #[test]
    fn strings_are_escaped_like_json_stringify() {
        let mut out = BytesMut::new();
        write_str(&mut out, "a\"b\\c\n\u{1}\u{7f}é\t");
        assert_eq!(&out[..], br#""a\"b\\c\n\u0001"#.iter().chain("\u{7f}é\\t\"".as_bytes()).copied().collect::<Vec<u8>>());
        // Same as serde_json, which escapes like JSON.stringify for valid strings.
        let s = "x\u{1f}\u{8}\u{c}y";
        let mut out = BytesMut::new();
        write_str(&mut out, s);
        assert_eq!(&out[..], serde_json::to_string(s).unwrap().as_bytes());
    }

    #[test]
    fn decoding_ignores_order_and_unknown_fields() {
        let command = Command::from_json(
            br#"{"isRawData":true,"stamp":{"x":1},"peer":{"id":"p","type":1},"channel":"c","kind":"MES"}"#,
        )
        .unwrap();
        assert_eq!(command.kind, CommandKind::SendMessage);
        assert_eq!(command.channel(), "c");
        assert_eq!(command.peers(), &[Peer::new("p", ProcessType::Node, None)]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            Command::from_json(br#"{"kind":"NOPE"}"#),
            Err(CommandError::UnknownKind("NOPE".into()))
        );
        assert_eq!(
            Command::from_json(br#"{"channel":"x"}"#),
            Err(CommandError::MissingKind)
        );
        assert!(matches!(
            Command::from_json(b"[1]"),
            Err(CommandError::InvalidJson(_))
        ));
        assert_eq!(
            Command::from_json(br#"{"kind":"MES","peer":{"id":"p","type":1}}"#),
            Err(CommandError::MissingField {
                kind: CommandKind::SendMessage,
                field: "channel"
            })
        );
        // A 15.x handshake, from the reference capture.
        assert_eq!(
            Command::from_json(
                br#"{"kind":"HAN","channel":"","peer":{"process":{"type":"node","pid":5421}}}"#
            ),
            Err(CommandError::PreV16Peer)
        );
    }

    #[test]
    fn every_kind_round_trips_its_name() {
        for kind in CommandKind::ALL {
            assert_eq!(CommandKind::from_wire(kind.as_str()), Some(kind));
        }
    }
}
