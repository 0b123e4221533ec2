//! The NATS subscriptions that follow local interest, and the delivery of shared subscriptions.
//!
//! For each filter its subscribers use, a node holds:
//! - the filter's subjects (plain NATS subscriptions, on the main connection), while some local
//!   subscription to it is not shared: messages arriving there go to the non-shared subscribers;
//! - for each shared group with local members, the filter's subjects again with the NATS queue
//!   group [`Subjects::queue`](crate::subject::Subjects::queue) of (group, filter), on the
//!   *shared* connection. NATS hands each message to one queue subscriber of a group among all
//!   nodes, and that node gives it to one of its local members
//!   ([`Fabric::publish_shared`](switchboard_fabric::Fabric::publish_shared)).
//!
//! The shared connection receives what this node publishes itself (the main connection is
//! `no_echo`), so the publisher's own members are candidates like any other: when the link is up,
//! every message with shared groups goes through NATS, and exactly one member in the cluster
//! gets it. While the link is down the fabric serves local groups itself (see
//! [`Backplane::published`](switchboard_fabric::Backplane::published)).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use futures_util::StreamExt;
use switchboard_fabric::{Interest, REPLY_PREFIX, TopicFilter};
use tokio::task::JoinHandle;

use crate::link::{Inbound, Shared, reader};
use crate::subject::Pair;

/// How long a round trip confirming subscriptions may take.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What one filter holds on NATS.
#[derive(Debug, Default)]
struct Held {
    /// The subjects, while some local subscription is not shared.
    direct: Option<Pair>,
    /// Queue subscriptions (their reader tasks), per shared group.
    groups: HashMap<Arc<str>, Vec<JoinHandle<()>>>,
}

/// Keeps the NATS subscriptions that local interest needs.
pub(crate) async fn run(s: Arc<Shared>) {
    let mut held: HashMap<TopicFilter, Held> = HashMap::new();
    // subject → (filters using it directly, its reader task)
    let mut subjects: HashMap<String, (usize, JoinHandle<()>)> = HashMap::new();
    let sync = SyncProbe::new(&s, "interest");
    let shared_sync = SyncProbe::new(&s, "shared");
    loop {
        let batch = s.take_dirty();
        if batch.is_empty() {
            tokio::select! {
                _ = s.dirty_notify.notified() => continue,
                _ = s.stop.cancelled() => break,
            }
        }
        for filter in batch {
            let want = if crosses(&filter) {
                s.fabric.interest(&filter)
            } else {
                Interest::default()
            };
            let h = held.entry(filter.clone()).or_default();
            let pair = if want.direct || !want.groups.is_empty() {
                match s.subjects.filter(&filter) {
                    Some(p) => Some(p),
                    None => {
                        if h.direct.is_none() && h.groups.is_empty() {
                            s.metrics.drop("subject_too_long");
                            tracing::warn!(%filter, "cluster: filter too long for a NATS subject; it only sees local messages");
                        }
                        None
                    }
                }
            } else {
                None
            };
            // Direct subscribers.
            match (want.direct, h.direct.take()) {
                (true, None) => {
                    if let Some(pair) = &pair {
                        subscribe(&s, pair, &mut subjects).await;
                        h.direct = Some(pair.clone());
                    }
                }
                (false, Some(old)) => unsubscribe(&old, &mut subjects),
                (_, kept) => h.direct = kept,
            }
            // Shared groups.
            h.groups.retain(|group, tasks| {
                let keep = want.groups.contains(group);
                if !keep {
                    // Dropping the subscribers with their tasks unsubscribes.
                    tasks.iter().for_each(JoinHandle::abort);
                }
                keep
            });
            if let Some(pair) = &pair {
                for group in want.groups {
                    if h.groups.contains_key(&group) {
                        continue;
                    }
                    let tasks = subscribe_shared(&s, pair, &filter, &group).await;
                    h.groups.insert(group, tasks);
                }
            }
            if h.direct.is_none() && h.groups.is_empty() {
                held.remove(&filter);
            }
        }
        // Once NATS answered a request sent after them, the subscriptions above are registered
        // on the server: only then does the gauge count them (tests and operators rely on it).
        let _ = sync.round_trip(&s.client).await;
        let _ = shared_sync.round_trip(&s.shared_client).await;
        let queues: usize = held
            .values()
            .flat_map(|h| h.groups.values())
            .map(Vec::len)
            .sum();
        s.metrics
            .subscriptions
            .set((subjects.len() + queues) as i64);
    }
    for (_, (_, task)) in subjects {
        task.abort();
    }
    for h in held.into_values() {
        h.groups.values().flatten().for_each(JoinHandle::abort);
    }
}

async fn subscribe(
    s: &Arc<Shared>,
    pair: &Pair,
    subjects: &mut HashMap<String, (usize, JoinHandle<()>)>,
) {
    for subject in pair.iter() {
        if let Some((n, _)) = subjects.get_mut(subject) {
            *n += 1;
            continue;
        }
        match s.client.subscribe(subject.clone()).await {
            Ok(sub) => {
                let task = tokio::spawn(reader(s.clone(), sub, Inbound::Topic));
                subjects.insert(subject.clone(), (1, task));
            }
            Err(e) => tracing::warn!(error = %e, subject, "cluster: cannot subscribe"),
        }
    }
}

fn unsubscribe(pair: &Pair, subjects: &mut HashMap<String, (usize, JoinHandle<()>)>) {
    for subject in pair.iter() {
        let gone = match subjects.get_mut(subject) {
            Some((n, _)) => {
                *n -= 1;
                *n == 0
            }
            None => false,
        };
        if gone && let Some((_, task)) = subjects.remove(subject) {
            // Dropping the subscriber with its task unsubscribes.
            task.abort();
        }
    }
}

/// Queue subscriptions of shared group `group` on `filter`, one per subject, with their readers.
async fn subscribe_shared(
    s: &Arc<Shared>,
    pair: &Pair,
    filter: &TopicFilter,
    group: &Arc<str>,
) -> Vec<JoinHandle<()>> {
    let queue = s.subjects.queue(group, filter);
    let mut tasks = Vec::new();
    for subject in pair.iter() {
        match s
            .shared_client
            .queue_subscribe(subject.clone(), queue.clone())
            .await
        {
            Ok(sub) => tasks.push(tokio::spawn(shared_reader(
                s.clone(),
                sub,
                filter.clone(),
                group.clone(),
            ))),
            Err(e) => {
                tracing::warn!(error = %e, subject, %group, "cluster: cannot subscribe the shared group");
            }
        }
    }
    tasks
}

/// Messages NATS chose this node for, for one shared group: to one local member.
async fn shared_reader(
    s: Arc<Shared>,
    mut sub: async_nats::Subscriber,
    filter: TopicFilter,
    group: Arc<str>,
) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => return },
            _ = s.stop.cancelled() => return,
        };
        // This node's own messages come here too: its members are candidates like any other.
        let Some((message, _)) = s.decode(Inbound::Topic, &msg) else {
            continue;
        };
        s.metrics.received.inc();
        let queued = s.fabric.publish_shared(Arc::new(message), &filter, &group);
        if queued > 0
            && let Some(reply) = msg.reply
        {
            let _ = s.client.publish(reply, bytes::Bytes::new()).await;
        }
    }
}

/// A round trip through NATS on the node's private subject.
///
/// A flush only says that the bytes left this process. NATS applies one connection's
/// operations in order, and answers a request to a subject nobody listens to with "no
/// responders" once it has processed it: when that answer comes back, everything this
/// connection sent before (publications, subscriptions) is in place on the server (on a single
/// server; a NATS cluster propagates interest to its other servers shortly after). The node's
/// connection is `no_echo`, so it cannot simply read back its own message.
#[derive(Debug)]
pub(crate) struct SyncProbe {
    subject: String,
}

impl SyncProbe {
    /// The probe of one task of the node.
    pub(crate) fn new(s: &Shared, task: &str) -> SyncProbe {
        SyncProbe {
            subject: s.subjects.sync(&s.node, task),
        }
    }

    /// Waits (at most [`FLUSH_TIMEOUT`]) until NATS has applied what `client` sent before.
    /// Whether it was confirmed.
    pub(crate) async fn round_trip(&self, client: &Client) -> bool {
        use async_nats::RequestErrorKind;
        let asked = client.request(self.subject.clone(), bytes::Bytes::new());
        let confirmed = match tokio::time::timeout(FLUSH_TIMEOUT, asked).await {
            // The expected answer, from the server itself.
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => true,
            // Someone answered: the server processed the request all the same.
            Ok(Ok(_)) => true,
            Ok(Err(_)) | Err(_) => false,
        };
        if !confirmed {
            tracing::debug!(subject = %self.subject, "cluster: NATS did not confirm in time");
        }
        confirmed
    }
}

/// Whether messages matching `filter` can come from other nodes (`$SYS` statistics are per node).
pub(crate) fn crosses(filter: &TopicFilter) -> bool {
    let first = filter.levels().next().unwrap_or("");
    first != "$SYS" && !filter.as_str().starts_with(REPLY_PREFIX)
}
