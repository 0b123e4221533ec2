//! Header rules applied on every hop: hop-by-hop stripping (RFC 9110 §7.6.1), upgrade
//! detection, `X-Forwarded-*` / `Forwarded` (RFC 7239) and `Via` (RFC 9110 §7.6.3).

use std::net::{IpAddr, SocketAddr};

use http::Version;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;

/// At most this many names are honoured in `Connection`; the rest are ignored (bounded work).
const MAX_CONNECTION_TOKENS: usize = 32;

/// The fixed hop-by-hop set. `Connection`-nominated names are added per message.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// [`HOP_BY_HOP`] as parsed names, so that removing them does not parse each name again on
/// every message.
static HOP_BY_HOP_NAMES: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` is in the fixed hop-by-hop set.
pub(crate) fn is_hop_by_hop_name(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// Headers a `Connection` nomination may never remove: they carry end-to-end or
/// proxy-added meaning (pingora refuses the same list).
fn protected_from_nomination(name: &str) -> bool {
    name == "host"
        || name == "forwarded"
        || name == "via"
        || name.starts_with("x-forwarded-")
        || name == "content-length"
}

/// Whether the `Connection` header lists `token`.
pub(crate) fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The `Upgrade` value when an HTTP/1.1 message asks for a protocol switch.
pub(crate) fn upgrade_of(version: Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != Version::HTTP_11 || !connection_has(headers, "upgrade") {
        return None;
    }
    headers.get(header::UPGRADE).cloned()
}

/// Removes every hop-by-hop header, including those named in `Connection`. A `TE` that
/// contains `trailers` is kept as `te: trailers` (gRPC and friends need it).
///
/// One pass over the names finds the hop-by-hop ones present; a message without any (the
/// common request) costs no lookup, and only names present are removed.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    let mut nominated: SmallVec<[HeaderName; 4]> = SmallVec::new();
    if present & bit(&header::CONNECTION) != 0 {
        let tokens = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .take(MAX_CONNECTION_TOKENS);
        for token in tokens {
            // `HeaderName::from_bytes` lowercases without allocating.
            let Ok(name) = HeaderName::from_bytes(token.as_bytes()) else {
                continue;
            };
            if !HOP_BY_HOP_NAMES.contains(&name) && !protected_from_nomination(name.as_str()) {
                nominated.push(name);
            }
        }
    }
    let keep_trailers = present & bit(&header::TE) != 0
        && headers
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
    for (i, name) in HOP_BY_HOP_NAMES.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    for name in nominated {
        headers.remove(name);
    }
    if keep_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// The bit of `name` in [`strip_hop_by_hop`]'s mask of present names.
fn bit(name: &HeaderName) -> u16 {
    hop_by_hop_index(name).map_or(0, |i| 1 << i)
}

/// `name`'s index in [`HOP_BY_HOP`]: chosen by length, confirmed by one comparison (this runs
/// for every header of every message).
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    let s = name.as_str();
    let i = match s.len() {
        2 => 5,
        7 if s.as_bytes()[0] == b't' => 6,
        7 => 8,
        10 if s.as_bytes()[0] == b'c' => 0,
        10 => 1,
        16 => 2,
        18 => 3,
        19 => 4,
        17 => 7,
        _ => return None,
    };
    (HOP_BY_HOP.get(i) == Some(&s)).then_some(i)
}

/// What the proxy knows about the client connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Downstream<'a> {
    /// Client socket address, when the front provided it.
    pub addr: Option<SocketAddr>,
    /// The front terminated TLS for this request.
    pub tls: bool,
    /// The request's host (`Host` header or HTTP/2 authority), if any.
    pub host: Option<&'a str>,
}

const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const XFPROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const XFPORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const XFHOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Drops client-supplied forwarding headers (`trust_forwarded = false`).
pub(crate) fn drop_forwarded(headers: &mut HeaderMap) {
    for name in [XFF, XFPROTO, XFPORT, XFHOST, header::FORWARDED] {
        headers.remove(name);
    }
}

/// Appends `X-Forwarded-For/-Proto/-Port/-Host` (comma-joined onto existing values) and one
/// `Forwarded` element.
pub(crate) fn append_forwarded(headers: &mut HeaderMap, down: Downstream<'_>) {
    let proto = if down.tls { "https" } else { "http" };
    let port = down
        .host
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .and_then(|a| a.port_u16())
        .unwrap_or(if down.tls { 443 } else { 80 });
    // An IPv4 client of a dual-stack listener shows as `::ffff:a.b.c.d`; report it as IPv4.
    let client_ip = down.addr.map(|a| a.ip().to_canonical());
    if let Some(ip) = client_ip {
        append(headers, XFF, &ip.to_string());
    }
    append(headers, XFPORT, &port.to_string());
    append(headers, XFPROTO, proto);
    if let Some(host) = down.host {
        append(headers, XFHOST, host);
    }
    let mut element = String::new();
    if let Some(ip) = client_ip {
        match ip {
            IpAddr::V4(ip) => element.push_str(&format!("for={ip}")),
            IpAddr::V6(ip) => element.push_str(&format!("for=\"[{ip}]\"")),
        }
    }
    if let Some(host) = down.host {
        if !element.is_empty() {
            element.push(';');
        }
        element.push_str(&format!("host={}", quote_if_needed(host)));
    }
    if !element.is_empty() {
        element.push(';');
    }
    element.push_str("proto=");
    element.push_str(proto);
    append(headers, header::FORWARDED, &element);
}

/// RFC 7239 values are tokens or quoted strings; `:` and `[` are not token characters.
fn quote_if_needed(v: &str) -> String {
    let token = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        v.to_owned()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Appends `value` to the (single, comma-joined) header `name`.
fn append(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    let joined = {
        let existing: Vec<&str> = headers
            .get_all(&name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        if existing.is_empty() {
            value.to_owned()
        } else {
            format!("{}, {value}", existing.join(", "))
        }
    };
    if let Ok(v) = HeaderValue::try_from(joined) {
        headers.insert(name, v);
    }
}

/// Appends `Via: <protocol-version> <pseudonym>` for a message received with `version`.
pub(crate) fn append_via(headers: &mut HeaderMap, version: Version, pseudonym: &str) {
    let v = match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    };
    append(headers, header::VIA, &format!("{v} {pseudonym}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_hop_by_hop_names_match_the_list() {
        let names: Vec<&str> = HOP_BY_HOP_NAMES.iter().map(HeaderName::as_str).collect();
        assert_eq!(names, HOP_BY_HOP);
        for (i, name) in HOP_BY_HOP_NAMES.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(i), "{name}");
        }
        for other in [
            "host",
            "tk",
            "trailers",
            "upgrades",
            "content-length",
            "x-connection",
        ] {
            let name = HeaderName::from_static(other);
            assert_eq!(hop_by_hop_index(&name), None, "{other}");
        }
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::try_from(*v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn strips_fixed_and_nominated_but_not_protected() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret, host, x-forwarded-for"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("x-forwarded-for", "1.1.1.1"),
            ("host", "a"),
            ("te", "gzip, trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "x"),
            ("proxy-connection", "keep-alive"),
            ("x-keep", "1"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["host", "te", "x-forwarded-for", "x-keep"]);
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn leaves_a_message_without_hop_by_hop_headers_alone() {
        let mut h = map(&[("host", "a"), ("accept", "*/*"), ("x-one", "1")]);
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }

    #[test]
    fn nominated_names_are_matched_case_insensitively_and_each_value_counts() {
        let mut h = map(&[
            ("connection", "X-A"),
            ("connection", "close, x-b"),
            ("x-a", "1"),
            ("x-b", "2"),
            ("close", "3"),
            ("x-c", "4"),
            ("te", "gzip"),
        ]);
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-c"], "a TE without trailers goes too");
    }

    #[test]
    fn detects_upgrade_only_on_http11_with_connection_token() {
        let h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert_eq!(upgrade_of(Version::HTTP_11, &h).unwrap(), "websocket");
        assert!(upgrade_of(Version::HTTP_10, &h).is_none());
        let h = map(&[("upgrade", "websocket")]);
        assert!(upgrade_of(Version::HTTP_11, &h).is_none());
    }

    #[test]
    fn appends_forwarded_headers() {
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("forwarded", "for=10.0.0.1"),
        ]);
        let down = Downstream {
            addr: Some("[::1]:5000".parse().unwrap()),
            tls: true,
            host: Some("example.com:8443"),
        };
        append_forwarded(&mut h, down);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, ::1");
        assert_eq!(h["x-forwarded-port"], "8443");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "example.com:8443");
        assert_eq!(
            h["forwarded"],
            "for=10.0.0.1, for=\"[::1]\";host=\"example.com:8443\";proto=https"
        );
        let mut h = HeaderMap::new();
        let down = Downstream {
            addr: Some("127.0.0.1:1".parse().unwrap()),
            tls: false,
            host: Some("example.com"),
        };
        append_forwarded(&mut h, down);
        assert_eq!(h["x-forwarded-port"], "80");
        assert_eq!(h["forwarded"], "for=127.0.0.1;host=example.com;proto=http");
    }

    #[test]
    fn mapped_ipv4_clients_are_reported_as_ipv4() {
        let mut h = HeaderMap::new();
        let down = Downstream {
            addr: Some("[::ffff:192.0.2.7]:1234".parse().unwrap()),
            tls: false,
            host: None,
        };
        append_forwarded(&mut h, down);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["forwarded"], "for=192.0.2.7;proto=http");
        assert!(h.get("x-forwarded-host").is_none());
    }

    #[test]
    fn via_appends_version_and_name() {
        let mut h = map(&[("via", "1.0 fred")]);
        append_via(&mut h, Version::HTTP_11, "switchboard");
        assert_eq!(h["via"], "1.0 fred, 1.1 switchboard");
    }
}
