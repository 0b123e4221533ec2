//! `GET /api/v1/stream?filter=`: live messages as Server-Sent Events, resumable.
//!
//! One internal fabric subscriber, the tap, holds the filters of the open streams. Every message
//! it receives gets the next sequence number (the event `id`), goes into a bounded ring
//! (`admin.stream_ring`) and into the bounded queue (`admin.stream_queue`) of each stream whose
//! filter matches; a full queue drops the message for that stream and counts it
//! (`switchboard_api_stream_dropped_total`), and the stream then says so with a `gap` event.
//!
//! A filter stays on the tap for `admin.stream_resume_ms` after its last stream closed, so a
//! consumer reconnecting with `Last-Event-ID` (header, or `last_event_id` in the query) gets
//! what it missed from the ring. When the ring no longer reaches back to that id, or the filter
//! was not recorded for a while, or the id is unknown (the gateway restarted), the stream starts
//! with a `gap` event before the live messages.
//!
//! While its filter is on the tap, the tap counts as a subscriber of matching topics (a request
//! there waits for a reply instead of failing with `no_responders`).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_fabric::{
    Fabric, Message, OverflowPolicy, Replay, SubOptions, Subscriber, SubscriberSpec, TopicFilter,
};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Api;
use super::error::{ApiError, rejection};
use super::metrics::ApiMetrics;
use super::view::message_json;

/// How often an idle stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The stream settings (`[admin] stream_*`, `max_streams`).
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Messages kept for resumption.
    pub ring: usize,
    /// Queue of one stream.
    pub queue: usize,
    /// Most simultaneous streams.
    pub max_streams: usize,
    /// How long a filter outlives its last stream.
    pub resume: Duration,
}

struct Sink {
    filter: TopicFilter,
    tx: mpsc::Sender<(u64, Arc<Message>)>,
    dropped: Arc<AtomicU64>,
}

struct Hold {
    streams: usize,
    /// The first sequence number recorded for this filter.
    since: u64,
    idle_since: Option<Instant>,
}

struct HubState {
    next_seq: u64,
    ring: VecDeque<(u64, Arc<Message>)>,
    sinks: HashMap<u64, Sink>,
    next_sink: u64,
    holds: HashMap<TopicFilter, Hold>,
}

struct HubInner {
    state: Mutex<HubState>,
    tap: Mutex<Subscriber>,
    changed: Notify,
    settings: StreamSettings,
    metrics: ApiMetrics,
}

/// The streams' shared part: the tap, the ring and the open streams. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("Hub")
            .field("streams", &s.sinks.len())
            .field("filters", &s.holds.len())
            .field("ring", &s.ring.len())
            .finish()
    }
}

/// What a new stream starts with.
struct Opened {
    id: u64,
    rx: mpsc::Receiver<(u64, Arc<Message>)>,
    dropped: Arc<AtomicU64>,
    backlog: VecDeque<(u64, Arc<Message>)>,
    gap: Option<Value>,
}

impl Hub {
    /// A hub whose tap subscribes on `fabric`; [`Hub::run`] feeds it.
    pub fn new(fabric: &Fabric, settings: StreamSettings, metrics: ApiMetrics) -> Hub {
        let tap = fabric.subscriber(
            SubscriberSpec::new("api", "stream")
                .internal()
                .capacity(settings.ring.max(settings.queue).max(1024))
                .policy(OverflowPolicy::DropOldest),
        );
        Hub {
            inner: Arc::new(HubInner {
                state: Mutex::new(HubState {
                    next_seq: 1,
                    ring: VecDeque::with_capacity(settings.ring.min(4096)),
                    sinks: HashMap::new(),
                    next_sink: 0,
                    holds: HashMap::new(),
                }),
                tap: Mutex::new(tap),
                changed: Notify::new(),
                settings,
                metrics,
            }),
        }
    }

    /// Moves the tap's messages into the ring and the streams until `stop` (or the fabric
    /// closes), and drops filters whose last stream closed longer than the resume window ago.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let deadline = self.next_expiry();
            tokio::select! {
                d = std::future::poll_fn(|cx| self.inner.tap.lock().poll_recv(cx)) => match d {
                    Ok(d) => self.dispatch(d.message),
                    Err(_) => break,
                },
                _ = stop.cancelled() => break,
                _ = self.inner.changed.notified() => {}
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)),
                    if deadline.is_some() => self.expire(),
            }
        }
    }

    fn next_expiry(&self) -> Option<Instant> {
        let s = self.inner.state.lock();
        s.holds
            .values()
            .filter_map(|h| h.idle_since)
            .min()
            .map(|t| t + self.inner.settings.resume)
    }

    fn expire(&self) {
        let now = Instant::now();
        let resume = self.inner.settings.resume;
        let mut s = self.inner.state.lock();
        let gone: Vec<TopicFilter> = s
            .holds
            .iter()
            .filter(|(_, h)| h.idle_since.is_some_and(|t| t + resume <= now))
            .map(|(f, _)| f.clone())
            .collect();
        let mut tap = self.inner.tap.lock();
        for f in gone {
            s.holds.remove(&f);
            tap.unsubscribe(&f, None);
        }
    }

    fn dispatch(&self, message: Arc<Message>) {
        let mut s = self.inner.state.lock();
        let seq = s.next_seq;
        s.next_seq += 1;
        if s.ring.len() >= self.inner.settings.ring {
            s.ring.pop_front();
        }
        s.ring.push_back((seq, message.clone()));
        for sink in s.sinks.values() {
            if !sink.filter.matches(&message.topic) {
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(_)) =
                sink.tx.try_send((seq, message.clone()))
            {
                sink.dropped.fetch_add(1, Ordering::Relaxed);
                self.inner.metrics.stream_dropped.inc();
            }
        }
    }

    fn open(&self, filter: TopicFilter, last: Option<u64>) -> Result<Opened, ApiError> {
        let settings = self.inner.settings;
        let mut s = self.inner.state.lock();
        if s.sinks.len() >= settings.max_streams {
            return Err(ApiError::Overloaded(format!(
                "{} streams are open already (admin.max_streams)",
                s.sinks.len()
            )));
        }
        if !s.holds.contains_key(&filter) {
            // Filters kept for resumption are bounded too: the longest idle one goes first.
            if s.holds.len() >= settings.max_streams.saturating_mul(2)
                && let Some(oldest) = s
                    .holds
                    .iter()
                    .filter_map(|(f, h)| h.idle_since.map(|t| (t, f.clone())))
                    .min_by_key(|(t, _)| *t)
                    .map(|(_, f)| f)
            {
                s.holds.remove(&oldest);
                self.inner.tap.lock().unsubscribe(&oldest, None);
            }
            self.inner.tap.lock().subscribe(
                filter.clone(),
                SubOptions {
                    max_qos: switchboard_fabric::Qos::ExactlyOnce,
                    replay: Replay::Never,
                    ..SubOptions::default()
                },
            );
            let since = s.next_seq;
            s.holds.insert(
                filter.clone(),
                Hold {
                    streams: 0,
                    since,
                    idle_since: None,
                },
            );
        }
        let next_seq = s.next_seq;
        let oldest = s.ring.front().map_or(next_seq, |(n, _)| *n);
        let since = s.holds.get(&filter).map_or(next_seq, |h| h.since);
        if let Some(h) = s.holds.get_mut(&filter) {
            h.streams += 1;
            h.idle_since = None;
        }
        let mut backlog = VecDeque::new();
        let mut gap = None;
        if let Some(last) = last {
            let after = last.saturating_add(1);
            if last >= next_seq {
                gap = Some(json!({"after": last, "reason": "unknown_id",
                    "message": "this id was not given by this gateway (it may have restarted)"}));
            } else {
                if after < since || after < oldest {
                    gap = Some(json!({"after": last, "reason": "out_of_ring",
                        "message": "messages after this id are no longer kept; some were missed"}));
                }
                backlog.extend(
                    s.ring
                        .iter()
                        .filter(|(n, m)| *n > last && filter.matches(&m.topic))
                        .cloned(),
                );
            }
        }
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let id = s.next_sink;
        s.next_sink += 1;
        s.sinks.insert(
            id,
            Sink {
                filter,
                tx,
                dropped: dropped.clone(),
            },
        );
        self.inner.metrics.streams_open.inc();
        Ok(Opened {
            id,
            rx,
            dropped,
            backlog,
            gap,
        })
    }

    fn close(&self, id: u64) {
        let mut s = self.inner.state.lock();
        if let Some(sink) = s.sinks.remove(&id) {
            self.inner.metrics.streams_open.dec();
            if let Some(h) = s.holds.get_mut(&sink.filter) {
                h.streams = h.streams.saturating_sub(1);
                if h.streams == 0 {
                    h.idle_since = Some(Instant::now());
                }
            }
        }
        drop(s);
        self.inner.changed.notify_one();
    }
}

/// Unregisters a stream when its response body is dropped (the consumer went away).
struct Registered {
    hub: Hub,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.hub.close(self.id);
    }
}

struct Streaming {
    _registered: Registered,
    rx: mpsc::Receiver<(u64, Arc<Message>)>,
    dropped: Arc<AtomicU64>,
    reported: u64,
    backlog: VecDeque<(u64, Arc<Message>)>,
    gap: Option<Value>,
    stop: CancellationToken,
    metrics: ApiMetrics,
}

impl Streaming {
    fn message(&self, seq: u64, m: &Message) -> Event {
        self.metrics.stream_events.inc();
        Event::default()
            .id(seq.to_string())
            .event("message")
            .data(message_json(m).to_string())
    }

    fn gap(v: &Value) -> Event {
        Event::default().event("gap").data(v.to_string())
    }

    async fn next(&mut self) -> Option<Event> {
        if let Some(g) = self.gap.take() {
            return Some(Self::gap(&g));
        }
        if let Some((seq, m)) = self.backlog.pop_front() {
            return Some(self.message(seq, &m));
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > self.reported {
            let n = dropped - self.reported;
            self.reported = dropped;
            return Some(Self::gap(&json!({"dropped": n, "reason": "queue_full",
                "message": "this consumer did not keep up; messages were dropped"})));
        }
        tokio::select! {
            _ = self.stop.cancelled() => None,
            item = self.rx.recv() => item.map(|(seq, m)| self.message(seq, &m)),
        }
    }
}

/// Query of `GET /api/v1/stream`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// The topic filter. Default `#`.
    filter: Option<String>,
    /// Resume after this event id (as the `Last-Event-ID` header does; the header wins).
    last_event_id: Option<String>,
}

/// `GET /api/v1/stream`.
pub async fn stream(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = query.map_err(rejection)?;
    let filter = TopicFilter::new(q.filter.as_deref().unwrap_or("#"))
        .map_err(|e| ApiError::BadRequest(format!("filter: {e}")))?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(q.last_event_id)
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("`{s}` is not an event id")))
        })
        .transpose()?;
    let hub = api.hub().clone();
    let opened = hub.open(filter, last)?;
    let state = Streaming {
        _registered: Registered { hub, id: opened.id },
        rx: opened.rx,
        dropped: opened.dropped,
        reported: 0,
        backlog: opened.backlog,
        gap: opened.gap,
        stop: api.stop().clone(),
        metrics: api.metrics().clone(),
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let e = s.next().await?;
        Some((Ok::<_, Infallible>(e), s))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::Topic;

    fn hub(ring: usize, queue: usize) -> (Fabric, Hub) {
        let fabric = Fabric::standalone();
        let metrics =
            ApiMetrics::new(&prometheus::Registry::new()).unwrap_or_else(|e| unreachable!("{e}"));
        let hub = Hub::new(
            &fabric,
            StreamSettings {
                ring,
                queue,
                max_streams: 2,
                resume: Duration::from_secs(60),
            },
            metrics,
        );
        (fabric, hub)
    }

    fn f(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn publish(fabric: &Fabric, hub: &Hub, topic: &str, n: usize) {
        for i in 0..n {
            let t = Topic::new(topic).unwrap_or_else(|e| unreachable!("{e}"));
            fabric.publish(Message::text(t, i.to_string()));
            // What the tap task does for each delivery.
            let d = hub.inner.tap.lock().try_recv();
            if let Ok(Some(d)) = d {
                hub.dispatch(d.message);
            }
        }
    }

    #[tokio::test]
    async fn resumption_replays_from_the_ring_and_reports_what_fell_out() {
        let (fabric, hub) = hub(4, 16);
        let first = hub.open(f("a/#"), None).unwrap_or_else(|e| panic!("{e}"));
        publish(&fabric, &hub, "a/x", 3); // seq 1..=3
        publish(&fabric, &hub, "b/x", 1); // not this filter's: not sent to the stream
        hub.close(first.id);
        let again = hub
            .open(f("a/#"), Some(1))
            .unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<u64> = again.backlog.iter().map(|(n, _)| *n).collect();
        assert_eq!(seqs, [2, 3]);
        assert!(again.gap.is_none());
        hub.close(again.id);
        publish(&fabric, &hub, "a/x", 3); // the ring (4) now holds 3..=6
        let late = hub
            .open(f("a/#"), Some(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            late.gap.as_ref().map(|g| g["reason"].clone()),
            Some(json!("out_of_ring"))
        );
        assert_eq!(late.backlog.len(), 4);
        let future = hub
            .open(f("a/#"), Some(99))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            future.gap.map(|g| g["reason"].clone()),
            Some(json!("unknown_id"))
        );
        assert_eq!(
            hub.open(f("c"), None).map(|_| ()).map_err(|e| e.code()),
            Err("overloaded"),
            "max_streams"
        );
    }

    #[tokio::test]
    async fn a_full_stream_queue_drops_and_counts() {
        let (fabric, hub) = hub(16, 2);
        let mut s = hub.open(f("#"), None).unwrap_or_else(|e| panic!("{e}"));
        publish(&fabric, &hub, "t", 5);
        assert_eq!(s.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(hub.inner.metrics.stream_dropped.get(), 3);
        assert_eq!(s.rx.try_recv().map(|(n, _)| n).ok(), Some(1));
    }

    #[tokio::test]
    async fn a_new_filter_after_a_pause_is_a_gap() {
        let (fabric, hub) = hub(16, 16);
        let s = hub.open(f("x"), None).unwrap_or_else(|e| panic!("{e}"));
        publish(&fabric, &hub, "x", 2);
        hub.close(s.id);
        // The filter is forgotten (as after the resume window); messages go by unrecorded.
        hub.inner.state.lock().holds.clear();
        hub.inner.tap.lock().unsubscribe(&f("x"), None);
        publish(&fabric, &hub, "y", 1);
        let _other = hub.open(f("y"), None).unwrap_or_else(|e| panic!("{e}"));
        publish(&fabric, &hub, "y", 1);
        let back = hub.open(f("x"), Some(2)).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.gap.is_some(), "x was not recorded after id 2");
    }
}
