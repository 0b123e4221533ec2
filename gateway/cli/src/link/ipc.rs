//! An electron-common-ipc 16 client over TCP or a unix socket, with the project's codec: `HAN`
//! to register a peer, `LICA` to listen to a channel, `MES` to send, `LIR`/`SHT` to leave.
//!
//! The protocol carries no credentials. The peer name (`-i`) is what the gateway takes as the
//! user name of a trusted local client (`[ipc] trust = "local"`, its default), so ACL `user`
//! sections apply to it.
//!
//! The IPC bus has no acknowledgements. To know that the broker has processed everything sent
//! so far, the link sends a **barrier**: a response (`RQR`) addressed to its own peer, which a
//! 16.x broker routes by `target.id` back to the sender, after every earlier packet of the
//! connection. It is used after the handshake (a gateway refusing IPC clients closes the
//! socket at once, which the barrier reveals), after adding listeners (the
//! retained values the gateway replays arrive before the barrier returns, and are flagged as
//! retained), and before closing (so that no sent message is lost).

use std::collections::VecDeque;

use bytes::BytesMut;
use switchboard_ipc_proto::{
    Command, CommandKind, Packet, PacketCodec, Payload, PayloadKind, Peer, PeerId, Request,
    RequestId, Value,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{BoxIo, open_stream};
use crate::args::Connect;
use crate::error::CliError;
use crate::message::{Kind, Outgoing, Received};
use crate::url::{Protocol, Scheme};

/// The largest frame accepted.
const MAX_FRAME: usize = 256 << 20;
/// The most messages kept while waiting for a barrier.
const MAX_BUFFERED: usize = 65_536;
/// The name the gateway's own peer carries (messages it relays from other protocols).
const GATEWAY_PEER_NAME: &str = "switchboard";
/// The channel named in barrier responses (never delivered to listeners).
const BARRIER_CHANNEL: &str = "$switchboard-cli/barrier";

/// An IPC bus connection with one registered peer.
pub struct IpcLink {
    connect: Connect,
    io: BoxIo,
    buf: BytesMut,
    codec: PacketCodec,
    peer: Peer,
    buffered: VecDeque<Received>,
    next_barrier: u64,
}

impl std::fmt::Debug for IpcLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpcLink")
            .field("endpoint", &self.connect.endpoint)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A 10-character peer id, as the Node clients generate (alphanumerics only).
fn peer_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..10)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

fn kind_from(k: PayloadKind) -> Kind {
    match k {
        PayloadKind::Text => Kind::Text,
        PayloadKind::Binary => Kind::Binary,
        PayloadKind::Json => Kind::Json,
    }
}

impl IpcLink {
    /// Connects, registers the peer (`HAN`) and checks with a barrier that the gateway kept
    /// the connection.
    pub async fn connect(c: &Connect) -> Result<IpcLink, CliError> {
        let io: BoxIo = if c.endpoint.scheme == Scheme::IpcUnix {
            connect_unix(c).await?
        } else {
            open_stream(c).await?
        };
        let mut link = IpcLink {
            connect: c.clone(),
            io,
            buf: BytesMut::with_capacity(8192),
            codec: PacketCodec::new(MAX_FRAME),
            peer: Peer::node(PeerId::new(peer_id()), c.client_id.clone()),
            buffered: VecDeque::new(),
            next_barrier: 1,
        };
        link.send(&Packet::from_command(Command::handshake(link.peer.clone())))
            .await?;
        match link.barrier(false).await {
            Ok(()) => {}
            Err(CliError::Lost(_)) => {
                return Err(CliError::Refused {
                    target: c.endpoint.to_string(),
                    reason: "the gateway closed the connection right after the handshake \
                             (the IPC bus carries no credentials: with [ipc] trust = \"none\" \
                             and anonymous access off it refuses every IPC client; or a \
                             connection limit was reached)"
                        .into(),
                });
            }
            Err(e) => return Err(e),
        }
        c.debug(format_args!(
            "IPC peer {} registered",
            link.peer.id.as_str()
        ));
        Ok(link)
    }

    async fn send(
        &mut self,
        packet: &Result<Packet, switchboard_ipc_proto::ValueError>,
    ) -> Result<(), CliError> {
        let packet = packet
            .as_ref()
            .map_err(|e| CliError::Protocol(format!("cannot encode the IPC packet: {e}")))?;
        self.io
            .write_all(packet.frame())
            .await
            .map_err(|e| CliError::Lost(e.to_string()))
    }

    /// The next packet from the broker.
    async fn read(&mut self) -> Result<Packet, CliError> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) => {}
                Err(e) if e.is_stream_fatal() => {
                    return Err(CliError::Protocol(format!("invalid IPC stream: {e}")));
                }
                Err(e) => {
                    self.connect
                        .warn(format_args!("skipped an IPC packet: {e}"));
                    continue;
                }
            }
            let n = self
                .io
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| CliError::Lost(e.to_string()))?;
            if n == 0 {
                return Err(CliError::Lost("the gateway closed the connection".into()));
            }
        }
    }

    /// A received message, or `None` for other packets.
    fn message(&self, packet: &Packet, retained: bool) -> Option<Received> {
        if packet.kind() != CommandKind::SendMessage {
            return None;
        }
        let command = packet.command();
        let payload = match packet.payload() {
            Ok(p) => p,
            Err(e) => {
                self.connect
                    .warn(format_args!("skipped a message with unreadable args: {e}"));
                return None;
            }
        };
        let from_gateway = command.peer.as_ref().is_some_and(|p| {
            p.name.as_deref() == Some(GATEWAY_PEER_NAME)
                && p.id.as_str().starts_with(GATEWAY_PEER_NAME)
        });
        let mut m = Received::new(Protocol::Ipc, command.channel(), payload.data);
        m.kind = Some(kind_from(payload.kind));
        m.origin = Some(if from_gateway { "gateway" } else { "ipc" }.to_owned());
        m.retain = retained && from_gateway;
        Some(m)
    }

    /// Sends a response addressed to this link's own peer and reads until it comes back,
    /// keeping messages; those from the gateway's peer are flagged retained when `retained`.
    async fn barrier(&mut self, retained: bool) -> Result<(), CliError> {
        let id = format!("barrier-{}-{}", self.peer.id.as_str(), self.next_barrier);
        self.next_barrier += 1;
        let command = Command {
            channel: Some(id.clone()),
            peer: Some(self.peer.clone()),
            target: Some(self.peer.clone()),
            request: Some(Request {
                channel: BARRIER_CHANNEL.to_owned(),
                id: RequestId::new(id.clone()),
                resolve: Some(true),
            }),
            is_raw_data: Some(true),
            ..Command::new(CommandKind::RequestResponse)
        };
        self.send(&Packet::from_message(command, &[Value::Null]))
            .await?;
        loop {
            let packet = self.read().await?;
            if packet.kind() == CommandKind::RequestResponse
                && packet.command().request_id().map(RequestId::as_str) == Some(id.as_str())
            {
                return Ok(());
            }
            if let Some(m) = self.message(&packet, retained)
                && self.buffered.len() < MAX_BUFFERED
            {
                self.buffered.push_back(m);
            }
        }
    }

    /// The single argument carrying the message's payload.
    fn args(m: &Outgoing) -> Result<Vec<Value>, CliError> {
        let payload = Payload {
            kind: match m.kind {
                Kind::Text if std::str::from_utf8(&m.payload).is_ok() => PayloadKind::Text,
                Kind::Text | Kind::Binary => PayloadKind::Binary,
                Kind::Json => PayloadKind::Json,
            },
            data: m.payload.clone(),
        };
        payload
            .to_args()
            .map_err(|e| CliError::usage(format!("the payload cannot be sent: {e}")))
    }

    /// Sends the message (`MES`). The IPC bus does not acknowledge; see [`IpcLink::close`].
    pub async fn publish(&mut self, m: &Outgoing) -> Result<(), CliError> {
        let args = Self::args(m)?;
        let packet = Packet::from_message(Command::send(m.topic.clone(), self.peer.clone()), &args);
        self.send(&packet).await
    }

    /// Sends the message as a request (`MES` with `request`) and waits for the response
    /// (`RQR`): a resolve is the reply, a reject an error.
    pub async fn request(&mut self, m: &Outgoing) -> Result<Received, CliError> {
        let id = format!("req-{}-{}", self.peer.id.as_str(), self.next_barrier);
        self.next_barrier += 1;
        let args = Self::args(m)?;
        let command = Command::send(m.topic.clone(), self.peer.clone()).with_request(id.as_str());
        self.send(&Packet::from_message(command, &args)).await?;
        loop {
            let packet = self.read().await?;
            if packet.kind() == CommandKind::RequestResponse
                && packet.command().request_id().map(RequestId::as_str) == Some(id.as_str())
            {
                let resolved = packet
                    .command()
                    .request
                    .as_ref()
                    .and_then(|r| r.resolve)
                    .unwrap_or(true);
                let payload = packet
                    .payload()
                    .map_err(|e| CliError::Protocol(format!("unreadable response: {e}")))?;
                if !resolved {
                    return Err(CliError::Protocol(format!(
                        "the request on `{}` was rejected: {}",
                        m.topic,
                        String::from_utf8_lossy(&payload.data)
                    )));
                }
                let mut reply = Received::new(Protocol::Ipc, m.topic.clone(), payload.data);
                reply.kind = Some(kind_from(payload.kind));
                return Ok(reply);
            }
            if let Some(msg) = self.message(&packet, false)
                && self.buffered.len() < MAX_BUFFERED
            {
                self.buffered.push_back(msg);
            }
        }
    }

    /// Adds a listener to each channel (`LICA`) and waits for the barrier; the retained
    /// values the gateway replays arrive meanwhile.
    pub async fn subscribe(&mut self, channels: &[String]) -> Result<(), CliError> {
        for c in channels {
            let command = Command::add_listener(vec![self.peer.clone()], c.clone());
            self.send(&Packet::from_command(command)).await?;
        }
        self.barrier(true).await?;
        self.connect.debug(format_args!(
            "subscribed: listening to {}",
            channels.join(", ")
        ));
        Ok(())
    }

    /// The next message on a channel listened to.
    pub async fn next(&mut self) -> Result<Received, CliError> {
        loop {
            if let Some(m) = self.buffered.pop_front() {
                return Ok(m);
            }
            let packet = self.read().await?;
            if let Some(m) = self.message(&packet, false) {
                return Ok(m);
            }
        }
    }

    /// Waits until the broker has processed everything sent, then leaves as the Node
    /// clients do (`LIR`, `SHT`) and closes the socket.
    pub async fn close(mut self) -> Result<(), CliError> {
        self.barrier(false).await?;
        self.send(&Packet::from_command(Command::remove_listeners()))
            .await?;
        self.send(&Packet::from_command(Command::shutdown()))
            .await?;
        let _ = self.io.shutdown().await;
        Ok(())
    }
}

#[cfg(unix)]
async fn connect_unix(c: &Connect) -> Result<BoxIo, CliError> {
    tokio::net::UnixStream::connect(&c.endpoint.path)
        .await
        .map(|s| Box::new(s) as BoxIo)
        .map_err(|e| CliError::Unreachable {
            target: c.endpoint.to_string(),
            reason: e.to_string(),
        })
}

#[cfg(not(unix))]
async fn connect_unix(c: &Connect) -> Result<BoxIo, CliError> {
    Err(CliError::usage(format!(
        "{}: unix sockets are not available on this platform",
        c.endpoint
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_are_ten_alphanumerics() {
        let id = peer_id();
        assert_eq!(id.len(), 10);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(peer_id(), peer_id());
    }
}
