//! The electron-common-ipc 16.x command layer: the JSON header (element 0) of every packet.
//!
//! A packet is a top-level array `[ o(command JSON) ]` for commands, or
//! `[ o(message JSON), A(args...) ]` for messages (see [`crate::packet`]). This module types
//! the JSON part: its [`CommandKind`], the [`Peer`] identities, the channel, the request
//! correlation and the target. Decoding accepts the fields in any order and ignores fields it
//! does not know (e.g. the logging `stamp`); encoding writes them in the order the Node
//! clients do, so packets built here are byte-identical to the captured ones.
//!
//! Files: `peer.rs` (identities: [`Peer`], [`PeerId`], [`RequestId`], [`ProcessType`],
//! [`Request`]), `wire.rs` (the JSON encoder and the serde shapes of the decoder), this file
//! (the [`Command`] itself).

mod peer;
mod wire;

pub use peer::{Peer, PeerId, ProcessType, Request, RequestId};

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

    /// Rejects commands missing a field the broker needs to act on them.
    pub(super) fn check_routable(&self) -> Result<(), CommandError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use wire::write_str;

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
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "\"a\\\"b\\\\c\\n\\u0001\u{7f}é\\t\""
        );
    }

    proptest::proptest! {
        /// serde_json escapes valid strings exactly as `JSON.stringify` does.
        #[test]
        fn escaping_matches_serde_json(s in proptest::prelude::any::<String>()) {
            let mut out = BytesMut::new();
            write_str(&mut out, &s);
            let expected = serde_json::to_string(&s).unwrap();
            proptest::prop_assert_eq!(&out[..], expected.as_bytes());
        }
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
