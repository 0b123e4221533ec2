//! `switchboard sub`: [`SubArgs`] and its checked form [`SubSettings`].

use std::time::Duration;

use clap::{ArgAction, Parser};

use super::{Connect, ConnectArgs, parse_qos, parse_seconds, unsupported};
use crate::error::{CliError, EXIT_CODES_HELP};
use crate::url::{Protocol, Scheme};

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
