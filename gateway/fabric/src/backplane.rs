//! The seam to other gateway nodes: a [`Backplane`] (the NATS cluster link) is told which filters
//! this node's subscribers need and which messages entered here, and injects what other nodes
//! publish through [`Fabric::publish_remote`](crate::Fabric::publish_remote).
//!
//! The fabric stays protocol- and transport-neutral: it only calls the three methods below, never
//! holding a lock while doing so, and never waits for them (except [`Backplane::responders`], which
//! [`Fabric::request`](crate::Fabric::request) awaits when no local subscriber took a request).
//!
//! Shared subscriptions (`$share/<group>/<filter>`) span the cluster: each message goes to one
//! member of a group among all nodes. A backplane that takes a locally published message in charge
//! (`published` returns true) also decides which node serves each group: the fabric then delivers
//! it to its local non-shared subscribers only, and the node the backplane picks delivers it with
//! [`Fabric::publish_shared`](crate::Fabric::publish_shared). Messages from other nodes injected
//! with [`Fabric::publish_remote`](crate::Fabric::publish_remote) likewise skip the groups.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::message::Message;
use crate::topic::{Topic, TopicFilter};

/// A filter's local subscriptions, as a backplane needs them ([`Fabric::interest`](crate::Fabric::interest)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interest {
    /// Some subscriptions to the filter are not shared.
    pub direct: bool,
    /// The shared-subscription groups with members on this node.
    pub groups: Vec<Arc<str>>,
}

/// A future the fabric awaits: whether some other node has a subscriber for a request.
pub type Responders = Pin<Box<dyn Future<Output = bool> + Send + 'static>>;

/// Connects a fabric to the other nodes of a cluster. Installed once with
/// [`Fabric::set_backplane`](crate::Fabric::set_backplane).
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// Local interest in `filter` may have changed: its first subscription appeared or its last
    /// one went, its first or last non-shared one, or a shared group appeared or went. Called
    /// after the index changed, with no lock held; calls for one filter may race, so read the
    /// current state with [`Fabric::interest`](crate::Fabric::interest) rather than trusting the
    /// order of calls. Must not block.
    fn interest_changed(&self, filter: &TopicFilter);

    /// A message that entered on this node (its `origin.node` is `None`) was published; it was
    /// already delivered to local non-shared subscribers. Forward it if other nodes may want it.
    /// Must not block. Messages injected with
    /// [`Fabric::publish_remote`](crate::Fabric::publish_remote) never come back here.
    ///
    /// Returns whether the backplane serves the message's shared-subscription groups (one member
    /// of each group across the cluster, delivered on the chosen node with
    /// [`Fabric::publish_shared`](crate::Fabric::publish_shared)). When it returns false (the
    /// message stays on this node, or the link is down), the fabric delivers it to one local
    /// member of each matching group itself.
    fn published(&self, message: &Arc<Message>) -> bool;

    /// A request published with reply topic `reply_to` found no local subscriber: resolves to
    /// whether another node has one (so the request waits for a reply instead of failing with
    /// no responders). `wait` is the request's own timeout.
    fn responders(&self, reply_to: &Topic, wait: Duration) -> Responders;
}
