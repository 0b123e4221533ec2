//! Subscribers: one bounded delivery queue per client, with a named overflow policy.
//!
//! A [`Subscriber`] belongs to one connection or session. Its filters live in the fabric's index;
//! publishing pushes a [`Delivery`] into its queue without ever waiting, and the owner pulls
//! deliveries with [`Subscriber::recv`]. When the queue is full the policy decides: drop the oldest
//! queued delivery, drop the new one, or close the subscriber so its connection can be ended. Every
//! drop is counted by protocol and reason.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::error::Closed;
use crate::fabric::Fabric;
use crate::message::{Message, Qos};
use crate::metrics::SubscriberMetrics;
use crate::topic::TopicFilter;

/// Identifies a subscriber within one gateway process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(pub u64);

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// What to do when a subscriber's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OverflowPolicy {
    /// Drop the oldest queued delivery to make room (latest values win).
    #[default]
    DropOldest,
    /// Drop the delivery that does not fit.
    DropNew,
    /// Close the subscriber; its connection is ended as a slow consumer.
    Disconnect,
}

impl OverflowPolicy {
    fn reason(self) -> &'static str {
        match self {
            OverflowPolicy::DropOldest => "queue_full_drop_oldest",
            OverflowPolicy::DropNew => "queue_full_drop_new",
            OverflowPolicy::Disconnect => "slow_consumer_disconnect",
        }
    }
}

/// When a subscription replays the retained messages that match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replay {
    /// Every time the subscription is made (MQTT retain handling 0).
    #[default]
    Always,
    /// Only when the subscription did not exist yet (MQTT retain handling 1).
    IfNew,
    /// Never (MQTT retain handling 2).
    Never,
}

/// Options of one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubOptions {
    /// The highest QoS the subscriber accepts; deliveries are downgraded to it.
    pub max_qos: Qos,
    /// Skip messages published by this same subscriber.
    pub no_local: bool,
    /// Keep the publisher's retain flag on live deliveries (otherwise live deliveries carry
    /// `retain = false` and only replays carry `true`).
    pub retain_as_published: bool,
    /// When retained messages are replayed.
    pub replay: Replay,
    /// An opaque number the subscriber gets back with each matching delivery (MQTT 5 subscription
    /// identifier).
    pub tag: Option<u32>,
    /// Shared subscription group: each message goes to one member of the group.
    pub group: Option<Arc<str>>,
}

/// What a subscriber receives for one message.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: Arc<Message>,
    /// The QoS to deliver with: the lower of the message's and the best matching subscription's.
    pub qos: Qos,
    /// Whether the subscriber should see the retain flag set: true for replays of retained messages,
    /// and for live messages published with retain when a matching subscription has
    /// `retain_as_published`.
    pub retain: bool,
    /// Whether this delivery is a replay of a retained message at subscribe time.
    pub replayed: bool,
    /// Tags of every subscription of this subscriber that matched.
    pub tags: SmallVec<[u32; 2]>,
}

/// Watches one subscriber's queue, so that what waits in it can be kept durable (persistent MQTT
/// sessions). Called under the queue's lock, in queue order: every delivery accepted into the
/// queue is [`QueueObserver::queued`], and later [`QueueObserver::dequeued`] exactly once, when the
/// owner takes it (`taken`) or when it is dropped (overflow, expiry). Retained replays at
/// subscribe time do not go through the queue.
pub trait QueueObserver: Send + Sync + fmt::Debug + 'static {
    /// `delivery` was appended to the queue.
    fn queued(&self, delivery: &Delivery);
    /// The delivery at the front of the queue left it: taken by the owner, or dropped.
    fn dequeued(&self, delivery: &Delivery, taken: bool);
}

/// How to create a subscriber.
#[derive(Debug, Clone)]
pub struct SubscriberSpec {
    /// Protocol label for metrics (`mqtt`, `engineio`, `ipc`...).
    pub protocol: Arc<str>,
    /// Client identity, for listings.
    pub client: Arc<str>,
    /// Queue capacity in deliveries; `None` uses the fabric's default.
    pub capacity: Option<usize>,
    /// Overflow policy; `None` uses the fabric's default.
    pub policy: Option<OverflowPolicy>,
    /// Told of every delivery entering and leaving the queue.
    pub observer: Option<Arc<dyn QueueObserver>>,
    /// The gateway's own plumbing (a bridge's shared subscriber), not a client: marked as such in
    /// [`Fabric::subscriptions`](crate::Fabric::subscriptions).
    pub internal: bool,
}

impl SubscriberSpec {
    /// A spec with the fabric's default capacity and policy.
    pub fn new(protocol: impl Into<Arc<str>>, client: impl Into<Arc<str>>) -> Self {
        SubscriberSpec {
            protocol: protocol.into(),
            client: client.into(),
            capacity: None,
            policy: None,
            observer: None,
            internal: false,
        }
    }

    /// Marks the subscriber as the gateway's own plumbing rather than a client.
    pub fn internal(mut self) -> Self {
        self.internal = true;
        self
    }

    /// Sets the queue observer.
    pub fn observer(mut self, observer: Arc<dyn QueueObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sets the queue capacity.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets the overflow policy.
    pub fn policy(mut self, policy: OverflowPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

/// The shared half of a subscriber: its queue, as reached from the index.
pub(crate) struct SubInner {
    pub(crate) id: SubscriberId,
    pub(crate) protocol: Arc<str>,
    pub(crate) client: Arc<str>,
    pub(crate) internal: bool,
    capacity: usize,
    policy: OverflowPolicy,
    queue: Mutex<VecDeque<Delivery>>,
    /// The owner waiting for deliveries (one consumer: [`Subscriber`] is not `Clone`).
    waker: AtomicWaker,
    closed: Mutex<Option<Closed>>,
    is_closed: AtomicBool,
    /// Number of filters this subscriber holds in the index (for de-duplication of overlaps).
    pub(crate) filter_count: AtomicUsize,
    pub(crate) metrics: SubscriberMetrics,
    drops: AtomicU64,
    delivered: AtomicU64,
    observer: Option<Arc<dyn QueueObserver>>,
}

impl fmt::Debug for SubInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubInner")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl SubInner {
    pub(crate) fn new(
        id: SubscriberId,
        spec: &SubscriberSpec,
        capacity: usize,
        policy: OverflowPolicy,
        metrics: SubscriberMetrics,
    ) -> Self {
        SubInner {
            id,
            protocol: spec.protocol.clone(),
            client: spec.client.clone(),
            internal: spec.internal,
            capacity: capacity.max(1),
            policy,
            queue: Mutex::new(VecDeque::new()),
            waker: AtomicWaker::new(),
            closed: Mutex::new(None),
            is_closed: AtomicBool::new(false),
            filter_count: AtomicUsize::new(0),
            metrics,
            drops: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            observer: spec.observer.clone(),
        }
    }

    /// Queues a delivery without waiting; applies the overflow policy when full.
    pub(crate) fn push(&self, delivery: Delivery) {
        if self.is_closed.load(Ordering::Relaxed) {
            return;
        }
        let mut queue = self.queue.lock();
        if queue.len() >= self.capacity {
            match self.policy {
                OverflowPolicy::DropOldest => {
                    let old = queue.pop_front();
                    if let Some(o) = &self.observer {
                        if let Some(old) = &old {
                            o.dequeued(old, false);
                        }
                        o.queued(&delivery);
                    }
                    queue.push_back(delivery);
                }
                OverflowPolicy::DropNew => {}
                OverflowPolicy::Disconnect => {
                    if let Some(o) = &self.observer {
                        for d in queue.iter() {
                            o.dequeued(d, false);
                        }
                    }
                    queue.clear();
                    drop(queue);
                    self.drop_counted(self.policy.reason());
                    self.close(Closed::SlowConsumer);
                    return;
                }
            }
            drop(queue);
            self.drop_counted(self.policy.reason());
            return;
        }
        let was_empty = queue.is_empty();
        if let Some(o) = &self.observer {
            o.queued(&delivery);
        }
        queue.push_back(delivery);
        drop(queue);
        if was_empty {
            self.waker.wake();
        }
    }

    pub(crate) fn drop_counted(&self, reason: &'static str) {
        self.drops.fetch_add(1, Ordering::Relaxed);
        self.metrics.dropped(reason);
    }

    pub(crate) fn close(&self, why: Closed) {
        {
            let mut closed = self.closed.lock();
            if closed.is_none() {
                *closed = Some(why);
            }
        }
        self.is_closed.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub(crate) fn depth(&self) -> usize {
        self.queue.lock().len()
    }
}

/// A subscription's key in [`Filters`]: the filter and its shared group.
type FilterKey = (TopicFilter, Option<Arc<str>>);

/// Beyond this many subscriptions a subscriber's [`Filters`] become a hash map.
const FEW_FILTERS: usize = 8;

/// The subscriptions of one subscriber. Most hold one or a few (a session's own topic): those
/// live in a short list searched in place, with no table to allocate or key to hash; a
/// subscriber with more moves them to a hash map once.
#[derive(Debug)]
pub(crate) enum Filters {
    Few(SmallVec<[(FilterKey, SubOptions); 1]>),
    Many(HashMap<FilterKey, SubOptions>),
}

impl Default for Filters {
    fn default() -> Self {
        Filters::Few(SmallVec::new())
    }
}

impl Filters {
    fn len(&self) -> usize {
        match self {
            Filters::Few(v) => v.len(),
            Filters::Many(m) => m.len(),
        }
    }

    /// Inserts or replaces; returns the previous options.
    fn insert(&mut self, key: FilterKey, options: SubOptions) -> Option<SubOptions> {
        match self {
            Filters::Few(v) => {
                if let Some((_, o)) = v.iter_mut().find(|(k, _)| *k == key) {
                    return Some(std::mem::replace(o, options));
                }
                if v.len() < FEW_FILTERS {
                    v.push((key, options));
                    return None;
                }
                let mut map: HashMap<FilterKey, SubOptions> = v.drain(..).collect();
                map.insert(key, options);
                *self = Filters::Many(map);
                None
            }
            Filters::Many(m) => m.insert(key, options),
        }
    }

    fn remove(&mut self, key: &FilterKey) -> Option<SubOptions> {
        match self {
            Filters::Few(v) => {
                let i = v.iter().position(|(k, _)| k == key)?;
                Some(v.remove(i).1)
            }
            Filters::Many(m) => m.remove(key),
        }
    }

    fn iter(&self) -> FiltersIter<'_> {
        match self {
            Filters::Few(v) => FiltersIter::Few(v.iter()),
            Filters::Many(m) => FiltersIter::Many(m.iter()),
        }
    }
}

/// The iterator of [`Filters::iter`] (no boxing for either shape).
enum FiltersIter<'a> {
    Few(std::slice::Iter<'a, (FilterKey, SubOptions)>),
    Many(std::collections::hash_map::Iter<'a, FilterKey, SubOptions>),
}

impl<'a> Iterator for FiltersIter<'a> {
    type Item = (&'a FilterKey, &'a SubOptions);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            FiltersIter::Few(i) => i.next().map(|(k, o)| (k, o)),
            FiltersIter::Many(i) => i.next(),
        }
    }
}

/// A subscriber: owns a bounded queue and the subscriptions feeding it.
///
/// Dropping it removes every subscription it holds from the fabric.
pub struct Subscriber {
    pub(crate) inner: Arc<SubInner>,
    pub(crate) fabric: Fabric,
    /// Filters held, keyed by (filter, group), with their options.
    pub(crate) filters: Filters,
    /// Retained messages waiting to be delivered before the live queue.
    pub(crate) replay: VecDeque<Delivery>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.inner.id)
            .field("protocol", &self.inner.protocol)
            .field("client", &self.inner.client)
            .field("filters", &self.filters.len())
            .finish()
    }
}

impl Subscriber {
    /// This subscriber's id.
    pub fn id(&self) -> SubscriberId {
        self.inner.id
    }

    /// The protocol label given at creation.
    pub fn protocol(&self) -> &Arc<str> {
        &self.inner.protocol
    }

    /// The client identity given at creation.
    pub fn client(&self) -> &Arc<str> {
        &self.inner.client
    }

    /// The fabric this subscriber belongs to.
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// Subscribes to `filter`. A subscription with the same filter and group replaces the previous
    /// one's options. Matching retained messages are queued for replay according to
    /// `options.replay` (never for shared subscriptions). Returns whether the subscription is new.
    pub fn subscribe(&mut self, filter: TopicFilter, options: SubOptions) -> bool {
        // One hash of the key: the map is updated first (only this owner reads it).
        let key = (filter.clone(), options.group.clone());
        let is_new = self.filters.insert(key, options.clone()).is_none();
        let replay_wanted = options.group.is_none()
            && match options.replay {
                Replay::Always => true,
                Replay::IfNew => is_new,
                Replay::Never => false,
            };
        let (max_qos, tag) = (options.max_qos, options.tag);
        let replayed =
            self.fabric
                .add_subscription(&self.inner, &filter, options, is_new, replay_wanted);
        for message in replayed {
            let qos = message.qos.min(max_qos);
            self.replay.push_back(Delivery {
                message,
                qos,
                retain: true,
                replayed: true,
                tags: tag.into_iter().collect(),
            });
        }
        is_new
    }

    /// Removes the subscription to `filter` (in `group`, for shared subscriptions). Returns whether it
    /// existed.
    pub fn unsubscribe(&mut self, filter: &TopicFilter, group: Option<&Arc<str>>) -> bool {
        let key = (filter.clone(), group.cloned());
        if self.filters.remove(&key).is_none() {
            return false;
        }
        self.fabric
            .remove_subscription(&self.inner, filter, group.map(|g| &**g));
        true
    }

    /// The subscriptions this subscriber holds.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&TopicFilter, &SubOptions)> {
        self.filters.iter().map(|((f, _), o)| (f, o))
    }

    /// Waits for the next delivery. Replayed retained messages come first, then live ones in
    /// publication order. Expired messages are skipped (and counted).
    ///
    /// # Cancel safety
    /// Cancel-safe: a delivery is only removed from the queue when this future completes with it.
    pub async fn recv(&mut self) -> Result<Delivery, Closed> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Takes the next delivery, or registers `cx` to be woken when one is queued (or the
    /// subscriber closes). For owners that poll the queue from their own future (a
    /// connection task that writes deliveries itself) rather than awaiting [`Subscriber::recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Delivery, Closed>> {
        if let Some(d) = self.try_recv().transpose() {
            return Poll::Ready(d);
        }
        self.inner.waker.register(cx.waker());
        // A delivery queued between the check and the registration found no waker to wake.
        match self.try_recv().transpose() {
            Some(d) => Poll::Ready(d),
            None => Poll::Pending,
        }
    }

    /// Hands up to `max` queued deliveries to `each`, in order, without waiting, and returns
    /// how many it took. When it takes none (with `max > 0`), `cx` is woken once a delivery is
    /// queued or the subscriber closes. The end of the subscriber comes as `Err` once the
    /// deliveries queued before it are taken. For a connection task that writes deliveries in
    /// batches itself.
    pub fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        mut each: impl FnMut(Delivery),
    ) -> Result<usize, Closed> {
        let mut taken = 0;
        while taken < max {
            match self.poll_recv(cx) {
                Poll::Ready(Ok(d)) => {
                    taken += 1;
                    each(d);
                }
                Poll::Ready(Err(closed)) => return Err(closed),
                Poll::Pending => break,
            }
        }
        Ok(taken)
    }

    /// Takes the next delivery if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Result<Option<Delivery>, Closed> {
        if let Some(d) = self.replay.pop_front() {
            return Ok(Some(d));
        }
        loop {
            let (next, expired) = {
                let mut queue = self.inner.queue.lock();
                let next = queue.pop_front();
                let expired = next.as_ref().is_some_and(|d| {
                    d.message.expires_at.is_some() && d.message.is_expired(Instant::now())
                });
                if let (Some(o), Some(d)) = (&self.inner.observer, &next) {
                    o.dequeued(d, !expired);
                }
                (next, expired)
            };
            match next {
                Some(d) => {
                    if expired {
                        self.inner.drop_counted("expired");
                        continue;
                    }
                    self.inner.delivered.fetch_add(1, Ordering::Relaxed);
                    self.inner.metrics.delivered(&d.message);
                    return Ok(Some(d));
                }
                None => {
                    if self.inner.is_closed.load(Ordering::Acquire) {
                        let why = (*self.inner.closed.lock()).unwrap_or(Closed::Closed);
                        return Err(why);
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Moves up to `max` queued deliveries into `out` without waiting; returns how many were moved.
    /// Lets a connection write a batch with one syscall.
    pub fn drain_into(&mut self, out: &mut Vec<Delivery>, max: usize) -> Result<usize, Closed> {
        let mut n = 0;
        while n < max {
            match self.try_recv() {
                Ok(Some(d)) => {
                    out.push(d);
                    n += 1;
                }
                Ok(None) => break,
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(n)
    }

    /// Closes the subscriber: queued deliveries are still drained, then [`Subscriber::recv`] fails with
    /// [`Closed::Closed`].
    pub fn close(&self) {
        self.inner.close(Closed::Closed);
    }

    /// A handle that can close this subscriber from elsewhere (an admin action, a session takeover).
    pub fn handle(&self) -> SubscriberHandle {
        SubscriberHandle {
            inner: self.inner.clone(),
        }
    }

    /// Queued deliveries (live queue plus pending replays).
    pub fn depth(&self) -> usize {
        self.inner.depth() + self.replay.len()
    }

    /// Deliveries dropped for this subscriber so far.
    pub fn drops(&self) -> u64 {
        self.inner.drops.load(Ordering::Relaxed)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        for ((filter, group), _) in self.filters.iter() {
            self.fabric
                .remove_subscription(&self.inner, filter, group.as_deref());
        }
        self.fabric.forget_subscriber(&self.inner);
        self.inner.close(Closed::Closed);
    }
}

/// A cloneable handle to a subscriber, for closing it and reading its counters from elsewhere.
#[derive(Clone)]
pub struct SubscriberHandle {
    inner: Arc<SubInner>,
}

impl fmt::Debug for SubscriberHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SubscriberHandle")
            .field(&self.inner.id)
            .finish()
    }
}

impl SubscriberHandle {
    /// The subscriber's id.
    pub fn id(&self) -> SubscriberId {
        self.inner.id
    }
    /// Closes the subscriber; its owner sees [`Closed::Closed`] once the queue is drained.
    pub fn close(&self) {
        self.inner.close(Closed::Closed);
    }
    /// Whether the subscriber has been closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed.load(Ordering::Acquire)
    }
    /// Queued live deliveries.
    pub fn depth(&self) -> usize {
        self.inner.depth()
    }
    /// Deliveries dropped so far.
    pub fn drops(&self) -> u64 {
        self.inner.drops.load(Ordering::Relaxed)
    }
    /// Deliveries handed to the owner so far.
    pub fn delivered(&self) -> u64 {
        self.inner.delivered.load(Ordering::Relaxed)
    }
    /// Subscriptions (filters) held.
    pub fn subscriptions(&self) -> usize {
        self.inner.filter_count.load(Ordering::Relaxed)
    }
}
