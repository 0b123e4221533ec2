//! switchboard-bench: a load generator for MQTT, Engine.IO, Socket.IO, the electron-common-ipc
//! bus and HTTP, and the suite that measures switchboard side by side with the servers people
//! would otherwise run (mosquitto, the Node `engine.io` and `socket.io` servers, the
//! electron-common-ipc broker, nginx and node-http-proxy) on one machine, in one run, with the same pinning.
//!
//! The generator runs on a single-threaded tokio runtime (one core), pipelines pre-encoded
//! frames in batches and parses replies in place, so that it out-runs the servers it drives;
//! the `gen.*` scenarios measure it through a zero-work relay to show the headroom.
//!
//! Latency is measured from a timestamp (`TS` + 16 hex digits, [`clock`]) that senders write
//! into each payload and receivers read back; one process, one monotonic clock.
//!
//! # Layout
//! - [`clock`]: the generator's clock and the payload timestamp.
//! - [`stats`]: measurement window, counters and hdrhistogram latencies ([`stats::Recorder`]).
//! - [`net`]: TCP, a minimal WebSocket client and HTTP/1.1 client.
//! - [`mqtt`], [`eio`], [`sio`], [`ipc`], [`http`], [`cross`]: the generators per protocol.
//! - [`cluster`]: scale-out rigs (nats-server and 1 to 3 replicas) and their MQTT routes.
//! - [`relay`]: the zero-work relay used to measure the generator itself.
//! - [`procs`]: starting pinned processes, RSS and CPU from `/proc`, stopping by pid.
//! - [`peers`]: switchboard and every peer server: configs, ports, readiness.
//! - [`discover`]: which protocols a running switchboard serves.
//! - [`scenario`]: every scenario, its servers, load, unit and issue target; profiles.
//! - [`suite`]: the orchestrator and the result model.
//! - [`report`]: terminal table, JSON, SVG charts, README section.
//! - [`error`]: the error type, [`BenchError`].

pub mod clock;
pub mod cluster;
pub mod cross;
pub mod discover;
pub mod eio;
pub mod error;
pub mod http;
pub mod ipc;
pub mod mqtt;
pub mod net;
pub mod peers;
pub mod procs;
pub mod relay;
pub mod report;
pub mod scenario;
pub mod sio;
pub mod stats;
pub mod suite;

pub use error::{BenchError, Result};

/// Runs `f` on the generator's runtime: single-threaded, with a `LocalSet` for its tasks.
pub fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    Ok(local.block_on(&rt, f))
}
