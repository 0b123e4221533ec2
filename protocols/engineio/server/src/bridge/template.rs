//! [`Template`]: a raw-mode topic template (`echo/{sid}`, `users/{user}/in`), split into its
//! literal text and placeholders once, so a handshake renders it into one exactly sized string
//! instead of searching and replacing.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(Box<str>),
    Sid,
    User,
}

/// A topic template with `{sid}` and `{user}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Template {
    parts: Vec<Part>,
    /// The length of the literal text.
    text_len: usize,
}

impl Template {
    /// Splits `template` at its placeholders.
    pub(crate) fn new(template: &str) -> Self {
        let mut parts = Vec::new();
        let mut text_len = 0;
        let mut rest = template;
        while !rest.is_empty() {
            let next = [("{sid}", Part::Sid), ("{user}", Part::User)]
                .into_iter()
                .filter_map(|(token, part)| rest.find(token).map(|at| (at, token.len(), part)))
                .min_by_key(|(at, _, _)| *at);
            let Some((at, len, part)) = next else {
                parts.push(Part::Text(rest.into()));
                text_len += rest.len();
                break;
            };
            if at > 0 {
                parts.push(Part::Text(rest[..at].into()));
                text_len += at;
            }
            parts.push(part);
            rest = &rest[at + len..];
        }
        Template { parts, text_len }
    }

    /// Whether the template is empty (no topic configured).
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The template with `{sid}` replaced by `sid` and `{user}` by `user` (`None` when the
    /// template has `{user}` and there is no user).
    pub(crate) fn render(&self, sid: &str, user: Option<&str>) -> Option<String> {
        let mut len = self.text_len;
        for p in &self.parts {
            len += match p {
                Part::Text(_) => 0,
                Part::Sid => sid.len(),
                Part::User => user?.len(),
            };
        }
        let mut out = String::with_capacity(len);
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Sid => out.push_str(sid),
                Part::User => out.push_str(user?),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the templates meant before they were compiled: replace `{sid}`, then `{user}`.
    fn replaced(template: &str, sid: &str, user: Option<&str>) -> Option<String> {
        let out = template.replace("{sid}", sid);
        if out.contains("{user}") {
            return Some(out.replace("{user}", user?));
        }
        Some(out)
    }

    #[test]
    fn renders_like_search_and_replace() {
        let cases = [
            "",
            "echo/{sid}",
            "{sid}",
            "{user}",
            "users/{user}/from/{sid}/x",
            "a{sid}{sid}b{user}",
            "no placeholders",
            "{si{sid}d}",
            "{us{user}er}",
            "{sid",
            "user}",
        ];
        for t in cases {
            for user in [None, Some("ann"), Some("{sid}")] {
                let template = Template::new(t);
                assert_eq!(
                    template.render("AAEx_-9", user),
                    replaced(t, "AAEx_-9", user),
                    "{t} with {user:?}"
                );
            }
        }
        assert!(Template::new("").is_empty());
    }
}
