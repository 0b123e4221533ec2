//! `switchboard sub`: connect, subscribe, print each message, and when the connection drops
//! after it was established, reconnect with exponential backoff and subscribe again (as
//! aMQTT's client does), until `-n` messages, `-W` seconds, `-E`, or the stop signal.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use tokio::time::Instant;

use crate::args::SubSettings;
use crate::error::CliError;
use crate::format::Printer;
use crate::link::Link;

/// The first reconnection delay; it doubles up to `--reconnect-max-delay`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// How `sub` ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubEnd {
    /// `-n` messages were printed.
    Count,
    /// `-E`: every subscription was acknowledged.
    Subscribed,
    /// The stop signal (SIGINT) arrived.
    Stopped,
    /// The output was closed (e.g. `| head -1`).
    OutputClosed,
}

/// What `sub` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubSummary {
    /// Why it ended.
    pub end: SubEnd,
    /// Messages printed.
    pub printed: u64,
    /// Successful reconnections.
    pub reconnections: u64,
}

/// Runs `f` until `deadline`, failing with the `-W` timeout after it.
async fn until<T>(
    deadline: Option<Instant>,
    limit: Option<Duration>,
    f: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    match deadline {
        None => f.await,
        Some(d) => match tokio::time::timeout_at(d, f).await {
            Ok(r) => r,
            Err(_) => Err(CliError::Timeout(format!(
                "no end within -W {} s",
                limit.unwrap_or_default().as_secs_f64()
            ))),
        },
    }
}

/// Connects and subscribes.
async fn open(s: &SubSettings) -> Result<Link, CliError> {
    let mut link = Link::connect(&s.connect).await?;
    link.subscribe(&s.filters, s.qos, s.connect.connect_timeout)
        .await?;
    Ok(link)
}

/// Reconnects after `cause` with backoff; fails when the error is not transient or the
/// retries are exhausted.
async fn reconnect(s: &SubSettings, cause: CliError) -> Result<Link, CliError> {
    let mut delay = FIRST_BACKOFF;
    let mut failed: u32 = 0;
    let mut last = cause;
    loop {
        if !last.is_transient() {
            return Err(last);
        }
        if s.reconnect_retries.is_some_and(|max| failed >= max) {
            return Err(last);
        }
        s.connect.warn(format_args!(
            "{last}; reconnecting in {} ms",
            delay.as_millis()
        ));
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(s.reconnect_max_delay);
        match open(s).await {
            Ok(link) => {
                s.connect.warn("reconnected and subscribed again");
                return Ok(link);
            }
            Err(e) => {
                failed = failed.saturating_add(1);
                last = e;
            }
        }
    }
}

/// Writes one message's output; `Ok(false)` when the output is closed.
fn print(out: &mut (dyn Write + Send), bytes: &[u8]) -> Result<bool, CliError> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::Output(e)),
    }
}

/// Runs `switchboard sub`, printing to `out`, until done or `stop` completes.
pub async fn subscribe(
    s: &SubSettings,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
) -> Result<SubSummary, CliError> {
    subscribe_with(s, out, stop, None).await
}

/// [`subscribe`], also counting in `subscribed` each time every subscription is in place (the
/// first connection, then each reconnection): a way for an embedding program or a test to know
/// when messages will be seen.
pub async fn subscribe_with(
    s: &SubSettings,
    out: &mut (dyn Write + Send),
    stop: impl Future<Output = ()>,
    subscribed: Option<&tokio::sync::watch::Sender<u64>>,
) -> Result<SubSummary, CliError> {
    let notify = || {
        if let Some(w) = subscribed {
            w.send_modify(|n| *n += 1);
        }
    };
    let printer = Printer::new(&s.output, !s.no_eol).map_err(CliError::Usage)?;
    let deadline = s.timeout.map(|t| Instant::now() + t);
    let mut summary = SubSummary {
        end: SubEnd::Stopped,
        printed: 0,
        reconnections: 0,
    };
    tokio::pin!(stop);
    let mut link = tokio::select! {
        r = until(deadline, s.timeout, open(s)) => r?,
        () = &mut stop => return Ok(summary),
    };
    notify();
    if s.exit_after_subscribe {
        summary.end = SubEnd::Subscribed;
        let _ = link.close(s.connect.connect_timeout).await;
        return Ok(summary);
    }
    let mut buf = Vec::new();
    loop {
        let next = tokio::select! {
            r = until(deadline, s.timeout, link.next()) => r,
            () = &mut stop => {
                let _ = link.close(s.connect.connect_timeout).await;
                return Ok(summary);
            }
        };
        let m = match next {
            Ok(m) => m,
            Err(e @ CliError::Timeout(_)) if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = link.close(s.connect.connect_timeout).await;
                return Err(e);
            }
            Err(e) => {
                if s.reconnect_retries == Some(0) {
                    return Err(e);
                }
                link = tokio::select! {
                    r = until(deadline, s.timeout, reconnect(s, e)) => r?,
                    () = &mut stop => return Ok(summary),
                };
                summary.reconnections += 1;
                notify();
                continue;
            }
        };
        if s.no_retained && m.retain {
            continue;
        }
        buf.clear();
        printer.render(&m, &mut buf);
        if !print(out, &buf)? {
            summary.end = SubEnd::OutputClosed;
            let _ = link.close(s.connect.connect_timeout).await;
            return Ok(summary);
        }
        summary.printed += 1;
        if s.count.is_some_and(|n| summary.printed >= n) {
            summary.end = SubEnd::Count;
            let _ = link.close(s.connect.connect_timeout).await;
            return Ok(summary);
        }
    }
}
