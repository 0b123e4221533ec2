//! Upgraded connections (WebSocket and any other `Upgrade`): after the upstream's 101 both
//! sides are spliced with a byte-level bidirectional copy, so frames, close codes and
//! continuation frames pass unchanged.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use prometheus::IntGauge;
use tokio_util::sync::CancellationToken;

use crate::balance::InFlight;

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
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        tokio::select! {
            res = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match res {
                Ok((up, down)) => tracing::debug!(%route, %target, bytes_up = up, bytes_down = down, "tunnel closed"),
                Err(e) => tracing::debug!(%route, %target, error = %e, "tunnel ended with an I/O error"),
            },
            () = cancel.cancelled() => tracing::debug!(%route, %target, "tunnel closed by shutdown"),
        }
    }
}

/// Decrements the active-tunnel gauge on every exit path.
struct GaugeGuard(IntGauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
