//! Interactive client scripts ("agents"): a Node or Python client of another ecosystem that takes
//! JSON commands on stdin and reports JSON events on stdout, so that one Rust test can drive
//! several protocols' real clients step by step (`tests/interop/*/agent.*`).
//!
//! Unlike [`crate::interop::Running`], an agent keeps the events it has not been asked for yet:
//! waiting for one event never loses another that arrived first.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long [`Agent::expect`] waits by default.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running agent script.
#[derive(Debug)]
pub struct Agent {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    backlog: Vec<Value>,
}

impl Agent {
    /// Starts `cmd` with piped stdin and stdout (stderr inherited, so failures show in the test
    /// log); `name` labels panics.
    pub fn spawn(name: &str, mut cmd: Command) -> Agent {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start agent {name} ({cmd:?}): {e} (run `make deps`)")
        });
        let stdin = child
            .stdin
            .take()
            .unwrap_or_else(|| unreachable!("stdin is piped"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| unreachable!("stdout is piped"));
        Agent {
            name: name.to_owned(),
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            backlog: Vec::new(),
        }
    }

    /// Sends one command line.
    pub async fn send(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        if let Err(e) = self.stdin.write_all(line.as_bytes()).await {
            panic!("agent {}: writing a command failed: {e}", self.name);
        }
        let _ = self.stdin.flush().await;
    }

    async fn read(&mut self) -> Value {
        loop {
            match self.lines.next_line().await {
                Ok(Some(line)) => {
                    if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
                        return v;
                    }
                }
                Ok(None) => panic!(
                    "agent {} ended; events not consumed: {:?}",
                    self.name, self.backlog
                ),
                Err(e) => panic!("agent {}: reading its output failed: {e}", self.name),
            }
        }
    }

    /// The first event (oldest first, including earlier unclaimed ones) for which `pred` holds;
    /// panics naming `what` after `timeout`.
    pub async fn expect_within(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.read()).await {
                Ok(v) if pred(&v) => return v,
                Ok(v) => self.backlog.push(v),
                Err(_) => panic!(
                    "agent {}: no {what} within {timeout:?}; unclaimed events: {:#?}",
                    self.name, self.backlog
                ),
            }
        }
    }

    /// [`Agent::expect_within`] with [`WAIT`].
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.expect_within(what, WAIT, pred).await
    }

    /// The first event named `event`.
    pub async fn expect_event(&mut self, event: &str) -> Value {
        self.expect(event, |v| v["event"] == event).await
    }

    /// Reads events for `period` and panics if one satisfies `pred` (also among the unclaimed).
    pub async fn expect_none(
        &mut self,
        what: &str,
        period: Duration,
        pred: impl Fn(&Value) -> bool,
    ) {
        if let Some(v) = self.backlog.iter().find(|v| pred(v)) {
            panic!("agent {}: unexpected {what}: {v}", self.name);
        }
        let deadline = tokio::time::Instant::now() + period;
        while let Ok(v) = tokio::time::timeout_at(deadline, self.read()).await {
            if pred(&v) {
                panic!("agent {}: unexpected {what}: {v}", self.name);
            }
            self.backlog.push(v);
        }
    }

    /// Drops the unclaimed events.
    pub fn forget(&mut self) {
        self.backlog.clear();
    }

    /// Kills the script.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A stock electron-common-ipc 16 peer (`tests/interop/ipc/agent.js`) named `name`, connected to
/// `gw`'s IPC bus and ready for commands.
pub async fn ipc_peer(gw: &crate::TestGateway, name: &str) -> Agent {
    let port = gw.addresses.ipc.expect("the IPC bus is on").port();
    let mut a = Agent::spawn(
        name,
        crate::interop::node(
            "ipc",
            "agent.js",
            &[
                "--port".into(),
                port.to_string(),
                "--name".into(),
                name.into(),
            ],
        ),
    );
    a.expect_event("ready").await;
    a
}

/// Sends an IPC agent `command` and waits until the client reports it done.
pub async fn ipc_do(a: &mut Agent, command: Value) {
    let cmd = command["cmd"].clone();
    a.send(command).await;
    a.expect(&format!("{cmd} done"), |v| {
        v["event"] == "done" && v["cmd"] == cmd
    })
    .await;
}
