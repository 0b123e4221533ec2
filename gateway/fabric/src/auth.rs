//! The authentication and authorisation seam shared by every protocol.
//!
//! Protocols turn what their clients present into [`Credentials`], ask an [`Authorizer`] who the
//! client is, then ask it before each publish, subscribe and delivery. The implementation (password
//! file, ACL file, JWT, caches) lives in the application; the fabric only defines the contract so that
//! every protocol enforces the same rules.

use std::fmt;
use std::sync::Arc;

use crate::topic::TopicFilter;

/// What a client presents to prove who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing.
    Anonymous,
    /// A user name and password (MQTT CONNECT, HTTP basic auth, the Engine.IO `auth` op).
    Password {
        /// The user name.
        username: String,
        /// The password bytes (MQTT passwords are binary).
        password: Vec<u8>,
    },
    /// A user name without a password (MQTT allows it).
    Username(String),
    /// A bearer token (JWT).
    Token(String),
    /// The identity of a verified TLS client certificate (its common name).
    Certificate(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Password { username, .. } => {
                write!(
                    f,
                    "Password {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credentials::Username(u) => write!(f, "Username({u:?})"),
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::Certificate(c) => write!(f, "Certificate({c:?})"),
        }
    }
}

/// Who a client is, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name, or `None` for anonymous clients.
    pub user: Option<Arc<str>>,
    /// The client id within its protocol (MQTT client id, Engine.IO sid, IPC peer id).
    pub client_id: Arc<str>,
    /// Topic patterns granted by a token, which further restrict the ACL when present.
    pub token_topics: Option<Arc<[TopicFilter]>>,
    /// Whether the identity may use the admin API.
    pub admin: bool,
}

impl Identity {
    /// An anonymous identity for `client_id`.
    pub fn anonymous(client_id: impl Into<Arc<str>>) -> Self {
        Identity {
            user: None,
            client_id: client_id.into(),
            token_topics: None,
            admin: false,
        }
    }

    /// An identity for `user` with `client_id`.
    pub fn user(user: impl Into<Arc<str>>, client_id: impl Into<Arc<str>>) -> Self {
        Identity {
            user: Some(user.into()),
            client_id: client_id.into(),
            token_topics: None,
            admin: false,
        }
    }
}

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Publish to the topic.
    Write,
    /// Subscribe to a filter.
    Subscribe,
    /// Receive a message published on the topic.
    Read,
}

impl Access {
    /// Lowercase name, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Write => "publish",
            Access::Subscribe => "subscribe",
            Access::Read => "read",
        }
    }
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown user or wrong password or invalid token.
    #[error("bad user name or password")]
    BadCredentials,
    /// Valid credentials are required (anonymous access is off).
    #[error("not authorised: credentials are required")]
    NotAuthorized,
    /// The token is malformed, expired or signed with another key.
    #[error("invalid token: {0}")]
    InvalidToken(String),
}

/// Decides who a client is and what it may do. Shared by every protocol.
pub trait Authorizer: Send + Sync + fmt::Debug + 'static {
    /// Authenticates `credentials` presented by `client_id` over `protocol`.
    fn authenticate(
        &self,
        protocol: &str,
        client_id: &str,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError>;

    /// Whether `identity` may perform `access` on `topic` (a topic name, or a filter for
    /// [`Access::Subscribe`]).
    fn authorize(&self, identity: &Identity, access: Access, topic: &str) -> bool;
}

/// An authorizer that lets everyone in and allows everything: the default without a config file.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authenticate(
        &self,
        _protocol: &str,
        client_id: &str,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError> {
        Ok(match credentials {
            Credentials::Password { username, .. } | Credentials::Username(username) => {
                Identity::user(username.as_str(), client_id)
            }
            Credentials::Certificate(cn) => Identity::user(cn.as_str(), client_id),
            Credentials::Anonymous | Credentials::Token(_) => Identity::anonymous(client_id),
        })
    }

    fn authorize(&self, _identity: &Identity, _access: Access, _topic: &str) -> bool {
        true
    }
}
