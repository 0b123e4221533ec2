//! Processes the suite starts: pinned with `taskset`, logged to files, measured through
//! `/proc` (resident memory and CPU time of the whole process tree), stopped by pid.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::{BenchError, Context, Result};

/// A free loopback port (bound, read, released).
pub fn free_port() -> Result<u16> {
    let l = StdListener::bind("127.0.0.1:0").context(|| "bind a free port".to_owned())?;
    Ok(l.local_addr()
        .context(|| "read a free port".to_owned())?
        .port())
}

/// `127.0.0.1:port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A process started by the suite.
#[derive(Debug)]
pub struct Proc {
    /// What it is (for messages).
    pub name: String,
    child: Child,
    /// Its pid.
    pub pid: u32,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// How to start a process.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// Name for messages and the log file.
    pub name: String,
    /// Program.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// CPU to pin to (`taskset -c`), if any.
    pub core: Option<usize>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
}

impl Spawn {
    /// A process `program args...`, unpinned.
    pub fn new(name: &str, program: &str, args: &[&str]) -> Spawn {
        Spawn {
            name: name.to_owned(),
            program: program.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            env: Vec::new(),
            core: None,
            cwd: None,
        }
    }

    /// Pins it to `core`.
    pub fn pinned(mut self, core: Option<usize>) -> Spawn {
        self.core = core;
        self
    }

    fn command(&self, log_dir: &Path) -> Result<(Command, PathBuf)> {
        let mut cmd = match self.core {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(&self.program);
                cmd
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        std::fs::create_dir_all(log_dir).context(|| format!("create {}", log_dir.display()))?;
        let log = log_dir.join(format!("{}.log", self.name));
        let out = std::fs::File::create(&log).context(|| format!("create {}", log.display()))?;
        let err = out
            .try_clone()
            .context(|| format!("open {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        Ok((cmd, log))
    }

    /// Starts it in the background.
    pub fn start(&self, log_dir: &Path) -> Result<Proc> {
        let (mut cmd, log) = self.command(log_dir)?;
        let child = cmd.spawn().map_err(|e| BenchError::Start {
            name: self.name.clone(),
            message: format!("cannot run {}: {e}", self.program),
        })?;
        let pid = child.id().ok_or_else(|| BenchError::Start {
            name: self.name.clone(),
            message: "exited at once".to_owned(),
        })?;
        Ok(Proc {
            name: self.name.clone(),
            child,
            pid,
            log,
        })
    }

    /// Runs it to completion (bounded by `limit`) and returns its stdout.
    pub async fn output(&self, limit: Duration) -> Result<String> {
        let mut cmd = match self.core {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(&self.program);
                cmd
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args).kill_on_drop(true).stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        let out = tokio::time::timeout(limit, cmd.output())
            .await
            .map_err(|_| BenchError::Start {
                name: self.name.clone(),
                message: format!("did not finish within {limit:?}"),
            })?
            .context(|| format!("run {}", self.program))?;
        if !out.status.success() {
            return Err(BenchError::Start {
                name: self.name.clone(),
                message: format!(
                    "exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Proc {
    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory of the process and its descendants, in KiB.
    pub fn rss_kb(&self) -> Option<u64> {
        let pids = tree(self.pid);
        let mut total = 0;
        for p in pids {
            total += rss_kb(p)?;
        }
        Some(total)
    }

    /// CPU time (user + system) of the process and its descendants, in clock ticks.
    pub fn cpu_ticks(&self) -> Option<u64> {
        let mut total = 0;
        for p in tree(self.pid) {
            total += cpu_ticks(p)?;
        }
        Some(total)
    }

    /// Sends SIGTERM, waits up to 3 s, then kills.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(3), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub const TICKS_PER_SEC: f64 = 100.0;

/// `VmRSS` of `pid` in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of `pid` in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Busy time of all CPUs (user, nice, system, irq, softirq, steal) from `/proc/stat`, in ticks.
pub fn system_busy_ticks() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0))
}

/// CPU ticks of this process and everything it started.
pub fn own_tree_ticks() -> u64 {
    tree(std::process::id())
        .into_iter()
        .filter_map(cpu_ticks)
        .sum()
}

/// `pid` and all its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(p).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
                parents.push((p, ppid));
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// Waits until `addr` accepts TCP connections.
pub async fn wait_port(p: &mut Proc, addr: SocketAddr, limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if p.exited() {
            return Err(BenchError::Start {
                name: p.name.clone(),
                message: format!("exited before listening on {addr}:\n{}", p.log_tail()),
            });
        }
        if tokio::time::Instant::now() > deadline {
            return Err(BenchError::Start {
                name: p.name.clone(),
                message: format!("not listening on {addr} after {limit:?}:\n{}", p.log_tail()),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `GET path` on `addr` answers 200.
pub async fn wait_http_ok(
    p: &mut Proc,
    addr: SocketAddr,
    path: &str,
    limit: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(mut c) = crate::net::HttpConn::connect(addr).await
            && let Ok(r) = c.round_trip(&crate::net::http_get(addr, path)).await
            && r.status == 200
        {
            return Ok(());
        }
        if p.exited() {
            return Err(BenchError::Start {
                name: p.name.clone(),
                message: format!("exited before {path} answered 200:\n{}", p.log_tail()),
            });
        }
        if tokio::time::Instant::now() > deadline {
            return Err(BenchError::Start {
                name: p.name.clone(),
                message: format!("{path} not 200 after {limit:?}:\n{}", p.log_tail()),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
