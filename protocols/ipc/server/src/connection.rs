//! One connection: a reader that splits the stream into packets and routes them, and a
//! writer that drains the connection's [`Outbox`], both in the connection's task.
//!
//! The reader decodes every complete packet of a read before reading again, and adds its
//! counters to the metrics once per read. Frames are split off the read buffer without
//! copying and forwarded as they are. The size limit is checked from each frame's header
//! before its body is buffered, and nothing is reserved for an announced frame beyond the
//! read chunk: a peer that declares 4 GiB is closed after 6 bytes.
//!
//! The connection ends when the client closes it, on a protocol error or limit (closed at
//! once, counted), when its output queue overflows under the `disconnect` policy, when no
//! handshake arrives in time, or at shutdown. Except for a killed queue, what is queued is
//! flushed (for at most [`FLUSH_TIMEOUT`]) and the stream is ended with a FIN, which the
//! Node clients see as the broker closing.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use switchboard_fabric::{
    ClientControl, ClientSpec, ClientStats, HeldSubscription, Identity, Registration,
};
use switchboard_ipc_proto::PacketCodec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::broker::{Batch, Broker};
use crate::error::CloseReason;
use crate::outbox::{FLUSH_TIMEOUT, Outbox};
use crate::router::ConnId;

/// Bytes read at a time (the buffer grows beyond it only for a larger frame).
const READ_CHUNK: usize = 64 * 1024;

/// Spare room below which the read buffer gets a fresh chunk. Frames are slices of the chunk
/// they were read into, so a chunk is only replaced once it is nearly full: otherwise every
/// small frame still queued somewhere would pin a whole chunk of its own.
const MIN_SPARE: usize = 4 * 1024;

/// The read half of a connection, with what to do after each read.
pub(crate) trait ReadSide: AsyncRead + Unpin + Send {
    /// Called after every successful read (TCP: re-arm quick ACKs).
    fn after_read(&self) {}
}

impl ReadSide for tokio::net::tcp::OwnedReadHalf {
    fn after_read(&self) {
        // The stock clients write one packet in several small writes with Nagle on; with
        // delayed ACKs on our side every round trip would stall ~40 ms. Linux turns quick
        // ACK mode off again by itself, so it is re-armed after each read.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = socket2::SockRef::from(self.as_ref()).set_tcp_quickack(true);
        }
    }
}

impl ReadSide for tokio::net::unix::OwnedReadHalf {}

impl ReadSide for tokio::io::ReadHalf<tokio::io::DuplexStream> {}

/// Who a connection is, and whether its handshake may name it (a trusted local connection).
#[derive(Debug)]
pub(crate) struct Identified {
    pub(crate) identity: Identity,
    pub(crate) trusted: bool,
}

/// How the client registry reaches a connection: what it listens to and how its output queue
/// does. A kick is seen by the connection's read loop ([`Registration::kicked`]).
struct Control {
    broker: std::sync::Weak<Broker>,
    conn: ConnId,
}

impl ClientControl for Control {
    fn kick(&self) {}

    fn stats(&self) -> ClientStats {
        let Some(broker) = self.broker.upgrade() else {
            return ClientStats::default();
        };
        let subscriptions = broker.router.listeners_of(self.conn).len();
        match broker.router.outbox(self.conn) {
            Some(o) => ClientStats {
                subscriptions,
                queue_depth: o.queued_frames(),
                drops: o.drops(),
            },
            None => ClientStats {
                subscriptions,
                ..ClientStats::default()
            },
        }
    }

    fn subscriptions(&self, out: &mut Vec<HeldSubscription>) {
        if let Some(broker) = self.broker.upgrade() {
            out.extend(broker.router.listeners_of(self.conn).into_iter().map(
                |(filter, peer, count)| HeldSubscription {
                    filter,
                    holder: Some(peer),
                    count,
                },
            ));
        }
    }
}

/// Serves one accepted connection until it ends; `transport` (`tcp`, `unix`) and `remote`
/// are what the client registry lists.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve<R: ReadSide, W: AsyncWrite + Unpin + Send>(
    broker: Arc<Broker>,
    conn: ConnId,
    mut identity: Identified,
    mut reader: R,
    mut writer: W,
    quickack: bool,
    transport: &'static str,
    remote: Option<std::net::SocketAddr>,
) -> CloseReason {
    let config = &broker.config;
    let outbox = Arc::new(Outbox::new(
        config.queue_bytes,
        config.slow_consumer,
        broker.metrics.clone(),
    ));
    broker.router.add_conn(conn, outbox.clone());
    let registration = broker.fabric.clients().register(
        ClientSpec::new("ipc", identity.identity.client_id.clone(), transport)
            .remote(remote)
            .user(identity.identity.user.clone()),
        Arc::new(Control {
            broker: Arc::downgrade(&broker),
            conn,
        }),
    );
    let closing = CancellationToken::new();
    let read = async {
        let reason = read_loop(
            &broker,
            conn,
            &mut identity,
            &mut reader,
            &outbox,
            quickack,
            &registration,
        )
        .await;
        let changes = broker.router.remove_conn(conn);
        broker.apply(conn, changes);
        broker.services_changed(conn);
        if !matches!(reason, CloseReason::SlowConsumer | CloseReason::WriteFailed) {
            outbox.close();
        }
        closing.cancel();
        reason
    };
    let write = async {
        let run = outbox.run_writer(&mut writer);
        tokio::pin!(run);
        let deadline = async {
            closing.cancelled().await;
            tokio::time::sleep(FLUSH_TIMEOUT).await;
        };
        tokio::select! {
            r = &mut run => r,
            _ = deadline => {
                outbox.kill();
                Ok(false)
            }
        }
    };
    let (reason, written) = tokio::join!(read, write);
    drop(registration);
    let metrics = &broker.metrics;
    metrics.protocol.disconnected(reason.label());
    if reason.is_violation() {
        metrics.dropped(reason.label());
    }
    match (&reason, written) {
        (CloseReason::ClientClosed | CloseReason::Shutdown | CloseReason::Kicked, Ok(_)) => {
            tracing::debug!(%conn, "IPC connection closed: {reason}");
        }
        (_, Err(e)) => tracing::debug!(%conn, error = %e, "IPC connection closed: {reason}"),
        _ => tracing::info!(%conn, "IPC connection closed: {reason}"),
    }
    reason
}

async fn read_loop<R: ReadSide>(
    broker: &Arc<Broker>,
    conn: ConnId,
    identity: &mut Identified,
    reader: &mut R,
    outbox: &Outbox,
    quickack: bool,
    registration: &Registration,
) -> CloseReason {
    let codec = PacketCodec::new(broker.config.max_frame);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let handshake_deadline =
        tokio::time::Instant::now() + Duration::from_millis(broker.config.handshake_timeout_ms);
    let mut handshaken = false;
    let mut named = identity.identity.user.is_some();
    let mut batch = Batch::default();
    loop {
        loop {
            match codec.decode_raw(&mut buf) {
                Ok(Some(raw)) => {
                    if let Err(reason) =
                        broker.handle(conn, identity, raw, &mut handshaken, &mut batch)
                    {
                        broker.flush(&mut batch);
                        return reason;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    broker.flush(&mut batch);
                    return CloseReason::Protocol(e);
                }
            }
        }
        broker.flush(&mut batch);
        if !named && identity.identity.user.is_some() {
            // Named at its handshake (trust = "local").
            named = true;
            registration.set_user(identity.identity.user.clone());
        }
        if buf.capacity() - buf.len() < MIN_SPARE {
            buf.reserve(READ_CHUNK);
        }
        let read = tokio::select! {
            biased;
            _ = broker.stop.cancelled() => return CloseReason::Shutdown,
            _ = registration.kicked() => return CloseReason::Kicked,
            _ = outbox.killed() => {
                return if outbox.overflowed() {
                    CloseReason::SlowConsumer
                } else {
                    CloseReason::WriteFailed
                };
            }
            _ = tokio::time::sleep_until(handshake_deadline), if !handshaken => {
                return CloseReason::HandshakeTimeout;
            }
            r = reader.read_buf(&mut buf) => r,
        };
        match read {
            Ok(0) => return CloseReason::ClientClosed,
            Ok(n) => {
                broker.metrics.bytes_received.inc_by(n as u64);
                broker.metrics.protocol.bytes_in.inc_by(n as u64);
                if quickack {
                    reader.after_read();
                }
            }
            Err(e) => return CloseReason::Io(e),
        }
    }
}
