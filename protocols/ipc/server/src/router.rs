//! The broker's routing table: connections, peers (endpoints) and channel listeners.
//!
//! This is the state of the Node `BusBroker` (reference §2.10), kept per connection as well
//! as per peer so that closing a socket removes everything registered on it (the 16.x clients
//! send `SHT`/`LIR` with empty `peers`, so cleanup by connection is the only reliable one).
//!
//! - A connection carries one or more peers (every `IpcBusClient` of a process shares the
//!   process's socket and sends its own `HAN`).
//! - A channel has listeners: peers with a reference count (`LICA` +1, `LICR` -1, `LICRA` and
//!   `LIR` drop them). Messages go once per *connection*, never back to the sending one.
//!
//! The table is plain data behind one `RwLock`; nothing here awaits. Routing takes the read
//! lock and pushes into each destination's [`Outbox`], which never waits either. Mutations
//! report the channels whose "has listeners" state changed so the bridge can follow them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use smallvec::SmallVec;
use switchboard_fabric::Topic;
use switchboard_ipc_proto::{Peer, PeerId};

use crate::metrics::IpcMetrics;
use crate::outbox::{Outbox, Pushed};

/// Identifies one connection (socket) of the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// The connection's client id within the IPC protocol (`ipc-7`), as listed in the
    /// fabric's client registry (`ipc:ipc-7`). No `+` or `#`, so ACL patterns with `%c` apply.
    pub fn client_id(self) -> String {
        format!("ipc-{}", self.0)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Longest channel name a listener may register: the fabric's topic limit, so that every
/// listened channel can be a topic and the table's memory stays bounded.
pub const MAX_CHANNEL_LEN: usize = switchboard_fabric::topic::MAX_TOPIC_LEN;

/// Longest peer id a handshake may register (the clients' ids are 10-character nanoids).
pub const MAX_PEER_ID_LEN: usize = 256;

/// Limits the table enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most registered peers over all connections.
    pub max_peers: usize,
    /// Most peers on one connection.
    pub max_peers_per_connection: usize,
    /// Most distinct channels one connection listens to.
    pub max_channels_per_connection: usize,
}

/// A limit a command would exceed; the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// `ipc.max_peers`.
    #[error("the broker already has the most peers allowed (ipc.max_peers)")]
    Peers,
    /// `ipc.max_peers_per_connection`.
    #[error("this connection already has the most peers allowed (ipc.max_peers_per_connection)")]
    PeersPerConnection,
    /// `ipc.max_channels_per_connection`.
    #[error(
        "this connection already listens to the most channels allowed (ipc.max_channels_per_connection)"
    )]
    ChannelsPerConnection,
    /// A channel name longer than [`MAX_CHANNEL_LEN`].
    #[error("channel name longer than {MAX_CHANNEL_LEN} bytes")]
    ChannelName,
    /// A peer id longer than [`MAX_PEER_ID_LEN`].
    #[error("peer id longer than {MAX_PEER_ID_LEN} bytes")]
    PeerId,
}

/// What a mutation changed, for the caller to act on once the lock is released.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Channels that gained their first or lost their last listener.
    pub channels: Vec<String>,
    /// Channels this connection started listening to (for retained replay).
    pub newly_listening: Vec<String>,
}

#[derive(Debug)]
struct Conn {
    outbox: Arc<Outbox>,
    peers: Vec<Peer>,
    /// Channels where at least one peer of this connection listens.
    channels: HashSet<String>,
}

#[derive(Debug)]
struct Slot {
    conn: ConnId,
    outbox: Arc<Outbox>,
    /// Listener peers of this connection on the channel.
    listeners: u32,
}

#[derive(Debug, Default)]
struct Channel {
    /// The channel's fabric topic (`mount` + channel), when it can be one.
    topic: Option<Topic>,
    /// Listener peers: their connection and reference count.
    listeners: HashMap<PeerId, (ConnId, u32)>,
    /// One slot per listening connection: what a broadcast iterates.
    conns: SmallVec<[Slot; 2]>,
}

#[derive(Debug, Default)]
struct State {
    conns: HashMap<ConnId, Conn>,
    endpoints: HashMap<PeerId, ConnId>,
    channels: HashMap<String, Channel>,
}

/// The routing table.
#[derive(Debug)]
pub struct Router {
    state: RwLock<State>,
    mount: String,
    limits: Limits,
    metrics: IpcMetrics,
}

impl Router {
    /// An empty table; channel `c` maps to fabric topic `mount` + `c`.
    pub fn new(mount: &str, limits: Limits, metrics: IpcMetrics) -> Router {
        Router {
            state: RwLock::new(State::default()),
            mount: mount.to_owned(),
            limits,
            metrics,
        }
    }

    /// Adds a connection with its output queue.
    pub fn add_conn(&self, conn: ConnId, outbox: Arc<Outbox>) {
        self.state.write().conns.insert(
            conn,
            Conn {
                outbox,
                peers: Vec::new(),
                channels: HashSet::new(),
            },
        );
    }

    /// Removes a connection and everything registered on it.
    pub fn remove_conn(&self, conn: ConnId) -> Changes {
        let mut changes = Changes::default();
        let mut state = self.state.write();
        let Some(entry) = state.conns.get(&conn) else {
            return changes;
        };
        let peers: Vec<PeerId> = entry.peers.iter().map(|p| p.id.clone()).collect();
        for peer in &peers {
            self.remove_peer(&mut state, conn, peer, &mut changes);
        }
        state.conns.remove(&conn);
        changes
    }

    /// `HAN`: registers `peers` on `conn`. A peer id already registered on another
    /// connection moves here (the Node broker overwrites the endpoint too).
    pub fn handshake(
        &self,
        conn: ConnId,
        peers: &[Peer],
        reserved: &PeerId,
    ) -> Result<Changes, LimitExceeded> {
        let mut changes = Changes::default();
        let mut state = self.state.write();
        for peer in peers {
            if peer.id.as_str().len() > MAX_PEER_ID_LEN {
                return Err(LimitExceeded::PeerId);
            }
            if &peer.id == reserved {
                continue;
            }
            match state.endpoints.get(&peer.id).copied() {
                Some(owner) if owner == conn => continue,
                Some(owner) => self.remove_peer(&mut state, owner, &peer.id, &mut changes),
                None => {}
            }
            if state.endpoints.len() >= self.limits.max_peers {
                return Err(LimitExceeded::Peers);
            }
            let Some(entry) = state.conns.get_mut(&conn) else {
                break;
            };
            if entry.peers.len() >= self.limits.max_peers_per_connection {
                return Err(LimitExceeded::PeersPerConnection);
            }
            entry.peers.push(peer.clone());
            state.endpoints.insert(peer.id.clone(), conn);
            self.metrics.peers.inc();
        }
        Ok(changes)
    }

    /// `SHT` (and a departed peer): unregisters `peers` of `conn` and their listeners.
    pub fn shutdown(&self, conn: ConnId, peers: &[Peer]) -> Changes {
        let mut changes = Changes::default();
        let mut state = self.state.write();
        for peer in peers {
            if state.endpoints.get(&peer.id) == Some(&conn) {
                self.remove_peer(&mut state, conn, &peer.id, &mut changes);
            }
        }
        changes
    }

    /// `LICA`: one more listener reference on `channel` for each of `peers` registered on
    /// `conn` (peers of other connections are ignored: a client only speaks for its own).
    pub fn add_listener(
        &self,
        conn: ConnId,
        peers: &[Peer],
        channel: &str,
    ) -> Result<Changes, LimitExceeded> {
        if channel.len() > MAX_CHANNEL_LEN {
            return Err(LimitExceeded::ChannelName);
        }
        let mut changes = Changes::default();
        let mut guard = self.state.write();
        let state = &mut *guard;
        for peer in peers {
            if state.endpoints.get(&peer.id) != Some(&conn) {
                continue;
            }
            let Some(entry) = state.conns.get_mut(&conn) else {
                break;
            };
            let new_for_conn = !entry.channels.contains(channel);
            if new_for_conn && entry.channels.len() >= self.limits.max_channels_per_connection {
                return Err(LimitExceeded::ChannelsPerConnection);
            }
            let ch = state
                .channels
                .entry(channel.to_owned())
                .or_insert_with(|| Channel {
                    topic: Topic::literal(format!("{}{channel}", self.mount)).ok(),
                    ..Channel::default()
                });
            let listener = ch.listeners.entry(peer.id.clone()).or_insert((conn, 0));
            listener.1 += 1;
            if listener.1 > 1 {
                continue;
            }
            match ch.conns.iter_mut().find(|s| s.conn == conn) {
                Some(slot) => slot.listeners += 1,
                None => {
                    if ch.conns.is_empty() {
                        changes.channels.push(channel.to_owned());
                        self.metrics.channels.inc();
                    }
                    ch.conns.push(Slot {
                        conn,
                        outbox: entry.outbox.clone(),
                        listeners: 1,
                    });
                }
            }
            if new_for_conn {
                entry.channels.insert(channel.to_owned());
                changes.newly_listening.push(channel.to_owned());
            }
        }
        Ok(changes)
    }

    /// `LICR` (one reference) or `LICRA` (`all`): releases listeners of `peers` on `channel`.
    pub fn remove_listener(
        &self,
        conn: ConnId,
        peers: &[Peer],
        channel: &str,
        all: bool,
    ) -> Changes {
        let mut changes = Changes::default();
        let mut state = self.state.write();
        for peer in peers {
            if state.endpoints.get(&peer.id) != Some(&conn) {
                continue;
            }
            let Some(ch) = state.channels.get_mut(channel) else {
                return changes;
            };
            let Some(listener) = ch.listeners.get_mut(&peer.id) else {
                continue;
            };
            listener.1 = if all { 0 } else { listener.1.saturating_sub(1) };
            if listener.1 == 0 {
                self.drop_listener(&mut state, channel, &peer.id, &mut changes);
            }
        }
        changes
    }

    /// `LIR`: removes `peers` of `conn` from every channel.
    pub fn remove_listeners(&self, conn: ConnId, peers: &[Peer]) -> Changes {
        let mut changes = Changes::default();
        let mut state = self.state.write();
        for peer in peers {
            if state.endpoints.get(&peer.id) == Some(&conn) {
                self.unlisten_peer(&mut state, conn, &peer.id, &mut changes);
            }
        }
        changes
    }

    fn remove_peer(&self, state: &mut State, conn: ConnId, peer: &PeerId, changes: &mut Changes) {
        self.unlisten_peer(state, conn, peer, changes);
        if state.endpoints.get(peer) == Some(&conn) {
            state.endpoints.remove(peer);
            self.metrics.peers.dec();
        }
        if let Some(entry) = state.conns.get_mut(&conn) {
            entry.peers.retain(|p| p.id != *peer);
        }
    }

    fn unlisten_peer(&self, state: &mut State, conn: ConnId, peer: &PeerId, changes: &mut Changes) {
        let Some(entry) = state.conns.get(&conn) else {
            return;
        };
        let channels: Vec<String> = entry.channels.iter().cloned().collect();
        for channel in channels {
            let listens = state
                .channels
                .get(&channel)
                .is_some_and(|ch| ch.listeners.get(peer).is_some_and(|(c, _)| *c == conn));
            if listens {
                self.drop_listener(state, &channel, peer, changes);
            }
        }
    }

    /// Removes one listener peer from `channel`, and the channel when it was the last one.
    fn drop_listener(
        &self,
        state: &mut State,
        channel: &str,
        peer: &PeerId,
        changes: &mut Changes,
    ) {
        let Some(ch) = state.channels.get_mut(channel) else {
            return;
        };
        let Some((conn, _)) = ch.listeners.remove(peer) else {
            return;
        };
        let mut conn_left = false;
        if let Some(i) = ch.conns.iter().position(|s| s.conn == conn) {
            ch.conns[i].listeners -= 1;
            if ch.conns[i].listeners == 0 {
                ch.conns.swap_remove(i);
                conn_left = true;
            }
        }
        if ch.conns.is_empty() {
            state.channels.remove(channel);
            changes.channels.push(channel.to_owned());
            self.metrics.channels.dec();
        }
        if conn_left && let Some(entry) = state.conns.get_mut(&conn) {
            entry.channels.remove(channel);
        }
    }

    /// Queues `frame` for every connection listening on `channel` except `sender`; returns
    /// how many connections it was queued for, and the channel's cached fabric topic when
    /// the channel has listeners (`None` when it has none). Connections whose queue
    /// overflowed with the `disconnect` policy are reported in `killed`.
    pub fn broadcast(
        &self,
        sender: Option<ConnId>,
        channel: &str,
        frame: &Bytes,
        killed: &mut Vec<ConnId>,
    ) -> (usize, Option<Option<Topic>>) {
        let state = self.state.read();
        let Some(ch) = state.channels.get(channel) else {
            return (0, None);
        };
        let mut queued = 0;
        for slot in &ch.conns {
            if Some(slot.conn) == sender {
                continue;
            }
            match slot.outbox.push(frame.clone()) {
                Pushed::Queued | Pushed::QueuedAfterDropping(_) => queued += 1,
                Pushed::Dropped => {}
                Pushed::Disconnected => killed.push(slot.conn),
            }
        }
        (queued, Some(ch.topic.clone()))
    }

    /// The output queue of the connection where `peer` is registered.
    pub fn endpoint(&self, peer: &str) -> Option<(ConnId, Arc<Outbox>)> {
        let state = self.state.read();
        let conn = *state.endpoints.get(peer)?;
        state.conns.get(&conn).map(|c| (conn, c.outbox.clone()))
    }

    /// The output queue of `conn`.
    pub fn outbox(&self, conn: ConnId) -> Option<Arc<Outbox>> {
        self.state.read().conns.get(&conn).map(|c| c.outbox.clone())
    }

    /// Queues `frame` once for every connection with at least one peer, except `sender`
    /// (`QUST`, forwarded as the Node broker does).
    pub fn to_every_endpoint(&self, sender: ConnId, frame: &Bytes) {
        let state = self.state.read();
        for (id, conn) in &state.conns {
            if *id != sender && !conn.peers.is_empty() {
                conn.outbox.push(frame.clone());
            }
        }
    }

    /// Whether a peer of `conn` listens on `channel`.
    pub fn listens(&self, conn: ConnId, channel: &str) -> bool {
        self.state
            .read()
            .conns
            .get(&conn)
            .is_some_and(|c| c.channels.contains(channel))
    }

    /// Whether `channel` has at least one listener.
    pub fn has_listeners(&self, channel: &str) -> bool {
        self.state.read().channels.contains_key(channel)
    }

    /// Number of listening connections on `channel`.
    pub fn listening_conns(&self, channel: &str) -> usize {
        self.state
            .read()
            .channels
            .get(channel)
            .map_or(0, |ch| ch.conns.len())
    }

    /// Registered peers.
    pub fn peer_count(&self) -> usize {
        self.state.read().endpoints.len()
    }

    /// Peers registered on `conn`.
    pub fn peers_of(&self, conn: ConnId) -> usize {
        self.state
            .read()
            .conns
            .get(&conn)
            .map_or(0, |c| c.peers.len())
    }

    /// Channels with at least one listener.
    pub fn channel_count(&self) -> usize {
        self.state.read().channels.len()
    }

    /// Open connections.
    pub fn conn_count(&self) -> usize {
        self.state.read().conns.len()
    }

    /// The listeners registered on `conn`: `(channel, peer id, reference count)`, by channel.
    pub fn listeners_of(&self, conn: ConnId) -> Vec<(String, String, u32)> {
        let state = self.state.read();
        let Some(entry) = state.conns.get(&conn) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for channel in &entry.channels {
            if let Some(ch) = state.channels.get(channel) {
                for (peer, (c, count)) in &ch.listeners {
                    if *c == conn {
                        out.push((channel.clone(), peer.as_str().to_owned(), *count));
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Every listener: `(channel, peer, connection, reference count)`, by channel then peer
    /// id, at most `limit` of them.
    pub fn listeners(&self, limit: usize) -> Vec<(String, Peer, ConnId, u32)> {
        let state = self.state.read();
        let mut out = Vec::new();
        'channels: for (channel, ch) in &state.channels {
            for (peer, (conn, count)) in &ch.listeners {
                if out.len() >= limit {
                    break 'channels;
                }
                let Some(peer) = state
                    .conns
                    .get(conn)
                    .and_then(|c| c.peers.iter().find(|p| p.id == *peer))
                else {
                    continue;
                };
                out.push((channel.clone(), peer.clone(), *conn, *count));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1.id).cmp(&(&b.0, &b.1.id)));
        out
    }

    /// Every open connection's output queue, for shutdown.
    pub fn outboxes(&self) -> Vec<Arc<Outbox>> {
        self.state
            .read()
            .conns
            .values()
            .map(|c| c.outbox.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::{Fabric, OverflowPolicy};

    struct Fixture {
        router: Router,
        outboxes: Vec<Arc<Outbox>>,
        metrics: IpcMetrics,
    }

    fn fixture(conns: u64) -> Fixture {
        let metrics = IpcMetrics::standalone(Fabric::standalone().metrics().protocol("ipc"));
        let router = Router::new(
            "",
            Limits {
                max_peers: 4,
                max_peers_per_connection: 3,
                max_channels_per_connection: 2,
            },
            metrics.clone(),
        );
        let outboxes = (0..conns)
            .map(|i| {
                let o = Arc::new(Outbox::new(
                    1 << 20,
                    OverflowPolicy::DropNew,
                    metrics.clone(),
                ));
                router.add_conn(ConnId(i), o.clone());
                o
            })
            .collect();
        Fixture {
            router,
            outboxes,
            metrics,
        }
    }

    fn peer(id: &str) -> Peer {
        Peer::node(id, id)
    }

    fn reserved() -> PeerId {
        PeerId::new("gateway")
    }

    #[test]
    fn broadcast_reaches_each_listening_connection_once_except_the_sender() {
        let f = fixture(3);
        let r = &f.router;
        r.handshake(ConnId(0), &[peer("a1"), peer("a2")], &reserved())
            .unwrap();
        r.handshake(ConnId(1), &[peer("b")], &reserved()).unwrap();
        r.handshake(ConnId(2), &[peer("c")], &reserved()).unwrap();
        let changes = r
            .add_listener(ConnId(0), &[peer("a1"), peer("a2")], "news")
            .unwrap();
        assert_eq!(changes.channels, ["news"]);
        assert_eq!(changes.newly_listening, ["news"]);
        let changes = r.add_listener(ConnId(1), &[peer("b")], "news").unwrap();
        assert!(changes.channels.is_empty());
        let frame = Bytes::from_static(b"frame");
        let mut killed = Vec::new();
        assert_eq!(
            r.broadcast(Some(ConnId(2)), "news", &frame, &mut killed).0,
            2
        );
        assert_eq!(
            r.broadcast(Some(ConnId(0)), "news", &frame, &mut killed).0,
            1
        );
        assert_eq!(r.broadcast(None, "other", &frame, &mut killed).0, 0);
        assert_eq!(f.outboxes[0].queued_bytes(), 5);
        assert_eq!(f.outboxes[1].queued_bytes(), 10);
        assert_eq!(f.outboxes[2].queued_bytes(), 0);
        assert_eq!(f.metrics.channels.get(), 1);
        assert_eq!(f.metrics.peers.get(), 4);
    }

    #[test]
    fn reference_counts_and_removal() {
        let f = fixture(2);
        let r = &f.router;
        r.handshake(ConnId(0), &[peer("a")], &reserved()).unwrap();
        r.add_listener(ConnId(0), &[peer("a")], "ch").unwrap();
        r.add_listener(ConnId(0), &[peer("a")], "ch").unwrap();
        assert!(
            r.remove_listener(ConnId(0), &[peer("a")], "ch", false)
                .channels
                .is_empty()
        );
        assert!(r.has_listeners("ch"));
        assert_eq!(
            r.remove_listener(ConnId(0), &[peer("a")], "ch", false)
                .channels,
            ["ch"]
        );
        assert!(!r.has_listeners("ch"));
        r.add_listener(ConnId(0), &[peer("a")], "ch").unwrap();
        r.add_listener(ConnId(0), &[peer("a")], "ch").unwrap();
        assert_eq!(
            r.remove_listener(ConnId(0), &[peer("a")], "ch", true)
                .channels,
            ["ch"]
        );
        // A peer of another connection cannot be subscribed or released by this one.
        r.add_listener(ConnId(1), &[peer("a")], "ch").unwrap();
        assert!(!r.has_listeners("ch"));
        assert_eq!(f.metrics.channels.get(), 0);
    }

    #[test]
    fn closing_a_connection_removes_its_peers_and_listeners() {
        let f = fixture(2);
        let r = &f.router;
        r.handshake(ConnId(0), &[peer("a"), peer("b")], &reserved())
            .unwrap();
        r.handshake(ConnId(1), &[peer("c")], &reserved()).unwrap();
        r.add_listener(ConnId(0), &[peer("a"), peer("b")], "x")
            .unwrap();
        r.add_listener(ConnId(1), &[peer("c")], "x").unwrap();
        r.add_listener(ConnId(0), &[peer("a")], "y").unwrap();
        let mut changes = r.remove_conn(ConnId(0)).channels;
        changes.sort();
        assert_eq!(changes, ["y"]);
        assert_eq!(r.peer_count(), 1);
        assert_eq!(r.listening_conns("x"), 1);
        assert!(r.endpoint("a").is_none());
        assert_eq!(f.metrics.peers.get(), 1);
        assert_eq!(f.metrics.channels.get(), 1);
        assert_eq!(r.remove_conn(ConnId(1)).channels, ["x"]);
        assert_eq!(f.metrics.channels.get(), 0);
        assert_eq!(f.metrics.peers.get(), 0);
        assert_eq!(r.conn_count(), 0);
    }

    #[test]
    fn a_peer_id_handshaken_again_moves_to_the_new_connection() {
        let f = fixture(2);
        let r = &f.router;
        r.handshake(ConnId(0), &[peer("a")], &reserved()).unwrap();
        r.add_listener(ConnId(0), &[peer("a")], "x").unwrap();
        r.handshake(ConnId(1), &[peer("a")], &reserved()).unwrap();
        assert_eq!(r.endpoint("a").unwrap().0, ConnId(1));
        assert!(!r.has_listeners("x"));
        // Closing the old connection leaves the moved peer alone.
        r.remove_conn(ConnId(0));
        assert_eq!(r.endpoint("a").unwrap().0, ConnId(1));
        assert_eq!(f.metrics.peers.get(), 1);
    }

    #[test]
    fn limits_are_enforced_and_the_reserved_id_ignored() {
        let f = fixture(3);
        let r = &f.router;
        r.handshake(ConnId(0), &[peer("gateway")], &reserved())
            .unwrap();
        assert_eq!(r.peer_count(), 0);
        assert_eq!(
            r.handshake(
                ConnId(0),
                &[peer("a"), peer("b"), peer("c"), peer("d")],
                &reserved()
            ),
            Err(LimitExceeded::PeersPerConnection)
        );
        r.handshake(ConnId(1), &[peer("e")], &reserved()).unwrap();
        assert_eq!(
            r.handshake(ConnId(2), &[peer("f")], &reserved()),
            Err(LimitExceeded::Peers)
        );
        r.add_listener(ConnId(1), &[peer("e")], "1").unwrap();
        r.add_listener(ConnId(1), &[peer("e")], "2").unwrap();
        assert_eq!(
            r.add_listener(ConnId(1), &[peer("e")], "3"),
            Err(LimitExceeded::ChannelsPerConnection)
        );
        // A channel the connection already listens to is not a new one.
        r.add_listener(ConnId(1), &[peer("e")], "2").unwrap();
        let long = "c".repeat(MAX_CHANNEL_LEN + 1);
        assert_eq!(
            r.add_listener(ConnId(1), &[peer("e")], &long),
            Err(LimitExceeded::ChannelName)
        );
        let long = "p".repeat(MAX_PEER_ID_LEN + 1);
        assert_eq!(
            r.handshake(ConnId(1), &[peer(&long)], &reserved()),
            Err(LimitExceeded::PeerId)
        );
    }

    #[test]
    fn shutdown_and_lir_with_named_peers() {
        let f = fixture(1);
        let r = &f.router;
        r.handshake(ConnId(0), &[peer("a"), peer("b")], &reserved())
            .unwrap();
        r.add_listener(ConnId(0), &[peer("a"), peer("b")], "x")
            .unwrap();
        assert!(r.remove_listeners(ConnId(0), &[]).channels.is_empty());
        assert!(
            r.remove_listeners(ConnId(0), &[peer("a")])
                .channels
                .is_empty()
        );
        assert_eq!(r.shutdown(ConnId(0), &[peer("b")]).channels, ["x"]);
        assert_eq!(r.peers_of(ConnId(0)), 1);
    }
}
