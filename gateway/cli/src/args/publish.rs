//! `switchboard pub`: [`PubArgs`] and its checked form [`PubSettings`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgGroup, Parser, ValueEnum};

use super::{Connect, ConnectArgs, MqttVersion, parse_qos, parse_seconds, unsupported};
use crate::error::{CliError, EXIT_CODES_HELP};
use crate::message::{Kind, Outgoing};
use crate::url::{Protocol, Scheme};

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
    /// switchboard-cli/reply/CLIENT_ID.
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
