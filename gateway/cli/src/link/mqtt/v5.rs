//! MQTT 5.0 through `rumqttc`'s v5 client: reason codes on acknowledgements, user
//! properties, content type and payload format.

use std::collections::VecDeque;

use bytes::Bytes;

use rumqttc::Outgoing as Out;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, Filter, LastWill, Packet, PubAckReason, PubRecReason, Publish,
    PublishProperties, SubscribeReasonCode,
};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, StateError};

use super::{
    MAX_PACKET, REQUEST_CAPACITY, credentials, header_modifier, network_error, timeout_secs,
    transport,
};
use crate::args::{Connect, is_json_type};
use crate::error::CliError;
use crate::message::{Kind, Outgoing, Received};
use crate::url::Protocol;

/// The most publications kept while waiting for an acknowledgement.
const MAX_BUFFERED: usize = 65_536;

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// An MQTT 5 connection.
pub struct Link {
    connect: Connect,
    client: AsyncClient,
    events: EventLoop,
    buffered: VecDeque<Received>,
    /// Why the connection ended, held back until the messages read before it are consumed.
    ended: Option<CliError>,
    /// The response topic subscribed to for requests.
    reply_topic: Option<String>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("endpoint", &self.connect.endpoint)
            .field("buffered", &self.buffered.len())
            .finish_non_exhaustive()
    }
}

fn refused(c: &Connect, code: ConnectReturnCode) -> CliError {
    let target = c.endpoint.to_string();
    match code {
        ConnectReturnCode::BadUserNamePassword => CliError::Refused {
            target,
            reason: "bad user name or password (CONNACK 0x86)".into(),
        },
        ConnectReturnCode::NotAuthorized => CliError::Refused {
            target,
            reason: "not authorized (CONNACK 0x87)".into(),
        },
        ConnectReturnCode::Banned => CliError::Refused {
            target,
            reason: "banned (CONNACK 0x8A)".into(),
        },
        ConnectReturnCode::BadAuthenticationMethod => CliError::Refused {
            target,
            reason: "bad authentication method (CONNACK 0x8C)".into(),
        },
        ConnectReturnCode::ServerUnavailable
        | ConnectReturnCode::ServerBusy
        | ConnectReturnCode::ServiceUnavailable => CliError::Unreachable {
            target,
            reason: format!("the server is unavailable ({code:?})"),
        },
        other => CliError::Protocol(format!("{target} refused the connection: {other:?}")),
    }
}

fn map_error(c: &Connect, established: bool, e: ConnectionError) -> CliError {
    match e {
        ConnectionError::ConnectionRefused(code) => refused(c, code),
        ConnectionError::MqttState(StateError::ConnFail { reason }) => refused(c, reason),
        ConnectionError::NotConnAck(p) => {
            CliError::Protocol(format!("expected CONNACK, got {p:?}"))
        }
        ConnectionError::MqttState(StateError::ServerDisconnect {
            reason_code,
            reason_string,
        }) => CliError::Lost(format!(
            "the server disconnected: {reason_code:?}{}",
            reason_string.map(|r| format!(" ({r})")).unwrap_or_default()
        )),
        ConnectionError::Timeout(_) => {
            network_error(c, established, "the connection timed out".into())
        }
        ConnectionError::Tls(e) => network_error(c, established, format!("TLS: {e}")),
        ConnectionError::MqttState(e) => {
            network_error(c, established, format!("MQTT connection ended: {e}"))
        }
        other => network_error(c, established, other.to_string()),
    }
}

/// The kind a v5 publication declares: JSON by content type, text by Payload Format
/// Indicator 1, bytes otherwise.
fn kind_of(p: &Publish) -> Kind {
    let props = p.properties.as_ref();
    if props
        .and_then(|p| p.content_type.as_deref())
        .is_some_and(is_json_type)
    {
        Kind::Json
    } else if props.and_then(|p| p.payload_format_indicator) == Some(1) {
        Kind::Text
    } else {
        Kind::Binary
    }
}

fn received(p: &Publish) -> Received {
    let mut m = Received::new(
        Protocol::Mqtt,
        String::from_utf8_lossy(&p.topic).into_owned(),
        p.payload.clone(),
    );
    m.qos = Some(p.qos as u8);
    m.retain = p.retain;
    m.kind = Some(kind_of(p));
    if let Some(props) = &p.properties {
        m.content_type.clone_from(&props.content_type);
        m.properties.clone_from(&props.user_properties);
    }
    m
}

impl Link {
    /// Connects and waits for CONNACK.
    pub async fn connect(c: &Connect) -> Result<Link, CliError> {
        let (host, transport) = transport(c)?;
        let mut o = MqttOptions::new(c.client_id.clone(), host, c.endpoint.port);
        o.set_keep_alive(c.keepalive)
            .set_max_packet_size(u32::try_from(MAX_PACKET).ok())
            .set_request_channel_capacity(REQUEST_CAPACITY)
            .set_connection_timeout(timeout_secs(c))
            .set_transport(transport);
        if let Some((u, p)) = credentials(c) {
            o.set_credentials(u, p);
        }
        if let Some(w) = &c.will {
            o.set_last_will(LastWill::new(
                w.topic.clone(),
                w.message.clone(),
                qos(w.qos),
                w.retain,
                None,
            ));
        }
        if let Some(m) = header_modifier(c) {
            o.set_request_modifier(m);
        }
        let (client, mut events) = AsyncClient::new(o, REQUEST_CAPACITY);
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {}
            Ok(other) => {
                return Err(CliError::Protocol(format!(
                    "expected CONNACK, got {other:?}"
                )));
            }
            Err(e) => return Err(map_error(c, false, e)),
        }
        Ok(Link {
            connect: c.clone(),
            client,
            events,
            buffered: VecDeque::new(),
            ended: None,
            reply_topic: None,
        })
    }

    async fn poll(&mut self) -> Result<Event, CliError> {
        if let Some(e) = self.ended.take() {
            return Err(e);
        }
        let event = match self.events.poll().await {
            Ok(event) => event,
            Err(e) => {
                // Publications read in the same batch as the end of the connection are still
                // in rumqttc's event queue: keep them.
                for event in self.events.state.events.drain(..) {
                    if let Event::Incoming(Packet::Publish(p)) = &event
                        && self.buffered.len() < MAX_BUFFERED
                    {
                        self.buffered.push_back(received(p));
                    }
                }
                return Err(map_error(&self.connect, true, e));
            }
        };
        match &event {
            Event::Incoming(Packet::Publish(p)) if self.buffered.len() < MAX_BUFFERED => {
                self.buffered.push_back(received(p));
            }
            Event::Incoming(Packet::Disconnect(d)) => {
                return Err(CliError::Lost(format!(
                    "the server disconnected: {:?}",
                    d.reason_code
                )));
            }
            _ => {}
        }
        Ok(event)
    }

    fn request_error(e: rumqttc::v5::ClientError) -> CliError {
        CliError::Protocol(format!("rumqttc refused the request: {e}"))
    }

    fn denied(m: &Outgoing, reason: String) -> CliError {
        CliError::Denied {
            action: "publish",
            topic: m.topic.clone(),
            reason,
        }
    }

    /// Publishes and waits for PUBACK / PUBCOMP (QoS 0: until written); a refusal reason code
    /// is reported.
    pub async fn publish(&mut self, m: &Outgoing) -> Result<(), CliError> {
        let properties = Self::properties(m);
        self.client
            .publish_with_properties(
                m.topic.clone(),
                qos(m.qos),
                m.retain,
                m.payload.clone(),
                properties,
            )
            .await
            .map_err(Self::request_error)?;
        let mut pkid = None;
        loop {
            match self.poll().await? {
                Event::Outgoing(Out::Publish(id)) if pkid.is_none() => {
                    if m.qos == 0 {
                        return Ok(());
                    }
                    pkid = Some(id);
                }
                Event::Incoming(Packet::PubAck(a)) if pkid == Some(a.pkid) => {
                    return match a.reason {
                        PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                        PubAckReason::NotAuthorized => {
                            Err(Self::denied(m, "PUBACK 0x87 (not authorized)".into()))
                        }
                        other => Err(CliError::Protocol(format!(
                            "the publish on `{}` was refused: PUBACK {other:?}",
                            m.topic
                        ))),
                    };
                }
                Event::Incoming(Packet::PubRec(a)) if pkid == Some(a.pkid) => match a.reason {
                    PubRecReason::Success | PubRecReason::NoMatchingSubscribers => {}
                    PubRecReason::NotAuthorized => {
                        return Err(Self::denied(m, "PUBREC 0x87 (not authorized)".into()));
                    }
                    other => {
                        return Err(CliError::Protocol(format!(
                            "the publish on `{}` was refused: PUBREC {other:?}",
                            m.topic
                        )));
                    }
                },
                Event::Incoming(Packet::PubComp(a)) if pkid == Some(a.pkid) => return Ok(()),
                _ => {}
            }
        }
    }

    /// Publishes the message as a request (Response Topic `response_topic`, fresh Correlation
    /// Data), subscribing to `response_topic` first, and waits for the response; a response
    /// with the user property `error` (the gateway's rejection) is an error.
    pub async fn request(
        &mut self,
        m: &Outgoing,
        response_topic: &str,
    ) -> Result<Received, CliError> {
        if self.reply_topic.as_deref() != Some(response_topic) {
            self.subscribe(&[response_topic.to_owned()], 1).await?;
            self.reply_topic = Some(response_topic.to_owned());
        }
        let correlation = Bytes::from(format!("{:016x}", rand::random::<u64>()));
        let properties = PublishProperties {
            response_topic: Some(response_topic.to_owned()),
            correlation_data: Some(correlation.clone()),
            ..Self::properties(m)
        };
        self.client
            .publish_with_properties(
                m.topic.clone(),
                qos(m.qos),
                m.retain,
                m.payload.clone(),
                properties,
            )
            .await
            .map_err(Self::request_error)?;
        loop {
            let event = self.poll().await?;
            let Event::Incoming(Packet::Publish(p)) = &event else {
                continue;
            };
            let matches = p.topic == response_topic.as_bytes()
                && p.properties
                    .as_ref()
                    .and_then(|x| x.correlation_data.as_ref())
                    == Some(&correlation);
            if !matches {
                continue;
            }
            // poll() kept it as a message; it is the reply instead.
            let reply = self.buffered.pop_back().unwrap_or_else(|| received(p));
            if let Some((_, why)) = reply.properties.iter().find(|(k, _)| k == "error") {
                return Err(CliError::Protocol(format!(
                    "the request on `{}` was rejected: {why}",
                    m.topic
                )));
            }
            return Ok(reply);
        }
    }

    /// The publish properties of a message: payload format, content type, user properties.
    fn properties(m: &Outgoing) -> PublishProperties {
        PublishProperties {
            payload_format_indicator: match m.kind {
                Kind::Text | Kind::Json => Some(1),
                Kind::Binary => None,
            },
            content_type: m.content_type.clone().or_else(|| {
                (m.kind == Kind::Json).then(|| crate::message::JSON_CONTENT_TYPE.to_owned())
            }),
            user_properties: m.user_properties.clone(),
            ..PublishProperties::default()
        }
    }

    /// Subscribes to every filter in one SUBSCRIBE; 0x87 is a denied topic.
    pub async fn subscribe(&mut self, filters: &[String], q: u8) -> Result<(), CliError> {
        self.client
            .subscribe_many(filters.iter().map(|f| Filter::new(f.clone(), qos(q))))
            .await
            .map_err(Self::request_error)?;
        loop {
            if let Event::Incoming(Packet::SubAck(ack)) = self.poll().await? {
                for (code, filter) in ack.return_codes.iter().zip(filters) {
                    match code {
                        SubscribeReasonCode::Success(_) => {}
                        SubscribeReasonCode::NotAuthorized => {
                            return Err(CliError::Denied {
                                action: "subscribe",
                                topic: filter.clone(),
                                reason: "SUBACK 0x87 (not authorized)".into(),
                            });
                        }
                        other => {
                            return Err(CliError::Protocol(format!(
                                "the subscription to `{filter}` was refused: SUBACK {other:?}"
                            )));
                        }
                    }
                }
                self.connect
                    .debug(format_args!("subscribed: {:?}", ack.return_codes));
                return Ok(());
            }
        }
    }

    /// The next publication; the end of the connection once the publications read before it
    /// are consumed.
    pub async fn next(&mut self) -> Result<Received, CliError> {
        loop {
            if let Some(m) = self.buffered.pop_front() {
                return Ok(m);
            }
            if let Err(e) = self.poll().await {
                if self.buffered.is_empty() {
                    return Err(e);
                }
                self.ended = Some(e);
            }
        }
    }

    /// Sends DISCONNECT and waits until it is written.
    pub async fn close(mut self) -> Result<(), CliError> {
        self.client
            .disconnect()
            .await
            .map_err(Self::request_error)?;
        loop {
            match self.events.poll().await {
                Ok(Event::Outgoing(Out::Disconnect)) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    }
}
