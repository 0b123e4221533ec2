//! Upgraded connections (WebSocket and any other `Upgrade`): after the upstream's 101 both
//! sides are spliced with a byte-level bidirectional copy, so frames, close codes and
//! continuation frames pass unchanged.

use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use prometheus::IntGauge;
use tokio::io::AsyncWriteExt as _;
use tokio_util::sync::CancellationToken;

use crate::balance::InFlight;

/// Once one direction has ended (its sender closed), the other direction gets this long to
/// finish before the tunnel is closed, so a peer that never closes its side cannot hold a
/// tunnel open forever (the `ws` package uses the same 30 s close timeout).
const HALF_CLOSE_GRACE: Duration = Duration::from_secs(30);

/// Everything a tunnel task owns.
#[derive(Debug)]
pub(crate) struct Tunnel {
    /// The client side, ready once the 101 was written to the client.
    pub client: OnUpgrade,
    /// The upstream side, ready once its 101 was read.
    pub upstream: OnUpgrade,
    /// Cancelled on [`crate::Proxy::shutdown`].
    pub cancel: CancellationToken,
    /// `switchboard_proxy_websockets_active{route}`.
    pub gauge: IntGauge,
    /// Keeps the target's connection count (least-connections) while open.
    pub in_flight: InFlight,
    /// Route label for logs.
    pub route: String,
    /// Target label for logs.
    pub target: String,
}

impl Tunnel {
    /// Runs the tunnel to completion (either side closing, an I/O error, or shutdown).
    pub async fn run(self) {
        let Self {
            client,
            upstream,
            cancel,
            gauge,
            in_flight,
            route,
            target,
        } = self;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(%route, %target, error = %e, "upgrade did not complete");
                return;
            }
        };
        gauge.inc();
        let _open = GaugeGuard(gauge);
        let _in_flight = in_flight;
        tokio::select! {
            outcome = splice(client, upstream) => match outcome {
                Splice::Closed { first, up, down } => tracing::debug!(
                    %route, %target, closed_first = first, bytes_up = up, bytes_down = down, "tunnel closed"
                ),
                Splice::Failed(error) => tracing::debug!(%route, %target, %error, "tunnel ended with an I/O error"),
                Splice::HalfOpen { first } => tracing::debug!(
                    %route, %target, closed_first = first, "peer left the tunnel half-open; closed"
                ),
            },
            () = cancel.cancelled() => tracing::debug!(%route, %target, "tunnel closed by shutdown"),
        }
    }
}

/// How a splice ended.
enum Splice {
    /// Both directions ended; `first` names the side that closed first.
    Closed {
        first: &'static str,
        up: u64,
        down: u64,
    },
    /// A read or write failed.
    Failed(String),
    /// One side closed and the other did not follow within [`HALF_CLOSE_GRACE`].
    HalfOpen { first: &'static str },
}

/// Copies bytes both ways until both directions end, propagating each end as a write shutdown.
async fn splice(client: hyper::upgrade::Upgraded, upstream: hyper::upgrade::Upgraded) -> Splice {
    let (mut client_rd, mut client_wr) = tokio::io::split(TokioIo::new(client));
    let (mut upstream_rd, mut upstream_wr) = tokio::io::split(TokioIo::new(upstream));
    let up = async {
        let res = tokio::io::copy(&mut client_rd, &mut upstream_wr).await;
        let _ = upstream_wr.shutdown().await;
        res
    };
    let down = async {
        let res = tokio::io::copy(&mut upstream_rd, &mut client_wr).await;
        let _ = client_wr.shutdown().await;
        res
    };
    tokio::pin!(up, down);
    let (first, both) = tokio::select! {
        res = &mut up => ("client", tokio::time::timeout(HALF_CLOSE_GRACE, &mut down).await.map(|d| (res, d))),
        res = &mut down => ("upstream", tokio::time::timeout(HALF_CLOSE_GRACE, &mut up).await.map(|u| (u, res))),
    };
    match both {
        Ok((Ok(up), Ok(down))) => Splice::Closed { first, up, down },
        Ok((up, down)) => Splice::Failed(
            up.err()
                .or(down.err())
                .map(|e| e.to_string())
                .unwrap_or_default(),
        ),
        Err(_) => Splice::HalfOpen { first },
    }
}

/// Decrements the active-tunnel gauge on every exit path.
struct GaugeGuard(IntGauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
