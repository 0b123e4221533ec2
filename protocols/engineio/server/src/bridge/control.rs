//! The control protocol's ops, and the per-session delivery task.
//!
//! Ops are parsed where they arrive (the session's transport task). Publishes go straight to
//! the fabric unless subscription changes are still queued, in which case they queue behind
//! them so that a client's `sub` then `pub` is applied in that order. Subscriptions live in
//! the session's delivery task (created with the first `sub`), which owns the fabric
//! [`Subscriber`] and moves deliveries into the session's send buffer, waiting when it is full
//! (so the subscriber's own bounded queue and overflow policy apply).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use switchboard_engineio_proto::{MessageData, Packet};
use switchboard_fabric::{
    Access, Delivery, Message, PayloadKind, Qos, Subscriber, SubscriberSpec, TopicFilter,
};
use tokio::sync::mpsc;

use super::common::REPLY_ERROR_PROPERTY;
use super::frames::{self, ErrorKind, Op};
use super::{COMMAND_QUEUE, Inner, Session, subscribe};
use crate::PROTOCOL;
use crate::socket::Socket;

/// Deliveries moved from the subscriber per wake-up.
const DELIVERY_BATCH: usize = 64;

/// Work for the delivery task, in the order the client sent it.
#[derive(Debug)]
pub(crate) enum Command {
    Sub {
        filter: TopicFilter,
        id: Option<Box<RawValue>>,
    },
    Unsub {
        filter: TopicFilter,
        id: Option<Box<RawValue>>,
    },
    Pub {
        message: Box<Message>,
        id: Option<Box<RawValue>>,
    },
}

fn send_text(socket: &Socket<Session>, text: String) {
    let _ = socket.send(Packet::text(text));
}

fn error(socket: &Socket<Session>, id: Option<&RawValue>, code: ErrorKind, message: &str) {
    send_text(socket, frames::err(id, code, message));
}

/// Handles one message of a control-mode session.
pub(crate) fn on_message(inner: &Arc<Inner>, socket: &Arc<Socket<Session>>, data: MessageData) {
    match data {
        MessageData::Binary(frame) => {
            let Some((topic, payload)) = frames::parse_binary(&frame) else {
                error(
                    socket,
                    None,
                    ErrorKind::BadRequest,
                    "a binary frame is [u16 big-endian topic length][topic][payload]",
                );
                return;
            };
            publish(
                inner,
                socket,
                topic,
                payload,
                PayloadKind::Binary,
                false,
                Qos::AtMostOnce,
                None,
            );
        }
        MessageData::Text(text) => {
            let op: Op<'_> = match serde_json::from_str(text.as_str()) {
                Ok(op) => op,
                Err(e) => {
                    error(
                        socket,
                        None,
                        ErrorKind::BadRequest,
                        &format!("invalid frame: {e}"),
                    );
                    return;
                }
            };
            handle_op(inner, socket, &op);
        }
    }
}

fn handle_op(inner: &Arc<Inner>, socket: &Arc<Socket<Session>>, op: &Op<'_>) {
    let session = socket.data();
    let id = op.id;
    if op.op == "auth" {
        return auth(inner, socket, op);
    }
    if session.identity.lock().is_none() {
        inner.metrics.auth_failure("unauthenticated");
        return error(
            socket,
            id,
            ErrorKind::Unauthorized,
            "authenticate first with {\"op\":\"auth\",\"token\":...}",
        );
    }
    match &*op.op {
        "pub" => {
            let Some(topic) = op.topic.as_deref() else {
                return error(socket, id, ErrorKind::BadRequest, "pub needs a topic");
            };
            let Ok((payload, kind)) = op.payload() else {
                return error(socket, id, ErrorKind::BadRequest, "b64 is not valid base64");
            };
            let qos = if op.qos >= 1 {
                Qos::AtLeastOnce
            } else {
                Qos::AtMostOnce
            };
            publish(inner, socket, topic, payload, kind, op.retain, qos, id);
        }
        "sub" | "unsub" => {
            let Some(f) = op.topic.as_deref() else {
                return error(
                    socket,
                    id,
                    ErrorKind::BadRequest,
                    "sub and unsub need a topic",
                );
            };
            let filter = match inner.filter_in(f) {
                Ok(f) => f,
                Err(e) => return error(socket, id, ErrorKind::InvalidTopic, &e.to_string()),
            };
            let id = id.map(ToOwned::to_owned);
            let command = if op.op == "sub" {
                if !inner.allowed(session, Access::Subscribe, filter.as_str()) {
                    inner.metrics.auth_failure("subscribe");
                    return error(
                        socket,
                        id.as_deref(),
                        ErrorKind::Forbidden,
                        "not allowed to subscribe to this filter",
                    );
                }
                Command::Sub { filter, id }
            } else {
                Command::Unsub { filter, id }
            };
            enqueue(inner, socket, command);
        }
        "req" => request(inner, socket, op),
        "reply" => reply(inner, socket, op),
        other => error(
            socket,
            id,
            ErrorKind::BadRequest,
            &format!("unknown op `{other}`; use sub, unsub, pub, req, reply or auth"),
        ),
    }
}

fn auth(inner: &Inner, socket: &Socket<Session>, op: &Op<'_>) {
    let Some(creds) = super::credentials_from(
        op.token.as_deref(),
        op.username.as_deref(),
        op.password.as_deref(),
    ) else {
        return error(
            socket,
            op.id,
            ErrorKind::BadRequest,
            "auth needs a token or a username",
        );
    };
    let session = socket.data();
    match inner
        .authorizer
        .authenticate(PROTOCOL, &session.client, &creds)
    {
        Ok(identity) => {
            session.set_user(identity.user.clone());
            *session.identity.lock() = Some(identity);
            send_text(socket, frames::ack(op.id));
        }
        Err(e) => {
            inner.metrics.auth_failure("credentials");
            error(socket, op.id, ErrorKind::Unauthorized, &e.to_string());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn publish(
    inner: &Arc<Inner>,
    socket: &Arc<Socket<Session>>,
    topic: &str,
    payload: Bytes,
    kind: PayloadKind,
    retain: bool,
    qos: Qos,
    id: Option<&RawValue>,
) {
    let session = socket.data();
    let topic = match inner.topic_in(topic) {
        Ok(t) => t,
        Err(e) => return error(socket, id, ErrorKind::InvalidTopic, &e.to_string()),
    };
    if !inner.allowed(session, Access::Write, topic.as_str()) {
        inner.metrics.auth_failure("publish");
        return error(
            socket,
            id,
            ErrorKind::Forbidden,
            "not allowed to publish on this topic",
        );
    }
    let message = inner
        .message(session, topic, payload, kind)
        .retain(retain)
        .qos(qos);
    if session.queued.load(Ordering::Acquire) == 0 {
        inner.fabric.publish(message);
        if id.is_some() {
            send_text(socket, frames::ack(id));
        }
    } else {
        let id = id.map(ToOwned::to_owned);
        enqueue(
            inner,
            socket,
            Command::Pub {
                message: Box::new(message),
                id,
            },
        );
    }
}

/// Queues a command for the session's delivery task, starting the task the first time.
fn enqueue(inner: &Arc<Inner>, socket: &Arc<Socket<Session>>, command: Command) {
    let session = socket.data();
    let tx = session.commands.get_or_init(|| {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let inner = inner.clone();
        let socket = socket.clone();
        inner
            .tracker
            .clone()
            .spawn(async move { pump(inner, socket, rx).await });
        tx
    });
    session.queued.fetch_add(1, Ordering::AcqRel);
    if let Err(e) = tx.try_send(command) {
        session.queued.fetch_sub(1, Ordering::AcqRel);
        inner.metrics.dropped("command_queue_full");
        let id = match e.into_inner() {
            Command::Sub { id, .. } | Command::Unsub { id, .. } | Command::Pub { id, .. } => id,
        };
        error(
            socket,
            id.as_deref(),
            ErrorKind::Overloaded,
            "too many commands queued",
        );
    }
}

fn request(inner: &Arc<Inner>, socket: &Arc<Socket<Session>>, op: &Op<'_>) {
    let session = socket.data();
    let id = op.id;
    let Some(topic) = op.topic.as_deref() else {
        return error(socket, id, ErrorKind::BadRequest, "req needs a topic");
    };
    let topic = match inner.topic_in(topic) {
        Ok(t) => t,
        Err(e) => return error(socket, id, ErrorKind::InvalidTopic, &e.to_string()),
    };
    let Ok((payload, kind)) = op.payload() else {
        return error(socket, id, ErrorKind::BadRequest, "b64 is not valid base64");
    };
    if !inner.allowed(session, Access::Write, topic.as_str()) {
        inner.metrics.auth_failure("publish");
        return error(
            socket,
            id,
            ErrorKind::Forbidden,
            "not allowed to publish on this topic",
        );
    }
    if session.requests.fetch_add(1, Ordering::AcqRel) >= inner.max_requests {
        session.requests.fetch_sub(1, Ordering::AcqRel);
        return error(
            socket,
            id,
            ErrorKind::Overloaded,
            "too many requests waiting for replies",
        );
    }
    let timeout = op
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(inner.request_timeout)
        .min(inner.max_request_timeout);
    let message = inner.message(session, topic, payload, kind);
    let id = id.map(ToOwned::to_owned);
    let fabric = inner.fabric.clone();
    let socket = socket.clone();
    inner.tracker.spawn(async move {
        let outcome = tokio::select! {
            r = fabric.request(message, timeout) => Some(r),
            _ = socket.closed() => None,
        };
        if let Some(outcome) = outcome {
            let id = id.as_deref();
            let frame = match outcome {
                Ok(reply) => match reply
                    .properties
                    .iter()
                    .find(|(k, _)| k == REPLY_ERROR_PROPERTY)
                {
                    Some((_, reason)) => frames::err(id, ErrorKind::Rejected, reason),
                    None => frames::res(id, &reply),
                },
                Err(e) => {
                    let code = ErrorKind::for_request(&e);
                    frames::err(id, code, &e.to_string())
                }
            };
            let _ = socket.send_wait(Packet::text(frame)).await;
        }
        socket.data().requests.fetch_sub(1, Ordering::AcqRel);
    });
}

fn reply(inner: &Inner, socket: &Socket<Session>, op: &Op<'_>) {
    let session = socket.data();
    let Some(rid) = op.rid else {
        return error(
            socket,
            op.id,
            ErrorKind::BadRequest,
            "reply needs the rid of the request",
        );
    };
    let Some((reply_to, correlation)) = session.replies.lock().take(rid) else {
        return error(
            socket,
            op.id,
            ErrorKind::UnknownRequest,
            "no open request with this rid",
        );
    };
    let Ok((payload, kind)) = op.payload() else {
        return error(
            socket,
            op.id,
            ErrorKind::BadRequest,
            "b64 is not valid base64",
        );
    };
    let mut message = match &op.error {
        // A rejection: the reason is the payload (text) and the error property.
        Some(reason) => inner
            .message(
                session,
                reply_to,
                Bytes::copy_from_slice(reason.as_bytes()),
                PayloadKind::Text,
            )
            .property(REPLY_ERROR_PROPERTY, reason.as_ref()),
        None => inner.message(session, reply_to, payload, kind),
    };
    message.correlation = correlation;
    inner.fabric.publish(message);
    if op.id.is_some() {
        send_text(socket, frames::ack(op.id));
    }
}

/// Waits for the next delivery, or forever without a subscriber.
async fn next(sub: &mut Option<Subscriber>) -> Result<Delivery, switchboard_fabric::Closed> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// The delivery task of a control-mode session.
async fn pump(inner: Arc<Inner>, socket: Arc<Socket<Session>>, mut rx: mpsc::Receiver<Command>) {
    let mut sub: Option<Subscriber> = None;
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = socket.closed() => break,
            command = rx.recv() => {
                let Some(command) = command else { break };
                apply(&inner, &socket, &mut sub, command).await;
                socket.data().queued.fetch_sub(1, Ordering::AcqRel);
            }
            delivery = next(&mut sub) => match delivery {
                Ok(d) => {
                    batch.push(d);
                    if let Some(s) = sub.as_mut() {
                        let _ = s.drain_into(&mut batch, DELIVERY_BATCH - 1);
                    }
                    for d in batch.drain(..) {
                        if !super::deliver(&inner, &socket, d).await {
                            break;
                        }
                    }
                }
                Err(closed) => {
                    tracing::debug!(client = %socket.data().client, %closed, "subscriber closed: ending the session");
                    socket.close(switchboard_engineio_proto::CloseReason::ForcedClose);
                    break;
                }
            },
        }
    }
}

async fn apply(
    inner: &Inner,
    socket: &Arc<Socket<Session>>,
    sub: &mut Option<Subscriber>,
    command: Command,
) {
    let frame = match command {
        Command::Sub { filter, id } => {
            let sub = sub.get_or_insert_with(|| {
                let created = inner
                    .fabric
                    .subscriber(SubscriberSpec::new(PROTOCOL, socket.data().client.clone()));
                socket.data().attach(&created);
                created
            });
            let held = sub.subscriptions().count();
            let exists = sub.subscriptions().any(|(f, _)| *f == filter);
            if !exists && held >= inner.max_subscriptions {
                frames::err(
                    id.as_deref(),
                    ErrorKind::TooManySubscriptions,
                    "engineio.max_subscriptions reached",
                )
            } else {
                subscribe(sub, filter);
                frames::ack(id.as_deref())
            }
        }
        Command::Unsub { filter, id } => {
            if let Some(s) = sub.as_mut() {
                s.unsubscribe(&filter, None);
            }
            frames::ack(id.as_deref())
        }
        Command::Pub { message, id } => {
            inner.fabric.publish(*message);
            if id.is_none() {
                return;
            }
            frames::ack(id.as_deref())
        }
    };
    let _ = socket.send_wait(Packet::text(frame)).await;
}

/// The delivery task of a raw-mode session: its fixed subscriptions' messages as they are.
pub(crate) async fn raw_pump(inner: Arc<Inner>, socket: Arc<Socket<Session>>, mut sub: Subscriber) {
    let mut batch = Vec::new();
    loop {
        let delivery = tokio::select! {
            biased;
            _ = socket.closed() => break,
            d = sub.recv() => d,
        };
        match delivery {
            Ok(d) => {
                batch.push(d);
                let _ = sub.drain_into(&mut batch, DELIVERY_BATCH - 1);
                for d in batch.drain(..) {
                    if !super::deliver(&inner, &socket, d).await {
                        return;
                    }
                }
            }
            Err(_) => {
                socket.close(switchboard_engineio_proto::CloseReason::ForcedClose);
                break;
            }
        }
    }
}
