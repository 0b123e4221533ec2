//! The `events` (zero-code) mapping of a namespace: every event name is a topic below the
//! namespace's `mount`. `emit("plant/1/temp", 21.5)` publishes `21.5` (JSON) on
//! `plant/1/temp`; one argument is the payload as it is (a string is text, bytes are binary),
//! none is `null`, several are a JSON array. An acknowledgement callback gets `{"ok":true}`
//! or an error object. Messages of the joined filters arrive as events named by their topic,
//! `(data, meta)`, with a `reply` callback for requests.

use std::sync::Arc;

use switchboard_engineio::Socket;
use switchboard_engineio::bridge::ErrorKind;
use switchboard_fabric::Access;
use switchboard_socketio_proto::EventName;

use crate::control::{Event, message, publish};
use crate::nsp::NsSocket;
use crate::payload::args_payload;
use crate::server::{Conn, Inner, reply_error};

/// Handles one event of an events-mode socket: publishes it on the topic its name gives.
pub(crate) fn on_event(
    inner: &Arc<Inner>,
    socket: &Arc<Socket<Conn>>,
    ns: &Arc<NsSocket>,
    e: &Event<'_, '_>,
) {
    let nsp = &*ns.nsp.name;
    let fail = |code, message: &str| reply_error(socket, nsp, e.id, code, message);
    let name: &str = match e.name {
        EventName::Text(t) => t,
        EventName::Number(n) => n,
    };
    let topic = match ns.topic(name) {
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
    let (data, kind) = match args_payload(e.args, e.buf, e.attachments) {
        Ok(p) => p,
        Err(why) => return fail(ErrorKind::BadRequest, why),
    };
    let m = message(inner, ns, topic, data, kind);
    publish(inner, socket, ns, m, e.id);
}
