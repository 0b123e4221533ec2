//! The control protocol's ops.
//!
//! Ops are handled where they arrive (the session's transport task), in order: `sub` and
//! `unsub` change the session's fabric [`Subscriber`] at once (created with the first `sub`)
//! and are acknowledged before any retained message they replay, so a client's `sub` then
//! `pub` is applied in that order. The transport task drains the subscriber itself
//! ([`Handler::poll_outgoing`](crate::Handler::poll_outgoing)); when the client does not
//! keep up, the subscriber's own bounded queue and overflow policy apply.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use switchboard_engineio_proto::{MessageData, Packet};
use switchboard_fabric::{Access, PayloadKind, Qos, SubscriberSpec};

use super::common::REPLY_ERROR_PROPERTY;
use super::frames::{self, ErrorKind, Op};
use super::{Inner, Session, subscribe};
use crate::PROTOCOL;
use crate::socket::Socket;

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
            if op.op == "sub" {
                if !inner.allowed(session, Access::Subscribe, filter.as_str()) {
                    inner.metrics.auth_failure("subscribe");
                    return error(
                        socket,
                        id,
                        ErrorKind::Forbidden,
                        "not allowed to subscribe to this filter",
                    );
                }
                let mut guard = session.sub.lock();
                let created = guard.is_none();
                let sub = guard.get_or_insert_with(|| {
                    inner
                        .fabric
                        .subscriber(SubscriberSpec::new(PROTOCOL, session.client.clone()))
                });
                let held = sub.subscriptions().count();
                let exists = sub.subscriptions().any(|(f, _)| *f == filter);
                if !exists && held >= inner.max_subscriptions {
                    drop(guard);
                    return error(
                        socket,
                        id,
                        ErrorKind::TooManySubscriptions,
                        "engineio.max_subscriptions reached",
                    );
                }
                // The ack is queued before the subscription can deliver anything (retained
                // replays included): the transport sends queued answers first.
                send_text(socket, frames::ack(id));
                subscribe(sub, filter);
                if created {
                    session.attach(sub);
                    drop(guard);
                    session.sub_waiter.wake();
                }
            } else {
                if let Some(s) = session.sub.lock().as_mut() {
                    s.unsubscribe(&filter, None);
                }
                send_text(socket, frames::ack(id));
            }
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
    inner.fabric.publish(message);
    if id.is_some() {
        send_text(socket, frames::ack(id));
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
