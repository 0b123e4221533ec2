//! Behaviour of the fabric through its public API.

use std::time::Duration;

use bytes::Bytes;
use switchboard_fabric::{
    Closed, Fabric, FabricConfig, Message, Origin, OverflowPolicy, Qos, Replay, RequestError,
    SubOptions, SubscriberSpec, Topic, TopicFilter,
};

fn t(s: &str) -> Topic {
    Topic::new(s).unwrap()
}
fn f(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}
fn fabric() -> Fabric {
    Fabric::standalone()
}
fn payload(d: &switchboard_fabric::Delivery) -> &[u8] {
    &d.message.payload
}

#[tokio::test]
async fn publish_reaches_matching_subscribers_only() {
    let fabric = fabric();
    let mut a = fabric.subscriber(SubscriberSpec::new("test", "a"));
    let mut b = fabric.subscriber(SubscriberSpec::new("test", "b"));
    a.subscribe(f("plant/+/temp"), SubOptions::default());
    b.subscribe(f("plant/2/#"), SubOptions::default());
    assert_eq!(fabric.publish(Message::text(t("plant/1/temp"), "21")), 1);
    assert_eq!(fabric.publish(Message::text(t("plant/2/temp"), "22")), 2);
    assert_eq!(payload(&a.recv().await.unwrap()), b"21");
    assert_eq!(payload(&a.recv().await.unwrap()), b"22");
    assert_eq!(payload(&b.recv().await.unwrap()), b"22");
    assert!(a.try_recv().unwrap().is_none());
    assert!(b.try_recv().unwrap().is_none());
}

#[tokio::test]
async fn retained_values_replay_on_subscribe_and_empty_payload_deletes() {
    let fabric = fabric();
    fabric.publish(Message::text(t("a/1"), "one").retain(true));
    fabric.publish(Message::text(t("a/2"), "two").retain(true));
    fabric.publish(Message::text(t("a/2"), "two-b").retain(true));
    fabric.publish(Message::text(t("b/1"), "other").retain(true));
    assert_eq!(fabric.stats().retained, 3);

    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "late"));
    sub.subscribe(f("a/+"), SubOptions::default());
    let mut got = [sub.recv().await.unwrap(), sub.recv().await.unwrap()];
    got.sort_by(|x, y| x.message.topic.cmp(&y.message.topic));
    assert!(got.iter().all(|d| d.retain && d.replayed));
    assert_eq!(payload(&got[0]), b"one");
    assert_eq!(payload(&got[1]), b"two-b");
    assert!(sub.try_recv().unwrap().is_none());

    // An empty retained payload deletes the value and is still delivered live.
    fabric.publish(Message::new(t("a/1"), Bytes::new()).retain(true));
    let live = sub.recv().await.unwrap();
    assert!(live.message.payload.is_empty());
    assert!(
        !live.retain,
        "live deliveries do not carry retain without retain_as_published"
    );
    assert_eq!(fabric.stats().retained, 2);
    assert!(fabric.retained_value(&t("a/1")).is_none());
}

#[tokio::test]
async fn replay_options_follow_mqtt_retain_handling() {
    let fabric = fabric();
    fabric.publish(Message::text(t("x"), "v").retain(true));
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    let never = SubOptions {
        replay: Replay::Never,
        ..Default::default()
    };
    assert!(sub.subscribe(f("x"), never));
    assert!(sub.try_recv().unwrap().is_none());
    let if_new = SubOptions {
        replay: Replay::IfNew,
        ..Default::default()
    };
    assert!(
        !sub.subscribe(f("x"), if_new),
        "same filter again is not new"
    );
    assert!(sub.try_recv().unwrap().is_none());
    assert!(!sub.subscribe(f("x"), SubOptions::default()));
    assert!(
        sub.try_recv().unwrap().is_some(),
        "Replay::Always replays every time"
    );
}

#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let fabric = fabric();
    let mut all = fabric.subscriber(SubscriberSpec::new("test", "all"));
    all.subscribe(f("#"), SubOptions::default());
    let mut sys = fabric.subscriber(SubscriberSpec::new("test", "sys"));
    sys.subscribe(f("$SYS/#"), SubOptions::default());
    fabric.publish(Message::text(t("$SYS/x"), "1"));
    assert!(all.try_recv().unwrap().is_none());
    assert!(sys.try_recv().unwrap().is_some());
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_with_best_qos_and_all_tags() {
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    sub.subscribe(
        f("a/#"),
        SubOptions {
            max_qos: Qos::AtMostOnce,
            tag: Some(1),
            ..Default::default()
        },
    );
    sub.subscribe(
        f("a/+"),
        SubOptions {
            max_qos: Qos::AtLeastOnce,
            tag: Some(2),
            ..Default::default()
        },
    );
    assert_eq!(
        fabric.publish(Message::text(t("a/b"), "m").qos(Qos::ExactlyOnce)),
        1
    );
    let d = sub.recv().await.unwrap();
    assert_eq!(d.qos, Qos::AtLeastOnce);
    let mut tags = d.tags.to_vec();
    tags.sort();
    assert_eq!(tags, vec![1, 2]);
    assert!(sub.try_recv().unwrap().is_none());
}

#[tokio::test]
async fn no_local_skips_own_messages() {
    let fabric = fabric();
    let mut me = fabric.subscriber(SubscriberSpec::new("test", "me"));
    me.subscribe(
        f("chat"),
        SubOptions {
            no_local: true,
            ..Default::default()
        },
    );
    let origin = Origin::new("test", "me").with_subscriber(me.id());
    assert_eq!(
        fabric.publish(Message::text(t("chat"), "mine").origin(origin)),
        0
    );
    assert_eq!(fabric.publish(Message::text(t("chat"), "theirs")), 1);
    assert_eq!(payload(&me.recv().await.unwrap()), b"theirs");
}

#[tokio::test]
async fn shared_groups_deliver_each_message_to_one_member_in_turn() {
    let fabric = fabric();
    let group = Some(std::sync::Arc::from("workers"));
    let mut w1 = fabric.subscriber(SubscriberSpec::new("test", "w1"));
    let mut w2 = fabric.subscriber(SubscriberSpec::new("test", "w2"));
    for w in [&mut w1, &mut w2] {
        w.subscribe(
            f("jobs/#"),
            SubOptions {
                group: group.clone(),
                ..Default::default()
            },
        );
    }
    for i in 0..10 {
        assert_eq!(fabric.publish(Message::text(t("jobs/x"), i.to_string())), 1);
    }
    let mut n1 = 0;
    while w1.try_recv().unwrap().is_some() {
        n1 += 1;
    }
    let mut n2 = 0;
    while w2.try_recv().unwrap().is_some() {
        n2 += 1;
    }
    assert_eq!((n1, n2), (5, 5));
}

#[tokio::test]
async fn drop_oldest_keeps_the_latest_and_counts() {
    let fabric = fabric();
    let mut sub = fabric.subscriber(
        SubscriberSpec::new("test", "slow")
            .capacity(3)
            .policy(OverflowPolicy::DropOldest),
    );
    sub.subscribe(f("n"), SubOptions::default());
    for i in 0..10 {
        fabric.publish(Message::text(t("n"), i.to_string()));
    }
    let got: Vec<_> = std::iter::from_fn(|| sub.try_recv().unwrap())
        .map(|d| String::from_utf8(d.message.payload.to_vec()).unwrap())
        .collect();
    assert_eq!(got, ["7", "8", "9"]);
    assert_eq!(sub.drops(), 7);
}

#[tokio::test]
async fn drop_new_keeps_the_first() {
    let fabric = fabric();
    let mut sub = fabric.subscriber(
        SubscriberSpec::new("test", "slow")
            .capacity(2)
            .policy(OverflowPolicy::DropNew),
    );
    sub.subscribe(f("n"), SubOptions::default());
    for i in 0..5 {
        fabric.publish(Message::text(t("n"), i.to_string()));
    }
    assert_eq!(payload(&sub.recv().await.unwrap()), b"0");
    assert_eq!(payload(&sub.recv().await.unwrap()), b"1");
    assert!(sub.try_recv().unwrap().is_none());
    assert_eq!(sub.drops(), 3);
}

#[tokio::test]
async fn disconnect_policy_closes_a_slow_consumer_without_slowing_others() {
    let fabric = fabric();
    let mut slow = fabric.subscriber(
        SubscriberSpec::new("test", "slow")
            .capacity(2)
            .policy(OverflowPolicy::Disconnect),
    );
    let mut fast = fabric.subscriber(SubscriberSpec::new("test", "fast").capacity(100));
    slow.subscribe(f("n"), SubOptions::default());
    fast.subscribe(f("n"), SubOptions::default());
    for i in 0..5 {
        fabric.publish(Message::text(t("n"), i.to_string()));
    }
    assert_eq!(slow.recv().await.unwrap_err(), Closed::SlowConsumer);
    for _ in 0..5 {
        fast.recv().await.unwrap();
    }
}

#[tokio::test]
async fn drops_are_counted_in_metrics_by_protocol_and_reason() {
    let registry = prometheus::Registry::new();
    let fabric = Fabric::new(FabricConfig::default(), "n1", &registry).unwrap();
    let mut sub = fabric.subscriber(
        SubscriberSpec::new("mqtt", "c")
            .capacity(1)
            .policy(OverflowPolicy::DropNew),
    );
    sub.subscribe(f("n"), SubOptions::default());
    for _ in 0..4 {
        fabric.publish(Message::text(t("n"), "x"));
    }
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.contains(
            r#"switchboard_dropped_total{protocol="mqtt",reason="queue_full_drop_new"} 3"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn dropping_a_subscriber_removes_its_subscriptions_and_prunes_the_index() {
    let fabric = fabric();
    {
        let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
        sub.subscribe(f("a/b/c/d"), SubOptions::default());
        sub.subscribe(f("a/+/c/#"), SubOptions::default());
        sub.subscribe(f("x"), SubOptions::default());
        assert_eq!(fabric.stats().filters, 3);
        assert_eq!(fabric.stats().subscribers, 1);
    }
    assert_eq!(fabric.stats().filters, 0);
    assert_eq!(fabric.stats().subscribers, 0);
    assert_eq!(fabric.publish(Message::text(t("a/b/c/d"), "x")), 0);
    assert!(fabric.subscriptions(None).is_empty());
}

#[tokio::test]
async fn many_subscriptions_of_one_subscriber_stay_distinct_and_are_all_removed() {
    // Past a few subscriptions a subscriber keeps them in a hash map instead of a list: the
    // subscriptions, their options and their removal must not change across the switch.
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    for i in 0..20 {
        assert!(sub.subscribe(f(&format!("t/{i}")), SubOptions::default()));
    }
    let grouped = SubOptions {
        group: Some("g".into()),
        ..SubOptions::default()
    };
    assert!(
        sub.subscribe(f("t/3"), grouped),
        "another group, another subscription"
    );
    let tagged = SubOptions {
        tag: Some(7),
        ..SubOptions::default()
    };
    assert!(
        !sub.subscribe(f("t/15"), tagged),
        "same filter: options replaced"
    );
    assert_eq!(sub.subscriptions().count(), 21);
    assert_eq!(fabric.stats().filters, 20);
    assert_eq!(fabric.publish(Message::text(t("t/15"), "x")), 1);
    assert_eq!(sub.recv().await.unwrap().tags.as_slice(), &[7]);
    assert!(sub.unsubscribe(&f("t/15"), None));
    assert!(!sub.unsubscribe(&f("t/15"), None));
    assert_eq!(fabric.publish(Message::text(t("t/15"), "x")), 0);
    assert_eq!(fabric.publish(Message::text(t("t/0"), "x")), 1);
    drop(sub);
    assert_eq!(fabric.stats().filters, 0);
    assert_eq!(fabric.publish(Message::text(t("t/3"), "x")), 0);
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    sub.subscribe(f("a/#"), SubOptions::default());
    assert!(sub.unsubscribe(&f("a/#"), None));
    assert!(!sub.unsubscribe(&f("a/#"), None));
    assert_eq!(fabric.publish(Message::text(t("a/b"), "x")), 0);
}

#[tokio::test]
async fn literal_filters_match_channel_names_with_wildcard_characters() {
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("ipc", "p"));
    sub.subscribe(TopicFilter::literal("a/+").unwrap(), SubOptions::default());
    assert_eq!(fabric.publish(Message::text(t("a/b"), "x")), 0);
    assert_eq!(
        fabric.publish(Message::text(Topic::literal("a/+").unwrap(), "y")),
        1
    );
}

#[tokio::test]
async fn request_gets_the_first_reply() {
    let fabric = fabric();
    let mut responder = fabric.subscriber(SubscriberSpec::new("test", "responder"));
    responder.subscribe(f("svc/echo"), SubOptions::default());
    let f2 = fabric.clone();
    let task = tokio::spawn(async move {
        let req = responder.recv().await.unwrap();
        let reply_to = req.message.reply_to.clone().unwrap();
        let mut body = b"echo:".to_vec();
        body.extend_from_slice(&req.message.payload);
        f2.publish(Message::new(reply_to.clone(), body));
        f2.publish(Message::new(reply_to, "second reply is ignored"));
    });
    let reply = fabric
        .request(Message::text(t("svc/echo"), "hi"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"echo:hi");
    task.await.unwrap();
    assert_eq!(fabric.stats().pending_requests, 0);
}

#[tokio::test]
async fn request_without_responders_fails_at_once() {
    let fabric = fabric();
    let err = fabric
        .request(
            Message::text(t("nobody/home"), "?"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert_eq!(err, RequestError::NoResponders);
    assert_eq!(fabric.stats().pending_requests, 0);
}

#[tokio::test(start_paused = true)]
async fn request_times_out_and_cleans_up() {
    let fabric = fabric();
    let mut silent = fabric.subscriber(SubscriberSpec::new("test", "silent"));
    silent.subscribe(f("svc/slow"), SubOptions::default());
    let err = fabric
        .request(
            Message::text(t("svc/slow"), "?"),
            Duration::from_millis(250),
        )
        .await
        .unwrap_err();
    assert_eq!(err, RequestError::Timeout(Duration::from_millis(250)));
    assert_eq!(fabric.stats().pending_requests, 0);
}

#[tokio::test]
async fn expired_messages_are_not_delivered() {
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    sub.subscribe(f("e"), SubOptions::default());
    fabric.publish(Message::text(t("e"), "stale").expires_in(Duration::ZERO));
    fabric.publish(Message::text(t("e"), "fresh").expires_in(Duration::from_secs(60)));
    assert_eq!(payload(&sub.recv().await.unwrap()), b"fresh");
    assert_eq!(sub.drops(), 1);
}

#[tokio::test]
async fn retained_store_is_bounded() {
    let config = FabricConfig {
        max_retained_messages: 2,
        ..Default::default()
    };
    let fabric = Fabric::new(config, "n", &prometheus::Registry::new()).unwrap();
    for i in 0..5 {
        fabric.publish(Message::text(t(&format!("r/{i}")), "v").retain(true));
    }
    assert_eq!(fabric.stats().retained, 2);
    // Replacing an existing value still works when full.
    fabric.publish(Message::text(t("r/0"), "new").retain(true));
    assert_eq!(
        &fabric.retained_value(&t("r/0")).unwrap().payload[..],
        b"new"
    );
}

#[tokio::test]
async fn subscriptions_listing_shows_filters_and_clients() {
    let fabric = fabric();
    let mut a = fabric.subscriber(SubscriberSpec::new("mqtt", "dev1"));
    let mut b = fabric.subscriber(SubscriberSpec::new("ipc", "peer"));
    a.subscribe(f("plant/+/temp"), SubOptions::default());
    b.subscribe(
        TopicFilter::literal("ui/refresh").unwrap(),
        SubOptions::default(),
    );
    let all = fabric.subscriptions(None);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].filter, "plant/+/temp");
    assert_eq!(&*all[0].client, "dev1");
    assert_eq!(&*all[1].protocol, "ipc");
    let only = fabric.subscriptions(Some(&f("plant/#")));
    assert_eq!(only.len(), 1);
}

#[tokio::test]
async fn sys_statistics_are_published_retained() {
    let fabric = fabric();
    let _guard = fabric.metrics().protocol("mqtt").connection_opened();
    switchboard_fabric::sys::publish_stats(&fabric, "9.9.9");
    let v = fabric
        .retained_value(&t("$SYS/switchboard/version"))
        .unwrap();
    assert_eq!(&v.payload[..], b"9.9.9");
    let c = fabric
        .retained_value(&t("$SYS/switchboard/connections/mqtt"))
        .unwrap();
    assert_eq!(&c.payload[..], b"1");
}

#[tokio::test]
async fn closing_the_fabric_ends_every_subscriber() {
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "s"));
    sub.subscribe(f("x"), SubOptions::default());
    fabric.publish(Message::text(t("x"), "last"));
    fabric.close();
    assert!(
        sub.recv().await.is_ok(),
        "queued deliveries are drained first"
    );
    assert_eq!(sub.recv().await.unwrap_err(), Closed::Closed);
}

#[tokio::test]
async fn has_subscribers_except_ignores_the_named_subscriber() {
    let fabric = fabric();
    let mut bridge = fabric.subscriber(SubscriberSpec::new("ipc", "bridge"));
    bridge.subscribe(f("chan"), SubOptions::default());
    assert!(fabric.has_subscribers(&t("chan")));
    assert!(!fabric.has_subscribers_except(&t("chan"), bridge.id()));
    let mut other = fabric.subscriber(SubscriberSpec::new("mqtt", "dev"));
    other.subscribe(f("#"), SubOptions::default());
    assert!(fabric.has_subscribers_except(&t("chan"), bridge.id()));
}

/// A waker that counts its wakes.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn poll_recv_registers_the_owner_and_is_woken_by_a_delivery_or_a_close() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "poller"));
    sub.subscribe(f("p/#"), SubOptions::default());
    let count = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(sub.poll_recv(&mut cx).is_pending());
    fabric.publish(Message::text(t("p/1"), "one"));
    fabric.publish(Message::text(t("p/2"), "two"));
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "one wake for the first delivery"
    );
    match sub.poll_recv(&mut cx) {
        Poll::Ready(Ok(d)) => assert_eq!(payload(&d), b"one"),
        other => panic!("expected a delivery, got {other:?}"),
    }
    assert!(matches!(sub.poll_recv(&mut cx), Poll::Ready(Ok(_))));
    assert!(sub.poll_recv(&mut cx).is_pending());
    sub.close();
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        2,
        "the close wakes the owner"
    );
    assert!(matches!(sub.poll_recv(&mut cx), Poll::Ready(Err(_))));
}

#[test]
fn poll_drain_takes_at_most_its_batch_in_order_then_reports_the_close() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Waker};
    let fabric = fabric();
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "drainer"));
    sub.subscribe(f("d/#"), SubOptions::default());
    let count = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut seen = Vec::new();
    assert_eq!(sub.poll_drain(&mut cx, 4, |d| seen.push(d)), Ok(0));
    for i in 0..5 {
        fabric.publish(Message::text(t("d/x"), format!("m{i}")));
    }
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "the empty drain registered the owner"
    );
    assert_eq!(sub.poll_drain(&mut cx, 0, |d| seen.push(d)), Ok(0));
    assert_eq!(sub.poll_drain(&mut cx, 3, |d| seen.push(d)), Ok(3));
    assert_eq!(sub.poll_drain(&mut cx, 3, |d| seen.push(d)), Ok(2));
    let got: Vec<_> = seen.iter().map(|d| payload(d).to_vec()).collect();
    assert_eq!(got, [b"m0", b"m1", b"m2", b"m3", b"m4"].map(|b| b.to_vec()));
    fabric.publish(Message::text(t("d/x"), "last"));
    sub.close();
    seen.clear();
    assert!(sub.poll_drain(&mut cx, 4, |d| seen.push(d)).is_err());
}
