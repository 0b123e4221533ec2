//! One client connection: the CONNECT handshake, then a single task that reads packets, writes
//! acknowledgements and deliveries, and watches keep-alive, takeover and shutdown.
//!
//! # Event loop
//! Each turn waits (with `select!`, every branch cancel-safe) for one of: shutdown, a takeover
//! request, socket I/O (a read, or progress on pending output), deliveries from the fabric
//! subscriber, or the timer (keep-alive at 1.5× the negotiated interval, a write making no
//! progress). Then it handles everything that is ready without waiting: every complete packet
//! in the read buffer, and up to [`DELIVERY_BATCH`] deliveries drained into one write buffer.
//!
//! # Backpressure and memory
//! Output is bounded by [`WRITE_HIGH`]: above it the loop neither reads packets nor drains
//! deliveries, so a client that stops reading fills its own bounded fabric queue (counted drops)
//! and is disconnected once writing makes no progress for `write_timeout_ms`. Read and write
//! buffers are released whenever they are empty, so an idle plain-TCP connection holds none.
//!
//! # Layout
//! - `connect`: reading and validating CONNECT, authentication, session attach, CONNACK.
//! - `inbound`: every packet a connected client may send.
//! - `outbound`: deliveries → PUBLISH (topic aliases, flow control, size limits) and re-sends.

mod connect;
mod inbound;
mod outbound;

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use switchboard_fabric::{ClientSpec, Closed, Delivery, Identity, NoControl, Origin, Registration};
use switchboard_mqtt_proto::{
    Decoder, Disconnect, DisconnectProperties, MqttString, ProtocolVersion, ReasonCode, Will,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::bridge::{InboundTopics, OutboundTopics};
use crate::broker::{Shared, Takeover};
use crate::metrics::Tally;
use crate::session::{PendingWill, Session};
use crate::transport::Transport;

pub use self::connect::Accepted;
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
#[derive(Debug)]
pub(crate) struct HeldAcks {
    rx: tokio::sync::watch::Receiver<u64>,
    /// (ticket to wait for, 0: none; the encoded packet).
    queue: VecDeque<(u64, BytesMut)>,
}

impl HeldAcks {
    pub(crate) fn new(rx: tokio::sync::watch::Receiver<u64>) -> Self {
        HeldAcks {
            rx,
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
}

async fn held_changed(held: &mut Option<Box<HeldAcks>>) {
    match held {
        Some(h) => {
            if h.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
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
    pub(crate) client_id: Arc<str>,
    pub(crate) identity: Identity,
    pub(crate) origin: Origin,
    pub(crate) session: Box<Session>,
    pub(crate) will: Option<Box<Will>>,
    /// Keep-alive window (1.5 × the interval); zero: none.
    pub(crate) keep_alive: Duration,
    pub(crate) last_read: Instant,
    /// Most QoS 1/2 messages in flight to the client.
    pub(crate) send_quota: usize,
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
    pub(crate) registration: Option<Box<Registration>>,
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
        self.session.inflight.len() < self.send_quota
    }

    /// A reason string, when the client accepts them.
    pub(crate) fn reason(&self, text: &'static str) -> Option<MqttString> {
        (self.version.is_v5() && self.problem_info)
            .then(|| MqttString::from_static(text).ok())
            .flatten()
    }
}

/// Ready once an operator kicked the connection (admin API).
fn poll_kicked(registration: &Option<Box<Registration>>, cx: &mut Context<'_>) -> Poll<()> {
    match registration {
        Some(r) => r.poll_kicked(cx),
        None => Poll::Pending,
    }
}

async fn next_delivery(session: &mut Session) -> Result<Delivery, Closed> {
    if let Some(d) = session.take_restored() {
        return Ok(d);
    }
    match &mut session.subscriber {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Serves one connection on `transport` (`label`: `tcp`, `tls`, `ws`, for the client registry)
/// from its first byte to its close.
pub(crate) async fn serve<T: Transport>(
    shared: Arc<Shared>,
    transport: T,
    peer: SocketAddr,
    cert_identity: Option<String>,
    label: &'static str,
) {
    let _guard = shared.proto.connection_opened();
    let mut io = Box::new(Io::new(transport));
    // The handshake and the goodbye are boxed so that an established connection's task only holds
    // the event loop's state.
    let stop = shared.stop.clone();
    let handshake = tokio::select! {
        a = Box::pin(connect::handshake(&shared, &mut io, peer, cert_identity, label)) => a,
        // A connection still in its handshake when the gateway stops is simply closed.
        _ = stop.cancelled() => None,
    };
    let accepted = match handshake {
        Some(a) => a,
        None => {
            io.finish(GOODBYE_TIMEOUT).await;
            return;
        }
    };
    tracing::Span::current().record("client_id", &*accepted.state.client_id);
    run(io, accepted).await;
}

/// Lists the connection in the fabric's client registry, with the session's subscriber.
pub(crate) fn register(state: &mut State, peer: SocketAddr, label: &'static str) {
    let shared = &state.shared;
    let spec = ClientSpec::new(shared.protocol.clone(), state.client_id.clone(), label)
        .remote(Some(peer))
        .user(state.identity.user.clone());
    let registration = shared.fabric.clients().register(spec, Arc::new(NoControl));
    if let Some(s) = &state.session.subscriber {
        registration.attach(s.handle());
    }
    state.registration = Some(Box::new(registration));
}

async fn run<T: Transport>(mut io: Box<Io<T>>, accepted: Accepted) {
    let Accepted {
        mut state,
        generation,
        mut kick,
    } = accepted;
    let shared = state.shared.clone();
    shared.stats.client_connected();
    shared.metrics.sessions("online").inc();
    let write_timeout = Duration::from_millis(shared.config.write_timeout_ms);
    let first = {
        let mut tally = Tally::default();
        outbound::resend(&mut state, &mut io.wbuf, &mut tally);
        // Packets that arrived together with CONNECT.
        let end = if io.rbuf.is_empty() {
            None
        } else {
            inbound::handle_buffer(&mut state, &mut io, &mut tally)
        };
        flush_tally(&shared, &mut tally);
        end
    };
    if let Some(end) = first {
        Box::pin(close(io, state, end, generation, kick, None)).await;
        return;
    }

    let timer = tokio::time::sleep_until(keepalive_deadline(&state));
    tokio::pin!(timer);
    let mut takeover: Option<Takeover> = None;
    let mut kick_live = true;
    let end = loop {
        let holding = state.held.as_ref().map_or(0, |h| h.queue.len());
        let can_read = io.wbuf.len() < WRITE_HIGH && holding < MAX_HELD_ACKS;
        let can_deliver = io.wbuf.len() < WRITE_HIGH && state.can_deliver();
        let timer_armed = !state.keep_alive.is_zero() || io.blocked_since.is_some();
        // Only what the branches need lives across this await; everything else is handled
        // below with locals (kept out of the task's state to keep idle connections small).
        let event = tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break End::Shutdown,
            _ = poll_fn(|cx| poll_kicked(&state.registration, cx)) => break End::Kicked,
            k = &mut kick, if kick_live => {
                kick_live = false;
                match k {
                    Ok(t) => {
                        takeover = Some(t);
                        break End::TakenOver;
                    }
                    Err(_) => continue,
                }
            }
            e = poll_fn(|cx| io.poll_io(cx, can_read)) => Event::Io(e),
            d = next_delivery(&mut state.session), if can_deliver => Event::Delivery(d),
            _ = held_changed(&mut state.held), if holding > 0 => Event::Durable,
            _ = &mut timer, if timer_armed => Event::Timer,
        };
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
                } else if !state.keep_alive.is_zero() && now >= state.last_read + state.keep_alive {
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
            flush_tally(&shared, &mut tally);
            break end;
        }
        if let Some(h) = &mut state.held {
            h.release(&mut io.wbuf);
        }
        // Deliveries are drained here too, so a client that keeps sending is not starved of its
        // own deliveries by the read branch.
        if io.wbuf.len() < WRITE_HIGH && state.can_deliver() {
            outbound::drain(&mut state, &mut io.wbuf, &mut tally);
        }
        flush_tally(&shared, &mut tally);
        io.trim();
    };
    Box::pin(close(io, state, end, generation, kick, takeover)).await;
}

fn keepalive_deadline(state: &State) -> Instant {
    state.last_read + state.keep_alive
}

fn next_deadline<T>(state: &State, io: &Io<T>, write_timeout: Duration) -> Instant {
    let far = Instant::now() + Duration::from_secs(86_400);
    let ka = if state.keep_alive.is_zero() {
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
    generation: u64,
    kick: oneshot::Receiver<Takeover>,
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
                .detach(&state.client_id, generation, kick, session, later)
                .await;
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// An idle connection's memory is mostly its task: keep the event loop's state small (the
    /// handshake, TLS and the goodbye are boxed; buffers are released when empty).
    #[tokio::test]
    async fn an_idle_connection_holds_little_state() {
        let shared = Arc::new(crate::broker::Shared::new(
            crate::MqttConfig::default(),
            switchboard_fabric::Fabric::standalone(),
            Arc::new(switchboard_fabric::AllowAll),
            crate::metrics::MqttMetrics::unregistered(),
            tokio_util::sync::CancellationToken::new(),
            tokio_util::task::TaskTracker::new(),
        ));
        let (a, _b) = tokio::io::duplex(16);
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let fut = serve(shared, crate::transport::Stream(a), peer, None, "tcp");
        let future = std::mem::size_of_val(&fut);
        assert!(future <= 768, "connection future: {future} bytes");
        let state = std::mem::size_of::<State>();
        assert!(state <= 400, "State: {state} bytes");
        let session = std::mem::size_of::<Session>();
        assert!(session <= 200, "Session: {session} bytes");
    }
}
