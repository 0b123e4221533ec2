//! The switchboard gateway
//!
//! # Layout
//! Placeholder until its issue lands.
