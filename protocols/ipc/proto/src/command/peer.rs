//! Peer identities and request correlation.

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

/// Lets maps keyed by [`PeerId`] be searched with a borrowed `&str`.
impl std::borrow::Borrow<str> for PeerId {
    fn borrow(&self) -> &str {
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
