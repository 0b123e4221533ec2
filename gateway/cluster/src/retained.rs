//! Retained values shared across nodes through a JetStream stream.
//!
//! nats-server 2.9.10 (Debian's) runs streams fine, but async-nats 0.51's key-value API fails
//! against it (`$JS.API.INFO` lacks fields the client expects), so the store is a plain stream
//! built the way a KV bucket is: subjects `<p>.r.>`, one message per subject
//! (`max_messages_per_subject = 1`), file storage by default. A node that publishes a retained
//! message also publishes its envelope to `<p>.r.<topic>` (an empty payload is the tombstone that
//! deletes). Every node reads the stream with an ordered consumer, starting with the last value of
//! every subject, and applies each value to its own retained store, so a late subscriber on any
//! node is answered from memory, and all nodes converge on the stream's order when two nodes
//! retain on the same topic at once. Start-up waits (bounded) for this catch-up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use switchboard_config::RetainedStorage;
use switchboard_fabric::Topic;

use crate::link::Shared;
use crate::subject::decode_topic;
use crate::wire;

const PROBLEM: &str = "cluster: retained values not shared (JetStream unavailable)";

/// The name of the retained stream for subject prefix `prefix`.
pub fn stream_name(prefix: &str) -> String {
    format!("{prefix}_retained")
}

/// Keeps the local retained store in step with the stream, re-creating the consumer on failure.
pub(crate) async fn run(s: Arc<Shared>) {
    let mut delay = Duration::from_millis(200);
    loop {
        let result = tokio::select! {
            r = follow(&s) => r,
            _ = s.stop.cancelled() => return,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cluster: retained stream unavailable; retrying");
            s.set_problem(PROBLEM, true);
            s.retained_stream.store(false, Ordering::Relaxed);
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = s.stop.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn follow(s: &Arc<Shared>) -> Result<(), async_nats::Error> {
    let js = jetstream::new(s.client.clone());
    let subject = s.subjects.retained_all();
    let mut stream = js
        .get_or_create_stream(stream::Config {
            name: stream_name(&s.config.subject_prefix),
            subjects: vec![subject.clone()],
            max_messages_per_subject: 1,
            storage: match s.config.retained_storage {
                RetainedStorage::File => stream::StorageType::File,
                RetainedStorage::Memory => stream::StorageType::Memory,
            },
            num_replicas: s.config.retained_replicas,
            max_bytes: s.config.retained_max_bytes,
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await?;
    let stored = stream.info().await?.state.messages;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject,
            deliver_policy: consumer::DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    s.retained_stream.store(true, Ordering::Relaxed);
    s.set_problem(PROBLEM, false);
    if stored == 0 {
        s.retained_synced.send_replace(true);
    }
    let skip = s.subjects.retained_prefix_len();
    while let Some(m) = messages.next().await {
        let m = m?;
        let pending = m.info().map(|i| i.pending).unwrap_or(0);
        let topic = m
            .subject
            .as_str()
            .get(skip..)
            .and_then(decode_topic)
            .and_then(|t| Topic::literal(t).ok());
        match topic.map(|t| wire::decode(t, &m.payload, Instant::now())) {
            Some(Ok((mut message, _))) => {
                message.retain = true;
                s.fabric.apply_retained(Arc::new(message));
            }
            _ => s.metrics.drop("bad_retained"),
        }
        if pending == 0 {
            s.retained_synced.send_replace(true);
        }
    }
    Err("the retained consumer ended".into())
}
