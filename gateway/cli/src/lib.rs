//! `switchboard pub` and `switchboard sub`: command-line clients in the spirit of
//! `mosquitto_pub`/`mosquitto_sub` and aMQTT's `amqtt_pub`/`amqtt_sub`, speaking all three of the
//! gateway's protocols: MQTT 3.1.1/5 (rumqttc, over TCP, TLS or WebSocket), the Engine.IO
//! control protocol (Engine.IO v4 over WebSocket, with the project's Engine.IO codec) and the
//! IPC bus (electron-common-ipc 16, with the project's IPC codec).
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchboard_cli::CliError> {
//! use clap::Parser;
//! use switchboard_cli::{PubArgs, SubArgs};
//!
//! let settings = PubArgs::parse_from(["pub", "--url", "ipc://127.0.0.1:7700", "-t", "news", "-m", "hi"])
//!     .resolve()?;
//! switchboard_cli::publish(&settings, tokio::io::empty(), &mut std::io::sink()).await?;
//!
//! let settings = SubArgs::parse_from(["sub", "--url", "eio://127.0.0.1:8080", "-t", "news", "-n", "1"])
//!     .resolve()?;
//! let mut out = Vec::new();
//! switchboard_cli::subscribe(&settings, &mut out, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - this file: [`pub_main`] / [`sub_main`], the entry points of the binary's subcommands.
//! - [`args`]: the command lines ([`PubArgs`], [`SubArgs`], [`ConnectArgs`]) and their checked
//!   settings ([`PubSettings`], [`SubSettings`], [`Connect`]).
//! - [`url`]: the `--url` syntax ([`Endpoint`], [`Scheme`], [`Protocol`]).
//! - [`topic`]: client-side topic and filter checks.
//! - [`message`]: [`Outgoing`], [`Received`], [`Kind`], timestamps.
//! - [`format`](mod@format): `-v`, `-F` ([`format::Template`]) and `--json` output.
//! - [`link`]: one connection in any protocol ([`Link`]): [`link::mqtt`], [`link::eio`],
//!   [`link::ipc`].
//! - [`publish`](mod@publish) / [`subscribe`](mod@subscribe): the two commands.
//! - [`tls`]: the rustls client configuration (ring provider).
//! - [`error`]: [`CliError`] and the exit codes.

pub mod args;
pub mod error;
pub mod format;
pub mod link;
pub mod message;
pub mod publish;
pub mod subscribe;
pub mod tls;
pub mod topic;
pub mod url;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use crate::args::{
    Connect, ConnectArgs, MqttVersion, Output, PubArgs, PubSettings, RequestSettings, SubArgs,
    SubSettings,
};
pub use crate::error::CliError;
pub use crate::link::Link;
pub use crate::message::{Kind, Outgoing, Received};
pub use crate::publish::{PubSummary, publish};
pub use crate::subscribe::{SubEnd, SubSummary, subscribe, subscribe_with};
pub use crate::url::{Endpoint, Protocol, Scheme};

/// Parses and checks a `pub` command line (`args[0]` is the command name); clap's complaints
/// become [`CliError::Usage`].
pub fn pub_settings<I, T>(args: I) -> Result<PubSettings, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    PubArgs::try_parse_from(args)
        .map_err(|e| CliError::Usage(e.to_string()))?
        .resolve()
}

/// Parses and checks a `sub` command line (`args[0]` is the command name); clap's complaints
/// become [`CliError::Usage`].
pub fn sub_settings<I, T>(args: I) -> Result<SubSettings, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    SubArgs::try_parse_from(args)
        .map_err(|e| CliError::Usage(e.to_string()))?
        .resolve()
}

fn parse<P: Parser>(args: impl IntoIterator<Item = OsString>) -> Result<P, ExitCode> {
    P::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        ExitCode::from(if e.use_stderr() {
            error::EXIT_USAGE
        } else {
            error::EXIT_OK
        })
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            ExitCode::from(error::EXIT_FAILURE)
        })
}

fn fail(e: &CliError, quiet: bool) -> ExitCode {
    if !quiet {
        eprintln!("switchboard: {e}");
    }
    e.to_exit_code()
}

/// `switchboard pub ARGS...`: `args` starts with the subcommand name (`pub`).
pub fn pub_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli: PubArgs = match parse(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let quiet = cli.connect.quiet;
    let settings = match cli.resolve() {
        Ok(s) => s,
        Err(e) => return fail(&e, quiet),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let mut out = std::io::stdout();
    match rt.block_on(publish(&settings, tokio::io::stdin(), &mut out)) {
        Ok(_) => ExitCode::from(error::EXIT_OK),
        Err(e) => fail(&e, quiet),
    }
}

/// `switchboard sub ARGS...`: `args` starts with the subcommand name (`sub`). SIGINT ends it
/// cleanly (exit 0).
pub fn sub_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli: SubArgs = match parse(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let quiet = cli.connect.quiet;
    let settings = match cli.resolve() {
        Ok(s) => s,
        Err(e) => return fail(&e, quiet),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let mut out = std::io::stdout();
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match rt.block_on(subscribe(&settings, &mut out, stop)) {
        Ok(_) => ExitCode::from(error::EXIT_OK),
        Err(e) => fail(&e, quiet),
    }
}
