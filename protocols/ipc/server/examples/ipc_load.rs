//! A quick wire-level load generator for an electron-common-ipc 16 broker (switchboard's or
//! the Node one): one sender, `receivers` listeners on one channel, `MES` packets with one
//! string argument of `payload` bytes, at most `window` messages in flight. Prints one JSON
//! line with the sent and delivered rates. Not the benchmark suite: a quick check.
//!
//! ```text
//! cargo run --release -p switchboard-ipc --example ipc_load -- 127.0.0.1:7700 10 100 5
//!                                                        addr  receivers payload seconds
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use switchboard_ipc_proto::{Command, FrameStatus, Packet, Peer, Value, check_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHANNEL: &str = "bench";
const BATCH: usize = 64;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

async fn connect(addr: SocketAddr, name: &str) -> std::io::Result<(TcpStream, Peer)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let peer = Peer::node(format!("load-{name}"), name);
    let han =
        Packet::from_command(Command::handshake(peer.clone())).map_err(std::io::Error::other)?;
    stream.write_all(han.frame()).await?;
    Ok((stream, peer))
}

/// Counts whole frames in `buf`, consuming them.
fn count_frames(buf: &mut BytesMut) -> u64 {
    let mut n = 0;
    while let Ok(FrameStatus::Complete { len }) = check_frame(buf, usize::MAX >> 1) {
        buf.advance(len);
        n += 1;
    }
    n
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = arg(&args, 1, SocketAddr::from(([127, 0, 0, 1], 7700)));
    let receivers: usize = arg(&args, 2, 1);
    let payload: usize = arg(&args, 3, 100);
    let seconds: u64 = arg(&args, 4, 5);
    let window: u64 = arg(&args, 5, 20_000);

    let delivered = Arc::new(AtomicU64::new(0));
    let min_seen: Arc<Vec<AtomicU64>> =
        Arc::new((0..receivers).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..receivers {
        let (mut stream, peer) = connect(addr, &format!("r{i}")).await?;
        let lica = Packet::from_command(Command::add_listener(vec![peer.clone()], CHANNEL))
            .map_err(std::io::Error::other)?;
        stream.write_all(lica.frame()).await?;
        // Round trip to itself: the listener is registered once it comes back.
        let ping = Packet::from_message(Command::send("ping", peer.clone()).with_target(peer), &[])
            .map_err(std::io::Error::other)?;
        stream.write_all(ping.frame()).await?;
        let mut buf = BytesMut::with_capacity(1 << 16);
        while count_frames(&mut buf) == 0 {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let delivered = delivered.clone();
        let min_seen = min_seen.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(1 << 20);
            while !done.load(Ordering::Relaxed) {
                buf.reserve(1 << 16);
                match tokio::time::timeout(Duration::from_millis(200), stream.read_buf(&mut buf))
                    .await
                {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(_)) => {
                        let n = count_frames(&mut buf);
                        delivered.fetch_add(n, Ordering::Relaxed);
                        min_seen[i].fetch_add(n, Ordering::Relaxed);
                    }
                    Err(_) => {}
                }
            }
        }));
    }

    let (mut sender, peer) = connect(addr, "sender").await?;
    let message = Packet::from_message(
        Command::send(CHANNEL, peer),
        &[Value::from("x".repeat(payload))],
    )
    .map_err(std::io::Error::other)?;
    let mut batch = BytesMut::new();
    for _ in 0..BATCH {
        batch.extend_from_slice(message.frame());
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        let slowest = min_seen
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .min()
            .unwrap_or(sent);
        if sent - slowest > window {
            tokio::task::yield_now().await;
            continue;
        }
        sender.write_all(&batch).await?;
        sent += BATCH as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let received = delivered.load(Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{{\"receivers\":{receivers},\"payload\":{payload},\"frame_bytes\":{},\"seconds\":{elapsed:.2},\"sent_per_s\":{:.0},\"delivered_per_s\":{:.0}}}",
        message.len(),
        sent as f64 / elapsed,
        received as f64 / elapsed
    );
    Ok(())
}
