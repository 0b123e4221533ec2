//! The delivery task of a namespace socket. It owns the socket's fabric [`Subscriber`]
//! (created with its first subscription), applies subscription changes in the order the
//! client sent them (publishes that arrive while changes are queued wait behind them), and
//! moves deliveries into the Engine.IO send buffer, waiting when it is full, so that the
//! subscriber's own bounded queue and overflow policy apply.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use smallvec::SmallVec;
use switchboard_engineio::Socket;
use switchboard_engineio::bridge::ErrorKind;
use switchboard_engineio::proto::{CloseReason, Packet};
use switchboard_fabric::{
    Access, Delivery, Message, Qos, SubOptions, Subscriber, SubscriberSpec, TopicFilter,
};
use tokio::sync::mpsc;

use crate::nsp::NsSocket;
use crate::payload;
use crate::server::{Conn, Inner};

/// Commands a socket may queue for its delivery task.
pub(crate) const COMMAND_QUEUE: usize = 256;
/// Deliveries moved from the subscriber per wake-up.
const DELIVERY_BATCH: usize = 64;

/// Work for the delivery task, in the order the client sent it.
#[derive(Debug)]
pub(crate) enum Command {
    /// Subscribe (acknowledged with `id` once applied).
    Sub {
        filters: SmallVec<[TopicFilter; 1]>,
        id: Option<u64>,
    },
    /// Unsubscribe.
    Unsub {
        filters: SmallVec<[TopicFilter; 1]>,
        id: Option<u64>,
    },
    /// Publish after the changes queued before it.
    Pub {
        message: Box<Message>,
        id: Option<u64>,
    },
}

impl Command {
    fn id(&self) -> Option<u64> {
        match self {
            Command::Sub { id, .. } | Command::Unsub { id, .. } | Command::Pub { id, .. } => *id,
        }
    }
}

/// Queues `command` for `ns`'s delivery task, starting the task the first time.
pub(crate) fn enqueue(
    inner: &Arc<Inner>,
    socket: &Arc<Socket<Conn>>,
    ns: &Arc<NsSocket>,
    command: Command,
) {
    let tx = ns.commands.get_or_init(|| {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (inner, socket, ns) = (inner.clone(), socket.clone(), ns.clone());
        inner
            .tracker
            .clone()
            .spawn(async move { run(inner, socket, ns, rx).await });
        tx
    });
    ns.queued.fetch_add(1, Ordering::AcqRel);
    if let Err(e) = tx.try_send(command) {
        ns.queued.fetch_sub(1, Ordering::AcqRel);
        inner.metrics.common.dropped("command_queue_full");
        crate::server::reply_error(
            socket,
            &ns.nsp.name,
            e.into_inner().id(),
            ErrorKind::Overloaded,
            "too many commands queued",
        );
    }
}

async fn next(sub: &mut Option<Subscriber>) -> Result<Delivery, switchboard_fabric::Closed> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn run(
    inner: Arc<Inner>,
    socket: Arc<Socket<Conn>>,
    ns: Arc<NsSocket>,
    mut rx: mpsc::Receiver<Command>,
) {
    let mut sub: Option<Subscriber> = None;
    let mut batch = Vec::new();
    let mut packets: Vec<Packet> = Vec::new();
    // Created once: a fresh `cancelled()` future per turn would register and deregister a
    // waiter on every delivery.
    let engine_closed = socket.closed();
    let ns_closed = ns.closed.cancelled();
    tokio::pin!(engine_closed, ns_closed);
    loop {
        tokio::select! {
            biased;
            _ = &mut engine_closed => break,
            _ = &mut ns_closed => break,
            command = rx.recv() => {
                let Some(command) = command else { break };
                apply(&inner, &socket, &ns, &mut sub, command).await;
                ns.queued.fetch_sub(1, Ordering::AcqRel);
            }
            delivery = next(&mut sub) => match delivery {
                Ok(d) => {
                    batch.push(d);
                    if let Some(s) = sub.as_mut() {
                        let _ = s.drain_into(&mut batch, DELIVERY_BATCH - 1);
                    }
                    for d in batch.drain(..) {
                        encode(&inner, &ns, &d, &mut packets);
                    }
                    // One lock and one wake-up of the writer for the whole batch, in order.
                    if !packets.is_empty() && socket.send_wait_all(packets.drain(..)).await.is_err() {
                        break;
                    }
                }
                Err(closed) => {
                    tracing::debug!(sid = %ns.sid, %closed, "subscriber closed: ending the connection");
                    socket.close(CloseReason::ForcedClose);
                    break;
                }
            },
        }
    }
}

async fn apply(
    inner: &Inner,
    socket: &Arc<Socket<Conn>>,
    ns: &NsSocket,
    sub: &mut Option<Subscriber>,
    command: Command,
) {
    let nsp = &ns.nsp.name;
    let text = match command {
        Command::Sub { filters, id } => {
            let sub = sub.get_or_insert_with(|| {
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
            if held + new > inner.max_subscriptions {
                match id {
                    Some(id) => payload::ack_err(
                        nsp,
                        id,
                        ErrorKind::TooManySubscriptions,
                        "socketio.max_subscriptions reached",
                    ),
                    None => return,
                }
            } else {
                // Deliveries keep the publisher's QoS (reported in `meta.qos`).
                let opts = SubOptions {
                    max_qos: Qos::ExactlyOnce,
                    ..SubOptions::default()
                };
                for f in filters {
                    sub.subscribe(f, opts.clone());
                }
                match id {
                    Some(id) => payload::ack_ok(nsp, id),
                    None => return,
                }
            }
        }
        Command::Unsub { filters, id } => {
            if let Some(s) = sub.as_mut() {
                for f in &filters {
                    s.unsubscribe(f, None);
                }
            }
            match id {
                Some(id) => payload::ack_ok(nsp, id),
                None => return,
            }
        }
        Command::Pub { message, id } => {
            inner.fabric.publish(*message);
            match id {
                Some(id) => payload::ack_ok(nsp, id),
                None => return,
            }
        }
    };
    let _ = socket.send_wait(Packet::text(text)).await;
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
