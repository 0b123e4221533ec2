//! MQTT broker for switchboard
//!
//! # Layout
//! Placeholder until its issue lands.
