//! The `[cluster]` section: accepted settings and the problems reported with their keys.

use std::path::PathBuf;

use switchboard_config::{ClusterConfig, Config, Secret, validate};

fn keys(config: &Config) -> Vec<String> {
    match validate(config) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| {
                e.to_string()
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect(),
    }
}

#[test]
fn a_cluster_with_a_nats_url_and_node_id_is_accepted() {
    let mut c = Config::default();
    c.cluster.nats_url = Some("nats://127.0.0.1:4222, tls://nats-2:4222".into());
    c.cluster.node_id = Some("switchboard-0".into());
    c.cluster.user = Some("gw".into());
    c.cluster.password = Some(Secret::new("pw"));
    assert_eq!(validate(&c).map_err(|e| e.len()), Ok(()));
}

#[test]
fn a_blank_nats_url_leaves_clustering_off() {
    let mut c = Config::default();
    c.cluster.nats_url = Some(" ".into());
    assert_eq!(c.cluster.nats_url(), None);
    assert_eq!(validate(&c).map_err(|e| e.len()), Ok(()));
}

#[test]
fn bad_cluster_settings_are_named() {
    let c = Config {
        cluster: ClusterConfig {
            nats_url: Some("nats://".into()),
            node_id: Some("gw.1".into()),
            subject_prefix: "a.b".into(),
            password: Some(Secret::new("pw")),
            tls_cert: Some(PathBuf::from("/nonexistent/cert.pem")),
            outbound_buffer_messages: 0,
            retained_replicas: 0,
            ..ClusterConfig::default()
        },
        ..Config::default()
    };
    let got = keys(&c).join(" ");
    for key in [
        "cluster.nats_url",
        "cluster.node_id",
        "cluster.subject_prefix",
        "cluster.user",
        "cluster.tls_cert",
        "cluster.outbound_buffer_messages",
        "cluster.retained_replicas",
    ] {
        assert!(got.contains(key), "{key} missing in {got}");
    }
}
