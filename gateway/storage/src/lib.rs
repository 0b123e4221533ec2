//! The embedded crash-safe store of switchboard, enabled by `[storage] path`.
//!
//! It keeps what must survive a restart: the retained messages (through the fabric's
//! [`RetainedObserver`](switchboard_fabric::RetainedObserver)), the persistent MQTT sessions (the
//! broker writes them through the [`Durable`](switchboard_fabric::Durable) contract) and the
//! node id. The database is [redb](https://www.redb.org): a single file, ACID transactions, a
//! copy-on-write B-tree whose commits are atomic, so a crash at any moment leaves the last committed
//! state.
//!
//! Writes never wait: [`Store::put`] records them in a coalescing write buffer (one entry per key,
//! the latest value wins) and a writer thread commits everything pending as one transaction. What
//! a commit means depends on [`Fsync`]:
//!
//! | mode | each batch | acknowledgements wait | survives a process crash | survives a machine crash |
//! |---|---|---|---|---|
//! | `always` | committed with fsync | yes, for the batch's fsync | everything acknowledged | everything acknowledged |
//! | `interval` | committed without fsync; one fsync'd commit every interval | no | all but the last interval | all but the last interval |
//! | `never` | committed to the OS, never fsync'd | yes, for the batch's write | everything acknowledged | no: the store may be lost (it is then set aside and started empty) |
//!
//! # Layout
//! - [`store`]: [`Store`]: opening, the write buffer, the writer thread, the `Durable` contract.
//! - `backend`: the redb file backend without fsync used by `fsync = "never"`.
//! - [`retained`]: [`RetainedPersister`] and recovery of retained messages; the node id.
//! - [`metrics`]: `switchboard_storage_*` metrics.
//! - [`error`]: the error type, [`StoreError`].

mod backend;
pub mod error;
pub mod metrics;
pub mod retained;
pub mod store;

pub use error::StoreError;
pub use retained::{RetainedPersister, load_retained, node_id};
pub use store::{Fsync, Store, StoreOptions};
