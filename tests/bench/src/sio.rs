//! The Socket.IO (v5) generator: WebSocket sockets in the main namespace speaking the control
//! events both servers implement (`subscribe` with an acknowledgement, `publish`, deliveries
//! as `message` events). The server under test is switchboard's control namespace or the Node
//! `socket.io` 4 peer (`node/sio-server.js`, the same events over an in-memory pub/sub).

use std::time::Duration;

use tokio::task::JoinSet;

use crate::clock::{self, now_ns};
use crate::eio::{EioTarget, WsSession};
use crate::error::{BenchError, Result};
use crate::stats::{Recorder, RunStats, Timing};

/// One Socket.IO load shape.
#[derive(Debug, Clone)]
pub enum SioPlan {
    /// Event throughput: `sockets` sockets, each subscribed to its own topic, with `window`
    /// `publish` events in flight that come back as `message` events.
    Events {
        /// Sockets.
        sockets: usize,
        /// Events in flight per socket.
        window: usize,
        /// Payload size (a JSON string).
        payload: usize,
    },
    /// Broadcast: `sockets` sockets subscribed to one topic; one more socket publishes on it
    /// at `rate` events per second.
    Broadcast {
        /// Receiving sockets.
        sockets: usize,
        /// Publishes per second.
        rate: f64,
        /// Payload size (a JSON string).
        payload: usize,
    },
}

fn perr(e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(e.to_string())
}

const DRAIN: Duration = Duration::from_millis(300);

/// Waits for the next text message starting with `prefix` (Engine.IO type included).
async fn expect(s: &mut WsSession, prefix: &[u8], what: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, s.next_message()).await {
            Ok(Ok(Some((_, d)))) if d.starts_with(prefix) => return Ok(()),
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => return Err(perr(format!("closed while waiting for {what}"))),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(perr(format!("no {what} within 10 s"))),
        }
    }
}

/// Opens `n` sockets connected to the main namespace, each subscribed to `topic(i)`.
async fn open(
    t: &EioTarget,
    n: usize,
    topic: impl Fn(usize) -> Option<String>,
) -> Result<Vec<WsSession>> {
    let sessions = crate::eio::open_many(t, n).await?;
    let mut out = Vec::with_capacity(n);
    for (i, mut s) in sessions.into_iter().enumerate() {
        s.queue_text(b"40");
        s.send_queued().await?;
        expect(&mut s, b"40", "the namespace CONNECT answer").await?;
        if let Some(topic) = topic(i) {
            s.queue_text(format!(r#"421["subscribe","{topic}"]"#).as_bytes());
            s.send_queued().await?;
            expect(
                &mut s,
                br#"431[{"ok":true"#,
                "the subscribe acknowledgement",
            )
            .await?;
        }
        out.push(s);
    }
    Ok(out)
}

/// `42["publish","<topic>","<payload>"]` and the offset of the payload's stamp.
fn publish_template(topic: &str, payload: usize) -> (Vec<u8>, usize) {
    let mut b = format!(r#"42["publish","{topic}",""#).into_bytes();
    let at = b.len();
    b.extend_from_slice(&clock::payload_template(payload));
    b.extend_from_slice(b"\"]");
    (b, at)
}

async fn event_socket(
    mut s: WsSession,
    topic: String,
    window: usize,
    payload: usize,
    rec: Recorder,
) -> Result<()> {
    let (mut body, at) = publish_template(&topic, payload);
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    let mut inflight = 0usize;
    loop {
        let now = now_ns();
        let over = rec.window.is_over(now);
        if over && inflight == 0 {
            return Ok(());
        }
        let mut n = 0;
        while !over && inflight < window {
            clock::write_stamp(&mut body[at..], now);
            s.queue_text(&body);
            inflight += 1;
            n += 1;
        }
        s.send_queued().await?;
        rec.sent(now, n);
        let first = match tokio::time::timeout_at(drain_end.into(), s.next_message()).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => return Err(perr("server closed the socket")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        // Everything the same read brought is taken before the window is refilled, so the
        // refill is one write, as in the Engine.IO echo (not one write per event).
        let now = now_ns();
        let mut next = Some(Some(first));
        while let Some(m) = next {
            let Some((_, d)) = m else {
                return Err(perr("server closed the socket"));
            };
            if let Some(st) = clock::find_stamp(&d) {
                inflight = inflight.saturating_sub(1);
                rec.received(now, Some(st));
            }
            next = s.buffered();
        }
    }
}

async fn receiver(mut s: WsSession, rec: Recorder) -> Result<()> {
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    loop {
        match tokio::time::timeout_at(drain_end.into(), s.next_message()).await {
            Ok(Ok(Some((_, d)))) => {
                if let Some(st) = clock::find_stamp(&d) {
                    rec.received(now_ns(), Some(st));
                }
            }
            Ok(Ok(None)) => return Err(perr("server closed a receiving socket")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
    }
}

async fn publisher(mut s: WsSession, rate: f64, payload: usize, rec: Recorder) -> Result<()> {
    let (mut body, at) = publish_template("bench/all", payload);
    let started = now_ns();
    let mut sent: u64 = 0;
    loop {
        let now = now_ns();
        if rec.window.is_over(now) {
            return Ok(());
        }
        let due = ((now - started) as f64 / 1e9 * rate) as u64;
        if due <= sent {
            // Read (and answer pings) while waiting for the next send.
            let next = clock::instant_at(started + ((sent + 1) as f64 * 1e9 / rate) as u64);
            let _ = tokio::time::timeout_at(next.into(), s.next_message()).await;
            continue;
        }
        clock::write_stamp(&mut body[at..], now);
        s.queue_text(&body);
        s.send_queued().await?;
        sent += 1;
        rec.sent(now, 1);
    }
}

/// Runs one Socket.IO load.
pub async fn run(t: &EioTarget, plan: &SioPlan, timing: Timing) -> Result<RunStats> {
    let mut set: JoinSet<Result<()>> = JoinSet::new();
    let rec;
    match plan {
        SioPlan::Events {
            sockets,
            window,
            payload,
        } => {
            let all = open(t, *sockets, |i| Some(format!("bench/e/{i}"))).await?;
            rec = Recorder::new(timing.start());
            for (i, s) in all.into_iter().enumerate() {
                set.spawn_local(event_socket(
                    s,
                    format!("bench/e/{i}"),
                    *window,
                    *payload,
                    rec.clone(),
                ));
            }
        }
        SioPlan::Broadcast {
            sockets,
            rate,
            payload,
        } => {
            let mut all = open(t, sockets + 1, |i| {
                (i < *sockets).then(|| "bench/all".to_owned())
            })
            .await?;
            let publishing = all.pop().ok_or_else(|| perr("no publishing socket"))?;
            rec = Recorder::new(timing.start());
            for s in all {
                set.spawn_local(receiver(s, rec.clone()));
            }
            set.spawn_local(publisher(publishing, *rate, *payload, rec.clone()));
        }
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(perr(format!("generator task failed: {e}"))),
        }
    }
    Ok(rec.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_frames_carry_a_stamp_in_a_json_string() {
        let (mut b, at) = publish_template("bench/e/3", 32);
        clock::write_stamp(&mut b[at..], 99);
        let text = String::from_utf8(b.clone()).unwrap_or_default();
        assert!(
            text.starts_with(r#"42["publish","bench/e/3","TS"#),
            "{text}"
        );
        assert!(text.ends_with("\"]"));
        assert_eq!(clock::find_stamp(&b), Some(99));
        let v: serde_json::Value = serde_json::from_str(&text[2..]).unwrap_or_default();
        assert_eq!(v[2].as_str().map(str::len), Some(32));
    }
}
