//! SIGHUP: reload what can change without a restart (TLS certificates, the auth files).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::tls::ReloadableCert;

/// Everything reloaded on SIGHUP.
#[derive(Debug, Default)]
pub struct Reloadables {
    /// The front's certificate.
    pub http_cert: Option<Arc<ReloadableCert>>,
    /// The password file, ACL file and JWT key (`[auth]`).
    pub auth: Option<Arc<switchboard_auth::Auth>>,
    /// The MQTT TLS listener's certificate.
    pub mqtt_cert: Option<Arc<ReloadableCert>>,
}

impl Reloadables {
    /// Reloads everything; failures are logged and the previous state stays in use.
    pub fn reload(&self) {
        if let Some(auth) = &self.auth {
            match auth.reload() {
                Ok(s) => tracing::info!(
                    users = ?s.users,
                    acl_rules = ?s.acl_rules,
                    "reloaded the password file, ACL file and JWT key"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "auth reload failed; keeping the previous users and rules"
                ),
            }
        }
        if let Some(c) = &self.http_cert {
            match c.reload() {
                Ok(()) => tracing::info!("reloaded the HTTP front's certificate"),
                Err(e) => tracing::error!(error = %e, "keeping the previous certificate"),
            }
        }
        if let Some(c) = &self.mqtt_cert {
            match c.reload() {
                Ok(()) => tracing::info!("reloaded the MQTT TLS certificate"),
                Err(e) => tracing::error!(error = %e, "keeping the previous MQTT certificate"),
            }
        }
    }
}

/// Reloads on every SIGHUP until `stop` fires.
pub async fn run(reloadables: Reloadables, stop: CancellationToken) {
    #[cfg(unix)]
    {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload needs a restart");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                r = hup.recv() => {
                    if r.is_none() { return; }
                    tracing::info!("SIGHUP received: reloading");
                    reloadables.reload();
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reloadables;
        stop.cancelled().await;
    }
}
