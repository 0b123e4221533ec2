//! The connection options shared by `pub` and `sub` ([`ConnectArgs`]) and their checked form
//! ([`Connect`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use http::{HeaderName, HeaderValue};

use super::{parse_qos, parse_seconds, unsupported};
use crate::error::CliError;
use crate::url::{Endpoint, Protocol, Scheme};

/// The MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0.
    V5,
}

fn parse_mqtt_version(s: &str) -> Result<MqttVersion, String> {
    match s.to_ascii_lowercase().as_str() {
        "3.1.1" | "311" | "4" | "mqttv311" => Ok(MqttVersion::V311),
        "5" | "5.0" | "mqttv5" => Ok(MqttVersion::V5),
        "3.1" | "31" | "mqttv31" => Err("MQTT 3.1 is not supported; use 3.1.1 or 5".into()),
        _ => Err("expected 3.1.1 or 5 (mosquitto's mqttv311 / mqttv5 work too)".into()),
    }
}

/// Connection options shared by `pub` and `sub`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectArgs {
    /// Where to connect: mqtt://, mqtts://, ws://, wss:// (MQTT over WebSocket), eio://, eios:// (Engine.IO
    /// control protocol), ipc://host:port or ipc+unix:///path (IPC bus). Default
    /// mqtt://localhost:1883.
    #[arg(
        short = 'L',
        long = "url",
        value_name = "URL",
        help_heading = "Connection"
    )]
    pub url: Option<String>,
    /// Host to connect to (overrides the URL's).
    #[arg(
        short = 'h',
        long = "host",
        value_name = "HOST",
        help_heading = "Connection"
    )]
    pub host: Option<String>,
    /// Port to connect to (overrides the URL's).
    #[arg(short = 'p', long = "port", value_name = "PORT", help_heading = "Connection",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// User name (MQTT, Engine.IO), overrides the URL's.
    #[arg(
        short = 'u',
        long = "username",
        value_name = "USER",
        help_heading = "Connection"
    )]
    pub username: Option<String>,
    /// Password (MQTT, Engine.IO), overrides the URL's.
    #[arg(
        short = 'P',
        long = "pw",
        visible_alias = "password",
        value_name = "PASSWORD",
        help_heading = "Connection"
    )]
    pub password: Option<String>,
    /// MQTT client id, or the IPC peer name (the ACL user of a trusted local IPC client).
    /// Default switchboard-pub-RANDOM / switchboard-sub-RANDOM.
    #[arg(
        short = 'i',
        long = "id",
        value_name = "ID",
        help_heading = "Connection"
    )]
    pub client_id: Option<String>,
    /// MQTT keep-alive in seconds (default 60).
    #[arg(
        short = 'k',
        long = "keepalive",
        value_name = "SECONDS",
        help_heading = "Connection"
    )]
    pub keepalive: Option<u16>,
    /// MQTT version: 3.1.1 or 5 (default 5; mqttv311 and mqttv5 are accepted too).
    #[arg(short = 'V', long = "mqtt-version", value_name = "VERSION",
          value_parser = parse_mqtt_version, help_heading = "Connection")]
    pub mqtt_version: Option<MqttVersion>,
    /// Seconds to wait for the connection (TCP, TLS, WebSocket and protocol handshakes).
    #[arg(long = "connect-timeout", value_name = "SECONDS", value_parser = parse_seconds,
          help_heading = "Connection")]
    pub connect_timeout: Option<Duration>,
    /// WebSocket request headers (ws, wss, eio, eios): a JSON object as aMQTT takes it,
    /// e.g. '{"Authorization": "Bearer ..."}', or `Name: value` (repeatable).
    #[arg(
        long = "extra-headers",
        value_name = "HEADERS",
        help_heading = "Connection"
    )]
    pub extra_headers: Vec<String>,
    /// MQTT will: the topic the broker publishes on if this client vanishes.
    #[arg(long = "will-topic", value_name = "TOPIC", help_heading = "MQTT will")]
    pub will_topic: Option<String>,
    /// MQTT will: the payload (default empty).
    #[arg(
        long = "will-message",
        visible_alias = "will-payload",
        value_name = "MESSAGE",
        requires = "will_topic",
        help_heading = "MQTT will"
    )]
    pub will_message: Option<String>,
    /// MQTT will: its QoS (default 0).
    #[arg(long = "will-qos", value_name = "QOS", value_parser = parse_qos,
          requires = "will_topic", help_heading = "MQTT will")]
    pub will_qos: Option<u8>,
    /// MQTT will: retain it.
    #[arg(
        long = "will-retain",
        requires = "will_topic",
        help_heading = "MQTT will"
    )]
    pub will_retain: bool,
    /// TLS (mqtts, wss, eios): PEM file of the CA certificates to trust instead of the
    /// built-in web roots.
    #[arg(
        long = "ca-file",
        visible_alias = "cafile",
        value_name = "FILE",
        help_heading = "TLS"
    )]
    pub ca_file: Option<PathBuf>,
    /// TLS: PEM client certificate (with --key).
    #[arg(
        long = "cert",
        value_name = "FILE",
        requires = "key",
        help_heading = "TLS"
    )]
    pub cert: Option<PathBuf>,
    /// TLS: PEM private key of --cert.
    #[arg(
        long = "key",
        value_name = "FILE",
        requires = "cert",
        help_heading = "TLS"
    )]
    pub key: Option<PathBuf>,
    /// TLS: do not check that the certificate names the host (the chain is still verified),
    /// as mosquitto's --insecure.
    #[arg(long = "insecure", help_heading = "TLS")]
    pub insecure: bool,
    /// Print connection events (connected, subscribed, reconnecting) on stderr.
    #[arg(short = 'd', long = "debug", help_heading = "Output")]
    pub debug: bool,
    /// Print no warnings or errors.
    #[arg(long = "quiet", help_heading = "Output")]
    pub quiet: bool,
}

/// A will message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub message: String,
    /// QoS.
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
}

/// Connection settings, checked against what the endpoint's protocol supports.
#[derive(Clone)]
pub struct Connect {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// MQTT client id / IPC peer name.
    pub client_id: String,
    /// MQTT keep-alive.
    pub keepalive: Duration,
    /// MQTT version.
    pub mqtt_version: MqttVersion,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// WebSocket request headers.
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    /// MQTT will.
    pub will: Option<Will>,
    /// The TLS client configuration (TLS schemes only).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// `-d`.
    pub debug: bool,
    /// `--quiet`.
    pub quiet: bool,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("mqtt_version", &self.mqtt_version)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Connect {
    /// Logs a connection event on stderr with `-d`.
    pub fn debug(&self, what: impl std::fmt::Display) {
        if self.debug && !self.quiet {
            eprintln!("switchboard: {what}");
        }
    }

    /// Prints a warning on stderr unless `--quiet`.
    pub fn warn(&self, what: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("switchboard: {what}");
        }
    }
}

fn parse_headers(values: &[String]) -> Result<Vec<(HeaderName, HeaderValue)>, CliError> {
    let mut out = Vec::new();
    let mut push = |name: &str, value: &str| -> Result<(), CliError> {
        let n = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            CliError::usage(format!("--extra-headers: invalid header name `{name}`"))
        })?;
        let v = HeaderValue::from_str(value.trim())
            .map_err(|_| CliError::usage(format!("--extra-headers: invalid value for `{name}`")))?;
        out.push((n, v));
        Ok(())
    };
    for v in values {
        if v.trim_start().starts_with('{') {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(v)
                .map_err(|e| CliError::usage(format!("--extra-headers: not a JSON object: {e}")))?;
            for (k, val) in &map {
                match val {
                    serde_json::Value::String(s) => push(k, s)?,
                    other => push(k, &other.to_string())?,
                }
            }
        } else {
            let (name, value) = v.split_once(':').ok_or_else(|| {
                CliError::usage(format!(
                    "--extra-headers: expected a JSON object or `Name: value`, got `{v}`"
                ))
            })?;
            push(name, value)?;
        }
    }
    Ok(out)
}

/// A random suffix for default client ids.
fn random_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

impl ConnectArgs {
    /// The endpoint: `--url` (default mqtt://localhost), then -h/-p/-u/-P.
    pub fn endpoint(&self) -> Result<Endpoint, CliError> {
        let mut e = match &self.url {
            Some(url) => Endpoint::parse(url).map_err(|e| CliError::usage(e.to_string()))?,
            None => Endpoint::mqtt("localhost", Scheme::Mqtt.default_port()),
        };
        if let Some(h) = &self.host {
            if e.scheme == Scheme::IpcUnix {
                return Err(CliError::usage("-h/--host cannot be used with ipc+unix://"));
            }
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .clone_into(&mut e.host);
        }
        if let Some(p) = self.port {
            if e.scheme == Scheme::IpcUnix {
                return Err(CliError::usage("-p/--port cannot be used with ipc+unix://"));
            }
            e.port = p;
        }
        if self.username.is_some() {
            e.username.clone_from(&self.username);
        }
        if self.password.is_some() {
            e.password.clone_from(&self.password);
        }
        Ok(e)
    }

    /// Checks the options against the endpoint's protocol and builds the settings. `role` is
    /// `pub` or `sub` (for the default client id).
    pub fn resolve(&self, role: &str) -> Result<Connect, CliError> {
        let endpoint = self.endpoint()?;
        let protocol = endpoint.protocol();
        if endpoint.password.is_some() && endpoint.username.is_none() {
            return Err(CliError::usage("a password needs a user name (-u)"));
        }
        match protocol {
            Protocol::Ipc => {
                if endpoint.username.is_some() {
                    return Err(unsupported(
                        "-u/-P",
                        protocol,
                        "the IPC bus carries no credentials",
                    ));
                }
                if self.keepalive.is_some() {
                    return Err(unsupported("-k", protocol, "the IPC bus has no keep-alive"));
                }
            }
            Protocol::EngineIo => {
                if self.keepalive.is_some() {
                    return Err(unsupported(
                        "-k",
                        protocol,
                        "the gateway sets Engine.IO's ping interval",
                    ));
                }
                if self.client_id.is_some() {
                    return Err(unsupported(
                        "-i",
                        protocol,
                        "the gateway assigns Engine.IO session ids",
                    ));
                }
            }
            Protocol::Mqtt => {
                let v5 = self.mqtt_version.unwrap_or(MqttVersion::V5) == MqttVersion::V5;
                if v5 && self.keepalive.is_some_and(|k| k < 5) {
                    return Err(CliError::usage(
                        "-k: the MQTT 5 client needs a keep-alive of at least 5 seconds \
                         (0, no keep-alive, works with --mqtt-version 3.1.1)",
                    ));
                }
            }
        }
        if protocol != Protocol::Mqtt {
            if self.mqtt_version.is_some() {
                return Err(unsupported("--mqtt-version", protocol, "it is not MQTT"));
            }
            if self.will_topic.is_some() {
                return Err(unsupported(
                    "--will-topic",
                    protocol,
                    "wills are an MQTT feature",
                ));
            }
        }
        if !endpoint.scheme.websocket() && !self.extra_headers.is_empty() {
            return Err(CliError::usage(format!(
                "--extra-headers needs a WebSocket URL (ws, wss, eio, eios), not {}://",
                endpoint.scheme
            )));
        }
        let tls_options = self.ca_file.is_some() || self.cert.is_some() || self.insecure;
        if tls_options && !endpoint.scheme.tls() {
            return Err(CliError::usage(format!(
                "--ca-file, --cert, --key and --insecure need a TLS URL (mqtts, wss, eios), not {}://",
                endpoint.scheme
            )));
        }
        let tls = if endpoint.scheme.tls() {
            Some(crate::tls::client_config(
                self.ca_file.as_deref(),
                self.cert.as_deref().zip(self.key.as_deref()),
                self.insecure,
            )?)
        } else {
            None
        };
        let will = match &self.will_topic {
            Some(t) => {
                crate::topic::check_topic(protocol, t)
                    .map_err(|e| CliError::usage(format!("--will-topic: {e}")))?;
                Some(Will {
                    topic: t.clone(),
                    message: self.will_message.clone().unwrap_or_default(),
                    qos: self.will_qos.unwrap_or(0),
                    retain: self.will_retain,
                })
            }
            None => None,
        };
        let client_id = match &self.client_id {
            Some(id) if id.is_empty() => {
                return Err(CliError::usage("-i: the client id must not be empty"));
            }
            Some(id) => id.clone(),
            None => format!("switchboard-{role}-{}", random_suffix()),
        };
        Ok(Connect {
            endpoint,
            client_id,
            keepalive: Duration::from_secs(u64::from(self.keepalive.unwrap_or(60))),
            mqtt_version: self.mqtt_version.unwrap_or(MqttVersion::V5),
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(10)),
            extra_headers: parse_headers(&self.extra_headers)?,
            will,
            tls,
            debug: self.debug,
            quiet: self.quiet,
        })
    }
}
