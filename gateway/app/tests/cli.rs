//! The `switchboard` binary: exit codes, messages, signals.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    // Keep the tests independent of the caller's environment.
    c.env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") {
            c.env_remove(k);
        }
    }
    c
}

fn temp_config(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "switchboard-cli-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

/// A config with every listener on an ephemeral port, so tests never collide.
const EPHEMERAL: &str = "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
[mqtt]\nlisten = \"127.0.0.1:0\"\n[ipc]\nlisten = \"127.0.0.1:0\"\n";

#[test]
fn check_config_accepts_a_valid_file() {
    let path = temp_config("valid", EPHEMERAL);
    let out = bin()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
}

#[test]
fn check_config_names_an_unknown_key_and_exits_64() {
    let path = temp_config(
        "unknown",
        "[mqtt]\nlisten = \"127.0.0.1:1883\"\nmax_inflght = 10\n",
    );
    let out = bin()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mqtt.max_inflght"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("unknown key"), "{err}");
}

#[test]
fn print_config_shows_the_merged_result_with_secrets_redacted() {
    let path = temp_config("print", "[admin]\ntoken = \"hunter2\"\n");
    let out = bin()
        .args(["print-config", "--config"])
        .arg(&path)
        .args(["--set", "mqtt.max_inflight=42"])
        .env("SWITCHBOARD_IPC__MAX_PEERS", "77")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("max_inflight = 42"), "{text}");
    assert!(text.contains("max_peers = 77"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}

#[test]
fn a_bad_set_flag_is_a_usage_error() {
    let out = bin()
        .args(["check-config", "--set", "novalue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEY=VALUE"));
}

#[test]
fn a_port_in_use_exits_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let path = temp_config("inuse", EPHEMERAL);
    let out = bin()
        .arg("--config")
        .arg(&path)
        .args(["--set", &format!("http.listen=\"{addr}\"")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&addr.to_string()) && err.contains("http.listen"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_drains_and_exits_0_within_the_grace_period() {
    let path = temp_config(
        "sigterm",
        &format!("{EPHEMERAL}[shutdown]\ngrace_ms = 3000\n"),
    );
    let mut child = bin()
        .arg("--config")
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Start-up output says where each endpoint listens, then "ready".
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.contains("ready");
        seen.push(line);
        if ready {
            break;
        }
    }
    let startup = seen.join("\n");
    assert!(startup.contains("HTTP front"), "{startup}");
    assert!(startup.contains("/metrics /healthz /readyz"), "{startup}");
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "{}", rest.join("\n"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "exited within the grace period"
    );
    let log = rest.join("\n");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("switchboard stopped"), "{log}");
}
