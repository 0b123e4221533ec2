//! [`Proxy`]: route matching, the forwarding pipeline, the tower `Service` the axum front
//! mounts, and the shutdown hooks.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use prometheus::Registry;
use smallvec::SmallVec;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::{BodyOutcome, MirrorTx, RequestBody, UpstreamBody};
use crate::config::ProxyConfig;
use crate::connector::BoxError;
use crate::deadline::Deadline;
use crate::error::{BuildError, ForwardError};
use crate::forward::{Attempt, Forwarded, Outgoing};
use crate::metrics::Metrics;
use crate::pool::{Pool, PoolSettings, SendError};
use crate::route::Route;
use crate::{headers, health};

/// A request after [`Proxy::prepare`]: answered already, or ready to send.
enum Prep {
    /// Answered without an upstream exchange (rejected, or a mirror-only route).
    Done(Result<Forwarded, (ForwardError, Option<Arc<str>>)>),
    /// To send.
    Send(Prepared),
}

/// What the exchange needs from a prepared request.
struct Prepared {
    /// Headers and body to send; taken by the attempt that reaches an upstream.
    outgoing: Option<Outgoing>,
    /// The client side of a requested upgrade.
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// What happened to the request body (explains failures).
    outcome: Arc<BodyOutcome>,
    /// Idempotent and without a body: may go to another target when nothing was sent.
    retryable: bool,
    /// The client's host (`Location` rewrites).
    host: Option<HeaderValue>,
}

/// What the proxy needs to know about the client connection.
///
/// [`Proxy`]'s `Service` impl takes it from the request extensions: a `ClientInfo` inserted by
/// the front wins; otherwise axum's `ConnectInfo<SocketAddr>` gives the address (and `tls`
/// stays `false`). A TLS-terminating front inserts `ClientInfo { addr, tls: true }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's socket address, when known.
    pub addr: Option<SocketAddr>,
    /// Whether the front terminated TLS for this connection (`X-Forwarded-Proto: https`).
    pub tls: bool,
}

impl ClientInfo {
    /// Reads the client info from `req`'s extensions (see the type's docs).
    pub fn from_request<B>(req: &Request<B>) -> Self {
        if let Some(info) = req.extensions().get::<ClientInfo>() {
            return *info;
        }
        Self {
            addr: req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr),
            tls: false,
        }
    }
}

/// The HTTP/WebSocket reverse proxy. Cheap to clone (one `Arc`).
///
/// Mount it as the axum front's fallback: `router.fallback_service(proxy.clone())`, serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`. Requests no route matches are
/// answered 404.
#[derive(Clone, Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub routes: Vec<Arc<Route>>,
    pub metrics: Metrics,
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Proxy {
    /// Validates `config`, registers the `switchboard_proxy_*` metrics on `registry` and builds
    /// one pooled client per route. Starts active health checks when configured, which needs a
    /// running tokio runtime ([`BuildError::NoRuntime`] otherwise).
    pub fn new(config: &ProxyConfig, registry: &Registry) -> Result<Self, BuildError> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(BuildError::Invalid(problems));
        }
        let metrics = Metrics::register(registry)?;
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let pooling = PoolSettings {
            max_idle: config.pool_max_idle_per_host,
            idle_timeout: Duration::from_millis(config.pool_idle_timeout_ms.max(1)),
            cancel: cancel.clone(),
            tasks: tasks.clone(),
        };
        let routes = config
            .routes
            .iter()
            .map(|r| Route::new(config, r, metrics.clone(), &pooling).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if routes.iter().any(|r| r.cfg.health_path.is_some()) {
            let runtime =
                tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
            for route in &routes {
                health::spawn(route, &tasks, &cancel, &runtime);
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                routes,
                metrics,
                cancel,
                tasks,
            }),
        })
    }

    /// Whether some route matches a request with this URI and headers (the front may use it
    /// to decide before handing the request over).
    pub fn matches(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        self.route_name(uri, headers).is_some()
    }

    /// The name of the first route matching this URI and headers.
    pub fn route_name(&self, uri: &Uri, headers: &HeaderMap) -> Option<&str> {
        let host = request_host(uri, headers);
        self.find(uri.path(), host).map(|r| r.name.as_str())
    }

    fn find(&self, path: &str, host: Option<&str>) -> Option<&Arc<Route>> {
        let bare = host.map(strip_port);
        self.inner.routes.iter().find(|r| r.matches(path, bare))
    }

    /// Stops active health checks and closes every open upgrade tunnel now. Requests in
    /// flight are not interrupted (the front drains them). Idempotent.
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }

    /// Waits until every background task (health checks, tunnels, mirrors) has finished;
    /// call after [`Proxy::shutdown`], under the front's grace timeout.
    pub async fn drain(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Forwards one request. Never fails: every problem becomes a small error response
    /// (404, 408, 413, 502, 504, ...), a log line and a metric.
    ///
    /// Everything up to contacting the upstream runs before the returned future is first
    /// polled, so the future only carries what the exchange needs (it is moved, whole, each
    /// time the front wraps it).
    pub fn handle<B>(
        &self,
        req: Request<B>,
        client: ClientInfo,
    ) -> impl Future<Output = Response<Body>> + Send + '_
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let req = req.map(Body::new);
        // Owned without copying: a `HeaderValue` clone only bumps a reference count.
        let host = request_host_value(req.uri(), req.headers());
        let host_str = host.as_ref().and_then(|h| h.to_str().ok());
        let route = self.find(req.uri().path(), host_str).cloned();
        let method = req.method().clone();
        // For the log lines below; cloning a `Uri` shares its bytes instead of copying them.
        let uri = req.uri().clone();
        let prep = route
            .as_ref()
            .map(|route| self.prepare(route, req, client, host));
        async move {
            let (Some(route), Some(mut prep)) = (route, prep) else {
                return self.no_route(&method, &uri);
            };
            let result = match prep {
                Prep::Done(result) => result,
                // By reference: moving the prepared request out would store it twice.
                Prep::Send(ref mut p) => self.dispatch(&route, &method, &uri, p).await,
            };
            self.answer(&route, result, &method, &uri, client, started)
        }
    }

    fn no_route(&self, method: &Method, uri: &Uri) -> Response<Body> {
        let err = ForwardError::NoRoute;
        self.inner
            .metrics
            .requests
            .with_label_values(&["", err.status().as_str()])
            .inc();
        tracing::debug!(%method, path = %uri.path(), "no proxy route matches");
        error_response(&err)
    }

    /// The client's response for `result`, with its metrics and log lines.
    fn answer(
        &self,
        route: &Route,
        result: Result<Forwarded, (ForwardError, Option<Arc<str>>)>,
        method: &Method,
        uri: &Uri,
        client: ClientInfo,
        started: Instant,
    ) -> Response<Body> {
        let path = uri.path();
        let (response, upstream) = match result {
            Ok(Forwarded { response, target }) => (response, target),
            Err((err, target)) => {
                let target = target.unwrap_or_default();
                self.inner
                    .metrics
                    .errors
                    .with_label_values(&[&route.name, err.kind()])
                    .inc();
                if err.upstream_blamed() {
                    tracing::warn!(route = %route.name, upstream = %target, %method, %path, error = %err, "proxy error");
                } else {
                    tracing::debug!(route = %route.name, upstream = %target, %method, %path, error = %err, "request rejected");
                }
                (error_response(&err), target)
            }
        };
        let status = response.status();
        route.counters.answered(status);
        tracing::info!(
            target: "switchboard_proxy::access",
            route = %route.name,
            %upstream,
            %method,
            %path,
            status = status.as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            client = %client.addr.map(|a| a.to_string()).unwrap_or_default(),
            "proxied"
        );
        response
    }

    /// Everything before the upstream is contacted: request checks, the request header
    /// rules, the body wrapper and the mirror copy.
    fn prepare(
        &self,
        route: &Arc<Route>,
        mut req: Request<Body>,
        client: ClientInfo,
        host_value: Option<HeaderValue>,
    ) -> Prep {
        let cfg = &route.cfg;
        let host = host_value.as_ref().and_then(|h| h.to_str().ok());
        if req.method() == Method::CONNECT {
            return Prep::Done(Err((
                ForwardError::BadRequest("CONNECT is not proxied".to_owned()),
                None,
            )));
        }
        if cfg.max_body_bytes > 0
            && let Some(len) = content_length(req.headers())
            && len > cfg.max_body_bytes
        {
            return Prep::Done(Err((ForwardError::BodyTooLarge(cfg.max_body_bytes), None)));
        }
        let upgrade = if cfg.ws {
            headers::upgrade_of(req.version(), req.headers())
        } else {
            None
        };
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let body_empty = body.is_end_stream();

        let mut out = std::mem::take(&mut parts.headers);
        headers::strip_hop_by_hop(&mut out);
        out.remove(header::EXPECT);
        if (parts.method == Method::DELETE || parts.method == Method::OPTIONS)
            && body_empty
            && !out.contains_key(header::CONTENT_LENGTH)
        {
            out.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        if !out.contains_key(header::HOST)
            && let Some(h) = &host_value
        {
            out.insert(header::HOST, h.clone());
        }
        if cfg.xfwd {
            if !cfg.trust_forwarded {
                headers::drop_forwarded(&mut out);
            }
            let down = headers::Downstream {
                addr: client.addr,
                tls: client.tls,
                host,
            };
            headers::append_forwarded(&mut out, down);
        }
        if let Some(via) = &cfg.via {
            headers::append_via(&mut out, parts.version, via);
        }
        for (name, value) in &route.headers {
            out.insert(name.clone(), value.clone());
        }
        if let Some(auth) = &route.auth {
            out.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(up) = &upgrade {
            out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            out.insert(header::UPGRADE, up.clone());
        }

        let outcome = Arc::new(BodyOutcome::default());
        let wrap = |body: Body, mirror: Option<MirrorTx>| {
            UpstreamBody::Client(Box::new(RequestBody::new(
                body,
                cfg.max_body_bytes,
                route.client_timeout(),
                outcome.clone(),
                mirror,
            )))
        };
        let body_slot = match (&route.forward, upgrade.is_some()) {
            (Some(fwd), false) => {
                if route.balancer.targets().is_empty() {
                    // Mirror only: node-http-proxy answers at once and pipes the body along.
                    self.mirror(
                        route,
                        fwd,
                        &parts.method,
                        &parts.uri,
                        &out,
                        wrap(body, None),
                        None,
                    );
                    let response = Response::builder()
                        .status(StatusCode::OK)
                        .body(Body::empty())
                        .unwrap_or_default();
                    return Prep::Done(Ok(Forwarded {
                        response,
                        target: fwd.authority.as_str().into(),
                    }));
                }
                if body_empty {
                    self.mirror(
                        route,
                        fwd,
                        &parts.method,
                        &parts.uri,
                        &out,
                        UpstreamBody::Empty,
                        None,
                    );
                    UpstreamBody::Empty
                } else {
                    let (tx, mirrored, cut) = MirrorTx::pair();
                    self.mirror(
                        route,
                        fwd,
                        &parts.method,
                        &parts.uri,
                        &out,
                        UpstreamBody::Mirror(mirrored),
                        Some(cut),
                    );
                    wrap(body, Some(tx))
                }
            }
            _ if body_empty => UpstreamBody::Empty,
            _ => wrap(body, None),
        };

        let retryable = body_empty && is_idempotent(&parts.method);
        Prep::Send(Prepared {
            outgoing: Some(Outgoing {
                headers: out,
                body: body_slot,
            }),
            client_upgrade,
            outcome,
            retryable,
            host: host_value,
        })
    }

    /// Sends a prepared request to the route's targets, retrying on another target only
    /// when nothing was sent and the request may be retried.
    async fn dispatch(
        &self,
        route: &Arc<Route>,
        method: &Method,
        uri: &Uri,
        p: &mut Prepared,
    ) -> Result<Forwarded, (ForwardError, Option<Arc<str>>)> {
        let attempt = Attempt {
            inner: &self.inner,
            route,
            method,
            uri,
            client_host: p.host.as_ref().and_then(|h| h.to_str().ok()),
            outcome: &p.outcome,
            idempotent: p.retryable,
        };
        let attempts = if p.retryable {
            1 + route.cfg.retries as usize
        } else {
            1
        };
        let mut tried: SmallVec<[usize; 4]> = SmallVec::new();
        // One timer for the whole exchange: response head, then body stalls.
        let mut now = Instant::now();
        let mut deadline = Deadline::new(now, route.proxy_timeout());
        let mut last = None;
        for n in 0..attempts {
            let Some((idx, in_flight)) = route.balancer.pick(&tried) else {
                break;
            };
            tried.push(idx);
            if n > 0 {
                now = Instant::now();
                if let Some(d) = &mut deadline {
                    d.restart(now);
                }
            }
            match attempt
                .send(
                    idx,
                    now,
                    in_flight,
                    &mut p.outgoing,
                    &mut p.client_upgrade,
                    &mut deadline,
                )
                .await
            {
                Ok(done) => return Ok(done),
                Err((err, label)) => {
                    // Only a request that never left (`outgoing` still here) may go elsewhere.
                    let connect_phase = p.outgoing.is_some()
                        && matches!(err, ForwardError::Connect(_) | ForwardError::ConnectTimeout);
                    if p.retryable && connect_phase && n + 1 < attempts {
                        tracing::debug!(route = %route.name, upstream = %label, error = %err, "retrying on another target");
                    }
                    last = Some((err, Some(label)));
                    if !(p.retryable && connect_phase) {
                        break;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            (
                ForwardError::Connect("route has no target".to_owned()),
                None,
            )
        }))
    }

    /// Sends a fire-and-forget copy to the `forward` mirror; `cut` abandons it early.
    #[allow(
        clippy::too_many_arguments,
        reason = "private helper; the pieces come from a request already taken apart"
    )]
    fn mirror(
        &self,
        route: &Arc<Route>,
        fwd: &crate::url::UpstreamUrl,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: UpstreamBody,
        cut: Option<CancellationToken>,
    ) {
        let req = crate::forward::build_request(route, fwd, method, uri, headers.clone(), body);
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(route = %route.name, error = %e, "cannot build mirror request");
                return;
            }
        };
        let Some(pool) = route.mirror_pool.clone() else {
            return;
        };
        let timeout = route.proxy_timeout();
        let errors = self
            .inner
            .metrics
            .errors
            .with_label_values(&[&route.name, "forward"]);
        let name = route.name.clone();
        let cut = cut.unwrap_or_default();
        self.inner.tasks.spawn(async move {
            let sent = async {
                let conn = pool.acquire(Instant::now()).await.map_err(|e| e.0)?;
                Pool::send(conn, req).await.map_err(SendError::into_error)
            };
            let res = tokio::select! {
                res = async {
                    match timeout {
                        Some(t) => tokio::time::timeout(t, sent).await.ok(),
                        None => Some(sent.await),
                    }
                } => res,
                () = cut.cancelled() => {
                    errors.inc();
                    tracing::debug!(route = %name, "mirror fell behind the request; cut off");
                    return;
                }
            };
            match res {
                Some(Ok((resp, conn))) => {
                    tracing::debug!(route = %name, status = resp.status().as_u16(), "mirror answered");
                    crate::forward::discard(resp, conn, 1 << 20).await;
                }
                Some(Err(e)) => {
                    errors.inc();
                    tracing::debug!(route = %name, error = %e, "mirror request failed");
                }
                None => {
                    errors.inc();
                    tracing::debug!(route = %name, "mirror request timed out");
                }
            }
        });
    }
}

impl<B> tower::Service<Request<B>> for Proxy
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        let info = ClientInfo::from_request(&req);
        Box::pin(async move { Ok(this.handle(req, info).await) })
    }
}

/// The request's host: the `Host` header, else the HTTP/2 `:authority`.
fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// [`request_host`] as an owned value (no copy for the `Host` header).
fn request_host_value(uri: &Uri, headers: &HeaderMap) -> Option<HeaderValue> {
    match headers.get(header::HOST) {
        Some(h) if h.to_str().is_ok() => Some(h.clone()),
        _ => uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    }
}

/// `host[:port]` → `host` (IPv6 literals keep their brackets). No parsing, no allocation:
/// a trailing `:digits` is dropped; a bracketed literal ends at its `]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// RFC 9110 §9.2.2 idempotent methods.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The small plain-text response for an error.
fn error_response(err: &ForwardError) -> Response<Body> {
    let mut resp = Response::new(Body::from(err.body()));
    *resp.status_mut() = err.status();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if matches!(
        err,
        ForwardError::BodyTooLarge(_) | ForwardError::ClientTimeout(_)
    ) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::strip_port;

    #[test]
    fn strip_port_keeps_the_host() {
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(strip_port("example.com:"), "example.com");
        assert_eq!(strip_port("[::1]:443"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(
            strip_port("::1"),
            "::1",
            "an unbracketed IPv6 literal has no port"
        );
        assert_eq!(strip_port("a:b"), "a:b", "not a port");
    }
}
