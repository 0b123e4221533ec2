//! MQTT over WebSocket on the HTTP front (`ws_path`, subprotocol `mqtt`, binary frames).
//!
//! Each WebSocket is pumped through an in-memory pipe into an ordinary connection, so the
//! broker has one connection implementation for every transport.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::broker::Shared;
use crate::connection;
use crate::transport::Stream;

/// Capacity of the pipe between a WebSocket and its connection.
const PIPE: usize = 64 * 1024;

#[derive(Clone)]
struct WsState {
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
}

/// The router serving MQTT over WebSocket at the configured path.
pub fn router(shared: Arc<Shared>) -> Router {
    let path = shared.config.ws_path.clone();
    let limit = Arc::new(Semaphore::new(shared.config.max_connections));
    Router::new()
        .route(&path, get(upgrade))
        .with_state(WsState { shared, limit })
}

async fn upgrade(
    State(st): State<WsState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let Ok(permit) = st.limit.clone().try_acquire_owned() else {
        st.shared.proto.rejected("max_connections");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many MQTT connections\n",
        )
            .into_response();
    };
    let shared = st.shared.clone();
    let max = shared.config.max_packet_size as usize;
    ws.protocols(["mqtt"])
        .max_message_size(max.saturating_add(16))
        .max_frame_size(max.saturating_add(16))
        .on_upgrade(move |socket| {
            let tracker = shared.tracker.clone();
            let span = tracing::debug_span!(
                "mqtt_conn",
                listener = "ws",
                %peer,
                client_id = tracing::field::Empty
            );
            tracker.track_future(run(shared, socket, peer, permit).instrument(span))
        })
}

async fn run(
    shared: Arc<Shared>,
    socket: WebSocket,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let hello = Box::new(connection::Hello {
        shared,
        peer,
        cert_identity: None,
        label: "ws",
        permit: Some(permit),
    });
    let conn = connection::serve(Box::new(connection::Io::new(Stream(ours))), hello);
    let pump = pump(socket, theirs);
    tokio::join!(conn, pump);
}

/// Copies binary WebSocket messages into the pipe and the pipe's output into binary messages,
/// until either side ends.
async fn pump(socket: WebSocket, pipe: tokio::io::DuplexStream) {
    let (mut ws_tx, mut ws_rx) = socket.split();
    let (mut pipe_rx, mut pipe_tx) = tokio::io::split(pipe);
    let inbound = async {
        while let Some(Ok(msg)) = ws_rx.next().await {
            match msg {
                WsMessage::Binary(data) => {
                    if pipe_tx.write_all(&data).await.is_err() {
                        break;
                    }
                }
                // MQTT over WebSocket is binary only.
                WsMessage::Text(_) | WsMessage::Close(_) => break,
                WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            }
        }
        let _ = pipe_tx.shutdown().await;
    };
    let outbound = async {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        loop {
            buf.reserve(8 * 1024);
            match pipe_rx.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let data: Bytes = buf.split().freeze();
                    if ws_tx.send(WsMessage::Binary(data)).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = ws_tx.close().await;
    };
    // The connection closing its end ends `outbound`; the client closing ends `inbound`.
    tokio::select! {
        _ = inbound => {}
        _ = outbound => {}
    }
}
