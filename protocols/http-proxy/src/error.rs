//! Errors: [`BuildError`] when constructing a [`crate::Proxy`], [`ForwardError`] per request.

use std::path::PathBuf;

use http::StatusCode;

use crate::validate::Problem;

/// Why a [`crate::Proxy`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration failed [`crate::ProxyConfig::validate`].
    #[error("invalid proxy configuration: {}", summary(.0))]
    Invalid(Vec<Problem>),
    /// A metric family could not be registered (usually: registered twice on one registry).
    #[error("registering proxy metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A `ca` file could not be read or parsed.
    #[error("reading CA file {path}: {source}")]
    Ca {
        /// The configured path.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The rustls client configuration was rejected.
    #[error("upstream TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Active health checks were configured but no tokio runtime is running.
    #[error("active health checks need a running tokio runtime: build the Proxy inside it")]
    NoRuntime,
}

fn summary(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why one request could not be forwarded; each maps to a status, a metric kind and a log level.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// No route matches the request.
    #[error("no proxy route matches")]
    NoRoute,
    /// The upstream refused or could not be reached (TCP or TLS).
    #[error("upstream unreachable: {0}")]
    Connect(String),
    /// Connecting to the upstream took longer than `connect_timeout_ms`.
    #[error("upstream connect timed out")]
    ConnectTimeout,
    /// The upstream sent no response head within `proxy_timeout_ms`.
    #[error("upstream timed out")]
    Timeout,
    /// The upstream connection failed after the request was sent.
    #[error("upstream failed: {0}")]
    Upstream(String),
    /// The request body is larger than `max_body_bytes`.
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(u64),
    /// The client stalled longer than `timeout_ms` while sending its body.
    #[error("client sent no data for {0} ms")]
    ClientTimeout(u64),
    /// The client's body stream failed (client went away).
    #[error("client aborted the request body")]
    ClientAborted,
    /// The request cannot be expressed upstream (bad path or header).
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ForwardError {
    /// The status answered to the client.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::Connect(_) | Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::ConnectTimeout | Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ClientTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::ClientAborted | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The `kind` label of `switchboard_proxy_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::Connect(_) => "connect",
            Self::ConnectTimeout => "connect_timeout",
            Self::Timeout => "timeout",
            Self::Upstream(_) => "upstream",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::ClientTimeout(_) => "client_timeout",
            Self::ClientAborted => "client_aborted",
            Self::BadRequest(_) => "bad_request",
        }
    }

    /// Whether the upstream is to blame (logged at `warn`; the client's faults at `debug`).
    pub fn upstream_blamed(&self) -> bool {
        matches!(
            self,
            Self::Connect(_) | Self::ConnectTimeout | Self::Timeout | Self::Upstream(_)
        )
    }

    /// Whether the failure counts against the target for passive ejection.
    pub(crate) fn counts_against_target(&self) -> bool {
        self.upstream_blamed()
    }

    /// The small plain-text body sent with the error status.
    pub(crate) fn body(&self) -> &'static str {
        match self {
            Self::NoRoute => "no route\n",
            Self::Connect(_) | Self::Upstream(_) => "bad gateway: upstream unavailable\n",
            Self::ConnectTimeout | Self::Timeout => {
                "gateway timeout: upstream did not answer in time\n"
            }
            Self::BodyTooLarge(_) => "payload too large\n",
            Self::ClientTimeout(_) => "request timeout\n",
            Self::ClientAborted => "request aborted\n",
            Self::BadRequest(_) => "bad request\n",
        }
    }
}
