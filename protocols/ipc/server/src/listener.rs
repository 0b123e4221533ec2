//! Accept loops (TCP and unix socket) and binding of the unix socket.
//!
//! An accept loop only accepts: it enforces `max_connections`, sets `TCP_NODELAY`, and hands
//! the socket to a task on the service's tracker, where authentication and the connection's
//! life happen (in its own tracing span). With `trust = "local"` every connection from this
//! machine (loopback, unix socket) is let in and named at its handshake; with `trust = "none"`,
//! and for connections from other machines, it is an anonymous client of `[auth]`.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchboard_fabric::{Credentials, Identity};
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::broker::Broker;
use crate::config::IpcTrust;
use crate::connection::{self, ReadSide};

/// Binds the unix socket at `path` with permissions `mode`.
///
/// A socket file left by a previous run is replaced; a socket some process still accepts on
/// is an [`io::ErrorKind::AddrInUse`] error, and any other kind of file is refused
/// ([`io::ErrorKind::AlreadyExists`]) rather than deleted. Must be called inside a tokio
/// runtime.
pub fn bind_unix(path: &Path, mode: u32) -> io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process accepts connections on this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket exists at this path",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// Accepts TCP connections until `stop`.
pub(crate) async fn accept_tcp(broker: Arc<Broker>, listener: TcpListener, limit: Arc<Semaphore>) {
    let nodelay = broker.config.tcp_nodelay;
    loop {
        let accepted = tokio::select! {
            _ = broker.stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, remote) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "IPC accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = admit(&broker, &limit) else {
            continue;
        };
        if nodelay {
            let _ = stream.set_nodelay(true);
        }
        let (reader, writer) = stream.into_split();
        let remote = Remote {
            name: remote.to_string(),
            local: remote.ip().is_loopback(),
        };
        spawn(&broker, reader, writer, remote, permit, nodelay);
    }
}

/// Accepts unix-socket connections until `stop`, then removes the socket file.
pub(crate) async fn accept_unix(
    broker: Arc<Broker>,
    listener: UnixListener,
    limit: Arc<Semaphore>,
) {
    loop {
        let accepted = tokio::select! {
            _ = broker.stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "IPC accept failed (unix socket)");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = admit(&broker, &limit) else {
            continue;
        };
        let (reader, writer) = stream.into_split();
        let remote = Remote {
            name: "unix".to_owned(),
            local: true,
        };
        spawn(&broker, reader, writer, remote, permit, false);
    }
    if let Ok(addr) = listener.local_addr()
        && let Some(path) = addr.as_pathname()
    {
        let _ = std::fs::remove_file(path);
    }
}

fn admit(broker: &Broker, limit: &Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    match limit.clone().try_acquire_owned() {
        Ok(permit) => Some(permit),
        Err(_) => {
            broker.metrics.protocol.rejected("max_connections");
            tracing::debug!("IPC connection refused: ipc.max_connections reached");
            None
        }
    }
}

/// Where a connection comes from.
#[derive(Debug)]
pub(crate) struct Remote {
    /// The peer address (`unix` for the unix socket), for logs.
    pub(crate) name: String,
    /// Whether it is on this machine (a loopback address, or the unix socket): only local
    /// connections are trusted under `trust = "local"`.
    pub(crate) local: bool,
}

/// Runs one connection in a task on the service's tracker.
pub(crate) fn spawn<R, W>(
    broker: &Arc<Broker>,
    reader: R,
    writer: W,
    remote: Remote,
    permit: OwnedSemaphorePermit,
    quickack: bool,
) where
    R: ReadSide + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let conn = broker.next_conn_id();
    let span = tracing::info_span!("ipc", %conn, remote = %remote.name);
    let broker = Arc::clone(broker);
    broker.tracker.clone().spawn(
        async move {
            let _permit = permit;
            let client_id = conn.client_id();
            let trusted = broker.config.trust == IpcTrust::Local && remote.local;
            let identity = match trusted {
                // Named after the peer at the handshake (`Broker::handle`).
                true => Identity::anonymous(client_id),
                // Untrusted (`trust = "none"`, or another machine): an anonymous client.
                false => {
                    match broker
                        .authorizer
                        .authenticate("ipc", &client_id, &Credentials::Anonymous)
                    {
                        Ok(identity) => identity,
                        Err(e) => {
                            broker.metrics.protocol.auth_failure("credentials");
                            broker.metrics.protocol.rejected("not_authorized");
                            tracing::info!(error = %e, "IPC connection refused");
                            return;
                        }
                    }
                }
            };
            let _open = broker.metrics.protocol.connection_opened();
            tracing::debug!("IPC connection accepted");
            let identity = connection::Identified { identity, trusted };
            let (transport, address) = match remote.name.parse::<std::net::SocketAddr>() {
                Ok(a) => ("tcp", Some(a)),
                Err(_) => ("unix", None),
            };
            connection::serve(
                broker, conn, identity, reader, writer, quickack, transport, address,
            )
            .await;
        }
        .instrument(span),
    );
}
