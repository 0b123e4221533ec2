//! A minimal HTTP/1.1 client for tests (plain HTTP; every call opens its own connection).

use bytes::Bytes;
pub use http::Method;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Response {
    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method url` with `headers` and `body`; panics on transport errors.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> Response {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(body))
        .unwrap_or_else(|e| panic!("bad test request {url}: {e}"));
    let resp = client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .unwrap_or_else(|e| panic!("reading the body of {url} failed: {e}"))
        .to_bytes();
    Response {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `GET url`, returning the status code and the body as text.
pub async fn get(url: &str) -> (u16, String) {
    let r = send(Method::GET, url, &[], Bytes::new()).await;
    (r.status.as_u16(), r.text())
}
