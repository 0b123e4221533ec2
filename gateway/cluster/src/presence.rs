//! Presence: every node says hello on `<p>.node` when its link comes up (asking the others to
//! answer) and every few seconds after. A hello that arrives proves its sender's subscriptions are
//! registered on NATS (NATS handles one connection's commands in order, and a client re-sends its
//! subscriptions before anything else after a reconnection), which is what sending the backlog
//! after a reconnection waits for. Hellos also reveal two nodes sharing an id or an Engine.IO tag.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// What a node says on `<p>.node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's node id.
    pub node: String,
    /// The sender's Engine.IO session tag, when it serves Engine.IO.
    pub tag: Option<u16>,
    /// Whether receivers should answer with their own hello.
    #[serde(default)]
    pub ask: bool,
    /// The sender is shutting down.
    #[serde(default)]
    pub bye: bool,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    tag: Option<u16>,
    heard: Instant,
}

/// The other nodes heard from.
#[derive(Debug, Default)]
pub struct Presence {
    peers: Mutex<HashMap<String, Peer>>,
    changed: Notify,
}

impl Presence {
    /// Records `hello` heard at `now` by node `me` (Engine.IO tag `my_tag`). Returns a problem to
    /// report when the sender shares this node's id or tag.
    pub fn heard(
        &self,
        hello: &Hello,
        me: &str,
        my_tag: Option<u16>,
        now: Instant,
    ) -> Option<String> {
        if hello.node == me {
            return Some(format!(
                "cluster: another node uses this node id `{me}`; give each node its own \
                 cluster.node_id"
            ));
        }
        {
            let mut peers = self.peers.lock();
            if hello.bye {
                peers.remove(&hello.node);
            } else {
                peers.insert(
                    hello.node.clone(),
                    Peer {
                        tag: hello.tag,
                        heard: now,
                    },
                );
            }
        }
        self.changed.notify_waiters();
        match (hello.tag, my_tag) {
            (Some(a), Some(b)) if a == b && !hello.bye => Some(format!(
                "cluster: node `{}` has the same Engine.IO session tag {a} as this node; \
                 forwarded polling requests may reach the wrong node: rename one of them",
                hello.node
            )),
            _ => None,
        }
    }

    /// The nodes heard from.
    pub fn known(&self) -> Vec<String> {
        self.peers.lock().keys().cloned().collect()
    }

    /// How many nodes are known.
    pub fn count(&self) -> usize {
        self.peers.lock().len()
    }

    /// Forgets nodes not heard from since `before`; returns how many remain.
    pub fn expire(&self, before: Instant) -> usize {
        let mut peers = self.peers.lock();
        peers.retain(|_, p| p.heard >= before);
        peers.len()
    }

    /// Waits until every node of `nodes` was heard from at or after `since`, for at most `max`.
    /// Returns the nodes still silent.
    pub async fn wait_for(&self, nodes: &[String], since: Instant, max: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let notified = self.changed.notified();
            let silent: Vec<String> = {
                let peers = self.peers.lock();
                nodes
                    .iter()
                    .filter(|n| peers.get(*n).is_none_or(|p| p.heard < since))
                    .cloned()
                    .collect()
            };
            if silent.is_empty() {
                return silent;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return silent;
            }
        }
    }

    /// The tag of `node`, if known.
    pub fn tag_of(&self, node: &str) -> Option<u16> {
        self.peers.lock().get(node).and_then(|p| p.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(node: &str, tag: Option<u16>) -> Hello {
        Hello {
            node: node.into(),
            tag,
            ask: false,
            bye: false,
        }
    }

    #[tokio::test]
    async fn waiting_ends_when_every_known_node_spoke_again() {
        let p = std::sync::Arc::new(Presence::default());
        let t0 = Instant::now();
        assert_eq!(p.heard(&hello("b", Some(2)), "a", Some(1), t0), None);
        assert_eq!(p.heard(&hello("c", None), "a", Some(1), t0), None);
        let since = Instant::now();
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move {
                p.wait_for(&["b".into(), "c".into()], since, Duration::from_secs(30))
                    .await
            })
        };
        tokio::task::yield_now().await;
        p.heard(&hello("b", Some(2)), "a", Some(1), Instant::now());
        p.heard(&hello("c", None), "a", Some(1), Instant::now());
        assert!(waiter.await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_node_is_waited_for_only_so_long() {
        let p = Presence::default();
        p.heard(&hello("b", None), "a", None, Instant::now());
        let silent = p
            .wait_for(&["b".into()], Instant::now(), Duration::from_secs(5))
            .await;
        assert_eq!(silent, ["b"]);
    }

    #[test]
    fn shared_ids_and_tags_are_reported_and_bye_forgets() {
        let p = Presence::default();
        let now = Instant::now();
        assert!(p.heard(&hello("a", None), "a", None, now).is_some());
        assert!(p.heard(&hello("b", Some(7)), "a", Some(7), now).is_some());
        assert_eq!(p.tag_of("b"), Some(7));
        assert_eq!(p.count(), 1);
        let mut bye = hello("b", Some(7));
        bye.bye = true;
        assert_eq!(p.heard(&bye, "a", Some(7), now), None);
        assert_eq!(p.count(), 0);
    }
}
