//! One shutdown path: signals, readiness, stop accepting, goodbyes, bounded drain.
//!
//! [`Lifecycle`] carries the token every accept loop and connection watches and the tracker every
//! connection task is spawned on. [`Readiness`] is what `/readyz` reports: false while starting,
//! true while serving, false again as soon as shutdown begins.

use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where the gateway is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Listeners are bound, services not yet running.
    Starting,
    /// Serving.
    Ready,
    /// Draining connections after a shutdown request.
    ShuttingDown,
}

impl Phase {
    /// Lowercase name, as `/readyz` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::ShuttingDown => "shutting down",
        }
    }
}

/// The readiness state shared with `/readyz`.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<RwLock<(Phase, Vec<String>)>>,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Readiness").field(&self.phase()).finish()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            inner: Arc::new(RwLock::new((Phase::Starting, Vec::new()))),
        }
    }
}

impl Readiness {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.inner.read().0
    }

    /// Moves to `phase`.
    pub fn set(&self, phase: Phase) {
        self.inner.write().0 = phase;
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Ready
    }

    /// Degradations reported in the `/readyz` body while still ready (e.g. the cluster link down).
    pub fn degraded(&self) -> Vec<String> {
        self.inner.read().1.clone()
    }

    /// Sets or clears a named degradation.
    pub fn set_degraded(&self, what: &str, degraded: bool) {
        let mut g = self.inner.write();
        g.1.retain(|d| d != what);
        if degraded {
            g.1.push(what.to_owned());
        }
    }
}

/// What every service gets to take part in shutdown.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Cancelled when shutdown begins: accept loops stop, connections say goodbye and close.
    pub stop: CancellationToken,
    /// Every connection task is spawned on (or tracked by) this tracker; shutdown waits for it to
    /// drain within the grace period.
    pub tracker: TaskTracker,
}

impl Lifecycle {
    /// A fresh lifecycle.
    pub fn new() -> Self {
        Lifecycle {
            stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
///
/// The signal handlers are installed when this function is called, not when the future is first
/// polled, so a signal arriving while the gateway starts is not lost. Call it inside the runtime.
pub fn signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            let (mut term, mut int) = match (term, int) {
                (Ok(t), Ok(i)) => (t, i),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT");
                    return std::future::pending().await;
                }
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received");
        } else {
            std::future::pending::<()>().await;
        }
    }
}
