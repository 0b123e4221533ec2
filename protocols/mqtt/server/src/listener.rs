//! Accept loops for the TCP and TLS listeners. The loop only accepts: the TLS handshake and
//! CONNECT run in the connection's own task, under `connect_timeout_ms`.
//!
//! Over `max_connections`, a new client gets a short-lived task (at most [`MAX_REFUSING`] at
//! once) that reads its CONNECT and answers "server unavailable" (MQTT 5: 0x97 Quota exceeded)
//! before closing, so it learns why.

use std::sync::Arc;
use std::time::Duration;

use switchboard_mqtt_proto::{ConnAck, Decoder, Packet, ProtocolVersion, ReasonCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::broker::Shared;
use crate::cert;
use crate::connection::{self, Hello, Io};
use crate::transport::Stream;

/// Most connections being refused at once; more are closed without an answer.
pub const MAX_REFUSING: usize = 64;

/// TLS settings of a listener.
#[derive(Clone)]
pub struct TlsSetup {
    /// The acceptor (certificate, optional client-certificate verification).
    pub acceptor: TlsAcceptor,
    /// Use the client certificate's common name as the user name.
    pub use_identity_as_username: bool,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("use_identity_as_username", &self.use_identity_as_username)
            .finish_non_exhaustive()
    }
}

/// Accepts on `listener` until the broker stops; each connection runs in its own tracked task.
pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tls: Option<TlsSetup>) {
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let name = if tls.is_some() { "mqtts" } else { "mqtt" };
    loop {
        let accepted = tokio::select! {
            _ = shared.stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            shared.proto.rejected("max_connections");
            if let Ok(p) = refusing.clone().try_acquire_owned() {
                let shared2 = shared.clone();
                shared.tracker.spawn(async move {
                    let _p = p;
                    refuse_busy(&shared2, stream).await;
                });
            }
            continue;
        };
        let span = tracing::debug_span!(
            "mqtt_conn",
            listener = name,
            %peer,
            client_id = tracing::field::Empty
        );
        let hello = Box::new(Hello {
            shared: shared.clone(),
            peer,
            cert_identity: None,
            label: "tcp",
            permit: Some(permit),
        });
        // A plain connection's task is the connection future itself (nothing else to carry);
        // a TLS stream is large and has its own handshake first.
        match &tls {
            None => shared
                .tracker
                .spawn(connection::serve(Box::new(Io::new(stream)), hello).instrument(span)),
            Some(t) => shared
                .tracker
                .spawn(serve_tls(stream, hello, t.clone()).instrument(span)),
        };
    }
    tracing::debug!(listener = name, "accept loop stopped");
}

async fn serve_tls(stream: TcpStream, mut hello: Box<Hello>, tls: TlsSetup) {
    let shared = &hello.shared;
    let limit = Duration::from_millis(shared.config.connect_timeout_ms);
    let accepted = tokio::select! {
        _ = shared.stop.cancelled() => return,
        r = tokio::time::timeout(limit, tls.acceptor.accept(stream)) => r,
    };
    let stream = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.proto.rejected("tls_handshake");
            tracing::debug!(error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            shared.proto.rejected("tls_handshake_timeout");
            return;
        }
    };
    let identity = if tls.use_identity_as_username {
        let cn = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| cert::common_name(c.as_ref()));
        if cn.is_none() {
            shared.proto.rejected("no_certificate_identity");
            shared.proto.auth_failure("certificate");
            return;
        }
        cn
    } else {
        None
    };
    hello.cert_identity = identity;
    hello.label = "tls";
    Box::pin(connection::serve(Box::new(Io::new(Stream(stream))), hello)).await;
}

/// Reads a CONNECT (briefly) and answers that the server is full.
async fn refuse_busy(shared: &Shared, stream: TcpStream) {
    let mut io = Io::new(stream);
    let mut decoder = Decoder::new(shared.config.max_packet_size.min(64 * 1024));
    let read = async {
        loop {
            match decoder.decode(&mut io.rbuf) {
                Ok(Some(Packet::Connect(c))) => return Some(c.protocol),
                Ok(None) => {}
                _ => return None,
            }
            let mut buf = std::mem::take(&mut io.rbuf);
            let n = std::future::poll_fn(|cx| {
                crate::transport::Transport::poll_read_into(&mut io.transport, cx, &mut buf)
            })
            .await;
            io.rbuf = buf;
            match n {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    };
    let version = tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .ok()
        .flatten();
    if let Some(v) = version {
        let code = if v == ProtocolVersion::V5 {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::ServerUnavailable
        };
        let _ = ConnAck::new(false, code).encode(v, &mut io.wbuf);
        io.finish(Duration::from_secs(1)).await;
    }
}
