//! `switchboard pub` / `switchboard sub` as a library (crate `switchboard-cli`) against an
//! in-process gateway: every option over the protocols that take it, the exit codes, the
//! cross-protocol path (IPC → Engine.IO and MQTT), and reconnection across a gateway restart.
//! The binary itself (`CARGO_BIN_EXE_switchboard`) and the mosquitto interop are tested in
//! gateway/app/tests/cli_clients.rs.
//!
//! - [`publish`]: payload sources, QoS, retain, client id, keep-alive, MQTT 5 properties and
//!   kinds, `--repeat`, wills, TLS options, `--extra-headers`, `-l` on a quiet stdin,
//!   `--request`.
//! - [`subscribe`]: output modes, retained messages, several filters, `-E`, `-W`, IPC → Engine.IO
//!   and MQTT, the IPC identity, `ipc+unix://`, reconnection and its retries.
//! - [`failures`]: the exit codes for an unreachable gateway, refused credentials, denied topics
//!   and timeouts.
//! - [`support`]: the helpers.

mod failures;
mod publish;
mod subscribe;
mod support;
