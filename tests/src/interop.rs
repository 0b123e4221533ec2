//! Running the real clients of other ecosystems (Node and Python scripts under `tests/interop/`)
//! against a gateway, and reading what they report.
//!
//! Scripts print one JSON object per line on stdout; the Rust test asserts on those lines.
//! A missing runtime or module fails the test with the command that installs it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `tests/interop` in the source tree.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// What a finished script produced.
#[derive(Debug)]
pub struct ScriptOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Every stdout line that parsed as JSON.
    pub events: Vec<serde_json::Value>,
    /// Raw stdout.
    pub stdout: String,
    /// Raw stderr.
    pub stderr: String,
}

impl ScriptOutput {
    /// Panics with the script's output unless it exited with 0.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "script failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The events whose `"event"` field equals `name`.
    pub fn events_named(&self, name: &str) -> Vec<&serde_json::Value> {
        self.events
            .iter()
            .filter(|e| e.get("event").and_then(|v| v.as_str()) == Some(name))
            .collect()
    }
}

fn check_node_modules(dir: &Path) {
    assert!(
        dir.join("node_modules").is_dir(),
        "{}/node_modules is missing: run `make deps` (or `npm ci` in that directory)",
        dir.display()
    );
}

/// A Node command for `script` in `tests/interop/<suite>/`, with `args`.
pub fn node(suite: &str, script: &str, args: &[String]) -> Command {
    let dir = interop_dir().join(suite);
    check_node_modules(&dir);
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir).arg(script).args(args);
    cmd
}

/// A Python command (the interop venv's interpreter) for `tests/interop/<suite>/<script>`.
pub fn python(suite: &str, script: &str, args: &[String]) -> Command {
    let root = interop_dir();
    let py = root.join(".venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run `make deps` to create the interop virtualenv",
        py.display()
    );
    let mut cmd = Command::new(py);
    cmd.current_dir(root.join(suite)).arg(script).args(args);
    cmd
}

/// Runs `cmd` to completion (killing it after `timeout`) and collects its output.
pub async fn run(mut cmd: Command, timeout: Duration) -> ScriptOutput {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (is it installed? run `make deps`)"));
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            ScriptOutput {
                code: out.status.code(),
                events: parse_events(&stdout),
                stdout,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Ok(Err(e)) => panic!("waiting for the script failed: {e}"),
        Err(_) => panic!("the script did not finish within {timeout:?}"),
    }
}

fn parse_events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect()
}

/// A script running in the background whose JSON lines can be awaited one by one.
#[derive(Debug)]
pub struct Running {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Running {
    /// Starts `cmd` with piped stdout (stderr inherited so failures show in the test log).
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (run `make deps`)"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| unreachable!("stdout is piped"));
        Running {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// Waits for the next JSON event whose `"event"` is `name` (other lines are skipped).
    pub async fn expect(&mut self, name: &str, timeout: Duration) -> serde_json::Value {
        let fut = async {
            loop {
                match self.lines.next_line().await {
                    Ok(Some(line)) => {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line.trim())
                            && v.get("event").and_then(|e| e.as_str()) == Some(name)
                        {
                            return v;
                        }
                    }
                    Ok(None) => panic!("the script ended before reporting `{name}`"),
                    Err(e) => panic!("reading the script's output failed: {e}"),
                }
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .unwrap_or_else(|_| panic!("no `{name}` event within {timeout:?}"))
    }

    /// Kills the script.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits for the script to exit and returns its exit code.
    pub async fn wait(mut self, timeout: Duration) -> Option<i32> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(s)) => s.code(),
            _ => {
                let _ = self.child.kill().await;
                panic!("the script did not exit within {timeout:?}")
            }
        }
    }
}
