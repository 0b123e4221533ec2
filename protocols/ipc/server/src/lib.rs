//! IPC-bus broker for switchboard
//!
//! # Layout
//! Placeholder until its issue lands.
