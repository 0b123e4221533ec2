//! Cross-protocol loads (the one-topic-space issue): MQTT publishers to Engine.IO browsers in
//! control mode, and IPC senders to MQTT subscribers. switchboard only: no peer bridges these.

use std::time::Duration;

use bytes::BytesMut;
use tokio::task::JoinSet;

use crate::clock::{self, now_ns};
use crate::eio::{EioTarget, WsSession};
use crate::error::{BenchError, Result};
use crate::ipc;
use crate::mqtt::{self, MqttTarget};
use crate::stats::{Recorder, RunStats, Timing};

fn perr(e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(e.to_string())
}

const DRAIN: Duration = Duration::from_millis(500);

/// MQTT → Engine.IO: `sockets` browser sessions, each subscribed (control protocol `sub`) to
/// its own topic `bench/x/<i>`; one MQTT publisher sends `rate` msg/s in total, round robin
/// over the topics. Returns deliveries to the browsers; `sent - received` are drops.
pub async fn mqtt_to_eio(
    mqtt_t: &MqttTarget,
    eio_t: &EioTarget,
    sockets: usize,
    rate: f64,
    payload: usize,
    timing: Timing,
) -> Result<RunStats> {
    let sessions = crate::eio::open_many(eio_t, sockets).await?;
    let mut set: JoinSet<Result<()>> = JoinSet::new();
    let mut subscribed = Vec::with_capacity(sockets);
    for (i, mut s) in sessions.into_iter().enumerate() {
        let topic = format!("bench/x/{i}");
        s.queue_text(format!(r#"4{{"op":"sub","topic":"{topic}","id":1}}"#).as_bytes());
        s.send_queued().await?;
        // Wait for the ack (or an error) before the load starts.
        match tokio::time::timeout(Duration::from_secs(10), s.next_message()).await {
            Ok(Ok(Some((_, d)))) if memchr::memmem::find(&d, b"\"ack\"").is_some() => {}
            Ok(Ok(Some((_, d)))) => {
                return Err(perr(format!(
                    "sub answered {:?}",
                    String::from_utf8_lossy(&d[..d.len().min(120)])
                )));
            }
            Ok(Ok(None)) => return Err(perr("session closed after sub")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(perr("no ack for sub within 10 s")),
        }
        subscribed.push(s);
    }
    let rec = Recorder::new(timing.start());
    for s in subscribed {
        set.spawn_local(browser(s, rec.clone()));
    }
    let templates = (0..sockets)
        .map(|i| mqtt::template(&format!("bench/x/{i}"), 0, payload))
        .collect::<Result<Vec<_>>>()?;
    let mut c = mqtt::Conn::open(mqtt_t, &format!("xp-{}", std::process::id()), 600).await?;
    let rec2 = rec.clone();
    set.spawn_local(async move {
        let started = now_ns();
        let mut sent: u64 = 0;
        let mut batch = BytesMut::new();
        let mut k = 0usize;
        loop {
            let now = now_ns();
            if rec2.window.is_over(now) {
                return Ok(());
            }
            let due = ((now - started) as f64 / 1e9 * rate) as u64;
            let n = due.saturating_sub(sent).min(1024);
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            batch.clear();
            for _ in 0..n {
                let t = &templates[k % templates.len()];
                k += 1;
                let at = batch.len();
                batch.extend_from_slice(&t.bytes);
                clock::write_stamp(&mut batch[at + t.stamp_at..], now);
            }
            c.send(&batch).await?;
            sent += n;
            rec2.sent(now, n);
        }
    });
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(perr(format!("generator task failed: {e}"))),
        }
    }
    Ok(rec.summary())
}

async fn browser(mut s: WsSession, rec: Recorder) -> Result<()> {
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    loop {
        match tokio::time::timeout_at(drain_end.into(), s.next_message()).await {
            Ok(Ok(Some((_, d)))) => {
                if let Some(st) = clock::find_stamp(&d) {
                    rec.received(now_ns(), Some(st));
                }
            }
            Ok(Ok(None)) => return Err(perr("server closed a browser session")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
    }
}

/// IPC → MQTT: one IPC sender pipelines `send`s on channel `bench/ipc` (one Buffer argument of
/// `payload` bytes); one MQTT subscriber listens on the topic of the same name.
pub async fn ipc_to_mqtt(
    ipc_addr: std::net::SocketAddr,
    mqtt_t: &MqttTarget,
    payload: usize,
    timing: Timing,
) -> Result<RunStats> {
    let mut sub = mqtt::Conn::open(mqtt_t, &format!("xs-{}", std::process::id()), 600).await?;
    sub.subscribe("bench/ipc", 0).await?;
    let sender = ipc::Conn::open(ipc_addr, "xsnd").await?;
    let rec = Recorder::new(timing.start());
    let mut set: JoinSet<Result<()>> = JoinSet::new();
    set.spawn_local(mqtt::subscriber(sub, rec.clone()));
    set.spawn_local(ipc::sender_task(
        sender,
        "bench/ipc".to_owned(),
        payload,
        1,
        rec.clone(),
    ));
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(perr(format!("generator task failed: {e}"))),
        }
    }
    Ok(rec.summary())
}
