//! Scale-out: the optional NATS link (`[cluster]`), started before the protocols so their
//! Engine.IO routers can forward requests of sessions owned by other nodes, reported in `/readyz`
//! when degraded, stopped after the drain.

use std::collections::HashSet;
use std::time::Duration;

use prometheus::Registry;
use switchboard_cluster::Cluster;
use switchboard_config::Config;
use switchboard_fabric::Fabric;
use tokio_util::task::TaskTracker;

use crate::error::RunError;
use crate::shutdown::Readiness;

/// Starts the link when `cluster.nats_url` is set. NATS being unreachable is not an error: the
/// gateway serves local traffic and reports `cluster: NATS unreachable` in `/readyz`.
pub async fn start(
    config: &Config,
    fabric: &Fabric,
    registry: &Registry,
    readiness: &Readiness,
    tracker: &TaskTracker,
) -> Result<Option<Cluster>, RunError> {
    if config.cluster.nats_url().is_none() {
        return Ok(None);
    }
    let tag = (config.engineio.enabled || config.socketio.enabled)
        .then(|| switchboard_engineio::node_tag(fabric.node_id()).get());
    let cluster = Cluster::start(&config.cluster, fabric.clone(), tag, registry)
        .await
        .map_err(|e| RunError::Component {
            component: "cluster",
            message: e.to_string(),
        })?;
    tracing::info!(
        node = %fabric.node_id(),
        url = config.cluster.nats_url().unwrap_or(""),
        "cluster: node joined over NATS"
    );
    let mut problems = cluster.problems();
    let readiness = readiness.clone();
    tracker.spawn(async move {
        let mut shown: HashSet<String> = HashSet::new();
        loop {
            let now: HashSet<String> = problems.borrow_and_update().iter().cloned().collect();
            for gone in shown.difference(&now) {
                readiness.set_degraded(gone, false);
            }
            for new in now.difference(&shown) {
                readiness.set_degraded(new, true);
            }
            shown = now;
            if problems.changed().await.is_err() {
                return;
            }
        }
    });
    Ok(Some(cluster))
}

/// The Engine.IO tag of the node owning the session a request names (`sid` in its query).
pub fn owner_of(parts: &http::request::Parts) -> Option<u16> {
    let query = parts.uri.query()?;
    let sid = query.split('&').find_map(|kv| kv.strip_prefix("sid="))?;
    switchboard_engineio::proto::Sid::node_of(sid)
        .ok()
        .map(|t| t.get())
}

/// Sends what is still buffered for other nodes (briefly) and leaves the cluster.
pub async fn stop(cluster: Option<Cluster>) {
    if let Some(c) = cluster {
        c.shutdown(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_read_from_the_sid() {
        let sid = switchboard_engineio::proto::Sid::new(
            switchboard_engineio::proto::NodeTag::new(4242),
            [1; 16],
        );
        let req = http::Request::get(format!("/engine.io/?EIO=4&transport=polling&sid={sid}"))
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        assert_eq!(owner_of(&parts), Some(4242));
        let req = http::Request::get("/engine.io/?EIO=4&transport=polling")
            .body(())
            .unwrap();
        assert_eq!(owner_of(&req.into_parts().0), None);
        let req = http::Request::get("/engine.io/?sid=garbage")
            .body(())
            .unwrap();
        assert_eq!(owner_of(&req.into_parts().0), None);
    }
}
