//! One test per rule of mosquitto's ACL format and evaluation (reference §4.2), plus the SUBSCRIBE
//! check switchboard adds.

use std::path::Path;

use switchboard_fabric::Access::{self, Read, Subscribe, Write};

use super::*;

fn acl(text: &str) -> Acl {
    match Acl::parse("auth.acl_file", Path::new("/etc/acl"), text) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    }
}

fn error(text: &str) -> String {
    match Acl::parse("auth.acl_file", Path::new("/etc/acl"), text) {
        Ok(a) => panic!("accepted: {a:?}"),
        Err(e) => e.to_string(),
    }
}

fn can(acl: &Acl, user: Option<&str>, access: Access, topic: &str) -> bool {
    acl.decide(user, "client-1", access, topic).allowed
}

#[test]
fn topics_before_any_user_line_are_the_anonymous_block() {
    let a = acl("topic read public/#\nuser alice\ntopic alice/#\n");
    assert!(can(&a, None, Read, "public/news"));
    assert!(!can(&a, None, Read, "alice/x"));
    assert!(
        !can(&a, Some("alice"), Read, "public/news"),
        "users do not get the anonymous block"
    );
    assert!(can(&a, Some("alice"), Write, "alice/x"));
    assert!(
        !can(&a, Some("bob"), Read, "alice/x"),
        "nor other users' blocks"
    );
}

#[test]
fn a_repeated_user_line_continues_that_users_list() {
    let a = acl("user alice\ntopic a\nuser bob\ntopic b\nuser alice\ntopic c\n");
    assert!(can(&a, Some("alice"), Read, "a"));
    assert!(can(&a, Some("alice"), Read, "c"));
    assert!(!can(&a, Some("alice"), Read, "b"));
    assert!(can(&a, Some("bob"), Read, "b"));
}

#[test]
fn user_names_take_the_rest_of_the_line() {
    let a = acl("user John Smith  \ntopic read x\n");
    assert!(can(&a, Some("John Smith"), Read, "x"));
    assert!(!can(&a, Some("John"), Read, "x"));
}

#[test]
fn the_access_word_is_optional_and_defaults_to_readwrite() {
    let a = acl("topic rw/#\ntopic read r/#\ntopic write w/#\ntopic readwrite both/#\n");
    for (topic, read, write) in [
        ("rw/1", true, true),
        ("r/1", true, false),
        ("w/1", false, true),
        ("both/1", true, true),
    ] {
        assert_eq!(can(&a, None, Read, topic), read, "read {topic}");
        assert_eq!(can(&a, None, Subscribe, topic), read, "subscribe {topic}");
        assert_eq!(can(&a, None, Write, topic), write, "write {topic}");
    }
}

#[test]
fn a_lone_access_word_is_a_topic() {
    // `topic read` is the topic `read` with readwrite access, as in mosquitto.
    let a = acl("topic read\n");
    assert!(can(&a, None, Write, "read"));
    assert!(can(&a, None, Read, "read"));
}

#[test]
fn filters_with_spaces_need_the_access_word() {
    let a = acl("topic readwrite room 1/temp  \n");
    assert!(can(&a, None, Write, "room 1/temp"));
    let e = error("topic room 1/temp\n");
    assert!(
        e.contains("line 1") && e.contains("unknown access `room`"),
        "{e}"
    );
}

#[test]
fn deny_wins_wherever_it_stands() {
    let a = acl("user u\ntopic readwrite a/#\ntopic deny a/secret\ntopic read a/secret/public\n");
    assert!(can(&a, Some("u"), Write, "a/b"));
    assert!(!can(&a, Some("u"), Write, "a/secret"));
    assert!(!can(&a, Some("u"), Read, "a/secret"));
    assert!(!can(&a, Some("u"), Subscribe, "a/secret"));
    assert!(can(&a, Some("u"), Read, "a/secret/public"));
    let d = a.decide(Some("u"), "c", Read, "a/secret");
    assert_eq!(d.line, Some(3), "the deciding line is reported");
}

#[test]
fn a_matching_entry_without_the_access_does_not_decide() {
    let a = acl("topic read a/#\ntopic write a/b\n");
    assert!(
        can(&a, None, Write, "a/b"),
        "the read entry matches first but grants no write"
    );
    assert!(!can(&a, None, Write, "a/c"));
}

#[test]
fn nothing_matching_is_a_denial() {
    let a = acl("topic read a\n");
    assert!(!can(&a, None, Read, "b"));
    assert!(!can(&a, Some("u"), Read, "a"));
    assert_eq!(a.decide(None, "c", Read, "b").line, None);
}

#[test]
fn an_empty_acl_denies_everything() {
    for text in ["", "# only comments\n\n", "user alice\n"] {
        let a = acl(text);
        assert!(!can(&a, None, Read, "a"));
        assert!(!can(&a, Some("alice"), Write, "a"));
        assert!(!can(&a, Some("alice"), Subscribe, "#"));
    }
}

#[test]
fn patterns_substitute_user_and_client_id() {
    let a = acl("pattern readwrite users/%u/#\npattern read clients/%c\n");
    assert!(can(&a, Some("bob"), Write, "users/bob/x"));
    assert!(!can(&a, Some("bob"), Write, "users/alice/x"));
    assert!(
        a.decide(Some("bob"), "dev-7", Read, "clients/dev-7")
            .allowed
    );
    assert!(
        !a.decide(Some("bob"), "dev-7", Read, "clients/dev-8")
            .allowed
    );
    assert!(
        !a.decide(Some("bob"), "dev-7", Write, "clients/dev-7")
            .allowed
    );
}

#[test]
fn user_patterns_are_skipped_for_anonymous_clients_but_client_patterns_apply() {
    let a = acl("pattern readwrite users/%u/#\npattern read clients/%c\n");
    assert!(!can(&a, None, Read, "users/%u/x"));
    assert!(!can(&a, None, Read, "users//x"));
    assert!(a.decide(None, "dev-7", Read, "clients/dev-7").allowed);
}

#[test]
fn patterns_apply_to_everyone_wherever_they_stand() {
    let a = acl("user alice\ntopic read a\npattern write out/%u\nuser bob\n");
    assert!(can(&a, Some("alice"), Write, "out/alice"));
    assert!(can(&a, Some("bob"), Write, "out/bob"));
    assert!(
        can(&a, Some("carol"), Write, "out/carol"),
        "users without a block get patterns"
    );
}

#[test]
fn the_own_list_is_consulted_before_patterns() {
    // A user's own grant beats a pattern deny; a user's own deny beats a pattern grant.
    let a = acl("user u\ntopic read p/u\ntopic deny q/u\npattern deny p/%u\npattern read q/%u\n");
    assert!(can(&a, Some("u"), Read, "p/u"));
    assert!(!can(&a, Some("u"), Read, "q/u"));
    // Within patterns, deny wins.
    let b = acl("pattern read x/%u/#\npattern deny x/%u/secret\n");
    assert!(can(&b, Some("u"), Read, "x/u/a"));
    assert!(!can(&b, Some("u"), Read, "x/u/secret"));
}

#[test]
fn substitution_is_textual_like_mosquitto() {
    let a = acl("pattern read pre%u\npattern read %c/#\n");
    assert!(can(&a, Some("bob"), Read, "prebob"));
    // A client id containing `/` spans levels, as in mosquitto 2.0.
    assert!(a.decide(None, "a/b", Read, "a/b/c").allowed);
    assert!(!a.decide(None, "a/b", Read, "a/c").allowed);
    assert!(
        a.warnings().iter().any(|w| w.contains("whole topic level")),
        "{:?}",
        a.warnings()
    );
}

#[test]
fn wildcard_names_are_refused_when_patterns_are_in_use() {
    let a = acl("user a+b\ntopic read own\npattern read all/#\n");
    assert!(!a.decide(Some("x#"), "c", Read, "all/1").allowed);
    assert!(!a.decide(Some("x"), "c+1", Read, "all/1").allowed);
    assert!(a.decide(Some("x"), "c1", Read, "all/1").allowed);
    // The check comes after the client's own list, as in mosquitto.
    assert!(a.decide(Some("a+b"), "c", Read, "own").allowed);
    // Without patterns, such names are just names.
    let b = acl("user a+b\ntopic read own\n");
    assert!(b.decide(Some("a+b"), "c#", Read, "own").allowed);
}

#[test]
fn dollar_topics_need_entries_that_name_them() {
    let a = acl("topic readwrite #\ntopic read $SYS/#\ntopic deny +/secret\n");
    assert!(can(&a, None, Read, "a/b"));
    assert!(can(&a, None, Read, "$SYS/broker/uptime"));
    assert!(
        !can(&a, None, Read, "$other/x"),
        "`#` does not reach `$` topics"
    );
    assert!(
        !can(&a, None, Write, "$SYS/x"),
        "the $SYS entry is read only"
    );
    assert!(can(&a, None, Subscribe, "$SYS/#"));
    assert!(!can(&a, None, Subscribe, "$other/#"));
    assert!(!can(&a, None, Read, "a/secret"));
    // A deny with a leading wildcard does not reach `$` topics either.
    let b = acl("topic read $x/#\ntopic deny #\n");
    assert!(can(&b, None, Read, "$x/secret"));
    assert!(can(&b, None, Subscribe, "$x/#"));
    assert!(!can(&b, None, Read, "y"));
}

#[test]
fn subscriptions_are_checked_as_sets_of_topics() {
    let a = acl("user u\ntopic read sensors/+/temp\ntopic write actuators/#\n");
    let sub = |f: &str| can(&a, Some("u"), Subscribe, f);
    assert!(sub("sensors/+/temp"));
    assert!(sub("sensors/1/temp"));
    assert!(
        sub("sensors/#"),
        "overlaps a readable filter; deliveries are filtered by read"
    );
    assert!(
        sub("#"),
        "as in mosquitto, `#` subscribes and receives what may be read"
    );
    assert!(!sub("sensors/1/hum"), "can never deliver anything");
    assert!(
        !sub("actuators/#"),
        "write access does not allow subscribing"
    );
    // Deliveries: each is a read of the real topic.
    assert!(can(&a, Some("u"), Read, "sensors/1/temp"));
    assert!(!can(&a, Some("u"), Read, "sensors/1/hum"));
}

#[test]
fn a_deny_covering_the_whole_subscription_refuses_it() {
    // The broker profile of the Paho conformance suite: everything but `test/nosubscribe`.
    let a = acl("topic readwrite #\ntopic deny test/nosubscribe\n");
    assert!(!can(&a, None, Subscribe, "test/nosubscribe"));
    assert!(
        can(&a, None, Subscribe, "test/#"),
        "partly denied: allowed, deliveries filtered"
    );
    assert!(!can(&a, None, Read, "test/nosubscribe"));
    assert!(can(&a, None, Read, "test/other"));
    let b = acl("topic read a/#\ntopic deny a/+\n");
    assert!(!can(&b, None, Subscribe, "a/b"));
    assert!(!can(&b, None, Subscribe, "a/+"));
    assert!(can(&b, None, Subscribe, "a/#"));
    assert!(can(&b, None, Read, "a/b/c"));
}

#[test]
fn wildcard_entries_against_wildcard_subscriptions() {
    let a = acl("topic read a/+/c\ntopic read d/#\n");
    assert!(can(&a, None, Subscribe, "a/+/c"));
    assert!(can(&a, None, Subscribe, "a/b/+"));
    assert!(can(&a, None, Subscribe, "+/+/c"));
    assert!(!can(&a, None, Subscribe, "a/+"));
    assert!(!can(&a, None, Subscribe, "a/b/c/d"));
    assert!(can(&a, None, Subscribe, "d"), "`d/#` includes `d` itself");
    assert!(can(&a, None, Subscribe, "+/x/y/z"));
}

#[test]
fn comments_blank_lines_and_line_endings() {
    let a = acl("# comment\r\n\r\n   \ntopic read a \r\n#topic read b\n\ttopic\tread\tc\n");
    assert!(can(&a, None, Read, "a"));
    assert!(!can(&a, None, Read, "b"));
    assert!(can(&a, None, Read, "c"), "tabs separate words");
    assert_eq!(a.rule_count(), 2);
}

#[test]
fn comments_only_in_the_first_column() {
    let e = error("topic a\n  # indented\n");
    assert!(
        e.contains("/etc/acl, line 2") && e.contains("unknown keyword `#`"),
        "{e}"
    );
}

#[test]
fn malformed_lines_are_errors_naming_the_line() {
    for (text, line, needle) in [
        ("topic\n", 1, "needs a topic filter"),
        ("pattern   \n", 1, "needs a topic filter"),
        ("user\n", 1, "needs a user name"),
        ("user    \n", 1, "needs a user name"),
        ("\n\ntopic sometimes a/b\n", 3, "unknown access `sometimes`"),
        ("topic a/#/b\n", 1, "invalid topic filter"),
        ("topic read a+\n", 1, "invalid topic filter"),
        ("Topic a\n", 1, "unknown keyword `Topic`"),
        ("allow all\n", 1, "unknown keyword"),
    ] {
        let e = error(text);
        assert!(
            e.starts_with(&format!("/etc/acl, line {line}: ")) && e.contains(needle),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn suspicious_entries_are_warned_about() {
    let a = acl("topic read users/%u\npattern read everyone\n");
    let w = a.warnings().join("\n");
    assert!(w.contains("line 1") && w.contains("literal"), "{w}");
    assert!(
        w.contains("line 2") && w.contains("neither %c nor %u"),
        "{w}"
    );
    assert!(a.has_patterns());
}
