//! The NATS backplane of switchboard: several gateway replicas share one topic space.
//!
//! A [`Cluster`] is one node's link. It implements the fabric's
//! [`Backplane`](switchboard_fabric::Backplane): each message that enters on this node is published
//! once on NATS (subject `<prefix>.t.<topic>`, envelope in [`wire`]); the node subscribes on NATS
//! only to the subjects its own subscribers' filters need ([`subject`] maps MQTT wildcards to NATS
//! ones and escapes what NATS treats specially); messages from other nodes are injected with their
//! origin node set and are never sent back out. Retained values are shared through a JetStream
//! stream ([`retained`]), replies to requests are routed to the node that waits for them, and
//! Engine.IO polling requests that reach the wrong node are forwarded to their session's owner
//! ([`http`]). While NATS is unreachable local traffic flows and messages for other nodes wait in
//! a bounded buffer ([`outbound`]), sent once the link and the other nodes are back ([`presence`]).
//!
//! # Layout
//! - [`link`]: [`Cluster`]: connection, the fabric hooks, the writer, readers and interest tasks.
//! - [`connect`]: NATS connection options from `[cluster]`, and which keys a failure points at.
//! - [`subject`]: topic ↔ subject mapping and every subject the cluster uses.
//! - [`wire`]: the message envelope.
//! - [`outbound`]: the bounded outbound buffer, replayed after a reconnection.
//! - [`presence`]: hellos between nodes, waiting for peers after a reconnection.
//! - [`retained`]: the retained stream.
//! - [`acks`]: "a subscriber took your request" answers for cross-node requests.
//! - [`dedupe`]: dropping the second copy of a message matching two subscriptions.
//! - [`interest`]: NATS subscriptions following local interest; shared subscriptions across
//!   nodes through NATS queue groups.
//! - [`http`]: forwarding HTTP requests to the node owning an Engine.IO session.
//! - [`metrics`]: the metrics, all named `switchboard_cluster_*`.
//! - [`error`]: the [`ClusterError`] type.

pub mod acks;
pub mod connect;
pub mod dedupe;
pub mod error;
pub mod http;
pub mod interest;
pub mod link;
pub mod metrics;
pub mod outbound;
pub mod presence;
pub mod retained;
pub mod subject;
pub mod wire;

pub use error::ClusterError;
pub use link::{Cluster, LinkState};
pub use metrics::Metrics;
