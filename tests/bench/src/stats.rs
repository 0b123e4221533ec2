//! What one run of a scenario measured: counts within the measurement window, a latency
//! histogram, and the time the window lasted.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::clock::now_ns;

/// The measurement window: events before `start` are warm-up, events after `end` are not
/// counted. Times are [`crate::clock::now_ns`] values.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// First counted nanosecond.
    pub start: u64,
    /// First nanosecond no longer counted; senders stop here.
    pub end: u64,
}

impl Window {
    /// A window that opens after `warmup` and lasts `measure`, from now.
    pub fn from_now(warmup: Duration, measure: Duration) -> Window {
        let now = now_ns();
        let start = now + dur_ns(warmup);
        Window {
            start,
            end: start + dur_ns(measure),
        }
    }

    /// Whether `t` lies inside the window.
    pub fn contains(&self, t: u64) -> bool {
        t >= self.start && t < self.end
    }

    /// Whether the window is over at `t`.
    pub fn is_over(&self, t: u64) -> bool {
        t >= self.end
    }

    /// The window's length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end - self.start) as f64 / 1e9
    }
}

/// Warm-up and measurement durations; the window opens when the load starts, after the
/// connections are set up.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Excluded warm-up.
    pub warmup: Duration,
    /// Measured window.
    pub measure: Duration,
}

impl Timing {
    /// The window starting now.
    pub fn start(&self) -> Window {
        Window::from_now(self.warmup, self.measure)
    }
}

/// Nanoseconds in `d`, saturating.
pub fn dur_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Counters and a latency histogram shared by the tasks of one run (the generator runs on a
/// single-threaded runtime, so `Rc<RefCell<_>>` is enough).
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Rc<RefCell<RecorderInner>>,
    /// The window this recorder counts.
    pub window: Window,
    progress: Rc<tokio::sync::Notify>,
}

#[derive(Debug)]
struct RecorderInner {
    sent: u64,
    received: u64,
    errors: u64,
    latency: Histogram<u64>,
    // Flow control of "as fast as accepted" senders, over the whole run (window or not).
    sent_all: u64,
    received_all: u64,
    written_off: u64,
}

/// Messages a blast sender may have on their way (sent, not yet received by every
/// subscriber) before it waits: enough to keep every buffer on the path busy, small enough
/// that a server which reads everything and drops what it cannot deliver does not let the
/// sender starve the receivers sharing the generator's core.
pub const MAX_OUTSTANDING: u64 = 8192;

impl Recorder {
    /// A recorder for `window`.
    pub fn new(window: Window) -> Recorder {
        // 1 µs .. 100 s at 3 significant digits; values are nanoseconds.
        let latency = Histogram::new_with_bounds(1_000, 100_000_000_000, 3)
            .expect("constant histogram bounds are valid");
        Recorder {
            inner: Rc::new(RefCell::new(RecorderInner {
                sent: 0,
                received: 0,
                errors: 0,
                latency,
                sent_all: 0,
                received_all: 0,
                written_off: 0,
            })),
            window,
            progress: Rc::new(tokio::sync::Notify::new()),
        }
    }

    /// Counts `n` messages sent at `t`.
    pub fn sent(&self, t: u64, n: u64) {
        let mut i = self.inner.borrow_mut();
        i.sent_all += n;
        if self.window.contains(t) {
            i.sent += n;
        }
    }

    /// Receivers call this after each batch they read: it wakes waiting senders.
    pub fn progress(&self) {
        self.progress.notify_waiters();
    }

    /// Waits until fewer than [`MAX_OUTSTANDING`] messages are on their way to each of
    /// `fanout` receivers. Messages that make no progress for 50 ms are written off as
    /// dropped by the server (QoS 0 and IPC sends may be dropped), so a sender never stalls.
    pub async fn flow(&self, fanout: u64) {
        loop {
            let out = {
                let i = self.inner.borrow();
                i.sent_all
                    .saturating_sub(i.written_off)
                    .saturating_sub(i.received_all / fanout.max(1))
            };
            if out < MAX_OUTSTANDING {
                return;
            }
            let wait = self.progress.notified();
            if tokio::time::timeout(Duration::from_millis(50), wait)
                .await
                .is_err()
            {
                // Several senders may share this recorder and write off the same messages at
                // once: never write off more than was sent.
                let mut i = self.inner.borrow_mut();
                i.written_off = (i.written_off + out).min(i.sent_all);
                return;
            }
        }
    }

    /// Counts one message received at `now` that was sent at `stamp` (if known).
    pub fn received(&self, now: u64, stamp: Option<u64>) {
        let mut i = self.inner.borrow_mut();
        i.received_all += 1;
        if !self.window.contains(now) {
            return;
        }
        i.received += 1;
        if let Some(s) = stamp {
            let lat = now.saturating_sub(s).max(1_000);
            let _ = i.latency.record(lat.min(100_000_000_000));
        }
    }

    /// Counts `n` received messages without latency.
    pub fn received_n(&self, now: u64, n: u64) {
        let mut i = self.inner.borrow_mut();
        i.received_all += n;
        if self.window.contains(now) {
            i.received += n;
        }
    }

    /// Counts an error (a failed request, a bad response).
    pub fn error(&self) {
        self.inner.borrow_mut().errors += 1;
    }

    /// Received so far in the window.
    pub fn received_count(&self) -> u64 {
        self.inner.borrow().received
    }

    /// The summary of this run.
    pub fn summary(&self) -> RunStats {
        let i = self.inner.borrow();
        let secs = self.window.seconds();
        let lat = if i.latency.is_empty() {
            None
        } else {
            Some(Latency::of(&i.latency))
        };
        RunStats {
            seconds: secs,
            sent: i.sent,
            received: i.received,
            errors: i.errors,
            rate: i.received as f64 / secs,
            latency: lat,
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
    /// Samples.
    pub samples: u64,
}

impl Latency {
    /// Percentiles of a nanosecond histogram.
    pub fn of(h: &Histogram<u64>) -> Latency {
        let us = |v: u64| v as f64 / 1000.0;
        Latency {
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            samples: h.len(),
        }
    }
}

/// The counts of one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunStats {
    /// Length of the measurement window.
    pub seconds: f64,
    /// Messages sent inside the window.
    pub sent: u64,
    /// Messages (or responses, or deliveries) received inside the window.
    pub received: u64,
    /// Failed operations.
    pub errors: u64,
    /// `received / seconds`.
    pub rate: f64,
    /// Latency of the messages received in the window.
    pub latency: Option<Latency>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn senders_writing_off_at_once_never_write_off_more_than_was_sent() {
        let rec = Recorder::new(Window { start: 0, end: 1 });
        rec.sent(0, MAX_OUTSTANDING);
        // Both senders see the same outstanding messages and write them off together.
        tokio::join!(rec.flow(1), rec.flow(1));
        // Nothing is outstanding any more; without the cap this subtraction overflowed.
        rec.flow(1).await;
        rec.sent(0, MAX_OUTSTANDING - 1);
        rec.flow(1).await;
    }
}
