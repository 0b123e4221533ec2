//! The backplane hooks: interest changes, locally published messages handed over once, remote
//! messages injected without coming back, retained values applied, requests across nodes.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use switchboard_fabric::{
    Backplane, Fabric, Message, Origin, RequestError, Responders, SubOptions, SubscriberSpec,
    Topic, TopicFilter,
};

fn t(s: &str) -> Topic {
    Topic::new(s).unwrap()
}
fn f(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}

#[derive(Debug, Default)]
struct Recorder {
    interest: Mutex<Vec<String>>,
    published: Mutex<Vec<Arc<Message>>>,
    responders: bool,
    /// What `published` answers: whether the backplane serves shared groups.
    shares: bool,
    asked: Mutex<Vec<String>>,
}

impl Backplane for Recorder {
    fn interest_changed(&self, filter: &TopicFilter) {
        self.interest.lock().push(filter.to_string());
    }
    fn published(&self, message: &Arc<Message>) -> bool {
        self.published.lock().push(message.clone());
        self.shares
    }
    fn responders(&self, reply_to: &Topic, _wait: Duration) -> Responders {
        self.asked.lock().push(reply_to.to_string());
        let answer = self.responders;
        Box::pin(async move { answer })
    }
}

fn fabric_with(rec: Recorder) -> (Fabric, Arc<Recorder>) {
    let fabric = Fabric::standalone();
    let rec = Arc::new(rec);
    assert!(fabric.set_backplane(rec.clone()));
    assert!(
        !fabric.set_backplane(Arc::new(Recorder::default())),
        "only once"
    );
    (fabric, rec)
}

fn remote(topic: &str, payload: &'static str) -> Message {
    let mut origin = Origin::new("mqtt", "far-client");
    origin.node = Some(Arc::from("node-2"));
    Message::text(t(topic), payload).origin(origin)
}

#[test]
fn interest_is_announced_for_the_first_subscription_and_withdrawn_with_the_last() {
    let (fabric, rec) = fabric_with(Recorder::default());
    let mut a = fabric.subscriber(SubscriberSpec::new("test", "a"));
    let mut b = fabric.subscriber(SubscriberSpec::new("test", "b"));
    a.subscribe(f("plant/+/temp"), SubOptions::default());
    b.subscribe(f("plant/+/temp"), SubOptions::default());
    a.subscribe(f("plant/+/temp"), SubOptions::default()); // options replaced: no change
    assert_eq!(*rec.interest.lock(), ["plant/+/temp"]);
    assert!(fabric.has_interest(&f("plant/+/temp")));
    assert!(!fabric.has_interest(&f("plant/#")));

    a.unsubscribe(&f("plant/+/temp"), None);
    assert_eq!(rec.interest.lock().len(), 1, "b still holds it");
    drop(b);
    assert_eq!(*rec.interest.lock(), ["plant/+/temp", "plant/+/temp"]);
    assert!(!fabric.has_interest(&f("plant/+/temp")));
}

#[test]
fn interests_lists_every_filter_once_with_literal_ones_kept_literal() {
    let (fabric, _rec) = fabric_with(Recorder::default());
    let mut a = fabric.subscriber(SubscriberSpec::new("test", "a"));
    let mut b = fabric.subscriber(SubscriberSpec::new("test", "b"));
    a.subscribe(f("a/#"), SubOptions::default());
    b.subscribe(f("a/#"), SubOptions::default());
    a.subscribe(f("x/y"), SubOptions::default());
    a.subscribe(
        TopicFilter::literal("ipc/+").unwrap(),
        SubOptions::default(),
    );
    a.subscribe(f("+/z"), SubOptions::default());
    let mut got: Vec<(String, bool)> = fabric
        .interests()
        .iter()
        .map(|f| (f.to_string(), f.is_literal()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("+/z".to_owned(), false),
            ("a/#".to_owned(), false),
            ("ipc/+".to_owned(), true),
            ("x/y".to_owned(), true),
        ]
    );
    assert!(fabric.has_interest(&TopicFilter::literal("ipc/+").unwrap()));
    assert!(
        !fabric.has_interest(&f("ipc/+")),
        "the wildcard filter is another one"
    );
}

#[tokio::test]
async fn local_messages_are_handed_over_once_and_remote_ones_never() {
    let (fabric, rec) = fabric_with(Recorder::default());
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    sub.subscribe(f("a/#"), SubOptions::default());
    assert_eq!(fabric.publish(Message::text(t("a/1"), "local")), 1);
    assert_eq!(fabric.publish(Message::text(t("b/1"), "nobody here")), 0);
    assert_eq!(fabric.publish_remote(Arc::new(remote("a/2", "remote"))), 1);
    let topics: Vec<String> = rec
        .published
        .lock()
        .iter()
        .map(|m| m.topic.to_string())
        .collect();
    assert_eq!(topics, ["a/1", "b/1"]);
    assert_eq!(
        sub.recv().await.unwrap().message.payload_str(),
        Some("local")
    );
    let d = sub.recv().await.unwrap();
    assert_eq!(d.message.payload_str(), Some("remote"));
    assert_eq!(d.message.origin.node.as_deref(), Some("node-2"));
}

#[tokio::test]
async fn no_local_never_misfires_on_a_remote_message() {
    let (fabric, _rec) = fabric_with(Recorder::default());
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    let opts = SubOptions {
        no_local: true,
        ..SubOptions::default()
    };
    sub.subscribe(f("a/#"), opts);
    // Same subscriber id by accident on the other node: still delivered.
    let mut msg = remote("a/1", "x");
    msg.origin.subscriber = Some(sub.id());
    assert_eq!(fabric.publish_remote(Arc::new(msg)), 1);
    // A local message of this subscriber is skipped.
    let own =
        Message::text(t("a/1"), "own").origin(Origin::new("test", "s").with_subscriber(sub.id()));
    assert_eq!(fabric.publish(own), 0);
    assert_eq!(sub.recv().await.unwrap().message.payload_str(), Some("x"));
    assert!(sub.try_recv().unwrap().is_none());
}

#[test]
fn remote_retained_messages_change_the_store_only_when_applied() {
    let (fabric, _rec) = fabric_with(Recorder::default());
    fabric.publish_remote(Arc::new(remote("r/1", "live").retain(true)));
    assert!(fabric.retained_value(&t("r/1")).is_none());
    fabric.apply_retained(Arc::new(remote("r/1", "kept").retain(true)));
    let kept = fabric.retained_value(&t("r/1")).expect("applied");
    assert_eq!(kept.payload_str(), Some("kept"));
    fabric.apply_retained(Arc::new(remote("r/1", "").retain(true)));
    assert!(fabric.retained_value(&t("r/1")).is_none(), "empty deletes");
}

#[tokio::test]
async fn a_request_without_local_responders_asks_the_backplane() {
    let (fabric, rec) = fabric_with(Recorder {
        responders: false,
        ..Recorder::default()
    });
    let err = fabric
        .request(Message::text(t("svc/x"), "?"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::NoResponders), "{err:?}");
    let asked = rec.asked.lock().clone();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].starts_with("$reply/local/"), "{asked:?}");
    // The request itself went to the backplane with its reply topic.
    let forwarded = rec.published.lock()[0].clone();
    assert_eq!(forwarded.reply_to.as_ref().unwrap().as_str(), asked[0]);
}

#[tokio::test]
async fn a_reply_from_another_node_resolves_the_request() {
    let (fabric, rec) = fabric_with(Recorder {
        responders: true,
        ..Recorder::default()
    });
    let requester = {
        let fabric = fabric.clone();
        tokio::spawn(async move {
            fabric
                .request(Message::text(t("svc/x"), "?"), Duration::from_secs(5))
                .await
        })
    };
    let reply_to = loop {
        if let Some(m) = rec.published.lock().first() {
            break m.reply_to.clone().unwrap();
        }
        tokio::task::yield_now().await;
    };
    let mut reply = remote(reply_to.as_str(), "!");
    reply.topic = reply_to;
    assert_eq!(fabric.publish_remote(Arc::new(reply)), 1);
    let got = requester.await.unwrap().expect("the reply");
    assert_eq!(got.payload_str(), Some("!"));
    // A reply to a request of another node is handed over, not swallowed.
    let foreign = Topic::literal("$reply/node-3/abc").unwrap();
    assert_eq!(fabric.publish(Message::text(foreign, "r")), 0);
    assert_eq!(
        rec.published.lock().last().unwrap().topic.as_str(),
        "$reply/node-3/abc"
    );
}

fn shared(group: &str) -> SubOptions {
    SubOptions {
        group: Some(Arc::from(group)),
        ..SubOptions::default()
    }
}

#[test]
fn interest_changes_with_the_shared_groups_and_the_direct_subscriptions() {
    let (fabric, rec) = fabric_with(Recorder::default());
    let mut a = fabric.subscriber(SubscriberSpec::new("test", "a"));
    let mut b = fabric.subscriber(SubscriberSpec::new("test", "b"));
    a.subscribe(f("jobs/#"), shared("g")); // first subscription
    b.subscribe(f("jobs/#"), shared("g")); // same group: no change
    b.subscribe(f("jobs/#"), shared("h")); // a new group
    a.subscribe(f("jobs/#"), SubOptions::default()); // the first direct one
    assert_eq!(rec.interest.lock().len(), 3);
    let i = fabric.interest(&f("jobs/#"));
    assert!(i.direct);
    let mut groups: Vec<&str> = i.groups.iter().map(|g| &**g).collect();
    groups.sort();
    assert_eq!(groups, ["g", "h"]);

    b.unsubscribe(&f("jobs/#"), Some(&Arc::from("g"))); // a still in g: no change
    assert_eq!(rec.interest.lock().len(), 3);
    b.unsubscribe(&f("jobs/#"), Some(&Arc::from("h"))); // group h gone
    a.unsubscribe(&f("jobs/#"), None); // the last direct one gone
    assert_eq!(rec.interest.lock().len(), 5);
    assert_eq!(
        fabric.interest(&f("jobs/#")),
        switchboard_fabric::Interest {
            direct: false,
            groups: vec![Arc::from("g")]
        }
    );
    drop(a);
    assert_eq!(rec.interest.lock().len(), 6);
    assert_eq!(fabric.interest(&f("jobs/#")), Default::default());
}

#[tokio::test]
async fn a_backplane_that_serves_the_groups_decides_which_member_gets_a_message() {
    let (fabric, rec) = fabric_with(Recorder {
        shares: true,
        ..Recorder::default()
    });
    let mut direct = fabric.subscriber(SubscriberSpec::new("test", "d"));
    let mut m1 = fabric.subscriber(SubscriberSpec::new("test", "m1"));
    let mut m2 = fabric.subscriber(SubscriberSpec::new("test", "m2"));
    direct.subscribe(f("jobs/#"), SubOptions::default());
    m1.subscribe(f("jobs/#"), shared("g"));
    m2.subscribe(f("jobs/#"), shared("g"));
    // Local and remote messages reach the direct subscriber only; the backplane got the local one.
    assert_eq!(fabric.publish(Message::text(t("jobs/1"), "local")), 1);
    assert_eq!(
        fabric.publish_remote(Arc::new(remote("jobs/2", "remote"))),
        1
    );
    assert_eq!(rec.published.lock().len(), 1);
    assert!(m1.try_recv().unwrap().is_none() && m2.try_recv().unwrap().is_none());
    // The member the backplane routes to this node: one of the group, in turn.
    let msg = Arc::new(remote("jobs/3", "for the group"));
    assert_eq!(fabric.publish_shared(msg.clone(), &f("jobs/#"), "g"), 1);
    assert_eq!(fabric.publish_shared(msg.clone(), &f("jobs/#"), "g"), 1);
    assert_eq!(fabric.publish_shared(msg.clone(), &f("jobs/#"), "other"), 0);
    assert_eq!(fabric.publish_shared(msg, &f("jobs/+"), "g"), 0);
    for m in [&mut m1, &mut m2] {
        let d = m.try_recv().unwrap().expect("one each");
        assert_eq!(d.message.payload_str(), Some("for the group"));
        assert!(m.try_recv().unwrap().is_none());
    }
    assert_eq!(
        direct.recv().await.unwrap().message.payload_str(),
        Some("local")
    );
    assert_eq!(
        direct.recv().await.unwrap().message.payload_str(),
        Some("remote")
    );
}

#[tokio::test]
async fn a_backplane_that_does_not_serve_the_groups_leaves_them_to_the_fabric() {
    let (fabric, rec) = fabric_with(Recorder::default());
    let mut direct = fabric.subscriber(SubscriberSpec::new("test", "d"));
    let mut member = fabric.subscriber(SubscriberSpec::new("test", "m"));
    direct.subscribe(f("jobs/#"), SubOptions::default());
    member.subscribe(f("jobs/#"), shared("g"));
    assert_eq!(fabric.publish(Message::text(t("jobs/1"), "local")), 2);
    assert_eq!(rec.published.lock().len(), 1);
    assert_eq!(
        member.recv().await.unwrap().message.payload_str(),
        Some("local")
    );
    assert_eq!(
        direct.recv().await.unwrap().message.payload_str(),
        Some("local")
    );
}

#[tokio::test]
async fn without_a_backplane_groups_are_served_locally() {
    let fabric = Fabric::standalone();
    let mut m1 = fabric.subscriber(SubscriberSpec::new("test", "m1"));
    let mut m2 = fabric.subscriber(SubscriberSpec::new("test", "m2"));
    m1.subscribe(f("jobs/#"), shared("g"));
    m2.subscribe(f("jobs/#"), shared("g"));
    for n in 0..4 {
        assert_eq!(
            fabric.publish(Message::text(t("jobs/1"), format!("{n}"))),
            1
        );
    }
    let count = |m: &mut switchboard_fabric::Subscriber| {
        let mut n = 0;
        while m.try_recv().unwrap().is_some() {
            n += 1;
        }
        n
    };
    assert_eq!((count(&mut m1), count(&mut m2)), (2, 2));
}
