//! Who may use the API: the `[admin] token` as a bearer token, or a user of `[auth]` whose
//! identity carries the admin right (HTTP basic auth). Without a token the API answers only on
//! a loopback listener; elsewhere every request is refused with a 401 naming `admin.token`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use switchboard_fabric::{Authorizer, Credentials};

use super::error::ApiError;

/// How one mount of the API checks its callers.
#[derive(Clone)]
pub struct AccessPolicy {
    token: Option<Arc<str>>,
    open_without_token: bool,
    listener: &'static str,
    authorizer: Arc<dyn Authorizer>,
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("token", &self.token.is_some())
            .field("open_without_token", &self.open_without_token)
            .field("listener", &self.listener)
            .finish()
    }
}

impl AccessPolicy {
    /// A policy requiring `token` when set; without it, requests are let in only when
    /// `loopback` (the mount's listener is a loopback address). `listener` names the key of the
    /// listener (`admin.listen`, `http.listen`) for the refusal message.
    pub fn new(
        token: Option<&str>,
        loopback: bool,
        listener: &'static str,
        authorizer: Arc<dyn Authorizer>,
    ) -> AccessPolicy {
        AccessPolicy {
            token: token.map(Arc::from),
            open_without_token: loopback,
            listener,
            authorizer,
        }
    }

    /// Whether the request's `Authorization` header (if any) lets it in.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return if self.open_without_token {
                Ok(())
            } else {
                Err(ApiError::Unauthorized(format!(
                    "the admin API is refused on {} (not a loopback address) while no token \
                     is configured: set admin.token and send `Authorization: Bearer <token>`",
                    self.listener
                )))
            };
        };
        let refused = || {
            ApiError::Unauthorized(
                "send the admin token (admin.token) as `Authorization: Bearer <token>`, or \
                 basic credentials of a user with the admin right"
                    .to_owned(),
            )
        };
        let header = authorization.ok_or_else(refused)?;
        let (scheme, value) = header.trim().split_once(' ').ok_or_else(refused)?;
        if scheme.eq_ignore_ascii_case("bearer") {
            if constant_time_eq(value.trim().as_bytes(), token.as_bytes()) {
                return Ok(());
            }
            return Err(ApiError::Unauthorized(
                "wrong bearer token (see admin.token)".to_owned(),
            ));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| refused())?;
            let text = String::from_utf8(decoded).map_err(|_| refused())?;
            let (user, password) = text.split_once(':').ok_or_else(refused)?;
            let credentials = Credentials::Password {
                username: user.to_owned(),
                password: password.as_bytes().to_vec(),
            };
            return match self
                .authorizer
                .authenticate("http", "admin-api", &credentials)
            {
                Ok(identity) if identity.admin => Ok(()),
                _ => Err(ApiError::Unauthorized(
                    "these credentials do not carry the admin right; send the admin token \
                     (admin.token) as `Authorization: Bearer <token>`"
                        .to_owned(),
                )),
            };
        }
        Err(refused())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware refusing requests the policy does not let in.
pub async fn guard(State(policy): State<AccessPolicy>, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match policy.check(header) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::{AllowAll, AuthError, Identity};

    #[derive(Debug)]
    struct OneAdmin;

    impl Authorizer for OneAdmin {
        fn authenticate(
            &self,
            _: &str,
            client_id: &str,
            credentials: &Credentials,
        ) -> Result<Identity, AuthError> {
            match credentials {
                Credentials::Password { username, password } if password == b"pw" => {
                    let mut id = Identity::user(username.as_str(), client_id);
                    id.admin = username == "root";
                    Ok(id)
                }
                _ => Err(AuthError::BadCredentials),
            }
        }
        fn authorize(&self, _: &Identity, _: switchboard_fabric::Access, _: &str) -> bool {
            true
        }
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn a_token_is_required_when_set() {
        let p = AccessPolicy::new(Some("s3cret"), true, "admin.listen", Arc::new(OneAdmin));
        assert!(p.check(Some("Bearer s3cret")).is_ok());
        assert!(p.check(Some("bearer  s3cret ")).is_ok());
        for bad in [None, Some("Bearer nope"), Some("Bearer"), Some("s3cret")] {
            assert_eq!(
                p.check(bad).map_err(|e| e.code()),
                Err("unauthorized"),
                "{bad:?}"
            );
        }
        assert!(p.check(Some(&basic("root:pw"))).is_ok());
        assert!(p.check(Some(&basic("bob:pw"))).is_err(), "no admin right");
        assert!(p.check(Some(&basic("root:no"))).is_err());
        assert!(p.check(Some("Basic !!!")).is_err());
    }

    #[test]
    fn without_a_token_only_loopback_is_open() {
        let open = AccessPolicy::new(None, true, "admin.listen", Arc::new(AllowAll));
        assert!(open.check(None).is_ok());
        let public = AccessPolicy::new(None, false, "admin.listen", Arc::new(AllowAll));
        let e = public.check(Some("Bearer x")).unwrap_err();
        assert!(e.to_string().contains("admin.token"), "{e}");
        assert!(e.to_string().contains("admin.listen"), "{e}");
    }
}
