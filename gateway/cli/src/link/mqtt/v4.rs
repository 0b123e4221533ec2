//! MQTT 3.1.1 through `rumqttc`'s v4 client.

use std::collections::VecDeque;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, LastWill, MqttOptions,
    NetworkOptions, Outgoing as Out, Packet, QoS, SubscribeFilter, SubscribeReasonCode,
};

use super::{
    MAX_PACKET, REQUEST_CAPACITY, credentials, header_modifier, network_error, timeout_secs,
    transport,
};
use crate::args::Connect;
use crate::error::CliError;
use crate::message::{Outgoing, Received};
use crate::url::Protocol;

/// The most publications kept while waiting for an acknowledgement.
const MAX_BUFFERED: usize = 65_536;

pub(crate) fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// An MQTT 3.1.1 connection.
pub struct Link {
    connect: Connect,
    client: AsyncClient,
    events: EventLoop,
    buffered: VecDeque<Received>,
    /// Why the connection ended, held back until the messages read before it are consumed.
    ended: Option<CliError>,
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
    let reason = match code {
        ConnectReturnCode::BadUserNamePassword => "bad user name or password (CONNACK 4)",
        ConnectReturnCode::NotAuthorized => "not authorized (CONNACK 5)",
        ConnectReturnCode::RefusedProtocolVersion => {
            return CliError::Protocol(format!("{} refused MQTT 3.1.1 (CONNACK 1)", c.endpoint));
        }
        ConnectReturnCode::BadClientId => {
            return CliError::Protocol(format!(
                "{} refused the client id `{}` (CONNACK 2)",
                c.endpoint, c.client_id
            ));
        }
        ConnectReturnCode::ServiceUnavailable => {
            return CliError::Unreachable {
                target: c.endpoint.to_string(),
                reason: "server unavailable (CONNACK 3)".into(),
            };
        }
        ConnectReturnCode::Success => "success",
    };
    CliError::Refused {
        target: c.endpoint.to_string(),
        reason: reason.into(),
    }
}

fn map_error(c: &Connect, established: bool, e: ConnectionError) -> CliError {
    match e {
        ConnectionError::ConnectionRefused(code) => refused(c, code),
        ConnectionError::NotConnAck(p) => {
            CliError::Protocol(format!("expected CONNACK, got {p:?}"))
        }
        ConnectionError::NetworkTimeout => {
            network_error(c, established, "the connection timed out".into())
        }
        ConnectionError::Tls(e) => network_error(c, established, format!("TLS: {e}")),
        ConnectionError::MqttState(e) => {
            network_error(c, established, format!("MQTT connection ended: {e}"))
        }
        other => network_error(c, established, other.to_string()),
    }
}

impl Link {
    /// Connects and waits for CONNACK.
    pub async fn connect(c: &Connect) -> Result<Link, CliError> {
        let (host, transport) = transport(c)?;
        let mut o = MqttOptions::new(c.client_id.clone(), host, c.endpoint.port);
        // Whole seconds from -k: zero (off) or at least one second, as rumqttc requires.
        o.set_keep_alive(c.keepalive)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_request_channel_capacity(REQUEST_CAPACITY)
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
            ));
        }
        if let Some(m) = header_modifier(c) {
            o.set_request_modifier(m);
        }
        let (client, mut events) = AsyncClient::new(o, REQUEST_CAPACITY);
        let mut network = NetworkOptions::new();
        network.set_connection_timeout(timeout_secs(c));
        events.set_network_options(network);
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
        })
    }

    fn keep(&mut self, event: &Event) {
        if let Event::Incoming(Packet::Publish(p)) = event
            && self.buffered.len() < MAX_BUFFERED
        {
            let mut m = Received::new(Protocol::Mqtt, p.topic.clone(), p.payload.clone());
            m.qos = Some(p.qos as u8);
            m.retain = p.retain;
            self.buffered.push_back(m);
        }
    }

    async fn poll(&mut self) -> Result<Event, CliError> {
        if let Some(e) = self.ended.take() {
            return Err(e);
        }
        match self.events.poll().await {
            Ok(event) => {
                self.keep(&event);
                Ok(event)
            }
            Err(e) => {
                // Publications read in the same batch as the end of the connection are still
                // in rumqttc's event queue: keep them.
                let read: Vec<Event> = self.events.state.events.drain(..).collect();
                for event in &read {
                    self.keep(event);
                }
                Err(map_error(&self.connect, true, e))
            }
        }
    }

    fn request_error(e: rumqttc::ClientError) -> CliError {
        CliError::Protocol(format!("rumqttc refused the request: {e}"))
    }

    /// Publishes and waits for PUBACK / PUBCOMP (QoS 0: until written).
    pub async fn publish(&mut self, m: &Outgoing) -> Result<(), CliError> {
        self.client
            .publish(m.topic.clone(), qos(m.qos), m.retain, m.payload.clone())
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
                Event::Incoming(Packet::PubAck(a)) if m.qos == 1 && pkid == Some(a.pkid) => {
                    return Ok(());
                }
                Event::Incoming(Packet::PubComp(a)) if m.qos == 2 && pkid == Some(a.pkid) => {
                    return Ok(());
                }
                _ => {}
            }
        }
    }

    /// Subscribes to every filter in one SUBSCRIBE; a failure return code is a denied topic.
    pub async fn subscribe(&mut self, filters: &[String], q: u8) -> Result<(), CliError> {
        self.client
            .subscribe_many(
                filters
                    .iter()
                    .map(|f| SubscribeFilter::new(f.clone(), qos(q))),
            )
            .await
            .map_err(Self::request_error)?;
        loop {
            if let Event::Incoming(Packet::SubAck(ack)) = self.poll().await? {
                for (code, filter) in ack.return_codes.iter().zip(filters) {
                    if *code == SubscribeReasonCode::Failure {
                        return Err(CliError::Denied {
                            action: "subscribe",
                            topic: filter.clone(),
                            reason: "SUBACK 0x80 (failure)".into(),
                        });
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
