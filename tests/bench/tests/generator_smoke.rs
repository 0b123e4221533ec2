//! Every generator scenario runs for about a second against a live gateway.
//!
//! This checks that the load generator works, not how fast anything is: no figure is
//! asserted beyond "something was measured". A scenario whose protocol the gateway does not
//! serve yet is reported as waiting for its server (found by speaking to each endpoint), never
//! skipped silently; a scenario whose protocol *is* served must run, or the test fails.

use std::collections::HashMap;
use std::path::PathBuf;

use switchboard_bench::discover;
use switchboard_bench::peers::{Endpoints, Env, ServerKind, SwitchboardPorts, switchboard_config};
use switchboard_bench::procs::local;
use switchboard_bench::scenario::{self, Load, Profile};
use switchboard_bench::suite;
use switchboard_config::Sources;
use switchboard_tests::TestGateway;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The gateway binary built beside this test (`target/<profile>/switchboard`): the cluster
/// scenarios start replicas as processes. Building the workspace (as `make test` does) builds it.
fn gateway_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/generator_smoke-<hash>
    let bin = exe.parent()?.parent()?.join("switchboard");
    bin.is_file().then_some(bin)
}

async fn gateway(
    overrides: &[(String, String)],
    upstream: u16,
    dir: &std::path::Path,
) -> (TestGateway, Endpoints) {
    let ports = SwitchboardPorts::free().expect("free ports");
    let file = dir.join(format!("switchboard-{}.toml", ports.http));
    std::fs::write(&file, switchboard_config(&ports, Some(upstream))).expect("write config");
    let config = switchboard_config::load(&Sources {
        file: Some(file),
        env: Vec::new(),
        overrides: overrides.to_vec(),
    })
    .unwrap_or_else(|e| panic!("the bench configuration {overrides:?} is invalid: {e:?}"));
    let gw = TestGateway::builder()
        .configure(|c| *c = config)
        .start()
        .await;
    (gw, ports.endpoints())
}

// Named `interop` so that nextest runs it in the group of tests that start Node clients (the
// stock electron-common-ipc scenarios).
mod interop {
    use super::*;

    #[test]
    fn every_generator_scenario_runs_against_a_live_gateway() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-bench-smoke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let env = Env {
            root: root(),
            out: dir.clone(),
            switchboard: gateway_binary().unwrap_or_else(|| PathBuf::from("(in-process)")),
            this_exe: PathBuf::from(env!("CARGO_BIN_EXE_switchboard-bench")),
            server_core: None,
            gen_core: None,
        };
        let outcome = switchboard_bench::block_on(async {
            // The HTTP upstream and the relays run in this process.
            let up = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let up_port = up.local_addr().expect("addr").port();
            tokio::task::spawn_local(switchboard_bench::http::static_upstream(up));
            let mut relays = HashMap::new();
            for proto in ["mqtt", "ipc"] {
                let port = switchboard_bench::procs::free_port().expect("port");
                tokio::task::spawn_local(async move {
                    let _ = switchboard_bench::relay::serve(proto, local(port)).await;
                });
                relays.insert(proto, port);
            }

            let (base, base_ep) = gateway(&[], up_port, &dir).await;
            let served = discover::discover(&base_ep).await;
            let mut gateways = vec![(Vec::new(), base, base_ep)];

            let mut lines = Vec::new();
            let mut failures = Vec::new();
            let mut medians = HashMap::new();
            for sc in scenario::all() {
                if let Load::Pending(why) = sc.load {
                    lines.push(format!("WAITING  {:<26} {why}", sc.id));
                    continue;
                }
                if let Load::Wrk { .. } = sc.load {
                    lines.push(format!(
                        "external {:<26} wrk, not the generator: run by make bench",
                        sc.id
                    ));
                    continue;
                }
                if let Load::Cluster { .. } = sc.load
                    && !env.switchboard.is_file()
                {
                    lines.push(format!(
                        "WAITING  {:<26} needs the switchboard binary beside this test: cargo build -p switchboard",
                        sc.id
                    ));
                    continue;
                }
                if let Err(why) = served.check(sc.need) {
                    lines.push(format!("WAITING  {:<26} {why}", sc.id));
                    continue;
                }
                let ep = match sc.sides.first() {
                    Some(ServerKind::Switchboard(ov)) => {
                        if !gateways.iter().any(|(o, _, _)| o == ov) {
                            let (g, e) = gateway(ov, up_port, &dir).await;
                            gateways.push((ov.clone(), g, e));
                        }
                        gateways
                            .iter()
                            .find(|(o, _, _)| o == ov)
                            .map(|(_, _, e)| e.clone())
                            .unwrap_or_default()
                    }
                    Some(ServerKind::Relay(p)) => {
                        let port = relays[p];
                        let mut e = Endpoints::default();
                        if *p == "mqtt" {
                            e.mqtt = Some(switchboard_bench::mqtt::MqttTarget {
                                addr: local(port),
                                ws_path: None,
                            });
                        } else {
                            e.ipc = Some(local(port));
                        }
                        e
                    }
                    // The HTTP ceiling talks to the upstream directly.
                    _ => Endpoints::default(),
                };
                let r = suite::measure(
                    &env,
                    Profile::SMOKE,
                    &sc,
                    &ep,
                    None,
                    Some(up_port),
                    &medians,
                    0,
                )
                .await;
                match r {
                    // Rates and latencies must be positive; a memory delta measured in this process
                    // may be zero (freed memory reused), an added latency zero or negative (noise).
                    Ok(m)
                        if m.figure.is_finite()
                            && (m.figure > 0.0
                                || matches!(
                                    sc.load,
                                    Load::MqttIdle | Load::EioIdle | Load::HttpAdded { .. }
                                )) =>
                    {
                        lines.push(format!(
                            "ran      {:<26} {:.1} {}",
                            sc.id, m.figure, sc.unit
                        ));
                        medians.insert(sc.id.to_owned(), vec![Some(m.figure)]);
                    }
                    Ok(m) => {
                        lines.push(format!("FAILED   {:<26} figure {}", sc.id, m.figure));
                        failures.push(format!("{}: measured {} {}", sc.id, m.figure, sc.unit));
                    }
                    Err(e) => {
                        lines.push(format!("FAILED   {:<26} {e}", sc.id));
                        failures.push(format!("{}: {e}", sc.id));
                    }
                }
            }
            for (_, g, _) in gateways {
                g.shutdown().await;
            }
            (served, lines, failures)
        })
        .expect("runtime");
        let _ = std::fs::remove_dir_all(&dir);
        let (served, lines, failures) = outcome;
        println!("served by the gateway: {served:#?}");
        for l in &lines {
            println!("{l}");
        }
        assert!(
            lines.iter().any(|l| l.starts_with("ran")),
            "no scenario ran at all"
        );
        assert!(
            failures.is_empty(),
            "scenarios whose protocol is served did not run:\n{}",
            failures.join("\n")
        );
    }
}
