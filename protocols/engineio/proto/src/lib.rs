//! Wire codec for the engineio protocol (work in progress).
//!
//! # Layout
//! Nothing yet: this crate is filled by the engineio protocol issue.
