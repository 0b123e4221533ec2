//! `switchboard-bench`: run the benchmark suite, or the relay it uses to measure itself.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_bench::peers::Env;
use switchboard_bench::scenario::{self, Profile};
use switchboard_bench::{block_on, relay, report, suite};

/// Side-by-side benchmarks of switchboard and its peers.
#[derive(Debug, Parser)]
#[command(name = "switchboard-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the suite and print the table; writes target/bench/{results.json,*.svg,performance.md}.
    Run {
        /// Short windows, one run per server (`make bench-quick`).
        #[arg(long)]
        quick: bool,
        /// Only scenarios whose id starts with one of these (comma-separated), e.g. `mqtt.,ipc.send`.
        #[arg(long)]
        only: Option<String>,
        /// The switchboard binary (default: target/release/switchboard).
        #[arg(long)]
        switchboard: Option<PathBuf>,
        /// Output directory (default: target/bench).
        #[arg(long)]
        out: Option<PathBuf>,
        /// CPU for the servers; the generator must already run pinned on another one.
        #[arg(long, default_value_t = 0)]
        server_core: usize,
        /// CPU of the generator and its helpers (the nginx upstream, stock Node clients).
        #[arg(long, default_value_t = 1)]
        gen_core: usize,
        /// Do not pin anything (numbers are then not comparable to the README's).
        #[arg(long)]
        no_pin: bool,
        /// Also copy the charts and JSON to this directory and link the README section there.
        #[arg(long)]
        publish: Option<PathBuf>,
        /// Replace the README's `<!-- bench:start -->`…`<!-- bench:end -->` section.
        #[arg(long)]
        update_readme: bool,
    },
    /// List the scenarios.
    List,
    /// The zero-work relay the `gen.*` scenarios measure the generator through.
    Relay {
        /// `mqtt` or `ipc`.
        #[arg(long)]
        proto: String,
        /// Port on 127.0.0.1.
        #[arg(long)]
        port: u16,
    },
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::List => {
            for s in scenario::all() {
                println!(
                    "{:<26} issue {:<3} {:<14} {}",
                    s.id, s.issue, s.unit, s.title
                );
            }
            ExitCode::SUCCESS
        }
        Cmd::Relay { proto, port } => {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            match block_on(relay::serve(&proto, addr)) {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(e)) => {
                    eprintln!("relay: {e}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("relay: runtime: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Run {
            quick,
            only,
            switchboard,
            out,
            server_core,
            gen_core,
            no_pin,
            publish,
            update_readme,
        } => {
            let root = root();
            let out = out.unwrap_or_else(|| root.join("target/bench"));
            let env = Env {
                switchboard: switchboard.unwrap_or_else(|| root.join("target/release/switchboard")),
                this_exe: std::env::current_exe()
                    .unwrap_or_else(|_| PathBuf::from("switchboard-bench")),
                root: root.clone(),
                out: out.clone(),
                server_core: (!no_pin).then_some(server_core),
                gen_core: (!no_pin).then_some(gen_core),
            };
            if !env.switchboard.exists() {
                eprintln!(
                    "switchboard-bench: {} not found; build it with `cargo build --release`",
                    env.switchboard.display()
                );
                return ExitCode::FAILURE;
            }
            let profile = if quick { Profile::QUICK } else { Profile::FULL };
            let mut scenarios = scenario::all();
            if let Some(only) = only {
                let prefixes: Vec<&str> = only.split(',').map(str::trim).collect();
                scenarios.retain(|s| prefixes.iter().any(|p| s.id.starts_with(p)));
            }
            let result = match block_on(suite::run(&env, profile, scenarios)) {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    eprintln!("switchboard-bench: {e}");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("switchboard-bench: runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            println!("{}", report::table(&result));
            let link = match &publish {
                Some(p) => p.strip_prefix(&root).unwrap_or(p).display().to_string(),
                None => "target/bench".to_owned(),
            };
            if let Err(e) = report::write_all(&result, &out, &link) {
                eprintln!("switchboard-bench: {e}");
                return ExitCode::FAILURE;
            }
            if let Some(p) = &publish {
                let dir = if p.is_absolute() {
                    p.clone()
                } else {
                    root.join(p)
                };
                if let Err(e) = report::write_all(&result, &dir, &link) {
                    eprintln!("switchboard-bench: {e}");
                    return ExitCode::FAILURE;
                }
            }
            if update_readme {
                let section = report::markdown(&result, &link);
                match report::update_readme(&root.join("README.md"), &section) {
                    Ok(true) => eprintln!("README.md: Performance section updated"),
                    Ok(false) => {
                        eprintln!("README.md has no <!-- bench:start --> marker; not updated")
                    }
                    Err(e) => eprintln!("README.md: {e}"),
                }
            }
            eprintln!(
                "results: {}/results.json, charts: {}/*.svg ({:.0} s)",
                out.display(),
                out.display(),
                result.seconds
            );
            ExitCode::SUCCESS
        }
    }
}
