//! The NATS connection options built from `[cluster]` (credentials, TLS, reconnection), and what
//! a failed connection attempt means for the operator: which configuration key to look at.

use std::time::Duration;

use async_nats::ConnectOptions;
use switchboard_config::ClusterConfig;

use crate::error::ClusterError;

/// The problem reported while NATS is not reachable at all (a network or server outage).
pub const UNREACHABLE: &str = "cluster: NATS unreachable";

/// Connection options of one node's link (`echo`: whether this connection receives what it
/// publishes itself).
pub(crate) async fn options(
    config: &ClusterConfig,
    name: &str,
    echo: bool,
) -> Result<ConnectOptions, ClusterError> {
    let o = match &config.creds_file {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| ClusterError::Credentials(format!("{}: {e}", path.display())))?,
        None => ConnectOptions::new(),
    };
    let mut o = with_auth_and_tls(o, config);
    if !echo {
        o = o.no_echo();
    }
    Ok(o.name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(timeout(config))
        // Every node retries at least once a second, so after a NATS restart the nodes come back
        // within about a second of each other (see `resume_wait_ms`).
        .reconnect_delay_callback(|attempts| {
            let ms = (50u64 << attempts.min(5)).min(1_000);
            Duration::from_millis(ms + rand::random::<u64>() % 100)
        }))
}

/// User and password, token, TLS roots and client certificate, as configured.
fn with_auth_and_tls(mut o: ConnectOptions, config: &ClusterConfig) -> ConnectOptions {
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        o = o.user_and_password(user.clone(), password.expose().to_owned());
    }
    if let Some(token) = &config.token {
        o = o.token(token.expose().to_owned());
    }
    if let Some(ca) = &config.tls_ca {
        o = o.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        o = o.add_client_certificate(cert.clone(), key.clone());
    }
    if config.tls_required {
        o = o.require_tls(true);
    }
    o
}

fn timeout(config: &ClusterConfig) -> Duration {
    Duration::from_millis(config.connect_timeout_ms.clamp(100, 5_000))
}

/// One connection attempt, made only to learn why the link's own attempts fail: the NATS client
/// reports a failed TLS handshake to its event callback as a bare "IO error", while the error of
/// a single attempt carries the cause ("invalid peer certificate: UnknownIssuer"). Returns that
/// cause, diagnosed, or `None` (NATS is just unreachable, or the attempt worked).
pub(crate) async fn probe(config: &ClusterConfig, url: &str) -> Option<String> {
    let o = match &config.creds_file {
        Some(path) => ConnectOptions::with_credentials_file(path).await.ok()?,
        None => ConnectOptions::new(),
    };
    let o = with_auth_and_tls(o, config)
        .name("switchboard (diagnosis)")
        .connection_timeout(timeout(config));
    let attempt = tokio::time::timeout(timeout(config) * 2, o.connect(url))
        .await
        .ok()?;
    match attempt {
        Ok(client) => {
            drop(client);
            None
        }
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            diagnose(&text, config)
        }
    }
}

/// Why a connection attempt failed, as the operator must read it in `/readyz` and the log: the
/// `[cluster]` keys to fix. `error` is what the NATS client reported (its error kind: the client
/// reports "authorization violation", "failed signing nonce", "TLS error", "IO error", ...).
/// `None` for failures that only mean the server is not reachable (then [`UNREACHABLE`] says it).
pub fn diagnose(error: &str, config: &ClusterConfig) -> Option<String> {
    let e = error.to_ascii_lowercase();
    if e.contains("authorization violation") || e.contains("authentication") {
        let keys = if config.creds_file.is_some() {
            "cluster.creds_file (the user JWT and seed the server's account expects)"
        } else if config.token.is_some() {
            "cluster.token"
        } else if config.user.is_some() {
            "cluster.user and cluster.password"
        } else {
            "the server requires credentials: set cluster.user and cluster.password, \
             cluster.token or cluster.creds_file"
        };
        return Some(format!(
            "cluster: NATS refused this node's credentials (authorization violation): check {keys}"
        ));
    }
    if e.contains("failed signing nonce") {
        return Some(
            "cluster: cannot sign the NATS nonce with the seed of cluster.creds_file".to_owned(),
        );
    }
    if e.contains("tls")
        || e.contains("certificate")
        || e.contains("handshake")
        || e.contains("alert")
    {
        let keys = if config.tls_cert.is_some() {
            "cluster.tls_ca (the CA of the server's certificate) and \
             cluster.tls_cert/cluster.tls_key (accepted by the server's CA)"
        } else {
            "cluster.tls_ca (the CA of the server's certificate), and cluster.tls_cert/\
             cluster.tls_key if the server verifies clients"
        };
        return Some(format!("cluster: TLS with NATS failed: check {keys}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_config::Secret;

    fn config(f: impl FnOnce(&mut ClusterConfig)) -> ClusterConfig {
        let mut c = ClusterConfig::default();
        f(&mut c);
        c
    }

    #[test]
    fn an_authorization_violation_names_the_keys_in_use() {
        let plain = diagnose("authorization violation", &ClusterConfig::default()).unwrap();
        assert!(plain.contains("requires credentials"), "{plain}");
        let user = config(|c| {
            c.user = Some("u".into());
            c.password = Some(Secret::new("p"));
        });
        let m = diagnose("authorization violation", &user).unwrap();
        assert!(m.contains("cluster.user and cluster.password"), "{m}");
        let token = config(|c| c.token = Some(Secret::new("t")));
        let m = diagnose("nats: authorization violation", &token).unwrap();
        assert!(
            m.contains("cluster.token") && !m.contains("cluster.user"),
            "{m}"
        );
        let creds = config(|c| c.creds_file = Some("/x.creds".into()));
        let m = diagnose("authorization violation", &creds).unwrap();
        assert!(m.contains("cluster.creds_file"), "{m}");
    }

    #[test]
    fn tls_failures_name_the_tls_keys_and_outages_are_not_diagnosed() {
        let m = diagnose("TLS error", &ClusterConfig::default()).unwrap();
        assert!(
            m.contains("cluster.tls_ca") && m.contains("cluster.tls_cert"),
            "{m}"
        );
        assert_eq!(diagnose("IO error", &ClusterConfig::default()), None);
        assert_eq!(diagnose("timed out", &ClusterConfig::default()), None);
    }
}
