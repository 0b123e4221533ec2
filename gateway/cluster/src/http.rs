//! Engine.IO without sticky sessions: a polling request whose session id names another node is
//! carried to that node over NATS (request/reply on `<p>.http.<tag>`), served there by the same
//! router, and its response carried back.
//!
//! Only plain HTTP requests are forwarded. A WebSocket upgrade of a polling session that lands on
//! another node is answered there as an unknown session, and the client stays on polling (the
//! Engine.IO client treats a failed upgrade probe that way); a client that opens a WebSocket
//! directly needs no stickiness, since its whole session is one connection.
//!
//! Request encoding: `[1][method: varint length, bytes][path and query: varint length, bytes]
//! [header count: varint]([name: varint length, bytes][value: varint length, bytes])*[body]`;
//! the response: `[1][status: u16 big-endian][headers as above][body]`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::link::{Cluster, Shared};

/// The header a forwarded request carries (its value: the node that forwarded it), so the owner
/// never forwards it again.
pub const FORWARDED: &str = "x-switchboard-forwarded-by";

/// Forwarded requests served at once; more are answered 503.
const MAX_CONCURRENT: usize = 4096;

/// Finds the Engine.IO tag of the node owning a request's session, if it names one.
pub type OwnerOf = fn(&http::request::Parts) -> Option<u16>;

/// A request or response could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed forwarded HTTP message")]
pub struct Malformed;

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    put_varint(buf, b.len() as u64);
    buf.put_slice(b);
}

fn put_headers(buf: &mut BytesMut, headers: &HeaderMap) {
    let kept: Vec<_> = headers.iter().filter(|(n, _)| !hop_by_hop(n)).collect();
    put_varint(buf, kept.len() as u64);
    for (name, value) in kept {
        put_bytes(buf, name.as_str().as_bytes());
        put_bytes(buf, value.as_bytes());
    }
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "content-length" | "transfer-encoding" | "keep-alive" | "upgrade"
    )
}

struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, Malformed> {
        let b = *self.buf.get(self.pos).ok_or(Malformed)?;
        self.pos += 1;
        Ok(b)
    }
    fn varint(&mut self) -> Result<usize, Malformed> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(v).map_err(|_| Malformed);
            }
        }
        Err(Malformed)
    }
    fn bytes(&mut self) -> Result<&[u8], Malformed> {
        let len = self.varint()?;
        let end = self.pos.checked_add(len).ok_or(Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(Malformed)?;
        self.pos = end;
        Ok(s)
    }
    fn headers(&mut self) -> Result<HeaderMap, Malformed> {
        let n = self.varint()?;
        let mut map = HeaderMap::with_capacity(n.min(64));
        for _ in 0..n {
            let name = HeaderName::from_bytes(self.bytes()?).map_err(|_| Malformed)?;
            let value = HeaderValue::from_bytes(self.bytes()?).map_err(|_| Malformed)?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// Encodes a request (method, path and query, headers, body).
pub fn encode_request(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(256 + body.len());
    buf.put_u8(1);
    put_bytes(&mut buf, method.as_str().as_bytes());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    put_bytes(&mut buf, path.as_bytes());
    put_headers(&mut buf, headers);
    buf.put_slice(body);
    buf.freeze()
}

/// Decodes a request; the body is sliced, not copied.
pub fn decode_request(bytes: &Bytes) -> Result<http::Request<Bytes>, Malformed> {
    let mut r = Reader { buf: bytes, pos: 0 };
    if r.u8()? != 1 {
        return Err(Malformed);
    }
    let method = Method::from_bytes(r.bytes()?).map_err(|_| Malformed)?;
    let uri = Uri::try_from(r.bytes()?).map_err(|_| Malformed)?;
    let headers = r.headers()?;
    let mut req = http::Request::new(bytes.slice(r.pos..));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req)
}

/// Encodes a response.
pub fn encode_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(128 + body.len());
    buf.put_u8(1);
    buf.put_u16(status.as_u16());
    put_headers(&mut buf, headers);
    buf.put_slice(body);
    buf.freeze()
}

/// Decodes a response; the body is sliced, not copied.
pub fn decode_response(bytes: &Bytes) -> Result<http::Response<Bytes>, Malformed> {
    let mut r = Reader { buf: bytes, pos: 0 };
    if r.u8()? != 1 {
        return Err(Malformed);
    }
    let status = u16::from_be_bytes([r.u8()?, r.u8()?]);
    let status = StatusCode::from_u16(status).map_err(|_| Malformed)?;
    let headers = r.headers()?;
    let mut resp = http::Response::new(bytes.slice(r.pos..));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

#[derive(Clone)]
struct Forwarding {
    shared: Arc<Shared>,
    owner: OwnerOf,
}

impl Cluster {
    /// Wraps `router` (the Engine.IO or Socket.IO router) so that requests whose session belongs to
    /// another node are forwarded to it. `owner` reads the owning node's tag from a request.
    pub fn forwarding(&self, router: Router, owner: OwnerOf) -> Router {
        let state = Forwarding {
            shared: self.shared.clone(),
            owner,
        };
        router.layer(axum::middleware::from_fn_with_state(
            state,
            forward_if_foreign,
        ))
    }

    /// Serves requests other nodes forward to this node's Engine.IO tag with `router` (the front).
    pub async fn serve_forwarded(&self, router: Router) -> Result<(), crate::ClusterError> {
        let Some(tag) = self.shared.tag else {
            return Ok(());
        };
        let sub = self
            .shared
            .client
            .subscribe(self.shared.subjects.http(tag))
            .await
            .map_err(|e| crate::ClusterError::Connect(e.to_string()))?;
        let s = self.shared.clone();
        self.shared.tracker.spawn(serve(s, sub, router));
        Ok(())
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

fn max_body(s: &Shared) -> usize {
    s.client
        .server_info()
        .max_payload
        .saturating_sub(8 * 1024)
        .max(1024)
}

async fn forward_if_foreign(State(f): State<Forwarding>, req: Request, next: Next) -> Response {
    if req.headers().contains_key(FORWARDED) || req.headers().contains_key(http::header::UPGRADE) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let tag = match (f.owner)(&parts) {
        Some(tag) if Some(tag) != f.shared.tag => tag,
        _ => return next.run(Request::from_parts(parts, body)).await,
    };
    let s = &f.shared;
    let limit = max_body(s);
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        s.metrics.forwarded.with_label_values(&["too_large"]).inc();
        return plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request too large to forward\n",
        );
    };
    let mut headers = parts.headers;
    if let Ok(v) = HeaderValue::from_str(&s.node) {
        headers.insert(FORWARDED, v);
    }
    let payload = encode_request(&parts.method, &parts.uri, &headers, &body);
    let request = async_nats::Request::new()
        .payload(payload)
        .timeout(Some(Duration::from_millis(s.config.forward_timeout_ms)));
    let result = s.client.send_request(s.subjects.http(tag), request).await;
    let reply = match result {
        Ok(m) => m,
        Err(e) => {
            use async_nats::client::RequestErrorKind as K;
            let (label, resp) = match e.kind() {
                // The owner is gone, and its sessions with it: the client opens a new one.
                K::NoResponders => (
                    "no_owner",
                    (
                        StatusCode::BAD_REQUEST,
                        [(http::header::CONTENT_TYPE, "application/json")],
                        r#"{"code":1,"message":"Session ID unknown"}"#,
                    )
                        .into_response(),
                ),
                K::TimedOut => (
                    "timeout",
                    plain(
                        StatusCode::GATEWAY_TIMEOUT,
                        "the owning node did not answer\n",
                    ),
                ),
                _ => (
                    "error",
                    plain(StatusCode::BAD_GATEWAY, "cluster link unavailable\n"),
                ),
            };
            s.metrics.forwarded.with_label_values(&[label]).inc();
            return resp;
        }
    };
    match decode_response(&reply.payload) {
        Ok(resp) => {
            s.metrics.forwarded.with_label_values(&["ok"]).inc();
            resp.map(Body::from)
        }
        Err(_) => {
            s.metrics.forwarded.with_label_values(&["error"]).inc();
            plain(
                StatusCode::BAD_GATEWAY,
                "malformed answer from the owning node\n",
            )
        }
    }
}

async fn serve(s: Arc<Shared>, mut sub: async_nats::Subscriber, router: Router) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT));
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => return },
            _ = s.stop.cancelled() => return,
        };
        let Some(reply) = msg.reply.clone() else {
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let busy = encode_response(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), b"");
            let _ = s.client.publish(reply, busy).await;
            continue;
        };
        let s = s.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let answer = match decode_request(&msg.payload) {
                Ok(req) => {
                    let resp = match router.oneshot(req.map(Body::from)).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    let (parts, body) = resp.into_parts();
                    match axum::body::to_bytes(body, max_body(&s)).await {
                        Ok(b) => encode_response(parts.status, &parts.headers, &b),
                        Err(_) => encode_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &HeaderMap::new(),
                            b"response too large to forward",
                        ),
                    }
                }
                Err(_) => encode_response(StatusCode::BAD_REQUEST, &HeaderMap::new(), b""),
            };
            let _ = s.client.publish(reply, answer).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip_without_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_static("io=abc"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h.insert("content-length", HeaderValue::from_static("5"));
        let uri: Uri = "/engine.io/?EIO=4&transport=polling&sid=x".parse().unwrap();
        let bytes = encode_request(&Method::POST, &uri, &h, b"4hello");
        let req = decode_request(&bytes).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), &uri);
        assert_eq!(req.headers().get_all("x-a").iter().count(), 2);
        assert!(req.headers().get("content-length").is_none());
        assert_eq!(&req.body()[..], b"4hello");

        let bytes = encode_response(StatusCode::OK, &h, b"ok");
        let resp = decode_response(&bytes).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get("cookie").unwrap(), "io=abc");
        assert_eq!(&resp.body()[..], b"ok");
    }

    #[test]
    fn the_request_encoding_is_byte_exact() {
        let uri: Uri = "/p?a=1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x", HeaderValue::from_static("y"));
        let bytes = encode_request(&Method::GET, &uri, &h, b"B");
        assert_eq!(&bytes[..], b"\x01\x03GET\x06/p?a=1\x01\x01x\x01yB");
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let b = Bytes::from(data);
            let _ = decode_request(&b);
            let _ = decode_response(&b);
        }
    }
}
