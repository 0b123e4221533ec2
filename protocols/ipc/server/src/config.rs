//! The `[ipc]` configuration section.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use switchboard_fabric::OverflowPolicy;

/// Settings of the IPC-bus broker (`[ipc]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpcConfig {
    /// Whether the IPC broker runs at all. Default true.
    pub enabled: bool,
    /// TCP listener. Default `127.0.0.1:7700`.
    pub listen: SocketAddr,
    /// Optional unix socket path, served in addition to TCP. A stale socket file left by a
    /// previous run is replaced; the file is removed at shutdown.
    pub unix_socket: Option<PathBuf>,
    /// Permissions of the unix socket file, as an octal string. Default `"0660"` (owner and
    /// group may connect).
    pub unix_socket_mode: String,
    /// Largest frame accepted, in bytes, checked from the frame header before any body is
    /// buffered. Default 16 MiB.
    pub max_frame: usize,
    /// Most open connections (sockets). Default 10 000.
    pub max_connections: usize,
    /// Most registered peers (`IpcBusClient`s, one handshake each) over all connections.
    /// Default 10 000.
    pub max_peers: usize,
    /// Most peers one connection may register (clients of one process share a socket).
    /// Default 256.
    pub max_peers_per_connection: usize,
    /// Most distinct channels one connection may listen to. Default 10 000.
    pub max_channels_per_connection: usize,
    /// Capacity of each connection's output queue, in bytes (frames queued plus the batch
    /// being written). Must be at least `max_frame`. Default 64 MiB.
    pub queue_bytes: usize,
    /// What happens when a connection's output queue is full: `disconnect` (default; the
    /// slow consumer is closed), `drop_new` (the frame that does not fit is dropped) or
    /// `drop_oldest` (queued frames are dropped to make room). Every drop is counted.
    pub slow_consumer: OverflowPolicy,
    /// How long a new connection may take to send its first handshake (`HAN`), in
    /// milliseconds. Default 10 000.
    pub handshake_timeout_ms: u64,
    /// How long an IPC request bridged to the fabric waits for a fabric responder, and how
    /// long a fabric request handed to IPC listeners is remembered, in milliseconds.
    /// Default 30 000.
    pub request_timeout_ms: u64,
    /// Capacity of the bridge's fabric subscriber queue (messages from other protocols on
    /// their way to IPC listeners). Default 65 536.
    pub bridge_queue: usize,
    /// Disable Nagle's algorithm on accepted TCP connections and acknowledge promptly.
    /// Default true; without it a request/response round trip with the stock clients takes
    /// tens of milliseconds.
    pub tcp_nodelay: bool,
    /// Topic prefix added on the way in and removed on the way out. Default empty.
    pub mount: String,
    /// Who IPC connections are: `local` (default) or `none`. See [`IpcTrust`].
    pub trust: IpcTrust,
}

/// How IPC connections are authenticated (`[ipc] trust`). The electron-common-ipc protocol
/// carries no credentials, so the choice is between trusting the transport and treating every
/// peer as an anonymous client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpcTrust {
    /// Every connection from this machine (a loopback address, or the unix socket within its
    /// file permissions) is let in, also when `auth.anonymous` is off. Its identity is the
    /// `peerName` of the first peer it registers (its handshake), so `user <peerName>`
    /// sections of the ACL file apply to it; a peer without a name is an anonymous client of
    /// the ACL. Connections from other machines (when `listen` is not a loopback address) are
    /// anonymous clients, as with `none`. The default.
    #[default]
    Local,
    /// Connections are anonymous clients of `[auth]`: refused when anonymous access is off,
    /// and the ACL's anonymous rules apply.
    None,
}

impl IpcTrust {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IpcTrust::Local => "local",
            IpcTrust::None => "none",
        }
    }
}

impl Default for IpcConfig {
    fn default() -> Self {
        IpcConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            unix_socket: None,
            unix_socket_mode: "0660".to_owned(),
            max_frame: 16 * 1024 * 1024,
            max_connections: 10_000,
            max_peers: 10_000,
            max_peers_per_connection: 256,
            max_channels_per_connection: 10_000,
            queue_bytes: 64 * 1024 * 1024,
            slow_consumer: OverflowPolicy::Disconnect,
            handshake_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            bridge_queue: 65_536,
            tcp_nodelay: true,
            mount: String::new(),
            trust: IpcTrust::Local,
        }
    }
}

impl IpcConfig {
    /// The unix socket permissions as a number, when `unix_socket_mode` is valid octal.
    pub fn unix_socket_mode_bits(&self) -> Option<u32> {
        let text = self.unix_socket_mode.trim_start_matches("0o");
        u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o777)
    }

    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |key: &str, what: &str| out.push((format!("ipc.{key}"), what.to_owned()));
        if self.max_frame < 64 {
            push("max_frame", "must be at least 64 bytes");
        }
        for (key, value) in [
            ("max_connections", self.max_connections as u64),
            ("max_peers", self.max_peers as u64),
            (
                "max_peers_per_connection",
                self.max_peers_per_connection as u64,
            ),
            (
                "max_channels_per_connection",
                self.max_channels_per_connection as u64,
            ),
            ("handshake_timeout_ms", self.handshake_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("bridge_queue", self.bridge_queue as u64),
        ] {
            if value == 0 {
                push(key, "must be at least 1");
            }
        }
        if self.queue_bytes < self.max_frame {
            push(
                "queue_bytes",
                "must be at least ipc.max_frame, or the largest frame could never be queued",
            );
        }
        if self.unix_socket_mode_bits().is_none() {
            push(
                "unix_socket_mode",
                "must be an octal permission string such as \"0660\"",
            );
        }
        if self
            .unix_socket
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            push(
                "unix_socket",
                "must be a path; remove the key to disable it",
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_loopback() {
        let c = IpcConfig::default();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert!(c.listen.ip().is_loopback());
        assert_eq!(c.unix_socket_mode_bits(), Some(0o660));
    }

    #[test]
    fn problems_name_their_keys() {
        let c = IpcConfig {
            max_frame: 10,
            queue_bytes: 1,
            max_peers: 0,
            unix_socket_mode: "rw".to_owned(),
            ..IpcConfig::default()
        };
        let keys: Vec<_> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "ipc.max_frame",
                "ipc.max_peers",
                "ipc.queue_bytes",
                "ipc.unix_socket_mode"
            ]
        );
        let c = IpcConfig {
            unix_socket_mode: "0o600".to_owned(),
            ..IpcConfig::default()
        };
        assert_eq!(c.unix_socket_mode_bits(), Some(0o600));
        let c = IpcConfig {
            unix_socket_mode: "1777".to_owned(),
            ..IpcConfig::default()
        };
        assert_eq!(c.unix_socket_mode_bits(), None);
    }
}
