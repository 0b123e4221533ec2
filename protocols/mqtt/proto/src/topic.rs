//! [`TopicName`] and [`TopicFilter`]: validated MQTT strings with the topic rules of
//! spec §4.7 (and §4.8.2 for `$share/` filters).

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::error::DecodeError;
use crate::string::MqttString;

/// The prefix of an MQTT 5 shared subscription filter.
pub const SHARED_PREFIX: &str = "$share/";

/// A topic name: an [`MqttString`] without the wildcard characters `+` and `#`.
///
/// The constructors require at least one character. [`TopicName::empty`] builds the
/// zero-length name an MQTT 5 PUBLISH may carry together with a Topic Alias.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(MqttString);

impl TopicName {
    /// The zero-length topic name (only valid in an MQTT 5 PUBLISH that has a Topic Alias).
    pub const fn empty() -> Self {
        Self(MqttString::empty())
    }

    /// Validates a non-empty topic name.
    pub fn new(s: MqttString) -> Result<Self, DecodeError> {
        if s.is_empty() {
            return Err(DecodeError::EmptyTopicName);
        }
        Self::new_allow_empty(s)
    }

    /// Validates a topic name that may be empty (the caller checks the empty case).
    pub(crate) fn new_allow_empty(s: MqttString) -> Result<Self, DecodeError> {
        if s.as_bytes().iter().any(|&b| b == b'+' || b == b'#') {
            return Err(DecodeError::WildcardInTopicName);
        }
        Ok(Self(s))
    }

    /// Validates a static topic name (no allocation).
    pub fn from_static(s: &'static str) -> Result<Self, DecodeError> {
        Self::new(MqttString::from_static(s)?)
    }

    /// The validated string.
    pub fn as_mqtt_str(&self) -> &MqttString {
        &self.0
    }

    /// Unwraps the validated string.
    pub fn into_inner(self) -> MqttString {
        self.0
    }
}

impl Deref for TopicName {
    type Target = MqttString;
    fn deref(&self) -> &MqttString {
        &self.0
    }
}

impl TryFrom<&str> for TopicName {
    type Error = DecodeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(MqttString::try_from(s)?)
    }
}

impl TryFrom<String> for TopicName {
    type Error = DecodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(MqttString::try_from(s)?)
    }
}

impl TryFrom<Bytes> for TopicName {
    type Error = DecodeError;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        Self::new(MqttString::from_bytes(b)?)
    }
}

impl TryFrom<MqttString> for TopicName {
    type Error = DecodeError;
    fn try_from(s: MqttString) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == **other
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A topic filter: a non-empty [`MqttString`] where `+` occupies a whole level, `#`
/// occupies the whole last level, and a `$share/` prefix is followed by a share name
/// (at least one character, no `+`, `#` or `/`), a `/` and a valid filter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(MqttString);

impl TopicFilter {
    /// Validates a topic filter.
    pub fn new(s: MqttString) -> Result<Self, DecodeError> {
        validate_filter(s.as_bytes()).map_err(DecodeError::InvalidTopicFilter)?;
        Ok(Self(s))
    }

    /// Validates a static topic filter (no allocation).
    pub fn from_static(s: &'static str) -> Result<Self, DecodeError> {
        Self::new(MqttString::from_static(s)?)
    }

    /// The validated string.
    pub fn as_mqtt_str(&self) -> &MqttString {
        &self.0
    }

    /// Unwraps the validated string.
    pub fn into_inner(self) -> MqttString {
        self.0
    }

    /// True if the filter (after any `$share/<name>/` prefix) contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        let filter = self
            .shared()
            .map_or(self.0.as_bytes(), |(_, f)| f.as_bytes());
        filter.iter().any(|&b| b == b'+' || b == b'#')
    }

    /// For a `$share/<name>/<filter>` subscription: the share name and the inner filter.
    pub fn shared(&self) -> Option<(&str, &str)> {
        let rest = self.as_str().strip_prefix(SHARED_PREFIX)?;
        rest.split_once('/')
    }
}

impl Deref for TopicFilter {
    type Target = MqttString;
    fn deref(&self) -> &MqttString {
        &self.0
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = DecodeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(MqttString::try_from(s)?)
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = DecodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(MqttString::try_from(s)?)
    }
}

impl TryFrom<Bytes> for TopicFilter {
    type Error = DecodeError;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        Self::new(MqttString::from_bytes(b)?)
    }
}

impl TryFrom<MqttString> for TopicFilter {
    type Error = DecodeError;
    fn try_from(s: MqttString) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl PartialEq<str> for TopicFilter {
    fn eq(&self, other: &str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<&str> for TopicFilter {
    fn eq(&self, other: &&str) -> bool {
        self.0 == **other
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Checks the filter rules; the error says which rule failed.
fn validate_filter(filter: &[u8]) -> Result<(), &'static str> {
    let inner = match filter.strip_prefix(SHARED_PREFIX.as_bytes()) {
        Some(rest) => {
            let slash = rest
                .iter()
                .position(|&b| b == b'/')
                .ok_or("shared subscription without a filter after the share name")?;
            let (name, after) = rest.split_at(slash);
            if name.is_empty() {
                return Err("empty share name");
            }
            if name.iter().any(|&b| b == b'+' || b == b'#') {
                return Err("share name contains a wildcard");
            }
            // Skip the separating '/'.
            &after[1..]
        }
        None => filter,
    };
    if inner.is_empty() {
        return Err("empty topic filter");
    }
    let mut levels = inner.split(|&b| b == b'/').peekable();
    while let Some(level) = levels.next() {
        if level.contains(&b'#') && (level != b"#" || levels.peek().is_some()) {
            return Err("'#' must be the whole last level");
        }
        if level.contains(&b'+') && level != b"+" {
            return Err("'+' must occupy a whole level");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(s: &str) -> Result<TopicFilter, DecodeError> {
        TopicFilter::try_from(s)
    }

    #[test]
    fn topic_names() {
        assert!(TopicName::try_from("a/b/c").is_ok());
        assert!(TopicName::try_from("/").is_ok());
        assert!(TopicName::try_from("$SYS/x").is_ok());
        assert_eq!(TopicName::try_from(""), Err(DecodeError::EmptyTopicName));
        assert_eq!(
            TopicName::try_from("a/+"),
            Err(DecodeError::WildcardInTopicName)
        );
        assert_eq!(
            TopicName::try_from("a#"),
            Err(DecodeError::WildcardInTopicName)
        );
        assert_eq!(TopicName::try_from("a\0"), Err(DecodeError::NullCharacter));
        assert!(TopicName::empty().is_empty());
    }

    #[test]
    fn valid_filters() {
        for f in [
            "#",
            "+",
            "a",
            "a/b",
            "a/#",
            "a/+/c",
            "+/+",
            "/",
            "//",
            "+/",
            "/#",
            "$SYS/#",
            "a/+/#",
            "$share/g/a/#",
            "$share/g/#",
            "$share/g//",
            "$share",
        ] {
            assert!(filter(f).is_ok(), "{f} should be valid");
        }
    }

    #[test]
    fn invalid_filters() {
        for f in [
            "",
            "a#",
            "#/a",
            "a/#/b",
            "a+",
            "+a/b",
            "a/b+",
            "##",
            "++",
            "$share/",
            "$share/g",
            "$share//a",
            "$share/g+/a",
            "$share/#/a",
            "$share/g/",
        ] {
            assert!(
                matches!(filter(f), Err(DecodeError::InvalidTopicFilter(_))),
                "{f} should be invalid"
            );
        }
    }

    #[test]
    fn shared_and_wildcards() {
        let f = filter("$share/grp/a/+").expect("valid");
        assert_eq!(f.shared(), Some(("grp", "a/+")));
        assert!(f.has_wildcards());
        let f = filter("$share/g+x/a");
        assert!(f.is_err());
        let f = filter("a/b").expect("valid");
        assert_eq!(f.shared(), None);
        assert!(!f.has_wildcards());
    }
}
