//! Topic-filter arithmetic on plain strings: does a filter match a topic, do two filters share a
//! topic, does one filter contain another.
//!
//! The rules are MQTT's, as the fabric applies them: levels are separated by `/`, `+` matches one
//! level, `#` matches the parent level and any number of levels below it, and a filter whose first
//! level is a wildcard never matches a topic beginning with `$`. Characters of a *topic* are taken
//! literally (an IPC channel may contain `+`).
//!
//! ACL entries and subscriptions are both filters, so a SUBSCRIBE is judged with [`intersects`] (could
//! the entry ever allow a message this subscription receives?) and [`covers`] (does the entry deny
//! every message this subscription could receive?).

/// Whether `filter` matches the topic name `topic`.
pub fn matches(filter: &str, topic: &str) -> bool {
    let system = topic.starts_with('$');
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    let mut first = true;
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return !(first && system),
            (Some("+"), Some(_)) => {
                if first && system {
                    return false;
                }
            }
            (Some(a), Some(b)) => {
                if a != b {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
        first = false;
    }
}

fn is_wildcard(level: &str) -> bool {
    level == "+" || level == "#"
}

/// Whether some topic is matched by both filters `a` and `b`.
pub fn intersects(a: &str, b: &str) -> bool {
    let mut la = a.split('/');
    let mut lb = b.split('/');
    let mut first = true;
    loop {
        let (x, y) = (la.next(), lb.next());
        if first {
            // A wildcard in the first level never matches a `$` topic, so a literal `$...` level on
            // one side cannot meet a wildcard on the other.
            if let (Some(x), Some(y)) = (x, y) {
                let literal_dollar = |l: &str| !is_wildcard(l) && l.starts_with('$');
                if (is_wildcard(x) && literal_dollar(y)) || (is_wildcard(y) && literal_dollar(x)) {
                    return false;
                }
            }
        }
        match (x, y) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (Some("+"), Some(_)) | (Some(_), Some("+")) => {}
            (Some(p), Some(q)) => {
                if p != q {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
        first = false;
    }
}

/// Whether every topic matched by `inner` is also matched by `outer`.
pub fn covers(outer: &str, inner: &str) -> bool {
    let mut lo = outer.split('/');
    let mut li = inner.split('/');
    let mut first = true;
    loop {
        let (o, i) = (lo.next(), li.next());
        if first && let (Some(o), Some(i)) = (o, i) {
            if is_wildcard(o) && !is_wildcard(i) && i.starts_with('$') {
                // `inner` names `$` topics, which a leading wildcard never matches.
                return false;
            }
            if o == "+" && i == "#" {
                // A leading `#` matches every (non-`$`) topic, each of which has a first level: only
                // `+/#` matches them all.
                return lo.next() == Some("#");
            }
        }
        match (o, i) {
            (Some("#"), _) => return true,
            (Some("+"), Some(i)) => {
                if i == "#" {
                    return false;
                }
            }
            (Some(o), Some(i)) => {
                if is_wildcard(i) || o != i {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_follows_mqtt() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/c"));
        assert!(matches("a/+", "a/b"));
        assert!(matches("a/+", "a/"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "a/b"));
        assert!(matches("+/+", "/x"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        // Leading wildcards never match `$` topics; explicit `$` levels do.
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(matches("$SYS/+", "$SYS/x"));
        // Topic characters are literal.
        assert!(matches("a/+", "a/+"));
        assert!(!matches("a/b", "a/+"));
    }

    #[test]
    fn intersection() {
        assert!(intersects("a/#", "#"));
        assert!(intersects("#", "a/b"));
        assert!(intersects("a/+", "+/b"));
        assert!(intersects("a/#", "a"));
        assert!(intersects("a", "a/#"));
        assert!(intersects("+/+", "a/b"));
        assert!(!intersects("a/+", "b/+"));
        assert!(!intersects("a/b", "a/b/c"));
        assert!(!intersects("a/+", "a"));
        assert!(!intersects("#", "$SYS/#"));
        assert!(!intersects("+/x", "$SYS/x"));
        assert!(intersects("$SYS/#", "$SYS/broker/uptime"));
        assert!(intersects("$SYS/+", "$SYS/#"));
        assert!(intersects("+", "#"));
        assert!(!intersects("a/+/c", "a/b/d"));
    }

    #[test]
    fn coverage() {
        assert!(covers("#", "a/b"));
        assert!(covers("#", "#"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/+/c"));
        assert!(covers("a/+", "a/b"));
        assert!(covers("a/+", "a/+"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/+", "a"));
        assert!(!covers("a/b", "a/+"));
        assert!(!covers("a", "a/#"));
        assert!(!covers("a/b", "a/b/c"));
        assert!(!covers("#", "$SYS/#"));
        assert!(!covers("+/#", "$SYS/x"));
        assert!(covers("$SYS/#", "$SYS/x/#"));
        assert!(covers("+/+", "+/x"));
        assert!(!covers("+", "#"));
        assert!(covers("+/#", "#"), "every topic has a first level");
        assert!(!covers("+/+/#", "#"));
        assert!(
            !covers("a/+/#", "a/#"),
            "`a/#` matches `a`, `a/+/#` does not"
        );
    }

    /// Brute force over a small topic universe: the set operations agree with `matches`.
    #[test]
    fn set_operations_agree_with_matching() {
        let levels = ["a", "b", "$s", ""];
        let mut topics = Vec::new();
        for x in levels {
            topics.push(x.to_owned());
            for y in levels {
                topics.push(format!("{x}/{y}"));
                for z in levels {
                    topics.push(format!("{x}/{y}/{z}"));
                }
            }
        }
        let parts = ["a", "b", "$s", "+", "#"];
        let mut filters = Vec::new();
        for x in parts {
            filters.push(x.to_owned());
            if x == "#" {
                continue;
            }
            for y in parts {
                filters.push(format!("{x}/{y}"));
                if y == "#" {
                    continue;
                }
                for z in parts {
                    filters.push(format!("{x}/{y}/{z}"));
                }
            }
        }
        // Topics deeper than three levels exist too; `#` reaches them, so add one.
        topics.push("a/b/a/b".to_owned());
        topics.push("$s/a/b/a".to_owned());
        for a in &filters {
            let ma: Vec<bool> = topics.iter().map(|t| matches(a, t)).collect();
            for b in &filters {
                let mb: Vec<bool> = topics.iter().map(|t| matches(b, t)).collect();
                let share = ma.iter().zip(&mb).any(|(x, y)| *x && *y);
                assert_eq!(intersects(a, b), share, "intersects({a:?}, {b:?})");
                let contains = ma.iter().zip(&mb).all(|(x, y)| *x || !*y);
                assert_eq!(covers(a, b), contains, "covers({a:?}, {b:?})");
            }
        }
    }
}
