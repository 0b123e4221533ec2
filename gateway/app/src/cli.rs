//! The command line: `switchboard [run]`, `switchboard check-config`, `switchboard print-config`.
//!
//! Exit codes: 0 success, 1 runtime failure (e.g. a port in use), 64 invalid configuration or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_config::{Config, ConfigError, Sources};

use crate::error::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

/// switchboard: one gateway for Engine.IO browsers, MQTT devices and IPC-bus desktop apps.
///
/// With no arguments it runs on the embedded defaults: HTTP front on 127.0.0.1:8080, MQTT on
/// 127.0.0.1:1883, IPC bus on 127.0.0.1:7700, admin on 127.0.0.1:9090, anonymous access allowed.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file. Every key can also be set with SWITCHBOARD_<SECTION>__<KEY>.
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one key, e.g. `--set mqtt.listen=0.0.0.0:1883` (repeatable; highest precedence).
    #[arg(short, long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Log filter (shortcut for `--set telemetry.log_level=...`), e.g. `debug`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Run,
    /// Validate the configuration and exit: 0 when valid, 64 with every problem listed otherwise.
    CheckConfig,
    /// Print the effective configuration (defaults, file, environment and overrides merged) as
    /// TOML, secrets redacted.
    PrintConfig,
}

impl Cli {
    /// The configuration sources these arguments name (the environment is read here).
    pub fn sources(&self) -> Result<Sources, String> {
        let mut overrides = Vec::new();
        for s in &self.set {
            let Some((k, v)) = s.split_once('=') else {
                return Err(format!("--set expects KEY=VALUE, got `{s}`"));
            };
            overrides.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        if let Some(level) = &self.log_level {
            overrides.push(("telemetry.log_level".to_owned(), format!("{level:?}")));
        }
        Ok(Sources {
            file: self.config.clone(),
            env: std::env::vars().collect(),
            overrides,
        })
    }
}

fn print_config_errors(errors: &[ConfigError]) {
    eprintln!("switchboard: invalid configuration:");
    for e in errors {
        eprintln!("  - {e}");
    }
}

fn load(cli: &Cli) -> Result<Config, ExitCode> {
    let sources = cli.sources().map_err(|e| {
        eprintln!("switchboard: {e}");
        ExitCode::from(EXIT_USAGE)
    })?;
    switchboard_config::load(&sources).map_err(|errors| {
        print_config_errors(&errors);
        ExitCode::from(EXIT_USAGE)
    })
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let config = match load(&cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            match &cli.config {
                Some(p) => println!("{}: configuration is valid", p.display()),
                None => println!("configuration is valid (embedded defaults)"),
            }
            ExitCode::from(EXIT_OK)
        }
        Command::PrintConfig => {
            print!("{}", config.to_toml());
            ExitCode::from(EXIT_OK)
        }
        Command::Run => run(config),
    }
}

fn run(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("switchboard")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    runtime.block_on(async move {
        // Install signal handlers first: a SIGTERM during start-up must still shut down cleanly.
        let shutdown = crate::shutdown::signal();
        let _telemetry = match crate::telemetry::init(&config.telemetry) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("switchboard: {e}");
                return ExitCode::from(e.exit_code());
            }
        };
        match crate::run(config, shutdown).await {
            Ok(()) => ExitCode::from(EXIT_OK),
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("switchboard: {e}");
                ExitCode::from(e.exit_code())
            }
        }
    })
}
