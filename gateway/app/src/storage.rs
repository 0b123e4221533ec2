//! `[storage]`: opening the embedded store, recovering what it keeps before anything serves, and
//! closing it at the end of a shutdown.
//!
//! Without `storage.path` nothing is stored: retained messages, persistent MQTT sessions and the
//! node id live in memory and are gone after a restart.

use std::sync::Arc;
use std::time::Duration;

use switchboard_config::{Fsync, StorageConfig};
use switchboard_fabric::{Durable, Fabric};
use switchboard_storage::{RetainedPersister, Store, StoreOptions};

use crate::error::RunError;

/// Opens the store when `storage.path` is set.
pub fn open(
    config: &StorageConfig,
    registry: &prometheus::Registry,
) -> Result<Option<Arc<Store>>, RunError> {
    let Some(dir) = &config.path else {
        return Ok(None);
    };
    let fsync = match config.fsync {
        Fsync::Always => switchboard_storage::Fsync::Always,
        Fsync::Interval => {
            switchboard_storage::Fsync::Interval(Duration::from_millis(config.fsync_interval_ms))
        }
        Fsync::Never => switchboard_storage::Fsync::Never,
    };
    let store = Store::open(
        &StoreOptions {
            dir: dir.clone(),
            fsync,
        },
        registry,
    )
    .map_err(|e| RunError::Component {
        component: "storage.path",
        message: e.to_string(),
    })?;
    tracing::info!(file = %store.file().display(), fsync = ?config.fsync, "store opened");
    Ok(Some(Arc::new(store)))
}

/// The node id: `cluster.node_id`, else the one the store keeps (generated on first start), else
/// a random one.
pub fn node_id(configured: Option<&str>, store: Option<&Store>) -> String {
    let generate = || format!("{:08x}", rand::random::<u32>());
    match (configured, store) {
        (Some(id), _) => id.to_owned(),
        (None, Some(s)) => switchboard_storage::node_id(s, generate),
        (None, None) => generate(),
    }
}

/// Loads the stored retained messages into `fabric` and has every later change written back.
pub fn recover_retained(fabric: &Fabric, store: &Arc<Store>) {
    let messages = switchboard_storage::load_retained(&**store);
    let found = messages.len();
    let kept = fabric.load_retained(messages);
    if kept < found {
        tracing::warn!(
            found,
            kept,
            "retained messages beyond fabric.max_retained_messages/_bytes were not loaded"
        );
    }
    let durable: Arc<dyn Durable> = store.clone();
    fabric.set_retained_observer(Arc::new(RetainedPersister::new(durable)));
    tracing::info!(retained = kept, "retained messages recovered");
}

/// Reads the persistent MQTT sessions back into `broker`.
pub fn recover_sessions(broker: &switchboard_mqtt::Broker, store: &Arc<Store>) {
    let durable: Arc<dyn Durable> = store.clone();
    let stats = broker.restore(durable);
    tracing::info!(
        sessions = stats.sessions,
        messages = stats.messages,
        expired = stats.expired,
        "persistent MQTT sessions recovered"
    );
}

/// Writes what is pending with fsync and closes the store (after every connection ended).
pub async fn close(store: Arc<Store>) {
    let closing = tokio::task::spawn_blocking(move || store.close());
    if closing.await.is_err() {
        tracing::error!("closing the store failed");
    } else {
        tracing::info!("store flushed and closed");
    }
}
