//! A real server on an ephemeral port and minimal HTTP/WebSocket clients for it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_engineio::bridge::Bridge;
use switchboard_engineio::{Engine, EngineIoConfig};
use switchboard_fabric::{AllowAll, Authorizer, Fabric};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Server {
    pub addr: SocketAddr,
    pub fabric: Fabric,
    pub engine: Arc<Engine<Bridge>>,
    pub stop: CancellationToken,
    pub tracker: TaskTracker,
    pub registry: prometheus::Registry,
}

pub async fn serve(config: EngineIoConfig) -> Server {
    serve_with(config, Arc::new(AllowAll)).await
}

pub async fn serve_with(config: EngineIoConfig, authorizer: Arc<dyn Authorizer>) -> Server {
    let registry = prometheus::Registry::new();
    let fabric = Fabric::new(Default::default(), "node-a", &registry).expect("fabric");
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mounted = switchboard_engineio::mount(
        &config,
        fabric.clone(),
        authorizer,
        &registry,
        stop.clone(),
        tracker.clone(),
    )
    .expect("mount");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = mounted.router;
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { s.cancelled().await })
            .await;
    });
    Server {
        addr,
        fabric,
        engine: mounted.engine,
        stop,
        tracker,
        registry,
    }
}

pub struct HttpReply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> HttpReply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    HttpReply { status, head, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let len = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + len]);
        raw = &raw[end + 2 + len + 2..];
    }
}

pub type Ws = WebSocketStream<TcpStream>;

/// Opens a WebSocket on `path`.
pub async fn ws(addr: SocketAddr, path: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("WebSocket handshake");
    ws
}

/// The next text or binary message (control frames skipped), within 5 s.
pub async fn next(ws: &mut Ws) -> Option<Message> {
    let fut = async {
        loop {
            match ws.next().await {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => {
                    return Some(m);
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("a message within 5 s")
}

/// The next text message, as a string (panics on anything else).
pub async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Some(Message::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// Opens a v4 WebSocket session: the socket and its sid.
pub async fn ws_session(addr: SocketAddr, query: &str) -> (Ws, String) {
    let mut ws = ws(
        addr,
        &format!("/engine.io/?EIO=4&transport=websocket{query}"),
    )
    .await;
    let open = next_text(&mut ws).await;
    let json: serde_json::Value = serde_json::from_str(&open[1..]).expect("open JSON");
    (ws, json["sid"].as_str().expect("sid").to_owned())
}

/// The gateway's answer to a control op sent as `4<json>`, parsed.
pub async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        let t = next_text(ws).await;
        if t == "2" {
            send_text(ws, "3").await;
            continue;
        }
        let body = t
            .strip_prefix('4')
            .unwrap_or_else(|| panic!("not a message: {t}"));
        return serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    }
}
