//! The `control` mapping of a namespace: the events `subscribe`, `unsubscribe`, `publish`
//! and `request`, each acknowledged with `{"ok":true}` (a request with its reply) or
//! `{"ok":false,"code":C,"message":M}` with the codes of the Engine.IO control protocol;
//! and the acknowledgements clients send to answer the gateway's `request` events.
//!
//! | client | fabric |
//! |---|---|
//! | `emit("subscribe", filter \| [filters], ack)` | subscribe (retained replays follow the ack) |
//! | `emit("unsubscribe", filter \| [filters], ack)` | unsubscribe |
//! | `emit("publish", topic, data, {retain, qos}, ack)` | publish (string → text, bytes → binary, other → JSON) |
//! | `emit("request", topic, data, {timeout_ms}, ack)` | request; the ack carries `{"ok":true,"data":reply}` |
//! | `on("message", (topic, data, meta) => ...)` | a delivery (`meta`: `{retain, qos}`) |
//! | `on("request", (topic, data, meta, reply) => reply(x))` | a request to answer |

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use smallvec::SmallVec;
use switchboard_engineio::Socket;
use switchboard_engineio::bridge::ErrorKind;
use switchboard_engineio::proto::Packet;
use switchboard_fabric::{Access, Message, Origin, PayloadKind, Qos, TopicFilter};
use switchboard_socketio_proto::{EventName, json};

use crate::nsp::NsSocket;
use crate::payload::{self, arg_payload};
use crate::pump::{self, Command};
use crate::server::{Conn, Inner, reply_error};

/// One event as the mappings see it.
#[derive(Debug)]
pub(crate) struct Event<'p, 'a> {
    pub(crate) name: &'p EventName<'a>,
    pub(crate) args: &'p [&'a str],
    pub(crate) id: Option<u64>,
    /// The packet text the arguments borrow from.
    pub(crate) buf: &'p Bytes,
    pub(crate) attachments: &'p [Bytes],
}

/// The options argument of `publish` and `request`.
#[derive(Debug, Default, Deserialize)]
struct Options {
    #[serde(default)]
    retain: bool,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

fn options(raw: Option<&&str>) -> Options {
    raw.filter(|r| r.starts_with('{'))
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}

/// A message from `ns` (origin: this protocol and the socket id).
pub(crate) fn message(
    inner: &Inner,
    ns: &NsSocket,
    topic: switchboard_fabric::Topic,
    payload: Bytes,
    kind: PayloadKind,
) -> Message {
    Message::new(topic, payload)
        .kind(kind)
        .origin(Origin::new(inner.protocol.clone(), ns.sid.clone()))
}

fn ok(socket: &Socket<Conn>, ns: &NsSocket, id: Option<u64>) {
    if let Some(id) = id {
        let _ = socket.send(Packet::text(payload::ack_ok(&ns.nsp.name, id)));
    }
}

/// Publishes (after every change the client sent before: those are applied already).
pub(crate) fn publish(
    inner: &Arc<Inner>,
    socket: &Arc<Socket<Conn>>,
    ns: &Arc<NsSocket>,
    message: Message,
    id: Option<u64>,
) {
    inner.fabric.publish(message);
    ok(socket, ns, id);
}

/// Handles one event of a control-mode socket.
pub(crate) fn on_event(
    inner: &Arc<Inner>,
    socket: &Arc<Socket<Conn>>,
    ns: &Arc<NsSocket>,
    e: &Event<'_, '_>,
) {
    let nsp = &*ns.nsp.name;
    let fail = |code, message: &str| reply_error(socket, nsp, e.id, code, message);
    match e.name.as_str() {
        Some("publish") => {
            let Some(topic) = e.args.first().and_then(|t| json::read_str(t)) else {
                return fail(ErrorKind::BadRequest, "publish needs a topic string");
            };
            let (data, kind) = match e.args.get(1) {
                Some(raw) => match arg_payload(raw, e.buf, e.attachments) {
                    Ok(p) => p,
                    Err(why) => return fail(ErrorKind::BadRequest, why),
                },
                None => (Bytes::from_static(b"null"), PayloadKind::Json),
            };
            let opts = options(e.args.get(2));
            let topic = match ns.topic(&topic) {
                Ok(t) => t,
                Err(err) => return fail(ErrorKind::InvalidTopic, &err.to_string()),
            };
            if !inner
                .authorizer
                .authorize(&ns.identity, Access::Write, topic.as_str())
            {
                inner.metrics.common.auth_failure("publish");
                return fail(ErrorKind::Forbidden, "not allowed to publish on this topic");
            }
            let qos = if opts.qos >= 1 {
                Qos::AtLeastOnce
            } else {
                Qos::AtMostOnce
            };
            let m = message(inner, ns, topic, data, kind)
                .retain(opts.retain)
                .qos(qos);
            publish(inner, socket, ns, m, e.id);
        }
        Some(op @ ("subscribe" | "unsubscribe")) => {
            let names: SmallVec<[std::borrow::Cow<'_, str>; 1]> = match e.args.first() {
                Some(raw) if raw.starts_with('[') => {
                    match serde_json::from_str::<Vec<String>>(raw) {
                        Ok(v) => v.into_iter().map(std::borrow::Cow::Owned).collect(),
                        Err(_) => {
                            return fail(ErrorKind::BadRequest, "filters must be strings");
                        }
                    }
                }
                Some(raw) => match json::read_str(raw) {
                    Some(f) => SmallVec::from_iter([f]),
                    None => return fail(ErrorKind::BadRequest, "a filter must be a string"),
                },
                None => {
                    return fail(
                        ErrorKind::BadRequest,
                        "subscribe and unsubscribe need a filter",
                    );
                }
            };
            let mut filters: SmallVec<[TopicFilter; 1]> = SmallVec::new();
            for n in &names {
                match ns.nsp.mount.filter_in(n) {
                    Ok(f) => filters.push(f),
                    Err(err) => {
                        return fail(ErrorKind::InvalidTopic, &format!("`{n}`: {err}"));
                    }
                }
            }
            let command = if op == "subscribe" {
                if let Some(f) = filters.iter().find(|f| {
                    !inner
                        .authorizer
                        .authorize(&ns.identity, Access::Subscribe, f.as_str())
                }) {
                    inner.metrics.common.auth_failure("subscribe");
                    let shown = f
                        .as_str()
                        .strip_prefix(ns.nsp.mount.as_str())
                        .unwrap_or(f.as_str());
                    return fail(
                        ErrorKind::Forbidden,
                        &format!("not allowed to subscribe to `{shown}`"),
                    );
                }
                Command::Sub { filters, id: e.id }
            } else {
                Command::Unsub { filters, id: e.id }
            };
            pump::apply(inner, socket, ns, command);
        }
        Some("request") => request(inner, socket, ns, e),
        _ => fail(
            ErrorKind::BadRequest,
            &format!(
                "unknown event `{}`; use subscribe, unsubscribe, publish or request",
                e.name
            ),
        ),
    }
}

fn request(inner: &Arc<Inner>, socket: &Arc<Socket<Conn>>, ns: &Arc<NsSocket>, e: &Event<'_, '_>) {
    let nsp = &*ns.nsp.name;
    let fail = |code, message: &str| reply_error(socket, nsp, e.id, code, message);
    let Some(id) = e.id else {
        return fail(
            ErrorKind::BadRequest,
            "request needs an acknowledgement callback to receive the reply",
        );
    };
    let Some(topic) = e.args.first().and_then(|t| json::read_str(t)) else {
        return fail(ErrorKind::BadRequest, "request needs a topic string");
    };
    let (data, kind) = match e.args.get(1) {
        Some(raw) => match arg_payload(raw, e.buf, e.attachments) {
            Ok(p) => p,
            Err(why) => return fail(ErrorKind::BadRequest, why),
        },
        None => (Bytes::from_static(b"null"), PayloadKind::Json),
    };
    let opts = options(e.args.get(2));
    let topic = match ns.nsp.mount.topic_in(&topic) {
        Ok(t) => t,
        Err(err) => return fail(ErrorKind::InvalidTopic, &err.to_string()),
    };
    if !inner
        .authorizer
        .authorize(&ns.identity, Access::Write, topic.as_str())
    {
        inner.metrics.common.auth_failure("publish");
        return fail(ErrorKind::Forbidden, "not allowed to publish on this topic");
    }
    if ns.requests.fetch_add(1, Ordering::AcqRel) >= inner.max_requests {
        ns.requests.fetch_sub(1, Ordering::AcqRel);
        return fail(
            ErrorKind::Overloaded,
            "too many requests waiting for replies",
        );
    }
    let timeout = opts
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(inner.request_timeout)
        .min(inner.max_request_timeout);
    let m = message(inner, ns, topic, data, kind);
    let (fabric, socket, ns) = (inner.fabric.clone(), socket.clone(), ns.clone());
    inner.tracker.spawn(async move {
        let outcome = tokio::select! {
            r = fabric.request(m, timeout) => Some(r),
            _ = socket.closed() => None,
            _ = ns.closed.cancelled() => None,
        };
        if let Some(outcome) = outcome {
            let nsp = &ns.nsp.name;
            let sent = match outcome {
                Ok(reply) => {
                    let (text, attachment) = payload::ack_reply(nsp, id, &reply);
                    match attachment {
                        None => socket.send_wait(Packet::text(text)).await,
                        Some(a) => {
                            socket
                                .send_wait_all([Packet::text(text), Packet::binary(a)])
                                .await
                        }
                    }
                }
                Err(err) => {
                    let text =
                        payload::ack_err(nsp, id, ErrorKind::for_request(&err), &err.to_string());
                    socket.send_wait(Packet::text(text)).await
                }
            };
            let _ = sent;
        }
        ns.requests.fetch_sub(1, Ordering::AcqRel);
    });
}

/// A client acknowledged event `id`: when it was a request the gateway delivered, its first
/// argument is the reply.
pub(crate) fn on_ack(
    inner: &Inner,
    ns: &NsSocket,
    id: u64,
    args: &[&str],
    buf: &Bytes,
    attachments: &[Bytes],
) {
    let Some((reply_to, correlation)) = ns.replies.lock().take(id) else {
        return;
    };
    let (data, kind) = match args.first() {
        Some(raw) => match arg_payload(raw, buf, attachments) {
            Ok(p) => p,
            Err(_) => {
                inner.metrics.common.dropped("bad_reply");
                return;
            }
        },
        None => (Bytes::from_static(b"null"), PayloadKind::Json),
    };
    let mut m = message(inner, ns, reply_to, data, kind);
    m.correlation = correlation;
    inner.fabric.publish(m);
}
