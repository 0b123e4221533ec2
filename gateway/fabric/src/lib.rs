//! The protocol-neutral publish/subscribe fabric of switchboard.
//!
//! Every protocol bridge turns its frames into [`Message`]s and publishes them here; every client
//! that wants messages holds a [`Subscriber`] with its own bounded queue. The fabric knows no
//! protocol: it routes by topic, keeps retained values, and answers requests.
//!
//! ```
//! use switchboard_fabric::{Fabric, Message, SubOptions, SubscriberSpec, Topic, TopicFilter};
//!
//! # tokio_test_block_on(async {
//! let fabric = Fabric::standalone();
//! let mut sub = fabric.subscriber(SubscriberSpec::new("doc", "reader"));
//! sub.subscribe(TopicFilter::new("plant/+/temp").unwrap(), SubOptions::default());
//! fabric.publish(Message::text(Topic::new("plant/1/temp").unwrap(), "21.5"));
//! let delivery = sub.recv().await.unwrap();
//! assert_eq!(delivery.message.payload_str(), Some("21.5"));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! # Layout
//! - [`topic`]: [`Topic`] and [`TopicFilter`] newtypes, MQTT validation and matching rules.
//! - [`message`]: the [`Message`] envelope, [`PayloadKind`], [`Qos`], [`Origin`].
//! - `index`: the subscription index (exact-match map plus wildcard trie, pruned when emptied).
//! - [`subscriber`]: [`Subscriber`] with its bounded queue and [`OverflowPolicy`], [`Delivery`].
//! - `retained`: the retained store (a trie of levels, bounded by count and bytes).
//! - [`fabric`]: [`Fabric`]: publish, subscribe, retained values, request/reply, listings.
//! - [`clients`]: the [`ClientRegistry`] of connected clients of every protocol (listing,
//!   counters, kick), which each protocol feeds through a [`Registration`].
//! - [`backplane`]: the [`Backplane`] a cluster link implements: interest changes, locally
//!   published messages (and whether it picks the member of each shared group across the
//!   cluster), remote responders; remote messages come in through [`Fabric::publish_remote`],
//!   [`Fabric::publish_shared`] and [`Fabric::apply_retained`].
//! - [`metrics`]: Prometheus metrics, including the per-protocol [`ProtocolMetrics`] bridges use.
//! - [`auth`]: the [`Authorizer`] contract every protocol enforces.
//! - [`sys`]: `$SYS/switchboard/...` statistics.
//! - [`config`]: the `[fabric]` settings.
//! - [`durable`]: the [`Durable`] store contract (tickets, [`durable::tracked`]) and the record
//!   format of a message, for state kept across restarts.
//! - [`error`]: error types.
//!
//! # Invariants
//! - No lock is held across an `.await`; publishing never waits for a subscriber.
//! - Every queue is bounded and every drop is counted in `switchboard_dropped_total`.
//! - A payload is never copied for fan-out: deliveries share one `Arc<Message>`.

pub mod auth;
pub mod backplane;
pub mod clients;
pub mod config;
pub mod durable;
pub mod error;
pub mod fabric;
mod index;
pub mod message;
pub mod metrics;
mod retained;
pub mod subscriber;
pub mod sys;
pub mod topic;

pub use auth::{Access, AllowAll, AuthError, Authorizer, Credentials, Identity};
pub use backplane::{Backplane, Interest, Responders};
pub use clients::{
    ClientControl, ClientId, ClientInfo, ClientPage, ClientQuery, ClientRegistry, ClientSpec,
    ClientStats, HeldSubscription, Kick, NoControl, Registration,
};
pub use config::FabricConfig;
pub use durable::{Durable, Ticket};
pub use error::{Closed, FabricError, RequestError, TopicError};
pub use fabric::{Fabric, FabricStats, REPLY_PREFIX, RetainedObserver, SubscriptionInfo};
pub use message::{Message, Origin, PayloadKind, Property, Qos};
pub use metrics::{ConnectionGuard, FabricMetrics, ProtocolMetrics};
pub use retained::RetainedChange;
pub use subscriber::{
    Delivery, OverflowPolicy, QueueObserver, Replay, SubOptions, Subscriber, SubscriberHandle,
    SubscriberId, SubscriberSpec,
};
pub use topic::{Topic, TopicFilter};
