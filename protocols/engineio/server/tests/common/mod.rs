//! Shared helpers: an echo handler and an in-process engine driven through its router.

#![allow(dead_code)]

pub mod net;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use switchboard_engineio::proto::{CloseReason, MessageData, NodeTag, Packet};
use switchboard_engineio::{
    Engine, EngineIoConfig, Handler, Handshake, Metrics, Refusal, Socket, router,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Echoes every message; refuses handshakes whose query has `deny=1`; records disconnects.
#[derive(Debug, Default)]
pub struct Echo {
    pub closed: parking_lot::Mutex<Vec<CloseReason>>,
}

impl Handler for Echo {
    type Data = ();

    fn on_handshake(&self, h: &Handshake<'_>) -> Result<(), Refusal> {
        if h.query_param("deny").as_deref() == Some("1") {
            return Err(Refusal::new("denied by the test"));
        }
        Ok(())
    }

    fn on_connect(&self, _socket: &Arc<Socket<()>>) {}

    fn on_message(&self, socket: &Arc<Socket<()>>, data: MessageData) {
        let _ = socket.send(Packet::Message(data));
    }

    fn on_disconnect(&self, _socket: &Arc<Socket<()>>, reason: CloseReason) {
        self.closed.lock().push(reason);
    }
}

pub struct TestEngine {
    pub engine: Arc<Engine<Echo>>,
    pub router: Router,
    pub stop: CancellationToken,
    pub tracker: TaskTracker,
    pub registry: prometheus::Registry,
}

pub fn engine(config: EngineIoConfig) -> TestEngine {
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let registry = prometheus::Registry::new();
    let fabric =
        switchboard_fabric::Fabric::new(Default::default(), "test", &registry).expect("fabric");
    let metrics =
        Metrics::register(&registry, fabric.metrics().protocol("engineio")).expect("metrics");
    let engine = Engine::new(
        config,
        Echo::default(),
        NodeTag::new(7),
        metrics,
        stop.clone(),
        tracker.clone(),
    )
    .expect("valid config");
    TestEngine {
        router: router(engine.clone()),
        engine,
        stop,
        tracker,
        registry,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestEngine {
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        use tower::ServiceExt;
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Body::from(body.into())).expect("request");
        let resp: Response<Body> = self.router.clone().oneshot(req).await.expect("infallible");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, &[], Bytes::new()).await
    }

    pub async fn post(&self, uri: &str, body: &'static str) -> Reply {
        self.request(Method::POST, uri, &[], Bytes::from_static(body.as_bytes()))
            .await
    }

    /// A polling handshake: the sid and the whole body.
    pub async fn handshake(&self, eio: u8) -> (String, String) {
        let r = self
            .get(&format!("/engine.io/?EIO={eio}&transport=polling"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        let json = text
            .strip_prefix('0')
            .or_else(|| text.split_once(":0").map(|(_, j)| j))
            .expect("an open packet");
        let json = json.split('\u{1e}').next().unwrap_or(json);
        let v: serde_json::Value = serde_json::from_str(json).expect("handshake JSON");
        (v["sid"].as_str().expect("sid").to_owned(), text)
    }

    /// The value of the series `name{labels}` (labels given in their exposition order).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default();
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                continue;
            }
            if wanted.iter().all(|w| rest.contains(w.as_str())) {
                return line
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
            }
        }
        0.0
    }
}

pub fn poll_uri(sid: &str) -> String {
    format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
}
