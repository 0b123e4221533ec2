//! HTTP and WebSocket reverse proxy for switchboard
//!
//! # Layout
//! Placeholder until its issue lands.
