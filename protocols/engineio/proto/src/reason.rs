//! The engine.io server's request error codes ([`ErrorCode`], answered as
//! HTTP 400/403 with a JSON body) and the reasons a session closes
//! ([`CloseReason`], as engine.io names them in its `close` event).

use std::fmt;

/// The error codes of the engine.io server (`Server.errors`), answered to a
/// rejected HTTP request as `{"code":N,"message":"..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    /// 0 — `transport` is missing, unknown or not enabled.
    TransportUnknown,
    /// 1 — the `sid` is not (or no longer) known.
    UnknownSid,
    /// 2 — a handshake (request without `sid`) that is not a GET.
    BadHandshakeMethod,
    /// 3 — any other bad request (transport mismatch, invalid origin, ...).
    BadRequest,
    /// 4 — refused by the `allow_request` check.
    Forbidden,
    /// 5 — the `EIO` revision is missing, unknown or not allowed.
    UnsupportedProtocolVersion,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::TransportUnknown,
        ErrorCode::UnknownSid,
        ErrorCode::BadHandshakeMethod,
        ErrorCode::BadRequest,
        ErrorCode::Forbidden,
        ErrorCode::UnsupportedProtocolVersion,
    ];

    /// The numeric code (0..=5).
    pub fn code(self) -> u8 {
        match self {
            ErrorCode::TransportUnknown => 0,
            ErrorCode::UnknownSid => 1,
            ErrorCode::BadHandshakeMethod => 2,
            ErrorCode::BadRequest => 3,
            ErrorCode::Forbidden => 4,
            ErrorCode::UnsupportedProtocolVersion => 5,
        }
    }

    /// The code for a number, if it is one of 0..=5.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// engine.io's message for the code (`Server.errorMessages`).
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::TransportUnknown => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status of the error response: 403 for [`ErrorCode::Forbidden`],
    /// 400 for every other code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Forbidden => 403,
            _ => 400,
        }
    }

    /// The JSON body engine.io sends (with `Content-Type: application/json`):
    /// `{"code":N,"message":"..."}` with the standard message.
    pub fn json_body(self) -> String {
        self.json_body_with(self.message())
    }

    /// The JSON body with a custom message, as engine.io sends when
    /// `allowRequest` rejects with a reason.
    pub fn json_body_with(self, message: &str) -> String {
        let body = ErrorBody {
            code: self.code(),
            message,
        };
        // Serialising a struct of an integer and a string cannot fail.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The JSON shape of an error response body.
#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    code: u8,
    message: &'a str,
}

/// Why a session closed, with engine.io's names (the `reason` argument of the
/// socket's `close` event), for logs and metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CloseReason {
    /// The client closed the transport (WebSocket closed, or a `close` packet).
    TransportClose,
    /// No pong (v4) or ping (v3) arrived in time.
    PingTimeout,
    /// The client sent a packet or payload that could not be decoded.
    ParseError,
    /// The server closed the session on purpose (e.g. the application called close).
    ForcedClose,
    /// The transport failed (I/O error, overlapping polls, oversized frame, ...).
    TransportError,
    /// The server is shutting down and closes every session.
    ServerShuttingDown,
}

impl CloseReason {
    /// The name engine.io (and socket.io) use for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
            CloseReason::TransportError => "transport error",
            CloseReason::ServerShuttingDown => "server shutting down",
        }
    }

    /// A compact label for metrics (`transport_close`, `ping_timeout`, ...).
    pub fn metric_label(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport_close",
            CloseReason::PingTimeout => "ping_timeout",
            CloseReason::ParseError => "parse_error",
            CloseReason::ForcedClose => "forced_close",
            CloseReason::TransportError => "transport_error",
            CloseReason::ServerShuttingDown => "server_shutting_down",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_messages_and_statuses_match_engine_io() {
        let expected = [
            (0, "Transport unknown", 400),
            (1, "Session ID unknown", 400),
            (2, "Bad handshake method", 400),
            (3, "Bad request", 400),
            (4, "Forbidden", 403),
            (5, "Unsupported protocol version", 400),
        ];
        for (code, (n, msg, status)) in ErrorCode::ALL.into_iter().zip(expected) {
            assert_eq!(code.code(), n);
            assert_eq!(code.message(), msg);
            assert_eq!(code.http_status(), status);
            assert_eq!(ErrorCode::from_code(n), Some(code));
        }
        assert_eq!(ErrorCode::from_code(6), None);
    }

    #[test]
    fn json_bodies_are_byte_exact() {
        assert_eq!(
            ErrorCode::UnknownSid.json_body(),
            r#"{"code":1,"message":"Session ID unknown"}"#
        );
        assert_eq!(
            ErrorCode::TransportUnknown.json_body(),
            r#"{"code":0,"message":"Transport unknown"}"#
        );
        assert_eq!(
            ErrorCode::Forbidden.json_body_with("bad \"token\""),
            r#"{"code":4,"message":"bad \"token\""}"#
        );
    }

    #[test]
    fn close_reason_names() {
        assert_eq!(CloseReason::TransportClose.to_string(), "transport close");
        assert_eq!(CloseReason::PingTimeout.as_str(), "ping timeout");
        assert_eq!(CloseReason::ParseError.as_str(), "parse error");
        assert_eq!(CloseReason::ForcedClose.as_str(), "forced close");
        assert_eq!(CloseReason::TransportError.as_str(), "transport error");
        assert_eq!(
            CloseReason::ServerShuttingDown.as_str(),
            "server shutting down"
        );
        assert_eq!(CloseReason::PingTimeout.metric_label(), "ping_timeout");
    }
}
