//! Deliveries from the fabric to the client: topic conversion (skipping what MQTT cannot carry),
//! the read ACL, message expiry, the client's Maximum Packet Size, outbound topic aliases, QoS 1/2
//! flow control (Receive Maximum / `max_inflight`), and re-sending unacknowledged messages when a
//! session resumes.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::sync::Arc;

use bytes::BytesMut;
use switchboard_fabric::{Access, Delivery, Qos};
use switchboard_mqtt_proto::{
    PacketType, PubRel, Publish, PublishProperties, QoS, QosPid, ReasonCode, TopicName,
};

use super::{DELIVERY_BATCH, State, WRITE_HIGH};
use crate::bridge;
use crate::metrics::Tally;
use crate::session::OutFlight;

/// Topic aliases assigned to topics sent to one client: new topics take free aliases, then
/// replace the oldest assignments in turn.
#[derive(Debug)]
pub(crate) struct OutAliases {
    max: u16,
    map: HashMap<Arc<str>, u16>,
    by_alias: Vec<Arc<str>>,
    victim: u16,
    last: Option<(Arc<str>, u16)>,
}

impl OutAliases {
    pub(crate) fn new(max: u16) -> Self {
        OutAliases {
            max,
            map: HashMap::new(),
            by_alias: Vec::new(),
            victim: 0,
            last: None,
        }
    }

    /// The alias for `topic`, and whether it was just assigned (the topic name must then be
    /// sent with it).
    pub(crate) fn get(&mut self, topic: &Arc<str>) -> Option<(NonZeroU16, bool)> {
        if let Some((t, a)) = &self.last
            && Arc::ptr_eq(t, topic)
        {
            return NonZeroU16::new(*a).map(|a| (a, false));
        }
        if let Some(&a) = self.map.get(topic) {
            self.last = Some((topic.clone(), a));
            return NonZeroU16::new(a).map(|a| (a, false));
        }
        if self.max == 0 {
            return None;
        }
        let alias = if self.by_alias.len() < usize::from(self.max) {
            self.by_alias.push(topic.clone());
            u16::try_from(self.by_alias.len()).ok()?
        } else {
            let i = usize::from(self.victim);
            self.victim = (self.victim + 1) % self.max;
            let old = std::mem::replace(&mut self.by_alias[i], topic.clone());
            self.map.remove(&old);
            u16::try_from(i + 1).ok()?
        };
        self.map.insert(topic.clone(), alias);
        self.last = Some((topic.clone(), alias));
        NonZeroU16::new(alias).map(|a| (a, true))
    }
}

/// Turns one delivery into a PUBLISH in `out`, or skips it (counted). A journaled delivery's
/// record follows it: updated with its packet identifier, or deleted when it is not sent.
pub(crate) fn deliver(state: &mut State, out: &mut BytesMut, d: Delivery, tally: &mut Tally) {
    let seq = state.session.journal.as_ref().and_then(|j| j.taken(&d));
    if !deliver_one(state, out, d, tally, seq.unwrap_or(0))
        && let (Some(seq), Some(j)) = (seq, &state.session.journal)
    {
        j.done(seq);
    }
}

/// Returns whether the delivery went in flight (QoS 1/2 sent).
fn deliver_one(
    state: &mut State,
    out: &mut BytesMut,
    d: Delivery,
    tally: &mut Tally,
    seq: u64,
) -> bool {
    let shared = &state.shared;
    if state.session.offline_backlog > 0 {
        state.session.offline_backlog -= 1;
        if d.qos == Qos::AtMostOnce {
            shared.proto.dropped("offline_qos0");
            return false;
        }
    }
    let mount = &shared.config.mount;
    let topics = state.topics.get_or_insert_with(Default::default);
    let name = match topics.outbound.get(mount, &d.message.topic) {
        Ok(n) => n,
        Err(e) => {
            shared.metrics.skipped(e.reason());
            shared.proto.dropped(e.reason());
            return false;
        }
    };
    if !shared
        .authorizer
        .authorize(&state.identity, Access::Read, d.message.topic.as_str())
    {
        shared.proto.auth_failure("read");
        return false;
    }
    // The clock is only read for messages that expire.
    let now = match d.message.expires_at {
        Some(_) => std::time::Instant::now(),
        None => d.message.created,
    };
    if d.message.expires_at.is_some() && d.message.is_expired(now) {
        shared.proto.dropped("expired");
        return false;
    }
    let qos = bridge::qos_from_fabric(d.qos);
    let mut publish = Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: d.retain,
        topic: name,
        properties: PublishProperties::default(),
        payload: d.message.payload.clone(),
    };
    let v5 = state.version.is_v5();
    if v5 {
        publish.properties = bridge::properties(&d.message, &d.tags, mount, now);
    }
    if state.client_max_packet < switchboard_mqtt_proto::MAX_PACKET_SIZE {
        // A placeholder identifier for sizing; the real one is taken only if the message goes out.
        if let Some(pid) = switchboard_mqtt_proto::PacketId::new(1) {
            publish.qos_pid = QosPid::from_parts(qos, Some(pid)).unwrap_or_default();
        }
        match publish.encoded_len(state.version) {
            Ok(len) if len as u64 <= u64::from(state.client_max_packet) => {}
            _ => {
                shared.metrics.skipped("packet_too_large");
                shared.proto.dropped("packet_too_large");
                return false;
            }
        }
    }
    if qos != QoS::AtMostOnce {
        // A journaled message's identifier follows its sequence number, so that it is the same
        // after a restart even if the record did not carry it yet.
        let pid = match crate::persist::pid_for(seq) {
            Some(p) if seq != 0 && !state.session.inflight.contains(p) => p,
            _ => state.session.inflight.next_pid(),
        };
        publish.qos_pid = QosPid::from_parts(qos, Some(pid)).unwrap_or_default();
    }
    if state.client_alias_max > 0 {
        let max = state.client_alias_max;
        let aliases = state
            .topics
            .get_or_insert_with(Default::default)
            .out_aliases
            .get_or_insert_with(|| OutAliases::new(max));
        if let Some((alias, new)) = aliases.get(d.message.topic.as_arc()) {
            publish.properties.topic_alias = Some(alias);
            if !new {
                publish.topic = TopicName::empty();
            }
        }
    }
    let before = out.len();
    if let Err(e) = publish.encode(state.version, out) {
        tracing::debug!(error = %e, "cannot encode a delivery");
        shared.proto.dropped("encode_failed");
        return false;
    }
    tally.packet_out(PacketType::Publish);
    tally.message_out(qos.as_u8());
    tally.bytes_out += (out.len() - before) as u64;
    tally.publish_bytes_out += d.message.payload.len() as u64;
    if let Some(pid) = publish.packet_id() {
        tally.inflight_delta += 1;
        let flight = OutFlight {
            pid,
            seq,
            message: d.message,
            qos: d.qos,
            retain: d.retain,
            tags: d.tags,
            released: false,
        };
        if let Some(j) = &state.session.journal {
            j.sent(&flight);
        }
        state.session.inflight.push(flight);
        return true;
    }
    false
}

/// Drains queued deliveries into `out` while the batch, the buffer and the send quota allow.
pub(crate) fn drain(state: &mut State, out: &mut BytesMut, tally: &mut Tally) {
    for _ in 0..DELIVERY_BATCH {
        if out.len() >= WRITE_HIGH || !state.can_deliver() {
            return;
        }
        if let Some(d) = state.session.take_restored() {
            deliver(state, out, d, tally);
            continue;
        }
        let Some(sub) = state.session.subscriber.as_mut() else {
            return;
        };
        match sub.try_recv() {
            Ok(Some(d)) => deliver(state, out, d, tally),
            _ => return,
        }
    }
}

/// Re-sends everything in flight after a session resumed: PUBLISH with DUP for messages not yet
/// acknowledged, PUBREL for QoS 2 messages already received.
pub(crate) fn resend(state: &mut State, out: &mut BytesMut, tally: &mut Tally) {
    let shared = &state.shared;
    let mount = &shared.config.mount;
    let now = std::time::Instant::now();
    for f in state.session.inflight.iter() {
        let before = out.len();
        let (result, kind) = if f.released {
            (
                PubRel::with_reason(f.pid, ReasonCode::Success).encode(state.version, out),
                PacketType::PubRel,
            )
        } else {
            let topics = state.topics.get_or_insert_with(Default::default);
            let Ok(topic) = topics.outbound.get(mount, &f.message.topic) else {
                continue;
            };
            let mut p = Publish {
                dup: true,
                qos_pid: QosPid::from_parts(bridge::qos_from_fabric(f.qos), Some(f.pid))
                    .unwrap_or_default(),
                retain: f.retain,
                topic,
                properties: PublishProperties::default(),
                payload: f.message.payload.clone(),
            };
            if state.version.is_v5() {
                p.properties = bridge::properties(&f.message, &f.tags, mount, now);
            }
            tally.message_out(f.qos.as_u8());
            (p.encode(state.version, out), PacketType::Publish)
        };
        if result.is_ok() {
            shared.metrics.retransmits.inc();
            tally.packet_out(kind);
            tally.bytes_out += (out.len() - before) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_assigned_then_reused_then_recycled() {
        let mut a = OutAliases::new(2);
        let t1: Arc<str> = Arc::from("a");
        let t2: Arc<str> = Arc::from("b");
        let t3: Arc<str> = Arc::from("c");
        assert_eq!(a.get(&t1).map(|(x, n)| (x.get(), n)), Some((1, true)));
        assert_eq!(a.get(&t1).map(|(x, n)| (x.get(), n)), Some((1, false)));
        assert_eq!(a.get(&t2).map(|(x, n)| (x.get(), n)), Some((2, true)));
        // Same text, another allocation: still found.
        let t1b: Arc<str> = Arc::from("a");
        assert_eq!(a.get(&t1b).map(|(x, n)| (x.get(), n)), Some((1, false)));
        // Full: the oldest assignment is replaced.
        assert_eq!(a.get(&t3).map(|(x, n)| (x.get(), n)), Some((1, true)));
        assert_eq!(a.get(&t1).map(|(x, n)| (x.get(), n)), Some((2, true)));
        assert!(OutAliases::new(0).get(&t1).is_none());
    }
}
