//! Client-side transports for the generator: TCP with `TCP_NODELAY`, a minimal WebSocket
//! client (RFC 6455: handshake, frames, zero mask key so that masking costs nothing), and a
//! minimal HTTP/1.1 keep-alive client. Written for throughput: callers batch their writes and
//! parse in place.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Read buffer size per connection.
pub const READ_CHUNK: usize = 64 * 1024;

/// Connects with `TCP_NODELAY`, giving up after 10 s.
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr}")))??;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Reads more bytes into `buf`; `Ok(0)` at end of stream.
pub async fn fill(r: &mut OwnedReadHalf, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    r.read_buf(buf).await
}

fn eof(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_owned())
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Sends an HTTP/1.1 upgrade request for `path` and reads the `101` answer. Bytes that
/// arrived after the response head are left in the returned buffer.
pub async fn ws_handshake(
    stream: TcpStream,
    host: SocketAddr,
    path: &str,
    protocol: Option<&str>,
) -> io::Result<(OwnedReadHalf, OwnedWriteHalf, BytesMut)> {
    let (mut r, mut w) = stream.into_split();
    let proto = protocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{proto}\r\n"
    );
    w.write_all(req.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if let Some(end) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            let head = buf.split_to(end + 4);
            if !head.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(&head[..head.len().min(120)]).into_owned();
                return Err(bad(format!("WebSocket upgrade of {path} refused: {line}")));
            }
            return Ok((r, w, buf));
        }
        if buf.len() > 16 * 1024 {
            return Err(bad("WebSocket response head too large".to_owned()));
        }
        if fill(&mut r, &mut buf).await? == 0 {
            return Err(eof("connection closed during the WebSocket handshake"));
        }
    }
}

/// WebSocket opcodes the generator uses.
pub mod opcode {
    /// Continuation.
    pub const CONT: u8 = 0x0;
    /// Text.
    pub const TEXT: u8 = 0x1;
    /// Binary.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// Appends one masked client frame (mask key 0, so the payload bytes are unchanged).
pub fn ws_frame(out: &mut BytesMut, op: u8, payload: &[u8]) {
    out.reserve(payload.len() + 14);
    out.extend_from_slice(&[0x80 | op]);
    let n = payload.len();
    if n < 126 {
        out.extend_from_slice(&[0x80 | n as u8]);
    } else if n <= 0xffff {
        out.extend_from_slice(&[0x80 | 126]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[0x80 | 127]);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

/// `(fin, opcode, header_len, payload_len, mask)` of a frame.
pub type FrameHead = (bool, u8, usize, usize, Option<[u8; 4]>);

/// Parses one server frame at the start of `buf`: `(fin, opcode, header_len, payload_len)`,
/// or `None` when incomplete. Server frames are unmasked; a masked one is unmasked by the
/// caller through the returned mask.
pub fn ws_parse(buf: &[u8]) -> Option<FrameHead> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let op = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut hl) = match buf[1] & 0x7f {
        126 => {
            if buf.len() < 4 {
                return None;
            }
            (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return None;
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (usize::try_from(u64::from_be_bytes(b)).ok()?, 10)
        }
        n => (usize::from(n), 2),
    };
    let mask = if masked {
        if buf.len() < hl + 4 {
            return None;
        }
        let m = [buf[hl], buf[hl + 1], buf[hl + 2], buf[hl + 3]];
        hl += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < hl + len {
        return None;
    }
    Some((fin, op, hl, len, mask))
}

/// One complete WebSocket message taken off a buffer.
#[derive(Debug)]
pub struct WsMessage {
    /// Opcode of the first frame.
    pub op: u8,
    /// The payload.
    pub data: BytesMut,
}

/// Reassembles messages from server frames; control frames are returned as they come.
#[derive(Debug, Default)]
pub struct WsReader {
    partial: Option<WsMessage>,
}

impl WsReader {
    /// Takes the next complete message off `buf`, or `None` when more bytes are needed.
    pub fn next(&mut self, buf: &mut BytesMut) -> Option<WsMessage> {
        loop {
            let (fin, op, hl, len, mask) = ws_parse(buf)?;
            buf.advance(hl);
            let mut data = buf.split_to(len);
            if let Some(m) = mask {
                for (i, b) in data.iter_mut().enumerate() {
                    *b ^= m[i % 4];
                }
            }
            if op >= opcode::CLOSE {
                return Some(WsMessage { op, data });
            }
            match (self.partial.take(), op) {
                (None, opcode::CONT) => continue,
                (None, _) if fin => return Some(WsMessage { op, data }),
                (None, _) => self.partial = Some(WsMessage { op, data }),
                (Some(mut p), _) => {
                    p.data.extend_from_slice(&data);
                    if fin {
                        return Some(p);
                    }
                    self.partial = Some(p);
                }
            }
        }
    }
}

/// The parts of an HTTP/1.1 response the generator needs.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The body.
    pub body: BytesMut,
    /// The server said `Connection: close`.
    pub close: bool,
}

/// Takes one complete response off `buf` (Content-Length or chunked bodies), or `None` when
/// more bytes are needed.
pub fn http_parse(buf: &mut BytesMut) -> io::Result<Option<HttpResponse>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(bad(format!("bad HTTP response: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_length = None;
    let mut chunked = false;
    let mut close = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = memchr::memmem::find(&h.value.to_ascii_lowercase(), b"chunked").is_some();
        }
    }
    if chunked {
        // Walk the chunks without consuming until the terminating one is present.
        let mut pos = head_len;
        let mut body = BytesMut::new();
        loop {
            let Some(eol) = memchr::memmem::find(&buf[pos..], b"\r\n") else {
                return Ok(None);
            };
            let line = std::str::from_utf8(&buf[pos..pos + eol])
                .map_err(|_| bad("bad chunk size".to_owned()))?;
            let size_str = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16)
                .map_err(|_| bad(format!("bad chunk size {size_str:?}")))?;
            let data_start = pos + eol + 2;
            if size == 0 {
                // Trailers are not used by the servers measured: expect the final CRLF.
                if buf.len() < data_start + 2 {
                    return Ok(None);
                }
                buf.advance(data_start + 2);
                return Ok(Some(HttpResponse {
                    status,
                    body,
                    close,
                }));
            }
            if buf.len() < data_start + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[data_start..data_start + size]);
            pos = data_start + size + 2;
        }
    }
    let len = content_length.unwrap_or(0);
    if buf.len() < head_len + len {
        return Ok(None);
    }
    buf.advance(head_len);
    let body = buf.split_to(len);
    Ok(Some(HttpResponse {
        status,
        body,
        close,
    }))
}

/// A keep-alive HTTP/1.1 connection that sends one request at a time, and connects again
/// when the server answered `Connection: close` (as a browser or wrk would).
#[derive(Debug)]
pub struct HttpConn {
    addr: SocketAddr,
    r: OwnedReadHalf,
    w: OwnedWriteHalf,
    buf: BytesMut,
    closed: bool,
    /// Connections opened again after `Connection: close`.
    pub reconnects: u64,
}

impl HttpConn {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let (r, w) = connect(addr).await?.into_split();
        Ok(HttpConn {
            addr,
            r,
            w,
            buf: BytesMut::with_capacity(16 * 1024),
            closed: false,
            reconnects: 0,
        })
    }

    /// Sends the raw request bytes and reads the response.
    pub async fn round_trip(&mut self, request: &[u8]) -> io::Result<HttpResponse> {
        if self.closed {
            let (r, w) = connect(self.addr).await?.into_split();
            self.r = r;
            self.w = w;
            self.buf.clear();
            self.closed = false;
            self.reconnects += 1;
        }
        self.w.write_all(request).await?;
        let resp = self.read_response().await?;
        self.closed = resp.close;
        Ok(resp)
    }

    /// Reads the next response.
    pub async fn read_response(&mut self) -> io::Result<HttpResponse> {
        loop {
            if let Some(r) = http_parse(&mut self.buf)? {
                return Ok(r);
            }
            if fill(&mut self.r, &mut self.buf).await? == 0 {
                return Err(eof("connection closed before the response was complete"));
            }
        }
    }
}

/// A `GET` request for `path`, keep-alive.
pub fn http_get(host: SocketAddr, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: switchboard-bench\r\n\r\n")
        .into_bytes()
}

/// A `POST` request for `path` with a `text/plain` body, keep-alive.
pub fn http_post(host: SocketAddr, path: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: switchboard-bench\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_parse_content_length_and_chunked() {
        let mut b = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..]);
        let r = http_parse(&mut b).unwrap().unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]));
        let r = http_parse(&mut b).unwrap().unwrap();
        assert_eq!((r.status, &r.body[..]), (404, &b"abc"[..]));
        assert!(b.is_empty());
        let mut part = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"[..]);
        assert!(http_parse(&mut part).unwrap().is_none());
    }

    #[test]
    fn ws_frames_round_trip_through_the_parser() {
        let mut out = BytesMut::new();
        ws_frame(&mut out, opcode::TEXT, b"4hello");
        ws_frame(&mut out, opcode::BINARY, &vec![7u8; 300]);
        let mut r = WsReader::default();
        let m = r.next(&mut out).unwrap();
        assert_eq!((m.op, &m.data[..]), (opcode::TEXT, &b"4hello"[..]));
        let m = r.next(&mut out).unwrap();
        assert_eq!((m.op, m.data.len()), (opcode::BINARY, 300));
        assert!(r.next(&mut out).is_none());
    }
}
