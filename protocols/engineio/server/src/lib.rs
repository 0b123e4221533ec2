//! Engine.IO server for switchboard
//!
//! # Layout
//! Placeholder until its issue lands.
