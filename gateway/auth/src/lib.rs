//! switchboard's one user and ACL model, shared by every protocol: [`Auth`] implements the fabric's
//! [`Authorizer`](switchboard_fabric::Authorizer) from the `[auth]` section.
//!
//! - Users come from a mosquitto-format password file (`$7$` PBKDF2-SHA512 and `$6$` as
//!   `mosquitto_passwd` writes them, and aMQTT's Argon2 and sha512-crypt lines), from JSON Web Tokens
//!   (HS256, RS256, ES256) for browsers, or from verified TLS client certificates.
//! - Rights come from a mosquitto-format ACL file with mosquitto 2.0's semantics, plus a check of
//!   SUBSCRIBE that mosquitto lacks, plus the reserved-topic rules (`$reply/...` replies are a
//!   capability; clients never publish to `$SYS`).
//! - Decisions are cached with moka; [`Auth::reload`] (SIGHUP) swaps in freshly read files atomically
//!   and drops the cache, or keeps everything as it was when a file is broken.
//!
//! # Layout
//! - [`authorizer`]: [`Auth`], [`AuthFiles`] and [`Summary`]: authentication, authorisation,
//!   caching, reload.
//! - [`password`]: [`PasswordHash`] and [`PasswordFile`]: hash formats and verification.
//! - [`acl`]: [`Acl`]: the ACL file and its evaluation (tests in `acl/tests.rs`).
//! - [`filter`]: matching, intersection and containment of topic filters.
//! - [`jwt`]: the token verifier, [`JwtVerifier`].
//! - [`reserved`]: the rules no ACL changes (`$reply/`, `$SYS`, `$share/`).
//! - [`passwd`]: editing password files for `switchboard passwd`.
//! - [`metrics`]: [`AuthMetrics`] (`switchboard_auth_*`).
//! - [`error`]: [`LoadError`] and [`PasswdError`].

pub mod acl;
pub mod authorizer;
pub mod error;
pub mod filter;
pub mod jwt;
pub mod metrics;
pub mod passwd;
pub mod password;
pub mod reserved;

use std::path::Path;

pub use acl::{Acl, Decision};
pub use authorizer::{Auth, AuthFiles, Summary};
pub use error::{LoadError, PasswdError};
pub use jwt::{JwtVerifier, TokenClaims};
pub use metrics::AuthMetrics;
pub use password::{PasswordFile, PasswordHash, Verification};

/// Reads a text file of at most `limit` bytes; invalid UTF-8 is reported with its line.
pub(crate) fn read_text(key: &'static str, path: &Path, limit: u64) -> Result<String, LoadError> {
    use std::io::Read as _;
    let io = |source| LoadError::Io {
        key,
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(LoadError::Line {
            key,
            path: path.to_owned(),
            line: 1,
            message: format!("the file is larger than {limit} bytes"),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        LoadError::Line {
            key,
            path: path.to_owned(),
            line,
            message: "not valid UTF-8".into(),
        }
    })
}
