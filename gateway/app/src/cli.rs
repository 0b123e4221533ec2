//! The command line: `switchboard [run]`, `switchboard check-config`, `switchboard print-config`,
//! `switchboard passwd` (password files, like `mosquitto_passwd`), and the clients
//! `switchboard pub` / `switchboard sub` (crate `switchboard-cli`, like `mosquitto_pub` /
//! `mosquitto_sub`).
//!
//! Exit codes: 0 success, 1 runtime failure (e.g. a port in use), 64 invalid configuration or usage
//! (`pub`/`sub` add 2-5, see `switchboard sub --help`).

use std::ffi::OsString;
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
#[command(
    name = "switchboard",
    version,
    about,
    long_about,
    after_help = "Password files: `switchboard passwd [-c | -D] [-b] [-I N] [-H HASH] FILE USER \
                  [PASSWORD]` works like mosquitto_passwd (see `switchboard passwd --help`).\n\
                  Clients: `switchboard pub` / `switchboard sub` publish and subscribe over MQTT, \
                  Engine.IO or the IPC bus like mosquitto_pub / mosquitto_sub (see \
                  `switchboard pub --help`); they take their own options, so the global -c and \
                  -s do not apply to them."
)]
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
    /// Publish messages over MQTT, Engine.IO or the IPC bus (see `switchboard pub --help`).
    #[command(disable_help_flag = true)]
    Pub {
        /// The options of `switchboard pub`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Subscribe and print messages (see `switchboard sub --help`).
    #[command(disable_help_flag = true)]
    Sub {
        /// The options of `switchboard sub`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
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
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "passwd") {
        // Its own parser: mosquitto_passwd's `-c` would clash with the global `-c/--config`.
        return passwd_main(args.into_iter().skip(1));
    }
    // The clients have their own parsers too: mosquitto_pub's `-s` (stdin) and `-h` (host)
    // would clash with the global `-s/--set` and with `-h` for help.
    if args.get(1).is_some_and(|a| a == "pub") {
        return switchboard_cli::pub_main(args.into_iter().skip(1));
    }
    if args.get(1).is_some_and(|a| a == "sub") {
        return switchboard_cli::sub_main(args.into_iter().skip(1));
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    if let Some(Command::Pub { args } | Command::Sub { args }) = &cli.command {
        // Reached only with global options before the subcommand (`switchboard -c f pub`).
        if cli.config.is_some() || !cli.set.is_empty() {
            eprintln!(
                "switchboard: pub and sub are clients and read no gateway configuration: \
                 drop -c/--config and -s/--set"
            );
            return ExitCode::from(EXIT_USAGE);
        }
        let name = if matches!(cli.command, Some(Command::Pub { .. })) {
            "pub"
        } else {
            "sub"
        };
        let args = std::iter::once(OsString::from(name)).chain(args.iter().cloned());
        return if name == "pub" {
            switchboard_cli::pub_main(args)
        } else {
            switchboard_cli::sub_main(args)
        };
    }
    let config = match load(&cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            // The password file, ACL file and JWT key are checked line by line too.
            if let Err(e) = switchboard_auth::AuthFiles::load(&config.auth) {
                print_config_errors(&[e.to_config_error()]);
                return ExitCode::from(EXIT_USAGE);
            }
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
        // Dispatched above, before the configuration is loaded.
        Command::Pub { .. } | Command::Sub { .. } => ExitCode::from(EXIT_USAGE),
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

/// `switchboard passwd`: manages a mosquitto-format password file the way `mosquitto_passwd` does,
/// writing `$7$` (PBKDF2-SHA512) entries that mosquitto reads too.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard passwd",
    about = "Manage a mosquitto-format password file (like mosquitto_passwd)",
    override_usage = "switchboard passwd [-H HASH] [-I ITERATIONS] [-c | -D] FILE USER\n       \
                      switchboard passwd [-H HASH] [-I ITERATIONS] [-c] -b FILE USER PASSWORD"
)]
pub struct PasswdCli {
    /// Create a new password file, overwriting an existing one. With FILE `-`, print the entry.
    #[arg(short = 'c', conflicts_with = "delete")]
    pub create: bool,
    /// Batch mode: take the password from the command line instead of prompting for it.
    #[arg(short = 'b', conflicts_with = "delete")]
    pub batch: bool,
    /// Delete USER from FILE instead of adding or updating it.
    #[arg(short = 'D')]
    pub delete: bool,
    /// PBKDF2 iterations of new `$7$` entries.
    #[arg(
        short = 'I',
        value_name = "ITERATIONS",
        default_value_t = switchboard_auth::password::DEFAULT_ITERATIONS,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(i32::MAX))
    )]
    pub iterations: u32,
    /// Hash of new entries: `sha512-pbkdf2` (`$7$`, recommended) or `sha512` (`$6$`, only for
    /// mosquitto 1.x).
    #[arg(short = 'H', value_name = "HASH", default_value = "sha512-pbkdf2",
          value_parser = ["sha512-pbkdf2", "sha512"])]
    pub hash: String,
    /// The password file.
    pub file: PathBuf,
    /// The user name (no `:` and no control characters).
    pub user: String,
    /// The password, with -b only.
    pub password: Option<String>,
}

fn passwd_main(args: impl Iterator<Item = OsString>) -> ExitCode {
    let cli = match PasswdCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    match passwd(&cli) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(message) => {
            eprintln!("Error: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Runs `switchboard passwd`; the error is the message to print.
pub fn passwd(cli: &PasswdCli) -> Result<(), String> {
    use switchboard_auth::passwd::{self, Change, HashKind};
    let kind = HashKind::from_name(&cli.hash).unwrap_or_default();
    passwd::validate_username(&cli.user).map_err(|e| e.to_string())?;
    if cli.delete {
        if cli.password.is_some() {
            return Err("-D takes no password".into());
        }
        passwd::delete_user(&cli.file, &cli.user).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let password = match (&cli.password, cli.batch) {
        (Some(p), true) => p.clone(),
        (None, true) => return Err("-b needs the password after the user name".into()),
        (Some(_), false) => {
            return Err("a password on the command line needs -b (batch mode)".into());
        }
        (None, false) => prompt_password()?,
    };
    let to_stdout = cli.create && cli.file.as_os_str() == "-";
    if to_stdout {
        let line = passwd::entry_line(&cli.user, password.as_bytes(), kind, cli.iterations)
            .map_err(|e| e.to_string())?;
        print!("{line}");
        return Ok(());
    }
    let change = if cli.create {
        passwd::create(
            &cli.file,
            &cli.user,
            password.as_bytes(),
            kind,
            cli.iterations,
        )
        .map(|()| Change::Added)
    } else {
        passwd::set_password(
            &cli.file,
            &cli.user,
            password.as_bytes(),
            kind,
            cli.iterations,
        )
    }
    .map_err(|e| e.to_string())?;
    match change {
        Change::Added => println!("Adding password for user {}", cli.user),
        Change::Updated => println!("Updating password for user {}", cli.user),
    }
    Ok(())
}

/// Reads the password twice from the terminal without echo, as mosquitto_passwd does.
fn prompt_password() -> Result<String, String> {
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| {
            format!("cannot read the password from the terminal ({e}); use -b to pass it instead")
        })
    };
    let first = read("Password: ")?;
    let second = read("Reenter password: ")?;
    if first != second {
        return Err("Passwords do not match.".into());
    }
    Ok(first)
}
