//! The command lines of `switchboard pub` and `switchboard sub` ([`PubArgs`], [`SubArgs`], with
//! the shared [`ConnectArgs`]) and their resolution into checked settings ([`Connect`]).
//!
//! Both commands have their own parser, dispatched before the gateway's (as `switchboard
//! passwd` is): the gateway's global `-c/--config` and `-s/--set` do not apply to them, `-s`
//! is mosquitto_pub's "whole stdin", and `-h` is the host (help is `--help`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, ArgGroup, Args, Parser, ValueEnum};
use http::{HeaderName, HeaderValue};

use crate::error::{CliError, EXIT_CODES_HELP};
use crate::message::{Kind, Outgoing};
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

fn parse_qos(s: &str) -> Result<u8, String> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err("QoS is 0, 1 or 2".into()),
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > 1e9 {
        return Err("expected a positive number of seconds".into());
    }
    Ok(Duration::from_secs_f64(v))
}

/// How `pub` sends the payload (see [`Kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// JSON when `--content-type application/json`, text when UTF-8, bytes otherwise.
    Auto,
    /// UTF-8 text.
    Text,
    /// A JSON document (checked before sending).
    Json,
    /// Opaque bytes.
    Binary,
}

/// Connection options shared by `pub` and `sub`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectArgs {
    /// Where to connect: mqtt[s]://, ws[s]:// (MQTT over WebSocket), eio[s]:// (Engine.IO
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
    /// Default switchboard-pub-<random> / switchboard-sub-<random>.
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

fn unsupported(option: &str, protocol: Protocol, why: &str) -> CliError {
    CliError::usage(format!("{option} cannot be used with {protocol}: {why}"))
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

const PUB_AFTER_HELP: &str = "Protocols:
  mqtt[s]://, ws[s]://  every option; user properties and content type need MQTT 5 (the default)
  eio[s]://             -q 0|1, -r; a denied topic is reported (err forbidden)
  ipc://, ipc+unix://   no -q, -r, credentials or properties (the IPC bus has none); -i is the
                        peer name, which the gateway takes as the user of a trusted local client;
                        a channel is a literal name; a denied channel cannot be reported (no acks)

Payload kinds (--kind auto): JSON with --content-type application/json, text when the payload
is UTF-8, bytes otherwise. MQTT 5 sends text with Payload Format Indicator 1; Engine.IO sends
`data`, `text` or `b64`; IPC sends a value, a string or a Buffer.

Examples:
  switchboard pub -t plant/1/temp -m 21.5
  switchboard pub --url ws://localhost:8080/mqtt -t a -m hi -q 1 -r
  switchboard pub --url eio://localhost:8080 -t a --content-type application/json -m '{\"c\":1}'
  tail -f log | switchboard pub --url ipc://localhost:7700 -t logs -l
  switchboard pub --url ipc://localhost:7700 -t svc/time -n --request   (prints the reply)
";

/// `switchboard pub`: publish messages, like mosquitto_pub / amqtt_pub.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "switchboard pub",
    bin_name = "switchboard pub",
    about = "Publish messages over MQTT, Engine.IO or the IPC bus (like mosquitto_pub)",
    disable_help_flag = true,
    after_help = format!("{PUB_AFTER_HELP}\n{EXIT_CODES_HELP}"),
    group(ArgGroup::new("source").required(true)
        .args(["message", "file", "stdin_line", "stdin_file", "null_message"])),
)]
pub struct PubArgs {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Connection options.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The topic (an IPC channel over ipc://). May come from mqtt://host/topic.
    #[arg(short = 't', long = "topic", value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Send this message.
    #[arg(short = 'm', long = "message", value_name = "MESSAGE")]
    pub message: Option<String>,
    /// Send the content of a file as one message.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Send each line of stdin as a message (without its line ending).
    #[arg(short = 'l', long = "stdin-line")]
    pub stdin_line: bool,
    /// Send the whole of stdin as one message.
    #[arg(short = 's', long = "stdin-file")]
    pub stdin_file: bool,
    /// Send a null (zero-length) message.
    #[arg(short = 'n', long = "null-message")]
    pub null_message: bool,
    /// Retain the message (MQTT, Engine.IO).
    #[arg(short = 'r', long = "retain")]
    pub retain: bool,
    /// QoS: 0, 1 or 2 (MQTT), 0 or 1 (Engine.IO). Default 0.
    #[arg(short = 'q', long = "qos", value_name = "QOS", value_parser = parse_qos)]
    pub qos: Option<u8>,
    /// Publish the message N times (with -m, -f, -s or -n).
    #[arg(long = "repeat", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Milliseconds to wait after each delivered message before the next (with --repeat).
    #[arg(long = "repeat-delay", value_name = "MS", default_value_t = 0)]
    pub repeat_delay: u64,
    /// MQTT 5 user property (repeatable).
    #[arg(long = "user-property", value_name = "KEY=VALUE")]
    pub user_properties: Vec<String>,
    /// MQTT 5 content type; `application/json` also makes the payload JSON on every protocol.
    #[arg(long = "content-type", value_name = "TYPE")]
    pub content_type: Option<String>,
    /// How to send the payload: auto, text, json or binary.
    #[arg(long = "kind", value_enum, default_value = "auto")]
    pub kind: KindArg,
    /// Send each message as a request and print the first reply on stdout (MQTT 5: Response
    /// Topic and Correlation Data; Engine.IO: `req`; IPC: `request`).
    #[arg(long = "request")]
    pub request: bool,
    /// Seconds to wait for each reply (with --request; exit 5 when none comes).
    #[arg(long = "request-timeout", value_name = "SECONDS", value_parser = parse_seconds,
          default_value = "5")]
    pub request_timeout: Duration,
    /// MQTT 5 topic the replies come back on (with --request). Default
    /// switchboard-cli/reply/<client id>.
    #[arg(long = "response-topic", value_name = "TOPIC", requires = "request")]
    pub response_topic: Option<String>,
}

/// How `pub --request` waits for replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSettings {
    /// The wait for each reply.
    pub timeout: Duration,
    /// The MQTT 5 response topic.
    pub response_topic: String,
}

/// `switchboard pub` settings, checked.
#[derive(Debug, Clone)]
pub struct PubSettings {
    /// Connection.
    pub connect: Connect,
    /// The message template (payload filled in per message).
    pub template: Outgoing,
    /// Where payloads come from.
    pub source: Source,
    /// `--kind`.
    pub kind: KindArg,
    /// `--repeat`.
    pub repeat: u32,
    /// `--repeat-delay`.
    pub repeat_delay: Duration,
    /// `--request`: send requests and print the replies.
    pub request: Option<RequestSettings>,
}

/// Where `pub` takes its payloads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-m`.
    Message(String),
    /// `-f`.
    File(PathBuf),
    /// `-l`.
    Lines,
    /// `-s`.
    Stdin,
    /// `-n`.
    Null,
}

impl PubArgs {
    /// Checks the options and builds the settings.
    pub fn resolve(&self) -> Result<PubSettings, CliError> {
        let connect = self.connect.resolve("pub")?;
        let protocol = connect.endpoint.protocol();
        let topic = match (&self.topic, connect.endpoint.scheme) {
            (Some(t), _) => t.clone(),
            (None, Scheme::Mqtt | Scheme::Mqtts) if !connect.endpoint.path.is_empty() => {
                connect.endpoint.path.clone()
            }
            (None, _) => return Err(CliError::usage("a topic is required (-t TOPIC)")),
        };
        crate::topic::check_topic(protocol, &topic)
            .map_err(|e| CliError::usage(format!("-t: {e}")))?;
        let qos = self.qos.unwrap_or(0);
        match protocol {
            Protocol::Ipc => {
                if self.qos.is_some_and(|q| q > 0) {
                    return Err(unsupported("-q 1/2", protocol, "the IPC bus has no QoS"));
                }
                if self.retain {
                    return Err(unsupported(
                        "-r",
                        protocol,
                        "the IPC bus has no retained messages",
                    ));
                }
            }
            Protocol::EngineIo if qos > 1 => {
                return Err(unsupported(
                    "-q 2",
                    protocol,
                    "the control protocol's pub takes QoS 0 or 1",
                ));
            }
            _ => {}
        }
        let v5 = protocol == Protocol::Mqtt && connect.mqtt_version == MqttVersion::V5;
        if !self.user_properties.is_empty() && !v5 {
            return Err(CliError::usage(format!(
                "--user-property needs MQTT 5 ({})",
                if protocol == Protocol::Mqtt {
                    "drop --mqtt-version 3.1.1"
                } else {
                    "Engine.IO and IPC messages carry no properties"
                }
            )));
        }
        if self.content_type.is_some() && protocol == Protocol::Mqtt && !v5 {
            return Err(CliError::usage("--content-type needs MQTT 5"));
        }
        let mut user_properties = Vec::new();
        for p in &self.user_properties {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                CliError::usage(format!("--user-property expects KEY=VALUE, got `{p}`"))
            })?;
            user_properties.push((k.to_owned(), v.to_owned()));
        }
        let source = if let Some(m) = &self.message {
            Source::Message(m.clone())
        } else if let Some(f) = &self.file {
            Source::File(f.clone())
        } else if self.stdin_line {
            Source::Lines
        } else if self.stdin_file {
            Source::Stdin
        } else {
            Source::Null
        };
        if source == Source::Lines && self.repeat > 1 {
            return Err(CliError::usage(
                "--repeat works with -m, -f, -s and -n, not with -l",
            ));
        }
        let request = if self.request {
            if protocol == Protocol::Mqtt && connect.mqtt_version == MqttVersion::V311 {
                return Err(CliError::usage(
                    "--request needs MQTT 5 (response topic and correlation data)",
                ));
            }
            if self.retain {
                return Err(CliError::usage(
                    "a request (--request) cannot be retained (-r)",
                ));
            }
            let response_topic = match &self.response_topic {
                Some(t) => t.clone(),
                None => format!("switchboard-cli/reply/{}", connect.client_id),
            };
            crate::topic::check_topic(protocol, &response_topic)
                .map_err(|e| CliError::usage(format!("--response-topic: {e}")))?;
            Some(RequestSettings {
                timeout: self.request_timeout,
                response_topic,
            })
        } else {
            None
        };
        let content_type = match protocol {
            Protocol::Mqtt => self.content_type.clone(),
            // Engine.IO and IPC have no content type; it only selects the JSON kind there.
            _ => None,
        };
        Ok(PubSettings {
            connect,
            template: Outgoing {
                topic,
                payload: bytes::Bytes::new(),
                kind: Kind::Text,
                qos,
                retain: self.retain,
                content_type,
                user_properties,
            },
            source,
            kind: match (self.kind, self.content_type.as_deref()) {
                (KindArg::Auto, Some(ct)) if is_json_type(ct) => KindArg::Json,
                (k, _) => k,
            },
            repeat: self.repeat,
            repeat_delay: Duration::from_millis(self.repeat_delay),
            request,
        })
    }
}

/// Whether a content type names JSON (`application/json`, parameters ignored).
pub fn is_json_type(ct: &str) -> bool {
    ct.split(';').next().is_some_and(|t| {
        t.trim()
            .eq_ignore_ascii_case(crate::message::JSON_CONTENT_TYPE)
    })
}

const SUB_AFTER_HELP: &str = "Output (-F format string, mosquitto's sequences):
  %t topic   %p payload   %q QoS   %r retain (0/1)   %l payload length   %x / %X payload in hex
  %k payload kind (text, json, binary, or - when unknown)   %o protocol of origin (see below)
  %C content type   %P user properties (key:value ...)   %I ISO-8601 time (UTC)
  %U Unix time with nanoseconds   %j one JSON object (as --json)   %%  a literal %
  \\n newline  \\t tab  \\0 NUL  \\e escape  \\\\ backslash.  Width, `-` and `.max` work as
  in mosquitto, e.g. %-20.20t.  A value a protocol does not carry prints as empty (`-` for %k, %o).

What each protocol carries:
  mqtt, ws    QoS, retain; MQTT 5 adds the payload kind, content type and user properties.
              The origin protocol is not carried (%o prints -).
  eio         retain (replays), the payload kind; no QoS (%q prints 0), no origin.
  ipc         the payload kind and the origin: `ipc` for an IPC peer, `gateway` for a message
              the gateway relayed from MQTT or Engine.IO. Retained values arrive when the
              listener is added and are flagged as retained; there is no QoS.
  A filter is a literal channel name over ipc:// (the IPC bus has no wildcards).

Reconnection: when the connection drops after it was established, sub reconnects with
exponential backoff (0.1 s doubling to --reconnect-max-delay) and subscribes again, until
--reconnect-retries consecutive attempts failed (default: no limit) or -W expires.

Examples:
  switchboard sub -t 'plant/#' -v
  switchboard sub --url eio://localhost:8080 -t 'plant/+/temp' --json
  switchboard sub --url ipc://localhost:7700 -t news -n 1 -W 10
  switchboard sub -t 'a/#' -F '%I %o %t %p'
";

/// `switchboard sub`: print the messages of one or more topic filters, like mosquitto_sub /
/// amqtt_sub.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "switchboard sub",
    bin_name = "switchboard sub",
    about = "Subscribe and print messages from MQTT, Engine.IO or the IPC bus (like mosquitto_sub)",
    disable_help_flag = true,
    after_help = format!("{SUB_AFTER_HELP}\n{EXIT_CODES_HELP}"),
)]
pub struct SubArgs {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Connection options.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Topic filter to subscribe to (repeatable). May come from mqtt://host/filter.
    #[arg(short = 't', long = "topic", value_name = "FILTER")]
    pub topics: Vec<String>,
    /// Subscription QoS: 0, 1 or 2 (MQTT only). Default 0.
    #[arg(short = 'q', long = "qos", value_name = "QOS", value_parser = parse_qos)]
    pub qos: Option<u8>,
    /// Exit after COUNT messages (mosquitto's -C works too).
    #[arg(short = 'n', long = "count", visible_short_alias = 'C', value_name = "COUNT",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Exit with code 5 after SECONDS (counted from the first connection).
    #[arg(short = 'W', long = "timeout", value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Print the topic before the payload.
    #[arg(short = 'v', long = "verbose", conflicts_with_all = ["format", "json"])]
    pub verbose: bool,
    /// Output format string (see below).
    #[arg(
        short = 'F',
        long = "format",
        value_name = "FORMAT",
        conflicts_with = "json"
    )]
    pub format: Option<String>,
    /// Print one JSON object per message and line.
    #[arg(long = "json")]
    pub json: bool,
    /// Do not print the end of line after each message.
    #[arg(short = 'N', long = "no-eol")]
    pub no_eol: bool,
    /// Skip retained messages (not counted by -n).
    #[arg(short = 'R', long = "no-retained")]
    pub no_retained: bool,
    /// Exit as soon as every subscription is acknowledged.
    #[arg(short = 'E', long = "exit-after-subscribe")]
    pub exit_after_subscribe: bool,
    /// Give up after N consecutive failed reconnection attempts (0: do not reconnect).
    #[arg(long = "reconnect-retries", value_name = "N")]
    pub reconnect_retries: Option<u32>,
    /// Longest wait between reconnection attempts, in seconds.
    #[arg(long = "reconnect-max-delay", value_name = "SECONDS", value_parser = parse_seconds,
          default_value = "10")]
    pub reconnect_max_delay: Duration,
}

/// How `sub` prints messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The payload.
    Payload,
    /// `topic payload`.
    Verbose,
    /// A `-F` format string.
    Format(String),
    /// One JSON object per message.
    Json,
}

/// `switchboard sub` settings, checked.
#[derive(Debug, Clone)]
pub struct SubSettings {
    /// Connection.
    pub connect: Connect,
    /// Topic filters.
    pub filters: Vec<String>,
    /// Subscription QoS.
    pub qos: u8,
    /// `-n`.
    pub count: Option<u64>,
    /// `-W`.
    pub timeout: Option<Duration>,
    /// How to print.
    pub output: Output,
    /// `-N`.
    pub no_eol: bool,
    /// `-R`.
    pub no_retained: bool,
    /// `-E`.
    pub exit_after_subscribe: bool,
    /// `--reconnect-retries` (`None`: no limit).
    pub reconnect_retries: Option<u32>,
    /// `--reconnect-max-delay`.
    pub reconnect_max_delay: Duration,
}

impl SubArgs {
    /// Checks the options and builds the settings.
    pub fn resolve(&self) -> Result<SubSettings, CliError> {
        let connect = self.connect.resolve("sub")?;
        let protocol = connect.endpoint.protocol();
        let mut filters = self.topics.clone();
        if filters.is_empty()
            && matches!(connect.endpoint.scheme, Scheme::Mqtt | Scheme::Mqtts)
            && !connect.endpoint.path.is_empty()
        {
            filters.push(connect.endpoint.path.clone());
        }
        if filters.is_empty() {
            return Err(CliError::usage(
                "at least one topic filter is required (-t FILTER)",
            ));
        }
        for f in &filters {
            crate::topic::check_filter(protocol, f)
                .map_err(|e| CliError::usage(format!("-t: {e}")))?;
        }
        if protocol != Protocol::Mqtt && self.qos.is_some_and(|q| q > 0) {
            return Err(unsupported(
                "-q 1/2",
                protocol,
                "subscriptions have no QoS there",
            ));
        }
        let output = if self.json {
            Output::Json
        } else if let Some(f) = &self.format {
            crate::format::Template::parse(f).map_err(|e| CliError::usage(format!("-F: {e}")))?;
            Output::Format(f.clone())
        } else if self.verbose {
            Output::Verbose
        } else {
            Output::Payload
        };
        Ok(SubSettings {
            connect,
            filters,
            qos: self.qos.unwrap_or(0),
            count: self.count,
            timeout: self.timeout,
            output,
            no_eol: self.no_eol,
            no_retained: self.no_retained,
            exit_after_subscribe: self.exit_after_subscribe,
            reconnect_retries: self.reconnect_retries,
            reconnect_max_delay: self.reconnect_max_delay,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pub_args(args: &[&str]) -> Result<PubSettings, CliError> {
        let mut v = vec!["switchboard pub"];
        v.extend_from_slice(args);
        PubArgs::try_parse_from(v)
            .map_err(|e| CliError::usage(e.to_string()))?
            .resolve()
    }

    fn sub_args(args: &[&str]) -> Result<SubSettings, CliError> {
        let mut v = vec!["switchboard sub"];
        v.extend_from_slice(args);
        SubArgs::try_parse_from(v)
            .map_err(|e| CliError::usage(e.to_string()))?
            .resolve()
    }

    fn usage_error(r: Result<impl std::fmt::Debug, CliError>, needle: &str) {
        match r {
            Err(CliError::Usage(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected a usage error with `{needle}`, got {other:?}"),
        }
    }

    #[test]
    fn mosquitto_style_options_override_the_url() {
        let s = pub_args(&[
            "-h",
            "127.0.0.1",
            "-p",
            "1999",
            "-u",
            "me",
            "-P",
            "pw",
            "-t",
            "a",
            "-m",
            "x",
        ])
        .unwrap();
        let e = &s.connect.endpoint;
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 1999));
        assert_eq!(e.username.as_deref(), Some("me"));
        assert_eq!(e.password.as_deref(), Some("pw"));
        assert_eq!(s.connect.mqtt_version, MqttVersion::V5);
        assert!(s.connect.client_id.starts_with("switchboard-pub-"));
        let s = pub_args(&[
            "-L",
            "ws://h:1/x",
            "-p",
            "2",
            "-t",
            "a",
            "-n",
            "-V",
            "mqttv311",
        ])
        .unwrap();
        assert_eq!(s.connect.endpoint.websocket_url(), "ws://h:2/x");
        assert_eq!(s.connect.mqtt_version, MqttVersion::V311);
        assert_eq!(s.source, Source::Null);
    }

    #[test]
    fn one_message_source_is_required() {
        usage_error(pub_args(&["-t", "a"]), "required");
        usage_error(pub_args(&["-t", "a", "-m", "x", "-n"]), "cannot be used");
        usage_error(pub_args(&["-m", "x"]), "topic is required");
        let s = pub_args(&["--url", "mqtt://h/from/url", "-l"]).unwrap();
        assert_eq!(s.template.topic, "from/url");
        usage_error(pub_args(&["-t", "a", "-l", "--repeat", "2"]), "not with -l");
    }

    #[test]
    fn options_a_protocol_cannot_honour_are_refused() {
        usage_error(
            pub_args(&["--url", "ipc://h", "-t", "a", "-m", "x", "-r"]),
            "no retained",
        );
        usage_error(
            pub_args(&["--url", "ipc://h", "-t", "a", "-m", "x", "-q", "1"]),
            "no QoS",
        );
        usage_error(
            pub_args(&["--url", "ipc://h", "-u", "x", "-t", "a", "-m", "x"]),
            "no credentials",
        );
        usage_error(
            pub_args(&["--url", "eio://h", "-t", "a", "-m", "x", "-q", "2"]),
            "QoS 0 or 1",
        );
        usage_error(
            pub_args(&[
                "--url",
                "eio://h",
                "-t",
                "a",
                "-m",
                "x",
                "--will-topic",
                "w",
            ]),
            "wills",
        );
        usage_error(
            pub_args(&[
                "-t",
                "a",
                "-m",
                "x",
                "--user-property",
                "k=v",
                "-V",
                "3.1.1",
            ]),
            "MQTT 5",
        );
        usage_error(
            pub_args(&[
                "--url",
                "eio://h",
                "-t",
                "a",
                "-m",
                "x",
                "--user-property",
                "k=v",
            ]),
            "no properties",
        );
        usage_error(
            pub_args(&["-t", "a", "-m", "x", "--extra-headers", "A: b"]),
            "WebSocket URL",
        );
        usage_error(pub_args(&["-t", "a", "-m", "x", "--insecure"]), "TLS URL");
        usage_error(pub_args(&["-t", "a/#", "-m", "x"]), "wildcard");
        usage_error(pub_args(&["-t", "a", "-m", "x", "-P", "pw"]), "user name");
        usage_error(
            sub_args(&["--url", "eio://h", "-t", "a", "-q", "1"]),
            "no QoS",
        );
        usage_error(sub_args(&["-t", "a/#/b"]), "#");
        usage_error(sub_args(&[]), "filter is required");
        usage_error(sub_args(&["-t", "a", "-F", "%Z"]), "%Z");
    }

    #[test]
    fn ipc_channels_are_literal() {
        let s = sub_args(&["--url", "ipc://h", "-t", "a/#/b"]).unwrap();
        assert_eq!(s.filters, ["a/#/b"]);
        let s = pub_args(&["--url", "ipc://h", "-t", "a/+", "-m", "x"]).unwrap();
        assert_eq!(s.template.topic, "a/+");
    }

    #[test]
    fn headers_as_json_or_lines() {
        let s = pub_args(&[
            "--url",
            "eio://h",
            "-t",
            "a",
            "-m",
            "x",
            "--extra-headers",
            r#"{"Authorization": "Bearer t", "X-N": 1}"#,
            "--extra-headers",
            "X-Other: y",
        ])
        .unwrap();
        let h: Vec<_> = s
            .connect
            .extra_headers
            .iter()
            .map(|(n, v)| format!("{n}={}", v.to_str().unwrap()))
            .collect();
        assert_eq!(h, ["authorization=Bearer t", "x-n=1", "x-other=y"]);
        usage_error(
            pub_args(&[
                "--url",
                "eio://h",
                "-t",
                "a",
                "-m",
                "x",
                "--extra-headers",
                "nope",
            ]),
            "Name: value",
        );
    }

    #[test]
    fn json_content_type_selects_the_json_kind() {
        let s = pub_args(&[
            "--url",
            "eio://h",
            "-t",
            "a",
            "-m",
            "{}",
            "--content-type",
            "application/json; charset=utf-8",
        ])
        .unwrap();
        assert_eq!(s.kind, KindArg::Json);
        assert_eq!(s.template.content_type, None);
    }

    #[test]
    fn sub_outputs() {
        assert_eq!(sub_args(&["-t", "a"]).unwrap().output, Output::Payload);
        assert_eq!(
            sub_args(&["-t", "a", "-v"]).unwrap().output,
            Output::Verbose
        );
        assert_eq!(
            sub_args(&["-t", "a", "--json"]).unwrap().output,
            Output::Json
        );
        usage_error(sub_args(&["-t", "a", "--json", "-v"]), "cannot be used");
        let s = sub_args(&["-t", "a", "-C", "3", "-W", "0.5"]).unwrap();
        assert_eq!(s.count, Some(3));
        assert_eq!(s.timeout, Some(Duration::from_millis(500)));
    }
}
