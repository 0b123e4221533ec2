//! Shared harness: real upstreams (an axum echo server, a TLS variant, the Node `http` + `ws`
//! echo server), the proxy mounted in a small axum app exactly as the front mounts it, and an
//! HTTP client.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the harness"
)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus::Registry;
use serde_json::{Value, json};
use switchboard_proxy::{Proxy, ProxyConfig, RouteConfig};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

/// Boxed error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Request body type of the test client.
pub type TestBody = BoxBody<Bytes, BoxError>;

/// Upper bound for any single wait in a test (a hang becomes a clear failure).
pub const WAIT: Duration = Duration::from_secs(10);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

// === the proxy, mounted like the front ===

/// The proxy served by a small axum app on 127.0.0.1:0.
pub struct TestProxy {
    /// Where the front listens.
    pub addr: SocketAddr,
    /// The proxy (to call `shutdown`, `drain`, `matches`).
    pub proxy: Proxy,
    /// The registry its metrics live in.
    pub registry: Registry,
    task: JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProxy {
    /// `http://<front>` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The value of one metric sample, if present.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        for family in self.registry.gather() {
            if family.name() != name {
                continue;
            }
            for m in family.get_metric() {
                let ok = labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                });
                if ok {
                    use prometheus::proto::MetricType;
                    return match family.get_field_type() {
                        MetricType::COUNTER => Some(m.get_counter().get_value()),
                        MetricType::GAUGE => Some(m.get_gauge().get_value()),
                        MetricType::HISTOGRAM => Some(m.get_histogram().get_sample_count() as f64),
                        _ => None,
                    };
                }
            }
        }
        None
    }
}

/// Builds the proxy and mounts it as the fallback of an axum router, served with
/// `into_make_service_with_connect_info::<SocketAddr>()`, as the gateway front does.
pub async fn start_proxy(cfg: ProxyConfig) -> TestProxy {
    init_tracing();
    let registry = Registry::new();
    let proxy = Proxy::new(&cfg, &registry).expect("proxy config is valid");
    let app = Router::new()
        .route("/front-own", get(|| async { "served by the front" }))
        .fallback_service(proxy.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind front");
    let addr = listener.local_addr().expect("front addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    TestProxy {
        addr,
        proxy,
        registry,
        task,
    }
}

/// A route to `targets` with short timeouts suited to tests.
pub fn route(targets: &[&str]) -> RouteConfig {
    RouteConfig {
        targets: targets.iter().map(|s| (*s).to_owned()).collect(),
        ..RouteConfig::default()
    }
}

/// A `[proxy]` section with these routes and a short connect timeout.
pub fn config(routes: Vec<RouteConfig>) -> ProxyConfig {
    ProxyConfig {
        routes,
        connect_timeout_ms: 2_000,
        ..ProxyConfig::default()
    }
}

// === the axum echo upstream ===

/// A running axum upstream.
pub struct AxumUpstream {
    /// Its address.
    pub addr: SocketAddr,
    /// Requests it answered (excluding health checks).
    pub hits: Arc<AtomicUsize>,
    /// Every echo record, as it is produced (bounded; extra records are dropped).
    pub seen: mpsc::Receiver<Value>,
    /// What `/health` answers: 200 when true, 503 when false.
    pub healthy: Arc<AtomicBool>,
    /// Health probes received.
    pub probes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for AxumUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AxumUpstream {
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes the listener (connections already open are cut too).
    pub fn kill(&self) {
        self.task.abort();
    }

    /// The next echo record, failing the test after [`WAIT`].
    pub async fn next_seen(&mut self) -> Value {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("upstream saw a request in time")
            .expect("upstream alive")
    }
}

#[derive(Clone)]
struct UpstreamState {
    name: String,
    hits: Arc<AtomicUsize>,
    seen: mpsc::Sender<Value>,
    healthy: Arc<AtomicBool>,
    probes: Arc<AtomicUsize>,
}

fn upstream_router(state: UpstreamState) -> Router {
    let health = state.clone();
    Router::new()
        .route(
            "/health",
            get(move || {
                let health = health.clone();
                async move {
                    health.probes.fetch_add(1, Ordering::Relaxed);
                    if health.healthy.load(Ordering::Relaxed) {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        )
        .route("/ws", get(ws_echo))
        .route(
            "/hang",
            get(std::future::pending::<String>).post(std::future::pending::<String>),
        )
        .route(
            "/hang/",
            get(std::future::pending::<String>).post(std::future::pending::<String>),
        )
        .fallback(move |req: Request| echo(state.clone(), req))
}

async fn ws_echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            let reply = match msg {
                Message::Text(t) if t.as_str().starts_with("close:") => {
                    let mut parts = t.as_str().splitn(3, ':');
                    let _ = parts.next();
                    let code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1000);
                    let reason = parts.next().unwrap_or_default().to_owned();
                    let _ = socket
                        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                            code,
                            reason: reason.into(),
                        })))
                        .await;
                    return;
                }
                Message::Text(_) | Message::Binary(_) => msg,
                Message::Close(_) => return,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                return;
            }
        }
    })
}

/// The echo handler, steered by `x-test-*` request headers (same contract as the Node
/// upstream, see tests/node/upstream.js).
async fn echo(state: UpstreamState, req: Request) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if get("x-test-echo-body").is_some() {
        return Response::builder()
            .header("content-type", "application/octet-stream")
            .body(body)
            .unwrap_or_default();
    }
    let mut len = 0usize;
    let mut small = Vec::new();
    let mut body = body;
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(d) = frame.data_ref() {
                    len += d.len();
                    if small.len() < 65_536 {
                        small.extend_from_slice(d);
                    }
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    let mut headers = BTreeMap::<String, String>::new();
    for (k, v) in h {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(k.as_str().to_owned())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let record = json!({
        "server": "axum",
        "name": state.name,
        "method": parts.method.as_str(),
        "url": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(""),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "peer": peer,
        "bodyLength": len,
        "body": String::from_utf8_lossy(&small),
        "bodyError": body_error,
    });
    let _ = state.seen.try_send(record.clone());
    if let Some(ms) = get("x-test-delay-ms").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = get("x-test-status")
        .and_then(|s| s.parse().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut resp = (status, axum::Json(record)).into_response();
    let rh = resp.headers_mut();
    if let Some(loc) = get("x-test-location").and_then(|v| HeaderValue::try_from(v).ok()) {
        rh.insert("location", loc);
    }
    if let Some(cookies) = get("x-test-set-cookie") {
        for c in cookies.split('|') {
            if let Ok(v) = HeaderValue::try_from(c) {
                rh.append("set-cookie", v);
            }
        }
    }
    if let Some(extra) = get("x-test-response-headers") {
        for pair in extra.split('|') {
            if let Some((k, v)) = pair.split_once('=')
                && let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v))
            {
                rh.append(k, v);
            }
        }
    }
    resp
}

fn new_state(name: &str) -> (UpstreamState, mpsc::Receiver<Value>) {
    let (tx, rx) = mpsc::channel(1024);
    (
        UpstreamState {
            name: name.to_owned(),
            hits: Arc::new(AtomicUsize::new(0)),
            seen: tx,
            healthy: Arc::new(AtomicBool::new(true)),
            probes: Arc::new(AtomicUsize::new(0)),
        },
        rx,
    )
}

/// Starts an axum echo upstream named `name` on 127.0.0.1:0.
pub async fn start_axum(name: &str) -> AxumUpstream {
    let (state, seen) = new_state(name);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    let app = upstream_router(state.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    AxumUpstream {
        addr,
        hits: state.hits,
        seen,
        healthy: state.healthy,
        probes: state.probes,
        task,
    }
}

/// The test fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Starts the axum echo upstream behind TLS (certificate for `localhost` and `127.0.0.1`,
/// issued by `tests/fixtures/ca.pem`).
pub async fn start_axum_tls(name: &str) -> AxumUpstream {
    let certs: Vec<_> = rustls_pemfile::certs(
        &mut std::fs::read(fixtures().join("server.pem"))
            .expect("server.pem")
            .as_slice(),
    )
    .collect::<Result<_, _>>()
    .expect("certs parse");
    let key = rustls_pemfile::private_key(
        &mut std::fs::read(fixtures().join("server.key"))
            .expect("server.key")
            .as_slice(),
    )
    .expect("key parses")
    .expect("a key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server cert");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (state, seen) = new_state(name);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    let app = upstream_router(state.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |mut req: http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        let app = app.clone();
                        async move {
                            Ok::<_, Infallible>(
                                app.oneshot(req.map(Body::new))
                                    .await
                                    .unwrap_or_else(|e| match e {}),
                            )
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    AxumUpstream {
        addr,
        hits: state.hits,
        seen,
        healthy: state.healthy,
        probes: state.probes,
        task,
    }
}

/// An address nothing listens on (bound, then released).
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

// === the Node upstream ===

/// The Node `http` + `ws` echo upstream (tests/node/upstream.js).
pub struct NodeUpstream {
    /// Its address.
    pub addr: SocketAddr,
    child: tokio::process::Child,
    events: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl NodeUpstream {
    /// The next event line the upstream printed (see `x-test-announce`), failing after [`WAIT`].
    pub async fn next_event(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.events.next_line())
            .await
            .expect("node event in time")
            .expect("read node stdout")
            .expect("node still running");
        serde_json::from_str(&line).expect("node events are JSON")
    }

    /// Kills the Node process (SIGKILL): every connection to it drops at once.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill node");
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the Node upstream. Fails (never skips) when `node` or `node_modules` is missing.
pub async fn start_node() -> NodeUpstream {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/ws/package.json").exists(),
        "{}/node_modules is missing: run `npm ci --prefix protocols/http-proxy/tests/node` \
         (the project's `make test` does this) before `cargo test -p switchboard-proxy`",
        dir.display()
    );
    let mut child = tokio::process::Command::new("node")
        .arg("upstream.js")
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("`node` must be on PATH to run the Node upstream tests");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut events = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(WAIT, events.next_line())
        .await
        .expect("node upstream started in time")
        .expect("read node stdout")
        .expect("node printed its port");
    let v: Value = serde_json::from_str(&line).expect("node prints {\"port\":N}");
    let port = v["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .expect("port");
    NodeUpstream {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
        events,
    }
}

// === the client ===

/// A response read whole.
#[derive(Debug)]
pub struct Got {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl Got {
    /// The body as JSON (the echo record).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header the upstream received, from the echo record.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_owned)
    }

    /// Every value of a response header.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// A pooled keep-alive HTTP/1.1 client.
pub fn client() -> Client<HttpConnector, TestBody> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A body from bytes.
pub fn full(b: impl Into<Bytes>) -> TestBody {
    http_body_util::Full::new(b.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

/// An empty body.
pub fn empty() -> TestBody {
    full(Bytes::new())
}

/// Sends `req` and reads the whole response (failing after [`WAIT`]).
pub async fn send(req: http::Request<TestBody>) -> Got {
    tokio::time::timeout(WAIT, async {
        let resp = client().request(req).await.expect("request sent");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body read").to_bytes();
        Got {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
    .await
    .expect("response in time")
}

/// GET `url` with extra headers.
pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Got {
    let mut b = http::Request::get(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(b.body(empty()).expect("request")).await
}

/// A streaming request body fed through a channel; returns the sender.
pub fn channel_body() -> (
    mpsc::Sender<Result<http_body::Frame<Bytes>, BoxError>>,
    TestBody,
) {
    let (tx, rx) = mpsc::channel(4);
    let stream = tokio_stream_like(rx);
    (tx, stream)
}

fn tokio_stream_like(rx: mpsc::Receiver<Result<http_body::Frame<Bytes>, BoxError>>) -> TestBody {
    struct ChannelBody(mpsc::Receiver<Result<http_body::Frame<Bytes>, BoxError>>);
    impl http_body::Body for ChannelBody {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
            self.0.poll_recv(cx)
        }
    }
    ChannelBody(rx).boxed()
}

/// Sends one data frame on a channel body.
pub async fn push(
    tx: &mpsc::Sender<Result<http_body::Frame<Bytes>, BoxError>>,
    data: impl Into<Bytes>,
) {
    tx.send(Ok(http_body::Frame::data(data.into())))
        .await
        .expect("body receiver alive");
}

/// A deterministic test payload of `len` bytes.
pub fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Raw HTTP/1.1 on one TCP connection: sends `request` and reads one response (status,
/// body), keeping the connection for the next call.
pub async fn raw_exchange(stream: &mut tokio::net::TcpStream, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("read in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head[9..12].parse().expect("status code");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("content-length in the test response");
    while buf.len() < head_end + len {
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("read in time")
            .expect("read");
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    (status, body)
}
