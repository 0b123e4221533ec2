//! HTTP load on the front and the admin port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchboard_bench::net;

use crate::{Counters, e};

pub async fn http_load(ports: (SocketAddr, SocketAddr), stop: Arc<AtomicBool>, c: Arc<Counters>) {
    let (front, admin) = ports;
    while !stop.load(Ordering::Relaxed) {
        for (addr, path, want) in [
            (admin, "/healthz", 200),
            (admin, "/metrics", 200),
            (front, "/no-such-page", 404),
        ] {
            let r = async {
                let mut conn = net::HttpConn::connect(addr)
                    .await
                    .map_err(e("http connect"))?;
                let resp = conn
                    .round_trip(&net::http_get(addr, path))
                    .await
                    .map_err(e("http"))?;
                Ok::<_, String>(resp)
            }
            .await;
            match r {
                Ok(resp) if resp.status == want => {
                    c.http_ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(resp) => c.error(format!("GET {path}: status {}", resp.status)),
                Err(err) => c.error(format!("GET {path}: {err}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
