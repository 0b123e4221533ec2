//! The fabric itself: publish, subscribe, retained values, request/reply.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use smallvec::SmallVec;
use tokio::sync::oneshot;

use crate::backplane::{Backplane, Interest};
use crate::clients::ClientRegistry;
use crate::config::FabricConfig;
use crate::error::{FabricError, RequestError};
use crate::index::{Entry, Index, Which};
use crate::message::{Message, Qos};
use crate::metrics::FabricMetrics;
use crate::retained::{RetainedChange, RetainedStore};
use crate::subscriber::{
    Delivery, SubInner, SubOptions, Subscriber, SubscriberHandle, SubscriberId, SubscriberSpec,
};
use crate::topic::{Topic, TopicFilter};

/// Prefix of the private topics on which replies to [`Fabric::request`] arrive:
/// `$reply/<node id>/<nonce>`, so a cluster can route a reply to the node that waits for it.
pub const REPLY_PREFIX: &str = "$reply/";

/// Where [`Fabric::route`] delivered a message.
enum Routed {
    /// To the local request waiting for this reply (whether it still waited).
    Reply(bool),
    /// To this many subscribers.
    Subscribers(usize),
}

/// Receives every change of the retained store, for persistence. Called with the store's lock
/// released, in publication order per topic.
pub trait RetainedObserver: Send + Sync + fmt::Debug + 'static {
    /// `value` is the new retained message, or `None` when the topic's value was deleted.
    fn retained_changed(&self, topic: &Topic, value: Option<&Arc<Message>>);
}

/// A snapshot of the fabric's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FabricStats {
    /// Live subscribers.
    pub subscribers: usize,
    /// Distinct filters in the index.
    pub filters: usize,
    /// Retained messages stored.
    pub retained: usize,
    /// Bytes held by retained messages.
    pub retained_bytes: usize,
    /// Messages published since start.
    pub published: u64,
    /// Requests waiting for a reply.
    pub pending_requests: usize,
    /// Time since the fabric was created.
    pub uptime: Duration,
}

/// One subscription, as listed for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// The filter text.
    pub filter: String,
    /// The subscriber holding it.
    pub subscriber: SubscriberId,
    /// The subscriber's protocol label.
    pub protocol: Arc<str>,
    /// The subscriber's client identity.
    pub client: Arc<str>,
    /// Shared-subscription group, if any.
    pub group: Option<Arc<str>>,
    /// Highest QoS granted.
    pub max_qos: Qos,
    /// Whether the subscriber is the gateway's own plumbing (see [`SubscriberSpec::internal`]).
    pub internal: bool,
}

/// Hashes [`SubscriberId`]s: the fabric hands them out in sequence, so a multiplicative hash
/// spreads them as well as SipHash would, for a fraction of the cost (no input comes from
/// clients).
#[derive(Clone, Copy, Default)]
struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// The [`std::hash::Hasher`] of [`IdHash`].
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Odd multiplier: a bijection on every low-bit window (the bucket index), and the
        // high bits (hashbrown's control byte) mix every input bit.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Inner {
    config: FabricConfig,
    node_id: Arc<str>,
    index: RwLock<Index>,
    retained: RwLock<RetainedStore>,
    observer: RwLock<Option<Arc<dyn RetainedObserver>>>,
    backplane: OnceLock<Arc<dyn Backplane>>,
    pending: Mutex<HashMap<Arc<str>, oneshot::Sender<Arc<Message>>>>,
    subscribers: Mutex<HashMap<SubscriberId, SubscriberHandle, IdHash>>,
    clients: ClientRegistry,
    next_id: AtomicU64,
    reply_nonce: u64,
    metrics: FabricMetrics,
    started: Instant,
    closed: AtomicBool,
}

/// The protocol-neutral pub/sub fabric. Cheap to clone; every clone is the same fabric.
#[derive(Clone)]
pub struct Fabric {
    inner: Arc<Inner>,
}

impl fmt::Debug for Fabric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fabric")
            .field("node_id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}

impl Fabric {
    /// Creates a fabric with its metrics registered on `registry`. `node_id` names this gateway
    /// process (in reply topics and, later, across the cluster).
    pub fn new(
        config: FabricConfig,
        node_id: impl Into<Arc<str>>,
        registry: &prometheus::Registry,
    ) -> Result<Self, FabricError> {
        if let Some((key, what)) = config.problems().into_iter().next() {
            return Err(FabricError::Config(format!("{key} {what}")));
        }
        let metrics = FabricMetrics::register(registry)?;
        let retained = RetainedStore::new(config.max_retained_messages, config.max_retained_bytes);
        Ok(Fabric {
            inner: Arc::new(Inner {
                config,
                node_id: node_id.into(),
                index: RwLock::new(Index::default()),
                retained: RwLock::new(retained),
                observer: RwLock::new(None),
                backplane: OnceLock::new(),
                pending: Mutex::new(HashMap::new()),
                subscribers: Mutex::new(HashMap::default()),
                clients: ClientRegistry::default(),
                next_id: AtomicU64::new(1),
                reply_nonce: rand::random(),
                metrics,
                started: Instant::now(),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// A fabric with default settings and a private registry, for tests and tools.
    pub fn standalone() -> Self {
        Fabric::new(
            FabricConfig::default(),
            "local",
            &prometheus::Registry::new(),
        )
        .unwrap_or_else(|e| unreachable!("default fabric config is valid: {e}"))
    }

    /// The settings the fabric runs with.
    pub fn config(&self) -> &FabricConfig {
        &self.inner.config
    }

    /// This node's id.
    pub fn node_id(&self) -> &Arc<str> {
        &self.inner.node_id
    }

    /// The fabric's metrics, including the per-protocol connection metrics bridges use.
    pub fn metrics(&self) -> &FabricMetrics {
        &self.inner.metrics
    }

    /// The registry of connected clients of every protocol.
    pub fn clients(&self) -> &ClientRegistry {
        &self.inner.clients
    }

    /// Creates a subscriber with its own bounded queue.
    pub fn subscriber(&self, spec: SubscriberSpec) -> Subscriber {
        let id = SubscriberId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let capacity = spec.capacity.unwrap_or(self.inner.config.queue_capacity);
        let policy = spec.policy.unwrap_or(self.inner.config.overflow);
        let metrics = self.inner.metrics.subscriber(&spec.protocol);
        metrics.subscribers().inc();
        let inner = Arc::new(SubInner::new(id, &spec, capacity, policy, metrics));
        let subscriber = Subscriber {
            inner,
            fabric: self.clone(),
            filters: Default::default(),
            replay: Default::default(),
        };
        self.inner
            .subscribers
            .lock()
            .insert(id, subscriber.handle());
        subscriber
    }

    /// A handle on a live subscriber, by id.
    pub fn subscriber_handle(&self, id: SubscriberId) -> Option<SubscriberHandle> {
        self.inner.subscribers.lock().get(&id).cloned()
    }

    pub(crate) fn forget_subscriber(&self, sub: &Arc<SubInner>) {
        if self.inner.subscribers.lock().remove(&sub.id).is_some() {
            sub.metrics.subscribers().dec();
        }
    }

    pub(crate) fn add_subscription(
        &self,
        sub: &Arc<SubInner>,
        filter: &TopicFilter,
        options: SubOptions,
        is_new: bool,
        replay: bool,
    ) -> Vec<Arc<Message>> {
        let (inserted, first) = self.inner.index.write().insert(sub, filter, options);
        debug_assert_eq!(inserted, is_new);
        if first && let Some(bp) = self.inner.backplane.get() {
            bp.interest_changed(filter);
        }
        if inserted {
            sub.filter_count.fetch_add(1, Ordering::Relaxed);
            sub.metrics.subscriptions().inc();
        }
        let mut out = Vec::new();
        if replay {
            self.inner.retained.read().collect(filter, &mut out);
        }
        out
    }

    pub(crate) fn remove_subscription(
        &self,
        sub: &Arc<SubInner>,
        filter: &TopicFilter,
        group: Option<&str>,
    ) {
        let (removed, last) = self.inner.index.write().remove(sub.id, filter, group);
        if last && let Some(bp) = self.inner.backplane.get() {
            bp.interest_changed(filter);
        }
        if removed {
            sub.filter_count.fetch_sub(1, Ordering::Relaxed);
            sub.metrics.subscriptions().dec();
        }
    }

    /// Publishes `message`: stores it when retained, then queues it for every matching subscriber.
    /// Never waits: a full subscriber queue applies that subscriber's overflow policy. Returns the
    /// number of subscribers it was queued for.
    pub fn publish(&self, message: Message) -> usize {
        self.publish_arc(Arc::new(message))
    }

    /// Like [`Fabric::publish`] for a message already shared. A message that entered on this node
    /// (`origin.node` is `None`) is then handed to the [`Backplane`], if one is installed, which
    /// may take its shared-subscription groups in charge (see [`Backplane::published`]).
    pub fn publish_arc(&self, message: Arc<Message>) -> usize {
        let local = message.origin.node.is_none();
        let backplane = self.inner.backplane.get().filter(|_| local);
        let which = match backplane {
            Some(_) => Which::Direct,
            None => Which::All,
        };
        match self.route(&message, local, which) {
            Routed::Reply(taken) => usize::from(taken),
            Routed::Subscribers(mut queued) => {
                if let Some(bp) = backplane
                    && !bp.published(&message)
                {
                    queued += self.deliver(&message, Which::Groups);
                }
                queued
            }
        }
    }

    /// Delivers a message another node published (its `origin.node` set, `origin.subscriber`
    /// `None`) to local non-shared subscribers: shared groups get it through
    /// [`Fabric::publish_shared`] on the node the backplane chose. It is not handed back to the
    /// backplane, and a retained one does not change the retained store: the backplane keeps the
    /// store in step with [`Fabric::apply_retained`]. Returns the number of subscribers it was
    /// queued for.
    pub fn publish_remote(&self, message: Arc<Message>) -> usize {
        match self.route(&message, false, Which::Direct) {
            Routed::Reply(taken) => usize::from(taken),
            Routed::Subscribers(queued) => queued,
        }
    }

    /// Delivers a message the backplane routed to this node for shared group `group` on `filter`
    /// to one local member of that group (in turn). Returns 1 when a member took it, 0 when the
    /// group has no member here (any more). Not handed back to the backplane, never stored.
    pub fn publish_shared(
        &self,
        message: Arc<Message>,
        filter: &TopicFilter,
        group: &str,
    ) -> usize {
        let index = self.inner.index.read();
        let Some(entry) = index.group_member(filter, group) else {
            return 0;
        };
        entry.sub.push(entry.delivery(&message));
        1
    }

    /// The local subscriptions to `filter`: whether some are not shared, and the shared groups.
    pub fn interest(&self, filter: &TopicFilter) -> Interest {
        let (direct, groups) = self.inner.index.read().interest(filter);
        Interest { direct, groups }
    }

    /// Stores (or, for an empty payload, deletes) a retained value that the cluster agreed on,
    /// without delivering it to anyone. The retained observer is told as for a local change.
    pub fn apply_retained(&self, message: Arc<Message>) {
        self.store_retained(&message);
    }

    /// Installs the link to the other nodes. Only the first call takes effect; returns whether this
    /// one did. Install it before serving: subscriptions made earlier are announced by the
    /// backplane itself through [`Fabric::interests`].
    pub fn set_backplane(&self, backplane: Arc<dyn Backplane>) -> bool {
        self.inner.backplane.set(backplane).is_ok()
    }

    /// Whether a subscription with `filter` exists on this node (an exact filter counts for every
    /// filter spelling the same topic).
    pub fn has_interest(&self, filter: &TopicFilter) -> bool {
        self.inner.index.read().contains(filter)
    }

    /// Every filter with at least one subscription on this node (exact ones as literal filters).
    pub fn interests(&self) -> Vec<TopicFilter> {
        self.inner.index.read().filters()
    }

    /// Local delivery: a pending request's reply, the retained store when `store` allows, then the
    /// matching subscribers (`which` of them).
    fn route(&self, message: &Arc<Message>, store: bool, which: Which) -> Routed {
        let inner = &*self.inner;
        inner.metrics.published.inc();
        if message.topic.as_str().starts_with(REPLY_PREFIX) {
            let waiting = inner.pending.lock().remove(message.topic.as_arc());
            if let Some(tx) = waiting {
                return Routed::Reply(tx.send(message.clone()).is_ok());
            }
        }
        if store && message.retain {
            self.store_retained(message);
        }
        Routed::Subscribers(self.deliver(message, which))
    }

    /// Queues `message` for the matching subscribers (`which` of them); returns how many.
    fn deliver(&self, message: &Arc<Message>, which: Which) -> usize {
        let index = self.inner.index.read();
        let mut queued = 0;
        // Subscribers with several filters may match more than once: merge those per subscriber.
        let mut multi: SmallVec<[&Entry; 8]> = SmallVec::new();
        index.visit_only(&message.topic, which, |entry| {
            if entry.opts.no_local
                && message.origin.node.is_none()
                && message.origin.subscriber == Some(entry.sub.id)
            {
                return;
            }
            if entry.sub.filter_count.load(Ordering::Relaxed) > 1 {
                multi.push(entry);
                return;
            }
            entry.sub.push(entry.delivery(message));
            queued += 1;
        });
        if !multi.is_empty() {
            multi.sort_by_key(|e| e.sub.id);
            for group in multi.chunk_by(|a, b| a.sub.id == b.sub.id) {
                let best = group
                    .iter()
                    .map(|e| e.opts.max_qos)
                    .max()
                    .unwrap_or_default();
                group[0].sub.push(Delivery {
                    message: message.clone(),
                    qos: message.qos.min(best),
                    retain: message.retain && group.iter().any(|e| e.opts.retain_as_published),
                    replayed: false,
                    tags: group.iter().filter_map(|e| e.opts.tag).collect(),
                });
                queued += 1;
            }
        }
        queued
    }

    fn store_retained(&self, message: &Arc<Message>) {
        let inner = &*self.inner;
        let (change, count, bytes) = {
            let mut store = inner.retained.write();
            let change = store.set(message);
            (change, store.len(), store.bytes())
        };
        inner.metrics.retained.set(count as i64);
        inner.metrics.retained_bytes.set(bytes as i64);
        match change {
            RetainedChange::Full => inner
                .metrics
                .count_drop(&message.origin.protocol, "retained_store_full"),
            RetainedChange::Unchanged => {}
            RetainedChange::Stored | RetainedChange::Deleted => {
                let observer = inner.observer.read().clone();
                if let Some(obs) = observer {
                    let value = (change == RetainedChange::Stored).then_some(message);
                    obs.retained_changed(&message.topic, value);
                }
            }
        }
    }

    /// Installs the observer that persists retained changes.
    pub fn set_retained_observer(&self, observer: Arc<dyn RetainedObserver>) {
        *self.inner.observer.write() = Some(observer);
    }

    /// Loads retained messages recovered from storage, without notifying the observer. Returns how
    /// many were kept.
    pub fn load_retained(&self, messages: impl IntoIterator<Item = Message>) -> usize {
        let mut store = self.inner.retained.write();
        let mut kept = 0;
        for m in messages {
            if store.set(&Arc::new(m)) == RetainedChange::Stored {
                kept += 1;
            }
        }
        self.inner.metrics.retained.set(store.len() as i64);
        self.inner.metrics.retained_bytes.set(store.bytes() as i64);
        kept
    }

    /// The retained messages matching `filter`.
    pub fn retained(&self, filter: &TopicFilter) -> Vec<Arc<Message>> {
        let mut out = Vec::new();
        self.inner.retained.read().collect(filter, &mut out);
        out
    }

    /// The retained message of `topic`.
    pub fn retained_value(&self, topic: &Topic) -> Option<Arc<Message>> {
        self.inner.retained.read().get(topic)
    }

    /// Deletes the retained value of `topic`; returns whether there was one.
    pub fn clear_retained(&self, topic: &Topic) -> bool {
        let (removed, count, bytes) = {
            let mut store = self.inner.retained.write();
            let removed = store.remove(topic).is_some();
            (removed, store.len(), store.bytes())
        };
        self.inner.metrics.retained.set(count as i64);
        self.inner.metrics.retained_bytes.set(bytes as i64);
        if removed && let Some(obs) = self.inner.observer.read().clone() {
            obs.retained_changed(topic, None);
        }
        removed
    }

    /// Every subscription, optionally only those whose filter text matches `filter` exactly or, when
    /// `filter` has wildcards, whose filter text it matches.
    pub fn subscriptions(&self, filter: Option<&TopicFilter>) -> Vec<SubscriptionInfo> {
        let mut out = Vec::new();
        self.inner
            .index
            .read()
            .for_each_subscription(|text, entry| {
                if let Some(f) = filter
                    && f.as_str() != text
                    && !f.matches_str(&text)
                {
                    return;
                }
                out.push(SubscriptionInfo {
                    filter: text,
                    subscriber: entry.sub.id,
                    protocol: entry.sub.protocol.clone(),
                    client: entry.sub.client.clone(),
                    group: entry.opts.group.clone(),
                    max_qos: entry.opts.max_qos,
                    internal: entry.sub.internal,
                });
            });
        out.sort_by(|a, b| (&a.filter, a.subscriber).cmp(&(&b.filter, b.subscriber)));
        out
    }

    /// Whether anyone subscribes with a filter matching `topic`.
    pub fn has_subscribers(&self, topic: &Topic) -> bool {
        let mut found = false;
        self.inner.index.read().visit(topic, |_| found = true);
        found
    }

    /// Whether anyone other than `except` subscribes with a filter matching `topic` (a bridge can skip
    /// converting a message nobody else would receive).
    pub fn has_subscribers_except(&self, topic: &Topic, except: SubscriberId) -> bool {
        let mut found = false;
        self.inner.index.read().visit(topic, |entry| {
            if entry.sub.id != except {
                found = true;
            }
        });
        found
    }

    /// Publishes `message` as a request with a private reply topic and waits for the first reply.
    ///
    /// Fails at once with [`RequestError::NoResponders`] when nobody subscribes to the topic.
    pub async fn request(
        &self,
        mut message: Message,
        timeout: Duration,
    ) -> Result<Arc<Message>, RequestError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(RequestError::Closed);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let reply = self.new_reply_topic();
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock();
            if pending.len() >= self.inner.config.max_pending_requests {
                self.count_request("overloaded");
                return Err(RequestError::Overloaded);
            }
            pending.insert(reply.as_arc().clone(), tx);
        }
        let _guard = PendingGuard {
            fabric: self,
            key: reply.as_arc().clone(),
        };
        message.reply_to = Some(reply.clone());
        if self.publish(message) == 0 {
            let remote = match self.inner.backplane.get() {
                Some(bp) => bp.responders(&reply, timeout).await,
                None => false,
            };
            if !remote {
                self.count_request("no_responders");
                return Err(RequestError::NoResponders);
            }
        }
        // The whole request, asking other nodes included, takes at most `timeout`.
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => {
                self.count_request("ok");
                Ok(reply)
            }
            Ok(Err(_)) => Err(RequestError::Closed),
            Err(_) => {
                self.count_request("timeout");
                Err(RequestError::Timeout(timeout))
            }
        }
    }

    fn count_request(&self, outcome: &str) {
        self.inner
            .metrics
            .requests
            .with_label_values(&[outcome])
            .inc();
    }

    /// A fresh, unguessable reply topic owned by this node.
    pub fn new_reply_topic(&self) -> Topic {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let salt: u64 = rand::random();
        let name = format!(
            "{REPLY_PREFIX}{}/{:x}{:016x}",
            self.inner.node_id,
            n ^ self.inner.reply_nonce,
            salt
        );
        Topic::literal(name).unwrap_or_else(|e| unreachable!("reply topics are valid: {e}"))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FabricStats {
        let (retained, retained_bytes) = {
            let r = self.inner.retained.read();
            (r.len(), r.bytes())
        };
        FabricStats {
            subscribers: self.inner.subscribers.lock().len(),
            filters: self.inner.index.read().filter_count(),
            retained,
            retained_bytes,
            published: self.inner.metrics.published.get(),
            pending_requests: self.inner.pending.lock().len(),
            uptime: self.inner.started.elapsed(),
        }
    }

    /// Refuses new requests and closes every subscriber (their owners see the queue end). Used on
    /// shutdown after the protocols said goodbye.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.pending.lock().clear();
        let subs: Vec<_> = self.inner.subscribers.lock().values().cloned().collect();
        for s in subs {
            s.close();
        }
    }
}

struct PendingGuard<'a> {
    fabric: &'a Fabric,
    key: Arc<str>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.fabric.inner.pending.lock().remove(&self.key);
    }
}
