//! Scale-out scenarios: a nats-server (JetStream on, as the gateway's retained stream wants) and
//! one to three switchboard replicas started for each run, all pinned to the server core like
//! every other server of the suite, MQTT load from the generator core.
//!
//! Placements: `SameNode` (publisher and subscriber on one replica of a clustered gateway: the
//! single-node figure, with the NATS link on), `CrossNode` (publisher on replica 1, subscriber on
//! replica 2: every message crosses NATS), `Spread` (one route per replica, each publishing to the
//! next replica's subscriber: total throughput as replicas are added).

use std::time::{Duration, Instant};

use crate::error::{BenchError, Context, Result};
use crate::mqtt::{self, MqttPlan, MqttTarget, Route};
use crate::peers::{Env, SwitchboardPorts, switchboard_config};
use crate::procs::{self, Proc, Spawn, free_port, local};
use crate::stats::{RunStats, Timing};

/// Where publishers and subscribers sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Both on replica 1.
    SameNode,
    /// Publisher on replica 1, subscriber on replica 2.
    CrossNode,
    /// Replica i publishes, replica i+1 (mod n) subscribes, one topic per replica.
    Spread,
}

/// A running nats-server and its replicas.
#[derive(Debug)]
pub struct Rig {
    nats: Proc,
    nodes: Vec<(Proc, SwitchboardPorts)>,
    store: std::path::PathBuf,
}

impl Rig {
    /// Starts nats-server and `replicas` gateways joined to it.
    pub async fn start(env: &Env, replicas: usize) -> Result<Rig> {
        let logs = env.out.join("logs");
        let limit = Duration::from_secs(20);
        let port = free_port()?;
        let store = env.out.join(format!("nats-store-{port}"));
        let store_arg = store.display().to_string();
        let port_arg = port.to_string();
        let mut nats = Spawn::new(
            "nats-server",
            "nats-server",
            &["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd", &store_arg],
        )
        .pinned(env.server_core)
        .start(&logs)?;
        procs::wait_port(&mut nats, local(port), limit).await?;
        let mut nodes = Vec::new();
        for i in 0..replicas {
            let ports = SwitchboardPorts::free()?;
            let mut cfg = switchboard_config(&ports, None);
            cfg.push_str(&format!(
                "\n[cluster]\nnats_url = \"nats://127.0.0.1:{port}\"\nnode_id = \"bench-{i}\"\n"
            ));
            let file = env.write(&format!("switchboard-cluster-{i}.toml"), &cfg)?;
            let spawn = Spawn {
                name: format!("switchboard-{i}"),
                program: env.switchboard.display().to_string(),
                args: vec!["--config".to_owned(), file.display().to_string()],
                env: vec![],
                core: env.server_core,
                cwd: None,
            };
            let mut proc = spawn.start(&logs)?;
            procs::wait_http_ok(&mut proc, local(ports.admin), "/readyz", limit).await?;
            nodes.push((proc, ports));
        }
        Ok(Rig { nats, nodes, store })
    }

    fn mqtt(&self, i: usize) -> MqttTarget {
        MqttTarget {
            addr: local(self.nodes[i % self.nodes.len()].1.mqtt),
            ws_path: None,
        }
    }

    /// Waits until the replicas `at` hold NATS subscriptions for their subscribers.
    async fn settled(&self, at: Vec<usize>) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        for i in at {
            let ports = &self.nodes[i % self.nodes.len()].1;
            loop {
                let addr = local(ports.admin);
                let mut c = crate::net::HttpConn::connect(addr)
                    .await
                    .context(|| "connect to the admin port".to_owned())?;
                let r = c
                    .round_trip(&crate::net::http_get(addr, "/metrics"))
                    .await
                    .context(|| "GET /metrics".to_owned())?;
                let body = String::from_utf8_lossy(&r.body).into_owned();
                let subs = body
                    .lines()
                    .find_map(|l| l.strip_prefix("switchboard_cluster_subscriptions "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                if subs > 0 || self.nodes.len() == 1 {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(BenchError::Protocol(
                        "cluster subscriptions did not reach NATS".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Stops everything.
    pub async fn stop(self) {
        for (p, _) in self.nodes {
            p.stop().await;
        }
        self.nats.stop().await;
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// Runs `plan` on a fresh rig of `replicas` with `placement`.
pub async fn run(
    env: &Env,
    replicas: usize,
    placement: Placement,
    plan: &MqttPlan,
    timing: Timing,
) -> Result<RunStats> {
    let rig = Rig::start(env, replicas).await?;
    let routes: Vec<Route> = match placement {
        Placement::SameNode => vec![Route {
            publish_to: rig.mqtt(0),
            subscribe_at: rig.mqtt(0),
            topic: "bench/c0".into(),
        }],
        Placement::CrossNode => vec![Route {
            publish_to: rig.mqtt(0),
            subscribe_at: rig.mqtt(1),
            topic: "bench/c0".into(),
        }],
        Placement::Spread => (0..replicas)
            .map(|i| Route {
                publish_to: rig.mqtt(i),
                subscribe_at: rig.mqtt(i + 1),
                topic: format!("bench/c{i}"),
            })
            .collect(),
    };
    let at = match placement {
        Placement::SameNode => vec![0],
        Placement::CrossNode => vec![1],
        Placement::Spread => (1..=replicas).collect(),
    };
    let result = mqtt::run_routes(&routes, plan, timing, rig.settled(at)).await;
    rig.stop().await;
    result
}
