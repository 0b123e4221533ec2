//! The HTTP side of engine.io: its error answers, CORS (as the `cors` middleware engine.io
//! uses), the session cookie, and gzip/deflate of polling responses.

use std::io::Write as _;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use switchboard_engineio_proto::{ErrorCode, Sid};

use crate::config::{CookieConfig, CorsConfig, SameSite};

/// The JSON error answer of engine.io: HTTP 400 (403 for `Forbidden`) with
/// `{"code":N,"message":"..."}`.
pub(crate) fn error_response(code: ErrorCode, message: Option<&str>) -> Response {
    let body = match message {
        Some(m) => code.json_body_with(m),
        None => code.json_body(),
    };
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(status, "application/json", Bytes::from(body))
}

/// The answer to a refused WebSocket upgrade, as engine.io writes it on the socket: always
/// `400 Bad Request`, the message as `text/html`.
pub(crate) fn upgrade_error_response(code: ErrorCode, message: Option<&str>) -> Response {
    let text = message.unwrap_or(code.message()).to_owned();
    let mut r = respond(StatusCode::BAD_REQUEST, "text/html", Bytes::from(text));
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// A response with a status, a content type and a body.
pub(crate) fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    // Room for the few headers an answer gets (content type, cache control, cookie, CORS)
    // instead of the default map, whose first insert allocates for 32 entries.
    *r.headers_mut() = HeaderMap::with_capacity(8);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An empty response with `status` (engine.io's bare `res.writeHead(400); res.end()`).
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// Parses configured `(name, value)` pairs into a header map (validated by the config).
pub(crate) fn header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// Appends every header of `extra` to `headers`.
pub(crate) fn extend(headers: &mut HeaderMap, extra: &HeaderMap) {
    for (k, v) in extra {
        headers.append(k.clone(), v.clone());
    }
}

/// The `Set-Cookie` value holding the session id, serialised as the `cookie` package does.
pub(crate) fn cookie(config: &CookieConfig, sid: Sid) -> Option<HeaderValue> {
    let mut c = format!("{}={sid}", config.name);
    if let Some(age) = config.max_age_s {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if let Some(d) = &config.domain {
        c.push_str(&format!("; Domain={d}"));
    }
    if !config.path.is_empty() {
        c.push_str(&format!("; Path={}", config.path));
    }
    if config.http_only {
        c.push_str("; HttpOnly");
    }
    if config.secure {
        c.push_str("; Secure");
    }
    match config.same_site {
        SameSite::Strict => c.push_str("; SameSite=Strict"),
        SameSite::Lax => c.push_str("; SameSite=Lax"),
        SameSite::None => c.push_str("; SameSite=None"),
        SameSite::Unset => {}
    }
    HeaderValue::from_str(&c).ok()
}

/// CORS as configured, with the header values built once.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    any: bool,
    origins: Vec<String>,
    credentials: bool,
    methods: HeaderValue,
    allowed_headers: Option<HeaderValue>,
    exposed_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

fn joined(items: &[String]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    HeaderValue::from_str(&items.join(",")).ok()
}

impl Cors {
    /// `None` when CORS is off (no origins configured).
    pub(crate) fn new(config: &CorsConfig) -> Option<Cors> {
        if config.origins.is_empty() {
            return None;
        }
        Some(Cors {
            any: config.origins.iter().any(|o| o == "*"),
            origins: config.origins.clone(),
            credentials: config.credentials,
            methods: joined(&config.methods).unwrap_or(HeaderValue::from_static("GET,POST")),
            allowed_headers: joined(&config.allowed_headers),
            exposed_headers: joined(&config.exposed_headers),
            max_age: config
                .max_age_s
                .and_then(|s| HeaderValue::from_str(&s.to_string()).ok()),
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, and whether it
    /// varies by origin.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<(HeaderValue, bool)> {
        if self.any && !self.credentials {
            return Some((HeaderValue::from_static("*"), false));
        }
        let origin = origin?;
        let text = origin.to_str().ok()?;
        (self.any || self.origins.iter().any(|o| o == text)).then(|| (origin.clone(), true))
    }

    /// Whether `req` is a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
    pub(crate) fn is_preflight(method: &Method, req: &HeaderMap) -> bool {
        method == Method::OPTIONS && req.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight: 204 with the allowed origin, methods and headers.
    pub(crate) fn preflight(&self, req: &HeaderMap) -> Response {
        let mut r = empty(StatusCode::NO_CONTENT);
        let h = r.headers_mut();
        self.origin_headers(req, h);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        match &self.allowed_headers {
            Some(v) => {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
            }
            None => {
                if let Some(asked) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
                    h.append(
                        header::VARY,
                        HeaderValue::from_static("Access-Control-Request-Headers"),
                    );
                }
            }
        }
        if let Some(age) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    }

    /// Adds the headers of an actual (non-preflight) cross-origin response.
    pub(crate) fn apply(&self, req: &HeaderMap, resp: &mut HeaderMap) {
        self.origin_headers(req, resp);
        if let Some(v) = &self.exposed_headers {
            resp.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
    }

    fn origin_headers(&self, req: &HeaderMap, resp: &mut HeaderMap) {
        if let Some((value, vary)) = self.allow_origin(req.get(header::ORIGIN)) {
            resp.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            if vary {
                resp.append(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
        if self.credentials {
            resp.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

/// A content coding of polling responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// The coding to use for a client's `Accept-Encoding`: the acceptable one (q > 0) of gzip and
/// deflate with the higher quality, gzip on a tie; `*` stands for both.
pub(crate) fn negotiate(accept: Option<&HeaderValue>) -> Option<Coding> {
    let accept = accept?.to_str().ok()?;
    let (mut gzip, mut deflate, mut star) = (None::<f32>, None::<f32>, None::<f32>);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = if name.eq_ignore_ascii_case("gzip") {
            &mut gzip
        } else if name.eq_ignore_ascii_case("deflate") {
            &mut deflate
        } else if name == "*" {
            &mut star
        } else {
            continue;
        };
        *slot = Some(q);
    }
    let g = gzip.or(star).unwrap_or(0.0);
    let d = deflate.or(star).unwrap_or(0.0);
    if g <= 0.0 && d <= 0.0 {
        None
    } else if g >= d {
        Some(Coding::Gzip)
    } else {
        Some(Coding::Deflate)
    }
}

/// Compresses `body` with `coding` (fast level: polling bodies are small and latency matters).
pub(crate) fn compress(coding: Coding, body: &[u8]) -> std::io::Result<Bytes> {
    let level = flate2::Compression::fast();
    let out = Vec::with_capacity(body.len() / 2 + 64);
    let out = match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, level);
            e.write_all(body)?;
            e.finish()?
        }
        Coding::Deflate => {
            // HTTP "deflate" is the zlib format, as Node's zlib.createDeflate writes it.
            let mut e = flate2::write::ZlibEncoder::new(out, level);
            e.write_all(body)?;
            e.finish()?
        }
    };
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use switchboard_engineio_proto::NodeTag;

    fn hv(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    #[test]
    fn negotiates_like_the_accepts_package() {
        assert_eq!(
            negotiate(Some(&hv("gzip, deflate, br"))),
            Some(Coding::Gzip)
        );
        assert_eq!(negotiate(Some(&hv("deflate"))), Some(Coding::Deflate));
        assert_eq!(
            negotiate(Some(&hv("gzip;q=0.5, deflate"))),
            Some(Coding::Deflate)
        );
        assert_eq!(negotiate(Some(&hv("gzip;q=0"))), None);
        assert_eq!(negotiate(Some(&hv("*"))), Some(Coding::Gzip));
        assert_eq!(negotiate(Some(&hv("br, identity"))), None);
        assert_eq!(negotiate(None), None);
    }

    #[test]
    fn compresses_readably() {
        let body = vec![b'4'; 5000];
        let gz = compress(Coding::Gzip, &body).unwrap_or_default();
        assert!(gz.len() < 200);
        let mut back = Vec::new();
        let _ = flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back);
        assert_eq!(back, body);
        let z = compress(Coding::Deflate, &body).unwrap_or_default();
        let mut back = Vec::new();
        let _ = flate2::read::ZlibDecoder::new(&z[..]).read_to_end(&mut back);
        assert_eq!(back, body);
    }

    #[test]
    fn cookie_like_the_cookie_package() {
        let sid = Sid::new(NodeTag::new(1), [0; 16]);
        let c = cookie(&CookieConfig::default(), sid);
        assert_eq!(
            c.as_ref().and_then(|v| v.to_str().ok()),
            Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
        );
        let custom = CookieConfig {
            name: "sb".to_owned(),
            path: String::new(),
            http_only: false,
            secure: true,
            same_site: SameSite::None,
            max_age_s: Some(60),
            ..CookieConfig::default()
        };
        let c = cookie(&custom, sid);
        assert_eq!(
            c.as_ref().and_then(|v| v.to_str().ok()),
            Some(format!("sb={sid}; Max-Age=60; Secure; SameSite=None").as_str())
        );
    }

    #[test]
    fn cors_any_origin_and_lists() {
        let any = Cors::new(&CorsConfig {
            origins: vec!["*".to_owned()],
            ..CorsConfig::default()
        });
        let mut req = HeaderMap::new();
        req.insert(header::ORIGIN, hv("https://a.example"));
        let mut resp = HeaderMap::new();
        if let Some(c) = &any {
            c.apply(&req, &mut resp);
        }
        assert_eq!(
            resp.get(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(&hv("*"))
        );

        let list = Cors::new(&CorsConfig {
            origins: vec!["https://a.example".to_owned()],
            credentials: true,
            ..CorsConfig::default()
        });
        let mut resp = HeaderMap::new();
        if let Some(c) = &list {
            c.apply(&req, &mut resp);
        }
        assert_eq!(
            resp.get(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(&hv("https://a.example"))
        );
        assert_eq!(
            resp.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some(&hv("true"))
        );
        req.insert(header::ORIGIN, hv("https://evil.example"));
        let mut resp = HeaderMap::new();
        if let Some(c) = &list {
            c.apply(&req, &mut resp);
        }
        assert!(resp.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(Cors::new(&CorsConfig::default()).is_none());
    }
}
