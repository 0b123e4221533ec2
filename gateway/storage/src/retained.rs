//! Retained messages in the store, and the node id.

use std::sync::Arc;

use switchboard_fabric::durable::{DecodedMessage, Durable, decode_message, encode_message};
use switchboard_fabric::{Message, RetainedObserver, Topic};

/// The table of retained messages: topic → message record.
pub const RETAINED: &str = "retained";

/// The table of the gateway's own settings: name → value.
pub const META: &str = "meta";

/// Writes every change of the fabric's retained store to the durable store.
#[derive(Debug)]
pub struct RetainedPersister {
    store: Arc<dyn Durable>,
}

impl RetainedPersister {
    /// A persister writing to `store`.
    pub fn new(store: Arc<dyn Durable>) -> Self {
        RetainedPersister { store }
    }
}

/// Whether a retained topic is kept: `$SYS/...` statistics are published again after a restart.
pub fn is_persisted(topic: &str) -> bool {
    !topic.starts_with("$SYS")
}

impl RetainedObserver for RetainedPersister {
    fn retained_changed(&self, topic: &Topic, value: Option<&Arc<Message>>) {
        if !is_persisted(topic.as_str()) {
            return;
        }
        self.store.put(
            RETAINED,
            topic.as_str().as_bytes().to_vec(),
            value.map(|m| encode_message(m)),
        );
    }
}

/// The retained messages kept in `store`. Expired and unreadable records are deleted.
pub fn load_retained(store: &dyn Durable) -> Vec<Message> {
    let mut out = Vec::new();
    for (key, value) in store.load(RETAINED) {
        match decode_message(&value) {
            Some(DecodedMessage::Live(m)) => out.push(*m),
            Some(DecodedMessage::Expired) => {
                store.put(RETAINED, key, None);
            }
            None => {
                tracing::warn!(
                    topic = %String::from_utf8_lossy(&key),
                    "unreadable retained message in the store; deleted"
                );
                store.put(RETAINED, key, None);
            }
        }
    }
    out
}

/// The node id kept in `store`, or `generate()`'s, which is then kept.
pub fn node_id(store: &dyn Durable, generate: impl FnOnce() -> String) -> String {
    let kept = store
        .load(META)
        .into_iter()
        .find(|(k, _)| k == b"node_id")
        .and_then(|(_, v)| String::from_utf8(v).ok())
        .filter(|s| !s.is_empty());
    match kept {
        Some(id) => id,
        None => {
            let id = generate();
            store.put(META, b"node_id".to_vec(), Some(id.clone().into_bytes()));
            id
        }
    }
}
