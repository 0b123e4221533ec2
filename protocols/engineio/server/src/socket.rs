//! [`Socket`]: one Engine.IO session, whatever its transport. It owns the bounded send buffer the
//! active transport drains (the pending polling GET, or the WebSocket task), the heartbeat state,
//! and the close state. The handler's per-session data lives in it too.
//!
//! Every method is synchronous and holds the session lock only for a few instructions; nothing
//! waits while holding it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use switchboard_engineio_proto::{CloseReason, Packet, ProtocolVersion, Sid, Transport};
use switchboard_fabric::ConnectionGuard;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::BufferOverflow;
use crate::engine::Shared;
use crate::error::SendError;

/// Where a session's transport upgrade stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// No upgrade under way (or it finished).
    Idle,
    /// A WebSocket is connected for the upgrade; the probe has not arrived yet.
    Connected,
    /// The probe was answered: pending polls are answered at once (with `noop` when there is
    /// nothing to send) so the client can pause polling and send `upgrade`.
    Probed,
}

/// The heartbeat's next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heartbeat {
    /// v4: send a ping at this instant.
    PingAt(Instant),
    /// v4: a ping is out; the pong must arrive before this instant.
    PongBy(Instant),
    /// v3: the client's next ping must arrive before this instant.
    ClientPingBy(Instant),
}

impl Heartbeat {
    fn deadline(self) -> Instant {
        match self {
            Heartbeat::PingAt(t) | Heartbeat::PongBy(t) | Heartbeat::ClientPingBy(t) => t,
        }
    }
}

/// The mutable part of a session.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) transport: Transport,
    pub(crate) upgrade: Upgrade,
    /// Packets waiting for the transport, in order. Handed over whole to the transport, so an
    /// idle session keeps no capacity here.
    pub(crate) queue: Vec<Packet>,
    /// How many of the queued packets are messages (the bounded part).
    pub(crate) messages: usize,
    /// A polling GET is waiting for packets.
    pub(crate) polling: bool,
    /// A polling POST is being read.
    pub(crate) posting: bool,
    /// Whether the active transport's client takes binary (no `b64=1`).
    pub(crate) supports_binary: bool,
    pub(crate) heartbeat: Heartbeat,
    pub(crate) close: Option<CloseReason>,
    /// A sender waits in [`Socket::send_wait`] for room.
    space_waiters: bool,
}

/// One Engine.IO session.
pub struct Socket<D> {
    sid: Sid,
    protocol: ProtocolVersion,
    pub(crate) state: Mutex<State>,
    /// Wakes the active writer (pending GET or WebSocket task) when packets are queued.
    pub(crate) writer: Notify,
    /// Wakes [`Socket::send_wait`] callers when the writer drained the buffer.
    space: Notify,
    /// Set once the session closes; [`Socket::closed`] waits on `closed_notify` for it.
    closed_flag: AtomicBool,
    closed_notify: Notify,
    /// A task drives the session (heartbeat, deliveries, clean-up). Polling sessions start
    /// without one until their first request (see `idle`); until then the engine's reaper
    /// stands in.
    pub(crate) driven: AtomicBool,
    pub(crate) shared: Arc<Shared>,
    _connection: ConnectionGuard,
    data: D,
}

impl<D> fmt::Debug for Socket<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("sid", &self.sid)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

fn is_message(p: &Packet) -> bool {
    matches!(p, Packet::Message(_))
}

impl<D> Socket<D> {
    pub(crate) fn new(
        sid: Sid,
        protocol: ProtocolVersion,
        transport: Transport,
        supports_binary: bool,
        shared: Arc<Shared>,
        data: D,
        now: Instant,
    ) -> Self {
        let heartbeat = match protocol {
            ProtocolVersion::V4 => Heartbeat::PingAt(now + shared.ping_interval),
            ProtocolVersion::V3 => {
                Heartbeat::ClientPingBy(now + shared.ping_interval + shared.ping_timeout)
            }
        };
        let connection = shared.metrics.common.connection_opened();
        Socket {
            sid,
            protocol,
            state: Mutex::new(State {
                transport,
                upgrade: Upgrade::Idle,
                queue: Vec::new(),
                messages: 0,
                polling: false,
                posting: false,
                supports_binary,
                heartbeat,
                close: None,
                space_waiters: false,
            }),
            writer: Notify::new(),
            space: Notify::new(),
            closed_flag: AtomicBool::new(false),
            closed_notify: Notify::new(),
            driven: AtomicBool::new(transport != Transport::Polling),
            shared,
            _connection: connection,
            data,
        }
    }

    /// The session id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The protocol revision the client speaks.
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// The transport currently carrying the session.
    pub fn transport(&self) -> Transport {
        self.state.lock().transport
    }

    /// The handler's per-session data.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.state.lock().close
    }

    /// Whether the session is closed (or closing).
    pub fn is_closed(&self) -> bool {
        self.closed_flag.load(Ordering::Acquire)
    }

    /// Resolves when the session closes.
    pub async fn closed(&self) {
        loop {
            let notified = self.closed_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Queues a packet for the client without waiting.
    ///
    /// Messages count against `max_buffered_packets`; when the buffer is full the configured
    /// `buffer_overflow` policy applies (and the drop is counted). Control packets are never
    /// refused.
    pub fn send(&self, packet: Packet) -> Result<(), SendError> {
        let mut st = self.state.lock();
        if st.close.is_some() {
            return Err(SendError::Closed);
        }
        if is_message(&packet) {
            if st.messages >= self.shared.max_buffered {
                let policy = self.shared.overflow;
                self.shared.metrics.common.dropped(policy.drop_reason());
                match policy {
                    BufferOverflow::DropNew => return Err(SendError::Full),
                    BufferOverflow::Close => {
                        drop(st);
                        tracing::debug!(sid = %self.sid, "send buffer full: closing the session");
                        self.close(CloseReason::ForcedClose);
                        return Err(SendError::Closed);
                    }
                    BufferOverflow::DropOldest => {
                        if let Some(i) = st.queue.iter().position(is_message) {
                            st.queue.remove(i);
                            st.messages -= 1;
                        }
                    }
                }
            }
            st.messages += 1;
        }
        st.queue.push(packet);
        let wake = st.queue.len() == 1;
        drop(st);
        if wake {
            self.writer.notify_one();
        }
        Ok(())
    }

    /// Queues a message, waiting while the send buffer is full (backpressure for producers
    /// that have their own bounded queue, such as a fabric subscriber).
    pub async fn send_wait(&self, packet: Packet) -> Result<(), SendError> {
        let mut packet = Some(packet);
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock();
                if st.close.is_some() {
                    return Err(SendError::Closed);
                }
                if st.messages < self.shared.max_buffered {
                    if let Some(p) = packet.take() {
                        if is_message(&p) {
                            st.messages += 1;
                        }
                        st.queue.push(p);
                    }
                    let wake = st.queue.len() == 1;
                    drop(st);
                    if wake {
                        self.writer.notify_one();
                    }
                    return Ok(());
                }
                st.space_waiters = true;
            }
            tokio::select! {
                _ = notified => {}
                _ = self.closed() => return Err(SendError::Closed),
            }
        }
    }

    /// Queues several messages as one unit, in order and back to back, without waiting: all
    /// of them or none (a Socket.IO binary event and its attachments must not be split or
    /// interleaved with other packets).
    ///
    /// The group counts against `max_buffered_packets` as a whole. When it does not fit,
    /// `drop_new` refuses the group ([`SendError::Full`]), `close` closes the session, and
    /// `drop_oldest` drops the oldest queued messages to make room (so a Socket.IO session
    /// should not use `drop_oldest`: it could drop half of an earlier group).
    pub fn send_all<I>(&self, packets: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = Packet>,
        I::IntoIter: ExactSizeIterator,
    {
        let packets = packets.into_iter();
        let n = packets.len();
        let max = self.shared.max_buffered.max(n);
        let mut st = self.state.lock();
        if st.close.is_some() {
            return Err(SendError::Closed);
        }
        if st.messages + n > max {
            let policy = self.shared.overflow;
            self.shared.metrics.common.dropped(policy.drop_reason());
            match policy {
                BufferOverflow::DropNew => return Err(SendError::Full),
                BufferOverflow::Close => {
                    drop(st);
                    tracing::debug!(sid = %self.sid, "send buffer full: closing the session");
                    self.close(CloseReason::ForcedClose);
                    return Err(SendError::Closed);
                }
                BufferOverflow::DropOldest => {
                    while st.messages + n > max {
                        match st.queue.iter().position(is_message) {
                            Some(i) => {
                                st.queue.remove(i);
                                st.messages -= 1;
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        self.push_group(st, packets);
        Ok(())
    }

    /// Like [`Socket::send_all`], waiting while the group does not fit in the send buffer.
    pub async fn send_wait_all<I>(&self, packets: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = Packet>,
        I::IntoIter: ExactSizeIterator,
    {
        let packets = packets.into_iter();
        let n = packets.len();
        let max = self.shared.max_buffered.max(n);
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock();
                if st.close.is_some() {
                    return Err(SendError::Closed);
                }
                if st.messages + n <= max {
                    self.push_group(st, packets);
                    return Ok(());
                }
                st.space_waiters = true;
            }
            tokio::select! {
                _ = notified => {}
                _ = self.closed() => return Err(SendError::Closed),
            }
        }
    }

    fn push_group(
        &self,
        mut st: parking_lot::MutexGuard<'_, State>,
        packets: impl Iterator<Item = Packet>,
    ) {
        let was_empty = st.queue.is_empty();
        for p in packets {
            if is_message(&p) {
                st.messages += 1;
            }
            st.queue.push(p);
        }
        let wake = was_empty && !st.queue.is_empty();
        drop(st);
        if wake {
            self.writer.notify_one();
        }
    }

    /// Closes the session with `reason`. The transport says goodbye (a `close` packet to a
    /// pending poll, a close frame on a WebSocket) and the engine forgets the session.
    pub fn close(&self, reason: CloseReason) {
        {
            let mut st = self.state.lock();
            if st.close.is_some() {
                return;
            }
            st.close = Some(reason);
        }
        // SeqCst pairs with `Engine::ensure_driven`: either the task sees the close, or the
        // reaper hears of it here.
        self.closed_flag.store(true, Ordering::SeqCst);
        self.closed_notify.notify_waiters();
        self.space.notify_waiters();
        if !self.driven.load(Ordering::SeqCst) {
            self.shared.idle.closed(self.sid);
        }
    }

    /// Moves every queued packet into `out` (in order) and reports whether the session closed.
    pub(crate) fn take_queued(&self, out: &mut Vec<Packet>) -> Option<CloseReason> {
        let mut st = self.state.lock();
        if out.is_empty() {
            *out = std::mem::take(&mut st.queue);
        } else {
            out.append(&mut st.queue);
        }
        st.messages = 0;
        let wake = std::mem::take(&mut st.space_waiters);
        let close = st.close;
        drop(st);
        if wake {
            self.space.notify_waiters();
        }
        close
    }

    /// Advances the heartbeat at `now`: sends the v4 ping when due, closes the session with
    /// `ping timeout` when the answer is late. Returns when to call again, or `None` once closed.
    pub(crate) fn heartbeat_tick(&self, now: Instant) -> Option<Instant> {
        let mut st = self.state.lock();
        if st.close.is_some() {
            return None;
        }
        match st.heartbeat {
            Heartbeat::PingAt(at) if now >= at => {
                st.heartbeat = Heartbeat::PongBy(now + self.shared.ping_timeout);
                st.queue.push(Packet::ping());
                let wake = st.queue.len() == 1;
                let next = st.heartbeat.deadline();
                drop(st);
                if wake {
                    self.writer.notify_one();
                }
                Some(next)
            }
            Heartbeat::PongBy(by) | Heartbeat::ClientPingBy(by) if now >= by => {
                drop(st);
                self.close(CloseReason::PingTimeout);
                None
            }
            hb => Some(hb.deadline()),
        }
    }

    /// The instant the heartbeat needs attention next.
    pub(crate) fn heartbeat_deadline(&self) -> Instant {
        self.state.lock().heartbeat.deadline()
    }

    /// A v4 pong arrived: the next ping is due one interval from now.
    pub(crate) fn on_pong(&self, now: Instant) {
        let mut st = self.state.lock();
        if let Heartbeat::PongBy(_) = st.heartbeat {
            st.heartbeat = Heartbeat::PingAt(now + self.shared.ping_interval);
        }
    }

    /// A v3 ping arrived: answer it and expect the next one within interval + timeout.
    pub(crate) fn on_client_ping(&self, now: Instant) {
        {
            let mut st = self.state.lock();
            st.heartbeat =
                Heartbeat::ClientPingBy(now + self.shared.ping_interval + self.shared.ping_timeout);
        }
        let _ = self.send(Packet::pong());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineIoConfig;
    use crate::engine::Shared;
    use switchboard_engineio_proto::NodeTag;

    fn socket(max: usize, overflow: BufferOverflow) -> Socket<()> {
        let config = EngineIoConfig {
            max_buffered_packets: max,
            buffer_overflow: overflow,
            ..EngineIoConfig::default()
        };
        let shared = Arc::new(Shared::for_tests(config));
        Socket::new(
            Sid::new(NodeTag::new(1), [7; 16]),
            ProtocolVersion::V4,
            Transport::Polling,
            true,
            shared,
            (),
            Instant::now(),
        )
    }

    fn drain(s: &Socket<()>) -> Vec<Packet> {
        let mut out = Vec::new();
        s.take_queued(&mut out);
        out
    }

    #[test]
    fn drop_new_keeps_the_first_messages_and_never_drops_control_packets() {
        let s = socket(2, BufferOverflow::DropNew);
        assert_eq!(s.send(Packet::text("a")), Ok(()));
        assert_eq!(s.send(Packet::text("b")), Ok(()));
        assert_eq!(s.send(Packet::text("c")), Err(SendError::Full));
        assert_eq!(s.send(Packet::ping()), Ok(()));
        assert_eq!(
            drain(&s),
            vec![Packet::text("a"), Packet::text("b"), Packet::ping()]
        );
        assert_eq!(s.send(Packet::text("d")), Ok(()));
    }

    #[test]
    fn drop_oldest_keeps_the_latest_messages() {
        let s = socket(2, BufferOverflow::DropOldest);
        for m in ["a", "b", "c"] {
            assert_eq!(s.send(Packet::text(m)), Ok(()));
        }
        assert_eq!(drain(&s), vec![Packet::text("b"), Packet::text("c")]);
    }

    #[test]
    fn close_policy_closes_the_session() {
        let s = socket(1, BufferOverflow::Close);
        assert_eq!(s.send(Packet::text("a")), Ok(()));
        assert_eq!(s.send(Packet::text("b")), Err(SendError::Closed));
        assert!(s.is_closed());
        assert_eq!(s.close_reason(), Some(CloseReason::ForcedClose));
        assert_eq!(s.send(Packet::text("c")), Err(SendError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn v4_heartbeat_pings_then_times_out() {
        let s = socket(8, BufferOverflow::Close);
        let start = Instant::now();
        let first = s.heartbeat_deadline();
        assert_eq!(first, start + s.shared.ping_interval);
        assert_eq!(s.heartbeat_tick(start), Some(first), "nothing due yet");
        let pong_by = s.heartbeat_tick(first);
        assert_eq!(pong_by, Some(first + s.shared.ping_timeout));
        assert_eq!(drain(&s), vec![Packet::ping()]);
        s.on_pong(first);
        assert_eq!(s.heartbeat_deadline(), first + s.shared.ping_interval);
        let second = s.heartbeat_deadline();
        let by = s.heartbeat_tick(second);
        assert!(by.is_some());
        assert_eq!(by.and_then(|by| s.heartbeat_tick(by)), None);
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
    }

    #[test]
    fn groups_are_queued_whole_or_not_at_all() {
        let s = socket(3, BufferOverflow::DropNew);
        assert_eq!(s.send(Packet::text("a")), Ok(()));
        assert_eq!(
            s.send_all([Packet::text("h"), Packet::binary(vec![1u8])]),
            Ok(())
        );
        assert_eq!(
            s.send_all([Packet::text("h2"), Packet::binary(vec![2u8])]),
            Err(SendError::Full)
        );
        assert_eq!(
            drain(&s),
            vec![
                Packet::text("a"),
                Packet::text("h"),
                Packet::binary(vec![1u8])
            ]
        );
        // a group larger than the buffer still goes into an empty buffer
        let big: Vec<Packet> = (0..5).map(|i| Packet::text(i.to_string())).collect();
        assert_eq!(s.send_all(big), Ok(()));
        assert_eq!(drain(&s).len(), 5);
        let s = socket(2, BufferOverflow::DropOldest);
        assert_eq!(s.send(Packet::text("a")), Ok(()));
        assert_eq!(s.send(Packet::ping()), Ok(()));
        assert_eq!(s.send_all([Packet::text("b"), Packet::text("c")]), Ok(()));
        assert_eq!(
            drain(&s),
            vec![Packet::ping(), Packet::text("b"), Packet::text("c")]
        );
        let s = socket(1, BufferOverflow::Close);
        assert_eq!(s.send(Packet::text("a")), Ok(()));
        assert_eq!(
            s.send_all([Packet::text("b"), Packet::text("c")]),
            Err(SendError::Closed)
        );
        assert!(s.is_closed());
    }

    #[tokio::test]
    async fn send_wait_all_waits_for_room_for_the_whole_group() {
        let s = Arc::new(socket(2, BufferOverflow::DropNew));
        assert_eq!(s.send(Packet::text("a")), Ok(()));
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move {
                s.send_wait_all([Packet::text("h"), Packet::binary(vec![1u8])])
                    .await
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(drain(&s), vec![Packet::text("a")]);
        assert_eq!(waiter.await.ok(), Some(Ok(())));
        assert_eq!(
            drain(&s),
            vec![Packet::text("h"), Packet::binary(vec![1u8])]
        );
    }

    #[tokio::test]
    async fn send_wait_waits_for_room() {
        let s = Arc::new(socket(1, BufferOverflow::DropNew));
        assert_eq!(s.send(Packet::text("a")), Ok(()));
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.send_wait(Packet::text("b")).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert_eq!(drain(&s), vec![Packet::text("a")]);
        assert_eq!(waiter.await.ok(), Some(Ok(())));
        assert_eq!(drain(&s), vec![Packet::text("b")]);
        s.close(CloseReason::ForcedClose);
        assert_eq!(s.send_wait(Packet::text("c")).await, Err(SendError::Closed));
    }
}
