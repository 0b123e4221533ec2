//! A subscriber that never reads: it is disconnected as a slow consumer, its queue is bounded
//! (drops counted), the other subscribers keep receiving, and memory does not grow with what is
//! published. Alone in its test binary, so the process's resident memory is this test's.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use switchboard_tests::TestGateway;

/// Sum of the samples of `name` whose labels include every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

async fn mqtt_client(addr: SocketAddr, id: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    let (c, mut ev) = AsyncClient::new(o, 64);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ev.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return (c, ev),
            Ok(Ok(_)) => {}
            other => panic!("{id}: no CONNACK: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_cut_and_costs_bounded_memory() {
    let gw = TestGateway::builder()
        .configure(|c| {
            c.mqtt.write_timeout_ms = 500;
            c.mqtt.max_queued_messages = 100;
        })
        .start()
        .await;
    let mqtt = gw.addresses.mqtt.expect("mqtt");
    // The stalled client subscribes, then never reads again (its socket buffers fill up).
    let stalled = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(mqtt).expect("connect");
        s.write_all(b"\x10\x13\x00\x04MQTT\x04\x02\x00\x3c\x00\x07stalled")
            .expect("connect");
        // SUBSCRIBE pid 1 to "flood/#" QoS 0.
        s.write_all(b"\x82\x0c\x00\x01\x00\x07flood/#\x00")
            .expect("subscribe");
        s
    })
    .await
    .expect("stalled client");
    gw.subscribed("flood/x").await;
    // A healthy subscriber on the same topic.
    let (reader, mut rev) = mqtt_client(mqtt, "reader").await;
    reader
        .subscribe("flood/#", QoS::AtMostOnce)
        .await
        .expect("sub");
    let (publisher, mut pev) = mqtt_client(mqtt, "publisher").await;
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let payload = vec![b'x'; 4096];
    let mut got = 0usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0usize;
    let mut before = None;
    while Instant::now() < deadline {
        // 80 MiB in total, paced by the healthy reader; memory is measured after the first
        // 20 MiB (buffers and allocator caches warmed up).
        if sent >= 5_000 && before.is_none() {
            before = Some(rss());
        }
        if sent < 20_000 {
            for _ in 0..50 {
                publisher
                    .publish("flood/x", QoS::AtMostOnce, false, payload.clone())
                    .await
                    .expect("publish");
                sent += 1;
            }
        }
        while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(5), rev.poll()).await {
            if let Event::Incoming(Packet::Publish(_)) = ev {
                got += 1;
            }
        }
        let m = gw.metrics().await;
        if sent >= 20_000
            && metric(
                &m,
                "switchboard_disconnects_total",
                &[("protocol", "mqtt"), ("reason", "slow_consumer")],
            ) >= 1.0
        {
            break;
        }
    }
    let grown = rss().saturating_sub(before.unwrap_or(0));
    let m = gw.metrics().await;
    assert!(
        metric(
            &m,
            "switchboard_disconnects_total",
            &[("protocol", "mqtt"), ("reason", "slow_consumer")]
        ) >= 1.0,
        "the stalled subscriber is disconnected as a slow consumer"
    );
    assert!(got > 1_000, "the healthy subscriber kept receiving ({got})");
    assert!(
        grown < 24 << 20,
        "memory grew by {} MiB while 60 MiB were published to a stalled client",
        grown >> 20
    );
    drop(stalled);
    gw.shutdown().await;
}
