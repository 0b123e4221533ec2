//! Topic ↔ NATS subject mapping, modelled on nats-server's own MQTT rules and stricter where
//! those leak (see `shared/reference/proxy-peers-helm.md` §4.2).
//!
//! Every subject starts with the configured prefix (default `switchboard`), then a kind token:
//!
//! | subject | what |
//! |---|---|
//! | `<p>.t.<topic>` | live messages |
//! | `<p>.r.<topic>` | retained values (the JetStream stream, one message per subject) |
//! | `<p>.reply.<node>` | replies to requests waiting on `<node>` (`$reply/<node>/<nonce>`) |
//! | `<p>.ack.<node>.<nonce>` | "a subscriber took your request" answers |
//! | `<p>.http.<tag>` | HTTP requests forwarded to the node with Engine.IO tag `<tag>` |
//! | `<p>.node` | presence (hello, bye) |
//!
//! NATS queue groups (for shared subscriptions) are named `<p>.q.<hash>`, the hash of the share
//! group and the filter: every node derives the same name, and two shared subscriptions never
//! share one (NATS groups queue subscribers by name across every subject a message matches).
//!
//! A topic's levels become tokens: `/` → `.`; an empty level → the token `/`; a `.` inside a level
//! → `//` (nats-server 2.10's rule); and, unlike nats-server, `*`, `>`, `%`, whitespace and control
//! characters → `%XX` (each UTF-8 byte), so a topic can never turn into a NATS wildcard or an
//! invalid subject. A filter's `+` becomes `*`; a trailing `#` becomes `>` plus a second
//! subscription on the parent level (MQTT's `a/#` matches `a`). Literal filters (IPC channel names)
//! are escaped like topics, so their `+`/`#` stay plain characters.

use std::fmt::Write as _;

use switchboard_fabric::{REPLY_PREFIX, TopicFilter};

/// Subjects longer than this are not used (NATS' control line is 4 KiB by default): such topics
/// stay local and are counted.
pub const MAX_SUBJECT_LEN: usize = 2048;

/// The one or two subjects of a filter (a filter ending in `#` needs two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair(pub String, pub Option<String>);

impl Pair {
    /// Both subjects.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.0).chain(self.1.as_ref())
    }
}

/// Builds the subjects of one gateway cluster.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Subjects under `prefix` (one NATS token, checked by the configuration).
    pub fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.to_owned(),
        }
    }

    /// `<p>.t.<topic>`, or `None` when too long.
    pub fn topic(&self, topic: &str) -> Option<String> {
        self.with_topic("t", topic)
    }

    /// `<p>.r.<topic>`, or `None` when too long.
    pub fn retained(&self, topic: &str) -> Option<String> {
        self.with_topic("r", topic)
    }

    /// `<p>.r.>`: every retained value.
    pub fn retained_all(&self) -> String {
        format!("{}.r.>", self.prefix)
    }

    /// The length of `<p>.r.`, to find the topic tokens of a retained subject.
    pub fn retained_prefix_len(&self) -> usize {
        self.prefix.len() + 3
    }

    /// The length of `<p>.t.`.
    pub fn topic_prefix_len(&self) -> usize {
        self.prefix.len() + 3
    }

    fn with_topic(&self, kind: &str, topic: &str) -> Option<String> {
        let mut s = String::with_capacity(self.prefix.len() + 3 + topic.len() + 8);
        s.push_str(&self.prefix);
        s.push('.');
        s.push_str(kind);
        s.push('.');
        encode_topic(topic, &mut s);
        (s.len() <= MAX_SUBJECT_LEN).then_some(s)
    }

    /// The subjects to subscribe to for `filter`, or `None` when too long.
    pub fn filter(&self, filter: &TopicFilter) -> Option<Pair> {
        if filter.is_literal() || filter.is_exact() {
            return self.topic(filter.as_str()).map(|s| Pair(s, None));
        }
        let mut s = format!("{}.t.", self.prefix);
        let mut parent = None;
        let mut first = true;
        for level in filter.levels() {
            if !first {
                s.push('.');
            }
            match level {
                "+" => s.push('*'),
                "#" => {
                    if !first {
                        // `a/#` also matches `a`: the subject without the trailing `.`.
                        parent = Some(s[..s.len() - 1].to_owned());
                    }
                    s.push('>');
                }
                lit => encode_level(lit, &mut s),
            }
            first = false;
        }
        (s.len() <= MAX_SUBJECT_LEN).then_some(Pair(s, parent))
    }

    /// The NATS queue group of shared group `group` on `filter`: `<p>.q.<32 hex digits>`, the
    /// same on every node, distinct for each (group, filter) pair.
    pub fn queue(&self, group: &str, filter: &TopicFilter) -> String {
        let kind: &[u8] = if filter.is_literal() || filter.is_exact() {
            b"exact"
        } else {
            b"wild"
        };
        let parts: [&[u8]; 5] = [
            group.as_bytes(),
            b"\0",
            kind,
            b"\0",
            filter.as_str().as_bytes(),
        ];
        // FNV-1a, 64 bits twice with different offsets: stable across builds and nodes.
        let mut a: u64 = 0xcbf2_9ce4_8422_2325;
        let mut b: u64 = 0x6c62_272e_07bb_0142;
        for byte in parts.iter().flat_map(|p| p.iter()) {
            a = (a ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{}.q.{a:016x}{b:016x}", self.prefix)
    }

    /// `<p>.reply.<node>`.
    pub fn reply(&self, node: &str) -> String {
        format!("{}.reply.{node}", self.prefix)
    }

    /// `<p>.ack.<node>.<nonce>`.
    pub fn ack(&self, node: &str, nonce: &str) -> String {
        format!("{}.ack.{node}.{nonce}", self.prefix)
    }

    /// `<p>.ack.<node>.*`.
    pub fn acks(&self, node: &str) -> String {
        format!("{}.ack.{node}.*", self.prefix)
    }

    /// `<p>.http.<tag>`.
    pub fn http(&self, tag: u16) -> String {
        format!("{}.http.{tag}", self.prefix)
    }

    /// `<p>.sync.<node>.<task>`: a node's private subject (one per task that needs it), echoed to itself to learn that NATS has
    /// applied everything the node sent before (subscriptions included).
    pub fn sync(&self, node: &str, task: &str) -> String {
        format!("{}.sync.{node}.{task}", self.prefix)
    }

    /// `<p>.node`.
    pub fn presence(&self) -> String {
        format!("{}.node", self.prefix)
    }
}

/// The `(node, nonce)` of a reply topic `$reply/<node>/<nonce>`, when both are NATS-safe tokens.
pub fn reply_target(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_prefix(REPLY_PREFIX)?;
    let (node, nonce) = rest.split_once('/')?;
    let safe = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (safe(node) && safe(nonce)).then_some((node, nonce))
}

/// Appends the tokens of `topic` to `out`.
pub fn encode_topic(topic: &str, out: &mut String) {
    for (i, level) in topic.split('/').enumerate() {
        if i > 0 {
            out.push('.');
        }
        encode_level(level, out);
    }
}

fn encode_level(level: &str, out: &mut String) {
    if level.is_empty() {
        out.push('/');
        return;
    }
    for c in level.chars() {
        match c {
            '.' => out.push_str("//"),
            '*' | '>' | '%' => push_escaped(c, out),
            c if c.is_whitespace() || c.is_control() => push_escaped(c, out),
            c => out.push(c),
        }
    }
}

fn push_escaped(c: char, out: &mut String) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        let _ = write!(out, "%{b:02X}");
    }
}

/// The topic of the subject tokens `tokens` (what follows `<p>.t.`), or `None` when they are not
/// something [`encode_topic`] produces.
pub fn decode_topic(tokens: &str) -> Option<String> {
    let mut out = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.split('.').enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        if token == "/" {
            continue;
        }
        let bytes = token.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            match bytes[j] {
                b'/' => {
                    if bytes.get(j + 1) != Some(&b'/') {
                        return None;
                    }
                    out.push(b'.');
                    j += 2;
                }
                b'%' => {
                    let hex = token.get(j + 1..j + 3)?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    j += 3;
                }
                b => {
                    out.push(b);
                    j += 1;
                }
            }
        }
        if token.is_empty() {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects() -> Subjects {
        Subjects::new("sb")
    }
    fn f(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    #[test]
    fn topics_follow_nats_servers_rules() {
        let s = subjects();
        for (topic, subject) in [
            ("a/b/c", "sb.t.a.b.c"),
            ("/lead", "sb.t./.lead"),
            ("trail/", "sb.t.trail./"),
            ("a//b", "sb.t.a./.b"),
            ("a.b/c", "sb.t.a//b.c"),
            ("$SYS/x", "sb.t.$SYS.x"),
        ] {
            assert_eq!(s.topic(topic).as_deref(), Some(subject), "{topic}");
            assert_eq!(decode_topic(&subject[5..]).as_deref(), Some(topic));
        }
    }

    #[test]
    fn what_nats_treats_specially_is_escaped() {
        let s = subjects();
        for (topic, subject) in [
            ("lit/*", "sb.t.lit.%2A"),
            ("lit/>", "sb.t.lit.%3E"),
            ("a b/c\td", "sb.t.a%20b.c%09d"),
            ("100%", "sb.t.100%25"),
            ("ipc/+/#", "sb.t.ipc.+.#"),
            ("é", "sb.t.é"),
        ] {
            assert_eq!(s.topic(topic).as_deref(), Some(subject), "{topic}");
            assert_eq!(decode_topic(&subject[5..]).as_deref(), Some(topic));
        }
    }

    #[test]
    fn filters_map_wildcards_and_the_parent_level_of_hash() {
        let s = subjects();
        let pair = |a: &str, b: Option<&str>| Some(Pair(a.to_owned(), b.map(str::to_owned)));
        assert_eq!(s.filter(&f("a/+/c")), pair("sb.t.a.*.c", None));
        assert_eq!(s.filter(&f("a/#")), pair("sb.t.a.>", Some("sb.t.a")));
        assert_eq!(s.filter(&f("#")), pair("sb.t.>", None));
        assert_eq!(s.filter(&f("+/#")), pair("sb.t.*.>", Some("sb.t.*")));
        assert_eq!(s.filter(&f("a.b/+")), pair("sb.t.a//b.*", None));
        assert_eq!(s.filter(&f("x/y")), pair("sb.t.x.y", None));
        let literal = TopicFilter::literal("ipc/+").unwrap();
        assert_eq!(s.filter(&literal), pair("sb.t.ipc.+", None));
        let long = TopicFilter::new(format!("{}/+", "x".repeat(MAX_SUBJECT_LEN))).unwrap();
        assert_eq!(s.filter(&long), None);
    }

    #[test]
    fn reply_topics_name_their_node() {
        assert_eq!(reply_target("$reply/gw-1/00ff"), Some(("gw-1", "00ff")));
        assert_eq!(reply_target("$reply/gw.1/00ff"), None);
        assert_eq!(reply_target("$reply/gw-1"), None);
        assert_eq!(reply_target("a/b"), None);
        let s = subjects();
        assert_eq!(s.reply("gw-1"), "sb.reply.gw-1");
        assert_eq!(s.ack("gw-1", "00ff"), "sb.ack.gw-1.00ff");
        assert_eq!(s.http(7), "sb.http.7");
    }

    #[test]
    fn queue_groups_are_stable_valid_and_distinct_per_group_and_filter() {
        let q = subjects().queue("g", &f("jobs/#"));
        assert_eq!(
            q,
            subjects().queue("g", &f("jobs/#")),
            "the same on every node"
        );
        let hex = q.strip_prefix("sb.q.").unwrap();
        assert!(
            hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{q}"
        );
        let others = [
            subjects().queue("h", &f("jobs/#")),
            subjects().queue("g", &f("jobs/+")),
            subjects().queue("g", &TopicFilter::literal("jobs/#").unwrap()),
            subjects().queue("g/jobs", &f("#")),
        ];
        for o in others {
            assert_ne!(o, q);
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(decode_topic("a./x"), None);
        assert_eq!(decode_topic("a..b"), None);
        assert_eq!(decode_topic("%4"), None);
        assert_eq!(decode_topic("%ZZ"), None);
        assert_eq!(decode_topic("%FF"), None, "not UTF-8");
    }

    proptest::proptest! {
        #[test]
        fn every_topic_round_trips_and_is_a_valid_literal_subject(
            levels in proptest::collection::vec("[a-z./*> %+#\\t$é-]{0,6}", 1..6)
        ) {
            let topic = levels.join("/");
            let s = subjects();
            let subject = s.topic(&topic).unwrap();
            proptest::prop_assert!(!subject.contains(char::is_whitespace));
            proptest::prop_assert!(subject.split('.').all(|t| !t.is_empty() && t != "*" && t != ">"));
            proptest::prop_assert!(!subject.contains(['*', '>']));
            proptest::prop_assert_eq!(decode_topic(&subject[5..]), Some(topic));
        }

        #[test]
        fn decoding_never_panics(tokens in "[a-z./%0-9A-F]{0,20}") {
            let _ = decode_topic(&tokens);
        }
    }
}
