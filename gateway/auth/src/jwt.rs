//! JSON Web Tokens for browsers (`[auth.jwt]`).
//!
//! A token is accepted when:
//! - its header names the configured algorithm (`HS256` with the shared `secret`, or `RS256` /
//!   `ES256` with the PEM public key in `public_key_file`) and the signature verifies;
//! - it carries `exp` and has not expired (60 s of leeway for clock skew), and `nbf`, when present,
//!   has passed;
//! - with `audience` set, it carries `aud` naming it; with `issuer` set, it carries that `iss`;
//! - the `user_claim` (default `sub`) is a non-empty string: the user name, which the ACL then
//!   applies to exactly as to a password user;
//! - with `topics_claim` set and present in the token, the claim is a list of topic filters (or one
//!   string of filters separated by spaces, like an OAuth `scope`): the client may then only use
//!   topics inside them, on top of the ACL ([`Identity::token_topics`]). A token without the claim
//!   is limited by the ACL alone.
//!
//! [`Identity::token_topics`]: switchboard_fabric::Identity::token_topics

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use switchboard_config::JwtConfig;
use switchboard_fabric::{AuthError, TopicFilter};

use crate::error::LoadError;

/// Longest token accepted, in bytes; longer ones are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Clock-skew allowance for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// What a valid token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The user name (the `user_claim`).
    pub user: String,
    /// The topic filters of the `topics_claim`, when configured and present.
    pub topics: Option<Arc<[TopicFilter]>>,
}

/// Verifies tokens with one key and one algorithm.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    user_claim: String,
    topics_claim: Option<String>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("user_claim", &self.user_claim)
            .field("topics_claim", &self.topics_claim)
            .finish_non_exhaustive()
    }
}

fn jwt_error(key: &'static str, message: impl Into<String>) -> LoadError {
    LoadError::Jwt {
        key,
        message: message.into(),
    }
}

impl JwtVerifier {
    /// Builds a verifier from `[auth.jwt]`, reading the public key file when the algorithm needs one.
    pub fn from_config(config: &JwtConfig) -> Result<JwtVerifier, LoadError> {
        // Select the pure-Rust backend explicitly: if another crate ever enabled a second backend,
        // jsonwebtoken could no longer choose one by itself.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
        let (algorithm, key) = match config.algorithm.as_str() {
            "HS256" => {
                let secret = config.secret.as_ref().ok_or_else(|| {
                    jwt_error("auth.jwt.secret", "auth.jwt.secret is needed for HS256")
                })?;
                (
                    Algorithm::HS256,
                    DecodingKey::from_secret(secret.expose().as_bytes()),
                )
            }
            alg @ ("RS256" | "ES256") => {
                const KEY: &str = "auth.jwt.public_key_file";
                let path = config.public_key_file.as_ref().ok_or_else(|| {
                    jwt_error(KEY, format!("auth.jwt.public_key_file is needed for {alg}"))
                })?;
                let pem = std::fs::read(path).map_err(|source| LoadError::Io {
                    key: KEY,
                    path: path.clone(),
                    source,
                })?;
                let parsed = if alg == "RS256" {
                    DecodingKey::from_rsa_pem(&pem).map(|k| (Algorithm::RS256, k))
                } else {
                    DecodingKey::from_ec_pem(&pem).map(|k| (Algorithm::ES256, k))
                };
                parsed.map_err(|e| {
                    jwt_error(
                        KEY,
                        format!(
                            "{}: not a PEM {} public key ({e})",
                            path.display(),
                            if alg == "RS256" { "RSA" } else { "P-256 EC" }
                        ),
                    )
                })?
            }
            other => {
                return Err(jwt_error(
                    "auth.jwt.algorithm",
                    format!("`{other}` is not supported; use HS256, RS256 or ES256"),
                ));
            }
        };
        if config.user_claim.is_empty() {
            return Err(jwt_error(
                "auth.jwt.user_claim",
                "must name a claim, e.g. `sub`",
            ));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Ok(JwtVerifier {
            key,
            validation,
            user_claim: config.user_claim.clone(),
            topics_claim: config.topics_claim.clone().filter(|c| !c.is_empty()),
        })
    }

    /// Verifies `token` and extracts its user and topics.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let invalid = |m: String| AuthError::InvalidToken(m);
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid(format!("longer than {MAX_TOKEN_LEN} bytes")));
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| invalid(describe(e.kind())))?;
        let claims = data.claims;
        let user = match claims.get(&self.user_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(invalid(format!(
                    "claim `{}` must be a non-empty string",
                    self.user_claim
                )));
            }
            None => return Err(invalid(format!("claim `{}` is missing", self.user_claim))),
        };
        let topics = match &self.topics_claim {
            Some(name) => match claims.get(name) {
                None => None,
                Some(value) => Some(topic_filters(name, value).map_err(invalid)?),
            },
            None => None,
        };
        Ok(TokenClaims { user, topics })
    }
}

fn topic_filters(claim: &str, value: &Value) -> Result<Arc<[TopicFilter]>, String> {
    let texts: Vec<&str> = match value {
        Value::String(s) => s.split_whitespace().collect(),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| format!("claim `{claim}` must hold strings (topic filters)"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(format!("claim `{claim}` must be a list of topic filters"));
        }
    };
    texts
        .into_iter()
        .map(|t| {
            TopicFilter::new(t).map_err(|e| format!("claim `{claim}`: `{t}` is not a filter: {e}"))
        })
        .collect()
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "the signature does not verify".into(),
        ErrorKind::InvalidAudience => "wrong audience (aud)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer (iss)".into(),
        ErrorKind::InvalidAlgorithm => "unexpected signing algorithm".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("claim `{c}` is missing"),
        ErrorKind::InvalidClaimFormat(c) => format!("claim `{c}` has the wrong type"),
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "malformed token".into(),
        other => format!("{other:?}"),
    }
}
