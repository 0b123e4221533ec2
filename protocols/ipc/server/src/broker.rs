//! The broker: what one packet from one connection does (reference §2.10), plus the shared
//! state every connection task and the bridge task use.
//!
//! | packet | action |
//! |---|---|
//! | `HAN` | register the peers on this connection; with `trust = "local"` the first one names the connection's identity |
//! | `SHT`, `LIR` | unregister / unlisten the named peers (in practice none: cleanup is by connection) |
//! | `LICA`, `LICR`, `LICRA` | listener reference counts of the named peers of this connection |
//! | `MES` | with a known `target`: that peer's connection only. Otherwise every connection listening on the channel except the sender's, byte for byte, then the fabric (a request becomes a fabric request) |
//! | `RQR` | the `target` peer's connection, or the bridge when the target is the gateway's own peer |
//! | `MES` request on `/electron-common-ipc/queryState` or `/serviceAvailable` | answered by the broker itself ([`crate::query`]), then routed as any message |
//! | `QUST` | every other connection with a peer (as the Node broker does) |
//! | `QUSTR`, `LOGRT`, `BI*` | accepted and ignored: they only serve an Electron bridge, not supported |

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use switchboard_fabric::{Access, Authorizer, Fabric, Identity, SubscriberId, Topic};
use switchboard_ipc_proto::{CommandKind, Peer, PeerId, RawPacket, Route};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bridge::BridgeState;
use crate::config::IpcConfig;
use crate::connection::Identified;
use crate::error::CloseReason;
use crate::metrics::{IpcMetrics, reason};
use crate::query::Query;
use crate::router::{Changes, ConnId, Limits, Router};
use crate::services::{ServiceChannel, ServiceTable, service_channel};

/// Names a trusted local connection after the first named peer of its first handshake, so
/// that the ACL's `user <peerName>` rules apply to it. Without a name it stays anonymous.
fn name_identity(identity: &mut Identity, peers: &[Peer]) {
    if identity.user.is_some() {
        return;
    }
    if let Some(name) = peers
        .iter()
        .filter_map(|p| p.name.as_deref())
        .find(|n| !n.is_empty())
    {
        identity.user = Some(name.into());
        tracing::debug!(user = name, "IPC connection named after its peer");
    }
}

/// Counters of one read batch, added to the shared metrics once per batch.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) packets: u64,
    pub(crate) messages: u64,
    pub(crate) responses: u64,
}

/// Everything the connection tasks and the bridge share.
#[derive(Debug)]
pub(crate) struct Broker {
    pub(crate) config: IpcConfig,
    pub(crate) router: Router,
    pub(crate) fabric: Fabric,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) metrics: IpcMetrics,
    /// The gateway's own peer: the sender of messages from other protocols, the requester
    /// of their requests, the target of IPC responses to them.
    pub(crate) gateway: Peer,
    pub(crate) bridge: BridgeState,
    /// The services IPC peers provide ([`crate::services`]).
    pub(crate) services: ServiceTable,
    /// The bridge's fabric subscriber, once created (origin of IPC messages published into
    /// the fabric, so that the bridge's own no-local subscriptions skip them).
    pub(crate) bridge_sub: OnceLock<SubscriberId>,
    pub(crate) stop: CancellationToken,
    pub(crate) tracker: TaskTracker,
    next_conn: AtomicU64,
}

impl Broker {
    pub(crate) fn new(
        config: IpcConfig,
        fabric: Fabric,
        authorizer: Arc<dyn Authorizer>,
        metrics: IpcMetrics,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Broker {
        let limits = Limits {
            max_peers: config.max_peers,
            max_peers_per_connection: config.max_peers_per_connection,
            max_channels_per_connection: config.max_channels_per_connection,
        };
        let gateway = Peer::node(
            PeerId::new(format!("switchboard-{:012x}", rand::random::<u64>() >> 16)),
            "switchboard",
        );
        let request_timeout = Duration::from_millis(config.request_timeout_ms);
        Broker {
            router: Router::new(&config.mount, limits, metrics.clone()),
            bridge: BridgeState::new(request_timeout, config.bridge_queue),
            config,
            fabric,
            authorizer,
            metrics,
            gateway,
            services: ServiceTable::default(),
            bridge_sub: OnceLock::new(),
            stop,
            tracker,
            next_conn: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// The fabric topic of an IPC channel (`mount` + channel), or `None` when the channel
    /// cannot be a topic (empty, or too long).
    pub(crate) fn topic(&self, channel: &str) -> Option<Topic> {
        if self.config.mount.is_empty() {
            Topic::literal(channel).ok()
        } else {
            Topic::literal(format!("{}{channel}", self.config.mount)).ok()
        }
    }

    /// The IPC channel of a fabric topic, or `None` outside the mount.
    pub(crate) fn channel<'t>(&self, topic: &'t Topic) -> Option<&'t str> {
        topic
            .as_str()
            .strip_prefix(self.config.mount.as_str())
            .filter(|c| !c.is_empty())
    }

    fn allowed(&self, identity: &Identity, access: Access, channel: &str) -> bool {
        let allowed = if self.config.mount.is_empty() {
            self.authorizer.authorize(identity, access, channel)
        } else {
            let topic = format!("{}{channel}", self.config.mount);
            self.authorizer.authorize(identity, access, &topic)
        };
        if !allowed {
            self.metrics.protocol.auth_failure(access.as_str());
            self.metrics.dropped(reason::NOT_AUTHORIZED);
        }
        allowed
    }

    /// Acts on one packet from `conn`. An error closes the connection.
    ///
    /// Messages and responses are routed on a borrowed view of their header ([`Route`]);
    /// everything else, and whatever the view cannot vouch for, is parsed in full.
    pub(crate) fn handle(
        self: &Arc<Self>,
        conn: ConnId,
        id: &mut Identified,
        raw: RawPacket,
        handshaken: &mut bool,
        batch: &mut Batch,
    ) -> Result<(), CloseReason> {
        batch.packets += 1;
        if let Ok(route) = raw.route()
            && let Some(channel) = route.channel.as_deref()
        {
            match route.kind {
                CommandKind::SendMessage => {
                    batch.messages += 1;
                    self.route_message(conn, &id.identity, &raw, &route, channel);
                    return Ok(());
                }
                CommandKind::RequestResponse => {
                    batch.responses += 1;
                    self.route_response(&raw, &route);
                    return Ok(());
                }
                _ => {}
            }
        }
        let packet = raw.into_packet()?;
        let command = packet.command();
        match command.kind {
            // Valid messages and responses took the fast path above.
            CommandKind::SendMessage | CommandKind::RequestResponse => {}
            CommandKind::Handshake => {
                self.metrics.packets(command.kind.as_str(), 1);
                let changes = self
                    .router
                    .handshake(conn, command.peers(), &self.gateway.id)?;
                if !*handshaken && id.trusted {
                    name_identity(&mut id.identity, command.peers());
                }
                self.apply(conn, changes);
                *handshaken = true;
            }
            CommandKind::Shutdown => {
                self.metrics.packets(command.kind.as_str(), 1);
                let changes = self.router.shutdown(conn, command.peers());
                self.apply(conn, changes);
                self.services_changed(conn);
            }
            CommandKind::AddChannelListener => {
                self.metrics.packets(command.kind.as_str(), 1);
                let channel = command.channel();
                if self.allowed(&id.identity, Access::Subscribe, channel) {
                    let changes = self.router.add_listener(conn, command.peers(), channel)?;
                    self.apply(conn, changes);
                    if let Some(ServiceChannel::Call(name)) = service_channel(channel) {
                        self.service_listening(name, conn, &id.identity.client_id, command.peers());
                    }
                }
            }
            CommandKind::RemoveChannelListener | CommandKind::RemoveChannelAllListeners => {
                self.metrics.packets(command.kind.as_str(), 1);
                let all = command.kind == CommandKind::RemoveChannelAllListeners;
                let changes =
                    self.router
                        .remove_listener(conn, command.peers(), command.channel(), all);
                self.apply(conn, changes);
                self.services_changed(conn);
            }
            CommandKind::RemoveListeners => {
                self.metrics.packets(command.kind.as_str(), 1);
                let changes = self.router.remove_listeners(conn, command.peers());
                self.apply(conn, changes);
                self.services_changed(conn);
            }
            CommandKind::QueryState => {
                self.metrics.packets(command.kind.as_str(), 1);
                self.router.to_every_endpoint(conn, packet.frame());
            }
            CommandKind::QueryStateResponse
            | CommandKind::LogRoundtrip
            | CommandKind::BridgeConnect
            | CommandKind::BridgeClose
            | CommandKind::BridgeAddChannelListener
            | CommandKind::BridgeRemoveChannelListener => {
                self.metrics.packets(command.kind.as_str(), 1);
                tracing::debug!(kind = %command.kind, "Electron bridge packet ignored");
            }
        }
        Ok(())
    }

    /// Adds a batch's counters to the shared metrics.
    pub(crate) fn flush(&self, batch: &mut Batch) {
        if batch.packets > 0 {
            self.metrics.protocol.messages_in.inc_by(batch.packets);
        }
        if batch.messages > 0 {
            self.metrics
                .packets(CommandKind::SendMessage.as_str(), batch.messages);
        }
        if batch.responses > 0 {
            self.metrics
                .packets(CommandKind::RequestResponse.as_str(), batch.responses);
        }
        *batch = Batch::default();
    }

    /// Follows what a routing-table change means for the bridge and the connection.
    pub(crate) fn apply(&self, conn: ConnId, changes: Changes) {
        if !changes.channels.is_empty() {
            self.bridge.mark_dirty(changes.channels);
        }
        for channel in changes.newly_listening {
            self.replay_retained(conn, &channel);
        }
    }

    fn route_message(
        self: &Arc<Self>,
        conn: ConnId,
        identity: &Identity,
        raw: &RawPacket,
        route: &Route<'_>,
        channel: &str,
    ) {
        if !self.allowed(identity, Access::Write, channel) {
            return;
        }
        if let Some(ServiceChannel::Event(name)) = service_channel(channel) {
            self.service_event(conn, name, raw.frame());
        }
        if route.has_request
            && route
                .target
                .as_deref()
                .is_none_or(|t| t == self.gateway.id.as_str())
            && let Some(query) = Query::of(channel)
        {
            self.answer_query(conn, raw, query);
        }
        if let Some(target) = route.target.as_deref() {
            if target == self.gateway.id.as_str() {
                // Addressed to the gateway itself: it goes to the other protocols only.
                self.to_fabric(conn, raw, route, channel, None);
                return;
            }
            if let Some((_, outbox)) = self.router.endpoint(target) {
                outbox.push(raw.frame().clone());
                return;
            }
            // An unknown target falls back to a channel broadcast, as in the Node broker.
        }
        let mut killed = Vec::new();
        let (_, topic) = self
            .router
            .broadcast(Some(conn), channel, raw.frame(), &mut killed);
        self.to_fabric(conn, raw, route, channel, topic);
    }

    fn route_response(&self, raw: &RawPacket, route: &Route<'_>) {
        let Some(target) = route.target.as_deref() else {
            self.metrics.dropped(reason::NO_TARGET);
            return;
        };
        if target == self.gateway.id.as_str() {
            match raw.clone().into_packet() {
                Ok(packet) => self.reply_to_fabric(&packet),
                Err(_) => self.metrics.dropped(reason::BAD_PACKET),
            }
            return;
        }
        match self.router.endpoint(target) {
            Some((_, outbox)) => {
                outbox.push(raw.frame().clone());
            }
            // The requester is gone: nobody is waiting for this response.
            None => self.metrics.dropped(reason::NO_TARGET),
        }
    }

    /// Queues a frame for one connection (bridge output).
    pub(crate) fn send_to_conn(&self, conn: ConnId, frame: Bytes) {
        if let Some(outbox) = self.router.outbox(conn) {
            outbox.push(frame);
        }
    }
}
