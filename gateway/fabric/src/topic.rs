//! Topic names and topic filters.
//!
//! The syntax is MQTT's: UTF-8, levels separated by `/`, filters may contain `+` (one level) and `#`
//! (any number of trailing levels). Topics beginning with `$` are not matched by a filter whose first
//! level is a wildcard. A filter can also be *literal*: it then matches exactly one topic, whatever
//! characters it contains (an IPC channel named `a/+` matches only `a/+`).

use std::fmt;
use std::sync::Arc;

use crate::error::TopicError;

/// The longest topic or filter accepted, in bytes (MQTT's two-byte string length).
pub const MAX_TOPIC_LEN: usize = 65_535;

/// The most levels a topic or filter may have. Deeper names are refused so that a hostile client cannot
/// make the trie walk or the retained store arbitrarily deep.
pub const MAX_TOPIC_LEVELS: usize = 1_024;

/// A validated topic name: where a message is published.
///
/// Cheap to clone (a reference-counted string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl Topic {
    /// Validates `name` as a topic to publish to: not empty, no NUL, no `+` or `#`, at most
    /// [`MAX_TOPIC_LEN`] bytes and [`MAX_TOPIC_LEVELS`] levels.
    pub fn new(name: impl AsRef<str>) -> Result<Self, TopicError> {
        let name = name.as_ref();
        check_common(name)?;
        if name.contains(['+', '#']) {
            return Err(TopicError::WildcardInTopic);
        }
        Ok(Topic(Arc::from(name)))
    }

    /// Validates `name` as a literal topic: like [`Topic::new`] but `+` and `#` are plain characters.
    ///
    /// Used for protocols whose channel names are free-form (IPC). Such a topic is matched by wildcard
    /// filters level by level like any other; bridges of protocols that cannot carry wildcard
    /// characters in a topic (MQTT) check [`Topic::has_wildcard_chars`] before delivering.
    pub fn literal(name: impl AsRef<str>) -> Result<Self, TopicError> {
        let name = name.as_ref();
        check_common(name)?;
        Ok(Topic(Arc::from(name)))
    }

    /// The topic as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string behind the topic.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }

    /// Iterates over the levels of the topic.
    pub fn levels(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// Whether the topic contains `+` or `#` (possible only for [`Topic::literal`] topics).
    pub fn has_wildcard_chars(&self) -> bool {
        self.0.contains(['+', '#'])
    }

    /// Whether the topic is a system topic (starts with `$`).
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }

    /// Returns this topic with `prefix` prepended (a listener's mount); `prefix` should end with `/`
    /// when it is meant as whole levels.
    pub fn with_prefix(&self, prefix: &str) -> Result<Topic, TopicError> {
        if prefix.is_empty() {
            return Ok(self.clone());
        }
        let joined = format!("{prefix}{}", self.0);
        check_common(&joined)?;
        Ok(Topic(Arc::from(joined)))
    }

    /// Returns this topic without `prefix`, or `None` when it does not start with it.
    pub fn strip_prefix(&self, prefix: &str) -> Option<Topic> {
        if prefix.is_empty() {
            return Some(self.clone());
        }
        let rest = self.0.strip_prefix(prefix)?;
        if rest.is_empty() {
            return None;
        }
        Some(Topic(Arc::from(rest)))
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", &*self.0)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Topic {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::new(s)
    }
}

/// A validated subscription filter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter {
    text: Arc<str>,
    literal: bool,
}

impl TopicFilter {
    /// Validates `filter` with MQTT's rules: not empty, no NUL, `+` alone in its level, `#` alone in the
    /// last level, at most [`MAX_TOPIC_LEN`] bytes and [`MAX_TOPIC_LEVELS`] levels.
    pub fn new(filter: impl AsRef<str>) -> Result<Self, TopicError> {
        let filter = filter.as_ref();
        check_common(filter)?;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            let is_last = levels.peek().is_none();
            if level.contains('#') && (level != "#" || !is_last) {
                return Err(TopicError::MisplacedMultiLevelWildcard);
            }
            if level.contains('+') && level != "+" {
                return Err(TopicError::MisplacedSingleLevelWildcard);
            }
        }
        Ok(TopicFilter {
            text: Arc::from(filter),
            literal: false,
        })
    }

    /// A literal filter: matches exactly the topic spelled the same, wildcard characters included.
    pub fn literal(name: impl AsRef<str>) -> Result<Self, TopicError> {
        let name = name.as_ref();
        check_common(name)?;
        Ok(TopicFilter {
            text: Arc::from(name),
            literal: true,
        })
    }

    /// The exact filter matching one topic.
    pub fn exact(topic: &Topic) -> Self {
        TopicFilter {
            text: topic.0.clone(),
            literal: true,
        }
    }

    /// The filter text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the filter is literal (wildcard characters are plain characters).
    pub fn is_literal(&self) -> bool {
        self.literal
    }

    /// Whether the filter matches exactly one topic (a literal filter, or one without wildcards).
    pub fn is_exact(&self) -> bool {
        self.literal || !self.text.contains(['+', '#'])
    }

    /// Iterates over the levels of the filter.
    pub fn levels(&self) -> std::str::Split<'_, char> {
        self.text.split('/')
    }

    /// Whether this filter matches `topic`.
    pub fn matches(&self, topic: &Topic) -> bool {
        self.matches_str(topic.as_str())
    }

    /// Whether this filter matches the topic name `topic` (assumed valid).
    pub fn matches_str(&self, topic: &str) -> bool {
        if self.is_exact() {
            return &*self.text == topic;
        }
        let mut filter_levels = self.text.split('/');
        let mut topic_levels = topic.split('/');
        let mut first = true;
        loop {
            match (filter_levels.next(), topic_levels.next()) {
                (Some("#"), _) => return !(first && topic.starts_with('$')),
                (Some("+"), Some(_)) => {
                    if first && topic.starts_with('$') {
                        return false;
                    }
                }
                (Some(f), Some(t)) => {
                    if f != t {
                        return false;
                    }
                }
                (None, None) => return true,
                _ => return false,
            }
            first = false;
        }
    }

    /// Returns this filter with `prefix` prepended (a listener's mount).
    pub fn with_prefix(&self, prefix: &str) -> Result<TopicFilter, TopicError> {
        if prefix.is_empty() {
            return Ok(self.clone());
        }
        let joined = format!("{prefix}{}", self.text);
        if self.literal {
            TopicFilter::literal(joined)
        } else {
            TopicFilter::new(joined)
        }
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.literal {
            write!(f, "TopicFilter(literal {:?})", &*self.text)
        } else {
            write!(f, "TopicFilter({:?})", &*self.text)
        }
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for TopicFilter {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicFilter::new(s)
    }
}

fn check_common(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(name.len()));
    }
    if name.contains('\0') {
        return Err(TopicError::Nul);
    }
    // Counting separators is cheaper than splitting.
    let levels = memchr_count(name.as_bytes(), b'/') + 1;
    if levels > MAX_TOPIC_LEVELS {
        return Err(TopicError::TooDeep(levels));
    }
    Ok(())
}

fn memchr_count(haystack: &[u8], needle: u8) -> usize {
    haystack.iter().filter(|&&b| b == needle).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }
    fn t(s: &str) -> Topic {
        Topic::new(s).unwrap()
    }

    #[test]
    fn topic_validation() {
        assert!(Topic::new("a/b").is_ok());
        assert!(Topic::new("/").is_ok());
        assert_eq!(Topic::new(""), Err(TopicError::Empty));
        assert_eq!(Topic::new("a/+"), Err(TopicError::WildcardInTopic));
        assert_eq!(Topic::new("a/#"), Err(TopicError::WildcardInTopic));
        assert_eq!(Topic::new("a\0b"), Err(TopicError::Nul));
        assert!(Topic::literal("a/+").is_ok());
        let deep = vec!["x"; MAX_TOPIC_LEVELS + 1].join("/");
        assert!(matches!(Topic::new(&deep), Err(TopicError::TooDeep(_))));
        let long = "x".repeat(MAX_TOPIC_LEN + 1);
        assert!(matches!(Topic::new(&long), Err(TopicError::TooLong(_))));
    }

    #[test]
    fn filter_validation() {
        for ok in ["#", "+", "a/#", "a/+/b", "+/+", "/#", "a//b", "$SYS/#"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            TopicFilter::new("a/#/b"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            TopicFilter::new("a#"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            TopicFilter::new("a/b+"),
            Err(TopicError::MisplacedSingleLevelWildcard)
        );
        assert!(TopicFilter::literal("a/b+/#").is_ok());
    }

    #[test]
    fn matching_rules_from_the_mqtt_spec() {
        assert!(f("sport/tennis/player1/#").matches(&t("sport/tennis/player1")));
        assert!(f("sport/tennis/player1/#").matches(&t("sport/tennis/player1/ranking")));
        assert!(f("sport/#").matches(&t("sport")));
        assert!(f("sport/tennis/+").matches(&t("sport/tennis/player1")));
        assert!(!f("sport/tennis/+").matches(&t("sport/tennis/player1/ranking")));
        assert!(!f("sport/+").matches(&t("sport")));
        assert!(f("sport/+").matches(&t("sport/")));
        assert!(f("+/+").matches(&t("/finance")));
        assert!(f("/+").matches(&t("/finance")));
        assert!(!f("+").matches(&t("/finance")));
        assert!(f("#").matches(&t("a/b/c")));
    }

    #[test]
    fn dollar_topics_not_matched_by_leading_wildcards() {
        assert!(!f("#").matches(&t("$SYS/broker")));
        assert!(!f("+/monitor/Clients").matches(&t("$SYS/monitor/Clients")));
        assert!(f("$SYS/#").matches(&t("$SYS/monitor/Clients")));
        assert!(f("$SYS/monitor/+").matches(&t("$SYS/monitor/Clients")));
    }

    #[test]
    fn literal_filters_match_only_themselves() {
        let lit = TopicFilter::literal("a/+").unwrap();
        assert!(lit.matches(&Topic::literal("a/+").unwrap()));
        assert!(!lit.matches(&t("a/b")));
    }

    #[test]
    fn prefixes() {
        let topic = t("temp");
        let mounted = topic.with_prefix("site1/").unwrap();
        assert_eq!(mounted.as_str(), "site1/temp");
        assert_eq!(mounted.strip_prefix("site1/").unwrap(), topic);
        assert!(mounted.strip_prefix("site2/").is_none());
        assert_eq!(f("+").with_prefix("site1/").unwrap().as_str(), "site1/+");
    }
}
