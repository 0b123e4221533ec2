//! Pieces of the fabric mapping that every bridge built on the Engine.IO server shares (the
//! control mode here, the Socket.IO server on top): the topic prefix ([`Mount`]), credentials
//! from explicit fields ([`credentials_from`]), the error code of a failed request
//! ([`ErrorKind::for_request`]) and the reply property that carries a rejection
//! ([`REPLY_ERROR_PROPERTY`]). Credentials of the HTTP request are [`super::credentials`].

use switchboard_fabric::{Credentials, RequestError, Topic, TopicError, TopicFilter};

use super::ErrorKind;

/// The property of a fabric reply that carries a rejection instead of an answer, its value
/// the reason (the IPC bridge's convention: `reject(e)` publishes it, and a reply with it
/// rejects an IPC request). A `reply` op with `error` publishes it; a `req` whose reply has
/// it fails with [`ErrorKind::Rejected`].
pub const REPLY_ERROR_PROPERTY: &str = "error";

/// A topic prefix added to client topics and filters on the way in and removed on the way
/// out (`mount`; empty = none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount(String);

impl Mount {
    /// A mount adding `prefix` (may be empty).
    pub fn new(prefix: impl Into<String>) -> Self {
        Mount(prefix.into())
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fabric topic for a client topic.
    pub fn topic_in(&self, t: &str) -> Result<Topic, TopicError> {
        let topic = Topic::new(t)?;
        if self.0.is_empty() {
            Ok(topic)
        } else {
            topic.with_prefix(&self.0)
        }
    }

    /// The fabric filter for a client filter.
    pub fn filter_in(&self, f: &str) -> Result<TopicFilter, TopicError> {
        let filter = TopicFilter::new(f)?;
        if self.0.is_empty() {
            Ok(filter)
        } else {
            filter.with_prefix(&self.0)
        }
    }

    /// The client's name for a fabric topic (the prefix removed).
    pub fn topic_out<'t>(&self, topic: &'t Topic) -> &'t str {
        topic
            .as_str()
            .strip_prefix(self.0.as_str())
            .unwrap_or(topic.as_str())
    }
}

/// Credentials from a token or a user name and password (the control protocol's `auth` op,
/// Socket.IO's connect `auth` payload); `None` when neither is given. A token wins.
pub fn credentials_from(
    token: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
) -> Option<Credentials> {
    match (token, username) {
        (Some(t), _) => Some(Credentials::Token(t.to_owned())),
        (None, Some(u)) => Some(Credentials::Password {
            username: u.to_owned(),
            password: password.unwrap_or("").as_bytes().to_vec(),
        }),
        (None, None) => None,
    }
}

impl ErrorKind {
    /// The code of a request that failed with `e`.
    pub fn for_request(e: &RequestError) -> ErrorKind {
        match e {
            RequestError::Timeout(_) => ErrorKind::Timeout,
            RequestError::NoResponders => ErrorKind::NoResponders,
            RequestError::Overloaded => ErrorKind::Overloaded,
            RequestError::Closed => ErrorKind::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_map_both_ways() {
        let m = Mount::new("site/");
        let t = m.topic_in("a/b").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.as_str(), "site/a/b");
        assert_eq!(m.topic_out(&t), "a/b");
        assert_eq!(
            m.filter_in("+/b").map(|f| f.as_str().to_owned()).ok(),
            Some("site/+/b".to_owned())
        );
        let none = Mount::default();
        assert_eq!(none.topic_out(&t), "site/a/b");
        assert!(none.topic_in("a/#").is_err());
    }

    #[test]
    fn credentials_from_fields() {
        assert_eq!(credentials_from(None, None, Some("p")), None);
        assert_eq!(
            credentials_from(Some("t"), Some("u"), None),
            Some(Credentials::Token("t".to_owned()))
        );
        assert_eq!(
            credentials_from(None, Some("u"), None),
            Some(Credentials::Password {
                username: "u".to_owned(),
                password: Vec::new()
            })
        );
        assert_eq!(
            ErrorKind::for_request(&RequestError::NoResponders).as_str(),
            "no_responders"
        );
    }
}
