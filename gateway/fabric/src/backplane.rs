//! The seam to other gateway nodes: a [`Backplane`] (the NATS cluster link) is told which filters
//! this node's subscribers need and which messages entered here, and injects what other nodes
//! publish through [`Fabric::publish_remote`](crate::Fabric::publish_remote).
//!
//! The fabric stays protocol- and transport-neutral: it only calls the three methods below, never
//! holding a lock while doing so, and never waits for them (except [`Backplane::responders`], which
//! [`Fabric::request`](crate::Fabric::request) awaits when no local subscriber took a request).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::message::Message;
use crate::topic::{Topic, TopicFilter};

/// A future the fabric awaits: whether some other node has a subscriber for a request.
pub type Responders = Pin<Box<dyn Future<Output = bool> + Send + 'static>>;

/// Connects a fabric to the other nodes of a cluster. Installed once with
/// [`Fabric::set_backplane`](crate::Fabric::set_backplane).
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// Local interest in `filter` may have changed: its first subscription appeared or its last
    /// one went. Called after the index changed, with no lock held; calls for one filter may race,
    /// so read the current state with [`Fabric::has_interest`](crate::Fabric::has_interest)
    /// rather than trusting the order of calls. Must not block.
    fn interest_changed(&self, filter: &TopicFilter);

    /// A message that entered on this node (its `origin.node` is `None`) was published; it was
    /// already delivered to local subscribers. Forward it if other nodes may want it. Must not
    /// block. Messages injected with [`Fabric::publish_remote`](crate::Fabric::publish_remote)
    /// never come back here.
    fn published(&self, message: &Arc<Message>);

    /// A request published with reply topic `reply_to` found no local subscriber: resolves to
    /// whether another node has one (so the request waits for a reply instead of failing with
    /// no responders). `wait` is the request's own timeout.
    fn responders(&self, reply_to: &Topic, wait: Duration) -> Responders;
}
