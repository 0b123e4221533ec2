//! IPC bus load: fresh listener/sender pairs exchanging numbered messages.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use switchboard_bench::net;
use switchboard_ipc_proto::{
    Command as IpcCommand, CommandKind, Packet as IpcPacket, PacketCodec, Peer, Value,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::{Counters, Res, e};

struct Ipc {
    r: OwnedReadHalf,
    w: OwnedWriteHalf,
    buf: BytesMut,
    codec: PacketCodec,
    peer: Peer,
}

impl Ipc {
    async fn open(addr: SocketAddr, id: &str) -> Res<Ipc> {
        let (r, w) = net::connect(addr)
            .await
            .map_err(e("ipc connect"))?
            .into_split();
        let peer = Peer::node(id, "soak");
        let mut c = Ipc {
            r,
            w,
            buf: BytesMut::new(),
            codec: PacketCodec::default(),
            peer,
        };
        let han = IpcPacket::from_command(IpcCommand::handshake(c.peer.clone()))
            .map_err(|e| format!("ipc HAN: {e}"))?;
        c.w.write_all(han.frame()).await.map_err(e("ipc write"))?;
        Ok(c)
    }

    async fn listen(&mut self, channel: &str) -> Res<()> {
        let p = IpcPacket::from_command(IpcCommand::add_listener(vec![self.peer.clone()], channel))
            .map_err(|e| format!("ipc LICA: {e}"))?;
        self.w.write_all(p.frame()).await.map_err(e("ipc write"))
    }

    async fn send(&mut self, channel: &str, text: &str) -> Res<()> {
        let p = IpcPacket::from_message(
            IpcCommand::send(channel, self.peer.clone()),
            &[Value::from(text)],
        )
        .map_err(|e| format!("ipc MES: {e}"))?;
        self.w.write_all(p.frame()).await.map_err(e("ipc write"))
    }

    /// The text of the next message on `channel`; `Ok(None)` after `wait` without one.
    async fn next_message(&mut self, channel: &str, wait: Duration) -> Res<Option<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(p) = self
                .codec
                .decode(&mut self.buf)
                .map_err(|e| format!("ipc decode: {e}"))?
            {
                if p.kind() == CommandKind::SendMessage && p.command().channel() == channel {
                    let args = p.args().map_err(|e| format!("ipc args: {e}"))?;
                    return Ok(args.first().and_then(|v| v.as_str()).map(str::to_owned));
                }
            }
            self.buf.reserve(16 * 1024);
            match tokio::time::timeout_at(deadline, self.r.read_buf(&mut self.buf)).await {
                Err(_) => return Ok(None),
                Ok(Ok(0)) => return Err("ipc: the broker closed the connection".into()),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return Err(format!("ipc read: {err}")),
            }
        }
    }
}

/// One pair of fresh IPC connections exchanging `n` messages. Returns how many were lost.
async fn ipc_round(addr: SocketAddr, k: u64, n: u64, c: &Counters) -> Res<u64> {
    let channel = format!("soak/ipc/{k}");
    let mut l = Ipc::open(addr, &format!("L{:09}", k % 1_000_000_000)).await?;
    l.listen(&channel).await?;
    let mut s = Ipc::open(addr, &format!("S{:09}", k % 1_000_000_000)).await?;
    c.connections.fetch_add(2, Ordering::Relaxed);
    // The listener's LICA and the sender's messages travel on different connections: probe
    // until the route exists, then send the numbered messages.
    let mut ready = false;
    for _ in 0..50 {
        s.send(&channel, "probe").await?;
        if let Some(m) = l.next_message(&channel, Duration::from_millis(100)).await? {
            ready = m == "probe";
            if ready {
                break;
            }
        }
    }
    if !ready {
        return Err(format!("ipc {channel}: the listener never got the probe"));
    }
    for i in 0..n {
        s.send(&channel, &i.to_string()).await?;
    }
    c.ipc_sent.fetch_add(n, Ordering::Relaxed);
    let mut got = HashSet::new();
    while (got.len() as u64) < n {
        match l.next_message(&channel, Duration::from_secs(5)).await? {
            Some(m) if m == "probe" => {}
            Some(m) => {
                got.insert(m);
                c.ipc_received.fetch_add(1, Ordering::Relaxed);
            }
            None => break,
        }
    }
    Ok(n - got.len() as u64)
}

pub async fn ipc_churn(addr: SocketAddr, stop: Arc<AtomicBool>, c: Arc<Counters>) {
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        match ipc_round(addr, k, 200, &c).await {
            Ok(0) => {}
            Ok(lost) => {
                c.ipc_lost.fetch_add(lost, Ordering::Relaxed);
                c.error(format!("ipc round {k}: {lost} messages lost"));
            }
            Err(err) => c.error(err),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
