//! The orchestrator: starts each scenario's servers fresh, runs the load against each side in
//! alternating order for every repetition, samples the server's CPU time and resident memory,
//! and collects the figures.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::discover::{self, Served};
use crate::error::{BenchError, Result};
use crate::peers::{self, Endpoints, Env, Server, ServerKind};
use crate::procs::{self, Proc, Spawn, TICKS_PER_SEC};
use crate::scenario::{Better, Load, Metric, Profile, Scenario};
use crate::stats::{RunStats, Timing};
use crate::{cross, eio, http, ipc, mqtt, sio};

/// The figures of one server in one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct SideResult {
    /// Server label.
    pub server: String,
    /// The figure of each repetition.
    pub runs: Vec<f64>,
    /// Median of `runs`.
    pub median: Option<f64>,
    /// Smallest of `runs`.
    pub min: Option<f64>,
    /// Largest of `runs`.
    pub max: Option<f64>,
    /// The counts behind each run.
    pub stats: Vec<RunStats>,
    /// Server CPU during each run, in cores (1.0 = one core busy).
    pub server_cpu: Vec<f64>,
    /// CPU used by processes outside this suite during each run, in cores (other work on the
    /// machine; a figure measured next to a busy neighbour is disturbed).
    pub background_cpu: Vec<f64>,
    /// Server resident memory after the last run, KiB.
    pub rss_kb: Option<u64>,
    /// Extra facts (e.g. idle connection counts, rates used).
    pub notes: Vec<String>,
    /// Why this side has no figure.
    pub error: Option<String>,
}

impl SideResult {
    fn new(server: String) -> SideResult {
        SideResult {
            server,
            runs: Vec::new(),
            median: None,
            min: None,
            max: None,
            stats: Vec::new(),
            server_cpu: Vec::new(),
            background_cpu: Vec::new(),
            rss_kb: None,
            notes: Vec::new(),
            error: None,
        }
    }

    fn finish(&mut self) {
        let mut v = self.runs.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if !v.is_empty() {
            self.median = Some(v[v.len() / 2]);
            self.min = v.first().copied();
            self.max = v.last().copied();
        }
    }
}

/// Outcome of a scenario.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Status {
    /// Figures were measured.
    Measured,
    /// Not run: its server is not there yet.
    Waiting(String),
    /// Something failed; the reason.
    Failed(String),
}

/// Everything measured for one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Scenario id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Issue.
    pub issue: u32,
    /// Unit.
    pub unit: String,
    /// Direction.
    pub better: Better,
    /// The issue's target.
    pub target: String,
    /// Outcome.
    pub status: Status,
    /// One entry per server, switchboard (or the relay) first.
    pub sides: Vec<SideResult>,
    /// For generator ceilings: the scenario it must out-run, and by how much it does
    /// (ceiling ÷ the fastest server there).
    pub ceiling_of: Option<String>,
    /// See `ceiling_of`.
    pub headroom: Option<f64>,
}

/// A whole run of the suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    /// Profile used.
    pub profile: Profile,
    /// The machine.
    pub machine: Machine,
    /// When it started (UTC, RFC 3339).
    pub date: String,
    /// Wall time of the run in seconds.
    pub seconds: f64,
    /// What switchboard served at the start.
    pub served: Served,
    /// Every scenario.
    pub scenarios: Vec<ScenarioResult>,
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cores: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// OS.
    pub os: String,
    /// Pinning used.
    pub pinning: String,
    /// Versions of the servers measured.
    pub versions: Vec<(String, String)>,
}

struct Progress {
    tty: bool,
    started: Instant,
}

impl Progress {
    fn say(&self, line: &str) {
        let t = self.started.elapsed().as_secs();
        let mut e = std::io::stderr();
        if self.tty {
            let _ = write!(e, "\r\x1b[K[{:>3}:{:02}] {line}", t / 60, t % 60);
        } else {
            let _ = writeln!(e, "[{:>3}:{:02}] {line}", t / 60, t % 60);
        }
        let _ = e.flush();
    }
    fn done(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// Runs `scenarios` with `profile`.
pub async fn run(env: &Env, profile: Profile, scenarios: Vec<Scenario>) -> Result<SuiteResult> {
    let progress = Progress {
        tty: std::io::stderr().is_terminal(),
        started: Instant::now(),
    };
    let date = utc_now();
    std::fs::create_dir_all(env.out.join("logs")).map_err(|e| BenchError::Io {
        context: "create target/bench/logs".to_owned(),
        source: e,
    })?;
    let needs_http = scenarios.iter().any(|s| {
        matches!(
            s.load,
            Load::Http { .. } | Load::HttpAdded { .. } | Load::Wrk { .. }
        )
    });
    let upstream = if needs_http {
        progress.say("starting the nginx upstream (static 13-byte response)");
        match peers::start_upstream(env).await {
            Ok(u) => Some(u),
            Err(e) => {
                eprintln!("\nnginx upstream did not start: {e}");
                None
            }
        }
    } else {
        None
    };
    let up_port = upstream.as_ref().map(|(_, p)| *p);

    progress.say("starting switchboard to see which protocols it serves");
    let served = {
        let sb = peers::start(env, &ServerKind::Switchboard(Vec::new()), up_port).await?;
        let s = discover::discover(&sb.endpoints).await;
        sb.proc.stop().await;
        s
    };

    let n = scenarios.len();
    let quiet_spent = std::cell::Cell::new(Duration::ZERO);
    let mut results: Vec<ScenarioResult> = Vec::new();
    let mut medians: HashMap<String, Vec<Option<f64>>> = HashMap::new();
    for (i, sc) in scenarios.into_iter().enumerate() {
        let mut r = ScenarioResult {
            id: sc.id.to_owned(),
            title: sc.title.to_owned(),
            issue: sc.issue,
            unit: sc.unit.to_owned(),
            better: sc.better,
            target: sc.target.to_owned(),
            status: Status::Measured,
            sides: Vec::new(),
            ceiling_of: sc.ceiling_of.map(str::to_owned),
            headroom: None,
        };
        if let Load::Pending(why) = &sc.load {
            r.status = Status::Waiting((*why).to_owned());
            results.push(r);
            continue;
        }
        if let Err(why) = served.check(sc.need) {
            r.status = Status::Waiting(why);
            results.push(r);
            continue;
        }
        let label = format!("[{}/{n}] {}", i + 1, sc.id);
        match run_scenario(
            env,
            profile,
            &sc,
            up_port,
            &medians,
            &progress,
            &label,
            &quiet_spent,
        )
        .await
        {
            Ok(sides) => {
                if sides.iter().all(|s| s.median.is_none()) {
                    let why = sides
                        .iter()
                        .filter_map(|s| s.error.clone())
                        .collect::<Vec<_>>()
                        .join("; ");
                    r.status = Status::Failed(why);
                }
                r.sides = sides;
            }
            Err(e) => r.status = Status::Failed(e.to_string()),
        }
        medians.insert(
            r.id.clone(),
            r.sides.iter().map(|s| s.median).collect::<Vec<_>>(),
        );
        results.push(r);
    }
    // Generator ceilings: how far above the fastest server the generator goes.
    for r in &mut results {
        let Some(of) = r.ceiling_of.clone() else {
            continue;
        };
        let ceiling = r.sides.first().and_then(|s| s.median);
        let best = medians
            .get(&of)
            .map(|v| v.iter().flatten().copied().fold(0.0f64, f64::max))
            .filter(|b| *b > 0.0);
        if let (Some(c), Some(b)) = (ceiling, best) {
            r.headroom = Some(c / b);
        }
    }
    if let Some((p, _)) = upstream {
        p.stop().await;
    }
    progress.done();
    Ok(SuiteResult {
        profile,
        machine: machine(env),
        date,
        seconds: progress.started.elapsed().as_secs_f64(),
        served,
        scenarios: results,
    })
}

/// Loads that leave state behind on the server (idle connections, sessions from handshakes):
/// each repetition gets fresh servers.
fn fresh_each_rep(l: &Load) -> bool {
    matches!(
        l,
        Load::MqttIdle
            | Load::EioIdle
            | Load::Eio {
                plan: eio::EioPlan::PollingHandshake { .. },
                ..
            }
    )
}

#[allow(clippy::too_many_arguments)]
async fn run_scenario(
    env: &Env,
    profile: Profile,
    sc: &Scenario,
    up_port: Option<u16>,
    medians: &HashMap<String, Vec<Option<f64>>>,
    progress: &Progress,
    label: &str,
    quiet_spent: &std::cell::Cell<Duration>,
) -> Result<Vec<SideResult>> {
    // The sides: each server, or the upstream itself for the direct HTTP ceiling.
    let kinds: Vec<Option<ServerKind>> = if sc.sides.is_empty() {
        vec![None]
    } else {
        sc.sides.iter().cloned().map(Some).collect()
    };
    let mut results: Vec<SideResult> = kinds
        .iter()
        .map(|k| {
            SideResult::new(
                k.as_ref()
                    .map(ServerKind::label)
                    .unwrap_or_else(|| "upstream direct (no proxy)".to_owned()),
            )
        })
        .collect();
    let idle = fresh_each_rep(&sc.load);
    let mut servers: Vec<Option<Server>> = Vec::new();
    for rep in 0..profile.reps {
        if rep == 0 || idle {
            for s in servers.drain(..).flatten() {
                s.proc.stop().await;
            }
            for (k, res) in kinds.iter().zip(results.iter_mut()) {
                match k {
                    None => servers.push(None),
                    Some(kind) => {
                        progress.say(&format!("{label}: starting {}", kind.label()));
                        match peers::start(env, kind, up_port).await {
                            Ok(s) => servers.push(Some(s)),
                            Err(e) => {
                                res.error = Some(e.to_string());
                                servers.push(None);
                            }
                        }
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..kinds.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for j in order {
            if results[j].error.is_some() {
                continue;
            }
            let server = servers[j].as_ref();
            if kinds[j].is_some() && server.is_none() {
                continue;
            }
            progress.say(&format!(
                "{label}: {} run {}/{}",
                results[j].server,
                rep + 1,
                profile.reps
            ));
            let budget = profile.quiet_budget.saturating_sub(quiet_spent.get());
            let waited = wait_quiet(profile.quiet_wait.min(budget)).await;
            quiet_spent.set(quiet_spent.get() + Duration::from_secs_f64(waited));
            if waited > 1.0 {
                results[j]
                    .notes
                    .push(format!("waited {waited:.0} s for the machine to go quiet"));
            }
            let cpu0 = server.and_then(|s| s.proc.cpu_ticks());
            let (sys0, own0) = (procs::system_busy_ticks(), procs::own_tree_ticks());
            let t0 = Instant::now();
            let ep = server.map(|s| s.endpoints.clone()).unwrap_or_default();
            let proc = server.map(|s| &s.proc);
            let out = measure(env, profile, sc, &ep, proc, up_port, medians, j).await;
            let secs = t0.elapsed().as_secs_f64();
            let cpu1 = server.and_then(|s| s.proc.cpu_ticks());
            let (sys1, own1) = (procs::system_busy_ticks(), procs::own_tree_ticks());
            if let (Some(a), Some(b)) = (sys0, sys1) {
                let foreign = (b.saturating_sub(a)).saturating_sub(own1.saturating_sub(own0));
                results[j]
                    .background_cpu
                    .push(foreign as f64 / TICKS_PER_SEC / secs);
            }
            match out {
                Ok(m) => {
                    results[j].runs.push(m.figure);
                    if let Some(s) = m.stats {
                        results[j].stats.push(s);
                    }
                    results[j].notes.extend(m.notes);
                    if let (Some(a), Some(b)) = (cpu0, cpu1) {
                        results[j]
                            .server_cpu
                            .push((b.saturating_sub(a)) as f64 / TICKS_PER_SEC / secs);
                    }
                }
                Err(e) => {
                    let tail = server.map(|s| s.proc.log_tail()).unwrap_or_default();
                    results[j].error = Some(if tail.is_empty() {
                        e.to_string()
                    } else {
                        format!("{e} (server log: {})", tail.replace('\n', " | "))
                    });
                }
            }
            results[j].rss_kb = server.and_then(|s| s.proc.rss_kb());
            // Let the server settle (closed connections, freed buffers) before the next run.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for s in servers.drain(..).flatten() {
        s.proc.stop().await;
    }
    for r in &mut results {
        r.finish();
    }
    Ok(results)
}

/// CPU used by processes outside this suite over `d`, in cores.
async fn background_over(d: Duration) -> Option<f64> {
    let (s0, o0) = (procs::system_busy_ticks()?, procs::own_tree_ticks());
    tokio::time::sleep(d).await;
    let (s1, o1) = (procs::system_busy_ticks()?, procs::own_tree_ticks());
    let foreign = s1.saturating_sub(s0).saturating_sub(o1.saturating_sub(o0));
    Some(foreign as f64 / TICKS_PER_SEC / d.as_secs_f64())
}

/// Waits (up to `max`) until other processes use less than a quarter of a core; returns the
/// seconds waited.
async fn wait_quiet(max: Duration) -> f64 {
    let start = Instant::now();
    while start.elapsed() < max {
        match background_over(Duration::from_millis(200)).await {
            Some(bg) if bg >= 0.25 => {}
            _ => break,
        }
    }
    start.elapsed().as_secs_f64()
}

/// One measured figure.
#[derive(Debug)]
pub struct Measured {
    /// The figure in the scenario's unit.
    pub figure: f64,
    /// The counts behind it.
    pub stats: Option<RunStats>,
    /// Extra facts.
    pub notes: Vec<String>,
}

fn pick(stats: &RunStats, metric: Metric) -> Result<f64> {
    if stats.received == 0 {
        return Err(BenchError::Empty(format!(
            "nothing received in the window ({} sent, {} errors)",
            stats.sent, stats.errors
        )));
    }
    match metric {
        Metric::Rate => Ok(stats.rate),
        Metric::P50 | Metric::P99 => {
            let l = stats
                .latency
                .ok_or_else(|| BenchError::Empty("no latency samples".to_owned()))?;
            Ok(if metric == Metric::P50 {
                l.p50_us
            } else {
                l.p99_us
            })
        }
    }
}

fn window(p: Profile) -> Timing {
    Timing {
        warmup: p.warmup,
        measure: p.measure,
    }
}

fn need<T: Clone>(v: &Option<T>, what: &str) -> Result<T> {
    v.clone()
        .ok_or_else(|| BenchError::Protocol(format!("this server has no {what} endpoint")))
}

fn stats_note(s: &RunStats) -> Vec<String> {
    let mut v = Vec::new();
    if s.sent > s.received && s.sent > 0 {
        v.push(format!(
            "sent {} received {} in the window",
            s.sent, s.received
        ));
    }
    v
}

/// Runs the load of `sc` once against the server at `ep` (for a scenario without sides: the
/// HTTP upstream itself). `proc` is the server process, for memory figures; without one, the
/// memory of this process is measured (an in-process gateway).
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    env: &Env,
    profile: Profile,
    sc: &Scenario,
    ep: &Endpoints,
    proc: Option<&Proc>,
    up_port: Option<u16>,
    medians: &HashMap<String, Vec<Option<f64>>>,
    side: usize,
) -> Result<Measured> {
    let simple = |stats: RunStats, metric: Metric| -> Result<Measured> {
        let figure = pick(&stats, metric)?;
        Ok(Measured {
            figure,
            notes: stats_note(&stats),
            stats: Some(stats),
        })
    };
    match &sc.load {
        Load::Mqtt { plan, ws, metric } => {
            let t = if *ws && ep.mqtt_ws.is_some() {
                need(&ep.mqtt_ws, "MQTT WebSocket")?
            } else {
                need(&ep.mqtt, "MQTT")?
            };
            simple(mqtt::run(&t, plan, window(profile)).await?, *metric)
        }
        Load::MqttIdle => {
            let t = need(&ep.mqtt, "MQTT")?;
            idle_memory(proc, profile.idle, async {
                mqtt::open_idle(&t, profile.idle)
                    .await
                    .map(|v| Box::new(v) as Box<dyn std::any::Any>)
            })
            .await
        }
        Load::Eio { plan, metric } => {
            let t = need(&ep.eio, "Engine.IO")?;
            simple(eio::run(&t, plan, window(profile)).await?, *metric)
        }
        Load::EioIdle => {
            let t = need(&ep.eio, "Engine.IO")?;
            idle_memory(proc, profile.idle, async {
                eio::open_idle(&t, profile.idle)
                    .await
                    .map(|v| Box::new(v) as Box<dyn std::any::Any>)
            })
            .await
        }
        Load::Sio { plan, metric } => {
            let t = need(&ep.sio, "Socket.IO")?;
            simple(sio::run(&t, plan, window(profile)).await?, *metric)
        }
        Load::Ipc { plan, metric } => {
            let a = need(&ep.ipc, "IPC")?;
            simple(ipc::run(a, plan, window(profile)).await?, *metric)
        }
        Load::IpcStock {
            concurrency,
            metric,
        } => {
            let a = need(&ep.ipc, "IPC")?;
            ipc_stock(env, profile, a.port(), *concurrency, *metric).await
        }
        Load::Http { plan } => {
            let a = match sc.sides.is_empty() {
                false => need(&ep.http, "HTTP")?,
                true => procs::local(up_port.ok_or_else(|| {
                    BenchError::Protocol("the nginx upstream is not running".to_owned())
                })?),
            };
            simple(
                http::run(a, "/up/", *plan, window(profile)).await?,
                Metric::Rate,
            )
        }
        Load::Wrk { connections } => {
            let a = need(&ep.http, "HTTP")?;
            wrk(a, *connections, profile).await
        }
        Load::HttpAdded { connections } => {
            let a = need(&ep.http, "HTTP")?;
            let up = procs::local(up_port.ok_or_else(|| {
                BenchError::Protocol("the nginx upstream is not running".to_owned())
            })?);
            // Half of switchboard's maximum from http.rps (measured now if not in this run).
            let max = match medians
                .get("http.rps")
                .and_then(|v| v.first().copied().flatten())
            {
                Some(m) => m,
                None if side == 0 => {
                    http::run(
                        a,
                        "/up/",
                        http::HttpPlan::Closed { connections: 64 },
                        window(profile),
                    )
                    .await?
                    .rate
                }
                None => {
                    return Err(BenchError::Protocol(
                        "needs switchboard's maximum rate from http.rps".to_owned(),
                    ));
                }
            };
            let rate = (max / 2.0).max(100.0);
            let plan = http::HttpPlan::Paced {
                connections: *connections,
                rate,
            };
            let direct = http::run(up, "/up/", plan, window(profile)).await?;
            let through = http::run(a, "/up/", plan, window(profile)).await?;
            let d = pick(&direct, Metric::P99)?;
            let t = pick(&through, Metric::P99)?;
            Ok(Measured {
                figure: t - d,
                notes: vec![format!(
                    "paced at {rate:.0} req/s: p99 {t:.0} µs through the proxy, {d:.0} µs direct"
                )],
                stats: Some(through),
            })
        }
        Load::CrossMqttEio {
            sockets,
            rate,
            metric,
        } => {
            let m = need(&ep.mqtt, "MQTT")?;
            let e = need(&ep.eio, "Engine.IO")?;
            let stats = cross::mqtt_to_eio(&m, &e, *sockets, *rate, 64, window(profile)).await?;
            let figure = pick(&stats, *metric)?;
            let drops = stats.sent.saturating_sub(stats.received);
            Ok(Measured {
                figure,
                notes: vec![format!(
                    "{} sent, {} delivered in the window ({drops} not delivered)",
                    stats.sent, stats.received
                )],
                stats: Some(stats),
            })
        }
        Load::CrossIpcMqtt => {
            let i = need(&ep.ipc, "IPC")?;
            let m = need(&ep.mqtt, "MQTT")?;
            simple(
                cross::ipc_to_mqtt(i, &m, 100, window(profile)).await?,
                Metric::Rate,
            )
        }
        Load::Cluster {
            replicas,
            placement,
            plan,
            metric,
        } => simple(
            crate::cluster::run(env, *replicas, *placement, plan, window(profile)).await?,
            *metric,
        ),
        Load::Pending(why) => Err(BenchError::Protocol((*why).to_owned())),
    }
}

async fn idle_memory(
    proc: Option<&Proc>,
    n: usize,
    open: impl std::future::Future<Output = Result<Box<dyn std::any::Any>>>,
) -> Result<Measured> {
    let rss = || {
        match proc {
            Some(p) => p.rss_kb(),
            None => procs::rss_kb(std::process::id()),
        }
        .ok_or_else(|| BenchError::Protocol("cannot read the server's RSS".to_owned()))
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss()?;
    let held = open.await?;
    // Let the server finish its per-connection work, then sample.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss()?;
    drop(held);
    let per = (after.saturating_sub(before) as f64 * 1024.0) / n as f64;
    Ok(Measured {
        figure: per,
        stats: None,
        notes: vec![format!(
            "{n} idle connections: RSS {before} KiB → {after} KiB"
        )],
    })
}

#[derive(serde::Deserialize)]
struct StockOut {
    count: u64,
    seconds: f64,
    rate: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    errors: u64,
}

async fn ipc_stock(
    env: &Env,
    profile: Profile,
    port: u16,
    concurrency: usize,
    metric: Metric,
) -> Result<Measured> {
    let responder = Spawn {
        name: "ipc-rr-responder".to_owned(),
        program: "node".to_owned(),
        args: vec![
            "ipc-rr.js".to_owned(),
            "--role".to_owned(),
            "responder".to_owned(),
            "--port".to_owned(),
            port.to_string(),
        ],
        env: vec![],
        core: env.gen_core,
        cwd: Some(env.node_dir()),
    };
    let mut rp = responder.start(&env.out.join("logs"))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&rp.log)
        .unwrap_or_default()
        .contains("responder ready")
    {
        if rp.exited() || Instant::now() > deadline {
            let tail = rp.log_tail();
            rp.stop().await;
            return Err(BenchError::Start {
                name: "ipc-rr responder".to_owned(),
                message: tail,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requester = Spawn {
        name: "ipc-rr-requester".to_owned(),
        program: "node".to_owned(),
        args: vec![
            "ipc-rr.js".to_owned(),
            "--role".to_owned(),
            "requester".to_owned(),
            "--port".to_owned(),
            port.to_string(),
            "--concurrency".to_owned(),
            concurrency.to_string(),
            "--warmup".to_owned(),
            format!("{}", profile.warmup.as_secs_f64()),
            "--seconds".to_owned(),
            format!("{}", profile.measure.as_secs_f64()),
        ],
        env: vec![],
        core: env.gen_core,
        cwd: Some(env.node_dir()),
    };
    let limit = profile.warmup + profile.measure + Duration::from_secs(30);
    let out = requester.output(limit).await;
    rp.stop().await;
    let out = out?;
    let line = out.lines().last().unwrap_or("");
    let o: StockOut = serde_json::from_str(line)
        .map_err(|e| BenchError::Protocol(format!("stock client printed {line:?}: {e}")))?;
    if o.count == 0 {
        return Err(BenchError::Empty(format!(
            "no request completed in {} s ({} errors)",
            o.seconds, o.errors
        )));
    }
    let figure = match metric {
        Metric::Rate => o.rate,
        Metric::P50 => o.p50_us.unwrap_or(0.0),
        Metric::P99 => o.p99_us.unwrap_or(0.0),
    };
    Ok(Measured {
        figure,
        stats: None,
        notes: vec![format!(
            "stock clients: {} round trips in {} s, p50 {:.0} µs, p99 {:.0} µs, {} errors",
            o.count,
            o.seconds,
            o.p50_us.unwrap_or(0.0),
            o.p99_us.unwrap_or(0.0),
            o.errors
        )],
    })
}

/// Runs wrk (inheriting this process's CPU pinning): a warm-up run, then the measured one.
async fn wrk(addr: std::net::SocketAddr, connections: usize, profile: Profile) -> Result<Measured> {
    let url = format!("http://{addr}/up/");
    let c = connections.to_string();
    let run = |secs: f64| {
        Spawn::new(
            "wrk",
            "wrk",
            &[
                "-t1",
                "-c",
                &c,
                "-d",
                &format!("{}s", secs.ceil().max(1.0)),
                "--latency",
                &url,
            ],
        )
    };
    let limit = profile.warmup + profile.measure + Duration::from_secs(20);
    run(profile.warmup.as_secs_f64()).output(limit).await?;
    let out = run(profile.measure.as_secs_f64()).output(limit).await?;
    let rate = out
        .lines()
        .find(|l| l.trim_start().starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .ok_or_else(|| BenchError::Protocol(format!("wrk printed no Requests/sec: {out}")))?;
    let pct = |p: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(p))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_default()
    };
    let errors = out
        .lines()
        .filter(|l| l.contains("Socket errors") || l.contains("Non-2xx"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    let mut notes = vec![format!("wrk: p50 {}, p99 {}", pct("50%"), pct("99%"))];
    if !errors.is_empty() {
        notes.push(format!("wrk: {errors}"));
    }
    Ok(Measured {
        figure: rate,
        stats: None,
        notes,
    })
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let s = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&s)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "not installed".to_owned())
}

fn machine(env: &Env) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
        / 1024.0;
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                l.trim_start_matches("PRETTY_NAME=")
                    .trim_matches('"')
                    .to_owned()
            })
        })
        .unwrap_or_default();
    let node_pkg = |name: &str| {
        std::fs::read_to_string(
            env.node_dir()
                .join("node_modules")
                .join(name)
                .join("package.json"),
        )
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.get("version")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "not installed".to_owned())
    };
    Machine {
        cpu,
        // Count the machine's CPUs, not this process's affinity (the generator runs pinned).
        cores: cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count()
            .max(1),
        memory_gib: (mem * 10.0).round() / 10.0,
        kernel: first_line("uname", &["-r"]),
        os,
        pinning: match (env.server_core, env.gen_core) {
            (Some(s), Some(g)) => format!("servers on CPU {s}, generator on CPU {g} (taskset)"),
            _ => "not pinned".to_owned(),
        },
        versions: vec![
            (
                "switchboard".to_owned(),
                first_line(&env.switchboard.display().to_string(), &["--version"]),
            ),
            (
                "mosquitto".to_owned(),
                first_line("sh", &["-c", "mosquitto -h 2>&1 | head -1"]),
            ),
            ("nginx".to_owned(), first_line("nginx", &["-v"])),
            ("node".to_owned(), first_line("node", &["--version"])),
            ("engine.io".to_owned(), node_pkg("engine.io")),
            ("socket.io".to_owned(), node_pkg("socket.io")),
            (
                "electron-common-ipc".to_owned(),
                node_pkg("electron-common-ipc"),
            ),
            ("http-proxy".to_owned(), node_pkg("http-proxy")),
        ],
    }
}

/// The current UTC time, RFC 3339, from the system clock.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
