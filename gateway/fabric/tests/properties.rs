//! Generated-input tests: the index and the retained store agree with a naive matcher.

use std::collections::BTreeSet;

use proptest::prelude::*;
use switchboard_fabric::{Fabric, Message, Replay, SubOptions, SubscriberSpec, Topic, TopicFilter};

/// An independent, deliberately simple statement of MQTT matching.
fn naive_match(filter: &str, topic: &str) -> bool {
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    if topic.starts_with('$') && (f[0] == "+" || f[0] == "#") {
        return false;
    }
    fn go(f: &[&str], t: &[&str]) -> bool {
        match (f.first(), t.first()) {
            (Some(&"#"), _) => true,
            (Some(&"+"), Some(_)) => go(&f[1..], &t[1..]),
            (Some(a), Some(b)) => a == b && go(&f[1..], &t[1..]),
            (None, None) => true,
            _ => false,
        }
    }
    go(&f, &t)
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c".to_owned()),
        Just(String::new()),
        Just("$s".to_owned()),
    ]
}

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 1..5)
        .prop_map(|v| v.join("/"))
        .prop_filter("topics are not empty", |s| !s.is_empty())
}

fn filter() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![level(), Just("+".to_owned())], 1..5),
        any::<bool>(),
    )
        .prop_map(|(mut v, hash)| {
            if hash {
                v.push("#".to_owned());
            }
            v.join("/")
        })
        .prop_filter("filters are not empty", |s| !s.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
    ))]

    #[test]
    fn index_agrees_with_naive_matcher(
        filters in prop::collection::vec(filter(), 1..12),
        topics in prop::collection::vec(topic(), 1..12),
    ) {
        let fabric = Fabric::standalone();
        let mut subs = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            let mut s = fabric.subscriber(SubscriberSpec::new("p", i.to_string()).capacity(1000));
            s.subscribe(TopicFilter::new(f).unwrap(), SubOptions { replay: Replay::Never, ..Default::default() });
            subs.push(s);
        }
        for t in &topics {
            let expected: BTreeSet<usize> = filters.iter().enumerate()
                .filter(|(_, f)| naive_match(f, t)).map(|(i, _)| i).collect();
            let n = fabric.publish(Message::text(Topic::new(t).unwrap(), t.clone()));
            prop_assert_eq!(n, expected.len());
            for (i, s) in subs.iter_mut().enumerate() {
                let got = s.try_recv().unwrap();
                prop_assert_eq!(got.is_some(), expected.contains(&i), "filter {} topic {}", filters[i], t);
                if let Some(d) = got {
                    prop_assert_eq!(d.message.topic.as_str(), t.as_str());
                }
            }
            // The filter type's own matcher agrees too.
            for f in &filters {
                prop_assert_eq!(TopicFilter::new(f).unwrap().matches_str(t), naive_match(f, t));
            }
        }
        drop(subs);
        prop_assert_eq!(fabric.stats().filters, 0);
    }

    #[test]
    fn retained_replay_agrees_with_naive_matcher(
        stored in prop::collection::btree_set(topic(), 1..16),
        filters in prop::collection::vec(filter(), 1..6),
    ) {
        let fabric = Fabric::standalone();
        for t in &stored {
            fabric.publish(Message::text(Topic::new(t).unwrap(), t.clone()).retain(true));
        }
        for f in &filters {
            let got: BTreeSet<String> = fabric.retained(&TopicFilter::new(f).unwrap())
                .iter().map(|m| m.topic.to_string()).collect();
            let expected: BTreeSet<String> = stored.iter().filter(|t| naive_match(f, t)).cloned().collect();
            prop_assert_eq!(got, expected, "filter {}", f);
        }
        for t in &stored {
            fabric.publish(Message::new(Topic::new(t).unwrap(), bytes::Bytes::new()).retain(true));
        }
        prop_assert_eq!(fabric.stats().retained, 0);
        prop_assert_eq!(fabric.stats().retained_bytes, 0);
    }

    #[test]
    fn filter_validation_never_panics(s in "\\PC{0,40}") {
        let _ = TopicFilter::new(&s);
        let _ = Topic::new(&s);
    }
}
