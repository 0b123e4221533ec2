//! `switchboard_auth_*` metrics. Authentication failures are counted by each protocol with
//! `fabric.metrics().protocol(p).auth_failure(kind)`; this crate counts what only it sees.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The auth layer's metrics.
#[derive(Debug, Clone)]
pub struct AuthMetrics {
    /// Authorisation decisions answered from the cache.
    pub cache_hits: IntCounter,
    /// Authorisation decisions computed from the ACL.
    pub cache_misses: IntCounter,
    /// Reloads by outcome (`ok`, `error`).
    pub reloads: IntCounterVec,
    /// Users in the password file.
    pub users: IntGauge,
    /// Entries (`topic` and `pattern`) in the ACL file.
    pub acl_rules: IntGauge,
}

impl AuthMetrics {
    /// Creates the metrics and registers them on `registry`.
    pub fn register(registry: &Registry) -> Result<AuthMetrics, prometheus::Error> {
        let m = AuthMetrics::unregistered()?;
        registry.register(Box::new(m.cache_hits.clone()))?;
        registry.register(Box::new(m.cache_misses.clone()))?;
        registry.register(Box::new(m.reloads.clone()))?;
        registry.register(Box::new(m.users.clone()))?;
        registry.register(Box::new(m.acl_rules.clone()))?;
        Ok(m)
    }

    /// Creates the metrics without registering them (tools and tests).
    pub fn unregistered() -> Result<AuthMetrics, prometheus::Error> {
        Ok(AuthMetrics {
            cache_hits: IntCounter::new(
                "switchboard_auth_cache_hits_total",
                "Authorisation decisions answered from the cache",
            )?,
            cache_misses: IntCounter::new(
                "switchboard_auth_cache_misses_total",
                "Authorisation decisions computed from the ACL (cache misses)",
            )?,
            reloads: IntCounterVec::new(
                Opts::new(
                    "switchboard_auth_reloads_total",
                    "Reloads of the password file, ACL file and JWT key, by outcome",
                ),
                &["outcome"],
            )?,
            users: IntGauge::new(
                "switchboard_auth_users",
                "Users in the password file in effect",
            )?,
            acl_rules: IntGauge::new(
                "switchboard_auth_acl_rules",
                "Entries (topic and pattern lines) in the ACL file in effect",
            )?,
        })
    }
}
