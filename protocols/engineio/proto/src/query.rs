//! Pure parsing of the Engine.IO request query string ([`QueryParams`]):
//! `EIO`, `transport`, `sid`, `b64` and `t`.
//!
//! Values are form-decoded (`+` and `%XX`) like the `URLSearchParams` engine.io
//! uses, and as there, a repeated key keeps its last value. Only the keys
//! above are kept, so memory stays bounded whatever the query holds.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::protocol::{ProtocolVersion, Transport};
use crate::reason::ErrorCode;
use crate::sid::Sid;

/// The Engine.IO parameters of a request's query string, still as text;
/// the typed accessors turn them into values or engine.io error codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams<'a> {
    /// `EIO`: the protocol revision.
    pub eio: Option<Cow<'a, str>>,
    /// `transport`: `polling` or `websocket`.
    pub transport: Option<Cow<'a, str>>,
    /// `sid`: the session id, absent on the handshake.
    pub sid: Option<Cow<'a, str>>,
    /// `b64`: set (non-empty) when the client wants binary as base64.
    pub b64: Option<Cow<'a, str>>,
    /// `t`: the client's cache buster (ignored by the protocol).
    pub t: Option<Cow<'a, str>>,
}

impl<'a> QueryParams<'a> {
    /// Parses a query string (without the leading `?`).
    pub fn parse(query: &'a str) -> Self {
        let mut params = QueryParams::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "EIO" => &mut params.eio,
                "transport" => &mut params.transport,
                "sid" => &mut params.sid,
                "b64" => &mut params.b64,
                "t" => &mut params.t,
                _ => continue,
            };
            *slot = Some(form_decode(value));
        }
        params
    }

    /// The protocol revision; see [`ProtocolVersion::from_eio`].
    pub fn protocol(&self) -> Result<ProtocolVersion, ErrorCode> {
        ProtocolVersion::from_eio(self.eio.as_deref())
    }

    /// The transport; a missing or unknown one is [`ErrorCode::TransportUnknown`].
    pub fn transport(&self) -> Result<Transport, ErrorCode> {
        Transport::from_query(self.transport.as_deref())
    }

    /// The session id: `None` on a handshake (no or empty `sid`, as engine.io
    /// tests its truthiness), [`ErrorCode::UnknownSid`] when malformed (such a
    /// session cannot exist).
    pub fn sid(&self) -> Result<Option<Sid>, ErrorCode> {
        match self.sid.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| ErrorCode::UnknownSid),
        }
    }

    /// Whether the client accepts binary frames and bodies: true unless `b64`
    /// is present and non-empty (engine.io tests `!req._query.b64`).
    pub fn supports_binary(&self) -> bool {
        self.b64.as_deref().is_none_or(str::is_empty)
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a
/// byte; invalid UTF-8 becomes U+FFFD. Borrows when nothing needs decoding.
fn form_decode(value: &str) -> Cow<'_, str> {
    if !value.contains(['+', '%']) {
        return Cow::Borrowed(value);
    }
    let spaced = value.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::NodeTag;

    #[test]
    fn parses_a_handshake_query() {
        let q = QueryParams::parse("EIO=4&transport=polling&t=N8hyd6w");
        assert_eq!(q.protocol(), Ok(ProtocolVersion::V4));
        assert_eq!(q.transport(), Ok(Transport::Polling));
        assert_eq!(q.sid(), Ok(None));
        assert!(q.supports_binary());
        assert_eq!(q.t.as_deref(), Some("N8hyd6w"));
    }

    #[test]
    fn parses_sid_and_b64() {
        let sid = Sid::new(NodeTag::new(3), [5; 16]);
        let query = format!("EIO=3&transport=websocket&sid={sid}&b64=1");
        let q = QueryParams::parse(&query);
        assert_eq!(q.protocol(), Ok(ProtocolVersion::V3));
        assert_eq!(q.transport(), Ok(Transport::WebSocket));
        assert_eq!(q.sid(), Ok(Some(sid)));
        assert!(!q.supports_binary());
        assert!(QueryParams::parse("b64=").supports_binary());
    }

    #[test]
    fn maps_errors_to_engine_io_codes() {
        let q = QueryParams::parse("EIO=5&transport=flashsocket&sid=nope");
        assert_eq!(q.protocol(), Err(ErrorCode::UnsupportedProtocolVersion));
        assert_eq!(q.transport(), Err(ErrorCode::TransportUnknown));
        assert_eq!(q.sid(), Err(ErrorCode::UnknownSid));
        let empty = QueryParams::parse("");
        assert_eq!(empty.protocol(), Err(ErrorCode::UnsupportedProtocolVersion));
        assert_eq!(empty.transport(), Err(ErrorCode::TransportUnknown));
        assert_eq!(QueryParams::parse("sid=").sid(), Ok(None));
    }

    #[test]
    fn decodes_and_keeps_the_last_value() {
        let q = QueryParams::parse("transport=websocket&transport=poll%69ng&EIO=%34&t=a+b&x=%ZZ");
        assert_eq!(q.transport(), Ok(Transport::Polling));
        assert_eq!(q.protocol(), Ok(ProtocolVersion::V4));
        assert_eq!(q.t.as_deref(), Some("a b"));
        assert!(matches!(q.eio, Some(Cow::Owned(_))));
        assert!(matches!(
            QueryParams::parse("EIO=4").eio,
            Some(Cow::Borrowed(_))
        ));
        // malformed escapes and lone keys do not panic
        let odd = QueryParams::parse("&&=&EIO&sid=%&b64=%F0%9F");
        assert_eq!(odd.eio.as_deref(), Some(""));
        assert_eq!(odd.sid.as_deref(), Some("%"));
        assert_eq!(odd.b64.as_deref(), Some("\u{FFFD}"));
    }
}
