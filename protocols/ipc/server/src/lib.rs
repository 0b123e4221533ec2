//! The IPC-bus broker of switchboard, wire-compatible with **electron-common-ipc 16.x**.
//!
//! Node and Electron processes that use `electron-common-ipc` 16 point
//! `CreateIpcBusClient().connect(port | path)` at switchboard instead of a Node `BusBroker`
//! and keep working unchanged: the broker keeps the same state (peers, channel listeners)
//! and routes the same way, forwarding message frames byte for byte. Releases before 16 speak
//! other, incompatible dialects and are not supported (their handshake is refused with
//! `pre_v16_client` in the metrics); the Electron `IpcBusBridge` mode is not supported either.
//!
//! On top of the Node broker, switchboard:
//! - bridges channels to the fabric, so IPC peers exchange messages and requests with MQTT
//!   devices and Engine.IO browsers ([`bridge`](mod@bridge));
//! - closes what the Node broker tolerates or trips on: oversized frames (checked from the
//!   header), garbage, unknown commands, handshake-less sockets, peers over the limits;
//! - bounds each connection's output queue with a slow-consumer policy;
//! - sets `TCP_NODELAY` and quick ACKs, so a request/response round trip with the stock
//!   clients takes well under a millisecond instead of ~88 ms;
//! - counts everything (`switchboard_ipc_*`, plus the shared `protocol="ipc"` metrics).
//!
//! A request whose responder disconnects before answering is handled as by the Node broker:
//! the broker keeps no request state, and the requester's own timeout rejects it.
//!
//! # Layout
//! - [`config`]: the `[ipc]` settings ([`IpcConfig`]).
//! - [`router`]: the routing table: connections, peers, channel listeners ([`ConnId`]).
//! - `broker`: what each packet does; the state shared by all tasks.
//! - [`bridge`](mod@bridge): channels ↔ fabric topics, payloads, requests and replies.
//! - [`query`]: the requests the broker answers itself (`queryState`, `serviceAvailable`).
//! - [`services`]: the electron-common-ipc services IPC peers provide ([`ServiceDirectory`]).
//! - [`outbox`]: the bounded output queue of a connection and its vectored writer.
//! - `connection`: one connection's read and write loops.
//! - [`listener`]: TCP and unix-socket accept loops, [`bind_unix`].
//! - [`metrics`](mod@metrics): [`IpcMetrics`], drop reasons.
//! - [`error`]: [`IpcError`], [`CloseReason`].

pub mod bridge;
mod broker;
pub mod config;
mod connection;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod outbox;
pub mod query;
pub mod router;
pub mod services;

use std::sync::Arc;

use prometheus::Registry;
use switchboard_fabric::{Authorizer, Fabric, OverflowPolicy, SubscriberSpec};
use switchboard_ipc_proto::Peer;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use bridge::ERROR_PROPERTY;
pub use config::{IpcConfig, IpcTrust};
pub use error::{CloseReason, IpcError};
pub use listener::bind_unix;
pub use metrics::IpcMetrics;
pub use query::{QUERY_STATE_CHANNEL, QueryState, SERVICE_AVAILABLE_CHANNEL};
pub use router::ConnId;
pub use services::{ServiceDirectory, ServiceInfo};

use crate::broker::Broker;

/// A snapshot of the broker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcStats {
    /// Open connections.
    pub connections: usize,
    /// Registered peers.
    pub peers: usize,
    /// Channels with at least one listener.
    pub channels: usize,
    /// Fabric requests handed to IPC listeners and not answered yet.
    pub pending_fabric_requests: usize,
}

/// The IPC service: build it with [`IpcService::new`], run it with [`IpcService::serve`].
#[derive(Debug)]
pub struct IpcService {
    broker: Arc<Broker>,
}

/// A cheap handle on a running service, for statistics.
#[derive(Debug, Clone)]
pub struct IpcHandle {
    broker: Arc<Broker>,
}

impl IpcService {
    /// Builds the service and registers the `switchboard_ipc_*` metrics on `registry`.
    /// Nothing runs until [`IpcService::serve`].
    pub fn new(
        config: IpcConfig,
        fabric: Fabric,
        authorizer: Arc<dyn Authorizer>,
        registry: &Registry,
    ) -> Result<IpcService, IpcError> {
        if let Some((key, what)) = config.problems().into_iter().next() {
            return Err(IpcError::Config { key, what });
        }
        let metrics = IpcMetrics::register(registry, fabric.metrics().protocol("ipc"))?;
        let broker = Broker::new(
            config,
            fabric,
            authorizer,
            metrics,
            CancellationToken::new(),
            TaskTracker::new(),
        );
        Ok(IpcService {
            broker: Arc::new(broker),
        })
    }

    /// A handle for statistics, valid while and after the service runs.
    pub fn handle(&self) -> IpcHandle {
        IpcHandle {
            broker: self.broker.clone(),
        }
    }

    /// The directory of the services IPC peers provide (electron-common-ipc's
    /// `isServiceAvailable`), for the HTTP API. Take it before [`IpcService::serve`]
    /// consumes the service; it follows the running broker.
    pub fn services(&self) -> ServiceDirectory {
        ServiceDirectory::new(self.broker.clone())
    }

    /// Serves `tcp` and, when given, `unix` until `stop` is cancelled. The bridge and every
    /// connection run as tasks of their own; once `stop` fires the accept loops end, each
    /// connection flushes what is queued for it and ends its stream (the Node clients see
    /// the broker close), and this future returns when all of them are done. Spawn it on
    /// the gateway's task tracker so that shutdown waits for the drain.
    pub async fn serve(
        self,
        tcp: TcpListener,
        unix: Option<UnixListener>,
        stop: CancellationToken,
    ) {
        let broker = self.broker;
        let sub = broker.fabric.subscriber(
            SubscriberSpec::new("ipc", "ipc-bridge")
                .capacity(broker.config.bridge_queue)
                .policy(OverflowPolicy::DropOldest)
                .internal(),
        );
        let _ = broker.bridge_sub.set(sub.id());
        broker.tracker.spawn(broker.clone().run_bridge(sub));
        let limit = Arc::new(Semaphore::new(broker.config.max_connections));
        if let Some(unix) = unix {
            broker
                .tracker
                .spawn(listener::accept_unix(broker.clone(), unix, limit.clone()));
        }
        broker
            .tracker
            .spawn(listener::accept_tcp(broker.clone(), tcp, limit));
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = broker.stop.cancelled() => {}
        }
        broker.stop.cancel();
        broker.tracker.close();
        broker.tracker.wait().await;
    }
}

impl IpcHandle {
    /// The broker's counters right now.
    pub fn stats(&self) -> IpcStats {
        let router = &self.broker.router;
        IpcStats {
            connections: router.conn_count(),
            peers: router.peer_count(),
            channels: router.channel_count(),
            pending_fabric_requests: self.broker.bridge.pending_count(),
        }
    }

    /// The metrics.
    pub fn metrics(&self) -> &IpcMetrics {
        &self.broker.metrics
    }

    /// The gateway's own peer identity on the bus (sender of bridged messages).
    pub fn gateway_peer(&self) -> &Peer {
        &self.broker.gateway
    }

    /// The directory of the services IPC peers provide.
    pub fn services(&self) -> ServiceDirectory {
        ServiceDirectory::new(self.broker.clone())
    }

    /// What the broker answers on [`QUERY_STATE_CHANNEL`]: every listener of every
    /// protocol, in the shape of the Node broker's `QueryStateBroker`.
    pub fn query_state(&self) -> QueryState {
        self.broker.query_state()
    }

    /// Whether an IPC connection listens to `channel`.
    pub fn has_listeners(&self, channel: &str) -> bool {
        self.broker.router.has_listeners(channel)
    }
}
