//! A route compiled from its [`RouteConfig`]: matcher, balancer, connection pools and the
//! pre-parsed header rules.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Uri};
use prometheus::Histogram;

use crate::balance::Balancer;
use crate::config::{ProxyConfig, RouteConfig};
use crate::connector::Connector;
use crate::error::BuildError;
use crate::metrics::{Metrics, RouteCounters};
use crate::pool::{Pool, PoolSettings};
use crate::url::{PathRules, UpstreamUrl, path_matches};

/// A compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    /// The configuration it was built from.
    pub cfg: RouteConfig,
    /// Metrics/log label.
    pub name: String,
    /// Lowercased host pattern (`*.example.com` or exact).
    host: Option<String>,
    /// Targets and their state.
    pub balancer: Balancer,
    /// The `forward` mirror.
    pub forward: Option<UpstreamUrl>,
    /// One connection pool per target, in target order.
    pub pools: Vec<Arc<Pool>>,
    /// The `forward` mirror's connection pool.
    pub mirror_pool: Option<Arc<Pool>>,
    /// `headers`, parsed.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `response_headers`, parsed; `None` removes the header.
    pub response_headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// `auth` as an `Authorization: Basic` value.
    pub auth: Option<HeaderValue>,
    /// This route's `switchboard_proxy_upstream_duration_seconds` series.
    pub upstream_latency: Histogram,
    /// This route's per-request counters, bound to their labels once.
    pub counters: RouteCounters,
}

impl Route {
    /// Compiles a route whose configuration passed validation.
    pub fn new(
        proxy: &ProxyConfig,
        cfg: &RouteConfig,
        metrics: Metrics,
        pooling: &PoolSettings,
    ) -> Result<Self, BuildError> {
        let name = cfg.display_name();
        let invalid = |key: &str, msg: String| BuildError::Invalid(vec![(key.to_owned(), msg)]);
        let mut urls = Vec::with_capacity(cfg.targets.len());
        for t in &cfg.targets {
            urls.push((
                t.clone(),
                UpstreamUrl::parse(t).map_err(|m| invalid("targets", m))?,
            ));
        }
        let forward = cfg
            .forward
            .as_deref()
            .map(UpstreamUrl::parse)
            .transpose()
            .map_err(|m| invalid("forward", m))?;
        let needs_tls = urls.iter().any(|(_, u)| u.tls) || forward.as_ref().is_some_and(|u| u.tls);
        let connector = Connector::new(proxy, cfg, needs_tls)?;
        let pool_for = |u: &UpstreamUrl| {
            let dial = Uri::builder()
                .scheme(u.scheme())
                .authority(u.authority.clone())
                .path_and_query("/")
                .build()
                .map_err(|e| invalid("targets", e.to_string()))?;
            Ok::<_, BuildError>(Pool::new(connector.clone(), dial, pooling.clone()))
        };
        let pools = urls
            .iter()
            .map(|(_, u)| pool_for(u))
            .collect::<Result<Vec<_>, _>>()?;
        let mirror_pool = forward.as_ref().map(pool_for).transpose()?;
        let upstream_latency = metrics.upstream_latency.with_label_values(&[&name]);
        let counters = RouteCounters::new(&metrics, &name);
        let balancer = Balancer::new(
            &name,
            urls,
            cfg.balance,
            cfg.eject_after_failures,
            Duration::from_millis(cfg.eject_ms),
            metrics,
        );
        let parse = |k: &String, v: &String| {
            let name =
                HeaderName::try_from(k.as_str()).map_err(|e| invalid("headers", e.to_string()))?;
            let value =
                HeaderValue::try_from(v.as_str()).map_err(|e| invalid("headers", e.to_string()))?;
            Ok::<_, BuildError>((name, value))
        };
        let headers = cfg
            .headers
            .iter()
            .map(|(k, v)| parse(k, v))
            .collect::<Result<_, _>>()?;
        let response_headers = cfg
            .response_headers
            .iter()
            .map(|(k, v)| parse(k, v).map(|(n, val)| (n, (!v.is_empty()).then_some(val))))
            .collect::<Result<_, _>>()?;
        let auth = cfg
            .auth
            .as_ref()
            .map(|a| {
                let encoded = base64::engine::general_purpose::STANDARD.encode(a);
                HeaderValue::try_from(format!("Basic {encoded}")).map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
            })
            .transpose()
            .map_err(|e| invalid("auth", e.to_string()))?;
        Ok(Self {
            cfg: cfg.clone(),
            name,
            host: cfg.host.as_ref().map(|h| h.to_ascii_lowercase()),
            balancer,
            forward,
            pools,
            mirror_pool,
            headers,
            response_headers,
            auth,
            upstream_latency,
            counters,
        })
    }

    /// Whether a request for `path` on `host` (port already removed) belongs to this route.
    pub fn matches(&self, path: &str, host: Option<&str>) -> bool {
        if !path_matches(&self.cfg.path_prefix, path) {
            return false;
        }
        let Some(pattern) = &self.host else {
            return true;
        };
        let Some(host) = host else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => host == *pattern,
        }
    }

    /// The path rules of this route.
    pub fn path_rules(&self) -> PathRules<'_> {
        PathRules {
            prefix: &self.cfg.path_prefix,
            strip_prefix: self.cfg.strip_prefix,
            ignore_path: self.cfg.ignore_path,
            prepend_path: self.cfg.prepend_path,
        }
    }

    /// `proxy_timeout_ms` as a duration (`None` when off).
    pub fn proxy_timeout(&self) -> Option<Duration> {
        (self.cfg.proxy_timeout_ms > 0).then(|| Duration::from_millis(self.cfg.proxy_timeout_ms))
    }

    /// `timeout_ms` as a duration (`None` when off).
    pub fn client_timeout(&self) -> Option<Duration> {
        (self.cfg.timeout_ms > 0).then(|| Duration::from_millis(self.cfg.timeout_ms))
    }
}
