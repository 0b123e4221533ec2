//! The state of one MQTT session, which outlives its connection when the session is persistent:
//! the fabric subscriber (its bounded queue keeps collecting messages while the client is away),
//! the messages sent and not yet acknowledged, and the QoS 2 packet identifiers received and not
//! yet released.

use std::collections::VecDeque;
use std::sync::Arc;

use smallvec::SmallVec;
use switchboard_fabric::{Delivery, Identity, Message, Qos, Subscriber};
use switchboard_mqtt_proto::{PacketId, Will};

use crate::persist::Journal;

/// A session expiry interval meaning "never".
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// One message sent to the client and not yet fully acknowledged.
#[derive(Debug, Clone)]
pub struct OutFlight {
    /// Its packet identifier.
    pub pid: PacketId,
    /// Its sequence number in the session's journal (0: not journaled).
    pub seq: u64,
    /// The message.
    pub message: Arc<Message>,
    /// The QoS it was sent with (1 or 2).
    pub qos: Qos,
    /// The RETAIN flag it was sent with.
    pub retain: bool,
    /// Subscription identifiers it was sent with.
    pub tags: SmallVec<[u32; 2]>,
    /// QoS 2: PUBREC received and PUBREL sent; waiting for PUBCOMP.
    pub released: bool,
}

/// Messages in flight to the client, oldest first (acknowledgements mostly arrive in order, so
/// lookups start at the front).
#[derive(Debug, Default)]
pub struct Inflight {
    queue: VecDeque<OutFlight>,
    next_pid: u16,
}

impl Inflight {
    /// Number of messages in flight.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// A packet identifier not in use (the caller keeps fewer than 65 535 in flight).
    pub fn next_pid(&mut self) -> PacketId {
        loop {
            self.next_pid = self.next_pid.wrapping_add(1);
            let Some(pid) = PacketId::new(self.next_pid) else {
                continue;
            };
            if !self.queue.iter().any(|f| f.pid == pid) {
                return pid;
            }
        }
    }

    /// Whether `pid` is in flight.
    pub fn contains(&self, pid: PacketId) -> bool {
        self.position(pid).is_some()
    }

    /// The message in flight with `pid`.
    pub fn get(&self, pid: PacketId) -> Option<&OutFlight> {
        self.position(pid).map(|i| &self.queue[i])
    }

    /// Records a message just sent.
    pub fn push(&mut self, flight: OutFlight) {
        self.queue.push_back(flight);
    }

    fn position(&self, pid: PacketId) -> Option<usize> {
        self.queue.iter().position(|f| f.pid == pid)
    }

    /// PUBACK (or a failed PUBREC): removes and returns the message when it is in flight at
    /// the expected stage.
    pub fn complete(&mut self, pid: PacketId, qos: Qos) -> Option<OutFlight> {
        let i = self.position(pid)?;
        let f = &self.queue[i];
        if f.qos != qos || f.released {
            return None;
        }
        self.queue.remove(i)
    }

    /// PUBREC: marks a QoS 2 message released. Returns false when the identifier is unknown.
    pub fn release(&mut self, pid: PacketId) -> bool {
        match self.position(pid) {
            Some(i) if self.queue[i].qos == Qos::ExactlyOnce => {
                self.queue[i].released = true;
                true
            }
            _ => false,
        }
    }

    /// PUBCOMP: removes a released QoS 2 message.
    pub fn finish(&mut self, pid: PacketId) -> Option<OutFlight> {
        let i = self.position(pid)?;
        if !self.queue[i].released {
            return None;
        }
        self.queue.remove(i)
    }

    /// Everything in flight, oldest first (for re-sending on reconnect).
    pub fn iter(&self) -> impl Iterator<Item = &OutFlight> {
        self.queue.iter()
    }

    /// Drops everything (the session ends).
    pub fn clear(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        n
    }
}

/// QoS 2 packet identifiers received from the client and not yet released (PUBREL): a PUBLISH
/// re-sent with one of them is a duplicate and is not published again.
#[derive(Debug, Default)]
pub struct Received {
    pids: Vec<u16>,
}

impl Received {
    /// Records `pid`; returns false when it was already there (a duplicate).
    pub fn insert(&mut self, pid: PacketId) -> bool {
        if self.contains(pid) {
            return false;
        }
        self.pids.push(pid.get());
        true
    }

    /// Whether `pid` awaits its PUBREL.
    pub fn contains(&self, pid: PacketId) -> bool {
        self.pids.contains(&pid.get())
    }

    /// Releases `pid`; returns whether it was there.
    pub fn remove(&mut self, pid: PacketId) -> bool {
        match self.pids.iter().position(|p| *p == pid.get()) {
            Some(i) => {
                self.pids.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Number of identifiers awaiting PUBREL.
    pub fn len(&self) -> usize {
        self.pids.len()
    }

    /// Whether none await PUBREL.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }
}

/// A will waiting for its delay to pass while the session is offline.
#[derive(Debug, Clone)]
pub struct PendingWill {
    /// The will as sent in CONNECT.
    pub will: Will,
    /// The identity it is published as (origin and ACL).
    pub identity: Identity,
}

/// The state of one session.
#[derive(Debug)]
pub struct Session {
    /// The fabric subscriber, created on the first SUBSCRIBE.
    pub subscriber: Option<Box<Subscriber>>,
    /// Messages sent and not yet acknowledged.
    pub inflight: Inflight,
    /// QoS 2 identifiers received and not yet released.
    pub received: Received,
    /// Seconds the session stays after disconnection ([`NEVER_EXPIRES`]: forever, 0: ends).
    pub expiry: u32,
    /// Queued deliveries at resumption that arrived while offline; QoS 0 ones among them are
    /// dropped unless `queue_qos0_messages` is set.
    pub offline_backlog: usize,
    /// The durable record of a persistent session, when the broker has a store.
    pub journal: Option<Arc<Journal>>,
    /// Messages queued before a restart, delivered before the fabric queue (journal sequence,
    /// delivery).
    pub backlog: Option<Box<VecDeque<(u64, Delivery)>>>,
}

impl Session {
    /// A fresh session.
    pub fn new(expiry: u32) -> Self {
        Session {
            subscriber: None,
            inflight: Inflight::default(),
            received: Received::default(),
            expiry,
            offline_backlog: 0,
            journal: None,
            backlog: None,
        }
    }

    /// Takes the next restored delivery, if any (telling the journal which one it is).
    pub fn take_restored(&mut self) -> Option<Delivery> {
        let backlog = self.backlog.as_mut()?;
        let (seq, d) = backlog.pop_front()?;
        if backlog.is_empty() {
            self.backlog = None;
        }
        if let Some(j) = &self.journal {
            j.set_taken(seq);
        }
        Some(d)
    }

    /// Deliveries waiting: restored ones and the fabric queue.
    pub fn queued(&self) -> usize {
        self.backlog.as_ref().map_or(0, |b| b.len())
            + self.subscriber.as_ref().map_or(0, |s| s.depth())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::Topic;

    fn flight(pid: u16, qos: Qos) -> OutFlight {
        OutFlight {
            pid: PacketId::new(pid).unwrap(),
            seq: 0,
            message: Arc::new(Message::new(Topic::new("t").unwrap(), "x")),
            qos,
            retain: false,
            tags: SmallVec::new(),
            released: false,
        }
    }

    #[test]
    fn packet_ids_skip_zero_and_those_in_use() {
        let mut f = Inflight {
            next_pid: u16::MAX - 1,
            ..Inflight::default()
        };
        assert_eq!(f.next_pid().get(), u16::MAX);
        f.push(flight(1, Qos::AtLeastOnce));
        assert_eq!(f.next_pid().get(), 2, "0 and 1 skipped");
    }

    #[test]
    fn qos1_and_qos2_flows_complete_only_at_the_right_stage() {
        let mut f = Inflight::default();
        f.push(flight(1, Qos::AtLeastOnce));
        f.push(flight(2, Qos::ExactlyOnce));
        let p = |n| PacketId::new(n).unwrap();
        assert!(
            f.complete(p(2), Qos::AtLeastOnce).is_none(),
            "PUBACK for QoS 2"
        );
        assert!(f.finish(p(2)).is_none(), "PUBCOMP before PUBREC");
        assert!(!f.release(p(1)), "PUBREC for QoS 1");
        assert!(f.complete(p(1), Qos::AtLeastOnce).is_some());
        assert!(f.release(p(2)));
        assert!(
            f.complete(p(2), Qos::ExactlyOnce).is_none(),
            "already released"
        );
        assert!(f.finish(p(2)).is_some());
        assert!(f.is_empty());
    }

    #[test]
    fn received_qos2_ids_detect_duplicates() {
        let mut r = Received::default();
        let p = PacketId::new(9).unwrap();
        assert!(r.insert(p));
        assert!(!r.insert(p));
        assert!(r.remove(p));
        assert!(!r.remove(p));
        assert!(r.is_empty());
    }
}
