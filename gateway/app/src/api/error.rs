//! The API's one error type, and its JSON form `{"error": {"code": "...", "message": "..."}}`.
//!
//! Every handler returns [`ApiError`]; the status code and the `code` string are decided here
//! only, so the OpenAPI document and the README can list them once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchboard_fabric::RequestError;

/// Why an API request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No or wrong credentials (401 `unauthorized`).
    #[error("{0}")]
    Unauthorized(String),
    /// The request is malformed: a bad topic, filter, cursor, body... (400 `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// No such client, retained value or service (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// A request was answered with a rejection (502 `rejected`).
    #[error("the responder rejected the request: {0}")]
    Rejected(String),
    /// Nobody subscribes to a request's topic (503 `no_responders`).
    #[error("nobody answers requests on this topic")]
    NoResponders,
    /// Too many requests or streams at once (503 `overloaded`).
    #[error("{0}")]
    Overloaded(String),
    /// The gateway is shutting down (503 `shutting_down`).
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// A request got no reply in time (504 `timeout`).
    #[error("no reply within {0} ms")]
    Timeout(u64),
    /// Something that should not fail did (500 `internal`).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Rejected(_) => StatusCode::BAD_GATEWAY,
            ApiError::NoResponders | ApiError::Overloaded(_) | ApiError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Rejected(_) => "rejected",
            ApiError::NoResponders => "no_responders",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Timeout(_) => "timeout",
            ApiError::Internal(_) => "internal",
        }
    }

    /// A request's failure, `timeout_ms` being the wait it was given.
    pub fn from_request(e: RequestError, timeout_ms: u64) -> ApiError {
        match e {
            RequestError::NoResponders => ApiError::NoResponders,
            RequestError::Timeout(_) => ApiError::Timeout(timeout_ms),
            RequestError::Overloaded => {
                ApiError::Overloaded("too many requests are waiting for replies".into())
            }
            RequestError::Closed => ApiError::ShuttingDown,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut resp = (self.status(), Json(body)).into_response();
        if let ApiError::Unauthorized(_) = self {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        resp
    }
}

/// A query string or JSON body axum could not read, as a 400 in the API's error form.
pub fn rejection(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_status_and_code() {
        let cases = [
            (ApiError::Unauthorized("x".into()), 401, "unauthorized"),
            (ApiError::BadRequest("x".into()), 400, "bad_request"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (ApiError::Rejected("x".into()), 502, "rejected"),
            (ApiError::NoResponders, 503, "no_responders"),
            (ApiError::Overloaded("x".into()), 503, "overloaded"),
            (ApiError::ShuttingDown, 503, "shutting_down"),
            (ApiError::Timeout(5), 504, "timeout"),
            (ApiError::Internal("x".into()), 500, "internal"),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.status().as_u16(), e.code()), (status, code), "{e:?}");
        }
        assert_eq!(
            ApiError::from_request(RequestError::Timeout(std::time::Duration::ZERO), 7),
            ApiError::Timeout(7)
        );
    }
}
