//! The one timer of a proxied request (`proxy_timeout_ms`): the upstream must send its response
//! head within the limit, then its body may not stall longer than the limit between frames.
//!
//! Both phases share one `Sleep`, registered once. Activity only records a time; the timer is
//! pushed back lazily when it fires early, so a fast exchange costs one timer registration and
//! no reset.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// A restartable idle deadline.
#[derive(Debug)]
pub(crate) struct Deadline {
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
    /// The last sign of life; the deadline is `last + limit`.
    last: Instant,
}

impl Deadline {
    /// A deadline `limit` after `now` (`None` when the limit is off).
    pub fn new(now: Instant, limit: Option<Duration>) -> Option<Self> {
        let limit = limit?;
        Some(Self {
            sleep: Box::pin(tokio::time::sleep_until(now + limit)),
            limit,
            last: now,
        })
    }

    /// Starts over from `now` (a new attempt).
    pub fn restart(&mut self, now: Instant) {
        self.last = now;
        self.sleep.as_mut().reset(now + self.limit);
    }

    /// Records activity at `now`: the deadline moves to `now + limit`.
    pub fn touch(&mut self, now: Instant) {
        self.last = now;
    }

    /// `Ready` once `limit` has passed since the last activity.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            let due = self.last + self.limit;
            if self.sleep.deadline() >= due {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(due);
        }
    }
}

/// Runs `fut` until it completes (`Some`) or `deadline` expires (`None`); no deadline, no limit.
/// Takes the future pinned by the caller, so its state is not stored twice.
pub(crate) async fn within<F: Future>(
    deadline: &mut Option<Deadline>,
    mut fut: Pin<&mut F>,
) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match deadline {
            Some(d) => d.poll_expired(cx).map(|()| None),
            None => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expires_after_the_limit_without_activity() {
        let mut d = Deadline::new(Instant::now(), Some(Duration::from_millis(100)));
        let started = Instant::now();
        let out = within(&mut d, pin!(std::future::pending::<()>())).await;
        assert_eq!(out, None);
        assert_eq!(started.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn activity_pushes_the_deadline_back() {
        let mut d = Deadline::new(Instant::now(), Some(Duration::from_millis(100)));
        let started = Instant::now();
        tokio::time::advance(Duration::from_millis(80)).await;
        if let Some(d) = &mut d {
            d.touch(Instant::now());
        }
        let out = within(&mut d, pin!(std::future::pending::<()>())).await;
        assert_eq!(out, None);
        assert_eq!(started.elapsed(), Duration::from_millis(180));
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_future_wins_and_no_limit_never_expires() {
        let mut d = Deadline::new(Instant::now(), Some(Duration::from_millis(100)));
        assert_eq!(within(&mut d, pin!(async { 7 })).await, Some(7));
        let mut none = Deadline::new(Instant::now(), None);
        let slow = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            8
        };
        assert_eq!(within(&mut none, pin!(slow)).await, Some(8));
    }

    #[tokio::test(start_paused = true)]
    async fn restart_gives_a_full_new_limit() {
        let mut d = Deadline::new(Instant::now(), Some(Duration::from_millis(100)));
        tokio::time::advance(Duration::from_millis(90)).await;
        let restarted = Instant::now();
        if let Some(d) = &mut d {
            d.restart(restarted);
        }
        assert_eq!(
            within(&mut d, pin!(std::future::pending::<()>())).await,
            None
        );
        assert_eq!(restarted.elapsed(), Duration::from_millis(100));
    }
}
