//! The broker's shared state: configuration, fabric, authorizer, metrics, and the session
//! registry (client id → online connection or offline session), with takeover, expiry and will
//! delay.
//!
//! # Takeover
//! A connection registers itself under its client id with a fresh generation number and a
//! one-shot "kick" channel. A second connection with the same id replaces the entry and kicks the
//! first, which says goodbye (MQTT 5: DISCONNECT 0x8E) and hands its session back through the
//! kick. A connection that ends and finds its generation replaced hands its session to the new
//! one the same way, so a session is never lost or duplicated in a race.
//!
//! # Shutdown
//! The same channel tells online connections that the broker stops ([`Kick::Shutdown`]): one
//! task waits on the stop token for all of them, so that an idle connection's task does not
//! hold a wait of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use switchboard_fabric::{Access, Authorizer, Durable, Fabric, Origin, ProtocolMetrics};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bridge;
use crate::config::MqttConfig;
use crate::metrics::MqttMetrics;
use crate::session::{NEVER_EXPIRES, PendingWill, Session};
use crate::sys::{Stats, SysSource};

/// The protocol label in metrics and message origins.
pub const PROTOCOL: &str = "mqtt";

/// How long a new connection waits for the previous one to hand over its session.
pub const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// A request from a new connection to the one it replaces.
#[derive(Debug)]
pub struct Takeover {
    /// Where the old connection sends its session (`None` when it has none to give).
    pub reply: oneshot::Sender<Option<Box<Session>>>,
}

/// What an online connection is told through its kick channel (one per connection, so that a
/// connection's task waits on nothing else from the broker).
#[derive(Debug)]
pub enum Kick {
    /// Another connection takes the session over.
    Takeover(Takeover),
    /// The broker stops.
    Shutdown,
}

/// One client id's entry in the registry.
#[derive(Debug)]
enum Slot {
    Online {
        generation: u64,
        kick: Option<oneshot::Sender<Kick>>,
    },
    Offline {
        generation: u64,
        session: Box<Session>,
        will: Option<Box<PendingWill>>,
    },
}

/// What a connection found when it registered.
#[derive(Debug)]
pub enum Previous {
    /// Nothing: a new client id.
    None,
    /// An offline session.
    Resumed(Box<Session>),
    /// A connected client, now kicked; its session if it handed one over.
    TakenOver(Option<Box<Session>>),
}

/// A registered connection.
#[derive(Debug)]
pub struct Attached {
    /// The connection's generation.
    pub generation: u64,
    /// Fires when another connection takes the session over, or the broker stops.
    pub kick: oneshot::Receiver<Kick>,
    /// What was there before.
    pub previous: Previous,
}

/// The state every connection of the broker shares.
#[derive(Debug)]
pub struct Shared {
    /// The settings.
    pub config: MqttConfig,
    /// The fabric.
    pub fabric: Fabric,
    /// Who may do what.
    pub authorizer: Arc<dyn Authorizer>,
    /// The broker's own metrics.
    pub metrics: MqttMetrics,
    /// The shared per-protocol metrics.
    pub proto: ProtocolMetrics,
    /// `$SYS` counters.
    pub stats: Stats,
    /// Stops accepting and ends every connection.
    pub stop: CancellationToken,
    /// Tracks every task of the broker.
    pub tracker: TaskTracker,
    /// The protocol label, shared by every origin.
    pub protocol: Arc<str>,
    /// Shared subscriptions held now.
    pub shared_subscriptions: AtomicI64,
    /// The durable store persistent sessions are kept in (`[storage] path`).
    pub store: OnceLock<Arc<dyn Durable>>,
    sessions: Mutex<HashMap<Arc<str>, Slot>>,
    next_gen: AtomicU64,
    /// Whether the task telling online connections about the stop was started.
    stop_watched: AtomicBool,
}

impl Shared {
    /// Builds the shared state.
    pub fn new(
        config: MqttConfig,
        fabric: Fabric,
        authorizer: Arc<dyn Authorizer>,
        metrics: MqttMetrics,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let proto = fabric.metrics().protocol(PROTOCOL);
        Shared {
            config,
            fabric,
            authorizer,
            metrics,
            proto,
            stats: Stats::default(),
            stop,
            tracker,
            protocol: Arc::from(PROTOCOL),
            shared_subscriptions: AtomicI64::new(0),
            store: OnceLock::new(),
            sessions: Mutex::new(HashMap::new()),
            next_gen: AtomicU64::new(1),
            stop_watched: AtomicBool::new(false),
        }
    }

    /// The expiry of a new session: the client's wish capped by `max_session_expiry`.
    pub fn session_expiry(&self, requested: u32) -> u32 {
        match self.config.max_session_expiry {
            0 => requested,
            cap => requested.min(cap),
        }
    }

    /// Registers a connection under `client_id`, kicking and waiting for any connection already
    /// there, or taking the offline session.
    ///
    /// A connection registered after the stop is not told about it: it checks
    /// [`CancellationToken::is_cancelled`] once attached.
    pub async fn attach(self: &Arc<Self>, client_id: &Arc<str>) -> Attached {
        self.watch_stop();
        let generation = self.next_gen.fetch_add(1, Ordering::Relaxed);
        let (tx, kick) = oneshot::channel();
        let prev = self.sessions.lock().insert(
            client_id.clone(),
            Slot::Online {
                generation,
                kick: Some(tx),
            },
        );
        let previous = match prev {
            None => Previous::None,
            Some(Slot::Online { kick: old, .. }) => {
                self.metrics.takeovers.inc();
                let (reply, answer) = oneshot::channel();
                let sent = old.is_some_and(|k| k.send(Kick::Takeover(Takeover { reply })).is_ok());
                let session = if sent {
                    tokio::time::timeout(TAKEOVER_TIMEOUT, answer)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .flatten()
                } else {
                    None
                };
                Previous::TakenOver(session)
            }
            Some(Slot::Offline { session, will, .. }) => {
                // A new connection before the will delay passed deletes the will.
                drop(will);
                self.went_online();
                Previous::Resumed(session)
            }
        };
        Attached {
            generation,
            kick,
            previous,
        }
    }

    fn went_online(&self) {
        self.metrics.sessions("offline").dec();
        self.stats.disconnected.fetch_sub(1, Ordering::Relaxed);
    }

    fn went_offline(&self) {
        self.metrics.sessions("offline").inc();
        self.stats.disconnected.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts (once, with the first connection) the task that tells every online connection
    /// when the broker stops, through its kick channel.
    fn watch_stop(self: &Arc<Self>) {
        if self.stop_watched.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::downgrade(self);
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            stop.cancelled().await;
            if let Some(shared) = shared.upgrade() {
                shared.kick_all();
            }
        });
    }

    /// Tells every online connection that the broker stops.
    fn kick_all(&self) {
        let kicks: Vec<oneshot::Sender<Kick>> = self
            .sessions
            .lock()
            .values_mut()
            .filter_map(|slot| match slot {
                Slot::Online { kick, .. } => kick.take(),
                Slot::Offline { .. } => None,
            })
            .collect();
        for kick in kicks {
            let _ = kick.send(Kick::Shutdown);
        }
    }

    /// Unregisters the connection `generation` of `client_id` at its end. A persistent session is kept
    /// offline (with its delayed will); an ended one publishes `will` at once. When another
    /// connection took over meanwhile, the session goes to it instead.
    pub async fn detach(
        self: &Arc<Self>,
        client_id: &Arc<str>,
        generation: u64,
        kick: Option<oneshot::Receiver<Kick>>,
        mut session: Box<Session>,
        will: Option<PendingWill>,
    ) {
        let will = will.map(Box::new);
        enum Outcome {
            Ended(Box<Session>, Option<Box<PendingWill>>),
            Stored {
                expiry: u32,
                will_delay: Option<u32>,
            },
            Replaced(Box<Session>),
        }
        let outcome = {
            let mut map = self.sessions.lock();
            match map.get(client_id) {
                Some(Slot::Online { generation: g, .. }) if *g == generation => {
                    if session.expiry == 0 {
                        map.remove(client_id);
                        Outcome::Ended(session, will)
                    } else {
                        let expiry = session.expiry;
                        let will_delay = will.as_ref().map(|w| will_delay(&w.will));
                        session.offline_backlog = 0;
                        if let Some(j) = &session.journal {
                            j.save(
                                &session,
                                will.as_deref().map(|w| (&w.will, &w.identity)),
                                true,
                            );
                        }
                        map.insert(
                            client_id.clone(),
                            Slot::Offline {
                                generation,
                                session,
                                will,
                            },
                        );
                        Outcome::Stored { expiry, will_delay }
                    }
                }
                _ => Outcome::Replaced(session),
            }
        };
        match outcome {
            Outcome::Ended(mut session, will) => {
                self.end_session(&mut session);
                if let Some(w) = will {
                    self.publish_will(&w);
                }
            }
            Outcome::Stored { expiry, will_delay } => {
                self.went_offline();
                self.schedule(client_id.clone(), generation, expiry, will_delay);
            }
            Outcome::Replaced(mut session) => {
                let takeover = match kick {
                    Some(kick) => tokio::time::timeout(TAKEOVER_TIMEOUT, kick).await,
                    None => Ok(Ok(Kick::Shutdown)),
                };
                if let Ok(Ok(Kick::Takeover(t))) = takeover
                    && session.expiry > 0
                {
                    let _ = t.reply.send(Some(session));
                } else {
                    self.end_session(&mut session);
                }
            }
        }
    }

    /// Registers a session read back from the store as offline, with its expiry and will delay
    /// counting from now.
    pub fn restore_offline(
        self: &Arc<Self>,
        client_id: Arc<str>,
        session: Box<Session>,
        expiry_left: u32,
        will: Option<(PendingWill, u32)>,
    ) {
        let generation = self.next_gen.fetch_add(1, Ordering::Relaxed);
        let will_delay = will.as_ref().map(|(_, d)| *d);
        self.sessions.lock().insert(
            client_id.clone(),
            Slot::Offline {
                generation,
                session,
                will: will.map(|(w, _)| Box::new(w)),
            },
        );
        self.went_offline();
        self.schedule(client_id, generation, expiry_left, will_delay);
    }

    /// Releases what an ended session holds.
    pub fn end_session(&self, session: &mut Session) {
        if let Some(j) = session.journal.take() {
            j.end();
        }
        let n = session.inflight.clear();
        self.metrics.inflight.sub(n as i64);
        self.stats.inflight.fetch_sub(n as i64, Ordering::Relaxed);
        if let Some(sub) = &session.subscriber {
            let shared = sub
                .subscriptions()
                .filter(|(_, o)| o.group.is_some())
                .count();
            self.shared_subscriptions
                .fetch_sub(shared as i64, Ordering::Relaxed);
        }
    }

    /// Publishes the will after its delay and ends the session at its expiry, unless a
    /// connection resumed it first.
    fn schedule(
        self: &Arc<Self>,
        client_id: Arc<str>,
        generation: u64,
        expiry: u32,
        will: Option<u32>,
    ) {
        let expire_in = (expiry != NEVER_EXPIRES).then(|| secs(expiry));
        let will_in = will.map(secs);
        if expire_in.is_none() && will_in.is_none() {
            return;
        }
        let shared = self.clone();
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            let start = tokio::time::Instant::now();
            let mut will_at = will_in.map(|d| start + d);
            let expire_at = expire_in.map(|d| start + d);
            loop {
                let next = match (will_at, expire_at) {
                    (Some(w), Some(e)) => w.min(e),
                    (Some(w), None) => w,
                    (None, Some(e)) => e,
                    (None, None) => return,
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(next) => {}
                }
                if will_at.is_some_and(|w| w <= next) {
                    will_at = None;
                    if let Some(w) = shared.take_offline_will(&client_id, generation) {
                        shared.publish_will(&w);
                    }
                }
                if expire_at.is_some_and(|e| e <= next) {
                    shared.expire(&client_id, generation);
                    return;
                }
            }
        });
    }

    fn take_offline_will(&self, client_id: &Arc<str>, generation: u64) -> Option<Box<PendingWill>> {
        match self.sessions.lock().get_mut(client_id) {
            Some(Slot::Offline {
                generation: g,
                will,
                ..
            }) if *g == generation => will.take(),
            _ => None,
        }
    }

    fn expire(&self, client_id: &Arc<str>, generation: u64) {
        let removed = {
            let mut map = self.sessions.lock();
            match map.get(client_id) {
                Some(Slot::Offline { generation: g, .. }) if *g == generation => {
                    map.remove(client_id)
                }
                _ => None,
            }
        };
        if let Some(Slot::Offline {
            mut session, will, ..
        }) = removed
        {
            self.went_online();
            self.metrics.sessions_expired.inc();
            self.stats.expired.fetch_add(1, Ordering::Relaxed);
            self.end_session(&mut session);
            if let Some(w) = will {
                self.publish_will(&w);
            }
        }
    }

    /// Publishes a will into the fabric, if the ACL lets its client write the topic.
    pub fn publish_will(&self, w: &PendingWill) {
        let mount = &self.config.mount;
        let origin = Origin::new(self.protocol.clone(), w.identity.client_id.clone());
        let message = match bridge::will_to_message(&w.will, &origin, mount, Instant::now()) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "will not published");
                self.proto.dropped("invalid_will");
                return;
            }
        };
        if !self
            .authorizer
            .authorize(&w.identity, Access::Write, message.topic.as_str())
        {
            self.proto.auth_failure("publish");
            self.proto.dropped("not_authorized");
            return;
        }
        self.metrics.wills.inc();
        self.fabric.publish(message);
    }

    /// Number of sessions kept for clients that are away.
    pub fn offline_sessions(&self) -> usize {
        self.sessions
            .lock()
            .values()
            .filter(|s| matches!(s, Slot::Offline { .. }))
            .count()
    }

    /// Messages queued for offline sessions.
    pub fn queued_offline(&self) -> usize {
        self.sessions
            .lock()
            .values()
            .map(|s| match s {
                Slot::Offline { session, .. } => session.queued(),
                Slot::Online { .. } => 0,
            })
            .sum()
    }

    /// Whether `client_id` has a session (online or offline).
    pub fn has_session(&self, client_id: &str) -> bool {
        self.sessions.lock().contains_key(client_id)
    }

    /// Fabric-level drops of MQTT subscribers, read back from the registry's drop counter.
    fn drops_from(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }
}

/// The will delay of a will, in seconds (0 without the property).
pub fn will_delay(will: &switchboard_mqtt_proto::Will) -> u32 {
    will.properties.will_delay_interval.unwrap_or(0)
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// Reads `switchboard_dropped_total{protocol="mqtt"}` from a registry.
pub fn registry_drops(registry: &prometheus::Registry, protocol: &str) -> u64 {
    let mut total = 0.0;
    for family in registry.gather() {
        if family.name() != "switchboard_dropped_total" {
            continue;
        }
        for m in family.get_metric() {
            if m.get_label()
                .iter()
                .any(|l| l.name() == "protocol" && l.value() == protocol)
            {
                total += m.get_counter().get_value();
            }
        }
    }
    total as u64
}

/// The `$SYS` source: the shared state plus the registry the drop counter lives in.
#[derive(Debug)]
pub struct SysView {
    /// The broker.
    pub shared: Arc<Shared>,
    /// The registry holding `switchboard_dropped_total`.
    pub registry: prometheus::Registry,
}

impl SysSource for SysView {
    fn stats(&self) -> &Stats {
        &self.shared.stats
    }
    fn fabric_drops(&self) -> u64 {
        // The registry counts every MQTT drop, the broker's own included; `stats.dropped` only
        // holds drops not reported to the registry.
        registry_drops(&self.registry, PROTOCOL) + self.shared.drops_from()
    }
    fn shared_subscriptions(&self) -> usize {
        usize::try_from(self.shared.shared_subscriptions.load(Ordering::Relaxed)).unwrap_or(0)
    }
    fn queued(&self) -> usize {
        self.shared.queued_offline()
    }
}
