//! One attempt at one target: build the upstream request, send it under `proxy_timeout_ms`,
//! classify failures, and turn the upstream response (or 101) into the client's response.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio::time::Instant;

use crate::balance::InFlight;
use crate::body::{BodyOutcome, ResponseBody, UpstreamBody};
use crate::error::ForwardError;
use crate::headers;
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

/// Shared inputs of every attempt of one request.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    pub inner: &'a Arc<Inner>,
    pub route: &'a Arc<Route>,
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub client_host: Option<&'a str>,
    pub outcome: &'a Arc<BodyOutcome>,
}

impl Attempt<'_> {
    /// Sends the request to target `idx`.
    pub async fn send(
        &self,
        idx: usize,
        in_flight: InFlight,
        headers: HeaderMap,
        body: UpstreamBody,
        client_upgrade: &mut Option<OnUpgrade>,
    ) -> Result<Forwarded, (ForwardError, Arc<str>)> {
        let route = self.route;
        let Some(target) = route.balancer.targets().get(idx) else {
            return Err((
                ForwardError::Connect("no such target".to_owned()),
                Arc::from(""),
            ));
        };
        let label = target.label.clone();
        let req = build_request(route, &target.url, self.method, self.uri, headers, body)
            .map_err(|e| (e, label.clone()))?;
        let sent = Instant::now();
        let call = route.client.request(req);
        let result = match route.proxy_timeout() {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(r) => r.map_err(|e| self.classify(Some(e))),
                Err(_) => Err(self.classify(None)),
            },
            None => call.await.map_err(|e| self.classify(Some(e))),
        };
        match result {
            Ok(mut resp) => {
                route.upstream_latency.observe(sent.elapsed().as_secs_f64());
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
                let response = self.respond(&target.url, resp, in_flight, upgrade, &label);
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

    /// Maps a client error (or a timeout when `None`) to a [`ForwardError`], giving what the
    /// request body went through priority: a cut body explains the failure.
    fn classify(&self, err: Option<hyper_util::client::legacy::Error>) -> ForwardError {
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
        let Some(err) = err else {
            return ForwardError::Timeout;
        };
        if err.is_connect() {
            if caused_by_timeout(&err) {
                ForwardError::ConnectTimeout
            } else {
                ForwardError::Connect(error_chain(&err))
            }
        } else {
            ForwardError::Upstream(error_chain(&err))
        }
    }

    /// Applies the response rules and wraps the body (or starts the tunnel on a 101).
    fn respond(
        &self,
        target: &UpstreamUrl,
        resp: Response<Incoming>,
        in_flight: InFlight,
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
                in_flight,
                route: route.name.clone(),
                target: label.to_owned(),
            };
            self.inner.tasks.spawn(tunnel.run());
            drop(body);
            return Response::from_parts(parts, Body::empty());
        }
        let stalled = route.counters.body_timeout().clone();
        let body = ResponseBody::new(body, route.proxy_timeout(), stalled, Some(in_flight));
        Response::from_parts(parts, Body::new(body))
    }
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
    let out_uri = Uri::builder()
        .scheme(base.scheme())
        .authority(base.authority.clone())
        .path_and_query(pq)
        .build()
        .map_err(|e| ForwardError::BadRequest(e.to_string()))?;
    if route.cfg.change_origin {
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

/// Reads and drops up to 1 MiB of a body so its connection can go back to the pool.
pub(crate) async fn discard(mut body: Incoming) {
    let mut read = 0usize;
    while read < 1 << 20 {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
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
