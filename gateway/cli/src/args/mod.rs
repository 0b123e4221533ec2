//! The command lines of `switchboard pub` and `switchboard sub` ([`PubArgs`], [`SubArgs`], with
//! the shared [`ConnectArgs`]) and their resolution into checked settings ([`Connect`]).
//!
//! Both commands have their own parser, dispatched before the gateway's (as `switchboard
//! passwd` is): the gateway's global `-c/--config` and `-s/--set` do not apply to them, `-s`
//! is mosquitto_pub's "whole stdin", and `-h` is the host (help is `--help`).
//!
//! # Layout
//! - [`connect`]: the connection options ([`ConnectArgs`]) and settings ([`Connect`]).
//! - [`publish`](mod@publish): `pub` ([`PubArgs`], [`PubSettings`]).
//! - [`subscribe`](mod@subscribe): `sub` ([`SubArgs`], [`SubSettings`]).

pub mod connect;
pub mod publish;
pub mod subscribe;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::error::CliError;
use crate::url::Protocol;

pub use connect::{Connect, ConnectArgs, MqttVersion, Will};
pub use publish::{KindArg, PubArgs, PubSettings, RequestSettings, Source, is_json_type};
pub use subscribe::{Output, SubArgs, SubSettings};

pub(crate) fn parse_qos(s: &str) -> Result<u8, String> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err("QoS is 0, 1 or 2".into()),
    }
}

pub(crate) fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > 1e9 {
        return Err("expected a positive number of seconds".into());
    }
    Ok(Duration::from_secs_f64(v))
}

/// The usage error for an option `protocol` cannot honour.
pub(crate) fn unsupported(option: &str, protocol: Protocol, why: &str) -> CliError {
    CliError::usage(format!("{option} cannot be used with {protocol}: {why}"))
}
