//! `switchboard-soak`: a long mixed load over every protocol against a real gateway process, with
//! clients connecting and disconnecting all the time; reports the gateway's memory over time (it
//! must stay flat), errors (there must be none) and message loss (none for MQTT QoS 1/2 and the
//! IPC bus). `make soak` runs it for 10 minutes; `SOAK_SECONDS=60 make soak` for a short run.
//!
//! Load, all at once:
//! - MQTT QoS 1 and QoS 2 streams: a publisher (reconnecting every ~10 s) publishes numbered
//!   messages; a persistent-session subscriber disconnects every few seconds and resumes, so
//!   messages queue for it while it is away (and go through the store). Every number must arrive;
//!   QoS 2 exactly once.
//! - IPC bus: pairs of fresh connections (a listener and a sender) exchange 200 messages, then
//!   hang up; every message must arrive.
//! - Engine.IO: WebSocket sessions subscribe, publish 50 messages to themselves and close.
//! - HTTP: the front and the admin port (`/healthz`, `/metrics`).
//!
//! Exit status 0 when memory stayed flat, no error happened and nothing was lost; 1 otherwise.
//!
//! # Layout
//! - `main.rs` (this file): arguments, the gateway process, sampling, the report.
//! - `mqtt`, `ipc`, `eio`, `http`: the load of each protocol.

mod eio;
mod http;
mod ipc;
mod mqtt;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::net::TcpStream;

use crate::eio::eio_churn;
use crate::http::http_load;
use crate::ipc::ipc_churn;
use crate::mqtt::{mqtt_publisher, mqtt_subscriber};
use switchboard_mqtt_proto::QoS;

#[derive(Debug, Parser)]
#[command(about = "Soak test of a switchboard gateway: mixed load, memory, errors, loss")]
struct Args {
    /// How long the load runs, in seconds.
    #[arg(long, env = "SOAK_SECONDS", default_value_t = 600)]
    seconds: u64,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/switchboard")]
    gateway: PathBuf,
    /// Seconds between memory samples and progress lines.
    #[arg(long, default_value_t = 10)]
    sample_seconds: u64,
}

#[derive(Debug, Default)]
struct Counters {
    q1_sent: AtomicU64,
    q1_received: AtomicU64,
    q1_duplicates: AtomicU64,
    q2_sent: AtomicU64,
    q2_received: AtomicU64,
    q2_duplicates: AtomicU64,
    ipc_sent: AtomicU64,
    ipc_received: AtomicU64,
    ipc_lost: AtomicU64,
    eio_sent: AtomicU64,
    eio_received: AtomicU64,
    http_ok: AtomicU64,
    connections: AtomicU64,
    errors: AtomicU64,
    first_errors: parking_lot_free::Log,
}

/// The first errors, for the report (a tokio mutex: the bench crate has no parking_lot).
mod parking_lot_free {
    #[derive(Debug, Default)]
    pub struct Log(tokio::sync::Mutex<Vec<String>>);
    impl Log {
        pub fn push(&self, s: String) {
            if let Ok(mut v) = self.0.try_lock()
                && v.len() < 20
            {
                v.push(s);
            }
        }
        pub fn all(&self) -> Vec<String> {
            self.0.try_lock().map(|v| v.clone()).unwrap_or_default()
        }
    }
}

impl Counters {
    fn error(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("soak: error: {what}");
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_errors.push(what);
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

struct Ports {
    http: SocketAddr,
    admin: SocketAddr,
    mqtt: SocketAddr,
    ipc: SocketAddr,
}

type Res<T> = Result<T, String>;

fn e(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |err| format!("{what}: {err}")
}

// --- the gateway --------------------------------------------------------------------------------

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("switchboard-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(err) = std::fs::create_dir_all(&dir) {
        eprintln!("soak: cannot create {}: {err}", dir.display());
        return std::process::ExitCode::FAILURE;
    }
    let ports = Ports {
        http: SocketAddr::from(([127, 0, 0, 1], free_port())),
        admin: SocketAddr::from(([127, 0, 0, 1], free_port())),
        mqtt: SocketAddr::from(([127, 0, 0, 1], free_port())),
        ipc: SocketAddr::from(([127, 0, 0, 1], free_port())),
    };
    let config = format!(
        "[http]\nlisten = \"{}\"\n[admin]\nlisten = \"{}\"\n[mqtt]\nlisten = \"{}\"\n\
         [ipc]\nlisten = \"{}\"\n[auth]\nanonymous = true\n[fabric]\nsys_interval_ms = 1000\n\
         [telemetry]\nlog_level = \"warn\"\n[storage]\npath = {:?}\nfsync = \"always\"\n",
        ports.http,
        ports.admin,
        ports.mqtt,
        ports.ipc,
        dir.join("data").display().to_string()
    );
    let config_path = dir.join("switchboard.toml");
    if let Err(err) = std::fs::write(&config_path, config) {
        eprintln!("soak: cannot write the config: {err}");
        return std::process::ExitCode::FAILURE;
    }
    let mut child = match Command::new(&args.gateway)
        .arg("--config")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(err) => {
            eprintln!("soak: cannot start {}: {err}", args.gateway.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let pid = child.id();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("soak: runtime: {err}");
            let _ = child.kill();
            return std::process::ExitCode::FAILURE;
        }
    };
    let counters = Arc::new(Counters::default());
    let (samples, q1_seen, q2_seen) = rt.block_on(run(&args, &ports, pid, counters.clone()));
    // Graceful stop: SIGTERM, exit 0 within the drain.
    let term = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut exit_ok = false;
    while term && Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            exit_ok = status.success();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !exit_ok {
        counters.error("the gateway did not exit 0 after SIGTERM");
        let _ = child.kill();
        let _ = child.wait();
    }
    let ok = report(&args, &samples, &counters, &q1_seen, &q2_seen);
    let _ = std::fs::remove_dir_all(&dir);
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

type Samples = Vec<(u64, u64)>;

async fn run(
    args: &Args,
    ports: &Ports,
    pid: u32,
    c: Arc<Counters>,
) -> (Samples, HashSet<u64>, HashSet<u64>) {
    // Wait for the gateway.
    let started = Instant::now();
    while TcpStream::connect(ports.admin).await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            c.error("the gateway did not start");
            return (Vec::new(), HashSet::new(), HashSet::new());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    let drained1 = Arc::new(AtomicBool::new(false));
    let drained2 = Arc::new(AtomicBool::new(false));
    // Subscribers first, so that their sessions exist before anything is published.
    let sub1 = tokio::spawn(mqtt_subscriber(
        ports.mqtt,
        QoS::AtLeastOnce,
        stop.clone(),
        drained1.clone(),
        c.clone(),
    ));
    let sub2 = tokio::spawn(mqtt_subscriber(
        ports.mqtt,
        QoS::ExactlyOnce,
        stop.clone(),
        drained2.clone(),
        c.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    tasks.spawn(mqtt_publisher(
        ports.mqtt,
        QoS::AtLeastOnce,
        100,
        stop.clone(),
        c.clone(),
    ));
    tasks.spawn(mqtt_publisher(
        ports.mqtt,
        QoS::ExactlyOnce,
        50,
        stop.clone(),
        c.clone(),
    ));
    tasks.spawn(ipc_churn(ports.ipc, stop.clone(), c.clone()));
    tasks.spawn(eio_churn(ports.http, stop.clone(), c.clone()));
    tasks.spawn(http_load(
        (ports.http, ports.admin),
        stop.clone(),
        c.clone(),
    ));

    let mut samples = Vec::new();
    let t0 = Instant::now();
    let total = Duration::from_secs(args.seconds);
    let every = Duration::from_secs(args.sample_seconds.max(1));
    let mut next = Duration::ZERO;
    println!(
        "soak: {} s of mixed load on gateway pid {pid} (MQTT {}, IPC {}, front {}, admin {})",
        args.seconds, ports.mqtt, ports.ipc, ports.http, ports.admin
    );
    while t0.elapsed() < total {
        if t0.elapsed() >= next {
            let t = t0.elapsed().as_secs();
            let rss = rss_kib(pid).unwrap_or(0);
            samples.push((t, rss));
            println!(
                "[{t:>5} s] rss {:>7.1} MiB | mqtt q1 {}/{} q2 {}/{} | ipc {}/{} | eio {}/{} | http {} | conns {} | errors {}",
                mib(rss),
                load(&c.q1_received),
                load(&c.q1_sent),
                load(&c.q2_received),
                load(&c.q2_sent),
                load(&c.ipc_received),
                load(&c.ipc_sent),
                load(&c.eio_received),
                load(&c.eio_sent),
                load(&c.http_ok),
                load(&c.connections),
                load(&c.errors),
            );
            next += every;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let q1 = sub1.await.unwrap_or_default();
    let q2 = sub2.await.unwrap_or_default();
    let rss = rss_kib(pid).unwrap_or(0);
    samples.push((t0.elapsed().as_secs(), rss));
    (samples, q1, q2)
}

fn report(
    args: &Args,
    samples: &Samples,
    c: &Counters,
    q1_seen: &HashSet<u64>,
    q2_seen: &HashSet<u64>,
) -> bool {
    let mut ok = true;
    println!("\nsoak report ({} s)", args.seconds);
    println!("memory (gateway RSS):");
    for (t, kib) in samples {
        println!("  {t:>5} s  {:>7.1} MiB", mib(*kib));
    }
    // Flat: after a warm-up (the first quarter), the peak of the last third may exceed the peak
    // of the first third by at most 10 % + 8 MiB.
    let n = samples.len();
    if n >= 6 {
        let warm = n / 4;
        let rest = &samples[warm..];
        let third = (rest.len() / 3).max(1);
        let early = rest[..third].iter().map(|s| s.1).max().unwrap_or(0);
        let late = rest[rest.len() - third..]
            .iter()
            .map(|s| s.1)
            .max()
            .unwrap_or(0);
        let allowed = early + early / 10 + 8 * 1024;
        let flat = late <= allowed;
        println!(
            "memory: early peak {:.1} MiB, late peak {:.1} MiB (allowed {:.1}): {}",
            mib(early),
            mib(late),
            mib(allowed),
            if flat { "flat" } else { "GROWING" }
        );
        ok &= flat;
    } else {
        println!("memory: too few samples to judge (run longer or sample more often)");
    }
    let q1_sent = load(&c.q1_sent);
    let q2_sent = load(&c.q2_sent);
    // Numbers are 1.. in publication order, but a number whose flow failed is skipped: loss is
    // acknowledged messages not seen.
    let q1_lost = q1_sent.saturating_sub(q1_seen.len() as u64);
    let q2_lost = q2_sent.saturating_sub(q2_seen.len() as u64);
    let q2_dups = load(&c.q2_duplicates);
    println!(
        "mqtt qos1: {q1_sent} acknowledged, {} distinct received, {q1_lost} lost, {} duplicates (allowed)",
        q1_seen.len(),
        load(&c.q1_duplicates)
    );
    println!(
        "mqtt qos2: {q2_sent} acknowledged, {} distinct received, {q2_lost} lost, {q2_dups} duplicates",
        q2_seen.len()
    );
    println!(
        "ipc: {} sent, {} received, {} lost",
        load(&c.ipc_sent),
        load(&c.ipc_received),
        load(&c.ipc_lost)
    );
    println!(
        "engine.io: {} published, {} received (QoS 0)",
        load(&c.eio_sent),
        load(&c.eio_received)
    );
    println!("http: {} requests answered as expected", load(&c.http_ok));
    println!("connections opened: {}", load(&c.connections));
    let errors = load(&c.errors);
    println!("errors: {errors}");
    for e in c.first_errors.all() {
        println!("  - {e}");
    }
    ok &= errors == 0 && q1_lost == 0 && q2_lost == 0 && q2_dups == 0 && load(&c.ipc_lost) == 0;
    ok &= q1_sent > 0 && q2_sent > 0 && load(&c.ipc_sent) > 0 && load(&c.eio_received) > 0;
    println!("soak: {}", if ok { "PASSED" } else { "FAILED" });
    ok
}
