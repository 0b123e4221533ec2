//! The IPC-bus broker of switchboard, wire-compatible with electron-common-ipc 16 (being built; see
//! the IPC issue).
//!
//! # Layout
//! - [`config`]: the `[ipc]` settings.

pub mod config;

pub use config::IpcConfig;
