//! MQTT 5 shared subscriptions across replicas: one member of the group in the whole cluster gets
//! each message (NATS queue groups pick the node), whichever node it was published on.

use std::collections::BTreeMap;
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use switchboard_tests::TestGateway;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::support::{Nats, mqtt, nats_subscriptions, three};

/// An MQTT 5 client of `gw` subscribed to `filter`; what it receives comes out of the channel.
async fn member(
    gw: &TestGateway,
    id: &str,
    filter: &str,
) -> (AsyncClient, mpsc::UnboundedReceiver<String>, JoinHandle<()>) {
    let addr = gw.addresses.mqtt.expect("MQTT on");
    let (client, mut events) = AsyncClient::new(
        MqttOptions::new(id, addr.ip().to_string(), addr.port()),
        256,
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Ok(ev) = events.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = ev {
                let _ = tx.send(String::from_utf8_lossy(&p.payload).into_owned());
            }
        }
    });
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    (client, rx, task)
}

#[tokio::test]
async fn interop_cluster_shared_subscription_gives_each_message_to_one_member() {
    let nats = Nats::start().await;
    let (g1, g2, g3) = three(&nats).await;
    let (_m2, mut on2, t2) = member(&g2, "member-2", "$share/g/jobs/#").await;
    let (_m3, mut on3, t3) = member(&g3, "member-3", "$share/g/jobs/#").await;
    let (_all, mut every, t4) = member(&g3, "watcher-3", "jobs/#").await;
    g2.subscribed("jobs/x").await;
    g3.subscribed("jobs/x").await;
    // node 2: the group's queue subscriptions (jobs.> and jobs); node 3: those and the plain ones
    nats_subscriptions(&g2, 2).await;
    nats_subscriptions(&g3, 4).await;

    const EACH: usize = 60;
    let mut pumps = Vec::new();
    for (gw, name) in [(&g1, "a"), (&g2, "b")] {
        let (client, mut events) = mqtt(gw, &format!("publisher-{name}")).await;
        pumps.push(tokio::spawn(
            async move { while events.poll().await.is_ok() {} },
        ));
        for n in 0..EACH {
            client
                .publish(
                    format!("jobs/{name}"),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    format!("{name}-{n}"),
                )
                .await
                .unwrap();
        }
    }

    // The non-shared subscriber gets everything.
    let mut seen_by_watcher = Vec::new();
    while seen_by_watcher.len() < 2 * EACH {
        match tokio::time::timeout(Duration::from_secs(20), every.recv()).await {
            Ok(Some(p)) => seen_by_watcher.push(p),
            _ => break,
        }
    }
    assert_eq!(seen_by_watcher.len(), 2 * EACH, "{seen_by_watcher:?}");

    // The group: each message exactly once in total, spread over both members.
    let mut got: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut total = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while total < 2 * EACH && tokio::time::Instant::now() < deadline {
        tokio::select! {
            Some(p) = on2.recv() => { got.entry(p).or_default().push("node 2"); total += 1; }
            Some(p) = on3.recv() => { got.entry(p).or_default().push("node 3"); total += 1; }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    // Late duplicates would show up now.
    let quiet = tokio::time::sleep(Duration::from_millis(500));
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            Some(p) = on2.recv() => { got.entry(p).or_default().push("node 2"); }
            Some(p) = on3.recv() => { got.entry(p).or_default().push("node 3"); }
            _ = &mut quiet => break,
        }
    }
    let missing: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|name| (0..EACH).map(move |n| format!("{name}-{n}")))
        .filter(|p| !got.contains_key(p))
        .collect();
    assert!(
        missing.is_empty(),
        "never delivered to the group: {missing:?}"
    );
    let twice: Vec<_> = got.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered to more than one member: {twice:?}"
    );
    let on_node = |n: &str| got.values().filter(|by| by[0] == n).count();
    assert!(
        on_node("node 2") > 0 && on_node("node 3") > 0,
        "both members get some: node 2 {}, node 3 {}",
        on_node("node 2"),
        on_node("node 3")
    );

    for t in [t2, t3, t4].into_iter().chain(pumps) {
        t.abort();
    }
    for g in [g1, g2, g3] {
        g.shutdown().await;
    }
}
