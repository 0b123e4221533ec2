//! The Engine.IO (v4) generator: WebSocket sessions that pipeline text messages and answer
//! pings, long-polling handshakes and round trips, fan-out, paced and bursty latency, and
//! idle sessions. The server under test echoes (switchboard in raw mode with `echo/{sid}`,
//! the Node `engine.io` server with `socket.send(data)`) or broadcasts to every session.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinSet;

use crate::clock::{self, now_ns};
use crate::error::{BenchError, Context, Result};
use crate::net::{self, HttpConn, WsReader, opcode};
use crate::stats::{Recorder, RunStats, Timing};

/// Where the Engine.IO server is.
#[derive(Debug, Clone)]
pub struct EioTarget {
    /// HTTP address.
    pub addr: SocketAddr,
    /// The Engine.IO path, e.g. `/engine.io/`.
    pub path: String,
}

/// One Engine.IO load shape.
#[derive(Debug, Clone)]
pub enum EioPlan {
    /// WebSocket echo: `sockets` sessions with `window` messages in flight each.
    WsEcho {
        /// Sessions.
        sockets: usize,
        /// Messages in flight per session.
        window: usize,
        /// Message size.
        payload: usize,
    },
    /// WebSocket echo at a fixed total rate; `burst` sends each round from every session at
    /// the same instant instead of spreading the sends evenly.
    WsPaced {
        /// Sessions.
        sockets: usize,
        /// Total messages per second.
        rate: f64,
        /// Bursts instead of even spacing.
        burst: bool,
        /// Message size.
        payload: usize,
    },
    /// Broadcast: one session publishes (window on its own copies), every session receives.
    WsFanout {
        /// Receiving sessions besides the publisher.
        sockets: usize,
        /// Messages in flight for the publisher.
        window: usize,
        /// Message size.
        payload: usize,
    },
    /// Long-polling handshakes over `connections` keep-alive connections, `depth` requests
    /// pipelined on each (HTTP/1.1 pipelining, so the generator spends one write and about
    /// one read per `depth` handshakes instead of a round trip each and the server, not the
    /// generator, is what saturates).
    PollingHandshake {
        /// Connections.
        connections: usize,
        /// Requests in flight per connection.
        depth: usize,
    },
    /// Long-polling echo round trips: POST a message, GET the echo, per session.
    PollingEcho {
        /// Sessions.
        sessions: usize,
        /// Message size.
        payload: usize,
    },
}

fn perr(e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(e.to_string())
}

/// One Engine.IO WebSocket session.
#[derive(Debug)]
pub struct WsSession {
    r: OwnedReadHalf,
    w: OwnedWriteHalf,
    raw: BytesMut,
    reader: WsReader,
    out: BytesMut,
}

impl WsSession {
    /// Opens a session over WebSocket directly and waits for the open packet.
    pub async fn open(t: &EioTarget) -> Result<WsSession> {
        let stream = net::connect(t.addr)
            .await
            .context(|| format!("Engine.IO connect to {}", t.addr))?;
        let path = format!("{}?EIO=4&transport=websocket", t.path);
        let (r, w, raw) = net::ws_handshake(stream, t.addr, &path, None)
            .await
            .context(|| format!("Engine.IO WebSocket at {}{path}", t.addr))?;
        let mut s = WsSession {
            r,
            w,
            raw,
            reader: WsReader::default(),
            out: BytesMut::with_capacity(16 * 1024),
        };
        let first = tokio::time::timeout(Duration::from_secs(10), s.next_message())
            .await
            .map_err(|_| perr("no Engine.IO open packet within 10 s"))??;
        match first {
            Some((opcode::TEXT, d)) if d.first() == Some(&b'0') => Ok(s),
            Some((op, d)) => Err(perr(format!(
                "expected the open packet, got opcode {op} {:?}",
                String::from_utf8_lossy(&d[..d.len().min(60)])
            ))),
            None => Err(perr("closed before the open packet")),
        }
    }

    /// A message already received and buffered, without reading the socket; pings are
    /// answered into the send queue. `Some(None)` means the server closed the session.
    pub(crate) fn buffered(&mut self) -> Option<Option<(u8, BytesMut)>> {
        while let Some(m) = self.reader.next(&mut self.raw) {
            match m.op {
                opcode::CLOSE => return Some(None),
                opcode::PING => net::ws_frame(&mut self.out, opcode::PONG, &m.data),
                opcode::PONG => {}
                // Engine.IO v4 heartbeat: the server pings, the client answers "3".
                opcode::TEXT if m.data.first() == Some(&b'2') => {
                    net::ws_frame(&mut self.out, opcode::TEXT, b"3");
                }
                op => return Some(Some((op, m.data))),
            }
        }
        None
    }

    /// The next data message `(opcode, payload)`; pings are answered, `None` at close.
    pub async fn next_message(&mut self) -> Result<Option<(u8, BytesMut)>> {
        loop {
            if let Some(m) = self.buffered() {
                return Ok(m);
            }
            self.flush().await?;
            if net::fill(&mut self.r, &mut self.raw)
                .await
                .context(|| "Engine.IO read".to_owned())?
                == 0
            {
                return Ok(None);
            }
        }
    }

    async fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.w.write_all(&self.out).await;
        self.out.clear();
        r.context(|| "Engine.IO write".to_owned())
    }

    /// Queues one Engine.IO text message carrying a stamp (sent by [`WsSession::flush`]).
    fn queue(&mut self, body: &mut [u8], now: u64) {
        clock::write_stamp(&mut body[1..], now);
        net::ws_frame(&mut self.out, opcode::TEXT, body);
    }

    /// Queues a raw text frame (e.g. a control-protocol JSON operation).
    pub fn queue_text(&mut self, text: &[u8]) {
        net::ws_frame(&mut self.out, opcode::TEXT, text);
    }

    /// Sends what was queued.
    pub async fn send_queued(&mut self) -> Result<()> {
        self.flush().await
    }
}

fn message_body(payload: usize) -> Vec<u8> {
    let mut b = vec![b'4'];
    b.extend_from_slice(&clock::payload_template(payload));
    b
}

const DRAIN: Duration = Duration::from_millis(300);

/// The stamp of an Engine.IO message frame (`4<payload>` text, or a binary frame).
fn stamp_of(op: u8, d: &[u8]) -> Option<u64> {
    match (op, d.first()) {
        (opcode::TEXT, Some(b'4')) => clock::read_stamp(&d[1..]).or_else(|| clock::find_stamp(d)),
        (opcode::TEXT, _) => None,
        _ => clock::find_stamp(d),
    }
}

async fn echo_session(
    mut s: WsSession,
    window: usize,
    payload: usize,
    rec: Recorder,
) -> Result<()> {
    let mut body = message_body(payload);
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
            s.queue(&mut body, now);
            inflight += 1;
            n += 1;
        }
        s.flush().await?;
        rec.sent(now, n);
        let first = match tokio::time::timeout_at(drain_end.into(), s.next_message()).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => return Err(perr("server closed the session")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        let now = now_ns();
        let mut next = Some(Some(first));
        while let Some(m) = next {
            let Some((op, d)) = m else {
                return Err(perr("server closed the session"));
            };
            if let Some(st) = stamp_of(op, &d) {
                inflight = inflight.saturating_sub(1);
                rec.received(now, Some(st));
            }
            next = s.buffered();
        }
    }
}

async fn receive_only(mut s: WsSession, rec: Recorder) -> Result<()> {
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    loop {
        match tokio::time::timeout_at(drain_end.into(), s.next_message()).await {
            Ok(Ok(Some((op, d)))) => {
                if let Some(st) = stamp_of(op, &d) {
                    rec.received(now_ns(), Some(st));
                }
            }
            Ok(Ok(None)) => return Err(perr("server closed the session")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
    }
}

async fn paced_session(
    mut s: WsSession,
    period: Duration,
    phase: Duration,
    payload: usize,
    rec: Recorder,
) -> Result<()> {
    let mut body = message_body(payload);
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    let mut next = tokio::time::Instant::now() + phase;
    let mut sent_end = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next), if !sent_end => {
                let now = now_ns();
                if rec.window.is_over(now) {
                    sent_end = true;
                    continue;
                }
                s.queue(&mut body, now);
                s.flush().await?;
                rec.sent(now, 1);
                next += period;
            }
            m = tokio::time::timeout_at(drain_end.into(), s.next_message()) => match m {
                Ok(Ok(Some((op, d)))) => {
                    if let Some(st) = stamp_of(op, &d) {
                        rec.received(now_ns(), Some(st));
                    }
                }
                Ok(Ok(None)) => return Err(perr("server closed the session")),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            }
        }
    }
}

/// Opens `n` WebSocket sessions, 128 handshakes at a time.
pub async fn open_many(t: &EioTarget, n: usize) -> Result<Vec<WsSession>> {
    let mut out = Vec::with_capacity(n);
    let mut set = JoinSet::new();
    let mut next = 0;
    while out.len() < n {
        while set.len() < 128 && next < n {
            let t = t.clone();
            set.spawn_local(async move { WsSession::open(&t).await });
            next += 1;
        }
        match set.join_next().await {
            Some(Ok(Ok(s))) => out.push(s),
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(e)) => return Err(perr(format!("connect task failed: {e}"))),
            None => break,
        }
    }
    Ok(out)
}

/// Idle sessions kept open (answering pings) until dropped.
#[derive(Debug)]
pub struct IdleSessions {
    tasks: JoinSet<()>,
}

impl IdleSessions {
    /// Sessions still open.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// Opens `n` sessions and keeps them alive in the background.
pub async fn open_idle(t: &EioTarget, n: usize) -> Result<IdleSessions> {
    let sessions = open_many(t, n).await?;
    let mut tasks = JoinSet::new();
    for mut s in sessions {
        tasks.spawn_local(async move { while let Ok(Some(_)) = s.next_message().await {} });
    }
    Ok(IdleSessions { tasks })
}

fn poll_path(t: &EioTarget, sid: Option<&str>) -> String {
    match sid {
        None => format!("{}?EIO=4&transport=polling", t.path),
        Some(s) => format!("{}?EIO=4&transport=polling&sid={s}", t.path),
    }
}

fn sid_of(open: &[u8]) -> Option<String> {
    let json = open.strip_prefix(b"0")?;
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    v.get("sid")?.as_str().map(str::to_owned)
}

async fn polling_handshakes(t: EioTarget, depth: usize, rec: Recorder) -> Result<()> {
    let mut c = HttpConn::connect(t.addr)
        .await
        .context(|| format!("connect to {}", t.addr))?;
    let req = net::http_get(t.addr, &poll_path(&t, None));
    let batch = req.repeat(depth.max(1));
    loop {
        let now = now_ns();
        if rec.window.is_over(now) {
            return Ok(());
        }
        // The batch is written at once; the first response comes with the write's round
        // trip, the others are read as they arrive.
        let mut r = c
            .round_trip(&batch)
            .await
            .context(|| "handshake".to_owned())?;
        for i in 0..depth.max(1) {
            if i > 0 {
                r = c
                    .read_response()
                    .await
                    .context(|| "pipelined handshake".to_owned())?;
            }
            let done = now_ns();
            if r.status == 200 && r.body.first() == Some(&b'0') {
                rec.received(done, Some(now));
            } else {
                rec.error();
                if rec.received_count() == 0 && r.status != 200 {
                    return Err(perr(format!("handshake answered HTTP {}", r.status)));
                }
            }
            if r.close {
                // The rest of the batch is lost with the connection; the next round trip
                // reconnects.
                break;
            }
        }
    }
}

async fn polling_echo(t: EioTarget, payload: usize, rec: Recorder) -> Result<()> {
    let mut c = HttpConn::connect(t.addr)
        .await
        .context(|| format!("connect to {}", t.addr))?;
    let open = c
        .round_trip(&net::http_get(t.addr, &poll_path(&t, None)))
        .await
        .context(|| "handshake".to_owned())?;
    let sid = sid_of(&open.body).ok_or_else(|| perr("no sid in the open packet"))?;
    let path = poll_path(&t, Some(&sid));
    let get = net::http_get(t.addr, &path);
    let mut body = message_body(payload);
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    loop {
        let now = now_ns();
        if rec.window.is_over(now) {
            return Ok(());
        }
        clock::write_stamp(&mut body[1..], now);
        let post = net::http_post(t.addr, &path, &body);
        let r = c.round_trip(&post).await.context(|| "POST".to_owned())?;
        if r.status != 200 {
            return Err(perr(format!("polling POST answered HTTP {}", r.status)));
        }
        rec.sent(now, 1);
        // GET until the echo arrives (a GET may carry a ping or a noop instead).
        loop {
            let r = match tokio::time::timeout_at(drain_end.into(), c.round_trip(&get)).await {
                Ok(r) => r.context(|| "GET".to_owned())?,
                Err(_) => return Ok(()),
            };
            if r.status != 200 {
                return Err(perr(format!("polling GET answered HTTP {}", r.status)));
            }
            let mut got = false;
            for p in r.body[..].split(|&b| b == 0x1e) {
                match p.first() {
                    Some(b'4') => {
                        rec.received(now_ns(), clock::read_stamp(&p[1..]));
                        got = true;
                    }
                    Some(b'2') => {
                        let pong = net::http_post(t.addr, &path, b"3");
                        let _ = c.round_trip(&pong).await.context(|| "pong".to_owned())?;
                    }
                    _ => {}
                }
            }
            if got {
                break;
            }
        }
    }
}

/// Runs one Engine.IO load.
pub async fn run(t: &EioTarget, plan: &EioPlan, timing: Timing) -> Result<RunStats> {
    let mut set: JoinSet<Result<()>> = JoinSet::new();
    let rec;
    match plan {
        EioPlan::WsEcho {
            sockets,
            window: w,
            payload,
        } => {
            let sessions = open_many(t, *sockets).await?;
            rec = Recorder::new(timing.start());
            for s in sessions {
                set.spawn_local(echo_session(s, *w, *payload, rec.clone()));
            }
        }
        EioPlan::WsPaced {
            sockets,
            rate,
            burst,
            payload,
        } => {
            let per_socket = rate / *sockets as f64;
            let period = Duration::from_secs_f64(1.0 / per_socket.max(1e-3));
            let sessions = open_many(t, *sockets).await?;
            rec = Recorder::new(timing.start());
            for (i, s) in sessions.into_iter().enumerate() {
                let phase = if *burst {
                    Duration::ZERO
                } else {
                    period.mul_f64(i as f64 / *sockets as f64)
                };
                set.spawn_local(paced_session(s, period, phase, *payload, rec.clone()));
            }
        }
        EioPlan::WsFanout {
            sockets,
            window: w,
            payload,
        } => {
            let mut all = open_many(t, sockets + 1).await?;
            let publisher = all.pop().ok_or_else(|| perr("no publisher session"))?;
            rec = Recorder::new(timing.start());
            for s in all {
                set.spawn_local(receive_only(s, rec.clone()));
            }
            set.spawn_local(echo_session(publisher, *w, *payload, rec.clone()));
        }
        EioPlan::PollingHandshake { connections, depth } => {
            rec = Recorder::new(timing.start());
            for _ in 0..*connections {
                set.spawn_local(polling_handshakes(t.clone(), *depth, rec.clone()));
            }
        }
        EioPlan::PollingEcho { sessions, payload } => {
            rec = Recorder::new(timing.start());
            for _ in 0..*sessions {
                set.spawn_local(polling_echo(t.clone(), *payload, rec.clone()));
            }
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
    fn sid_and_stamps_are_found() {
        assert_eq!(
            sid_of(br#"0{"sid":"abc","upgrades":[],"pingInterval":25000}"#).as_deref(),
            Some("abc")
        );
        let mut b = message_body(40);
        clock::write_stamp(&mut b[1..], 77);
        assert_eq!(stamp_of(opcode::TEXT, &b), Some(77));
        assert_eq!(stamp_of(opcode::TEXT, b"3"), None);
    }
}
