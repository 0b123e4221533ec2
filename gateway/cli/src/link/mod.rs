//! One connection to the gateway in whichever protocol the URL names: [`Link`] connects,
//! publishes (waiting for the acknowledgement the protocol has), subscribes (waiting for every
//! subscription to be in place), yields received messages and closes gracefully.
//!
//! - [`mqtt`]: rumqttc, MQTT 3.1.1 and 5 over TCP, TLS, WebSocket.
//! - [`eio`]: Engine.IO v4 over WebSocket (tokio-tungstenite) with the control protocol.
//! - [`ipc`]: electron-common-ipc 16 over TCP or a unix socket (the project's codec).

pub mod eio;
pub mod ipc;
pub mod mqtt;

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::args::Connect;
use crate::error::CliError;
use crate::message::{Outgoing, Received};
use crate::url::Protocol;

/// A byte stream: TCP, TLS over TCP, or a unix socket.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed [`Io`].
pub(crate) type BoxIo = Box<dyn Io>;

/// Runs `f` within `limit`, or fails with [`CliError::Timeout`] naming `what`.
pub(crate) async fn within<T>(
    limit: Duration,
    what: impl FnOnce() -> String,
    f: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(CliError::Timeout(format!(
            "{} (after {:.1} s)",
            what(),
            limit.as_secs_f64()
        ))),
    }
}

/// Opens a TCP connection to the endpoint, and TLS over it for TLS schemes.
pub(crate) async fn open_stream(c: &Connect) -> Result<BoxIo, CliError> {
    let e = &c.endpoint;
    let unreachable = |reason: String| CliError::Unreachable {
        target: e.to_string(),
        reason,
    };
    let tcp = TcpStream::connect(e.authority())
        .await
        .map_err(|err| unreachable(err.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = &c.tls else {
        return Ok(Box::new(tcp));
    };
    let name = rustls::pki_types::ServerName::try_from(e.host.clone())
        .map_err(|_| CliError::usage(format!("`{}` is not a valid TLS server name", e.host)))?;
    let tls = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .map_err(|err| unreachable(format!("TLS handshake failed: {err}")))?;
    Ok(Box::new(tls))
}

/// A connection in one of the three protocols.
#[derive(Debug)]
pub enum Link {
    /// MQTT 3.1.1 or 5 (boxed: rumqttc's state is large).
    Mqtt(Box<mqtt::MqttLink>),
    /// Engine.IO control protocol.
    Eio(eio::EioLink),
    /// IPC bus.
    Ipc(ipc::IpcLink),
}

impl Link {
    /// Connects (transport and protocol handshakes) within the connect timeout.
    pub async fn connect(c: &Connect) -> Result<Link, CliError> {
        let what = || format!("connecting to {}", c.endpoint);
        let link = within(
            c.connect_timeout,
            what,
            Box::pin(async {
                Ok(match c.endpoint.protocol() {
                    Protocol::Mqtt => Link::Mqtt(Box::new(mqtt::MqttLink::connect(c).await?)),
                    Protocol::EngineIo => Link::Eio(eio::EioLink::connect(c).await?),
                    Protocol::Ipc => Link::Ipc(ipc::IpcLink::connect(c).await?),
                })
            }),
        )
        .await
        .map_err(|e| match e {
            // A connect that never completes means the gateway is not reachable.
            CliError::Timeout(reason) => CliError::Unreachable {
                target: c.endpoint.to_string(),
                reason,
            },
            other => other,
        })?;
        c.debug(format_args!("connected to {}", c.endpoint));
        Ok(link)
    }

    /// Publishes one message and waits for what the protocol acknowledges: MQTT QoS 1/2 acks
    /// (QoS 0: written to the socket), the Engine.IO `ack`, nothing over IPC (see
    /// [`Link::close`]).
    pub async fn publish(&mut self, m: &Outgoing, limit: Duration) -> Result<(), CliError> {
        let what = || {
            format!(
                "waiting for the acknowledgement of a publish on `{}`",
                m.topic
            )
        };
        within(
            limit,
            what,
            Box::pin(async {
                match self {
                    Link::Mqtt(l) => l.publish(m).await,
                    Link::Eio(l) => l.publish(m).await,
                    Link::Ipc(l) => l.publish(m).await,
                }
            }),
        )
        .await
    }

    /// Sends the message as a request and waits for the first reply: an MQTT 5 publication
    /// with Response Topic `response_topic` and Correlation Data, an Engine.IO `req`, an IPC
    /// request. A rejection (IPC `reject`, Engine.IO `rejected`, an MQTT 5 reply with the user
    /// property `error`) is an error; no reply within `limit` is a timeout.
    pub async fn request(
        &mut self,
        m: &Outgoing,
        response_topic: &str,
        limit: Duration,
    ) -> Result<Received, CliError> {
        let what = || format!("waiting for the reply to a request on `{}`", m.topic);
        within(
            limit,
            what,
            Box::pin(async {
                match self {
                    Link::Mqtt(l) => l.request(m, response_topic).await,
                    Link::Eio(l) => l.request(m, limit).await,
                    Link::Ipc(l) => l.request(m).await,
                }
            }),
        )
        .await
    }

    /// Subscribes to every filter and waits until all are in place. Messages that arrive
    /// meanwhile are kept for [`Link::next`].
    pub async fn subscribe(
        &mut self,
        filters: &[String],
        qos: u8,
        limit: Duration,
    ) -> Result<(), CliError> {
        let what = || "waiting for the subscription to be acknowledged".to_owned();
        within(
            limit,
            what,
            Box::pin(async {
                match self {
                    Link::Mqtt(l) => l.subscribe(filters, qos).await,
                    Link::Eio(l) => l.subscribe(filters).await,
                    Link::Ipc(l) => l.subscribe(filters).await,
                }
            }),
        )
        .await
    }

    /// The next message; [`CliError::Lost`] when the connection ends.
    pub async fn next(&mut self) -> Result<Received, CliError> {
        match self {
            Link::Mqtt(l) => l.next().await,
            Link::Eio(l) => l.next().await,
            Link::Ipc(l) => l.next().await,
        }
    }

    /// Services the connection (keep-alive, pings) while the caller waits for something
    /// else, discarding messages; returns why the connection ended. Cancel-safe.
    pub async fn idle(&mut self) -> CliError {
        loop {
            if let Err(e) = self.next().await {
                return e;
            }
        }
    }

    /// Says goodbye the protocol's way once everything sent has been processed (IPC: a round
    /// trip through the broker first, so that no message is lost), then closes.
    pub async fn close(self, limit: Duration) -> Result<(), CliError> {
        let what = || "closing the connection".to_owned();
        within(
            limit,
            what,
            Box::pin(async move {
                match self {
                    Link::Mqtt(l) => Box::pin(l.close()).await,
                    Link::Eio(l) => l.close().await,
                    Link::Ipc(l) => l.close().await,
                }
            }),
        )
        .await
    }
}
