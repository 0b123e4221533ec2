//! The retained store agrees with a plain map of topic → value under random sets and deletes
//! (levels with few and with many children, so both child layouts are exercised), and every
//! filter replays exactly the matching values.

use std::collections::BTreeMap;

use proptest::prelude::*;
use switchboard_fabric::{Fabric, Message, Topic, TopicFilter};

fn level() -> impl Strategy<Value = String> {
    prop_oneof!["[a-c]", "[a-z]{1,2}", Just("$x".to_owned()),]
}

fn topic() -> impl Strategy<Value = String> {
    proptest::collection::vec(level(), 1..4).prop_map(|l| l.join("/"))
}

fn filter() -> impl Strategy<Value = String> {
    let l = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (proptest::collection::vec(l, 0..4), any::<bool>()).prop_map(|(mut ls, hash)| {
        if hash || ls.is_empty() {
            ls.push("#".to_owned());
        }
        ls.join("/")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn the_store_matches_a_model(
        ops in proptest::collection::vec((topic(), any::<bool>()), 0..200),
        filters in proptest::collection::vec(filter(), 1..8),
    ) {
        let fabric = Fabric::standalone();
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        for (i, (t, delete)) in ops.iter().enumerate() {
            let value = if *delete { String::new() } else { format!("v{i}") };
            fabric.publish(Message::text(Topic::new(t).unwrap(), value.clone()).retain(true));
            if *delete {
                model.remove(t);
            } else {
                model.insert(t.clone(), value);
            }
        }
        prop_assert_eq!(fabric.stats().retained, model.len());
        for f in filters {
            let filter = TopicFilter::new(&f).unwrap();
            let mut got: Vec<(String, String)> = fabric
                .retained(&filter)
                .iter()
                .map(|m| (m.topic.as_str().to_owned(), m.payload_str().unwrap_or("").to_owned()))
                .collect();
            got.sort();
            let want: Vec<(String, String)> = model
                .iter()
                .filter(|(t, _)| filter.matches_str(t))
                .map(|(t, v)| (t.clone(), v.clone()))
                .collect();
            prop_assert_eq!(got, want, "filter {}", f);
        }
        for t in model.keys() {
            prop_assert!(fabric.retained_value(&Topic::new(t).unwrap()).is_some());
        }
    }
}
