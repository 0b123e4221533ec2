//! Hostile clients on every listener: slowloris-style trickles, connection floods past
//! `max_connections`, oversized and malformed HTTP requests (generated), and a subscriber that never
//! reads. Each ends in a clear error or disconnect with a metric, memory stays bounded, and the
//! other clients keep their service.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestRunner};
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

/// A client that sends `bytes` one every 100 ms and reports how long the server let it live.
fn trickle(addr: SocketAddr, bytes: Vec<u8>) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let Ok(mut s) = TcpStream::connect(addr) else {
            return Duration::ZERO;
        };
        s.set_read_timeout(Some(Duration::from_millis(100))).ok();
        // An idle client sends nothing at all.
        let idle = [None];
        let sends: Box<dyn Iterator<Item = Option<&u8>>> = if bytes.is_empty() {
            Box::new(idle.iter().copied().cycle())
        } else {
            Box::new(bytes.iter().map(Some).cycle())
        };
        for b in sends {
            if let Some(b) = b
                && s.write_all(&[*b]).is_err()
            {
                break;
            }
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        started.elapsed()
    })
}

/// An MQTT 3.1.1 CONNECT for client id `slow`.
const MQTT_CONNECT: &[u8] = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04slow";

/// An MQTT 3.1.1 CONNECT for client id `c<i>` (two digits).
fn mqtt_connect(i: usize) -> Vec<u8> {
    let mut c = b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03c".to_vec();
    c.extend_from_slice(format!("{:02}", i % 100).as_bytes());
    c
}

fn ipc_frame() -> Vec<u8> {
    use switchboard_ipc_proto::{Command, Packet, Peer};
    let p = Packet::from_message(
        Command::send("chan", Peer::node("trickle-id", "trickle")),
        &["x".into()],
    )
    .expect("an IPC frame");
    p.frame().to_vec()
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

/// Round trip through the broker while the hostile clients are connected.
async fn mqtt_still_serves(addr: SocketAddr, id: &str) {
    let (c, mut ev) = mqtt_client(addr, id).await;
    let topic = format!("alive/{id}");
    c.subscribe(&topic, QoS::AtLeastOnce).await.expect("sub");
    c.publish(&topic, QoS::AtLeastOnce, false, "ok")
        .await
        .expect("pub");
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Event::Incoming(Packet::Publish(p))) = ev.poll().await {
                return p.payload;
            }
        }
    })
    .await
    .expect("the message comes back");
    assert_eq!(&got[..], b"ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_cut_on_every_port_and_others_keep_service() {
    let gw = TestGateway::builder()
        .configure(|c| {
            c.http.header_read_timeout_ms = 500;
            c.mqtt.connect_timeout_ms = 500;
            c.ipc.handshake_timeout_ms = 500;
        })
        .start()
        .await;
    let a = gw.addresses.clone();
    let mqtt = a.mqtt.expect("mqtt on");
    let ipc = a.ipc.expect("ipc on");
    let slow = [
        (
            "front",
            trickle(a.http, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec()),
        ),
        (
            "front h2",
            trickle(a.http, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ),
        ("front idle", trickle(a.http, Vec::new())),
        (
            "admin",
            trickle(a.admin, b"GET /metrics HTTP/1.1\r\nHost: x\r\n".to_vec()),
        ),
        ("mqtt", trickle(mqtt, MQTT_CONNECT.to_vec())),
        ("ipc", trickle(ipc, ipc_frame())),
    ];
    // Meanwhile everyone else is served.
    for i in 0..3 {
        let (status, _) = switchboard_tests::http::get(&gw.admin_url("/healthz")).await;
        assert_eq!(status, 200);
        mqtt_still_serves(mqtt, &format!("ok{i}")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (what, h) in slow {
        let lived = tokio::task::spawn_blocking(move || h.join().expect("trickle thread"))
            .await
            .expect("join");
        assert!(
            lived >= Duration::from_millis(400) && lived < Duration::from_secs(3),
            "{what}: a slow client lived {lived:?}"
        );
    }
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "switchboard_disconnects_total",
            &[("protocol", "http"), ("reason", "header_read_timeout")]
        ),
        3.0,
        "the front counts the clients it cut"
    );
    assert_eq!(
        metric(
            &m,
            "switchboard_disconnects_total",
            &[("protocol", "admin"), ("reason", "header_read_timeout")]
        ),
        1.0
    );
    assert!(
        metric(
            &m,
            "switchboard_connections_rejected_total",
            &[("protocol", "mqtt"), ("reason", "connect_timeout")]
        ) >= 1.0
    );
    assert!(
        metric(
            &m,
            "switchboard_ipc_dropped_total",
            &[("reason", "handshake_timeout")]
        ) >= 1.0
    );
    gw.shutdown().await;
}

/// Opens `n` connections to `addr` and returns those the server kept open after a short while,
/// and how many it refused (closed, or answered with what `refusal` recognises).
fn open_many(
    addr: SocketAddr,
    n: usize,
    hello: fn(usize) -> Vec<u8>,
    refusal: fn(&[u8]) -> bool,
) -> (Vec<TcpStream>, usize) {
    let mut kept = Vec::new();
    let mut refused = 0;
    for i in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect");
        let hello = hello(i);
        if !hello.is_empty() {
            let _ = s.write_all(&hello);
        }
        kept.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut open = Vec::new();
    for mut s in kept {
        s.set_read_timeout(Some(Duration::from_millis(50))).ok();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => refused += 1,
            Ok(n) if refusal(&buf[..n]) => refused += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => refused += 1,
            _ => open.push(s),
        }
    }
    (open, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_beyond_max_connections_are_refused_and_counted() {
    let gw = TestGateway::builder()
        .configure(|c| {
            c.http.max_connections = 4;
            c.mqtt.max_connections = 4;
            c.ipc.max_connections = 4;
        })
        .start()
        .await;
    let a = gw.addresses.clone();
    let mqtt = a.mqtt.expect("mqtt");
    let ipc = a.ipc.expect("ipc");
    let (front_open, front_refused, mqtt_open, mqtt_refused, ipc_open, ipc_refused) =
        tokio::task::spawn_blocking(move || {
            let never = |_: &[u8]| false;
            // MQTT answers a client over the limit with CONNACK 3 (server unavailable).
            let connack_refused = |b: &[u8]| b.len() >= 4 && b[0] == 0x20 && b[3] != 0;
            let nothing = |_: usize| Vec::new();
            let (fo, fr) = open_many(a.http, 10, nothing, never);
            let (mo, mr) = open_many(mqtt, 10, mqtt_connect, connack_refused);
            let (io, ir) = open_many(ipc, 10, nothing, never);
            (fo, fr, mo, mr, io, ir)
        })
        .await
        .expect("flood");
    assert_eq!(front_open.len(), 4, "the front keeps max_connections");
    assert_eq!(front_refused, 6);
    assert_eq!(mqtt_refused, 6, "mqtt refuses beyond max_connections");
    assert_eq!(ipc_refused, 6, "ipc refuses beyond max_connections");
    assert!(mqtt_open.len() <= 4 && ipc_open.len() <= 4);
    // The admin port is not part of the front's budget: it still answers.
    let (status, body) = switchboard_tests::http::get(&gw.admin_url("/metrics")).await;
    assert_eq!(status, 200);
    for p in ["http", "mqtt"] {
        assert!(
            metric(
                &body,
                "switchboard_connections_rejected_total",
                &[("protocol", p), ("reason", "max_connections")]
            ) >= 6.0,
            "{p} counts refusals"
        );
    }
    // Once the flood goes away the service is back.
    drop((front_open, mqtt_open, ipc_open));
    let front = a.http;
    switchboard_tests::wait::until_async("the front to serve again", || async move {
        tokio::task::spawn_blocking(move || {
            exchange(
                front,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .is_ok_and(|a| valid_status_line(&a))
        })
        .await
        .unwrap_or(false)
    })
    .await;
    mqtt_still_serves(mqtt, "after-flood").await;
    gw.shutdown().await;
}

/// Sends `request` and reads until a status line arrives or the server closes (3 s at most).
fn exchange(addr: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok();
    let _ = s.write_all(request);
    // No half-close: hyper closes a half-closed connection without answering.
    let mut out = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                // A status line is the answer; the connection may stay open (keep-alive).
                if out.starts_with(b"HTTP/") && out.windows(2).any(|w| w == b"\r\n") {
                    return Ok(out);
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionReset
                    || e.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                return Ok(out);
            }
            Err(e) => return Err(format!("no close within {:?}: {e}", started.elapsed())),
        }
        if out.len() > 1 << 20 {
            return Err("an endless answer".into());
        }
    }
}

fn valid_status_line(answer: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]);
    (head.starts_with("HTTP/1.1 ") || head.starts_with("HTTP/1.0 "))
        && head
            .get(9..12)
            .and_then(|c| c.parse::<u16>().ok())
            .is_some_and(|c| (100..600).contains(&c))
}

fn request_strategy() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("BREW".to_owned()),
        Just("CONNECT".to_owned()),
        "[A-Z]{1,12}",
        "[ -~]{0,16}",
    ];
    let path = prop_oneof![
        Just("/".to_owned()),
        Just("/engine.io/?EIO=4&transport=polling".to_owned()),
        Just("/mqtt".to_owned()),
        Just("*".to_owned()),
        "/[ -~]{0,64}",
        "[^\r\n]{0,32}",
    ];
    let version = prop_oneof![
        Just("HTTP/1.1"),
        Just("HTTP/1.0"),
        Just("HTTP/2.0"),
        Just("HTTP/9"),
        Just("")
    ];
    let header = (
        prop_oneof!["[A-Za-z-]{1,20}", "[ -~]{0,20}"],
        prop_oneof![
            "[ -~]{0,40}",
            Just("websocket".to_owned()),
            Just("chunked".to_owned()),
            Just("99999999999999999999".to_owned())
        ],
    );
    let headers = proptest::collection::vec(header, 0..12);
    let body = proptest::collection::vec(any::<u8>(), 0..256);
    let garbage = proptest::collection::vec(any::<u8>(), 0..512);
    prop_oneof![
        3 => (method, path, version, headers, body).prop_map(|(m, p, v, hs, b)| {
            let mut r = format!("{m} {p} {v}\r\nHost: x\r\n").into_bytes();
            for (k, val) in hs {
                r.extend_from_slice(format!("{k}: {val}\r\n").as_bytes());
            }
            r.extend_from_slice(b"\r\n");
            r.extend_from_slice(&b);
            r
        }),
        1 => garbage,
    ]
}

#[test]
fn generated_http_requests_get_an_answer_or_a_close_and_the_front_keeps_serving() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let gw = rt.block_on(
        TestGateway::builder()
            .configure(|c| c.http.header_read_timeout_ms = 300)
            .start(),
    );
    let front = gw.addresses.http;
    let admin = gw.addresses.admin;
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(PropConfig {
        cases,
        failure_persistence: None,
        ..PropConfig::default()
    });
    for addr in [front, admin] {
        runner
            .run(&request_strategy(), |req| {
                let answer = exchange(addr, &req).map_err(TestCaseError::fail)?;
                prop_assert!(
                    answer.is_empty() || valid_status_line(&answer),
                    "an invalid answer to {:?}: {:?}",
                    String::from_utf8_lossy(&req),
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                );
                Ok(())
            })
            .expect("every generated request is handled");
    }
    let healthy = exchange(
        admin,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("healthz");
    assert!(healthy.starts_with(b"HTTP/1.1 200"));
    rt.block_on(gw.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_and_bad_methods_get_clear_errors() {
    let gw = TestGateway::builder().start().await;
    let front = gw.addresses.http;
    let (huge, bad, many) = tokio::task::spawn_blocking(move || {
        let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 2 << 20));
        big.extend_from_slice(b"\r\n\r\n");
        let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..2_000 {
            many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        (
            exchange(front, &big),
            exchange(front, b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n"),
            exchange(front, &many),
        )
    })
    .await
    .expect("requests");
    for (what, answer) in [("2 MiB header", huge), ("2 000 headers", many)] {
        let answer = answer.expect(what);
        assert!(
            answer.is_empty()
                || answer.starts_with(b"HTTP/1.1 431")
                || answer.starts_with(b"HTTP/1.1 400"),
            "{what}: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        );
    }
    let bad = bad.expect("bad method");
    assert!(
        bad.is_empty() || bad.starts_with(b"HTTP/1.1 400"),
        "{bad:?}"
    );
    let (status, _) = switchboard_tests::http::get(&gw.http_url("/")).await;
    assert!(status < 500, "the front still serves ({status})");
    gw.shutdown().await;
}

/// A masked (zero key) WebSocket text frame, as a client sends it.
fn ws_text(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineio_session_that_never_reads_is_closed_and_others_keep_service() {
    let gw = TestGateway::builder()
        .configure(|c| {
            c.engineio.max_buffered_packets = 64;
            // A client that reads nothing answers no ping either.
            c.engineio.ping_interval_ms = 500;
            c.engineio.ping_timeout_ms = 500;
        })
        .start()
        .await;
    let front = gw.addresses.http;
    let mqtt = gw.addresses.mqtt.expect("mqtt");
    // A browser session that subscribes, then never reads again.
    let stalled = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(front).expect("connect");
        s.write_all(
            b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
              Upgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("upgrade");
        s.write_all(&ws_text(br#"4{"op":"sub","topic":"eflood/#","id":1}"#))
            .expect("sub");
        s
    })
    .await
    .expect("stalled session");
    gw.subscribed("eflood/x").await;
    let (reader, mut rev) = mqtt_client(mqtt, "ereader").await;
    reader
        .subscribe("eflood/#", QoS::AtMostOnce)
        .await
        .expect("sub");
    let (publisher, mut pev) = mqtt_client(mqtt, "epublisher").await;
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let payload = vec![b'x'; 4096];
    let mut got = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut closed = false;
    while Instant::now() < deadline && !closed {
        for _ in 0..50 {
            publisher
                .publish("eflood/x", QoS::AtMostOnce, false, payload.clone())
                .await
                .expect("publish");
        }
        while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(5), rev.poll()).await {
            if let Event::Incoming(Packet::Publish(_)) = ev {
                got += 1;
            }
        }
        let m = gw.metrics().await;
        closed = metric(
            &m,
            "switchboard_disconnects_total",
            &[("protocol", "engineio")],
        ) >= 1.0;
    }
    let m = gw.metrics().await;
    assert!(closed, "the stalled Engine.IO session was closed");
    assert!(
        metric(&m, "switchboard_dropped_total", &[("protocol", "engineio")]) >= 1.0,
        "what it could not take is counted"
    );
    assert!(got > 500, "the MQTT reader kept receiving ({got})");
    let (status, _) = switchboard_tests::http::get(&gw.admin_url("/healthz")).await;
    assert_eq!(status, 200);
    drop(stalled);
    gw.shutdown().await;
}
