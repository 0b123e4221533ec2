//! [`Auth`]: the [`Authorizer`] every protocol consults, built from `[auth]`.
//!
//! Authentication, mosquitto 2.0's rules extended to tokens and certificates:
//!
//! | credentials | password file set | no password file |
//! |---|---|---|
//! | none | allowed when `anonymous`, else [`AuthError::NotAuthorized`] | same |
//! | user + password | the hash must match, else [`AuthError::BadCredentials`] (unknown users too) | accepted as that user when `anonymous`, else `NotAuthorized` |
//! | user, no password | [`AuthError::BadCredentials`] | accepted as that user when `anonymous`, else `NotAuthorized` |
//! | bearer token | verified with `[auth.jwt]` ([`crate::jwt`]): the user claim becomes the user | same; without `[auth.jwt]` a token counts as no credentials |
//! | TLS client certificate | its common name is the user (the TLS handshake verified it) | same |
//!
//! Authorisation, in this order:
//! 1. a shared subscription `$share/<group>/<filter>` is judged by `<filter>`;
//! 2. the reserved topics ([`crate::reserved`]): replies are a capability, `$SYS` is never published;
//! 3. a token's topic list, when the identity has one, must contain the topic (for a subscription:
//!    overlap the filter);
//! 4. without an ACL file everything else is allowed (as in mosquitto); with one, the ACL decides
//!    ([`crate::acl`]), and an empty ACL file denies everything.
//!
//! ACL decisions are cached with moka for `cache_ttl_ms`, at most `cache_capacity` of them. Each
//! entry carries the generation of the files it was computed from; [`Auth::reload`] bumps the
//! generation and empties the cache, so no decision outlives the files it came from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use parking_lot::RwLock;
use prometheus::Registry;
use switchboard_config::{AuthConfig, JwtConfig};
use switchboard_fabric::{Access, AuthError, Authorizer, Credentials, Identity, TopicFilter};

use crate::acl::Acl;
use crate::error::LoadError;
use crate::jwt::JwtVerifier;
use crate::metrics::AuthMetrics;
use crate::password::{PasswordFile, Verification};
use crate::{filter, reserved};

/// The files `[auth]` names, loaded and checked together.
#[derive(Debug, Default)]
pub struct AuthFiles {
    /// The password file, when `password_file` is set.
    pub passwords: Option<PasswordFile>,
    /// The ACL file, when `acl_file` is set.
    pub acl: Option<Acl>,
    /// The token verifier, when `[auth.jwt]` is set.
    pub jwt: Option<JwtVerifier>,
}

impl AuthFiles {
    /// Loads every file `config` names; the first problem is returned, naming key, file and line.
    /// This is what `switchboard check-config` runs, and what start-up and reload run.
    pub fn load(config: &AuthConfig) -> Result<AuthFiles, LoadError> {
        Self::load_from(&Sources::from(config))
    }

    fn load_from(sources: &Sources) -> Result<AuthFiles, LoadError> {
        let passwords = match &sources.password_file {
            Some(p) => Some(PasswordFile::load("auth.password_file", p)?),
            None => None,
        };
        let acl = match &sources.acl_file {
            Some(p) => Some(Acl::load("auth.acl_file", p)?),
            None => None,
        };
        let jwt = match &sources.jwt {
            Some(j) => Some(JwtVerifier::from_config(j)?),
            None => None,
        };
        Ok(AuthFiles {
            passwords,
            acl,
            jwt,
        })
    }
}

/// Where the files come from (kept for reloads).
#[derive(Debug, Clone)]
struct Sources {
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
    jwt: Option<JwtConfig>,
}

impl From<&AuthConfig> for Sources {
    fn from(c: &AuthConfig) -> Self {
        Sources {
            password_file: c.password_file.clone(),
            acl_file: c.acl_file.clone(),
            jwt: c.jwt.clone(),
        }
    }
}

#[derive(Debug)]
struct State {
    generation: u64,
    files: AuthFiles,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DecisionKey {
    generation: u64,
    user: Option<Arc<str>>,
    /// Only when patterns make the client id matter, so that clients of one user share entries.
    client: Option<Arc<str>>,
    access: Access,
    topic: Box<str>,
}

/// What is in effect, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Whether clients without credentials are let in.
    pub anonymous: bool,
    /// Users in the password file, when one is set.
    pub users: Option<usize>,
    /// Entries in the ACL file, when one is set.
    pub acl_rules: Option<usize>,
    /// Whether tokens are verified.
    pub jwt: bool,
    /// How many times the files were loaded (1 after start-up, +1 per successful reload).
    pub generation: u64,
}

/// The shared authenticator and authoriser. Cheap to query from any thread; never blocks on I/O
/// except in [`Auth::new`] and [`Auth::reload`].
pub struct Auth {
    anonymous: bool,
    sources: Sources,
    state: RwLock<Arc<State>>,
    cache: Option<Cache<DecisionKey, bool>>,
    metrics: AuthMetrics,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("summary", &self.summary())
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Loads the files `config` names and registers the metrics on `registry`. `config.anonymous`
    /// is the value the config loader resolved (unset counts as true, like
    /// `Config::anonymous_allowed`).
    pub fn new(config: &AuthConfig, registry: &Registry) -> Result<Auth, LoadError> {
        let metrics = AuthMetrics::register(registry)?;
        Auth::with_metrics(config, metrics)
    }

    /// Like [`Auth::new`] with metrics made by the caller.
    pub fn with_metrics(config: &AuthConfig, metrics: AuthMetrics) -> Result<Auth, LoadError> {
        let sources = Sources::from(config);
        let files = AuthFiles::load_from(&sources)?;
        let cache = (config.cache_ttl_ms > 0 && config.cache_capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(config.cache_capacity)
                .time_to_live(Duration::from_millis(config.cache_ttl_ms))
                .build()
        });
        let auth = Auth {
            anonymous: config.anonymous.unwrap_or(true),
            sources,
            state: RwLock::new(Arc::new(State {
                generation: 1,
                files,
            })),
            cache,
            metrics,
        };
        auth.after_load();
        let summary = auth.summary();
        tracing::info!(
            anonymous = summary.anonymous,
            users = ?summary.users,
            acl_rules = ?summary.acl_rules,
            jwt = summary.jwt,
            "auth settings in effect"
        );
        if !auth.anonymous && auth.sources.password_file.is_none() && auth.sources.jwt.is_none() {
            tracing::warn!(
                "auth: anonymous access is off and neither auth.password_file nor [auth.jwt] is \
                 set, so every client that is not a verified TLS client certificate will be \
                 refused; set auth.password_file or auth.anonymous = true"
            );
        }
        Ok(auth)
    }

    /// Re-reads the password file, the ACL file and the JWT key. Either all of them take effect
    /// together, or none does: on error the previous users and rules stay in use and the error is
    /// returned (the caller logs it). Cached decisions are dropped on success.
    pub fn reload(&self) -> Result<Summary, LoadError> {
        let files = match AuthFiles::load_from(&self.sources) {
            Ok(f) => f,
            Err(e) => {
                self.metrics.reloads.with_label_values(&["error"]).inc();
                return Err(e);
            }
        };
        {
            let mut state = self.state.write();
            let generation = state.generation + 1;
            *state = Arc::new(State { generation, files });
        }
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
        self.metrics.reloads.with_label_values(&["ok"]).inc();
        self.after_load();
        Ok(self.summary())
    }

    fn after_load(&self) {
        let state = self.current();
        self.metrics
            .users
            .set(state.files.passwords.as_ref().map_or(0, |p| p.len() as i64));
        self.metrics.acl_rules.set(
            state
                .files
                .acl
                .as_ref()
                .map_or(0, |a| a.rule_count() as i64),
        );
        if let Some(acl) = &state.files.acl {
            for w in acl.warnings() {
                tracing::warn!("auth.acl_file: {w}");
            }
        }
    }

    /// What is in effect.
    pub fn summary(&self) -> Summary {
        let state = self.current();
        Summary {
            anonymous: self.anonymous,
            users: state.files.passwords.as_ref().map(PasswordFile::len),
            acl_rules: state.files.acl.as_ref().map(Acl::rule_count),
            jwt: state.files.jwt.is_some(),
            generation: state.generation,
        }
    }

    /// The metrics.
    pub fn metrics(&self) -> &AuthMetrics {
        &self.metrics
    }

    fn current(&self) -> Arc<State> {
        self.state.read().clone()
    }
}

/// Whether a token's topic list lets `access` on `topic` through.
fn token_permits(filters: &[TopicFilter], access: Access, topic: &str) -> bool {
    filters.iter().any(|f| {
        if f.is_literal() {
            f.as_str() == topic
        } else if access == Access::Subscribe {
            filter::intersects(f.as_str(), topic)
        } else {
            filter::matches(f.as_str(), topic)
        }
    })
}

impl Authorizer for Auth {
    fn authenticate(
        &self,
        protocol: &str,
        client_id: &str,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError> {
        let state = self.current();
        let files = &state.files;
        let open = self.anonymous;
        let result = match credentials {
            Credentials::Anonymous => {
                if open {
                    Ok(Identity::anonymous(client_id))
                } else {
                    Err(AuthError::NotAuthorized)
                }
            }
            Credentials::Password { username, password } => match &files.passwords {
                Some(file) => match file.verify(username, password) {
                    Verification::Valid => Ok(Identity::user(username.as_str(), client_id)),
                    Verification::WrongPassword | Verification::UnknownUser => {
                        Err(AuthError::BadCredentials)
                    }
                },
                None if open => Ok(Identity::user(username.as_str(), client_id)),
                None => Err(AuthError::NotAuthorized),
            },
            Credentials::Username(username) => match &files.passwords {
                Some(_) => Err(AuthError::BadCredentials),
                None if open => Ok(Identity::user(username.as_str(), client_id)),
                None => Err(AuthError::NotAuthorized),
            },
            Credentials::Token(token) => match &files.jwt {
                Some(verifier) => verifier.verify(token).map(|claims| Identity {
                    user: Some(claims.user.into()),
                    client_id: client_id.into(),
                    token_topics: claims.topics,
                    admin: false,
                }),
                None if open => Ok(Identity::anonymous(client_id)),
                None => Err(AuthError::InvalidToken(
                    "tokens are not accepted here: [auth.jwt] is not configured".into(),
                )),
            },
            Credentials::Certificate(name) => Ok(Identity::user(name.as_str(), client_id)),
        };
        if let Err(e) = &result {
            tracing::debug!(protocol, client_id, error = %e, "authentication failed");
        }
        result
    }

    fn authorize(&self, identity: &Identity, access: Access, topic: &str) -> bool {
        let topic = if access == Access::Subscribe {
            match reserved::subscription_filter(topic) {
                Some(f) => f,
                None => return false,
            }
        } else {
            topic
        };
        if let Some(decision) = reserved::decide(access, topic) {
            return decision;
        }
        if let Some(filters) = &identity.token_topics
            && !token_permits(filters, access, topic)
        {
            return false;
        }
        if self.sources.acl_file.is_none() {
            // No ACL file now means none after any reload either: skip the shared state entirely.
            return true;
        }
        let state = self.current();
        let Some(acl) = &state.files.acl else {
            return true;
        };
        let decide = || {
            let d = acl.decide(identity.user.as_deref(), &identity.client_id, access, topic);
            if !d.allowed {
                tracing::debug!(
                    user = identity.user.as_deref(),
                    client_id = &*identity.client_id,
                    access = access.as_str(),
                    topic,
                    acl_line = d.line,
                    "denied by the ACL"
                );
            }
            d.allowed
        };
        let Some(cache) = &self.cache else {
            return decide();
        };
        let key = DecisionKey {
            generation: state.generation,
            user: identity.user.clone(),
            client: acl.has_patterns().then(|| identity.client_id.clone()),
            access,
            topic: topic.into(),
        };
        if let Some(allowed) = cache.get(&key) {
            self.metrics.cache_hits.inc();
            return allowed;
        }
        self.metrics.cache_misses.inc();
        let allowed = decide();
        cache.insert(key, allowed);
        allowed
    }
}
