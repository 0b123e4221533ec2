//! Loading, layering and validation of the configuration.

use std::io::Write;
use std::path::{Path, PathBuf};

use switchboard_config::{Config, ConfigError, LogFormat, Sources, load};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn file_with(text: &str) -> tempfile_lite::TempFile {
    tempfile_lite::TempFile::new(text)
}

fn from_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
    load(&Sources {
        file: Some(path.to_owned()),
        ..Default::default()
    })
}

/// A tiny temp-file helper so the crate needs no extra dependency.
mod tempfile_lite {
    use super::*;
    pub struct TempFile(pub PathBuf);
    impl TempFile {
        pub fn new(text: &str) -> Self {
            let n: u64 = std::process::id() as u64 * 1_000_003
                + std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos() as u64;
            let path = std::env::temp_dir().join(format!("switchboard-config-{n}.toml"));
            let mut f = std::fs::File::create(&path).unwrap();
            f.write_all(text.as_bytes()).unwrap();
            TempFile(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn every_example_loads() {
    let full = from_file(&example("full.toml")).expect("full.toml is valid");
    assert_eq!(full.proxy.routes.len(), 1);
    assert_eq!(full.proxy.routes[0].targets.len(), 2);
    assert_eq!(
        full.auth.anonymous,
        Some(false),
        "a config file turns anonymous off"
    );
    let minimal = from_file(&example("minimal.toml")).expect("minimal.toml is valid");
    assert_eq!(minimal.http.listen.to_string(), "0.0.0.0:8080");
}

#[test]
fn the_full_example_spells_out_every_default() {
    // Uncommented keys in full.toml carry the defaults, so loading it changes nothing else.
    let full = from_file(&example("full.toml")).unwrap();
    let defaults = Config::default();
    assert_eq!(full.http, defaults.http);
    assert_eq!(full.fabric, defaults.fabric);
    assert_eq!(full.engineio, defaults.engineio);
    assert_eq!(full.socketio, defaults.socketio);
    assert_eq!(full.mqtt, defaults.mqtt);
    assert_eq!(full.ipc, defaults.ipc);
    assert_eq!(full.telemetry, defaults.telemetry);
    assert_eq!(full.shutdown, defaults.shutdown);
    assert_eq!(
        full.auth,
        switchboard_config::AuthConfig {
            anonymous: Some(false),
            ..defaults.auth
        }
    );
}

#[test]
fn defaults_without_a_file_allow_anonymous_on_loopback() {
    let c = load(&Sources::default()).unwrap();
    assert_eq!(c.auth.anonymous, Some(true));
    assert!(c.http.listen.ip().is_loopback());
    assert!(c.mqtt.listen.ip().is_loopback());
    assert!(c.ipc.listen.ip().is_loopback());
    assert!(c.admin.listen.ip().is_loopback());
}

#[test]
fn unknown_key_is_named_with_its_file() {
    let f = file_with("[mqtt]\nlisten = \"127.0.0.1:1883\"\nlistn = \"oops\"\n");
    let errors = from_file(&f.0).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key.as_deref(), Some("mqtt.listn"));
    let text = errors[0].to_string();
    assert!(text.contains(&f.0.display().to_string()), "{text}");
    assert!(text.contains("unknown key"), "{text}");
}

#[test]
fn unknown_section_is_named() {
    let f = file_with("[mqqt]\nlisten = \"127.0.0.1:1883\"\n");
    let errors = from_file(&f.0).unwrap_err();
    assert_eq!(errors[0].key.as_deref(), Some("mqqt"));
}

#[test]
fn wrong_type_is_named() {
    let f = file_with("[mqtt]\nmax_inflight = \"many\"\n");
    let errors = from_file(&f.0).unwrap_err();
    assert_eq!(errors[0].key.as_deref(), Some("mqtt.max_inflight"));
}

#[test]
fn missing_file_is_an_error() {
    let errors = from_file(Path::new("/nonexistent/switchboard.toml")).unwrap_err();
    assert!(errors[0].to_string().contains("does not exist"));
}

#[test]
fn env_overrides_file_and_cli_overrides_env() {
    let f = file_with("[telemetry]\nlog_level = \"warn\"\n[mqtt]\nmax_inflight = 5\n");
    let c = load(&Sources {
        file: Some(f.0.clone()),
        env: vec![
            ("SWITCHBOARD_TELEMETRY__LOG_LEVEL".into(), "debug".into()),
            ("SWITCHBOARD_TELEMETRY__LOG_FORMAT".into(), "json".into()),
            ("SWITCHBOARD_MQTT__MAX_INFLIGHT".into(), "7".into()),
            (
                "SWITCHBOARD_CONFIG".into(),
                "ignored: not SECTION__KEY".into(),
            ),
            ("PATH".into(), "/bin".into()),
        ],
        overrides: vec![("mqtt.max_inflight".into(), "9".into())],
    })
    .unwrap();
    assert_eq!(c.telemetry.log_level, "debug");
    assert_eq!(c.telemetry.log_format, LogFormat::Json);
    assert_eq!(c.mqtt.max_inflight, 9);
}

#[test]
fn bad_env_value_names_the_variable() {
    let errors = load(&Sources {
        env: vec![("SWITCHBOARD_MQTT__MAX_INFLIGHT".into(), "lots".into())],
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(errors[0].key.as_deref(), Some("mqtt.max_inflight"));
    assert!(
        errors[0]
            .to_string()
            .contains("SWITCHBOARD_MQTT__MAX_INFLIGHT"),
        "{}",
        errors[0]
    );
}

#[test]
fn port_clashes_are_reported_with_both_keys() {
    let f = file_with("[http]\nlisten = \"127.0.0.1:7000\"\n[ipc]\nlisten = \"0.0.0.0:7000\"\n");
    let errors = from_file(&f.0).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("ipc.listen") && t.contains("http.listen")),
        "{text:?}"
    );
}

#[test]
fn missing_tls_files_and_zero_limits_are_reported_together() {
    let f = file_with(
        "[http]\ntls_cert = \"/nope/cert.pem\"\ntls_key = \"/nope/key.pem\"\n\
         [fabric]\nqueue_capacity = 0\n[mqtt]\nmax_inflight = 0\n",
    );
    let keys: Vec<String> = from_file(&f.0)
        .unwrap_err()
        .into_iter()
        .filter_map(|e| e.key)
        .collect();
    for k in [
        "http.tls_cert",
        "http.tls_key",
        "fabric.queue_capacity",
        "mqtt.max_inflight",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
}

#[test]
fn tls_listener_without_certificate_is_refused() {
    let f = file_with("[mqtt]\ntls_listen = \"127.0.0.1:8883\"\n");
    let keys: Vec<String> = from_file(&f.0)
        .unwrap_err()
        .into_iter()
        .filter_map(|e| e.key)
        .collect();
    assert!(keys.contains(&"mqtt.tls_listen".to_owned()), "{keys:?}");
}

#[test]
fn printed_config_redacts_secrets_and_round_trips() {
    let f = file_with("[admin]\ntoken = \"s3cret-token\"\n[auth.jwt]\nsecret = \"jwt-s3cret\"\n");
    let c = from_file(&f.0).unwrap();
    assert_eq!(c.admin.token.as_ref().unwrap().expose(), "s3cret-token");
    let printed = c.to_toml();
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(printed.contains("<redacted>"));
    assert!(!format!("{c:?}").contains("s3cret"));
    // What print-config shows is itself a loadable configuration.
    let again: Config = toml::from_str(&printed).unwrap();
    assert_eq!(again.mqtt, c.mqtt);
}

#[test]
fn socketio_settings_are_checked_with_their_keys() {
    let f = file_with(
        "[engineio]\npath = \"/rt/\"\n[socketio]\npath = \"/rt\"\nmax_attachments = 0\n\
         [[socketio.namespaces]]\nname = \"admin\"\n",
    );
    let keys: Vec<String> = from_file(&f.0)
        .unwrap_err()
        .into_iter()
        .filter_map(|e| e.key)
        .collect();
    for k in [
        "socketio.path",
        "socketio.max_attachments",
        "socketio.namespaces[0].name",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
    let f = file_with("[[socketio.namespaces]]\nname = \"/plant\"\nmode = \"events\"\n");
    let c = from_file(&f.0).expect("valid");
    assert_eq!(
        c.socketio.namespaces.len(),
        1,
        "the table replaces the default list"
    );
    assert_eq!(
        c.socketio.namespaces[0].mode,
        switchboard_socketio::NamespaceMode::Events
    );
}

#[test]
fn dashboard_path_is_checked() {
    for (text, why) in [
        ("[http]\ndashboard = \"dash\"\n", "not a path"),
        ("[http]\ndashboard = \"/engine.io/\"\n", "Engine.IO's path"),
        ("[http]\ndashboard = \"/mqtt\"\n", "MQTT over WebSocket"),
    ] {
        let f = file_with(text);
        let keys: Vec<String> = from_file(&f.0)
            .unwrap_err()
            .into_iter()
            .filter_map(|e| e.key)
            .collect();
        assert!(
            keys.contains(&"http.dashboard".to_owned()),
            "{why}: {keys:?}"
        );
    }
    let f = file_with("[http]\ndashboard = \"\"\n");
    assert_eq!(from_file(&f.0).expect("valid").http.dashboard, "");
}
