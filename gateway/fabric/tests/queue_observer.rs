//! The queue observer sees every delivery enter and leave a subscriber's queue, in order.

use std::sync::Arc;

use parking_lot::Mutex;
use switchboard_fabric::{
    Delivery, Fabric, Message, OverflowPolicy, Qos, QueueObserver, SubOptions, SubscriberSpec,
    Topic, TopicFilter,
};

#[derive(Debug, Default)]
struct Log(Mutex<Vec<String>>);

impl QueueObserver for Log {
    fn queued(&self, d: &Delivery) {
        self.0.lock().push(format!("+{}", d.message.topic.as_str()));
    }
    fn dequeued(&self, d: &Delivery, taken: bool) {
        let sign = if taken { "<" } else { "x" };
        self.0
            .lock()
            .push(format!("{sign}{}", d.message.topic.as_str()));
    }
}

fn msg(t: &str) -> Message {
    Message::text(Topic::new(t).unwrap(), "v").qos(Qos::AtLeastOnce)
}

#[test]
fn every_delivery_is_reported_in_and_out() {
    let fabric = Fabric::standalone();
    let log = Arc::new(Log::default());
    let spec = SubscriberSpec::new("t", "c")
        .capacity(2)
        .policy(OverflowPolicy::DropOldest)
        .observer(log.clone());
    let mut sub = fabric.subscriber(spec);
    sub.subscribe(TopicFilter::new("#").unwrap(), SubOptions::default());
    fabric.publish(msg("a"));
    fabric.publish(msg("b"));
    fabric.publish(msg("c")); // full: a is dropped
    assert_eq!(sub.try_recv().unwrap().unwrap().message.topic.as_str(), "b");
    let mut expired = msg("d");
    expired.expires_at = Some(std::time::Instant::now());
    fabric.publish(expired);
    assert_eq!(sub.try_recv().unwrap().unwrap().message.topic.as_str(), "c");
    assert!(sub.try_recv().unwrap().is_none(), "d expired");
    assert_eq!(
        *log.0.lock(),
        ["+a", "+b", "xa", "+c", "<b", "+d", "<c", "xd"]
    );
}

#[test]
fn a_disconnecting_overflow_reports_what_it_clears() {
    let fabric = Fabric::standalone();
    let log = Arc::new(Log::default());
    let spec = SubscriberSpec::new("t", "c")
        .capacity(1)
        .policy(OverflowPolicy::Disconnect)
        .observer(log.clone());
    let mut sub = fabric.subscriber(spec);
    sub.subscribe(TopicFilter::new("#").unwrap(), SubOptions::default());
    fabric.publish(msg("a"));
    fabric.publish(msg("b"));
    assert!(sub.try_recv().is_err());
    assert_eq!(*log.0.lock(), ["+a", "xa"]);
}
