//! A zero-work "broker" for measuring the generator itself: it answers the MQTT handshake
//! (CONNACK, SUBACK) or accepts the IPC one, then copies every byte a sending connection
//! writes to every subscribed connection, without parsing. What the generator achieves
//! through it is the generator's ceiling on this machine (one sender per run).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Mutex;

use crate::error::{Context, Result};
use crate::net;

type Sinks = Rc<RefCell<Vec<Rc<Mutex<OwnedWriteHalf>>>>>;

/// Serves the relay for `proto` (`"mqtt"` or `"ipc"`) on `addr` until the process ends.
pub async fn serve(proto: &str, addr: SocketAddr) -> Result<()> {
    let l = TcpListener::bind(addr)
        .await
        .context(|| format!("relay bind {addr}"))?;
    let sinks: Sinks = Rc::new(RefCell::new(Vec::new()));
    let mqtt = proto == "mqtt";
    loop {
        let (s, _) = l.accept().await.context(|| "relay accept".to_owned())?;
        let _ = s.set_nodelay(true);
        let sinks = sinks.clone();
        tokio::task::spawn_local(async move {
            let (mut r, w) = s.into_split();
            let w = Rc::new(Mutex::new(w));
            let mut buf = BytesMut::with_capacity(net::READ_CHUNK);
            let mut greeted = !mqtt;
            let mut is_sink = false;
            loop {
                match net::fill(&mut r, &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if !greeted {
                    // CONNECT: answer CONNACK once the whole packet is here.
                    let Some(len) = packet_len(&buf) else {
                        continue;
                    };
                    buf.advance(len);
                    if w.lock().await.write_all(&[0x20, 2, 0, 0]).await.is_err() {
                        return;
                    }
                    greeted = true;
                }
                if !is_sink {
                    let subscribes = if mqtt {
                        buf.first() == Some(&0x82)
                    } else {
                        memchr::memmem::find(&buf, b"\"LICA\"").is_some()
                    };
                    if subscribes {
                        if mqtt {
                            let Some(len) = packet_len(&buf) else {
                                continue;
                            };
                            let (a, b) = (buf.get(2).copied(), buf.get(3).copied());
                            buf.advance(len);
                            let ack = [0x90, 3, a.unwrap_or(0), b.unwrap_or(1), 0];
                            if w.lock().await.write_all(&ack).await.is_err() {
                                return;
                            }
                        }
                        sinks.borrow_mut().push(w.clone());
                        is_sink = true;
                    }
                }
                if is_sink {
                    // Acknowledgements from subscribers are dropped.
                    buf.clear();
                    continue;
                }
                if buf.is_empty() {
                    continue;
                }
                let chunk = buf.split().freeze();
                let targets: Vec<_> = sinks.borrow().clone();
                for t in targets {
                    let _ = t.lock().await.write_all(&chunk).await;
                }
            }
        });
    }
}

fn packet_len(b: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    let mut i = 1;
    loop {
        let byte = *b.get(i)?;
        len |= usize::from(byte & 0x7f) << (7 * (i - 1));
        i += 1;
        if byte & 0x80 == 0 || i > 4 {
            break;
        }
    }
    (b.len() >= i + len).then_some(i + len)
}
