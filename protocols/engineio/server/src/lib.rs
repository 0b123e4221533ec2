//! The Engine.IO server of switchboard (being built; see the Engine.IO issue).
//!
//! # Layout
//! - [`config`]: the `[engineio]` settings.

pub mod config;

pub use config::EngineIoConfig;
