//! The byte streams a connection runs on: plain TCP, TLS, and MQTT over WebSocket (pumped
//! through an in-memory pipe).
//!
//! Plain TCP waits for readability before it reserves a read buffer, so an idle connection holds
//! no buffer at all; the other streams need a buffer with room while they wait.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Bytes reserved for one read.
pub const READ_CHUNK: usize = 8 * 1024;

/// Size of the stack buffer a plain TCP connection reads into before it reserves a read buffer.
const PROBE: usize = 512;

/// A bidirectional byte stream an MQTT connection runs on.
pub trait Transport: Send + Unpin + 'static {
    /// Reads what is available into `buf` (reserving room as needed). `Ready(Ok(0))` is the end
    /// of the stream.
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>>;
    /// Writes some of `data`; returns how much.
    fn poll_write_from(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>>;
    /// Flushes what the stream itself buffers (TLS records).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Closes the write side.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl Transport for TcpStream {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_read_ready(cx))?;
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                // Readiness can be stale (it is only cleared by a read that would block): probe
                // with a small stack buffer so that an idle connection never allocates one.
                let mut probe = [0u8; PROBE];
                let n = match self.try_read(&mut probe) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Poll::Ready(Err(e)),
                };
                if n == 0 {
                    return Poll::Ready(Ok(0));
                }
                buf.reserve(READ_CHUNK);
                buf.extend_from_slice(&probe[..n]);
                if n < PROBE {
                    return Poll::Ready(Ok(n));
                }
                return match self.try_read_buf(buf) {
                    Ok(m) => Poll::Ready(Ok(n + m)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Ready(Ok(n)),
                    Err(e) => Poll::Ready(Err(e)),
                };
            }
            match self.try_read_buf(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_write_from(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(self), cx, data)
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(self), cx)
    }
}

/// Any `AsyncRead + AsyncWrite` stream (TLS, an in-memory pipe).
#[derive(Debug)]
pub struct Stream<S>(pub S);

impl<S> Transport for Stream<S>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_write_from(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
