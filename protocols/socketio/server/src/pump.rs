//! Subscriptions and deliveries of namespace sockets. A socket's fabric [`Subscriber`]
//! (created with its first subscription) lives in its [`NsSocket`]. Subscription changes are
//! applied where the client's packets arrive, so they keep the client's order with its
//! publishes and are acknowledged before any retained replay they cause; the task that
//! writes to the client drains every socket's subscriber through
//! [`Handler::poll_outgoing`](switchboard_engineio::Handler::poll_outgoing), so a delivery
//! needs no task of its own and goes out in the same write as the packets already queued,
//! while the subscriber's own bounded queue and overflow policy apply.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use smallvec::SmallVec;
use switchboard_engineio::Socket;
use switchboard_engineio::bridge::ErrorKind;
use switchboard_engineio::proto::{CloseReason, Packet};
use switchboard_fabric::{Access, Delivery, Qos, SubOptions, SubscriberSpec, TopicFilter};

use crate::nsp::NsSocket;
use crate::payload;
use crate::server::{Conn, Inner};

/// Deliveries moved from the subscribers per [`poll_outgoing`] call.
const DELIVERY_BATCH: usize = 64;

/// A subscription change, acknowledged with `id` once applied.
#[derive(Debug)]
pub(crate) enum Command {
    /// Subscribe.
    Sub {
        filters: SmallVec<[TopicFilter; 1]>,
        id: Option<u64>,
    },
    /// Unsubscribe.
    Unsub {
        filters: SmallVec<[TopicFilter; 1]>,
        id: Option<u64>,
    },
}

/// Applies `command` to `ns` now and queues its acknowledgement.
pub(crate) fn apply(inner: &Inner, socket: &Arc<Socket<Conn>>, ns: &NsSocket, command: Command) {
    let nsp = &ns.nsp.name;
    let text = match command {
        Command::Sub { filters, id } => {
            let mut guard = ns.sub.lock();
            let created = guard.is_none();
            let sub = guard.get_or_insert_with(|| {
                let created = inner
                    .fabric
                    .subscriber(SubscriberSpec::new(crate::PROTOCOL, ns.sid.clone()));
                if let Some(r) = &*ns.registration.lock() {
                    r.attach(created.handle());
                }
                created
            });
            let held = sub.subscriptions().count();
            let new = filters
                .iter()
                .filter(|f| !sub.subscriptions().any(|(g, _)| g == *f))
                .count();
            let text = if held + new > inner.max_subscriptions {
                id.map(|id| {
                    payload::ack_err(
                        nsp,
                        id,
                        ErrorKind::TooManySubscriptions,
                        "socketio.max_subscriptions reached",
                    )
                })
            } else {
                // Deliveries keep the publisher's QoS (reported in `meta.qos`).
                let opts = SubOptions {
                    max_qos: Qos::ExactlyOnce,
                    ..SubOptions::default()
                };
                for f in filters {
                    sub.subscribe(f, opts.clone());
                }
                id.map(|id| payload::ack_ok(nsp, id))
            };
            // Queued before the transport can see the replay the subscription caused.
            if let Some(text) = text {
                let _ = socket.send(Packet::text(text));
            }
            drop(guard);
            if created {
                socket.data().sub_waiter.wake();
            }
            return;
        }
        Command::Unsub { filters, id } => {
            if let Some(s) = ns.sub.lock().as_mut() {
                for f in &filters {
                    s.unsubscribe(f, None);
                }
            }
            match id {
                Some(id) => payload::ack_ok(nsp, id),
                None => return,
            }
        }
    };
    let _ = socket.send(Packet::text(text));
}

/// [`Handler::poll_outgoing`](switchboard_engineio::Handler::poll_outgoing) of a connection:
/// moves up to [`DELIVERY_BATCH`] deliveries of its namespace sockets into `out`.
pub(crate) fn poll_outgoing(
    inner: &Inner,
    socket: &Arc<Socket<Conn>>,
    cx: &mut Context<'_>,
    out: &mut Vec<Packet>,
) -> Poll<()> {
    let conn = socket.data();
    // A subscriber created later (a polling POST runs elsewhere) wakes the transport here.
    conn.sub_waiter.register(cx.waker());
    let sockets = conn.sockets();
    let mut taken = 0;
    for ns in &sockets {
        let mut guard = ns.sub.lock();
        let Some(sub) = guard.as_mut() else {
            continue;
        };
        match sub.poll_drain(cx, DELIVERY_BATCH - taken, |d| encode(inner, ns, &d, out)) {
            Ok(n) => taken += n,
            Err(closed) => {
                drop(guard);
                tracing::debug!(sid = %ns.sid, %closed, "subscriber closed: ending the connection");
                socket.close(CloseReason::ForcedClose);
                return Poll::Ready(());
            }
        }
    }
    if taken == 0 {
        Poll::Pending
    } else {
        Poll::Ready(())
    }
}

/// Appends the packets delivery `d` becomes (none when the socket may not read it).
fn encode(inner: &Inner, ns: &NsSocket, d: &Delivery, out: &mut Vec<Packet>) {
    let m = &d.message;
    if !inner
        .authorizer
        .authorize(&ns.identity, Access::Read, m.topic.as_str())
    {
        return;
    }
    let encoded = match &m.reply_to {
        Some(reply_to) => {
            let id = ns.next_ack.fetch_add(1, Ordering::Relaxed);
            ns.replies
                .lock()
                .remember(id, reply_to.clone(), m.correlation.clone());
            ns.nsp.write(m, d.retain, d.qos.as_u8(), Some(id))
        }
        None => ns.nsp.encode(d),
    };
    match encoded {
        Some(e) => {
            out.push(Packet::text(e.text));
            if let Some(a) = e.attachment {
                out.push(Packet::binary(a));
            }
        }
        None => inner.metrics.common.dropped("reserved_event_name"),
    }
}
