//! Engine.IO load: WebSocket sessions that subscribe, publish to themselves and close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use switchboard_bench::net::{self, WsReader, opcode};
use tokio::io::AsyncWriteExt;

use crate::{Counters, Res, e};

async fn eio_round(addr: SocketAddr, k: u64, c: &Counters) -> Res<()> {
    let stream = net::connect(addr).await.map_err(e("eio connect"))?;
    let (mut r, mut w, mut raw) =
        net::ws_handshake(stream, addr, "/engine.io/?EIO=4&transport=websocket", None)
            .await
            .map_err(e("eio upgrade"))?;
    c.connections.fetch_add(1, Ordering::Relaxed);
    let mut reader = WsReader::default();
    let mut frame = BytesMut::new();
    let topic = format!("soak/eio/{k}");
    let mut texts: Vec<String> = vec![format!(r#"4{{"op":"sub","topic":"{topic}","id":0}}"#)];
    for i in 1..=50 {
        texts.push(format!(
            r#"4{{"op":"pub","topic":"{topic}","text":"{i}","id":{i}}}"#
        ));
    }
    let mut sent_all = false;
    let mut sent_sub = false;
    let mut acked_sub = false;
    let mut got = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(m) = reader.next(&mut raw) {
            match m.op {
                opcode::CLOSE => return Err("eio: closed by the gateway".into()),
                opcode::TEXT => {
                    let text = String::from_utf8_lossy(&m.data).into_owned();
                    if text == "2" {
                        frame.clear();
                        net::ws_frame(&mut frame, opcode::TEXT, b"3");
                        w.write_all(&frame).await.map_err(e("eio pong"))?;
                    } else if text.starts_with("4{\"op\":\"ack\",\"id\":0") {
                        acked_sub = true;
                    } else if text.starts_with("4{\"op\":\"msg\"") {
                        got += 1;
                        c.eio_received.fetch_add(1, Ordering::Relaxed);
                    } else if text.starts_with("4{\"op\":\"err\"") {
                        return Err(format!("eio: {text}"));
                    }
                }
                _ => {}
            }
        }
        if !sent_all && acked_sub {
            frame.clear();
            for t in texts.iter().skip(1) {
                net::ws_frame(&mut frame, opcode::TEXT, t.as_bytes());
            }
            w.write_all(&frame).await.map_err(e("eio write"))?;
            c.eio_sent.fetch_add(50, Ordering::Relaxed);
            sent_all = true;
        } else if !sent_sub {
            frame.clear();
            net::ws_frame(&mut frame, opcode::TEXT, texts[0].as_bytes());
            w.write_all(&frame).await.map_err(e("eio write"))?;
            sent_sub = true;
        }
        if got >= 50 {
            break;
        }
        match tokio::time::timeout_at(deadline, net::fill(&mut r, &mut raw)).await {
            Err(_) => break,
            Ok(Ok(0)) => return Err("eio: connection closed".into()),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(format!("eio read: {err}")),
        }
    }
    frame.clear();
    net::ws_frame(&mut frame, opcode::CLOSE, &[0x03, 0xe8]);
    let _ = w.write_all(&frame).await;
    Ok(())
}

pub async fn eio_churn(addr: SocketAddr, stop: Arc<AtomicBool>, c: Arc<Counters>) {
    let mut k = 0;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        if let Err(err) = eio_round(addr, k, &c).await {
            c.error(err);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
