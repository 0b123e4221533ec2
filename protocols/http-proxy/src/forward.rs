//! One attempt at one target: take a pooled connection, build the upstream request, send it
//! under the request's deadline (`proxy_timeout_ms`), classify failures, and turn the upstream
//! response (or 101) into the client's response.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio::time::Instant;

use crate::balance::InFlight;
use crate::body::{BodyOutcome, ResponseBody, UpstreamBody};
use crate::connector::BoxError;
use crate::deadline::{Deadline, within};
use crate::error::ForwardError;
use crate::headers;
use crate::pool::{ConnectError, Pool, Pooled, SendError, keeps_alive};
use crate::proxy::Inner;
use crate::rewrite::{LocationRules, rewrite_cookies, rewrite_location};
use crate::route::Route;
use crate::upgrade::Tunnel;
use crate::url::{UpstreamUrl, upstream_path_and_query};

/// A response ready for the client, and the target that produced it.
#[derive(Debug)]
pub(crate) struct Forwarded {
    /// The response.
    pub response: Response<Body>,
    /// The target's label (access log).
    pub target: Arc<str>,
}

/// What is sent upstream; an attempt takes it only once it holds a ready connection, so an
/// attempt that could not connect leaves it for the next one (no copy per request).
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// Request headers after the request rules.
    pub headers: HeaderMap,
    /// Request body.
    pub body: UpstreamBody,
}

/// Shared inputs of every attempt of one request.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    pub inner: &'a Arc<Inner>,
    pub route: &'a Arc<Route>,
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub client_host: Option<&'a str>,
    pub outcome: &'a Arc<BodyOutcome>,
    /// An idempotent request without a body: when the upstream closes a reused keep-alive
    /// connection without answering it, it is sent once more on a new connection (what
    /// RFC 9112 §9.3.1 allows; the stale keep-alive race of every pooling proxy).
    pub idempotent: bool,
}

/// How one exchange failed, before classification.
enum Failure {
    /// `proxy_timeout_ms` passed without a response head.
    Timeout,
    /// No connection (TCP, TLS, or a new connection closed before the request was written).
    Connect(BoxError),
    /// The exchange failed after the request was handed to the connection.
    Upstream(hyper::Error),
}

impl Attempt<'_> {
    /// Sends the request to target `idx` under `deadline`. On a failure before the request
    /// was written, `outgoing` is left (or put back) in place for another attempt.
    pub async fn send(
        &self,
        idx: usize,
        sent: Instant,
        in_flight: InFlight,
        outgoing: &mut Option<Outgoing>,
        client_upgrade: &mut Option<OnUpgrade>,
        deadline: &mut Option<Deadline>,
    ) -> Result<Forwarded, (ForwardError, Arc<str>)> {
        let route = self.route;
        let (Some(target), Some(pool)) = (route.balancer.targets().get(idx), route.pools.get(idx))
        else {
            return Err((
                ForwardError::Connect("no such target".to_owned()),
                Arc::from(""),
            ));
        };
        let label = target.label.clone();
        let exchange = pin!(self.exchange(pool, &target.url, outgoing, sent));
        let result = match within(deadline, exchange).await {
            Some(Ok(done)) => Ok(done),
            Some(Err(failure)) => Err(self.classify(failure)),
            None => Err(self.classify(Failure::Timeout)),
        };
        match result {
            Ok((mut resp, conn)) => {
                let now = Instant::now();
                route
                    .upstream_latency
                    .observe(now.saturating_duration_since(sent).as_secs_f64());
                if let Some(d) = deadline {
                    d.touch(now);
                }
                route.balancer.success(idx);
                let upgrade = if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                    match client_upgrade.take() {
                        Some(client) => Some((client, hyper::upgrade::on(&mut resp))),
                        None => {
                            return Err((
                                ForwardError::Upstream(
                                    "switched protocols without being asked".to_owned(),
                                ),
                                label,
                            ));
                        }
                    }
                } else {
                    None
                };
                let reuse = upgrade.is_none() && keeps_alive(&resp);
                let body = Continuation {
                    in_flight,
                    conn,
                    reuse,
                    deadline: deadline.take(),
                };
                let response = self.respond(&target.url, resp, body, upgrade, &label);
                Ok(Forwarded {
                    response,
                    target: label,
                })
            }
            Err(err) => {
                if err.counts_against_target() {
                    route.balancer.failure(idx);
                }
                Err((err, label))
            }
        }
    }

    /// Gets a connection, then builds the request and sends it (see [`Pool::send`] for the
    /// reused connection that closed before the request was written).
    async fn exchange(
        &self,
        pool: &Arc<Pool>,
        base: &UpstreamUrl,
        outgoing: &mut Option<Outgoing>,
        now: Instant,
    ) -> Result<(Response<Incoming>, Pooled), Failure> {
        let mut conn = pool
            .acquire(now)
            .await
            .map_err(|ConnectError(e)| Failure::Connect(e))?;
        let Some(Outgoing { headers, body }) = outgoing.take() else {
            return Err(Failure::Connect("request already consumed".into()));
        };
        // Kept only where a stale connection may be retried (see `Attempt::idempotent`).
        let spare = (self.idempotent && conn.reused).then(|| headers.clone());
        let req = build_request(self.route, base, self.method, self.uri, headers, body)
            .map_err(|e| Failure::Connect(e.to_string().into()))?;
        // What `Pool::send` does, with hyper's future awaited through a pinned reference so
        // that this (per-request) future stores it once.
        let sent = match pin!(conn.sender.try_send_request(req)).await {
            Ok(resp) => Ok((resp, conn)),
            Err(e) => Box::pin(Pool::resend(conn, e)).await,
        };
        match sent {
            Ok(done) => Ok(done),
            Err(SendError::Unsent(e, req)) => {
                let (parts, body) = req.into_parts();
                *outgoing = Some(Outgoing {
                    headers: parts.headers,
                    body,
                });
                Err(Failure::Connect(e))
            }
            Err(SendError::Failed(e)) => match spare {
                Some(headers) if e.is_incomplete_message() => {
                    Box::pin(self.resend_stale(pool, base, headers)).await
                }
                _ => Err(Failure::Upstream(e)),
            },
        }
    }

    /// Sends an idempotent, bodiless request once more on a new connection after the
    /// upstream closed the reused one without a response (no further retry after this).
    async fn resend_stale(
        &self,
        pool: &Arc<Pool>,
        base: &UpstreamUrl,
        headers: HeaderMap,
    ) -> Result<(Response<Incoming>, Pooled), Failure> {
        tracing::debug!(
            route = %self.route.name,
            "upstream closed a reused connection without answering; sending the idempotent request again on a new one"
        );
        self.inner
            .metrics
            .stale_resends
            .with_label_values(&[self.route.name.as_str()])
            .inc();
        let req = build_request(
            self.route,
            base,
            self.method,
            self.uri,
            headers,
            UpstreamBody::Empty,
        )
        .map_err(|e| Failure::Connect(e.to_string().into()))?;
        match pool.send_fresh(req).await {
            Ok(done) => Ok(done),
            // Not handed back for another target: this request already reached one.
            Err(SendError::Unsent(e, _)) => Err(Failure::Connect(e)),
            Err(SendError::Failed(e)) => Err(Failure::Upstream(e)),
        }
    }

    /// Maps a failure to a [`ForwardError`], giving what the request body went through
    /// priority: a cut body explains the failure.
    fn classify(&self, failure: Failure) -> ForwardError {
        let cfg = &self.route.cfg;
        if self.outcome.too_large.load(Ordering::Relaxed) {
            return ForwardError::BodyTooLarge(cfg.max_body_bytes);
        }
        if self.outcome.client_timeout.load(Ordering::Relaxed) {
            return ForwardError::ClientTimeout(cfg.timeout_ms);
        }
        if self.outcome.client_error.load(Ordering::Relaxed) {
            return ForwardError::ClientAborted;
        }
        match failure {
            Failure::Timeout => ForwardError::Timeout,
            Failure::Connect(e) if caused_by_timeout(e.as_ref()) => ForwardError::ConnectTimeout,
            Failure::Connect(e) => ForwardError::Connect(error_chain(e.as_ref())),
            Failure::Upstream(e) => ForwardError::Upstream(error_chain(&e)),
        }
    }

    /// Applies the response rules and wraps the body (or starts the tunnel on a 101).
    fn respond(
        &self,
        target: &UpstreamUrl,
        resp: Response<Incoming>,
        rest: Continuation,
        upgrade: Option<(OnUpgrade, OnUpgrade)>,
        label: &str,
    ) -> Response<Body> {
        let route = self.route;
        let cfg = &route.cfg;
        let (mut parts, body) = resp.into_parts();
        let upgrade_value = parts.headers.get(header::UPGRADE).cloned();
        headers::strip_hop_by_hop(&mut parts.headers);
        let rules = LocationRules {
            host_rewrite: cfg.host_rewrite.as_deref(),
            auto_rewrite: cfg.auto_rewrite,
            protocol_rewrite: cfg.protocol_rewrite,
        };
        rewrite_location(
            parts.status,
            &mut parts.headers,
            target,
            rules,
            self.client_host,
        );
        rewrite_cookies(
            &mut parts.headers,
            cfg.cookie_domain_rewrite.as_ref(),
            cfg.cookie_path_rewrite.as_ref(),
        );
        for (name, value) in &route.response_headers {
            match value {
                Some(v) => {
                    parts.headers.insert(name.clone(), v.clone());
                }
                None => {
                    parts.headers.remove(name);
                }
            }
        }
        if let Some(via) = &cfg.via {
            headers::append_via(&mut parts.headers, parts.version, via);
        }
        if let Some((client, upstream)) = upgrade {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(v) = upgrade_value {
                parts.headers.insert(header::UPGRADE, v);
            }
            let tunnel = Tunnel {
                client,
                upstream,
                cancel: self.inner.cancel.clone(),
                gauge: self
                    .inner
                    .metrics
                    .websockets
                    .with_label_values(&[&route.name]),
                in_flight: rest.in_flight,
                route: route.name.clone(),
                target: label.to_owned(),
            };
            self.inner.tasks.spawn(tunnel.run());
            drop(body);
            return Response::from_parts(parts, Body::empty());
        }
        if body.is_end_stream() {
            // No body to wait for (HEAD, 204, 304, `Content-Length: 0`): the connection is
            // free now, and the front will not poll an empty body.
            if rest.reuse {
                rest.conn.checkin();
            }
            return Response::from_parts(parts, Body::empty());
        }
        let stalled = route.counters.body_timeout().clone();
        let body = ResponseBody::new(
            body,
            rest.deadline,
            stalled,
            Some(rest.in_flight),
            Some(rest.conn),
            rest.reuse,
        );
        Response::from_parts(parts, Body::new(body))
    }
}

/// What the response body carries along until it ends.
struct Continuation {
    in_flight: InFlight,
    conn: Pooled,
    reuse: bool,
    deadline: Option<Deadline>,
}

/// Builds the upstream request for `base` (a target or the mirror).
pub(crate) fn build_request(
    route: &Route,
    base: &UpstreamUrl,
    method: &Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, ForwardError> {
    let pq = upstream_path_and_query(route.path_rules(), base, uri.path(), uri.query());
    // HTTP/1.1 origin-form (`/path?query`): the connection already names the upstream.
    let out_uri = Uri::try_from(pq).map_err(|e| ForwardError::BadRequest(e.to_string()))?;
    if route.cfg.change_origin || !headers.contains_key(header::HOST) {
        let host = HeaderValue::try_from(base.host_header())
            .map_err(|e| ForwardError::BadRequest(e.to_string()))?;
        headers.insert(header::HOST, host);
    }
    let mut req = Request::new(body);
    *req.method_mut() = method.clone();
    *req.uri_mut() = out_uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Ok(req)
}

/// Reads and drops up to `limit` bytes of a response body; when it was read to the end (and
/// the upstream keeps the connection alive) `conn` goes back to its pool.
pub(crate) async fn discard(resp: Response<Incoming>, conn: Pooled, limit: usize) {
    let reuse = keeps_alive(&resp);
    let mut body = resp.into_body();
    let mut read = 0usize;
    while !body.is_end_stream() {
        if read >= limit {
            return;
        }
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            Some(Err(_)) => return,
            None => break,
        }
    }
    if reuse {
        conn.checkin();
    }
}

fn caused_by_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        cur = e.source();
    }
    false
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}
