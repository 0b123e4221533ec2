//! The `[ipc]` configuration section.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Settings of the IPC-bus broker (`[ipc]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpcConfig {
    /// Whether the IPC broker runs at all. Default true.
    pub enabled: bool,
    /// TCP listener. Default `127.0.0.1:7700`.
    pub listen: SocketAddr,
    /// Optional unix socket path, served in addition to TCP.
    pub unix_socket: Option<PathBuf>,
    /// Largest frame accepted, in bytes. Default 16 MiB.
    pub max_frame: usize,
    /// Most connected peers. Default 10 000.
    pub max_peers: usize,
    /// Topic prefix added on the way in and removed on the way out. Default empty.
    pub mount: String,
}

impl Default for IpcConfig {
    fn default() -> Self {
        IpcConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            unix_socket: None,
            max_frame: 16 * 1024 * 1024,
            max_peers: 10_000,
            mount: String::new(),
        }
    }
}

impl IpcConfig {
    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.max_frame < 64 {
            out.push((
                "ipc.max_frame".to_owned(),
                "must be at least 64 bytes".to_owned(),
            ));
        }
        if self.max_peers == 0 {
            out.push(("ipc.max_peers".to_owned(), "must be at least 1".to_owned()));
        }
        out
    }
}
