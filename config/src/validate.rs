//! Validation that needs the whole configuration: each section's own checks, then what spans
//! sections (listeners on the same port, TLS and auth files that must exist, paths on the front that
//! collide).

use std::net::SocketAddr;
use std::path::Path;

use crate::Config;
use crate::load::ConfigError;

/// Checks `config`; returns every problem found.
pub fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    problems.extend(config.fabric.problems());
    problems.extend(config.mqtt.problems());
    problems.extend(config.engineio.problems());
    problems.extend(config.socketio.problems());
    problems.extend(config.ipc.problems());
    problems.extend(config.proxy.validate());
    check_listeners(config, &mut problems);
    check_files(config, &mut problems);
    check_front_paths(config, &mut problems);
    check_misc(config, &mut problems);
    check_admin_api(config, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems
            .into_iter()
            .map(|(k, m)| ConfigError::key(k, m))
            .collect())
    }
}

/// Every listener the configuration asks for, with the key that sets it.
pub fn listeners(config: &Config) -> Vec<(&'static str, SocketAddr)> {
    let mut out = vec![
        ("http.listen", config.http.listen),
        ("admin.listen", config.admin.listen),
    ];
    if let Some(a) = config.http.redirect_listen {
        out.push(("http.redirect_listen", a));
    }
    if config.mqtt.enabled {
        out.push(("mqtt.listen", config.mqtt.listen));
        if let Some(a) = config.mqtt.tls_listen {
            out.push(("mqtt.tls_listen", a));
        }
    }
    if config.ipc.enabled {
        out.push(("ipc.listen", config.ipc.listen));
    }
    out
}

fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn check_listeners(config: &Config, out: &mut Vec<(String, String)>) {
    let all = listeners(config);
    for (i, (ka, a)) in all.iter().enumerate() {
        for (kb, b) in &all[..i] {
            if overlaps(*a, *b) {
                out.push((
                    (*ka).to_owned(),
                    format!("{a} clashes with `{kb}` ({b}); give each listener its own port"),
                ));
            }
        }
    }
}

fn check_file(key: &str, path: &Path, out: &mut Vec<(String, String)>) {
    if !path.is_file() {
        out.push((
            key.to_owned(),
            format!(
                "{} does not exist or is not a readable file",
                path.display()
            ),
        ));
    }
}

fn check_files(config: &Config, out: &mut Vec<(String, String)>) {
    match (&config.http.tls_cert, &config.http.tls_key) {
        (Some(c), Some(k)) => {
            check_file("http.tls_cert", c, out);
            check_file("http.tls_key", k, out);
        }
        (Some(_), None) => out.push(("http.tls_key".into(), "is needed with http.tls_cert".into())),
        (None, Some(_)) => out.push(("http.tls_cert".into(), "is needed with http.tls_key".into())),
        (None, None) => {
            if config.http.redirect_listen.is_some() {
                out.push((
                    "http.redirect_listen".into(),
                    "redirects to HTTPS, so it needs http.tls_cert and http.tls_key".into(),
                ));
            }
        }
    }
    if config.mqtt.tls_listen.is_some() {
        for (key, path) in [
            ("mqtt.cert", &config.mqtt.cert),
            ("mqtt.key", &config.mqtt.key),
            ("mqtt.client_ca", &config.mqtt.client_ca),
        ] {
            if let Some(p) = path {
                check_file(key, p, out);
            }
        }
    }
    for (key, path) in [
        ("cluster.creds_file", &config.cluster.creds_file),
        ("cluster.tls_ca", &config.cluster.tls_ca),
        ("cluster.tls_cert", &config.cluster.tls_cert),
        ("cluster.tls_key", &config.cluster.tls_key),
    ] {
        if let Some(p) = path {
            check_file(key, p, out);
        }
    }
    for (key, path) in [
        ("auth.password_file", &config.auth.password_file),
        ("auth.acl_file", &config.auth.acl_file),
    ] {
        if let Some(p) = path {
            check_file(key, p, out);
        }
    }
    if let Some(jwt) = &config.auth.jwt {
        match jwt.algorithm.as_str() {
            "HS256" => {
                if jwt.secret.is_none() {
                    out.push(("auth.jwt.secret".into(), "is needed for HS256".into()));
                }
            }
            "RS256" | "ES256" => match &jwt.public_key_file {
                Some(p) => check_file("auth.jwt.public_key_file", p, out),
                None => out.push((
                    "auth.jwt.public_key_file".into(),
                    format!("is needed for {}", jwt.algorithm),
                )),
            },
            other => out.push((
                "auth.jwt.algorithm".into(),
                format!("`{other}` is not supported; use HS256, RS256 or ES256"),
            )),
        }
        if jwt.user_claim.trim().is_empty() {
            out.push((
                "auth.jwt.user_claim".into(),
                "must name the claim holding the user name, e.g. `sub`".into(),
            ));
        }
        for (key, value) in [
            ("auth.jwt.topics_claim", &jwt.topics_claim),
            ("auth.jwt.audience", &jwt.audience),
            ("auth.jwt.issuer", &jwt.issuer),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                out.push((
                    key.into(),
                    "must not be empty; remove the key instead".into(),
                ));
            }
        }
    }
}

fn check_front_paths(config: &Config, out: &mut Vec<(String, String)>) {
    let eio = config
        .engineio
        .enabled
        .then_some(config.engineio.path.as_str());
    let mqtt = (config.mqtt.enabled && !config.mqtt.ws_path.is_empty())
        .then_some(config.mqtt.ws_path.as_str());
    if let (Some(e), Some(m)) = (eio, mqtt)
        && e.trim_end_matches('/') == m.trim_end_matches('/')
    {
        out.push((
            "mqtt.ws_path".into(),
            format!("`{m}` is also engineio.path; give MQTT over WebSocket its own path"),
        ));
    }
    let dashboard = config.http.dashboard.trim_end_matches('/');
    if !config.http.dashboard.is_empty() {
        if !config.http.dashboard.starts_with('/') || dashboard.is_empty() {
            out.push((
                "http.dashboard".into(),
                "must be a path such as `/dashboard`, or empty to turn the dashboard off".into(),
            ));
        }
        let sio = config
            .socketio
            .enabled
            .then_some(config.socketio.path.as_str());
        for (key, other) in [
            ("engineio.path", eio),
            ("mqtt.ws_path", mqtt),
            ("socketio.path", sio),
        ] {
            if other.is_some_and(|o| o.trim_end_matches('/') == dashboard) {
                out.push((
                    "http.dashboard".into(),
                    format!("`{dashboard}` is also {key}; give the dashboard its own path"),
                ));
            }
        }
    }
    if config.socketio.enabled {
        let sio = config.socketio.path.trim_end_matches('/');
        for (key, other) in [("engineio.path", eio), ("mqtt.ws_path", mqtt)] {
            if other.is_some_and(|o| o.trim_end_matches('/') == sio) {
                out.push((
                    "socketio.path".into(),
                    format!("`{sio}` is also {key}; give Socket.IO its own path"),
                ));
            }
        }
    }
}

fn check_misc(config: &Config, out: &mut Vec<(String, String)>) {
    if config.shutdown.grace_ms == 0 {
        out.push((
            "shutdown.grace_ms".into(),
            "must be at least 1 (connections need time to say goodbye)".into(),
        ));
    }
    if config.http.max_connections == 0 {
        out.push(("http.max_connections".into(), "must be at least 1".into()));
    }
    if config.http.header_read_timeout_ms == 0 {
        out.push((
            "http.header_read_timeout_ms".into(),
            "must be at least 1".into(),
        ));
    }
    if config.telemetry.log_level.trim().is_empty() {
        out.push((
            "telemetry.log_level".into(),
            "must not be empty; use e.g. `info` or `warn,switchboard=debug`".into(),
        ));
    }
    if let Some(url) = &config.telemetry.otlp_endpoint
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        out.push((
            "telemetry.otlp_endpoint".into(),
            "must be an http:// or https:// URL of an OTLP/HTTP collector".into(),
        ));
    }
    if let Some(path) = &config.storage.path
        && let Some(problem) = storage_dir_problem(path)
    {
        out.push(("storage.path".into(), problem));
    }
    if config.storage.fsync == crate::Fsync::Interval && config.storage.fsync_interval_ms == 0 {
        out.push((
            "storage.fsync_interval_ms".into(),
            "must be at least 1 with fsync = \"interval\"".into(),
        ));
    }
    out.extend(config.cluster.problems());
}

/// The admin API is never exposed without a token: on a non-loopback admin port that asks for it
/// (`admin.api = true`), or on a non-loopback front (`http.api = true`), `admin.token` is needed.
fn check_admin_api(config: &Config, out: &mut Vec<(String, String)>) {
    out.extend(config.admin.problems());
    if config.admin.token().is_some() {
        return;
    }
    if config.admin.api == Some(true) && !config.admin.listen.ip().is_loopback() {
        out.push((
            "admin.token".into(),
            format!(
                "is required: admin.api = true serves the admin API on {}, which is not a loopback \
                 address; set admin.token (or listen on 127.0.0.1, or remove admin.api)",
                config.admin.listen
            ),
        ));
    }
    if config.http.api && !config.http.listen.ip().is_loopback() {
        out.push((
            "admin.token".into(),
            format!(
                "is required: http.api = true serves the admin API on the front ({}), which is \
                 not a loopback address; set admin.token (or turn http.api off)",
                config.http.listen
            ),
        ));
    }
}

/// Why `path` cannot be the store's directory: it must be a writable directory, or one that can be
/// created (its nearest existing ancestor is a writable directory). Nothing is created here.
fn storage_dir_problem(path: &Path) -> Option<String> {
    if path.as_os_str().is_empty() {
        return Some("must not be empty; remove the key to keep state in memory".into());
    }
    let mut dir = path;
    loop {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Some(format!(
                    "{} is not a directory; storage.path names the directory of the store",
                    dir.display()
                ));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                match dir.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => dir = parent,
                    _ => return None,
                }
            }
            Err(e) => return Some(format!("cannot use {}: {e}", dir.display())),
        }
    }
    let probe = dir.join(format!(".switchboard-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "{} is not writable ({e}); the gateway keeps its store there",
            dir.display()
        )),
    }
}
