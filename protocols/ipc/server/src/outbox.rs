//! The bounded output queue of one connection, and the writer that drains it.
//!
//! Routing never waits: it pushes a frame (a reference-counted [`Bytes`], usually a slice of
//! the sender's read buffer) into each destination's [`Outbox`] and moves on. The queue is
//! bounded in bytes, counting both the frames waiting and the batch being written; when a
//! frame does not fit, the configured [`OverflowPolicy`] decides: close the slow consumer,
//! drop the new frame, or drop queued frames to make room. The connection's writer task takes
//! everything queued at once and writes it with vectored writes, so a burst of small frames
//! costs a few system calls.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::Duration;

use bytes::{Buf, Bytes};
use parking_lot::Mutex;
use smallvec::SmallVec;
use switchboard_fabric::OverflowPolicy;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::metrics::{IpcMetrics, reason};

/// Most buffers handed to one `writev` (Linux's `IOV_MAX` is 1024).
const MAX_IOV: usize = 256;

/// Frames queued beyond which small frames that would pin another chunk are copied.
///
/// A shared frame is a slice of the sender's read chunk and keeps the whole chunk alive. A
/// frame that directly follows the previous queued frame in memory lives in the same chunk
/// and pins nothing more; a frame from elsewhere (another sender, or a sparse subset of one
/// sender's stream) may pin a chunk of its own. Once a consumer is this far behind, such
/// frames are copied, so what it pins beyond its own queued bytes is bounded by about this
/// many chunks, while a consumer of a whole stream (the common case) still gets every frame
/// without a copy.
const SHARED_FRAMES: usize = 256;

/// Frames up to this size are copied when the queue is long (larger ones pin little more
/// than themselves).
const COPY_LIMIT: usize = 16 * 1024;

/// The shared `queued_bytes` gauge follows a queue's pushes in steps of this many bytes (and
/// exactly after each write), so routing does not touch a shared counter per frame.
const GAUGE_STEP: usize = 64 * 1024;

/// How long a closing connection may take to flush what is queued for it.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What became of a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for writing.
    Queued,
    /// Queued after dropping this many older frames (`drop_oldest`).
    QueuedAfterDropping(usize),
    /// Not queued: the queue is full (`drop_new`), or the connection is closing.
    Dropped,
    /// Not queued: the queue is full and the connection is now being closed (`disconnect`).
    Disconnected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Flush what is queued, then end the stream.
    Closing,
    /// Stop now without flushing (slow consumer, write error).
    Killed,
}

#[derive(Debug)]
struct Queue {
    frames: VecDeque<Bytes>,
    /// Bytes in `frames` plus bytes taken by the writer and not yet written.
    bytes: usize,
    state: State,
    /// Address just past the last pushed frame (as given, before any copy): a frame starting
    /// there continues the same chunk.
    last_end: usize,
    /// What `bytes` was when last added to the shared `queued_bytes` gauge.
    reported: usize,
}

/// A connection's bounded output queue.
#[derive(Debug)]
pub struct Outbox {
    queue: Mutex<Queue>,
    notify: Notify,
    killed: CancellationToken,
    overflowed: std::sync::atomic::AtomicBool,
    capacity: usize,
    policy: OverflowPolicy,
    metrics: IpcMetrics,
    /// Frames dropped from this queue so far.
    drops: std::sync::atomic::AtomicU64,
}

impl Outbox {
    /// A queue holding at most `capacity` bytes, applying `policy` when full.
    pub fn new(capacity: usize, policy: OverflowPolicy, metrics: IpcMetrics) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                bytes: 0,
                state: State::Open,
                last_end: 0,
                reported: 0,
            }),
            notify: Notify::new(),
            killed: CancellationToken::new(),
            overflowed: std::sync::atomic::AtomicBool::new(false),
            capacity,
            policy,
            metrics,
            drops: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn dropped(&self, why: &'static str) {
        self.drops
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.metrics.dropped(why);
    }

    /// Frames dropped from this queue so far (every reason).
    pub fn drops(&self) -> u64 {
        self.drops.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Frames queued and not yet taken by the writer.
    pub fn queued_frames(&self) -> usize {
        self.queue.lock().frames.len()
    }

    /// Queues `frame` without waiting. Drops are counted here.
    pub fn push(&self, frame: Bytes) -> Pushed {
        let len = frame.len();
        let mut q = self.queue.lock();
        if q.state != State::Open {
            return Pushed::Dropped;
        }
        let mut dropped = 0;
        if q.bytes + len > self.capacity {
            match self.policy {
                OverflowPolicy::Disconnect => {
                    q.state = State::Killed;
                    let freed: usize = q.frames.drain(..).map(|f| f.len()).sum();
                    q.bytes -= freed;
                    self.report(&mut q, true);
                    drop(q);
                    self.dropped(reason::SLOW_CONSUMER);
                    self.overflowed
                        .store(true, std::sync::atomic::Ordering::Release);
                    self.killed.cancel();
                    self.notify.notify_one();
                    return Pushed::Disconnected;
                }
                OverflowPolicy::DropNew => {
                    drop(q);
                    self.dropped(reason::QUEUE_FULL_DROP_NEW);
                    return Pushed::Dropped;
                }
                OverflowPolicy::DropOldest => {
                    let mut freed = 0;
                    while q.bytes - freed + len > self.capacity {
                        match q.frames.pop_front() {
                            Some(old) => {
                                freed += old.len();
                                dropped += 1;
                            }
                            None => break,
                        }
                    }
                    q.bytes -= freed;
                    self.report(&mut q, false);
                    if q.bytes + len > self.capacity {
                        // What is left is the batch being written: the new frame cannot fit.
                        drop(q);
                        for _ in 0..dropped {
                            self.dropped(reason::QUEUE_FULL_DROP_OLDEST);
                        }
                        self.dropped(reason::QUEUE_FULL_DROP_NEW);
                        return Pushed::Dropped;
                    }
                }
            }
        }
        let was_empty = q.frames.is_empty();
        // Addresses are only compared, never dereferenced.
        let start = frame.as_ptr() as usize;
        let adjacent = start == q.last_end;
        q.last_end = start + len;
        let frame = if !adjacent && q.frames.len() >= SHARED_FRAMES && len <= COPY_LIMIT {
            Bytes::copy_from_slice(&frame)
        } else {
            frame
        };
        q.frames.push_back(frame);
        q.bytes += len;
        self.report(&mut q, false);
        drop(q);
        for _ in 0..dropped {
            self.dropped(reason::QUEUE_FULL_DROP_OLDEST);
        }
        if was_empty {
            self.notify.notify_one();
        }
        if dropped > 0 {
            Pushed::QueuedAfterDropping(dropped)
        } else {
            Pushed::Queued
        }
    }

    /// Asks the writer to flush what is queued, then end the stream. Later pushes are dropped.
    pub fn close(&self) {
        let mut q = self.queue.lock();
        if q.state == State::Open {
            q.state = State::Closing;
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Stops the writer at once, discarding what is queued.
    pub fn kill(&self) {
        let mut q = self.queue.lock();
        q.state = State::Killed;
        let freed: usize = q.frames.drain(..).map(|f| f.len()).sum();
        q.bytes -= freed;
        self.report(&mut q, true);
        drop(q);
        self.killed.cancel();
        self.notify.notify_one();
    }

    /// Whether the queue was killed (slow consumer or write error).
    pub fn is_killed(&self) -> bool {
        self.killed.is_cancelled()
    }

    /// Whether the queue was killed because it overflowed (`disconnect` policy), rather than
    /// by a write error.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Resolves once the queue is killed: the connection must end now.
    pub fn killed(&self) -> WaitForCancellationFuture<'_> {
        self.killed.cancelled()
    }

    /// Bytes queued or being written.
    pub fn queued_bytes(&self) -> usize {
        self.queue.lock().bytes
    }

    /// Moves every queued frame into `batch` (which must be empty).
    fn take(&self, batch: &mut VecDeque<Bytes>) -> State {
        let mut q = self.queue.lock();
        if q.state != State::Killed {
            std::mem::swap(&mut q.frames, batch);
        }
        q.state
    }

    fn written(&self, bytes: usize) {
        let mut q = self.queue.lock();
        q.bytes = q.bytes.saturating_sub(bytes);
        self.report(&mut q, true);
    }

    /// Brings the shared gauge up to date with this queue (`force`), or when it is off by at
    /// least [`GAUGE_STEP`].
    fn report(&self, q: &mut Queue, force: bool) {
        if q.bytes != q.reported && (force || q.bytes.abs_diff(q.reported) >= GAUGE_STEP) {
            self.metrics
                .queued_bytes
                .add(q.bytes as i64 - q.reported as i64);
            q.reported = q.bytes;
        }
    }

    /// Drains the queue into `io` until the connection closes: returns `Ok(true)` after a
    /// clean close (everything flushed, stream ended), `Ok(false)` when killed.
    pub async fn run_writer<W: AsyncWrite + Unpin>(&self, io: &mut W) -> io::Result<bool> {
        let mut batch = VecDeque::new();
        loop {
            match self.take(&mut batch) {
                State::Killed => return Ok(false),
                state => {
                    if batch.is_empty() {
                        if state == State::Closing {
                            io.shutdown().await?;
                            return Ok(true);
                        }
                        self.notify.notified().await;
                        continue;
                    }
                }
            }
            let frames = batch.len() as u64;
            let batch_bytes: usize = batch.iter().map(Bytes::len).sum();
            let written = tokio::select! {
                biased;
                _ = self.killed.cancelled() => {
                    batch.clear();
                    self.written(batch_bytes);
                    return Ok(false);
                }
                r = write_batch(io, &mut batch) => r,
            };
            let bytes = match written {
                Ok(n) => n,
                Err(e) => {
                    batch.clear();
                    self.written(batch_bytes);
                    self.kill();
                    return Err(e);
                }
            };
            self.written(bytes);
            self.metrics.frames_sent.inc_by(frames);
            self.metrics.bytes_sent.inc_by(bytes as u64);
            self.metrics.protocol.messages_out.inc_by(frames);
            self.metrics.protocol.bytes_out.inc_by(bytes as u64);
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let reported = self.queue.get_mut().reported;
        self.metrics.queued_bytes.sub(reported as i64);
    }
}

/// Writes every frame of `batch` with vectored writes; returns the bytes written.
async fn write_batch<W: AsyncWrite + Unpin>(
    io: &mut W,
    batch: &mut VecDeque<Bytes>,
) -> io::Result<usize> {
    let mut total = 0;
    while !batch.is_empty() {
        let slices: SmallVec<[IoSlice<'_>; MAX_IOV]> = batch
            .iter()
            .take(MAX_IOV)
            .map(|b| IoSlice::new(b))
            .collect();
        let mut n = io.write_vectored(&slices).await?;
        drop(slices);
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        total += n;
        while n > 0 {
            let Some(front) = batch.front_mut() else {
                break;
            };
            if front.len() <= n {
                n -= front.len();
                batch.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::Fabric;
    use tokio::io::AsyncReadExt;

    fn outbox(capacity: usize, policy: OverflowPolicy) -> (Outbox, IpcMetrics) {
        let metrics = IpcMetrics::standalone(Fabric::standalone().metrics().protocol("ipc"));
        (Outbox::new(capacity, policy, metrics.clone()), metrics)
    }

    fn frame(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn disconnect_policy_kills_the_queue() {
        let (o, m) = outbox(10, OverflowPolicy::Disconnect);
        assert_eq!(o.push(frame(6)), Pushed::Queued);
        assert_eq!(o.push(frame(6)), Pushed::Disconnected);
        assert!(o.is_killed());
        assert!(o.overflowed());
        assert_eq!(o.queued_bytes(), 0);
        assert_eq!(o.push(frame(1)), Pushed::Dropped);
        assert_eq!(m.drops(reason::SLOW_CONSUMER), 1);
        assert_eq!(m.queued_bytes.get(), 0);
    }

    #[test]
    fn drop_new_keeps_what_is_queued() {
        let (o, m) = outbox(10, OverflowPolicy::DropNew);
        assert_eq!(o.push(frame(6)), Pushed::Queued);
        assert_eq!(o.push(frame(6)), Pushed::Dropped);
        assert_eq!(o.push(frame(4)), Pushed::Queued);
        assert_eq!(o.queued_bytes(), 10);
        assert_eq!(m.drops(reason::QUEUE_FULL_DROP_NEW), 1);
        assert!(!o.is_killed());
    }

    #[test]
    fn drop_oldest_makes_room() {
        let (o, m) = outbox(10, OverflowPolicy::DropOldest);
        for _ in 0..3 {
            o.push(frame(3));
        }
        assert_eq!(o.push(frame(5)), Pushed::QueuedAfterDropping(2));
        assert_eq!(o.queued_bytes(), 8);
        assert_eq!(m.drops(reason::QUEUE_FULL_DROP_OLDEST), 2);
    }

    #[test]
    fn a_lagging_queue_copies_scattered_small_frames_instead_of_pinning_chunks() {
        let (o, _) = outbox(1 << 20, OverflowPolicy::Disconnect);
        let chunk = Bytes::from(vec![1u8; 64 * 1024]);
        // A sparse subset of a stream: every other 10-byte frame.
        let n = SHARED_FRAMES + 2;
        for i in 0..n {
            o.push(chunk.slice(i * 20..i * 20 + 10));
        }
        // A contiguous run: shared whatever the backlog.
        for i in 0..3 {
            o.push(chunk.slice(60_000 + i * 10..60_010 + i * 10));
        }
        let big = Bytes::from(vec![2u8; COPY_LIMIT + 1]);
        o.push(big.clone());
        let q = o.queue.lock();
        let shares = |f: &Bytes| chunk.as_ptr_range().contains(&f.as_ptr());
        assert!(q.frames.iter().take(SHARED_FRAMES).all(shares));
        assert!(!q.frames.iter().skip(SHARED_FRAMES).take(2).any(shares));
        assert_eq!(
            q.frames[n - 1],
            chunk.slice((n - 1) * 20..(n - 1) * 20 + 10)
        );
        // The first of the run does not follow the previous frame: copied. The rest follow it
        // in the chunk: shared.
        assert!(!shares(&q.frames[n]));
        assert!(shares(&q.frames[n + 1]) && shares(&q.frames[n + 2]));
        // Large frames are never copied.
        assert_eq!(q.frames.back().map(|f| f.as_ptr()), Some(big.as_ptr()));
    }

    #[tokio::test]
    async fn the_writer_flushes_in_order_then_ends_the_stream() {
        let (o, m) = outbox(1 << 20, OverflowPolicy::Disconnect);
        let (mut client, mut server) = tokio::io::duplex(64);
        for i in 0..100u8 {
            o.push(Bytes::from(vec![i; 10]));
        }
        o.close();
        let writer = async { o.run_writer(&mut server).await };
        let reader = async {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
            all
        };
        let (written, all) = tokio::join!(writer, reader);
        assert!(written.unwrap());
        assert_eq!(all.len(), 1000);
        assert!(all.chunks(10).enumerate().all(|(i, c)| c == [i as u8; 10]));
        assert_eq!(m.frames_sent.get(), 100);
        assert_eq!(o.queued_bytes(), 0);
        assert_eq!(m.queued_bytes.get(), 0);
    }

    #[tokio::test]
    async fn a_killed_writer_stops_without_flushing() {
        let (o, _) = outbox(1 << 20, OverflowPolicy::Disconnect);
        let (_client, mut server) = tokio::io::duplex(64);
        o.push(frame(10));
        o.kill();
        assert!(!o.run_writer(&mut server).await.unwrap());
    }
}
