//! `$SYS/switchboard/...`: the gateway's own statistics, published as retained messages.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::fabric::Fabric;
use crate::message::{Message, PayloadKind};
use crate::topic::Topic;

/// Prefix of the statistics topics.
pub const SYS_PREFIX: &str = "$SYS/switchboard/";

/// Publishes the statistics once, as retained text messages.
pub fn publish_stats(fabric: &Fabric, version: &str) {
    let stats = fabric.stats();
    let m = fabric.metrics();
    let mut values: Vec<(String, String)> = vec![
        ("version".into(), version.to_owned()),
        ("node".into(), fabric.node_id().to_string()),
        ("uptime_seconds".into(), stats.uptime.as_secs().to_string()),
        ("subscribers".into(), stats.subscribers.to_string()),
        ("subscriptions".into(), stats.filters.to_string()),
        ("retained/count".into(), stats.retained.to_string()),
        ("retained/bytes".into(), stats.retained_bytes.to_string()),
        ("messages/published".into(), stats.published.to_string()),
        (
            "requests/pending".into(),
            stats.pending_requests.to_string(),
        ),
    ];
    let mut total = 0;
    for (protocol, open) in m.connections_by_protocol() {
        total += open;
        values.push((format!("connections/{protocol}"), open.to_string()));
    }
    values.push(("connections/total".into(), total.to_string()));
    for (suffix, value) in values {
        let Ok(topic) = Topic::new(format!("{SYS_PREFIX}{suffix}")) else {
            continue;
        };
        fabric.publish(
            Message::new(topic, value.into_bytes())
                .kind(PayloadKind::Text)
                .retain(true),
        );
    }
}

/// Publishes the statistics every `interval` until `cancel` fires. Spawn it on the runtime.
pub async fn run_publisher(
    fabric: Fabric,
    version: &'static str,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => publish_stats(&fabric, version),
        }
    }
}
