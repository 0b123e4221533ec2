//! The outbound buffer: what this node sends to NATS, bounded by count and bytes, kept while the
//! link is down and sent in order once it is back.

use std::collections::VecDeque;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// One message for NATS.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The subject.
    pub subject: String,
    /// The NATS reply subject (requests: where "taken" answers go).
    pub reply: Option<String>,
    /// The envelope.
    pub payload: Bytes,
    /// Whether to send it again when the link broke before NATS confirmed it (QoS 1 and 2, and
    /// retained values); QoS 0 messages are not repeated, so they stay at most once.
    pub resend: bool,
}

impl Outgoing {
    fn cost(&self) -> usize {
        self.subject.len() + self.payload.len() + self.reply.as_ref().map_or(0, String::len)
    }
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    bytes: usize,
}

/// A bounded FIFO of [`Outgoing`] messages with a wake-up for the writer.
#[derive(Debug)]
pub struct Outbound {
    queue: Mutex<Queue>,
    notify: Notify,
    max_messages: usize,
    max_bytes: usize,
    metrics: Metrics,
}

impl Outbound {
    /// A buffer of at most `max_messages` messages and `max_bytes` bytes.
    pub fn new(max_messages: usize, max_bytes: usize, metrics: Metrics) -> Self {
        Outbound {
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
            metrics,
        }
    }

    /// Queues `out` unless the buffer is full (then it is dropped and counted as `buffer_full`).
    pub fn push(&self, out: Outgoing) -> bool {
        let cost = out.cost();
        let mut q = self.queue.lock();
        if q.items.len() >= self.max_messages || q.bytes + cost > self.max_bytes {
            drop(q);
            self.metrics.drop("buffer_full");
            return false;
        }
        q.bytes += cost;
        q.items.push_back(out);
        let len = q.items.len();
        drop(q);
        self.metrics.buffered.set(len as i64);
        if len == 1 {
            self.notify.notify_one();
        }
        true
    }

    /// Puts a batch that could not be confirmed back at the front, in order. Only its messages
    /// marked `resend` are kept; the others are counted as `link_lost`.
    pub fn requeue(&self, batch: Vec<Outgoing>) {
        let mut q = self.queue.lock();
        let mut kept = 0;
        for out in batch.into_iter().rev() {
            if out.resend {
                q.bytes += out.cost();
                q.items.push_front(out);
                kept += 1;
            } else {
                self.metrics.drop("link_lost");
            }
        }
        let len = q.items.len();
        drop(q);
        self.metrics.resent.inc_by(kept);
        self.metrics.buffered.set(len as i64);
        self.notify.notify_one();
    }

    /// Takes up to `max` messages (and about `max_bytes` bytes, at least one message).
    pub fn take(&self, max: usize, max_bytes: usize) -> Vec<Outgoing> {
        let mut q = self.queue.lock();
        let mut out = Vec::new();
        let mut bytes = 0;
        while out.len() < max {
            let Some(front) = q.items.front() else { break };
            let cost = front.cost();
            if !out.is_empty() && bytes + cost > max_bytes {
                break;
            }
            bytes += cost;
            if let Some(item) = q.items.pop_front() {
                out.push(item);
            }
        }
        q.bytes -= bytes;
        let len = q.items.len();
        drop(q);
        self.metrics.buffered.set(len as i64);
        out
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.queue.lock().items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until something was queued since the last wake-up.
    pub async fn wait(&self) {
        if !self.is_empty() {
            return;
        }
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(n: u8, resend: bool) -> Outgoing {
        Outgoing {
            subject: "s".into(),
            reply: None,
            payload: Bytes::from(vec![n; 9]),
            resend,
        }
    }

    #[test]
    fn the_buffer_is_bounded_and_counts_what_it_refuses() {
        let m = Metrics::standalone();
        let b = Outbound::new(2, 1000, m.clone());
        assert!(b.push(out(1, true)));
        assert!(b.push(out(2, true)));
        assert!(!b.push(out(3, true)));
        assert_eq!(m.dropped.with_label_values(&["buffer_full"]).get(), 1);
        let small = Outbound::new(100, 25, m.clone());
        assert!(small.push(out(1, true)));
        assert!(small.push(out(2, true)));
        assert!(!small.push(out(3, true)), "30 bytes > 25");
    }

    #[test]
    fn an_unconfirmed_batch_goes_back_in_front_without_its_qos0_messages() {
        let m = Metrics::standalone();
        let b = Outbound::new(10, 1000, m.clone());
        for (n, resend) in [(1, true), (2, false), (3, true), (4, true)] {
            b.push(out(n, resend));
        }
        let batch = b.take(3, 1000);
        assert_eq!(batch.len(), 3);
        b.requeue(batch);
        let order: Vec<u8> = b.take(10, 1000).iter().map(|o| o.payload[0]).collect();
        assert_eq!(order, [1, 3, 4]);
        assert_eq!(m.dropped.with_label_values(&["link_lost"]).get(), 1);
        assert_eq!(m.resent.get(), 2);
        assert!(b.is_empty());
    }

    #[test]
    fn take_respects_the_byte_budget_but_always_moves_one() {
        let b = Outbound::new(10, 1000, Metrics::standalone());
        for n in 0..4 {
            b.push(out(n, true));
        }
        assert_eq!(b.take(10, 25).len(), 2);
        assert_eq!(b.take(10, 1).len(), 1);
        assert_eq!(b.len(), 1);
    }
}
