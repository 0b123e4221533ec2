//! "A subscriber took your request" answers, so a request with no local subscriber waits for a
//! reply only when another node has one. A request is published with the NATS reply subject
//! `<p>.ack.<node>.<nonce>`; a node that queued it answers there, and NATS itself answers with
//! status 503 when no node subscribes to the subject at all.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Answers remembered at most (older ones are forgotten first).
const MAX_SLOTS: usize = 16_384;

#[derive(Debug)]
enum Slot {
    Waiting(oneshot::Sender<bool>),
    Arrived(bool),
    Done,
}

#[derive(Debug, Default)]
struct Table {
    slots: HashMap<String, Slot>,
    order: VecDeque<String>,
}

impl Table {
    fn insert(&mut self, nonce: &str, slot: Slot) {
        if self.slots.insert(nonce.to_owned(), slot).is_none() {
            self.order.push_back(nonce.to_owned());
            while self.order.len() > MAX_SLOTS {
                if let Some(old) = self.order.pop_front() {
                    self.slots.remove(&old);
                }
            }
        }
    }
}

/// Pending and arrived answers, by request nonce.
#[derive(Debug, Default)]
pub struct Acks {
    table: Mutex<Table>,
}

impl Acks {
    /// An answer arrived: `taken` is false for NATS' "no responders".
    pub fn arrived(&self, nonce: &str, taken: bool) {
        let mut t = self.table.lock();
        match t.slots.remove(nonce) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(taken);
                t.slots.insert(nonce.to_owned(), Slot::Done);
            }
            Some(Slot::Arrived(before)) => {
                t.slots
                    .insert(nonce.to_owned(), Slot::Arrived(before || taken));
            }
            Some(Slot::Done) => {
                t.slots.insert(nonce.to_owned(), Slot::Done);
            }
            None => t.insert(nonce, Slot::Arrived(taken)),
        }
    }

    /// Waits for the first answer to `nonce`: `Some(taken)`, or `None` if the table forgot it.
    pub async fn wait(&self, nonce: &str) -> Option<bool> {
        let rx = {
            let mut t = self.table.lock();
            match t.slots.get(nonce) {
                Some(Slot::Arrived(taken)) => {
                    let taken = *taken;
                    t.slots.insert(nonce.to_owned(), Slot::Done);
                    return Some(taken);
                }
                Some(Slot::Done) => return Some(true),
                _ => {}
            }
            let (tx, rx) = oneshot::channel();
            t.insert(nonce, Slot::Waiting(tx));
            rx
        };
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_before_or_after_the_wait_is_seen() {
        let acks = Acks::default();
        acks.arrived("a", true);
        assert_eq!(acks.wait("a").await, Some(true));
        let acks = std::sync::Arc::new(acks);
        let waiter = {
            let acks = acks.clone();
            tokio::spawn(async move { acks.wait("b").await })
        };
        tokio::task::yield_now().await;
        acks.arrived("b", false);
        assert_eq!(waiter.await.unwrap(), Some(false));
        // a late answer from another node is absorbed
        acks.arrived("b", true);
    }

    #[test]
    fn the_table_is_bounded() {
        let acks = Acks::default();
        for i in 0..MAX_SLOTS + 10 {
            acks.arrived(&i.to_string(), true);
        }
        assert_eq!(acks.table.lock().slots.len(), MAX_SLOTS);
    }
}
