//! A million distinct retained topics: the store stays within its bounds (count and bytes, with
//! the overflow counted), memory is what the entries cost and no more, and a subscription to a
//! narrow filter replays its branch without walking the rest of the tree. Alone in its test
//! binary, so the process's resident memory is this test's.

use std::time::{Duration, Instant};

use switchboard_fabric::{
    Fabric, FabricConfig, Message, SubOptions, SubscriberSpec, Topic, TopicFilter,
};

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

const N: usize = 1_000_000;

fn topic(i: usize) -> Topic {
    Topic::new(format!(
        "site/{}/floor/{}/room/{}/sensor/{i}",
        i % 10,
        (i / 10) % 100,
        (i / 1_000) % 1_000
    ))
    .expect("topic")
}

#[test]
fn a_million_retained_topics_stay_bounded_and_narrow_subscriptions_stay_fast() {
    let registry = prometheus::Registry::new();
    let config = FabricConfig {
        max_retained_messages: N,
        ..FabricConfig::default()
    };
    let fabric = Fabric::new(config, "scale", &registry).expect("fabric");
    let before = rss();
    let started = Instant::now();
    for i in 0..N {
        fabric.publish(Message::new(topic(i), &b"21.5"[..]).retain(true));
    }
    let filled = started.elapsed();
    // Past the bound: refused and counted, nothing else changes.
    for i in N..N + 1_000 {
        fabric.publish(Message::new(topic(i), &b"x"[..]).retain(true));
    }
    let stats = fabric.stats();
    assert_eq!(stats.retained, N);
    assert!(stats.retained_bytes <= FabricConfig::default().max_retained_bytes);
    let full: f64 = registry
        .gather()
        .iter()
        .filter(|f| f.name() == "switchboard_dropped_total")
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "reason" && l.value() == "retained_store_full")
        })
        .map(|m| m.get_counter().get_value())
        .sum();
    assert_eq!(full, 1_000.0, "every refused retained message is counted");
    let grown = rss().saturating_sub(before);
    let per_topic = grown / N as u64;
    eprintln!(
        "1M retained topics: filled in {filled:?}, {} MiB resident ({per_topic} B per topic)",
        grown >> 20
    );
    assert!(per_topic < 800, "{per_topic} B per retained topic");

    // A narrow subscription replays its 100 topics without walking the million.
    let mut sub = fabric.subscriber(SubscriberSpec::new("test", "narrow").capacity(10_000));
    let t = Instant::now();
    sub.subscribe(
        TopicFilter::new("site/3/floor/42/room/+/sensor/#").expect("filter"),
        SubOptions::default(),
    );
    let narrow = t.elapsed();
    let mut replayed = 0;
    while let Ok(Some(_)) = sub.try_recv() {
        replayed += 1;
    }
    assert_eq!(replayed, 1_000);
    let t = Instant::now();
    sub.subscribe(
        TopicFilter::new("site/3/floor/42/room/7/sensor/7423").expect("filter"),
        SubOptions::default(),
    );
    let exact = t.elapsed();
    eprintln!("narrow subscribe: {narrow:?}, exact: {exact:?}");
    assert!(
        narrow < Duration::from_millis(100),
        "narrow filter took {narrow:?}"
    );
    assert!(
        exact < Duration::from_millis(10),
        "exact filter took {exact:?}"
    );
    // Publishing stays as cheap as with an empty store.
    let t = Instant::now();
    for i in 0..10_000 {
        fabric.publish(Message::new(topic(i), &b"22"[..]).retain(true));
    }
    let republish = t.elapsed() / 10_000;
    eprintln!("replacing a retained value: {republish:?} each");
    assert!(republish < Duration::from_micros(200));
}
