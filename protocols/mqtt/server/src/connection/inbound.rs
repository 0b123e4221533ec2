//! Packets from a connected client: PUBLISH (topic aliases, ACL, QoS 1/2 acknowledgements,
//! exactly-once de-duplication), the acknowledgements of messages we sent, SUBSCRIBE,
//! UNSUBSCRIBE, PINGREQ, DISCONNECT and AUTH.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use switchboard_fabric::durable::{self, Ticket};
use switchboard_fabric::{
    Access, OverflowPolicy, Qos, Replay, SubOptions, SubscriberSpec, TopicFilter,
};
use switchboard_mqtt_proto::{
    AckProperties, Disconnect, Packet, PacketType, PubAck, PubComp, PubRec, PubRel, Publish, QoS,
    QosPid, ReasonCode, RetainHandling, SubAck, Subscribe, UnsubAck, Unsubscribe,
};

use super::{End, Io, State, connect::error_kind};
use crate::bridge::{self, InboundError};
use crate::metrics::Tally;
use crate::transport::Transport;

/// Handles every complete packet in the read buffer. `Some(end)`: the connection must close.
pub(crate) fn handle_buffer<T: Transport>(
    state: &mut State,
    io: &mut Io<T>,
    tally: &mut Tally,
) -> Option<End> {
    loop {
        match state.decoder.decode(&mut io.rbuf) {
            Ok(Some(packet)) => {
                tally.packet_in(packet.packet_type());
                if let Some(end) = handle(state, &mut io.wbuf, packet, tally) {
                    return Some(end);
                }
            }
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(error = %e, "malformed packet");
                return Some(End::Protocol(e.reason_code(), error_kind(&e)));
            }
        }
    }
}

fn handle(state: &mut State, out: &mut BytesMut, packet: Packet, tally: &mut Tally) -> Option<End> {
    match packet {
        Packet::Publish(p) => publish(state, out, p, tally),
        Packet::PubAck(a) => {
            if let Some(f) = state
                .session
                .inflight
                .complete(a.packet_id, Qos::AtLeastOnce)
            {
                inflight_done(tally, 1);
                journal_done(state, f.seq);
            }
            None
        }
        Packet::PubRec(r) => {
            if r.reason_code.is_error() {
                if let Some(f) = state
                    .session
                    .inflight
                    .complete(r.packet_id, Qos::ExactlyOnce)
                {
                    inflight_done(tally, 1);
                    journal_done(state, f.seq);
                }
                return None;
            }
            let code = if state.session.inflight.release(r.packet_id) {
                if let (Some(j), Some(f)) = (
                    &state.session.journal,
                    state.session.inflight.get(r.packet_id),
                ) {
                    j.sent(f);
                }
                ReasonCode::Success
            } else {
                ReasonCode::PacketIdentifierNotFound
            };
            send(state, out, PubRel::with_reason(r.packet_id, code), tally);
            None
        }
        Packet::PubRel(r) => {
            let code = if state.session.received.remove(r.packet_id) {
                if let Some(j) = &state.session.journal {
                    j.received(r.packet_id, false);
                }
                ReasonCode::Success
            } else {
                ReasonCode::PacketIdentifierNotFound
            };
            send(state, out, PubComp::with_reason(r.packet_id, code), tally);
            None
        }
        Packet::PubComp(c) => {
            if let Some(f) = state.session.inflight.finish(c.packet_id) {
                inflight_done(tally, 1);
                journal_done(state, f.seq);
            }
            None
        }
        Packet::Subscribe(s) => {
            subscribe(state, out, s, tally);
            save_session(state);
            None
        }
        Packet::Unsubscribe(u) => {
            unsubscribe(state, out, u, tally);
            save_session(state);
            None
        }
        Packet::PingReq => {
            let before = out.len();
            if switchboard_mqtt_proto::PingResp
                .encode(state.version, out)
                .is_ok()
            {
                tally.packet_out(PacketType::PingResp);
                tally.bytes_out += (out.len() - before) as u64;
            }
            None
        }
        Packet::Disconnect(d) => Some(disconnect(state, d)),
        Packet::Auth(_) => Some(End::Protocol(
            ReasonCode::ProtocolError,
            "auth_without_method",
        )),
        Packet::Connect(_) => Some(End::Protocol(ReasonCode::ProtocolError, "second_connect")),
        Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => Some(
            End::Protocol(ReasonCode::ProtocolError, "server_packet_from_client"),
        ),
    }
}

pub(crate) fn inflight_done(tally: &mut Tally, n: usize) {
    tally.inflight_delta -= n as i64;
}

fn journal_done(state: &State, seq: u64) {
    if let Some(j) = &state.session.journal {
        j.done(seq);
    }
}

/// Writes the session record of a persistent session (subscriptions, will).
pub(crate) fn save_session(state: &State) {
    if let Some(j) = &state.session.journal {
        j.save(
            &state.session,
            state.will.as_deref().map(|w| (w, &state.identity)),
            false,
        );
    }
}

/// Acknowledges a PUBLISH now, or holds the acknowledgement until `ticket` is durable (and behind
/// any acknowledgement already held, so that they go out in order).
#[allow(clippy::too_many_arguments)]
fn ack_or_hold(
    state: &mut State,
    out: &mut BytesMut,
    qos_pid: QosPid,
    code: ReasonCode,
    reason: Option<&'static str>,
    tally: &mut Tally,
    ticket: Option<Ticket>,
) {
    if qos_pid == QosPid::AtMostOnce {
        return;
    }
    let wait = ticket.filter(|_| state.shared.store.get().is_some_and(|s| s.acks_wait()));
    let holding = state.held.as_ref().is_some_and(|h| !h.is_empty());
    if wait.is_none() && !holding {
        ack_publish(state, out, qos_pid, code, reason, tally);
        return;
    }
    let mut packet = BytesMut::new();
    ack_publish(state, &mut packet, qos_pid, code, reason, tally);
    let held = match &mut state.held {
        Some(h) => h,
        none => {
            let Some(rx) = state.shared.store.get().map(|s| s.watch()) else {
                out.extend_from_slice(&packet);
                return;
            };
            none.insert(Box::new(super::HeldAcks::new(rx)))
        }
    };
    held.push(wait.map_or(0, |t| t.0), packet);
}

/// Encodes an acknowledgement or other small packet.
fn send<P: Into<Packet>>(state: &State, out: &mut BytesMut, p: P, tally: &mut Tally) {
    let p = p.into();
    let before = out.len();
    match p.encode(state.version, out) {
        Ok(()) => {
            tally.packet_out(p.packet_type());
            tally.bytes_out += (out.len() - before) as u64;
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode {}", p.packet_type()),
    }
}

/// Acknowledges a QoS 1/2 PUBLISH with `code` (3.1.1 clients only see success).
fn ack_publish(
    state: &State,
    out: &mut BytesMut,
    qos_pid: QosPid,
    code: ReasonCode,
    reason: Option<&'static str>,
    tally: &mut Tally,
) {
    let properties = AckProperties {
        reason_string: reason.and_then(|r| state.reason(r)),
        ..AckProperties::default()
    };
    match qos_pid {
        QosPid::AtMostOnce => {}
        QosPid::AtLeastOnce(pid) => send(
            state,
            out,
            PubAck {
                packet_id: pid,
                reason_code: code,
                properties,
            },
            tally,
        ),
        QosPid::ExactlyOnce(pid) => send(
            state,
            out,
            PubRec {
                packet_id: pid,
                reason_code: code,
                properties,
            },
            tally,
        ),
    }
}

/// Resolves the topic of a PUBLISH, applying and recording topic aliases (MQTT 5).
fn resolve_topic(state: &mut State, p: &Publish) -> Result<switchboard_fabric::Topic, End> {
    let mount = &state.shared.config.mount;
    let max = state.shared.config.max_topic_alias;
    let topics = state.topics.get_or_insert_with(Default::default);
    let Some(alias) = p.properties.topic_alias else {
        return topics
            .inbound
            .get(mount, &p.topic)
            .map_err(|_| End::Protocol(ReasonCode::TopicNameInvalid, "invalid_topic"));
    };
    if alias.get() > max {
        return Err(End::Protocol(
            ReasonCode::TopicAliasInvalid,
            "topic_alias_invalid",
        ));
    }
    let slot = usize::from(alias.get() - 1);
    if topics.in_aliases.is_empty() {
        topics.in_aliases = vec![None; usize::from(max)];
    }
    if p.topic.is_empty() {
        return topics
            .in_aliases
            .get(slot)
            .cloned()
            .flatten()
            .ok_or(End::Protocol(
                ReasonCode::ProtocolError,
                "unknown_topic_alias",
            ));
    }
    let topic = topics
        .inbound
        .get(mount, &p.topic)
        .map_err(|_| End::Protocol(ReasonCode::TopicNameInvalid, "invalid_topic"))?;
    if let Some(s) = topics.in_aliases.get_mut(slot) {
        *s = Some(topic.clone());
    }
    Ok(topic)
}

fn publish(state: &mut State, out: &mut BytesMut, p: Publish, tally: &mut Tally) -> Option<End> {
    tally.message_in(p.qos().as_u8());
    tally.publish_bytes_in += p.payload.len() as u64;
    let v5 = state.version.is_v5();
    if let QosPid::ExactlyOnce(pid) = p.qos_pid {
        if state.session.received.contains(pid) {
            // A re-sent QoS 2 message already published: acknowledge, do not publish again.
            ack_or_hold(
                state,
                out,
                p.qos_pid,
                ReasonCode::Success,
                None,
                tally,
                None,
            );
            return None;
        }
        if v5 && state.session.received.len() >= usize::from(state.shared.config.max_inflight) {
            return Some(End::Protocol(
                ReasonCode::ReceiveMaximumExceeded,
                "receive_maximum_exceeded",
            ));
        }
    }
    let topic = match resolve_topic(state, &p) {
        Ok(t) => t,
        Err(end) => return Some(end),
    };
    let shared = &state.shared;
    let denied = topic.as_str().starts_with("$SYS")
        || !shared
            .authorizer
            .authorize(&state.identity, Access::Write, topic.as_str());
    if denied {
        shared.proto.auth_failure("publish");
        shared.proto.dropped("not_authorized");
        // 3.1.1 has no way to say no: the message is acknowledged and dropped, as mosquitto does.
        let code = if v5 {
            ReasonCode::NotAuthorized
        } else {
            ReasonCode::Success
        };
        ack_or_hold(
            state,
            out,
            p.qos_pid,
            code,
            Some("not authorised"),
            tally,
            None,
        );
        if !v5 && let QosPid::ExactlyOnce(pid) = p.qos_pid {
            state.session.received.insert(pid);
        }
        return None;
    }
    let now = std::time::Instant::now();
    let message = match bridge::to_message(topic, &p, state.origin(), &shared.config.mount, now) {
        Ok(m) => m,
        Err(e) => {
            shared.proto.dropped("invalid_publish");
            let (code, why) = match e {
                InboundError::PayloadNotUtf8 => {
                    (ReasonCode::PayloadFormatInvalid, "payload is not UTF-8")
                }
                InboundError::ResponseTopic(_) => {
                    (ReasonCode::TopicNameInvalid, "invalid response topic")
                }
            };
            if p.qos() == QoS::AtMostOnce {
                return None;
            }
            ack_or_hold(state, out, p.qos_pid, code, Some(why), tally, None);
            return None;
        }
    };
    // Whatever the publication wrote to the store (a retained value, messages queued for
    // persistent sessions) and the QoS 2 identifier must be durable before the acknowledgement.
    let (matched, ticket) = durable::tracked(|| {
        let matched = state.shared.fabric.publish(message);
        if let QosPid::ExactlyOnce(pid) = p.qos_pid {
            state.session.received.insert(pid);
            if let Some(j) = &state.session.journal {
                j.received(pid, true);
            }
        }
        matched
    });
    let code = if v5 && matched == 0 {
        ReasonCode::NoMatchingSubscribers
    } else {
        ReasonCode::Success
    };
    ack_or_hold(state, out, p.qos_pid, code, None, tally, ticket);
    None
}

/// Splits `$share/<group>/<filter>` and adds the mount.
fn fabric_filter(
    mount: &str,
    filter: &switchboard_mqtt_proto::TopicFilter,
) -> Option<(TopicFilter, Option<Arc<str>>)> {
    let (group, inner) = match filter.shared() {
        Some((g, f)) => (Some(Arc::<str>::from(g)), f),
        None => (None, filter.as_str()),
    };
    let text = if mount.is_empty() || inner.starts_with('$') {
        TopicFilter::new(inner)
    } else {
        TopicFilter::new(format!("{mount}{inner}"))
    };
    text.ok().map(|f| (f, group))
}

fn granted(q: QoS) -> ReasonCode {
    match q {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

fn subscribe(state: &mut State, out: &mut BytesMut, s: Subscribe, tally: &mut Tally) {
    let shared = state.shared.clone();
    let tag = s.properties.subscription_identifier.map(|t| t.get());
    let mut codes = Vec::with_capacity(s.subscriptions.len());
    for sub in &s.subscriptions {
        let Some((filter, group)) = fabric_filter(&shared.config.mount, &sub.filter) else {
            shared.metrics.protocol_error("invalid_topic_filter");
            codes.push(ReasonCode::TopicFilterInvalid);
            continue;
        };
        if !shared
            .authorizer
            .authorize(&state.identity, Access::Subscribe, filter.as_str())
        {
            shared.proto.auth_failure("subscribe");
            codes.push(ReasonCode::NotAuthorized);
            continue;
        }
        let o = sub.options;
        let options = SubOptions {
            max_qos: bridge::qos_to_fabric(o.qos),
            no_local: state.version.is_v5() && o.no_local,
            retain_as_published: state.version.is_v5() && o.retain_as_published,
            replay: match o.retain_handling {
                RetainHandling::SendAtSubscribe => Replay::Always,
                RetainHandling::SendAtSubscribeIfNew => Replay::IfNew,
                RetainHandling::DoNotSend => Replay::Never,
            },
            tag,
            group: group.clone(),
        };
        let subscriber = match &mut state.session.subscriber {
            Some(s) => s,
            none => {
                let mut spec =
                    SubscriberSpec::new(shared.protocol.clone(), state.identity.client_id.clone())
                        .capacity(shared.config.max_queued_messages)
                        .policy(OverflowPolicy::DropNew);
                if let Some(j) = &state.session.journal {
                    spec = spec.observer(j.clone());
                }
                let created = shared.fabric.subscriber(spec);
                if let Some(r) = &state.registration {
                    r.attach(created.handle());
                }
                none.insert(Box::new(created))
            }
        };
        if subscriber.subscribe(filter, options) && group.is_some() {
            shared.shared_subscriptions.fetch_add(1, Ordering::Relaxed);
        }
        codes.push(granted(o.qos));
    }
    send(state, out, SubAck::new(s.packet_id, codes), tally);
}

fn unsubscribe(state: &mut State, out: &mut BytesMut, u: Unsubscribe, tally: &mut Tally) {
    let shared = state.shared.clone();
    let mut codes = Vec::with_capacity(u.filters.len());
    for f in &u.filters {
        let code = match fabric_filter(&shared.config.mount, f) {
            None => ReasonCode::TopicFilterInvalid,
            Some((filter, group)) => {
                let removed = state
                    .session
                    .subscriber
                    .as_mut()
                    .is_some_and(|s| s.unsubscribe(&filter, group.as_ref()));
                if removed && group.is_some() {
                    shared.shared_subscriptions.fetch_sub(1, Ordering::Relaxed);
                }
                if removed {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                }
            }
        };
        codes.push(code);
    }
    send(state, out, UnsubAck::new(u.packet_id, codes), tally);
}

fn disconnect(state: &mut State, d: Disconnect) -> End {
    if let Some(expiry) = d.properties.session_expiry_interval {
        if state.session.expiry == 0 && expiry != 0 {
            return End::Protocol(ReasonCode::ProtocolError, "session_expiry_after_zero");
        }
        state.session.expiry = state.shared.session_expiry(expiry);
    }
    End::ClientDisconnect {
        with_will: d.reason_code == ReasonCode::DisconnectWithWillMessage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_filters_are_split_and_mounted() {
        let f = switchboard_mqtt_proto::TopicFilter::try_from("$share/g1/a/+").unwrap();
        let (filter, group) = fabric_filter("m/", &f).unwrap();
        assert_eq!(filter.as_str(), "m/a/+");
        assert_eq!(group.as_deref(), Some("g1"));
        let f = switchboard_mqtt_proto::TopicFilter::try_from("$SYS/#").unwrap();
        assert_eq!(fabric_filter("m/", &f).unwrap().0.as_str(), "$SYS/#");
    }

    #[test]
    fn granted_codes_follow_the_qos() {
        assert_eq!(granted(QoS::AtMostOnce), ReasonCode::Success);
        assert_eq!(granted(QoS::ExactlyOnce), ReasonCode::GrantedQoS2);
    }
}
