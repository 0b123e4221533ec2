//! The protocol-neutral pub/sub fabric of switchboard
//!
//! # Layout
//! Placeholder until its issue lands.
