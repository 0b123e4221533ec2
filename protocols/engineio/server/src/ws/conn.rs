//! [`Conn`]: the I/O of one WebSocket connection, with the codec of
//! `switchboard_engineio_proto::websocket` on top.
//!
//! Memory is what idle sessions are made of, so a connection owns no buffer while it is idle:
//!
//! - Reads go into a per-thread 64 KiB buffer lent for the duration of one `poll_read` (many
//!   frames per system call under load, nothing held between reads). Only the bytes of a frame
//!   that has not arrived whole stay with the connection, in the decoder, sized to that frame.
//! - Writes are encoded into a per-thread buffer and written at once; only what the socket did
//!   not take stays with the connection until it is written.
//! - permessage-deflate is negotiated without context takeover, so one compressor and one
//!   decompressor per thread serve every connection.

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress};
use switchboard_engineio_proto::websocket::{
    Decoder, Incoming, OpCode, WsError, compress_message, decompress_message, encode_close,
    encode_frame_header,
};
use switchboard_engineio_proto::{MessageData, Packet, PacketType, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most one read takes.
const READ_CHUNK: usize = 64 * 1024;
/// Per-thread staging buffers that grew past this (a large message) are not kept.
const KEEP: usize = 256 * 1024;

thread_local! {
    static READ_BUF: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
    static OUT_BUF: Cell<Option<BytesMut>> = const { Cell::new(None) };
    static STAGE_BUF: Cell<Option<BytesMut>> = const { Cell::new(None) };
    static DEFLATED_BUF: Cell<Option<BytesMut>> = const { Cell::new(None) };
    static DEFLATER: Cell<Option<Box<Compress>>> = const { Cell::new(None) };
    static INFLATER: Cell<Option<Box<Decompress>>> = const { Cell::new(None) };
}

fn take_bytes(slot: &'static std::thread::LocalKey<Cell<Option<BytesMut>>>) -> BytesMut {
    slot.with(Cell::take).unwrap_or_default()
}

fn give_bytes(slot: &'static std::thread::LocalKey<Cell<Option<BytesMut>>>, mut buf: BytesMut) {
    if buf.capacity() <= KEEP {
        buf.clear();
        slot.with(|s| s.set(Some(buf)));
    }
}

/// Why reading ended.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The client closed the TCP connection (no close frame).
    Eof,
    /// The socket failed.
    Io(io::Error),
    /// The client broke the protocol: close with [`WsError::close_code`].
    Ws(WsError),
}

/// What a batch of writes carried, for the metrics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    /// Engine.IO messages.
    pub(crate) messages: u64,
    /// Payload bytes before compression.
    pub(crate) bytes: u64,
    /// Messages sent compressed, their size before and after.
    pub(crate) deflated: u64,
    pub(crate) deflated_raw: u64,
    pub(crate) deflated_wire: u64,
}

/// One WebSocket connection: the socket, the frame decoder, what remains to be written.
pub(crate) struct Conn<S> {
    io: S,
    decoder: Decoder,
    max_message: usize,
    /// permessage-deflate negotiated: messages of at least this many bytes are compressed.
    deflate_threshold: Option<usize>,
    /// Encoded bytes the socket has not taken yet (empty, without capacity, most of the time).
    pending: BytesMut,
    /// Bytes read but not processed because the handler paused (during an upgrade).
    backlog: BytesMut,
    /// Compressed messages received since [`Conn::take_inflated`]: count, size before and
    /// after inflating.
    inflated: (u64, u64, u64),
}

impl<S> std::fmt::Debug for Conn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("deflate_threshold", &self.deflate_threshold)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// A connection over `io`, refusing messages over `max_message` bytes; with
    /// `deflate_threshold`, permessage-deflate was negotiated.
    pub(crate) fn new(io: S, max_message: usize, deflate_threshold: Option<usize>) -> Self {
        Conn {
            io,
            decoder: Decoder::new(max_message, deflate_threshold.is_some()),
            max_message,
            deflate_threshold,
            pending: BytesMut::new(),
            backlog: BytesMut::new(),
            inflated: (0, 0, 0),
        }
    }

    /// Whether control frames (pongs, a close reply) wait to be written.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Reads what the socket has (one read of up to 64 KiB) and hands every message and close
    /// frame in it to `on`, compressed messages inflated; pings are answered (the pong is
    /// written with the next batch). Ready once something was read; pending when the socket
    /// has nothing. When `on` breaks, the rest of the read is kept for the next call.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        on: &mut dyn FnMut(Incoming) -> ControlFlow<()>,
    ) -> Poll<Result<(), ReadEnd>> {
        if !self.backlog.is_empty() {
            let backlog = std::mem::take(&mut self.backlog);
            return Poll::Ready(self.process(&backlog, on));
        }
        let mut buf = READ_BUF
            .with(Cell::take)
            .unwrap_or_else(|| vec![0u8; READ_CHUNK].into_boxed_slice());
        let mut rb = ReadBuf::new(&mut buf);
        let result = match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(ReadEnd::Io(e))),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Err(ReadEnd::Eof)),
            Poll::Ready(Ok(())) => Poll::Ready(self.process(rb.filled(), on)),
        };
        READ_BUF.with(|s| s.set(Some(buf)));
        result
    }

    fn process(
        &mut self,
        mut input: &[u8],
        on: &mut dyn FnMut(Incoming) -> ControlFlow<()>,
    ) -> Result<(), ReadEnd> {
        loop {
            let event = match self.decoder.decode(&mut input) {
                Ok(Some(e)) => e,
                Ok(None) => return Ok(()),
                Err(e) => return Err(ReadEnd::Ws(e)),
            };
            let event = match event {
                Incoming::Message {
                    binary,
                    compressed: true,
                    payload,
                } => match self.inflate(&payload) {
                    Ok(inflated) => {
                        self.inflated.0 += 1;
                        self.inflated.1 += payload.len() as u64;
                        self.inflated.2 += inflated.len() as u64;
                        Incoming::Message {
                            binary,
                            compressed: false,
                            payload: inflated,
                        }
                    }
                    Err(e) => return Err(ReadEnd::Ws(e)),
                },
                Incoming::Ping(payload) => {
                    self.queue_pong(&payload);
                    continue;
                }
                other => other,
            };
            if on(event).is_break() {
                self.backlog.extend_from_slice(input);
                return Ok(());
            }
        }
    }

    /// Compressed messages received since the last call: count, wire size, inflated size.
    pub(crate) fn take_inflated(&mut self) -> Option<(u64, u64, u64)> {
        (self.inflated.0 > 0).then(|| std::mem::take(&mut self.inflated))
    }

    fn inflate(&self, payload: &[u8]) -> Result<bytes::Bytes, WsError> {
        let mut d = INFLATER
            .with(Cell::take)
            .unwrap_or_else(|| Box::new(Decompress::new(false)));
        let out = decompress_message(&mut d, payload, self.max_message);
        INFLATER.with(|s| s.set(Some(d)));
        out
    }

    /// Queues a pong answering a ping (written with the next batch).
    pub(crate) fn queue_pong(&mut self, payload: &[u8]) {
        encode_frame_header(&mut self.pending, true, false, OpCode::Pong, payload.len());
        self.pending.put_slice(payload);
    }

    /// Writes `packets` (drained) as one frame each, after anything pending, and flushes.
    pub(crate) async fn send(
        &mut self,
        protocol: ProtocolVersion,
        binary: bool,
        packets: &mut Vec<Packet>,
    ) -> io::Result<Written> {
        let mut written = Written::default();
        if !packets.is_empty() {
            let mut out = take_bytes(&OUT_BUF);
            for p in packets.drain(..) {
                self.encode(&mut out, protocol, &p, binary, &mut written);
            }
            if self.pending.is_empty() {
                // The usual case: write straight from the thread's buffer and keep only
                // what the socket does not take now.
                let taken = poll_fn(|cx| Poll::Ready(self.write_now(cx, &out))).await?;
                if taken < out.len() {
                    self.pending.extend_from_slice(&out[taken..]);
                }
            } else {
                self.pending.extend_from_slice(&out);
            }
            give_bytes(&OUT_BUF, out);
        }
        self.flush().await?;
        Ok(written)
    }

    /// Writes as much of `buf` as the socket takes without waiting.
    fn write_now(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> io::Result<usize> {
        let mut at = 0;
        while at < buf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &buf[at..]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => at += n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => break,
            }
        }
        Ok(at)
    }

    /// Writes everything pending and flushes the socket.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| {
            while !self.pending.is_empty() {
                match Pin::new(&mut self.io).poll_write(cx, &self.pending) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => self.pending.advance(n),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            Pin::new(&mut self.io).poll_flush(cx)
        })
        .await?;
        if self.pending.capacity() > 0 {
            self.pending = BytesMut::new();
        }
        Ok(())
    }

    /// Sends a close frame with `code` and `reason` (after anything pending), then shuts the
    /// sending side down.
    pub(crate) async fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        encode_close(&mut self.pending, code, reason);
        self.flush().await?;
        poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await
    }

    /// Encodes one packet as a frame, compressing it when deflate is on and it is large enough.
    fn encode(
        &self,
        out: &mut BytesMut,
        protocol: ProtocolVersion,
        packet: &Packet,
        binary: bool,
        written: &mut Written,
    ) {
        let (opcode, len) = match packet {
            Packet::Message(MessageData::Binary(b)) if binary => (
                OpCode::Binary,
                b.len() + usize::from(protocol == ProtocolVersion::V3),
            ),
            p => (OpCode::Text, p.encoded_str_len(protocol)),
        };
        if matches!(packet, Packet::Message(_)) {
            written.messages += 1;
        }
        written.bytes += len as u64;
        if let Some(threshold) = self.deflate_threshold
            && len >= threshold
        {
            let mut stage = take_bytes(&STAGE_BUF);
            payload(&mut stage, protocol, packet, binary);
            let mut c = DEFLATER
                .with(Cell::take)
                .unwrap_or_else(|| Box::new(Compress::new(Compression::fast(), false)));
            let mut z = take_bytes(&DEFLATED_BUF);
            let compressed = compress_message(&mut c, &stage, &mut z);
            DEFLATER.with(|s| s.set(Some(c)));
            give_bytes(&STAGE_BUF, stage);
            match compressed {
                Ok(()) => {
                    encode_frame_header(out, true, true, opcode, z.len());
                    out.put_slice(&z);
                    written.deflated += 1;
                    written.deflated_raw += len as u64;
                    written.deflated_wire += z.len() as u64;
                    give_bytes(&DEFLATED_BUF, z);
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "compressing a message failed: sent as it is");
                    give_bytes(&DEFLATED_BUF, z);
                }
            }
        }
        encode_frame_header(out, true, false, opcode, len);
        payload(out, protocol, packet, binary);
    }
}

/// Appends a packet's frame payload: a binary message as bytes (v3: after a `4` type byte),
/// anything else in its string form.
fn payload(out: &mut BytesMut, protocol: ProtocolVersion, packet: &Packet, binary: bool) {
    match packet {
        Packet::Message(MessageData::Binary(b)) if binary => {
            if protocol == ProtocolVersion::V3 {
                out.put_u8(PacketType::Message.number());
            }
            out.put_slice(b);
        }
        p => p.encode_str(protocol, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use switchboard_engineio_proto::websocket::{apply_mask, parse_frame_header};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [3, 1, 4, 1];
        let mut out = BytesMut::new();
        encode_frame_header(
            &mut out,
            b0 & 0x80 != 0,
            b0 & 0x40 != 0,
            OpCode::Text,
            payload.len(),
        );
        out[0] = b0;
        out[1] |= 0x80;
        out.put_slice(&mask);
        let mut p = payload.to_vec();
        apply_mask(&mut p, mask, 0);
        out.put_slice(&p);
        out.to_vec()
    }

    async fn read_all<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>) -> Vec<Incoming> {
        let mut got = Vec::new();
        let r = poll_fn(|cx| {
            conn.poll_read(cx, &mut |e| {
                got.push(e);
                ControlFlow::Continue(())
            })
        })
        .await;
        assert!(r.is_ok());
        got
    }

    #[tokio::test]
    async fn many_frames_in_one_read_and_nothing_kept() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let mut conn = Conn::new(server, 1000, None);
        let mut client = client;
        let mut wire = Vec::new();
        for i in 0..100 {
            wire.extend(client_frame(0x81, format!("4m{i}").as_bytes()));
        }
        client.write_all(&wire).await.unwrap_or_default();
        let mut got = Vec::new();
        while got.len() < 100 {
            got.extend(read_all(&mut conn).await);
        }
        assert_eq!(
            got[99],
            Incoming::Message {
                binary: false,
                compressed: false,
                payload: Bytes::from_static(b"4m99")
            }
        );
        assert_eq!(conn.decoder.buffered_capacity(), 0);
        assert_eq!(conn.pending.capacity(), 0);
    }

    #[tokio::test]
    async fn packets_go_out_as_frames_compressed_above_the_threshold() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut conn = Conn::new(server, 1 << 20, Some(100));
        let big = "x".repeat(5000);
        let mut packets = vec![
            Packet::text("hi"),
            Packet::text(big.clone()),
            Packet::binary(vec![1u8, 2, 3]),
        ];
        let w = conn
            .send(ProtocolVersion::V4, true, &mut packets)
            .await
            .unwrap_or_default();
        assert_eq!((w.messages, w.deflated), (3, 1));
        assert!(w.deflated_wire < 100 && w.deflated_raw == 5001);
        assert_eq!(conn.pending.capacity(), 0, "nothing kept after the write");
        let mut wire = vec![0u8; 4096];
        let n = client.read(&mut wire).await.unwrap_or_default();
        let wire = &wire[..n];
        assert_eq!(&wire[..4], [0x81, 0x03, b'4', b'h']);
        let h = parse_frame_header(&wire[5..], true, false).ok().flatten();
        let h = h.unwrap_or_else(|| panic!("no second header"));
        assert!(h.rsv1 && h.opcode == OpCode::Text);
        let body = &wire[5 + h.header_len..5 + h.header_len + h.len as usize];
        let text = decompress_message(&mut Decompress::new(false), body, 1 << 20);
        assert_eq!(text.as_deref(), Ok(format!("4{big}").as_bytes()));
        let last = &wire[5 + h.header_len + h.len as usize..];
        assert_eq!(last, [0x82, 0x03, 1, 2, 3]);
    }

    #[tokio::test]
    async fn compressed_client_messages_are_inflated_and_bombs_refused() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut conn = Conn::new(server, 1000, Some(1024));
        // RFC 7692 §7.2.3.1: "Hello" compressed
        let hello = client_frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        client.write_all(&hello).await.unwrap_or_default();
        assert_eq!(
            read_all(&mut conn).await,
            vec![Incoming::Message {
                binary: false,
                compressed: false,
                payload: Bytes::from_static(b"Hello")
            }]
        );
        let mut z = BytesMut::new();
        let _ = compress_message(
            &mut Compress::new(Compression::fast(), false),
            &[b'a'; 5000],
            &mut z,
        );
        client
            .write_all(&client_frame(0xc2, &z))
            .await
            .unwrap_or_default();
        let r = poll_fn(|cx| conn.poll_read(cx, &mut |_| ControlFlow::Continue(()))).await;
        assert!(matches!(r, Err(ReadEnd::Ws(WsError::TooLarge { .. }))));
    }
}
