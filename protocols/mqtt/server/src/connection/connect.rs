//! The CONNECT handshake: read CONNECT within `connect_timeout_ms`, validate it (protocol level,
//! client id rules, keep-alive, authentication method), authenticate, check the will against the
//! ACL, attach the session (takeover, resumption, clean start), and answer with CONNACK.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::time::Duration;

use switchboard_fabric::{Access, AuthError, Credentials};
use switchboard_mqtt_proto::{
    ConnAck, ConnAckProperties, Connect, DecodeError, Decoder, MqttString, PacketType,
    ProtocolVersion, ReasonCode,
};
use tokio::time::Instant;

use super::{Io, IoEvent, State};
use crate::bridge::mount_topic;
use crate::broker::{Previous, Shared};
use crate::metrics::Tally;
use crate::persist::Journal;
use crate::session::{NEVER_EXPIRES, Session};
use crate::transport::Transport;

/// Longest client id accepted, in bytes.
const MAX_CLIENT_ID: usize = 256;

enum Read {
    Connect(Box<Connect>),
    Closed,
    Failed(DecodeError),
}

async fn read_connect<T: Transport>(io: &mut Io<T>, decoder: &mut Decoder) -> Read {
    loop {
        match decoder.decode(&mut io.rbuf) {
            Ok(Some(switchboard_mqtt_proto::Packet::Connect(c))) => return Read::Connect(c),
            Ok(Some(other)) => {
                return Read::Failed(DecodeError::ExpectedConnect(other.packet_type()));
            }
            Ok(None) => {}
            Err(e) => return Read::Failed(e),
        }
        match poll_fn(|cx| io.poll_io(cx, true)).await {
            IoEvent::Read(0) | IoEvent::Error(_) => return Read::Closed,
            IoEvent::Read(_) | IoEvent::Wrote | IoEvent::Blocked => {}
        }
    }
}

fn refuse<T>(
    shared: &Shared,
    io: &mut Io<T>,
    version: ProtocolVersion,
    code: ReasonCode,
    reason: Option<&'static str>,
    label: &str,
) {
    let mut ack = ConnAck::new(false, code);
    if version.is_v5() {
        ack.properties.reason_string = reason.and_then(|r| MqttString::from_static(r).ok());
    }
    if ack.encode(version, &mut io.wbuf).is_ok() {
        shared.metrics.add(&mut {
            let mut t = Tally::default();
            t.packet_out(PacketType::ConnAck);
            t
        });
    }
    shared.proto.rejected(label);
}

/// Runs the handshake, returning the connected client's state. `None`: the connection was refused (the answer, if any, is in
/// `io.wbuf`) or closed.
pub(crate) async fn handshake<T: Transport>(
    shared: &Arc<Shared>,
    io: &mut Io<T>,
    peer: SocketAddr,
    cert_identity: Option<String>,
    label: &'static str,
) -> Option<Box<State>> {
    let config = &shared.config;
    let mut decoder = Decoder::new(config.max_packet_size);
    let limit = Duration::from_millis(config.connect_timeout_ms);
    let connect = match tokio::time::timeout(limit, read_connect(io, &mut decoder)).await {
        Err(_) => {
            tracing::debug!(%peer, "no CONNECT in time");
            shared.proto.rejected("connect_timeout");
            return None;
        }
        Ok(Read::Closed) => {
            shared.proto.rejected("closed_before_connect");
            return None;
        }
        Ok(Read::Failed(e)) => {
            tracing::debug!(%peer, error = %e, "bad CONNECT");
            shared.metrics.protocol_error(error_kind(&e));
            if let Some(rc) = e.v3_connack_return_code()
                && let Some(code) = ReasonCode::from_v3_connack(rc)
            {
                // The client's version is unknown: answer in the 3.1.1 format, as mosquitto does.
                refuse(
                    shared,
                    io,
                    ProtocolVersion::V3_1_1,
                    code,
                    None,
                    "unsupported_protocol_version",
                );
            } else {
                shared.proto.rejected("malformed_connect");
            }
            return None;
        }
        Ok(Read::Connect(c)) => c,
    };
    let mut tally = Tally::default();
    tally.packet_in(PacketType::Connect);
    shared.metrics.add(&mut tally);
    let version = connect.protocol;
    let v5 = version.is_v5();
    let props = &connect.properties;

    // Enhanced authentication is not offered.
    if props.authentication_method.is_some() {
        refuse(
            shared,
            io,
            version,
            ReasonCode::BadAuthenticationMethod,
            Some("no authentication method is configured"),
            "bad_authentication_method",
        );
        return None;
    }

    // Keep-alive.
    let mut keep_alive = connect.keep_alive;
    let mut server_keep_alive = None;
    if keep_alive > config.max_keepalive || (keep_alive == 0 && config.max_keepalive < u16::MAX) {
        if v5 {
            keep_alive = config.max_keepalive;
            server_keep_alive = Some(keep_alive);
        } else if keep_alive > config.max_keepalive {
            refuse(
                shared,
                io,
                version,
                ReasonCode::ImplementationSpecificError,
                None,
                "keepalive_too_long",
            );
            return None;
        }
    }

    // Client id.
    let mut assigned = None;
    let client_id: Arc<str> = if connect.client_id.is_empty() {
        let persistent_v3 = !v5 && !connect.clean_start;
        if persistent_v3 || version == ProtocolVersion::V3_1 || !config.allow_zero_length_clientid {
            refuse(
                shared,
                io,
                version,
                ReasonCode::ClientIdentifierNotValid,
                Some("a client identifier is required"),
                "client_id_required",
            );
            return None;
        }
        let id = format!("{}{:016x}", config.auto_id_prefix, rand::random::<u64>());
        if v5 {
            assigned = MqttString::try_from(id.as_str()).ok();
        }
        Arc::from(id)
    } else if connect.client_id.len() > MAX_CLIENT_ID
        || (version == ProtocolVersion::V3_1 && connect.client_id.len() > 23)
    {
        refuse(
            shared,
            io,
            version,
            ReasonCode::ClientIdentifierNotValid,
            Some("client identifier too long"),
            "client_id_invalid",
        );
        return None;
    } else {
        Arc::from(connect.client_id.as_str())
    };

    // Authentication.
    let credentials = match (&cert_identity, &connect.username, &connect.password) {
        (Some(cn), _, _) => Credentials::Certificate(cn.clone()),
        (None, Some(u), Some(p)) => Credentials::Password {
            username: u.as_str().to_owned(),
            password: p.to_vec(),
        },
        (None, Some(u), None) => Credentials::Username(u.as_str().to_owned()),
        (None, None, Some(p)) => Credentials::Password {
            username: String::new(),
            password: p.to_vec(),
        },
        (None, None, None) => Credentials::Anonymous,
    };
    let mut identity =
        match shared
            .authorizer
            .authenticate(&shared.protocol, &client_id, &credentials)
        {
            Ok(i) => i,
            Err(e) => {
                shared.proto.auth_failure("credentials");
                let code = match e {
                    AuthError::NotAuthorized => ReasonCode::NotAuthorized,
                    AuthError::BadCredentials | AuthError::InvalidToken(_) => {
                        ReasonCode::BadUserNameOrPassword
                    }
                };
                refuse(shared, io, version, code, None, "not_authorized");
                return None;
            }
        };

    // The state keeps the client id once, in the identity.
    if *identity.client_id == *client_id {
        identity.client_id = client_id.clone();
    }

    // The will must be a valid topic the client may write.
    if let Some(will) = &connect.will {
        match mount_topic(&config.mount, will.topic.as_str()) {
            Err(_) => {
                refuse(
                    shared,
                    io,
                    version,
                    ReasonCode::TopicNameInvalid,
                    Some("invalid will topic"),
                    "invalid_will",
                );
                return None;
            }
            Ok(t) => {
                if !shared
                    .authorizer
                    .authorize(&identity, Access::Write, t.as_str())
                {
                    shared.proto.auth_failure("will");
                    refuse(
                        shared,
                        io,
                        version,
                        ReasonCode::NotAuthorized,
                        Some("not authorised to publish the will"),
                        "not_authorized",
                    );
                    return None;
                }
            }
        }
    }

    // Session.
    let requested = if v5 {
        props.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        NEVER_EXPIRES
    };
    let expiry = shared.session_expiry(requested);
    let attached = shared.attach(&client_id).await;
    let (previous, was_offline) = match attached.previous {
        Previous::None => (None, false),
        Previous::Resumed(s) => (Some(s), true),
        Previous::TakenOver(s) => (s, false),
    };
    let (mut session, present) = match previous {
        Some(mut old) if connect.clean_start => {
            shared.end_session(&mut old);
            (Box::new(Session::new(expiry)), false)
        }
        Some(mut old) => {
            old.expiry = expiry;
            old.offline_backlog = if was_offline && !config.queue_qos0_messages {
                old.subscriber.as_ref().map_or(0, |s| s.depth())
            } else {
                0
            };
            (old, true)
        }
        None => (Box::new(Session::new(expiry)), false),
    };
    // A persistent session is journaled in the store; one that stopped being persistent is not.
    if let Some(store) = shared.store.get() {
        if expiry > 0 {
            if session.journal.is_none() {
                session.journal = Some(Journal::new(store.clone(), client_id.clone(), 1));
            }
        } else if let Some(j) = session.journal.take() {
            j.end();
        }
    }
    // CONNACK.
    let mut ack = ConnAck::new(present, ReasonCode::Success);
    if v5 {
        ack.properties = ConnAckProperties {
            session_expiry_interval: (expiry != requested).then_some(expiry),
            assigned_client_identifier: assigned,
            server_keep_alive,
            receive_maximum: (config.max_inflight < u16::MAX)
                .then(|| NonZeroU16::new(config.max_inflight))
                .flatten(),
            topic_alias_maximum: (config.max_topic_alias > 0).then_some(config.max_topic_alias),
            maximum_packet_size: NonZeroU32::new(config.max_packet_size),
            ..ConnAckProperties::default()
        };
    }
    let before = io.wbuf.len();
    if let Err(e) = ack.encode(version, &mut io.wbuf) {
        tracing::warn!(error = %e, "cannot encode CONNACK");
        shared.end_session(&mut session);
        return None;
    }
    let mut tally = Tally::default();
    tally.packet_out(PacketType::ConnAck);
    tally.bytes_out += (io.wbuf.len() - before) as u64;
    shared.metrics.add(&mut tally);

    let send_quota = props
        .receive_maximum
        .map_or(u16::MAX, NonZeroU16::get)
        .min(config.max_inflight);
    let mut state = Box::new(State {
        shared: shared.clone(),
        version,
        decoder,
        identity,
        session,
        will: connect.will.clone().map(Box::new),
        keep_alive_ms: u32::from(keep_alive) * 1500,
        last_read: Instant::now(),
        send_quota,
        client_max_packet: props.maximum_packet_size.map_or(u32::MAX, NonZeroU32::get),
        client_alias_max: if v5 && config.outbound_topic_aliases {
            props.topic_alias_maximum.unwrap_or(0)
        } else {
            0
        },
        problem_info: props.request_problem_information.unwrap_or(true),
        topics: None,
        held: None,
        registration: None,
        generation: attached.generation,
        kick: Some(attached.kick),
        slot: None,
    });
    super::register(&mut state, peer, label);
    super::inbound::save_session(&state);
    Some(state)
}

/// A short label for a decode error, for metrics.
pub(crate) fn error_kind(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::PacketTooLarge { .. } => "packet_too_large",
        DecodeError::InvalidUtf8 | DecodeError::NullCharacter => "invalid_utf8",
        DecodeError::UnsupportedProtocolVersion(_) => "unsupported_protocol_version",
        DecodeError::ExpectedConnect(_) => "expected_connect",
        DecodeError::WildcardInTopicName | DecodeError::EmptyTopicName => "invalid_topic",
        DecodeError::InvalidTopicFilter(_) => "invalid_topic_filter",
        _ => match e.reason_code() {
            ReasonCode::ProtocolError => "protocol_error",
            _ => "malformed_packet",
        },
    }
}
