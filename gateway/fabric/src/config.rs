//! The `[fabric]` configuration section.

use serde::{Deserialize, Serialize};

use crate::subscriber::OverflowPolicy;

/// Settings of the fabric (`[fabric]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FabricConfig {
    /// Deliveries queued per subscriber before the overflow policy applies. Default 1024.
    pub queue_capacity: usize,
    /// What to do when a subscriber's queue is full: `drop_oldest` (default), `drop_new` or
    /// `disconnect`. Protocols may override it per listener.
    pub overflow: OverflowPolicy,
    /// Most retained messages kept. Default 1 000 000.
    pub max_retained_messages: usize,
    /// Most bytes (topic plus payload) kept by retained messages. Default 512 MiB.
    pub max_retained_bytes: usize,
    /// Most requests waiting for a reply at once. Default 100 000.
    pub max_pending_requests: usize,
    /// How often `$SYS/switchboard/...` statistics are published, in milliseconds; 0 turns them off.
    /// Default 10 000.
    pub sys_interval_ms: u64,
}

impl Default for FabricConfig {
    fn default() -> Self {
        FabricConfig {
            queue_capacity: 1024,
            overflow: OverflowPolicy::DropOldest,
            max_retained_messages: 1_000_000,
            max_retained_bytes: 512 * 1024 * 1024,
            max_pending_requests: 100_000,
            sys_interval_ms: 10_000,
        }
    }
}

impl FabricConfig {
    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut nonzero = |key: &str, v: usize| {
            if v == 0 {
                out.push((format!("fabric.{key}"), "must be at least 1".to_owned()));
            }
        };
        nonzero("queue_capacity", self.queue_capacity);
        nonzero("max_retained_messages", self.max_retained_messages);
        nonzero("max_retained_bytes", self.max_retained_bytes);
        nonzero("max_pending_requests", self.max_pending_requests);
        out
    }
}
