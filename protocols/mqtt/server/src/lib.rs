//! The MQTT 3.1.1 and 5.0 broker of switchboard (being built; see the MQTT issue).
//!
//! # Layout
//! - [`config`]: the `[mqtt]` settings.

pub mod config;

pub use config::MqttConfig;
