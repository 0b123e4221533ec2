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
    asked: Mutex<Vec<String>>,
}

impl Backplane for Recorder {
    fn interest_changed(&self, filter: &TopicFilter) {
        self.interest.lock().push(filter.to_string());
    }
    fn published(&self, message: &Arc<Message>) {
        self.published.lock().push(message.clone());
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
