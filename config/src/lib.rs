//! Configuration schema and loading for switchboard
//!
//! # Layout
//! Placeholder until its issue lands.
