//! Wire codec for the mqtt protocol (work in progress).
//!
//! # Layout
//! Nothing yet: this crate is filled by the mqtt protocol issue.
