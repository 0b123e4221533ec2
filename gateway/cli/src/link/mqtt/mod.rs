//! MQTT through rumqttc: [`MqttLink`] over its 3.1.1 ([`v4`]) and 5.0 ([`v5`]) clients.
//!
//! rumqttc's event loop is driven inline (no background task): each operation polls it until
//! the packet that completes the operation arrives, keeping publications that arrive meanwhile
//! for [`MqttLink::next`].

pub mod v4;
pub mod v5;

use rumqttc::{TlsConfiguration, Transport};

use crate::args::{Connect, MqttVersion};
use crate::error::CliError;
use crate::message::{Outgoing, Received};
use crate::url::Scheme;

/// The largest packet accepted and sent: MQTT's limit (256 MB).
const MAX_PACKET: usize = 268_435_455;
/// rumqttc's request channel (operations are awaited one at a time).
const REQUEST_CAPACITY: usize = 16;

/// An MQTT connection.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "both variants are large; Link boxes the whole enum"
)]
pub enum MqttLink {
    /// MQTT 3.1.1.
    V4(v4::Link),
    /// MQTT 5.0.
    V5(v5::Link),
}

impl MqttLink {
    /// Connects and waits for a successful CONNACK.
    pub async fn connect(c: &Connect) -> Result<MqttLink, CliError> {
        Ok(match c.mqtt_version {
            MqttVersion::V311 => MqttLink::V4(v4::Link::connect(c).await?),
            MqttVersion::V5 => MqttLink::V5(v5::Link::connect(c).await?),
        })
    }

    /// Publishes and waits for the QoS's acknowledgement.
    pub async fn publish(&mut self, m: &Outgoing) -> Result<(), CliError> {
        match self {
            MqttLink::V4(l) => l.publish(m).await,
            MqttLink::V5(l) => l.publish(m).await,
        }
    }

    /// Sends a request and waits for the response (MQTT 5 only).
    pub async fn request(
        &mut self,
        m: &Outgoing,
        response_topic: &str,
    ) -> Result<Received, CliError> {
        match self {
            MqttLink::V4(_) => Err(CliError::usage(
                "requests need MQTT 5 (response topic and correlation data)",
            )),
            MqttLink::V5(l) => l.request(m, response_topic).await,
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(&mut self, filters: &[String], qos: u8) -> Result<(), CliError> {
        match self {
            MqttLink::V4(l) => l.subscribe(filters, qos).await,
            MqttLink::V5(l) => l.subscribe(filters, qos).await,
        }
    }

    /// The next publication.
    pub async fn next(&mut self) -> Result<Received, CliError> {
        match self {
            MqttLink::V4(l) => l.next().await,
            MqttLink::V5(l) => l.next().await,
        }
    }

    /// Sends DISCONNECT.
    pub async fn close(self) -> Result<(), CliError> {
        match self {
            MqttLink::V4(l) => l.close().await,
            MqttLink::V5(l) => l.close().await,
        }
    }
}

/// rumqttc's broker address and transport for the endpoint (WebSocket transports take the
/// whole URL as the address).
fn transport(c: &Connect) -> Result<(String, Transport), CliError> {
    let e = &c.endpoint;
    let tls = || {
        c.tls
            .clone()
            .map(TlsConfiguration::Rustls)
            .ok_or_else(|| CliError::Tls("no TLS configuration for a TLS URL".into()))
    };
    Ok(match e.scheme {
        Scheme::Mqtts => (e.host.clone(), Transport::Tls(tls()?)),
        Scheme::Ws => (e.websocket_url(), Transport::Ws),
        Scheme::Wss => (e.websocket_url(), Transport::Wss(tls()?)),
        _ => (e.host.clone(), Transport::Tcp),
    })
}

/// The WebSocket request modifier adding `--extra-headers`.
#[allow(clippy::type_complexity)]
fn header_modifier(
    c: &Connect,
) -> Option<
    impl Fn(http::Request<()>) -> std::future::Ready<http::Request<()>> + Send + Sync + 'static,
> {
    if c.extra_headers.is_empty() {
        return None;
    }
    let headers = c.extra_headers.clone();
    Some(move |mut request: http::Request<()>| {
        for (name, value) in &headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        std::future::ready(request)
    })
}

/// The connect timeout in whole seconds, for rumqttc's network options.
fn timeout_secs(c: &Connect) -> u64 {
    c.connect_timeout.as_secs_f64().ceil().max(1.0) as u64
}

/// Maps a transport-level rumqttc failure (`established`: after CONNACK).
fn network_error(c: &Connect, established: bool, reason: String) -> CliError {
    if established {
        CliError::Lost(reason)
    } else {
        CliError::Unreachable {
            target: c.endpoint.to_string(),
            reason,
        }
    }
}

/// The user name and password, as rumqttc takes them.
fn credentials(c: &Connect) -> Option<(String, String)> {
    c.endpoint
        .username
        .as_ref()
        .map(|u| (u.clone(), c.endpoint.password.clone().unwrap_or_default()))
}
