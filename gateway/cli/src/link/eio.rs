//! Engine.IO v4 over WebSocket with the gateway's JSON control protocol (see the README's
//! "Engine.IO control protocol"): the `open` handshake, ping → pong, `sub`/`pub` ops with ids
//! answered by `ack`/`err`, `msg` frames and binary `[u16 BE topic length][topic][payload]`
//! frames. Engine.IO packets are decoded with the project's codec.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use switchboard_engineio_proto::{
    MessageData, OpenPacket, Packet, ProtocolVersion, Str, decode_binary_frame,
};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{BoxIo, open_stream};
use crate::args::Connect;
use crate::error::CliError;
use crate::message::{Kind, Outgoing, Received};
use crate::url::Protocol;

/// The largest WebSocket message accepted.
const MAX_MESSAGE: usize = 256 << 20;
/// The most messages kept while waiting for an answer.
const MAX_BUFFERED: usize = 65_536;

/// A frame the gateway sends (the fields of every op; absent ones are `None`).
#[derive(Debug, Deserialize)]
struct ServerFrame {
    op: String,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    b64: Option<String>,
    #[serde(default)]
    retain: bool,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ServerFrame {
    /// The payload of a `msg`/`req`/`res`: `data` (JSON), `text` or `b64`.
    fn payload(&self) -> Result<(Bytes, Kind), CliError> {
        if let Some(d) = &self.data {
            return Ok((Bytes::from(d.to_string()), Kind::Json));
        }
        if let Some(t) = &self.text {
            return Ok((Bytes::from(t.clone()), Kind::Text));
        }
        if let Some(b) = &self.b64 {
            return STANDARD
                .decode(b)
                .map(|v| (Bytes::from(v), Kind::Binary))
                .map_err(|_| CliError::Protocol("the gateway sent invalid base64".into()));
        }
        Ok((Bytes::from_static(b"null"), Kind::Json))
    }
}

/// The messages of engine.io's error codes 0, 1, 2, 3 and 5 (code 4, `Forbidden`, and custom
/// refusal messages mean the request was refused).
const ENGINE_IO_ERRORS: [&str; 5] = [
    "Transport unknown",
    "Session ID unknown",
    "Bad handshake method",
    "Bad request",
    "Unsupported protocol version",
];

/// What an `err` frame means for the command.
fn op_error(action: &'static str, topic: &str, frame: &ServerFrame, target: &str) -> CliError {
    let code = frame.code.as_deref().unwrap_or("unknown");
    let message = frame.message.clone().unwrap_or_default();
    let reason = format!("{code}: {message}");
    match code {
        "forbidden" => CliError::Denied {
            action,
            topic: topic.to_owned(),
            reason,
        },
        "unauthorized" => CliError::Refused {
            target: target.to_owned(),
            reason,
        },
        "invalid_topic" => CliError::Usage(format!("`{topic}`: {reason}")),
        "timeout" => CliError::Timeout(reason),
        "no_responders" => CliError::Protocol(format!("nobody answers requests on `{topic}`")),
        "closed" => CliError::Lost(reason),
        _ => CliError::Protocol(format!("{action} on `{topic}` failed: {reason}")),
    }
}

/// An Engine.IO session in control mode.
pub struct EioLink {
    connect: Connect,
    ws: WebSocketStream<BoxIo>,
    next_id: u64,
    buffered: VecDeque<Received>,
    /// Ping interval + ping timeout: silence longer than this means the gateway is gone.
    idle: Duration,
}

impl std::fmt::Debug for EioLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EioLink")
            .field("endpoint", &self.connect.endpoint)
            .finish_non_exhaustive()
    }
}

fn handshake_error(c: &Connect, e: WsError) -> CliError {
    let target = c.endpoint.to_string();
    match e {
        WsError::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .unwrap_or_default();
            let reason = format!("HTTP {status} {body}").trim_end().to_owned();
            // engine.io answers a refused WebSocket upgrade with 400 and the refusal's message
            // (`Forbidden`, or the gateway's reason); its other 400s name a protocol error.
            let protocol_error = ENGINE_IO_ERRORS.contains(&body.as_str());
            if status == http::StatusCode::UNAUTHORIZED
                || status == http::StatusCode::FORBIDDEN
                || (status == http::StatusCode::BAD_REQUEST && !protocol_error)
            {
                CliError::Refused { target, reason }
            } else {
                CliError::Unreachable {
                    target,
                    reason: format!("the WebSocket handshake failed: {reason}"),
                }
            }
        }
        other => CliError::Unreachable {
            target,
            reason: format!("the WebSocket handshake failed: {other}"),
        },
    }
}

impl EioLink {
    /// Opens the WebSocket (`?EIO=4&transport=websocket`) and reads the `open` packet.
    pub async fn connect(c: &Connect) -> Result<EioLink, CliError> {
        let stream = open_stream(c).await?;
        let url = format!("{}?EIO=4&transport=websocket", c.endpoint.websocket_url());
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| CliError::usage(format!("{url}: {e}")))?;
        if let Some(user) = &c.endpoint.username {
            let token = STANDARD.encode(format!(
                "{user}:{}",
                c.endpoint.password.as_deref().unwrap_or("")
            ));
            let value = http::HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|_| CliError::usage("the user name or password cannot go in a header"))?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
        }
        for (name, value) in &c.extra_headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| handshake_error(c, e))?;
        let mut link = EioLink {
            connect: c.clone(),
            ws,
            next_id: 1,
            buffered: VecDeque::new(),
            idle: Duration::from_secs(60),
        };
        match link.read_packet().await? {
            Packet::Open(json) => {
                let open = OpenPacket::<String>::from_json(json.as_bytes())
                    .map_err(|e| CliError::Protocol(format!("invalid Engine.IO handshake: {e}")))?;
                link.idle =
                    Duration::from_millis(open.ping_interval.saturating_add(open.ping_timeout))
                        + Duration::from_secs(1);
                c.debug(format_args!("Engine.IO session {}", open.sid));
            }
            other => {
                return Err(CliError::Protocol(format!(
                    "expected the Engine.IO open packet, got {other:?}"
                )));
            }
        }
        Ok(link)
    }

    fn lost(e: impl std::fmt::Display) -> CliError {
        CliError::Lost(e.to_string())
    }

    async fn send_text(&mut self, text: String) -> Result<(), CliError> {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .map_err(Self::lost)
    }

    /// The next Engine.IO packet, answering pings on the way.
    async fn read_packet(&mut self) -> Result<Packet, CliError> {
        loop {
            let next = tokio::time::timeout(self.idle, self.ws.next())
                .await
                .map_err(|_| {
                    CliError::Lost(format!(
                        "no ping from the gateway in {} s",
                        self.idle.as_secs()
                    ))
                })?;
            let message = match next {
                None => return Err(CliError::Lost("the gateway closed the WebSocket".into())),
                Some(Err(e)) => return Err(Self::lost(e)),
                Some(Ok(m)) => m,
            };
            let packet = match message {
                Message::Text(t) => {
                    Packet::decode_str(ProtocolVersion::V4, Str::from(t.as_str().to_owned()))
                        .map_err(|e| CliError::Protocol(format!("invalid Engine.IO packet: {e}")))?
                }
                Message::Binary(b) => decode_binary_frame(ProtocolVersion::V4, b)
                    .map_err(|e| CliError::Protocol(format!("invalid Engine.IO packet: {e}")))?,
                Message::Close(_) => {
                    return Err(CliError::Lost("the gateway closed the WebSocket".into()));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            match packet {
                Packet::Ping(data) => {
                    let mut out = String::from("3");
                    out.push_str(data.as_str());
                    self.send_text(out).await?;
                }
                Packet::Close => {
                    return Err(CliError::Lost("the gateway closed the session".into()));
                }
                Packet::Pong(_) | Packet::Noop | Packet::Upgrade => {}
                other => return Ok(other),
            }
        }
    }

    /// The next control-protocol frame; binary messages and `msg`/`req` frames are turned
    /// into [`Received`] and returned as `Err(message)`.
    async fn read_frame(&mut self) -> Result<Result<ServerFrame, Received>, CliError> {
        loop {
            match self.read_packet().await? {
                Packet::Message(MessageData::Binary(b)) => {
                    let Some(m) = binary_message(b) else {
                        self.connect.warn("skipped a malformed binary frame");
                        continue;
                    };
                    return Ok(Err(m));
                }
                Packet::Message(MessageData::Text(t)) => {
                    let frame: ServerFrame = serde_json::from_str(t.as_str()).map_err(|e| {
                        CliError::Protocol(format!(
                            "the gateway sent a frame that is not JSON: {e}"
                        ))
                    })?;
                    if frame.op == "msg" || frame.op == "req" {
                        let (payload, kind) = frame.payload()?;
                        let mut m = Received::new(
                            Protocol::EngineIo,
                            frame.topic.clone().unwrap_or_default(),
                            payload,
                        );
                        m.kind = Some(kind);
                        m.retain = frame.retain;
                        return Ok(Err(m));
                    }
                    return Ok(Ok(frame));
                }
                other => {
                    return Err(CliError::Protocol(format!(
                        "unexpected Engine.IO packet {other:?}"
                    )));
                }
            }
        }
    }

    /// Sends an op with a fresh id and waits for its `ack` (or `err`), keeping messages.
    async fn op(
        &mut self,
        mut frame: serde_json::Map<String, Value>,
    ) -> Result<ServerFrame, CliError> {
        let id = self.next_id;
        self.next_id += 1;
        frame.insert("id".into(), Value::from(id));
        let mut text = String::from("4");
        text.push_str(&Value::Object(frame).to_string());
        self.send_text(text).await?;
        loop {
            match self.read_frame().await? {
                Err(m) => {
                    if self.buffered.len() < MAX_BUFFERED {
                        self.buffered.push_back(m);
                    }
                }
                Ok(f) if f.id.as_ref().and_then(Value::as_u64) == Some(id) => return Ok(f),
                Ok(_) => {}
            }
        }
    }

    /// Sends a `req` op and waits for its `res` (or `err`).
    pub async fn request(&mut self, m: &Outgoing, timeout: Duration) -> Result<Received, CliError> {
        let mut frame = Self::frame("req", m)?;
        frame.remove("retain");
        frame.remove("qos");
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        frame.insert("timeout_ms".into(), ms.into());
        let answer = self.op(frame).await?;
        match answer.op.as_str() {
            "res" => {
                let (payload, kind) = answer.payload()?;
                let mut reply = Received::new(Protocol::EngineIo, m.topic.clone(), payload);
                reply.kind = Some(kind);
                Ok(reply)
            }
            "err" => Err(op_error(
                "request",
                &m.topic,
                &answer,
                &self.connect.endpoint.to_string(),
            )),
            other => Err(CliError::Protocol(format!(
                "expected res or err, got `{other}`"
            ))),
        }
    }

    /// The `op` frame carrying a message: topic, payload, retain, QoS.
    fn frame(op: &str, m: &Outgoing) -> Result<serde_json::Map<String, Value>, CliError> {
        let mut frame = serde_json::Map::new();
        frame.insert("op".into(), op.into());
        frame.insert("topic".into(), m.topic.clone().into());
        match m.kind {
            Kind::Json => {
                let doc: Value = serde_json::from_slice(&m.payload)
                    .map_err(|e| CliError::usage(format!("the payload is not JSON: {e}")))?;
                frame.insert("data".into(), doc);
            }
            Kind::Text => match std::str::from_utf8(&m.payload) {
                Ok(t) => {
                    frame.insert("text".into(), t.into());
                }
                Err(_) => {
                    frame.insert("b64".into(), STANDARD.encode(&m.payload).into());
                }
            },
            Kind::Binary => {
                frame.insert("b64".into(), STANDARD.encode(&m.payload).into());
            }
        }
        frame.insert("retain".into(), m.retain.into());
        frame.insert("qos".into(), m.qos.into());
        Ok(frame)
    }

    /// Publishes with a `pub` op and waits for its `ack`.
    pub async fn publish(&mut self, m: &Outgoing) -> Result<(), CliError> {
        let frame = Self::frame("pub", m)?;
        let answer = self.op(frame).await?;
        match answer.op.as_str() {
            "ack" => Ok(()),
            "err" => Err(op_error(
                "publish",
                &m.topic,
                &answer,
                &self.connect.endpoint.to_string(),
            )),
            other => Err(CliError::Protocol(format!(
                "expected ack or err, got `{other}`"
            ))),
        }
    }

    /// Subscribes to each filter with a `sub` op and waits for every `ack`.
    pub async fn subscribe(&mut self, filters: &[String]) -> Result<(), CliError> {
        for f in filters {
            let mut frame = serde_json::Map::new();
            frame.insert("op".into(), "sub".into());
            frame.insert("topic".into(), f.clone().into());
            let answer = self.op(frame).await?;
            match answer.op.as_str() {
                "ack" => self.connect.debug(format_args!("subscribed to {f}")),
                "err" => {
                    return Err(op_error(
                        "subscribe",
                        f,
                        &answer,
                        &self.connect.endpoint.to_string(),
                    ));
                }
                other => {
                    return Err(CliError::Protocol(format!(
                        "expected ack or err, got `{other}`"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The next message on a subscribed topic.
    pub async fn next(&mut self) -> Result<Received, CliError> {
        if let Some(m) = self.buffered.pop_front() {
            return Ok(m);
        }
        loop {
            if let Err(m) = self.read_frame().await? {
                return Ok(m);
            }
        }
    }

    /// Sends the Engine.IO `close` packet and closes the WebSocket.
    pub async fn close(mut self) -> Result<(), CliError> {
        let _ = self.send_text("1".to_owned()).await;
        let _ = self.ws.close(None).await;
        Ok(())
    }
}

/// A binary message: `[u16 big-endian topic length][topic UTF-8][payload]`.
fn binary_message(b: Bytes) -> Option<Received> {
    if b.len() < 2 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let topic = std::str::from_utf8(b.get(2..2 + len)?).ok()?.to_owned();
    let mut m = Received::new(Protocol::EngineIo, topic, b.slice(2 + len..));
    m.kind = Some(Kind::Binary);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_frames() {
        let m = binary_message(Bytes::from_static(b"\x00\x03a/b\x01\x02")).unwrap();
        assert_eq!(m.topic, "a/b");
        assert_eq!(&m.payload[..], b"\x01\x02");
        assert_eq!(m.kind, Some(Kind::Binary));
        assert!(binary_message(Bytes::from_static(b"\x00")).is_none());
        assert!(binary_message(Bytes::from_static(b"\x00\x09ab")).is_none());
        assert!(binary_message(Bytes::from_static(b"\x00\x01\xff")).is_none());
    }

    #[test]
    fn frame_payloads() {
        let f: ServerFrame =
            serde_json::from_str(r#"{"op":"msg","topic":"t","data":{"a":[1,2]},"retain":true}"#)
                .unwrap();
        assert_eq!(
            f.payload().unwrap(),
            (Bytes::from(r#"{"a":[1,2]}"#), Kind::Json)
        );
        assert!(f.retain);
        let f: ServerFrame =
            serde_json::from_str(r#"{"op":"msg","topic":"t","text":"hi"}"#).unwrap();
        assert_eq!(f.payload().unwrap(), (Bytes::from("hi"), Kind::Text));
        let f: ServerFrame =
            serde_json::from_str(r#"{"op":"msg","topic":"t","b64":"AQI="}"#).unwrap();
        assert_eq!(
            f.payload().unwrap(),
            (Bytes::from_static(&[1, 2]), Kind::Binary)
        );
        let f: ServerFrame = serde_json::from_str(r#"{"op":"msg","topic":"t","b64":"!"}"#).unwrap();
        assert!(f.payload().is_err());
    }

    #[test]
    fn err_codes_map_to_exit_codes() {
        let f = |code: &str| ServerFrame {
            op: "err".into(),
            id: None,
            topic: None,
            data: None,
            text: None,
            b64: None,
            retain: false,
            code: Some(code.into()),
            message: Some("m".into()),
        };
        let code = |c: &str| op_error("subscribe", "t", &f(c), "eio://h").exit_code();
        assert_eq!(code("forbidden"), crate::error::EXIT_DENIED);
        assert_eq!(code("unauthorized"), crate::error::EXIT_REFUSED);
        assert_eq!(code("invalid_topic"), crate::error::EXIT_USAGE);
        assert_eq!(code("timeout"), crate::error::EXIT_TIMEOUT);
        assert_eq!(code("overloaded"), crate::error::EXIT_FAILURE);
    }
}
