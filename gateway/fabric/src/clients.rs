//! The connection registry: every connected client of every protocol, for operators.
//!
//! Each protocol server registers a client when its connection is established and keeps the
//! returned [`Registration`] for the connection's lifetime; dropping it removes the entry. An
//! entry says who the client is ([`ClientId`] `<protocol>:<id>`, transport, remote address,
//! user, connection time), what it holds (the [`SubscriberHandle`]s attached to it, or counters
//! the protocol reports through [`ClientControl::stats`]), and how to disconnect it
//! ([`ClientControl::kick`]: each protocol says goodbye in its own terms).
//!
//! The registry knows no protocol: labels are opaque strings, and the protocol decides what a
//! kick means. It holds one small entry per live connection (bounded by each protocol's own
//! connection limit), in a set ordered by id so that listings page with a stable cursor.
//! Nothing here awaits, and no lock is held while calling into a protocol.
//!
//! # Memory
//! Every connection of every protocol has an entry, so an entry is one allocation shared by the
//! set and the [`Registration`] (the set holds a pointer, ordered through the entry's id), and
//! a protocol without a [`ClientControl`] of its own registers [`NoControl::shared`], which
//! allocates nothing per client.

use std::borrow::Borrow;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures_util::task::AtomicWaker;
use parking_lot::{Mutex, RwLock};
use smallvec::SmallVec;

use crate::subscriber::{SubscriberHandle, SubscriberId};

/// A client's id across protocols: `<protocol>:<protocol's own id>` (`mqtt:sensor-1`,
/// `engineio:AAEx...`, `ipc:ipc-7`). Ordered by protocol, then id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    protocol: Arc<str>,
    local: Arc<str>,
}

impl ClientId {
    /// The id of client `local` of `protocol`.
    pub fn new(protocol: impl Into<Arc<str>>, local: impl Into<Arc<str>>) -> Self {
        ClientId {
            protocol: protocol.into(),
            local: local.into(),
        }
    }

    /// Parses `<protocol>:<id>`: the protocol ends at the first `:`; both parts must be
    /// non-empty.
    pub fn parse(text: &str) -> Option<ClientId> {
        let (protocol, local) = text.split_once(':')?;
        (!protocol.is_empty() && !local.is_empty()).then(|| ClientId::new(protocol, local))
    }

    /// The protocol label.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// The id within its protocol (MQTT client id, Engine.IO sid, ...).
    pub fn local(&self) -> &str {
        &self.local
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.protocol, self.local)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({self})")
    }
}

/// What a protocol tells the registry about a client when it registers it.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// The client's id.
    pub id: ClientId,
    /// How it is connected: `tcp`, `tls`, `ws`, `wss`, `polling`, `websocket`, `unix`...
    pub transport: &'static str,
    /// The peer's address, when it has one (not for unix sockets).
    pub remote: Option<SocketAddr>,
    /// The authenticated user, if any.
    pub user: Option<Arc<str>>,
}

impl ClientSpec {
    /// A spec for client `local` of `protocol` over `transport`.
    pub fn new(
        protocol: impl Into<Arc<str>>,
        local: impl Into<Arc<str>>,
        transport: &'static str,
    ) -> Self {
        ClientSpec {
            id: ClientId::new(protocol, local),
            transport,
            remote: None,
            user: None,
        }
    }

    /// Sets the remote address.
    pub fn remote(mut self, remote: Option<SocketAddr>) -> Self {
        self.remote = remote;
        self
    }

    /// Sets the user.
    pub fn user(mut self, user: Option<Arc<str>>) -> Self {
        self.user = user;
        self
    }
}

/// Counters of one client: what it listens to and how its delivery queue does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Subscriptions (filters, channels) held.
    pub subscriptions: usize,
    /// Deliveries (or frames) waiting to be written to the client.
    pub queue_depth: usize,
    /// Deliveries dropped for this client so far.
    pub drops: u64,
}

impl std::ops::AddAssign for ClientStats {
    fn add_assign(&mut self, o: ClientStats) {
        self.subscriptions += o.subscriptions;
        self.queue_depth += o.queue_depth;
        self.drops += o.drops;
    }
}

/// One subscription a protocol keeps outside the fabric's index (the IPC bus routes its own
/// channel listeners), as listed for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSubscription {
    /// The filter or channel.
    pub filter: String,
    /// Who holds it within the client (an IPC peer id), if the protocol says.
    pub holder: Option<String>,
    /// How many times it is held (an IPC listener reference count); 1 otherwise.
    pub count: u32,
}

/// How the registry reaches a client's protocol. Implemented by each protocol server.
pub trait ClientControl: Send + Sync + 'static {
    /// Starts disconnecting the client with the protocol's own goodbye (an Engine.IO close, an
    /// MQTT 5 DISCONNECT 0x98, an IPC socket end...). Must not block; called at most once.
    fn kick(&self);

    /// The client's transport now, when it can change during the connection (an Engine.IO
    /// upgrade from polling to WebSocket). `None` keeps the registered one.
    fn transport(&self) -> Option<&'static str> {
        None
    }

    /// Counters the protocol keeps itself, added to those of the attached subscribers.
    fn stats(&self) -> ClientStats {
        ClientStats::default()
    }

    /// Subscriptions held outside the fabric's index, appended to `out`.
    fn subscriptions(&self, out: &mut Vec<HeldSubscription>) {
        let _ = out;
    }
}

/// A [`ClientControl`] for protocols that only watch [`Registration::kicked`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoControl;

impl NoControl {
    /// One process-wide instance, so that registering with it allocates nothing.
    pub fn shared() -> Arc<dyn ClientControl> {
        static SHARED: LazyLock<Arc<NoControl>> = LazyLock::new(|| Arc::new(NoControl));
        SHARED.clone()
    }
}

impl ClientControl for NoControl {
    fn kick(&self) {}
}

/// What may change during a connection.
struct Live {
    transport: &'static str,
    user: Option<Arc<str>>,
    subscribers: SmallVec<[SubscriberHandle; 1]>,
}

struct Entry {
    id: ClientId,
    remote: Option<SocketAddr>,
    /// When it connected, in microseconds since the Unix epoch (8 bytes instead of 16).
    connected_us: u64,
    live: Mutex<Live>,
    control: Arc<dyn ClientControl>,
    kicked: AtomicBool,
    /// The connection task waiting for a kick ([`Registration::poll_kicked`]).
    kick_waker: AtomicWaker,
}

impl Entry {
    fn info(&self) -> ClientInfo {
        let (transport, user, mut stats) = {
            let live = self.live.lock();
            let mut stats = ClientStats::default();
            for s in &live.subscribers {
                stats += ClientStats {
                    subscriptions: s.subscriptions(),
                    queue_depth: s.depth(),
                    drops: s.drops(),
                };
            }
            (live.transport, live.user.clone(), stats)
        };
        stats += self.control.stats();
        ClientInfo {
            id: self.id.clone(),
            transport: self.control.transport().unwrap_or(transport),
            remote: self.remote,
            user,
            connected_at: SystemTime::UNIX_EPOCH + Duration::from_micros(self.connected_us),
            stats,
            kicked: self.kicked.load(Ordering::Acquire),
        }
    }
}

/// An entry in the registry's set, ordered (and looked up) by its id.
#[derive(Clone)]
struct Keyed(Arc<Entry>);

impl Borrow<ClientId> for Keyed {
    fn borrow(&self) -> &ClientId {
        &self.0.id
    }
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Keyed {}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.0.id.cmp(&other.0.id)
    }
}

/// A snapshot of one client, as listed for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Its id.
    pub id: ClientId,
    /// How it is connected.
    pub transport: &'static str,
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The authenticated user.
    pub user: Option<Arc<str>>,
    /// When it connected.
    pub connected_at: SystemTime,
    /// Subscriptions, queue depth, drops.
    pub stats: ClientStats,
    /// Whether a kick was requested (the client is being disconnected).
    pub kicked: bool,
}

/// A filter over the registry's clients for [`ClientRegistry::list`].
#[derive(Debug, Clone, Default)]
pub struct ClientQuery {
    /// Only this protocol.
    pub protocol: Option<String>,
    /// Only this user.
    pub user: Option<String>,
    /// Only ids (`<protocol>:<id>`) starting with this.
    pub id_prefix: Option<String>,
    /// Only ids after this one (the cursor of the previous page).
    pub after: Option<ClientId>,
    /// At most this many (at least 1).
    pub limit: usize,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ClientPage {
    /// The clients, ordered by id.
    pub clients: Vec<ClientInfo>,
    /// The cursor of the next page, when there may be more.
    pub next: Option<ClientId>,
}

/// What [`ClientRegistry::kick`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// The client was told to go.
    Kicked,
    /// It was already being disconnected.
    AlreadyKicked,
    /// No such client.
    NotFound,
}

/// The registry of connected clients. Cheap to clone; every clone is the same registry.
#[derive(Clone, Default)]
pub struct ClientRegistry {
    map: Arc<RwLock<BTreeSet<Keyed>>>,
}

impl fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("clients", &self.len())
            .finish()
    }
}

impl ClientRegistry {
    /// Registers a client; it is listed until the returned [`Registration`] is dropped. A client
    /// registered again under the same id (an MQTT session takeover) replaces the previous entry,
    /// whose later drop leaves the new one in place.
    pub fn register(&self, spec: ClientSpec, control: Arc<dyn ClientControl>) -> Registration {
        let entry = Arc::new(Entry {
            id: spec.id,
            remote: spec.remote,
            connected_us: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            live: Mutex::new(Live {
                transport: spec.transport,
                user: spec.user,
                subscribers: SmallVec::new(),
            }),
            control,
            kicked: AtomicBool::new(false),
            kick_waker: AtomicWaker::new(),
        });
        // A client registered again under the same id replaces the entry.
        self.map.write().replace(Keyed(entry.clone()));
        Registration {
            registry: self.clone(),
            entry,
        }
    }

    /// Clients connected now.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client `id`, if connected.
    pub fn get(&self, id: &ClientId) -> Option<ClientInfo> {
        let entry = self.map.read().get(id).map(|k| k.0.clone());
        entry.map(|e| e.info())
    }

    /// Whether `id` is connected.
    pub fn contains(&self, id: &ClientId) -> bool {
        self.map.read().contains(id)
    }

    /// One page of the clients matching `query`, in id order.
    pub fn list(&self, query: &ClientQuery) -> ClientPage {
        use std::ops::Bound;
        let limit = query.limit.max(1);
        let mut picked: Vec<Arc<Entry>> = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        {
            let map = self.map.read();
            let start = match &query.after {
                Some(a) => Bound::Excluded(a),
                None => Bound::Unbounded,
            };
            for Keyed(entry) in map.range::<ClientId, _>((start, Bound::Unbounded)) {
                let id = &entry.id;
                if let Some(p) = &query.protocol
                    && id.protocol() != p
                {
                    continue;
                }
                if let Some(prefix) = &query.id_prefix
                    && !starts_with_id(id, prefix)
                {
                    continue;
                }
                if let Some(u) = &query.user
                    && entry.live.lock().user.as_deref() != Some(u.as_str())
                {
                    continue;
                }
                if picked.len() == limit {
                    more = true;
                    break;
                }
                picked.push(entry.clone());
            }
        }
        let next = if more {
            picked.last().map(|e| e.id.clone())
        } else {
            None
        };
        ClientPage {
            clients: picked.iter().map(|e| e.info()).collect(),
            next,
        }
    }

    /// Asks the client `id` to disconnect: its protocol says goodbye with its own reason, and
    /// the entry goes when the connection ends.
    pub fn kick(&self, id: &ClientId) -> Kick {
        let Some(entry) = self.map.read().get(id).map(|k| k.0.clone()) else {
            return Kick::NotFound;
        };
        if entry.kicked.swap(true, Ordering::AcqRel) {
            return Kick::AlreadyKicked;
        }
        entry.kick_waker.wake();
        entry.control.kick();
        Kick::Kicked
    }

    /// Subscriptions the protocols keep outside the fabric's index, with the client holding
    /// each, in client order.
    pub fn held_subscriptions(&self) -> Vec<(ClientId, HeldSubscription)> {
        let entries: Vec<Arc<Entry>> = self.map.read().iter().map(|k| k.0.clone()).collect();
        let mut out = Vec::new();
        let mut held = Vec::new();
        for e in entries {
            e.control.subscriptions(&mut held);
            out.extend(held.drain(..).map(|h| (e.id.clone(), h)));
        }
        out
    }

    /// The client a subscriber belongs to, if one attached it.
    pub fn client_of(&self, subscriber: SubscriberId) -> Option<ClientId> {
        self.map
            .read()
            .iter()
            .map(|k| &k.0)
            .find(|e| {
                e.live
                    .lock()
                    .subscribers
                    .iter()
                    .any(|s| s.id() == subscriber)
            })
            .map(|e| e.id.clone())
    }
}

/// Whether `id` rendered as `<protocol>:<id>` starts with `prefix`, without rendering it.
fn starts_with_id(id: &ClientId, prefix: &str) -> bool {
    let p = id.protocol();
    match prefix.strip_prefix(p) {
        Some(rest) => match rest.strip_prefix(':') {
            Some(local) => id.local().starts_with(local),
            None => rest.is_empty(),
        },
        None => p.starts_with(prefix),
    }
}

/// A registered client: keep it for the connection's lifetime. Dropping it removes the entry.
pub struct Registration {
    registry: ClientRegistry,
    entry: Arc<Entry>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Registration").field(&self.entry.id).finish()
    }
}

impl Registration {
    /// The client's id.
    pub fn id(&self) -> &ClientId {
        &self.entry.id
    }

    /// Sets the authenticated user (after an Engine.IO `auth` op, an IPC handshake...).
    pub fn set_user(&self, user: Option<Arc<str>>) {
        self.entry.live.lock().user = user;
    }

    /// Sets the transport (after an upgrade).
    pub fn set_transport(&self, transport: &'static str) {
        self.entry.live.lock().transport = transport;
    }

    /// Counts `subscriber`'s subscriptions, queue depth and drops as this client's.
    pub fn attach(&self, subscriber: SubscriberHandle) {
        let mut live = self.entry.live.lock();
        if !live.subscribers.iter().any(|s| s.id() == subscriber.id()) {
            live.subscribers.push(subscriber);
        }
    }

    /// Stops counting the subscriber `id`.
    pub fn detach(&self, id: SubscriberId) {
        self.entry.live.lock().subscribers.retain(|s| s.id() != id);
    }

    /// Whether a kick was requested.
    pub fn is_kicked(&self) -> bool {
        self.entry.kicked.load(Ordering::Acquire)
    }

    /// Resolves once an operator kicked the client. Cancel-safe. Only one task (the
    /// connection's) should wait for a registration's kick.
    pub fn kicked(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::poll_fn(|cx| self.poll_kicked(cx))
    }

    /// Polls for a kick: ready once an operator kicked the client, otherwise the task is woken
    /// when that happens. Lets a connection's event loop wait for it without keeping a future.
    pub fn poll_kicked(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_kicked() {
            return Poll::Ready(());
        }
        self.entry.kick_waker.register(cx.waker());
        if self.is_kicked() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.registry.map.write();
        if map
            .get(&self.entry.id)
            .is_some_and(|k| Arc::ptr_eq(&k.0, &self.entry))
        {
            map.remove(&self.entry.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl ClientControl for Counting {
        fn kick(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn spec(p: &str, id: &str) -> ClientSpec {
        ClientSpec::new(p, id, "tcp")
    }

    /// Every connection has an entry: keep it one small allocation.
    #[test]
    fn an_entry_is_small() {
        let entry = std::mem::size_of::<Entry>();
        assert!(entry <= 184, "Entry: {entry} bytes");
        assert_eq!(std::mem::size_of::<Keyed>(), 8);
    }

    #[test]
    fn ids_round_trip_and_reject_empty_parts() {
        let id = ClientId::parse("mqtt:a:b").unwrap_or_else(|| unreachable!());
        assert_eq!((id.protocol(), id.local()), ("mqtt", "a:b"));
        assert_eq!(id.to_string(), "mqtt:a:b");
        assert!(ClientId::parse("mqtt").is_none());
        assert!(ClientId::parse(":a").is_none());
        assert!(ClientId::parse("mqtt:").is_none());
    }

    #[test]
    fn id_prefixes_match_the_rendered_id() {
        let id = ClientId::new("mqtt", "sensor-1");
        for yes in ["", "m", "mqtt", "mqtt:", "mqtt:sen", "mqtt:sensor-1"] {
            assert!(starts_with_id(&id, yes), "{yes}");
        }
        for no in ["mqtt:x", "mqtt:sensor-10", "ipc", "mqttx", "mqtt;"] {
            assert!(!starts_with_id(&id, no), "{no}");
        }
    }

    #[test]
    fn registrations_list_page_and_leave() {
        let r = ClientRegistry::default();
        let regs: Vec<_> = (0..5)
            .map(|i| r.register(spec("mqtt", &format!("c{i}")), Arc::new(NoControl)))
            .collect();
        let other = r.register(
            spec("ipc", "ipc-1").user(Some("desk".into())),
            Arc::new(NoControl),
        );
        assert_eq!(r.len(), 6);
        let mut q = ClientQuery {
            protocol: Some("mqtt".into()),
            limit: 2,
            ..ClientQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = r.list(&q);
            seen.extend(page.clients.iter().map(|c| c.id.to_string()));
            match page.next {
                Some(n) => q.after = Some(n),
                None => break,
            }
        }
        assert_eq!(
            seen,
            ["mqtt:c0", "mqtt:c1", "mqtt:c2", "mqtt:c3", "mqtt:c4"]
        );
        let by_user = r.list(&ClientQuery {
            user: Some("desk".into()),
            limit: 10,
            ..ClientQuery::default()
        });
        assert_eq!(by_user.clients.len(), 1);
        assert_eq!(by_user.clients[0].id, *other.id());
        let by_prefix = r.list(&ClientQuery {
            id_prefix: Some("mqtt:c3".into()),
            limit: 10,
            ..ClientQuery::default()
        });
        assert_eq!(by_prefix.clients.len(), 1);
        drop(regs);
        assert_eq!(r.len(), 1);
        drop(other);
        assert!(r.is_empty());
    }

    #[test]
    fn a_replaced_entry_survives_the_old_registration() {
        let r = ClientRegistry::default();
        let old = r.register(spec("mqtt", "dup"), Arc::new(NoControl));
        let new = r.register(
            spec("mqtt", "dup").user(Some("u".into())),
            Arc::new(NoControl),
        );
        drop(old);
        let info = r
            .get(&ClientId::new("mqtt", "dup"))
            .unwrap_or_else(|| unreachable!("still registered"));
        assert_eq!(info.user.as_deref(), Some("u"));
        drop(new);
        assert!(r.is_empty());
    }

    #[tokio::test]
    async fn a_kick_reaches_the_control_once_and_wakes_the_connection() {
        let r = ClientRegistry::default();
        let control = Arc::new(Counting::default());
        let reg = r.register(spec("ipc", "ipc-1"), control.clone());
        let id = reg.id().clone();
        let waiter = tokio::spawn(async move {
            reg.kicked().await;
            reg
        });
        tokio::task::yield_now().await;
        assert_eq!(r.kick(&id), Kick::Kicked);
        assert_eq!(r.kick(&id), Kick::AlreadyKicked);
        let reg = waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(reg.is_kicked());
        assert!(r.get(&id).is_some_and(|c| c.kicked));
        assert_eq!(control.0.load(Ordering::Relaxed), 1);
        drop(reg);
        assert_eq!(r.kick(&id), Kick::NotFound);
    }

    #[tokio::test]
    async fn a_kick_before_waiting_is_not_lost() {
        let r = ClientRegistry::default();
        let reg = r.register(spec("mqtt", "c"), Arc::new(NoControl));
        r.kick(reg.id());
        tokio::time::timeout(std::time::Duration::from_secs(5), reg.kicked())
            .await
            .unwrap_or_else(|_| panic!("the kick was lost"));
    }

    #[test]
    fn attached_subscribers_count_as_the_clients() {
        let fabric = crate::Fabric::standalone();
        let r = ClientRegistry::default();
        let reg = r.register(spec("mqtt", "c"), Arc::new(NoControl));
        let mut sub = fabric.subscriber(crate::SubscriberSpec::new("mqtt", "c").capacity(2));
        sub.subscribe(
            crate::TopicFilter::new("a/#").unwrap_or_else(|e| unreachable!("{e}")),
            crate::SubOptions::default(),
        );
        reg.attach(sub.handle());
        for i in 0..3 {
            fabric.publish(crate::Message::text(
                crate::Topic::new("a/b").unwrap_or_else(|e| unreachable!("{e}")),
                format!("{i}"),
            ));
        }
        let stats = r.get(reg.id()).map(|c| c.stats).unwrap_or_default();
        assert_eq!(
            stats,
            ClientStats {
                subscriptions: 1,
                queue_depth: 2,
                drops: 1
            }
        );
        assert_eq!(r.client_of(sub.id()).as_ref(), Some(reg.id()));
        reg.detach(sub.id());
        assert_eq!(
            r.get(reg.id()).map(|c| c.stats),
            Some(ClientStats::default())
        );
    }
}
