//! [`Cluster`]: the NATS link of one node. It implements the fabric's [`Backplane`]: local
//! messages go out once through the outbound buffer, NATS subscriptions follow local interest,
//! remote messages come in with their origin node set, replies find the node that waits for them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::{Client, Event};
use futures_util::StreamExt;
use parking_lot::Mutex;
use switchboard_config::ClusterConfig;
use switchboard_fabric::{
    Backplane, Fabric, Message, Qos, REPLY_PREFIX, Responders, Topic, TopicFilter,
};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::acks::Acks;
use crate::connect::{UNREACHABLE, diagnose};
use crate::dedupe::Dedupe;
use crate::error::ClusterError;
use crate::interest::SyncProbe;
use crate::metrics::Metrics;
use crate::outbound::{Outbound, Outgoing};
use crate::presence::{Hello, Presence};
use crate::subject::{Subjects, decode_topic, reply_target};
use crate::wire::{self, Sender};

/// How often a node says hello while connected.
const HELLO_EVERY: Duration = Duration::from_secs(5);
/// A node not heard from for this long is forgotten.
const PEER_TTL: Duration = Duration::from_secs(20);
/// Messages per write batch to NATS (confirmed by one flush).
const BATCH: usize = 1024;
/// Bytes per write batch to NATS.
const BATCH_BYTES: usize = 4 << 20;
/// How often a link that fails to connect without a reason probes for one.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// The state of the NATS link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected: local traffic flows, messages for other nodes wait in the buffer.
    Down,
    /// Connected again, waiting for the known nodes to say hello before sending the backlog.
    Resuming,
    /// Connected; messages flow both ways.
    Up,
}

/// Everything the tasks of the link share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Client,
    /// The connection of the shared groups' queue subscriptions: with echo, so this node's own
    /// messages reach its members through NATS' choice too (see [`crate::interest`]).
    pub(crate) shared_client: Client,
    pub(crate) fabric: Fabric,
    pub(crate) subjects: Subjects,
    pub(crate) node: Arc<str>,
    pub(crate) tag: Option<u16>,
    pub(crate) config: ClusterConfig,
    pub(crate) metrics: Metrics,
    incarnation: u32,
    seq: AtomicU64,
    pub(crate) outbound: Outbound,
    state: watch::Sender<LinkState>,
    problems: watch::Sender<Vec<String>>,
    /// What the last failed connection attempt said about the configuration (credentials, TLS).
    connect_problem: Mutex<Option<String>>,
    /// When the cause of failing connections was last probed.
    last_probe: Mutex<Option<Instant>>,
    dirty: Mutex<HashSet<TopicFilter>>,
    pub(crate) dirty_notify: Notify,
    dedupe: Mutex<Dedupe>,
    acks: Acks,
    pub(crate) presence: Presence,
    /// Retained values are shared through the JetStream stream (else they are applied as they
    /// pass by).
    pub(crate) retained_stream: AtomicBool,
    pub(crate) retained_synced: watch::Sender<bool>,
    connected_once: AtomicBool,
    pub(crate) stop: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

/// A node's link to the cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub(crate) shared: Arc<Shared>,
}

/// The installed backplane: a thin handle so the fabric does not keep the link's tasks alive.
#[derive(Debug)]
struct Hooks(Arc<Shared>);

impl Cluster {
    /// Connects this node to the cluster: installs the backplane on `fabric`, subscribes to what
    /// its subscribers need, and waits up to `cluster.connect_timeout_ms` for NATS and the retained
    /// values. When NATS is unreachable it still returns: local traffic flows, the link keeps
    /// retrying, and [`Cluster::problems`] says so. `tag` is this node's Engine.IO session tag, when
    /// it serves Engine.IO (polling requests for it are forwarded here).
    pub async fn start(
        config: &ClusterConfig,
        fabric: Fabric,
        tag: Option<u16>,
        registry: &prometheus::Registry,
    ) -> Result<Cluster, ClusterError> {
        let url = config
            .nats_url()
            .ok_or(ClusterError::Config("cluster.nats_url is not set"))?
            .to_owned();
        let metrics = Metrics::register(registry)?;
        let node: Arc<str> = fabric.node_id().clone();
        let (state_tx, _) = watch::channel(LinkState::Down);
        let state_for_events = state_tx.clone();
        let events = Arc::new(Mutex::new(None::<Arc<Shared>>));
        let events_cb = events.clone();
        let options = crate::connect::options(config, &format!("switchboard {node}"), false)
            .await?
            .event_callback(move |event| {
                let shared = events_cb.lock().clone();
                let state = state_for_events.clone();
                async move { on_event(event, shared, state) }
            });
        let client = options
            .connect(url.as_str())
            .await
            .map_err(|e| ClusterError::Connect(e.to_string()))?;
        let shared_client = crate::connect::options(
            config,
            &format!("switchboard {node} (shared subscriptions)"),
            true,
        )
        .await?
        .event_callback(|event| async move {
            tracing::debug!(%event, "cluster: shared-subscription connection");
        })
        .connect(url.as_str())
        .await
        .map_err(|e| ClusterError::Connect(e.to_string()))?;
        let shared = Arc::new(Shared {
            client,
            shared_client,
            subjects: Subjects::new(&config.subject_prefix),
            node: node.clone(),
            tag,
            config: config.clone(),
            outbound: Outbound::new(
                config.outbound_buffer_messages,
                config.outbound_buffer_bytes,
                metrics.clone(),
            ),
            metrics,
            incarnation: rand::random(),
            seq: AtomicU64::new(0),
            state: state_tx,
            // Until the first connection: `/readyz` says so if start-up gives up waiting.
            problems: watch::channel(vec![UNREACHABLE.to_owned()]).0,
            connect_problem: Mutex::new(None),
            last_probe: Mutex::new(None),
            dirty: Mutex::new(HashSet::new()),
            dirty_notify: Notify::new(),
            dedupe: Mutex::new(Dedupe::default()),
            acks: Acks::default(),
            presence: Presence::default(),
            retained_stream: AtomicBool::new(false),
            retained_synced: watch::channel(!config.retained).0,
            connected_once: AtomicBool::new(false),
            stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
            fabric: fabric.clone(),
        });
        *events.lock() = Some(shared.clone());
        // An event that arrived before the callback could see the link.
        if shared.client.connection_state() == async_nats::connection::State::Connected
            && !shared.connected_once.load(Ordering::Relaxed)
        {
            on_event(Event::Connected, Some(shared.clone()), shared.state.clone());
        }
        if !fabric.set_backplane(Arc::new(Hooks(shared.clone()))) {
            return Err(ClusterError::Config("the fabric already has a backplane"));
        }
        for filter in fabric.interests() {
            shared.mark_dirty(&filter);
        }
        let cluster = Cluster { shared };
        cluster.spawn_tasks().await?;
        cluster.wait_ready().await;
        Ok(cluster)
    }

    async fn spawn_tasks(&self) -> Result<(), ClusterError> {
        let s = &self.shared;
        let t = &s.tracker;
        t.spawn(writer(s.clone()));
        t.spawn(crate::interest::run(s.clone()));
        let sub = |subject: String| {
            let client = s.client.clone();
            async move {
                client
                    .subscribe(subject)
                    .await
                    .map_err(|e| ClusterError::Connect(e.to_string()))
            }
        };
        let replies = sub(format!("{}.*", s.subjects.reply(&s.node))).await?;
        t.spawn(reader(s.clone(), replies, Inbound::Reply));
        let acks = sub(s.subjects.acks(&s.node)).await?;
        t.spawn(ack_reader(s.clone(), acks));
        let presence = sub(s.subjects.presence()).await?;
        t.spawn(presence_reader(s.clone(), presence));
        t.spawn(heartbeat(s.clone()));
        if s.config.retained {
            t.spawn(crate::retained::run(s.clone()));
        }
        Ok(())
    }

    async fn wait_ready(&self) {
        let s = &self.shared;
        let mut state = s.state.subscribe();
        let mut synced = s.retained_synced.subscribe();
        let wait = Duration::from_millis(s.config.connect_timeout_ms);
        let ready = async {
            let _ = state.wait_for(|st| *st == LinkState::Up).await;
            let _ = synced.wait_for(|v| *v).await;
        };
        if tokio::time::timeout(wait, ready).await.is_err() {
            tracing::warn!(
                url = s.config.nats_url.as_deref().unwrap_or(""),
                "cluster: NATS not ready after cluster.connect_timeout_ms; serving local \
                 traffic, retrying in the background"
            );
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &Arc<str> {
        &self.shared.node
    }

    /// The state of the NATS link, as it changes.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.shared.state.subscribe()
    }

    /// What is wrong with the cluster right now (empty when all is well), for `/readyz`.
    pub fn problems(&self) -> watch::Receiver<Vec<String>> {
        self.shared.problems.subscribe()
    }

    /// The NATS client (for tests and tools).
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The cluster's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Says goodbye, sends what is still buffered (for at most `grace`) and stops the link.
    pub async fn shutdown(&self, grace: Duration) {
        let s = &self.shared;
        let deadline = tokio::time::Instant::now() + grace;
        while !s.outbound.is_empty()
            && *s.state.borrow() == LinkState::Up
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let bye = Hello {
            node: s.node.to_string(),
            tag: s.tag,
            ask: false,
            bye: true,
        };
        if let Ok(body) = serde_json::to_vec(&bye) {
            let _ = s.client.publish(s.subjects.presence(), body.into()).await;
            let _ = tokio::time::timeout(Duration::from_millis(500), s.client.flush()).await;
        }
        s.stop.cancel();
        s.tracker.close();
        let _ =
            tokio::time::timeout_at(deadline.max(tokio::time::Instant::now()), s.tracker.wait())
                .await;
    }
}

fn on_event(event: Event, shared: Option<Arc<Shared>>, state: watch::Sender<LinkState>) {
    match event {
        Event::Connected => {
            // Without the shared state yet, `Cluster::start` notices the connection itself.
            if let Some(s) = shared {
                tracing::info!("cluster: connected to NATS");
                if s.connected_once.swap(true, Ordering::Relaxed) {
                    s.metrics.reconnects.inc();
                }
                state.send_replace(LinkState::Resuming);
                s.set_problem(UNREACHABLE, false);
                s.connect_failed(None);
                let task = s.clone();
                s.tracker.spawn(async move { task.resume().await });
            }
        }
        Event::Disconnected => {
            tracing::warn!(
                "cluster: NATS link lost; local traffic goes on, messages for other nodes are buffered"
            );
            state.send_replace(LinkState::Down);
            if let Some(s) = shared {
                s.metrics.up.set(0);
                s.set_problem(UNREACHABLE, true);
            }
        }
        Event::SlowConsumer(_) => {
            if let Some(s) = shared {
                s.metrics.drop("slow_consumer");
            }
        }
        Event::ServerError(e) => {
            tracing::warn!(error = %e, "cluster: NATS server error");
            if let Some(s) = shared
                && let Some(p) = diagnose(&e.to_string(), &s.config)
            {
                s.connect_failed(Some(p));
            }
        }
        Event::ClientError(e) => {
            let text = e.to_string();
            match shared.as_ref().map(|s| (s, diagnose(&text, &s.config))) {
                Some((s, Some(p))) => s.connect_failed(Some(p)),
                Some((s, None)) => {
                    tracing::debug!(error = %text, "cluster: NATS client error");
                    s.clone().diagnose_later();
                }
                None => tracing::debug!(error = %text, "cluster: NATS client error"),
            }
        }
        Event::LameDuckMode | Event::Draining | Event::Closed => {}
    }
}

impl Shared {
    pub(crate) fn set_problem(&self, what: &str, on: bool) {
        self.problems.send_if_modified(|p| {
            let had = p.iter().any(|x| x == what);
            if had == on {
                return false;
            }
            if on {
                p.push(what.to_owned());
            } else {
                p.retain(|x| x != what);
            }
            true
        });
    }

    /// Records why connecting fails (or, with `None`, that it works again): reported in
    /// `/readyz` and logged once per new reason, naming the `[cluster]` keys to fix.
    fn connect_failed(&self, problem: Option<String>) {
        let old = {
            let mut p = self.connect_problem.lock();
            if *p == problem {
                return;
            }
            std::mem::replace(&mut *p, problem.clone())
        };
        if let Some(old) = old {
            self.set_problem(&old, false);
        }
        if let Some(p) = problem {
            tracing::error!(
                url = self.config.nats_url.as_deref().unwrap_or(""),
                "{p}; local traffic goes on, retrying"
            );
            self.set_problem(&p, true);
        }
    }

    /// The client failed to connect without saying why (a TLS failure reaches the event callback
    /// as a bare "IO error"): makes one attempt of its own, at most every [`PROBE_EVERY`], to
    /// learn the cause (see [`crate::connect::probe`]).
    fn diagnose_later(self: Arc<Self>) {
        {
            let mut last = self.last_probe.lock();
            if last.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let Some(url) = self.config.nats_url().map(str::to_owned) else {
            return;
        };
        let s = self.clone();
        self.tracker.spawn(async move {
            let found = tokio::select! {
                f = crate::connect::probe(&s.config, &url) => f,
                _ = s.stop.cancelled() => return,
            };
            if found.is_some() && s.state() == LinkState::Down {
                s.connect_failed(found);
            }
        });
    }

    pub(crate) fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    /// After a (re)connection: hello to everyone, wait for the nodes known before, then let the
    /// backlog flow.
    async fn resume(self: Arc<Self>) {
        let since = Instant::now();
        let known = self.presence.known();
        self.say_hello(true).await;
        let wait = Duration::from_millis(self.config.resume_wait_ms);
        let silent = tokio::select! {
            s = self.presence.wait_for(&known, since, wait) => s,
            _ = self.stop.cancelled() => return,
        };
        if !silent.is_empty() {
            tracing::info!(
                ?silent,
                "cluster: nodes silent after the reconnection; sending the backlog anyway"
            );
        }
        if self.state() == LinkState::Resuming {
            self.state.send_replace(LinkState::Up);
            self.metrics.up.set(1);
        }
    }

    async fn say_hello(&self, ask: bool) {
        let hello = Hello {
            node: self.node.to_string(),
            tag: self.tag,
            ask,
            bye: false,
        };
        if let Ok(body) = serde_json::to_vec(&hello) {
            let _ = self
                .client
                .publish(self.subjects.presence(), body.into())
                .await;
        }
    }

    pub(crate) fn mark_dirty(&self, filter: &TopicFilter) {
        let first = {
            let mut d = self.dirty.lock();
            let was_empty = d.is_empty();
            d.insert(filter.clone());
            was_empty
        };
        if first {
            self.dirty_notify.notify_one();
        }
    }

    fn sender(&self) -> Sender {
        Sender {
            node: self.node.clone(),
            incarnation: self.incarnation,
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    pub(crate) fn take_dirty(&self) -> Vec<TopicFilter> {
        self.dirty.lock().drain().collect()
    }

    /// Sends a local message to the other nodes. Returns whether NATS picks the member of each
    /// of its shared groups: the message goes out on its topic's subject while both connections
    /// are up (else the fabric serves the local groups).
    fn forward(&self, message: &Arc<Message>) -> bool {
        let topic = message.topic.as_str();
        if topic.starts_with("$SYS/") {
            return false; // node-local statistics
        }
        let reply_topic = topic.starts_with(REPLY_PREFIX);
        let subject = if reply_topic {
            match reply_target(topic) {
                Some((node, _)) if node == &*self.node => return false, // nobody waits any more
                Some((node, nonce)) => format!("{}.{nonce}", self.subjects.reply(node)),
                None => {
                    self.metrics.drop("bad_reply_topic");
                    return false;
                }
            }
        } else {
            match self.subjects.topic(topic) {
                Some(s) => s,
                None => {
                    self.metrics.drop("subject_too_long");
                    return false;
                }
            }
        };
        let payload = wire::encode(message, &self.sender(), Instant::now());
        let max = self.client.server_info().max_payload;
        if max > 0 && payload.len() > max {
            self.metrics.drop("too_large");
            return false;
        }
        let groups_by_nats = !reply_topic
            && self.state() == LinkState::Up
            && self.shared_client.connection_state() == async_nats::connection::State::Connected;
        let reply = message
            .reply_to
            .as_ref()
            .and_then(|r| reply_target(r.as_str()))
            .filter(|(node, _)| *node == &*self.node)
            .map(|(node, nonce)| self.subjects.ack(node, nonce));
        let resend = message.qos >= Qos::AtLeastOnce || message.retain;
        if message.retain
            && self.config.retained
            && let Some(rs) = self.subjects.retained(topic)
        {
            // The stream first: a node that sees the live message can find it stored.
            self.outbound.push(Outgoing {
                subject: rs,
                reply: None,
                payload: payload.clone(),
                resend: true,
            });
        }
        self.outbound.push(Outgoing {
            subject,
            reply,
            payload,
            resend,
        });
        groups_by_nats
    }

    /// The message and its sender, from a topic or reply subject.
    pub(crate) fn decode(
        &self,
        kind: Inbound,
        msg: &async_nats::Message,
    ) -> Option<(Message, Sender)> {
        let subject = msg.subject.as_str();
        let topic = match kind {
            Inbound::Topic => subject
                .get(self.subjects.topic_prefix_len()..)
                .and_then(decode_topic),
            Inbound::Reply => subject
                .rsplit_once('.')
                .map(|(_, nonce)| format!("{REPLY_PREFIX}{}/{nonce}", self.node)),
        };
        let Some(topic) = topic.and_then(|t| Topic::literal(t).ok()) else {
            self.metrics.drop("bad_subject");
            return None;
        };
        match wire::decode(topic, &msg.payload, Instant::now()) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::debug!(error = %e, subject, "cluster: undecodable message");
                self.metrics.drop("decode_error");
                None
            }
        }
    }

    /// A message from another node, on a topic or reply subject: to the local non-shared
    /// subscribers (or the waiting request).
    fn inbound(&self, kind: Inbound, msg: &async_nats::Message) -> usize {
        let Some((message, sender)) = self.decode(kind, msg) else {
            return 0;
        };
        if sender.node == self.node {
            self.metrics.drop("loop");
            return 0;
        }
        if !self.dedupe.lock().first_time(&sender) {
            self.metrics.drop("duplicate");
            return 0;
        }
        self.metrics.received.inc();
        let message = Arc::new(message);
        if message.retain && !self.retained_stream.load(Ordering::Relaxed) {
            self.fabric.apply_retained(message.clone());
        }
        self.fabric.publish_remote(message)
    }
}

impl Backplane for Hooks {
    fn interest_changed(&self, filter: &TopicFilter) {
        self.0.mark_dirty(filter);
    }

    fn published(&self, message: &Arc<Message>) -> bool {
        self.0.forward(message)
    }

    fn responders(&self, reply_to: &Topic, wait: Duration) -> Responders {
        let shared = self.0.clone();
        let nonce = reply_target(reply_to.as_str()).map(|(_, n)| n.to_owned());
        Box::pin(async move {
            let Some(nonce) = nonce else { return false };
            if shared.state() == LinkState::Down {
                return false;
            }
            match tokio::time::timeout(wait, shared.acks.wait(&nonce)).await {
                Ok(Some(taken)) => taken,
                // No answer in time: let the request time out rather than claim no responders.
                Ok(None) | Err(_) => true,
            }
        })
    }
}

/// Sends the outbound buffer to NATS while the link is up, each batch confirmed by an echo on
/// the node's sync subject (NATS applied the batch).
async fn writer(s: Arc<Shared>) {
    let mut state = s.state.subscribe();
    let sync = SyncProbe::new(&s, "writer");
    loop {
        // wait for the link
        tokio::select! {
            r = state.wait_for(|st| *st == LinkState::Up) => if r.is_err() { return },
            _ = s.stop.cancelled() => return,
        }
        tokio::select! {
            _ = s.outbound.wait() => {}
            _ = state.changed() => continue,
            _ = s.stop.cancelled() => return,
        }
        let batch = s.outbound.take(BATCH, BATCH_BYTES);
        if batch.is_empty() {
            continue;
        }
        let mut ok = true;
        for out in &batch {
            let r = match &out.reply {
                Some(reply) => {
                    s.client
                        .publish_with_reply(out.subject.clone(), reply.clone(), out.payload.clone())
                        .await
                }
                None => {
                    s.client
                        .publish(out.subject.clone(), out.payload.clone())
                        .await
                }
            };
            if r.is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            ok = sync.round_trip(&s.client).await;
        }
        if ok {
            s.metrics.sent.inc_by(batch.len() as u64);
        } else {
            s.outbound.requeue(batch);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Which kind of subject a reader serves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Inbound {
    Topic,
    Reply,
}

pub(crate) async fn reader(s: Arc<Shared>, mut sub: async_nats::Subscriber, kind: Inbound) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => return },
            _ = s.stop.cancelled() => return,
        };
        let queued = s.inbound(kind, &msg);
        if queued > 0
            && let Some(reply) = msg.reply
        {
            let _ = s.client.publish(reply, bytes::Bytes::new()).await;
        }
    }
}

async fn ack_reader(s: Arc<Shared>, mut sub: async_nats::Subscriber) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => return },
            _ = s.stop.cancelled() => return,
        };
        let Some((_, nonce)) = msg.subject.as_str().rsplit_once('.') else {
            continue;
        };
        let taken = msg.status != Some(async_nats::StatusCode::NO_RESPONDERS);
        s.acks.arrived(nonce, taken);
    }
}

async fn presence_reader(s: Arc<Shared>, mut sub: async_nats::Subscriber) {
    let mut collisions: HashMap<String, String> = HashMap::new();
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => return },
            _ = s.stop.cancelled() => return,
        };
        let Ok(hello) = serde_json::from_slice::<Hello>(&msg.payload) else {
            continue;
        };
        let problem = s.presence.heard(&hello, &s.node, s.tag, Instant::now());
        if let Some(p) = &problem {
            tracing::error!("{p}");
            s.set_problem(p, true);
            collisions.insert(hello.node.clone(), p.clone());
        } else if let Some(p) = collisions.remove(&hello.node) {
            s.set_problem(&p, false);
        }
        s.metrics.peers.set(s.presence.count() as i64);
        if hello.ask {
            s.say_hello(false).await;
        }
    }
}

async fn heartbeat(s: Arc<Shared>) {
    let mut tick = tokio::time::interval(HELLO_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = s.stop.cancelled() => return,
        }
        if s.state() == LinkState::Up {
            s.say_hello(false).await;
            if let Some(before) = Instant::now().checked_sub(PEER_TTL) {
                let n = s.presence.expire(before);
                s.metrics.peers.set(n as i64);
            }
        }
    }
}
