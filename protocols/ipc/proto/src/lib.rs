//! Wire codec for the ipc protocol (work in progress).
//!
//! # Layout
//! Nothing yet: this crate is filled by the ipc protocol issue.
