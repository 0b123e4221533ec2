//! Checks of the deployment files under `deploy/` that need no container engine: the Grafana
//! dashboard only queries metrics the gateway registers and lays out its panels on the grid; the
//! Dockerfile keeps its contract (locked release build with the pinned toolchain, every port
//! exposed, health check on the admin `/healthz`, non-root user, tini as PID 1); the container
//! config loads through the real configuration loader and binds every listener on all interfaces.
//!
//! `scripts/check-dockerfile.sh` goes further (runs the builder's command and the runtime's
//! entrypoint); `make helm-check` covers the Helm chart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use switchboard_config::{Sources, validate};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- Grafana dashboard ---------------------------------------------------------------------

fn dashboard() -> Value {
    serde_json::from_str(&read("deploy/grafana-dashboard.json"))
        .expect("deploy/grafana-dashboard.json is valid JSON")
}

/// Every `"switchboard_..."` string literal in the gateway's and the protocols' Rust sources: the
/// metric families the code registers.
fn registered_metric_names() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("gateway"), &mut files);
    walk(&repo().join("protocols"), &mut files);
    let mut names = BTreeSet::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for (i, _) in text.match_indices("\"switchboard_") {
            let rest = &text[i + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            if rest[end..].starts_with('"') {
                names.insert(rest[..end].to_owned());
            }
        }
    }
    names
}

/// The metric names an expression refers to.
fn metric_names_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut from = 0;
    while let Some(pos) = expr[from..].find("switchboard_") {
        let start = from + pos;
        let preceded_by_ident =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = expr[start..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .map_or(expr.len(), |e| start + e);
        if !preceded_by_ident {
            out.push(expr[start..end].to_owned());
        }
        from = end;
    }
    out
}

fn panels(d: &Value) -> Vec<&Value> {
    d["panels"]
        .as_array()
        .expect("panels is an array")
        .iter()
        .collect()
}

fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"]
        .as_array()
        .map(|ts| ts.iter().filter_map(|t| t["expr"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn dashboard_has_identity_datasource_variable_and_filters() {
    let d = dashboard();
    assert_eq!(d["uid"], "switchboard");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let names: Vec<&str> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["datasource", "job", "instance"]);
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
}

#[test]
fn dashboard_panels_have_unique_ids_and_do_not_overlap_on_the_grid() {
    let d = dashboard();
    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for p in panels(&d) {
        let id = p["id"].as_u64().expect("every panel has a numeric id");
        assert!(ids.insert(id), "panel id {id} is used twice");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().expect("gridPos.x"),
            g["y"].as_u64().expect("gridPos.y"),
            g["w"].as_u64().expect("gridPos.w"),
            g["h"].as_u64().expect("gridPos.h"),
        );
        assert!(
            w >= 1 && h >= 1 && x + w <= 24,
            "panel {id}: {g} is off the 24-column grid"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), id) {
                    panic!("panels {other} and {id} overlap at column {cx}, row {cy}");
                }
            }
        }
    }
    assert!(ids.len() >= 10, "a dashboard worth the name has panels");
}

#[test]
fn every_dashboard_query_uses_the_datasource_variable_and_filters_by_instance() {
    let d = dashboard();
    for p in panels(&d).into_iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().unwrap_or("?");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {title}");
        let targets = p["targets"].as_array().expect("a panel has targets");
        assert!(!targets.is_empty(), "panel {title} has no query");
        let mut refs = BTreeSet::new();
        for t in targets {
            assert!(
                refs.insert(t["refId"].as_str().expect("refId")),
                "panel {title}: refId twice"
            );
            assert_eq!(t["datasource"]["uid"], "${datasource}", "panel {title}");
            let expr = t["expr"].as_str().expect("a Prometheus target has expr");
            let opened = expr.matches(['(', '{', '[']).count();
            let closed = expr.matches([')', '}', ']']).count();
            assert_eq!(
                opened, closed,
                "panel {title}: unbalanced brackets in {expr}"
            );
            for selector in expr.split("switchboard_").skip(1) {
                let selector = selector.split_once('{').map(|(_, s)| s).unwrap_or("");
                assert!(
                    selector.starts_with(r#"job=~"$job", instance=~"$instance"}"#),
                    "panel {title}: every series selector filters by $job and $instance: {expr}"
                );
            }
        }
    }
}

#[test]
fn dashboard_queries_only_metrics_the_gateway_registers() {
    let registered = registered_metric_names();
    assert!(
        registered.contains("switchboard_connections")
            && registered.contains("switchboard_delivery_latency_seconds"),
        "the source scan found the fabric's metrics: {registered:?}"
    );
    let d = dashboard();
    let mut used = BTreeSet::new();
    for p in panels(&d) {
        for expr in exprs(p) {
            for name in metric_names_in(expr) {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| registered.contains(*b))
                    .unwrap_or(&name)
                    .to_owned();
                assert!(
                    registered.contains(&base),
                    "panel {}: `{name}` is not a metric the gateway registers",
                    p["title"]
                );
                used.insert(base);
            }
        }
    }
    // What an operator must be able to see (README.md, section Metrics).
    for required in [
        "switchboard_connections",
        "switchboard_messages_received_total",
        "switchboard_messages_sent_total",
        "switchboard_bytes_received_total",
        "switchboard_bytes_sent_total",
        "switchboard_dropped_total",
        "switchboard_delivery_latency_seconds",
        "switchboard_subscriptions",
        "switchboard_retained_messages",
        "switchboard_auth_failures_total",
        "switchboard_proxy_requests_total",
        "switchboard_proxy_upstream_duration_seconds",
    ] {
        assert!(
            used.contains(required),
            "the dashboard shows no `{required}`"
        );
    }
}

#[test]
fn metric_name_scanner_finds_histogram_series_and_skips_longer_identifiers() {
    assert_eq!(
        metric_names_in(
            r#"histogram_quantile(0.5, sum by (le) (rate(switchboard_delivery_latency_seconds_bucket{a="b"}[5m])))"#
        ),
        ["switchboard_delivery_latency_seconds_bucket"]
    );
    assert!(metric_names_in("not_switchboard_x + 1").is_empty());
}

// ---- Dockerfile and container config -------------------------------------------------------

/// The Dockerfile's instructions, continuation lines joined and comments dropped, as
/// (INSTRUCTION, arguments).
fn dockerfile() -> Vec<(String, String)> {
    let text = read("deploy/Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (instr, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((instr.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

fn instruction<'a>(df: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    df.iter()
        .filter(|(i, _)| i == name)
        .map(|(_, a)| a.as_str())
        .collect()
}

fn container_config() -> switchboard_config::Config {
    let sources = Sources {
        file: Some(repo().join("deploy/switchboard.toml")),
        env: Vec::new(),
        overrides: Vec::new(),
    };
    switchboard_config::load(&sources).unwrap_or_else(|errors| {
        panic!("deploy/switchboard.toml is invalid: {errors:?}");
    })
}

#[test]
fn dockerfile_builds_locked_release_with_the_pinned_toolchain() {
    let df = dockerfile();
    let toolchain = read("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .expect("rust-toolchain.toml names a channel")
        .trim_matches('"');
    assert!(
        instruction(&df, "ARG").contains(&format!("RUST_VERSION={channel}").as_str()),
        "ARG RUST_VERSION must equal the rust-toolchain.toml channel {channel}"
    );
    let froms = instruction(&df, "FROM");
    assert_eq!(
        froms.len(),
        2,
        "a builder stage and a runtime stage: {froms:?}"
    );
    assert!(froms[0].starts_with("rust:${RUST_VERSION}") && froms[0].ends_with("AS builder"));
    assert!(froms[1].starts_with("debian:") && froms[1].contains("-slim"));
    assert!(
        instruction(&df, "RUN").iter().any(|r| r
            .contains("cargo build --release --locked -p switchboard")
            && r.contains("--mount=type=cache")),
        "the builder runs the locked release build with cached dependencies"
    );
}

#[test]
fn dockerfile_runtime_contract() {
    let df = dockerfile();
    let exposed: BTreeSet<u16> = instruction(&df, "EXPOSE")
        .iter()
        .flat_map(|a| a.split_whitespace())
        .map(|p| p.parse().expect("EXPOSE takes port numbers"))
        .collect();
    assert_eq!(exposed, BTreeSet::from([8080, 1883, 8883, 7700, 9090]));

    let user = instruction(&df, "USER");
    let uid: u32 = user
        .last()
        .and_then(|u| u.split(':').next())
        .and_then(|u| u.parse().ok())
        .expect("USER is a numeric uid (so runAsNonRoot can verify it)");
    assert_ne!(uid, 0, "the image does not run as root");

    let entrypoint = instruction(&df, "ENTRYPOINT");
    assert_eq!(
        entrypoint.last().copied(),
        Some(r#"["/usr/bin/tini", "--", "/usr/local/bin/switchboard"]"#),
        "tini is PID 1 and forwards SIGTERM to the gateway"
    );
    assert_eq!(
        instruction(&df, "CMD").last().copied(),
        Some(r#"["--config", "/etc/switchboard/switchboard.toml"]"#)
    );
    assert!(
        instruction(&df, "COPY")
            .contains(&"deploy/switchboard.toml /etc/switchboard/switchboard.toml")
    );
    assert!(
        instruction(&df, "RUN")
            .iter()
            .any(|r| r.contains("/var/lib/switchboard") && r.contains("10001"))
    );

    // The health check probes /healthz on the admin port of the image's own config.
    let admin_port = container_config().admin.listen.port();
    let health = instruction(&df, "HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].contains(&format!("http://127.0.0.1:{admin_port}/healthz")),
        "HEALTHCHECK must probe the admin port {admin_port}: {}",
        health[0]
    );
}

#[test]
fn container_config_binds_every_listener_on_all_interfaces_on_exposed_ports() {
    let config = container_config();
    assert_eq!(
        config.auth.anonymous,
        Some(false),
        "the image lets no anonymous client in unless told to"
    );
    let listeners = validate::listeners(&config);
    assert!(
        listeners.len() >= 4,
        "http, admin, mqtt and ipc: {listeners:?}"
    );
    for (key, addr) in listeners {
        assert!(
            addr.ip().is_unspecified(),
            "{key} = {addr} must bind 0.0.0.0 in a container"
        );
        assert!(
            [8080, 1883, 8883, 7700, 9090].contains(&addr.port()),
            "{key} = {addr} is not an EXPOSEd port"
        );
    }
}

#[test]
fn compose_waits_longer_than_the_drain() {
    let compose = read("deploy/docker-compose.yml");
    let grace_s: u64 = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("stop_grace_period: "))
        .and_then(|v| v.trim().strip_suffix('s'))
        .and_then(|v| v.parse().ok())
        .expect("docker-compose.yml sets stop_grace_period in seconds");
    let drain_ms = container_config().shutdown.grace_ms;
    assert!(
        grace_s * 1000 > drain_ms,
        "stop_grace_period {grace_s}s must exceed shutdown.grace_ms {drain_ms}"
    );
}
