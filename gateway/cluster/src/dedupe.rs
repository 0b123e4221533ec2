//! Duplicate detection: a message matching two of this node's NATS subscriptions (say `a/#` and
//! `a/b`) arrives twice. Each sender numbers its messages; a window of recent numbers per sender
//! lets the second copy be dropped.

use std::collections::HashMap;
use std::sync::Arc;

use crate::wire::Sender;

/// How many sequence numbers behind the highest one are remembered.
const WINDOW: u64 = 4096;
/// Senders remembered at most (a sender is a node: far fewer in practice).
const MAX_SENDERS: usize = 4096;

#[derive(Debug)]
struct Window {
    incarnation: u32,
    highest: u64,
    seen: Box<[u64; (WINDOW / 64) as usize]>,
}

impl Window {
    fn new(incarnation: u32, seq: u64) -> Self {
        let mut w = Window {
            incarnation,
            highest: seq,
            seen: Box::new([0; (WINDOW / 64) as usize]),
        };
        w.set(seq);
        w
    }

    fn bit(seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    fn set(&mut self, seq: u64) {
        let (w, b) = Window::bit(seq);
        self.seen[w] |= b;
    }

    fn is_set(&self, seq: u64) -> bool {
        let (w, b) = Window::bit(seq);
        self.seen[w] & b != 0
    }

    fn clear(&mut self, seq: u64) {
        let (w, b) = Window::bit(seq);
        self.seen[w] &= !b;
    }

    /// Records `seq`; returns false when it was seen already.
    fn record(&mut self, seq: u64) -> bool {
        if seq > self.highest {
            if seq - self.highest >= WINDOW {
                self.seen.fill(0);
            } else {
                for s in self.highest + 1..seq {
                    self.clear(s);
                }
            }
            self.highest = seq;
            self.set(seq);
            return true;
        }
        if self.highest - seq >= WINDOW {
            // Too old to tell: deliver (a duplicate beats a loss).
            return true;
        }
        if self.is_set(seq) {
            return false;
        }
        self.set(seq);
        true
    }
}

/// Recent sequence numbers of every sender.
#[derive(Debug, Default)]
pub struct Dedupe {
    senders: HashMap<Arc<str>, Window>,
}

impl Dedupe {
    /// Records a message; returns false when it is a duplicate.
    pub fn first_time(&mut self, sender: &Sender) -> bool {
        match self.senders.get_mut(&sender.node) {
            Some(w) if w.incarnation == sender.incarnation => w.record(sender.seq),
            Some(w) => {
                *w = Window::new(sender.incarnation, sender.seq);
                true
            }
            None => {
                if self.senders.len() >= MAX_SENDERS {
                    self.senders.clear();
                }
                self.senders.insert(
                    sender.node.clone(),
                    Window::new(sender.incarnation, sender.seq),
                );
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(node: &str, incarnation: u32, seq: u64) -> Sender {
        Sender {
            node: Arc::from(node),
            incarnation,
            seq,
        }
    }

    #[test]
    fn second_copies_are_dropped_in_any_order() {
        let mut d = Dedupe::default();
        assert!(d.first_time(&s("a", 1, 5)));
        assert!(d.first_time(&s("a", 1, 3)), "earlier, not seen");
        assert!(!d.first_time(&s("a", 1, 5)));
        assert!(!d.first_time(&s("a", 1, 3)));
        assert!(d.first_time(&s("a", 1, 6)));
        assert!(d.first_time(&s("b", 1, 5)), "another sender");
        assert!(d.first_time(&s("a", 2, 5)), "a restarted node");
        assert!(!d.first_time(&s("a", 2, 5)));
    }

    #[test]
    fn the_window_slides() {
        let mut d = Dedupe::default();
        assert!(d.first_time(&s("a", 1, 1)));
        assert!(d.first_time(&s("a", 1, 1 + WINDOW)));
        assert!(d.first_time(&s("a", 1, 1)), "too old to tell: delivered");
        assert!(d.first_time(&s("a", 1, 2 + WINDOW)));
        assert!(!d.first_time(&s("a", 1, 1 + WINDOW)));
        assert!(d.first_time(&s("a", 1, 10 * WINDOW)));
        assert!(!d.first_time(&s("a", 1, 10 * WINDOW)));
        assert!(d.first_time(&s("a", 1, 10 * WINDOW - 1)));
    }
}
