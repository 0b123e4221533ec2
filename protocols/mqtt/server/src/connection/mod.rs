//! One client connection: the CONNECT handshake, then a single task that reads packets, writes
//! acknowledgements and deliveries, and watches keep-alive, takeover and shutdown.
//!
//! # Event loop
//! Each turn waits (with `select!`, every branch cancel-safe) for one of: the broker's kick
//! (a takeover request or the shutdown), an operator's kick (admin API), socket I/O (a read, or
//! progress on pending output), deliveries from the fabric subscriber, acknowledgements becoming
//! durable, or the timer (keep-alive at 1.5× the negotiated interval, a write making no
//! progress). Then it handles everything that is ready without waiting: every complete packet
//! in the read buffer, and up to [`DELIVERY_BATCH`] deliveries drained into one write buffer.
//!
//! # Backpressure and memory
//! Output is bounded by [`WRITE_HIGH`]: above it the loop neither reads packets nor drains
//! deliveries, so a client that stops reading fills its own bounded fabric queue (counted drops)
//! and is disconnected once writing makes no progress for `write_timeout_ms`. Read and write
//! buffers are released whenever they are empty, so an idle plain-TCP connection holds none.
//!
//! An idle connection's memory is mostly its task, which tokio allocates in 128-byte steps: the
//! task's future holds only the event loop (the handshake, TLS and the goodbye are boxed; the
//! waits are poll functions on state kept in the boxed [`State`], not futures of their own;
//! shutdown arrives through the kick channel instead of a wait on the stop token), so that a
//! plain TCP connection's task stays at 512 bytes (a test checks the future's size).
//!
//! # Layout
//! - `connect`: reading and validating CONNECT, authentication, session attach, CONNACK.
//! - `inbound`: every packet a connected client may send.
//! - `outbound`: deliveries → PUBLISH (topic aliases, flow control, size limits) and re-sends.

mod connect;
mod inbound;
mod outbound;

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use switchboard_fabric::{
    ClientSpec, Closed, ConnectionGuard, Delivery, Identity, NoControl, Origin, Registration,
};
use switchboard_mqtt_proto::{
    Decoder, Disconnect, DisconnectProperties, MqttString, ProtocolVersion, ReasonCode, Will,
};
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::time::Instant;
use tokio_util::sync::ReusableBoxFuture;

use crate::bridge::{InboundTopics, OutboundTopics};
use crate::broker::{Kick, Shared, Takeover};
use crate::metrics::Tally;
use crate::session::{PendingWill, Session};
use crate::transport::Transport;

use self::outbound::OutAliases;

/// Output above which the loop stops reading and draining deliveries.
pub const WRITE_HIGH: usize = 64 * 1024;

/// Most deliveries drained per turn.
pub const DELIVERY_BATCH: usize = 256;

/// Most acknowledgements held for durability per connection; beyond it the loop stops reading, so
/// a client cannot publish faster than the store makes its messages durable.
pub const MAX_HELD_ACKS: usize = 1024;

/// PUBACK/PUBREC packets waiting for the store to make what they acknowledge durable, in the
/// order of their PUBLISH packets.
pub(crate) struct HeldAcks {
    /// The store's durable ticket, read when releasing.
    rx: tokio::sync::watch::Receiver<u64>,
    /// Resolves when the durable ticket moves (it owns its own receiver). Kept here, boxed once,
    /// so that the event loop waits on it through a poll function instead of holding a
    /// `changed()` future in every connection's task.
    changed: ReusableBoxFuture<'static, Changed>,
    /// (ticket to wait for, 0: none; the encoded packet).
    queue: VecDeque<(u64, BytesMut)>,
}

/// What the wait for a durable ticket yields: whether the store is still there, and the receiver
/// to wait with again.
type Changed = (bool, tokio::sync::watch::Receiver<u64>);

async fn durable_changed(mut rx: tokio::sync::watch::Receiver<u64>) -> Changed {
    let alive = rx.changed().await.is_ok();
    (alive, rx)
}

impl std::fmt::Debug for HeldAcks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldAcks")
            .field("durable", &*self.rx.borrow())
            .field("queue", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl HeldAcks {
    pub(crate) fn new(rx: tokio::sync::watch::Receiver<u64>) -> Self {
        let mut waiter = rx.clone();
        waiter.mark_unchanged();
        HeldAcks {
            rx,
            changed: ReusableBoxFuture::new(durable_changed(waiter)),
            queue: VecDeque::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn push(&mut self, ticket: u64, packet: BytesMut) {
        self.queue.push_back((ticket, packet));
    }

    /// Moves the acknowledgements whose tickets are durable to `out`.
    fn release(&mut self, out: &mut BytesMut) {
        let durable = *self.rx.borrow_and_update();
        while self.queue.front().is_some_and(|(t, _)| *t <= durable) {
            if let Some((_, p)) = self.queue.pop_front() {
                out.extend_from_slice(&p);
            }
        }
    }

    /// Ready when the durable ticket moved (never once the store is gone).
    fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (alive, rx) = ready!(self.changed.poll(cx));
        if alive {
            self.changed.set(durable_changed(rx));
            Poll::Ready(())
        } else {
            self.changed.set(std::future::pending());
            Poll::Pending
        }
    }
}

fn poll_durable(held: &mut Option<Box<HeldAcks>>, cx: &mut Context<'_>) -> Poll<()> {
    match held {
        Some(h) => h.poll_changed(cx),
        None => Poll::Pending,
    }
}

/// How long a goodbye (DISCONNECT, CONNACK with an error) may take to write.
pub const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

/// What woke the event loop.
#[derive(Debug)]
enum Event {
    Io(IoEvent),
    Delivery(Result<Delivery, Closed>),
    Timer,
    Durable,
}

/// What the event loop learned from the socket.
#[derive(Debug)]
enum IoEvent {
    Read(usize),
    Wrote,
    Blocked,
    Error(io::Error),
}

/// A transport with its read and write buffers.
#[derive(Debug)]
pub(crate) struct Io<T> {
    pub(crate) transport: T,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    needs_flush: bool,
    /// When writing last stopped making progress (output pending, socket full).
    blocked_since: Option<Instant>,
}

impl<T: Transport> Io<T> {
    pub(crate) fn new(transport: T) -> Self {
        Io {
            transport,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            needs_flush: false,
            blocked_since: None,
        }
    }

    /// Writes pending output, then reads (when `can_read`).
    fn poll_io(&mut self, cx: &mut Context<'_>, can_read: bool) -> Poll<IoEvent> {
        if !self.wbuf.is_empty() {
            match self.transport.poll_write_from(cx, &self.wbuf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(IoEvent::Error(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.wbuf.advance(n);
                    self.needs_flush = true;
                    self.blocked_since = None;
                    return Poll::Ready(IoEvent::Wrote);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Error(e)),
                Poll::Pending => {
                    if self.blocked_since.is_none() {
                        self.blocked_since = Some(Instant::now());
                        return Poll::Ready(IoEvent::Blocked);
                    }
                }
            }
        } else if self.needs_flush {
            match self.transport.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Error(e)),
                Poll::Pending => {}
            }
        }
        if can_read {
            match self.transport.poll_read_into(cx, &mut self.rbuf) {
                Poll::Ready(Ok(n)) => return Poll::Ready(IoEvent::Read(n)),
                Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Error(e)),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// Writes and flushes everything pending, then closes the write side, within `limit`.
    pub(crate) async fn finish(&mut self, limit: Duration) {
        let done = async {
            while !self.wbuf.is_empty() {
                match poll_fn(|cx| self.transport.poll_write_from(cx, &self.wbuf)).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => self.wbuf.advance(n),
                }
            }
            let _ = poll_fn(|cx| self.transport.poll_flush(cx)).await;
            let _ = poll_fn(|cx| self.transport.poll_shutdown(cx)).await;
        };
        let _ = tokio::time::timeout(limit, done).await;
    }

    /// Releases empty buffers so an idle connection holds none.
    fn trim(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            self.wbuf = BytesMut::new();
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The client sent DISCONNECT (`true`: with reason 0x04, publish the will).
    ClientDisconnect { with_will: bool },
    /// The stream ended without DISCONNECT.
    Eof,
    /// I/O failed.
    IoError,
    /// Nothing received within 1.5 × keep-alive.
    KeepAlive,
    /// Writing made no progress for `write_timeout_ms`.
    SlowConsumer,
    /// Another connection took the session over.
    TakenOver,
    /// The gateway shuts down.
    Shutdown,
    /// The client broke the protocol; the reason code was sent to MQTT 5 clients.
    Protocol(ReasonCode, &'static str),
    /// An operator disconnected the client (admin API).
    Kicked,
}

impl End {
    fn label(self) -> &'static str {
        match self {
            End::ClientDisconnect { .. } => "client_disconnect",
            End::Eof => "eof",
            End::IoError => "io_error",
            End::KeepAlive => "keepalive_timeout",
            End::SlowConsumer => "slow_consumer",
            End::TakenOver => "session_taken_over",
            End::Shutdown => "server_shutdown",
            End::Protocol(..) => "protocol_error",
            End::Kicked => "admin_kick",
        }
    }

    /// The DISCONNECT reason sent to an MQTT 5 client, if any.
    fn goodbye(self) -> Option<ReasonCode> {
        match self {
            End::KeepAlive => Some(ReasonCode::KeepAliveTimeout),
            End::TakenOver => Some(ReasonCode::SessionTakenOver),
            End::Shutdown => Some(ReasonCode::ServerShuttingDown),
            End::Protocol(code, _) => Some(code),
            End::Kicked => Some(ReasonCode::AdministrativeAction),
            _ => None,
        }
    }

    fn publishes_will(self) -> bool {
        !matches!(self, End::ClientDisconnect { with_will: false })
    }
}

/// The state of a connected client.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) shared: Arc<Shared>,
    pub(crate) version: ProtocolVersion,
    pub(crate) decoder: Decoder,
    pub(crate) identity: Identity,
    pub(crate) session: Box<Session>,
    pub(crate) will: Option<Box<Will>>,
    /// Keep-alive window (1.5 × the interval) in milliseconds; zero: none.
    pub(crate) keep_alive_ms: u32,
    pub(crate) last_read: Instant,
    /// Most QoS 1/2 messages in flight to the client.
    pub(crate) send_quota: u16,
    /// Largest packet the client accepts.
    pub(crate) client_max_packet: u32,
    /// Most topic aliases the client accepts from us.
    pub(crate) client_alias_max: u16,
    /// Whether reason strings may be sent (MQTT 5 Request Problem Information).
    pub(crate) problem_info: bool,
    /// Topic caches and aliases, allocated on the first PUBLISH in either direction.
    pub(crate) topics: Option<Box<Topics>>,
    /// Acknowledgements waiting for durability (with a store whose fsync mode makes them wait).
    pub(crate) held: Option<Box<HeldAcks>>,
    /// The connection's entry in the fabric's client registry (admin listing and kick).
    pub(crate) registration: Option<Registration>,
    /// The connection's generation in the broker's session registry.
    pub(crate) generation: u64,
    /// Fires when another connection takes the session over or the broker stops; `None` once
    /// it fired.
    pub(crate) kick: Option<oneshot::Receiver<Kick>>,
    /// The listener slot and the connection gauge, released when the connection ends.
    pub(crate) slot: Option<Slot>,
}

/// Per-connection topic state: conversion caches and topic aliases.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    pub(crate) inbound: InboundTopics,
    pub(crate) outbound: OutboundTopics,
    /// Client → server aliases (index = alias − 1).
    pub(crate) in_aliases: Vec<Option<switchboard_fabric::Topic>>,
    /// Server → client aliases.
    pub(crate) out_aliases: Option<OutAliases>,
}

impl State {
    /// Whether another delivery may be taken from the queue now.
    fn can_deliver(&self) -> bool {
        self.session.inflight.len() < usize::from(self.send_quota)
    }

    /// Keep-alive window (1.5 × the interval); zero: none.
    pub(crate) fn keep_alive(&self) -> Duration {
        Duration::from_millis(u64::from(self.keep_alive_ms))
    }

    /// Where the client's messages come from: its client id, and its subscriber (for no-local).
    pub(crate) fn origin(&self) -> Origin {
        let origin = Origin::new(
            self.shared.protocol.clone(),
            self.identity.client_id.clone(),
        );
        match &self.session.subscriber {
            Some(s) => origin.with_subscriber(s.id()),
            None => origin,
        }
    }

    /// A reason string, when the client accepts them.
    pub(crate) fn reason(&self, text: &'static str) -> Option<MqttString> {
        (self.version.is_v5() && self.problem_info)
            .then(|| MqttString::from_static(text).ok())
            .flatten()
    }
}

/// Ready once the broker kicked the connection (takeover, shutdown); the channel is then gone.
fn poll_kick(
    kick: &mut Option<oneshot::Receiver<Kick>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Kick, oneshot::error::RecvError>> {
    let Some(rx) = kick else {
        return Poll::Pending;
    };
    let got = ready!(Pin::new(rx).poll(cx));
    *kick = None;
    Poll::Ready(got)
}

/// Ready once an operator kicked the connection (admin API).
fn poll_kicked(registration: &Option<Registration>, cx: &mut Context<'_>) -> Poll<()> {
    match registration {
        Some(r) => r.poll_kicked(cx),
        None => Poll::Pending,
    }
}

/// The next delivery: restored ones first, then the fabric queue.
fn poll_delivery(session: &mut Session, cx: &mut Context<'_>) -> Poll<Result<Delivery, Closed>> {
    if let Some(d) = session.take_restored() {
        return Poll::Ready(Ok(d));
    }
    match &mut session.subscriber {
        Some(s) => s.poll_recv(cx),
        None => Poll::Pending,
    }
}

/// What a connection's task starts with besides its transport. Boxed, and released after the
/// handshake, so that an established connection's task does not carry it.
#[derive(Debug)]
pub(crate) struct Hello {
    /// The broker.
    pub(crate) shared: Arc<Shared>,
    /// The peer's address.
    pub(crate) peer: SocketAddr,
    /// The client certificate's common name, when it is used as the user name.
    pub(crate) cert_identity: Option<String>,
    /// The transport's label in the client registry: `tcp`, `tls`, `ws`.
    pub(crate) label: &'static str,
    /// The listener's connection slot, held until the connection ends.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

/// Serves one connection from its first byte to its close.
///
/// An idle connection's memory is mostly this future (in its task) and the boxed state, so
/// only the event loop's state lives in it: the handshake and the goodbye are boxed futures,
/// and the start-up values in `hello` are released after the handshake.
pub(crate) async fn serve<T: Transport>(io: Box<Io<T>>, hello: Box<Hello>) {
    let started = Box::pin(start(io, hello)).await;
    if let Some((io, state)) = started {
        run(io, state).await;
    }
}

/// The handshake: the connection's state once CONNACK is sent, `None` when it was refused or
/// closed.
async fn start<T: Transport>(
    mut io: Box<Io<T>>,
    mut hello: Box<Hello>,
) -> Option<(Box<Io<T>>, Box<State>)> {
    let guard = hello.shared.proto.connection_opened();
    let shared = hello.shared.clone();
    let cert_identity = hello.cert_identity.take();
    let handshake = tokio::select! {
        a = connect::handshake(&shared, &mut io, hello.peer, cert_identity, hello.label) => a,
        // A connection still in its handshake when the gateway stops is simply closed.
        _ = shared.stop.cancelled() => None,
    };
    let Some(mut state) = handshake else {
        io.finish(GOODBYE_TIMEOUT).await;
        return None;
    };
    state.slot = Some(Slot {
        _guard: guard,
        _permit: hello.permit.take(),
    });
    tracing::Span::current().record("client_id", &*state.identity.client_id);
    Some((io, state))
}

/// What the connection holds for its listener and metrics until it ends.
#[derive(Debug)]
pub(crate) struct Slot {
    _guard: ConnectionGuard,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Lists the connection in the fabric's client registry, with the session's subscriber.
pub(crate) fn register(state: &mut State, peer: SocketAddr, label: &'static str) {
    let shared = &state.shared;
    let spec = ClientSpec::new(
        shared.protocol.clone(),
        state.identity.client_id.clone(),
        label,
    )
    .remote(Some(peer))
    .user(state.identity.user.clone());
    let registration = shared.fabric.clients().register(spec, NoControl::shared());
    if let Some(s) = &state.session.subscriber {
        registration.attach(s.handle());
    }
    state.registration = Some(registration);
}

async fn run<T: Transport>(mut io: Box<Io<T>>, mut state: Box<State>) {
    state.shared.stats.client_connected();
    state.shared.metrics.sessions("online").inc();
    // The broker tells connections about the stop through their kick channel, except those
    // attached after it (see `Shared::attach`).
    let first = if state.shared.stop.is_cancelled() {
        Some(End::Shutdown)
    } else {
        let mut tally = Tally::default();
        outbound::resend(&mut state, &mut io.wbuf, &mut tally);
        // Packets that arrived together with CONNECT.
        let end = if io.rbuf.is_empty() {
            None
        } else {
            inbound::handle_buffer(&mut state, &mut io, &mut tally)
        };
        flush_tally(&state.shared, &mut tally);
        end
    };
    if let Some(end) = first {
        Box::pin(close(io, state, end, None)).await;
        return;
    }

    let timer = tokio::time::sleep_until(keepalive_deadline(&state));
    tokio::pin!(timer);
    let (end, takeover) = loop {
        let holding = state.held.as_ref().map_or(0, |h| h.queue.len());
        let can_read = io.wbuf.len() < WRITE_HIGH && holding < MAX_HELD_ACKS;
        let can_deliver = io.wbuf.len() < WRITE_HIGH && state.can_deliver();
        let timer_armed = state.keep_alive_ms != 0 || io.blocked_since.is_some();
        // Only what the branches need lives across this await; everything else is handled
        // below with locals (kept out of the task's state to keep idle connections small).
        let event = tokio::select! {
            biased;
            k = poll_fn(|cx| poll_kick(&mut state.kick, cx)) => match k {
                Ok(Kick::Shutdown) => break (End::Shutdown, None),
                Ok(Kick::Takeover(t)) => break (End::TakenOver, Some(t)),
                Err(_) => continue,
            },
            _ = poll_fn(|cx| poll_kicked(&state.registration, cx)) => break (End::Kicked, None),
            e = poll_fn(|cx| io.poll_io(cx, can_read)) => Event::Io(e),
            d = poll_fn(|cx| poll_delivery(&mut state.session, cx)), if can_deliver => {
                Event::Delivery(d)
            }
            _ = poll_fn(|cx| poll_durable(&mut state.held, cx)), if holding > 0 => Event::Durable,
            _ = &mut timer, if timer_armed => Event::Timer,
        };
        let write_timeout = Duration::from_millis(state.shared.config.write_timeout_ms);
        let mut tally = Tally::default();
        let end = match event {
            Event::Delivery(Ok(d)) => {
                outbound::deliver(&mut state, &mut io.wbuf, d, &mut tally);
                None
            }
            Event::Delivery(Err(Closed::SlowConsumer)) => Some(End::SlowConsumer),
            Event::Delivery(Err(Closed::Closed)) => Some(End::Shutdown),
            Event::Timer => {
                let now = Instant::now();
                if io
                    .blocked_since
                    .is_some_and(|since| now >= since + write_timeout)
                {
                    Some(End::SlowConsumer)
                } else if state.keep_alive_ms != 0 && now >= state.last_read + state.keep_alive() {
                    Some(End::KeepAlive)
                } else {
                    timer
                        .as_mut()
                        .reset(next_deadline(&state, &io, write_timeout));
                    None
                }
            }
            Event::Io(IoEvent::Read(0)) => Some(End::Eof),
            Event::Io(IoEvent::Read(n)) => {
                tally.bytes_in += n as u64;
                state.last_read = Instant::now();
                inbound::handle_buffer(&mut state, &mut io, &mut tally)
            }
            Event::Io(IoEvent::Wrote) | Event::Durable => None,
            Event::Io(IoEvent::Blocked) => {
                timer
                    .as_mut()
                    .reset(next_deadline(&state, &io, write_timeout));
                None
            }
            Event::Io(IoEvent::Error(e)) => {
                tracing::debug!(error = %e, "connection I/O failed");
                Some(End::IoError)
            }
        };
        if let Some(end) = end {
            flush_tally(&state.shared, &mut tally);
            break (end, None);
        }
        if let Some(h) = &mut state.held {
            h.release(&mut io.wbuf);
        }
        // Deliveries are drained here too, so a client that keeps sending is not starved of its
        // own deliveries by the read branch.
        if io.wbuf.len() < WRITE_HIGH && state.can_deliver() {
            outbound::drain(&mut state, &mut io.wbuf, &mut tally);
        }
        flush_tally(&state.shared, &mut tally);
        io.trim();
    };
    Box::pin(close(io, state, end, takeover)).await;
}

fn keepalive_deadline(state: &State) -> Instant {
    state.last_read + state.keep_alive()
}

fn next_deadline<T>(state: &State, io: &Io<T>, write_timeout: Duration) -> Instant {
    let far = Instant::now() + Duration::from_secs(86_400);
    let ka = if state.keep_alive_ms == 0 {
        far
    } else {
        keepalive_deadline(state)
    };
    let wr = io.blocked_since.map_or(far, |s| s + write_timeout);
    ka.min(wr)
}

fn flush_tally(shared: &Shared, tally: &mut Tally) {
    use std::sync::atomic::Ordering::Relaxed;
    let pin = tally.packets_in_total();
    let pout = tally.packets_out_total();
    if pin == 0
        && pout == 0
        && tally.bytes_in == 0
        && tally.bytes_out == 0
        && tally.inflight_delta == 0
    {
        return;
    }
    let s = &shared.stats;
    if tally.inflight_delta != 0 {
        shared.metrics.inflight.add(tally.inflight_delta);
        s.inflight.fetch_add(tally.inflight_delta, Relaxed);
        tally.inflight_delta = 0;
    }
    if tally.publish_bytes_in > 0 {
        s.publish_bytes_received
            .fetch_add(tally.publish_bytes_in, Relaxed);
        tally.publish_bytes_in = 0;
    }
    if tally.publish_bytes_out > 0 {
        s.publish_bytes_sent
            .fetch_add(tally.publish_bytes_out, Relaxed);
        tally.publish_bytes_out = 0;
    }
    let min = tally.messages_in_total();
    let mout = tally.messages_out_total();
    s.packets_received.fetch_add(pin, Relaxed);
    s.packets_sent.fetch_add(pout, Relaxed);
    if min > 0 {
        s.publish_received.fetch_add(min, Relaxed);
        shared.proto.messages_in.inc_by(min);
    }
    if mout > 0 {
        s.publish_sent.fetch_add(mout, Relaxed);
        shared.proto.messages_out.inc_by(mout);
    }
    if tally.bytes_in > 0 {
        s.bytes_received.fetch_add(tally.bytes_in, Relaxed);
        shared.proto.bytes_in.inc_by(tally.bytes_in);
    }
    if tally.bytes_out > 0 {
        s.bytes_sent.fetch_add(tally.bytes_out, Relaxed);
        shared.proto.bytes_out.inc_by(tally.bytes_out);
    }
    tally.bytes_in = 0;
    tally.bytes_out = 0;
    shared.metrics.add(tally);
}

/// Encodes a server DISCONNECT (MQTT 5 only) into `wbuf`.
pub(crate) fn put_disconnect(
    version: ProtocolVersion,
    wbuf: &mut BytesMut,
    code: ReasonCode,
    reason: Option<MqttString>,
    tally: &mut Tally,
) {
    if !version.is_v5() {
        return;
    }
    let d = Disconnect {
        reason_code: code,
        properties: DisconnectProperties {
            reason_string: reason,
            ..DisconnectProperties::default()
        },
    };
    let before = wbuf.len();
    if d.encode(version, wbuf).is_ok() {
        tally.packet_out(switchboard_mqtt_proto::PacketType::Disconnect);
        tally.bytes_out += (wbuf.len() - before) as u64;
    }
}

async fn close<T: Transport>(
    mut io: Box<Io<T>>,
    mut state: Box<State>,
    end: End,
    takeover: Option<Takeover>,
) {
    let shared = state.shared.clone();
    let mut tally = Tally::default();
    if let Some(code) = end.goodbye() {
        let text = match end {
            End::Protocol(_, why) => state.reason(why),
            End::Shutdown => state.reason("server shutting down"),
            End::TakenOver => state.reason("another connection took the session over"),
            End::KeepAlive => state.reason("nothing received within 1.5 x keep alive"),
            End::Kicked => state.reason("disconnected by an administrator"),
            _ => None,
        };
        put_disconnect(state.version, &mut io.wbuf, code, text, &mut tally);
    }
    if let End::Protocol(_, why) = end {
        shared.metrics.protocol_error(why);
    }
    shared.proto.disconnected(end.label());
    flush_tally(&shared, &mut tally);
    if end != End::SlowConsumer && end != End::IoError {
        io.finish(GOODBYE_TIMEOUT).await;
    }
    drop(io);
    shared
        .stats
        .connected
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    shared.metrics.sessions("online").dec();

    // The will: at once, or after its delay while a persistent session waits offline.
    let will = state.will.take().filter(|_| end.publishes_will());
    let identity = state.identity.clone();
    let (now, later) = match will {
        Some(w)
            if crate::broker::will_delay(&w) > 0
                && state.session.expiry > 0
                && end != End::TakenOver =>
        {
            (None, Some(PendingWill { will: *w, identity }))
        }
        Some(w) if end == End::TakenOver && crate::broker::will_delay(&w) > 0 => (None, None),
        Some(w) => (Some(PendingWill { will: *w, identity }), None),
        None => (None, None),
    };
    if let Some(w) = now {
        shared.publish_will(&w);
    }
    let mut session = state.session;
    match takeover {
        Some(t) => {
            // A session that ends with its connection (expiry 0) is not handed over.
            if session.expiry > 0 {
                let _ = t.reply.send(Some(session));
            } else {
                let _ = t.reply.send(None);
                shared.end_session(&mut session);
            }
        }
        None => {
            shared
                .detach(
                    &state.identity.client_id,
                    state.generation,
                    state.kick,
                    session,
                    later,
                )
                .await;
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// An idle connection's memory is mostly its task: tokio allocates the task (about 96
    /// bytes of header and trailer plus the future) in 128-byte steps, so the plain TCP task's
    /// future must stay within 416 bytes to keep the task at 512 (the handshake, TLS and the
    /// goodbye are boxed; buffers are released when empty).
    #[tokio::test]
    async fn an_idle_connection_holds_little_state() {
        use tracing::Instrument;
        let shared = Arc::new(crate::broker::Shared::new(
            crate::MqttConfig::default(),
            switchboard_fabric::Fabric::standalone(),
            Arc::new(switchboard_fabric::AllowAll),
            crate::metrics::MqttMetrics::unregistered(),
            tokio_util::sync::CancellationToken::new(),
            tokio_util::task::TaskTracker::new(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let _client = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (stream, peer) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
        let hello = Box::new(Hello {
            shared: shared.clone(),
            peer,
            cert_identity: None,
            label: "tcp",
            permit: None,
        });
        // What the TCP listener spawns.
        let task = shared.tracker.track_future(
            serve(Box::new(Io::new(stream)), hello).instrument(tracing::debug_span!("mqtt_conn")),
        );
        let future = std::mem::size_of_val(&task);
        assert!(future <= 416, "connection task's future: {future} bytes");
        let state = std::mem::size_of::<State>();
        assert!(state <= 200, "State: {state} bytes");
        let session = std::mem::size_of::<Session>();
        assert!(session <= 112, "Session: {session} bytes");
    }
}
