//! Test harness and scenario tests for switchboard
//!
//! # Layout
//! Placeholder until its issue lands.
