//! mosquitto-format ACL files, with mosquitto 2.0's semantics (`src/security_default.c`).
//!
//! ```text
//! # comment: only when `#` is the first character of the line
//! topic [read|write|readwrite|deny] <filter>   # before any `user` line: anonymous clients
//! user <name>                                  # the `topic` lines below apply to <name>
//! topic [read|write|readwrite|deny] <filter>
//! pattern [read|write|readwrite|deny] <filter with %u and %c>   # every client, wherever it stands
//! ```
//!
//! Parsing:
//! - Trailing white space is dropped; a line starting with `#` is a comment; blank lines are skipped.
//! - Words are separated by spaces (tabs are accepted too, where mosquitto would reject the line).
//! - The access word is optional: `topic a/b` is `readwrite`, and so is `topic read` (a topic named
//!   `read`). When more text follows the second word, that word must be an access word and the rest
//!   of the line, trimmed, is the filter, so a filter containing spaces needs the access word.
//! - `user` takes the rest of the line, trimmed, so user names may contain spaces. Repeating a
//!   `user` line continues that user's list.
//! - Filters must be valid subscription filters. Any other first word is an error.
//!
//! Evaluation of `access` on `topic` for a client:
//! 1. The client's own list: the `user` block of its user name, or for a client without a user name
//!    the anonymous block. `deny` entries come first: a matching `deny` denies. Then the first entry
//!    that matches and grants the access allows. An entry that matches without granting (a `read`
//!    entry for a publish) does not decide.
//! 2. If the ACL has patterns: a client whose user name or client id contains `+` or `#` is denied
//!    (it could otherwise widen a pattern). Patterns are substituted (`%c` → client id, `%u` → user
//!    name, textually, as mosquitto does; a pattern using `%u` is skipped for clients without a user
//!    name) and evaluated like a list: `deny` first, then grants.
//! 3. Nothing matched: denied.
//!
//! A topic beginning with `$` is only matched by entries whose first level names it literally.
//!
//! SUBSCRIBE, which mosquitto 2.0 does not check, is checked here with the same lists, reading a
//! subscription filter as the set of topics it matches: it is denied when a `deny` entry *covers* the
//! whole filter (it could never deliver anything), allowed when a `read` grant *intersects* it, and
//! denied when no grant does. Each delivery is then checked as a `read` of its topic, so a
//! subscription to `#` by a user who may read `sensors/#` succeeds and receives only `sensors/...`,
//! exactly what a mosquitto user sees, while `test/nosubscribe` under a `deny` gets a failure code.

use std::collections::HashMap;
use std::path::Path;

use switchboard_fabric::{Access, TopicFilter};

use crate::error::LoadError;
use crate::filter;

/// Access bit: receive messages / subscribe.
const READ: u8 = 1;
/// Access bit: publish.
const WRITE: u8 = 2;

/// Largest ACL file read, in bytes.
pub const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Rule {
    filter: Box<str>,
    /// `READ`, `WRITE`, both, or 0 for `deny`.
    grants: u8,
    line: usize,
}

#[derive(Debug, Clone, Default)]
struct RuleList {
    deny: Vec<Rule>,
    grant: Vec<Rule>,
}

impl RuleList {
    fn push(&mut self, rule: Rule) {
        if rule.grants == 0 {
            self.deny.push(rule);
        } else {
            self.grant.push(rule);
        }
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    rule: Rule,
    uses_user: bool,
}

/// What decided an ACL check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the access is allowed.
    pub allowed: bool,
    /// The line of the entry that decided, or `None` when nothing matched.
    pub line: Option<usize>,
}

impl Decision {
    fn allow(line: usize) -> Self {
        Decision {
            allowed: true,
            line: Some(line),
        }
    }

    fn deny(line: Option<usize>) -> Self {
        Decision {
            allowed: false,
            line,
        }
    }
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    anonymous: RuleList,
    users: HashMap<String, RuleList>,
    pattern_deny: Vec<Pattern>,
    pattern_grant: Vec<Pattern>,
    rules: usize,
    warnings: Vec<String>,
}

fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

fn is_separator(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Like `strtok_r(s, " ")` then `strtok_r(NULL, "")`: the next word (leading separators skipped), and
/// the rest of the line after the one separator that ended it (`None` at the end of the line).
fn next_word(s: &str) -> (Option<&str>, Option<&str>) {
    let s = s.trim_start_matches(is_separator);
    if s.is_empty() {
        return (None, None);
    }
    match s.find(is_separator) {
        Some(end) => {
            let rest = &s[end + 1..];
            (Some(&s[..end]), (!rest.is_empty()).then_some(rest))
        }
        None => (Some(s), None),
    }
}

fn access_word(word: &str) -> Option<u8> {
    match word {
        "read" => Some(READ),
        "write" => Some(WRITE),
        "readwrite" => Some(READ | WRITE),
        "deny" => Some(0),
        _ => None,
    }
}

/// Whether `%u` / `%c` in `filter` stand alone in their level, as mosquitto's manual requires.
fn substitutions_are_whole_levels(filter: &str) -> bool {
    filter.split('/').all(|level| {
        level == "%u" || level == "%c" || !(level.contains("%u") || level.contains("%c"))
    })
}

/// `%c` → client id, `%u` → user name, scanning left to right like mosquitto.
fn substitute(template: &str, user: Option<&str>, client_id: &str) -> String {
    let mut out = String::with_capacity(template.len() + client_id.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match (chars.peek(), user) {
                (Some('c'), _) => {
                    chars.next();
                    out.push_str(client_id);
                    continue;
                }
                (Some('u'), Some(u)) => {
                    chars.next();
                    out.push_str(u);
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

impl Acl {
    /// Reads and parses `path` (`key` is the config key naming it, for errors).
    pub fn load(key: &'static str, path: &Path) -> Result<Acl, LoadError> {
        let text = crate::read_text(key, path, MAX_FILE_LEN)?;
        Acl::parse(key, path, &text)
    }

    /// Parses the text of an ACL file; `path` only names it in errors and warnings.
    pub fn parse(key: &'static str, path: &Path, text: &str) -> Result<Acl, LoadError> {
        let mut acl = Acl::default();
        let mut user: Option<String> = None;
        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let err = |message: String| LoadError::Line {
                key,
                path: path.to_owned(),
                line: line_no,
                message,
            };
            let line = raw.trim_end_matches(is_c_space);
            if line.starts_with('#') {
                continue;
            }
            let (Some(word), rest) = next_word(line) else {
                continue;
            };
            match word {
                "topic" | "pattern" => {
                    let (Some(second), tail) = next_word(rest.unwrap_or_default()) else {
                        return Err(err(format!("`{word}` needs a topic filter")));
                    };
                    let tail = tail
                        .map(|t| t.trim_matches(is_c_space))
                        .filter(|t| !t.is_empty());
                    let (grants, topic) = match tail {
                        Some(topic) => {
                            let grants = access_word(second).ok_or_else(|| {
                                err(format!(
                                    "unknown access `{second}`: use read, write, readwrite or deny \
                                     (a filter containing spaces needs the access word first)"
                                ))
                            })?;
                            (grants, topic)
                        }
                        None => (READ | WRITE, second),
                    };
                    TopicFilter::new(topic)
                        .map_err(|e| err(format!("invalid topic filter `{topic}`: {e}")))?;
                    let rule = Rule {
                        filter: topic.into(),
                        grants,
                        line: line_no,
                    };
                    acl.rules += 1;
                    let substitutes = topic.contains("%u") || topic.contains("%c");
                    if word == "topic" {
                        if substitutes {
                            acl.warnings.push(format!(
                                "{}, line {line_no}: `%u` and `%c` are literal text in a `topic` \
                                 line; use `pattern` to substitute them",
                                path.display()
                            ));
                        }
                        match &user {
                            Some(u) => acl.users.entry(u.clone()).or_default().push(rule),
                            None => acl.anonymous.push(rule),
                        }
                    } else {
                        if !substitutes {
                            acl.warnings.push(format!(
                                "{}, line {line_no}: pattern `{topic}` contains neither %c nor %u, \
                                 so it applies to every client alike",
                                path.display()
                            ));
                        } else if !substitutions_are_whole_levels(topic) {
                            acl.warnings.push(format!(
                                "{}, line {line_no}: in pattern `{topic}`, %c / %u should be a \
                                 whole topic level",
                                path.display()
                            ));
                        }
                        let pattern = Pattern {
                            uses_user: topic.contains("%u"),
                            rule,
                        };
                        if grants == 0 {
                            acl.pattern_deny.push(pattern);
                        } else {
                            acl.pattern_grant.push(pattern);
                        }
                    }
                }
                "user" => {
                    let name = rest
                        .map(|r| r.trim_matches(is_c_space))
                        .filter(|r| !r.is_empty())
                        .ok_or_else(|| err("`user` needs a user name".into()))?;
                    acl.users.entry(name.to_owned()).or_default();
                    user = Some(name.to_owned());
                }
                other => {
                    return Err(err(format!(
                        "unknown keyword `{other}`: a line starts with `topic`, `pattern`, `user` \
                         or `#` (comments only in the first column)"
                    )));
                }
            }
        }
        Ok(acl)
    }

    /// The number of `topic` and `pattern` entries.
    pub fn rule_count(&self) -> usize {
        self.rules
    }

    /// Whether the ACL has patterns (decisions then depend on the client id too).
    pub fn has_patterns(&self) -> bool {
        !(self.pattern_deny.is_empty() && self.pattern_grant.is_empty())
    }

    /// Things worth a warning in the log (mosquitto warns about the first kind too).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Decides whether the client `client_id` with user name `user` (`None`: anonymous) may do
    /// `access` on `topic` (a topic name, or for [`Access::Subscribe`] a filter).
    pub fn decide(
        &self,
        user: Option<&str>,
        client_id: &str,
        access: Access,
        topic: &str,
    ) -> Decision {
        let (bit, subscribe) = match access {
            Access::Read => (READ, false),
            Access::Subscribe => (READ, true),
            Access::Write => (WRITE, false),
        };
        let denies = |f: &str| {
            if subscribe {
                filter::covers(f, topic)
            } else {
                filter::matches(f, topic)
            }
        };
        let grants = |f: &str| {
            if subscribe {
                filter::intersects(f, topic)
            } else {
                filter::matches(f, topic)
            }
        };
        let own = match user {
            Some(u) => self.users.get(u),
            None => Some(&self.anonymous),
        };
        if let Some(list) = own {
            if let Some(r) = list.deny.iter().find(|r| denies(&r.filter)) {
                return Decision::deny(Some(r.line));
            }
            if let Some(r) = list
                .grant
                .iter()
                .find(|r| r.grants & bit != 0 && grants(&r.filter))
            {
                return Decision::allow(r.line);
            }
        }
        if !self.has_patterns() {
            return Decision::deny(None);
        }
        let dangerous = |s: &str| s.contains(['+', '#']);
        if user.is_some_and(dangerous) || dangerous(client_id) {
            return Decision::deny(None);
        }
        let applicable = |p: &&Pattern| !(p.uses_user && user.is_none());
        for p in self.pattern_deny.iter().filter(applicable) {
            if denies(&substitute(&p.rule.filter, user, client_id)) {
                return Decision::deny(Some(p.rule.line));
            }
        }
        for p in self.pattern_grant.iter().filter(applicable) {
            if p.rule.grants & bit != 0 && grants(&substitute(&p.rule.filter, user, client_id)) {
                return Decision::allow(p.rule.line);
            }
        }
        Decision::deny(None)
    }
}

#[cfg(test)]
mod tests;
