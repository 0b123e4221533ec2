//! The HTTP generator: keep-alive HTTP/1.1 connections, closed-loop for the maximum request
//! rate, or paced at a fixed rate with latency measured from each request's *scheduled* time
//! (so a stalled server cannot hide its queueing). Also a 13-byte static upstream for tests.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::clock::{self, now_ns};
use crate::error::{BenchError, Context, Result};
use crate::net::{self, HttpConn};
use crate::stats::{Recorder, RunStats, Timing, dur_ns};

/// One HTTP load shape.
#[derive(Debug, Clone, Copy)]
pub enum HttpPlan {
    /// `connections` connections, each sending its next request as soon as the previous
    /// response is complete.
    Closed {
        /// Connections.
        connections: usize,
    },
    /// A total of `rate` requests per second spread evenly over `connections`.
    Paced {
        /// Connections.
        connections: usize,
        /// Requests per second.
        rate: f64,
    },
}

fn perr(e: impl std::fmt::Display) -> BenchError {
    BenchError::Protocol(e.to_string())
}

async fn closed(addr: SocketAddr, path: String, rec: Recorder) -> Result<()> {
    let mut c = HttpConn::connect(addr)
        .await
        .context(|| format!("HTTP connect to {addr}"))?;
    let req = net::http_get(addr, &path);
    loop {
        let t0 = now_ns();
        if rec.window.is_over(t0) {
            return Ok(());
        }
        let r = c.round_trip(&req).await.context(|| format!("GET {path}"))?;
        let t1 = now_ns();
        if (200..300).contains(&r.status) {
            rec.received(t1, Some(t0));
        } else {
            rec.error();
            if rec.received_count() == 0
                && !(200..300).contains(&r.status)
                && rec.window.contains(t1)
            {
                return Err(perr(format!("GET {path} answered HTTP {}", r.status)));
            }
        }
    }
}

async fn paced(
    addr: SocketAddr,
    path: String,
    period: Duration,
    phase: Duration,
    rec: Recorder,
) -> Result<()> {
    let mut c = HttpConn::connect(addr)
        .await
        .context(|| format!("HTTP connect to {addr}"))?;
    let req = net::http_get(addr, &path);
    let mut due = now_ns() + dur_ns(phase);
    let step = dur_ns(period);
    loop {
        if rec.window.is_over(due) {
            return Ok(());
        }
        let now = now_ns();
        if due > now {
            tokio::time::sleep_until(clock::instant_at(due).into()).await;
        }
        rec.sent(due, 1);
        let r = c.round_trip(&req).await.context(|| format!("GET {path}"))?;
        let t1 = now_ns();
        if (200..300).contains(&r.status) {
            rec.received(t1, Some(due));
        } else {
            rec.error();
        }
        due += step;
    }
}

/// Runs one HTTP load against `addr` + `path`.
pub async fn run(addr: SocketAddr, path: &str, plan: HttpPlan, timing: Timing) -> Result<RunStats> {
    let rec = Recorder::new(timing.start());
    let mut set = JoinSet::new();
    match plan {
        HttpPlan::Closed { connections } => {
            for _ in 0..connections {
                set.spawn_local(closed(addr, path.to_owned(), rec.clone()));
            }
        }
        HttpPlan::Paced { connections, rate } => {
            let per = rate / connections as f64;
            let period = Duration::from_secs_f64(1.0 / per.max(1e-3));
            for i in 0..connections {
                let phase = period.mul_f64(i as f64 / connections as f64);
                set.spawn_local(paced(addr, path.to_owned(), period, phase, rec.clone()));
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

/// The body of the static upstream: 13 bytes, like the nginx upstream of the suite.
pub const STATIC_BODY: &[u8] = b"Hello, World!";

/// Serves `STATIC_BODY` to every request on every connection of `listener`, forever.
pub async fn static_upstream(listener: TcpListener) {
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{}",
        STATIC_BODY.len(),
        String::from_utf8_lossy(STATIC_BODY)
    );
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        let response = response.clone();
        tokio::task::spawn_local(async move {
            let _ = s.set_nodelay(true);
            let (mut r, mut w) = s.split();
            let mut buf = BytesMut::with_capacity(8 * 1024);
            loop {
                loop {
                    let mut headers = [httparse::EMPTY_HEADER; 32];
                    let mut req = httparse::Request::new(&mut headers);
                    match req.parse(&buf) {
                        Ok(httparse::Status::Complete(n)) => {
                            buf.advance(n);
                            if w.write_all(response.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        Ok(httparse::Status::Partial) => break,
                        Err(_) => return,
                    }
                }
                let mut rr = tokio::io::AsyncReadExt::take(&mut r, 64 * 1024);
                match tokio::io::AsyncReadExt::read_buf(&mut rr, &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
    }
}
