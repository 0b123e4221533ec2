//! Polling sessions no task drives yet.
//!
//! A polling session's task (heartbeat, handler deliveries, clean-up: [`Engine::drive`]) starts
//! with the session's first request after the handshake, not at the handshake: most clients
//! poll at once, and a handshake that spawns nothing is much cheaper. Until then the session
//! is *idle* and one engine-wide task, the reaper ([`Engine::reap`]), stands in for its task:
//!
//! - a session closed while idle (kicked, buffer overflow, shutdown) is put on [`Idle`]'s
//!   closed list by [`Socket::close`](crate::Socket::close), and the reaper forgets it at once
//!   (close reason, metrics and the handler's `on_disconnect` as the task would);
//! - a session still idle when its heartbeat needs attention (one ping interval after the
//!   handshake) gets its task then, so pings and ping timeouts happen when they always did.
//!
//! Deliveries for an idle session wait in the handler's own bounded queue (a raw-mode session's
//! fabric subscriber exists from the handshake), so nothing published in between is lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use switchboard_engineio_proto::{CloseReason, Sid};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument;

use crate::engine::Engine;
use crate::handler::Handler;
use crate::socket::Socket;

/// How much earlier than needed the reaper may start a session's task, so that it wakes at
/// most about once per this period however many handshakes there are.
const SLACK: Duration = Duration::from_millis(500);

/// The reaper's work lists, shared by every session of an engine.
#[derive(Debug, Default)]
pub(crate) struct Idle {
    /// Idle sessions that closed, to be forgotten.
    closed: Mutex<Vec<Sid>>,
    /// Polling sessions in handshake order, with the instant their task must run by. Those
    /// whose task started since (or that closed) are skipped when their turn comes. Holds at
    /// most `max_sessions` entries: past that a new session gets its task at once.
    due: Mutex<VecDeque<(Instant, Sid)>>,
    /// Wakes the reaper: a closed list that was empty, or a deadline list that was.
    wake: Notify,
}

impl Idle {
    /// Records a new idle session whose task must run by `deadline`. Deadlines come in
    /// non-decreasing order (the same interval after each handshake). Returns `false`, and
    /// records nothing, when `max` entries wait already (sessions that came and went within
    /// a ping interval): the caller then starts the session's task itself.
    pub(crate) fn opened(&self, sid: Sid, deadline: Instant, max: usize) -> bool {
        let was_empty = {
            let mut due = self.due.lock();
            if due.len() >= max {
                return false;
            }
            let was_empty = due.is_empty();
            due.push_back((deadline, sid));
            was_empty
        };
        if was_empty {
            self.wake.notify_one();
        }
        true
    }

    /// An idle session closed.
    pub(crate) fn closed(&self, sid: Sid) {
        let was_empty = {
            let mut closed = self.closed.lock();
            let was_empty = closed.is_empty();
            closed.push(sid);
            was_empty
        };
        if was_empty {
            self.wake.notify_one();
        }
    }

    fn take_closed(&self) -> Vec<Sid> {
        std::mem::take(&mut *self.closed.lock())
    }

    /// The sessions whose deadline is before `until`, removed from the list.
    fn take_due(&self, until: Instant) -> Vec<Sid> {
        let mut due = self.due.lock();
        let n = due.iter().take_while(|(d, _)| *d <= until).count();
        due.drain(..n).map(|(_, sid)| sid).collect()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.due.lock().front().map(|(d, _)| *d)
    }
}

impl<H: Handler> Engine<H> {
    /// Starts the task of `socket` unless one runs already. Cheap when one does.
    pub(crate) fn ensure_driven(self: &Arc<Self>, socket: &Arc<Socket<H::Data>>) {
        if socket.driven.load(Ordering::Acquire) {
            return;
        }
        // SeqCst pairs with `Socket::close`: either the close sees the task, or the task
        // sees the close.
        if socket
            .driven
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let span = tracing::debug_span!("engineio_session", sid = %socket.sid(), transport = "polling");
            self.tracker
                .spawn(self.clone().drive(socket.clone()).instrument(span));
        }
    }

    /// The engine-wide task standing in for the tasks of idle sessions; on `stop` it closes
    /// every session with `server shutting down`, forgets the idle ones, and ends.
    pub(crate) async fn reap(self: Arc<Self>) {
        let idle = &self.shared.idle;
        loop {
            let next = idle.next_deadline();
            let wake = idle.wake.notified();
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                _ = wake => {}
                _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
            }
            self.reap_now(Instant::now() + SLACK);
        }
        self.close_all(CloseReason::ServerShuttingDown);
        self.reap_now(Instant::now());
    }

    /// Forgets the idle sessions that closed, and starts the tasks of those due by `until`.
    fn reap_now(self: &Arc<Self>, until: Instant) {
        for sid in self.shared.idle.take_closed() {
            if let Some(socket) = self.socket(&sid)
                && !socket.driven.load(Ordering::SeqCst)
            {
                self.finish(&socket);
            }
        }
        for sid in self.shared.idle.take_due(until) {
            if let Some(socket) = self.socket(&sid) {
                self.ensure_driven(&socket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_engineio_proto::NodeTag;

    fn sid(n: u8) -> Sid {
        Sid::new(NodeTag::new(1), [n; 16])
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_list_is_bounded_and_handed_out_in_order() {
        let idle = Idle::default();
        let t0 = Instant::now();
        let step = Duration::from_secs(1);
        assert!(idle.opened(sid(1), t0 + step, 2));
        assert!(idle.opened(sid(2), t0 + 2 * step, 2));
        assert!(
            !idle.opened(sid(3), t0 + 3 * step, 2),
            "full: the caller drives it"
        );
        assert_eq!(idle.next_deadline(), Some(t0 + step));
        assert_eq!(idle.take_due(t0 + step), vec![sid(1)]);
        assert!(idle.opened(sid(4), t0 + 4 * step, 2));
        assert_eq!(idle.take_due(t0 + 10 * step), vec![sid(2), sid(4)]);
        assert_eq!(idle.next_deadline(), None);
        idle.closed(sid(5));
        idle.closed(sid(6));
        assert_eq!(idle.take_closed(), vec![sid(5), sid(6)]);
        assert!(idle.take_closed().is_empty());
    }
}
