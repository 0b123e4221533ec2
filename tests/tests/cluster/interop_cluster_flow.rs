//! Messages, retained values, requests and Engine.IO polling across three nodes; a NATS restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use switchboard_fabric::{Message, Qos, RequestError, SubOptions, SubscriberSpec, Topic};
use switchboard_tests::agent;
use switchboard_tests::http;
use switchboard_tests::wait;

use crate::support::{Nats, Polling, mqtt, nats_subscriptions, node, three};

#[tokio::test]
async fn interop_cluster_mqtt_on_node1_reaches_engineio_on_node2_and_ipc_on_node3() {
    let nats = Nats::start().await;
    let (g1, g2, g3) = three(&nats).await;

    let browser = Polling::open(&g2).await;
    browser
        .send(&g2, json!({"op": "sub", "topic": "plant/+/temp", "id": 1}))
        .await;
    browser
        .expect(&g2, "the sub ack", |v| v["op"] == "ack" && v["id"] == 1)
        .await;

    let mut ipc = agent::ipc_peer(&g3, "desk").await;
    ipc.send(json!({"cmd": "listen", "channel": "plant/1/temp"}))
        .await;
    g3.subscribed("plant/1/temp").await;
    nats_subscriptions(&g2, 1).await;
    nats_subscriptions(&g3, 1).await;

    let (client, mut events) = mqtt(&g1, "device-1").await;
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    client
        .publish("plant/1/temp", rumqttc::QoS::AtLeastOnce, false, "21.5")
        .await
        .unwrap();

    let msg = browser
        .expect(&g2, "the MQTT message (bytes: a binary frame)", |v| {
            v["op"] == "binary"
        })
        .await;
    assert_eq!(msg["topic"], "plant/1/temp");
    assert_eq!(msg["payload"], "21.5", "{msg}");
    let got = ipc
        .expect("the MQTT message over IPC", |v| {
            v["event"] == "msg" && v["channel"] == "plant/1/temp"
        })
        .await;
    assert!(got["args"][0]["hex"] == "32312e35", "{got}");

    // One publish on NATS (counted once NATS confirmed it), nothing looped back to node 1.
    wait::until_async("node 1 to count its publish as confirmed", || async {
        g1.metrics()
            .await
            .contains("switchboard_cluster_sent_total 1\n")
    })
    .await;
    let m1 = g1.metrics().await;
    assert!(m1.contains("switchboard_cluster_sent_total 1\n"), "{m1}");
    assert!(
        m1.contains("switchboard_cluster_received_total 0\n"),
        "{m1}"
    );
    pump.abort();
    ipc.kill().await;
    for g in [g1, g2, g3] {
        g.shutdown().await;
    }
}

#[tokio::test]
async fn interop_cluster_origin_and_properties_survive_the_hop() {
    let nats = Nats::start().await;
    let g1 = node(&nats, "n1").await;
    let g2 = node(&nats, "n2").await;
    let mut sub = g2.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(
        switchboard_fabric::TopicFilter::new("a/#").unwrap(),
        SubOptions {
            max_qos: Qos::ExactlyOnce,
            ..SubOptions::default()
        },
    );
    nats_subscriptions(&g2, 2).await; // a.> and a
    let sent = Message::json(Topic::new("a").unwrap(), r#"{"v":1}"#)
        .qos(Qos::AtLeastOnce)
        .origin(switchboard_fabric::Origin::new("mqtt", "dev-9"))
        .correlation(Bytes::from_static(b"c1"))
        .content_type("application/json")
        .property("unit", "C")
        .expires_in(Duration::from_secs(60));
    g1.fabric.publish(sent);
    let d = tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("delivered")
        .unwrap();
    let m = &d.message;
    assert_eq!(m.topic.as_str(), "a", "a/# matches its parent level");
    assert_eq!(m.payload_str(), Some(r#"{"v":1}"#));
    assert_eq!(m.kind, switchboard_fabric::PayloadKind::Json);
    assert_eq!(m.qos, Qos::AtLeastOnce);
    assert_eq!((&*m.origin.protocol, &*m.origin.client), ("mqtt", "dev-9"));
    assert_eq!(m.origin.node.as_deref(), Some("n1"));
    assert_eq!(m.origin.subscriber, None);
    assert_eq!(m.correlation.as_deref(), Some(&b"c1"[..]));
    assert_eq!(m.content_type.as_deref(), Some("application/json"));
    assert_eq!(m.properties, [("unit".to_owned(), "C".to_owned())]);
    assert!(m.remaining_ttl(std::time::Instant::now()).unwrap() > Duration::from_secs(50));
    // The message matched two NATS subscriptions (a.> and a) only once.
    g1.fabric
        .publish(Message::text(Topic::new("a/b").unwrap(), "second"));
    let d = tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("delivered")
        .unwrap();
    assert_eq!(d.message.payload_str(), Some("second"));
    assert!(sub.try_recv().unwrap().is_none(), "no duplicate");
    g1.shutdown().await;
    g2.shutdown().await;
}

#[tokio::test]
async fn interop_cluster_retained_on_node1_reaches_a_late_subscriber_on_node2() {
    let nats = Nats::start().await;
    let (g1, g2, g3) = three(&nats).await;
    let (client, mut events) = mqtt(&g1, "device-r").await;
    let pump = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    client
        .publish("cfg/site", rumqttc::QoS::AtLeastOnce, true, "berlin")
        .await
        .unwrap();
    let topic = Topic::new("cfg/site").unwrap();
    wait::until("node 2 to hold the retained value", || {
        g2.fabric.retained_value(&topic).is_some()
    })
    .await;
    let stored = g2.fabric.retained_value(&topic).unwrap();
    assert_eq!(stored.origin.node.as_deref(), Some("n1"));

    let browser = Polling::open(&g2).await;
    browser
        .send(&g2, json!({"op": "sub", "topic": "cfg/#", "id": 1}))
        .await;
    let msg = browser
        .expect(&g2, "the retained value", |v| v["op"] == "msg")
        .await;
    assert_eq!(
        (msg["b64"].as_str(), msg["retain"].as_bool()),
        (Some("YmVybGlu"), Some(true)),
        "bytes replayed as retained: a msg frame with b64: {msg}"
    );

    // A node that joins later catches up from the stream, and a delete reaches everyone.
    let g4 = node(&nats, "n4").await;
    assert!(
        g4.fabric.retained_value(&topic).is_some(),
        "caught up at start"
    );
    client
        .publish("cfg/site", rumqttc::QoS::AtLeastOnce, true, "")
        .await
        .unwrap();
    for g in [&g2, &g3, &g4] {
        wait::until("the delete everywhere", || {
            g.fabric.retained_value(&topic).is_none()
        })
        .await;
    }
    pump.abort();
    for g in [g1, g2, g3, g4] {
        g.shutdown().await;
    }
}

#[tokio::test]
async fn interop_cluster_requests_are_answered_by_ipc_on_another_node() {
    let nats = Nats::start().await;
    let (g1, g2, g3) = three(&nats).await;
    let mut ipc = agent::ipc_peer(&g3, "svc").await;
    ipc.send(json!({"cmd": "answer", "channel": "svc/echo"}))
        .await;
    ipc.send(json!({"cmd": "listen", "channel": "svc/echo"}))
        .await;
    g3.subscribed("svc/echo").await;
    nats_subscriptions(&g3, 1).await;

    let reply = g1
        .fabric
        .request(
            Message::text(Topic::new("svc/echo").unwrap(), "ping"),
            Duration::from_secs(10),
        )
        .await
        .expect("a reply from node 3");
    let body = reply.payload_str().unwrap_or_default().to_owned();
    assert!(
        body.contains("answeredBy") && body.contains("ping"),
        "{body}"
    );

    // Nobody anywhere: refused quickly, not after the timeout.
    let started = Instant::now();
    let err = g2
        .fabric
        .request(
            Message::text(Topic::new("svc/none").unwrap(), "?"),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::NoResponders), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    ipc.kill().await;
    for g in [g1, g2, g3] {
        g.shutdown().await;
    }
}

#[tokio::test]
async fn interop_cluster_polling_requests_are_forwarded_to_the_owner() {
    let nats = Nats::start().await;
    let (g1, g2, g3) = three(&nats).await;
    // The session lives on node 1; every request below goes through nodes 2 and 3, as a
    // round-robin Service would send them.
    let browser = Polling::open(&g1).await;
    browser
        .send(&g2, json!({"op": "sub", "topic": "news/#", "id": 7}))
        .await;
    browser
        .expect(&g3, "the ack through node 3", |v| {
            v["op"] == "ack" && v["id"] == 7
        })
        .await;
    assert!(g1.fabric.has_subscribers(&Topic::new("news/x").unwrap()));
    g3.fabric
        .publish(Message::text(Topic::new("news/x").unwrap(), "hello"));
    let msg = browser
        .expect(&g2, "the message through node 2", |v| v["op"] == "msg")
        .await;
    assert_eq!(msg["text"], "hello");
    let m2 = g2.metrics().await;
    assert!(
        m2.contains(r#"switchboard_cluster_forwarded_total{result="ok"}"#),
        "{m2}"
    );
    // A session of a node that is gone: unknown, so the client opens a new one.
    g1.shutdown().await;
    let (status, body) = http::get(&browser.url(&g2)).await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
    g2.shutdown().await;
    g3.shutdown().await;
}

#[tokio::test]
async fn interop_cluster_nats_restart_loses_no_qos1_message() {
    let mut nats = Nats::start().await;
    let (g1, g2, g3) = three(&nats).await;

    // Subscriber: MQTT QoS 1 on node 2.
    let (sub, mut sub_events) = mqtt(&g2, "sink").await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let sub_task = tokio::spawn(async move {
        while let Ok(ev) = sub_events.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = ev
                && let Ok(s) = std::str::from_utf8(&p.payload)
                && let Ok(n) = s.parse()
            {
                let _ = tx.send(n);
            }
        }
    });
    sub.subscribe("stream/#", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    g2.subscribed("stream/x").await;
    nats_subscriptions(&g2, 2).await;

    // Publisher: MQTT QoS 1 on node 1, one message every 5 ms.
    let (publ, mut pub_events) = mqtt(&g1, "source").await;
    let pub_pump = tokio::spawn(async move { while pub_events.poll().await.is_ok() {} });
    const TOTAL: u32 = 600;
    let publisher = tokio::spawn(async move {
        for n in 0..TOTAL {
            publ.publish("stream/x", rumqttc::QoS::AtLeastOnce, false, n.to_string())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });

    // NATS restarts a little way in (stopped as Kubernetes stops it, with SIGTERM), stays
    // down for a second, comes back. (A NATS server killed with SIGKILL can lose what it had
    // accepted and not yet passed on: core NATS is at most once; see the README.)
    tokio::time::sleep(Duration::from_millis(600)).await;
    nats.stop().await;
    wait::until_async("node 1 to report the link down in /readyz", || async {
        let (status, body) = http::get(&g1.admin_url("/readyz")).await;
        status == 200 && body.contains("degraded") && body.contains("NATS unreachable")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    nats.spawn().await;
    publisher.await.unwrap();

    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < TOTAL as usize && Instant::now() < deadline {
        if let Ok(Some(n)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            seen.insert(n);
        }
    }
    let missing: Vec<u32> = (0..TOTAL).filter(|n| !seen.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "lost {} messages: {missing:?}",
        missing.len()
    );
    wait::until_async("node 1 ready without degradation", || async {
        http::get(&g1.admin_url("/readyz")).await == (200, "ready\n".to_owned())
    })
    .await;
    let m1 = g1.metrics().await;
    assert!(
        m1.contains("switchboard_cluster_reconnects_total 1"),
        "{m1}"
    );
    sub_task.abort();
    pub_pump.abort();
    for g in [g1, g2, g3] {
        g.shutdown().await;
    }
}
