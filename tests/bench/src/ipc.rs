//! The IPC-bus generator: speaks the electron-common-ipc 16 wire protocol directly (HAN,
//! LICA, MES, RQR), so that the broker, not a Node client, is what gets measured. Senders
//! pipeline pre-encoded `send` packets with one 100-byte Buffer argument; requesters keep a
//! fixed number of requests outstanding and a responder answers each with an `RQR`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use switchboard_ipc_proto::{Command, CommandKind, Packet, PacketCodec, Peer, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinSet;

use crate::clock::{self, now_ns};
use crate::error::{BenchError, Context, Result};
use crate::net;
use crate::stats::{Recorder, RunStats, Timing};

/// One IPC load shape.
#[derive(Debug, Clone)]
pub enum IpcPlan {
    /// `send` from one sender to `receivers` listeners of one channel, pipelined.
    Send {
        /// Listening connections.
        receivers: usize,
        /// Buffer argument size.
        payload: usize,
    },
    /// `request` / `RQR` round trips with `concurrency` outstanding requests.
    Request {
        /// Outstanding requests.
        concurrency: usize,
        /// Buffer argument size.
        payload: usize,
    },
}

fn perr(e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(e.to_string())
}

/// One bus connection (one peer).
#[derive(Debug)]
pub struct Conn {
    r: OwnedReadHalf,
    w: OwnedWriteHalf,
    buf: BytesMut,
    /// This connection's peer identity.
    pub peer: Peer,
}

impl Conn {
    /// Connects and sends `HAN`.
    pub async fn open(addr: SocketAddr, name: &str) -> Result<Conn> {
        let (r, w) = net::connect(addr)
            .await
            .context(|| format!("IPC connect to {addr}"))?
            .into_split();
        // Peer ids are 10 characters in the Node clients; keep the same shape.
        let id = format!("{:0>10}", format!("{name}{}", now_ns() % 100_000));
        let peer = Peer::node(id.chars().rev().take(10).collect::<String>(), name);
        let mut c = Conn {
            r,
            w,
            buf: BytesMut::with_capacity(net::READ_CHUNK),
            peer,
        };
        let han = Packet::from_command(Command::handshake(c.peer.clone())).map_err(perr)?;
        c.write(han.frame()).await?;
        Ok(c)
    }

    async fn write(&mut self, b: &[u8]) -> Result<()> {
        self.w.write_all(b).await.context(|| "IPC write".to_owned())
    }

    /// Adds a listener on `channel` (`LICA`).
    pub async fn listen(&mut self, channel: &str) -> Result<()> {
        let p = Packet::from_command(Command::add_listener(vec![self.peer.clone()], channel))
            .map_err(perr)?;
        self.write(p.frame()).await
    }

    async fn read_more(&mut self) -> Result<bool> {
        Ok(net::fill(&mut self.r, &mut self.buf)
            .await
            .context(|| "IPC read".to_owned())?
            > 0)
    }
}

/// The size of the top-level array packet at the start of `b`, when complete.
fn frame_len(b: &[u8]) -> Option<usize> {
    if b.len() < 6 {
        return None;
    }
    let n = u32::from_le_bytes([b[2], b[3], b[4], b[5]]) as usize + 7;
    (b.len() >= n).then_some(n)
}

/// A `send` packet with one Buffer argument, and where the stamp goes in it.
fn send_template(channel: &str, peer: &Peer, payload: usize) -> Result<(Vec<u8>, usize)> {
    let body = clock::payload_template(payload);
    let p = Packet::from_message(
        Command::send(channel, peer.clone()),
        &[Value::from(Bytes::from(body.clone()))],
    )
    .map_err(perr)?;
    let frame = p.frame().to_vec();
    let at = memchr::memmem::find(&frame, &body).ok_or_else(|| perr("payload not found"))?;
    Ok((frame, at))
}

const DRAIN: Duration = Duration::from_millis(300);
const BATCH: usize = 64;

/// Pipelines `send`s of one Buffer argument on `channel` until the window closes.
pub async fn sender_task(
    mut c: Conn,
    channel: String,
    payload: usize,
    fanout: u64,
    rec: Recorder,
) -> Result<()> {
    let (tmpl, at) = send_template(&channel, &c.peer, payload)?;
    let mut batch = BytesMut::with_capacity(tmpl.len() * BATCH);
    loop {
        let now = now_ns();
        if rec.window.is_over(now) {
            return Ok(());
        }
        batch.clear();
        for _ in 0..BATCH {
            let p = batch.len();
            batch.extend_from_slice(&tmpl);
            clock::write_stamp(&mut batch[p + at..], now);
        }
        c.write(&batch).await?;
        rec.sent(now, BATCH as u64);
        rec.flow(fanout).await;
        tokio::task::yield_now().await;
    }
}

async fn receiver(mut c: Conn, rec: Recorder) -> Result<()> {
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    loop {
        match tokio::time::timeout_at(drain_end.into(), c.read_more()).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(perr("broker closed the receiver")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let now = now_ns();
        while let Some(n) = frame_len(&c.buf) {
            let frame = &c.buf[..n];
            // The Buffer argument is the last value: `... <payload> ] ] ]`.
            if memchr::memmem::find(frame, b"\"MES\"").is_some() {
                let stamp = clock::find_stamp(frame);
                rec.received(now, stamp);
            }
            c.buf.advance(n);
        }
        rec.progress();
    }
}

async fn responder(mut c: Conn, rec: Recorder) -> Result<()> {
    let codec = PacketCodec::new(16 << 20);
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    let mut out = BytesMut::new();
    loop {
        match tokio::time::timeout_at(drain_end.into(), c.read_more()).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(perr("broker closed the responder")),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        out.clear();
        while let Some(p) = codec.decode(&mut c.buf).map_err(perr)? {
            if p.kind() != CommandKind::SendMessage || !p.command().is_request() {
                continue;
            }
            let answer = Command::response_to(p.command(), c.peer.clone(), true).map_err(perr)?;
            let args = p.args_lenient().map_err(perr)?;
            let reply = Packet::from_message(answer, &args).map_err(perr)?;
            reply.encode(&mut out);
        }
        if !out.is_empty() {
            let o = out.split().freeze();
            c.write(&o).await?;
        }
    }
}

async fn requester(
    mut c: Conn,
    channel: String,
    concurrency: usize,
    payload: usize,
    rec: Recorder,
) -> Result<()> {
    let codec = PacketCodec::new(16 << 20);
    let drain_end = clock::instant_at(rec.window.end) + DRAIN;
    let body = clock::payload_template(payload);
    let mut pending: HashMap<String, u64> = HashMap::with_capacity(concurrency * 2);
    let mut next_id: u64 = 0;
    let mut out = BytesMut::new();
    loop {
        let now = now_ns();
        let over = rec.window.is_over(now);
        if over && pending.is_empty() {
            return Ok(());
        }
        out.clear();
        while !over && pending.len() < concurrency {
            next_id += 1;
            let id = format!("r{next_id:09}");
            let mut b = body.clone();
            clock::write_stamp(&mut b, now);
            let cmd = Command::send(channel.as_str(), c.peer.clone()).with_request(id.as_str());
            let p = Packet::from_message(cmd, &[Value::from(Bytes::from(b))]).map_err(perr)?;
            p.encode(&mut out);
            pending.insert(id, now);
            rec.sent(now, 1);
        }
        if !out.is_empty() {
            let o = out.split().freeze();
            c.write(&o).await?;
        }
        let wake = drain_end.min(std::time::Instant::now() + Duration::from_millis(100));
        match tokio::time::timeout_at(wake.into(), c.read_more()).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(perr("broker closed the requester")),
            Ok(Err(e)) => return Err(e),
            Err(_) if std::time::Instant::now() >= drain_end => return Ok(()),
            Err(_) => {}
        }
        let now = now_ns();
        // A request nobody answered within 2 s is lost (e.g. sent before the listener was
        // registered): count it and free its slot.
        let before = pending.len();
        pending.retain(|_, sent| now.saturating_sub(*sent) < 2_000_000_000);
        for _ in pending.len()..before {
            rec.error();
        }
        while let Some(p) = codec.decode(&mut c.buf).map_err(perr)? {
            if p.kind() != CommandKind::RequestResponse {
                continue;
            }
            if let Some(sent) = pending.remove(p.command().channel()) {
                rec.received(now, Some(sent));
            }
        }
    }
}

/// Runs one IPC load; `rate` is deliveries (send) or completed round trips (request) per
/// second.
pub async fn run(addr: SocketAddr, plan: &IpcPlan, timing: Timing) -> Result<RunStats> {
    let rec;
    let mut set = JoinSet::new();
    match plan {
        IpcPlan::Send { receivers, payload } => {
            let channel = "bench/ipc";
            let mut rs = Vec::new();
            for i in 0..*receivers {
                let mut c = Conn::open(addr, &format!("rcv{i}")).await?;
                c.listen(channel).await?;
                rs.push(c);
            }
            let s = Conn::open(addr, "snd").await?;
            // The broker has no acknowledgement for LICA: give it a moment to register.
            settle(addr).await?;
            rec = Recorder::new(timing.start());
            for c in rs {
                set.spawn_local(receiver(c, rec.clone()));
            }
            set.spawn_local(sender_task(
                s,
                channel.to_owned(),
                *payload,
                *receivers as u64,
                rec.clone(),
            ));
        }
        IpcPlan::Request {
            concurrency,
            payload,
        } => {
            let channel = "bench/rr";
            let mut resp = Conn::open(addr, "rsp").await?;
            resp.listen(channel).await?;
            let req = Conn::open(addr, "req").await?;
            settle(addr).await?;
            rec = Recorder::new(timing.start());
            set.spawn_local(responder(resp, rec.clone()));
            set.spawn_local(requester(
                req,
                channel.to_owned(),
                *concurrency,
                *payload,
                rec.clone(),
            ));
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

/// Whether an IPC broker routes: a `send` on a fresh channel reaches its listener.
pub async fn probe(addr: SocketAddr) -> Result<()> {
    settle(addr).await
}

/// Waits until the broker routes a fresh channel: a round trip through the broker on a
/// private channel (a message can only come back after the LICA before it).
async fn settle(addr: SocketAddr) -> Result<()> {
    let mut a = Conn::open(addr, "sta").await?;
    a.listen("bench/settle").await?;
    let mut b = Conn::open(addr, "stb").await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (t, _) = send_template("bench/settle", &b.peer, 20)?;
        b.write(&t).await?;
        match tokio::time::timeout(Duration::from_millis(50), a.read_more()).await {
            Ok(Ok(true)) if frame_len(&a.buf).is_some() => return Ok(()),
            Ok(Ok(false)) => return Err(perr("broker closed the settle connection")),
            Ok(Err(e)) => return Err(e),
            _ => {}
        }
        if tokio::time::Instant::now() > deadline {
            return Err(perr(
                "the broker never delivered a message on a fresh channel",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_template_has_stamp_inside_the_frame() {
        let (t, at) = send_template("c", &Peer::node("abcdefghij", "x"), 100).unwrap();
        assert_eq!(frame_len(&t), Some(t.len()));
        assert_eq!(&t[at..at + 2], b"TS");
        assert_eq!(t.len() - at, 100 + 3);
    }
}
